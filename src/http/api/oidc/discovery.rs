//! `/.well-known/openid-configuration` and `/oidc/jwks.json`: what an app
//! learns about the provider before its first request.

use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

/// The discovery document of `issuer` (byte for byte the public URL).
pub fn document(issuer: &str) -> serde_json::Value {
    serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oidc/authorize"),
        "token_endpoint": format!("{issuer}/oidc/token"),
        "userinfo_endpoint": format!("{issuer}/oidc/userinfo"),
        "jwks_uri": format!("{issuer}/oidc/jwks.json"),
        "end_session_endpoint": format!("{issuer}/oidc/logout"),
        "revocation_endpoint": format!("{issuer}/oidc/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "groups", "offline_access"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash",
            "amr", "acr", "sid", "azp", "preferred_username", "name", "email", "email_verified", "groups"],
        "prompt_values_supported": ["none", "login"],
        "acr_values_supported": ["one_factor", "two_factor", "passkey"],
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    })
}

/// The public signing keys (a key is made on first use).
pub async fn jwks(state: &AppState) -> ApiResult<serde_json::Value> {
    let ring = state
        .auth
        .oidc_keys
        .ring(&state.auth.store, &state.auth.vault, state.now())
        .await?;
    serde_json::to_value(ring.jwks()).map_err(ApiError::internal)
}
