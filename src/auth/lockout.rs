//! Refusing attackers without locking out the owner.
//!
//! Three layers, checked before any password is hashed:
//! 1. a per-IP token bucket (governor) on the login and refresh routes → `429`;
//! 2. a per-IP lock after `AUTH_MAX_FAILED_ATTEMPTS` failures in a row → `423`
//!    for that IP only, so an attacker elsewhere cannot lock the owner out;
//! 3. an account-wide lock after `AUTH_ACCOUNT_MAX_FAILURES` failures in a row
//!    across all IPs (the NIST SP 800-63B ceiling), lifted by time or
//!    `soloauth unlock`.
//!
//! Counts and locks are stored in sled (they survive restarts); only a
//! complete login (every factor) resets them. IPv6 clients are keyed by their
//! /64, the block one host usually controls.
//!
//! An attempt is **reserved** before its password or code is checked
//! ([`reserve`]): under one lock, the stored failures plus the attempts still
//! in flight must stay below each limit, else `423`. However many attempts
//! one address sends at once, no more than the limit are ever checked. A
//! failed attempt turns its reservation into a stored failure under the same
//! lock; any other outcome simply returns it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard, PoisonError};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::base::config::Config;
use crate::http::audit::{self, Kind};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::storage::lockouts::{ip_key, ACCOUNT};

/// Above this many tracked IPs, stale buckets are dropped at once.
const MAX_TRACKED: usize = 100_000;

/// The key an IP is limited and locked under.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::from(segments)
        }
        v4 => v4,
    }
}

/// The per-IP request-rate limiter.
pub struct RateLimits {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl RateLimits {
    /// A bucket of `AUTH_RATE_BURST`, refilled at `AUTH_RATE_PER_MINUTE`.
    pub fn new(config: &Config) -> Self {
        let per_minute = NonZeroU32::new(config.rate_per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.rate_burst).unwrap_or(NonZeroU32::MIN);
        RateLimits {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
        }
    }

    /// Takes one request from `ip`'s bucket, or says how long to wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        if self.limiter.len() > MAX_TRACKED {
            self.forget_idle();
        }
        self.limiter
            .check_key(&client_key(ip))
            .map_err(|not_until| {
                use governor::clock::{Clock, DefaultClock};
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
            })
    }

    /// Drops buckets that are full again (memory stays bounded).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// How many IPs are tracked.
    pub fn tracked(&self) -> usize {
        self.limiter.len()
    }
}

/// Refuses the request if `ip` is over its rate (`429 rate_limited`).
pub fn check_rate(state: &AppState, ip: IpAddr, route: &str) -> ApiResult<()> {
    state.rate_limits.check(ip).map_err(|retry_after| {
        state.metrics.rate_limited.with_label_values(&[route]).inc();
        tracing::warn!(event = "rate_limited", ip = %ip, route);
        ApiError::RateLimited { retry_after }
    })
}

fn window(state: &AppState) -> i64 {
    i64::from(state.config.lockout_minutes) * 60
}

/// Attempts reserved and not yet finished, per lockout key.
#[derive(Default)]
pub struct InFlight(Mutex<HashMap<String, u32>>);

impl InFlight {
    /// The counts. Every update leaves the map consistent, so a poisoned
    /// lock is simply taken.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, u32>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An attempt allowed to check a password or code. Dropping it returns the
/// slot; [`Reservation::fail`] turns it into a stored failure.
pub struct Reservation<'a> {
    state: &'a AppState,
    ip: IpAddr,
    keys: [String; 2],
}

/// The two lockout keys of an attempt from `ip`, with their limits.
fn keys(state: &AppState, ip: IpAddr) -> [(String, u32, &'static str); 2] {
    [
        (
            ip_key(&client_key(ip).to_string()),
            state.config.max_failed_attempts,
            "ip",
        ),
        (
            ACCOUNT.to_string(),
            state.config.account_max_failures,
            "account",
        ),
    ]
}

/// Reserves an attempt from `ip`, or refuses it (`423 account_locked`) when
/// the account or the address is locked, or when the attempts already in
/// flight could reach the limit.
pub fn reserve(state: &AppState, ip: IpAddr) -> ApiResult<Reservation<'_>> {
    let now = state.now();
    let window = window(state);
    let keys = keys(state, ip);
    let mut in_flight = state.attempts.lock();
    for (key, max, _) in &keys {
        let stored = state.store.lockout(key)?.unwrap_or_default();
        let refused = match stored.remaining(now) {
            Some(retry_after) => Some(retry_after),
            None => {
                let pending = in_flight.get(key).copied().unwrap_or(0);
                // Finished soon: its outcome decides whether a lock begins.
                (stored.failures_at(now, window) + pending >= *max).then_some(1)
            }
        };
        if let Some(retry_after) = refused {
            state.metrics.logins.with_label_values(&["locked"]).inc();
            return Err(ApiError::AccountLocked { retry_after });
        }
    }
    for (key, _, _) in &keys {
        *in_flight.entry(key.clone()).or_insert(0) += 1;
    }
    Ok(Reservation {
        state,
        ip,
        keys: keys.map(|(key, _, _)| key),
    })
}

impl Reservation<'_> {
    /// Counts the attempt as failed, starting locks at the limits (durably).
    pub async fn fail(self) -> ApiResult<()> {
        let state = self.state;
        let now = state.now();
        let window = window(state);
        let shown = client_key(self.ip).to_string();
        let mut started = Vec::new();
        {
            // Recorded before the reservation is returned (on drop, below),
            // under the same lock, so no reserve sees neither.
            let _in_flight = state.attempts.lock();
            for (key, max, scope) in keys(state, self.ip) {
                let (before, after) = state.store.record_failure(&key, now, max, window)?;
                if before.remaining(now).is_none() && after.remaining(now).is_some() {
                    started.push((scope, after.failures));
                }
            }
        }
        drop(self);
        for (scope, failures) in started {
            state.metrics.lockouts.with_label_values(&[scope]).inc();
            let detail = format!("scope={scope} failures={failures} minutes={}", window / 60);
            audit::record(state, Kind::Lockout, &shown, None, &detail);
        }
        state.store.flush().await?;
        Ok(())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut in_flight = self.state.attempts.lock();
        for key in &self.keys {
            if let Some(n) = in_flight.get_mut(key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    in_flight.remove(key);
                }
            }
        }
    }
}

/// A complete login from `ip`: its run of failures and the account's end.
pub async fn record_success(state: &AppState, ip: IpAddr) -> ApiResult<()> {
    let ip_cleared = state
        .store
        .clear_lockout(&ip_key(&client_key(ip).to_string()))?;
    let account_cleared = state.store.clear_lockout(ACCOUNT)?;
    if ip_cleared || account_cleared {
        state.store.flush().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        let v4: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(client_key(v4), v4);
    }
}
