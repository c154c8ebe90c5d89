//! The provider over a real store, with injected time: codes (issued,
//! read back, spent once, expired), grants and refresh-token rotation,
//! access tokens and their expiry, revocation.

use std::sync::OnceLock;

use super::*;
use crate::auth::oidc::clients::hash_secret;
use crate::auth::testkit::{client, Kit, NOW};
use crate::storage::oidc::StoredClient;
use crate::storage::sessions::Session;

const WEB: &str = "https://photos.example.com/cb";
const LOOPBACK: &str = "http://127.0.0.1/callback";
const SECRET: &str = "a secret of thirty-two characters";
/// A PKCE verifier (43 unreserved characters).
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// One RSA key for the whole test binary: generating one takes a while.
fn der() -> &'static [u8] {
    static DER: OnceLock<Vec<u8>> = OnceLock::new();
    DER.get_or_init(|| generate_der().unwrap().to_vec())
}

fn challenge() -> String {
    B64.encode(Sha256::digest(VERIFIER.as_bytes()))
}

/// A kit with a signing key stored, the apps `photos` (confidential, at
/// [`WEB`]) and `mobile` (public, at [`LOOPBACK`]), and a session signed in
/// at [`NOW`].
async fn kit() -> (Kit, Session) {
    let mut kit = Kit::new(5);
    let kid = KeyRing::from_der_new(der()).unwrap().kid().to_string();
    let key = StoredKey {
        kid,
        encrypted: kit.vault.encrypt(der()),
        created_at: NOW,
        retired_at: None,
    };
    kit.store.put_oidc_key(&key).unwrap();
    let core = &kit.core;
    let keys = SigningKeys::load(&core.oidc, &core.store, &core.vault, NOW).unwrap();
    kit.core.oidc_keys = keys;
    for (id, secret, uri) in [("photos", Some(SECRET), WEB), ("mobile", None, LOOPBACK)] {
        let app = StoredClient {
            client_id: id.into(),
            name: id.into(),
            secret_hash: secret.map(hash_secret),
            redirect_uris: vec![uri.into()],
            logout_uris: Vec::new(),
            created_at: NOW,
            policy: Default::default(),
        };
        kit.store.put_oidc_client(&app).unwrap();
    }
    let pair = (kit.sessions())
        .start(
            vec![crate::base::amr::Amr::Pwd, crate::base::amr::Amr::Otp],
            &client(),
            true,
            NOW,
        )
        .await
        .unwrap();
    (kit, pair.session)
}

fn app(kit: &Kit, id: &str) -> App {
    kit.provider().app(id).unwrap().unwrap()
}

/// `photos`'s request at [`WEB`], with PKCE.
fn request() -> AuthorizeRequest {
    AuthorizeRequest {
        redirect_uri: WEB.into(),
        response_type: "code".into(),
        scope: "openid profile".into(),
        state: Some("xyz".into()),
        nonce: Some("n-0S6".into()),
        code_challenge: Some(challenge()),
        code_challenge_method: Some("S256".into()),
    }
}

/// A code for `photos`, issued at `now` for `session`.
async fn code(kit: &Kit, session: &Session, now: i64) -> String {
    let signer = Signer {
        session_id: &session.id,
        auth_time: session.created_at,
        amr: &session.amr,
    };
    let mut events = Events::new();
    let code = (kit.provider())
        .issue_code(
            &app(kit, "photos"),
            &request(),
            &signer,
            now,
            &mut events,
            client().ip,
        )
        .await
        .unwrap();
    code.expose_secret().to_string()
}

fn exchange<'a>(code: &'a str, redirect_uri: &'a str, verifier: &'a str) -> CodeExchange<'a> {
    CodeExchange {
        code,
        redirect_uri: Some(redirect_uri),
        code_verifier: Some(verifier),
    }
}

/// Exchanges `code` as `photos` would, at `now`.
async fn redeem(
    kit: &Kit,
    code: &str,
    now: i64,
    events: &mut Events,
) -> Result<TokenSet, OAuthError> {
    let photos = app(kit, "photos");
    let exchange = exchange(code, WEB, VERIFIER);
    (kit.provider())
        .exchange_code(&photos, &exchange, now, events, client().ip)
        .await
}

async fn refresh(
    kit: &Kit,
    token: &SecretString,
    now: i64,
    events: &mut Events,
) -> Result<TokenSet, OAuthError> {
    let photos = app(kit, "photos");
    let token = token.expose_secret();
    (kit.provider())
        .refresh(&photos, token, now, events, client().ip)
        .await
}

/// The claims of an ID token (its signature is keys.rs's business).
fn claims(id_token: &str) -> serde_json::Value {
    let payload = id_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

fn refused(result: Result<TokenSet, OAuthError>, description: &str) {
    match result {
        Ok(_) => panic!("tokens, where {description:?} was expected"),
        Err(e) => {
            assert_eq!(e.error, "invalid_grant", "{e:?}");
            assert!(e.description.contains(description), "{e:?}");
        }
    }
}

#[tokio::test]
async fn a_code_is_stored_by_its_hash_with_what_it_was_issued_for() {
    let (kit, session) = kit().await;
    let code = code(&kit, &session, NOW).await;
    assert!(code.len() >= 43, "256 random bits");
    assert!(
        kit.store.code(&code).unwrap().is_none(),
        "never stored as is"
    );
    let stored = kit.store.code(&sha256_hex(&code)).unwrap().unwrap();
    let expected = StoredCode {
        client_id: "photos".into(),
        redirect_uri: WEB.into(),
        code_challenge: Some(challenge()),
        nonce: Some("n-0S6".into()),
        scope: "openid profile".into(),
        session_id: session.id.clone(),
        auth_time: NOW,
        amr: vec![crate::base::amr::Amr::Pwd, crate::base::amr::Amr::Otp],
        expires_at: NOW + CODE_TTL,
        used_by: None,
        used_at: None,
        reused: false,
    };
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn a_code_gives_tokens_once_and_a_later_reuse_ends_the_grant() {
    let (kit, session) = kit().await;
    let code = code(&kit, &session, NOW).await;
    let mut events = Events::new();
    let tokens = redeem(&kit, &code, NOW + 5, &mut events).await.unwrap();
    assert_eq!(
        (tokens.expires_in, tokens.scope.as_str()),
        (ACCESS_TTL, "openid profile")
    );
    let id = claims(&tokens.id_token);
    assert_eq!(id["aud"], "photos");
    assert_eq!(id["nonce"], "n-0S6");
    assert_eq!(id["sid"], session.id.as_str());
    assert_eq!(
        (id["auth_time"].as_i64(), id["iat"].as_i64()),
        (Some(NOW), Some(NOW + 5))
    );
    let spent = kit.store.code(&sha256_hex(&code)).unwrap().unwrap();
    let grant_id = spent.used_by.clone().unwrap();
    assert_eq!(spent.used_at, Some(NOW + 5));
    let grant = kit.store.grant(&grant_id).unwrap().unwrap();
    assert_eq!(
        (grant.client_id.as_str(), grant.session_id.as_str()),
        ("photos", session.id.as_str())
    );

    // Again within the grace window: refused, and nothing is harmed.
    let grace = kit.session_policy.refresh_grace;
    refused(
        redeem(&kit, &code, NOW + 5 + grace, &mut events).await,
        "just used",
    );
    assert!(kit.store.grant(&grant_id).unwrap().is_some());
    assert!(events.is_empty());
    // Later: reuse, and the grant the first exchange made ends with it.
    let later = NOW + 6 + grace;
    refused(
        redeem(&kit, &code, later, &mut events).await,
        "already used",
    );
    assert!(kit.store.grant(&grant_id).unwrap().is_none());
    let access = tokens.access_token.expose_secret();
    assert_eq!(kit.provider().userinfo(access, later).unwrap(), None);
    refused(
        refresh(&kit, &tokens.refresh_token, later, &mut events).await,
        "revoked",
    );
    assert_eq!(events.len(), 1);
    assert!(matches!(events[0].kind, Kind::OidcCodeReuse));
}

#[tokio::test]
async fn a_code_expires_and_failed_exchanges_leave_it_usable() {
    let (kit, session) = kit().await;
    let code = code(&kit, &session, NOW).await;
    let provider = kit.provider();
    let (photos, mobile) = (app(&kit, "photos"), app(&kit, "mobile"));
    let mut events = Events::new();
    let ip = client().ip;
    let last = NOW + CODE_TTL - 1;
    for (app, exchange, why) in [
        (&mobile, exchange(&code, WEB, VERIFIER), "another client"),
        (
            &photos,
            exchange(&code, LOOPBACK, VERIFIER),
            "redirect_uri differs",
        ),
        (&photos, exchange(&code, WEB, &VERIFIER[1..]), "43 to 128"),
        (
            &photos,
            exchange(&code, WEB, &"x".repeat(43)),
            "does not match",
        ),
        (
            &photos,
            exchange("no such code", WEB, VERIFIER),
            "unknown or expired",
        ),
    ] {
        refused(
            provider
                .exchange_code(app, &exchange, last, &mut events, ip)
                .await,
            why,
        );
    }
    let no_verifier = CodeExchange {
        code_verifier: None,
        ..exchange(&code, WEB, VERIFIER)
    };
    let missing = provider.exchange_code(&photos, &no_verifier, last, &mut events, ip);
    refused(missing.await, "code_verifier is missing");
    redeem(&kit, &code, last, &mut events).await.unwrap();

    let expired = self::code(&kit, &session, NOW).await;
    refused(
        redeem(&kit, &expired, NOW + CODE_TTL, &mut events).await,
        "expired",
    );
    // A code whose sign-in has ended gives nothing.
    let orphan = self::code(&kit, &session, NOW).await;
    kit.sessions().revoke(&session.id).await.unwrap();
    refused(
        redeem(&kit, &orphan, NOW + 1, &mut events).await,
        "has ended",
    );
    assert!(events.is_empty());
}

#[tokio::test]
async fn refresh_tokens_rotate_and_an_old_one_presented_later_ends_the_grant() {
    let (kit, session) = kit().await;
    let code = code(&kit, &session, NOW).await;
    let mut events = Events::new();
    let first = redeem(&kit, &code, NOW, &mut events).await.unwrap();
    let second = refresh(&kit, &first.refresh_token, NOW + 100, &mut events)
        .await
        .unwrap();
    assert_ne!(
        second.refresh_token.expose_secret(),
        first.refresh_token.expose_secret()
    );
    assert_ne!(
        second.access_token.expose_secret(),
        first.access_token.expose_secret()
    );
    let id = claims(&second.id_token);
    assert_eq!(
        (id["iat"].as_i64(), id["auth_time"].as_i64()),
        (Some(NOW + 100), Some(NOW))
    );
    assert!(id.get("nonce").is_none(), "the nonce is the code's alone");

    // The old one, moments later (a retry that lost the race): refused,
    // and the grant lives on.
    let grace = kit.session_policy.refresh_grace;
    let retry = refresh(&kit, &first.refresh_token, NOW + 100 + grace, &mut events).await;
    refused(retry, "just rotated");
    let third = refresh(&kit, &second.refresh_token, NOW + 200, &mut events)
        .await
        .unwrap();
    // Another app cannot use it; a malformed token is nobody's.
    let mobile = app(&kit, "mobile");
    let token = third.refresh_token.expose_secret();
    let provider = kit.provider();
    let foreign = provider.refresh(&mobile, token, NOW + 200, &mut events, client().ip);
    refused(foreign.await, "another client");
    let photos = app(&kit, "photos");
    let malformed = provider.refresh(&photos, "x", NOW + 200, &mut events, client().ip);
    refused(malformed.await, "unknown refresh token");
    assert!(events.is_empty());

    // Any retired one, later: reuse, and the grant ends.
    refused(
        refresh(&kit, &first.refresh_token, NOW + 300, &mut events).await,
        "already used",
    );
    assert_eq!(events.len(), 1);
    assert!(matches!(events[0].kind, Kind::RefreshReuse));
    refused(
        refresh(&kit, &third.refresh_token, NOW + 300, &mut events).await,
        "revoked",
    );
    let access = third.access_token.expose_secret();
    assert_eq!(kit.provider().userinfo(access, NOW + 300).unwrap(), None);
}

#[tokio::test]
async fn an_access_token_lasts_its_ttl_and_ends_with_its_grant_or_session() {
    let (kit, session) = kit().await;
    let code = code(&kit, &session, NOW).await;
    let mut events = Events::new();
    let tokens = redeem(&kit, &code, NOW, &mut events).await.unwrap();
    let provider = kit.provider();
    let access = tokens.access_token.expose_secret();
    let claims = provider
        .userinfo(access, NOW + ACCESS_TTL - 1)
        .unwrap()
        .unwrap();
    assert_eq!(claims["preferred_username"], kit.credentials.username());
    assert!(claims["sub"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(claims.get("email").is_none(), "not in the scope");
    let padded = format!(" {access}\n");
    assert!(provider.userinfo(&padded, NOW).unwrap().is_some());
    assert_eq!(provider.userinfo(access, NOW + ACCESS_TTL).unwrap(), None);
    assert_eq!(provider.userinfo("unknown", NOW).unwrap(), None);

    // Revocation: only by the app that holds the token.
    let fresh = refresh(&kit, &tokens.refresh_token, NOW + 10, &mut events)
        .await
        .unwrap();
    let access = fresh.access_token.expose_secret();
    provider.revoke(&app(&kit, "mobile"), access).await.unwrap();
    assert!(provider.userinfo(access, NOW + 10).unwrap().is_some());
    provider.revoke(&app(&kit, "photos"), access).await.unwrap();
    assert_eq!(provider.userinfo(access, NOW + 10).unwrap(), None);

    // Ending the session ends the grant's tokens too.
    let again = refresh(&kit, &fresh.refresh_token, NOW + 20, &mut events)
        .await
        .unwrap();
    let access = again.access_token.expose_secret();
    assert!(provider.userinfo(access, NOW + 20).unwrap().is_some());
    kit.sessions().revoke(&session.id).await.unwrap();
    assert_eq!(provider.userinfo(access, NOW + 20).unwrap(), None);
    refused(
        refresh(&kit, &again.refresh_token, NOW + 30, &mut events).await,
        "has ended",
    );
    assert!(kit.store.grants().unwrap().is_empty(), "the grant is gone");
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_grant() {
    let (kit, session) = kit().await;
    let code = code(&kit, &session, NOW).await;
    let mut events = Events::new();
    let tokens = redeem(&kit, &code, NOW, &mut events).await.unwrap();
    let provider = kit.provider();
    let refresh_token = tokens.refresh_token.expose_secret();
    provider
        .revoke(&app(&kit, "mobile"), refresh_token)
        .await
        .unwrap();
    assert_eq!(kit.store.grants().unwrap().len(), 1, "not mobile's to end");
    provider
        .revoke(&app(&kit, "photos"), refresh_token)
        .await
        .unwrap();
    assert!(kit.store.grants().unwrap().is_empty());
    let access = tokens.access_token.expose_secret();
    assert_eq!(provider.userinfo(access, NOW).unwrap(), None);
    refused(
        refresh(&kit, &tokens.refresh_token, NOW + 1, &mut events).await,
        "revoked",
    );
    assert_eq!(
        provider.apps_of_session(&session.id).unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn the_id_token_says_the_level_and_a_raised_requirement_stops_weaker_refreshes() {
    let (kit, session) = kit().await;
    let code = code(&kit, &session, NOW).await;
    let mut events = Events::new();
    let first = redeem(&kit, &code, NOW, &mut events).await.unwrap();
    assert_eq!(claims(&first.id_token)["acr"], "two_factor", "pwd + otp");
    // The owner raises photos' requirement to a passkey.
    let mut stored = kit.store.oidc_client("photos").unwrap().unwrap();
    stored.policy = crate::base::amr::Assurance::Passkey;
    kit.store.put_oidc_client(&stored).unwrap();
    let refreshed = refresh(&kit, &first.refresh_token, NOW + 100, &mut events).await;
    refused(refreshed, "now requires a passkey sign-in");
}
