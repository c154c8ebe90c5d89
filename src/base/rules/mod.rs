//! Access rules for forward auth (`AUTH_RULES`, `AUTH_DEFAULT_POLICY`).
//!
//! A rule is `POLICY HOST[PATH]`, optionally followed by `from CIDR[,…]` or
//! `from !CIDR[,…]` (the client's address in, or outside, those networks:
//! [`network`]); rules are separated by `;` or newlines and the first that
//! matches decides. `HOST` is a name, `*.domain` (any subdomain, at any
//! depth, not the domain itself) or `*` (every host), compared without
//! case, port or trailing dot. `PATH` matches exactly, or as a prefix when it ends
//! in `*`.
//!
//! Backends read a path in different ways, so a request path is read
//! several ways and gets the strictest of their policies (each reading
//! meets the rules in order; the first that matches it, or the default,
//! is that reading's policy):
//!
//! - decoded first (`%2f` and `\` separate segments, `;params` dropped, as
//!   Tomcat and Spring read it), and split first (each segment decoded on
//!   its own, as nginx and most routers read it), each with empty segments
//!   merged away or kept (so `..` may take one, as in a WHATWG URL);
//! - as a WHATWG URL parser leaves it (`\` a separator, `%2e` a dot), raw
//!   and decoded whole;
//! - each of those again case-folded (Unicode upper case, then lower, as
//!   Java's `equalsIgnoreCase` and .NET's `OrdinalIgnoreCase` compare),
//!   against the rules' paths folded the same way: a backend that ignores
//!   case serves `/ADMIN/x` as `/admin/x`, so `deny …/admin*` denies it.
//!   Folding both sides keeps an owner's own spelling: `bypass …/Docs/*`
//!   still bypasses `/Docs/x`. Since every reading must agree, `/DOCS/x`
//!   (or `/PUBLIC/x` under `bypass …/public/*`) is not bypassed: its
//!   unfolded reading matches no rule and gets the default.
//!
//! All resolve `.` and `..`, keep invalid UTF-8 as U+FFFD and ignore the
//! query string. When no rule has a path, the path is not read at all.
//!
//! Some paths read as something else to some backend whatever the
//! readings say: a `%` left after decoding (`%252e`, decoded twice, is a
//! dot), invalid UTF-8 (an overlong `%c0%ae` is a dot to a lenient
//! decoder), or a look-alike of `.`, `/`, `\` or `%` (fullwidth `．`,
//! ideographic `。`, raw or encoded), which normalisation may turn into
//! one. Such a path never gets `bypass`: where it would, it gets
//! `one_factor`, or the default when that is stricter. Stricter policies
//! stay.
//!
//! A forwarded URI over 8 KiB is not read at all ([`Target::Oversized`]):
//! `deny`, rules or not.
//!
//! No spelling of a path reaches a `bypass` that another reading of it
//! would not, or escapes a stricter rule.

mod network;
mod path;

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use network::Networks;

pub use path::normalize_path;
use path::PathPattern;

/// What a rule lets through, from the most open to the strictest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Policy {
    /// Allowed without a session (no `Remote-User`).
    Bypass,
    /// Any live session (or API token).
    OneFactor,
    /// A session that signed in with a second factor (`otp` or `hwk`).
    TwoFactor,
    /// A session that signed in with a passkey (`hwk`): phishing-resistant.
    Passkey,
    /// Refused to everyone.
    Deny,
}

impl Policy {
    /// Reads a policy name as written in a rule.
    pub fn parse(name: &str) -> Option<Policy> {
        Some(match name {
            "bypass" => Policy::Bypass,
            "one_factor" => Policy::OneFactor,
            "two_factor" => Policy::TwoFactor,
            "passkey" => Policy::Passkey,
            "deny" => Policy::Deny,
            _ => return None,
        })
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::Bypass => "bypass",
            Policy::OneFactor => "one_factor",
            Policy::TwoFactor => "two_factor",
            Policy::Passkey => "passkey",
            Policy::Deny => "deny",
        })
    }
}

/// Which hosts a rule (or an API token) names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// This host only (lower case).
    Exact(String),
    /// Any subdomain of this domain, at any depth: holds `.domain`.
    Subdomains(String),
}

impl HostPattern {
    /// Reads `name` or `*.domain`; `None` for anything else.
    pub fn parse(text: &str) -> Option<HostPattern> {
        let text = text.to_ascii_lowercase();
        let text = text.trim_end_matches('.');
        let (pattern, name) = match text.strip_prefix("*.") {
            Some(domain) => (HostPattern::Subdomains(format!(".{domain}")), domain),
            None => (HostPattern::Exact(text.to_string()), text),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        (name.len() <= 253 && name.split('.').all(label_ok)).then_some(pattern)
    }

    /// Whether `host` (already normalised by [`normalize_host`]) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(name) => host == name,
            HostPattern::Subdomains(suffix) => host.len() > suffix.len() && host.ends_with(suffix),
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(name) => f.write_str(name),
            HostPattern::Subdomains(suffix) => write!(f, "*{suffix}"),
        }
    }
}

/// One rule: a policy for a host and, optionally, a path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    policy: Policy,
    /// `None`: `*`, every host.
    host: Option<HostPattern>,
    path: Option<PathPattern>,
    /// `from …`: the clients the rule is for (else every client).
    from: Option<Networks>,
}

impl Rule {
    fn parse(text: &str) -> Result<Rule, String> {
        let shape = || {
            "a rule is POLICY HOST[PATH] [from CIDR,…], e.g. \"bypass app.example.com/health\""
                .to_string()
        };
        let mut words = text.split_whitespace();
        let (Some(policy), Some(target)) = (words.next(), words.next()) else {
            return Err(shape());
        };
        let from = match words.next() {
            None => None,
            Some("from") => {
                let list: Vec<&str> = words.collect();
                Some(Networks::parse(&list.join(" "))?)
            }
            Some(_) => return Err(shape()),
        };
        let policy = Policy::parse(policy).ok_or_else(|| {
            format!("{policy:?} is not a policy (bypass, one_factor, two_factor, passkey, deny)")
        })?;
        let (host, path) = match target.find('/') {
            Some(i) => (&target[..i], Some(&target[i..])),
            None => (target, None),
        };
        let host = match host {
            "*" => None,
            name => Some(
                HostPattern::parse(name)
                    .ok_or_else(|| format!("{name:?} is not a host name, *.domain or *"))?,
            ),
        };
        let path = path.map(PathPattern::parse).transpose()?;
        Ok(Rule {
            policy,
            host,
            path,
            from,
        })
    }

    /// Whether the rule matches `host` and a reading of the path
    /// (`folded`: a case-folded one) from `client`.
    fn matches(&self, host: &str, reading: &str, folded: bool, client: IpAddr) -> bool {
        self.host
            .as_ref()
            .is_none_or(|pattern| pattern.matches(host))
            && self.from.as_ref().is_none_or(|from| from.admits(client))
            && self
                .path
                .as_ref()
                .is_none_or(|path| path.matches(reading, folded))
    }
}

/// The original request a trusted proxy described.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// No forwarded headers (or none believed): the default policy.
    Unknown,
    /// Forwarded headers that do not describe one clear URL (a host that
    /// is no host name, two descriptions that disagree): `deny` when rules
    /// exist, since no rule can be trusted to match.
    Malformed,
    /// Host and raw path (query string allowed).
    Url { host: &'a str, path: &'a str },
    /// A forwarded URI too long to be read (`forward::MAX_FORWARDED_URI`):
    /// `deny`, rules or not.
    Oversized,
}

/// The parsed `AUTH_RULES` and the default for requests no rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    rules: Vec<Rule>,
    default: Policy,
}

impl Rules {
    /// Parses `AUTH_RULES`; every invalid rule is reported, named by its text.
    pub fn parse(text: &str, default: Policy) -> Result<Rules, Vec<String>> {
        let mut rules = Vec::new();
        let mut problems = Vec::new();
        for entry in text.split([';', '\n']).map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            match Rule::parse(entry) {
                Ok(rule) => rules.push(rule),
                Err(why) => problems.push(format!("AUTH_RULES: rule {entry:?}: {why}")),
            }
        }
        if problems.is_empty() {
            Ok(Rules { rules, default })
        } else {
            Err(problems)
        }
    }

    /// No rules at all: every request gets `default`.
    pub fn none(default: Policy) -> Rules {
        Rules {
            rules: Vec::new(),
            default,
        }
    }

    /// No rules: every request gets the default policy (but for an
    /// oversized target, `deny`).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether some rule has a `from`: only then is the client's address
    /// worth finding out.
    pub fn reads_client(&self) -> bool {
        self.rules.iter().any(|rule| rule.from.is_some())
    }

    /// The default policy.
    pub fn default_policy(&self) -> Policy {
        self.default
    }

    /// The policy for a request to `target` from `client`: the strictest
    /// that any reading of its path gets (see the module notes).
    pub fn policy_for(&self, target: Target<'_>, client: IpAddr) -> Policy {
        let (host, path) = match target {
            Target::Oversized => return Policy::Deny,
            _ if self.rules.is_empty() => return self.default,
            Target::Unknown => return self.default,
            Target::Malformed => return Policy::Deny,
            Target::Url { host, path } => (host, path),
        };
        let Some(host) = normalize_host(host) else {
            return Policy::Deny;
        };
        let policy = if self.rules.iter().all(|rule| rule.path.is_none()) {
            // No rule reads the path: every reading gets the same policy.
            self.first_match(&host, path, false, client)
        } else {
            path::readings(path)
                .iter()
                .flat_map(|reading| [(Cow::from(reading), false), (path::fold(reading), true)])
                .map(|(reading, folded)| self.first_match(&host, &reading, folded, client))
                .max()
                .unwrap_or(Policy::Deny)
        };
        if policy == Policy::Bypass && path::suspicious(path) {
            return self.default.max(Policy::OneFactor);
        }
        policy
    }

    /// The policy of the first rule that matches a reading, or the default.
    fn first_match(&self, host: &str, reading: &str, folded: bool, client: IpAddr) -> Policy {
        self.rules
            .iter()
            .find(|rule| rule.matches(host, reading, folded, client))
            .map_or(self.default, |rule| rule.policy)
    }
}

/// A host as rules compare it: lower case, without port (whatever follows
/// a `:`, as proxies route it) or trailing dot; `None` unless a host name.
pub fn normalize_host(host: &str) -> Option<String> {
    let host = host.trim();
    let bare = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    let bare = bare.trim_end_matches('.').to_ascii_lowercase();
    let ip_literal = bare.starts_with('[') && bare.ends_with(']');
    (ip_literal || HostPattern::parse(&bare).is_some()).then_some(bare)
}

#[cfg(test)]
mod tests;
