//! Failure counters and lockouts, per client IP and account-wide.
//!
//! A record counts failures in a row; the lock starts when the count reaches
//! the limit and lasts a fixed time. Records are stored so a restart does not
//! forget a lock; old ones are purged. A record that does not decode is
//! an error, never "no failures": read as absent it would lift a lock.

use serde::{Deserialize, Serialize};

use super::tree::Change;
use super::{Store, StoreError};

/// Key of the account-wide record.
pub const ACCOUNT: &str = "account";

/// Failures in a row and the lock they caused.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default, PartialEq)]
pub struct Lockout {
    pub failures: u32,
    pub last_failure: i64,
    /// Unix seconds until which the key is locked (0: not locked).
    pub locked_until: i64,
}

impl Lockout {
    /// Seconds of lock left at `now`, if locked.
    pub fn remaining(&self, now: i64) -> Option<u64> {
        (self.locked_until > now).then(|| (self.locked_until - now) as u64)
    }

    /// True when the run of failures is over: older than `window` seconds
    /// and not locking. The next failure starts a new run.
    fn stale(&self, now: i64, window: i64) -> bool {
        now - self.last_failure > window && self.remaining(now).is_none()
    }

    /// The failures in the current run at `now`. A lock that has ended ends
    /// its run too: the client starts over with a full set of attempts.
    pub fn failures_at(&self, now: i64, window: i64) -> u32 {
        let lock_over = self.locked_until != 0 && self.locked_until <= now;
        if lock_over || self.stale(now, window) {
            0
        } else {
            self.failures
        }
    }
}

/// The key of a client IP's record.
pub fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

impl Store {
    /// The record under `key`.
    pub fn lockout(&self, key: &str) -> Result<Option<Lockout>, StoreError> {
        self.lockouts.read(key)
    }

    /// Counts a failure under `key`: a run older than `window` seconds starts
    /// over; reaching `max` locks for `window` seconds. Returns the record
    /// before and after (not flushed).
    pub fn record_failure(
        &self,
        key: &str,
        now: i64,
        max: u32,
        window: i64,
    ) -> Result<(Lockout, Lockout), StoreError> {
        // A concurrent update makes this round start over.
        self.lockouts.update(key, |current: Option<Lockout>| {
            let before = current.unwrap_or_default();
            let failures = before.failures_at(now, window).saturating_add(1);
            let locked_until = match before.remaining(now) {
                Some(_) => before.locked_until,
                None if failures >= max => now + window,
                None => 0,
            };
            let after = Lockout {
                failures,
                last_failure: now,
                locked_until,
            };
            Change::Put(after, (before, after))
        })
    }

    /// Forgets the record under `key`; true if there was one.
    pub fn clear_lockout(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.lockouts.remove(key)?.is_some())
    }

    /// Forgets every record (`soloauth unlock`); returns how many.
    pub fn clear_all_lockouts(&self) -> Result<usize, StoreError> {
        let n = self.lockouts.len();
        self.lockouts.clear()?;
        Ok(n)
    }

    /// Removes records that neither lock nor count any more; one that does
    /// not decode is kept (logged).
    pub fn purge_lockouts(&self, now: i64, window: i64) -> Result<(), StoreError> {
        self.lockouts
            .purge(|l: &Lockout| Ok(l.stale(now, window)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{assert_kept, plant, temp_store};

    #[test]
    fn an_undecodable_lockout_is_an_error_and_stays() {
        let (_dir, s) = temp_store();
        plant(&s.lockouts, "ip:192.0.2.1");
        s.record_failure("stale", 100, 3, 900).unwrap();
        assert!(s.lockout("ip:192.0.2.1").is_err(), "not \"unlocked\"");
        let failed = s.record_failure("ip:192.0.2.1", 100, 3, 900);
        assert!(failed.is_err_and(|e| e.is_undecodable()));
        s.purge_lockouts(10_000, 900).unwrap();
        assert_kept(&s.lockouts, "ip:192.0.2.1");
        assert!(s.lockout("stale").unwrap().is_none(), "the rest is purged");
    }

    #[test]
    fn locks_at_max_then_expires_and_runs_start_over() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        for i in 1..=2 {
            let (_, after) = s.record_failure("k", 100, 3, 900).unwrap();
            assert_eq!(after.failures, i);
            assert_eq!(after.remaining(100), None);
        }
        let (before, after) = s.record_failure("k", 100, 3, 900).unwrap();
        assert_eq!(before.remaining(100), None);
        assert_eq!(after.remaining(100), Some(900));
        assert_eq!(after.remaining(1_000), None);
        // Long after, a new failure starts a new run.
        let (_, after) = s.record_failure("k", 5_000, 3, 900).unwrap();
        assert_eq!(after.failures, 1);
        s.purge_lockouts(10_000, 900).unwrap();
        assert!(s.lockout("k").unwrap().is_none());
    }
}
