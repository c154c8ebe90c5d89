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
use sled::transaction::Transactional;

use super::codec::{halt, settled, tx_read, tx_write, TxError};
use super::tree::Change;
use super::{trees, Store, StoreError};
use crate::base::amr::Amr;
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
    /// Authentication methods used at login (`pwd`, `otp`, …).
    pub amr: Vec<Amr>,
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
    pub amr: Vec<Amr>,
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
    pub fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        self.sessions.put(&session.id, session)
    }

    /// The session `id` if it exists and has not expired at `now`; a
    /// record that does not decode is an error (never "no session").
    pub fn live_session(&self, id: &str, now: i64) -> Result<Option<Session>, StoreError> {
        Ok(self
            .sessions
            .read::<Session>(id)?
            .filter(|s| s.expires_at > now))
    }

    /// What forward auth needs of session `id`, if it is live at `now`,
    /// given to `read` (the record is borrowed, not copied). A record that
    /// does not decode is an error: the caller decides what it answers.
    pub fn with_live_session_gate<T>(
        &self,
        id: &str,
        now: i64,
        read: impl FnOnce(&SessionGate<'_>) -> T,
    ) -> Result<Option<T>, StoreError> {
        let Some(raw) = self.sessions.get(id.as_bytes())? else {
            return Ok(None);
        };
        let gate = self
            .sessions
            .decode::<SessionGate<'_>>(id.as_bytes(), &raw)?;
        Ok((gate.expires_at > now).then(|| read(&gate)))
    }

    /// Every live session, newest first. One whose record does not decode
    /// is left out (logged, and left as it is): the owner still sees and
    /// can revoke the others.
    pub fn list_sessions(&self, now: i64) -> Result<Vec<Session>, StoreError> {
        let mut all: Vec<Session> = self.sessions.list_skipping_unreadable()?;
        all.retain(|s| s.expires_at > now);
        all.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(all)
    }

    /// Records activity on a session at most once a minute, sliding its
    /// idle deadline (not flushed: a lost update costs at most a minute of
    /// idle time). A concurrent rotation is never overwritten, a revoked
    /// session stays gone, and a record that does not decode is an error.
    pub fn touch_session(&self, id: &str, now: i64, lifetime: Lifetime) -> Result<(), StoreError> {
        self.sessions.update(id, |old: Option<Session>| match old {
            Some(s) if s.expires_at > now && now - s.last_seen_at >= TOUCH_INTERVAL => {
                let touched = Session {
                    last_seen_at: now,
                    expires_at: lifetime.deadline(s.created_at, now),
                    ..s
                };
                Change::Put(touched, ())
            }
            _ => Change::Keep(()),
        })
    }

    /// Records that the owner allowed public app `client_id` on session
    /// `id`'s device; false when the session is gone. A record that does
    /// not decode is left as it is (an error, never a rewrite).
    pub fn add_consent(&self, id: &str, client_id: &str) -> Result<bool, StoreError> {
        self.sessions.update(id, |old: Option<Session>| match old {
            None => Change::Keep(false),
            Some(s) if s.consents.iter().any(|c| c == client_id) => Change::Keep(true),
            Some(mut s) => {
                s.consents.push(client_id.to_string());
                Change::Put(s, true)
            }
        })
    }

    /// Deletes (revokes) session `id`; true if it existed.
    pub fn delete_session(&self, id: &str) -> Result<bool, StoreError> {
        let existed = self.sessions.remove(id.as_bytes())?.is_some();
        self.forget_retired(id)?;
        Ok(existed)
    }

    /// Deletes every session except `keep`; returns how many went.
    pub fn delete_sessions_except(&self, keep: Option<&str>) -> Result<usize, StoreError> {
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

    fn forget_retired(&self, sid: &str) -> Result<(), StoreError> {
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
    ) -> Result<Rotation, StoreError> {
        let trees = (&*self.sessions, &*self.retired_refresh);
        let result = trees.transaction(|(sessions, retired)| {
            let stored = tx_read::<Session, _>(sessions, trees::SESSIONS, sid.as_bytes())?;
            let Some(session) = stored else {
                return halt(Rotation::Invalid);
            };
            if session.expires_at <= now {
                return halt(Rotation::Invalid);
            }
            if !ct_eq(session.refresh_hash.as_bytes(), presented.as_bytes()) {
                let key = retired_key(sid, presented);
                let retired_at =
                    tx_read::<Retired, _>(retired, trees::RETIRED_REFRESH, key.as_bytes())?
                        .map(|r| r.rotated_at);
                return match retired_at {
                    Some(at) if grace > 0 && now - at <= grace => halt(Rotation::Raced),
                    Some(_) => {
                        sessions.remove(sid.as_bytes())?;
                        Ok(Rotation::Reused)
                    }
                    None => halt(Rotation::Invalid),
                };
            }
            let new_expiry = lifetime.deadline(session.created_at, now);
            let updated = Session {
                refresh_hash: new_hash.to_string(),
                last_seen_at: now,
                expires_at: new_expiry,
                ..session
            };
            tx_write(sessions, trees::SESSIONS, sid.as_bytes(), &updated)?;
            let record = Retired {
                sid: sid.to_string(),
                keep_until: new_expiry,
                rotated_at: now,
            };
            let key = retired_key(sid, presented);
            tx_write(retired, trees::RETIRED_REFRESH, key.as_bytes(), &record)?;
            Ok::<_, TxError<Rotation>>(Rotation::Rotated(Box::new(updated)))
        });
        match settled(result)? {
            Ok(Rotation::Reused) => {
                self.forget_retired(sid)?;
                Ok(Rotation::Reused)
            }
            Ok(rotation) | Err(rotation) => Ok(rotation),
        }
    }

    /// Removes expired sessions and retired hashes nobody needs; returns how
    /// many sessions went. A record that does not decode is kept (logged).
    pub fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
        let removed = self.sessions.purge(|s: &Session| Ok(s.expires_at <= now))?;
        self.retired_refresh.purge(|r: &Retired| {
            Ok(r.keep_until <= now || !self.sessions.contains_key(r.sid.as_bytes())?)
        })?;
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

    use crate::storage::{assert_kept, plant, temp_store as store};

    fn session(id: &str, hash: &str) -> Session {
        Session {
            id: id.into(),
            created_at: 100,
            last_seen_at: 100,
            expires_at: 1_000,
            ip: "127.0.0.1".into(),
            user_agent: "test".into(),
            amr: vec![Amr::Pwd],
            refresh_hash: hash.to_string(),
            cookie_hash: String::new(),
            remember: true,
            consents: Vec::new(),
        }
    }

    /// Sessions as 0.1 and 0.2 wrote them (`amr` as strings) decode to the
    /// typed methods, whole and through forward auth's gate, and encode back
    /// to the very same strings.
    #[test]
    fn sessions_written_before_amr_was_a_type_decode() {
        let older = r#"{"id":"s1","created_at":100,"last_seen_at":100,"expires_at":1000,
            "ip":"127.0.0.1","user_agent":"test","amr":["pwd","otp"],"refresh_hash":"ab"}"#;
        let newer = r#"{"id":"s2","created_at":100,"last_seen_at":100,"expires_at":1000,
            "ip":"127.0.0.1","user_agent":"test","amr":["hwk","mfa"],"refresh_hash":"ab",
            "cookie_hash":"cd","remember":false,"consents":["app"]}"#;
        for (json, amr) in [(older, [Amr::Pwd, Amr::Otp]), (newer, [Amr::Hwk, Amr::Mfa])] {
            let session: Session = serde_json::from_str(json).unwrap();
            assert_eq!(session.amr, amr);
            let gate: SessionGate<'_> = serde_json::from_str(json).unwrap();
            assert_eq!(gate.amr, amr);
            let again = serde_json::to_value(&session).unwrap();
            let before: serde_json::Value = serde_json::from_str(json).unwrap();
            assert_eq!(again["amr"], before["amr"]);
        }
        let pwd = r#"{"id":"s3","created_at":1,"last_seen_at":1,"expires_at":2,"ip":"",
            "user_agent":"","amr":["pwd","hwk"],"refresh_hash":""}"#;
        let session: Session = serde_json::from_str(pwd).unwrap();
        assert_eq!(session.amr, [Amr::Pwd, Amr::Hwk]);
        let unknown = pwd.replace("\"hwk\"", "\"sms\"");
        assert!(
            serde_json::from_str::<Session>(&unknown).is_err(),
            "a method no build wrote is no session"
        );
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
    fn an_undecodable_session_fails_every_change_and_stays() {
        let (_dir, store) = store();
        store.put_session(&session("good", "h")).unwrap();
        plant(&store.sessions, "bad");
        let touched = store.touch_session("bad", 500, LIFE);
        assert!(touched.is_err_and(|e| e.is_undecodable()));
        let consent = store.add_consent("bad", "app");
        assert!(consent.is_err_and(|e| e.is_undecodable()));
        let rotated = store.rotate_refresh("bad", "h", "h2", 500, LIFE, 0);
        assert!(rotated.is_err_and(|e| e.is_undecodable()));
        assert!(
            store.live_session("bad", 500).is_err(),
            "not \"no session\""
        );
        assert!(store.with_live_session_gate("bad", 500, |_| ()).is_err());
        let listed: Vec<_> = store.list_sessions(500).unwrap();
        assert_eq!(listed.len(), 1, "the others are still listed");
        assert_kept(&store.sessions, "bad");
    }

    #[test]
    fn purging_keeps_the_sessions_and_retired_hashes_it_cannot_read() {
        let (_dir, store) = store();
        plant(&store.sessions, "bad");
        plant(&store.retired_refresh, "live/h0");
        let retired = |sid: &str| Retired {
            sid: sid.into(),
            keep_until: 5_000,
            rotated_at: 100,
        };
        // The unreadable session's retired hash: its session is there.
        let of_bad = retired_key("bad", "h9");
        store.retired_refresh.put(&of_bad, &retired("bad")).unwrap();
        let of_gone = retired_key("gone", "h9");
        store
            .retired_refresh
            .put(&of_gone, &retired("gone"))
            .unwrap();
        store.put_session(&session("old", "h1")).unwrap();
        store.put_session(&session("live", "h1")).unwrap();
        store
            .rotate_refresh("live", "h1", "h2", 200, LIFE, 0)
            .unwrap();

        assert_eq!(store.purge_expired(1_000).unwrap(), 1, "\"old\" went");

        assert_kept(&store.sessions, "bad");
        assert_kept(&store.retired_refresh, "live/h0");
        assert!(store.retired_refresh.get(&of_bad).unwrap().is_some());
        assert!(store.retired_refresh.get(&of_gone).unwrap().is_none());
        assert!(store.live_session("live", 1_000).unwrap().is_some());
        assert!(store.sessions.get("old").unwrap().is_none());
    }

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
