//! soloauth: a small, fast authentication server for one person.
//!
//! One admin account configured by environment, argon2id passwords, JWT
//! access tokens with rotating refresh tokens, and an embedded sled store
//! under one data directory. The layers, outside in:
//!
//! - [`web`]: routes, static page, security headers, body limit, JSON errors;
//! - [`api`]: thin poem-openapi handlers;
//! - [`auth`]: the domain (passwords, tokens, sessions), time injected;
//! - [`storage`]: sled trees, flushed before every acknowledgement.
//!
//! [`App::open`] + [`App::serve`] are what `soloauth serve` runs and what the
//! integration tests boot on `127.0.0.1:0`.

pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod cli;
pub mod client_ip;
pub mod clock;
pub mod config;
pub mod error;
pub mod forward;
pub mod metrics;
pub mod secret;
pub mod storage;
pub mod web;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use poem::listener::TcpAcceptor;
use poem::Server;

use crate::app::AppState;
use crate::clock::Clock;
use crate::config::Config;
use crate::secret::ExposeSecret;
use crate::storage::Store;

/// How long in-flight requests get to finish after a shutdown signal.
const GRACE: Duration = Duration::from_secs(10);
/// How often storage is probed and expired sessions are purged.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(10);

/// A ready-to-serve server: config validated, secrets resolved, store open.
pub struct App {
    state: Arc<AppState>,
}

impl App {
    /// Resolves secrets (generating them on a first run outside production),
    /// opens the store and builds the state. Prints a generated admin password once.
    pub fn open(config: Config, clock: Clock) -> Result<App, String> {
        // The store first: it locks the data directory before any secret is
        // generated into it.
        bootstrap::ensure_data_dir(&config.data_dir)?;
        let store = Store::open(&config.data_dir).map_err(|e| e.to_string())?;
        let keys = bootstrap::resolve(&config)?;
        if let Some(password) = &keys.generated_password {
            println!(
                "\n  soloauth first run: admin username: {}\n  admin password: {}\n  (shown once; only its hash is kept in {})\n",
                config.admin_username,
                password.expose_secret(),
                config.data_dir.join("admin_password_hash").display()
            );
        }
        let state = AppState::new(config, &keys, store, clock)?;
        Ok(App {
            state: Arc::new(state),
        })
    }

    /// The shared state (tests use it to reach the clock and store).
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves on `listener` until `shutdown` completes, then finishes in-flight
    /// requests (up to 10 s) and flushes the store.
    pub async fn serve(
        self,
        listener: std::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        let acceptor = TcpAcceptor::from_tokio(listener)?;
        tracing::info!(%addr, public_url = %self.state.config.public_url, "soloauth listening");
        let housekeeping = tokio::spawn(housekeeping(self.state.clone()));
        let result = Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(web::app(self.state.clone()), shutdown, Some(GRACE))
            .await;
        housekeeping.abort();
        let _ = housekeeping.await;
        if let Err(e) = self.state.store.flush_blocking() {
            tracing::error!(error = %e, "final flush failed");
        }
        tracing::info!("soloauth stopped");
        result
    }
}

/// Probes storage and purges expired sessions, forever.
async fn housekeeping(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
    loop {
        tick.tick().await;
        let now = state.now();
        if !state.store.probe(now).await {
            tracing::error!("storage probe failed");
        }
        if let Err(e) = state.store.purge_expired_factors(now) {
            tracing::error!(error = %e, "purging expired challenges failed");
        }
        let window = i64::from(state.config.lockout_minutes) * 60;
        if let Err(e) = state.store.purge_lockouts(now, window) {
            tracing::error!(error = %e, "purging old lockout records failed");
        }
        state.rate_limits.forget_idle();
        match state.store.purge_expired(now) {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "purged expired sessions"),
            Err(e) => tracing::error!(error = %e, "purging expired sessions failed"),
        }
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
