//! Re-authentication: the login flow's check that makes a [`RecentSignIn`],
//! the proof every sensitive action takes (see [`crate::auth::recent`]).

use super::LoginFlow;
use crate::auth::attempt::Attempt;
use crate::auth::events::Events;
use crate::auth::factor::{Credential, Stage};
use crate::auth::recent::{RecentSignIn, Through};
use crate::auth::sessions::Principal;
use crate::auth::{AuthError, AuthResult, Client};
use crate::base::secret::SecretString;

impl LoginFlow<'_> {
    /// The proof that `principal` may take a sensitive action at `now`: its
    /// session signed in less than `reauth_seconds` ago, or `password` is
    /// right (checked like a login: rate limit, lockout, events; a password
    /// given is always checked, unless password sign-in is off:
    /// `PasswordLoginOff`). Otherwise `ReauthRequired`: an access token
    /// alone, stolen from a cookie, cannot add a factor.
    pub async fn recent_sign_in(
        &self,
        principal: &Principal,
        client: &Client,
        password: Option<SecretString>,
        now: i64,
        events: &mut Events,
    ) -> AuthResult<RecentSignIn> {
        let through = match password {
            None if now - principal.session.created_at < self.sessions.policy.reauth_seconds => {
                Through::RecentSession
            }
            None => return Err(AuthError::ReauthRequired),
            Some(password) => {
                self.password_login.ensure_on()?;
                let username = self.credentials.username();
                let credential = Credential::Password { username, password };
                let check = async |own: &mut Events| {
                    self.check(Stage::Start, credential, client, now, own).await
                };
                let lockout = &self.lockout;
                lockout
                    .guarded(client, Attempt::Reauth, now, events, check)
                    .await?;
                Through::Password
            }
        };
        Ok(RecentSignIn::new(principal, through, client, now))
    }
}

#[cfg(test)]
mod tests {
    use crate::auth::events::Events;
    use crate::auth::testkit::{client, principal, secret, Kit, PASSWORD};
    use crate::auth::AuthError;

    #[tokio::test]
    async fn a_fresh_session_passes_until_the_window_ends() {
        let kit = Kit::new(5);
        let login = kit.login();
        let principal = principal(&kit).await;
        let mut events = Events::new();
        let signed_in = principal.session.created_at;
        let fresh = login
            .recent_sign_in(&principal, &client(), None, signed_in + 599, &mut events)
            .await
            .unwrap();
        assert_eq!(fresh.session_id(), principal.session.id);
        assert_eq!(
            fresh.now(),
            signed_in + 599,
            "the action runs at the proof's time"
        );
        assert!(!fresh.password_given() && !fresh.second_factor());
        let expired = login
            .recent_sign_in(&principal, &client(), None, signed_in + 600, &mut events)
            .await;
        assert!(matches!(expired, Err(AuthError::ReauthRequired)));
        assert!(events.is_empty(), "no password, nothing to count");
    }

    #[tokio::test]
    async fn the_password_passes_an_old_session_and_a_wrong_one_counts_towards_the_lockout() {
        let kit = Kit::new(2);
        let login = kit.login();
        let principal = principal(&kit).await;
        let later = principal.session.created_at + 3600;
        let mut events = Events::new();
        let right = login
            .recent_sign_in(
                &principal,
                &client(),
                Some(secret(PASSWORD)),
                later,
                &mut events,
            )
            .await
            .unwrap();
        assert!(right.password_given());
        for _ in 0..2 {
            let wrong = login
                .recent_sign_in(
                    &principal,
                    &client(),
                    Some(secret("nope")),
                    later,
                    &mut events,
                )
                .await;
            assert!(matches!(wrong, Err(AuthError::InvalidCredentials)));
        }
        let locked = login
            .recent_sign_in(
                &principal,
                &client(),
                Some(secret(PASSWORD)),
                later,
                &mut events,
            )
            .await;
        assert!(
            matches!(locked, Err(AuthError::Locked { .. })),
            "two wrong passwords lock the address, the right one included"
        );
        let fresh = principal.session.created_at + 1;
        let given = login
            .recent_sign_in(
                &principal,
                &client(),
                Some(secret("nope")),
                fresh,
                &mut events,
            )
            .await;
        assert!(
            matches!(given, Err(AuthError::Locked { .. })),
            "a password given is checked even within the window"
        );
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "login_failure",
                "login_failure",
                "lockout",
                "locked",
                "locked"
            ]
        );
        assert!(
            events[0].detail.contains("via=reauth"),
            "{}",
            events[0].detail
        );
    }
}
