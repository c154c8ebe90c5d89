//! `POST /oidc/token`: the client is authenticated (`auth::oidc::client_auth`),
//! then the grant (`authorization_code` or `refresh_token`) goes to the
//! provider; its [`OAuthError`]s become RFC 6749 §5.2 answers.

use poem::http::HeaderMap;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use super::BASIC_CHALLENGE;
use super::{client_credentials, oauth_json, unavailable_json, OAuthErrorBody, OidcApi};
use crate::auth::events::Events;
use crate::auth::oidc::clients::App;
use crate::auth::oidc::provider::{CodeExchange, OAuthError, TokenSet};
use crate::auth::Client;
use crate::base::secret::ExposeSecret;
use crate::http::api::recorded;

/// The token endpoint's answer.
#[derive(Object)]
pub struct TokenBody {
    access_token: String,
    token_type: String,
    expires_in: i64,
    id_token: String,
    refresh_token: String,
    scope: String,
}

#[derive(ApiResponse)]
pub enum TokenAnswer {
    /// New tokens.
    #[oai(status = 200)]
    Tokens(Json<TokenBody>),
    /// `invalid_grant`, `invalid_request`, `unsupported_grant_type`…
    #[oai(status = 400)]
    Refused(Json<OAuthErrorBody>),
    /// `invalid_client`.
    #[oai(status = 401)]
    BadClient(
        Json<OAuthErrorBody>,
        #[oai(header = "WWW-Authenticate")] String,
    ),
    /// Storage is failing.
    #[oai(status = 503)]
    Unavailable(Json<OAuthErrorBody>),
}

/// The token endpoint's form.
#[derive(Object, Default, serde::Deserialize)]
pub struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn token_body(t: TokenSet) -> TokenBody {
    TokenBody {
        access_token: t.access_token.expose_secret().to_string(),
        token_type: "Bearer".into(),
        expires_in: t.expires_in,
        id_token: t.id_token,
        refresh_token: t.refresh_token.expose_secret().to_string(),
        scope: t.scope,
    }
}

/// The answer to a refused request.
fn refuse(e: OAuthError) -> TokenAnswer {
    match e.error {
        "invalid_client" => TokenAnswer::BadClient(oauth_json(&e), BASIC_CHALLENGE.into()),
        "server_error" => TokenAnswer::Unavailable(unavailable_json()),
        _ => TokenAnswer::Refused(oauth_json(&e)),
    }
}

impl OidcApi {
    /// A token request: its client, then its grant.
    pub(super) async fn token(
        &self,
        headers: &HeaderMap,
        client: &Client,
        f: TokenForm,
    ) -> TokenAnswer {
        let credentials =
            client_credentials(headers, f.client_id.as_deref(), f.client_secret.as_deref());
        let app = match self.state.auth.provider().authenticate_client(&credentials) {
            Ok(app) => app,
            Err(e) => return refuse(e.into()),
        };
        let grant = async |events: &mut _, _| self.grant(&app, &f, client, events).await;
        let result = recorded(&self.state, grant).await;
        match result {
            Ok(tokens) => TokenAnswer::Tokens(Json(token_body(tokens))),
            Err(e) => refuse(e),
        }
    }

    /// The grant the form asks for.
    async fn grant(
        &self,
        app: &App,
        f: &TokenForm,
        client: &Client,
        events: &mut Events,
    ) -> Result<TokenSet, OAuthError> {
        let (provider, now) = (self.state.auth.provider(), self.state.now());
        let missing = |what: &str| OAuthError::new("invalid_request", format!("{what} is missing"));
        match f.grant_type.as_deref() {
            Some("authorization_code") => {
                let exchange = CodeExchange {
                    code: f.code.as_deref().ok_or_else(|| missing("code"))?,
                    redirect_uri: f.redirect_uri.as_deref(),
                    code_verifier: f.code_verifier.as_deref(),
                };
                (provider.exchange_code(app, &exchange, now, events, client.ip)).await
            }
            Some("refresh_token") => {
                let token = f.refresh_token.as_deref();
                let token = token.ok_or_else(|| missing("refresh_token"))?;
                provider.refresh(app, token, now, events, client.ip).await
            }
            Some(_) => Err(OAuthError::new(
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token",
            )),
            None => Err(missing("grant_type")),
        }
    }
}
