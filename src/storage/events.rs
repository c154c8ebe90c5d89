//! The audit log: the newest [`RETAIN`] events, oldest dropped first.
//!
//! Keys are sled's monotonic ids in big-endian, so iteration order is time
//! order and "newest first" is a reverse scan. The ids have gaps (sled skips
//! ahead after a restart), so retention counts events instead of ids.

use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use super::{decode, encode, Store};

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
    pub fn append_event(&self, event: &StoredEvent) -> Result<(), sled::Error> {
        let id = self.db.generate_id()?;
        self.events.insert(id.to_be_bytes(), encode(event)?)?;
        let count = self.event_count.fetch_add(1, Ordering::SeqCst) + 1;
        if count as u64 > RETAIN && self.events.pop_min()?.is_some() {
            self.event_count.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Up to `limit` events, newest first.
    pub fn recent_events(&self, limit: usize) -> Result<Vec<StoredEvent>, sled::Error> {
        let mut out = Vec::with_capacity(limit.min(1024));
        for item in self.events.iter().rev() {
            if out.len() >= limit {
                break;
            }
            let (_, raw) = item?;
            if let Some(e) = decode(&raw) {
                out.push(e);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
