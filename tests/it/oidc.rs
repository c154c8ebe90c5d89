//! The OpenID Connect provider over HTTP, as an app (relying party) sees it:
//! discovery, authorize with PKCE, the token endpoint's grants and client
//! authentications, ID token checks against the JWKS, userinfo, refresh
//! rotation and reuse, code reuse, errors, sessions and logout, clients.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use reqwest::header::{AUTHORIZATION, COOKIE, LOCATION};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::{authorize, data_dir, event_kinds, Reply, Server, Tokens, PASSWORD};

const ISSUER: &str = "http://localhost:8001";
const REDIRECT: &str = "https://photos.example.com/auth/callback";
const SECRET: &str = "s3cret-with:odd/chars+&=%-and-32-or-more";

/// A server with a confidential app (`photos`) and a public one (`mobile`).
async fn server() -> Server {
    server_at(crate::common::START).await
}

async fn server_at(unix_seconds: i64) -> Server {
    Server::start_at(
        &[
            ("AUTH_OIDC_CLIENT_PHOTOS_ID", "photos"),
            ("AUTH_OIDC_CLIENT_PHOTOS_SECRET", SECRET),
            ("AUTH_OIDC_CLIENT_PHOTOS_REDIRECT_URIS", REDIRECT),
            (
                "AUTH_OIDC_CLIENT_PHOTOS_LOGOUT_URIS",
                "https://photos.example.com/bye",
            ),
            ("AUTH_OIDC_CLIENT_MOBILE_ID", "mobile"),
            (
                "AUTH_OIDC_CLIENT_MOBILE_REDIRECT_URIS",
                "http://127.0.0.1/callback",
            ),
            ("AUTH_ADMIN_EMAIL", "owner@example.com"),
            ("AUTH_ADMIN_GROUPS", "admin,family"),
        ],
        unix_seconds,
    )
    .await
}

/// The browser's cookies after a password login.
async fn browser(s: &Server) -> String {
    let r = s.try_login("admin", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.set_cookies()
        .iter()
        .filter_map(|c| c.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

fn pkce() -> (String, String) {
    let verifier = "a-long-enough-code-verifier-of-forty-three-chars-or-more".to_string();
    let challenge = B64.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The owner allows an app on the consent page: its form, posted from the
/// page itself (same origin).
async fn allow(s: &Server, cookies: &str, params: &[(&str, &str)]) -> Reply {
    let mut form = params.to_vec();
    form.push(("consent", "allow"));
    let req = s
        .http
        .post(s.url("/oidc/authorize"))
        .form(&form)
        .header(COOKIE, cookies)
        .header("origin", ISSUER);
    s.send(req).await
}

/// The query of a redirect, as pairs.
fn query_of(reply: &Reply) -> Vec<(String, String)> {
    let location = reply.headers[LOCATION].to_str().unwrap();
    reqwest::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Authorize for `photos` with PKCE and a nonce; returns the code.
async fn code_for(s: &Server, cookies: &str, scope: &str) -> String {
    let (_, challenge) = pkce();
    let r = authorize(
        s,
        cookies,
        &[
            ("client_id", "photos"),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", scope),
            ("state", "st-1"),
            ("nonce", "n-1"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(r.status, 302, "{}", r.body);
    let q = query_of(&r);
    assert_eq!(param(&q, "state"), Some("st-1"));
    assert_eq!(param(&q, "iss"), Some(ISSUER));
    param(&q, "code").unwrap().to_string()
}

/// `POST /oidc/token` with a form and optional Basic credentials.
async fn token(s: &Server, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Reply {
    let mut req = s.http.post(s.url("/oidc/token")).form(form);
    if let Some((id, secret)) = basic {
        let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let raw = format!("{}:{}", enc(id), enc(secret));
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        );
        req = req.header(AUTHORIZATION, header);
    }
    s.send(req).await
}

async fn exchange(s: &Server, code: &str) -> Reply {
    let (verifier, _) = pkce();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier),
    ];
    token(s, &form, Some(("photos", SECRET))).await
}

/// Verifies an ID token with the server's JWKS; returns its claims.
async fn verified(s: &Server, id_token: &str, aud: &str) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(s.get("/oidc/jwks.json", None).await.body).unwrap();
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid in the JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[aud]);
    validation.set_issuer(&[ISSUER]);
    validation.validate_exp = false; // the server runs on a manual clock
    jsonwebtoken::decode::<Value>(id_token, &key, &validation)
        .unwrap()
        .claims
}

fn at_hash(access_token: &str) -> String {
    B64.encode(&Sha256::digest(access_token.as_bytes())[..16])
}

#[tokio::test]
async fn discovery_names_the_issuer_byte_for_byte_and_what_is_supported() {
    let s = server().await;
    let d = s.get("/.well-known/openid-configuration", None).await.body;
    assert_eq!(d["issuer"], ISSUER);
    assert_eq!(
        d["authorization_endpoint"],
        format!("{ISSUER}/oidc/authorize")
    );
    assert_eq!(d["jwks_uri"], format!("{ISSUER}/oidc/jwks.json"));
    assert_eq!(d["end_session_endpoint"], format!("{ISSUER}/oidc/logout"));
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["id_token_signing_alg_values_supported"], json!(["RS256"]));
    assert_eq!(d["subject_types_supported"], json!(["public"]));
    assert_eq!(
        d["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "none"])
    );
    let jwks = s.get("/oidc/jwks.json", None).await.body;
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert!(key["kid"].is_string() && key["n"].is_string());
}

#[tokio::test]
async fn the_code_flow_gives_a_verified_id_token_userinfo_and_refresh() {
    let s = server().await;
    let cookies = browser(&s).await;
    let code = code_for(&s, &cookies, "openid profile email groups").await;
    let r = exchange(&s, &code).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["cache-control"], "no-store");
    let access = r.body["access_token"].as_str().unwrap().to_string();
    let refresh = r.body["refresh_token"].as_str().unwrap().to_string();
    let claims = verified(&s, r.body["id_token"].as_str().unwrap(), "photos").await;
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["at_hash"], at_hash(&access));
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["auth_time"], s.clock.now());
    assert_eq!(claims["preferred_username"], "admin");
    assert_eq!(claims["email"], "owner@example.com");
    assert_eq!(claims["groups"], json!(["admin", "family"]));
    let sub = claims["sub"].as_str().unwrap().to_string();
    assert_ne!(sub, "admin", "sub is a random id, never the username");
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 3600);

    let info = s.get("/oidc/userinfo", Some(&access)).await;
    assert_eq!(info.status, 200, "{}", info.body);
    assert_eq!(info.body["sub"], sub.as_str());
    assert_eq!(info.body["email"], "owner@example.com");
    let form = s
        .send(
            s.http
                .post(s.url("/oidc/userinfo"))
                .form(&[("access_token", access.as_str())]),
        )
        .await;
    assert_eq!(form.body["sub"], sub.as_str());
    // An app's tokens open userinfo and nothing of soloauth's own.
    assert_eq!(s.get("/auth/me", Some(&access)).await.status, 401);
    assert_eq!(s.get("/auth/verify", Some(&access)).await.status, 401);

    // Refresh: rotation, the grace window, then reuse ends the grant.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let next = token(&s, &form, Some(("photos", SECRET))).await;
    assert_eq!(next.status, 200, "{}", next.body);
    let claims = verified(&s, next.body["id_token"].as_str().unwrap(), "photos").await;
    assert_eq!(claims["sub"], sub.as_str());
    let raced = token(&s, &form, Some(("photos", SECRET))).await;
    assert_eq!(raced.body["error"], "invalid_grant");
    s.clock.advance(11);
    let reused = token(&s, &form, Some(("photos", SECRET))).await;
    assert_eq!(reused.body["error"], "invalid_grant");
    let newest = next.body["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", newest)];
    let after = token(&s, &form, Some(("photos", SECRET))).await;
    assert_eq!(
        after.body["error"], "invalid_grant",
        "reuse revoked the grant"
    );
}

/// `client_secret_basic` as Authlib sends it: `id:secret` as they are, not
/// form-encoded first (RFC 6749 §2.3.1 wants them encoded; pyoidc does it).
#[tokio::test]
async fn basic_credentials_pass_form_encoded_and_as_sent() {
    let s = server().await;
    let cookies = browser(&s).await;
    let (verifier, _) = pkce();
    for (raw, secret, status) in [
        (true, SECRET, 200),
        (false, SECRET, 200),
        (true, &SECRET.replace('+', " ") as &str, 401),
    ] {
        let code = code_for(&s, &cookies, "openid").await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ];
        let r = match raw {
            true => {
                let header =
                    base64::engine::general_purpose::STANDARD.encode(format!("photos:{secret}"));
                let req = s.http.post(s.url("/oidc/token")).form(&form);
                s.send(req.header(AUTHORIZATION, format!("Basic {header}")))
                    .await
            }
            false => token(&s, &form, Some(("photos", secret))).await,
        };
        assert_eq!(r.status, status, "raw {raw}: {}", r.body);
    }
}

#[tokio::test]
async fn basic_post_and_public_clients_authenticate_their_way() {
    let s = server().await;
    let cookies = browser(&s).await;
    // client_secret_post
    let code = code_for(&s, &cookies, "openid").await;
    let (verifier, challenge) = pkce();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
        ("client_id", "photos"),
        ("client_secret", SECRET),
    ];
    assert_eq!(token(&s, &form, None).await.status, 200);
    // A wrong secret.
    let code = code_for(&s, &cookies, "openid").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let r = token(&s, &form, Some(("photos", "wrong"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"], "invalid_client");
    assert!(r.headers.contains_key("www-authenticate"));
    // A public client: PKCE required, any loopback port.
    let redirect = "http://127.0.0.1:51234/callback";
    let base = [
        ("client_id", "mobile"),
        ("redirect_uri", redirect),
        ("response_type", "code"),
        ("scope", "openid"),
    ];
    let r = authorize(&s, &cookies, &base).await;
    assert_eq!(
        param(&query_of(&r), "error"),
        Some("invalid_request"),
        "no PKCE"
    );
    let mut with_pkce = base.to_vec();
    with_pkce.extend([
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    let r = authorize(&s, &cookies, &with_pkce).await;
    assert_eq!(
        r.status, 200,
        "a public app at a loopback port: asked first"
    );
    let page = r.body.as_str().unwrap();
    assert!(page.contains("on this device to sign in as you?"), "{page}");
    let r = allow(&s, &cookies, &with_pkce).await;
    let code = param(&query_of(&r), "code").unwrap().to_string();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        (
            "code_verifier",
            "wrong-verifier-wrong-verifier-wrong-verifier",
        ),
        ("client_id", "mobile"),
    ];
    assert_eq!(token(&s, &form, None).await.body["error"], "invalid_grant");
    let r = authorize(&s, &cookies, &with_pkce).await;
    let code = param(&query_of(&r), "code").unwrap().to_string();
    assert!(code.len() > 20, "allowed once for this sign-in");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        ("code_verifier", verifier.as_str()),
        ("client_id", "mobile"),
    ];
    let r = token(&s, &form, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    verified(&s, r.body["id_token"].as_str().unwrap(), "mobile").await;
}

#[tokio::test]
async fn codes_are_single_use_short_lived_and_bound() {
    let s = server().await;
    let cookies = browser(&s).await;
    let code = code_for(&s, &cookies, "openid").await;
    let first = exchange(&s, &code).await;
    assert_eq!(first.status, 200);
    let again = exchange(&s, &code).await;
    assert_eq!(again.status, 400);
    assert_eq!(again.body["error"], "invalid_grant");
    let access = first.body["access_token"].as_str().unwrap();
    assert_eq!(
        s.get("/oidc/userinfo", Some(access)).await.status,
        200,
        "a retry within the grace window harms nothing"
    );
    s.clock.advance(11);
    let again = exchange(&s, &code).await;
    assert_eq!(again.body["error"], "invalid_grant");
    let refresh = first.body["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let dead = token(&s, &form, Some(("photos", SECRET))).await;
    assert_eq!(
        dead.body["error"], "invalid_grant",
        "reuse revoked what the first use issued"
    );
    let access = first.body["access_token"].as_str().unwrap();
    assert_eq!(s.get("/oidc/userinfo", Some(access)).await.status, 401);

    let code = code_for(&s, &cookies, "openid").await;
    s.clock.advance(61);
    assert_eq!(
        exchange(&s, &code).await.body["error"],
        "invalid_grant",
        "60 s"
    );

    let code = code_for(&s, &cookies, "openid").await;
    let (verifier, _) = pkce();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://photos.example.com/other"),
        ("code_verifier", verifier.as_str()),
    ];
    let r = token(&s, &form, Some(("photos", SECRET))).await;
    assert_eq!(r.body["error"], "invalid_grant", "another redirect_uri");
    let r = token(&s, &[("grant_type", "password")], Some(("photos", SECRET))).await;
    assert_eq!(r.body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn unknown_apps_get_an_error_page_and_other_errors_go_back_to_the_app() {
    let s = server().await;
    let cookies = browser(&s).await;
    let r = authorize(
        &s,
        &cookies,
        &[("client_id", "nobody"), ("redirect_uri", REDIRECT)],
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(!r.headers.contains_key(LOCATION), "never a redirect");
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = r.body.as_str().unwrap();
    assert!(
        page.contains(REDIRECT),
        "the page shows the redirect_uri sent"
    );
    assert!(page.contains(r#"href="/""#), "and a way back");
    let odd = "https://x.example/cb?<script>alert(1)</script>";
    let r = authorize(
        &s,
        &cookies,
        &[("client_id", "nobody"), ("redirect_uri", odd)],
    )
    .await;
    let page = r.body.as_str().unwrap();
    assert!(
        page.contains("&lt;script&gt;") && !page.contains("<script>alert"),
        "escaped"
    );
    let evil = [
        ("client_id", "photos"),
        ("redirect_uri", "https://evil.example/cb"),
    ];
    let r = authorize(&s, &cookies, &evil).await;
    assert_eq!(r.status, 400);
    assert!(!r.headers.contains_key(LOCATION));
    let base = [
        ("client_id", "photos"),
        ("redirect_uri", REDIRECT),
        ("state", "x"),
    ];
    let mut token_flow = base.to_vec();
    token_flow.extend([("response_type", "token"), ("scope", "openid")]);
    let q = query_of(&authorize(&s, &cookies, &token_flow).await);
    assert_eq!(param(&q, "error"), Some("unsupported_response_type"));
    assert_eq!(param(&q, "state"), Some("x"));
    let mut no_openid = base.to_vec();
    no_openid.extend([("response_type", "code"), ("scope", "profile")]);
    let q = query_of(&authorize(&s, &cookies, &no_openid).await);
    assert_eq!(param(&q, "error"), Some("invalid_scope"));
}

#[tokio::test]
async fn an_unregistered_redirect_uri_shows_what_the_app_sent_next_to_what_is_registered() {
    let s = server().await;
    let sent = "https://photos.example.com/auth/callback/?next=<b>&x=\"1\"";
    let r = authorize(&s, "", &[("client_id", "photos"), ("redirect_uri", sent)]).await;
    assert_eq!(r.status, 400);
    assert!(!r.headers.contains_key(LOCATION), "never a redirect");
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    let html = r.body.as_str().unwrap();
    assert!(html
        .contains("https://photos.example.com/auth/callback/?next=&lt;b&gt;&amp;x=&quot;1&quot;"));
    assert!(!html.contains("<b>"), "escaped");
    assert!(html.contains(&format!("<li><code class=\"uri\">{REDIRECT}</code></li>")));
    assert!(html.contains("AUTH_OIDC_CLIENT_PHOTOS_REDIRECT_URIS"));
    assert!(!html.contains(SECRET));

    // A long one is cut short; none at all is said so.
    let long = format!("https://photos.example.com/{}", "a".repeat(1000));
    let r = authorize(&s, "", &[("client_id", "photos"), ("redirect_uri", &long)]).await;
    let html = r.body.as_str().unwrap();
    assert!(html.contains(&format!("{}…", &long[..200])) && !html.contains(&long));
    for params in [
        vec![("client_id", "mobile")],
        vec![("client_id", "mobile"), ("redirect_uri", "")],
    ] {
        let r = authorize(&s, "", &params).await;
        assert_eq!(r.status, 400);
        let html = r.body.as_str().unwrap();
        assert!(html.contains("mobile sent no redirect_uri."), "{params:?}");
        assert!(html.contains("http://127.0.0.1/callback"));
    }
}

#[tokio::test]
async fn an_unregistered_redirect_uri_is_logged_with_what_the_app_sent() {
    let dir = tempfile::tempdir().unwrap();
    let p = crate::common::start_binary(
        dir.path(),
        &[
            ("AUTH_OIDC_CLIENT_PHOTOS_ID", "photos"),
            ("AUTH_OIDC_CLIENT_PHOTOS_SECRET", SECRET),
            ("AUTH_OIDC_CLIENT_PHOTOS_REDIRECT_URIS", REDIRECT),
        ],
    );
    let sent = "https://photos.example.com/wrong/callback";
    let params = [("client_id", "photos"), ("redirect_uri", sent)];
    let url = reqwest::Url::parse_with_params(&p.url("/oidc/authorize"), params).unwrap();
    assert_eq!(p.send(p.http.get(url)).await.status, 400);
    let logs = p
        .logs_with(&["the redirect_uri is not registered for the app"])
        .await;
    let line = logs
        .lines()
        .find(|l| l.contains("the redirect_uri is not registered"))
        .unwrap();
    assert!(line.contains(sent) && line.contains(REDIRECT), "{line}");
    assert!(line.contains("photos") && !line.contains(SECRET), "{line}");
}

/// `soloauth check` on `dir` with `vars`: it succeeds; its stderr.
fn check_stderr(dir: &std::path::Path, vars: &[(&str, &str)]) -> String {
    let mut cmd = crate::common::known(dir);
    cmd.arg("check").envs(vars.iter().copied());
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "a warning, not a failure: {stderr}");
    stderr
}

#[tokio::test]
async fn check_warns_when_apps_may_sign_in_without_an_admin_email() {
    let dir = data_dir();
    let warning = "soloauth: warning: 1 OIDC app(s) configured and AUTH_ADMIN_EMAIL is empty. \
                   Immich and others refuse a profile without an email: set AUTH_ADMIN_EMAIL";
    let app = [
        ("AUTH_OIDC_CLIENT_PHOTOS_ID", "photos"),
        ("AUTH_OIDC_CLIENT_PHOTOS_REDIRECT_URIS", REDIRECT),
    ];
    assert!(check_stderr(dir.path(), &app).contains(warning));
    let mut with_email = app.to_vec();
    with_email.push(("AUTH_ADMIN_EMAIL", "owner@example.com"));
    assert!(!check_stderr(dir.path(), &with_email).contains("warning"));
    assert!(!check_stderr(dir.path(), &[]).contains("warning"));

    // An app added from the page counts as well.
    let store = soloauth::storage::Store::open(dir.path()).unwrap();
    let added = soloauth::storage::oidc::StoredClient {
        client_id: "notes".into(),
        name: "Notes".into(),
        secret_hash: None,
        redirect_uris: vec!["https://notes.example.com/cb".into()],
        logout_uris: vec![],
        created_at: crate::common::START,
        policy: Default::default(),
    };
    store.put_oidc_client(&added).unwrap();
    store.close().await.unwrap();
    assert!(check_stderr(dir.path(), &[]).contains(warning));
}

#[tokio::test]
async fn signing_in_happens_on_the_login_page_and_prompt_and_max_age_are_obeyed() {
    let s = server().await;
    let (_, challenge) = pkce();
    let params = [
        ("client_id", "photos"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    // Not signed in: the login page, with this request to come back to.
    let r = authorize(&s, "", &params).await;
    assert_eq!(r.status, 302);
    let location = r.headers[LOCATION].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!("{ISSUER}/?rd=")),
        "{location}"
    );
    let rd = param(&query_of(&r), "rd").unwrap().to_string();
    assert!(rd.starts_with(&format!("{ISSUER}/oidc/authorize?")), "{rd}");
    // Back from the page, signed in (in the same second): the code.
    let cookies = browser(&s).await;
    let back = reqwest::Url::parse(&rd).unwrap();
    let back = s.url(&format!("{}?{}", back.path(), back.query().unwrap()));
    let r = s.send(s.http.get(back).header(COOKIE, &cookies)).await;
    assert!(param(&query_of(&r), "code").is_some(), "{:?}", query_of(&r));

    let mut none = params.to_vec();
    none.push(("prompt", "none"));
    let q = query_of(&authorize(&s, "", &none).await);
    assert_eq!(param(&q, "error"), Some("login_required"));
    assert!(param(&query_of(&authorize(&s, &cookies, &none).await), "code").is_some());

    // prompt=login: sign in again, even though signed in.
    let mut login = params.to_vec();
    login.push(("prompt", "login"));
    let r = authorize(&s, &cookies, &login).await;
    let q = query_of(&r);
    assert_eq!(param(&q, "need"), Some("fresh_sign_in"));
    let rd = param(&q, "rd").unwrap().to_string();
    let back = reqwest::Url::parse(&rd).unwrap();
    let back = s.url(&format!("{}?{}", back.path(), back.query().unwrap()));
    let stale = s.send(s.http.get(&back).header(COOKIE, &cookies)).await;
    assert!(
        param(&query_of(&stale), "code").is_none(),
        "the old session is not fresh"
    );
    s.clock.advance(5);
    let fresh = browser(&s).await;
    let r = s.send(s.http.get(&back).header(COOKIE, &fresh)).await;
    assert!(param(&query_of(&r), "code").is_some());

    // A made-up login_after does not skip prompt=login.
    let mut forged = login.clone();
    forged.push(("login_after", "0"));
    let q = query_of(&authorize(&s, &fresh, &forged).await);
    assert_eq!(param(&q, "need"), Some("fresh_sign_in"), "{q:?}");

    // max_age: a session older than it signs in again; max_age=0 too, and
    // the new sign-in is enough even a second later.
    s.clock.advance(120);
    for age in ["60", "0"] {
        let mut aged = params.to_vec();
        aged.push(("max_age", age));
        let q = query_of(&authorize(&s, &fresh, &aged).await);
        assert_eq!(param(&q, "need"), Some("fresh_sign_in"));
        let rd = param(&q, "rd").unwrap().to_string();
        let back = reqwest::Url::parse(&rd).unwrap();
        let back = s.url(&format!("{}?{}", back.path(), back.query().unwrap()));
        s.clock.advance(1);
        let again = browser(&s).await;
        s.clock.advance(1);
        let r = s.send(s.http.get(&back).header(COOKIE, &again)).await;
        assert!(param(&query_of(&r), "code").is_some(), "max_age={age}");
    }
    // Not signed in at all, max_age=0: the sign-in that follows is enough,
    // however many seconds it takes to come back.
    let mut aged = params.to_vec();
    aged.push(("max_age", "0"));
    let r = authorize(&s, "", &aged).await;
    let rd = param(&query_of(&r), "rd").unwrap().to_string();
    let back = reqwest::Url::parse(&rd).unwrap();
    let back = s.url(&format!("{}?{}", back.path(), back.query().unwrap()));
    s.clock.advance(3);
    let signed_in = browser(&s).await;
    s.clock.advance(3);
    let r = s.send(s.http.get(&back).header(COOKIE, &signed_in)).await;
    assert!(param(&query_of(&r), "code").is_some(), "{:?}", query_of(&r));
}

#[tokio::test]
async fn a_grant_ends_with_its_session_and_logout_goes_back_to_the_app() {
    let s = server().await;
    let cookies = browser(&s).await;
    let code = code_for(&s, &cookies, "openid").await;
    let r = exchange(&s, &code).await;
    let id_token = r.body["id_token"].as_str().unwrap().to_string();
    let refresh = r.body["refresh_token"].as_str().unwrap().to_string();
    let owner = s.login().await;
    let sessions = s.get("/auth/sessions", Some(&owner.access)).await.body;
    let with_app: Vec<&Value> = sessions
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["apps"] == json!(["photos"]))
        .collect();
    assert_eq!(with_app.len(), 1, "{sessions}");
    let sid = with_app[0]["id"].as_str().unwrap();
    s.delete(&format!("/auth/sessions/{sid}"), Some(&owner.access))
        .await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let r = token(&s, &form, Some(("photos", SECRET))).await;
    assert_eq!(
        r.body["error"], "invalid_grant",
        "revoking the session ended the grant"
    );

    // A bare logout link (another site could plant one) asks first; a hint
    // for another session too. Our own page's form (same origin) goes ahead.
    let cookies = browser(&s).await;
    let logout = |hint: &str| {
        reqwest::Url::parse_with_params(
            &s.url("/oidc/logout"),
            &[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", "https://photos.example.com/bye"),
                ("state", "s9"),
            ],
        )
        .unwrap()
    };
    for hint in ["", id_token.as_str(), "not.a.token"] {
        let r = s
            .send(s.http.get(logout(hint)).header(COOKIE, &cookies))
            .await;
        assert_eq!(r.status, 200, "asks first");
        assert!(r.body.as_str().unwrap().contains("Sign out of soloauth?"));
    }
    let me = s
        .send(s.http.get(s.url("/auth/me")).header(COOKIE, &cookies))
        .await;
    assert_eq!(me.status, 200, "still signed in");
    let form = [
        ("client_id", "photos"),
        ("post_logout_redirect_uri", "https://photos.example.com/bye"),
    ];
    let confirmed = s
        .http
        .post(s.url("/oidc/logout"))
        .form(&form)
        .header(COOKIE, &cookies);
    let r = s.send(confirmed.header("origin", ISSUER)).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let me = s
        .send(s.http.get(s.url("/auth/me")).header(COOKIE, &cookies))
        .await;
    assert_eq!(me.status, 401, "signed out by the confirmation");

    // An ID token of this very session: no question asked.
    let cookies = browser(&s).await;
    let code = code_for(&s, &cookies, "openid").await;
    let id_token = exchange(&s, &code).await.body["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .send(s.http.get(logout(&id_token)).header(COOKIE, &cookies))
        .await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.headers[LOCATION],
        "https://photos.example.com/bye?state=s9"
    );
    let me = s
        .send(s.http.get(s.url("/auth/me")).header(COOKIE, &cookies))
        .await;
    assert_eq!(me.status, 401, "the soloauth session is over");
    let url = reqwest::Url::parse_with_params(
        &s.url("/oidc/logout"),
        &[
            ("client_id", "photos"),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
    )
    .unwrap();
    assert_eq!(
        s.send(s.http.get(url)).await.status,
        200,
        "unregistered: no redirect"
    );
}

#[tokio::test]
async fn apps_are_added_listed_and_removed_from_the_account() {
    let s = server().await;
    let t: Tokens = s.login().await;
    let body = json!({"name": "Grafana", "redirect_uris": ["https://grafana.example.com/login/generic_oauth"]});
    let r = s
        .post("/auth/oidc/clients", body.clone(), Some(&t.access))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["client_id"].as_str().unwrap().to_string();
    let secret = r.body["client_secret"].as_str().unwrap().to_string();
    let list = s.get("/auth/oidc/clients", Some(&t.access)).await.body;
    assert_eq!(list.as_array().unwrap().len(), 3);
    assert!(
        !list.to_string().contains(&secret),
        "the secret is shown once"
    );
    // It works at the token endpoint.
    let cookies = browser(&s).await;
    let r = authorize(
        &s,
        &cookies,
        &[
            ("client_id", id.as_str()),
            (
                "redirect_uri",
                "https://grafana.example.com/login/generic_oauth",
            ),
            ("response_type", "code"),
            ("scope", "openid"),
        ],
    )
    .await;
    let code = param(&query_of(&r), "code").unwrap().to_string();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        (
            "redirect_uri",
            "https://grafana.example.com/login/generic_oauth",
        ),
    ];
    assert_eq!(token(&s, &form, Some((&id, &secret))).await.status, 200);
    // Environment apps stay; added ones go.
    let r = s.delete("/auth/oidc/clients/photos", Some(&t.access)).await;
    assert_eq!(r.status, 409);
    assert_eq!(
        s.delete(&format!("/auth/oidc/clients/{id}"), Some(&t.access))
            .await
            .status,
        204
    );
    assert_eq!(
        s.delete(&format!("/auth/oidc/clients/{id}"), Some(&t.access))
            .await
            .status,
        404
    );
    // Adding needs a recent sign-in.
    s.clock.advance(601);
    let r = s.post("/auth/oidc/clients", body, Some(&t.access)).await;
    assert_eq!(r.error(), "reauth_required");
    let bad = json!({"name": "x", "redirect_uris": ["javascript:alert(1)"]});
    let r = s.post("/auth/oidc/clients", bad, Some(&t.access)).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn the_signing_key_survives_a_restart() {
    let s = server().await;
    let kid = s.get("/oidc/jwks.json", None).await.body["keys"][0]["kid"].clone();
    let s = s.restart().await;
    let again = s.get("/oidc/jwks.json", None).await.body;
    assert_eq!(again["keys"][0]["kid"], kid);
    assert_eq!(again["keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn rotate_oidc_key_publishes_the_new_key_and_keeps_the_old_one() {
    // The command runs on the system clock: so does this server, from now.
    let s = server_at(soloauth::base::clock::Clock::System.now()).await;
    let cookies = browser(&s).await;
    let code = code_for(&s, &cookies, "openid").await;
    let before = exchange(&s, &code).await.body["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    let old_kid = jsonwebtoken::decode_header(&before).unwrap().kid.unwrap();
    let mut s = s;
    s.stop().await;
    crate::common::succeed(crate::common::known(s.dir.path()).arg("rotate-oidc-key"));
    let s = s.restart().await;
    let jwks = s.get("/oidc/jwks.json", None).await.body;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2, "{jwks}");
    assert!(
        kids.contains(&old_kid.as_str()),
        "the old key stays published"
    );
    verified(&s, &before, "photos").await;
    let cookies = browser(&s).await;
    let code = code_for(&s, &cookies, "openid").await;
    let after = exchange(&s, &code).await.body["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    let new_kid = jsonwebtoken::decode_header(&after).unwrap().kid.unwrap();
    assert_ne!(new_kid, old_kid, "new tokens are signed with the new key");
    verified(&s, &after, "photos").await;
    // An hour later (and a little: the command ran a moment after this
    // clock's start) the old key is gone.
    s.clock.advance(3700);
    let s = s.restart().await;
    let jwks = s.get("/oidc/jwks.json", None).await.body;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn any_retired_refresh_token_is_reuse_and_pkce_cannot_be_dropped_or_added() {
    let s = server().await;
    let cookies = browser(&s).await;
    let code = code_for(&s, &cookies, "openid").await;
    let t0 = exchange(&s, &code).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let rotate = |token: String| {
        let s = &s;
        async move {
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", token.as_str()),
            ];
            token_reply(s, &form).await
        }
    };
    let t1 = rotate(t0.clone()).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    s.clock.advance(11);
    let t2 = rotate(t1).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    s.clock.advance(11);
    assert_eq!(
        rotate(t0).await.body["error"],
        "invalid_grant",
        "two rotations back"
    );
    assert_eq!(
        rotate(t2).await.body["error"],
        "invalid_grant",
        "reuse ended the grant"
    );

    // A verifier for a code issued without a challenge is refused.
    let r = authorize(
        &s,
        &cookies,
        &[
            ("client_id", "photos"),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
        ],
    )
    .await;
    let code = param(&query_of(&r), "code").unwrap().to_string();
    assert_eq!(exchange(&s, &code).await.body["error"], "invalid_grant");

    // Oversized state or nonce, and a challenge that is no SHA-256, go back as errors.
    let long = "n".repeat(600);
    for (name, value) in [("nonce", long.as_str()), ("code_challenge", "short")] {
        let mut params = vec![
            ("client_id", "photos"),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge_method", "S256"),
        ];
        params.push((name, value));
        let q = query_of(&authorize(&s, &cookies, &params).await);
        assert_eq!(param(&q, "error"), Some("invalid_request"), "{name}");
    }
}

async fn token_reply(s: &Server, form: &[(&str, &str)]) -> Reply {
    token(s, form, Some(("photos", SECRET))).await
}

#[test]
fn an_empty_client_secret_is_a_configuration_problem_not_a_public_app() {
    let vars = [
        ("AUTH_OIDC_CLIENT_GRAFANA_ID", "grafana"),
        ("AUTH_OIDC_CLIENT_GRAFANA_SECRET", ""),
        (
            "AUTH_OIDC_CLIENT_GRAFANA_REDIRECT_URIS",
            "https://grafana.example.com/cb",
        ),
    ];
    let map: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let names: Vec<String> = map.keys().cloned().collect();
    let problems =
        soloauth::base::config::Config::from_lookup_with_names(&|n| map.get(n).cloned(), &names)
            .err()
            .unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("AUTH_OIDC_CLIENT_GRAFANA_SECRET is set but empty")),
        "{problems:?}"
    );
}

#[tokio::test]
async fn revocation_ends_a_grant_and_every_step_is_an_event() {
    let s = server().await;
    let cookies = browser(&s).await;
    let code = code_for(&s, &cookies, "openid").await;
    let r = exchange(&s, &code).await;
    let refresh = r.body["refresh_token"].as_str().unwrap().to_string();
    let access = r.body["access_token"].as_str().unwrap().to_string();
    // Another app cannot revoke it; its own can, and unknown tokens are fine.
    let revoke = |token: &str, basic: (&str, &str)| {
        let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let raw = format!("{}:{}", enc(basic.0), enc(basic.1));
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        );
        s.http
            .post(s.url("/oidc/revoke"))
            .form(&[("token", token)])
            .header(AUTHORIZATION, header)
    };
    let r = s.send(revoke(&access, ("photos", "wrong"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(s.get("/oidc/userinfo", Some(&access)).await.status, 200);
    assert_eq!(
        s.send(revoke("unknown", ("photos", SECRET))).await.status,
        200
    );
    assert_eq!(
        s.send(revoke(&access, ("photos", SECRET))).await.status,
        200
    );
    assert_eq!(s.get("/oidc/userinfo", Some(&access)).await.status, 401);
    assert_eq!(
        s.send(revoke(&refresh, ("photos", SECRET))).await.status,
        200
    );
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    assert_eq!(token_reply(&s, &form).await.body["error"], "invalid_grant");

    // Events: authorized, a reused code, apps added and removed.
    let code = code_for(&s, &cookies, "openid").await;
    exchange(&s, &code).await;
    s.clock.advance(11);
    exchange(&s, &code).await;
    let t = s.login().await;
    let body = json!({"name": "Wiki", "redirect_uris": ["https://wiki.example.com/cb"]});
    let added = s.post("/auth/oidc/clients", body, Some(&t.access)).await;
    let id = added.body["client_id"].as_str().unwrap();
    s.delete(&format!("/auth/oidc/clients/{id}"), Some(&t.access))
        .await;
    let kinds = event_kinds(&s, &t.access).await;
    for kind in [
        "oidc_authorized",
        "oidc_code_reuse",
        "oidc_client_added",
        "oidc_client_removed",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind}: {kinds:?}");
    }
}

#[tokio::test]
async fn a_signing_key_from_the_environment_is_used_and_a_weak_one_refused() {
    let der = soloauth::auth::oidc::keys::generate_der().unwrap();
    use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
    let pem = rsa::PrivateKey::from_pkcs1_der(&der)
        .unwrap()
        .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
        .unwrap();
    let s = Server::start_with(&[("AUTH_OIDC_PRIVATE_KEY", pem.as_str())]).await;
    let jwks = s.get("/oidc/jwks.json", None).await.body;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    let ring = soloauth::auth::oidc::keys::KeyRing::from_der_new(&der).unwrap();
    assert_eq!(
        jwks["keys"][0]["kid"],
        ring.kid(),
        "the given key, not a generated one"
    );
    let problems = soloauth::auth::oidc::keys::KeyRing::from_pem(&"not a key".to_string().into());
    assert!(problems.err().unwrap().contains("AUTH_OIDC_PRIVATE_KEY"));
}
