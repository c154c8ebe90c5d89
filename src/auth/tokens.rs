//! JWT access tokens: HS256 only, a `kid` naming the key, time injected.
//!
//! Tokens are signed with the current secret; the current and every previous
//! secret (`AUTH_JWT_PREVIOUS_SECRETS`) verify. Each key's `kid` is derived
//! from the secret itself (a truncated SHA-256 under a label), so it is stable
//! across restarts, names the key without revealing it, and lets verification
//! pick the one key to try. Expiry and not-before are checked against the
//! injected `now`, not the library's own clock, so tests never sleep.
//!
//! Forward auth checks the same cookie for every request a page makes, so
//! tokens whose signature checked out are remembered (by the SHA-256 of their
//! exact text, so no token is kept in memory; at most [`CACHE_SIZE`] of
//! them): a repeat costs a hash and a map lookup instead of
//! base64, JSON and HMAC. Time is still checked on every use, and the session
//! behind the token is still looked up by the caller.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::base::amr::Amr;
use crate::base::secret::{ExposeSecret, SecretString};

/// The `iss` and `aud` of every access token.
pub const ISSUER: &str = "soloauth";
/// The audience of access tokens.
pub const AUDIENCE: &str = "soloauth";
/// Seconds of clock skew tolerated on `nbf`/`iat`.
const LEEWAY: i64 = 5;
/// Verified tokens remembered (the map is emptied when full).
pub const CACHE_SIZE: usize = 4096;

/// SHA-256 of a token's text: what the verified-token map is keyed by.
type TokenDigest = [u8; 32];

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub sid: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    pub amr: Vec<Amr>,
}

impl AccessClaims {
    /// Claims for a new token of session `sid`, valid `ttl` seconds from `now`.
    pub fn new(sub: &str, sid: &str, amr: &[Amr], now: i64, ttl: i64) -> Self {
        AccessClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: sub.into(),
            sid: sid.into(),
            iat: now,
            nbf: now,
            exp: now + ttl,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            amr: amr.to_vec(),
        }
    }
}

struct VerifyKey {
    kid: String,
    key: DecodingKey,
}

/// Signing and verification keys for access tokens.
pub struct JwtKeys {
    /// The admin username: every token's `sub`.
    subject: String,
    kid: String,
    signing: EncodingKey,
    verifying: Vec<VerifyKey>,
    validation: Validation,
    verified: Mutex<HashMap<TokenDigest, Arc<AccessClaims>>>,
}

/// The key id of a secret: 16 hex digits of SHA-256("soloauth-kid:" ‖ secret).
pub fn key_id(secret: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(b"soloauth-kid:")
        .chain_update(secret)
        .finalize();
    crate::base::secret::to_hex(&digest[..8])
}

impl JwtKeys {
    /// Keys from the current secret and the previous ones (verify only), for
    /// tokens whose `sub` is `subject` (the admin username).
    pub fn new(
        subject: &str,
        current: &SecretString,
        previous: &[SecretString],
    ) -> Result<Self, String> {
        let unusable = |e: jsonwebtoken::errors::Error| format!("unusable JWT secret: {e}");
        let current_bytes = current.expose_secret().as_bytes();
        let mut verifying = vec![VerifyKey {
            kid: key_id(current_bytes),
            key: DecodingKey::from_secret(current_bytes).map_err(unusable)?,
        }];
        for old in previous {
            let bytes = old.expose_secret().as_bytes();
            verifying.push(VerifyKey {
                kid: key_id(bytes),
                key: DecodingKey::from_secret(bytes).map_err(unusable)?,
            });
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false; // checked against the injected clock
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.sub = Some(subject.to_string());
        Ok(JwtKeys {
            subject: subject.to_string(),
            kid: key_id(current_bytes),
            signing: EncodingKey::from_secret(current_bytes).map_err(unusable)?,
            verifying,
            validation,
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// A new access token for session `sid`, valid `ttl` seconds from `now`.
    pub fn issue(&self, sid: &str, amr: &[Amr], now: i64, ttl: i64) -> Result<String, String> {
        self.sign(&AccessClaims::new(&self.subject, sid, amr, now, ttl))
    }

    /// Signs `claims` with the current key.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, String> {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.signing).map_err(|e| e.to_string())
    }

    /// Verifies signature, algorithm, `typ`, `kid`, `iss`, `aud`, `sub`, `nbf`
    /// and `exp` at `now`.
    /// Any failure is `None`: callers answer `401 invalid_token` whatever the cause.
    pub fn verify(&self, token: &str, now: i64) -> Option<Arc<AccessClaims>> {
        let digest: TokenDigest = Sha256::digest(token.as_bytes()).into();
        let remembered = self.remembered().get(&digest).cloned();
        let claims = match remembered {
            Some(claims) => claims,
            None => {
                let claims = Arc::new(self.verify_signature(token)?);
                let mut map = self.remembered();
                if map.len() >= CACHE_SIZE {
                    map.clear();
                }
                map.insert(digest, claims.clone());
                claims
            }
        };
        let in_time = now < claims.exp && claims.nbf <= now + LEEWAY && claims.iat <= now + LEEWAY;
        in_time.then_some(claims)
    }

    /// The remembered tokens. Every entry is complete whatever happened to
    /// another holder of the lock, so a poisoned lock is simply taken.
    fn remembered(&self) -> std::sync::MutexGuard<'_, HashMap<TokenDigest, Arc<AccessClaims>>> {
        self.verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks header (`alg`, `typ`, `kid`), signature, `iss`, `aud` and `sub` (not time).
    fn verify_signature(&self, token: &str) -> Option<AccessClaims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::HS256 || header.typ.as_deref() != Some("JWT") {
            return None;
        }
        let kid = header.kid?;
        let key = self.verifying.iter().find(|k| k.kid == kid)?;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key.key, &self.validation).ok()?;
        Some(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    const NOW: i64 = 1_800_000_000;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.repeat(32))
    }

    fn claims() -> AccessClaims {
        AccessClaims::new("admin", "sid-1", &[Amr::Pwd], NOW, 1800)
    }

    /// The payload of a 0.2.0 access token (its fixture's): `amr` as strings.
    #[test]
    fn claims_signed_before_amr_was_a_type_decode() {
        let payload = r#"{"iss":"soloauth","aud":"soloauth","sub":"admin","sid":"7b5d",
            "iat":1796396239,"nbf":1796396239,"exp":1796398039,"jti":"8438","amr":["pwd"]}"#;
        let claims: AccessClaims = serde_json::from_str(payload).unwrap();
        assert_eq!(claims.amr, [Amr::Pwd]);
        let again = serde_json::to_value(&claims).unwrap();
        assert_eq!(again["amr"], serde_json::json!(["pwd"]));
    }

    #[test]
    fn round_trip_and_expiry_with_injected_time() {
        let keys = JwtKeys::new("admin", &secret("a"), &[]).unwrap();
        let claims = claims();
        let token = keys.sign(&claims).unwrap();
        assert_eq!(*keys.verify(&token, NOW).unwrap(), claims);
        assert!(keys.verify(&token, NOW + 1799).is_some());
        assert!(keys.verify(&token, NOW + 1800).is_none(), "expired");
        assert!(keys.verify(&token, NOW - 60).is_none(), "not yet valid");
    }

    #[test]
    fn previous_keys_verify_but_do_not_sign() {
        let old = JwtKeys::new("admin", &secret("o"), &[]).unwrap();
        let token = old.sign(&claims()).unwrap();
        let rotated = JwtKeys::new("admin", &secret("n"), &[secret("o")]).unwrap();
        assert!(rotated.verify(&token, NOW).is_some());
        let fresh = rotated.sign(&claims()).unwrap();
        assert!(old.verify(&fresh, NOW).is_none());
        assert!(JwtKeys::new("admin", &secret("n"), &[])
            .unwrap()
            .verify(&token, NOW)
            .is_none());
    }

    #[test]
    fn remembered_tokens_match_only_their_exact_text() {
        let keys = JwtKeys::new("admin", &secret("a"), &[]).unwrap();
        let token = keys.sign(&claims()).unwrap();
        assert!(keys.verify(&token, NOW).is_some(), "now remembered");
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        for other in [
            flipped,
            format!("{token}x"),
            token[..token.len() - 1].to_string(),
        ] {
            assert!(keys.verify(&other, NOW).is_none(), "{other}");
        }
        assert!(
            keys.verify(&token, NOW + 1800).is_none(),
            "time is still checked"
        );
    }

    #[test]
    fn forged_tokens_are_refused() {
        let keys = JwtKeys::new("admin", &secret("a"), &[]).unwrap();
        let b64 = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let body = b64(&serde_json::to_value(claims()).unwrap());
        let kid = key_id(secret("a").expose_secret().as_bytes());
        // alg none
        let none = format!(
            "{}.{body}.",
            b64(&serde_json::json!({"alg":"none","kid":kid}))
        );
        assert!(keys.verify(&none, NOW).is_none());
        // HS512 with the right secret
        let mut h = Header::new(Algorithm::HS512);
        h.kid = Some(kid.clone());
        let hs512 = jsonwebtoken::encode(
            &h,
            &claims(),
            &EncodingKey::from_secret("a".repeat(32).as_bytes()).unwrap(),
        )
        .unwrap();
        assert!(keys.verify(&hs512, NOW).is_none());
        // wrong audience / issuer
        for (field, value) in [("aud", "other"), ("iss", "evil")] {
            let mut c = serde_json::to_value(claims()).unwrap();
            c[field] = value.into();
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some(kid.clone());
            let t = jsonwebtoken::encode(
                &h,
                &c,
                &EncodingKey::from_secret("a".repeat(32).as_bytes()).unwrap(),
            )
            .unwrap();
            assert!(keys.verify(&t, NOW).is_none(), "{field}");
        }
        // another subject, or a header that does not say JWT
        let mut other = claims();
        other.sub = "root".into();
        assert!(keys.verify(&keys.sign(&other).unwrap(), NOW).is_none());
        for typ in [None, Some("at+jwt".to_string())] {
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some(kid.clone());
            h.typ = typ.clone();
            let t = jsonwebtoken::encode(
                &h,
                &claims(),
                &EncodingKey::from_secret("a".repeat(32).as_bytes()).unwrap(),
            )
            .unwrap();
            assert!(keys.verify(&t, NOW).is_none(), "typ {typ:?}");
        }
        // tampered payload
        let good = keys.sign(&claims()).unwrap();
        let mut parts: Vec<&str> = good.split('.').collect();
        let mut c = serde_json::to_value(claims()).unwrap();
        c["sub"] = "root".into();
        let forged_body = b64(&c);
        parts[1] = &forged_body;
        assert!(keys.verify(&parts.join("."), NOW).is_none());
        // garbage
        for junk in ["", "a.b.c", "....", "eyJ.eyJ.sig"] {
            assert!(keys.verify(junk, NOW).is_none());
        }
    }

    #[test]
    fn kid_is_stable_and_distinct() {
        assert_eq!(key_id(b"x"), key_id(b"x"));
        assert_ne!(key_id(b"x"), key_id(b"y"));
        assert_eq!(key_id(b"x").len(), 16);
    }
}
