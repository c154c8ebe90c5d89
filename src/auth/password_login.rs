//! Password sign-in, on or off: the passwordless account.
//!
//! With at least one passkey registered, the owner may turn password
//! sign-in off: on the page (behind a recent sign-in, kept in the store)
//! or with `AUTH_PASSWORD_LOGIN=off` (which the page cannot undo). Then
//! every password step is refused (`PasswordLoginOff`, not counted as a
//! failure: nothing secret was checked) and only a passkey signs in. The
//! one way back when every passkey is lost is the password together with
//! a recovery code, in one step (see `auth::login`); `soloauth
//! reset-passkeys` turns the switch back on.
//!
//! Nothing here may leave the account with no way in: the switch turns
//! off only while a passkey can sign in, the last passkey cannot be
//! removed while it is off (`auth::passkeys`), and a server told
//! `AUTH_PASSWORD_LOGIN=off` with no usable passkey does not start
//! ([`startup_problem`]).

use super::error::FactorConflict;
use super::events::{Event, Events, Kind};
use super::passkeys::Passkeys;
use super::recent::RecentSignIn;
use super::{AuthError, AuthResult};
use crate::base::config::Config;
use crate::base::rp_id::RpId;
use crate::storage::{Store, StoreError};

/// Whether a password may sign in, and who decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordLoginState {
    /// A password step can sign in (alone or with a second factor).
    pub on: bool,
    /// `AUTH_PASSWORD_LOGIN=off` holds it off (the page cannot turn it on).
    pub from_env: bool,
}

/// The switch over the store and the environment.
pub struct PasswordLogin<'a> {
    pub store: &'a Store,
    /// `AUTH_PASSWORD_LOGIN=off`.
    pub env_off: bool,
    /// To know whether a passkey can sign in instead.
    pub passkeys: Passkeys<'a>,
}

impl PasswordLogin<'_> {
    /// Whether a password may sign in now.
    pub fn state(&self) -> AuthResult<PasswordLoginState> {
        Ok(PasswordLoginState {
            on: !self.env_off && !self.store.password_login_off()?,
            from_env: self.env_off,
        })
    }

    /// `Ok` while a password may sign in; else `PasswordLoginOff`.
    pub fn ensure_on(&self) -> AuthResult<()> {
        match self.state()?.on {
            true => Ok(()),
            false => Err(AuthError::PasswordLoginOff),
        }
    }

    /// Turns password sign-in on or off for the proof's session. Off needs
    /// a passkey that can sign in (`NoPasskey`); on is refused while the
    /// environment holds it off (`PasswordLoginByEnv`). A change is flushed
    /// and recorded (`password_login_changed`); asking for the state it is
    /// already in changes nothing.
    pub async fn set(
        &self,
        proof: &RecentSignIn,
        on: bool,
        events: &mut Events,
    ) -> AuthResult<PasswordLoginState> {
        if on && self.env_off {
            return Err(AuthError::Conflict(FactorConflict::PasswordLoginByEnv));
        }
        if !on && !self.passkeys.can_sign_in()? {
            return Err(AuthError::Conflict(FactorConflict::NoPasskey));
        }
        if self.store.password_login_off()? != on {
            return self.state();
        }
        self.store.set_password_login_off(!on)?;
        self.store.flush().await?;
        events.push(
            Event::new(Kind::PasswordLoginChanged, proof.client())
                .session(proof.session_id())
                .detail(format!("enabled={on}")),
        );
        self.state()
    }
}

/// Why a server told `AUTH_PASSWORD_LOGIN=off` must not start (nothing
/// could sign in), or `None`: checked at start-up and by `soloauth check`.
pub fn startup_problem(config: &Config, store: &Store) -> Result<Option<String>, StoreError> {
    if !config.password_login_off {
        return Ok(None);
    }
    if let RpId::Off(why) = &config.webauthn_rp_id {
        return Ok(Some(format!(
            "AUTH_PASSWORD_LOGIN=off, but passkeys are off here ({why}): nothing could sign in. \
             Remove AUTH_PASSWORD_LOGIN, or give the server a domain for passkeys"
        )));
    }
    if store.passkeys()?.is_empty() {
        return Ok(Some(
            "AUTH_PASSWORD_LOGIN=off, but no passkey is registered: nothing could sign in. \
             Start with password sign-in on, add a passkey on the account page, then set \
             AUTH_PASSWORD_LOGIN=off"
                .into(),
        ));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testkit::{add_passkey, recent, Kit};

    #[tokio::test]
    async fn the_switch_turns_off_only_with_a_passkey_and_is_recorded_once() {
        let kit = Kit::new(5);
        let switch = kit.password_login();
        let proof = recent(&kit).await;
        let mut events = Events::new();
        let off = switch.set(&proof, false, &mut events).await;
        assert!(matches!(
            off,
            Err(AuthError::Conflict(FactorConflict::NoPasskey))
        ));
        assert!(switch.state().unwrap().on, "refused: nothing changed");
        add_passkey(&kit);
        let off = switch.set(&proof, false, &mut events).await.unwrap();
        assert_eq!(
            off,
            PasswordLoginState {
                on: false,
                from_env: false
            }
        );
        assert!(matches!(
            switch.ensure_on(),
            Err(AuthError::PasswordLoginOff)
        ));
        switch.set(&proof, false, &mut events).await.unwrap();
        let on = switch.set(&proof, true, &mut events).await.unwrap();
        assert!(on.on);
        let details: Vec<_> = events.iter().map(|e| e.detail.as_str()).collect();
        assert_eq!(
            details,
            ["enabled=false", "enabled=true"],
            "one event per change"
        );
    }

    #[tokio::test]
    async fn the_environment_holds_it_off_and_start_up_needs_a_passkey() {
        let kit = Kit::with_env(&[("AUTH_PASSWORD_LOGIN", "off")]);
        let config = &kit.config;
        let problem = startup_problem(config, &kit.store).unwrap().unwrap();
        assert!(problem.contains("AUTH_PASSWORD_LOGIN"), "{problem}");
        add_passkey(&kit);
        assert_eq!(startup_problem(config, &kit.store).unwrap(), None);
        let switch = kit.password_login();
        assert_eq!(
            switch.state().unwrap(),
            PasswordLoginState {
                on: false,
                from_env: true
            }
        );
        let on = switch
            .set(&recent(&kit).await, true, &mut Events::new())
            .await;
        assert!(matches!(
            on,
            Err(AuthError::Conflict(FactorConflict::PasswordLoginByEnv))
        ));
    }
}
