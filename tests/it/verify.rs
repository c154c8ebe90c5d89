//! Forward auth (`/auth/verify`) and the login page's `rd` allow-list.

use crate::common::{verify, Server};

const PUBLIC: &str = "https://auth.example.com";

async fn proxy_server() -> Server {
    Server::start_with(&[
        ("AUTH_PUBLIC_URL", PUBLIC),
        ("AUTH_COOKIE_DOMAIN", "example.com"),
        ("AUTH_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await
}

const TRAEFIK: [(&str, &str); 3] = [
    ("x-forwarded-proto", "https"),
    ("x-forwarded-host", "app.example.com"),
    ("x-forwarded-uri", "/dashboard?tab=1"),
];
const ENCODED_RD: &str = "rd=https%3A%2F%2Fapp.example.com%2Fdashboard%3Ftab%3D1";

#[tokio::test]
async fn a_valid_session_passes_with_remote_user_and_session() {
    let s = proxy_server().await;
    let t = s.login().await;
    let bearer = format!("Bearer {}", t.access);
    let cookie = format!("soloauth_access={}", t.access);
    for auth in [
        ("authorization", bearer.as_str()),
        ("cookie", cookie.as_str()),
    ] {
        let r = verify(&s, &[auth]).await;
        assert_eq!(r.status, 200, "{auth:?}");
        assert_eq!(r.headers["remote-user"], "admin");
        assert_eq!(r.headers["remote-session"], t.sid.as_str());
        assert_eq!(r.headers["cache-control"], "no-store");
    }
    let head = s
        .send(s.http.head(s.url("/auth/verify")).header("cookie", &cookie))
        .await;
    assert_eq!(head.status, 200);
    assert_eq!(head.headers["remote-user"], "admin");
    let head = s.send(s.http.head(s.url("/auth/verify"))).await;
    assert_eq!(head.status, 401);
}

#[tokio::test]
async fn api_requests_without_a_session_get_401() {
    let s = proxy_server().await;
    let mut headers = TRAEFIK.to_vec();
    headers.push(("accept", "application/json"));
    let r = verify(&s, &headers).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error(), "invalid_token");
    assert!(r.headers.get("location").is_none());
    let r = verify(&s, &[("authorization", "Bearer not-a-token")]).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn browser_navigations_are_sent_to_the_login_page_with_rd() {
    let s = proxy_server().await;
    let mut headers = TRAEFIK.to_vec();
    headers.push(("accept", "text/html,application/xhtml+xml"));
    let r = verify(&s, &headers).await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.headers["location"],
        format!("{PUBLIC}/?{ENCODED_RD}").as_str()
    );
    // Expired or revoked sessions too.
    let t = s.login().await;
    let cookie = format!("soloauth_access={}", t.access);
    headers.push(("cookie", &cookie));
    assert_eq!(verify(&s, &headers).await.status, 200);
    s.delete(&format!("/auth/sessions/{}", t.sid), Some(&t.access))
        .await;
    assert_eq!(
        verify(&s, &headers).await.status,
        302,
        "revoked: refused at once"
    );
}

#[tokio::test]
async fn forwarded_headers_from_untrusted_peers_are_ignored() {
    let s = Server::start_with(&[("AUTH_PUBLIC_URL", PUBLIC)]).await;
    let mut headers = TRAEFIK.to_vec();
    headers.push(("accept", "text/html"));
    let r = verify(&s, &headers).await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.headers["location"],
        format!("{PUBLIC}/").as_str(),
        "no rd from an untrusted peer"
    );
}

#[tokio::test]
async fn nginx_gets_401_with_the_login_url_never_302() {
    let s = proxy_server().await;
    let r = verify(
        &s,
        &[
            ("x-original-url", "https://app.example.com/dashboard?tab=1"),
            ("accept", "text/html"),
        ],
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.headers["location"],
        format!("{PUBLIC}/?{ENCODED_RD}").as_str()
    );
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let s = proxy_server().await;
    let t = s.login().await;
    s.clock.advance(1800);
    let r = verify(&s, &[("authorization", &format!("Bearer {}", t.access))]).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn verify_outcomes_are_counted() {
    let s = proxy_server().await;
    let t = s.login().await;
    verify(&s, &[("authorization", &format!("Bearer {}", t.access))]).await;
    verify(&s, &[]).await;
    verify(&s, &[("accept", "text/html")]).await;
    let text = s.metrics().await;
    for outcome in ["allowed", "denied", "redirected"] {
        let line = format!("soloauth_verify_total{{outcome=\"{outcome}\"}} 1");
        assert!(text.contains(&line), "{line}");
    }
}

async fn page_rd(s: &Server, rd: &str) -> Option<String> {
    let encoded: String = url::form_urlencoded::byte_serialize(rd.as_bytes()).collect();
    let page = s.get(&format!("/?rd={encoded}"), None).await;
    let html = page.body.as_str().unwrap().to_string();
    let start = html.find(r#"<meta name="soloauth-rd" content=""#)?;
    let rest = &html[start + 34..];
    Some(rest[..rest.find('"')?].to_string())
}

#[tokio::test]
async fn the_login_page_follows_only_allowed_rd() {
    let s = proxy_server().await;
    assert_eq!(
        page_rd(&s, "https://app.example.com/x?a=1&b=2")
            .await
            .as_deref(),
        Some("https://app.example.com/x?a=1&amp;b=2")
    );
    assert!(page_rd(&s, "https://auth.example.com/").await.is_some());
    for evil in [
        "//evil.com",
        "https://evil.com",
        "https://example.com.evil.com",
        "javascript:alert(document.cookie)",
        "https:%2F%2Fevil.com",
        "%2F%2Fevil.com",
        "https://example.com@evil.com",
        "https://evil.com\\@app.example.com",
        "\"><script>alert(1)</script>",
    ] {
        assert_eq!(page_rd(&s, evil).await, None, "{evil}");
    }
    let page = s.get("/?rd=%22%3E%3Cscript%3E", None).await;
    assert!(
        !page.body.as_str().unwrap().contains("<script>"),
        "nothing injected"
    );
}

#[tokio::test]
async fn verify_records_activity_on_the_session_at_most_once_a_minute() {
    let s = proxy_server().await;
    let seen = s.login().await;
    let viewer = s.login().await;
    let last_seen = |list: &serde_json::Value| {
        list.as_array()
            .and_then(|l| l.iter().find(|x| x["id"] == seen.sid.as_str()))
            .map(|x| x["last_seen_at"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    let cookie = format!("soloauth_access={}", seen.access);
    let before = last_seen(&s.get("/auth/sessions", Some(&viewer.access)).await.body);
    s.clock.advance(30);
    assert_eq!(verify(&s, &[("cookie", &cookie)]).await.status, 200);
    let list = s.get("/auth/sessions", Some(&viewer.access)).await.body;
    assert_eq!(last_seen(&list), before, "within a minute: not rewritten");
    s.clock.advance(40);
    assert_eq!(verify(&s, &[("cookie", &cookie)]).await.status, 200);
    let list = s.get("/auth/sessions", Some(&viewer.access)).await.body;
    assert_eq!(
        last_seen(&list),
        soloauth::base::clock::rfc3339(s.clock.now()),
        "a minute on: forward auth counts as activity"
    );
}
