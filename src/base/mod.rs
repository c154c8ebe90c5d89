//! What the server runs with: configuration from the environment, secrets
//! as types, the one clock, and the first-run bootstrap that generates and
//! keeps missing secrets in the data directory, the access rules for
//! forward auth, what the OpenID Connect provider is configured with,
//! where sign-in alerts go, and the table of every variable read; and
//! [`amr`], the names of how a sign-in was made, which every layer shares.

pub mod amr;
pub mod bootstrap;
pub mod clock;
pub mod config;
pub mod notify_config;
pub mod oidc_config;
pub mod rp_id;
pub mod rules;
pub mod secret;
pub mod variables;
