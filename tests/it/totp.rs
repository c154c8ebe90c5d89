//! The second factor over HTTP: enrollment, two-step login, replay, recovery
//! codes, regenerate, disable, env-managed TOTP, key rotation, restarts, and
//! that the data directory holds no plaintext secret.

use base64::Engine;
use serde_json::json;
use soloauth::auth::totp;

use crate::common::{
    begin, code, code_step, confirm, disable, known, one_step_login, password_hash, password_step,
    recovery_codes, regenerate, setup, sign_in_and_enroll, succeed, try_confirm, wrong_code,
    Server, Tokens, PASSWORD,
};

/// Both steps with the current code; steps the clock past it.
async fn two_step_login(s: &Server, secret: &[u8]) -> Tokens {
    let token = password_step(s).await;
    let r = code_step(s, &token, json!({"code": code(secret, s.clock.now())})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.clock.advance(30);
    Tokens::from(&r.body)
}

#[tokio::test]
async fn enroll_confirm_then_log_in_in_two_steps_or_one() {
    let s = Server::start().await;
    let t = s.login().await;
    let reply = setup(&s, &t.access, None).await;
    assert_eq!(reply.status, 200);
    let secret_b32 = reply.body["secret"].as_str().unwrap();
    assert_eq!(secret_b32.len(), 32, "160 bits");
    let uri = reply.body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/soloauth:admin?"), "{uri}");
    assert!(uri.contains(&format!("secret={secret_b32}")) && uri.contains("issuer=soloauth"));
    let data_url = reply.body["qr_png"].as_str().unwrap();
    let png = base64::engine::general_purpose::STANDARD
        .decode(data_url.strip_prefix("data:image/png;base64,").unwrap())
        .unwrap();
    assert_eq!(&png[..4], b"\x89PNG");
    let qr = s.get("/auth/totp/qr.png", Some(&t.access)).await;
    assert_eq!(qr.status, 200);
    assert_eq!(qr.headers["content-type"], "image/png");

    let secret = totp::decode_base32(secret_b32).unwrap().to_vec();
    let codes = confirm(&s, &t.access, &code(&secret, s.clock.now())).await;
    assert_eq!(codes.len(), 10);
    let me = s.get("/auth/me", Some(&t.access)).await.body;
    assert_eq!(me["totp_enabled"], true);
    assert_eq!(me["recovery_codes_remaining"], 10);
    s.clock.advance(30);

    let tokens = two_step_login(&s, &secret).await;
    let me = s.get("/auth/me", Some(&tokens.access)).await.body;
    assert_eq!(me["amr"], json!(["pwd", "otp"]));

    let r = one_step_login(&s, PASSWORD, &code(&secret, s.clock.now())).await;
    assert_eq!(r.status, 200, "one-step login: {}", r.body);
    assert_eq!(r.body["user"]["totp_enabled"], true);
}

#[tokio::test]
async fn wrong_codes_are_refused_and_change_nothing() {
    let s = Server::start().await;
    let t = s.login().await;
    let secret = begin(&s, &t.access).await;
    let wrong = wrong_code(&secret, s.clock.now());
    let r = try_confirm(&s, &t.access, &wrong).await;
    assert_eq!((r.status.as_u16(), r.error()), (401, "invalid_code"));
    assert_eq!(
        s.get("/auth/me", Some(&t.access)).await.body["totp_enabled"],
        false
    );
    // The right code still confirms afterwards.
    confirm(&s, &t.access, &code(&secret, s.clock.now())).await;
    s.clock.advance(30);

    let mfa = password_step(&s).await;
    let wrong = wrong_code(&secret, s.clock.now());
    let r = code_step(&s, &mfa, json!({ "code": wrong })).await;
    assert_eq!((r.status.as_u16(), r.error()), (401, "invalid_code"));
    // A typo is forgiven: the same token takes the right code.
    let r = code_step(&s, &mfa, json!({"code": code(&secret, s.clock.now())})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.clock.advance(30);
    let mfa = password_step(&s).await;
    let r = code_step(&s, &mfa, json!({"recovery_code": "AAAAA-AAAAA"})).await;
    assert_eq!(r.error(), "invalid_code");
    // The right code was not spent by any of that.
    let r = code_step(&s, &mfa, json!({"code": code(&secret, s.clock.now())})).await;
    assert_eq!(r.status, 200);
    // Single use after success too.
    s.clock.advance(30);
    let r = code_step(&s, &mfa, json!({"code": code(&secret, s.clock.now())})).await;
    assert_eq!((r.status.as_u16(), r.error()), (401, "invalid_token"));
    // A one-step login with a wrong code.
    let r = one_step_login(&s, PASSWORD, &wrong_code(&secret, s.clock.now())).await;
    assert_eq!((r.status.as_u16(), r.error()), (401, "invalid_code"));
    // Neither or both factors: 400.
    let mfa = password_step(&s).await;
    for body in [json!({}), json!({"code": "1", "recovery_code": "2"})] {
        assert_eq!(code_step(&s, &mfa, body).await.status, 400);
    }
}

#[tokio::test]
async fn mfa_tokens_expire_and_are_no_access_tokens() {
    let s = Server::start().await;
    let (t, e) = sign_in_and_enroll(&s, &s.clock).await;
    let mfa = password_step(&s).await;
    assert_eq!(
        s.get("/auth/me", Some(&mfa)).await.status,
        401,
        "not an access token"
    );
    let c = code(&e.secret, s.clock.now());
    let r = code_step(&s, &t.access, json!({ "code": c })).await;
    assert_eq!(
        r.error(),
        "invalid_token",
        "an access token is not an mfa_token"
    );
    s.clock.advance(301);
    let r = code_step(&s, &mfa, json!({"code": code(&e.secret, s.clock.now())})).await;
    assert_eq!(r.error(), "invalid_token", "expired");
    // An empty totp_code is no code at all: the answer is mfa_required.
    let r = one_step_login(&s, PASSWORD, "").await;
    assert_eq!(r.error(), "mfa_required");
}

#[tokio::test]
async fn two_logins_with_one_code_at_once_have_one_winner() {
    let s = Server::start().await;
    let (_, e) = sign_in_and_enroll(&s, &s.clock).await;
    let c = code(&e.secret, s.clock.now());
    let tokens = futures_util::future::join_all((0..4).map(|_| password_step(&s))).await;
    let replies =
        futures_util::future::join_all(tokens.iter().map(|m| code_step(&s, m, json!({"code": c}))))
            .await;
    assert_eq!(replies.iter().filter(|r| r.status == 200).count(), 1);
    let form_like = one_step_login(&s, PASSWORD, &c).await;
    assert_eq!(
        form_like.error(),
        "invalid_code",
        "and it is spent for one-step logins too"
    );
}

#[tokio::test]
async fn form_login_takes_a_totp_code_too() {
    let s = Server::start().await;
    let (_, e) = sign_in_and_enroll(&s, &s.clock).await;
    let r = s
        .send(s.http.post(s.url("/auth/login")).form(&[
            ("username", "admin"),
            ("password", PASSWORD),
            ("totp_code", &code(&e.secret, s.clock.now())),
        ]))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn a_code_works_once_even_across_restarts_and_the_confirm_step_counts() {
    let s = Server::start().await;
    let t = s.login().await;
    let secret = begin(&s, &t.access).await;
    let confirm_code = code(&secret, s.clock.now());
    confirm(&s, &t.access, &confirm_code).await;
    let mfa = password_step(&s).await;
    let r = code_step(&s, &mfa, json!({"code": confirm_code})).await;
    assert_eq!(r.error(), "invalid_code", "the confirm code is spent");
    s.clock.advance(30);
    let fresh = code(&secret, s.clock.now());
    let mfa = password_step(&s).await;
    assert_eq!(
        code_step(&s, &mfa, json!({"code": fresh})).await.status,
        200
    );
    let s = s.restart().await;
    let mfa = password_step(&s).await;
    let r = code_step(&s, &mfa, json!({"code": fresh})).await;
    assert_eq!(r.error(), "invalid_code", "replay refused after a restart");
    // A code from a step before the last used one is refused too.
    let earlier = code(&secret, s.clock.now() - 30);
    let mfa = password_step(&s).await;
    assert_eq!(
        code_step(&s, &mfa, json!({"code": earlier})).await.error(),
        "invalid_code"
    );
}

#[tokio::test]
async fn a_refused_password_leaves_the_code_usable() {
    let s = Server::start().await;
    let (_, e) = sign_in_and_enroll(&s, &s.clock).await;
    let c = code(&e.secret, s.clock.now());
    let r = one_step_login(&s, "wrong", &c).await;
    assert_eq!(r.error(), "invalid_credentials");
    let r = one_step_login(&s, PASSWORD, &c).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn recovery_codes_work_once_in_any_case_spacing_or_dashes() {
    let s = Server::start().await;
    let (_, e) = sign_in_and_enroll(&s, &s.clock).await;
    let typed = e.codes[0].to_lowercase().replace('-', " ");
    let mfa = password_step(&s).await;
    let r = code_step(&s, &mfa, json!({"recovery_code": typed})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let me = s
        .get("/auth/me", Some(&Tokens::from(&r.body).access))
        .await
        .body;
    assert_eq!(me["recovery_codes_remaining"], 9);
    let mfa = password_step(&s).await;
    let r = code_step(&s, &mfa, json!({"recovery_code": e.codes[0]})).await;
    assert_eq!(r.error(), "invalid_code", "used once");
    // Concurrent use of one code: exactly one wins.
    let tokens = futures_util::future::join_all((0..4).map(|_| password_step(&s))).await;
    let replies = futures_util::future::join_all(
        tokens
            .iter()
            .map(|m| code_step(&s, m, json!({"recovery_code": e.codes[1]}))),
    )
    .await;
    assert_eq!(replies.iter().filter(|r| r.status == 200).count(), 1);
}

#[tokio::test]
async fn regenerating_voids_old_codes_and_revokes_other_sessions() {
    let s = Server::start().await;
    let (t, e) = sign_in_and_enroll(&s, &s.clock).await;
    let other = two_step_login(&s, &e.secret).await;
    let r = regenerate(&s, &t.access, &wrong_code(&e.secret, s.clock.now())).await;
    assert_eq!(r.error(), "invalid_code");
    let r = regenerate(&s, &t.access, &code(&e.secret, s.clock.now())).await;
    assert_eq!(r.status, 200);
    s.clock.advance(30);
    let fresh = recovery_codes(&r.body);
    assert_eq!(fresh.len(), 10);
    assert_eq!(
        s.get("/auth/me", Some(&other.access)).await.status,
        401,
        "other session revoked"
    );
    assert_eq!(
        s.get("/auth/me", Some(&t.access)).await.status,
        200,
        "this one kept"
    );
    let mfa = password_step(&s).await;
    assert_eq!(
        code_step(&s, &mfa, json!({"recovery_code": e.codes[2]}))
            .await
            .error(),
        "invalid_code",
        "old codes void"
    );
    let mfa = password_step(&s).await;
    assert_eq!(
        code_step(&s, &mfa, json!({"recovery_code": fresh[0]}))
            .await
            .status,
        200
    );
}

/// New recovery codes take the current code, as the API always has: an
/// older sign-in needs nothing more (the code is the proof, behind the
/// lockout).
#[tokio::test]
async fn new_recovery_codes_need_the_code_not_a_recent_sign_in() {
    let s = Server::start().await;
    let (t, e) = sign_in_and_enroll(&s, &s.clock).await;
    s.clock.advance(601);
    let r = regenerate(&s, &t.access, &code(&e.secret, s.clock.now())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(recovery_codes(&r.body).len(), 10);
}

#[tokio::test]
async fn disabling_needs_password_and_code_and_revokes_other_sessions() {
    let s = Server::start().await;
    let (t, e) = sign_in_and_enroll(&s, &s.clock).await;
    let other = two_step_login(&s, &e.secret).await;
    let r = disable(&s, &t.access, "wrong", &code(&e.secret, s.clock.now())).await;
    assert_eq!(r.error(), "invalid_credentials");
    let wrong = wrong_code(&e.secret, s.clock.now());
    let r = disable(&s, &t.access, PASSWORD, &wrong).await;
    assert_eq!(r.error(), "invalid_code");
    let r = disable(&s, &t.access, PASSWORD, &code(&e.secret, s.clock.now())).await;
    assert_eq!(r.status, 204);
    assert_eq!(s.get("/auth/me", Some(&other.access)).await.status, 401);
    let me = s.get("/auth/me", Some(&t.access)).await.body;
    assert_eq!(
        (
            me["totp_enabled"].clone(),
            me["recovery_codes_remaining"].clone()
        ),
        (json!(false), json!(0))
    );
    assert_eq!(
        s.try_login("admin", PASSWORD).await.status,
        200,
        "password alone again"
    );
    let wrong = wrong_code(&e.secret, s.clock.now());
    let r = disable(&s, &t.access, PASSWORD, &wrong).await;
    assert_eq!((r.status.as_u16(), r.error()), (409, "totp_not_enabled"));
}

#[tokio::test]
async fn enrollment_state_conflicts_and_pending_expiry() {
    let s = Server::start().await;
    let t = s.login().await;
    let r = try_confirm(&s, &t.access, "123456").await;
    assert_eq!((r.status.as_u16(), r.error()), (409, "totp_not_enabled"));
    let r = regenerate(&s, &t.access, "123456").await;
    assert_eq!(r.error(), "totp_not_enabled");
    let secret = begin(&s, &t.access).await;
    s.clock.advance(601);
    let late = code(&secret, s.clock.now());
    let r = try_confirm(&s, &t.access, &late).await;
    assert_eq!(
        r.error(),
        "totp_not_enabled",
        "a pending enrollment expires after 10 minutes"
    );
    // A fresh sign-in: the first one is now older than AUTH_REAUTH_SECONDS.
    let (t, e) = sign_in_and_enroll(&s, &s.clock).await;
    assert!(!e.codes.is_empty());
    let r = setup(&s, &t.access, None).await;
    assert_eq!(
        (r.status.as_u16(), r.error()),
        (409, "totp_already_enabled")
    );
    for path in [
        "/auth/totp/setup",
        "/auth/totp/confirm",
        "/auth/totp/disable",
        "/auth/recovery-codes",
    ] {
        assert_eq!(
            s.post(path, json!({"code": "1"}), None).await.status,
            401,
            "{path} needs auth"
        );
    }
}

#[tokio::test]
async fn env_managed_totp_is_on_from_start_and_refuses_enrollment() {
    let secret_b32 = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    let s = Server::start_with(&[("AUTH_TOTP_SECRET", secret_b32)]).await;
    let secret = totp::decode_base32(secret_b32).unwrap().to_vec();
    let t = two_step_login(&s, &secret).await;
    assert_eq!(
        s.get("/auth/me", Some(&t.access)).await.body["totp_enabled"],
        true
    );
    let now_code = code(&secret, s.clock.now());
    for (path, body) in [
        ("/auth/totp/setup", json!(null)),
        ("/auth/totp/confirm", json!({ "code": now_code })),
    ] {
        let r = s.post(path, body, Some(&t.access)).await;
        assert_eq!(
            (r.status.as_u16(), r.error()),
            (409, "totp_managed_by_env"),
            "{path}"
        );
    }
    let r = s.get("/auth/totp/qr.png", Some(&t.access)).await;
    assert_eq!(r.error(), "totp_managed_by_env");
    let r = disable(&s, &t.access, PASSWORD, &code(&secret, s.clock.now())).await;
    assert_eq!(r.error(), "totp_managed_by_env");
    // Recovery codes can still be made for an env-managed secret.
    let r = regenerate(&s, &t.access, &code(&secret, s.clock.now())).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn totp_state_survives_restart_and_key_rotation() {
    let (old_key, new_key) = (
        fernet::Fernet::generate_key(),
        fernet::Fernet::generate_key(),
    );
    let s = Server::start_with(&[("AUTH_ENCRYPTION_KEY", &old_key)]).await;
    let (_, e) = sign_in_and_enroll(&s, &s.clock).await;
    let s = s.restart().await;
    two_step_login(&s, &e.secret).await;
    // New key first, old key still listed: everything still decrypts.
    let both = format!("{new_key},{old_key}");
    let mut s = s.restart_with(&[("AUTH_ENCRYPTION_KEY", &both)]).await;
    two_step_login(&s, &e.secret).await;
    // rotate-keys on the host, with the server stopped.
    s.stop().await;
    succeed(
        known(s.dir.path())
            .arg("rotate-keys")
            .env("AUTH_ENCRYPTION_KEY", &both),
    );
    // Only the new key now: TOTP and recovery codes still work.
    let s = s.restart_with(&[("AUTH_ENCRYPTION_KEY", &new_key)]).await;
    two_step_login(&s, &e.secret).await;
    let mfa = password_step(&s).await;
    assert_eq!(
        code_step(&s, &mfa, json!({"recovery_code": e.codes[0]}))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_key_that_cannot_decrypt_stops_the_start_with_advice() {
    let s = Server::start_with(&[("AUTH_ENCRYPTION_KEY", &fernet::Fernet::generate_key())]).await;
    sign_in_and_enroll(&s, &s.clock).await;
    let mut s = s;
    s.stop().await;
    let mut env = std::collections::HashMap::new();
    env.insert(
        "AUTH_DATA_DIR".to_string(),
        s.dir.path().to_str().unwrap().to_string(),
    );
    env.insert(
        "AUTH_ADMIN_PASSWORD_HASH".to_string(),
        password_hash().to_string(),
    );
    env.insert(
        "AUTH_ENCRYPTION_KEY".to_string(),
        fernet::Fernet::generate_key(),
    );
    let config = soloauth::base::config::Config::from_lookup(&|n| env.get(n).cloned()).unwrap();
    let err = soloauth::App::open(config, soloauth::base::clock::Clock::System)
        .err()
        .unwrap();
    assert!(
        err.contains("rotate-keys") && err.contains("reset-totp"),
        "{err}"
    );
}

#[tokio::test]
async fn a_new_key_is_fine_while_nothing_was_encrypted_with_the_old() {
    let s = Server::start_with(&[("AUTH_ENCRYPTION_KEY", &fernet::Fernet::generate_key())]).await;
    s.login().await;
    let s = s
        .restart_with(&[("AUTH_ENCRYPTION_KEY", &fernet::Fernet::generate_key())])
        .await;
    let (_, e) = sign_in_and_enroll(&s, &s.clock).await;
    assert_eq!(e.codes.len(), 10);
}

#[tokio::test]
async fn reset_totp_on_the_host_turns_it_off_and_revokes_sessions() {
    let s = Server::start().await;
    let (t, _) = sign_in_and_enroll(&s, &s.clock).await;
    let mut s = s;
    s.stop().await;
    succeed(known(s.dir.path()).arg("reset-totp"));
    let s = s.restart().await;
    assert_eq!(
        s.get("/auth/me", Some(&t.access)).await.status,
        401,
        "sessions revoked"
    );
    let r = s.try_login("admin", PASSWORD).await;
    assert_eq!(r.status, 200, "password alone after a reset");
    assert_eq!(r.body["user"]["totp_enabled"], false);
}

#[tokio::test]
async fn the_data_dir_holds_no_plaintext_secret_or_recovery_code() {
    let mut s = Server::start().await;
    let (t, e) = sign_in_and_enroll(&s, &s.clock).await;
    // A pending enrollment too (after disabling), so both records are on disk.
    let r = disable(&s, &t.access, PASSWORD, &code(&e.secret, s.clock.now())).await;
    assert_eq!(r.status, 204);
    let pending = setup(&s, &t.access, None).await;
    let pending_b32 = pending.body["secret"].as_str().unwrap().to_string();
    s.stop().await;
    let mut needles: Vec<Vec<u8>> = vec![
        totp::to_base32(&e.secret).into_bytes(),
        e.secret.clone(),
        pending_b32.clone().into_bytes(),
        totp::decode_base32(&pending_b32).unwrap().to_vec(),
    ];
    for c in &e.codes {
        needles.push(c.clone().into_bytes());
        needles.push(c.replace('-', "").into_bytes());
    }
    let mut stack = vec![s.dir.path().to_path_buf()];
    let mut files = 0;
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        files += 1;
        let bytes = std::fs::read(&path).unwrap();
        for needle in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "plaintext secret in {}",
                path.display()
            );
        }
    }
    assert!(files > 3, "looked at the database files");
}

/// The QR code decodes (zbarimg) to the exact URI, and a code from an
/// independent generator (oathtool) confirms the enrollment. `scripts/test.sh`
/// installs both and sets SOLOAUTH_REQUIRE_TOOLS=1, which makes their absence
/// a failure instead of a skip.
#[tokio::test]
async fn qr_decodes_with_zbarimg_and_oathtool_codes_are_accepted() {
    let have = |tool: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !(have("zbarimg") && have("oathtool")) {
        assert!(
            std::env::var("SOLOAUTH_REQUIRE_TOOLS").is_err(),
            "zbarimg and oathtool are required (apt-get install zbar-tools oathtool)"
        );
        eprintln!("skipping: zbarimg or oathtool not installed");
        return;
    }
    // Real time here: oathtool computes the code for now.
    let s = Server::start().await;
    s.clock
        .advance(soloauth::base::clock::Clock::System.now() - s.clock.now());
    let t = s.login().await;
    let reply = setup(&s, &t.access, None).await;
    let uri = reply.body["otpauth_uri"].as_str().unwrap().to_string();
    let raw = s
        .http
        .get(s.url("/auth/totp/qr.png"))
        .bearer_auth(&t.access)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let data_url = reply.body["qr_png"].as_str().unwrap();
    let from_setup = base64::engine::general_purpose::STANDARD
        .decode(data_url.strip_prefix("data:image/png;base64,").unwrap())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, png) in [("qr.png", raw.to_vec()), ("setup.png", from_setup)] {
        let file = dir.path().join(name);
        std::fs::write(&file, &png).unwrap();
        let out = std::process::Command::new("zbarimg")
            .args(["--raw", "-q"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), uri, "{name}");
    }
    let secret_b32 = reply.body["secret"].as_str().unwrap();
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", secret_b32])
        .output()
        .unwrap();
    let oath_code = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let r = try_confirm(&s, &t.access, &oath_code).await;
    assert_eq!(r.status, 200, "oathtool's code: {}", r.body);
}
