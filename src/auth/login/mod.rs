//! The login flow: the one place that decides a sign-in.
//!
//! A sign-in is a first step (the password), an optional second step (a
//! TOTP code, a recovery code or a passkey, against the `mfa_token` the
//! first step gave), and finishing into a session. A passkey that verified
//! its user is a whole sign-in on its own: something held and something
//! known or been (`amr` `hwk` + `mfa`). Refresh and re-authentication (a
//! sensitive action asking for the password again, `auth::recent`) are
//! decided here too.
//!
//! Every credential is checked in one place, [`LoginFlow::check`]: one
//! `match` over [`Credential`], at the [`Stage`] the sign-in stands (see
//! `auth::factor`). Every step that checks one runs through
//! [`Lockout::guarded`]: rate limit, lockout reservation, failure counting.
//! Each function returns an outcome or a refusal, and appends what happened
//! to the request's [`Events`]; the caller records them. A new factor is a
//! [`Factor`] and a [`Credential`] arm (the compiler names every other place
//! that must decide about it); a new ceremony, a start and a step here.
//!
//! A sign-in is written to disk once: the steps only write (a spent token,
//! a used code, a passkey's counter, forgotten failures), and the session's
//! start flushes them all before the answer; a refusal that counts is
//! flushed by the lockout with its failure.

mod reauth;

use crate::auth::attempt::Attempt;
use crate::auth::events::{Event, Events, Kind};
use crate::auth::factor::{amr_of, Checked, Credential, Factor, Stage};
use crate::auth::factors::{Factors, MFA_TTL};
use crate::auth::lockout::Lockout;
use crate::auth::passkeys::{Answer, Passkeys};
use crate::auth::password::CredentialChecker;
use crate::auth::sessions::{RefreshRefused, Sessions, TokenPair};
use crate::auth::{AuthError, AuthResult, Client};
use crate::base::amr;
use crate::base::secret::{ExposeSecret, SecretString};

/// What the client sent for the first step.
pub struct PasswordStep {
    pub username: SecretString,
    pub password: SecretString,
    /// A current TOTP code, to sign in in one step when TOTP is on.
    pub totp_code: Option<SecretString>,
    /// Cookies that outlive the browser session ("remember me").
    pub remember: bool,
}

/// Where a sign-in stands after a step.
pub enum Outcome {
    /// Every factor checked out: a new session.
    SignedIn {
        pair: Box<TokenPair>,
        totp_enabled: bool,
    },
    /// The password was right; a second factor is needed, within
    /// `expires_in` seconds, against this single-use token.
    SecondFactorNeeded {
        mfa_token: SecretString,
        expires_in: i64,
    },
}

/// The first step's verdict, before a session exists.
enum FirstStep {
    Done(Vec<Checked>),
    Challenge(SecretString),
}

/// The login flow over its services.
pub struct LoginFlow<'a> {
    pub credentials: &'a CredentialChecker,
    pub sessions: Sessions<'a>,
    pub factors: Factors<'a>,
    pub passkeys: Passkeys<'a>,
    pub lockout: Lockout<'a>,
}

impl LoginFlow<'_> {
    /// Checks one credential offered at `stage`: the one place each factor
    /// is verified. A factor the stage does not take is refused as a wrong
    /// code. Run it inside [`Lockout::guarded`]: a wrong secret is a
    /// failed attempt only there.
    pub(super) async fn check(
        &self,
        stage: Stage,
        credential: Credential<'_>,
        client: &Client,
        now: i64,
        events: &mut Events,
    ) -> AuthResult<Checked> {
        let factor = credential.factor();
        if !factor.accepted_at(stage) {
            return Err(AuthError::InvalidCode);
        }
        let (right, wrong) = match credential {
            Credential::Password { username, password } => (
                self.credentials.verify(username, password).await?,
                AuthError::InvalidCredentials,
            ),
            Credential::Totp(code) => (
                self.factors.verify_totp(&code, now)?,
                AuthError::InvalidCode,
            ),
            Credential::RecoveryCode(code) => (
                self.factors.use_recovery_code(&code, client, events)?,
                AuthError::InvalidCode,
            ),
            Credential::Passkey { ceremony, answer } => {
                let verify = self
                    .passkeys
                    .verify_login(ceremony, answer, now, client, events);
                let passkey = Some(verify.await?);
                return Ok(Checked { factor, passkey });
            }
        };
        match right {
            true => Ok(Checked::of(factor)),
            false => Err(wrong),
        }
    }

    /// The first step: username and password (and, optionally, a TOTP code).
    pub async fn password_step(
        &self,
        client: &Client,
        step: PasswordStep,
        now: i64,
        events: &mut Events,
    ) -> AuthResult<Outcome> {
        let first = self
            .lockout
            .guarded(client, Attempt::Login, now, events, async |own| {
                let username = step.username.expose_secret();
                let password = step.password;
                let credential = Credential::Password { username, password };
                let pwd = self.check(Stage::Start, credential, client, now, own);
                let pwd = pwd.await?;
                if !self.factors.status()?.totp_enabled {
                    return Ok(FirstStep::Done(vec![pwd]));
                }
                let code = step
                    .totp_code
                    .filter(|c| !c.expose_secret().trim().is_empty());
                let Some(code) = code else {
                    return Ok(FirstStep::Challenge(
                        self.factors.start_challenge(step.remember, now).await?,
                    ));
                };
                let otp = Credential::Totp(code);
                let otp = self.check(Stage::AfterPassword, otp, client, now, own);
                Ok(FirstStep::Done(vec![pwd, otp.await?]))
            });
        match first.await? {
            FirstStep::Challenge(mfa_token) => {
                events.push(Event::new(Kind::MfaRequired, client));
                Ok(Outcome::SecondFactorNeeded {
                    mfa_token,
                    expires_in: MFA_TTL,
                })
            }
            FirstStep::Done(proven) => {
                self.finish(client, &proven, step.remember, now, events)
                    .await
            }
        }
    }

    /// The second step: a TOTP or recovery code against the `mfa_token`.
    /// The token takes [`MFA_ATTEMPTS`](crate::auth::factors::MFA_ATTEMPTS) answers: a wrong code is
    /// `InvalidCode` (counted toward the lockout) and the token stays; a
    /// right code, or the last wrong one, spends it.
    pub async fn second_step(
        &self,
        client: &Client,
        mfa_token: &SecretString,
        code: Credential<'_>,
        now: i64,
        events: &mut Events,
    ) -> AuthResult<Outcome> {
        let (remember, checked) = self
            .lockout
            .guarded(client, Attempt::LoginTotp, now, events, async |own| {
                let key = self.factors.live_challenge(mfa_token, now)?;
                let remember = self.factors.attempt_challenge(&key, now)?;
                let checked = self.check(Stage::AfterPassword, code, client, now, own);
                let checked = checked.await?;
                self.factors.end_challenge(&key)?;
                Ok((remember, checked))
            })
            .await?;
        let proven = [Checked::of(Factor::Password), checked];
        self.finish(client, &proven, remember, now, events).await
    }

    /// Starts a passkey sign-in: alone, or with the `mfa_token` of a
    /// password step as its second step (the token stays live: the code may
    /// still be typed instead). Returns the ceremony, sealed into its
    /// `challenge_id` (nothing is kept per start), and the browser's options.
    pub fn start_passkey(
        &self,
        client: &Client,
        mfa_token: Option<&SecretString>,
        now: i64,
        events: &mut Events,
    ) -> AuthResult<(String, serde_json::Value)> {
        self.passkeys.check_available()?;
        self.lockout
            .check_rate(client, Attempt::PasskeyStart, events)?;
        self.lockout.check_open(client, now, events)?;
        let after_password = match mfa_token {
            Some(token) => Some(self.factors.live_challenge(token, now)?),
            None => None,
        };
        self.passkeys.start_login(after_password, now)
    }

    /// A passkey's answer. Alone (the ceremony required user verification)
    /// it signs in with `amr` `["hwk","mfa"]`; as a second step it is one
    /// of the `mfa_token`'s attempts, as a code is, and signs in with
    /// `["pwd","hwk"]`.
    pub async fn passkey_step(
        &self,
        client: &Client,
        challenge_id: &str,
        answer: &Answer<webauthn_rp::NonDiscoverableAuthentication64>,
        remember: bool,
        now: i64,
        events: &mut Events,
    ) -> AuthResult<Outcome> {
        self.passkeys.check_available()?;
        let (proven, remember) = self
            .lockout
            .guarded(client, Attempt::Passkey, now, events, async |own| {
                let ceremony = self.passkeys.take_login(challenge_id, now)?;
                let ceremony_key = ceremony.after_password;
                let (stage, remember) = match &ceremony_key {
                    Some(key) => (
                        Stage::AfterPassword,
                        self.factors.attempt_challenge(key, now)?,
                    ),
                    None => (Stage::Start, remember),
                };
                let credential = Credential::Passkey { ceremony, answer };
                let checked = self.check(stage, credential, client, now, own).await?;
                let proven = match &ceremony_key {
                    Some(key) => {
                        self.factors.end_challenge(key)?;
                        vec![Checked::of(Factor::Password), checked]
                    }
                    None => vec![checked],
                };
                Ok((proven, remember))
            })
            .await?;
        self.finish(client, &proven, remember, now, events).await
    }

    /// Every factor checked out: the client's failures are forgotten and a
    /// session starts. Two factors are an `mfa_success`; a passkey's use is
    /// a `passkey_login`.
    async fn finish(
        &self,
        client: &Client,
        proven: &[Checked],
        remember: bool,
        now: i64,
        events: &mut Events,
    ) -> AuthResult<Outcome> {
        if proven.len() > 1 {
            events.push(Event::new(Kind::MfaSuccess, client));
        }
        for passkey in proven.iter().filter_map(|c| c.passkey.as_deref()) {
            let detail = format!("passkey={passkey}");
            events.push(Event::new(Kind::PasskeyLogin, client).detail(detail));
        }
        self.lockout.record_success(client.ip)?;
        let factors: Vec<Factor> = proven.iter().map(|c| c.factor).collect();
        let amr = amr_of(&factors);
        let detail = format!("amr={}", amr::joined(&amr));
        let totp_enabled = self.factors.status()?.totp_enabled;
        let seen = self.sessions.note_client(client, now)?;
        let pair = self.sessions.start(amr, client, remember, now).await?;
        events.push(
            Event::new(Kind::LoginSuccess, client)
                .session(&pair.session.id)
                .detail(detail)
                .seen(seen),
        );
        Ok(Outcome::SignedIn {
            pair: Box::new(pair),
            totp_enabled,
        })
    }

    /// Exchanges a refresh token for a new pair. A token presented again
    /// after the grace period revokes its session (`TokenReused`).
    pub async fn refresh(
        &self,
        client: &Client,
        presented: &SecretString,
        now: i64,
        events: &mut Events,
    ) -> AuthResult<TokenPair> {
        self.lockout.check_rate(client, Attempt::Refresh, events)?;
        match self.sessions.rotate(presented.expose_secret(), now).await? {
            Ok(pair) => {
                events.push(Event::new(Kind::Refreshed, client).session(&pair.session.id));
                Ok(pair)
            }
            Err(RefreshRefused::Reused { sid }) => {
                events.push(
                    Event::new(Kind::RefreshReuse, client)
                        .session(&sid)
                        .detail("session revoked"),
                );
                Err(AuthError::TokenReused)
            }
            Err(RefreshRefused::Invalid) => {
                events.push(Event::new(Kind::RefreshRefused, client));
                Err(AuthError::InvalidToken)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testkit::{client, enroll, secret, secret_code, Kit, PASSWORD};
    use crate::base::amr::Amr;

    fn kinds(events: &Events) -> Vec<&'static str> {
        events.iter().map(|e| e.kind.as_str()).collect()
    }

    fn step(password: &str, code: Option<SecretString>) -> PasswordStep {
        PasswordStep {
            username: secret("admin"),
            password: secret(password),
            totp_code: code,
            remember: true,
        }
    }

    /// Signs in with the password alone (TOTP off).
    async fn sign_in(kit: &Kit) -> TokenPair {
        let mut events = Events::new();
        let outcome = kit
            .login()
            .password_step(&client(), step(PASSWORD, None), kit.now(), &mut events)
            .await;
        signed_in(outcome.unwrap()).0
    }

    /// The password step with TOTP on: the token for the second step.
    async fn password_first(kit: &Kit, events: &mut Events) -> SecretString {
        let first = kit
            .login()
            .password_step(&client(), step(PASSWORD, None), kit.now(), events)
            .await;
        match first.unwrap() {
            Outcome::SecondFactorNeeded { mfa_token, .. } => mfa_token,
            Outcome::SignedIn { .. } => panic!("signed in without the second factor"),
        }
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
        let outcome = kit
            .login()
            .password_step(&client(), step(PASSWORD, None), kit.now(), &mut events)
            .await;
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
            let refused = kit
                .login()
                .password_step(&client(), step("wrong", None), kit.now(), &mut events)
                .await;
            assert!(matches!(refused, Err(AuthError::InvalidCredentials)));
        }
        assert_eq!(
            kinds(&events),
            ["login_failure", "login_failure", "lockout"]
        );
        let mut events = Events::new();
        let locked = kit
            .login()
            .password_step(&client(), step(PASSWORD, None), kit.now(), &mut events)
            .await;
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
        let outcome = kit
            .login()
            .password_step(
                &client(),
                step(PASSWORD, Some(code)),
                kit.now(),
                &mut events,
            )
            .await;
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
        let wrong = kit
            .login()
            .password_step(&client(), step("wrong", None), kit.now(), &mut events)
            .await;
        assert!(matches!(wrong, Err(AuthError::InvalidCredentials)));
        let code = secret_code(&totp_secret, kit.now());
        let before = kit.store.flush_count();
        let one_step = kit
            .login()
            .password_step(
                &client(),
                step(PASSWORD, Some(code)),
                kit.now(),
                &mut events,
            )
            .await;
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
}
