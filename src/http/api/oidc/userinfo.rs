//! `/oidc/userinfo`: the claims of a live access token's scope, or `401
//! invalid_token` (RFC 6750) for a missing, unknown, expired or revoked one.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use super::{oauth_json, unavailable_json, OAuthErrorBody, OidcApi};
use crate::auth::oidc::provider::OAuthError;

#[derive(ApiResponse)]
pub enum UserinfoAnswer {
    /// The claims of the token's scope.
    #[oai(status = 200)]
    Claims(Json<serde_json::Value>),
    /// A missing, unknown, expired or revoked access token.
    #[oai(status = 401)]
    Refused(
        Json<OAuthErrorBody>,
        #[oai(header = "WWW-Authenticate")] String,
    ),
    /// Storage is failing.
    #[oai(status = 503)]
    Unavailable(Json<OAuthErrorBody>),
}

/// Userinfo by form.
#[derive(Object, Default, serde::Deserialize)]
pub struct UserinfoForm {
    pub access_token: Option<String>,
}

fn refused() -> UserinfoAnswer {
    let e = OAuthError::new(
        "invalid_token",
        "missing, unknown, expired or revoked access token",
    );
    UserinfoAnswer::Refused(oauth_json(&e), r#"Bearer error="invalid_token""#.into())
}

impl OidcApi {
    /// The claims `token` gives access to.
    pub(super) fn userinfo(&self, token: Option<&str>) -> UserinfoAnswer {
        let Some(token) = token else {
            return refused();
        };
        let (state, now) = (&self.state, self.state.now());
        match state.auth.provider().userinfo(token, now) {
            Ok(Some(claims)) => UserinfoAnswer::Claims(Json(claims)),
            Ok(None) => refused(),
            Err(_) => UserinfoAnswer::Unavailable(unavailable_json()),
        }
    }
}
