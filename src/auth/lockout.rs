//! Refusing attackers without locking out the owner.
//!
//! Three layers, checked before any password is hashed:
//! 1. a per-IP token bucket (governor, on the injected clock) on every
//!    attempt and on refresh → `RateLimited`;
//! 2. a per-IP lock after `AUTH_MAX_FAILED_ATTEMPTS` failures in a row →
//!    `Locked` for that IP only, so an attacker elsewhere cannot lock the
//!    owner out;
//! 3. an account-wide lock after `AUTH_ACCOUNT_MAX_FAILURES` failures in a row
//!    across all IPs (the NIST SP 800-63B ceiling), lifted by time or
//!    `soloauth unlock`.
//!
//! Counts and locks are stored in sled (they survive restarts); only a
//! complete login (every factor) resets them, and a lock that has ended
//! starts a fresh run. IPv6 clients are keyed by their /64, the block one
//! host usually controls.
//!
//! An attempt is **reserved** before its password or code is checked
//! ([`Lockout::guarded`]): under one lock, the stored failures plus the
//! attempts still in flight must stay below each limit, else `Locked`.
//! However many attempts one address sends at once, no more than the limit
//! are ever checked. A failed attempt turns its reservation into a stored
//! failure under the same lock; any other outcome simply returns it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard, PoisonError};

use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use super::attempt::{Attempt, Failure};
use super::events::{Event, Events, Kind, Scope};
use super::{AuthError, AuthResult, Client};
use crate::base::clock::Clock;
use crate::storage::lockouts::{ip_key, ACCOUNT};
use crate::storage::{Store, StoreError};

/// Above this many tracked IPs, stale buckets are dropped at once.
const MAX_TRACKED: usize = 100_000;

/// The limits, from the configuration.
#[derive(Debug, Clone)]
pub struct LockoutPolicy {
    pub max_failed_attempts: u32,
    pub account_max_failures: u32,
    /// How long a lock lasts, and how long a run of failures counts (seconds).
    pub window: i64,
}

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

/// The per-IP request-rate limiter, on the injected clock.
pub struct RateLimits {
    limiter: RateLimiter<
        IpAddr,
        DashMapStateStore<IpAddr>,
        Clock,
        governor::middleware::NoOpMiddleware<std::time::Duration>,
    >,
    clock: Clock,
}

impl RateLimits {
    /// A bucket of `burst`, refilled at `per_minute`.
    pub fn new(per_minute: u32, burst: u32, clock: Clock) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        RateLimits {
            limiter: RateLimiter::dashmap_with_clock(quota, clock.clone()),
            clock,
        }
    }

    /// Takes one request from `ip`'s bucket, or says how many seconds to wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        if self.limiter.len() > MAX_TRACKED {
            self.forget_idle();
        }
        self.limiter
            .check_key(&client_key(ip))
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(self.clock.elapsed());
                wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
            })
    }

    /// Drops buckets that are full again (memory stays bounded).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
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

/// Rate limits and lockouts over the store.
pub struct Lockout<'a> {
    pub store: &'a Store,
    pub rate: &'a RateLimits,
    pub attempts: &'a InFlight,
    pub policy: &'a LockoutPolicy,
}

/// An attempt allowed to check a password or code. Dropping it returns the
/// slot; [`Reservation::fail`] turns it into a stored failure.
struct Reservation<'a> {
    lockout: &'a Lockout<'a>,
    keys: Vec<String>,
}

impl Lockout<'_> {
    /// The lockout keys of an attempt from `ip`, with their limits and scopes.
    fn keys(&self, ip: IpAddr) -> [(String, u32, Scope); 2] {
        [
            (
                ip_key(&client_key(ip).to_string()),
                self.policy.max_failed_attempts,
                Scope::Ip,
            ),
            (
                ACCOUNT.to_string(),
                self.policy.account_max_failures,
                Scope::Account,
            ),
        ]
    }

    /// Takes one request from the client's bucket (`on` labels the metric).
    pub fn check_rate(&self, client: &Client, on: Attempt, events: &mut Events) -> AuthResult<()> {
        self.rate.check(client.ip).map_err(|retry_after| {
            events.push(Event::new(Kind::RateLimited { on }, client));
            AuthError::RateLimited { retry_after }
        })
    }

    /// Refuses a client whose address (or the account) is locked, reserving
    /// nothing: for a step that checks no secret yet (a passkey ceremony's start).
    pub fn check_open(&self, client: &Client, now: i64, events: &mut Events) -> AuthResult<()> {
        match self.reserve(client.ip, now) {
            Ok(_released_at_once) => Ok(()),
            Err(e) => {
                if matches!(e, AuthError::Locked { .. }) {
                    events.push(Event::new(Kind::Locked, client));
                }
                Err(e)
            }
        }
    }

    /// Reserves an attempt from `ip`, or refuses it when the account or the
    /// address is locked, or when the attempts already in flight could
    /// reach the limit.
    fn reserve(&self, ip: IpAddr, now: i64) -> AuthResult<Reservation<'_>> {
        let window = self.policy.window;
        let keys = self.keys(ip);
        let mut in_flight = self.attempts.lock();
        for (key, max, _) in &keys {
            let stored = self.store.lockout(key)?.unwrap_or_default();
            let retry_after = match stored.remaining(now) {
                Some(left) => Some(left),
                None => {
                    let pending = in_flight.get(key).copied().unwrap_or(0);
                    // Finished soon: its outcome decides whether a lock begins.
                    (stored.failures_at(now, window) + pending >= *max).then_some(1)
                }
            };
            if let Some(retry_after) = retry_after {
                return Err(AuthError::Locked { retry_after });
            }
        }
        for (key, _, _) in &keys {
            *in_flight.entry(key.clone()).or_insert(0) += 1;
        }
        Ok(Reservation {
            lockout: self,
            keys: keys.into_iter().map(|(key, _, _)| key).collect(),
        })
    }

    /// Runs an attempt that checks a password or a code: rate-limited,
    /// refused while the account or the client is locked, and reserved first
    /// so parallel attempts cannot outrun the lockout. A wrong password,
    /// code or passkey ([`Failure::of`]) is an event (`via` names the
    /// attempt) and counts towards the lockouts, durably.
    ///
    /// The attempt gets its own event list (e.g. a recovery code spent),
    /// appended to `events` after it ran.
    pub async fn guarded<T>(
        &self,
        client: &Client,
        via: Attempt,
        now: i64,
        events: &mut Events,
        attempt: impl AsyncFnOnce(&mut Events) -> AuthResult<T>,
    ) -> AuthResult<T> {
        self.check_rate(client, via, events)?;
        let reservation = self.reserve(client.ip, now).inspect_err(|e| {
            if matches!(e, AuthError::Locked { .. }) {
                events.push(Event::new(Kind::Locked, client));
            }
        })?;
        let mut own = Events::new();
        let result = attempt(&mut own).await;
        events.append(&mut own);
        let Some(failure) = result.as_ref().err().and_then(Failure::of) else {
            return result;
        };
        let detail = format!("reason={} via={}", failure.reason(), via.as_str());
        events.push(Event::new(Kind::of_failure(failure), client).detail(detail));
        reservation.fail(client, now, events).await?;
        result
    }

    /// A complete login from `ip`: its run of failures and the account's
    /// end. Not flushed here: the session the login starts next flushes.
    pub fn record_success(&self, ip: IpAddr) -> AuthResult<()> {
        self.store
            .clear_lockout(&ip_key(&client_key(ip).to_string()))?;
        self.store.clear_lockout(ACCOUNT)?;
        Ok(())
    }
}

/// Returns the reservations of `keys` (the map holds no zero counts).
fn release(in_flight: &mut HashMap<String, u32>, keys: &[String]) {
    for key in keys {
        if let Some(n) = in_flight.get_mut(key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                in_flight.remove(key);
            }
        }
    }
}

impl Reservation<'_> {
    /// Counts the attempt as failed, starting locks at the limits (durably).
    async fn fail(mut self, client: &Client, now: i64, events: &mut Events) -> AuthResult<()> {
        let lockout = self.lockout;
        let window = lockout.policy.window;
        let keys = std::mem::take(&mut self.keys);
        {
            // The failure is stored and the reservation returned under one
            // lock: a reserve sees the attempt as in flight or as failed,
            // never both, never neither.
            let mut in_flight = lockout.attempts.lock();
            let recorded = lockout
                .keys(client.ip)
                .into_iter()
                .try_for_each(|(key, max, scope)| {
                    let (before, after) = lockout.store.record_failure(&key, now, max, window)?;
                    if before.remaining(now).is_none() && after.remaining(now).is_some() {
                        let detail = format!(
                            "scope={} failures={} minutes={}",
                            scope.as_str(),
                            after.failures,
                            window / 60
                        );
                        // The address as the limit counts it (an IPv6 /64).
                        let event = Event {
                            ip: client_key(client.ip).to_string(),
                            ..Event::new(Kind::Lockout(scope), client)
                        };
                        events.push(event.detail(detail));
                    }
                    Ok::<_, StoreError>(())
                });
            release(&mut in_flight, &keys);
            recorded?;
        }
        lockout.store.flush().await?;
        Ok(())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        release(&mut self.lockout.attempts.lock(), &self.keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::temp_store;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        let v4: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(client_key(v4), v4);
    }

    #[test]
    fn the_rate_limit_follows_the_injected_clock() {
        let clock = Clock::manual(NOW);
        let rate = RateLimits::new(6, 2, clock.clone());
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        assert!(rate.check(ip).is_ok());
        assert!(rate.check(ip).is_ok());
        assert_eq!(rate.check(ip), Err(10), "one request every 10 s");
        clock.advance(10);
        assert!(rate.check(ip).is_ok());
        assert!(rate.check(ip).is_err());
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        rate: RateLimits,
        attempts: InFlight,
        policy: LockoutPolicy,
    }

    fn fixture(max: u32) -> Fixture {
        let (dir, store) = temp_store();
        Fixture {
            _dir: dir,
            store,
            rate: RateLimits::new(1000, 1000, Clock::manual(NOW)),
            attempts: InFlight::default(),
            policy: LockoutPolicy {
                max_failed_attempts: max,
                account_max_failures: 100,
                window: 900,
            },
        }
    }

    impl Fixture {
        fn lockout(&self) -> Lockout<'_> {
            Lockout {
                store: &self.store,
                rate: &self.rate,
                attempts: &self.attempts,
                policy: &self.policy,
            }
        }
    }

    fn client() -> Client {
        Client {
            ip: "203.0.113.5".parse().unwrap(),
            user_agent: String::new(),
        }
    }

    #[tokio::test]
    async fn failures_lock_and_the_lock_ends_with_a_fresh_run() {
        let f = fixture(3);
        let lockout = f.lockout();
        let client = client();
        let mut events = Events::new();
        for _ in 0..3 {
            let wrong = lockout.guarded(&client, Attempt::Login, NOW, &mut events, async |_| {
                Err::<(), _>(AuthError::InvalidCredentials)
            });
            assert!(matches!(wrong.await, Err(AuthError::InvalidCredentials)));
        }
        let kinds: Vec<Kind> = events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == Kind::LoginFailure).count(),
            3
        );
        assert!(kinds.contains(&Kind::Lockout(Scope::Ip)));
        let right = lockout.guarded(
            &client,
            Attempt::Login,
            NOW + 899,
            &mut events,
            async |_| Ok(()),
        );
        assert!(matches!(
            right.await,
            Err(AuthError::Locked { retry_after: 1 })
        ));
        let later = lockout.guarded(
            &client,
            Attempt::Login,
            NOW + 900,
            &mut events,
            async |_| Ok(()),
        );
        assert!(later.await.is_ok(), "the lock is over: a fresh run");
    }

    #[tokio::test]
    async fn attempts_in_flight_count_before_they_finish() {
        let f = fixture(2);
        let lockout = f.lockout();
        let first = lockout.reserve(client().ip, NOW).unwrap();
        let second = lockout.reserve(client().ip, NOW).unwrap();
        assert!(
            matches!(
                lockout.reserve(client().ip, NOW),
                Err(AuthError::Locked { .. })
            ),
            "two in flight fill the limit of two"
        );
        drop(first);
        let third = lockout.reserve(client().ip, NOW);
        assert!(
            third.is_ok(),
            "a finished attempt that did not fail frees its place"
        );
        drop((second, third));
    }
}
