//! The login flow: the one place that decides a sign-in.
//!
//! A sign-in is a first step (the password), an optional second step (a
//! TOTP code or a recovery code, against the `mfa_token` the first step
//! gave), and finishing into a session. Refresh and re-authentication (a
//! sensitive action asking for the password again) are decided here too.
//! Every step that checks a secret runs through [`Lockout::guarded`]: rate
//! limit, lockout reservation, failure counting. Each function returns an
//! outcome or a refusal, and appends what happened to the request's
//! [`Events`]; the caller records them. A new factor is one new step here.

use super::events::{Event, Events, Kind};
use super::factors::{Factors, SecondFactor, MFA_TTL};
use super::lockout::Lockout;
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
                        self.factors.start_challenge(now).await?,
                    ));
                };
                if !self.factors.verify_totp(&code, now).await? {
                    return Err(AuthError::InvalidCode);
                }
                Ok(FirstStep::Done(vec!["pwd".into(), "otp".into()]))
            });
        match first.await? {
            FirstStep::Challenge(mfa_token) => {
                events.push(Event::new(Kind::MfaRequired, client.ip));
                Ok(Outcome::SecondFactorNeeded {
                    mfa_token,
                    expires_in: MFA_TTL,
                })
            }
            FirstStep::Done(amr) => {
                if amr.len() > 1 {
                    events.push(Event::new(Kind::MfaSuccess, client.ip));
                }
                self.finish(client, amr, now, events).await
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
        self.lockout
            .guarded(client, "login_totp", now, events, async |own| {
                let factors = &self.factors;
                factors
                    .complete_challenge(mfa_token, factor, client, now, own)
                    .await
            })
            .await?;
        events.push(Event::new(Kind::MfaSuccess, client.ip));
        self.finish(client, vec!["pwd".into(), "otp".into()], now, events)
            .await
    }

    /// Every factor checked out: the client's failures are forgotten and a
    /// session starts.
    async fn finish(
        &self,
        client: &Client,
        amr: Vec<String>,
        now: i64,
        events: &mut Events,
    ) -> AuthResult<Outcome> {
        self.lockout.record_success(client.ip).await?;
        let detail = format!("amr={}", amr.join("+"));
        // TOTP is on exactly when the sign-in needed a second factor.
        let totp_enabled = amr.len() > 1;
        let pair = self.sessions.start(amr, client, now).await?;
        events.push(
            Event::new(Kind::LoginSuccess, client.ip)
                .session(&pair.session.id)
                .detail(detail),
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
                events.push(Event::new(Kind::Refreshed, client.ip).session(&pair.session.id));
                Ok(pair)
            }
            Err(RefreshRefused::Reused { sid }) => {
                events.push(
                    Event::new(Kind::RefreshReuse, client.ip)
                        .session(&sid)
                        .detail("session revoked"),
                );
                Err(AuthError::TokenReused)
            }
            Err(RefreshRefused::Invalid) => {
                events.push(Event::new(Kind::RefreshRefused, client.ip));
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
