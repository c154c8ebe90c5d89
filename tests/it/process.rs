//! The real binary: first run, production fail-fast, kill -9, SIGTERM, logs
//! that hold no secret, and the CLI.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use soloauth::auth::totp;
use soloauth::base::clock::Clock;

use crate::common::{
    binary, code_step, data_dir, known, one_step_login, password_hash, password_step, serve,
    sign_in_and_enroll, wrong_code, Process, Tokens, PASSWORD,
};

/// Starts the binary on `dir` with the test password's hash.
fn start_known(dir: &std::path::Path) -> Process {
    Process::start(known(dir))
}

fn generated_password(logs: &str) -> String {
    logs.lines()
        .find_map(|l| l.trim().strip_prefix("admin password: "))
        .expect("the first run prints the admin password")
        .to_string()
}

#[tokio::test]
async fn first_run_generates_secrets_prints_password_once_and_restart_reuses_all() {
    use std::os::unix::fs::PermissionsExt;
    let dir = data_dir();
    let first = Process::start(serve(dir.path()));
    let password = generated_password(&first.all_logs());
    let r = first.try_login("admin", &password).await;
    assert_eq!(r.status, 200);
    let t = Tokens::from(&r.body);
    for file in ["jwt_secret", "encryption_key", "admin_password_hash"] {
        let meta = std::fs::metadata(dir.path().join(file)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{file}");
    }
    let hash = std::fs::read_to_string(dir.path().join("admin_password_hash")).unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert!(!hash.contains(&password));
    drop(first);

    let second = Process::start(serve(dir.path()));
    let logs = second.all_logs();
    assert!(
        !logs.contains("admin password"),
        "printed only on the first run"
    );
    assert!(!logs.contains(&password));
    assert_eq!(
        second.get("/auth/me", Some(&t.access)).await.status,
        200,
        "tokens survive a restart"
    );
    let r = second.try_login("admin", &password).await;
    assert_eq!(r.status, 200, "the same password still works");
}

#[test]
fn production_refuses_to_start_and_names_every_missing_secret() {
    let dir = data_dir();
    let out = serve(dir.path())
        .env("AUTH_ENV", "production")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for name in [
        "AUTH_ADMIN_PASSWORD_HASH",
        "AUTH_JWT_SECRET",
        "AUTH_ENCRYPTION_KEY",
    ] {
        assert!(stderr.contains(name), "{name} not named in: {stderr}");
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing generated"
    );
    // A short JWT secret is named too, alongside the others.
    let out = serve(dir.path())
        .env("AUTH_ENV", "production")
        .env("AUTH_JWT_SECRET", "too-short")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at least 32 bytes"), "{stderr}");
    assert!(
        !stderr.contains("too-short"),
        "the secret itself is not echoed"
    );
}

#[tokio::test]
async fn production_starts_with_every_secret_given() {
    let dir = data_dir();
    let key = fernet::Fernet::generate_key();
    let mut cmd = known(dir.path());
    cmd.env("AUTH_ENV", "production")
        .env("AUTH_JWT_SECRET", "p".repeat(40))
        .env("AUTH_ENCRYPTION_KEY", &key);
    let p = Process::start(cmd);
    let r = p.try_login("admin", PASSWORD).await;
    assert_eq!(r.status, 200);
    assert!(
        !dir.path().join("jwt_secret").exists(),
        "nothing generated in production"
    );
}

#[tokio::test]
async fn kill_9_right_after_a_refresh_loses_nothing() {
    let dir = data_dir();
    // No grace period: the real clock cannot be moved past it.
    let start = |dir: &std::path::Path| {
        let mut cmd = known(dir);
        cmd.env("AUTH_REFRESH_GRACE_SECONDS", "0");
        Process::start(cmd)
    };
    let mut p = start(dir.path());
    let mut t = p.login().await;
    for round in 0..3 {
        let old = t.clone();
        let r = p.refresh(&t.refresh).await;
        assert_eq!(r.status, 200);
        t = Tokens::from(&r.body);
        p.kill9();
        p = start(dir.path());
        let r = p.refresh(&old.refresh).await;
        assert_eq!(
            (r.status.as_u16(), r.error()),
            (401, "token_reused"),
            "round {round}"
        );
        // That reuse revoked the session, durably: log in again for the next round.
        p.kill9();
        p = start(dir.path());
        let r = p.refresh(&t.refresh).await;
        assert_eq!(r.status, 401, "revocation survived kill -9");
        t = p.login().await;
    }
    // And a rotation acknowledged just before kill -9 is the one that works after.
    let acknowledged = Tokens::from(&p.refresh(&t.refresh).await.body);
    p.kill9();
    let p = start_known(dir.path());
    let r = p.refresh(&acknowledged.refresh).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let dir = data_dir();
    let mut p = start_known(dir.path());
    let t = p.login().await;
    let pid = p.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = p.child.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    p.logs_with(&["soloauth stopped"]).await;
    let p = start_known(dir.path());
    assert_eq!(p.get("/auth/me", Some(&t.access)).await.status, 200);
}

#[tokio::test]
async fn no_secret_ever_reaches_the_logs() {
    let dir = data_dir();
    let jwt_secret = "s".repeat(48);
    let mut cmd = known(dir.path());
    cmd.env("AUTH_JWT_SECRET", &jwt_secret)
        .env("RUST_LOG", "trace");
    let p = Process::start(cmd);
    let t = p.login().await;
    p.try_login("admin", "wrong-password-123").await;
    p.try_login("not-admin", PASSWORD).await;
    let t2 = Tokens::from(&p.refresh(&t.refresh).await.body);
    p.refresh(&t.refresh).await;
    p.get("/auth/me", Some(&t2.access)).await;
    p.post("/auth/logout", Value::Null, Some(&t2.access)).await;
    // Auth decisions are logged (and only then is it worth searching them).
    let logs = p.logs_with(&["login_success", "login_failure"]).await;
    let key = std::fs::read_to_string(dir.path().join("encryption_key")).unwrap();
    let hash = password_hash();
    let hash_tail = hash.rsplit('$').next().unwrap();
    for (what, secret) in [
        ("password", PASSWORD),
        ("wrong password", "wrong-password-123"),
        ("hash", hash),
        ("hash output", hash_tail),
        ("jwt secret", jwt_secret.as_str()),
        ("encryption key", key.trim()),
        ("access token", t.access.as_str()),
        ("refresh token", t.refresh.as_str()),
        ("refresh secret part", t.refresh.split('.').nth(1).unwrap()),
        ("rotated refresh token", t2.refresh.as_str()),
        (
            "access token signature",
            t2.access.rsplit('.').next().unwrap(),
        ),
    ] {
        assert!(!logs.contains(secret), "{what} found in the logs");
    }
}

fn run(cmd: &mut Command, stdin: &str) -> (bool, String, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn hash_password_output_logs_in() {
    let (ok, hash, _) = run(binary().arg("hash-password"), "my new long password\n");
    assert!(ok);
    let hash = hash.trim();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    let dir = data_dir();
    let mut cmd = serve(dir.path());
    cmd.env("AUTH_ADMIN_PASSWORD_HASH", hash);
    let p = Process::start(cmd);
    let r = p.try_login("admin", "my new long password").await;
    assert_eq!(r.status, 200);
    let (ok, _, err) = run(binary().arg("hash-password"), "");
    assert!(!ok, "an empty password is refused: {err}");
}

#[tokio::test]
async fn gen_secrets_prints_a_working_production_config() {
    let (ok, out, _) = run(binary().arg("gen-secrets"), "");
    assert!(ok);
    let dir = data_dir();
    let mut cmd = serve(dir.path());
    cmd.env("AUTH_ENV", "production");
    let mut password = String::new();
    let mut client_secret = None;
    for line in out.lines() {
        if let Some(p) = line.strip_prefix("#   ") {
            password = p.trim().to_string();
        } else if let Some(rest) = line.strip_prefix("# a client secret for an OIDC app") {
            client_secret = rest.rsplit_once(": ").map(|(_, s)| s.to_string());
        } else if let Some((k, v)) = line.split_once('=') {
            cmd.env(k, v.trim_matches('\''));
        }
    }
    let (ok, check_out, check_err) = run(
        serve(dir.path()).arg("check").env("AUTH_ENV", "production"),
        "",
    );
    assert!(!ok, "check fails without the secrets: {check_out}");
    assert!(check_err.contains("AUTH_JWT_SECRET"));
    // Its client secret is one an app may have.
    cmd.env("AUTH_OIDC_CLIENT_APP_ID", "app")
        .env("AUTH_OIDC_CLIENT_APP_SECRET", client_secret.unwrap())
        .env(
            "AUTH_OIDC_CLIENT_APP_REDIRECT_URIS",
            "https://app.example.com/cb",
        )
        .env("AUTH_ADMIN_EMAIL", "owner@example.com");
    let p = Process::start(cmd);
    let r = p.try_login("admin", &password).await;
    assert_eq!(r.status, 200);
}

#[test]
fn check_in_production_refuses_the_env_example_placeholders_by_name() {
    let dir = data_dir();
    // The secrets .env.example holds, as docker compose reads them (the
    // quotes around the hash taken off).
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example")).unwrap();
    let example: Vec<(String, String)> = text
        .lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(name, _)| name.starts_with("AUTH_"))
        .map(|(name, value)| (name.to_string(), value.trim_matches('\'').to_string()))
        .collect();
    assert!(example.len() >= 3, "{example:?}");
    let mut cmd = serve(dir.path());
    cmd.arg("check")
        .env("AUTH_ENV", "production")
        .envs(example.iter().map(|(k, v)| (k, v)));
    let (ok, _, err) = run(&mut cmd, "");
    assert!(!ok, "{err}");
    for (name, value) in &example {
        let problem = format!(
            "  - {name} holds a placeholder, not a secret: run `soloauth gen-secrets` and use \
             the value it prints"
        );
        assert!(err.contains(&problem), "{name}: {err}");
        assert!(!err.contains(value.as_str()), "{value} echoed: {err}");
    }
}

#[test]
fn config_docs_prints_docs_configuration_md() {
    let (ok, out, err) = run(binary().arg("config-docs"), "");
    assert!(ok, "{err}");
    let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
    assert_eq!(
        out,
        std::fs::read_to_string(docs).unwrap(),
        "regenerate: cargo run -q -- config-docs > docs/configuration.md"
    );
    assert!(out.contains("| `AUTH_BACKUP_KEEP` | `7` |"));
}

#[tokio::test]
async fn check_healthcheck_and_revoke_sessions() {
    let dir = data_dir();
    let (ok, out, err) = run(serve(dir.path()).arg("check"), "");
    assert!(ok, "{out}{err}");
    assert!(out.contains("configuration ok"));
    let (ok, _, err) = run(
        serve(dir.path())
            .arg("check")
            .env("AUTH_BIND", "nonsense")
            .env("AUTH_RATE_BURST", "x"),
        "",
    );
    assert!(!ok);
    assert!(
        err.contains("AUTH_BIND") && err.contains("AUTH_RATE_BURST"),
        "every problem listed: {err}"
    );

    let mut p = start_known(dir.path());
    let t = p.login().await;
    let port = p.base.rsplit(':').next().unwrap().to_string();
    let (ok, out, err) = run(
        binary()
            .arg("healthcheck")
            .env("AUTH_BIND", format!("0.0.0.0:{port}")),
        "",
    );
    assert!(ok, "healthcheck: {out}{err}");
    let (ok, _, err) = run(serve(dir.path()).arg("revoke-sessions"), "");
    assert!(!ok, "refused while the server runs");
    assert!(err.contains("in use"), "{err}");
    p.kill9();
    let (ok, out, _) = run(
        binary()
            .arg("healthcheck")
            .env("AUTH_BIND", format!("127.0.0.1:{port}")),
        "",
    );
    assert!(!ok, "healthcheck fails with the server down: {out}");
    let (ok, out, err) = run(serve(dir.path()).arg("revoke-sessions"), "");
    assert!(ok, "{err}");
    assert!(out.contains("revoked 1 session"), "{out}");
    let p = start_known(dir.path());
    assert_eq!(p.get("/auth/me", Some(&t.access)).await.status, 401);
}

#[tokio::test]
async fn no_totp_secret_or_code_reaches_the_logs() {
    let dir = data_dir();
    let mut cmd = known(dir.path());
    cmd.env("AUTH_MAX_FAILED_ATTEMPTS", "2")
        .env("AUTH_RATE_BURST", "100") // seven attempts in a row; the limit is not the point
        .env("RUST_LOG", "trace");
    let p = Process::start(cmd);
    let (_, e) = sign_in_and_enroll(&p, &Clock::System).await;
    let mfa = password_step(&p).await;
    let r = code_step(&p, &mfa, json!({ "recovery_code": e.codes[0] })).await;
    assert_eq!(r.status, 200);
    // Two wrong codes: a lockout, logged.
    for _ in 0..2 {
        let wrong = wrong_code(&e.secret, Clock::System.now());
        one_step_login(&p, PASSWORD, &wrong).await;
    }
    // Decisions logged (and only then is it worth searching for secrets).
    let logs = p.logs_with(&["lockout", "recovery_code_used"]).await;
    // The secret as setup showed it (the server encodes it with to_base32).
    let mut secrets = vec![totp::to_base32(&e.secret), e.confirm_code, mfa];
    secrets.extend(e.codes.iter().cloned());
    secrets.extend(e.codes.iter().map(|c| c.replace('-', "")));
    for s in &secrets {
        assert!(
            !leaked(&logs, s),
            "a TOTP secret, code or token is in the logs"
        );
    }
}

/// True when `secret` appears in `logs`. A 6-digit code counts only as a
/// number of its own: trace logs are full of digits (timestamps end in six
/// of them after a dot), and a code matching one by chance is no leak.
fn leaked(logs: &str, secret: &str) -> bool {
    if secret.len() != 6 || !secret.bytes().all(|b| b.is_ascii_digit()) {
        return logs.contains(secret);
    }
    let bytes = logs.as_bytes();
    logs.match_indices(secret).any(|(at, _)| {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(at + secret.len()).copied();
        let part_of_number = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_digit() || b == b'.');
        !part_of_number(before) && !part_of_number(after)
    })
}
