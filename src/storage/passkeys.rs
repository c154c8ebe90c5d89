//! Registered passkeys, in the `passkeys` tree, keyed by credential id.
//!
//! A record holds the credential's public key and its dynamic state (the
//! signature counter, user verification, backup) in the WebAuthn library's
//! own binary encoding, plus what the owner sees: a name and dates. Nothing
//! in it is secret: the private key never leaves the authenticator. The one
//! account's WebAuthn user handle (random, not the username) lives in `meta`,
//! and so does the owner's switch that turns password sign-in off (which
//! only makes sense with passkeys, and goes with them).

use serde::{Deserialize, Serialize};

use super::tree::Change;
use super::{Store, StoreError};

/// The `meta` key of the account's WebAuthn user handle.
const USER_HANDLE: &str = "webauthn_user_handle";
/// The `meta` key of the page's switch: `true` when password sign-in is off.
const PASSWORD_LOGIN_OFF: &str = "password_login_off";

/// One registered passkey.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredPasskey {
    /// The credential id, base64url (also the tree key, raw).
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// The public key and extensions (the library's `StaticState`), base64url.
    pub public_key: String,
    /// Counter, user verification, backup (the library's `DynamicState`), base64url.
    pub state: String,
    /// How the authenticator is reached (the library's `AuthTransports` bits).
    #[serde(default)]
    pub transports: u8,
    /// Whether the passkey is synced (backed up) by its provider.
    pub backed_up: bool,
}

impl Store {
    /// Every passkey, oldest first. One whose record does not decode is
    /// left out (logged): it cannot sign in anyway ([`Store::passkey`]
    /// fails), and the others stay usable and listed.
    pub fn passkeys(&self) -> Result<Vec<StoredPasskey>, StoreError> {
        let mut all: Vec<StoredPasskey> = self.passkeys.list_skipping_unreadable()?;
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(all)
    }

    /// The passkey with credential id `id` (raw bytes).
    pub fn passkey(&self, id: &[u8]) -> Result<Option<StoredPasskey>, StoreError> {
        self.passkeys.read(id)
    }

    /// Adds a passkey; false (nothing written) when its id is already registered.
    pub fn add_passkey(&self, raw_id: &[u8], passkey: &StoredPasskey) -> Result<bool, StoreError> {
        let record = self.passkeys.encode(raw_id, passkey)?;
        let added = self
            .passkeys
            .compare_and_swap(raw_id, None::<&[u8]>, Some(record))?;
        Ok(added.is_ok())
    }

    /// Applies `change` to the passkey `raw_id`; false when there is none.
    /// Never brings back a passkey removed meanwhile; a record that does
    /// not decode is an error, and stays as it is.
    pub fn update_passkey(
        &self,
        raw_id: &[u8],
        change: impl Fn(&mut StoredPasskey),
    ) -> Result<bool, StoreError> {
        self.passkeys.update(raw_id, |old| match old {
            Some(mut passkey) => {
                change(&mut passkey);
                Change::Put(passkey, true)
            }
            None => Change::Keep(false),
        })
    }

    /// Removes a passkey; false when there was none.
    pub fn remove_passkey(&self, raw_id: &[u8]) -> Result<bool, StoreError> {
        Ok(self.passkeys.remove(raw_id)?.is_some())
    }

    /// Removes every passkey and the user handle, and turns password
    /// sign-in back on; returns how many passkeys there were.
    pub fn clear_passkeys(&self) -> Result<usize, StoreError> {
        let count = self.passkeys.len();
        self.passkeys.clear()?;
        self.meta.remove(USER_HANDLE)?;
        self.meta.remove(PASSWORD_LOGIN_OFF)?;
        Ok(count)
    }

    /// Whether the owner turned password sign-in off (on the page).
    pub fn password_login_off(&self) -> Result<bool, StoreError> {
        Ok(self.meta.read::<bool>(PASSWORD_LOGIN_OFF)?.unwrap_or(false))
    }

    /// Turns password sign-in off (`true`) or back on. Unflushed.
    pub fn set_password_login_off(&self, off: bool) -> Result<(), StoreError> {
        match off {
            true => self.meta.put(PASSWORD_LOGIN_OFF, &true),
            false => self
                .meta
                .remove(PASSWORD_LOGIN_OFF)
                .map(|_| ())
                .map_err(Into::into),
        }
    }

    /// The account's WebAuthn user handle, made by `fresh` the first time.
    pub fn webauthn_user_handle(&self, fresh: impl Fn() -> Vec<u8>) -> Result<Vec<u8>, StoreError> {
        if let Some(raw) = self.meta.get(USER_HANDLE)? {
            return Ok(raw.to_vec());
        }
        let made = fresh();
        match self
            .meta
            .compare_and_swap(USER_HANDLE, None::<&[u8]>, Some(made.as_slice()))?
        {
            Ok(()) => Ok(made),
            Err(raced) => Ok(raced.current.map(|v| v.to_vec()).unwrap_or(made)),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::storage::{assert_kept, plant, temp_store as store};

    use super::*;

    #[test]
    fn an_undecodable_passkey_fails_its_updates_and_stays() {
        let (_dir, store) = store();
        store.add_passkey(b"a", &passkey("a", 1)).unwrap();
        plant(&store.passkeys, b"bad");
        let rename = store.update_passkey(b"bad", |p| p.name = "laptop".into());
        assert!(rename.is_err_and(|e| e.is_undecodable()));
        let used = store.update_passkey(b"bad", |p| p.last_used_at = Some(5));
        assert!(used.is_err_and(|e| e.is_undecodable()));
        assert!(store.passkey(b"bad").is_err(), "an error, not absent");
        let listed: Vec<_> = store
            .passkeys()
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(listed, ["a"], "the others are still listed");
        assert_kept(&store.passkeys, b"bad");
    }

    fn passkey(id: &str, created_at: i64) -> StoredPasskey {
        StoredPasskey {
            id: id.into(),
            name: format!("key {id}"),
            created_at,
            last_used_at: None,
            public_key: "pk".into(),
            state: "st".into(),
            transports: 0,
            backed_up: false,
        }
    }

    #[test]
    fn passkeys_are_added_once_listed_in_order_updated_and_removed() {
        let (_dir, store) = store();
        assert!(store.add_passkey(b"b", &passkey("b", 2)).unwrap());
        assert!(store.add_passkey(b"a", &passkey("a", 1)).unwrap());
        assert!(!store.add_passkey(b"a", &passkey("a", 9)).unwrap());
        let ids: Vec<_> = store
            .passkeys()
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(store
            .update_passkey(b"a", |p| p.name = "laptop".into())
            .unwrap());
        assert_eq!(store.passkey(b"a").unwrap().unwrap().name, "laptop");
        assert!(store.remove_passkey(b"a").unwrap());
        assert!(!store
            .update_passkey(b"a", |p| p.name = "back".into())
            .unwrap());
        assert_eq!(store.passkey(b"a").unwrap(), None, "not revived");
        assert_eq!(store.clear_passkeys().unwrap(), 1);
        assert!(store.passkeys().unwrap().is_empty());
    }

    #[test]
    fn the_password_switch_is_kept_and_resetting_passkeys_turns_passwords_back_on() {
        let (_dir, store) = store();
        assert!(!store.password_login_off().unwrap());
        store.add_passkey(b"a", &passkey("a", 1)).unwrap();
        store.set_password_login_off(true).unwrap();
        assert!(store.password_login_off().unwrap());
        store.set_password_login_off(false).unwrap();
        assert!(!store.password_login_off().unwrap());
        store.set_password_login_off(true).unwrap();
        assert_eq!(store.clear_passkeys().unwrap(), 1);
        assert!(!store.password_login_off().unwrap());
    }

    #[test]
    fn the_user_handle_is_made_once_and_kept() {
        let (_dir, store) = store();
        let first = store.webauthn_user_handle(|| vec![1; 64]).unwrap();
        let again = store.webauthn_user_handle(|| vec![2; 64]).unwrap();
        assert_eq!(first, again);
        store.clear_passkeys().unwrap();
        assert_eq!(
            store.webauthn_user_handle(|| vec![3; 64]).unwrap(),
            vec![3; 64]
        );
    }
}
