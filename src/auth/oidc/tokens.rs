//! What an app receives: the ID token's and userinfo's claims, and the
//! `at_hash` that binds an ID token to its access token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::base::oidc_config::OidcConfig;

/// Who the owner is to apps.
pub struct Identity<'a> {
    /// The stable random `sub`.
    pub subject: &'a str,
    pub username: &'a str,
    pub config: &'a OidcConfig,
}

/// Whether a space-separated list (`scope`, `prompt`) holds `wanted`.
pub fn has_word(scope: &str, wanted: &str) -> bool {
    scope.split(' ').any(|s| s == wanted)
}

impl Identity<'_> {
    /// `sub` and the claims `scope` asks for (`profile`, `email`, `groups`);
    /// a claim with no configured value is left out, never empty.
    pub fn claims(&self, scope: &str) -> Map<String, Value> {
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(self.subject));
        if has_word(scope, "profile") {
            claims.insert("preferred_username".into(), json!(self.username));
            if !self.config.admin_name.is_empty() {
                claims.insert("name".into(), json!(self.config.admin_name));
            }
        }
        if has_word(scope, "email") {
            if let Some(email) = &self.config.admin_email {
                claims.insert("email".into(), json!(email));
                claims.insert("email_verified".into(), json!(true));
            }
        }
        if has_word(scope, "groups") && !self.config.admin_groups.is_empty() {
            claims.insert("groups".into(), json!(self.config.admin_groups));
        }
        claims
    }
}

/// `at_hash`: the left half of SHA-256 of the access token, base64url.
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    B64.encode(&digest[..16])
}

/// What an ID token says beyond the scope's claims.
pub struct IdTokenFacts<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub now: i64,
    pub ttl: i64,
    pub auth_time: i64,
    pub nonce: Option<&'a str>,
    pub access_token: &'a str,
    pub amr: &'a [crate::base::amr::Amr],
    pub session_id: &'a str,
}

/// The ID token's claims.
pub fn id_token_claims(identity: &Identity, scope: &str, facts: &IdTokenFacts) -> Value {
    let mut claims = identity.claims(scope);
    claims.insert("iss".into(), json!(facts.issuer));
    claims.insert("aud".into(), json!(facts.client_id));
    claims.insert("azp".into(), json!(facts.client_id));
    claims.insert("iat".into(), json!(facts.now));
    claims.insert("exp".into(), json!(facts.now + facts.ttl));
    claims.insert("auth_time".into(), json!(facts.auth_time));
    if let Some(nonce) = facts.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    claims.insert("at_hash".into(), json!(at_hash(facts.access_token)));
    claims.insert("amr".into(), json!(facts.amr));
    let acr = crate::base::amr::Assurance::of(facts.amr);
    claims.insert("acr".into(), json!(acr.as_str()));
    claims.insert("sid".into(), json!(facts.session_id));
    Value::Object(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_sha256() {
        // Computed apart: Python hashlib and base64 (urlsafe, no padding).
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNTJNgGthuCNO"),
            "ywlYFJHAZ4sMin7Ktd_Wiw"
        );
    }

    #[test]
    fn claims_follow_the_scope_and_leave_out_what_is_not_set() {
        let config = OidcConfig {
            admin_name: "Ada".into(),
            admin_email: None,
            admin_groups: vec!["admin".into(), "family".into()],
            ..OidcConfig::default()
        };
        let who = Identity {
            subject: "s",
            username: "admin",
            config: &config,
        };
        assert_eq!(Value::Object(who.claims("openid")), json!({"sub": "s"}));
        let all = Value::Object(who.claims("openid profile email groups"));
        assert_eq!(
            all,
            json!({"sub": "s", "preferred_username": "admin", "name": "Ada",
                   "groups": ["admin", "family"]})
        );
    }
}
