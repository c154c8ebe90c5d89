//! What the OpenID Connect provider remembers, one tree each: its signing
//! keys (Fernet-encrypted), the apps added from the page (secrets only as
//! hashes), authorization codes, grants (one per app sign-in, bound to the
//! soloauth session that authorized it, holding the refresh token's hash)
//! and the apps' access tokens (hashes). The owner's stable `sub` lives in
//! `meta`.

use serde::{Deserialize, Serialize};

use super::tree::Change;
use super::{Store, StoreError};
use crate::base::amr::Amr;

/// The `meta` key of the owner's OIDC subject.
const SUBJECT: &str = "oidc_subject";

/// An RSA signing key, encrypted.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredKey {
    pub kid: String,
    /// Fernet token of the PKCS#1 DER private key.
    pub encrypted: String,
    pub created_at: i64,
    /// When a newer key took over; published until its tokens expire.
    pub retired_at: Option<i64>,
}

/// An app added from the page or the API.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredClient {
    pub client_id: String,
    pub name: String,
    /// Hex SHA-256 of the secret; `None` for a public client.
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub logout_uris: Vec<String>,
    pub created_at: i64,
    /// How strong a sign-in the app requires (apps stored before: any).
    #[serde(default)]
    pub policy: crate::base::amr::Assurance,
}

/// An authorization code waiting for its exchange (single use, 60 s).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub scope: String,
    pub session_id: String,
    pub auth_time: i64,
    pub amr: Vec<Amr>,
    pub expires_at: i64,
    /// Set at the exchange: the grant it started (a second use revokes it).
    pub used_by: Option<String>,
    /// When it was spent (absent in codes spent by 0.2 builds before it: long ago).
    #[serde(default)]
    pub used_at: Option<i64>,
    /// Set by a second use: the first one, if still finishing, must give up.
    #[serde(default)]
    pub reused: bool,
}

/// One app's sign-in: what its tokens carry, and its refresh token.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    pub session_id: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub auth_time: i64,
    pub amr: Vec<Amr>,
    pub created_at: i64,
    /// Hex SHA-256 of the current refresh token's random part.
    pub refresh_hash: String,
    /// The one before, and when it was replaced (the grace window).
    pub previous_hash: Option<String>,
    pub rotated_at: i64,
    /// Every older one (the newest [`RETIRED_KEPT`]): presenting any is reuse.
    #[serde(default)]
    pub retired: Vec<String>,
}

/// How many retired refresh-token hashes a grant remembers.
pub const RETIRED_KEPT: usize = 256;

/// Everything but the encrypted key.
impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// Everything but the secret's hash.
impl std::fmt::Debug for StoredClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredClient")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("public", &self.secret_hash.is_none())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

/// An app's access token, by hash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredAccess {
    pub grant_id: String,
    pub expires_at: i64,
}

/// How a refresh token presented against a grant turned out.
#[derive(Debug, PartialEq)]
pub enum Rotation {
    Rotated(Grant),
    /// The token before the current one, within the grace window.
    Raced,
    /// An old token after the grace window: the grant is gone.
    Reused(Grant),
    Invalid,
}

impl Store {
    /// Every stored signing key. One whose record does not decode is an
    /// error, not left out: without it the current key could look missing
    /// (and a new one be made), or a retired one never be removed.
    pub fn oidc_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let mut keys: Vec<StoredKey> = self.oidc_keys.list()?;
        keys.sort_by_key(|k| k.created_at);
        Ok(keys)
    }

    /// Stores `key` (new or updated).
    pub fn put_oidc_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        self.oidc_keys.put(&key.kid, key)
    }

    /// Removes a key no token can need any more.
    pub fn remove_oidc_key(&self, kid: &str) -> Result<(), StoreError> {
        self.oidc_keys.remove(kid.as_bytes())?;
        Ok(())
    }

    /// The owner's OIDC subject, made by `fresh` the first time.
    pub fn oidc_subject(&self, fresh: impl Fn() -> String) -> Result<String, StoreError> {
        if let Some(raw) = self.meta.get(SUBJECT)? {
            return Ok(String::from_utf8_lossy(&raw).into_owned());
        }
        let made = fresh();
        match self
            .meta
            .compare_and_swap(SUBJECT, None::<&[u8]>, Some(made.as_bytes()))?
        {
            Ok(()) => Ok(made),
            Err(raced) => Ok(raced
                .current
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or(made)),
        }
    }

    /// Every app added from the page, oldest first. One whose record does
    /// not decode is left out (logged): it cannot be used anyway
    /// ([`Store::oidc_client`] fails).
    pub fn oidc_clients(&self) -> Result<Vec<StoredClient>, StoreError> {
        let mut all: Vec<StoredClient> = self.oidc_clients.list_skipping_unreadable()?;
        all.sort_by(|a, b| (a.created_at, &a.client_id).cmp(&(b.created_at, &b.client_id)));
        Ok(all)
    }

    pub fn oidc_client(&self, client_id: &str) -> Result<Option<StoredClient>, StoreError> {
        self.oidc_clients.read(client_id)
    }

    pub fn put_oidc_client(&self, client: &StoredClient) -> Result<(), StoreError> {
        self.oidc_clients.put(&client.client_id, client)
    }

    /// Removes an app and every grant it holds; false when there was none.
    /// A grant whose record does not decode stays (logged).
    pub fn remove_oidc_client(&self, client_id: &str) -> Result<bool, StoreError> {
        let removed = self.oidc_clients.remove(client_id.as_bytes())?.is_some();
        for grant in self.grants()? {
            if grant.client_id == client_id {
                self.remove_grant(&grant.id)?;
            }
        }
        Ok(removed)
    }

    pub fn put_code(&self, hash: &str, code: &StoredCode) -> Result<(), StoreError> {
        self.oidc_codes.put(hash, code)
    }

    /// The code `hash` as stored. Reading it changes nothing: only an
    /// exchange that passes every check spends it ([`Store::spend_code`]).
    pub fn code(&self, hash: &str) -> Result<Option<StoredCode>, StoreError> {
        self.oidc_codes.read(hash)
    }

    /// Spends code `hash` for grant `grant_id` at `now`, if it is still as
    /// `seen` (nobody spent or marked it meanwhile); false if another
    /// exchange won.
    pub fn spend_code(
        &self,
        hash: &str,
        seen: &StoredCode,
        grant_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.oidc_codes.update(hash, |old| match old {
            Some(code) if code == *seen => Change::Put(
                StoredCode {
                    used_by: Some(grant_id.to_string()),
                    used_at: Some(now),
                    ..code
                },
                true,
            ),
            _ => Change::Keep(false),
        })
    }

    /// Marks code `hash` presented again after its use: the exchange that
    /// spent it, if still finishing, gives up ([`Store::code_reused`]).
    pub fn mark_code_reused(&self, hash: &str) -> Result<(), StoreError> {
        self.oidc_codes
            .update(hash, |old: Option<StoredCode>| match old {
                Some(code) if !code.reused => Change::Put(
                    StoredCode {
                        reused: true,
                        ..code
                    },
                    (),
                ),
                _ => Change::Keep(()),
            })
    }

    /// Whether the code `hash` was presented again after its first use.
    pub fn code_reused(&self, hash: &str) -> Result<bool, StoreError> {
        Ok(self.code(hash)?.is_some_and(|c| c.reused))
    }

    /// Every grant. One whose record does not decode is left out (logged),
    /// and so never removed by what goes through this list.
    pub fn grants(&self) -> Result<Vec<Grant>, StoreError> {
        self.oidc_grants.list_skipping_unreadable()
    }

    pub fn grant(&self, id: &str) -> Result<Option<Grant>, StoreError> {
        self.oidc_grants.read(id)
    }

    pub fn put_grant(&self, grant: &Grant) -> Result<(), StoreError> {
        self.oidc_grants.put(&grant.id, grant)
    }

    /// Ends a grant: its refresh token and (at their next use) its access
    /// tokens die. False when there was none.
    pub fn remove_grant(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.oidc_grants.remove(id.as_bytes())?.is_some())
    }

    /// Rotates grant `id`'s refresh token from `presented` (hash) to
    /// `next` (hash), atomically: of concurrent rotations one wins. A
    /// grant whose record does not decode is an error, and stays as it is.
    pub fn rotate_grant(
        &self,
        id: &str,
        presented: &str,
        next: &str,
        now: i64,
        grace: i64,
    ) -> Result<Rotation, StoreError> {
        let same = |h: &str| crate::base::secret::ct_eq(h.as_bytes(), presented.as_bytes());
        self.oidc_grants.update(id, |old: Option<Grant>| {
            let Some(grant) = old else {
                return Change::Keep(Rotation::Invalid);
            };
            if same(&grant.refresh_hash) {
                let mut retired = grant.retired.clone();
                retired.extend(grant.previous_hash.clone());
                let excess = retired.len().saturating_sub(RETIRED_KEPT);
                retired.drain(..excess);
                let rotated = Grant {
                    previous_hash: Some(grant.refresh_hash.clone()),
                    refresh_hash: next.to_string(),
                    rotated_at: now,
                    retired,
                    ..grant
                };
                return Change::Put(rotated.clone(), Rotation::Rotated(rotated));
            }
            if grant.previous_hash.as_deref().is_some_and(same) {
                if grace > 0 && now - grant.rotated_at <= grace {
                    return Change::Keep(Rotation::Raced);
                }
                return Change::Remove(Rotation::Reused(grant));
            }
            if grant.retired.iter().any(|h| same(h)) {
                return Change::Remove(Rotation::Reused(grant));
            }
            Change::Keep(Rotation::Invalid)
        })
    }

    pub fn put_access(&self, hash: &str, access: &StoredAccess) -> Result<(), StoreError> {
        self.oidc_access.put(hash, access)
    }

    /// The live access token `hash`.
    pub fn access(&self, hash: &str, now: i64) -> Result<Option<StoredAccess>, StoreError> {
        Ok(self
            .oidc_access
            .read::<StoredAccess>(hash)?
            .filter(|a| a.expires_at > now))
    }

    pub fn remove_access(&self, hash: &str) -> Result<bool, StoreError> {
        Ok(self.oidc_access.remove(hash.as_bytes())?.is_some())
    }

    /// Drops expired codes (kept a while after use, for reuse detection),
    /// expired access tokens, and grants whose session is gone or whose app
    /// `app_exists` no longer knows.
    ///
    /// What it cannot read it keeps: a code, token or grant whose record
    /// does not decode, and a grant whose session's record does not
    /// (logged, with tree and key). An error from `app_exists` (the app
    /// could not be read) stops the purge: an app that could not be read
    /// is not an app that was removed.
    pub fn purge_oidc(
        &self,
        now: i64,
        code_memory: i64,
        app_exists: impl Fn(&str) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        self.oidc_codes
            .purge(|c: &StoredCode| Ok(c.expires_at + code_memory <= now))?;
        self.oidc_access
            .purge(|a: &StoredAccess| Ok(a.expires_at <= now))?;
        self.oidc_grants.purge(|grant: &Grant| {
            let ended = match self.live_session(&grant.session_id, now) {
                Ok(session) => session.is_none(),
                Err(e) if e.is_undecodable() => return Ok(false),
                Err(e) => return Err(e),
            };
            Ok(ended || !app_exists(&grant.client_id)?)
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sessions::Session;
    use crate::storage::{assert_kept, plant, temp_store as store};

    fn grant(id: &str, session_id: &str) -> Grant {
        Grant {
            id: id.into(),
            client_id: "app".into(),
            session_id: session_id.into(),
            scope: "openid".into(),
            nonce: None,
            auth_time: 1,
            amr: vec![Amr::Pwd],
            created_at: 1,
            refresh_hash: "h1".into(),
            previous_hash: None,
            rotated_at: 1,
            retired: Vec::new(),
        }
    }

    fn session(id: &str, expires_at: i64) -> Session {
        Session {
            id: id.into(),
            created_at: 1,
            last_seen_at: 1,
            expires_at,
            ip: "127.0.0.1".into(),
            user_agent: "test".into(),
            amr: vec![Amr::Pwd],
            refresh_hash: "r".into(),
            cookie_hash: String::new(),
            remember: true,
            consents: Vec::new(),
        }
    }

    #[test]
    fn an_undecodable_grant_fails_its_rotation_and_stays() {
        let (_dir, store) = store();
        plant(&store.oidc_grants, "g");
        let rotated = store.rotate_grant("g", "h1", "h2", 10, 0);
        assert!(rotated.is_err_and(|e| e.is_undecodable()));
        assert!(store.grant("g").is_err(), "an error, not absent");
        assert_kept(&store.oidc_grants, "g");
    }

    #[test]
    fn an_undecodable_code_is_neither_spent_nor_marked() {
        let (_dir, store) = store();
        store.put_code("h", &code()).unwrap();
        let seen = store.code("h").unwrap().unwrap();
        plant(&store.oidc_codes, "h");
        assert!(store.code("h").is_err(), "an error, not absent");
        let spent = store.spend_code("h", &seen, "g1", 10);
        assert!(spent.is_err_and(|e| e.is_undecodable()));
        let marked = store.mark_code_reused("h");
        assert!(marked.is_err_and(|e| e.is_undecodable()));
        assert!(store.code_reused("h").is_err());
        assert_kept(&store.oidc_codes, "h");
    }

    #[test]
    fn purging_keeps_what_it_cannot_read_and_removes_the_rest() {
        let (_dir, store) = store();
        let now = 10_000;
        plant(&store.oidc_codes, "bad");
        store.put_code("old", &code()).unwrap();
        plant(&store.oidc_access, "bad");
        let expired = StoredAccess {
            grant_id: "g".into(),
            expires_at: 5,
        };
        store.put_access("old", &expired).unwrap();
        plant(&store.oidc_grants, "bad");
        plant(&store.sessions, "unreadable");
        store
            .put_grant(&grant("of-unreadable", "unreadable"))
            .unwrap();
        let kept_grant = store.oidc_grants.get("of-unreadable").unwrap();
        store.put_grant(&grant("of-ended", "ended")).unwrap();
        store.put_session(&session("live", now + 100)).unwrap();
        store.put_grant(&grant("of-live", "live")).unwrap();

        store.purge_oidc(now, 600, |_| Ok(true)).unwrap();

        assert_kept(&store.oidc_codes, "bad");
        assert_kept(&store.oidc_access, "bad");
        assert_kept(&store.oidc_grants, "bad");
        assert_kept(&store.sessions, "unreadable");
        assert_eq!(
            store.oidc_grants.get("of-unreadable").unwrap(),
            kept_grant,
            "a grant whose session cannot be read is kept"
        );
        assert!(
            store.oidc_codes.get("old").unwrap().is_none(),
            "expired code"
        );
        assert!(
            store.oidc_access.get("old").unwrap().is_none(),
            "expired token"
        );
        assert!(store.grant("of-ended").unwrap().is_none(), "ended session");
        assert!(store.grant("of-live").unwrap().is_some());
    }

    #[test]
    fn an_app_that_cannot_be_read_stops_the_grant_purge() {
        let (_dir, store) = store();
        store.put_session(&session("s", 20_000)).unwrap();
        store.put_grant(&grant("g", "s")).unwrap();
        let before = store.oidc_grants.get("g").unwrap();
        let unreadable = |_: &str| -> Result<bool, StoreError> {
            Err(sled::Error::Io(std::io::Error::other("disk")).into())
        };
        assert!(store.purge_oidc(10_000, 600, unreadable).is_err());
        assert_eq!(store.oidc_grants.get("g").unwrap(), before);
        store.purge_oidc(10_000, 600, |_| Ok(false)).unwrap();
        assert!(
            store.grant("g").unwrap().is_none(),
            "a removed app's grant goes"
        );
    }

    fn code() -> StoredCode {
        StoredCode {
            client_id: "c".into(),
            redirect_uri: "https://app.example/cb".into(),
            code_challenge: None,
            nonce: None,
            scope: "openid".into(),
            session_id: "s".into(),
            auth_time: 1,
            amr: vec![Amr::Pwd],
            expires_at: 100,
            used_by: None,
            used_at: None,
            reused: false,
        }
    }

    #[test]
    fn a_code_is_spent_once_and_a_second_use_is_marked_for_the_first_to_see() {
        let (_dir, store) = store();
        store.put_code("h", &code()).unwrap();
        let seen = store.code("h").unwrap().unwrap();
        assert_eq!(seen.used_by, None, "reading spends nothing");
        assert!(store.spend_code("h", &seen, "g1", 10).unwrap());
        assert!(
            !store.spend_code("h", &seen, "g2", 10).unwrap(),
            "a concurrent exchange that read it unspent loses"
        );
        let spent = store.code("h").unwrap().unwrap();
        assert_eq!(
            (spent.used_by.as_deref(), spent.used_at),
            (Some("g1"), Some(10))
        );
        assert!(!store.code_reused("h").unwrap());
        store.mark_code_reused("h").unwrap();
        assert!(
            store.code_reused("h").unwrap(),
            "the first exchange will give up"
        );
        assert!(store.code("nope").unwrap().is_none());
    }
}
