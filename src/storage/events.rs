//! The audit log: the newest [`RETAIN`] events, oldest dropped first.
//!
//! Keys are sled's monotonic ids in big-endian, so iteration order is time
//! order and "newest first" is a reverse scan. The ids have gaps (sled skips
//! ahead after a restart), so retention counts events instead of ids.
//! Retention drops the oldest by position, without reading it; a listing
//! passes over an event that does not decode (logged), and keeps it.

use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// Events kept.
pub const RETAIN: u64 = 10_000;

/// One audit event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredEvent {
    pub at: i64,
    pub kind: String,
    pub ip: String,
    pub detail: String,
}

impl Store {
    /// Appends an event and drops what falls out of retention (not flushed).
    pub fn append_event(&self, event: &StoredEvent) -> Result<(), StoreError> {
        let id = self.db.generate_id()?;
        self.events.put(id.to_be_bytes(), event)?;
        let count = self.event_count.fetch_add(1, Ordering::SeqCst) + 1;
        if count as u64 > RETAIN && self.events.pop_min()?.is_some() {
            self.event_count.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Up to `limit` events, newest first.
    pub fn recent_events(&self, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let mut out = Vec::with_capacity(limit.min(1024));
        for item in self.events.iter().rev() {
            if out.len() >= limit {
                break;
            }
            let (key, raw) = item?;
            if let Ok(e) = self.events.decode(&key, &raw) {
                out.push(e);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{assert_kept, plant, temp_store};

    #[test]
    fn the_listing_passes_over_an_undecodable_event_and_keeps_it() {
        let (_dir, s) = temp_store();
        let event = |at| StoredEvent {
            at,
            kind: "k".into(),
            ip: String::new(),
            detail: String::new(),
        };
        s.append_event(&event(1)).unwrap();
        let bad = s.db.generate_id().unwrap().to_be_bytes();
        plant(&s.events, bad);
        s.append_event(&event(2)).unwrap();
        let ats: Vec<i64> = s.recent_events(10).unwrap().iter().map(|e| e.at).collect();
        assert_eq!(ats, [2, 1]);
        assert_kept(&s.events, bad);
    }

    #[tokio::test]
    async fn newest_first_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        for i in 0..(RETAIN + 50) as i64 {
            let e = StoredEvent {
                at: i,
                kind: "k".into(),
                ip: String::new(),
                detail: String::new(),
            };
            s.append_event(&e).unwrap();
        }
        let recent = s.recent_events(3).unwrap();
        let ats: Vec<i64> = recent.iter().map(|e| e.at).collect();
        let last = (RETAIN + 49) as i64;
        assert_eq!(ats, vec![last, last - 1, last - 2]);
        assert!(s.events.len() as u64 <= RETAIN);
        // Across a reopen (sled's ids jump ahead), nothing is lost.
        s.close().await.unwrap();
        let s = Store::open(dir.path()).unwrap();
        let e = StoredEvent {
            at: -1,
            kind: "k".into(),
            ip: String::new(),
            detail: String::new(),
        };
        s.append_event(&e).unwrap();
        assert_eq!(s.recent_events(2).unwrap()[1].at, last);
        assert_eq!(s.events.len() as u64, RETAIN);
    }
}
