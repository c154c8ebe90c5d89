//! Secret values as types, and the formats secrets come in.
//!
//! Every password, hash, token, code and key the server holds lives in a
//! [`SecretString`] or [`SecretBytes`] (from the `secrecy` crate): their `Debug`
//! prints `[REDACTED]` and their memory is zeroized on drop, so a stray `{:?}`
//! in a log line or a panic message cannot leak them. Secrets are compared with
//! [`ct_eq`], which takes the same time wherever the inputs differ.

pub use secrecy::{ExposeSecret, SecretBox, SecretString};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

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
    hex::encode(bytes)
}

/// Hex SHA-256 of `text`: how 256-bit random tokens (refresh, API, OIDC
/// codes and tokens, client secrets) are stored; their entropy makes a
/// fast hash enough.
pub fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    to_hex(&Sha256::digest(text.as_bytes()))
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

// ---- formats of configured secrets (read by config validation too) -------

/// Checks that `phc` is an argon2 PHC string this server can verify.
pub fn check_phc(phc: &str) -> Result<(), String> {
    let hash =
        argon2::PasswordHash::new(phc).map_err(|_| "not a PHC string (expected $argon2id$…)")?;
    if !hash.algorithm.as_str().starts_with("argon2") {
        return Err("only argon2 hashes are supported".into());
    }
    argon2::Params::try_from(&hash).map_err(|_| "unsupported argon2 parameters")?;
    Ok(())
}

/// Hashes a password with argon2id and the OWASP-recommended defaults.
pub fn hash_password(password: &[u8]) -> Result<String, String> {
    use argon2::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing failed: {e}"))
}

/// Decodes a base32 secret (spaces, case and padding ignored).
pub fn decode_base32(secret: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let cleaned: Zeroizing<String> = Zeroizing::new(
        secret
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '=')
            .collect::<String>()
            .to_ascii_uppercase(),
    );
    let decoded = totp_rs::Secret::try_from_base32(cleaned.as_str())
        .map_err(|_| "not valid base32".to_string())?;
    Ok(Zeroizing::new(decoded.as_bytes().to_vec()))
}

/// Checks that `secret` is base32 and long enough (at least 80 bits).
pub fn check_base32_secret(secret: &str) -> Result<(), String> {
    if decode_base32(secret)?.len() < 10 {
        return Err("too short: at least 80 bits (16 base32 characters)".into());
    }
    Ok(())
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
