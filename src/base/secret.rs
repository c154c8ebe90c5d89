//! Secret values as types.
//!
//! Every password, hash, token, code and key the server holds lives in a
//! [`SecretString`] or [`SecretBytes`] (from the `secrecy` crate): their `Debug`
//! prints `[REDACTED]` and their memory is zeroized on drop, so a stray `{:?}`
//! in a log line or a panic message cannot leak them. Secrets are compared with
//! [`ct_eq`], which takes the same time wherever the inputs differ.

pub use secrecy::{ExposeSecret, SecretBox, SecretString};
use subtle::ConstantTimeEq;

/// A secret byte string (signing keys, raw TOTP secrets).
pub type SecretBytes = SecretBox<[u8]>;

/// Wraps a byte vector as a secret.
pub fn secret_bytes(bytes: Vec<u8>) -> SecretBytes {
    SecretBox::from(bytes.into_boxed_slice())
}

/// Constant-time equality of two byte strings (the length is not hidden).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Lower-case hex of `bytes` (stored hashes).
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fills `n` bytes from the operating system's CSPRNG.
pub fn random_bytes(n: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// `n` random bytes as unpadded URL-safe base64.
pub fn random_token(n: usize) -> SecretString {
    use base64::Engine;
    let bytes = zeroize::Zeroizing::new(random_bytes(n));
    SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = SecretString::from("hunter2-very-secret".to_string());
        assert!(!format!("{s:?}").contains("hunter2"));
        let b = secret_bytes(b"key-material".to_vec());
        assert!(!format!("{b:?}").contains("key"));
    }

    #[test]
    fn ct_eq_compares() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }

    #[test]
    fn random_tokens_differ_and_are_long() {
        let a = random_token(32);
        let b = random_token(32);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(a.expose_secret().len(), 43);
    }
}
