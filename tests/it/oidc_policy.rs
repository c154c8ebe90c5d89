//! Per-app requirements of the OpenID Connect provider: an app that needs
//! two factors (`AUTH_OIDC_CLIENT_<NAME>_POLICY`, or `policy` for an app
//! added on the page) or whose request asks for more (`acr_values`) sends a
//! session that falls short to the login page with `need`, then back; the
//! ID token's `acr` and `amr` say what the sign-in was.

use base64::Engine;
use reqwest::header::{AUTHORIZATION, LOCATION};
use serde_json::{json, Value};

use crate::common::{authorize, code, one_step_login, sign_in_and_enroll, Reply, Server, PASSWORD};

const SECRET: &str = "a-vault-secret-of-thirty-two-chars!";
const REDIRECT: &str = "https://vault.example.com/cb";
const VERIFIER: &str = "a-long-enough-code-verifier-of-forty-three-chars-or-more";

async fn server() -> Server {
    Server::start_with(&[
        ("AUTH_OIDC_CLIENT_VAULT_ID", "vault"),
        ("AUTH_OIDC_CLIENT_VAULT_SECRET", SECRET),
        ("AUTH_OIDC_CLIENT_VAULT_REDIRECT_URIS", REDIRECT),
        ("AUTH_OIDC_CLIENT_VAULT_POLICY", "two_factor"),
        ("AUTH_OIDC_CLIENT_WIKI_ID", "wiki"),
        ("AUTH_OIDC_CLIENT_WIKI_SECRET", SECRET),
        (
            "AUTH_OIDC_CLIENT_WIKI_REDIRECT_URIS",
            "https://wiki.example.com/cb",
        ),
    ])
    .await
}

/// The cookies a browser keeps from a sign-in's answer.
fn cookies(r: &Reply) -> String {
    assert_eq!(r.status, 200, "{}", r.body);
    let set = r.set_cookies();
    let pairs: Vec<&str> = set.iter().filter_map(|c| c.split(';').next()).collect();
    pairs.join("; ")
}

/// `/oidc/authorize` for `client` (with PKCE), plus `extra` parameters.
async fn ask(
    s: &Server,
    cookies: &str,
    client: &str,
    redirect: &str,
    extra: &[(&str, &str)],
) -> Reply {
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(<sha2::Sha256 as sha2::Digest>::digest(VERIFIER.as_bytes()));
    let mut params = vec![
        ("client_id", client),
        ("redirect_uri", redirect),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "st"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    authorize(s, cookies, &params).await
}

fn location(r: &Reply) -> String {
    assert_eq!(r.status, 302, "{}", r.body);
    r.headers[LOCATION].to_str().unwrap().to_string()
}

/// The ID token's claims for the code in `to_app` (unverified: the code
/// flow test verifies signatures; this reads what they say).
async fn id_claims(s: &Server, client: &str, redirect: &str, to_app: &str) -> Value {
    let url = reqwest::Url::parse(to_app).unwrap();
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        ("code_verifier", VERIFIER),
    ];
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client}:{SECRET}"));
    let req = s.http.post(s.url("/oidc/token")).form(&form);
    let r = s
        .send(req.header(AUTHORIZATION, format!("Basic {basic}")))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.body["id_token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

#[tokio::test]
async fn an_app_that_needs_two_factors_sends_a_password_sign_in_back_for_one() {
    let s = server().await;
    let password_only = cookies(&s.try_login("admin", PASSWORD).await);
    let to_login = location(&ask(&s, &password_only, "vault", REDIRECT, &[]).await);
    assert!(
        to_login.starts_with("http://localhost:8001/?rd="),
        "{to_login}"
    );
    assert!(to_login.contains("need=two_factor"), "{to_login}");
    // Another app takes the same session, and says what it was.
    let to_app = location(
        &ask(
            &s,
            &password_only,
            "wiki",
            "https://wiki.example.com/cb",
            &[],
        )
        .await,
    );
    let claims = id_claims(&s, "wiki", "https://wiki.example.com/cb", &to_app).await;
    assert_eq!(
        (claims["acr"].clone(), claims["amr"].clone()),
        (json!("one_factor"), json!(["pwd"]))
    );
    // prompt=none cannot sign in again: the app hears login_required
    // (while the password-only session is still live).
    let r = ask(&s, &password_only, "vault", REDIRECT, &[("prompt", "none")]).await;
    let back = location(&r);
    assert!(
        back.starts_with(REDIRECT) && back.contains("error=login_required"),
        "{back}"
    );
    // Signed in with a code, the app gets its code and an acr that says so.
    let (_, enrolled) = sign_in_and_enroll(&s, &s.clock).await;
    s.clock.advance(30);
    let two = one_step_login(&s, PASSWORD, &code(&enrolled.secret, s.clock.now())).await;
    let two = cookies(&two);
    let to_app = location(&ask(&s, &two, "vault", REDIRECT, &[]).await);
    assert!(to_app.starts_with(REDIRECT), "{to_app}");
    let claims = id_claims(&s, "vault", REDIRECT, &to_app).await;
    assert_eq!(
        (claims["acr"].clone(), claims["amr"].clone()),
        (json!("two_factor"), json!(["pwd", "otp"]))
    );
    // acr_values asks for a passkey: the code is not enough.
    let r = ask(
        &s,
        &two,
        "wiki",
        "https://wiki.example.com/cb",
        &[("acr_values", "passkey")],
    )
    .await;
    assert!(location(&r).contains("need=passkey"));
}

#[tokio::test]
async fn the_policy_is_declared_in_discovery_and_set_for_apps_added_on_the_page() {
    let s = server().await;
    let d = s.get("/.well-known/openid-configuration", None).await.body;
    assert_eq!(
        d["acr_values_supported"],
        json!(["one_factor", "two_factor", "passkey"])
    );
    let t = s.login().await;
    let app = json!({"name": "Safe", "redirect_uris": ["https://safe.example.com/cb"], "policy": "passkey"});
    let r = s.post("/auth/oidc/clients", app, Some(&t.access)).await;
    assert_eq!(
        (r.status.as_u16(), r.body["policy"].clone()),
        (201, json!("passkey")),
        "{}",
        r.body
    );
    let id = r.body["client_id"].as_str().unwrap().to_string();
    let list = s.get("/auth/oidc/clients", Some(&t.access)).await.body;
    let policies: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["client_id"].as_str().unwrap(),
                a["policy"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        policies.contains(&("vault", "two_factor")) && policies.contains(&("wiki", "one_factor"))
    );
    assert!(policies.contains(&(id.as_str(), "passkey")), "{policies:?}");
    let wrong =
        json!({"name": "X", "redirect_uris": ["https://x.example.com/cb"], "policy": "strong"});
    let r = s.post("/auth/oidc/clients", wrong, Some(&t.access)).await;
    assert_eq!(
        (r.status.as_u16(), r.error()),
        (400, "bad_request"),
        "{}",
        r.body
    );
    let password_only = cookies(&s.try_login("admin", PASSWORD).await);
    let r = ask(&s, &password_only, &id, "https://safe.example.com/cb", &[]).await;
    assert!(location(&r).contains("need=passkey"));
}
