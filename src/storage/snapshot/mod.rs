//! Snapshots: the whole data directory (every sled tree and the kept secret
//! files) as one tar file, which a restore checks completely before it
//! changes anything. Where snapshots are written, when and how many are
//! kept is [`crate::backup`]'s business; this is the format.
//!
//! # Format, version 1
//!
//! A POSIX ustar archive, every member a regular file of mode 0600:
//!
//! - `trees/<name>.kv`, one per sled tree (sled's default tree
//!   `__sled__default` too): the tree's records in key order, each as the
//!   key's length (u32, big-endian), the key, the value's length (u32,
//!   big-endian), the value; nothing else. Values are soloauth's records as
//!   stored (JSON).
//! - `files/<name>`, each secret file kept in the data directory
//!   (`jwt_secret`, `encryption_key`, `admin_password_hash`) that exists.
//! - `manifest.json`: `format` (`"soloauth-snapshot"`), `format_version`
//!   (1), `soloauth_version`, `schema_version` (the database's), `created_at`
//!   (UTC, RFC 3339 with milliseconds: when reading began) and `members`:
//!   each member above, in order, with its `name`, `size`, `sha256` (hex)
//!   and, for a tree, its `records`.
//! - `manifest.sha256`: the SHA-256 of `manifest.json`, hex, and a newline.
//!
//! The manifest comes last, so a file cut short never passes for a whole
//! one; [`read`] checks the manifest's checksum, every member's size and
//! checksum, decodes every tree to the record count the manifest gives, and
//! validates the secret files, before anything may be restored from it.
//!
//! # What "consistent" means here
//!
//! sled has no point-in-time view of a database: an iterator reads each
//! record as it is when the iterator reaches it, and a snapshot reads one
//! tree after another while the server goes on serving. So:
//!
//! - every change acknowledged before the snapshot began is in it, or else
//!   a later change of the same record is (a refresh token's newer hash, a
//!   revoked session's absence): soloauth applies and flushes a change
//!   before it answers, and a record is read whole, never half-written;
//! - a change made while the snapshot is being read may be in it or not,
//!   and of a change spanning two trees (a refresh rotation swaps the
//!   session's hash and files the old one in `retired_refresh`) either side
//!   may be caught. The session's own hash is checked first, so the worst
//!   that follows is that a token rotated during the snapshot is refused
//!   as unknown after a restore, rather than taken for a reused one.
//!
//! No flush precedes the reading: the iterators read what sled holds in
//! memory, which includes every applied change; the file is made durable
//! by its writer.
//!
//! # Secrets
//!
//! A snapshot holds what the data directory holds: the kept secret files,
//! the admin password's hash, the hashes of refresh tokens, session
//! cookies and API tokens, and the TOTP secret and OIDC signing key
//! (encrypted under the encryption key, which may be in the same file).
//! Whoever writes one gives it mode 0600; keep copies like the data
//! directory itself.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::codec::decode;
use super::{trees, Store, StoreError, SCHEMA_KEY, SCHEMA_VERSION};
use crate::base::bootstrap::KEPT_SECRETS;
use crate::base::clock::{rfc3339_millis, Stopwatch};

/// The manifest's `format`.
pub const FORMAT: &str = "soloauth-snapshot";
/// The version of the format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";
const MANIFEST_SUM: &str = "manifest.sha256";
const TREES: &str = "trees/";
const FILES: &str = "files/";
/// Records read between two looks at the cancel flag.
const CANCEL_EVERY: u64 = 1024;
/// More members than any snapshot has: a bound on what a corrupt file makes [`read`] keep.
const MAX_MEMBERS: usize = 1024;
/// How long a database just closed may keep its lock (sled's threads).
const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// Why a snapshot could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("storage error: {0}")]
    Storage(#[from] StoreError),
    #[error("cancelled: the server is stopping")]
    Cancelled,
    #[error("not a usable soloauth snapshot: {0}")]
    Invalid(String),
}

impl From<sled::Error> for SnapshotError {
    fn from(e: sled::Error) -> Self {
        SnapshotError::Storage(e.into())
    }
}

fn invalid(why: impl Into<String>) -> SnapshotError {
    SnapshotError::Invalid(why.into())
}

/// What a snapshot holds, as its last members say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub soloauth_version: String,
    pub schema_version: u32,
    /// When reading began: UTC, RFC 3339 with milliseconds.
    pub created_at: String,
    pub members: Vec<Member>,
}

/// One member of a snapshot (the manifest's own two aside).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    /// A tree's record count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
}

impl Manifest {
    /// The record count of tree `tree` (0 when the snapshot has none).
    pub fn records(&self, tree: &str) -> u64 {
        let name = format!("{TREES}{tree}.kv");
        self.members
            .iter()
            .find(|m| m.name == name)
            .and_then(|m| m.records)
            .unwrap_or(0)
    }

    /// Records in every tree together.
    pub fn total_records(&self) -> u64 {
        self.members.iter().filter_map(|m| m.records).sum()
    }
}

/// A handle on the database for writing snapshots off the async workers.
/// It keeps the database open: drop it before [`Store::close`].
pub struct Source {
    db: sled::Db,
}

impl Store {
    /// What [`write`] reads.
    pub fn snapshot_source(&self) -> Source {
        Source {
            db: self.db.clone(),
        }
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A tree's name as a member name may carry it.
fn tree_name(raw: &[u8]) -> Result<&str, SnapshotError> {
    std::str::from_utf8(raw)
        .ok()
        .filter(|n| !n.is_empty() && n.len() <= 64)
        .filter(|n| n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .ok_or_else(|| {
            invalid(format!(
                "unexpected tree name {:?}",
                String::from_utf8_lossy(raw)
            ))
        })
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), SnapshotError> {
    let len = u32::try_from(bytes.len()).map_err(|_| invalid("a record over 4 GiB"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// A tree's member data and record count.
fn encode_tree(tree: &sled::Tree, cancel: &AtomicBool) -> Result<(Vec<u8>, u64), SnapshotError> {
    let mut data = Vec::new();
    let mut records = 0u64;
    let cancelled = || cancel.load(Ordering::Relaxed);
    if cancelled() {
        return Err(SnapshotError::Cancelled);
    }
    for item in tree.iter() {
        if records % CANCEL_EVERY == CANCEL_EVERY - 1 && cancelled() {
            return Err(SnapshotError::Cancelled);
        }
        let (key, value) = item?;
        put(&mut data, &key)?;
        put(&mut data, &value)?;
        records += 1;
    }
    Ok((data, records))
}

/// A record of a tree: key and value.
type Record<'a> = (&'a [u8], &'a [u8]);

/// The records of a tree's member data, or why it does not decode.
fn split(data: &[u8]) -> Result<Vec<Record<'_>>, SnapshotError> {
    fn take<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        let (bytes, tail) = tail.split_at_checked(len)?;
        *rest = tail;
        Some(bytes)
    }
    let mut rest = data;
    let mut records = Vec::new();
    while !rest.is_empty() {
        let key = take(&mut rest);
        let value = take(&mut rest);
        match key.zip(value) {
            Some(record) => records.push(record),
            None => return Err(invalid("a tree's records are cut short")),
        }
    }
    Ok(records)
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    data: &[u8],
    mtime: u64,
    records: Option<u64>,
) -> Result<Member, SnapshotError> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(data.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(mtime);
    tar.append_data(&mut header, name, data)?;
    Ok(Member {
        name: name.to_string(),
        size: data.len() as u64,
        sha256: sha256_hex(data),
        records,
    })
}

/// The schema version the database records (one that does not decode
/// stops the snapshot: the open would refuse it too).
fn stored_schema(db: &sled::Db) -> Result<u32, StoreError> {
    let meta = db.open_tree(trees::META)?;
    match meta.get(SCHEMA_KEY)? {
        Some(raw) => decode(trees::META, SCHEMA_KEY.as_bytes(), &raw),
        None => Ok(SCHEMA_VERSION),
    }
}

/// Writes a snapshot of the database and of `data_dir`'s kept secret files
/// to `out`, dated `created_millis` (Unix ms, taken before reading
/// begins); stops with [`SnapshotError::Cancelled`] soon after `cancel` is
/// set. Blocking: run it off the async workers. `out` is flushed, not synced.
pub fn write(
    source: &Source,
    data_dir: &Path,
    created_millis: i64,
    out: impl Write,
    cancel: &AtomicBool,
) -> Result<Manifest, SnapshotError> {
    let mut tar = tar::Builder::new(out);
    let mtime = u64::try_from(created_millis / 1000).unwrap_or(0);
    let mut members = Vec::new();
    for raw in source.db.tree_names() {
        let name = tree_name(&raw)?;
        let (data, records) = encode_tree(&source.db.open_tree(name)?, cancel)?;
        let member = format!("{TREES}{name}.kv");
        members.push(append(&mut tar, &member, &data, mtime, Some(records))?);
    }
    for (file, _) in KEPT_SECRETS {
        match std::fs::read(data_dir.join(file)) {
            Ok(data) => members.push(append(
                &mut tar,
                &format!("{FILES}{file}"),
                &data,
                mtime,
                None,
            )?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        soloauth_version: env!("CARGO_PKG_VERSION").into(),
        schema_version: stored_schema(&source.db)?,
        created_at: rfc3339_millis(created_millis),
        members,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
    append(&mut tar, MANIFEST, &json, mtime, None)?;
    let sum = format!("{}\n", sha256_hex(&json));
    append(&mut tar, MANIFEST_SUM, sum.as_bytes(), mtime, None)?;
    tar.into_inner()?.flush()?;
    Ok(manifest)
}

/// A snapshot read whole and checked (see [`read`]).
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub manifest: Manifest,
    trees: Vec<(String, Vec<u8>)>,
    files: Vec<(String, Vec<u8>)>,
}

/// Reads and checks a whole snapshot: the manifest's checksum, its format
/// and schema version, every member's name, size and checksum, every
/// tree's records (as many as the manifest says), the secret files (each
/// usable). Anything amiss is [`SnapshotError::Invalid`].
pub fn read(input: impl Read) -> Result<Snapshot, SnapshotError> {
    let damaged = |e: std::io::Error| invalid(format!("the archive is damaged: {e}"));
    let mut archive = tar::Archive::new(input);
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    for entry in archive.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        if entry.header().entry_type() != tar::EntryType::Regular || members.len() >= MAX_MEMBERS {
            return Err(invalid("unexpected members in the archive"));
        }
        let name = entry
            .path()
            .map_err(damaged)?
            .to_string_lossy()
            .into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(damaged)?;
        if entry.header().size().map_err(damaged)? != data.len() as u64 {
            return Err(invalid(format!("{name} is cut short (a truncated file?)")));
        }
        members.push((name, data));
    }
    let incomplete = || invalid("its manifest, the last members, is missing (a truncated file?)");
    let (sum_name, sum) = members.pop().ok_or_else(incomplete)?;
    let (manifest_name, json) = members.pop().ok_or_else(incomplete)?;
    if sum_name != MANIFEST_SUM || manifest_name != MANIFEST {
        return Err(incomplete());
    }
    if String::from_utf8_lossy(&sum).trim() != sha256_hex(&json) {
        return Err(invalid("the manifest does not match its checksum"));
    }
    let manifest: Manifest =
        serde_json::from_slice(&json).map_err(|e| invalid(format!("the manifest: {e}")))?;
    check_versions(&manifest)?;
    if manifest.members.len() != members.len() {
        return Err(invalid("the members are not those the manifest lists"));
    }
    let (mut trees, mut files) = (Vec::new(), Vec::new());
    for (listed, (name, data)) in manifest.members.iter().zip(members) {
        if listed.name != name || listed.size != data.len() as u64 {
            return Err(invalid(format!(
                "{name} is not the member the manifest lists"
            )));
        }
        if listed.sha256 != sha256_hex(&data) {
            return Err(invalid(format!("{name} does not match its checksum")));
        }
        if let Some(tree) = name.strip_prefix(TREES).and_then(|n| n.strip_suffix(".kv")) {
            let tree = tree_name(tree.as_bytes())?.to_string();
            if listed.records != Some(split(&data)?.len() as u64) {
                return Err(invalid(format!("{name} does not hold the records listed")));
            }
            trees.push((tree, data));
        } else if let Some(file) = name.strip_prefix(FILES) {
            let usable = KEPT_SECRETS.iter().find(|(kept, _)| *kept == file);
            let text = std::str::from_utf8(&data)
                .map(str::trim)
                .unwrap_or_default();
            match usable {
                Some((_, valid)) if valid(text) => files.push((file.to_string(), data)),
                _ => return Err(invalid(format!("{name} is not a usable secret file"))),
            }
        } else {
            return Err(invalid(format!("unexpected member {name}")));
        }
    }
    if !trees.iter().any(|(name, _)| name == trees::META) {
        return Err(invalid("it holds no meta tree"));
    }
    Ok(Snapshot {
        manifest,
        trees,
        files,
    })
}

fn check_versions(manifest: &Manifest) -> Result<(), SnapshotError> {
    if manifest.format != FORMAT {
        return Err(invalid(format!("its format is {:?}", manifest.format)));
    }
    if manifest.format_version != FORMAT_VERSION {
        return Err(invalid(format!(
            "it is format version {} (this soloauth reads {FORMAT_VERSION}): restore it with the soloauth {} that wrote it, or a newer one",
            manifest.format_version, manifest.soloauth_version
        )));
    }
    if manifest.schema_version > SCHEMA_VERSION {
        return Err(invalid(format!(
            "it was written by soloauth {} (schema {}, this build knows {SCHEMA_VERSION})",
            manifest.soloauth_version, manifest.schema_version
        )));
    }
    Ok(())
}

impl Snapshot {
    /// The secret files it holds, by name.
    pub fn files(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files.iter().map(|(n, d)| (n.as_str(), d.as_slice()))
    }

    /// Writes every tree into a new database at `db_path` (which must not
    /// exist), flushed and closed when this returns. sled's ids start
    /// afresh in a new database, so the audit events, keyed by them, are
    /// keyed anew in their order: the newest stays last and new ones come
    /// after it.
    pub fn import(&self, db_path: &Path) -> Result<(), SnapshotError> {
        if db_path.exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} already exists", db_path.display()),
            )
            .into());
        }
        let db = sled::Config::new().path(db_path).open()?;
        for (name, data) in &self.trees {
            let tree = db.open_tree(name)?;
            let mut batch = sled::Batch::default();
            for (key, value) in split(data)? {
                if name == trees::EVENTS {
                    batch.insert(&db.generate_id()?.to_be_bytes()[..], value);
                } else {
                    batch.insert(key, value);
                }
            }
            tree.apply_batch(batch)?;
        }
        db.flush()?;
        drop(db);
        wait_released(&db_path.join("db"))
    }
}

/// Takes the lock of the database in `data_dir` (sled's own, on its `db`
/// file) and holds it while the returned file is open; `None` when there
/// is no database. A server running on it is [`super::OpenError::InUse`].
pub fn lock_data_dir(data_dir: &Path) -> Result<Option<std::fs::File>, super::OpenError> {
    let path = data_dir.join("db").join("db");
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(super::OpenError::Sled {
                dir: path.display().to_string(),
                source: sled::Error::Io(e),
            })
        }
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(super::OpenError::InUse(data_dir.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(super::OpenError::Sled {
            dir: path.display().to_string(),
            source: sled::Error::Io(e),
        }),
    }
}

/// Waits until the database in `data_dir`, just closed, is free: sled's
/// threads let go of its lock a moment after its last handle.
pub fn wait_closed(data_dir: &Path) -> Result<(), SnapshotError> {
    wait_released(&data_dir.join("db").join("db"))
}

/// Waits until sled's threads have let go of a closed database's lock.
fn wait_released(lock_file: &Path) -> Result<(), SnapshotError> {
    let waited = Stopwatch::start();
    loop {
        let file = std::fs::File::open(lock_file)?;
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) if waited.elapsed() < RELEASE_WAIT => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(std::io::Error::other("the new database is still in use").into())
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests;
