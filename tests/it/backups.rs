//! Snapshots while running, `backup` and `restore`, over the real binary: a
//! snapshot at start (0600 in a 0700 `backups/`), the newest kept, none on
//! a schedule with interval 0, `backup FILE` only with the server stopped,
//! a restore that brings back sessions and TOTP and keeps the replaced data,
//! corrupt and truncated files that change nothing, and a snapshot taken
//! while 64 clients sign in and refresh that holds every session
//! acknowledged before it began.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use soloauth::base::clock::Clock;

use crate::common::{
    code, data_dir, one_step_login, serve, sign_in_and_enroll, start_binary, Api, Process, Tokens,
    PASSWORD,
};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The scheduled snapshots in `dir/backups`, oldest first.
fn snapshots(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("backups")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The newest scheduled snapshot in `dir/backups`.
fn newest(dir: &Path) -> PathBuf {
    dir.join("backups").join(snapshots(dir).pop().unwrap())
}

/// Waits until the server has logged `n` snapshots written (at most 30 s).
async fn written(p: &Process, n: usize) {
    let needle = "\"snapshot written\"";
    let wait = async {
        while p.all_logs().matches(needle).count() < n {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(std::time::Duration::from_secs(30), wait)
        .await
        .is_err()
    {
        panic!("{n} snapshot(s) never written: {}", p.all_logs());
    }
}

fn signal(p: &Process, name: &str) {
    let pid = p.child.id().to_string();
    let sent = Command::new("kill").args([name, &pid]).status().unwrap();
    assert!(sent.success());
}

/// SIGTERM, and waits for a clean exit.
fn terminate(p: &mut Process) {
    signal(p, "-TERM");
    assert!(p.child.wait().unwrap().success());
}

/// Runs the binary on `dir` with `args`: (success, stdout, stderr).
fn run(dir: &Path, args: &[&Path]) -> (bool, String, String) {
    let out = serve(dir).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every path under `dir` with its mode and the SHA-256 of its contents.
fn state(dir: &Path) -> BTreeMap<PathBuf, (u32, String)> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let digest = if meta.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            String::new()
        } else {
            hex::encode(Sha256::digest(std::fs::read(&path).unwrap()))
        };
        found.insert(path, (meta.permissions().mode(), digest));
    }
    found
}

#[tokio::test]
async fn a_snapshot_at_each_start_private_and_only_the_newest_kept() {
    let dir = data_dir();
    let mut newest = Vec::new();
    for start in 1..=4 {
        let p = start_binary(dir.path(), &[("AUTH_BACKUP_KEEP", "2")]);
        written(&p, 1).await;
        let names = snapshots(dir.path());
        assert_eq!(names.len(), start.min(2), "{names:?}");
        newest.push(names.last().unwrap().clone());
        drop(p);
    }
    assert_eq!(snapshots(dir.path()), newest[2..]);
    let backups = dir.path().join("backups");
    assert_eq!(mode(&backups), 0o700);
    for name in &newest[2..] {
        assert_eq!(mode(&backups.join(name)), 0o600, "{name}");
        assert!(
            name.starts_with("soloauth-") && name.ends_with("Z.tar"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn interval_0_writes_no_snapshot() {
    let dir = data_dir();
    let mut p = start_binary(dir.path(), &[("AUTH_BACKUP_INTERVAL_HOURS", "0")]);
    p.logs_with(&["scheduled snapshots are off"]).await;
    p.login().await;
    terminate(&mut p);
    assert!(snapshots(dir.path()).is_empty());
    let (ok, out, err) = run(dir.path(), &[Path::new("check")]);
    assert!(ok, "{out}{err}");
}

#[tokio::test]
async fn backup_by_hand_needs_the_server_stopped_and_writes_over_nothing() {
    let dir = data_dir();
    let elsewhere = tempfile::tempdir().unwrap();
    let file = elsewhere.path().join("by-hand.tar");
    let mut p = start_binary(dir.path(), &[]);
    p.login().await;
    let (ok, _, err) = run(dir.path(), &[Path::new("backup"), &file]);
    assert!(!ok, "refused while the server runs");
    assert!(err.contains("in use"), "{err}");
    assert!(!file.exists());
    terminate(&mut p);

    let (ok, out, err) = run(dir.path(), &[Path::new("backup"), &file]);
    assert!(ok, "{err}");
    assert!(out.contains("1 live session(s)"), "{out}");
    assert_eq!(mode(&file), 0o600);
    let first = std::fs::read(&file).unwrap();
    let (ok, _, err) = run(dir.path(), &[Path::new("backup"), &file]);
    assert!(!ok && err.contains("exists"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), first, "not written over");
}

#[tokio::test]
async fn restore_brings_back_sessions_and_totp_and_keeps_the_replaced_data() {
    let dir = data_dir();
    let mut p = start_binary(dir.path(), &[]);
    written(&p, 1).await;
    let (t, e) = sign_in_and_enroll(&p, &Clock::System).await;
    let t = Tokens::from(&p.refresh(&t.refresh).await.body);
    // A snapshot now, while running.
    signal(&p, "-USR1");
    written(&p, 2).await;
    let snapshot = newest(dir.path());
    p.kill9();

    // After it: TOTP off, every session revoked.
    let (ok, _, err) = run(dir.path(), &[Path::new("reset-totp")]);
    assert!(ok, "{err}");
    let (ok, out, err) = run(dir.path(), &[Path::new("restore"), &snapshot]);
    assert!(ok, "{err}");
    for said in [
        "1 live session(s)",
        "TOTP on",
        "secret files: jwt_secret, encryption_key",
        "nothing was deleted",
    ] {
        assert!(out.contains(said), "{said:?} not in {out}");
    }
    let replaced: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("replaced-")
        })
        .collect();
    assert_eq!(replaced.len(), 1, "{replaced:?}");
    for kept in ["db", "jwt_secret", "encryption_key"] {
        assert!(
            replaced[0].join(kept).exists(),
            "{kept} moved aside, not deleted"
        );
    }
    assert!(snapshot.exists(), "backups/ stays where it is");

    let p = start_binary(dir.path(), &[]);
    assert_eq!(p.get("/auth/me", Some(&t.access)).await.status, 200);
    assert_eq!(
        p.refresh(&t.refresh).await.status,
        200,
        "its refresh token refreshes"
    );
    let r = p.try_login("admin", PASSWORD).await;
    assert_eq!((r.status.as_u16(), r.error()), (403, "mfa_required"));
    let next = code(&e.secret, Clock::System.now() + 30);
    let r = one_step_login(&p, PASSWORD, &next).await;
    assert_eq!(r.status, 200, "a code signs in: {}", r.body);
}

#[tokio::test]
async fn a_corrupt_or_truncated_snapshot_changes_nothing() {
    let dir = data_dir();
    let mut p = start_binary(dir.path(), &[]);
    p.login().await;
    signal(&p, "-USR1");
    written(&p, 2).await;
    let good = newest(dir.path());
    let (ok, _, err) = run(dir.path(), &[Path::new("restore"), &good]);
    assert!(
        !ok && err.contains("in use"),
        "refused while running: {err}"
    );
    terminate(&mut p);

    let bytes = std::fs::read(&good).unwrap();
    // A byte flipped inside the sessions' records.
    let mut archive = tar::Archive::new(&bytes[..]);
    let sessions = archive
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.path().unwrap().to_str() == Some("trees/sessions.kv"))
        .map(|e| (e.raw_file_position(), e.size()))
        .unwrap();
    let mut corrupt = bytes.clone();
    corrupt[(sessions.0 + sessions.1 / 2) as usize] ^= 0x20;
    let elsewhere = tempfile::tempdir().unwrap();
    for (name, contents) in [
        ("corrupt.tar", corrupt),
        ("truncated.tar", bytes[..bytes.len() / 2].to_vec()),
        ("empty.tar", Vec::new()),
        ("not-a-snapshot.tar", b"hello".to_vec()),
    ] {
        let file = elsewhere.path().join(name);
        std::fs::write(&file, contents).unwrap();
        let before = state(dir.path());
        let (ok, out, err) = run(dir.path(), &[Path::new("restore"), &file]);
        assert!(!ok, "{name}: {out}");
        assert!(err.contains("nothing was changed"), "{name}: {err}");
        assert_eq!(
            state(dir.path()),
            before,
            "{name} changed the data directory"
        );
    }
    let (ok, _, err) = run(dir.path(), &[Path::new("restore"), &good]);
    assert!(ok, "the good one still restores: {err}");
}

/// Each acknowledged login or refresh: when the client had the answer
/// (Unix ms, read after it arrived) and the tokens.
type Acks = Vec<(i64, Tokens)>;

#[tokio::test]
async fn a_snapshot_taken_while_64_clients_sign_in_and_refresh_holds_every_acknowledged_session() {
    let dir = data_dir();
    let mut p = start_binary(dir.path(), &[]);
    written(&p, 1).await;
    let acks: Arc<Mutex<Vec<Acks>>> = Arc::new(Mutex::new(vec![Vec::new(); 64]));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..64)
        .map(|n| {
            let (api, acks, stop) = (Api::new(p.base.clone()), acks.clone(), stop.clone());
            tokio::spawn(async move {
                let mut t = api.login().await;
                acks.lock().unwrap()[n].push((Clock::System.now_millis(), t.clone()));
                while !stop.load(Ordering::Relaxed) {
                    let r = api.refresh(&t.refresh).await;
                    assert_eq!(r.status, 200, "{}", r.body);
                    t = Tokens::from(&r.body);
                    acks.lock().unwrap()[n].push((Clock::System.now_millis(), t.clone()));
                }
            })
        })
        .collect();
    // Every client signed in and refreshing: a snapshot now.
    let acked = |each: usize| acks.lock().unwrap().iter().all(|a| a.len() >= each);
    while !acked(3) {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    signal(&p, "-USR1");
    written(&p, 2).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let snapshot = newest(dir.path());
    p.kill9();

    let fresh = data_dir();
    let (ok, out, err) = run(fresh.path(), &[Path::new("restore"), &snapshot]);
    assert!(ok, "{err}");
    assert!(out.contains("there was no data to replace"), "{out}");
    let taken = out
        .split("(taken ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let format = time::format_description::well_known::Rfc3339;
    let began = time::OffsetDateTime::parse(taken, &format).unwrap();
    let began = i64::try_from(began.unix_timestamp_nanos() / 1_000_000).unwrap();
    let p = start_binary(fresh.path(), &[]);
    let acks = acks.lock().unwrap().clone();
    let mut checked = 0;
    for (n, client) in acks.iter().enumerate() {
        // The newest answer the client had before the snapshot began.
        let Some((_, t)) = client.iter().rev().find(|(at, _)| *at < began) else {
            continue;
        };
        let r = p.get("/auth/me", Some(&t.access)).await;
        assert_eq!(
            r.status, 200,
            "client {n}'s session, acknowledged before the snapshot"
        );
        checked += 1;
    }
    assert_eq!(
        checked, 64,
        "every client was acknowledged before the snapshot"
    );
}
