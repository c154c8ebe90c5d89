//! TOTP (RFC 6238): SHA1, 6 digits, 30-second steps, one step of skew.
//!
//! Codes are checked against an injected `now` and a `last_step`: the step a
//! code belongs to must be newer than the last one accepted, so a code works
//! once (replay) — callers store the returned step atomically. Secrets are
//! 160 random bits; secrets given by environment may be as short as 80 bits
//! (older authenticator exports). The QR code is rendered with `qrcode`.

use std::io::Cursor;

use totp_rs::{Algorithm, Builder, Secret, Totp};
use zeroize::Zeroizing;

use crate::base::secret::random_bytes;
pub use crate::base::secret::{check_base32_secret, decode_base32};

/// Seconds per step.
pub const STEP: i64 = 30;
/// Bytes in a generated secret (160 bits, as RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;

/// A fresh 160-bit secret.
pub fn new_secret() -> Zeroizing<Vec<u8>> {
    Zeroizing::new(random_bytes(SECRET_BYTES))
}

/// Base32 (no padding) of a secret, for manual entry.
pub fn to_base32(secret: &[u8]) -> String {
    Secret::from(secret.to_vec()).to_base32()
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> Totp {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP as u64)
        .with_secret(secret.to_vec())
        .with_issuer(Some(issuer))
        .with_account_name(account)
        .build_noncompliant()
}

/// The time step containing `now`.
pub fn step_of(now: i64) -> i64 {
    now.div_euclid(STEP)
}

/// The 6-digit code for `now` (tests and tools).
pub fn code_at(secret: &[u8], now: i64) -> String {
    totp(secret, "x", "x")
        .generate(now.max(0) as u64)
        .to_string()
}

/// The step `code` is valid for at `now` (±1 step), if that step is newer
/// than `last_step`. Spaces in the code are ignored.
pub fn check(secret: &[u8], code: &str, now: i64, last_step: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) || now < 0 {
        return None;
    }
    let step = totp(secret, "x", "x").check(&code, now as u64)? as i64;
    match last_step {
        Some(last) if step <= last => None,
        _ => Some(step),
    }
}

/// The `otpauth://totp/...` URI authenticator apps read. totp-rs leaves out
/// parameters at their defaults; they are spelled out here so no app has to
/// guess.
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> Result<String, String> {
    totp(secret, issuer, account)
        .to_url()
        .map(|uri| format!("{uri}&algorithm=SHA1&digits=6&period={STEP}"))
        .map_err(|e| format!("cannot build the otpauth URI: {e}"))
}

/// A PNG QR code of `uri`.
pub fn qr_png(uri: &str) -> Result<Vec<u8>, String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| e.to_string())?;
    let image = code
        .render::<image::Luma<u8>>()
        .min_dimensions(256, 256)
        .build();
    let mut png = Vec::new();
    image::DynamicImage::ImageLuma8(image)
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA1, 8 digits: the seed is "12345678901234567890".
    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        let seed = b"12345678901234567890".to_vec();
        let rfc = Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(8)
            .with_step_duration(30)
            .with_secret(seed)
            .build()
            .unwrap();
        for (t, expected) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(rfc.generate(t).to_string(), expected, "T={t}");
        }
    }

    #[test]
    fn six_digit_codes_the_server_issues_match_the_rfc_truncation() {
        let seed = b"12345678901234567890";
        // The 6-digit code is the 8-digit one's last six digits.
        assert_eq!(code_at(seed, 59), "287082");
        assert_eq!(code_at(seed, 1_111_111_109), "081804");
        assert_eq!(code_at(seed, 1_234_567_890), "005924");
    }

    #[test]
    fn check_allows_one_step_of_skew_and_refuses_replay() {
        let secret = new_secret();
        let now = 1_800_000_015;
        let code = code_at(&secret, now);
        let step = check(&secret, &code, now, None).unwrap();
        assert_eq!(step, step_of(now));
        assert!(check(&secret, &code, now, Some(step)).is_none(), "replay");
        assert!(
            check(&secret, &code, now + 30, None).is_some(),
            "one step late"
        );
        assert!(
            check(&secret, &code, now - 30, None).is_some(),
            "one step early"
        );
        assert!(
            check(&secret, &code, now + 60, None).is_none(),
            "two steps late"
        );
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(check(&secret, &spaced, now, None).is_some());
        for junk in ["", "12345", "1234567", "abcdef", "１２３４５６"] {
            assert!(check(&secret, junk, now, None).is_none(), "{junk:?}");
        }
    }

    #[test]
    fn uri_names_issuer_and_account_and_round_trips() {
        let secret = new_secret();
        let uri = otpauth_uri(&secret, "soloauth", "admin").unwrap();
        assert!(uri.starts_with("otpauth://totp/soloauth:admin?"), "{uri}");
        assert!(uri.contains(&format!("secret={}", to_base32(&secret))));
        assert!(uri.contains("issuer=soloauth"));
        for param in ["algorithm=SHA1", "digits=6", "period=30"] {
            assert!(uri.contains(param), "{param} in {uri}");
        }
        let parsed = Totp::from_url(&uri).unwrap();
        assert_eq!(parsed.generate(59).to_string(), code_at(&secret, 59));
    }

    #[test]
    fn base32_secrets_validate() {
        assert!(check_base32_secret("JBSWY3DPEHPK3PXP").is_ok());
        assert!(check_base32_secret("jbsw y3dp ehpk 3pxp").is_ok());
        assert!(check_base32_secret("JBSWY3DP").is_err(), "40 bits");
        assert!(check_base32_secret("not base32!").is_err());
    }

    #[test]
    fn qr_is_a_png() {
        let png = qr_png("otpauth://totp/soloauth:admin?secret=JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
}
