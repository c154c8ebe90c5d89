//! The OpenID Connect provider: "Sign in with soloauth" for apps that have
//! a login of their own (Immich, Grafana, Nextcloud…).
//!
//! - [`clients`]: the apps, from the environment or added from the page;
//! - [`keys`]: the RS256 signing keys and the JWKS;
//! - [`tokens`]: the claims of ID tokens and userinfo;
//! - [`provider`]: authorize, the token endpoint, userinfo, revocation;
//! - [`housekeeping`]: forgetting old codes, tokens and ended grants.

pub mod clients;
pub mod housekeeping;
pub mod keys;
pub mod provider;
pub mod tokens;
