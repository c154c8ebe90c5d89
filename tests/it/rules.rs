//! Access rules for forward auth: first match wins, paths normalised
//! before matching and read case-folded too, `bypass` only through a
//! trusted proxy and never for double-encoded, overlong or look-alike
//! dots, `two_factor` and `deny` refusals, `deny` for a forwarded URI over
//! 8 KiB, `from` rules judged on the address the trusted proxies report,
//! and invalid rules that stop start-up.

use crate::common::{
    binary, code, one_step_login, sign_in_and_enroll, verify, Reply, Server, Tokens, PASSWORD,
};

const PUBLIC: &str = "https://auth.example.com";
const RULES: &str = "bypass app.example.com/public/*; bypass status.example.com/health\n\
                     two_factor admin.example.com; deny old.example.com";

async fn server(trusted: &str, extra: &[(&str, &str)]) -> Server {
    let mut env = vec![
        ("AUTH_PUBLIC_URL", PUBLIC),
        ("AUTH_COOKIE_DOMAIN", "example.com"),
        ("AUTH_TRUSTED_PROXIES", trusted),
        ("AUTH_RULES", RULES),
    ];
    env.extend_from_slice(extra);
    Server::start_with(&env).await
}

/// Traefik asking about `host` + `uri`, with `accept` and maybe a session.
async fn ask(s: &Server, host: &str, uri: &str, accept: &str, session: Option<&Tokens>) -> Reply {
    let cookie = session.map(|t| format!("soloauth_access={}", t.access));
    let mut headers = vec![
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", host),
        ("x-forwarded-uri", uri),
        ("accept", accept),
    ];
    headers.extend(cookie.as_deref().map(|c| ("cookie", c)));
    verify(s, &headers).await
}

/// nginx asking (`X-Original-URL`).
async fn ask_nginx(s: &Server, url: &str, session: Option<&Tokens>) -> Reply {
    let mut req = s
        .http
        .get(s.url("/auth/verify"))
        .header("x-original-url", url)
        .header("accept", "text/html");
    if let Some(t) = session {
        req = req.bearer_auth(&t.access);
    }
    s.send(req).await
}

const JSON: &str = "application/json";
const HTML: &str = "text/html,application/xhtml+xml";

#[tokio::test]
async fn bypass_paths_are_served_without_a_session() {
    let s = server("127.0.0.1", &[]).await;
    for (host, uri) in [
        ("app.example.com", "/public/logo.png"),
        ("app.example.com", "/public/a/b?x=1"),
        ("status.example.com", "/health"),
        ("STATUS.example.com:443", "/health"),
    ] {
        let r = ask(&s, host, uri, JSON, None).await;
        assert_eq!(r.status, 200, "{host}{uri}: {}", r.body);
        assert!(
            r.headers.get("remote-user").is_none(),
            "no identity on bypass"
        );
    }
    let r = ask_nginx(&s, "https://app.example.com/public/x.css", None).await;
    assert_eq!(r.status, 200);
    // Next to a bypass path, the default policy: a session is needed.
    for (host, uri) in [
        ("status.example.com", "/health/deep"),
        ("status.example.com", "/"),
        ("app.example.com", "/publicity"),
    ] {
        assert_eq!(
            ask(&s, host, uri, JSON, None).await.status,
            401,
            "{host}{uri}"
        );
    }
}

#[tokio::test]
async fn paths_are_normalised_so_no_spelling_escapes_to_bypass() {
    let s = server("127.0.0.1", &[]).await;
    for uri in [
        "/public/../admin",
        "/public/..%2fadmin",
        "/public/%2e%2e/admin",
        "/public/%2E%2E/%2E%2E/admin",
        "/public/..\\admin",
        "/public/..;/admin",
        "/public/./../admin",
    ] {
        let r = ask(&s, "app.example.com", uri, JSON, None).await;
        assert_eq!(
            (r.status.as_u16(), r.error()),
            (401, "invalid_token"),
            "{uri}"
        );
    }
    let r = ask_nginx(&s, "https://app.example.com/public/%2e%2e/admin", None).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn an_untrusted_peer_never_reaches_bypass() {
    // The peer (127.0.0.1) is not a trusted proxy: its forwarded headers,
    // and so the rules, are not believed; the default policy applies.
    let s = server("10.0.0.0/8", &[]).await;
    let r = ask(&s, "status.example.com", "/health", JSON, None).await;
    assert_eq!(r.status, 401);
    let r = ask_nginx(&s, "https://app.example.com/public/x", None).await;
    assert_eq!(r.status, 401);
    // Nor is it refused by a deny rule it names: it simply needs a session.
    let t = s.login().await;
    let r = ask(&s, "old.example.com", "/", JSON, Some(&t)).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn two_factor_hosts_refuse_password_only_sessions() {
    let s = server("127.0.0.1", &[]).await;
    let weak = s.login().await;
    let r = ask(&s, "admin.example.com", "/settings", JSON, Some(&weak)).await;
    assert_eq!(
        (r.status.as_u16(), r.error()),
        (403, "second_factor_required")
    );
    // A browser navigation goes to the login page, which explains.
    let r = ask(&s, "admin.example.com", "/settings", HTML, Some(&weak)).await;
    assert_eq!(r.status, 302);
    let location = r.headers["location"].to_str().unwrap();
    assert_eq!(
        location,
        format!("{PUBLIC}/?rd=https%3A%2F%2Fadmin.example.com%2Fsettings&need=two_factor")
    );
    // nginx gets the 403 with the login URL alongside.
    let r = ask_nginx(&s, "https://admin.example.com/settings", Some(&weak)).await;
    assert_eq!(r.status, 403);
    assert!(r.headers["location"]
        .to_str()
        .unwrap()
        .ends_with("&need=two_factor"));
    // One factor is enough elsewhere.
    assert_eq!(
        ask(&s, "app.example.com", "/", JSON, Some(&weak))
            .await
            .status,
        200
    );
    // A session signed in with a code passes.
    let (_, enrolled) = sign_in_and_enroll(&s, &s.clock).await;
    let totp = code(&enrolled.secret, s.clock.now());
    let r = one_step_login(&s, PASSWORD, &totp).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let strong = Tokens::from(&r.body);
    let r = ask(&s, "admin.example.com", "/settings", JSON, Some(&strong)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["remote-user"], "admin");
}

#[tokio::test]
async fn deny_refuses_everyone() {
    let s = server("127.0.0.1", &[]).await;
    let t = s.login().await;
    for accept in [JSON, HTML] {
        for session in [None, Some(&t)] {
            let r = ask(&s, "old.example.com", "/", accept, session).await;
            assert_eq!((r.status.as_u16(), r.error()), (403, "forbidden"));
            assert!(r.headers.get("location").is_none());
        }
    }
    let r = ask(&s, "a.old.example.com", "/", JSON, Some(&t)).await;
    assert_eq!(r.status, 200, "deny names one host, not its subdomains");
}

#[tokio::test]
async fn the_default_policy_applies_where_no_rule_matches() {
    let s = server("127.0.0.1", &[("AUTH_DEFAULT_POLICY", "deny")]).await;
    let t = s.login().await;
    let r = ask(&s, "other.example.com", "/", JSON, Some(&t)).await;
    assert_eq!((r.status.as_u16(), r.error()), (403, "forbidden"));
    assert_eq!(
        ask(&s, "app.example.com", "/public/x", JSON, None)
            .await
            .status,
        200
    );
}

#[test]
fn an_invalid_rule_stops_start_up_and_check() {
    let dir = tempfile::tempdir().unwrap();
    for command in [None, Some("check")] {
        let mut cmd = binary();
        cmd.env("AUTH_DATA_DIR", dir.path()).env(
            "AUTH_RULES",
            "bypass app.example.com/health; allow admin.example.com",
        );
        if let Some(c) = command {
            cmd.arg(c);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{command:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("allow admin.example.com"),
            "{command:?}: {stderr}"
        );
        assert!(stderr.contains("not a policy"), "{stderr}");
    }
    let out = binary()
        .env("AUTH_DATA_DIR", dir.path())
        .env("AUTH_DEFAULT_POLICY", "bypass")
        .arg("check")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("AUTH_DEFAULT_POLICY"));
}

/// Any request to verify, with raw headers.
async fn ask_raw(s: &Server, headers: &[(&str, &str)]) -> Reply {
    let mut all = vec![("accept", JSON)];
    all.extend_from_slice(headers);
    verify(s, &all).await
}

#[tokio::test]
async fn odd_hosts_and_forwarded_headers_never_loosen_a_rule() {
    let s = server("127.0.0.1", &[]).await;
    let weak = s.login().await;
    // Proxies route `host:junk` to `host`: so do the rules.
    let r = ask(&s, "admin.example.com:x", "/", JSON, Some(&weak)).await;
    assert_eq!(r.error(), "second_factor_required");
    let r = ask(&s, "old.example.com:99999", "/", JSON, Some(&weak)).await;
    assert_eq!(r.error(), "forbidden");
    // Something that is no host name at all: no rule can match it safely.
    for host in [
        "app.example.com/public",
        "app.example.com@old.example.com",
        "a b",
    ] {
        let r = ask(&s, host, "/public/x", JSON, None).await;
        assert_eq!((r.status.as_u16(), r.error()), (403, "forbidden"), "{host}");
    }
    // A client's own X-Original-URL, passed on by Traefik next to the real
    // X-Forwarded-*: two descriptions that disagree are refused.
    let r = ask_raw(
        &s,
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "app.example.com"),
            ("x-forwarded-uri", "/admin"),
            ("x-original-url", "https://app.example.com/public/x"),
        ],
    )
    .await;
    assert_eq!((r.status.as_u16(), r.error()), (403, "forbidden"));
    // nginx with a client's X-Forwarded-* added: the same.
    let r = ask_raw(
        &s,
        &[
            ("x-original-url", "https://admin.example.com/"),
            ("x-forwarded-host", "app.example.com"),
            ("x-forwarded-uri", "/public/x"),
        ],
    )
    .await;
    assert_eq!(r.status, 403);
    // When they agree (port and case aside), all is well.
    let r = ask_raw(
        &s,
        &[
            ("x-original-url", "https://APP.example.com:443/public/x"),
            ("x-forwarded-host", "app.example.com"),
            ("x-forwarded-uri", "/public/x"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    // nginx's `$http_host` may carry `?`, `#`, `@`: never read as a path.
    for url in [
        "https://app.example.com?/public/x",
        "https://app.example.com#/public/x",
        "https://x@app.example.com/public/x",
        "not a url",
    ] {
        let r = ask_raw(&s, &[("x-original-url", url)]).await;
        assert_eq!((r.status.as_u16(), r.error()), (403, "forbidden"), "{url}");
    }
    // Path parameters (Tomcat, Spring) do not escape a rule either.
    let r = ask(&s, "app.example.com", "/public;x/../../admin", JSON, None).await;
    assert_eq!(r.status, 401);
}

/// Rules with a deny and an owner-cased bypass next to `RULES`' own.
const CASED_RULES: &str = "bypass app.example.com/public/*; bypass app.example.com/Docs/*\n\
                           deny app.example.com/admin*";

#[tokio::test]
async fn paths_are_also_read_case_folded_and_the_stricter_policy_wins() {
    let s = server("127.0.0.1", &[("AUTH_RULES", CASED_RULES)]).await;
    let t = s.login().await;
    // A case-insensitive backend serves `/ADMIN/x` as `/admin/x`: denied,
    // session or not.
    for uri in ["/ADMIN/x", "/Admin", "/public/../ADMIN/x", "/%41dmin/"] {
        for session in [None, Some(&t)] {
            let r = ask(&s, "app.example.com", uri, JSON, session).await;
            assert_eq!((r.status.as_u16(), r.error()), (403, "forbidden"), "{uri}");
        }
    }
    // The owner's own spelling keeps its bypass (the rule's path is folded
    // too); another spelling of it is bypassed only if every reading agrees,
    // and the case-sensitive one does not: a session is needed.
    let r = ask(&s, "app.example.com", "/Docs/intro", JSON, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for uri in ["/docs/intro", "/DOCS/intro", "/PUBLIC/x", "/Public/x"] {
        let r = ask(&s, "app.example.com", uri, JSON, None).await;
        assert_eq!(
            (r.status.as_u16(), r.error()),
            (401, "invalid_token"),
            "{uri}"
        );
        let r = ask(&s, "app.example.com", uri, JSON, Some(&t)).await;
        assert_eq!(r.status, 200, "{uri}");
    }
    let r = ask_nginx(&s, "https://app.example.com/ADMIN/x", Some(&t)).await;
    assert_eq!((r.status.as_u16(), r.error()), (403, "forbidden"));
}

#[tokio::test]
async fn double_encoded_overlong_and_look_alike_dots_never_get_bypass() {
    let s = server("127.0.0.1", &[]).await;
    let t = s.login().await;
    for uri in [
        "/public/%252e%252e/admin",
        "/public/%252E%252E/admin",
        "/public/..%252fadmin",
        "/public/%25%32%65%25%32%65/admin",
        "/public/%c0%ae%c0%ae/admin",
        "/public/%C0%AE%C0%AE/admin",
        "/public/..%c0%afadmin",
        "/public/%e0%80%ae%e0%80%ae/admin",
        "/public/%f0%80%80%ae%f0%80%80%ae/admin",
        "/public/%EF%BC%8E%EF%BC%8E/admin",
        "/public/%e3%80%82%e3%80%82/admin",
        "/public/%ef%bd%a1%ef%bd%a1/admin",
        "/public/..%ef%bc%8fadmin",
        "/public/..%ef%bc%bcadmin",
        "/public/x%ff",
    ] {
        let r = ask(&s, "app.example.com", uri, JSON, None).await;
        assert_eq!(
            (r.status.as_u16(), r.error()),
            (401, "invalid_token"),
            "{uri}"
        );
        // Only bypass is taken away: a session passes as anywhere else.
        let r = ask(&s, "app.example.com", uri, JSON, Some(&t)).await;
        assert_eq!(r.status, 200, "{uri}");
    }
    let r = ask_nginx(&s, "https://app.example.com/public/%252e%252e/admin", None).await;
    assert_eq!(r.status, 401);
    // Raw fullwidth dots are no visible ASCII: the forwarded headers are no
    // clear URL, which rules deny.
    let r = ask(&s, "app.example.com", "/public/．．/admin", JSON, None).await;
    assert_eq!((r.status.as_u16(), r.error()), (403, "forbidden"));
    // A plain public path still needs nothing.
    let r = ask(&s, "app.example.com", "/public/a%20b.png", JSON, None).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_forwarded_uri_over_8_kib_is_denied_rules_or_not() {
    let long = format!("/public/{}", "a".repeat(9 * 1024));
    let limit = format!("/public/{}", "a".repeat(8192 - "/public/".len()));
    let s = server("127.0.0.1", &[]).await;
    let t = s.login().await;
    for session in [None, Some(&t)] {
        let r = ask(&s, "app.example.com", &long, JSON, session).await;
        assert_eq!((r.status.as_u16(), r.error()), (403, "forbidden"));
        assert!(r.headers.get("location").is_none());
    }
    let r = ask(&s, "app.example.com", &long, HTML, None).await;
    assert_eq!((r.status.as_u16(), r.error()), (403, "forbidden"));
    let r = ask_nginx(&s, &format!("https://app.example.com{long}"), Some(&t)).await;
    assert_eq!((r.status.as_u16(), r.error()), (403, "forbidden"));
    let r = ask(&s, "app.example.com", &limit, JSON, None).await;
    assert_eq!(r.status, 200, "8 KiB exactly is fine");

    // Without rules, the forwarded URI is believed all the same.
    let s = Server::start_with(&[
        ("AUTH_PUBLIC_URL", PUBLIC),
        ("AUTH_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let t = s.login().await;
    let r = ask(&s, "app.example.com", &long, JSON, Some(&t)).await;
    assert_eq!((r.status.as_u16(), r.error()), (403, "forbidden"));
    let r = ask(&s, "app.example.com", &limit, JSON, Some(&t)).await;
    assert_eq!(r.status, 200);
    // From a peer that is no trusted proxy, it is not believed at all.
    let s = server("10.0.0.0/8", &[]).await;
    let t = s.login().await;
    let r = ask(&s, "app.example.com", &long, JSON, Some(&t)).await;
    assert_eq!(r.status, 200);
}

/// Traefik asking about `host`/ for a client at `xff` (its own address
/// appended last, as proxies do).
async fn ask_from(s: &Server, host: &str, xff: &str, session: Option<&Tokens>) -> Reply {
    let cookie = session.map(|t| format!("soloauth_access={}", t.access));
    let mut headers = vec![
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", host),
        ("x-forwarded-uri", "/"),
        ("x-forwarded-for", xff),
        ("accept", JSON),
    ];
    headers.extend(cookie.as_deref().map(|c| ("cookie", c)));
    verify(s, &headers).await
}

#[tokio::test]
async fn from_rules_judge_the_client_the_trusted_proxies_report() {
    let rules = "bypass media.example.com from 192.168.0.0/16; \
                 two_factor * from !10.0.0.0/8, 192.168.0.0/16";
    let s = server("127.0.0.1, 172.16.0.0/12", &[("AUTH_RULES", rules)]).await;
    let password_only = s.login().await;
    // At home: media needs nothing; the rest the default, one factor.
    let r = ask_from(&s, "media.example.com", "192.168.1.20", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.headers.get("remote-user").is_none());
    let r = ask_from(&s, "app.example.com", "192.168.1.20", Some(&password_only)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Away: two factors everywhere, media included.
    for host in ["media.example.com", "app.example.com"] {
        let r = ask_from(&s, host, "198.51.100.4", Some(&password_only)).await;
        assert_eq!(
            (r.status.as_u16(), r.error()),
            (403, "second_factor_required"),
            "{host}"
        );
    }
    // The right-most untrusted entry counts: a client cannot claim home by
    // writing it first; a chain of trusted proxies is walked past.
    let r = ask_from(&s, "media.example.com", "192.168.1.20, 198.51.100.4", None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = ask_from(&s, "media.example.com", "192.168.1.20, 172.18.0.5", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Over the VPN: one factor.
    let r = ask_from(&s, "app.example.com", "10.8.0.2", Some(&password_only)).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn from_rules_never_believe_an_untrusted_peers_header() {
    let rules = "bypass media.example.com from 192.168.0.0/16, 127.0.0.0/8";
    let s = server("10.9.9.9", &[("AUTH_RULES", rules)]).await;
    // The peer (127.0.0.1 here) is no trusted proxy: its headers, the
    // address and the URL alike, are not read; the default applies.
    let r = ask_from(&s, "media.example.com", "192.168.1.20", None).await;
    assert_eq!(r.status, 401, "{}", r.body);
}

#[test]
fn a_wrong_from_stops_check_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = binary()
        .env("AUTH_DATA_DIR", dir.path())
        .env("AUTH_RULES", "bypass media.example.com from 192.168.0.0/33")
        .arg("check")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("AUTH_RULES") && stderr.contains("192.168.0.0/33"),
        "{stderr}"
    );
}
