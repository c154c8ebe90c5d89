//! API tokens, in the `api_tokens` tree keyed by token id. A record holds
//! what the owner sees (name, dates, host patterns) and the SHA-256 of the
//! token's random part; never the token.

use serde::{Deserialize, Serialize};

use super::{decode, encode, Store};

/// One API token.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredToken {
    pub id: String,
    pub name: String,
    /// Hex SHA-256 of the random part.
    pub hash: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// Host patterns (as in the access rules); empty: any host.
    pub hosts: Vec<String>,
    /// Minted from a session that signed in with a second factor.
    pub two_factor: bool,
}

impl std::fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Every token, oldest first.
    pub fn api_tokens(&self) -> Result<Vec<StoredToken>, sled::Error> {
        let mut all = Vec::new();
        for item in self.api_tokens.iter() {
            let (_, raw) = item?;
            all.extend(decode::<StoredToken>(&raw));
        }
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(all)
    }

    pub fn api_token(&self, id: &str) -> Result<Option<StoredToken>, sled::Error> {
        Ok(self
            .api_tokens
            .get(id.as_bytes())?
            .and_then(|raw| decode(&raw)))
    }

    pub fn put_api_token(&self, token: &StoredToken) -> Result<(), sled::Error> {
        self.api_tokens
            .insert(token.id.as_bytes(), encode(token)?)?;
        Ok(())
    }

    /// Removes a token; false when there was none.
    pub fn remove_api_token(&self, id: &str) -> Result<bool, sled::Error> {
        Ok(self.api_tokens.remove(id.as_bytes())?.is_some())
    }

    /// Records a use; never brings back a token revoked meanwhile.
    pub fn touch_api_token(&self, id: &str, now: i64) -> Result<(), sled::Error> {
        self.api_tokens.fetch_and_update(id.as_bytes(), |old| {
            let mut token = old.and_then(decode::<StoredToken>)?;
            token.last_used_at = Some(now);
            encode(&token).ok()
        })?;
        Ok(())
    }
}
