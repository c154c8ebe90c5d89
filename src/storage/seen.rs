//! The addresses and user agents the account has signed in from, so a
//! sign-in alert can say whether they are new.
//!
//! Keys are `ip\0<address>` and `ua\0<user agent>`, values the time of the
//! last sign-in from them (big-endian seconds). They outlive the sessions
//! that brought them (a browser signed out yesterday is still known) and are
//! forgotten after [`REMEMBER`] without a sign-in. Only complete sign-ins add
//! to the tree, so a stranger cannot grow it.

use super::codec::unreadable;
use super::{Store, StoreError};

/// How long an address or user agent stays known without a sign-in.
pub const REMEMBER: i64 = 365 * 86_400;

fn key(prefix: &str, value: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 1 + value.len());
    key.extend_from_slice(prefix.as_bytes());
    key.push(0);
    key.extend_from_slice(value.as_bytes());
    key
}

impl Store {
    /// True before the first sign-in is recorded (a new data directory, or
    /// one from before this record).
    pub fn seen_is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Records a sign-in from `ip` with `user_agent` at `at` (not flushed:
    /// the session that follows is); answers whether each was known before.
    pub fn note_sign_in(
        &self,
        ip: &str,
        user_agent: &str,
        at: i64,
    ) -> Result<(bool, bool), StoreError> {
        let at = at.to_be_bytes();
        let ip_known = self.seen.insert(key("ip", ip), &at)?.is_some();
        let ua_known = self.seen.insert(key("ua", user_agent), &at)?.is_some();
        Ok((ip_known, ua_known))
    }

    /// Forgets what has not signed in since `before`. A value that is not
    /// a time is kept (logged with its key).
    pub fn purge_seen(&self, before: i64) -> Result<usize, StoreError> {
        let mut removed = 0;
        for item in self.seen.iter() {
            let (k, v) = item?;
            let Ok(at) = <[u8; 8]>::try_from(v.as_ref()).map(i64::from_be_bytes) else {
                let reason = format!("{} bytes, not an 8-byte time", v.len());
                unreadable(self.seen.name, &k, reason);
                continue;
            };
            // Removed only as read: a sign-in that just renewed it wins.
            if at < before
                && self
                    .seen
                    .compare_and_swap(&k, Some(&v), None::<&[u8]>)?
                    .is_ok()
            {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{assert_kept, plant, temp_store};

    #[test]
    fn a_value_that_is_not_a_time_is_kept_by_the_purge() {
        let (_dir, s) = temp_store();
        plant(&s.seen, key("ip", "192.0.2.9"));
        s.note_sign_in("192.0.2.1", "Firefox", 100).unwrap();
        assert_eq!(s.purge_seen(10_000).unwrap(), 2, "the readable ones go");
        assert_kept(&s.seen, key("ip", "192.0.2.9"));
    }

    #[tokio::test]
    async fn known_after_one_sign_in_and_forgotten_after_a_year() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(
            s.note_sign_in("192.0.2.1", "Firefox", 100).unwrap(),
            (false, false)
        );
        assert_eq!(
            s.note_sign_in("192.0.2.1", "Firefox", 200).unwrap(),
            (true, true)
        );
        assert_eq!(
            s.note_sign_in("192.0.2.2", "Firefox", 300).unwrap(),
            (false, true)
        );
        assert_eq!(
            s.note_sign_in("192.0.2.2", "Safari", 400).unwrap(),
            (true, false)
        );
        // Kept across a reopen.
        s.close().await.unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(
            s.note_sign_in("192.0.2.1", "Safari", 500).unwrap(),
            (true, true)
        );
        // Firefox last signed in at 300, 192.0.2.2 at 400: both forgotten.
        assert_eq!(s.purge_seen(401).unwrap(), 2);
        assert_eq!(
            s.note_sign_in("192.0.2.2", "Firefox", 600).unwrap(),
            (false, false)
        );
    }
}
