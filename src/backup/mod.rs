//! Snapshots while running: the server writes a snapshot of the whole data
//! directory to `DATA/backups/soloauth-<UTC time>.tar` when it starts, then
//! every `AUTH_BACKUP_INTERVAL_HOURS` hours (0: none on a schedule), and
//! whenever it receives SIGUSR1; it keeps the `AUTH_BACKUP_KEEP` newest.
//!
//! Each is written to `backups/.soloauth-<time>.tar.tmp` (mode 0600, in a
//! directory of mode 0700), synced, renamed into place, and the directory
//! synced: a copy of the volume taken at any moment holds whole snapshots
//! only, so the newest of them can be restored (`soloauth restore`, see
//! [`restore`]). Older snapshots are deleted only once the new one is in
//! place, and only files named as this module names them. The time in a
//! name is when reading began, UTC with milliseconds
//! (`soloauth-20261130T120000.123Z.tar`), so names sort by time.
//!
//! The reading runs on a thread of its own at a lower priority (nice 10),
//! so forward auth never waits for it and, when the cores are busy, comes
//! first; what a snapshot holds and what "consistent" means for one is in
//! [`crate::storage::snapshot`]. The schedule runs on the injected clock,
//! looked at every 10 s. Each snapshot written is logged (file, size,
//! duration) and counted (`soloauth_snapshots_total{outcome}`,
//! `soloauth_snapshot_last_written_timestamp_seconds`); a failure is logged
//! as an error, counted, tried again 15 minutes later, and the server goes
//! on. Shutting down cancels a snapshot being written (its temporary file is
//! removed).

pub mod restore;

use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::base::clock::{rfc3339_millis, Stopwatch};
use crate::http::state::AppState;
use crate::storage::snapshot::{self, Manifest, SnapshotError, Source};

/// The directory, in the data directory, that scheduled snapshots go to.
pub const DIR: &str = "backups";
const PREFIX: &str = "soloauth-";
const SUFFIX: &str = ".tar";
/// How often the schedule is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(10);
/// After a failure, when to try again (at most the interval), in seconds.
const RETRY_AFTER: i64 = 15 * 60;
/// The snapshot thread's nice value: the workers answering requests first.
const NICE: i32 = 10;

/// Unix milliseconds as a name's time: `20261130T120000.123Z` (RFC 3339
/// without its `-` and `:`, which some file systems and tools mind).
pub fn stamp(unix_millis: i64) -> String {
    rfc3339_millis(unix_millis).replace(['-', ':'], "")
}

/// The name of the snapshot taken at `unix_millis`.
pub fn file_name(unix_millis: i64) -> String {
    format!("{PREFIX}{}{SUFFIX}", stamp(unix_millis))
}

/// The time (Unix milliseconds) in a scheduled snapshot's name; `None` for
/// any other name.
pub fn time_of(name: &str) -> Option<i64> {
    let s = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let field = |from: usize, to: usize| s.get(from..to)?.parse::<u16>().ok();
    if s.len() != 20 {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(field(4, 6)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::from(field(0, 4)?),
        month,
        u8::try_from(field(6, 8)?).ok()?,
    )
    .ok()?;
    let hms = [field(9, 11)?, field(11, 13)?, field(13, 15)?].map(|v| u8::try_from(v).ok());
    let clock = time::Time::from_hms_milli(hms[0]?, hms[1]?, hms[2]?, field(16, 19)?).ok()?;
    let at = time::PrimitiveDateTime::new(date, clock).assume_utc();
    let millis = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()?;
    // Exactly the form `stamp` writes, nothing looser.
    (stamp(millis) == s).then_some(millis)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Creates `dir` with mode 0700 unless it exists.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        other => other,
    }
}

/// Writes a snapshot to `target` (which must not exist) through a
/// temporary file beside it: mode 0600, synced, renamed into place, the
/// directory synced. Its size and manifest.
pub fn write_file(
    source: &Source,
    data_dir: &Path,
    target: &Path,
    created_millis: i64,
    cancel: &AtomicBool,
) -> Result<(u64, Manifest), SnapshotError> {
    let name = target
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let dir = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let written = (|| {
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", tmp.display())))?;
        let mut out = BufWriter::new(file);
        let manifest = snapshot::write(source, data_dir, created_millis, &mut out, cancel)?;
        out.flush()?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let bytes = file.metadata()?.len();
        if fs::symlink_metadata(target).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists", target.display()),
            )
            .into());
        }
        fs::rename(&tmp, target)?;
        sync_dir(dir)?;
        Ok((bytes, manifest))
    })();
    if written.is_err() {
        // Only ever the temporary file this call created.
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// A snapshot written into `backups/`.
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
    pub manifest: Manifest,
    /// From the start of reading to the directory synced after pruning.
    pub took: Duration,
    /// The older snapshots deleted to keep the number.
    pub removed: Vec<String>,
}

/// Writes a snapshot into `data_dir/backups` (created 0700 if need be),
/// named after `created_millis` (a millisecond later while that name is
/// taken), then deletes all but the `keep` newest scheduled snapshots.
pub fn write_into_backups(
    source: &Source,
    data_dir: &Path,
    keep: usize,
    created_millis: i64,
    cancel: &AtomicBool,
) -> Result<Written, SnapshotError> {
    let took = Stopwatch::start();
    let dir = data_dir.join(DIR);
    private_dir(&dir)?;
    remove_stale_temporaries(&dir);
    let mut named = created_millis;
    while fs::symlink_metadata(dir.join(file_name(named))).is_ok() {
        named += 1;
    }
    let path = dir.join(file_name(named));
    let (bytes, manifest) = write_file(source, data_dir, &path, created_millis, cancel)?;
    let removed = prune(&dir, keep.max(1))?;
    Ok(Written {
        path,
        bytes,
        manifest,
        took: took.elapsed(),
        removed,
    })
}

/// Removes the temporary files of snapshots that were cut short (a crash,
/// a kill): one writer at a time, so none is being written now.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for name in entries.filter_map(|e| e.ok()?.file_name().into_string().ok()) {
        let unfinished = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".tmp"))
            .is_some_and(|n| time_of(n).is_some());
        if unfinished {
            let _ = fs::remove_file(dir.join(&name));
        }
    }
}

/// Deletes all but the `keep` newest scheduled snapshots in `dir` (files
/// named `soloauth-<time>.tar`; anything else is left alone); the names
/// deleted, oldest first.
pub fn prune(dir: &Path, keep: usize) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| time_of(name).is_some())
        .collect();
    names.sort();
    let excess = names.len().saturating_sub(keep);
    names.truncate(excess);
    for name in &names {
        fs::remove_file(dir.join(name))?;
    }
    if excess > 0 {
        sync_dir(dir)?;
    }
    Ok(names)
}

/// When the next scheduled snapshot is due, in the injected clock's seconds.
#[derive(Debug)]
pub struct Schedule {
    every: i64,
    next: Option<i64>,
}

impl Schedule {
    /// Every `hours` hours, the first one at `now`; 0: never.
    pub fn new(hours: u32, now: i64) -> Self {
        let every = i64::from(hours) * 3600;
        Schedule {
            every,
            next: (every > 0).then_some(now),
        }
    }

    /// Whether one is due at `now`. A clock set back by more than the
    /// interval brings the next one to one interval from now.
    pub fn due(&mut self, now: i64) -> bool {
        if let Some(next) = self.next {
            if next - now > self.every {
                self.next = Some(now + self.every);
            }
        }
        self.next.is_some_and(|next| now >= next)
    }

    /// After a snapshot at `now`, written or not (`ok`): the next one an
    /// interval later, or a retry sooner.
    pub fn done(&mut self, now: i64, ok: bool) {
        if self.every > 0 {
            let wait = if ok {
                self.every
            } else {
                RETRY_AFTER.min(self.every)
            };
            self.next = Some(now + wait);
        }
    }
}

/// The running snapshot task.
pub struct Snapshots {
    stop: tokio::sync::oneshot::Sender<()>,
    cancel: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Snapshots {
    /// Starts the task (on the runtime: call from within it). SIGUSR1 asks
    /// for a snapshot at once: call this before the server says it
    /// listens, since until then SIGUSR1 ends the process.
    pub fn start(state: Arc<AppState>) -> Snapshots {
        let asked = signal(SignalKind::user_defined1())
            .inspect_err(|e| tracing::warn!(error = %e, "SIGUSR1 cannot ask for a snapshot"))
            .ok();
        let cancel = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(run(state, asked, stopped, cancel.clone()));
        Snapshots { stop, cancel, task }
    }

    /// Cancels a snapshot being written and waits for the task to end (it
    /// holds the state and, while writing, the database).
    pub async fn stop(self) {
        self.cancel.store(true, Ordering::Relaxed);
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Resolves when SIGUSR1 arrives; never, without a handler.
async fn next_signal(asked: &mut Option<Signal>) {
    let received = match asked {
        Some(signal) => signal.recv().await,
        None => None,
    };
    if received.is_none() {
        std::future::pending::<()>().await;
    }
}

async fn run(
    state: Arc<AppState>,
    mut asked: Option<Signal>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
    cancel: Arc<AtomicBool>,
) {
    let hours = state.config.backup_interval_hours;
    let mut schedule = Schedule::new(hours, state.now());
    if hours == 0 {
        tracing::info!(
            "scheduled snapshots are off (AUTH_BACKUP_INTERVAL_HOURS=0); SIGUSR1 writes one"
        );
    }
    let mut tick = tokio::time::interval(CHECK_EVERY);
    loop {
        let by_hand = tokio::select! {
            _ = &mut stopped => return,
            _ = tick.tick() => false,
            () = next_signal(&mut asked) => true,
        };
        if by_hand || schedule.due(state.now()) {
            let ok = snapshot(&state, &cancel).await;
            schedule.done(state.now(), ok);
        }
    }
}

/// Runs `job` on a thread of its own at nice [`NICE`] (a thread's own on
/// Linux; not the blocking pool, whose threads store flushes reuse), so
/// that the workers answering requests come first when the cores are busy.
async fn in_background<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("soloauth-snapshot".into())
        .spawn(move || {
            let thread = Some(rustix::thread::gettid());
            if let Err(e) = rustix::process::setpriority_process(thread, NICE) {
                tracing::debug!(error = %e, "the snapshot thread keeps its priority");
            }
            let _ = done.send(job());
        })?;
    result
        .await
        .map_err(|_| std::io::Error::other("the snapshot thread ended without an answer"))
}

/// Writes one snapshot into `backups/`, off the async workers; logs and
/// counts the outcome. True when one was written.
async fn snapshot(state: &AppState, cancel: &Arc<AtomicBool>) -> bool {
    let source = state.auth.store.snapshot_source();
    let data_dir = state.config.data_dir.clone();
    let keep = usize::try_from(state.config.backup_keep).unwrap_or(usize::MAX);
    let taken = state.clock.now_millis();
    let cancel = cancel.clone();
    let outcome =
        in_background(move || write_into_backups(&source, &data_dir, keep, taken, &cancel))
            .await
            .unwrap_or_else(|e| Err(e.into()));
    match outcome {
        Ok(written) => {
            tracing::info!(
                file = %written.path.display(),
                bytes = written.bytes,
                records = written.manifest.total_records(),
                duration_ms = (written.took.as_secs_f64() * 10_000.0).round() / 10.0,
                removed = written.removed.len(),
                "snapshot written"
            );
            state
                .metrics
                .snapshots
                .with_label_values(&["written"])
                .inc();
            state.metrics.snapshot_written_at.set(taken / 1000);
            true
        }
        Err(SnapshotError::Cancelled) => {
            tracing::info!("snapshot cancelled: the server is stopping");
            false
        }
        Err(e) => {
            tracing::error!(error = %e, "writing a snapshot failed");
            state.metrics.snapshots.with_label_values(&["failed"]).inc();
            false
        }
    }
}

#[cfg(test)]
mod tests;
