//! Proof of a recent sign-in, which every sensitive action takes by type.
//!
//! Adding or removing a factor or a credential (TOTP setup, disabling it,
//! new recovery codes, passkeys, API tokens, OIDC apps) is a method that
//! takes a [`RecentSignIn`]. Its fields are private and only
//! `LoginFlow::recent_sign_in` (in `login::reauth`) makes one: from a [`Principal`] (a session
//! proven by an access token, from the `Authorization` header or the
//! host-only `soloauth_access` cookie; never the session cookie, which
//! every app under the cookie domain receives) and one `now`, when the
//! session signed in less than `AUTH_REAUTH_SECONDS` before it, or when the
//! current password, given again, checks out behind the lockout guard. The
//! action then runs at the proof's `now`: one instant for the check and
//! the change.

use super::sessions::{has_second_factor, Principal};
use super::Client;

/// What let the caller through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::auth) enum Through {
    /// The session signed in within the re-authentication window.
    RecentSession,
    /// The current password, given for this action.
    Password,
}

/// A session allowed to take a sensitive action now.
#[derive(Debug)]
pub struct RecentSignIn {
    session: String,
    second_factor: bool,
    through: Through,
    client: Client,
    now: i64,
}

impl RecentSignIn {
    /// The proof for `principal`'s session at `now` (made only by the
    /// login flow, once it checked the session's age or the password).
    pub(in crate::auth) fn new(
        principal: &Principal,
        through: Through,
        client: &Client,
        now: i64,
    ) -> Self {
        RecentSignIn {
            session: principal.session.id.clone(),
            second_factor: has_second_factor(&principal.claims.amr),
            through,
            client: client.clone(),
            now,
        }
    }

    /// The session taking the action (kept when a change revokes the others).
    pub fn session_id(&self) -> &str {
        &self.session
    }

    /// Whether that session signed in with a second factor.
    pub fn second_factor(&self) -> bool {
        self.second_factor
    }

    /// Whether the current password was given, and right, for this action.
    pub fn password_given(&self) -> bool {
        self.through == Through::Password
    }

    /// Who is asking.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The instant the proof was made: the action's time too.
    pub fn now(&self) -> i64 {
        self.now
    }
}
