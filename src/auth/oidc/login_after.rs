//! `login_after`: what soloauth adds to an authorization request when it
//! sends the browser to sign in again (`prompt=login`, `max_age`, or a
//! session found too old), so that, back at `/oidc/authorize`, only a
//! sign-in made after that moment counts.
//!
//! Its value is `THRESHOLD.MAC`: the sign-in time (Unix seconds, decimal)
//! and the hex HMAC-SHA256 over it and the request's app and redirect URI,
//! each part length-prefixed, after the label `oidc-login-after`. The key
//! is the recovery-code pepper (kept encrypted in the store), domain
//! separated by that label. The format and key never change: a value made
//! before an upgrade still verifies after it.

use hmac::{Hmac, Mac};

use crate::base::secret::{ct_eq, to_hex};

/// The label that separates these MACs from the pepper's other uses.
const LABEL: &str = "oidc-login-after";

/// The key `login_after` values are signed and checked with.
#[derive(Clone, Copy)]
pub struct LoginAfterKey<'a>(&'a [u8]);

impl<'a> LoginAfterKey<'a> {
    /// The key over `pepper` (the recovery-code pepper).
    pub fn new(pepper: &'a [u8]) -> Self {
        LoginAfterKey(pepper)
    }

    /// The value that carries `threshold` for this app and redirect URI;
    /// `None` only if HMAC refused the key (it takes any length): then no
    /// `login_after` is made (and none is accepted).
    pub fn sign(&self, threshold: i64, client_id: &str, redirect_uri: &str) -> Option<String> {
        let mac = self.mac(threshold, client_id, redirect_uri)?;
        Some(format!("{threshold}.{mac}"))
    }

    /// The sign-in time `value` carries, if its MAC is right for this app
    /// and redirect URI (compared in constant time); `None` for a forged,
    /// mangled or foreign one.
    pub fn verify(&self, value: &str, client_id: &str, redirect_uri: &str) -> Option<i64> {
        let (threshold, mac) = value.split_once('.')?;
        let threshold: i64 = threshold.parse().ok()?;
        let expected = self.mac(threshold, client_id, redirect_uri)?;
        ct_eq(expected.as_bytes(), mac.as_bytes()).then_some(threshold)
    }

    fn mac(&self, threshold: i64, client_id: &str, redirect_uri: &str) -> Option<String> {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(self.0).ok()?;
        for part in [LABEL, &threshold.to_string(), client_id, redirect_uri] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        Some(to_hex(&mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "photos";
    const URI: &str = "https://photos.example.com/cb";

    #[test]
    fn the_format_and_key_are_those_of_every_earlier_release() {
        // Computed apart from this code (Python's hmac over the same
        // length-prefixed parts): values signed before still verify.
        let key = LoginAfterKey::new(b"pepper");
        let known = "1800000000.128ee77c2ad98290b0b4f71509ef087732f0194246cc755658862402a7a4e8d6";
        assert_eq!(key.sign(1_800_000_000, APP, URI).as_deref(), Some(known));
        assert_eq!(key.verify(known, APP, URI), Some(1_800_000_000));
        let negative = "-5.879c92e4afd59db0b5a6a55fc7fc7cdbe35e2e93d9d2dd9526d96babc497a65e";
        assert_eq!(key.verify(negative, APP, URI), Some(-5));
    }

    #[test]
    fn a_value_verifies_only_for_its_key_app_and_redirect_uri() {
        let key = LoginAfterKey::new(b"pepper");
        let value = key.sign(1_800_000_000, APP, URI).unwrap();
        assert_eq!(key.verify(&value, "other", URI), None);
        assert_eq!(
            key.verify(&value, APP, "https://photos.example.com/cb2"),
            None
        );
        assert_eq!(LoginAfterKey::new(b"other").verify(&value, APP, URI), None);
    }

    #[test]
    fn forged_and_mangled_values_are_refused() {
        let key = LoginAfterKey::new(b"pepper");
        let value = key.sign(1_800_000_000, APP, URI).unwrap();
        let (_, mac) = value.split_once('.').unwrap();
        let moved = format!("1800000001.{mac}");
        let upper = value.to_ascii_uppercase();
        let short = &value[..value.len() - 1];
        for forged in [
            "0",
            "",
            ".",
            "1800000000.",
            moved.as_str(),
            upper.as_str(),
            short,
            "x.128ee77c",
        ] {
            assert_eq!(key.verify(forged, APP, URI), None, "{forged}");
        }
    }
}
