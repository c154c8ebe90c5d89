//! Crash safety: SIGKILL the server at random moments right after
//! acknowledged changes, restart, and check nothing acknowledged was lost:
//! the refresh token the client last received is the one that works, and a
//! recovery code that was accepted never works again.

use rand::Rng;
use serde_json::json;
use soloauth::base::clock::Clock;

use crate::common::{
    code_step, password_step, sign_in_and_enroll, start_binary, Process, Reply, Tokens,
};

/// Password, then a recovery code as the second factor: the final answer.
async fn login_with_recovery_code(p: &Process, code: &str) -> Reply {
    let mfa = password_step(p).await;
    code_step(p, &mfa, json!({ "recovery_code": code })).await
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
    // Generous limits: the checks below present used codes on purpose, and
    // none of that may end in a lockout.
    let mut p = start_binary(dir.path(), &[]);

    // TOTP on, so there are recovery codes to spend.
    let (t, e) = sign_in_and_enroll(&p, &Clock::System).await;
    let mut codes = e.codes;
    let mut used: Vec<String> = Vec::new();
    let mut refresh = t.refresh;

    for round in 0..12 {
        // A random number of acknowledged rotations, then SIGKILL at once or
        // after a random pause.
        for _ in 0..rng.gen_range(1..=5) {
            let r = p.refresh(&refresh).await;
            assert_eq!(r.status, 200, "round {round}: {}", r.body);
            refresh = Tokens::from(&r.body).refresh;
        }
        // Every other round, spend a recovery code just before the kill.
        if round % 2 == 0 {
            if let Some(code) = codes.pop() {
                let r = login_with_recovery_code(&p, &code).await;
                assert_eq!(r.status, 200, "round {round}: recovery code accepted");
                used.push(code);
            }
        }
        let pause = rng.gen_range(0..30);
        if pause > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        }
        p.kill9();
        p = start_binary(dir.path(), &[]);

        for code in &used {
            let r = login_with_recovery_code(&p, code).await;
            assert_eq!(
                (r.status.as_u16(), r.error()),
                (401, "invalid_code"),
                "round {round}: a used code came back"
            );
        }
    }
    // The last refresh token the client received still works after the last kill.
    let r = p.refresh(&refresh).await;
    assert_eq!(
        r.status, 200,
        "the acknowledged rotation survived every SIGKILL"
    );
}
