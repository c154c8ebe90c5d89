//! Sessions and refresh-token rotation.
//!
//! A session record (key: session id) holds the SHA-256 of its current refresh
//! token. Rotation is one sled transaction over `sessions` and
//! `retired_refresh`: it checks the presented hash against the current one,
//! swaps in the new hash, and files the old hash as retired. Transactions are
//! serializable, so of N concurrent rotations with one token exactly one sees
//! its hash current; the rest find it retired. A retired token presented
//! within the grace period of its rotation is a race (two tabs, a retrying
//! client): refused, session untouched. Later it is reuse: the session is
//! deleted (revoked) in the same transaction. Deleting a session is revoking
//! it: every access token naming it fails on its next use.
//!
//! A session's `expires_at` is its idle deadline, slid forward by activity
//! but never past its absolute end (`created_at` + the maximum age): the
//! one field every check reads.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use sled::transaction::{abort, ConflictableTransactionError, TransactionError, Transactional};

use super::{decode, encode, Store};
use crate::base::secret::ct_eq;

/// A login session.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct Session {
    pub id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: String,
    pub user_agent: String,
    /// Authentication methods used at login (`pwd`, `otp`).
    pub amr: Vec<String>,
    /// Hex SHA-256 of the current refresh token's random part.
    pub refresh_hash: String,
    /// Hex SHA-256 of the session cookie's random part (empty in sessions
    /// from before session cookies: they never match).
    #[serde(default)]
    pub cookie_hash: String,
    /// Whether the cookies outlive the browser session ("remember me").
    #[serde(default = "remembered")]
    pub remember: bool,
    /// Public OIDC apps the owner allowed, on this session's device, to
    /// sign in at a loopback or custom-scheme redirect (their client ids).
    #[serde(default)]
    pub consents: Vec<String>,
}

/// "Remember me" in records from before it existed.
pub(crate) fn remembered() -> bool {
    true
}

/// Everything but the refresh token's hash, which is a secret too.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .field("expires_at", &self.expires_at)
            .field("amr", &self.amr)
            .field("remember", &self.remember)
            .field("refresh_hash", &"[REDACTED]")
            .field("cookie_hash", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// How often a session's `last_seen_at` is rewritten, at most, in seconds.
pub const TOUCH_INTERVAL: i64 = 60;

/// All that forward auth's hot path reads of a session record: borrowed
/// from the stored bytes, the other fields skipped.
#[derive(Deserialize)]
pub struct SessionGate<'a> {
    pub expires_at: i64,
    pub last_seen_at: i64,
    #[serde(borrow)]
    pub amr: Vec<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub cookie_hash: Cow<'a, str>,
}

/// How long sessions live: `idle` seconds after the last activity, at most
/// `max_age` seconds after login.
#[derive(Debug, Clone, Copy)]
pub struct Lifetime {
    pub idle: i64,
    pub max_age: i64,
}

impl Lifetime {
    /// The idle deadline of a session created at `created_at`, active `now`.
    pub fn deadline(&self, created_at: i64, now: i64) -> i64 {
        (now + self.idle).min(created_at + self.max_age)
    }
}

/// What a rotation attempt found.
#[derive(Debug)]
pub enum Rotation {
    /// The token was current; here is the session as updated.
    Rotated(Box<Session>),
    /// The token was rotated out moments ago (within the grace period):
    /// refused, but the session lives on.
    Raced,
    /// The token was already rotated out: the session is now revoked.
    Reused,
    /// No such session, session expired, or the token never belonged to it.
    Invalid,
}

/// A retired refresh hash: which session it belonged to, until when to keep it.
#[derive(Serialize, Deserialize)]
struct Retired {
    sid: String,
    keep_until: i64,
    /// When it was rotated out (0 in records from before the grace period).
    #[serde(default)]
    rotated_at: i64,
}

fn retired_key(sid: &str, hash: &str) -> String {
    format!("{sid}/{hash}")
}

impl Store {
    /// Stores a new session (not flushed: call [`Store::flush`]).
    pub fn put_session(&self, session: &Session) -> Result<(), sled::Error> {
        self.sessions
            .insert(session.id.as_bytes(), encode(session)?)?;
        Ok(())
    }

    /// The session `id` if it exists and has not expired at `now`.
    pub fn live_session(&self, id: &str, now: i64) -> Result<Option<Session>, sled::Error> {
        Ok(self
            .sessions
            .get(id.as_bytes())?
            .and_then(|raw| decode::<Session>(&raw))
            .filter(|s| s.expires_at > now))
    }

    /// What forward auth needs of session `id`, if it is live at `now`,
    /// given to `read` (the record is borrowed, not copied).
    pub fn with_live_session_gate<T>(
        &self,
        id: &str,
        now: i64,
        read: impl FnOnce(&SessionGate<'_>) -> T,
    ) -> Result<Option<T>, sled::Error> {
        let Some(raw) = self.sessions.get(id.as_bytes())? else {
            return Ok(None);
        };
        Ok(decode::<SessionGate<'_>>(&raw)
            .filter(|gate| gate.expires_at > now)
            .map(|gate| read(&gate)))
    }

    /// Every live session, newest first.
    pub fn list_sessions(&self, now: i64) -> Result<Vec<Session>, sled::Error> {
        let mut all = Vec::new();
        for item in self.sessions.iter() {
            let (_, raw) = item?;
            if let Some(s) = decode::<Session>(&raw).filter(|s| s.expires_at > now) {
                all.push(s);
            }
        }
        all.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(all)
    }

    /// Records activity on a session at most once a minute, sliding its
    /// idle deadline (not flushed: a lost update costs at most a minute of
    /// idle time).
    pub fn touch_session(&self, id: &str, now: i64, lifetime: Lifetime) -> Result<(), sled::Error> {
        // Read-modify-write as one compare-and-swap loop: a concurrent
        // rotation is never overwritten and a revoked session stays gone.
        self.sessions.fetch_and_update(id.as_bytes(), |raw| {
            let raw = raw?;
            let touched = decode::<Session>(raw)
                .filter(|s| s.expires_at > now && now - s.last_seen_at >= TOUCH_INTERVAL)
                .map(|s| Session {
                    last_seen_at: now,
                    expires_at: lifetime.deadline(s.created_at, now),
                    ..s
                })
                .and_then(|s| encode(&s).ok());
            Some(touched.unwrap_or_else(|| raw.to_vec()))
        })?;
        Ok(())
    }

    /// Records that the owner allowed public app `client_id` on session
    /// `id`'s device; false when the session is gone. A record that does
    /// not decode is left as it is (an error, never a rewrite).
    pub fn add_consent(&self, id: &str, client_id: &str) -> Result<bool, sled::Error> {
        loop {
            let Some(raw) = self.sessions.get(id.as_bytes())? else {
                return Ok(false);
            };
            let Some(mut session) = decode::<Session>(&raw) else {
                return Err(sled::Error::ReportableBug(format!(
                    "session {id} does not decode"
                )));
            };
            if session.consents.iter().any(|c| c == client_id) {
                return Ok(true);
            }
            session.consents.push(client_id.to_string());
            let swapped = self.sessions.compare_and_swap(
                id.as_bytes(),
                Some(raw),
                Some(encode(&session)?),
            )?;
            if swapped.is_ok() {
                return Ok(true);
            }
        }
    }

    /// Deletes (revokes) session `id`; true if it existed.
    pub fn delete_session(&self, id: &str) -> Result<bool, sled::Error> {
        let existed = self.sessions.remove(id.as_bytes())?.is_some();
        self.forget_retired(id)?;
        Ok(existed)
    }

    /// Deletes every session except `keep`; returns how many went.
    pub fn delete_sessions_except(&self, keep: Option<&str>) -> Result<usize, sled::Error> {
        let mut removed = 0;
        for key in self.sessions.iter().keys() {
            let key = key?;
            if keep.is_some_and(|k| k.as_bytes() == key.as_ref()) {
                continue;
            }
            if self.sessions.remove(&key)?.is_some() {
                removed += 1;
            }
            self.forget_retired(&String::from_utf8_lossy(&key))?;
        }
        Ok(removed)
    }

    fn forget_retired(&self, sid: &str) -> Result<(), sled::Error> {
        let mut prefix = sid.as_bytes().to_vec();
        prefix.push(b'/');
        for key in self.retired_refresh.scan_prefix(&prefix).keys() {
            self.retired_refresh.remove(key?)?;
        }
        Ok(())
    }

    /// Atomically rotates session `sid` from `presented` to `new_hash`, sliding
    /// its idle deadline (not flushed: call [`Store::flush`]). A
    /// token rotated out at most `grace` seconds ago (whole seconds, so a
    /// retry a moment under `grace` later is never counted as reuse) is
    /// [`Rotation::Raced`]; `grace` 0 turns this off.
    pub fn rotate_refresh(
        &self,
        sid: &str,
        presented: &str,
        new_hash: &str,
        now: i64,
        lifetime: Lifetime,
        grace: i64,
    ) -> Result<Rotation, sled::Error> {
        let result = (&self.sessions, &self.retired_refresh).transaction(|(sessions, retired)| {
            let Some(session) = sessions
                .get(sid.as_bytes())?
                .and_then(|raw| decode::<Session>(&raw))
            else {
                return abort(Rotation::Invalid);
            };
            if session.expires_at <= now {
                return abort(Rotation::Invalid);
            }
            if !ct_eq(session.refresh_hash.as_bytes(), presented.as_bytes()) {
                let retired_at = retired
                    .get(retired_key(sid, presented).as_bytes())?
                    .and_then(|raw| decode::<Retired>(&raw))
                    .map(|r| r.rotated_at);
                return match retired_at {
                    Some(at) if grace > 0 && now - at <= grace => abort(Rotation::Raced),
                    Some(_) => {
                        sessions.remove(sid.as_bytes())?;
                        Ok(Rotation::Reused)
                    }
                    None => abort(Rotation::Invalid),
                };
            }
            let new_expiry = lifetime.deadline(session.created_at, now);
            let updated = Session {
                refresh_hash: new_hash.to_string(),
                last_seen_at: now,
                expires_at: new_expiry,
                ..session
            };
            sessions.insert(sid.as_bytes(), encode(&updated)?)?;
            let record = Retired {
                sid: sid.to_string(),
                keep_until: new_expiry,
                rotated_at: now,
            };
            retired.insert(retired_key(sid, presented).as_bytes(), encode(&record)?)?;
            Ok::<_, ConflictableTransactionError<Rotation>>(Rotation::Rotated(Box::new(updated)))
        });
        match result {
            Ok(Rotation::Reused) => {
                self.forget_retired(sid)?;
                Ok(Rotation::Reused)
            }
            Ok(rotation) => Ok(rotation),
            Err(TransactionError::Abort(rotation)) => Ok(rotation),
            Err(TransactionError::Storage(e)) => Err(e),
        }
    }

    /// Removes expired sessions and retired hashes nobody needs; returns how
    /// many sessions went.
    pub fn purge_expired(&self, now: i64) -> Result<usize, sled::Error> {
        let mut removed = 0;
        for item in self.sessions.iter() {
            let (key, raw) = item?;
            let expired = decode::<Session>(&raw).is_none_or(|s| s.expires_at <= now);
            if expired && self.sessions.remove(&key)?.is_some() {
                removed += 1;
            }
        }
        for item in self.retired_refresh.iter() {
            let (key, raw) = item?;
            let stale = decode::<Retired>(&raw).is_none_or(|r| {
                r.keep_until <= now || !self.sessions.contains_key(r.sid.as_bytes()).unwrap_or(true)
            });
            if stale {
                self.retired_refresh.remove(&key)?;
            }
        }
        Ok(removed)
    }

    /// Number of live sessions (for metrics).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::storage::temp_store as store;

    fn session(id: &str, hash: &str) -> Session {
        Session {
            id: id.into(),
            created_at: 100,
            last_seen_at: 100,
            expires_at: 1_000,
            ip: "127.0.0.1".into(),
            user_agent: "test".into(),
            amr: vec!["pwd".into()],
            refresh_hash: hash.to_string(),
            cookie_hash: String::new(),
            remember: true,
            consents: Vec::new(),
        }
    }

    #[test]
    fn a_consent_is_kept_once_and_dies_with_its_session() {
        let (_dir, store) = store();
        store.put_session(&session("s", "h")).unwrap();
        assert!(store.add_consent("s", "app").unwrap());
        assert!(store.add_consent("s", "app").unwrap());
        let kept = store.live_session("s", 200).unwrap().unwrap();
        assert_eq!(kept.consents, ["app"]);
        store.delete_session("s").unwrap();
        assert!(!store.add_consent("s", "app").unwrap());
        store.sessions.insert("bad", &b"{not json"[..]).unwrap();
        assert!(store.add_consent("bad", "app").is_err());
        assert_eq!(
            store.sessions.get("bad").unwrap().unwrap(),
            &b"{not json"[..]
        );
    }

    const LIFE: Lifetime = Lifetime {
        idle: 1_800,
        max_age: 1_900,
    };

    #[test]
    fn rotate_then_reuse_revokes() {
        let (_dir, store) = store();
        store.put_session(&session("s1", "h1")).unwrap();
        let short = Lifetime {
            idle: 1_800,
            max_age: 1_000,
        };
        assert!(
            matches!(
                store.rotate_refresh("s1", "h1", "h2", 200, short, 0).unwrap(),
                Rotation::Rotated(s) if s.expires_at == 1_100
            ),
            "slid, but not past created_at + max_age"
        );
        assert!(
            matches!(
                store
                    .rotate_refresh("s1", "h9", "h3", 200, LIFE, 0)
                    .unwrap(),
                Rotation::Invalid
            ),
            "a token that never belonged to the session does not revoke it"
        );
        assert!(store.live_session("s1", 200).unwrap().is_some());
        assert!(matches!(
            store
                .rotate_refresh("s1", "h1", "h3", 201, LIFE, 0)
                .unwrap(),
            Rotation::Reused
        ));
        assert!(store.live_session("s1", 200).unwrap().is_none());
        assert!(matches!(
            store
                .rotate_refresh("s1", "h2", "h3", 201, LIFE, 0)
                .unwrap(),
            Rotation::Invalid
        ));
    }

    #[test]
    fn activity_slides_the_idle_deadline_up_to_the_absolute_end() {
        let (_dir, store) = store();
        let s = session("s", "h1");
        store.put_session(&s).unwrap();
        store.touch_session("s", 130, LIFE).unwrap();
        assert_eq!(
            store.live_session("s", 130).unwrap(),
            Some(s.clone()),
            "under a minute: no write"
        );
        store.touch_session("s", 160, LIFE).unwrap();
        let touched = store.live_session("s", 160).unwrap().unwrap();
        assert_eq!((touched.last_seen_at, touched.expires_at), (160, 1_960));
        store.touch_session("s", 900, LIFE).unwrap();
        let late = store.live_session("s", 900).unwrap().unwrap();
        assert_eq!(late.expires_at, 2_000, "never past created_at + max_age");
        assert!(store.live_session("s", 2_000).unwrap().is_none());
        store.touch_session("s", 2_000, LIFE).unwrap();
        assert!(
            store
                .live_session("s", 1_999)
                .unwrap()
                .is_some_and(|s| s.expires_at == 2_000),
            "an ended session is not revived"
        );
    }

    #[test]
    fn expired_sessions_are_invalid_and_purged() {
        let (_dir, store) = store();
        store.put_session(&session("old", "h1")).unwrap();
        assert!(store.live_session("old", 1_000).unwrap().is_none());
        assert!(matches!(
            store
                .rotate_refresh("old", "h1", "h2", 1_000, LIFE, 10)
                .unwrap(),
            Rotation::Invalid
        ));
        assert_eq!(store.purge_expired(1_000).unwrap(), 1);
        assert_eq!(store.session_count(), 0);
    }

    #[test]
    fn concurrent_rotations_have_one_winner() {
        let (_dir, store) = store();
        let store = std::sync::Arc::new(store);
        store.put_session(&session("s", "h1")).unwrap();
        let handles: Vec<_> = (0..16u8)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    store
                        .rotate_refresh("s", "h1", &format!("n{i}"), 200, LIFE, 10)
                        .unwrap()
                })
            })
            .collect();
        let results: Vec<Rotation> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners = results
            .iter()
            .filter(|r| matches!(r, Rotation::Rotated(_)))
            .count();
        assert_eq!(winners, 1, "{results:?}");
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Rotation::Rotated(_) | Rotation::Raced)),
            "within the grace period the losers do not revoke: {results:?}"
        );
        assert!(store.live_session("s", 200).unwrap().is_some());
    }

    #[test]
    fn a_retired_token_is_a_race_within_grace_and_reuse_after() {
        let (_dir, store) = store();
        store.put_session(&session("s", "h1")).unwrap();
        let rotate = |presented: &str, now: i64| {
            store
                .rotate_refresh("s", presented, &format!("{presented}-{now}"), now, LIFE, 10)
                .unwrap()
        };
        assert!(matches!(rotate("h1", 200), Rotation::Rotated(_)));
        assert!(matches!(rotate("h1", 210), Rotation::Raced));
        assert!(store.live_session("s", 210).unwrap().is_some());
        assert!(matches!(rotate("h1", 211), Rotation::Reused));
        assert!(store.live_session("s", 211).unwrap().is_none());
    }
}
