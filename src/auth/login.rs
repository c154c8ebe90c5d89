//! The login flow: the one place that decides a sign-in.
//!
//! A sign-in is a first step (the password), an optional second step (a
//! TOTP code, a recovery code or a passkey, against the `mfa_token` the
//! first step gave), and finishing into a session. A passkey that verified
//! its user is a whole sign-in on its own: something held and something
//! known or been (`amr` `hwk` + `mfa`). Refresh and re-authentication (a
//! sensitive action asking for the password again) are decided here too.
//! Every step that checks a secret runs through [`Lockout::guarded`]: rate
//! limit, lockout reservation, failure counting. Each function returns an
//! outcome or a refusal, and appends what happened to the request's
//! [`Events`]; the caller records them. A new code is a [`SecondFactor`] variant; a new ceremony, a start and a step here.

use super::events::{Event, Events, Kind};
use super::factors::{Factors, SecondFactor, MFA_TTL};
use super::lockout::Lockout;
use super::passkeys::{Answer, Passkeys};
use super::password::CredentialChecker;
use super::sessions::{Principal, RefreshRefused, Sessions, TokenPair};
use super::{AuthError, AuthResult, Client};
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
    Done(Vec<String>),
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
            .guarded(client, "login", now, events, async |_| {
                let user = step.username.expose_secret();
                if !self.credentials.verify(user, step.password).await? {
                    return Err(AuthError::InvalidCredentials);
                }
                if !self.factors.status()?.totp_enabled {
                    return Ok(FirstStep::Done(vec!["pwd".into()]));
                }
                let code = step
                    .totp_code
                    .filter(|c| !c.expose_secret().trim().is_empty());
                let Some(code) = code else {
                    return Ok(FirstStep::Challenge(
                        self.factors.start_challenge(step.remember, now).await?,
                    ));
                };
                if !self.factors.verify_totp(&code, now).await? {
                    return Err(AuthError::InvalidCode);
                }
                Ok(FirstStep::Done(vec!["pwd".into(), "otp".into()]))
            });
        match first.await? {
            FirstStep::Challenge(mfa_token) => {
                events.push(Event::new(Kind::MfaRequired, client));
                Ok(Outcome::SecondFactorNeeded {
                    mfa_token,
                    expires_in: MFA_TTL,
                })
            }
            FirstStep::Done(amr) => {
                if amr.len() > 1 {
                    events.push(Event::new(Kind::MfaSuccess, client));
                }
                self.finish(client, amr, step.remember, now, events).await
            }
        }
    }

    /// The second step: a TOTP or recovery code against the `mfa_token`.
    pub async fn second_step(
        &self,
        client: &Client,
        mfa_token: &SecretString,
        factor: &SecondFactor,
        now: i64,
        events: &mut Events,
    ) -> AuthResult<Outcome> {
        let remember = self
            .lockout
            .guarded(client, "login_totp", now, events, async |own| {
                let factors = &self.factors;
                factors
                    .complete_challenge(mfa_token, factor, client, now, own)
                    .await
            })
            .await?;
        events.push(Event::new(Kind::MfaSuccess, client));
        let amr = vec!["pwd".into(), "otp".into()];
        self.finish(client, amr, remember, now, events).await
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
        self.lockout.check_rate(client, "passkey_start", events)?;
        self.lockout.check_open(client, now, events)?;
        let after_password = match mfa_token {
            Some(token) => Some(self.factors.live_challenge(token, now)?),
            None => None,
        };
        self.passkeys.start_login(after_password, now)
    }

    /// A passkey's answer. Alone (the ceremony required user verification)
    /// it signs in with `amr` `["hwk","mfa"]`; as a second step it ends the
    /// `mfa_token`, right or wrong, and signs in with `["pwd","hwk"]`.
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
        let (second_step, remember, passkey) = self
            .lockout
            .guarded(client, "passkey", now, events, async |own| {
                let ceremony = self.passkeys.take_login(challenge_id, now)?;
                let after_password = ceremony.after_password;
                let remember = match &after_password {
                    Some(key) => self.factors.take_challenge(key, now)?,
                    None => remember,
                };
                let verified = self
                    .passkeys
                    .verify_login(ceremony, answer, now, client, own)
                    .await;
                if after_password.is_some() {
                    self.factors.store.flush().await?;
                }
                Ok((after_password.is_some(), remember, verified?))
            })
            .await?;
        let amr: Vec<String> = match second_step {
            true => {
                events.push(Event::new(Kind::MfaSuccess, client));
                vec!["pwd".into(), "hwk".into()]
            }
            false => vec!["hwk".into(), "mfa".into()],
        };
        events.push(Event::new(Kind::PasskeyLogin, client).detail(format!("passkey={passkey}")));
        self.finish(client, amr, remember, now, events).await
    }

    /// Every factor checked out: the client's failures are forgotten and a
    /// session starts.
    async fn finish(
        &self,
        client: &Client,
        amr: Vec<String>,
        remember: bool,
        now: i64,
        events: &mut Events,
    ) -> AuthResult<Outcome> {
        self.lockout.record_success(client.ip).await?;
        let detail = format!("amr={}", amr.join("+"));
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
        self.lockout.check_rate(client, "refresh", events)?;
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

    /// Lets a sensitive action through for a session that signed in less
    /// than `reauth_seconds` ago, or with the current password (checked like
    /// a login: rate limit, lockout, events). Otherwise `ReauthRequired`: an
    /// access token alone, stolen from a cookie, cannot add a factor.
    pub async fn confirm_recent(
        &self,
        principal: &Principal,
        client: &Client,
        password: Option<SecretString>,
        now: i64,
        events: &mut Events,
    ) -> AuthResult<()> {
        let Some(password) = password else {
            let age = now - principal.session.created_at;
            return if age < self.sessions.policy.reauth_seconds {
                Ok(())
            } else {
                Err(AuthError::ReauthRequired)
            };
        };
        self.lockout
            .guarded(client, "reauth", now, events, async |_| {
                let username = self.credentials.username();
                match self.credentials.verify(username, password).await? {
                    true => Ok(()),
                    false => Err(AuthError::InvalidCredentials),
                }
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testkit::{client, enroll, secret, secret_code, Kit, PASSWORD};

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
        assert_eq!(pair.session.amr, ["pwd"]);
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
        let (totp_secret, codes) = enroll(&kit, "none").await;
        let login = kit.login();
        let mut events = Events::new();
        let mfa_token = password_first(&kit, &mut events).await;
        assert_eq!(kinds(&events), ["mfa_required"]);
        // A wrong code ends the token.
        let wrong = (0..1_000_000)
            .map(|n| format!("{n:06}"))
            .find(|c| crate::auth::totp::check(&totp_secret, c, kit.now(), None).is_none())
            .map(SecretString::from)
            .unwrap();
        let factor = SecondFactor::Totp(wrong);
        let refused = login
            .second_step(&client(), &mfa_token, &factor, kit.now(), &mut events)
            .await;
        assert!(matches!(refused, Err(AuthError::InvalidCode)));
        let factor = SecondFactor::Totp(secret_code(&totp_secret, kit.now()));
        let again = login
            .second_step(&client(), &mfa_token, &factor, kit.now(), &mut events)
            .await;
        assert!(matches!(again, Err(AuthError::InvalidToken)), "single use");
        // A recovery code finishes a fresh attempt.
        let mut events = Events::new();
        let mfa_token = password_first(&kit, &mut events).await;
        let factor = SecondFactor::Recovery(secret(&codes[0]));
        let done = login
            .second_step(&client(), &mfa_token, &factor, kit.now(), &mut events)
            .await;
        let (pair, totp_enabled) = signed_in(done.unwrap());
        assert_eq!(pair.session.amr, ["pwd", "otp"]);
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
        let (totp_secret, _) = enroll(&kit, "none").await;
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
        assert_eq!(pair.session.amr, ["pwd", "otp"]);
        assert_eq!(kinds(&events), ["mfa_success", "login_success"]);
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

    #[tokio::test]
    async fn sensitive_actions_need_a_recent_sign_in_or_the_password() {
        let kit = Kit::new(5);
        let login = kit.login();
        let pair = sign_in(&kit).await;
        let principal = kit
            .sessions()
            .authenticate(&pair.access_token, kit.now())
            .unwrap();
        let mut events = Events::new();
        let fresh = login
            .confirm_recent(&principal, &client(), None, kit.now() + 599, &mut events)
            .await;
        assert!(fresh.is_ok());
        let old = login
            .confirm_recent(&principal, &client(), None, kit.now() + 600, &mut events)
            .await;
        assert!(matches!(old, Err(AuthError::ReauthRequired)));
        let wrong = login
            .confirm_recent(
                &principal,
                &client(),
                Some(secret("nope")),
                kit.now() + 600,
                &mut events,
            )
            .await;
        assert!(matches!(wrong, Err(AuthError::InvalidCredentials)));
        let right = login
            .confirm_recent(
                &principal,
                &client(),
                Some(secret(PASSWORD)),
                kit.now() + 600,
                &mut events,
            )
            .await;
        assert!(right.is_ok());
        assert_eq!(kinds(&events), ["login_failure"]);
    }
}
