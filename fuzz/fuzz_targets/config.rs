//! Configuration parsing: `Config::from_lookup` and the parsers it uses.
//!
//! The input is split on `\n` into values for the `AUTH_*` variables in
//! `known_vars()` order (the table's), skipping `AUTH_DATA_DIR`; an empty
//! piece is unset.
//! The lookup never answers a `*_FILE` name nor `AUTH_DATA_DIR`, so nothing
//! is read from disk: the target is hermetic (from_lookup never writes).
//!
//! Property: nothing panics; a config that validates is self-consistent.

#![no_main]

use libfuzzer_sys::fuzz_target;
use soloauth::auth::{password, totp};
use soloauth::base::config::{origin_and_host, Config, MIN_JWT_SECRET_LEN};
use soloauth::base::secret::ExposeSecret;
use soloauth::base::variables::known_vars;

fn fuzzed_names() -> impl Iterator<Item = &'static str> {
    known_vars().filter(|n| *n != "AUTH_DATA_DIR" && !n.ends_with("_FILE"))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let pieces: Vec<&str> = text.split('\n').collect();
    let values: Vec<(&str, &str)> = fuzzed_names()
        .zip(pieces.iter().copied())
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let lookup = |name: &str| -> Option<String> {
        if name == "AUTH_DATA_DIR" || name.ends_with("_FILE") {
            return None;
        }
        values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_string())
    };

    if let Ok(config) = Config::from_lookup(&lookup) {
        assert_eq!(config.data_dir, std::path::PathBuf::from("./data"));
        assert!(config.refresh_ttl >= config.access_ttl);
        assert!(config.access_ttl >= 10);
        for secret in config.jwt_secret.iter().chain(&config.jwt_previous_secrets) {
            assert!(secret.expose_secret().len() >= MIN_JWT_SECRET_LEN);
        }
        assert!(!config.public_url.ends_with('/'));
        assert!(!config.admin_username.contains(':'));
        if let Some(domain) = &config.cookie_domain {
            let host = config.public_host.split(':').next().unwrap_or_default();
            assert!(host == domain || host.ends_with(&format!(".{domain}")));
        }
    }

    // The parsers from_lookup uses, on each piece directly.
    for piece in pieces {
        let _ = origin_and_host(piece);
        let _ = password::check_phc(piece);
        let _ = totp::check_base32_secret(piece);
        if let Ok(secret) = totp::decode_base32(piece) {
            // Encoding back and decoding again gives the same bytes.
            let again = totp::decode_base32(&totp::to_base32(&secret));
            assert_eq!(again.ok().map(|v| v.to_vec()), Some(secret.to_vec()));
        }
    }
});
