//! The format's round trip, and that no damage passes for a snapshot: a
//! flipped byte anywhere and a cut anywhere are refused, or change nothing
//! that is read (tar's padding).

use super::*;
use crate::storage::events::StoredEvent;
use crate::storage::sessions::Session;
use crate::storage::temp_store;

const TAKEN: i64 = 1_800_000_000_123;

fn event(n: i64) -> StoredEvent {
    StoredEvent {
        at: n,
        kind: "login_success".into(),
        ip: "192.0.2.1".into(),
        detail: format!("n={n}"),
    }
}

/// A store with a session, events, a raw record and a kept secret file.
fn sample() -> (tempfile::TempDir, Store) {
    let (dir, store) = temp_store();
    store
        .put_session(&Session {
            id: "s1".into(),
            created_at: 100,
            last_seen_at: 100,
            expires_at: 1_000,
            ip: "192.0.2.1".into(),
            user_agent: "test".into(),
            amr: vec![crate::base::amr::Amr::Pwd],
            refresh_hash: "ab".repeat(32),
            cookie_hash: String::new(),
            remember: true,
            consents: Vec::new(),
        })
        .unwrap();
    for n in 0..5 {
        store.append_event(&event(n)).unwrap();
    }
    store
        .factors
        .insert(b"\x00binary\xff", &[0u8, 1, 2][..])
        .unwrap();
    std::fs::write(dir.path().join("jwt_secret"), "j".repeat(48)).unwrap();
    store.flush_blocking().unwrap();
    (dir, store)
}

fn written(dir: &tempfile::TempDir, store: &Store) -> Vec<u8> {
    let mut out = Vec::new();
    let source = store.snapshot_source();
    write(
        &source,
        dir.path(),
        TAKEN,
        &mut out,
        &AtomicBool::new(false),
    )
    .unwrap();
    out
}

fn all(tree: &sled::Tree) -> Vec<(sled::IVec, sled::IVec)> {
    tree.iter().map(Result::unwrap).collect()
}

#[test]
fn a_snapshot_restores_every_tree_and_secret_file() {
    let (dir, store) = sample();
    let snapshot = read(&written(&dir, &store)[..]).unwrap();
    let manifest = &snapshot.manifest;
    assert_eq!(manifest.created_at, "2027-01-15T08:00:00.123Z");
    assert_eq!(manifest.schema_version, SCHEMA_VERSION);
    assert_eq!(
        (
            manifest.records(trees::SESSIONS),
            manifest.records(trees::EVENTS)
        ),
        (1, 5)
    );
    let files: Vec<&str> = snapshot.files().map(|(name, _)| name).collect();
    assert_eq!(files, ["jwt_secret"]);

    let target = tempfile::tempdir().unwrap();
    snapshot.import(&target.path().join("db")).unwrap();
    let restored = Store::open(target.path()).unwrap();
    for name in store.db.tree_names() {
        if &*name == trees::EVENTS.as_bytes() {
            continue;
        }
        let (before, after) = (
            store.db.open_tree(&name).unwrap(),
            restored.db.open_tree(&name).unwrap(),
        );
        assert_eq!(
            all(&before),
            all(&after),
            "{}",
            String::from_utf8_lossy(&name)
        );
    }
    // Events keyed anew, in their order; a new one comes after them.
    assert_eq!(
        restored.recent_events(10).unwrap(),
        store.recent_events(10).unwrap()
    );
    restored.append_event(&event(99)).unwrap();
    assert_eq!(restored.recent_events(1).unwrap(), [event(99)]);
    assert_eq!(restored.recent_events(10).unwrap().len(), 6);
}

#[test]
fn a_flipped_byte_anywhere_is_refused_or_changes_nothing_read() {
    let (dir, store) = sample();
    let good = written(&dir, &store);
    let original = read(&good[..]).unwrap();
    let mut refused = 0;
    // Every third byte: each header field and each member's data is hit.
    for at in (0..good.len()).step_by(3) {
        let mut bad = good.clone();
        bad[at] ^= 0x55;
        match read(&bad[..]) {
            Err(SnapshotError::Invalid(_)) => refused += 1,
            Err(e) => panic!("byte {at}: {e}"),
            Ok(snapshot) => assert_eq!(snapshot, original, "byte {at} changed what is read"),
        }
    }
    assert!(refused > good.len() / 3 / 10, "{refused} refused");
}

#[test]
fn a_cut_anywhere_before_the_end_marker_is_refused() {
    let (dir, store) = sample();
    let good = written(&dir, &store);
    // The archive ends with two zero blocks after the last member's data.
    let end_marker = good.len() - 1024;
    for len in (0..good.len())
        .step_by(61)
        .chain((0..good.len()).step_by(512))
    {
        match read(&good[..len]) {
            Err(SnapshotError::Invalid(_)) => {}
            Err(e) => panic!("cut at {len}: {e}"),
            Ok(_) => assert!(len >= end_marker, "a cut at {len} passed"),
        }
    }
    assert!(read(&b"not a tar file at all"[..]).is_err());
}

#[test]
fn writing_stops_when_cancelled() {
    let (dir, store) = sample();
    let result = write(
        &store.snapshot_source(),
        dir.path(),
        TAKEN,
        std::io::sink(),
        &AtomicBool::new(true),
    );
    assert!(matches!(result, Err(SnapshotError::Cancelled)));
}

#[test]
fn other_formats_and_newer_schemas_are_refused() {
    let (dir, store) = sample();
    let manifest = read(&written(&dir, &store)[..]).unwrap().manifest;
    assert!(check_versions(&manifest).is_ok());
    for change in [
        |m: &mut Manifest| m.format = "other".into(),
        |m: &mut Manifest| m.format_version = FORMAT_VERSION + 1,
        |m: &mut Manifest| m.schema_version = SCHEMA_VERSION + 1,
    ] {
        let mut changed = manifest.clone();
        change(&mut changed);
        assert!(check_versions(&changed).is_err());
    }
}

#[test]
fn the_data_dir_lock_is_refused_while_a_store_holds_it() {
    let (dir, store) = sample();
    let held = lock_data_dir(dir.path());
    assert!(matches!(held, Err(crate::storage::OpenError::InUse(_))));
    drop(store);
    let empty = tempfile::tempdir().unwrap();
    assert!(lock_data_dir(empty.path()).unwrap().is_none());
}
