//! The OpenID Connect endpoints: discovery, JWKS, authorize, token,
//! userinfo, RP-initiated logout and revocation. Their answers follow OAuth
//! (RFC 6749 errors `{"error","error_description"}`), not soloauth's own API;
//! the decisions are `auth::oidc`'s (`authorize`, `client_auth`,
//! `provider`).
//!
//! This file is the routing table: each endpoint reads its parameters and
//! hands them to its module, which calls auth and maps the answer:
//! [`discovery`] (discovery, JWKS), [`authorize`], [`token`], [`userinfo`],
//! [`logout`], [`revoke`].

mod authorize;
mod discovery;
mod logout;
mod revoke;
mod token;
mod userinfo;

use std::sync::Arc;

use poem::http::HeaderMap;
use poem::web::cookie::CookieJar;
use poem::Request;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

use self::authorize::{AuthorizeParams, RedirectAnswer};

/// The authorization request's parameters from the query's, by name (the
/// owner's consent only ever comes from the consent page's form post).
macro_rules! from_query {
    ($($name:ident),* $(,)?) => {
        AuthorizeParams { $($name: $name.0,)* consent: None }
    };
}
use self::logout::{LogoutAnswer, LogoutParams};
use self::revoke::{RevokeAnswer, RevokeForm};
use self::token::{TokenAnswer, TokenForm};
use self::userinfo::{UserinfoAnswer, UserinfoForm};
use super::browser_session;
use super::oauth_form::OAuthForm;
use super::verify::{basic, bearer};
use crate::auth::oidc::client_auth::ClientCredentials;
use crate::auth::oidc::provider::OAuthError;
use crate::auth::Client;
use crate::http::error::ApiResult;
use crate::http::state::AppState;
use crate::storage::sessions::Session;

#[derive(Tags)]
enum ApiTags {
    /// OpenID Connect provider: "Sign in with soloauth" for apps.
    Oidc,
}

/// An OAuth error body.
#[derive(Object)]
pub struct OAuthErrorBody {
    error: String,
    error_description: String,
}

fn oauth_json(e: &OAuthError) -> Json<OAuthErrorBody> {
    Json(OAuthErrorBody {
        error: e.error.to_string(),
        error_description: e.description.clone(),
    })
}

/// The answer when storage fails inside a flow (logged where it happened).
fn unavailable_json() -> Json<OAuthErrorBody> {
    oauth_json(&OAuthError::new(
        "temporarily_unavailable",
        "the server cannot complete the request right now",
    ))
}

/// The challenge of a `401 invalid_client`.
const BASIC_CHALLENGE: &str = r#"Basic realm="soloauth""#;

/// A client's credentials: its `Authorization: Basic` header, or the form's
/// `client_id` and `client_secret`.
fn client_credentials<'a>(
    headers: &HeaderMap,
    form_id: Option<&'a str>,
    form_secret: Option<&'a str>,
) -> ClientCredentials<'a> {
    ClientCredentials {
        basic: basic(headers),
        form_id,
        form_secret,
    }
}

pub struct OidcApi {
    pub state: Arc<AppState>,
}

impl OidcApi {
    /// The session this browser is signed in to, as its host-only access
    /// cookie proves it (never the session cookie: see `browser_session`).
    fn signed_in(&self, headers: &HeaderMap) -> ApiResult<Option<Session>> {
        Ok(browser_session(&self.state, headers)?.map(|p| p.session))
    }
}

#[OpenApi(tag = "ApiTags::Oidc")]
impl OidcApi {
    /// OpenID Connect discovery.
    #[oai(path = "/.well-known/openid-configuration", method = "get")]
    async fn discovery(&self) -> Json<serde_json::Value> {
        Json(discovery::document(&self.state.auth.oidc_issuer))
    }

    /// The public signing keys.
    #[oai(path = "/oidc/jwks.json", method = "get")]
    async fn jwks(&self) -> ApiResult<Json<serde_json::Value>> {
        discovery::jwks(&self.state).await.map(Json)
    }

    /// Authorization (code flow, PKCE S256). Signed in: straight back to the
    /// app with a code. Not signed in: the login page, then back here.
    #[oai(path = "/oidc/authorize", method = "get")]
    #[allow(clippy::too_many_arguments)] // one per OAuth parameter, for the OpenAPI document
    async fn authorize_get(
        &self,
        req: &Request,
        client: Client,
        client_id: Query<Option<String>>,
        redirect_uri: Query<Option<String>>,
        response_type: Query<Option<String>>,
        scope: Query<Option<String>>,
        state: Query<Option<String>>,
        nonce: Query<Option<String>>,
        code_challenge: Query<Option<String>>,
        code_challenge_method: Query<Option<String>>,
        prompt: Query<Option<String>>,
        max_age: Query<Option<String>>,
        acr_values: Query<Option<String>>,
        login_after: Query<Option<String>>,
    ) -> RedirectAnswer {
        let params = from_query! { client_id, redirect_uri, response_type, scope, state, nonce,
        code_challenge, code_challenge_method, prompt, max_age, acr_values, login_after };
        self.authorize(req.headers(), &client, params.into_request(false))
            .await
    }

    /// Authorization by form post.
    #[oai(path = "/oidc/authorize", method = "post")]
    async fn authorize_post(
        &self,
        req: &Request,
        client: Client,
        form: OAuthForm<AuthorizeParams>,
    ) -> RedirectAnswer {
        // The consent page's own form post (same origin): its `consent` is
        // the owner's answer.
        let from_consent_page = super::check_csrf(req, &self.state).is_ok();
        let request = form.0.into_request(from_consent_page);
        self.authorize(req.headers(), &client, request).await
    }

    /// The token endpoint: `authorization_code` and `refresh_token`.
    #[oai(path = "/oidc/token", method = "post")]
    async fn token_post(
        &self,
        req: &Request,
        client: Client,
        form: OAuthForm<TokenForm>,
    ) -> TokenAnswer {
        self.token(req.headers(), &client, form.0).await
    }

    /// The claims of an access token (`Authorization: Bearer`).
    #[oai(path = "/oidc/userinfo", method = "get")]
    async fn userinfo_get(&self, req: &Request) -> UserinfoAnswer {
        self.userinfo(bearer(req.headers()))
    }

    /// The claims of an access token (Bearer, or `access_token` in the form).
    #[oai(path = "/oidc/userinfo", method = "post")]
    async fn userinfo_post(&self, req: &Request, form: OAuthForm<UserinfoForm>) -> UserinfoAnswer {
        let token = bearer(req.headers()).or(form.0.access_token.as_deref());
        self.userinfo(token)
    }

    /// RP-initiated logout: ends the soloauth session, then back to a
    /// registered `post_logout_redirect_uri`.
    #[oai(path = "/oidc/logout", method = "get")]
    #[allow(clippy::too_many_arguments)] // one per logout parameter, for the OpenAPI document
    async fn logout_get(
        &self,
        req: &Request,
        jar: &CookieJar,
        client: Client,
        id_token_hint: Query<Option<String>>,
        post_logout_redirect_uri: Query<Option<String>>,
        state: Query<Option<String>>,
        client_id: Query<Option<String>>,
    ) -> LogoutAnswer {
        let params = LogoutParams {
            id_token_hint: id_token_hint.0,
            post_logout_redirect_uri: post_logout_redirect_uri.0,
            state: state.0,
            client_id: client_id.0,
        };
        self.logout(req.headers(), jar, &client, params, false)
            .await
    }

    /// RP-initiated logout by form post.
    #[oai(path = "/oidc/logout", method = "post")]
    async fn logout_post(
        &self,
        req: &Request,
        jar: &CookieJar,
        client: Client,
        form: OAuthForm<LogoutParams>,
    ) -> LogoutAnswer {
        let from_our_page = super::check_csrf(req, &self.state).is_ok();
        self.logout(req.headers(), jar, &client, form.0, from_our_page)
            .await
    }

    /// Token revocation (RFC 7009).
    #[oai(path = "/oidc/revoke", method = "post")]
    async fn revoke(&self, req: &Request, form: OAuthForm<RevokeForm>) -> RevokeAnswer {
        self.revoke_token(req.headers(), form.0).await
    }
}
