//! soloauth: a small, fast authentication server for one person.
//!
//! One admin account configured by environment, argon2id passwords, JWT
//! access tokens with rotating refresh tokens, and an embedded sled store
//! under one data directory. The parts, outside in:
//!
//! - [`http`]: the accept loop, routes, thin poem-openapi handlers,
//!   middleware, errors, client addresses, metrics, the audit recorder;
//! - [`auth`]: the domain, free of HTTP (the login flow, sessions, factors,
//!   lockouts, passwords, tokens), on narrow services with time injected;
//! - [`storage`]: sled trees, flushed before every acknowledgement;
//! - [`notify`]: sign-in alerts, delivered off the request path;
//! - [`backup`]: snapshots of the data directory while running, `backup`
//!   and `restore`;
//! - [`base`]: configuration, secrets, the clock and the first-run bootstrap.
//!
//! [`App::open`] + [`App::serve`] are what `soloauth serve` runs and what the
//! integration tests boot on `127.0.0.1:0`.

pub mod auth;
pub mod backup;
pub mod base;
pub mod cli;
pub mod http;
pub mod notify;
pub mod storage;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::base::bootstrap;
use crate::base::clock::Clock;
use crate::base::config::Config;
use crate::base::rp_id::RpId;
use crate::base::secret::ExposeSecret;
use crate::http::connections;
use crate::http::state::AppState;
use crate::storage::Store;

/// How long in-flight requests get to finish after a shutdown signal.
const GRACE: Duration = Duration::from_secs(10);
/// How often storage is probed and expired sessions are purged.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(10);
/// File descriptors kept back from connections (the store, secrets, logs).
const RESERVED_FDS: u64 = 64;
/// How long `serve` waits for the last holder of the state to let go.
const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// How long queued sign-in alerts get to go out after a shutdown signal.
const ALERT_DRAIN: Duration = Duration::from_secs(3);

/// A ready-to-serve server: config validated, secrets resolved, store open.
pub struct App {
    state: Arc<AppState>,
    courier: Option<notify::Courier>,
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
        bootstrap::tighten_modes(&config.data_dir);
        if let Some(password) = &keys.generated_password {
            println!(
                "\n  soloauth first run: admin username: {}\n  admin password: {}\n  (shown once; only its hash is kept in {})\n",
                config.admin_username,
                password.expose_secret(),
                config.data_dir.join("admin_password_hash").display()
            );
        }
        let (state, courier) = AppState::new(config, &keys, store, clock)?;
        Ok(App {
            state: Arc::new(state),
            courier,
        })
    }

    /// Serves on `listener` until `shutdown` completes, writing snapshots
    /// meanwhile ([`backup`]), then finishes in-flight requests (up to
    /// 10 s), cancels a snapshot being written, sends queued alerts (up to
    /// 3 s), flushes and closes the store. When it returns, the data directory is free for the
    /// next process (or the next test).
    pub async fn serve(
        mut self,
        listener: std::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        // Before the line that says it listens: from then on SIGUSR1 asks
        // for a snapshot rather than ending the process.
        let snapshots = backup::Snapshots::start(self.state.clone());
        tracing::info!(%addr, public_url = %self.state.config.public_url, "soloauth listening");
        match &self.state.config.webauthn_rp_id {
            RpId::Domain(rp_id) => tracing::info!(%rp_id, "passkeys are bound to this domain"),
            RpId::Off(why) => tracing::warn!("{why}"),
        }
        if let Some(notify) = &self.state.config.notify {
            let events = notify.events.join(",");
            tracing::info!(format = notify.format.as_str(), %events, "sign-in alerts are on");
        }
        let limits = connections::Limits {
            header_timeout: connections::HEADER_TIMEOUT,
            idle_timeout: self.state.config.idle_timeout,
            max_connections: connection_cap(),
            grace: GRACE,
        };
        let housekeeping = tokio::spawn(housekeeping(self.state.clone()));
        let courier = self.courier.take().map(|courier| {
            let (stop, stopped) = tokio::sync::oneshot::channel();
            (stop, tokio::spawn(courier.run(stopped)))
        });
        let result =
            connections::serve(listener, http::app(self.state.clone()), limits, shutdown).await;
        housekeeping.abort();
        let _ = housekeeping.await;
        snapshots.stop().await;
        if let Some((stop, mut delivering)) = courier {
            let _ = stop.send(());
            if tokio::time::timeout(ALERT_DRAIN, &mut delivering)
                .await
                .is_err()
            {
                delivering.abort();
                let queued = self.state.alerts.queued();
                tracing::warn!(
                    queued,
                    "shutting down: sign-in alerts not yet delivered are dropped"
                );
            }
        }
        self.close().await?;
        tracing::info!("soloauth stopped");
        result
    }

    /// Waits until nothing else holds the state, then flushes and closes the
    /// store (sled lets go of the data directory when its last handle drops).
    async fn close(self) -> std::io::Result<()> {
        let mut shared = self.state;
        let unique = async {
            loop {
                match Arc::try_unwrap(shared) {
                    Ok(state) => return state,
                    Err(still_shared) => {
                        shared = still_shared;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
        };
        let state = tokio::time::timeout(RELEASE_WAIT, unique)
            .await
            .map_err(|_| {
                std::io::Error::other("the application state is still in use after shutdown")
            })?;
        state
            .auth
            .store
            .close()
            .await
            .map_err(std::io::Error::other)
    }
}

/// How many connections may be open at once: the file-descriptor limit,
/// raised to its hard maximum first, less a reserve for everything else.
fn connection_cap() -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
        }
    }
    let fds = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    let cap = fds.saturating_sub(RESERVED_FDS).clamp(16, 1 << 20);
    usize::try_from(cap).unwrap_or(usize::MAX)
}

/// Probes storage and purges expired sessions, forever.
async fn housekeeping(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
    loop {
        tick.tick().await;
        let now = state.now();
        if !state.auth.store.probe(now).await {
            tracing::error!("storage probe failed");
        }
        if let Err(e) = state.auth.store.purge_expired_factors(now) {
            tracing::error!(error = %e, "purging expired challenges failed");
        }
        let window = i64::from(state.config.lockout_minutes) * 60;
        if let Err(e) = state.auth.store.purge_lockouts(now, window) {
            tracing::error!(error = %e, "purging old lockout records failed");
        }
        if let Err(e) = state.auth.provider().purge(now) {
            tracing::error!(error = %e, "purging old OIDC codes and tokens failed");
        }
        if let Err(e) = state.auth.store.purge_seen(now - storage::seen::REMEMBER) {
            tracing::error!(error = %e, "purging old sign-in addresses failed");
        }
        state.auth.rate.forget_idle();
        match state.auth.store.purge_expired(now) {
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
