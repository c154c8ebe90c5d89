//! API tokens over HTTP: made, listed (never shown again) and revoked;
//! accepted by forward auth as Bearer or as the Basic password, within their
//! hosts and rules; refused by every other endpoint; expiry; the password is
//! never a Basic credential.

use base64::Engine;
use reqwest::header::AUTHORIZATION;
use serde_json::{json, Value};

use crate::common::{code, sign_in_and_enroll, verify, Reply, Server, Tokens, PASSWORD};

const RULES: &str = "two_factor admin.example.com; deny old.example.com; bypass open.example.com";

async fn server() -> Server {
    Server::start_with(&[
        ("AUTH_PUBLIC_URL", "https://auth.example.com"),
        ("AUTH_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("AUTH_RULES", RULES),
    ])
    .await
}

async fn mint(s: &Server, t: &Tokens, body: Value) -> Reply {
    s.post("/auth/tokens", body, Some(&t.access)).await
}

/// Forward auth for `https://host/dav/` with an `Authorization` header.
async fn verify_as(s: &Server, host: &str, authorization: &str) -> Reply {
    verify_with(s, host, &[(AUTHORIZATION.as_str(), authorization)]).await
}

/// Forward auth for `https://host/dav/` with these request headers.
async fn verify_with(s: &Server, host: &str, headers: &[(&str, &str)]) -> Reply {
    let mut all = vec![
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", host),
        ("x-forwarded-uri", "/dav/"),
    ];
    all.extend_from_slice(headers);
    verify(s, &all).await
}

fn basic(user: &str, password: &str) -> String {
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[tokio::test]
async fn a_token_is_shown_once_opens_forward_auth_and_dies_when_revoked() {
    let s = server().await;
    let t = s.login().await;
    let r = mint(&s, &t, json!({"name": "backup script"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let token = r.body["token"].as_str().unwrap().to_string();
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(token.starts_with("soloauth_"));
    assert!(
        token.len() >= "soloauth_".len() + 32 + 1 + 43,
        "256 random bits"
    );
    assert_eq!(r.body["expires_at"], Value::Null);
    let list = s.get("/auth/tokens", Some(&t.access)).await.body;
    assert_eq!(list[0]["id"], id.as_str());
    assert!(
        !list.to_string().contains(&token[20..]),
        "never shown again"
    );

    for auth in [
        format!("Bearer {token}"),
        basic("admin", &token),
        basic("anyone", &token),
    ] {
        let r = verify_as(&s, "files.example.com", &auth).await;
        assert_eq!(r.status, 200, "{auth}: {}", r.body);
        assert_eq!(r.headers["remote-user"], "admin");
        assert_eq!(r.headers["remote-token"], id.as_str());
    }
    // /auth/me takes it; nothing else does.
    let me = s.get("/auth/me", Some(&token)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["token_id"], id.as_str());
    for (method, path) in [
        ("GET", "/auth/sessions"),
        ("GET", "/auth/tokens"),
        ("POST", "/auth/tokens"),
        ("POST", "/auth/totp/setup"),
        ("POST", "/auth/passkeys/register/start"),
        ("POST", "/auth/logout"),
        ("GET", "/auth/events"),
        ("GET", "/oidc/userinfo"),
    ] {
        let req = match method {
            "GET" => s.http.get(s.url(path)),
            _ => s.http.post(s.url(path)).json(&json!({"name": "x"})),
        };
        let r = s.send(req.bearer_auth(&token)).await;
        assert_eq!(r.status, 401, "{method} {path}: {}", r.body);
    }

    let r = s
        .delete(&format!("/auth/tokens/{id}"), Some(&t.access))
        .await;
    assert_eq!(r.status, 204);
    let r = verify_as(&s, "files.example.com", &format!("Bearer {token}")).await;
    assert_eq!(r.status, 401, "refused from the next request");
    assert_eq!(
        s.delete(&format!("/auth/tokens/{id}"), Some(&t.access))
            .await
            .status,
        404
    );
    let events = s
        .get("/auth/events", Some(&t.access))
        .await
        .body
        .to_string();
    assert!(events.contains("token_created") && events.contains("token_revoked"));
    assert!(!events.contains(&token[20..]), "no token in events");
}

#[tokio::test]
async fn hosts_rules_expiry_and_the_password_decide() {
    let s = server().await;
    let t = s.login().await;
    let scoped = mint(
        &s,
        &t,
        json!({"name": "dav", "hosts": ["dav.example.com"], "expires_in_days": 2}),
    )
    .await;
    assert_eq!(scoped.status, 201, "{}", scoped.body);
    let token = scoped.body["token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {token}");
    assert_eq!(verify_as(&s, "dav.example.com", &bearer).await.status, 200);
    assert_eq!(
        verify_as(&s, "photos.example.com", &bearer).await.status,
        401,
        "outside its hosts"
    );
    // A password-session token: not for two_factor apps; deny is deny.
    let any = mint(&s, &t, json!({"name": "any"})).await.body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let any = format!("Bearer {any}");
    assert_eq!(verify_as(&s, "admin.example.com", &any).await.status, 403);
    assert_eq!(verify_as(&s, "old.example.com", &any).await.status, 403);
    // Bad input changes nothing.
    let r = mint(&s, &t, json!({"name": "x", "hosts": ["not a host!"]})).await;
    assert_eq!(r.status, 400);
    let r = mint(&s, &t, json!({"name": ""})).await;
    assert_eq!(r.status, 400);
    // Expiry.
    s.clock.advance(2 * 86_400);
    assert_eq!(
        verify_as(&s, "dav.example.com", &bearer).await.status,
        401,
        "expired"
    );
    // The password is never a credential here.
    let r = verify_as(&s, "files.example.com", &basic("admin", PASSWORD)).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn a_token_from_a_two_factor_session_passes_two_factor_rules_and_minting_needs_a_recent_sign_in(
) {
    let s = server().await;
    let (_, enrolled) = sign_in_and_enroll(&s, &s.clock).await;
    s.clock.advance(30);
    let r =
        crate::common::one_step_login(&s, PASSWORD, &code(&enrolled.secret, s.clock.now())).await;
    let strong = Tokens::from(&r.body);
    let token = mint(&s, &strong, json!({"name": "ha"})).await.body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = verify_as(&s, "admin.example.com", &format!("Bearer {token}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.clock.advance(601);
    let r = mint(&s, &strong, json!({"name": "late"})).await;
    assert_eq!(r.error(), "reauth_required");
    let r = mint(&s, &strong, json!({"name": "late", "password": PASSWORD})).await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn bypass_deny_and_a_browsers_session_are_not_the_tokens_to_decide() {
    let s = server().await;
    let login = s.try_login("admin", PASSWORD).await;
    assert_eq!(login.status, 200);
    let t = Tokens::from(&login.body);
    let cookie: Vec<String> = login
        .set_cookies()
        .iter()
        .map(|c| c.split(';').next().unwrap().to_string())
        .filter(|pair| {
            pair.starts_with("soloauth_session=") || pair.starts_with("soloauth_access=")
        })
        .collect();
    let cookie = cookie.join("; ");
    let made = mint(&s, &t, json!({"name": "dav", "hosts": ["dav.example.com"]})).await;
    let token = made.body["token"].as_str().unwrap().to_string();
    let id = made.body["id"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {token}");

    // bypass: open to everyone, and no Remote-User, with a token or not.
    let r = verify_as(&s, "open.example.com", &bearer).await;
    assert_eq!(r.status, 200);
    assert!(r.headers.get("remote-user").is_none() && r.headers.get("remote-token").is_none());
    let r = verify_as(&s, "open.example.com", "Bearer soloauth_0000_nonsense").await;
    assert_eq!(r.status, 200, "a bad token does not close a bypassed app");
    // deny: 403 forbidden to everyone, a bad token too.
    let r = verify_as(&s, "old.example.com", "Bearer soloauth_0000_nonsense").await;
    assert_eq!((r.status.as_u16(), r.error()), (403, "forbidden"));

    // An app's own Authorization header never hides the browser's session:
    // a token outside its hosts, or revoked, leaves the cookies to decide.
    let pairs = [
        ("cookie", cookie.as_str()),
        ("authorization", bearer.as_str()),
    ];
    let r = verify_with(&s, "photos.example.com", &pairs).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["remote-session"], t.sid.as_str());
    assert!(r.headers.get("remote-token").is_none());
    assert_eq!(
        s.delete(&format!("/auth/tokens/{id}"), Some(&t.access))
            .await
            .status,
        204
    );
    let r = verify_with(&s, "dav.example.com", &pairs).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["remote-session"], t.sid.as_str());
    // Without the cookies the revoked token is refused.
    assert_eq!(verify_as(&s, "dav.example.com", &bearer).await.status, 401);
}
