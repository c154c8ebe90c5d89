//! Durable state in an embedded sled database under the data directory.
//!
//! One tree per concern (see [`trees`]), typed records encoded as JSON, and a
//! schema version in `meta`. Every function that changes state the client will
//! be told about is followed by [`Store::flush`] before the response, so an
//! acknowledged change survives `kill -9`. sled allows one process at a time:
//! opening a data directory another process holds fails with
//! [`OpenError::InUse`], which the CLI reports as "stop the server first".
//!
//! Every [`Store`] method fails with a [`StoreError`]: sled's own error, or
//! a record that does not decode or encode ([`codec`]). A record that does
//! not decode is never read as absent, and no update, purge or listing
//! removes or rewrites it (the `tree` module).

pub mod api_tokens;
pub mod codec;
pub mod events;
pub mod factors;
pub mod lockouts;
pub mod oidc;
pub mod passkeys;
pub mod seen;
pub mod sessions;
pub mod snapshot;
pub(crate) mod tree;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

pub use codec::StoreError;
use tree::Tree;

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
    #[error(
        "cannot open the database in {dir}: {source}. The schema version says how to read \
         everything else, so soloauth will not guess it: restore the data directory from a backup"
    )]
    UnreadableSchema { dir: String, source: StoreError },
    #[error(
        "the database in {dir} is empty or unreadable, but this data directory held one \
         (its files were there, or {marker} says so): soloauth will not start a new, empty \
         account over it. With the server stopped, restore the newest snapshot in the data \
         directory's backups/ folder with `soloauth restore FILE`"
    )]
    Lost { dir: String, marker: String },
}

/// A file beside the database, written once the database holds its schema
/// version: a data directory that has it but whose database is empty lost
/// its database (damaged files, a volume copied mid-write), and must not
/// open as a new, empty account (two-factor off, sessions gone).
pub const DB_MARKER: &str = "db.created";

/// The database and its trees.
pub struct Store {
    db: sled::Db,
    /// sled's `db` file, whose lock says the data directory is in use.
    lock_file: std::path::PathBuf,
    meta: Tree,
    pub(crate) sessions: Tree,
    pub(crate) retired_refresh: Tree,
    pub(crate) factors: Tree,
    pub(crate) mfa_challenges: Tree,
    pub(crate) lockouts: Tree,
    pub(crate) events: Tree,
    pub(crate) passkeys: Tree,
    pub(crate) oidc_keys: Tree,
    pub(crate) oidc_clients: Tree,
    pub(crate) oidc_codes: Tree,
    pub(crate) oidc_grants: Tree,
    pub(crate) oidc_access: Tree,
    pub(crate) api_tokens: Tree,
    pub(crate) seen: Tree,
    /// Events stored (counted once at open; sled's `len` walks the tree).
    pub(crate) event_count: std::sync::atomic::AtomicUsize,
    healthy: AtomicBool,
    /// One clone per flush running on the blocking pool: [`Store::close`]
    /// waits for them, since each holds a handle on the database.
    flushes: std::sync::Arc<()>,
    /// How many flushes were asked for (tests count them per request).
    flushes_asked: std::sync::atomic::AtomicU64,
}

impl Store {
    /// Opens (or creates) the database in `dir/db` and checks its schema version.
    pub fn open(dir: &Path) -> Result<Store, OpenError> {
        let path = dir.join("db");
        let shown = path.display().to_string();
        // sled's own file, there before it opens: a database was made here.
        let existed = path.join("db").exists();
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
        let open_tree = |name: &'static str| {
            db.open_tree(name)
                .map(|tree| Tree::new(tree, name))
                .map_err(|e| OpenError::Sled {
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
            flushes_asked: std::sync::atomic::AtomicU64::new(0),
        };
        store
            .event_count
            .store(store.events.len(), Ordering::SeqCst);
        let marker = dir.join(DB_MARKER);
        store.check_schema(&marker, existed).map_err(|e| match e {
            SchemaError::TooNew(found) => OpenError::TooNew { found },
            SchemaError::Lost => OpenError::Lost {
                dir: shown.clone(),
                marker: marker.display().to_string(),
            },
            SchemaError::Store(StoreError::Sled(source)) => OpenError::Sled { dir: shown, source },
            SchemaError::Store(source) => OpenError::UnreadableSchema { dir: shown, source },
        })?;
        Ok(store)
    }

    /// Checks the schema version, writing it in a new data directory. One
    /// that does not decode stops the open: it is never taken for 0. None in
    /// a database whose files `existed` before this open, or beside the
    /// [`DB_MARKER`], means the database was lost: the open stops.
    fn check_schema(&self, marker: &Path, existed: bool) -> Result<(), SchemaError> {
        match self.meta.read::<u32>(SCHEMA_KEY)? {
            Some(found) if found > SCHEMA_VERSION => Err(SchemaError::TooNew(found)),
            Some(_) => Ok(()),
            None if existed || marker.exists() => Err(SchemaError::Lost),
            None => {
                self.meta.put(SCHEMA_KEY, &SCHEMA_VERSION)?;
                self.db.flush().map_err(StoreError::from)?;
                Ok(())
            }
        }?;
        if !marker.exists() {
            write_marker(marker).map_err(|e| StoreError::Sled(sled::Error::Io(e)))?;
        }
        Ok(())
    }

    /// Writes everything to disk; call before acknowledging a change.
    ///
    /// The blocking `flush` runs on tokio's blocking pool: sled 0.34's
    /// `flush_async` was seen to never wake its caller under concurrent
    /// flushes, hanging the request.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.flushes_asked.fetch_add(1, Ordering::Relaxed);
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
        Ok(result?)
    }

    /// Flushes and closes the database, once every flush still running on
    /// the blocking pool (e.g. of a request cut short) has let go of it.
    /// When this returns, the data directory is free: sled's own background
    /// threads may hold its file a moment after the last handle is dropped,
    /// so this waits until the file's lock can be taken.
    pub async fn close(self) -> Result<(), StoreError> {
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

    /// How many times [`Store::flush`] was called since the store opened.
    pub fn flush_count(&self) -> u64 {
        self.flushes_asked.load(Ordering::Relaxed)
    }

    /// Writes everything to disk, blocking (shutdown and CLI).
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// A real round trip through the database: write, flush and read back a probe.
    pub async fn probe(&self, now: i64) -> bool {
        let ok = async {
            self.meta.put(PROBE_KEY, &now)?;
            self.flush().await?;
            Ok::<bool, StoreError>(self.meta.read::<i64>(PROBE_KEY)? == Some(now))
        }
        .await
        .unwrap_or(false);
        self.healthy.store(ok, Ordering::Relaxed);
        ok
    }

    /// The outcome of the last probe or flush, plus a cheap read now.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed) && self.meta.get(SCHEMA_KEY).is_ok()
    }
}

/// The `meta` keys of the schema version and of the health probe.
pub(crate) const SCHEMA_KEY: &str = "schema_version";
const PROBE_KEY: &str = "health_probe";

enum SchemaError {
    TooNew(u32),
    /// No schema version, but the marker says there was a database.
    Lost,
    Store(StoreError),
}

/// Writes [`DB_MARKER`] durably (0600, synced, then its directory).
fn write_marker(path: &Path) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(
        b"soloauth: this data directory has a database (db/). If db/ is ever empty while \
this file exists, the database was lost: restore a snapshot from backups/.\n",
    )?;
    file.sync_all()?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl From<StoreError> for SchemaError {
    fn from(e: StoreError) -> Self {
        SchemaError::Store(e)
    }
}

/// A store in a fresh temporary directory (unit tests).
#[cfg(test)]
pub(crate) fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

/// Bytes no record decodes from: unit tests plant them in a tree.
#[cfg(test)]
pub(crate) const UNDECODABLE: &[u8] = b"{\"half\": a record";

/// Plants [`UNDECODABLE`] under `key` of `tree` (unit tests).
#[cfg(test)]
pub(crate) fn plant(tree: &Tree, key: impl AsRef<[u8]>) {
    tree.insert(key.as_ref(), UNDECODABLE).unwrap();
}

/// Asserts the planted record under `key` of `tree` is there, byte for byte.
#[cfg(test)]
#[track_caller]
pub(crate) fn assert_kept(tree: &Tree, key: impl AsRef<[u8]>) {
    let key = key.as_ref();
    assert_eq!(
        tree.get(key).unwrap().as_deref(),
        Some(UNDECODABLE),
        "the record {} of {} is not as planted",
        codec::show_key(key),
        tree.name
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store in `dir` with `value` as its schema version, closed.
    async fn with_schema_version(dir: &Path, value: &[u8]) {
        let store = Store::open(dir).unwrap();
        store.meta.insert(SCHEMA_KEY, value).unwrap();
        store.close().await.unwrap();
    }

    /// The raw schema version in `dir`, once sled lets go of it.
    fn raw_schema_version(dir: &Path) -> Option<Vec<u8>> {
        for _ in 0..500 {
            if let Ok(db) = sled::open(dir.join("db")) {
                let meta = db.open_tree(trees::META).unwrap();
                return meta.get(SCHEMA_KEY).unwrap().map(|v| v.to_vec());
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the database stays locked");
    }

    #[tokio::test]
    async fn an_undecodable_schema_version_stops_the_open_and_stays() {
        let dir = tempfile::tempdir().unwrap();
        with_schema_version(dir.path(), UNDECODABLE).await;
        let refused = Store::open(dir.path()).err().expect("opened as schema 0");
        let shown = refused.to_string();
        assert!(
            matches!(refused, OpenError::UnreadableSchema { .. }),
            "{shown}"
        );
        assert!(
            shown.contains("schema_version") && shown.contains("meta"),
            "{shown}"
        );
        assert_eq!(raw_schema_version(dir.path()).as_deref(), Some(UNDECODABLE));
    }

    #[tokio::test]
    async fn a_schema_version_newer_than_the_build_stops_the_open() {
        let dir = tempfile::tempdir().unwrap();
        let newer = (SCHEMA_VERSION + 1).to_string();
        with_schema_version(dir.path(), newer.as_bytes()).await;
        let refused = Store::open(dir.path())
            .err()
            .expect("opened a newer schema");
        assert!(matches!(refused, OpenError::TooNew { found } if found == SCHEMA_VERSION + 1));
    }

    #[tokio::test]
    async fn a_lost_database_never_opens_as_a_new_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(
            dir.path().join(DB_MARKER).exists(),
            "a new database is marked"
        );
        store.close().await.unwrap();
        // Its files gone (a wiped db/): the marker says there was one.
        std::fs::remove_dir_all(dir.path().join("db")).unwrap();
        let refused = Store::open(dir.path()).err().expect("opened empty");
        assert!(matches!(refused, OpenError::Lost { .. }), "{refused}");
        assert!(
            refused.to_string().contains("soloauth restore"),
            "{refused}"
        );
        // Its files there but empty of records (sled recovered nothing): a
        // database was made here, marker or not.
        std::fs::remove_file(dir.path().join(DB_MARKER)).unwrap();
        let db = sled::open(dir.path().join("db")).unwrap();
        db.flush().unwrap();
        drop(db);
        let refused = raw_open_until_free(dir.path());
        assert!(matches!(refused, Err(OpenError::Lost { .. })));
    }

    /// [`Store::open`], once sled lets go of the directory.
    fn raw_open_until_free(dir: &Path) -> Result<Store, OpenError> {
        for _ in 0..500 {
            match Store::open(dir) {
                Err(OpenError::InUse(_)) => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                other => return other,
            }
        }
        panic!("the database stays locked");
    }
}
