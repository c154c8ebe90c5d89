//! The provider's RS256 signing keys.
//!
//! One key signs; keys it replaced stay published in the JWKS until every ID
//! token they signed has expired ([`ID_TOKEN_TTL`] after their retirement),
//! since clients cache the JWKS. A key is RSA 2048, generated the first time
//! the provider needs one (a server that never serves an app never pays for
//! it) and stored Fernet-encrypted under `AUTH_ENCRYPTION_KEY`; or it is
//! given as `AUTH_OIDC_PRIVATE_KEY` (PEM) and never stored.

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use sha2::{Digest, Sha256};

use crate::auth::vault::Vault;
use crate::base::secret::{to_hex, ExposeSecret, SecretString};
use crate::storage::oidc::StoredKey;
use crate::storage::{Store, StoreError};

/// How long an ID token is good for.
pub const ID_TOKEN_TTL: i64 = 3600;
const RSA_BITS: usize = 2048;

/// One signing key: its id, the key and its public JWK.
struct SigningKey {
    kid: String,
    key: EncodingKey,
    jwk: Jwk,
}

/// The key that signs and the retired ones still published.
pub struct KeyRing {
    current: SigningKey,
    published: Vec<Jwk>,
}

impl SigningKey {
    /// From a PKCS#1 DER private key; the kid is derived from the public key.
    fn from_der(der: &[u8]) -> Result<Self, String> {
        Self::from_encoding_key(EncodingKey::from_rsa_der(der))
    }

    fn from_encoding_key(key: EncodingKey) -> Result<Self, String> {
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256)
            .map_err(|e| format!("unusable RSA key: {e}"))?;
        let public = serde_json::to_string(&jwk.algorithm).map_err(|e| e.to_string())?;
        let kid = to_hex(&Sha256::digest(public.as_bytes())[..8]);
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(KeyAlgorithm::RS256);
        Ok(SigningKey { kid, key, jwk })
    }
}

/// A fresh RSA 2048 key as PKCS#1 DER (CPU-heavy: call off the async runtime).
pub fn generate_der() -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, RSA_BITS)
        .map_err(|e| format!("cannot generate an RSA key: {e}"))?;
    let der = key
        .to_pkcs1_der()
        .map_err(|e| format!("cannot encode the RSA key: {e}"))?;
    Ok(zeroize::Zeroizing::new(der.as_bytes().to_vec()))
}

impl KeyRing {
    /// A ring of one new key (PKCS#1 DER).
    pub fn from_der_new(der: &[u8]) -> Result<Self, String> {
        let current = SigningKey::from_der(der)?;
        Ok(KeyRing {
            published: vec![current.jwk.clone()],
            current,
        })
    }

    /// The signing key's id.
    pub fn kid(&self) -> &str {
        &self.current.kid
    }

    /// From `AUTH_OIDC_PRIVATE_KEY` (PEM, PKCS#1 or PKCS#8).
    pub fn from_pem(pem: &SecretString) -> Result<Self, String> {
        let key = EncodingKey::from_rsa_pem(pem.expose_secret().as_bytes())
            .map_err(|e| format!("AUTH_OIDC_PRIVATE_KEY is not an RSA private key: {e}"))?;
        let current = SigningKey::from_encoding_key(key)
            .map_err(|e| format!("AUTH_OIDC_PRIVATE_KEY: {e}"))?;
        let modulus_bits = match &current.jwk.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) => {
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &rsa.n)
                    .map_or(0, |n| n.len() * 8)
            }
            _ => 0,
        };
        if modulus_bits < RSA_BITS {
            return Err(format!(
                "AUTH_OIDC_PRIVATE_KEY is a {modulus_bits}-bit RSA key; use at least {RSA_BITS} bits"
            ));
        }
        Ok(KeyRing {
            published: vec![current.jwk.clone()],
            current,
        })
    }

    /// From the stored keys, if one is current: `Ok(None)` when none is.
    pub fn from_store(store: &Store, vault: &Vault, now: i64) -> Result<Option<Self>, String> {
        let stored = store
            .oidc_keys()
            .map_err(|e| format!("storage error: {e}"))?;
        let mut current = None;
        let mut published = Vec::new();
        for key in stored {
            let live = key.retired_at.is_none_or(|at| at + ID_TOKEN_TTL > now);
            if !live {
                continue;
            }
            let der = vault.decrypt(&key.encrypted).ok_or(
                "AUTH_ENCRYPTION_KEY cannot decrypt the stored OIDC signing key: keep the old \
                 key after the new one in AUTH_ENCRYPTION_KEY, or run `soloauth rotate-oidc-key`",
            )?;
            let signing = SigningKey::from_der(&der)?;
            published.push(signing.jwk.clone());
            if key.retired_at.is_none() {
                current = Some(signing);
            }
        }
        Ok(current.map(|current| KeyRing { current, published }))
    }

    /// Makes a new key (stored encrypted) and retires the current one.
    pub fn rotate(store: &Store, vault: &Vault, now: i64) -> Result<String, String> {
        let storage = |e: StoreError| format!("storage error: {e}");
        let der = generate_der()?;
        let signing = SigningKey::from_der(&der)?;
        for mut old in store.oidc_keys().map_err(storage)? {
            match old.retired_at {
                None => {
                    old.retired_at = Some(now);
                    store.put_oidc_key(&old).map_err(storage)?;
                }
                Some(at) if at + ID_TOKEN_TTL <= now => {
                    store.remove_oidc_key(&old.kid).map_err(storage)?;
                }
                Some(_) => {}
            }
        }
        store
            .put_oidc_key(&StoredKey {
                kid: signing.kid.clone(),
                encrypted: vault.encrypt(&der),
                created_at: now,
                retired_at: None,
            })
            .map_err(storage)?;
        Ok(signing.kid)
    }

    /// Signs `claims` as an RS256 JWT with the current key.
    pub fn sign<T: serde::Serialize>(&self, claims: &T) -> Result<String, String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.current.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.current.key)
            .map_err(|e| format!("cannot sign an ID token: {e}"))
    }

    /// The claims of an ID token this server signed (with any published
    /// key, expired or not: a logout hint), `None` for anything else.
    pub fn verify_hint(&self, token: &str, issuer: &str) -> Option<serde_json::Value> {
        let kid = jsonwebtoken::decode_header(token).ok()?.kid?;
        let jwk = self
            .published
            .iter()
            .find(|k| k.common.key_id.as_deref() == Some(kid.as_str()))?;
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).ok()?;
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["iss", "sub"]);
        validation.set_issuer(&[issuer]);
        jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
            .ok()
            .map(|data| data.claims)
    }

    /// The public keys to publish.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.published.clone(),
        }
    }
}
