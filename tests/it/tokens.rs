//! Access tokens: forgeries refused, expiry by the injected clock, restarts
//! and signing-key rotation keep sessions alive.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::common::{Server, START};

const SECRET_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SECRET_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

fn sign(alg: Algorithm, kid: &str, claims: &Value, secret: &str) -> String {
    let mut h = Header::new(alg);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(
        &h,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

async fn assert_refused(s: &Server, token: &str, what: &str) {
    let r = s.get("/auth/me", Some(token)).await;
    assert_eq!(r.status, 401, "{what} was accepted");
    assert_eq!(r.error(), "invalid_token", "{what}");
}

#[tokio::test]
async fn access_token_has_the_contract_claims() {
    let s = Server::start_with(&[("AUTH_JWT_SECRET", SECRET_A)]).await;
    let t = s.login().await;
    let header = decode_part(&t.access, 0);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(
        header["kid"],
        soloauth::auth::tokens::key_id(SECRET_A.as_bytes())
    );
    let c = decode_part(&t.access, 1);
    assert_eq!(c["iss"], "soloauth");
    assert_eq!(c["aud"], "soloauth");
    assert_eq!(c["sub"], "admin");
    assert_eq!(c["sid"], t.sid.as_str());
    assert_eq!(c["iat"], START);
    assert_eq!(c["nbf"], START);
    assert_eq!(c["exp"], START + 1800);
    assert!(c["jti"].as_str().unwrap().len() >= 16);
    assert_eq!(c["amr"], json!(["pwd"]));
}

#[tokio::test]
async fn forged_and_broken_tokens_are_refused() {
    let s = Server::start_with(&[("AUTH_JWT_SECRET", SECRET_A)]).await;
    let t = s.login().await;
    let header = decode_part(&t.access, 0);
    let kid = header["kid"].as_str().unwrap().to_string();
    let claims = decode_part(&t.access, 1);

    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": kid})),
        b64(&claims)
    );
    assert_refused(&s, &none, "alg none").await;
    assert_refused(
        &s,
        &sign(Algorithm::HS512, &kid, &claims, SECRET_A),
        "HS512",
    )
    .await;
    assert_refused(
        &s,
        &sign(Algorithm::HS384, &kid, &claims, SECRET_A),
        "HS384",
    )
    .await;
    assert_refused(
        &s,
        &sign(Algorithm::HS256, &kid, &claims, SECRET_B),
        "other key",
    )
    .await;
    let mut no_kid = Header::new(Algorithm::HS256);
    no_kid.kid = None;
    let t_no_kid = jsonwebtoken::encode(
        &no_kid,
        &claims,
        &EncodingKey::from_secret(SECRET_A.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_refused(&s, &t_no_kid, "no kid").await;
    for (field, value) in [
        ("aud", json!("other")),
        ("iss", json!("evil")),
        ("exp", json!(START - 1)),
        ("nbf", json!(START + 3600)),
        ("sid", json!("00000000000000000000000000000000")),
    ] {
        let mut c = claims.clone();
        c[field] = value;
        assert_refused(&s, &sign(Algorithm::HS256, &kid, &c, SECRET_A), field).await;
    }
    let mut c = claims.clone();
    c["sub"] = json!("root");
    let parts: Vec<&str> = t.access.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], b64(&c), parts[2]);
    assert_refused(&s, &tampered, "tampered payload").await;
    let bad_sig = format!("{}.{}.{}", parts[0], parts[1], "A".repeat(parts[2].len()));
    assert_refused(&s, &bad_sig, "bad signature").await;
    for junk in ["", "x", "a.b.c", "....", &"e".repeat(5000)] {
        assert_refused(&s, junk, "junk").await;
    }
    // The genuine one still works.
    assert_eq!(s.get("/auth/me", Some(&t.access)).await.status, 200);
}

#[tokio::test]
async fn access_tokens_expire_by_the_clock() {
    let s = Server::start().await;
    let t = s.login().await;
    s.clock.advance(1799);
    assert_eq!(s.get("/auth/me", Some(&t.access)).await.status, 200);
    s.clock.advance(1);
    assert_refused(&s, &t.access, "expired token").await;
    // The refresh token still gets a new one.
    let r = s.refresh(&t.refresh).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn restart_keeps_tokens_and_sessions() {
    let s = Server::start().await;
    let t = s.login().await;
    let s = s.restart().await;
    assert_eq!(
        s.get("/auth/me", Some(&t.access)).await.status,
        200,
        "access token after restart"
    );
    let r = s.refresh(&t.refresh).await;
    assert_eq!(r.status, 200, "refresh token after restart");
    let s = s.restart().await;
    s.clock.advance(11); // past the grace period for racing tabs
    assert_eq!(
        s.refresh(&t.refresh).await.error(),
        "token_reused",
        "rotation survived restart"
    );
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid() {
    let s = Server::start_with(&[("AUTH_JWT_SECRET", SECRET_A)]).await;
    let old = s.login().await;
    let s = s
        .restart_with(&[
            ("AUTH_JWT_SECRET", SECRET_B),
            ("AUTH_JWT_PREVIOUS_SECRETS", SECRET_A),
        ])
        .await;
    assert_eq!(
        s.get("/auth/me", Some(&old.access)).await.status,
        200,
        "old key verifies"
    );
    let fresh = s.login().await;
    assert_eq!(
        decode_part(&fresh.access, 0)["kid"],
        soloauth::auth::tokens::key_id(SECRET_B.as_bytes()),
        "new tokens use the new key"
    );
    let s = s
        .restart_with(&[
            ("AUTH_JWT_SECRET", SECRET_B),
            ("AUTH_JWT_PREVIOUS_SECRETS", ""),
        ])
        .await;
    assert_refused(&s, &old.access, "token of a retired key").await;
    assert_eq!(s.get("/auth/me", Some(&fresh.access)).await.status, 200);
    // Sessions outlive the key: the old session refreshes into a new-key token.
    let r = s.refresh(&old.refresh).await;
    assert_eq!(r.status, 200);
}
