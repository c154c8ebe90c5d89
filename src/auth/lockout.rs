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

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::app::AppState;
use crate::audit::{self, Kind};
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
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

/// Refuses the request if the account or `ip` is locked (`423 account_locked`).
pub fn check_locked(state: &AppState, ip: IpAddr) -> ApiResult<()> {
    let now = state.now();
    let ip_key = ip_key(&client_key(ip).to_string());
    for key in [ACCOUNT, ip_key.as_str()] {
        if let Some(retry_after) = state.store.lockout(key)?.and_then(|l| l.remaining(now)) {
            state.metrics.logins.with_label_values(&["locked"]).inc();
            return Err(ApiError::AccountLocked { retry_after });
        }
    }
    Ok(())
}

/// Counts a failed password or code from `ip`, starting locks at the limits.
pub async fn record_failure(state: &AppState, ip: IpAddr) -> ApiResult<()> {
    let now = state.now();
    let window = window(state);
    let shown = client_key(ip).to_string();
    let limits = [
        (ip_key(&shown), state.config.max_failed_attempts, "ip"),
        (
            ACCOUNT.to_string(),
            state.config.account_max_failures,
            "account",
        ),
    ];
    for (key, max, scope) in limits {
        let (before, after) = state.store.record_failure(&key, now, max, window)?;
        if before.remaining(now).is_none() && after.remaining(now).is_some() {
            state.metrics.lockouts.with_label_values(&[scope]).inc();
            let detail = format!(
                "scope={scope} failures={} minutes={}",
                after.failures,
                window / 60
            );
            audit::record(state, Kind::Lockout, &shown, None, &detail);
        }
    }
    state.store.flush().await?;
    Ok(())
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
