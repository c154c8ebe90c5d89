//! What the OpenID Connect provider remembers, one tree each: its signing
//! keys (Fernet-encrypted), the apps added from the page (secrets only as
//! hashes), authorization codes, grants (one per app sign-in, bound to the
//! soloauth session that authorized it, holding the refresh token's hash)
//! and the apps' access tokens (hashes). The owner's stable `sub` lives in
//! `meta`.

use serde::{Deserialize, Serialize};

use super::{decode, encode, Store};

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
    pub amr: Vec<String>,
    pub expires_at: i64,
    /// Set at the exchange: the grant it started (a second use revokes it).
    pub used_by: Option<String>,
    /// When it was spent (absent in codes spent before 0.3: long ago).
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
    pub amr: Vec<String>,
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
    /// Every stored signing key.
    pub fn oidc_keys(&self) -> Result<Vec<StoredKey>, sled::Error> {
        let mut keys = Vec::new();
        for item in self.oidc_keys.iter() {
            let (_, raw) = item?;
            keys.extend(decode::<StoredKey>(&raw));
        }
        keys.sort_by_key(|k| k.created_at);
        Ok(keys)
    }

    /// Stores `key` (new or updated).
    pub fn put_oidc_key(&self, key: &StoredKey) -> Result<(), sled::Error> {
        self.oidc_keys.insert(key.kid.as_bytes(), encode(key)?)?;
        Ok(())
    }

    /// Removes a key no token can need any more.
    pub fn remove_oidc_key(&self, kid: &str) -> Result<(), sled::Error> {
        self.oidc_keys.remove(kid.as_bytes())?;
        Ok(())
    }

    /// The owner's OIDC subject, made by `fresh` the first time.
    pub fn oidc_subject(&self, fresh: impl Fn() -> String) -> Result<String, sled::Error> {
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

    /// Every app added from the page, oldest first.
    pub fn oidc_clients(&self) -> Result<Vec<StoredClient>, sled::Error> {
        let mut all = Vec::new();
        for item in self.oidc_clients.iter() {
            let (_, raw) = item?;
            all.extend(decode::<StoredClient>(&raw));
        }
        all.sort_by(|a, b| (a.created_at, &a.client_id).cmp(&(b.created_at, &b.client_id)));
        Ok(all)
    }

    pub fn oidc_client(&self, client_id: &str) -> Result<Option<StoredClient>, sled::Error> {
        Ok(self
            .oidc_clients
            .get(client_id.as_bytes())?
            .and_then(|raw| decode(&raw)))
    }

    pub fn put_oidc_client(&self, client: &StoredClient) -> Result<(), sled::Error> {
        self.oidc_clients
            .insert(client.client_id.as_bytes(), encode(client)?)?;
        Ok(())
    }

    /// Removes an app and every grant it holds; false when there was none.
    pub fn remove_oidc_client(&self, client_id: &str) -> Result<bool, sled::Error> {
        let removed = self.oidc_clients.remove(client_id.as_bytes())?.is_some();
        for grant in self.grants()? {
            if grant.client_id == client_id {
                self.remove_grant(&grant.id)?;
            }
        }
        Ok(removed)
    }

    pub fn put_code(&self, hash: &str, code: &StoredCode) -> Result<(), sled::Error> {
        self.oidc_codes.insert(hash.as_bytes(), encode(code)?)?;
        Ok(())
    }

    /// The code `hash` as stored: its bytes (for [`Store::spend_code`]) and
    /// its record. Reading it changes nothing: only an exchange that passes
    /// every check spends it.
    pub fn code(&self, hash: &str) -> Result<Option<(sled::IVec, StoredCode)>, sled::Error> {
        let Some(raw) = self.oidc_codes.get(hash.as_bytes())? else {
            return Ok(None);
        };
        Ok(decode::<StoredCode>(&raw).map(|code| (raw, code)))
    }

    /// Spends code `hash` for grant `grant_id` at `now`, if it is still as
    /// `seen` (nobody spent it meanwhile); false if another exchange won.
    pub fn spend_code(
        &self,
        hash: &str,
        seen: &sled::IVec,
        grant_id: &str,
        now: i64,
    ) -> Result<bool, sled::Error> {
        let Some(code) = decode::<StoredCode>(seen) else {
            return Ok(false);
        };
        let spent = StoredCode {
            used_by: Some(grant_id.to_string()),
            used_at: Some(now),
            ..code
        };
        let swapped =
            self.oidc_codes
                .compare_and_swap(hash.as_bytes(), Some(seen), Some(encode(&spent)?))?;
        Ok(swapped.is_ok())
    }

    /// Marks code `hash` presented again after its use: the exchange that
    /// spent it, if still finishing, gives up ([`Store::code_reused`]).
    pub fn mark_code_reused(&self, hash: &str) -> Result<(), sled::Error> {
        loop {
            let Some((raw, code)) = self.code(hash)? else {
                return Ok(());
            };
            if code.reused {
                return Ok(());
            }
            let marked = StoredCode {
                reused: true,
                ..code
            };
            let swapped = self.oidc_codes.compare_and_swap(
                hash.as_bytes(),
                Some(raw),
                Some(encode(&marked)?),
            )?;
            if swapped.is_ok() {
                return Ok(());
            }
        }
    }

    /// Whether the code `hash` was presented again after its first use.
    pub fn code_reused(&self, hash: &str) -> Result<bool, sled::Error> {
        Ok(self.code(hash)?.is_some_and(|(_, c)| c.reused))
    }

    pub fn grants(&self) -> Result<Vec<Grant>, sled::Error> {
        let mut all = Vec::new();
        for item in self.oidc_grants.iter() {
            let (_, raw) = item?;
            all.extend(decode::<Grant>(&raw));
        }
        Ok(all)
    }

    pub fn grant(&self, id: &str) -> Result<Option<Grant>, sled::Error> {
        Ok(self
            .oidc_grants
            .get(id.as_bytes())?
            .and_then(|raw| decode(&raw)))
    }

    pub fn put_grant(&self, grant: &Grant) -> Result<(), sled::Error> {
        self.oidc_grants
            .insert(grant.id.as_bytes(), encode(grant)?)?;
        Ok(())
    }

    /// Ends a grant: its refresh token and (at their next use) its access
    /// tokens die. False when there was none.
    pub fn remove_grant(&self, id: &str) -> Result<bool, sled::Error> {
        Ok(self.oidc_grants.remove(id.as_bytes())?.is_some())
    }

    /// Rotates grant `id`'s refresh token from `presented` (hash) to
    /// `next` (hash), atomically: of concurrent rotations one wins.
    pub fn rotate_grant(
        &self,
        id: &str,
        presented: &str,
        next: &str,
        now: i64,
        grace: i64,
    ) -> Result<Rotation, sled::Error> {
        let mut outcome = Rotation::Invalid;
        self.oidc_grants.fetch_and_update(id.as_bytes(), |old| {
            let grant = old.and_then(decode::<Grant>)?;
            let same = |h: &str| crate::base::secret::ct_eq(h.as_bytes(), presented.as_bytes());
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
                outcome = Rotation::Rotated(rotated.clone());
                return encode(&rotated).ok();
            }
            if grant.previous_hash.as_deref().is_some_and(same) {
                if grace > 0 && now - grant.rotated_at <= grace {
                    outcome = Rotation::Raced;
                    return encode(&grant).ok();
                }
                outcome = Rotation::Reused(grant);
                return None;
            }
            if grant.retired.iter().any(|h| same(h)) {
                outcome = Rotation::Reused(grant);
                return None;
            }
            encode(&grant).ok()
        })?;
        Ok(outcome)
    }

    pub fn put_access(&self, hash: &str, access: &StoredAccess) -> Result<(), sled::Error> {
        self.oidc_access.insert(hash.as_bytes(), encode(access)?)?;
        Ok(())
    }

    /// The live access token `hash`.
    pub fn access(&self, hash: &str, now: i64) -> Result<Option<StoredAccess>, sled::Error> {
        Ok(self
            .oidc_access
            .get(hash.as_bytes())?
            .and_then(|raw| decode::<StoredAccess>(&raw))
            .filter(|a| a.expires_at > now))
    }

    pub fn remove_access(&self, hash: &str) -> Result<bool, sled::Error> {
        Ok(self.oidc_access.remove(hash.as_bytes())?.is_some())
    }

    /// Drops expired codes (kept a while after use, for reuse detection),
    /// expired access tokens, and grants whose session is gone or whose app
    /// `app_exists` no longer knows.
    pub fn purge_oidc(
        &self,
        now: i64,
        code_memory: i64,
        app_exists: impl Fn(&str) -> bool,
    ) -> Result<(), sled::Error> {
        for item in self.oidc_codes.iter() {
            let (key, raw) = item?;
            if decode::<StoredCode>(&raw).is_none_or(|c| c.expires_at + code_memory <= now) {
                self.oidc_codes.remove(key)?;
            }
        }
        for item in self.oidc_access.iter() {
            let (key, raw) = item?;
            if decode::<StoredAccess>(&raw).is_none_or(|a| a.expires_at <= now) {
                self.oidc_access.remove(key)?;
            }
        }
        for grant in self.grants()? {
            let ended = self.live_session(&grant.session_id, now)?.is_none();
            if ended || !app_exists(&grant.client_id) {
                self.remove_grant(&grant.id)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::temp_store as store;

    fn code() -> StoredCode {
        StoredCode {
            client_id: "c".into(),
            redirect_uri: "https://app.example/cb".into(),
            code_challenge: None,
            nonce: None,
            scope: "openid".into(),
            session_id: "s".into(),
            auth_time: 1,
            amr: vec!["pwd".into()],
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
        let (seen, read) = store.code("h").unwrap().unwrap();
        assert_eq!(read.used_by, None, "reading spends nothing");
        assert!(store.spend_code("h", &seen, "g1", 10).unwrap());
        assert!(
            !store.spend_code("h", &seen, "g2", 10).unwrap(),
            "a concurrent exchange that read it unspent loses"
        );
        let (_, spent) = store.code("h").unwrap().unwrap();
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
