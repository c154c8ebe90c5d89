//! TOTP (RFC 6238): SHA1, 6 digits, 30-second steps.
//!
//! So far this module validates env-provided secrets; enrollment and code
//! checks build on it.

/// Checks that `secret` is base32 and long enough (at least 80 bits).
pub fn check_base32_secret(secret: &str) -> Result<(), String> {
    let cleaned: String = secret
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let secret = totp_rs::Secret::try_from_base32(cleaned.trim_end_matches('='))
        .map_err(|_| "not valid base32".to_string())?;
    if secret.as_bytes().len() < 10 {
        return Err("too short: at least 80 bits (16 base32 characters)".into());
    }
    Ok(())
}
