//! `/oidc/authorize`: the request is read, `auth::oidc::authorize` decides,
//! and its [`Decision`] becomes a redirect (to the app, or to the login
//! page) or a page (consent, error).

use poem::http::HeaderMap;
use poem_openapi::payload::Html;
use poem_openapi::{ApiResponse, Object};

use super::OidcApi;
use crate::auth::oidc::authorize::{
    AuthorizationRequest, Authorizer, CodeIssue, ConsentAnswer, ConsentAsk, Decision, ErrorPage,
};
use crate::auth::oidc::clients::App;
use crate::auth::oidc::login_after::LoginAfterKey;
use crate::auth::Client;
use crate::base::secret::ExposeSecret;
use crate::http::api::oidc_pages::{self as pages, app_error_page};
use crate::http::api::recorded;
use crate::http::error::ApiResult;
use crate::http::forward::{login_url, MAX_RD};

#[derive(ApiResponse)]
pub enum RedirectAnswer {
    /// On to the app, or to the login page.
    #[oai(status = 302)]
    Redirect(#[oai(header = "Location")] String),
    /// "Allow APP on this device to sign in as you?" (a public app at a
    /// loopback or custom-scheme redirect, once per sign-in and app).
    #[oai(status = 200)]
    Consent(
        Html<String>,
        #[oai(header = "Content-Security-Policy")] String,
    ),
    /// An unknown app or redirect URI: never redirected.
    #[oai(status = 400)]
    ErrorPage(Html<String>),
    /// Storage is failing.
    #[oai(status = 503)]
    Unavailable(Html<String>),
}

/// An authorization request's parameters (query or form).
#[derive(Object, Default, serde::Deserialize)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    /// The sign-in levels the app would like, in order of preference:
    /// `one_factor`, `two_factor`, `passkey` (others are ignored).
    pub acr_values: Option<String>,
    /// Set by soloauth when it sent the browser to sign in again: a session
    /// made at or after this time is fresh enough.
    pub login_after: Option<String>,
    /// The owner's answer on the consent page: `allow` or `deny` (taken
    /// only from that page's own form post).
    pub consent: Option<String>,
}

impl AuthorizeParams {
    /// The request for auth; `from_consent_page`: it is the consent page's
    /// own form post (same origin), so its `consent` is the owner's.
    pub fn into_request(self, from_consent_page: bool) -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: self.client_id,
            redirect_uri: self.redirect_uri,
            response_type: self.response_type,
            scope: self.scope,
            state: self.state,
            nonce: self.nonce,
            code_challenge: self.code_challenge,
            code_challenge_method: self.code_challenge_method,
            prompt: self.prompt,
            max_age: self.max_age,
            acr_values: self.acr_values,
            login_after: self.login_after,
            consent: (self.consent.as_deref())
                .filter(|_| from_consent_page)
                .map(ConsentAnswer::parse),
        }
    }
}

/// The error page for a `redirect_uri` (`sent`) that is not registered for
/// `app`, and a warning in the log with what it sent (cut short, quoted:
/// it is the client's) and the registered ones (checked URIs, no spaces).
fn redirect_mismatch(app: &App, sent: Option<&str>) -> Html<String> {
    let sent = sent.filter(|uri| !uri.is_empty());
    let shown = sent.map(|uri| pages::truncated(uri, pages::SHOWN_URI_CHARS));
    tracing::warn!(
        client_id = %app.client_id,
        redirect_uri = ?shown.as_deref().unwrap_or(""),
        registered = %app.redirect_uris.join(" "),
        "oidc authorize refused: the redirect_uri is not registered for the app"
    );
    pages::redirect_mismatch(&app.name, app.from_env, sent, &app.redirect_uris)
}

/// The page for a request that cannot go back to its app (`sent`: the
/// `redirect_uri` it came with, shown, never followed).
fn error_page(why: &ErrorPage, sent: Option<&str>) -> RedirectAnswer {
    let title = "cannot sign in to this app";
    RedirectAnswer::ErrorPage(match why {
        ErrorPage::NoClientId => app_error_page(title, "The app sent no client_id.", sent),
        ErrorPage::UnknownClient => app_error_page(
            title,
            "This app is not registered with soloauth (unknown client_id).",
            sent,
        ),
        ErrorPage::RedirectMismatch { app, sent } => redirect_mismatch(app, sent.as_deref()),
    })
}

/// The consent page, whose answer may redirect to the app.
fn consent_page(ask: &ConsentAsk) -> RedirectAnswer {
    let page = pages::consent(&ask.app_name, &ask.redirect_uri, &ask.fields);
    let csp = pages::csp_redirecting_to(Some(&ask.redirect_uri));
    RedirectAnswer::Consent(page, csp)
}

impl OidcApi {
    /// An authorization request: decided by auth, answered here.
    pub(super) async fn authorize(
        &self,
        headers: &HeaderMap,
        client: &Client,
        request: AuthorizationRequest,
    ) -> RedirectAnswer {
        self.decide(headers, client, &request)
            .await
            .unwrap_or_else(|_| RedirectAnswer::Unavailable(pages::unavailable()))
    }

    async fn decide(
        &self,
        headers: &HeaderMap,
        client: &Client,
        request: &AuthorizationRequest,
    ) -> ApiResult<RedirectAnswer> {
        let (state, now) = (&self.state, self.state.now());
        let issuer = state.auth.oidc_issuer.as_str();
        let authorizer = Authorizer {
            issuer,
            key: LoginAfterKey::new(state.auth.pepper.expose_secret()),
            max_return: MAX_RD,
        };
        let session = self.signed_in(headers)?;
        let provider = state.auth.provider();
        Ok(
            match provider.authorize(&authorizer, request, session.as_ref(), now)? {
                Decision::Issue(issue) => self.issue(&issue, client, now).await?,
                Decision::SignIn(sign_in) => {
                    let fresh = sign_in.fresh.then_some("fresh_sign_in");
                    let need = sign_in.need.map(|level| level.as_str()).or(fresh);
                    RedirectAnswer::Redirect(login_url(issuer, Some(&sign_in.return_to), need))
                }
                Decision::Consent(ask) => consent_page(&ask),
                Decision::ToApp(error) => RedirectAnswer::Redirect(error.location(issuer)),
                Decision::ErrorPage(why) => error_page(&why, request.redirect_uri.as_deref()),
            },
        )
    }

    /// The code, back to the app (the event recorded whatever happens).
    async fn issue(
        &self,
        issue: &CodeIssue,
        client: &Client,
        now: i64,
    ) -> ApiResult<RedirectAnswer> {
        let state = &self.state;
        let provider = state.auth.provider();
        let issued = async |events: &mut _, _| provider.issue(issue, now, events, client.ip).await;
        let code = recorded(state, issued).await?;
        let location = issue
            .back()
            .location(&[("code", code.expose_secret())], &state.auth.oidc_issuer);
        Ok(RedirectAnswer::Redirect(location))
    }
}
