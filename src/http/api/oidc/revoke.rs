//! `POST /oidc/revoke` (RFC 7009): the client is authenticated, then the
//! token it names ends if it holds it. An unknown token gets the same
//! answer as a revoked one.

use poem::http::HeaderMap;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use super::BASIC_CHALLENGE;
use super::{client_credentials, oauth_json, unavailable_json, OAuthErrorBody, OidcApi};
use crate::auth::oidc::client_auth::ClientAuthError;
use crate::auth::oidc::provider::OAuthError;

#[derive(ApiResponse)]
pub enum RevokeAnswer {
    /// Revoked (or unknown: the same answer).
    #[oai(status = 200)]
    Done,
    #[oai(status = 401)]
    BadClient(
        Json<OAuthErrorBody>,
        #[oai(header = "WWW-Authenticate")] String,
    ),
    /// Storage is failing.
    #[oai(status = 503)]
    Unavailable(Json<OAuthErrorBody>),
}

/// The revocation endpoint's form.
#[derive(Object, Default, serde::Deserialize)]
pub struct RevokeForm {
    token: Option<String>,
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

impl OidcApi {
    /// A revocation request: its client, then its token.
    pub(super) async fn revoke_token(&self, headers: &HeaderMap, f: RevokeForm) -> RevokeAnswer {
        let provider = self.state.auth.provider();
        let credentials =
            client_credentials(headers, f.client_id.as_deref(), f.client_secret.as_deref());
        let app = match provider.authenticate_client(&credentials) {
            Ok(app) => app,
            Err(ClientAuthError::Unavailable) => {
                return RevokeAnswer::Unavailable(unavailable_json())
            }
            Err(e) => {
                let e = OAuthError::from(e);
                return RevokeAnswer::BadClient(oauth_json(&e), BASIC_CHALLENGE.into());
            }
        };
        if let Some(token) = f.token.as_deref() {
            if provider.revoke(&app, token).await.is_err() {
                return RevokeAnswer::Unavailable(unavailable_json());
            }
        }
        RevokeAnswer::Done
    }
}
