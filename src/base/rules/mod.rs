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
mod tests {
    use super::*;

    /// The client of the tests that are not about `from`.
    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9));

    fn rules(text: &str) -> Rules {
        Rules::parse(text, Policy::OneFactor).unwrap()
    }

    fn policy(rules: &Rules, host: &str, path: &str) -> Policy {
        rules.policy_for(Target::Url { host, path }, CLIENT)
    }

    #[test]
    fn first_match_wins() {
        let r = rules(
            "bypass app.example.com/health; deny app.example.com/health*\n\
             two_factor admin.example.com\n deny *.example.com",
        );
        assert_eq!(policy(&r, "app.example.com", "/health"), Policy::Bypass);
        assert_eq!(policy(&r, "app.example.com", "/healthz"), Policy::Deny);
        assert_eq!(policy(&r, "admin.example.com", "/x"), Policy::TwoFactor);
        assert_eq!(policy(&r, "a.b.example.com", "/"), Policy::Deny);
        assert_eq!(
            policy(&r, "example.com", "/"),
            Policy::OneFactor,
            "*.domain is not the domain itself"
        );
        assert_eq!(r.policy_for(Target::Unknown, CLIENT), Policy::OneFactor);
        assert_eq!(r.policy_for(Target::Malformed, CLIENT), Policy::Deny);
    }

    #[test]
    fn hosts_ignore_case_port_and_trailing_dot() {
        let r = rules("deny Old.Example.com");
        for host in [
            "old.example.com",
            "OLD.example.com:8443",
            "old.example.com.",
            "old.example.com:x",
            "old.example.com:80:90",
        ] {
            assert_eq!(policy(&r, host, "/"), Policy::Deny, "{host}");
        }
        assert_eq!(
            policy(&r, "old.example.com.evil.net", "/"),
            Policy::OneFactor
        );
    }

    #[test]
    fn paths_are_normalised_before_matching() {
        let r = rules("bypass app.example.com/public/*; deny app.example.com/admin*");
        for path in [
            "/public/../admin",
            "/public/..%2fadmin",
            "/public/%2e%2e/admin",
            "/public/..\\admin",
            "/public/..;x/admin",
            "//admin",
            "/./admin",
            "/%61dmin",
            "/admin%ff",
            "/admin;x/users",
            "/ad%6din/",
        ] {
            assert_eq!(policy(&r, "app.example.com", path), Policy::Deny, "{path}");
        }
        // Read split-first, these stay under /admin/ or /public/..: never bypass.
        for path in ["/admin/..%2f..%2fpublic/x", "/x/..\\public/y"] {
            assert_ne!(
                policy(&r, "app.example.com", path),
                Policy::Bypass,
                "{path}"
            );
        }
        for host in [
            "app.example.com/x",
            "app example.com",
            "app.example.com@evil",
        ] {
            assert_eq!(policy(&r, host, "/public/x"), Policy::Deny, "{host}");
        }
        assert_eq!(
            policy(&r, "app.example.com", "/public/a.css?x=/admin"),
            Policy::Bypass
        );
        assert_eq!(
            policy(&r, "app.example.com", "/publicity"),
            Policy::OneFactor
        );
    }

    #[test]
    fn exact_paths_and_prefixes() {
        let r = rules("bypass a.example.com/health; bypass a.example.com/api/*");
        assert_eq!(policy(&r, "a.example.com", "/health"), Policy::Bypass);
        assert_eq!(policy(&r, "a.example.com", "/health/x"), Policy::OneFactor);
        assert_eq!(policy(&r, "a.example.com", "/api/v1"), Policy::Bypass);
        assert_eq!(policy(&r, "a.example.com", "/apiary"), Policy::OneFactor);
    }

    #[test]
    fn paths_are_also_read_case_folded() {
        let r = rules(
            "bypass a.example.com/public/*; bypass a.example.com/Docs/*\n\
             two_factor a.example.com/Settings; deny a.example.com/admin*",
        );
        let p = |path| policy(&r, "a.example.com", path);
        // The folded reading puts these under /admin: the stricter wins.
        for path in [
            "/ADMIN/x",
            "/Admin",
            "/%41dmin",
            "/public/../ADMIN/x",
            "/x/..%2FADMIN",
            "/ADMİN",
            "/\u{212A}/../admin",
        ] {
            assert_eq!(p(path), Policy::Deny, "{path}");
        }
        // Unicode folding (upper then lower): the Kelvin sign is `k`,
        // dotless `ı` is `i`, long `ſ` is `s`, as Java's equalsIgnoreCase
        // and .NET's OrdinalIgnoreCase compare them.
        let r2 = rules(
            "deny a.example.com/kibana*; deny a.example.com/admin*; deny a.example.com/secret",
        );
        for path in ["/\u{212A}ibana", "/adm\u{131}n", "/\u{17F}ecret", "/SECRET"] {
            assert_eq!(policy(&r2, "a.example.com", path), Policy::Deny, "{path}");
        }
        // The owner's own spelling keeps its policy; any other needs every
        // reading to agree, and the unfolded one does not.
        assert_eq!(p("/Docs/x"), Policy::Bypass);
        assert_eq!(p("/docs/x"), Policy::OneFactor);
        assert_eq!(p("/DOCS/x"), Policy::OneFactor);
        assert_eq!(p("/public/x"), Policy::Bypass);
        assert_eq!(p("/PUBLIC/x"), Policy::OneFactor);
        assert_eq!(p("/Settings"), Policy::TwoFactor);
        assert_eq!(
            p("/settings"),
            Policy::TwoFactor,
            "stricter than one_factor"
        );
        assert_eq!(p("/SETTINGS"), Policy::TwoFactor);
    }

    #[test]
    fn suspicious_paths_never_get_bypass() {
        let r = rules(
            "bypass app.example.com/public/*; deny app.example.com/admin*\n\
             bypass open.example.com",
        );
        for path in [
            // A `%` left after decoding: decoded twice, it is something else.
            "/public/%252e%252e/admin",
            "/public/%252E%252E/admin",
            "/public/..%252fadmin",
            "/public/%25%32%65%25%32%65/admin",
            "/public/%%32%65%%32%65/admin",
            "/public/100%",
            // Overlong UTF-8 (and any invalid UTF-8) for `.` and `/`.
            "/public/%c0%ae%c0%ae/admin",
            "/public/%C0%AE%C0%AE/admin",
            "/public/..%c0%afadmin",
            "/public/%e0%80%ae%e0%80%ae/admin",
            "/public/%f0%80%80%ae%f0%80%80%ae/admin",
            "/public/x%ff",
            "/public/%ed%a0%80",
            // Fullwidth and ideographic look-alikes of `.`, `/` and `\`.
            "/public/%EF%BC%8E%EF%BC%8E/admin",
            "/public/\u{FF0E}\u{FF0E}/admin",
            "/public/\u{3002}\u{3002}/admin",
            "/public/%e3%80%82%e3%80%82/admin",
            "/public/\u{FF61}\u{FF61}/admin",
            "/public/%ef%bd%a1%ef%bd%a1/admin",
            "/public/..\u{FF0F}admin",
            "/public/..%ef%bc%8fadmin",
            "/public/..\u{FF3C}admin",
            "/public/\u{FE52}\u{FE52}/admin",
            "/public/\u{2025}/admin",
            "/public/..\u{2215}admin",
        ] {
            assert_eq!(
                policy(&r, "app.example.com", path),
                Policy::OneFactor,
                "{path}"
            );
            // A rule with no path as well: no such path is ever bypassed.
            assert_eq!(
                policy(&r, "open.example.com", path),
                Policy::OneFactor,
                "{path}"
            );
        }
        // Only bypass is taken away: stricter policies stay, and the
        // default applies when it is stricter than one_factor.
        assert_eq!(policy(&r, "app.example.com", "/admin/%252e"), Policy::Deny);
        let strict = Rules::parse("bypass app.example.com/public/*", Policy::TwoFactor).unwrap();
        assert_eq!(
            policy(&strict, "app.example.com", "/public/%252e%252e/x"),
            Policy::TwoFactor
        );
        // Ordinary paths, encoded or not, keep their bypass; so does a `%`
        // in the query, which is never read.
        for path in [
            "/public/a%20b.png",
            "/public/%C3%A9t%C3%A9.jpg",
            "/public/été.jpg",
            "/public/日本語.txt",
            "/public/x?q=%25&r=%c0%ae",
        ] {
            assert_eq!(
                policy(&r, "app.example.com", path),
                Policy::Bypass,
                "{path}"
            );
        }
    }

    #[test]
    fn an_oversized_target_is_denied_rules_or_not() {
        for r in [
            rules("bypass a.example.com"),
            Rules::none(Policy::OneFactor),
        ] {
            assert_eq!(r.policy_for(Target::Oversized, CLIENT), Policy::Deny);
        }
        let none = Rules::none(Policy::OneFactor);
        assert_eq!(
            none.policy_for(Target::Malformed, CLIENT),
            Policy::OneFactor
        );
    }

    #[test]
    fn rules_without_paths_read_no_path() {
        let r = rules("bypass a.example.com; deny b.example.com");
        assert_eq!(policy(&r, "a.example.com", "/x/../y"), Policy::Bypass);
        assert_eq!(policy(&r, "b.example.com", "/ADMIN"), Policy::Deny);
        assert_eq!(policy(&r, "c.example.com", "/"), Policy::OneFactor);
    }

    #[test]
    fn from_limits_a_rule_to_its_networks_first_match_still_wins() {
        let r = rules(
            "bypass media.example.com from 192.168.0.0/16; \
             two_factor * from !10.0.0.0/8, 192.168.0.0/16\n\
             deny media.example.com/admin*",
        );
        let at = |ip: &str, host: &str, path: &str| {
            r.policy_for(Target::Url { host, path }, ip.parse().unwrap())
        };
        let (home, vpn, away) = ("192.168.1.20", "10.3.3.3", "198.51.100.4");
        assert_eq!(at(home, "media.example.com", "/"), Policy::Bypass);
        assert_eq!(
            at(home, "media.example.com", "/admin"),
            Policy::Bypass,
            "first match"
        );
        assert_eq!(
            at(home, "app.example.com", "/"),
            Policy::OneFactor,
            "the default"
        );
        assert_eq!(at(away, "media.example.com", "/"), Policy::TwoFactor);
        assert_eq!(
            at(away, "app.example.com", "/"),
            Policy::TwoFactor,
            "* is every host"
        );
        assert_eq!(at(vpn, "media.example.com", "/"), Policy::OneFactor);
        assert_eq!(at(vpn, "media.example.com", "/admin"), Policy::Deny);
        let r = rules("two_factor *.example.com from !10.0.0.0/8, 192.168.0.0/16");
        let at = |ip: &str| {
            r.policy_for(
                Target::Url {
                    host: "a.example.com",
                    path: "/",
                },
                ip.parse().unwrap(),
            )
        };
        assert_eq!(at("198.51.100.4"), Policy::TwoFactor);
        assert_eq!(at("10.0.0.1"), Policy::OneFactor);
        assert_eq!(at("192.168.3.3"), Policy::OneFactor);
        assert!(r.reads_client() && !rules("deny a.example.com").reads_client());
    }

    #[test]
    fn invalid_rules_are_named() {
        for (text, hint) in [
            ("allow a.example.com", "not a policy"),
            ("bypass", "POLICY HOST"),
            ("bypass a.example.com /x", "POLICY HOST"),
            ("deny a*.example.com", "not a host"),
            ("deny a.example.com/x*y", "no other *"),
            ("deny exa mple.com", "POLICY HOST"),
            ("bypass a.example.com form 10.0.0.0/8", "POLICY HOST"),
            ("bypass a.example.com from", "not an address"),
            ("bypass a.example.com from lan", "not an address"),
            ("bypass a.example.com from 10.0.0.0/8,!10.1.0.0/16", "one !"),
        ] {
            let problems = Rules::parse(&format!("deny ok.example.com; {text}"), Policy::Deny)
                .expect_err(text);
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].contains(text), "{problems:?}");
            assert!(problems[0].contains(hint), "{problems:?}");
        }
    }
}
