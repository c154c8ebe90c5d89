//! The shared application state every handler reaches: the configuration,
//! the clock, the auth domain's core (whose narrow services handlers borrow),
//! the metrics and the outbox of sign-in alerts.

use crate::auth::core::AuthCore;
use crate::base::bootstrap::Keys;
use crate::base::clock::Clock;
use crate::base::config::Config;
use crate::http::metrics::Metrics;
use crate::notify::{self, Courier, Outbox};
use crate::storage::Store;

/// Everything a request may need, built once at start.
pub struct AppState {
    pub config: Config,
    pub clock: Clock,
    pub auth: AuthCore,
    pub metrics: Metrics,
    /// Where sign-in alerts are offered.
    pub alerts: Outbox,
}

impl AppState {
    /// Builds the state from validated config, resolved secrets and an open
    /// store; with it, the courier of sign-in alerts when they are on.
    pub fn new(
        config: Config,
        keys: &Keys,
        store: Store,
        clock: Clock,
    ) -> Result<(Self, Option<Courier>), String> {
        let metrics = Metrics::new();
        let (alerts, courier) = notify::outbox(config.notify.as_ref(), metrics.notify.clone())?;
        let state = AppState {
            auth: AuthCore::new(&config, keys, store, &clock)?,
            metrics,
            alerts,
            config,
            clock,
        };
        Ok((state, courier))
    }

    /// The current time from the injected clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
