//! `soloauth backup FILE` and `soloauth restore FILE`, with the server
//! stopped (sled admits one process: both refuse while it runs).
//!
//! A restore, step by step, each step durable before the next:
//!
//! 1. take the database's lock, so no server runs on the data directory
//!    (refused with "stop the server first" while one does);
//! 2. read and check the whole snapshot ([`snapshot::read`]: manifest,
//!    checksums, every tree decoded, the secret files usable); anything
//!    wrong (a corrupt or truncated file) and nothing has changed;
//! 3. build the restored data beside the current data, in
//!    `DATA/.restoring-<time>/`: the database imported and flushed, the
//!    secret files written (0600, synced), the database opened once as the
//!    server would and counted; a failure here removes only that new
//!    directory, and nothing else has changed;
//! 4. move everything in the data directory except `backups/` and earlier
//!    `replaced-*/` into `DATA/replaced-<time>/` (renames: nothing is
//!    deleted, ever);
//! 5. move the restored data in, sync the directory, and say what was
//!    restored and where the replaced data is.

use std::fs;
use std::io::BufReader;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::{stamp, sync_dir, write_file, DIR};
use crate::base::bootstrap;
use crate::storage::snapshot::{self, Snapshot};
use crate::storage::{Store, StoreError};

/// What a data directory holds, counted for the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    pub live_sessions: usize,
    pub passkeys: usize,
    pub api_tokens: usize,
    pub oidc_apps: usize,
    pub events: usize,
    pub totp: bool,
}

impl std::fmt::Display for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} live session(s), {} passkey(s), {} API token(s), {} OIDC app(s), {} audit event(s), TOTP {}",
            self.live_sessions,
            self.passkeys,
            self.api_tokens,
            self.oidc_apps,
            self.events,
            if self.totp { "on" } else { "off" }
        )
    }
}

/// Counts what `store` holds at `now`.
pub fn contents(store: &Store, now: i64) -> Result<Contents, StoreError> {
    Ok(Contents {
        live_sessions: store.list_sessions(now)?.len(),
        passkeys: store.passkeys()?.len(),
        api_tokens: store.api_tokens()?.len(),
        oidc_apps: store.oidc_clients()?.len(),
        events: store.events.len(),
        totp: store.totp_active()?.is_some(),
    })
}

fn size(bytes: u64) -> String {
    if bytes < 1 << 20 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    }
}

/// `soloauth backup FILE`: writes one snapshot of `data_dir` to `file`
/// (never over an existing file), taken at `now_millis`.
pub fn backup_to(data_dir: &Path, file: &Path, now_millis: i64) -> Result<String, String> {
    if fs::symlink_metadata(file).is_ok() {
        return Err(format!(
            "{} exists; name a new file (nothing is overwritten)",
            file.display()
        ));
    }
    if !data_dir.join("db").is_dir() {
        return Err(format!("there is no database in {}", data_dir.display()));
    }
    let store = Store::open(data_dir).map_err(|e| e.to_string())?;
    let source = store.snapshot_source();
    let never = AtomicBool::new(false);
    let (bytes, _) = write_file(&source, data_dir, file, now_millis, &never)
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let held = contents(&store, now_millis / 1000).map_err(|e| format!("storage error: {e}"))?;
    Ok(format!(
        "wrote {} ({}, mode 0600): {held}",
        file.display(),
        size(bytes)
    ))
}

/// `soloauth restore FILE` (see the module's steps): the report to print.
pub fn restore_from(data_dir: &Path, file: &Path, now_millis: i64) -> Result<String, String> {
    let _lock = snapshot::lock_data_dir(data_dir).map_err(|e| e.to_string())?;
    let unchanged = |why: String| format!("{}: {why}; nothing was changed", file.display());
    let opened = fs::File::open(file).map_err(|e| unchanged(e.to_string()))?;
    let snapshot = snapshot::read(BufReader::new(opened)).map_err(|e| unchanged(e.to_string()))?;

    bootstrap::ensure_data_dir(data_dir).map_err(unchanged)?;
    let time = stamp(now_millis);
    let staging = data_dir.join(format!(".restoring-{time}"));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&staging)
        .map_err(|e| unchanged(format!("cannot create {}: {e}", staging.display())))?;
    let held = match build(&snapshot, &staging, now_millis / 1000) {
        Ok(held) => held,
        Err(why) => {
            // Only the directory this call created.
            let _ = fs::remove_dir_all(&staging);
            return Err(unchanged(why));
        }
    };
    let aside = move_aside(data_dir, &staging, &time).map_err(|e| {
        format!(
            "moving the current data aside failed: {e}; nothing was deleted: the restored data \
             is in {}, what was moved so far in {}",
            staging.display(),
            data_dir.join(format!("replaced-{time}")).display()
        )
    })?;
    move_in(&staging, data_dir).map_err(|e| {
        format!(
            "moving the restored data in failed: {e}; nothing was deleted: it is in {}",
            staging.display()
        )
    })?;

    let manifest = &snapshot.manifest;
    let files: Vec<&str> = snapshot.files().map(|(name, _)| name).collect();
    let files = match files.is_empty() {
        true => "none (the environment gives them)".to_string(),
        false => files.join(", "),
    };
    let replaced = match aside {
        Some(aside) => format!(
            "the data it replaced is in {} (nothing was deleted)",
            aside.display()
        ),
        None => "there was no data to replace".to_string(),
    };
    Ok(format!(
        "restored {} (taken {} by soloauth {}) into {}:\n  {held}\n  secret files: {files}\n{replaced}",
        file.display(),
        manifest.created_at,
        manifest.soloauth_version,
        data_dir.display()
    ))
}

/// Step 3: the restored data directory in `staging`, counted.
fn build(snapshot: &Snapshot, staging: &Path, now: i64) -> Result<Contents, String> {
    snapshot
        .import(&staging.join("db"))
        .map_err(|e| format!("cannot import the database: {e}"))?;
    for (name, data) in snapshot.files() {
        let text = std::str::from_utf8(data).map_err(|e| e.to_string())?;
        bootstrap::write_secret_file(staging, name, text)?;
    }
    let store = Store::open(staging).map_err(|e| e.to_string())?;
    let held = contents(&store, now).map_err(|e| format!("storage error: {e}"))?;
    drop(store);
    snapshot::wait_closed(staging).map_err(|e| e.to_string())?;
    Ok(held)
}

/// Step 4: everything in `data_dir` but `backups/`, earlier replaced data
/// and `staging`, renamed into `replaced-<time>/`; its path, or `None`
/// when there was nothing to move.
fn move_aside(data_dir: &Path, staging: &Path, time: &str) -> std::io::Result<Option<PathBuf>> {
    let staging_name = staging.file_name().unwrap_or_default();
    let mut moving = Vec::new();
    for entry in fs::read_dir(data_dir)? {
        let name = entry?.file_name();
        let stays =
            name == DIR || name == staging_name || name.to_string_lossy().starts_with("replaced-");
        if !stays {
            moving.push(name);
        }
    }
    if moving.is_empty() {
        return Ok(None);
    }
    let aside = data_dir.join(format!("replaced-{time}"));
    fs::DirBuilder::new().mode(0o700).create(&aside)?;
    for name in moving {
        fs::rename(data_dir.join(&name), aside.join(&name))?;
    }
    sync_dir(&aside)?;
    sync_dir(data_dir)?;
    Ok(Some(aside))
}

/// Step 5: the restored files renamed from `staging` into `data_dir`.
fn move_in(staging: &Path, data_dir: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(staging)? {
        let name = entry?.file_name();
        fs::rename(staging.join(&name), data_dir.join(&name))?;
    }
    sync_dir(data_dir)?;
    fs::remove_dir(staging)?;
    sync_dir(data_dir)
}
