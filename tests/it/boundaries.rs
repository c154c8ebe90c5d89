//! What each credential opens (the contract's "Boundaries"), over HTTP, as
//! the second outside review attacked it: every app under the cookie
//! domain is untrusted and replays whatever cookies it receives. Each test
//! names the review's finding it covers.

use futures_util::future::join_all;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{json, Value};

use crate::common::{authorize, Jar, Reply, Server, PASSWORD};
use crate::passkeys::register;

const PUBLIC: &str = "https://auth.example.com";
const AUTH: &str = "auth.example.com";
/// A compromised app under the cookie domain.
const APP: &str = "photos.example.com";
const REDIRECT: &str = "https://photos.example.com/auth/callback";
const SECRET: &str = "a-client-secret-of-at-least-32-characters";
const LOOPBACK: &str = "http://127.0.0.1/callback";
const VERIFIER: &str = "a-long-enough-code-verifier-of-forty-three-chars-or-more";

async fn server() -> Server {
    Server::start_with(&[
        ("AUTH_PUBLIC_URL", PUBLIC),
        ("AUTH_COOKIE_DOMAIN", "example.com"),
        ("AUTH_OIDC_CLIENT_PHOTOS_ID", "photos"),
        ("AUTH_OIDC_CLIENT_PHOTOS_SECRET", SECRET),
        ("AUTH_OIDC_CLIENT_PHOTOS_REDIRECT_URIS", REDIRECT),
        (
            "AUTH_OIDC_CLIENT_PHOTOS_LOGOUT_URIS",
            "https://photos.example.com/bye",
        ),
        ("AUTH_OIDC_CLIENT_MOBILE_ID", "mobile"),
        ("AUTH_OIDC_CLIENT_MOBILE_REDIRECT_URIS", LOOPBACK),
    ])
    .await
}

/// The owner signs in in a browser: its cookie jar.
async fn owner_signs_in(s: &Server) -> Jar {
    let r = s.try_login("admin", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut jar = Jar::default();
    jar.take(&r, s.clock.now());
    jar
}

/// What the browser sends to `host` for `path` now.
fn cookies(s: &Server, jar: &Jar, host: &str, path: &str) -> String {
    jar.header(host, path, s.clock.now())
}

/// The PKCE challenge of [`VERIFIER`].
fn challenge() -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(VERIFIER.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// An authorization request of `client` at `redirect`, with PKCE.
fn authorize_params<'a>(
    client: &'a str,
    redirect: &'a str,
    pkce: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("client_id", client),
        ("redirect_uri", redirect),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "st4te"),
        ("code_challenge", pkce),
        ("code_challenge_method", "S256"),
    ]
}

/// The browser follows `rd` (an address on the auth host) back, signed in.
async fn back_to(s: &Server, jar: &Jar, rd: &str) -> Reply {
    let back = rd.replacen(PUBLIC, &s.url(""), 1);
    let cookie = cookies(s, jar, AUTH, "/oidc/authorize");
    s.send(s.http.get(back).header(COOKIE, cookie)).await
}

/// A query parameter of a reply's `Location`.
fn location_param(r: &Reply, name: &str) -> Option<String> {
    let location = r.headers.get(LOCATION)?.to_str().ok()?;
    let url = reqwest::Url::parse(location).ok()?;
    let value = url.query_pairs().find(|(k, _)| k == name)?.1;
    Some(value.into_owned())
}

/// A code for `photos`, for the browser sending `cookie`.
async fn photos_code(s: &Server, cookie: &str) -> String {
    let pkce = challenge();
    let r = authorize(s, cookie, &authorize_params("photos", REDIRECT, &pkce)).await;
    location_param(&r, "code").unwrap_or_else(|| panic!("no code: {:?}", r.headers))
}

/// `POST /oidc/token` with `form`, as `photos` (Basic) when `secret` is given.
async fn token(s: &Server, form: &[(&str, &str)], secret: Option<&str>) -> Reply {
    let mut req = s.http.post(s.url("/oidc/token")).form(form);
    if let Some(secret) = secret {
        req = req.basic_auth("photos", Some(secret));
    }
    s.send(req).await
}

fn exchange_form<'a>(
    code: &'a str,
    redirect: &'a str,
    verifier: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
        ("code_verifier", verifier),
    ]
}

/// A form's fields.
type Form<'a> = Vec<(&'a str, &'a str)>;

fn set_cookies(r: &Reply) -> Vec<&str> {
    r.headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

/// Finding 1 and 2: an app under the cookie domain receives the session
/// cookie alone, and it opens forward auth and nothing else: not the API
/// (as a cookie or as a Bearer token), not a passkey or a token, not an
/// OIDC app, not a sign-out.
#[tokio::test]
async fn an_app_under_the_cookie_domain_can_only_pass_forward_auth() {
    let s = server().await;
    let jar = owner_signs_in(&s).await;
    let at_app = cookies(&s, &jar, APP, "/");
    let names: Vec<&str> = at_app
        .split("; ")
        .map(|c| c.split('=').next().unwrap())
        .collect();
    assert_eq!(names, ["soloauth_session"], "the app receives: {at_app}");
    let session_value = at_app.split_once('=').unwrap().1.to_string();

    // Right after the owner signed in (inside the re-auth window), the app
    // replays what it holds, forging the auth host's Origin as a server can.
    let as_cookie = |method: reqwest::Method, path: &str, body: Value| {
        s.http
            .request(method, s.url(path))
            .header(COOKIE, format!("soloauth_access={session_value}; {at_app}"))
            .header("origin", PUBLIC)
            .json(&body)
    };
    let as_bearer = |method: reqwest::Method, path: &str, body: Value| {
        s.http
            .request(method, s.url(path))
            .bearer_auth(&session_value)
            .json(&body)
    };
    let attempts = [
        (
            reqwest::Method::POST,
            "/auth/passkeys/register/start",
            json!({}),
        ),
        (
            reqwest::Method::POST,
            "/auth/tokens",
            json!({"name": "mine"}),
        ),
        (reqwest::Method::POST, "/auth/totp/setup", json!({})),
        (
            reqwest::Method::POST,
            "/auth/oidc/clients",
            json!({"name": "evil", "redirect_uris": ["https://evil.example/cb"]}),
        ),
        (reqwest::Method::GET, "/auth/me", Value::Null),
        (reqwest::Method::GET, "/auth/sessions", Value::Null),
        (reqwest::Method::DELETE, "/auth/sessions", Value::Null),
        (reqwest::Method::POST, "/auth/logout", Value::Null),
        (reqwest::Method::POST, "/auth/refresh", json!({})),
    ];
    for (method, path, body) in attempts {
        for req in [
            as_cookie(method.clone(), path, body.clone()),
            as_bearer(method.clone(), path, body.clone()),
        ] {
            let r = s.send(req).await;
            assert_eq!(r.status, 401, "{method} {path}: {}", r.body);
            assert_eq!(r.error(), "invalid_token", "{method} {path}");
        }
    }

    // No OIDC app signs in on it: the login page, never a code.
    let pkce = challenge();
    let r = authorize(&s, &at_app, &authorize_params("mobile", LOOPBACK, &pkce)).await;
    assert_eq!(r.status, 302);
    let location = r.headers[LOCATION].to_str().unwrap();
    assert!(
        location.starts_with(&format!("{PUBLIC}/?rd=")),
        "{location}"
    );
    assert_eq!(location_param(&r, "code"), None);
    // Nor does it end the owner's sign-in, even forging our Origin (what
    // it is told to clear is its own business).
    let r = s
        .send(
            s.http
                .post(s.url("/oidc/logout"))
                .header(COOKIE, &at_app)
                .header("origin", PUBLIC),
        )
        .await;
    assert_eq!(r.status, 200);

    // Forward auth is what it opens.
    let verify = s
        .http
        .get(s.url("/auth/verify"))
        .header(COOKIE, &at_app)
        .header("accept", "application/json");
    let r = s.send(verify).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["remote-user"], "admin");
    // And the owner's own host-only cookies still do everything.
    let own = cookies(&s, &jar, AUTH, "/auth/me");
    let me = s
        .send(s.http.get(s.url("/auth/me")).header(COOKIE, own))
        .await;
    assert_eq!(me.status, 200, "{}", me.body);
}

/// Finding 2: once the access cookie has run out, authorize sends the
/// browser to the login page, whose refresh (host-only refresh cookie)
/// brings it back signed in.
#[tokio::test]
async fn authorize_after_the_access_cookie_ran_out_goes_through_the_login_page() {
    let s = server().await;
    let mut jar = owner_signs_in(&s).await;
    s.clock.advance(1801);
    let at_auth = cookies(&s, &jar, AUTH, "/oidc/authorize");
    assert!(!at_auth.contains("soloauth_access"), "{at_auth}");
    let pkce = challenge();
    let params = authorize_params("photos", REDIRECT, &pkce);
    let r = authorize(&s, &at_auth, &params).await;
    let rd = location_param(&r, "rd").expect("to the login page");
    assert!(rd.starts_with(&format!("{PUBLIC}/oidc/authorize?")), "{rd}");
    // The page refreshes (same origin, the Strict refresh cookie)…
    let refresh = s
        .http
        .post(s.url("/auth/refresh"))
        .header(COOKIE, cookies(&s, &jar, AUTH, "/auth/refresh"))
        .header("origin", PUBLIC);
    let r = s.send(refresh).await;
    assert_eq!(r.status, 200, "{}", r.body);
    jar.take(&r, s.clock.now());
    // …and goes back.
    let r = back_to(&s, &jar, &rd).await;
    assert!(location_param(&r, "code").is_some(), "{:?}", r.headers);
}

/// Finding 3 (logout CSRF), and the confirmation that never completed in a
/// real browser (`Origin: null` on a same-origin form post under
/// `Referrer-Policy: no-referrer`).
#[tokio::test]
async fn a_hostile_page_cannot_sign_the_owner_out_and_the_owners_own_form_can() {
    let s = server().await;
    let jar = owner_signs_in(&s).await;
    // A cross-site post carries no Lax cookie: no session, no hint.
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let r = s
            .send(s.http.post(s.url("/oidc/logout")).header(name, value))
            .await;
        assert_eq!(r.status, 200, "{name}");
        assert!(r.body.as_str().unwrap().contains("Sign out of soloauth?"));
        assert!(set_cookies(&r).is_empty(), "{name}: {:?}", set_cookies(&r));
    }
    let r = s.send(s.http.get(s.url("/oidc/logout"))).await;
    assert!(set_cookies(&r).is_empty(), "a bare link clears nothing");
    let own = cookies(&s, &jar, AUTH, "/auth/me");
    let me = s
        .send(s.http.get(s.url("/auth/me")).header(COOKIE, &own))
        .await;
    assert_eq!(me.status, 200, "still signed in");

    // The confirmation form, as Chromium posts it.
    let confirm = s
        .http
        .post(s.url("/oidc/logout"))
        .header(COOKIE, cookies(&s, &jar, AUTH, "/oidc/logout"))
        .header("origin", "null")
        .header("sec-fetch-site", "same-origin")
        .form(&[("state", "x")]);
    let r = s.send(confirm).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.as_str().unwrap().contains("You are signed out"));
    assert!(!set_cookies(&r).is_empty(), "cookies cleared");
    let me = s
        .send(s.http.get(s.url("/auth/me")).header(COOKIE, &own))
        .await;
    assert_eq!(me.status, 401, "signed out");
    let at_app = cookies(&s, &jar, APP, "/");
    let verify = s.http.get(s.url("/auth/verify")).header(COOKIE, at_app);
    assert_eq!(s.send(verify).await.status, 401, "everywhere");
    // `Origin: null` from anywhere else (a sandboxed frame) is not ours.
    let jar = owner_signs_in(&s).await;
    let r = s
        .send(
            s.http
                .post(s.url("/oidc/logout"))
                .header(COOKIE, cookies(&s, &jar, AUTH, "/oidc/logout"))
                .header("origin", "null")
                .header("sec-fetch-site", "cross-site"),
        )
        .await;
    assert!(r.body.as_str().unwrap().contains("Sign out of soloauth?"));
}

/// An app's logout with its ID token ends its own sign-in even when the
/// browser's access cookie has run out (and a cross-site post shows no
/// cookie at all); the browser's cookies are left to die with it.
#[tokio::test]
async fn an_apps_logout_with_its_id_token_ends_its_sign_in_without_a_visible_session() {
    let s = server().await;
    let jar = owner_signs_in(&s).await;
    let code = photos_code(&s, &cookies(&s, &jar, AUTH, "/oidc/authorize")).await;
    let r = token(&s, &exchange_form(&code, REDIRECT, VERIFIER), Some(SECRET)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id_token = r.body["id_token"].as_str().unwrap().to_string();
    let refresh = r.body["refresh_token"].as_str().unwrap().to_string();
    s.clock.advance(1801);
    let form = [
        ("id_token_hint", id_token.as_str()),
        ("post_logout_redirect_uri", "https://photos.example.com/bye"),
    ];
    let r = s
        .send(
            s.http
                .post(s.url("/oidc/logout"))
                .form(&form)
                .header("origin", "https://photos.example.com"),
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(r.headers[LOCATION], "https://photos.example.com/bye");
    assert!(set_cookies(&r).is_empty());
    let at_app = cookies(&s, &jar, APP, "/");
    let verify = s.http.get(s.url("/auth/verify")).header(COOKIE, at_app);
    assert_eq!(s.send(verify).await.status, 401, "the sign-in ended");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    assert_eq!(
        token(&s, &form, Some(SECRET)).await.body["error"],
        "invalid_grant"
    );
}

/// Finding 6: a stolen access token, outside the re-auth window, removes
/// no passkey, token or app; the password (or a recent sign-in) does.
/// `{}` and no body mean "no password", never `400`.
#[tokio::test]
async fn removing_a_credential_needs_a_recent_sign_in_or_the_password() {
    let s = server().await;
    let t = s.login().await;
    let mut key = crate::common::authenticator::SoftAuthenticator::new(AUTH, PUBLIC);
    let passkey = register(&s, &t.access, &mut key, "laptop").await;
    let r = s
        .post("/auth/tokens", json!({"name": "backup"}), Some(&t.access))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let token_id = r.body["id"].as_str().unwrap().to_string();
    let body = json!({"name": "Wiki", "redirect_uris": ["https://wiki.example.com/cb"]});
    let r = s.post("/auth/oidc/clients", body, Some(&t.access)).await;
    let app = r.body["client_id"].as_str().unwrap().to_string();
    s.clock.advance(601);
    let paths = [
        format!("/auth/passkeys/{passkey}"),
        format!("/auth/tokens/{token_id}"),
        format!("/auth/oidc/clients/{app}"),
    ];
    let delete = |path: &str, body: Option<Value>| {
        let req = s.http.delete(s.url(path)).bearer_auth(&t.access);
        match body {
            Some(body) => req.json(&body),
            None => req,
        }
    };
    for path in &paths {
        for body in [None, Some(json!({})), Some(json!({"password": null}))] {
            let r = s.send(delete(path, body.clone())).await;
            assert_eq!(r.status, 403, "{path} {body:?}: {}", r.body);
            assert_eq!(r.error(), "reauth_required");
        }
        let r = s
            .send(delete(path, Some(json!({"password": "wrong"}))))
            .await;
        assert_eq!(r.error(), "invalid_credentials", "{path}");
        let r = s.send(delete(path, Some(json!({"password": 5})))).await;
        assert_eq!(r.status, 400, "{path}");
        let message = r.body["message"].as_str().unwrap();
        assert!(
            !message.contains("Body") && !message.contains("string_password"),
            "{message}"
        );
    }
    let r = s
        .patch(
            &format!("/auth/passkeys/{passkey}"),
            json!({"name": "old laptop"}),
            Some(&t.access),
        )
        .await;
    assert_eq!(r.status, 200, "renaming stays free: {}", r.body);
    for path in &paths {
        let r = s
            .send(delete(path, Some(json!({"password": PASSWORD}))))
            .await;
        assert_eq!(r.status, 204, "{path}: {}", r.body);
    }
}

/// Found by the acceptance checks: `{}` on the endpoints that take an
/// optional password is no password; a 400 names no internal type.
#[tokio::test]
async fn an_empty_reauth_body_is_no_password_and_errors_name_no_internal_type() {
    let s = server().await;
    let t = s.login().await;
    for path in ["/auth/totp/setup", "/auth/passkeys/register/start"] {
        let r = s.post(path, json!({}), Some(&t.access)).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    s.clock.advance(601);
    for path in [
        "/auth/totp/setup",
        "/auth/passkeys/register/start",
        "/auth/tokens",
    ] {
        let body = if path == "/auth/tokens" {
            json!({"name": "x"})
        } else {
            json!({})
        };
        let r = s.post(path, body, Some(&t.access)).await;
        assert_eq!(r.error(), "reauth_required", "{path}: {}", r.body);
    }
    for (path, body) in [
        ("/auth/totp/setup", json!({"password": 5})),
        ("/auth/passkeys/register/start", json!({"password": ["x"]})),
        ("/auth/tokens", json!({"name": 7})),
        ("/auth/totp/confirm", json!({})),
        ("/auth/login/totp", json!({"mfa_token": "x"})),
        ("/auth/login", json!({"username": "admin"})),
    ] {
        let r = s.post(path, body.clone(), Some(&t.access)).await;
        assert_eq!(r.status, 400, "{path} {body}: {}", r.body);
        let message = r.body["message"].as_str().unwrap();
        for internal in ["Body", "string_password", "occurred while", "Type \""] {
            assert!(!message.contains(internal), "{path}: {message}");
        }
    }
    // An empty body is no body; whitespace alone is malformed JSON, not empty.
    for (body, status) in [("", 403), ("\n", 400), (" ", 400)] {
        let req = s
            .http
            .post(s.url("/auth/totp/setup"))
            .bearer_auth(&t.access)
            .header("content-type", "application/json")
            .body(body);
        let r = s.send(req).await;
        assert_eq!(r.status, status, "{body:?}: {}", r.body);
    }
}

/// Finding 7: failed exchanges leave the code usable; parallel retries of
/// the real exchange give one answer whose tokens live.
#[tokio::test]
async fn a_code_survives_failed_exchanges_and_parallel_retries_keep_the_tokens() {
    let s = server().await;
    let jar = owner_signs_in(&s).await;
    let code = photos_code(&s, &cookies(&s, &jar, AUTH, "/oidc/authorize")).await;
    let wrong_verifier = "x".repeat(43);
    let attempts: Vec<(Form, Option<&str>)> = vec![
        (
            exchange_form(&code, REDIRECT, VERIFIER),
            Some("wrong-secret"),
        ),
        (
            exchange_form(&code, REDIRECT, &wrong_verifier),
            Some(SECRET),
        ),
        (
            exchange_form(&code, "https://photos.example.com/other", VERIFIER),
            Some(SECRET),
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("client_id", "mobile"),
            ],
            None,
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
            ],
            Some(SECRET),
        ),
    ];
    for (form, secret) in &attempts {
        let r = token(&s, form, *secret).await;
        assert!(
            matches!(r.status.as_u16(), 400 | 401),
            "{form:?}: {}",
            r.body
        );
    }
    let form = exchange_form(&code, REDIRECT, VERIFIER);
    let answers = join_all((0..12).map(|_| token(&s, &form, Some(SECRET)))).await;
    let won: Vec<&Reply> = answers.iter().filter(|r| r.status == 200).collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        answers.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    for lost in answers.iter().filter(|r| r.status != 200) {
        assert_eq!(lost.body["error"], "invalid_grant");
    }
    let access = won[0].body["access_token"].as_str().unwrap();
    assert_eq!(
        s.get("/oidc/userinfo", Some(access)).await.status,
        200,
        "alive"
    );
    let refresh = won[0].body["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    assert_eq!(token(&s, &form, Some(SECRET)).await.status, 200);
}

/// Finding 8: a public app at a loopback or custom-scheme redirect gets a
/// code only after the owner allows it on our page (same origin), once per
/// sign-in and app.
#[tokio::test]
async fn a_public_app_on_this_device_is_allowed_by_the_owner_first() {
    let s = server().await;
    let jar = owner_signs_in(&s).await;
    let cookie = cookies(&s, &jar, AUTH, "/oidc/authorize");
    let pkce = challenge();
    let params = authorize_params("mobile", "http://127.0.0.1:49152/callback", &pkce);
    let r = authorize(&s, &cookie, &params).await;
    assert_eq!(r.status, 200);
    let page = r.body.as_str().unwrap();
    assert!(
        page.contains("Allow mobile on this device to sign in as you?"),
        "{page}"
    );
    // Browsers hold the form's redirect to `form-action`: the app is in it.
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:49152;"),
        "{csp}"
    );
    assert_eq!(location_param(&r, "code"), None);
    let post = |answer: &str, origin: &str| {
        let mut form = params.clone();
        form.push(("consent", answer));
        s.http
            .post(s.url("/oidc/authorize"))
            .header(COOKIE, &cookie)
            .header("origin", origin)
            .form(&form)
    };
    let mut silent = params.clone();
    silent.push(("prompt", "none"));
    let r = authorize(&s, &cookie, &silent).await;
    assert_eq!(
        location_param(&r, "error").as_deref(),
        Some("consent_required")
    );
    let r = s.send(post("allow", "https://evil.example")).await;
    assert_eq!(
        r.status, 200,
        "another site's post is not the owner's answer"
    );
    assert_eq!(location_param(&r, "code"), None);
    let r = s.send(post("deny", PUBLIC)).await;
    assert_eq!(
        location_param(&r, "error").as_deref(),
        Some("access_denied")
    );
    let r = s.send(post("allow", PUBLIC)).await;
    assert!(location_param(&r, "code").is_some(), "{:?}", r.headers);
    let r = authorize(&s, &cookie, &params).await;
    assert!(location_param(&r, "code").is_some(), "once per sign-in");
    // A confidential app at a web redirect is not asked.
    let code = photos_code(&s, &cookie).await;
    assert!(!code.is_empty());
    // Another sign-in is asked again.
    let jar = owner_signs_in(&s).await;
    let r = authorize(&s, &cookies(&s, &jar, AUTH, "/"), &params).await;
    assert_eq!(r.status, 200);
}

/// Finding 10: an authorization request at the documented limits (`state`
/// and `nonce` 512 bytes, `scope` 1024) comes back after the login page.
#[tokio::test]
async fn a_long_authorization_request_comes_back_after_signing_in() {
    let s = server().await;
    let state = "é&=+ %/?#".repeat(60);
    let state: String = state
        .chars()
        .scan(0, |n, c| {
            *n += c.len_utf8();
            (*n <= 512).then_some(c)
        })
        .collect();
    let nonce = state.replace('é', "ü");
    let scope = format!("openid {}", "profile ".repeat(127))
        .trim_end()
        .to_string();
    assert!(scope.len() <= 1024 && state.len() > 500);
    let pkce = challenge();
    let mut params = authorize_params("photos", REDIRECT, &pkce);
    params.retain(|(k, _)| !matches!(*k, "state" | "scope"));
    params.extend([
        ("state", state.as_str()),
        ("nonce", nonce.as_str()),
        ("scope", scope.as_str()),
    ]);
    let r = authorize(&s, "", &params).await;
    let rd = location_param(&r, "rd").expect("to the login page");
    let login = r.headers[LOCATION]
        .to_str()
        .unwrap()
        .replacen(PUBLIC, &s.url(""), 1);
    let page = s.send(s.http.get(login)).await;
    let html = page.body.as_str().unwrap();
    let meta = format!(
        r#"<meta name="soloauth-rd" content="{}">"#,
        rd.replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('\'', "&#39;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    );
    assert!(
        html.contains(&meta),
        "the page goes back to {} bytes of rd",
        rd.len()
    );
    let jar = owner_signs_in(&s).await;
    let r = back_to(&s, &jar, &rd).await;
    assert!(location_param(&r, "code").is_some(), "{:?}", r.headers);
    assert_eq!(location_param(&r, "state").as_deref(), Some(state.as_str()));
}

/// `AUTH_COOKIE_DOMAIN` on the Public Suffix List stops start-up and
/// `check`, saying why.
#[test]
fn a_public_suffix_cookie_domain_stops_check() {
    let dir = crate::common::data_dir();
    let out = crate::common::binary()
        .arg("check")
        .env("AUTH_DATA_DIR", dir.path())
        .env("AUTH_PUBLIC_URL", "https://auth.home.arpa")
        .env("AUTH_COOKIE_DOMAIN", "home.arpa")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("AUTH_COOKIE_DOMAIN") && text.contains("public suffix"),
        "{text}"
    );
    assert_eq!(text.matches("\n  - ").count(), 1, "the one problem: {text}");
}
