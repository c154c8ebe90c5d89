//! Sessions that last behind forward auth: the session cookie carries a
//! browser past its access token's 30 minutes, on the cookies a browser
//! would still hold (Max-Age, by the server's clock), until the idle or
//! absolute limit, logout or revocation ends it.

use serde_json::json;

use crate::common::{code, code_step, sign_in_and_enroll, Jar, Reply, Server, Tokens, PASSWORD};

const PUBLIC: &str = "https://auth.example.com";
const APP: &str = "app.example.com";

async fn server(extra: &[(&str, &str)]) -> Server {
    let mut env = vec![
        ("AUTH_PUBLIC_URL", PUBLIC),
        ("AUTH_COOKIE_DOMAIN", "example.com"),
        ("AUTH_TRUSTED_PROXIES", "127.0.0.1"),
    ];
    env.extend_from_slice(extra);
    Server::start_with(&env).await
}

/// A browser signs in; its jar holds what the login set.
async fn browser_login(s: &Server, body: serde_json::Value) -> (Jar, Tokens) {
    let r = s.post("/auth/login", body, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut jar = Jar::default();
    jar.take(&r, s.clock.now());
    (jar, Tokens::from(&r.body))
}

async fn signed_in(s: &Server) -> (Jar, Tokens) {
    browser_login(s, json!({"username": "admin", "password": PASSWORD})).await
}

/// An app's background request (XHR) through Traefik, with the cookies the
/// browser holds for the app now.
async fn xhr(s: &Server, jar: &Jar) -> Reply {
    let cookies = jar.header(APP, "/api/feed", s.clock.now());
    let req = s
        .http
        .get(s.url("/auth/verify"))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", APP)
        .header("x-forwarded-uri", "/api/feed")
        .header("accept", "application/json")
        .header("cookie", cookies);
    s.send(req).await
}

#[tokio::test]
async fn a_session_outliving_its_access_token_passes_verify() {
    let s = server(&[]).await;
    let (jar, t) = signed_in(&s).await;
    assert_eq!(xhr(&s, &jar).await.status, 200);
    // 31 minutes on, a browser has dropped the access cookie (Max-Age).
    s.clock.advance(31 * 60);
    let now = s.clock.now();
    assert!(
        !jar.names(now).contains(&"soloauth_access"),
        "{:?}",
        jar.names(now)
    );
    assert!(jar.names(now).contains(&"soloauth_session"));
    let r = xhr(&s, &jar).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["remote-user"], "admin");
    assert_eq!(r.headers["remote-session"], t.sid.as_str());
    // A navigation too, and a WebSocket upgrade (just another GET to verify).
    let nav = s
        .send(
            s.http
                .get(s.url("/auth/verify"))
                .header("x-forwarded-proto", "https")
                .header("x-forwarded-host", APP)
                .header("x-forwarded-uri", "/")
                .header("accept", "text/html")
                .header("cookie", jar.header(APP, "/", now)),
        )
        .await;
    assert_eq!(nav.status, 200);
    // All day long, for days, while the browser keeps using the app.
    for _ in 0..(6 * 24) {
        s.clock.advance(3600);
        assert_eq!(xhr(&s, &jar).await.status, 200);
    }
    // The expired access token, as a Bearer, is refused: API clients still
    // refresh every 30 minutes.
    assert_eq!(s.get("/auth/me", Some(&t.access)).await.status, 401);
}

#[tokio::test]
async fn the_session_cookie_opens_forward_auth_and_nothing_else() {
    let s = server(&[]).await;
    let (jar, _) = signed_in(&s).await;
    s.clock.advance(31 * 60);
    let cookies = jar.header("auth.example.com", "/auth/me", s.clock.now());
    assert!(cookies.contains("soloauth_session="), "{cookies}");
    let me = s
        .send(s.http.get(s.url("/auth/me")).header("cookie", &cookies))
        .await;
    assert_eq!((me.status.as_u16(), me.error()), (401, "invalid_token"));
    // A forged secret for the right session id passes nothing.
    let forged = format!(
        "soloauth_session={}",
        "0".repeat(32) + "." + &"A".repeat(43)
    );
    let r = s
        .send(s.http.get(s.url("/auth/verify")).header("cookie", forged))
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn revocation_is_immediate() {
    let s = server(&[]).await;
    let (jar, _) = signed_in(&s).await;
    let (other_jar, other) = signed_in(&s).await;
    s.clock.advance(31 * 60);
    assert_eq!(xhr(&s, &jar).await.status, 200);
    // "Sign out everywhere else", from a fresh sign-in of the other browser.
    let fresh = Tokens::from(&s.refresh(&other.refresh).await.body);
    assert_eq!(
        s.delete("/auth/sessions", Some(&fresh.access)).await.status,
        204
    );
    assert_eq!(xhr(&s, &jar).await.status, 401, "revoked at once");
    assert_eq!(
        xhr(&s, &other_jar).await.status,
        200,
        "the caller's own session lives"
    );
    // One session by id, then logout: the same.
    let (jar2, t2) = signed_in(&s).await;
    assert_eq!(xhr(&s, &jar2).await.status, 200);
    let path = format!("/auth/sessions/{}", t2.sid);
    assert_eq!(s.delete(&path, Some(&fresh.access)).await.status, 204);
    assert_eq!(xhr(&s, &jar2).await.status, 401);
    assert_eq!(
        s.post("/auth/logout", json!(null), Some(&fresh.access))
            .await
            .status,
        204
    );
    assert_eq!(xhr(&s, &other_jar).await.status, 401);
}

#[tokio::test]
async fn the_idle_limit_ends_a_session_and_activity_slides_it() {
    let s = server(&[("AUTH_REFRESH_TTL_SECONDS", "3600")]).await;
    let (jar, t) = signed_in(&s).await;
    // Active every 50 minutes: alive well past one idle period.
    for _ in 0..4 {
        s.clock.advance(50 * 60);
        assert_eq!(xhr(&s, &jar).await.status, 200);
    }
    // An hour with no request at all ends it.
    s.clock.advance(3600);
    assert_eq!(xhr(&s, &jar).await.status, 401);
    assert_eq!(
        s.refresh(&t.refresh).await.status,
        401,
        "and its refresh token"
    );
}

#[tokio::test]
async fn the_absolute_limit_ends_a_session_however_active() {
    let s = server(&[("AUTH_SESSION_MAX_DAYS", "1")]).await;
    let (jar, t) = signed_in(&s).await;
    let mut refresh = t.refresh.clone();
    for _ in 0..23 {
        s.clock.advance(3600);
        assert_eq!(xhr(&s, &jar).await.status, 200);
        let r = s.refresh(&refresh).await;
        assert_eq!(r.status, 200);
        assert!(r.body["refresh_expires_in"].as_i64().unwrap() <= 86_400);
        refresh = Tokens::from(&r.body).refresh;
    }
    s.clock.advance(3600);
    assert_eq!(xhr(&s, &jar).await.status, 401, "a day after login");
    assert_eq!(s.refresh(&refresh).await.status, 401);
}

#[tokio::test]
async fn cookies_last_as_long_as_the_session_can() {
    let s = server(&[("AUTH_SESSION_MAX_DAYS", "2")]).await;
    let r = s.try_login("admin", PASSWORD).await;
    let cookies = r.set_cookies();
    let find = |name: &str| {
        let raw = cookies.iter().find(|c| c.starts_with(name)).unwrap();
        cookie::Cookie::parse(raw.clone()).unwrap()
    };
    let session = find("soloauth_session=");
    assert_eq!(session.max_age().unwrap().whole_seconds(), 2 * 86_400);
    assert_eq!(session.domain(), Some("example.com"));
    assert_eq!(session.path(), Some("/"));
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(session.secure(), Some(true));
    assert_eq!(session.same_site(), Some(cookie::SameSite::Lax));
    assert_eq!(
        find("soloauth_access=").max_age().unwrap().whole_seconds(),
        1800
    );
    assert_eq!(
        find("soloauth_refresh=").max_age().unwrap().whole_seconds(),
        2 * 86_400
    );
}

#[tokio::test]
async fn remember_false_gives_browser_session_cookies() {
    let s = server(&[]).await;
    let body = json!({"username": "admin", "password": PASSWORD, "remember": false});
    let r = s.post("/auth/login", body, None).await;
    assert_eq!(r.status, 200);
    let cookies = r.set_cookies();
    assert_eq!(cookies.len(), 3, "{cookies:?}");
    for c in &cookies {
        assert!(!c.contains("Max-Age") && !c.contains("Expires"), "{c}");
    }
    let mut jar = Jar::default();
    jar.take(&r, s.clock.now());
    assert_eq!(xhr(&s, &jar).await.status, 200);
    // A refresh keeps them browser-session cookies.
    let t = Tokens::from(&r.body);
    let refreshed = s.refresh(&t.refresh).await;
    assert!(refreshed
        .set_cookies()
        .iter()
        .all(|c| !c.contains("Max-Age")));
    jar.close_browser();
    assert_eq!(xhr(&s, &jar).await.status, 401, "gone with the browser");
    // The form's checkbox: `remember=on` keeps them; absent means the default.
    for (form, kept) in [("&remember=on", true), ("", true), ("&remember=off", false)] {
        let body = format!("username=admin&password=correct+horse+battery+staple{form}");
        let r = s
            .send(
                s.http
                    .post(s.url("/auth/login"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body),
            )
            .await;
        assert_eq!(r.status, 200, "{form}: {}", r.body);
        let session = r
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with("soloauth_session="))
            .unwrap();
        assert_eq!(session.contains("Max-Age"), kept, "{form}: {session}");
    }
    let bad = json!({"username": "admin", "password": PASSWORD, "remember": "yes"});
    assert_eq!(s.post("/auth/login", bad, None).await.status, 400);
}

#[tokio::test]
async fn the_second_step_keeps_the_first_steps_remember() {
    let s = server(&[]).await;
    let (_, enrolled) = sign_in_and_enroll(&s, &s.clock).await;
    let body = json!({"username": "admin", "password": PASSWORD, "remember": false});
    let r = s.post("/auth/login", body, None).await;
    assert_eq!(r.error(), "mfa_required");
    let mfa_token = r.body["mfa_token"].as_str().unwrap().to_string();
    let totp = code(&enrolled.secret, s.clock.now());
    let r = code_step(&s, &mfa_token, json!({ "code": totp })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.set_cookies().iter().all(|c| !c.contains("Max-Age")));
    // And with "remember" absent (the default, true), lasting cookies.
    s.clock.advance(30);
    let r = s.try_login("admin", PASSWORD).await;
    let mfa_token = r.body["mfa_token"].as_str().unwrap().to_string();
    let totp = code(&enrolled.secret, s.clock.now());
    let r = code_step(&s, &mfa_token, json!({ "code": totp })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.set_cookies().iter().all(|c| c.contains("Max-Age=")),
        "{:?}",
        r.set_cookies()
    );
}
