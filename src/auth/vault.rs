//! Encryption at rest with Fernet (`AUTH_ENCRYPTION_KEY`).
//!
//! The key list rotates: the first key encrypts, every key decrypts, and
//! [`Vault::reencrypt`] moves a stored value onto the first key (what
//! `soloauth rotate-keys` does to everything it finds).

use fernet::{Fernet, MultiFernet};
use zeroize::Zeroizing;

use crate::base::secret::{ExposeSecret, SecretString};

/// The configured Fernet keys.
pub struct Vault {
    keys: MultiFernet,
    first: Fernet,
}

impl Vault {
    /// Builds the vault; fails on an empty list or a malformed key.
    pub fn new(keys: &[SecretString]) -> Result<Vault, String> {
        let fernets: Vec<Fernet> = keys
            .iter()
            .map(|k| Fernet::new(k.expose_secret()).ok_or("AUTH_ENCRYPTION_KEY: not a Fernet key"))
            .collect::<Result<_, _>>()?;
        let first = fernets
            .first()
            .cloned()
            .ok_or("AUTH_ENCRYPTION_KEY: no key")?;
        Ok(Vault {
            keys: MultiFernet::new(fernets),
            first,
        })
    }

    /// Encrypts with the first key.
    pub fn encrypt(&self, plaintext: &[u8]) -> String {
        self.keys.encrypt(plaintext)
    }

    /// Decrypts with whichever key fits; `None` if none does.
    pub fn decrypt(&self, token: &str) -> Option<Zeroizing<Vec<u8>>> {
        self.keys.decrypt(token).ok().map(Zeroizing::new)
    }

    /// True when `token` is already encrypted under the first key.
    pub fn is_current(&self, token: &str) -> bool {
        self.first.decrypt(token).map(Zeroizing::new).is_ok()
    }

    /// Re-encrypts `token` under the first key; `None` if no key decrypts it.
    pub fn reencrypt(&self, token: &str) -> Option<String> {
        self.decrypt(token).map(|plain| self.encrypt(&plain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretString {
        SecretString::from(Fernet::generate_key())
    }

    #[test]
    fn first_key_encrypts_all_decrypt() {
        let (old, new) = (key(), key());
        let before = Vault::new(std::slice::from_ref(&old)).unwrap();
        let token = before.encrypt(b"totp secret");
        let after = Vault::new(&[new.clone(), old]).unwrap();
        assert_eq!(after.decrypt(&token).unwrap().as_slice(), b"totp secret");
        assert!(!after.is_current(&token));
        let moved = after.reencrypt(&token).unwrap();
        assert!(after.is_current(&moved));
        let only_new = Vault::new(&[new]).unwrap();
        assert!(only_new.decrypt(&token).is_none());
        assert_eq!(only_new.decrypt(&moved).unwrap().as_slice(), b"totp secret");
    }

    #[test]
    fn ciphertext_hides_the_plaintext() {
        let v = Vault::new(&[key()]).unwrap();
        let token = v.encrypt(b"JBSWY3DPEHPK3PXP");
        assert!(!token.contains("JBSWY3DPEHPK3PXP"));
        assert!(v.decrypt("garbage").is_none());
    }
}
