//! Access rules for forward auth (`AUTH_RULES`, `AUTH_DEFAULT_POLICY`).
//!
//! A rule is `POLICY HOST[PATH]`; rules are separated by `;` or newlines and
//! the first that matches decides. `HOST` is a name or `*.domain` (any
//! subdomain, at any depth, not the domain itself), compared without case,
//! port or trailing dot. `PATH` matches exactly, or as a prefix when it ends
//! in `*`. Backends read a path in different ways, so a request path is
//! read several ways and gets the strictest of their policies: decoded
//! first (`%2f` and `\` separate segments, `;params` dropped, as Tomcat
//! and Spring read it) and split first (each segment decoded on its own,
//! as nginx and most routers read it), each with empty segments merged
//! away or kept (so `..` may take one, as in a WHATWG URL); and as a WHATWG
//! URL parser leaves it (`\` a separator, `%2e` a dot), raw and decoded
//! whole. All resolve `.` and `..`, keep invalid UTF-8 as U+FFFD and ignore
//! the query string. No spelling of a path reaches a `bypass` that another
//! reading of it would not, or escapes a stricter rule.

use std::fmt;

/// What a rule lets through, from the most open to the strictest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Policy {
    /// Allowed without a session (no `Remote-User`).
    Bypass,
    /// Any live session (or API token).
    OneFactor,
    /// A session that signed in with a second factor (`otp` or `hwk`).
    TwoFactor,
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

#[derive(Debug, Clone, PartialEq, Eq)]
enum PathPattern {
    Exact(String),
    Prefix(String),
}

/// One rule: a policy for a host and, optionally, a path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    policy: Policy,
    host: HostPattern,
    path: Option<PathPattern>,
}

impl Rule {
    fn parse(text: &str) -> Result<Rule, String> {
        let mut words = text.split_whitespace();
        let (Some(policy), Some(target), None) = (words.next(), words.next(), words.next()) else {
            return Err(
                "a rule is POLICY HOST[PATH], e.g. \"bypass app.example.com/health\"".into(),
            );
        };
        let policy = Policy::parse(policy).ok_or_else(|| {
            format!("{policy:?} is not a policy (bypass, one_factor, two_factor, deny)")
        })?;
        let (host, path) = match target.find('/') {
            Some(i) => (&target[..i], Some(&target[i..])),
            None => (target, None),
        };
        let host = HostPattern::parse(host)
            .ok_or_else(|| format!("{host:?} is not a host name or *.domain"))?;
        let path = path.map(parse_path).transpose()?;
        Ok(Rule { policy, host, path })
    }

    fn matches(&self, host: &str, path: &str) -> bool {
        self.host.matches(host)
            && match &self.path {
                None => true,
                Some(PathPattern::Exact(p)) => path == p,
                Some(PathPattern::Prefix(p)) => path.starts_with(p.as_str()),
            }
    }
}

fn parse_path(path: &str) -> Result<PathPattern, String> {
    let (body, prefix) = match path.strip_suffix('*') {
        Some(body) => (body, true),
        None => (path, false),
    };
    if body.contains('*') || body.contains('?') {
        return Err(format!(
            "{path:?}: a path may end in * but holds no other * or ?"
        ));
    }
    let mut normal = normalize_path(body);
    // Normalising drops a trailing slash; a prefix keeps it (`/api/*` must
    // not match `/apiary`).
    if body.ends_with('/') && normal != "/" {
        normal.push('/');
    }
    Ok(if prefix {
        PathPattern::Prefix(normal)
    } else {
        PathPattern::Exact(normal)
    })
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

    /// No rules: every request gets the default policy.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The default policy.
    pub fn default_policy(&self) -> Policy {
        self.default
    }

    /// The policy for a request to `target`: the strictest that any
    /// reading of its path gets (see the module notes).
    pub fn policy_for(&self, target: Target<'_>) -> Policy {
        if self.rules.is_empty() {
            return self.default;
        }
        let (host, path) = match target {
            Target::Unknown => return self.default,
            Target::Malformed => return Policy::Deny,
            Target::Url { host, path } => (host, path),
        };
        let Some(host) = normalize_host(host) else {
            return Policy::Deny;
        };
        path_readings(path)
            .iter()
            .map(|path| {
                self.rules
                    .iter()
                    .find(|rule| rule.matches(&host, path))
                    .map_or(self.default, |rule| rule.policy)
            })
            .max()
            .unwrap_or(Policy::Deny)
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

/// A path as the rules' own paths are read: decoded first, `\` as `/`,
/// `;params` dropped, dot segments resolved; always starts with `/`.
pub fn normalize_path(raw: &str) -> String {
    path_readings(raw)[0].clone()
}

/// The two readings of a raw request path (see the module notes).
fn path_readings(raw: &str) -> Vec<String> {
    let raw = raw.split(['?', '#']).next().unwrap_or_default();
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let decoded = decode(raw);
    let decoded_first: Vec<String> = decoded
        .split(['/', '\\'])
        .map(|segment| segment.split(';').next().unwrap_or_default().to_string())
        .collect();
    // An encoded `/` stays inside its segment: it must not read as a separator.
    let split_first: Vec<String> = raw
        .split('/')
        .map(|s| decode(s).replace('/', "%2F"))
        .collect();
    // Empty segments merged before `..` (nginx, Go) or kept, so `..` takes
    // one of them (WHATWG URLs: `/admin//..` is `/admin/`).
    let mut readings = Vec::with_capacity(6);
    for segments in [&decoded_first, &split_first] {
        readings.push(resolve(segments, false));
        readings.push(resolve(segments, true));
    }
    // As a WHATWG URL parser leaves it (browsers, Node): `\` is `/`, `%2e`
    // a dot, empty segments kept; an app then matches it raw, or decoded
    // as a whole.
    let whatwg_segments: Vec<String> = raw
        .split(['/', '\\'])
        .map(|s| {
            let dots = s.replace("%2e", ".").replace("%2E", ".");
            if dots == "." || dots == ".." {
                dots
            } else {
                s.to_string()
            }
        })
        .collect();
    let whatwg = resolve(&whatwg_segments, true);
    readings.push(decode(&whatwg));
    readings.push(whatwg);
    readings
}

/// Joins path segments: `.` dropped, `..` resolved; empty segments merged
/// away, or (`keep_empty`) kept as segments, as a WHATWG URL keeps them.
fn resolve(segments: &[String], keep_empty: bool) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        match segment.as_str() {
            "." => {}
            "" if !keep_empty || i == 0 => {}
            ".." => {
                kept.pop();
            }
            other => kept.push(other),
        }
    }
    format!("/{}", kept.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Rules {
        Rules::parse(text, Policy::OneFactor).unwrap()
    }

    fn policy(rules: &Rules, host: &str, path: &str) -> Policy {
        rules.policy_for(Target::Url { host, path })
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
        assert_eq!(r.policy_for(Target::Unknown), Policy::OneFactor);
        assert_eq!(r.policy_for(Target::Malformed), Policy::Deny);
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
    fn invalid_rules_are_named() {
        for (text, hint) in [
            ("allow a.example.com", "not a policy"),
            ("bypass", "POLICY HOST"),
            ("bypass a.example.com /x", "POLICY HOST"),
            ("deny a*.example.com", "not a host"),
            ("deny a.example.com/x*y", "no other *"),
            ("deny exa mple.com", "POLICY HOST"),
        ] {
            let problems = Rules::parse(&format!("deny ok.example.com; {text}"), Policy::Deny)
                .expect_err(text);
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].contains(text), "{problems:?}");
            assert!(problems[0].contains(hint), "{problems:?}");
        }
    }
}
