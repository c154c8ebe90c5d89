//! The login flow's unit tests: each step over a temporary store, with an
//! injected clock.

use super::*;
use crate::auth::testkit::{
    add_passkey, client, enroll, principal, recent, secret, secret_code, Kit, PASSWORD,
};
use crate::base::amr::Amr;

fn kinds(events: &Events) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

fn step(password: &str, code: Option<SecretString>) -> PasswordStep {
    PasswordStep {
        username: secret("admin"),
        password: secret(password),
        totp_code: code,
        recovery_code: None,
        remember: true,
    }
}

/// Signs in with the password alone (TOTP off).
async fn sign_in(kit: &Kit) -> TokenPair {
    let mut events = Events::new();
    let outcome = try_step(kit, step(PASSWORD, None), &mut events).await;
    signed_in(outcome.unwrap()).0
}

/// The password step with TOTP on: the token for the second step.
async fn password_first(kit: &Kit, events: &mut Events) -> SecretString {
    let first = try_step(kit, step(PASSWORD, None), events).await;
    match first.unwrap() {
        Outcome::SecondFactorNeeded { mfa_token, .. } => mfa_token,
        Outcome::SignedIn { .. } => panic!("signed in without the second factor"),
    }
}

/// The password step, as `client()` takes it now.
async fn try_step(kit: &Kit, step: PasswordStep, events: &mut Events) -> AuthResult<Outcome> {
    let now = kit.now();
    kit.login()
        .password_step(&client(), step, now, events)
        .await
}

fn signed_in(outcome: Outcome) -> (TokenPair, bool) {
    match outcome {
        Outcome::SignedIn { pair, totp_enabled } => (*pair, totp_enabled),
        Outcome::SecondFactorNeeded { .. } => panic!("a second factor was asked for"),
    }
}

#[tokio::test]
async fn the_password_alone_signs_in_without_totp() {
    let kit = Kit::new(5);
    let mut events = Events::new();
    let outcome = try_step(&kit, step(PASSWORD, None), &mut events).await;
    let (pair, totp_enabled) = signed_in(outcome.unwrap());
    assert_eq!(pair.session.amr, [Amr::Pwd]);
    assert!(!totp_enabled);
    assert_eq!(kinds(&events), ["login_success"]);
    assert_eq!(events[0].session.as_deref(), Some(pair.session.id.as_str()));
}

#[tokio::test]
async fn wrong_passwords_are_events_and_lock_the_address() {
    let kit = Kit::new(2);
    let mut events = Events::new();
    for _ in 0..2 {
        let refused = try_step(&kit, step("wrong", None), &mut events).await;
        assert!(matches!(refused, Err(AuthError::InvalidCredentials)));
    }
    assert_eq!(
        kinds(&events),
        ["login_failure", "login_failure", "lockout"]
    );
    let mut events = Events::new();
    let locked = try_step(&kit, step(PASSWORD, None), &mut events).await;
    assert!(matches!(locked, Err(AuthError::Locked { .. })));
    assert_eq!(kinds(&events), ["locked"]);
}

#[tokio::test]
async fn with_totp_the_password_asks_for_a_second_step() {
    let kit = Kit::new(5);
    let (totp_secret, codes) = enroll(&kit).await;
    let login = kit.login();
    let mut events = Events::new();
    let mfa_token = password_first(&kit, &mut events).await;
    assert_eq!(kinds(&events), ["mfa_required"]);
    // A typo is forgiven: the token stays for the right code.
    let wrong = || {
        let wrong = (0..1_000_000)
            .map(|n| format!("{n:06}"))
            .find(|c| crate::auth::totp::check(&totp_secret, c, kit.now(), None).is_none());
        Credential::Totp(SecretString::from(wrong.unwrap()))
    };
    let (now, me) = (kit.now(), client());
    let refused = login.second_step(&me, &mfa_token, wrong(), now, &mut events);
    assert!(matches!(refused.await, Err(AuthError::InvalidCode)));
    let code = Credential::Totp(secret_code(&totp_secret, kit.now()));
    let right = login.second_step(&me, &mfa_token, code, now, &mut events);
    signed_in(right.await.unwrap());
    let code = Credential::Totp(secret_code(&totp_secret, kit.now() + 30));
    let again = login.second_step(&me, &mfa_token, code, now + 30, &mut events);
    assert!(
        matches!(again.await, Err(AuthError::InvalidToken)),
        "a right code spends it"
    );
    // Three wrong codes spend a token: the right one comes too late.
    let mfa_token = password_first(&kit, &mut events).await;
    for _ in 0..3 {
        let refused = login.second_step(&me, &mfa_token, wrong(), now, &mut events);
        assert!(matches!(refused.await, Err(AuthError::InvalidCode)));
    }
    let code = Credential::Totp(secret_code(&totp_secret, kit.now() + 60));
    let late = login.second_step(&me, &mfa_token, code, now + 60, &mut events);
    assert!(
        matches!(late.await, Err(AuthError::InvalidToken)),
        "the third spent it"
    );
    let failures = events.iter().filter(|e| e.kind.as_str() == "mfa_failure");
    assert_eq!(
        failures.count(),
        4,
        "every wrong code counts toward the lockout"
    );
    // A recovery code finishes a fresh attempt.
    let mut events = Events::new();
    let mfa_token = password_first(&kit, &mut events).await;
    let code = Credential::RecoveryCode(secret(&codes[0]));
    let done = login
        .second_step(&client(), &mfa_token, code, kit.now(), &mut events)
        .await;
    let (pair, totp_enabled) = signed_in(done.unwrap());
    assert_eq!(pair.session.amr, [Amr::Pwd, Amr::Otp]);
    assert!(totp_enabled);
    assert_eq!(
        kinds(&events),
        [
            "mfa_required",
            "recovery_code_used",
            "mfa_success",
            "login_success"
        ]
    );
}

#[tokio::test]
async fn a_code_with_the_password_signs_in_in_one_step() {
    let kit = Kit::new(5);
    let (totp_secret, _) = enroll(&kit).await;
    let mut events = Events::new();
    let code = secret_code(&totp_secret, kit.now());
    let outcome = try_step(&kit, step(PASSWORD, Some(code)), &mut events).await;
    let (pair, _) = signed_in(outcome.unwrap());
    assert_eq!(pair.session.amr, [Amr::Pwd, Amr::Otp]);
    assert_eq!(kinds(&events), ["mfa_success", "login_success"]);
}

#[tokio::test]
async fn a_sign_in_is_flushed_once_whichever_code_finishes_it() {
    let kit = Kit::new(5);
    let (totp_secret, codes) = enroll(&kit).await;
    // A sign-in after failures, so forgetting them writes too.
    let mut events = Events::new();
    let wrong = try_step(&kit, step("wrong", None), &mut events).await;
    assert!(matches!(wrong, Err(AuthError::InvalidCredentials)));
    let code = secret_code(&totp_secret, kit.now());
    let before = kit.store.flush_count();
    let one_step = try_step(&kit, step(PASSWORD, Some(code)), &mut events).await;
    signed_in(one_step.unwrap());
    assert_eq!(kit.store.flush_count() - before, 1, "password and code");
    for recovery in [true, false] {
        kit.clock.advance(30);
        let code = match recovery {
            true => Credential::RecoveryCode(secret(&codes[0])),
            false => Credential::Totp(secret_code(&totp_secret, kit.now())),
        };
        let mfa_token = password_first(&kit, &mut events).await;
        let before = kit.store.flush_count();
        let second = kit
            .login()
            .second_step(&client(), &mfa_token, code, kit.now(), &mut events)
            .await;
        signed_in(second.unwrap());
        assert_eq!(kit.store.flush_count() - before, 1, "recovery: {recovery}");
    }
}

#[tokio::test]
async fn refresh_rotates_and_reuse_after_the_grace_period_revokes() {
    let kit = Kit::new(5);
    let login = kit.login();
    let first = sign_in(&kit).await;
    let mut events = Events::new();
    let next = login
        .refresh(&client(), &first.refresh_token, kit.now(), &mut events)
        .await
        .unwrap();
    let raced = login
        .refresh(&client(), &first.refresh_token, kit.now() + 10, &mut events)
        .await;
    assert!(matches!(raced, Err(AuthError::InvalidToken)));
    let reused = login
        .refresh(&client(), &first.refresh_token, kit.now() + 11, &mut events)
        .await;
    assert!(matches!(reused, Err(AuthError::TokenReused)));
    assert_eq!(
        kinds(&events),
        ["refreshed", "refresh_refused", "refresh_reuse"]
    );
    assert_eq!(
        events[2].session.as_deref(),
        Some(first.session.id.as_str())
    );
    assert!(kit
        .sessions()
        .authenticate(&next.access_token, kit.now() + 11)
        .is_err());
}

/// The second step's factors the password step offered.
async fn offered(kit: &Kit, code: Option<SecretString>) -> Vec<Factor> {
    let mut events = Events::new();
    let first = try_step(kit, step(PASSWORD, code), &mut events).await;
    match first.unwrap() {
        Outcome::SecondFactorNeeded { factors, .. } => factors,
        Outcome::SignedIn { .. } => Vec::new(),
    }
}

#[tokio::test]
async fn a_passkey_is_a_second_factor_even_with_totp_off() {
    let kit = Kit::new(5);
    assert_eq!(offered(&kit, None).await, [], "a password alone signs in");
    assert_eq!(kit.login().account_factors().unwrap(), [Factor::Password]);
    add_passkey(&kit);
    assert_eq!(offered(&kit, None).await, [Factor::Passkey]);
    let code = Some(secret("123456"));
    assert_eq!(
        offered(&kit, code).await,
        [Factor::Passkey],
        "a code with TOTP off is not a second factor: the step still asks"
    );
    assert_eq!(
        kit.login().account_factors().unwrap(),
        [Factor::Password, Factor::Passkey]
    );
    enroll(&kit).await;
    assert_eq!(
        offered(&kit, None).await,
        [Factor::Totp, Factor::RecoveryCode, Factor::Passkey]
    );
}

#[tokio::test]
async fn with_passwords_off_only_the_password_and_a_recovery_code_sign_in() {
    let kit = Kit::new(2);
    let (_, codes) = enroll(&kit).await;
    add_passkey(&kit);
    let proof = recent(&kit).await;
    let switch = kit.password_login();
    let mfa_token = password_first(&kit, &mut Events::new()).await;
    switch.set(&proof, false, &mut Events::new()).await.unwrap();
    assert_eq!(
        kit.login().account_factors().unwrap(),
        [Factor::Passkey],
        "a code only follows the password"
    );
    // A token the password step gave before the switch is void.
    let code = Credential::RecoveryCode(secret(&codes[1]));
    let late = kit
        .login()
        .second_step(&client(), &mfa_token, code, kit.now(), &mut Events::new())
        .await;
    assert!(matches!(late, Err(AuthError::PasswordLoginOff)));
    // Refused before any check, and never counted: the lockout allows 2.
    let mut events = Events::new();
    for password in [PASSWORD, "wrong", "wrong"] {
        let refused = try_step(&kit, step(password, None), &mut events).await;
        assert!(matches!(refused, Err(AuthError::PasswordLoginOff)));
    }
    assert!(events.is_empty(), "{:?}", kinds(&events));
    // A re-authentication with the password is a password step too.
    let refused = kit
        .login()
        .recent_sign_in(
            &principal(&kit).await,
            &client(),
            Some(secret(PASSWORD)),
            kit.now() + 3600,
            &mut events,
        )
        .await;
    assert!(matches!(refused, Err(AuthError::PasswordLoginOff)));
    // The way back: the password with a recovery code, in one step.
    let mut back = step(PASSWORD, None);
    back.recovery_code = Some(secret(&codes[0]));
    let outcome = try_step(&kit, back, &mut events).await;
    let (pair, _) = signed_in(outcome.unwrap());
    assert_eq!(pair.session.amr, [Amr::Pwd, Amr::Otp]);
    assert_eq!(
        kinds(&events),
        ["recovery_code_used", "mfa_success", "login_success"]
    );
    let mut again = step(PASSWORD, None);
    again.recovery_code = Some(secret(&codes[0]));
    let spent = try_step(&kit, again, &mut events).await;
    assert!(
        matches!(spent, Err(AuthError::InvalidCredentials)),
        "spent once; a wrong code answers as a wrong password would"
    );
}

#[tokio::test]
async fn with_passwords_off_and_no_recovery_code_left_nothing_checks_the_password() {
    let kit = Kit::new(1);
    add_passkey(&kit);
    let proof = recent(&kit).await;
    let switch = kit.password_login();
    switch.set(&proof, false, &mut Events::new()).await.unwrap();
    let mut events = Events::new();
    for _ in 0..3 {
        let mut guess = step("guess", None);
        guess.recovery_code = Some(secret("AAAAA-AAAAA"));
        let refused = try_step(&kit, guess, &mut events).await;
        assert!(matches!(refused, Err(AuthError::PasswordLoginOff)));
    }
    assert!(events.is_empty(), "{:?}", kinds(&events));
}
