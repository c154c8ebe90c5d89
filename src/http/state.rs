//! The shared application state every handler reaches: the configuration,
//! the clock, the auth domain's core (whose narrow services handlers borrow)
//! and the metrics.

use crate::auth::core::AuthCore;
use crate::base::bootstrap::Keys;
use crate::base::clock::Clock;
use crate::base::config::Config;
use crate::http::metrics::Metrics;
use crate::storage::Store;

/// Everything a request may need, built once at start.
pub struct AppState {
    pub config: Config,
    pub clock: Clock,
    pub auth: AuthCore,
    pub metrics: Metrics,
}

impl AppState {
    /// Builds the state from validated config, resolved secrets and an open store.
    pub fn new(config: Config, keys: &Keys, store: Store, clock: Clock) -> Result<Self, String> {
        Ok(AppState {
            auth: AuthCore::new(&config, keys, store, &clock)?,
            metrics: Metrics::new(),
            config,
            clock,
        })
    }

    /// The current time from the injected clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
