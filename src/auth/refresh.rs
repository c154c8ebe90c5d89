//! Opaque refresh tokens: `<session id>.<256 random bits>`, stored only as a hash.
//!
//! The session id prefix lets the server find the session in one read; the
//! random part is what proves possession. Only its SHA-256 is stored (the
//! token has 256 bits of entropy, so a fast hash is enough), and comparisons
//! are constant-time.

use crate::base::secret::{random_token, sha256_hex, ExposeSecret, SecretString};

/// Random bytes in a refresh token.
const RANDOM_BYTES: usize = 32;

/// A freshly minted refresh token and the hash to store.
pub struct NewRefreshToken {
    pub token: SecretString,
    /// Hex SHA-256 of the random part.
    pub hash: String,
}

/// Mints a refresh token for session `sid`.
pub fn mint(sid: &str) -> NewRefreshToken {
    let random = random_token(RANDOM_BYTES);
    let hash = hash_part(random.expose_secret());
    NewRefreshToken {
        token: SecretString::from(format!("{sid}.{}", random.expose_secret())),
        hash,
    }
}

/// Splits a presented token into its session id and the hash of its random part.
pub fn parse(token: &str) -> Option<(&str, String)> {
    let (sid, random) = token.trim().split_once('.')?;
    let well_formed = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !well_formed(sid, 32) || !well_formed(random, 43) {
        return None;
    }
    Some((sid, hash_part(random)))
}

fn hash_part(random: &str) -> String {
    sha256_hex(random)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn minted_tokens_parse_back() {
        let t = mint(SID);
        let (sid, hash) = parse(t.token.expose_secret()).unwrap();
        assert_eq!(sid, SID);
        assert_eq!(hash, t.hash);
        assert_ne!(mint(SID).hash, t.hash);
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for junk in [
            "",
            ".",
            "abc",
            "abc.def",
            &format!("{SID}."),
            &format!("{SID}.{}", "!".repeat(43)),
        ] {
            assert!(parse(junk).is_none(), "{junk:?}");
        }
    }
}
