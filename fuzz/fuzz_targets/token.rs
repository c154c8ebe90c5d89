//! Access and refresh tokens as a client presents them (Bearer header,
//! `soloauth_access` / `soloauth_refresh` cookies, refresh body).
//!
//! Property: `JwtKeys::verify` and `refresh::parse` never panic, and whatever
//! they accept is well formed.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use soloauth::auth::refresh;
use soloauth::auth::tokens::{JwtKeys, AUDIENCE, ISSUER};
use soloauth::base::secret::SecretString;

/// The instant the seed token (fuzz/seeds/token/valid-jwt) is valid at.
const NOW: i64 = 1_800_000_000;

/// Current key `"a" * 32` (the seed token's), previous key `"b" * 32`.
fn keys() -> &'static JwtKeys {
    static KEYS: OnceLock<JwtKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        JwtKeys::new(
            "admin",
            &SecretString::from("a".repeat(32)),
            &[SecretString::from("b".repeat(32))],
        )
        .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let keys = keys();

    // A few plausible clocks: the seed's instant, after its expiry, the epoch.
    for now in [NOW, NOW + 3600, 0] {
        if let Some(claims) = keys.verify(&token, now) {
            assert_eq!(claims.iss, ISSUER);
            assert_eq!(claims.aud, AUDIENCE);
            assert!(now < claims.exp, "accepted an expired token");
            // What verifies must survive a sign/verify round trip unchanged.
            if let Ok(again) = keys.sign(&claims) {
                assert_eq!(keys.verify(&again, now).as_ref(), Some(&claims));
            }
        }
    }

    if let Some((sid, hash)) = refresh::parse(&token) {
        assert_eq!(sid.len(), 32);
        assert_eq!(hash.len(), 64);
    }
});
