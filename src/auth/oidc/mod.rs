//! The OpenID Connect provider: "Sign in with soloauth" for apps that have
//! a login of their own (Immich, Grafana, Nextcloud…).
//!
//! - [`clients`]: the apps, from the environment or added from the page;
//! - [`keys`]: the RS256 signing keys and the JWKS;
//! - [`tokens`]: the claims of ID tokens and userinfo;
//! - [`authorize`]: what an authorization request leads to (a code, the
//!   login page, the consent page, an error for the app or a page);
//! - [`login_after`]: the signed sign-in time the login page comes back with;
//! - [`client_auth`]: who is calling the token and revocation endpoints;
//! - [`cors`]: which browser origins may call the provider from their pages;
//! - [`provider`]: codes, the token endpoint, userinfo, revocation;
//! - [`housekeeping`]: forgetting old codes, tokens and ended grants.

pub mod authorize;
pub mod client_auth;
pub mod clients;
pub mod cors;
pub mod housekeeping;
pub mod keys;
pub mod login_after;
pub mod provider;
pub mod tokens;
