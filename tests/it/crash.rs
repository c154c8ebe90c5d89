//! Crash safety: SIGKILL the server at random moments right after
//! acknowledged changes, restart, and check nothing acknowledged was lost:
//! the refresh token the client last received is the one that works, and a
//! recovery code that was accepted never works again.

use rand::Rng;
use serde_json::{json, Value};
use soloauth::auth::totp;

use crate::common::{binary, client, password_hash, Process, Tokens, PASSWORD};

async fn post(p: &Process, path: &str, body: Value, bearer: Option<&str>) -> (u16, Value) {
    let mut req = client().post(p.url(path));
    if !body.is_null() {
        req = req.json(&body); // null: no body at all
    }
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn start(dir: &std::path::Path) -> Process {
    let mut cmd = binary();
    cmd.env("AUTH_DATA_DIR", dir)
        .env("AUTH_ADMIN_PASSWORD_HASH", password_hash())
        .env("AUTH_RATE_PER_MINUTE", "100000")
        .env("AUTH_RATE_BURST", "100000")
        // The checks below present used codes on purpose: no lockout for them.
        .env("AUTH_MAX_FAILED_ATTEMPTS", "100000")
        .env("AUTH_ACCOUNT_MAX_FAILURES", "100000");
    Process::start(cmd)
}

async fn refresh_with(p: &Process, refresh_token: &str) -> (u16, Value) {
    post(
        p,
        "/auth/refresh",
        json!({ "refresh_token": refresh_token }),
        None,
    )
    .await
}

/// Password, then a recovery code as the second factor: the final answer.
async fn login_with_recovery_code(p: &Process, code: &str) -> (u16, Value) {
    let (_, body) = post(
        p,
        "/auth/login",
        json!({"username": "admin", "password": PASSWORD}),
        None,
    )
    .await;
    let mfa = body["mfa_token"].as_str().unwrap().to_string();
    post(
        p,
        "/auth/login/totp",
        json!({"mfa_token": mfa, "recovery_code": code}),
        None,
    )
    .await
}

fn unix_now() -> i64 {
    soloauth::base::clock::Clock::System.now()
}

#[tokio::test]
async fn sigkill_at_random_moments_loses_no_acknowledged_change() {
    let dir = tempfile::tempdir().unwrap();
    // Seeded, and the seed printed (shown when the test fails), so a failing
    // run can be replayed: SOLOAUTH_CRASH_SEED=<seed> cargo test --test it crash
    let seed = std::env::var("SOLOAUTH_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("crash test seed: {seed} (replay with SOLOAUTH_CRASH_SEED={seed})");
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let mut p = start(dir.path());

    // TOTP on, so there are recovery codes to spend.
    let (_, body) = post(
        &p,
        "/auth/login",
        json!({"username": "admin", "password": PASSWORD}),
        None,
    )
    .await;
    let t = Tokens::from(&body);
    let (_, setup) = post(&p, "/auth/totp/setup", json!(null), Some(&t.access)).await;
    let secret = totp::decode_base32(setup["secret"].as_str().unwrap()).unwrap();
    let code = totp::code_at(&secret, unix_now());
    let (status, confirmed) = post(
        &p,
        "/auth/totp/confirm",
        json!({ "code": code }),
        Some(&t.access),
    )
    .await;
    assert_eq!(status, 200);
    let mut codes: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let mut used: Vec<String> = Vec::new();
    let mut refresh = t.refresh;

    for round in 0..12 {
        // A random number of acknowledged rotations, then SIGKILL at once or
        // after a random pause.
        for _ in 0..rng.gen_range(1..=5) {
            let (status, body) = refresh_with(&p, &refresh).await;
            assert_eq!(status, 200, "round {round}: {body}");
            refresh = Tokens::from(&body).refresh;
        }
        // Every other round, spend a recovery code just before the kill.
        if round % 2 == 0 {
            if let Some(code) = codes.pop() {
                let (status, _) = login_with_recovery_code(&p, &code).await;
                assert_eq!(status, 200, "round {round}: recovery code accepted");
                used.push(code);
            }
        }
        let pause = rng.gen_range(0..30);
        if pause > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        }
        p.kill9();
        p = start(dir.path());

        for code in &used {
            let (status, body) = login_with_recovery_code(&p, code).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (401, Some("invalid_code")),
                "round {round}: a used code came back"
            );
        }
    }
    // The last refresh token the client received still works after the last kill.
    let (status, _) = refresh_with(&p, &refresh).await;
    assert_eq!(
        status, 200,
        "the acknowledged rotation survived every SIGKILL"
    );
}
