//! The login flow: the one place that decides a sign-in.
//!
//! A sign-in is a first step (the password), a second step when the
//! account has a second factor (a TOTP code, a recovery code or a passkey,
//! against the `mfa_token` the first step gave: a registered passkey is a
//! second factor even with TOTP off), and finishing into a session. A
//! passkey that verified its user is a whole sign-in on its own: something
//! held and something known or been (`amr` `hwk` + `mfa`). With password
//! sign-in off (`auth::password_login`) only that signs in, and the
//! password with a recovery code in one step is the way back. Refresh and
//! re-authentication (a sensitive action asking for the password again,
//! `auth::recent`) are decided here too.
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
use crate::auth::password_login::PasswordLogin;
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
    /// A recovery code, to sign in in one step: the way back when every
    /// passkey is lost (taken even with password sign-in off).
    pub recovery_code: Option<SecretString>,
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
    /// `expires_in` seconds, against this single-use token: one of
    /// `factors`.
    SecondFactorNeeded {
        mfa_token: SecretString,
        expires_in: i64,
        factors: Vec<Factor>,
    },
}

/// The first step's verdict, before a session exists.
enum FirstStep {
    Done(Vec<Checked>),
    Challenge(SecretString, Vec<Factor>),
}

/// The login flow over its services.
pub struct LoginFlow<'a> {
    pub credentials: &'a CredentialChecker,
    pub sessions: Sessions<'a>,
    pub factors: Factors<'a>,
    pub passkeys: Passkeys<'a>,
    pub password_login: PasswordLogin<'a>,
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

    /// The second factors the account has, in the order the answer lists
    /// them: none when a password alone signs in.
    fn second_factors(&self) -> AuthResult<Vec<Factor>> {
        let status = self.factors.status()?;
        let passkey = self.passkeys.can_sign_in()?;
        if !status.totp_enabled && !passkey {
            return Ok(Vec::new());
        }
        let has = [
            (Factor::Totp, status.totp_enabled),
            (Factor::RecoveryCode, status.recovery_codes_remaining > 0),
            (Factor::Passkey, passkey),
        ];
        Ok(has
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(f, _)| f)
            .collect())
    }

    /// What protects a sign-in now, as `/auth/me` lists it: the password
    /// and TOTP (while password sign-in is on: a code only ever follows the
    /// password), passkeys. Recovery codes, a backup, are not listed.
    pub fn account_factors(&self) -> AuthResult<Vec<Factor>> {
        let on = self.password_login.state()?.on;
        let password = on.then_some(Factor::Password);
        let second = self.second_factors()?.into_iter();
        let second = second.filter(|f| *f == Factor::Passkey || (on && *f == Factor::Totp));
        Ok(password.into_iter().chain(second).collect())
    }

    /// The first step: username and password, and optionally a TOTP code
    /// (when TOTP is on) or a recovery code, to sign in in one step. With
    /// password sign-in off, only the password with a recovery code is
    /// taken (while codes remain); anything else is `PasswordLoginOff`,
    /// before any check. On that path a wrong password and a wrong code
    /// get one answer, so it tells nothing about the password.
    pub async fn password_step(
        &self,
        client: &Client,
        step: PasswordStep,
        now: i64,
        events: &mut Events,
    ) -> AuthResult<Outcome> {
        let filled = |c: Option<SecretString>| c.filter(|c| !c.expose_secret().trim().is_empty());
        let recovery_code = filled(step.recovery_code);
        let off = !self.password_login.state()?.on;
        if off && (recovery_code.is_none() || self.factors.status()?.recovery_codes_remaining == 0)
        {
            return Err(AuthError::PasswordLoginOff);
        }
        let first = self
            .lockout
            .guarded(client, Attempt::Login, now, events, async |own| {
                let username = step.username.expose_secret();
                let password = step.password;
                let credential = Credential::Password { username, password };
                let pwd = self.check(Stage::Start, credential, client, now, own);
                let pwd = pwd.await?;
                let second = match recovery_code {
                    Some(code) => Credential::RecoveryCode(code),
                    None => {
                        // Switched off while the password was being checked.
                        self.password_login.ensure_on()?;
                        let factors = self.second_factors()?;
                        if factors.is_empty() {
                            return Ok(FirstStep::Done(vec![pwd]));
                        }
                        let code =
                            filled(step.totp_code).filter(|_| factors.contains(&Factor::Totp));
                        let Some(code) = code else {
                            let token = self.factors.start_challenge(step.remember, now).await?;
                            return Ok(FirstStep::Challenge(token, factors));
                        };
                        Credential::Totp(code)
                    }
                };
                let second = self.check(Stage::AfterPassword, second, client, now, own);
                Ok(FirstStep::Done(vec![pwd, second.await?]))
            });
        let first = match first.await {
            Err(AuthError::InvalidCode) if off => Err(AuthError::InvalidCredentials),
            other => other,
        };
        match first? {
            FirstStep::Challenge(mfa_token, factors) => {
                events.push(Event::new(Kind::MfaRequired, client));
                Ok(Outcome::SecondFactorNeeded {
                    mfa_token,
                    expires_in: MFA_TTL,
                    factors,
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
        self.password_login.ensure_on()?;
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
            Some(token) => {
                self.password_login.ensure_on()?;
                Some(self.factors.live_challenge(token, now)?)
            }
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
                    Some(key) => {
                        self.password_login.ensure_on()?;
                        let remember = self.factors.attempt_challenge(key, now)?;
                        (Stage::AfterPassword, remember)
                    }
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
mod tests;
