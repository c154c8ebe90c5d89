//! The second factor: enrollment (setup, decode the secret, confirm with a
//! code, collect the recovery codes), codes right and wrong, and the two
//! steps of a login. They take `now` or a clock: the manual one of a
//! [`Server`](super::Server) or `Clock::System` for a [`Process`](super::Process).

use serde_json::{json, Value};
use soloauth::auth::totp;
use soloauth::base::clock::Clock;

use super::{Api, Reply, Tokens, PASSWORD};

/// What a finished enrollment leaves the test.
pub struct Enrolled {
    pub secret: Vec<u8>,
    /// The recovery codes the confirmation returned.
    pub codes: Vec<String>,
    /// The code that confirmed the enrollment (spent).
    pub confirm_code: String,
}

/// The code for `now`.
pub fn code(secret: &[u8], now: i64) -> String {
    totp::code_at(secret, now)
}

/// A well-formed TOTP code that is wrong by construction: it differs from
/// the codes of the step at `now` and the steps either side (the skew the
/// server allows), never a fixed `000000` that is right one time in 10^6.
pub fn wrong_code(secret: &[u8], now: i64) -> String {
    let valid: Vec<String> = [-30, 0, 30]
        .iter()
        .map(|skew| code(secret, now + skew))
        .collect();
    (0..)
        .map(|n: u32| format!("{n:06}"))
        .find(|c| !valid.contains(c))
        .unwrap()
}

/// `POST /auth/totp/setup` with no body, or with `{"password": …}`.
pub async fn setup(api: &Api, access: &str, password: Option<&str>) -> Reply {
    let body = password.map_or(Value::Null, |p| json!({ "password": p }));
    api.post("/auth/totp/setup", body, Some(access)).await
}

/// Starts an enrollment: the pending secret, decoded.
pub async fn begin(api: &Api, access: &str) -> Vec<u8> {
    let r = setup(api, access, None).await;
    assert_eq!(r.status, 200, "setup: {}", r.error());
    totp::decode_base32(r.body["secret"].as_str().unwrap())
        .unwrap()
        .to_vec()
}

/// The `recovery_codes` of a reply.
pub fn recovery_codes(body: &Value) -> Vec<String> {
    body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

/// `POST /auth/totp/confirm` with `code`.
pub async fn try_confirm(api: &Api, access: &str, code: &str) -> Reply {
    let body = json!({ "code": code });
    api.post("/auth/totp/confirm", body, Some(access)).await
}

/// Confirms with `code`, which must be accepted: the recovery codes.
pub async fn confirm(api: &Api, access: &str, code: &str) -> Vec<String> {
    let r = try_confirm(api, access, code).await;
    assert_eq!(r.status, 200, "confirm: {}", r.body);
    recovery_codes(&r.body)
}

/// Enrolls with the code for `clock`'s now, then steps a manual clock past
/// that code (the system clock cannot be moved).
pub async fn enroll(api: &Api, access: &str, clock: &Clock) -> Enrolled {
    let secret = begin(api, access).await;
    let confirm_code = code(&secret, clock.now());
    let codes = confirm(api, access, &confirm_code).await;
    clock.advance(totp::STEP);
    Enrolled {
        secret,
        codes,
        confirm_code,
    }
}

/// The password step of a login with TOTP on: returns the `mfa_token`.
pub async fn password_step(api: &Api) -> String {
    let r = api.try_login("admin", PASSWORD).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.error(), "mfa_required");
    assert_eq!(r.body["expires_in"], 300);
    assert!(
        r.set_cookies().is_empty(),
        "no session before the second factor"
    );
    r.body["mfa_token"].as_str().unwrap().to_string()
}

/// The second step: `factor` (`{"code": …}` or `{"recovery_code": …}`) with
/// the `mfa_token`.
pub async fn code_step(api: &Api, mfa_token: &str, factor: Value) -> Reply {
    let mut body = factor;
    body["mfa_token"] = json!(mfa_token);
    api.post("/auth/login/totp", body, None).await
}

/// A login in one step: `POST /auth/login` with the password and `totp_code`.
pub async fn one_step_login(api: &Api, password: &str, totp_code: &str) -> Reply {
    let body = json!({"username": "admin", "password": password, "totp_code": totp_code});
    api.post("/auth/login", body, None).await
}

/// `POST /auth/totp/disable` with a password and a code.
pub async fn disable(api: &Api, access: &str, password: &str, code: &str) -> Reply {
    let body = json!({"password": password, "code": code});
    api.post("/auth/totp/disable", body, Some(access)).await
}

/// `POST /auth/recovery-codes` with a code: a new set of recovery codes.
pub async fn regenerate(api: &Api, access: &str, code: &str) -> Reply {
    let body = json!({ "code": code });
    api.post("/auth/recovery-codes", body, Some(access)).await
}

/// Signs in with the password, then turns TOTP on ([`enroll`]).
pub async fn sign_in_and_enroll(api: &Api, clock: &Clock) -> (Tokens, Enrolled) {
    let t = api.login().await;
    let e = enroll(api, &t.access, clock).await;
    (t, e)
}
