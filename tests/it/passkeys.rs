//! Passkeys over HTTP, driven by a software authenticator
//! (`common::authenticator`): registration, the passkey alone, the passkey
//! as the second step, rename and delete, single-use and expiring
//! challenges, starts that keep no state (no flood of them stops the
//! owner's), a wrong signature, a counter that goes backwards, the lockout,
//! `reset-passkeys`, and passkeys off on a bare-IP public URL.

use futures_util::StreamExt;
use serde_json::{json, Value};
use soloauth::base::clock::rfc3339;

use crate::common::authenticator::SoftAuthenticator;
use crate::common::{
    binary, code, code_step, event_kinds, known, one_step_login, password_step, sign_in_and_enroll,
    succeed, verify, Api, Reply, Server, Tokens, PASSWORD,
};

/// The test server's public URL is the default, `http://localhost:8001`.
pub(crate) fn authenticator() -> SoftAuthenticator {
    SoftAuthenticator::new("localhost", "http://localhost:8001")
}

/// Starts a registration for the session of `access`; panics unless 200.
async fn register_start(api: &Api, access: &str) -> (String, Value) {
    let r = api
        .post("/auth/passkeys/register/start", Value::Null, Some(access))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    ceremony(&r)
}

fn ceremony(r: &Reply) -> (String, Value) {
    let id = r.body["challenge_id"].as_str().unwrap().to_string();
    (id, r.body["options"].clone())
}

async fn register_finish(api: &Api, access: &str, id: &str, name: &str, cred: Value) -> Reply {
    let body = json!({"challenge_id": id, "name": name, "credential": cred});
    api.post("/auth/passkeys/register/finish", body, Some(access))
        .await
}

/// Registers `key` under `name`; returns its id.
pub(crate) async fn register(
    api: &Api,
    access: &str,
    key: &mut SoftAuthenticator,
    name: &str,
) -> String {
    let (id, options) = register_start(api, access).await;
    let r = register_finish(api, access, &id, name, key.create(&options)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["name"], name);
    r.body["id"].as_str().unwrap().to_string()
}

pub(crate) async fn login_start(api: &Api, body: Value) -> Reply {
    api.post("/auth/passkeys/login/start", body, None).await
}

pub(crate) async fn login_finish(api: &Api, id: &str, cred: Value) -> Reply {
    let body = json!({"challenge_id": id, "credential": cred});
    api.post("/auth/passkeys/login/finish", body, None).await
}

/// The passkey alone: start, the authenticator's answer, finish.
async fn passkey_login(api: &Api, key: &mut SoftAuthenticator) -> Reply {
    let r = login_start(api, Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (id, options) = ceremony(&r);
    login_finish(api, &id, key.get(&options)).await
}

/// Signs in with the passkey alone; panics unless 200.
pub(crate) async fn signed_in_with(api: &Api, key: &mut SoftAuthenticator) -> Tokens {
    let r = passkey_login(api, key).await;
    assert_eq!(r.status, 200, "{}", r.body);
    Tokens::from(&r.body)
}

async fn amr(api: &Api, access: &str) -> Value {
    let r = api.get("/auth/me", Some(access)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["amr"].clone()
}

async fn passkeys(api: &Api, access: &str) -> Vec<Value> {
    let r = api.get("/auth/passkeys", Some(access)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body.as_array().unwrap().clone()
}

#[tokio::test]
async fn a_registered_passkey_signs_in_alone_as_two_factors() {
    let s = Server::start().await;
    let t = s.login().await;
    let mut key = authenticator();
    let (id, options) = register_start(&s, &t.access).await;
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["attestation"], "none", "no attestation asked for");
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    let extensions = &options["extensions"];
    assert_eq!(
        extensions["enforceCredentialProtectionPolicy"], false,
        "CTAP 2.0 keys welcome"
    );
    let r = register_finish(&s, &t.access, &id, "  Laptop  ", key.create(&options)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["name"], "Laptop", "name trimmed");
    assert_eq!(r.body["id"], key.credential_id());
    assert_eq!(r.body["created_at"], rfc3339(s.clock.now()));
    let listed = passkeys(&s, &t.access).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["last_used_at"], Value::Null);
    assert_eq!(listed[0]["backed_up"], false);

    // No username, no password: the passkey alone.
    s.clock.advance(60);
    let r = login_start(&s, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (id, options) = ceremony(&r);
    assert_eq!(options["userVerification"], "required");
    assert_eq!(options["allowCredentials"][0]["id"], key.credential_id());
    let r = login_finish(&s, &id, key.get(&options)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("soloauth_session=")));
    let signed_in = Tokens::from(&r.body);
    assert_eq!(amr(&s, &signed_in.access).await, json!(["hwk", "mfa"]));
    let listed = passkeys(&s, &t.access).await;
    assert_eq!(listed[0]["last_used_at"], rfc3339(s.clock.now()));
    let me = s.get("/auth/me", Some(&t.access)).await;
    assert_eq!(me.body["passkeys"], 1);
    let kinds = event_kinds(&s, &t.access).await;
    assert_eq!(
        kinds[..3],
        ["login_success", "passkey_login", "passkey_added"]
    );

    // The passkey outlives a restart: it is in sled. A sign-in started
    // before it does not: its challenge was sealed with that process's key.
    let r = login_start(&s, Value::Null).await;
    let (in_flight, in_flight_options) = ceremony(&r);
    let s = s.restart().await;
    let r = login_finish(&s, &in_flight, key.get(&in_flight_options)).await;
    assert_eq!(r.error(), "invalid_challenge", "{}", r.body);
    s.clock.advance(60);
    let r = passkey_login(&s, &mut key).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn with_totp_on_a_passkey_alone_skips_the_code_or_is_the_second_step() {
    let s = Server::start().await;
    let (t, enrolled) = sign_in_and_enroll(&s, &s.clock).await;
    let mut key = authenticator();
    register(&s, &t.access, &mut key, "YubiKey").await;

    let r = passkey_login(&s, &mut key).await;
    assert_eq!(r.status, 200, "no TOTP prompt after a verified passkey");
    assert_eq!(r.body["user"]["totp_enabled"], true);

    // After the password, the passkey instead of a code.
    let mfa_token = password_step(&s).await;
    let r = login_start(&s, json!({ "mfa_token": mfa_token })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (id, options) = ceremony(&r);
    assert_eq!(options["userVerification"], "preferred");
    key.user_verified = false; // a security key without a PIN will do here
    let r = login_finish(&s, &id, key.get(&options)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let second = Tokens::from(&r.body);
    assert_eq!(amr(&s, &second.access).await, json!(["pwd", "hwk"]));
    let now = s.clock.now();
    let spent = code_step(&s, &mfa_token, json!({"code": code(&enrolled.secret, now)})).await;
    assert_eq!(spent.error(), "invalid_token", "the mfa_token is spent");

    // Alone, a passkey that does not verify its user is refused.
    let r = passkey_login(&s, &mut key).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.error(), "invalid_credentials");
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("verify its user"));

    // The passkey step may be started but the code still typed instead.
    key.user_verified = true;
    let mfa_token = password_step(&s).await;
    let r = login_start(&s, json!({ "mfa_token": mfa_token })).await;
    assert_eq!(r.status, 200);
    s.clock.advance(30);
    let now = s.clock.now();
    let r = code_step(&s, &mfa_token, json!({"code": code(&enrolled.secret, now)})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // An unknown or spent mfa_token starts nothing.
    for token in [mfa_token.as_str(), "not-a-token"] {
        let r = login_start(&s, json!({ "mfa_token": token })).await;
        assert_eq!(r.error(), "invalid_token", "{}", r.body);
    }
}

#[tokio::test]
async fn passkeys_are_renamed_and_removed() {
    let s = Server::start().await;
    let t = s.login().await;
    let (mut phone, mut laptop) = (authenticator(), authenticator());
    let phone_id = register(&s, &t.access, &mut phone, "Phone").await;
    s.clock.advance(1);
    register(&s, &t.access, &mut laptop, "Laptop").await;

    let path = format!("/auth/passkeys/{phone_id}");
    let r = s
        .patch(&path, json!({"name": "Pixel"}), Some(&t.access))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "Pixel");
    let names: Vec<Value> = passkeys(&s, &t.access)
        .await
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, [json!("Pixel"), json!("Laptop")]);
    let too_long = "x".repeat(65);
    for bad in [
        json!(""),
        json!("   "),
        json!(too_long),
        json!("a\nb"),
        json!(null),
    ] {
        let r = s
            .patch(&path, json!({ "name": bad }), Some(&t.access))
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    let r = s
        .patch("/auth/passkeys/AAAA", json!({"name": "x"}), Some(&t.access))
        .await;
    assert_eq!(r.status, 404);
    let r = s.patch(&path, json!({"name": "x"}), None).await;
    assert_eq!(r.status, 401, "signed-in only");

    let r = s.delete(&path, Some(&t.access)).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(s.delete(&path, Some(&t.access)).await.status, 404);
    assert_eq!(passkeys(&s, &t.access).await.len(), 1);
    let r = passkey_login(&s, &mut phone).await;
    assert_eq!(r.status, 401, "a removed passkey signs in no more");
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("not registered"));
    assert_eq!(passkey_login(&s, &mut laptop).await.status, 200);
    assert!(event_kinds(&s, &t.access)
        .await
        .contains(&"passkey_removed".to_string()));

    let laptop_path = format!("/auth/passkeys/{}", laptop.credential_id());
    assert_eq!(s.delete(&laptop_path, Some(&t.access)).await.status, 204);
    let r = login_start(&s, Value::Null).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.error(), "passkeys_unavailable");
}

#[tokio::test]
async fn challenges_are_single_use_bound_and_expire_in_five_minutes() {
    let s = Server::start().await;
    let t = s.login().await;
    let mut key = authenticator();
    register(&s, &t.access, &mut key, "Key").await;

    // A sign-in answer replayed.
    let r = login_start(&s, Value::Null).await;
    let (id, options) = ceremony(&r);
    let answer = key.get(&options);
    assert_eq!(login_finish(&s, &id, answer.clone()).await.status, 200);
    let replay = login_finish(&s, &id, answer).await;
    assert_eq!(replay.status, 400);
    assert_eq!(replay.error(), "invalid_challenge");

    // Five minutes, by the server's clock.
    let r = login_start(&s, Value::Null).await;
    let (id, options) = ceremony(&r);
    s.clock.advance(300);
    let late = login_finish(&s, &id, key.get(&options)).await;
    assert_eq!(late.error(), "invalid_challenge", "{}", late.body);

    // A challenge_id changed by a bit, or far too long, is refused alike,
    // and spends nothing.
    let r = login_start(&s, Value::Null).await;
    let (id, options) = ceremony(&r);
    let answer = key.get(&options);
    let flipped = if id.as_bytes()[20] == b'A' { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &id[..20], &id[21..]);
    let r = login_finish(&s, &tampered, answer.clone()).await;
    assert_eq!(r.error(), "invalid_challenge", "{}", r.body);
    let r = login_finish(&s, &"A".repeat(9000), answer.clone()).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(login_finish(&s, &id, answer).await.status, 200);

    // A bad body changes nothing: the ceremony is still there.
    let r = login_start(&s, Value::Null).await;
    let (id, options) = ceremony(&r);
    let bad = login_finish(&s, &id, json!({"id": "x"})).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(login_finish(&s, &id, key.get(&options)).await.status, 200);

    // A registration ceremony: once, and only for the session that started it.
    let t = signed_in_with(&s, &mut key).await;
    let other = signed_in_with(&s, &mut key).await;
    let mut second = authenticator();
    let (id, options) = register_start(&s, &t.access).await;
    let created = second.create(&options);
    let r = register_finish(&s, &other.access, &id, "Other", created.clone()).await;
    assert_eq!(r.error(), "invalid_challenge", "another session's ceremony");
    let (id, options) = register_start(&s, &t.access).await;
    let created = second.create(&options);
    assert_eq!(
        register_finish(&s, &t.access, &id, "Two", created.clone())
            .await
            .status,
        201
    );
    let again = register_finish(&s, &t.access, &id, "Two", created).await;
    assert_eq!(again.error(), "invalid_challenge");
    // A sign-in ceremony is no registration ceremony.
    let r = login_start(&s, Value::Null).await;
    let (login_id, _) = ceremony(&r);
    let (_, options) = register_start(&s, &t.access).await;
    let r = register_finish(&s, &t.access, &login_id, "Mixed", second.create(&options)).await;
    assert_eq!(r.error(), "invalid_challenge", "{}", r.body);
}

#[tokio::test]
async fn no_number_of_anonymous_starts_keeps_the_owner_from_signing_in() {
    // Loopback is the proxy naming the client; per-address limits as shipped.
    let s = Server::start_with(&[
        ("AUTH_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("AUTH_RATE_PER_MINUTE", "10"),
        ("AUTH_RATE_BURST", "5"),
    ])
    .await;
    let t = s.login().await;
    let mut key = authenticator();
    register(&s, &t.access, &mut key, "Key").await;
    // 5,000 starts from 2,500 /64s of one IPv6 /48: two each, within the burst.
    let starts = (0..5000u32).map(|n| {
        let (s, from) = (&s, format!("2001:db8:1:{:x}::1", n / 2));
        async move {
            let from = [("x-forwarded-for", from.as_str())];
            let r = s.post_with("/auth/passkeys/login/start", Value::Null, &from);
            r.await.status
        }
    });
    let statuses: Vec<_> = futures_util::stream::iter(starts)
        .buffer_unordered(32)
        .collect()
        .await;

    // The owner's own start, from the owner's address, signs in.
    let owner = [("x-forwarded-for", "198.51.100.1")];
    let r = s
        .post_with("/auth/passkeys/login/start", Value::Null, &owner)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (id, options) = ceremony(&r);
    let body = json!({"challenge_id": id, "credential": key.get(&options)});
    let r = s
        .post_with("/auth/passkeys/login/finish", body, &owner)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let refused = statuses.iter().filter(|s| **s != 200).count();
    assert_eq!(refused, 0, "no start is refused for the others' sake");
}

#[tokio::test]
async fn a_wrong_signature_or_an_unknown_key_is_refused_and_recorded() {
    let s = Server::start().await;
    let t = s.login().await;
    let mut key = authenticator();
    register(&s, &t.access, &mut key, "Key").await;
    key.bad_signature = true;
    let r = passkey_login(&s, &mut key).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.error(), "invalid_credentials");
    let mut stranger = authenticator();
    let r = passkey_login(&s, &mut stranger).await;
    assert_eq!(r.error(), "invalid_credentials", "{}", r.body);
    let events = s.get("/auth/events", Some(&t.access)).await.body;
    let failures: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "login_failure")
        .collect();
    assert_eq!(failures.len(), 2);
    assert!(failures[0]["detail"]
        .as_str()
        .unwrap()
        .contains("via=passkey"));
    key.bad_signature = false;
    assert_eq!(passkey_login(&s, &mut key).await.status, 200);
}

#[tokio::test]
async fn a_signature_counter_that_goes_backwards_is_refused_and_recorded() {
    let s = Server::start().await;
    let t = s.login().await;
    let mut key = authenticator();
    register(&s, &t.access, &mut key, "Key").await;
    assert_eq!(passkey_login(&s, &mut key).await.status, 200);
    let mut clone = key.clone();
    assert_eq!(passkey_login(&s, &mut key).await.status, 200);
    // The clone answers with the count the original already used.
    let r = passkey_login(&s, &mut clone).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("cloned"));
    let kinds = event_kinds(&s, &t.access).await;
    assert_eq!(kinds[..2], ["login_failure", "passkey_clone_suspected"]);
    assert_eq!(
        passkey_login(&s, &mut key).await.status,
        200,
        "the original still works"
    );
}

#[tokio::test]
async fn failed_passkeys_lock_the_address_like_wrong_passwords() {
    let s = Server::start_with(&[("AUTH_MAX_FAILED_ATTEMPTS", "3")]).await;
    let t = s.login().await;
    let mut key = authenticator();
    register(&s, &t.access, &mut key, "Key").await;
    let r = login_start(&s, Value::Null).await;
    let (waiting, waiting_options) = ceremony(&r);
    key.bad_signature = true;
    for _ in 0..3 {
        assert_eq!(passkey_login(&s, &mut key).await.status, 401);
    }
    key.bad_signature = false;
    let r = login_start(&s, Value::Null).await;
    assert_eq!(r.status, 423, "a locked address starts nothing: {}", r.body);
    assert_eq!(r.error(), "account_locked");
    assert!(r.headers.contains_key("retry-after"));
    let r = login_finish(&s, &waiting, key.get(&waiting_options)).await;
    assert_eq!(
        r.status, 423,
        "nor finishes what it started before: {}",
        r.body
    );
    assert_eq!(
        s.try_login("admin", PASSWORD).await.status,
        423,
        "the password too"
    );
    s.clock.advance(15 * 60);
    assert_eq!(passkey_login(&s, &mut key).await.status, 200);
}

#[tokio::test]
async fn adding_a_passkey_needs_a_recent_sign_in_or_the_password() {
    let s = Server::start().await;
    let t = s.login().await;
    let path = "/auth/passkeys/register/start";
    let r = s.post(path, Value::Null, Some(&t.access)).await;
    assert_eq!(r.status, 200, "no body, no password: {}", r.body);
    s.clock.advance(600);
    let r = s.post(path, Value::Null, Some(&t.access)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.error(), "reauth_required");
    let r = s
        .post(path, json!({"password": "wrong"}), Some(&t.access))
        .await;
    assert_eq!(r.error(), "invalid_credentials");
    let r = s
        .post(path, json!({ "password": PASSWORD }), Some(&t.access))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(path, Value::Null, None).await;
    assert_eq!(r.status, 401, "signed-in only");
}

#[tokio::test]
async fn passkey_logins_from_another_site_are_refused_uncounted() {
    let s = Server::start_with(&[("AUTH_MAX_FAILED_ATTEMPTS", "1")]).await;
    let evil = [("origin", "https://evil.example")];
    let r = s
        .post_with("/auth/passkeys/login/start", json!({}), &evil)
        .await;
    assert_eq!(r.error(), "csrf");
    let body = json!({"challenge_id": "x", "credential": {}});
    let r = s
        .post_with("/auth/passkeys/login/finish", body, &evil)
        .await;
    assert_eq!(r.error(), "csrf");
    s.login().await;
}

#[tokio::test]
async fn reset_passkeys_on_the_host_removes_them_and_revokes_sessions() {
    let s = Server::start().await;
    let t = s.login().await;
    let mut key = authenticator();
    register(&s, &t.access, &mut key, "Key").await;
    let mut s = s;
    s.stop().await;
    succeed(known(s.dir.path()).arg("reset-passkeys"));
    let s = s.restart().await;
    assert_eq!(s.get("/auth/me", Some(&t.access)).await.status, 401);
    assert_eq!(
        login_start(&s, Value::Null).await.error(),
        "passkeys_unavailable"
    );
    let t = s.login().await;
    assert!(passkeys(&s, &t.access).await.is_empty());
    assert!(event_kinds(&s, &t.access)
        .await
        .contains(&"passkey_removed".to_string()));
    register(&s, &t.access, &mut authenticator(), "New").await;
}

#[tokio::test]
async fn a_bare_ip_public_url_turns_passkeys_off_and_says_why() {
    let s = Server::start_with(&[("AUTH_PUBLIC_URL", "http://192.168.1.10:8001")]).await;
    let t = s.login().await;
    let writes = [
        ("/auth/passkeys/register/start", Some(t.access.as_str())),
        ("/auth/passkeys/login/start", None),
    ];
    for (path, bearer) in writes {
        let r = s.post(path, Value::Null, bearer).await;
        assert_eq!(r.status, 409, "{path}: {}", r.body);
        assert_eq!(r.error(), "passkeys_unavailable");
        assert!(r.body["message"].as_str().unwrap().contains("IP address"));
    }
    let r = s.get("/auth/passkeys", Some(&t.access)).await;
    assert_eq!(r.error(), "passkeys_unavailable");
    // Before what the request says is looked at.
    let finish = json!({"challenge_id": "x", "credential": {}});
    let r = s
        .post("/auth/passkeys/login/finish", finish.clone(), None)
        .await;
    assert_eq!(r.error(), "passkeys_unavailable", "{}", r.body);
    let r = s
        .post(
            "/auth/passkeys/register/finish",
            json!({"challenge_id": "x", "name": "x", "credential": {}}),
            Some(&t.access),
        )
        .await;
    assert_eq!(r.error(), "passkeys_unavailable", "{}", r.body);
    let r = s
        .patch("/auth/passkeys/AAAA", json!({"name": "x"}), Some(&t.access))
        .await;
    assert_eq!(r.error(), "passkeys_unavailable", "{}", r.body);
    let r = login_start(&s, json!({"mfa_token": "bogus"})).await;
    assert_eq!(r.error(), "passkeys_unavailable", "{}", r.body);
}

#[tokio::test]
async fn a_username_with_spaces_still_gets_passkeys() {
    let s = Server::start_with(&[("AUTH_ADMIN_USERNAME", "Jane Doe")]).await;
    let r = s.try_login("Jane Doe", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t = Tokens::from(&r.body);
    let (id, options) = register_start(&s, &t.access).await;
    assert_eq!(options["user"]["displayName"], "Jane Doe");
    assert_eq!(
        options["user"]["name"], "admin",
        "WebAuthn names take no spaces"
    );
    let mut key = authenticator();
    let r = register_finish(&s, &t.access, &id, "Key", key.create(&options)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(passkey_login(&s, &mut key).await.status, 200);
}

#[tokio::test]
async fn the_same_passkey_twice_is_a_conflict() {
    let s = Server::start().await;
    let t = s.login().await;
    let mut key = authenticator();
    register(&s, &t.access, &mut key, "Key").await;
    let (id, options) = register_start(&s, &t.access).await;
    let r = register_finish(&s, &t.access, &id, "Again", key.create(&options)).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.error(), "passkey_already_registered");
    assert_eq!(passkeys(&s, &t.access).await.len(), 1);
}

#[test]
fn an_impossible_rp_id_stops_start_up_and_check_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("10.0.0.7", "is an IP address"),
        ("example.org", "nor a parent domain"),
    ];
    for (rp_id, why) in cases {
        for command in [None, Some("check")] {
            let mut cmd = binary();
            cmd.env("AUTH_DATA_DIR", dir.path())
                .env("AUTH_PUBLIC_URL", "https://auth.example.com")
                .env("AUTH_WEBAUTHN_RP_ID", rp_id);
            if let Some(c) = command {
                cmd.arg(c);
            }
            let out = cmd.output().unwrap();
            assert!(!out.status.success(), "{rp_id} {command:?}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("AUTH_WEBAUTHN_RP_ID"), "{stderr}");
            assert!(stderr.contains(why), "{rp_id}: {stderr}");
        }
    }
}

/// Traefik asking about `host`/ with the browser's access cookie or a
/// script's Bearer token, as a navigation or not.
async fn ask(
    s: &Server,
    host: &str,
    cookie: Option<&str>,
    bearer: Option<&str>,
    html: bool,
) -> Reply {
    let cookie = cookie.map(|access| format!("soloauth_access={access}"));
    let bearer = bearer.map(|token| format!("Bearer {token}"));
    let accept = if html {
        "text/html"
    } else {
        "application/json"
    };
    let mut headers = vec![
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", host),
        ("x-forwarded-uri", "/"),
        ("accept", accept),
    ];
    headers.extend(cookie.as_deref().map(|c| ("cookie", c)));
    headers.extend(bearer.as_deref().map(|b| ("authorization", b)));
    verify(s, &headers).await
}

#[tokio::test]
async fn a_passkey_app_lets_in_only_a_session_that_signed_in_with_a_passkey() {
    let rules = "passkey vault.example.com; two_factor admin.example.com";
    let s =
        Server::start_with(&[("AUTH_RULES", rules), ("AUTH_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let (password_only, enrolled) = sign_in_and_enroll(&s, &s.clock).await;
    s.clock.advance(30);
    let r = one_step_login(&s, PASSWORD, &code(&enrolled.secret, s.clock.now())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let with_code = Tokens::from(&r.body);
    let mut key = authenticator();
    register(&s, &with_code.access, &mut key, "Laptop").await;
    let r = passkey_login(&s, &mut key).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let with_passkey = Tokens::from(&r.body);
    let body = json!({"name": "backup script"});
    let token = s.post("/auth/tokens", body, Some(&with_code.access)).await;
    let token = token.body["token"].as_str().unwrap().to_string();

    for (who, access) in [
        ("password", &password_only.access),
        ("code", &with_code.access),
    ] {
        let r = ask(&s, "vault.example.com", Some(access), None, false).await;
        assert_eq!(
            (r.status.as_u16(), r.error()),
            (403, "passkey_required"),
            "{who}"
        );
        let r = ask(&s, "vault.example.com", Some(access), None, true).await;
        assert_eq!(r.status, 302, "{who}");
        let location = r.headers["location"].to_str().unwrap();
        assert!(location.contains("need=passkey"), "{location}");
    }
    let r = ask(&s, "vault.example.com", None, Some(&token), false).await;
    assert_eq!(
        (r.status.as_u16(), r.error()),
        (403, "passkey_required"),
        "an API token"
    );
    let r = ask(
        &s,
        "vault.example.com",
        Some(&with_passkey.access),
        None,
        false,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["remote-session"], with_passkey.sid.as_str());
    // The passkey session behind a weaker cookie is still found.
    let cookies = format!(
        "soloauth_access={}; soloauth_access={}",
        with_code.access, with_passkey.access
    );
    let req = s.http.get(s.url("/auth/verify")).header("cookie", cookies);
    let req = req
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "vault.example.com")
        .header("x-forwarded-uri", "/");
    assert_eq!(s.send(req).await.status, 200);
    // A passkey is a second factor too.
    let r = ask(
        &s,
        "admin.example.com",
        Some(&with_passkey.access),
        None,
        false,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}
