//! A passkey as a second factor and the passwordless account, over HTTP:
//! with a passkey registered the password step asks for a second factor
//! even with TOTP off; the first passkey ends the password-only sessions;
//! the page's switch and `AUTH_PASSWORD_LOGIN=off` refuse every password
//! step (uncounted), the password with a recovery code is the way back,
//! the last passkey stays while passwords are off, and start-up, `check`
//! and `reset-passkeys` keep the owner from being shut out.

use serde_json::{json, Value};
use soloauth::base::clock::Clock;
use soloauth::base::config::Config;

use crate::common::authenticator::SoftAuthenticator;
use crate::common::{
    code, code_step, data_dir, enroll, event_kinds, known, succeed, Api, Reply, Server, Tokens,
    PASSWORD, START,
};
use crate::passkeys::{authenticator, login_finish, login_start, register, signed_in_with};

/// `PUT /auth/password-login`.
async fn switch(api: &Api, access: &str, enabled: bool) -> Reply {
    let body = json!({ "enabled": enabled });
    api.put("/auth/password-login", body, Some(access)).await
}

async fn me(api: &Api, access: &str) -> Value {
    let r = api.get("/auth/me", Some(access)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// The password step, expected to ask for a second factor: its token and
/// the factors it offers.
async fn asks_for_more(api: &Api, body: Value) -> (String, Value) {
    let r = api.post("/auth/login", body, None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.error(), "mfa_required");
    assert!(r.set_cookies().is_empty(), "no session yet");
    let token = r.body["mfa_token"].as_str().unwrap().to_string();
    (token, r.body["factors"].clone())
}

fn password_only() -> Value {
    json!({"username": "admin", "password": PASSWORD})
}

/// The passkey as the second step after the password.
async fn passkey_step(api: &Api, mfa_token: &str, key: &mut SoftAuthenticator) -> Reply {
    let r = login_start(api, json!({ "mfa_token": mfa_token })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["challenge_id"].as_str().unwrap().to_string();
    login_finish(api, &id, key.get(&r.body["options"])).await
}

#[tokio::test]
async fn with_totp_off_a_passkey_is_the_second_step_and_ends_password_only_sessions() {
    let s = Server::start().await;
    let older = s.login().await;
    let t = s.login().await;
    let mut key = authenticator();
    register(&s, &t.access, &mut key, "Phone").await;
    assert_eq!(
        s.get("/auth/me", Some(&older.access)).await.status,
        401,
        "the first second factor ends the sessions the password alone made"
    );
    let mine = me(&s, &t.access).await;
    assert_eq!(mine["factors"], json!(["password", "passkey"]));
    assert_eq!(mine["totp_enabled"], false);

    let (token, factors) = asks_for_more(&s, password_only()).await;
    assert_eq!(factors, json!(["passkey"]));
    let with_code = json!({"username": "admin", "password": PASSWORD, "totp_code": "123456"});
    let (_, factors) = asks_for_more(&s, with_code).await;
    assert_eq!(
        factors,
        json!(["passkey"]),
        "a code is no factor with TOTP off"
    );
    let r = code_step(&s, &token, json!({"code": "123456"})).await;
    assert_eq!(r.error(), "invalid_code", "{}", r.body);

    let r = passkey_step(&s, &token, &mut key).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let signed_in = Tokens::from(&r.body);
    assert_eq!(
        me(&s, &signed_in.access).await["amr"],
        json!(["pwd", "hwk"])
    );
    let kinds = event_kinds(&s, &signed_in.access).await;
    assert!(kinds.contains(&"session_revoked".to_string()), "{kinds:?}");

    // A second passkey changes no session: the account had its factor.
    register(&s, &signed_in.access, &mut authenticator(), "Laptop").await;
    assert_eq!(s.get("/auth/me", Some(&t.access)).await.status, 200);
}

#[tokio::test]
async fn with_passwords_off_only_a_passkey_signs_in_and_a_recovery_code_is_the_way_back() {
    let s = Server::start_with(&[("AUTH_MAX_FAILED_ATTEMPTS", "3")]).await;
    let t = s.login().await;
    let r = switch(&s, &t.access, false).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.error(), "no_passkey");
    let enrolled = enroll(&s, &t.access, &s.clock).await;
    let mut key = authenticator();
    let key_id = register(&s, &t.access, &mut key, "Phone").await;

    let r = switch(&s, &t.access, false).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"password_login": false, "password_login_from_env": false})
    );
    let mine = me(&s, &t.access).await;
    assert_eq!(mine["factors"], json!(["totp", "passkey"]));
    assert_eq!(mine["password_login"], false);

    // Every password step is refused the same way, and none counts: more
    // tries than the lockout allows, and the right password is still not
    // locked out when the switch comes back.
    for password in [PASSWORD, "wrong", "wrong", "wrong", "wrong"] {
        let body = json!({"username": "admin", "password": password, "totp_code": "000000"});
        let r = s.post("/auth/login", body, None).await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(r.error(), "password_login_off");
        assert!(r.body.get("mfa_token").is_none());
    }
    let kinds = event_kinds(&s, &t.access).await;
    assert!(!kinds.contains(&"login_failure".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"password_login_changed".to_string()));

    // The passkey alone signs in; the last one stays while passwords are off.
    let by_key = signed_in_with(&s, &mut key).await;
    assert_eq!(me(&s, &by_key.access).await["amr"], json!(["hwk", "mfa"]));
    let r = s
        .delete(&format!("/auth/passkeys/{key_id}"), Some(&by_key.access))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.error(), "last_passkey");

    // A sensitive action cannot be re-authenticated with the password
    // (past the re-authentication window, within the token's life).
    s.clock.advance(601);
    let body = json!({ "password": PASSWORD });
    let r = s
        .post("/auth/passkeys/register/start", body, Some(&by_key.access))
        .await;
    assert_eq!(r.error(), "password_login_off", "{}", r.body);

    // The way back: the password with a recovery code, in one step.
    let back = json!({"username": "admin", "password": PASSWORD,
                      "recovery_code": enrolled.codes[0]});
    let r = s.post("/auth/login", back.clone(), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let recovered = Tokens::from(&r.body);
    assert_eq!(
        me(&s, &recovered.access).await["amr"],
        json!(["pwd", "otp"])
    );
    assert_eq!(
        me(&s, &recovered.access).await["recovery_codes_remaining"],
        9
    );
    let kinds = event_kinds(&s, &recovered.access).await;
    assert!(
        kinds.contains(&"recovery_code_used".to_string()),
        "{kinds:?}"
    );
    let r = s.post("/auth/login", back, None).await;
    assert_eq!(r.error(), "invalid_code", "spent: {}", r.body);
    let wrong =
        json!({"username": "admin", "password": "nope", "recovery_code": enrolled.codes[1]});
    let r = s.post("/auth/login", wrong, None).await;
    assert_eq!(r.error(), "invalid_credentials", "{}", r.body);

    // On again, from the fresh session: the password asks for a factor.
    let r = switch(&s, &recovered.access, true).await;
    assert_eq!(r.body["password_login"], true, "{}", r.body);
    let (token, factors) = asks_for_more(&s, password_only()).await;
    assert_eq!(factors, json!(["totp", "recovery_code", "passkey"]));
    let r = code_step(
        &s,
        &token,
        json!({"code": code(&enrolled.secret, s.clock.now())}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// A configuration on `dir` with `extra` variables (the test password's
/// hash is not needed: nothing signs in).
fn config_on(dir: &std::path::Path, extra: &[(&str, &str)]) -> Config {
    let dir = dir.display().to_string();
    Config::from_lookup(&|name| match name {
        "AUTH_DATA_DIR" => Some(dir.clone()),
        _ => extra
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string()),
    })
    .unwrap()
}

#[tokio::test]
async fn the_environment_turns_passwords_off_only_once_a_passkey_can_sign_in() {
    let off = [("AUTH_PASSWORD_LOGIN", "off")];
    let dir = data_dir();
    let refused = soloauth::App::open(config_on(dir.path(), &off), Clock::manual(START));
    let Err(problem) = refused else {
        panic!("started with nothing that could sign in")
    };
    assert!(problem.contains("AUTH_PASSWORD_LOGIN"), "{problem}");
    let out = known(dir.path()).envs(off).arg("check").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("AUTH_PASSWORD_LOGIN"),
        "{stderr}"
    );

    let s = Server::start().await;
    let t = s.login().await;
    let mut key = authenticator();
    register(&s, &t.access, &mut key, "Phone").await;
    let mut s = s.restart_with(&off).await;
    let r = s.post("/auth/login", password_only(), None).await;
    assert_eq!(r.error(), "password_login_off", "{}", r.body);
    let by_key = signed_in_with(&s, &mut key).await;
    let mine = me(&s, &by_key.access).await;
    assert_eq!(mine["password_login"], false);
    assert_eq!(mine["password_login_from_env"], true);
    assert_eq!(mine["factors"], json!(["passkey"]));
    let r = switch(&s, &by_key.access, true).await;
    assert_eq!(r.error(), "password_login_managed_by_env", "{}", r.body);

    // reset-passkeys: the switch back on, and a warning that the variable
    // would now keep the server from starting.
    s.stop().await;
    let out = known(s.dir.path())
        .envs(off)
        .arg("reset-passkeys")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("AUTH_PASSWORD_LOGIN"), "{stdout}");
}

#[tokio::test]
async fn reset_passkeys_turns_the_pages_switch_back_on() {
    let s = Server::start().await;
    let t = s.login().await;
    let mut key = authenticator();
    register(&s, &t.access, &mut key, "Phone").await;
    assert_eq!(switch(&s, &t.access, false).await.status, 200);
    let mut s = s;
    s.stop().await;
    succeed(known(s.dir.path()).arg("reset-passkeys"));
    let s = s.restart().await;
    let t = s.login().await;
    assert_eq!(me(&s, &t.access).await["factors"], json!(["password"]));
    let kinds = event_kinds(&s, &t.access).await;
    assert!(
        kinds.contains(&"password_login_changed".to_string()),
        "{kinds:?}"
    );
}
