//! The access rules' unit tests: first match, hosts, paths read every
//! way, suspicious paths, oversized targets, `from` networks and the
//! errors that name a rule.

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
    let r2 =
        rules("deny a.example.com/kibana*; deny a.example.com/admin*; deny a.example.com/secret");
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
        let problems =
            Rules::parse(&format!("deny ok.example.com; {text}"), Policy::Deny).expect_err(text);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains(text), "{problems:?}");
        assert!(problems[0].contains(hint), "{problems:?}");
    }
}
