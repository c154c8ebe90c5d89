//! The limits on time and attempts: token lifetimes, how long a session may
//! last and how recent a sign-in sensitive actions need, the refresh grace,
//! and the lockout and rate limits on failed sign-ins.

use crate::base::config::reader::Reader;

/// The limits read (durations in seconds unless named otherwise).
pub(super) struct Limits {
    pub access_ttl: i64,
    pub refresh_ttl: i64,
    pub max_failed_attempts: u32,
    pub lockout_minutes: u32,
    pub rate_per_minute: u32,
    pub rate_burst: u32,
    pub account_max_failures: u32,
    pub reauth_seconds: i64,
    pub refresh_grace_seconds: i64,
    pub session_max_age: i64,
}

/// Reads and checks the limits: each has a floor, and a refresh token may
/// not end before the access token it renews.
pub(super) fn read(r: &mut Reader) -> Limits {
    let access_ttl = i64::from(r.number("AUTH_ACCESS_TTL_SECONDS", 1800, 10));
    let refresh_ttl = i64::from(r.number("AUTH_REFRESH_TTL_SECONDS", 604_800, 60));
    if refresh_ttl < access_ttl {
        r.problem("AUTH_REFRESH_TTL_SECONDS must not be shorter than AUTH_ACCESS_TTL_SECONDS");
    }
    Limits {
        access_ttl,
        refresh_ttl,
        max_failed_attempts: r.number("AUTH_MAX_FAILED_ATTEMPTS", 5, 1),
        lockout_minutes: r.number("AUTH_LOCKOUT_MINUTES", 15, 1),
        rate_per_minute: r.number("AUTH_RATE_PER_MINUTE", 10, 1),
        rate_burst: r.number("AUTH_RATE_BURST", 5, 1),
        account_max_failures: r.number("AUTH_ACCOUNT_MAX_FAILURES", 100, 1),
        reauth_seconds: i64::from(r.number("AUTH_REAUTH_SECONDS", 600, 0)),
        refresh_grace_seconds: i64::from(r.number("AUTH_REFRESH_GRACE_SECONDS", 10, 0)),
        session_max_age: i64::from(r.number("AUTH_SESSION_MAX_DAYS", 30, 1)) * 86_400,
    }
}
