//! `GET`/`HEAD /auth/verify`: forward auth for Traefik (`forwardAuth`), nginx
//! (`auth_request`) and Caddy (`forward_auth`).
//!
//! The hot path of the server: one HS256 check and one sled read, no
//! argon2, no body. A valid session answers `200` with `Remote-User` and
//! `Remote-Session`; anything else `401`, or `302` to the login page for a
//! browser navigation. nginx turns a `302` from `auth_request` into a `500`,
//! so a request carrying `X-Original-URL` gets `401` with the login URL in
//! `Location` instead.

use std::sync::Arc;

use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi, Tags};

use super::ACCESS_COOKIE;
use crate::auth::events::Kind;
use crate::auth::tokens::AccessClaims;
use crate::http::client_ip::is_trusted;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::forward;
use crate::http::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// Forward auth for reverse proxies.
    ForwardAuth,
}

#[derive(ApiResponse)]
pub enum VerifyResponse {
    /// A valid session: let the request through.
    #[oai(status = 200)]
    Allowed(
        #[oai(header = "Remote-User")] String,
        #[oai(header = "Remote-Session")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// A browser navigation without a session: go to the login page.
    #[oai(status = 302)]
    Redirect(
        #[oai(header = "Location")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// No valid session. For nginx (`X-Original-URL`), `Location` carries the
    /// login URL for `error_page 401 =302 $login`.
    #[oai(status = 401)]
    Denied(
        Json<ErrorBody>,
        #[oai(header = "Location")] Option<String>,
        #[oai(header = "Cache-Control")] String,
    ),
}

const NO_STORE: &str = "no-store";

/// The access token of a request: Bearer first, then the cookie.
fn access_token(req: &Request) -> Option<String> {
    if let Some(bearer) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
    {
        return Some(bearer.trim().to_string());
    }
    req.cookie()
        .get(ACCESS_COOKIE)
        .map(|c| c.value_str().to_string())
}

fn authenticate(state: &AppState, req: &Request) -> Option<Arc<AccessClaims>> {
    let token = access_token(req)?;
    state.auth.sessions().check_access(&token, state.now()).ok()
}

pub struct VerifyApi {
    pub state: Arc<AppState>,
}

#[OpenApi(tag = "ApiTags::ForwardAuth")]
impl VerifyApi {
    /// Forward-auth check: `200` with `Remote-User` and `Remote-Session` for a
    /// valid session (cookie or Bearer); otherwise `401`, or `302` to the login
    /// page with `rd=<original URL>` when the original request was a browser
    /// navigation (`Accept: text/html`). Forwarded headers are believed only
    /// from `AUTH_TRUSTED_PROXIES`.
    #[oai(path = "/auth/verify", method = "get", method = "head")]
    async fn verify(&self, req: &Request) -> VerifyResponse {
        let state = &self.state;
        if let Some(claims) = authenticate(state, req) {
            state.metrics.count(Kind::VerifyAllowed);
            return VerifyResponse::Allowed(
                claims.sub.clone(),
                claims.sid.clone(),
                NO_STORE.into(),
            );
        }
        let headers = req.headers();
        let trusted = req
            .remote_addr()
            .as_socket_addr()
            .is_some_and(|a| is_trusted(a.ip(), &state.config.trusted_proxies));
        let original = trusted.then(|| forward::original_url(headers)).flatten();
        let login = forward::login_url(&state.config.public_url, original.as_deref());
        let nginx = headers.contains_key("x-original-url");
        let browser = headers
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
        if browser && !nginx {
            state.metrics.count(Kind::VerifyRedirected);
            return VerifyResponse::Redirect(login, NO_STORE.into());
        }
        state.metrics.count(Kind::VerifyDenied);
        let location = (nginx || browser).then_some(login);
        VerifyResponse::Denied(
            Json(ApiError::INVALID_TOKEN.body()),
            location,
            NO_STORE.into(),
        )
    }
}
