//! Names, pruning, the schedule on an injected clock, and snapshots written
//! into `backups/`: private, whole, the newest kept.

use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::storage::temp_store;

const T: i64 = 1_800_000_000_123;

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn names_carry_the_utc_time_and_sort_by_it() {
    assert_eq!(file_name(T), "soloauth-20270115T080000.123Z.tar");
    assert_eq!(time_of(&file_name(T)), Some(T));
    assert!(file_name(T + 1) > file_name(T));
    assert!(file_name(T + 86_400_000) > file_name(T + 999));
    for other in [
        "soloauth-20270115T080000.123Z.tar.tmp",
        "soloauth-20270115T080000Z.tar",
        "soloauth-20271315T080000.123Z.tar",
        "soloauth-2027011+T080000.123Z.tar",
        "soloauth-20270115T080000.123Z.tgz",
        "manual.tar",
        "soloauth-20270115T080000.123Zé.tar",
    ] {
        assert_eq!(time_of(other), None, "{other}");
    }
}

#[test]
fn pruning_keeps_the_newest_and_leaves_other_files_alone() {
    let dir = tempfile::tempdir().unwrap();
    for n in 0..5 {
        fs::write(dir.path().join(file_name(T + n * 3_600_000)), "x").unwrap();
    }
    fs::write(dir.path().join("manual.tar"), "x").unwrap();
    let removed = prune(dir.path(), 2).unwrap();
    assert_eq!(removed, [0, 1, 2].map(|n| file_name(T + n * 3_600_000)));
    let mut left: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "manual.tar".to_string(),
            file_name(T + 3 * 3_600_000),
            file_name(T + 4 * 3_600_000)
        ]
    );
    assert!(prune(dir.path(), 2).unwrap().is_empty());
}

#[test]
fn the_schedule_runs_on_the_injected_clock() {
    let clock = crate::base::clock::Clock::manual(1_800_000_000);
    let mut every_day = Schedule::new(24, clock.now());
    assert!(every_day.due(clock.now()), "one at start");
    every_day.done(clock.now(), true);
    clock.advance(24 * 3600 - 1);
    assert!(!every_day.due(clock.now()));
    clock.advance(1);
    assert!(every_day.due(clock.now()), "one a day later");
    every_day.done(clock.now(), false);
    clock.advance(RETRY_AFTER);
    assert!(
        every_day.due(clock.now()),
        "a failure is tried again sooner"
    );
    every_day.done(clock.now(), true);
    clock.advance(-3 * 24 * 3600);
    assert!(!every_day.due(clock.now()), "a clock set back");
    clock.advance(24 * 3600);
    assert!(
        every_day.due(clock.now()),
        "waits one interval, not until the old time"
    );

    let mut off = Schedule::new(0, clock.now());
    for _ in 0..3 {
        assert!(!off.due(clock.now()));
        off.done(clock.now(), true);
        clock.advance(10 * 365 * 24 * 3600);
    }
}

#[test]
fn snapshots_go_into_a_private_backups_dir_and_the_newest_are_kept() {
    let (dir, store) = temp_store();
    let source = store.snapshot_source();
    let go = AtomicBool::new(false);
    let backups = dir.path().join(DIR);
    // A temporary file of a snapshot that was cut short (a kill).
    private_dir(&backups).unwrap();
    let stale = backups.join(format!(".{}.tmp", file_name(T - 1)));
    fs::write(&stale, "half").unwrap();

    let first = write_into_backups(&source, dir.path(), 2, T, &go).unwrap();
    assert_eq!(first.path, backups.join(file_name(T)));
    assert_eq!((mode(&backups), mode(&first.path)), (0o700, 0o600));
    assert_eq!(first.bytes, fs::metadata(&first.path).unwrap().len());
    assert!(!stale.exists(), "the stale temporary file is gone");
    let read = snapshot::read(fs::File::open(&first.path).unwrap()).unwrap();
    assert_eq!(read.manifest, first.manifest);

    // The same millisecond again (a manual clock): the next free name.
    let second = write_into_backups(&source, dir.path(), 2, T, &go).unwrap();
    assert_eq!(second.path, backups.join(file_name(T + 1)));
    let third = write_into_backups(&source, dir.path(), 2, T + 5_000, &go).unwrap();
    assert_eq!(third.removed, [file_name(T)]);
    let mut left: Vec<String> = fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, [file_name(T + 1), file_name(T + 5_000)]);

    // Cancelled: no file, no temporary file.
    let cancelled = write_into_backups(&source, dir.path(), 2, T + 9_000, &AtomicBool::new(true));
    assert!(matches!(cancelled, Err(SnapshotError::Cancelled)));
    assert_eq!(fs::read_dir(&backups).unwrap().count(), 2);
}

#[test]
fn a_file_is_never_written_over() {
    let (dir, store) = temp_store();
    let target = dir.path().join("by-hand.tar");
    fs::write(&target, "mine").unwrap();
    let go = AtomicBool::new(false);
    let result = write_file(&store.snapshot_source(), dir.path(), &target, T, &go);
    assert!(result.is_err());
    assert_eq!(fs::read_to_string(&target).unwrap(), "mine");
    assert!(!dir.path().join(".by-hand.tar.tmp").exists());
}
