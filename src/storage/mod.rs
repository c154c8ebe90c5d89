//! Durable state in an embedded sled database under the data directory.
//!
//! One tree per concern (see [`trees`]), typed records encoded as JSON, and a
//! schema version in `meta`. Every function that changes state the client will
//! be told about is followed by [`Store::flush`] before the response, so an
//! acknowledged change survives `kill -9`. sled allows one process at a time:
//! opening a data directory another process holds fails with
//! [`OpenError::InUse`], which the CLI reports as "stop the server first".

pub mod api_tokens;
pub mod events;
pub mod factors;
pub mod lockouts;
pub mod oidc;
pub mod passkeys;
pub mod seen;
pub mod sessions;
pub mod snapshot;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

/// The on-disk layout this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Names of the sled trees.
pub mod trees {
    pub const META: &str = "meta";
    pub const SESSIONS: &str = "sessions";
    pub const RETIRED_REFRESH: &str = "retired_refresh";
    pub const FACTORS: &str = "factors";
    pub const MFA_CHALLENGES: &str = "mfa_challenges";
    pub const LOCKOUTS: &str = "lockouts";
    pub const EVENTS: &str = "events";
    pub const PASSKEYS: &str = "passkeys";
    pub const OIDC_KEYS: &str = "oidc_keys";
    pub const OIDC_CLIENTS: &str = "oidc_clients";
    pub const OIDC_CODES: &str = "oidc_codes";
    pub const OIDC_GRANTS: &str = "oidc_grants";
    pub const OIDC_ACCESS: &str = "oidc_access";
    pub const API_TOKENS: &str = "api_tokens";
    pub const SEEN: &str = "seen";
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "the data directory {0} is in use by another soloauth process (stop the server first)"
    )]
    InUse(String),
    #[error("the data directory was written by a newer soloauth (schema {found}, this build knows {SCHEMA_VERSION})")]
    TooNew { found: u32 },
    #[error("cannot open the database in {dir}: {source}")]
    Sled { dir: String, source: sled::Error },
}

/// The database and its trees.
pub struct Store {
    db: sled::Db,
    /// sled's `db` file, whose lock says the data directory is in use.
    lock_file: std::path::PathBuf,
    meta: sled::Tree,
    pub(crate) sessions: sled::Tree,
    pub(crate) retired_refresh: sled::Tree,
    pub(crate) factors: sled::Tree,
    pub(crate) mfa_challenges: sled::Tree,
    pub(crate) lockouts: sled::Tree,
    pub(crate) events: sled::Tree,
    pub(crate) passkeys: sled::Tree,
    pub(crate) oidc_keys: sled::Tree,
    pub(crate) oidc_clients: sled::Tree,
    pub(crate) oidc_codes: sled::Tree,
    pub(crate) oidc_grants: sled::Tree,
    pub(crate) oidc_access: sled::Tree,
    pub(crate) api_tokens: sled::Tree,
    pub(crate) seen: sled::Tree,
    /// Events stored (counted once at open; sled's `len` walks the tree).
    pub(crate) event_count: std::sync::atomic::AtomicUsize,
    healthy: AtomicBool,
    /// One clone per flush running on the blocking pool: [`Store::close`]
    /// waits for them, since each holds a handle on the database.
    flushes: std::sync::Arc<()>,
}

impl Store {
    /// Opens (or creates) the database in `dir/db` and checks its schema version.
    pub fn open(dir: &Path) -> Result<Store, OpenError> {
        let path = dir.join("db");
        let shown = path.display().to_string();
        let db = sled::Config::new()
            .path(&path)
            .open()
            .map_err(|e| match &e {
                sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                    OpenError::InUse(dir.display().to_string())
                }
                sled::Error::Io(io) if io.to_string().contains("lock") => {
                    OpenError::InUse(dir.display().to_string())
                }
                _ => OpenError::Sled {
                    dir: shown.clone(),
                    source: e,
                },
            })?;
        let open_tree = |name: &str| {
            db.open_tree(name).map_err(|e| OpenError::Sled {
                dir: shown.clone(),
                source: e,
            })
        };
        let store = Store {
            lock_file: path.join("db"),
            meta: open_tree(trees::META)?,
            sessions: open_tree(trees::SESSIONS)?,
            retired_refresh: open_tree(trees::RETIRED_REFRESH)?,
            factors: open_tree(trees::FACTORS)?,
            mfa_challenges: open_tree(trees::MFA_CHALLENGES)?,
            lockouts: open_tree(trees::LOCKOUTS)?,
            event_count: std::sync::atomic::AtomicUsize::new(0),
            events: open_tree(trees::EVENTS)?,
            passkeys: open_tree(trees::PASSKEYS)?,
            oidc_keys: open_tree(trees::OIDC_KEYS)?,
            oidc_clients: open_tree(trees::OIDC_CLIENTS)?,
            oidc_codes: open_tree(trees::OIDC_CODES)?,
            oidc_grants: open_tree(trees::OIDC_GRANTS)?,
            oidc_access: open_tree(trees::OIDC_ACCESS)?,
            api_tokens: open_tree(trees::API_TOKENS)?,
            seen: open_tree(trees::SEEN)?,
            db,
            healthy: AtomicBool::new(true),
            flushes: std::sync::Arc::new(()),
        };
        store
            .event_count
            .store(store.events.len(), Ordering::SeqCst);
        store.check_schema().map_err(|e| match e {
            SchemaError::TooNew(found) => OpenError::TooNew { found },
            SchemaError::Sled(source) => OpenError::Sled { dir: shown, source },
        })?;
        Ok(store)
    }

    fn check_schema(&self) -> Result<(), SchemaError> {
        match self.meta.get("schema_version")? {
            Some(raw) => {
                let found = decode::<u32>(&raw).unwrap_or(0);
                if found > SCHEMA_VERSION {
                    return Err(SchemaError::TooNew(found));
                }
            }
            None => {
                self.meta
                    .insert("schema_version", encode(&SCHEMA_VERSION)?)?;
                self.db.flush()?;
            }
        }
        Ok(())
    }

    /// Writes everything to disk; call before acknowledging a change.
    ///
    /// The blocking `flush` runs on tokio's blocking pool: sled 0.34's
    /// `flush_async` was seen to never wake its caller under concurrent
    /// flushes, hanging the request.
    pub async fn flush(&self) -> Result<(), sled::Error> {
        let db = self.db.clone();
        let running = self.flushes.clone();
        let result = tokio::task::spawn_blocking(move || {
            let flushed = db.flush();
            drop(db);
            drop(running);
            flushed
        })
        .await
        .unwrap_or_else(|e| Err(sled::Error::Io(std::io::Error::other(e.to_string()))))
        .map(|_| ());
        self.healthy.store(result.is_ok(), Ordering::Relaxed);
        result
    }

    /// Flushes and closes the database, once every flush still running on
    /// the blocking pool (e.g. of a request cut short) has let go of it.
    /// When this returns, the data directory is free: sled's own background
    /// threads may hold its file a moment after the last handle is dropped,
    /// so this waits until the file's lock can be taken.
    pub async fn close(self) -> Result<(), sled::Error> {
        let flushed = self.flush_blocking();
        let (flushes, lock_file) = (self.flushes.clone(), self.lock_file.clone());
        drop(self);
        let released = async {
            while std::sync::Arc::strong_count(&flushes) > 1 {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            loop {
                let file = std::fs::File::open(&lock_file);
                match file.and_then(|f| f.try_lock().map_err(std::io::Error::from)) {
                    Ok(()) => return Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        tokio::time::sleep(std::time::Duration::from_millis(2)).await
                    }
                    Err(e) => return Err(sled::Error::Io(e)),
                }
            }
        };
        let still_held = |_| sled::Error::Io(std::io::Error::other("the database is still in use"));
        tokio::time::timeout(std::time::Duration::from_secs(5), released)
            .await
            .map_err(still_held)??;
        flushed
    }

    /// Writes everything to disk, blocking (shutdown and CLI).
    pub fn flush_blocking(&self) -> Result<(), sled::Error> {
        self.db.flush().map(|_| ())
    }

    /// A real round trip through the database: write, flush and read back a probe.
    pub async fn probe(&self, now: i64) -> bool {
        let ok = async {
            self.meta.insert("health_probe", encode(&now)?)?;
            self.flush().await?;
            let back = self.meta.get("health_probe")?;
            Ok::<bool, sled::Error>(back.and_then(|v| decode::<i64>(&v)) == Some(now))
        }
        .await
        .unwrap_or(false);
        self.healthy.store(ok, Ordering::Relaxed);
        ok
    }

    /// The outcome of the last probe or flush, plus a cheap read now.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed) && self.meta.get("schema_version").is_ok()
    }
}

enum SchemaError {
    TooNew(u32),
    Sled(sled::Error),
}

impl From<sled::Error> for SchemaError {
    fn from(e: sled::Error) -> Self {
        SchemaError::Sled(e)
    }
}

/// Encodes a record for storage. A record that cannot be encoded is an
/// error (a bug), never stored as an empty value.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, sled::Error> {
    serde_json::to_vec(value)
        .map_err(|e| sled::Error::ReportableBug(format!("cannot encode a record: {e}")))
}

/// Decodes a stored record; a record that does not decode reads as absent.
pub(crate) fn decode<'a, T: serde::Deserialize<'a>>(raw: &'a [u8]) -> Option<T> {
    match serde_json::from_slice(raw) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!(error = %e, "undecodable record in storage");
            None
        }
    }
}

/// A store in a fresh temporary directory (unit tests).
#[cfg(test)]
pub(crate) fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}
