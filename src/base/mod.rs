//! What the server runs with: configuration from the environment, secrets
//! as types, the one clock, and the first-run bootstrap that generates and
//! keeps missing secrets in the data directory, and the access rules for
//! forward auth.

pub mod bootstrap;
pub mod clock;
pub mod config;
pub mod rp_id;
pub mod rules;
pub mod secret;
