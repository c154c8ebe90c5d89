//! Abuse resistance: rate limit, per-IP and account lockouts, forwarded
//! addresses, audit events and metrics.

use serde_json::json;

use crate::common::{
    behind_proxy, event_kinds, known, sign_in_and_enroll, succeed, wrong_code, Reply, Server,
    PASSWORD,
};

/// A server that believes X-Forwarded-For from loopback ([`behind_proxy`]),
/// with small limits: three failures lock an address out for 15 minutes.
async fn small_limits(extra: &[(&str, &str)]) -> Server {
    let mut env = vec![
        ("AUTH_MAX_FAILED_ATTEMPTS", "3"),
        ("AUTH_LOCKOUT_MINUTES", "15"),
    ];
    env.extend_from_slice(extra);
    behind_proxy(&env).await
}

/// `POST /auth/login` from `ip` (as the proxy says in `X-Forwarded-For`).
async fn login_from(s: &Server, ip: &str, password: &str) -> Reply {
    s.login_with(password, &[("x-forwarded-for", ip)]).await
}

fn retry_after(r: &Reply) -> u64 {
    r.headers["retry-after"].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn one_ip_is_locked_while_another_logs_in() {
    let s = small_limits(&[]).await;
    for _ in 0..3 {
        assert_eq!(
            login_from(&s, "203.0.113.7", "wrong").await.error(),
            "invalid_credentials"
        );
    }
    let r = login_from(&s, "203.0.113.7", PASSWORD).await;
    assert_eq!(
        (r.status.as_u16(), r.error()),
        (423, "account_locked"),
        "even the right password"
    );
    assert_eq!(retry_after(&r), 15 * 60);
    let owner = login_from(&s, "198.51.100.1", PASSWORD).await;
    assert_eq!(owner.status, 200, "another IP is not affected");
    // The lock ends after AUTH_LOCKOUT_MINUTES.
    s.clock.advance(15 * 60 - 10);
    let r = login_from(&s, "203.0.113.7", PASSWORD).await;
    assert_eq!(retry_after(&r), 10);
    s.clock.advance(10);
    assert_eq!(login_from(&s, "203.0.113.7", PASSWORD).await.status, 200);
}

#[tokio::test]
async fn a_success_resets_the_count() {
    let s = small_limits(&[]).await;
    for _ in 0..2 {
        login_from(&s, "203.0.113.8", "wrong").await;
    }
    assert_eq!(login_from(&s, "203.0.113.8", PASSWORD).await.status, 200);
    for _ in 0..2 {
        login_from(&s, "203.0.113.8", "wrong").await;
    }
    assert_eq!(
        login_from(&s, "203.0.113.8", PASSWORD).await.status,
        200,
        "not locked: the run restarted"
    );
}

#[tokio::test]
async fn untrusted_forwarded_headers_cannot_dodge_a_lockout() {
    let s = Server::start_with(&[("AUTH_MAX_FAILED_ATTEMPTS", "3")]).await;
    for i in 0..3 {
        login_from(&s, &format!("10.9.9.{i}"), "wrong").await;
    }
    let r = login_from(&s, "10.9.9.99", PASSWORD).await;
    assert_eq!(
        r.status, 423,
        "the header is ignored: all came from 127.0.0.1"
    );
    let events = s.login_events_ip().await;
    assert!(events.iter().all(|ip| ip == "127.0.0.1"), "{events:?}");
}

#[tokio::test]
async fn trusted_proxy_header_gives_the_client_address() {
    let s = small_limits(&[]).await;
    let r = login_from(&s, "6.6.6.6, 192.0.2.44", PASSWORD).await;
    assert_eq!(r.status, 200);
    let access = r.body["access_token"].as_str().unwrap();
    let sessions = s.get("/auth/sessions", Some(access)).await.body;
    assert_eq!(
        sessions[0]["ip"], "192.0.2.44",
        "right-most untrusted address"
    );
}

#[tokio::test]
async fn wrong_totp_codes_count_towards_the_lockout() {
    let s = small_limits(&[]).await;
    let (_, e) = sign_in_and_enroll(&s, &s.clock).await;
    for _ in 0..3 {
        let wrong = wrong_code(&e.secret, s.clock.now());
        let body = json!({"username": "admin", "password": PASSWORD, "totp_code": wrong});
        let r = s
            .post_with("/auth/login", body, &[("x-forwarded-for", "203.0.113.9")])
            .await;
        assert_eq!(r.error(), "invalid_code");
    }
    assert_eq!(login_from(&s, "203.0.113.9", PASSWORD).await.status, 423);
}

#[tokio::test]
async fn the_account_cap_locks_everyone_until_unlock() {
    let s = small_limits(&[("AUTH_ACCOUNT_MAX_FAILURES", "4")]).await;
    for i in 0..4 {
        login_from(&s, &format!("203.0.113.{}", 20 + i), "wrong").await;
    }
    let r = login_from(&s, "198.51.100.1", PASSWORD).await;
    assert_eq!(
        (r.status.as_u16(), r.error()),
        (423, "account_locked"),
        "a fresh IP too"
    );
    assert!(retry_after(&r) > 0);
    // Locks survive a restart.
    let mut s = s.restart().await;
    assert_eq!(login_from(&s, "198.51.100.1", PASSWORD).await.status, 423);
    s.stop().await;
    succeed(known(s.dir.path()).arg("unlock"));
    let s = s.restart().await;
    let r = login_from(&s, "198.51.100.1", PASSWORD).await;
    assert_eq!(r.status, 200, "unlocked");
    let kinds = event_kinds(&s, r.body["access_token"].as_str().unwrap()).await;
    assert!(
        kinds.iter().any(|k| k == "unlock") && kinds.iter().any(|k| k == "lockout"),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after_per_ip() {
    let s = small_limits(&[("AUTH_RATE_PER_MINUTE", "1"), ("AUTH_RATE_BURST", "3")]).await;
    for _ in 0..3 {
        assert_ne!(login_from(&s, "203.0.113.50", "wrong").await.status, 429);
    }
    let r = login_from(&s, "203.0.113.50", PASSWORD).await;
    assert_eq!((r.status.as_u16(), r.error()), (429, "rate_limited"));
    let wait = retry_after(&r);
    assert!((1..=60).contains(&wait), "{wait}");
    let refresh = s
        .post_with(
            "/auth/refresh",
            json!({"refresh_token": "x"}),
            &[("x-forwarded-for", "203.0.113.50")],
        )
        .await;
    assert_eq!(refresh.status, 429, "refresh shares the bucket");
    assert_eq!(
        login_from(&s, "203.0.113.51", PASSWORD).await.status,
        200,
        "other IPs unaffected"
    );
}

#[tokio::test]
async fn events_are_recorded_and_listed_newest_first() {
    let s = Server::start().await;
    s.try_login("admin", "wrong").await;
    let t = s.login().await;
    let other = s.login().await;
    s.delete(&format!("/auth/sessions/{}", other.sid), Some(&t.access))
        .await;
    let r = s.get("/auth/events", Some(&t.access)).await;
    assert_eq!(r.status, 200);
    let events = r.body.as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "session_revoked",
            "login_success",
            "login_success",
            "login_failure"
        ]
    );
    for e in events {
        assert!(e["at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(e["ip"], "127.0.0.1");
        assert!(e["detail"].is_string());
    }
    assert!(
        !r.body.to_string().contains("wrong"),
        "no attempted password in events"
    );
    let r = s.get("/auth/events?limit=2", Some(&t.access)).await;
    assert_eq!(r.body.as_array().unwrap().len(), 2);
    for bad in ["0", "1001", "-1", "x"] {
        let r = s
            .get(&format!("/auth/events?limit={bad}"), Some(&t.access))
            .await;
        assert_eq!(
            (r.status.as_u16(), r.error()),
            (400, "bad_request"),
            "limit={bad}"
        );
    }
    assert_eq!(s.get("/auth/events", None).await.status, 401);
}

#[tokio::test]
async fn metrics_are_exposed_and_move() {
    let s = Server::start().await;
    let value = crate::common::series;
    let before = s.metrics().await;
    s.try_login("admin", "wrong").await;
    let t = s.login().await;
    s.refresh(&t.refresh).await;
    s.clock.advance(11); // past the grace period: reuse
    s.refresh(&t.refresh).await;
    let after = s.metrics().await;
    for (series, delta) in [
        ("soloauth_logins_total{outcome=\"success\"}", 1.0),
        ("soloauth_logins_total{outcome=\"failure\"}", 1.0),
        ("soloauth_refreshes_total{outcome=\"success\"}", 1.0),
        ("soloauth_refreshes_total{outcome=\"reuse\"}", 1.0),
        ("soloauth_audit_events_total{kind=\"refresh_reuse\"}", 1.0),
    ] {
        assert_eq!(
            value(&after, series) - value(&before, series),
            delta,
            "{series}"
        );
    }
    assert!(after.contains(
        "soloauth_http_request_duration_seconds_bucket{method=\"POST\",route=\"/auth/login\""
    ));
    assert!(after.contains("soloauth_active_sessions"));
    assert!(
        !after.contains("route=\"/wp-admin"),
        "route labels are bounded"
    );
}
