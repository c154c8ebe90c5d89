//! The one place that reads the wall clock.
//!
//! Domain code never calls `SystemTime::now()`: it takes `now` (Unix seconds)
//! from a [`Clock`]. The server uses [`Clock::System`]; tests build a
//! [`Clock::manual`] and move it forward to expire tokens or step TOTP codes
//! without sleeping. The rate limiter runs on the same clock (it implements
//! governor's `Clock`), and the few places that need a monotonic instant
//! (I/O deadlines, latency) get it from [`deadline_after`] and
//! [`Stopwatch`]. `clippy.toml` forbids reading the time anywhere else.

#![allow(clippy::disallowed_methods)] // the one place allowed to read the time

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of the current time in whole Unix seconds.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The real wall clock.
    #[default]
    System,
    /// A clock that only moves when told to (tests).
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A manual clock starting at `unix_seconds`.
    pub fn manual(unix_seconds: i64) -> Self {
        Clock::Manual(Arc::new(AtomicI64::new(unix_seconds)))
    }

    /// The current time in Unix seconds.
    pub fn now(&self) -> i64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }

    /// The current time in Unix milliseconds (snapshot names and
    /// manifests); a manual clock's seconds, times 1000.
    pub fn now_millis(&self) -> i64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0),
            Clock::Manual(t) => t.load(Ordering::SeqCst).saturating_mul(1000),
        }
    }

    /// Time since an arbitrary fixed start: monotonic for the system clock,
    /// the manual time for a manual one (what the rate limiter measures).
    pub fn elapsed(&self) -> Duration {
        match self {
            Clock::System => {
                static START: OnceLock<Instant> = OnceLock::new();
                START.get_or_init(Instant::now).elapsed()
            }
            Clock::Manual(t) => Duration::from_secs(t.load(Ordering::SeqCst).max(0) as u64),
        }
    }

    /// Moves a manual clock forward by `seconds` (no effect on the system clock).
    pub fn advance(&self, seconds: i64) {
        if let Clock::Manual(t) = self {
            t.fetch_add(seconds, Ordering::SeqCst);
        }
    }
}

impl governor::clock::Clock for Clock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.elapsed()
    }
}

/// The instant `after` from now, for I/O deadlines (tokio's timer).
pub fn deadline_after(after: Duration) -> tokio::time::Instant {
    tokio::time::Instant::now() + after
}

/// Measures how long something takes (latency metrics, benchmarks).
pub struct Stopwatch(Instant);

impl Stopwatch {
    pub fn start() -> Self {
        Stopwatch(Instant::now())
    }

    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Formats Unix seconds as an RFC 3339 UTC timestamp.
pub fn rfc3339(unix_seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

/// Unix milliseconds as a UTC date and time, when representable.
fn utc_millis(unix_millis: i64) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_millis) * 1_000_000).ok()
}

/// Formats Unix milliseconds as an RFC 3339 UTC timestamp with
/// milliseconds, e.g. `2026-11-30T12:00:00.123Z`.
pub fn rfc3339_millis(unix_millis: i64) -> String {
    let t = utc_millis(unix_millis).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = Clock::manual(1_000);
        assert_eq!(c.now(), 1_000);
        c.advance(30);
        assert_eq!(c.now(), 1_030);
        assert_eq!(c.now_millis(), 1_030_000);
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(
            rfc3339_millis(1_700_000_000_042),
            "2023-11-14T22:13:20.042Z"
        );
    }
}
