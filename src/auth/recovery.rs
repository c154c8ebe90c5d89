//! Recovery codes: ten single-use codes that stand in for a TOTP code.
//!
//! Each code is 10 characters from a 32-letter alphabet without look-alikes
//! (50 random bits), shown grouped as `XXXXX-XXXXX`. Input ignores case,
//! spaces and dashes. Only a keyed hash is stored: HMAC-SHA256 under a random
//! pepper that is itself kept Fernet-encrypted, so the data directory alone is
//! not enough to test guesses offline.

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

use crate::base::secret::{to_hex, ExposeSecret, SecretString};

/// How many codes a set has.
pub const COUNT: usize = 10;
/// Characters per code.
const LEN: usize = 10;
/// No 0/O, 1/I: 32 symbols, 5 bits each.
const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A new set of codes, formatted for display.
pub fn generate() -> Vec<SecretString> {
    let mut rng = rand::rngs::OsRng;
    (0..COUNT)
        .map(|_| {
            let raw: String = (0..LEN)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect();
            SecretString::from(format!("{}-{}", &raw[..5], &raw[5..]))
        })
        .collect()
}

/// The canonical form of typed input: upper case, no spaces or dashes.
/// `None` when it cannot be a code.
pub fn normalize(input: &str) -> Option<String> {
    let cleaned: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid = cleaned.len() == LEN && cleaned.bytes().all(|b| ALPHABET.contains(&b));
    valid.then_some(cleaned)
}

/// The stored form of a code: hex HMAC-SHA256 under `pepper`.
pub fn hash(pepper: &[u8], code: &SecretString) -> Option<String> {
    let canonical = normalize(code.expose_secret())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(pepper).ok()?;
    mac.update(canonical.as_bytes());
    Some(to_hex(&mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_ten_distinct_grouped_and_50_bits() {
        let codes = generate();
        assert_eq!(codes.len(), COUNT);
        let mut seen = std::collections::HashSet::new();
        for c in &codes {
            let c = c.expose_secret();
            assert_eq!(c.len(), 11);
            assert_eq!(&c[5..6], "-");
            assert!(seen.insert(c.to_string()));
        }
        // 10 symbols of a 32-letter alphabet = 50 bits.
        assert_eq!(ALPHABET.len().pow(LEN as u32), 1usize << 50);
    }

    #[test]
    fn input_ignores_case_spaces_and_dashes() {
        let pepper = b"pepper";
        let code = SecretString::from("ABCDE-FGH23".to_string());
        let expected = hash(pepper, &code).unwrap();
        for typed in [
            "abcde-fgh23",
            "ABCDEFGH23",
            " abcde fgh23 ",
            "a-b-c-d-e-f-g-h-2-3",
        ] {
            let typed = SecretString::from(typed.to_string());
            assert_eq!(
                hash(pepper, &typed).unwrap(),
                expected,
                "{}",
                typed.expose_secret()
            );
        }
        assert_ne!(hash(b"other", &code).unwrap(), expected, "keyed");
        for junk in ["", "ABCDE", "ABCDE-FGH2I", "ABCDE-FGH230"] {
            assert!(normalize(junk).is_none(), "{junk}");
        }
    }
}
