//! Authentication, free of HTTP: the login flow and the narrow services it
//! runs on. Nothing here knows about requests, responses or the server
//! state; every service borrows just what it needs (the store, keys, the
//! vault, a policy) and every function takes `now`, so each part is
//! unit-tested with a temporary store and a chosen time.
//!
//! - [`core`]: what the domain owns (store, keys, policies), from which
//!   the services are built;
//! - [`login`]: the one place that decides a sign-in: first step, second
//!   step, finishing into a session, refresh; [`recent`]: the proof of a
//!   recent sign-in that sensitive actions take;
//! - [`lockout`]: rate limits and lockouts, reserved before any check;
//!   [`attempt`]: what it counts (which attempt, which refusals fail);
//! - [`factor`]: the factors a sign-in is made of and the credentials
//!   that prove them, dispatched in the login flow;
//! - [`sessions`], [`factors`], [`passkeys`], [`api_tokens`]: sessions, the
//!   second factor, passkeys and API tokens; [`password_login`]: password
//!   sign-in on or off (the passwordless account);
//! - [`forward`]: forward auth's verdict for a request under a rule;
//! - [`oidc`]: the OpenID Connect provider; [`oidc_apps`]: the apps the
//!   owner adds and removes;
//! - [`password`], [`tokens`], [`refresh`], [`totp`], [`recovery`],
//!   [`vault`]: the primitives;
//! - [`events`]: what a decision produced, for the audit log and metrics;
//! - [`error`]: why a decision was refused.

pub mod api_tokens;
pub mod attempt;
pub mod core;
pub mod error;
pub mod events;
pub mod factor;
pub mod factors;
pub mod forward;
pub mod lockout;
pub mod login;
pub mod oidc;
pub mod oidc_apps;
pub mod passkeys;
pub mod password;
pub mod password_login;
pub mod recent;
pub mod recovery;
pub mod refresh;
pub mod sessions;
#[cfg(test)]
pub(crate) mod testkit;
pub mod tokens;
pub mod totp;
pub mod vault;

pub use error::{AuthError, AuthResult};

/// Who is asking: the client's address (as the HTTP layer determined it)
/// and user agent, recorded on sessions and events.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: std::net::IpAddr,
    pub user_agent: String,
}
