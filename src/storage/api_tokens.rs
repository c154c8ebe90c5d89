//! API tokens, in the `api_tokens` tree keyed by token id. A record holds
//! what the owner sees (name, dates, host patterns) and the SHA-256 of the
//! token's random part; never the token.

use serde::{Deserialize, Serialize};

use super::tree::Change;
use super::{Store, StoreError};

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
    /// Every token, oldest first. One whose record does not decode is left
    /// out (logged): it cannot be used anyway ([`Store::api_token`] fails).
    pub fn api_tokens(&self) -> Result<Vec<StoredToken>, StoreError> {
        let mut all: Vec<StoredToken> = self.api_tokens.list_skipping_unreadable()?;
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(all)
    }

    pub fn api_token(&self, id: &str) -> Result<Option<StoredToken>, StoreError> {
        self.api_tokens.read(id)
    }

    pub fn put_api_token(&self, token: &StoredToken) -> Result<(), StoreError> {
        self.api_tokens.put(&token.id, token)
    }

    /// Removes a token; false when there was none.
    pub fn remove_api_token(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.api_tokens.remove(id.as_bytes())?.is_some())
    }

    /// Records a use; never brings back a token revoked meanwhile. A
    /// record that does not decode is an error, and stays as it is.
    pub fn touch_api_token(&self, id: &str, now: i64) -> Result<(), StoreError> {
        self.api_tokens
            .update(id, |old: Option<StoredToken>| match old {
                Some(token) => Change::Put(
                    StoredToken {
                        last_used_at: Some(now),
                        ..token
                    },
                    (),
                ),
                None => Change::Keep(()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{assert_kept, plant, temp_store as store};

    #[test]
    fn an_undecodable_token_fails_its_use_and_stays() {
        let (_dir, store) = store();
        let good = StoredToken {
            id: "good".into(),
            name: "backup".into(),
            hash: "00".into(),
            created_at: 1,
            expires_at: None,
            last_used_at: None,
            hosts: Vec::new(),
            two_factor: false,
        };
        store.put_api_token(&good).unwrap();
        plant(&store.api_tokens, "bad");
        let used = store.touch_api_token("bad", 5);
        assert!(used.is_err_and(|e| e.is_undecodable()));
        assert!(store.api_token("bad").is_err(), "an error, not absent");
        assert_eq!(store.api_tokens().unwrap(), [good], "the others are listed");
        assert_kept(&store.api_tokens, "bad");
        store.touch_api_token("good", 5).unwrap();
        assert_eq!(
            store.api_token("good").unwrap().unwrap().last_used_at,
            Some(5)
        );
    }
}
