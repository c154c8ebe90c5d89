//! The shared application state every handler reaches.

use crate::auth::password::CredentialChecker;
use crate::auth::tokens::JwtKeys;
use crate::bootstrap::Keys;
use crate::clock::Clock;
use crate::config::Config;
use crate::storage::Store;

/// Everything a request may need, built once at start.
pub struct AppState {
    pub config: Config,
    pub clock: Clock,
    pub store: Store,
    pub jwt: JwtKeys,
    pub credentials: CredentialChecker,
}

impl AppState {
    /// Builds the state from validated config, resolved secrets and an open store.
    pub fn new(config: Config, keys: &Keys, store: Store, clock: Clock) -> Result<Self, String> {
        let credentials = CredentialChecker::new(
            config.admin_username.clone(),
            keys.admin_password_hash.clone(),
        )?;
        Ok(AppState {
            jwt: JwtKeys::new(&keys.jwt_secret, &keys.jwt_previous_secrets),
            credentials,
            config,
            clock,
            store,
        })
    }

    /// The current time from the injected clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
