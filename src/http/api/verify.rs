//! `GET`/`HEAD /auth/verify`: forward auth for Traefik (`forwardAuth`), nginx
//! (`auth_request`) and Caddy (`forward_auth`).
//!
//! The hot path of the server: no argon2, no body, one sled read. The
//! access rules pick the policy for the original URL (believed only from a
//! trusted proxy); the domain (`auth::forward`) admits the request or says
//! why not. Allowed: `200` with `Remote-User` and `Remote-Session` (none for
//! `bypass`), or `Remote-User` and `Remote-Token` for an API token (one
//! SHA-256 and one sled read; see `token_answer`). No live session: `401`, or `302` to the login page for a
//! browser navigation. A password-only session under `two_factor`: `403
//! second_factor_required`; a session without a passkey under `passkey`:
//! `403 passkey_required`; or, for either, `302` to the login page (with
//! `need=`), which explains. An API token never passes `passkey`.
//! `deny`: `403 forbidden`. nginx turns a `302` from `auth_request` into a
//! `500`, so a request carrying `X-Original-URL` gets `401`/`403` with the
//! login URL in `Location` instead.

use std::borrow::Cow;
use std::sync::Arc;

use poem::http::HeaderMap;
use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi, Tags};

use super::cookies::values as cookies;
use super::{ACCESS_COOKIE, SESSION_COOKIE};
use crate::auth::api_tokens::{allows_host, looks_like_token};
use crate::auth::events::Kind;
use crate::auth::forward::{admit, Credentials};
use crate::auth::AuthError;
use crate::base::rules::{Policy, Target};
use crate::http::client_ip::{client_ip, is_trusted};
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
    /// Let the request through: a live session (`Remote-User`,
    /// `Remote-Session`), or a `bypass` rule (neither header).
    #[oai(status = 200)]
    Allowed(
        #[oai(header = "Remote-User")] Option<String>,
        #[oai(header = "Remote-Session")] Option<String>,
        /// The API token's id, when one was used.
        #[oai(header = "Remote-Token")]
        Option<String>,
        #[oai(header = "Cache-Control")] String,
    ),
    /// A browser navigation without a (strong enough) session: go to the
    /// login page.
    #[oai(status = 302)]
    Redirect(
        #[oai(header = "Location")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// No live session. For nginx (`X-Original-URL`), `Location` carries the
    /// login URL for `error_page 401 =302 $login`.
    #[oai(status = 401)]
    Denied(
        Json<ErrorBody>,
        #[oai(header = "Location")] Option<String>,
        #[oai(header = "Cache-Control")] String,
    ),
    /// `second_factor_required` (a password-only session on a `two_factor`
    /// app), `passkey_required` (a session without a passkey on a `passkey`
    /// app; `Location` as for `401`) or `forbidden` (a `deny` rule).
    #[oai(status = 403)]
    Forbidden(
        Json<ErrorBody>,
        #[oai(header = "Location")] Option<String>,
        #[oai(header = "Cache-Control")] String,
    ),
}

const NO_STORE: &str = "no-store";

/// The client's address when no rule needs it, or none is known (a peer
/// that is no socket): in no network, so only `from !…` rules match it.
const NO_ADDRESS: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    Some(token.trim())
}

pub struct VerifyApi {
    pub state: Arc<AppState>,
}

#[OpenApi(tag = "ApiTags::ForwardAuth")]
impl VerifyApi {
    /// Forward-auth check: `200` with `Remote-User` and `Remote-Session` for a
    /// live session (session cookie, access cookie or Bearer access token),
    /// `200` without them on a `bypass` rule; otherwise `401`, `403`, or
    /// `302` to the login page with `rd=<original URL>` for a browser
    /// navigation (`Accept: text/html`). Forwarded headers, and so the
    /// access rules, are believed only from `AUTH_TRUSTED_PROXIES`.
    #[oai(path = "/auth/verify", method = "get", method = "head")]
    async fn verify(&self, req: &Request) -> VerifyResponse {
        answer(&self.state, req)
    }
}

/// The forward-auth answer for `req`. The server's frame calls this
/// directly for `GET`/`HEAD /auth/verify`, past the API's router and cookie
/// jar (the cookies are read straight from the headers here); the OpenAPI
/// method above documents it and answers the same.
pub fn answer(state: &AppState, req: &Request) -> VerifyResponse {
    let headers = req.headers();
    let proxies = &state.config.trusted_proxies;
    let trusted = req
        .remote_addr()
        .as_socket_addr()
        .is_some_and(|a| is_trusted(a.ip(), proxies));
    let rules = &state.config.rules;
    // Without rules, only a forwarded URI too long to read decides.
    let target = if trusted && (!rules.is_empty() || forward::oversized(headers)) {
        forward::original_target(headers)
    } else {
        Target::Unknown
    };
    let client = match rules.reads_client() {
        true => client_ip(
            req.remote_addr().as_socket_addr().map(|a| a.ip()),
            headers,
            proxies,
        ),
        false => None,
    };
    let policy = rules.policy_for(target, client.unwrap_or(NO_ADDRESS));
    if let Some(answer) = token_answer(state, headers, trusted, policy, target) {
        return answer;
    }
    let credentials = Credentials {
        session_cookies: cookies(headers, SESSION_COOKIE).collect(),
        access_tokens: cookies(headers, ACCESS_COOKIE)
            .chain(bearer(headers))
            .collect(),
    };
    match admit(&state.auth.sessions(), policy, &credentials, state.now()) {
        Ok(Some(passport)) => {
            state.metrics.count(Kind::VerifyAllowed);
            let user = state.auth.credentials.username().to_string();
            VerifyResponse::Allowed(Some(user), Some(passport.session_id), None, NO_STORE.into())
        }
        Ok(None) => {
            state.metrics.count(Kind::VerifyBypassed);
            VerifyResponse::Allowed(None, None, None, NO_STORE.into())
        }
        Err(refusal) => refuse(state, headers, trusted, refusal),
    }
}

/// An API token's answer, when the request carries one (Bearer, or the
/// password of Basic) under a `one_factor` or `two_factor` policy; `None`
/// otherwise, for the session path: `bypass` and `deny` answer everyone
/// alike, and a token that does not pass never hides the browser's own live
/// session (an app's `Authorization` header is not soloauth's to judge).
/// `target` is what the rules read (`Unknown` when they read nothing).
fn token_answer(
    state: &AppState,
    headers: &HeaderMap,
    trusted: bool,
    policy: Policy,
    target: Target<'_>,
) -> Option<VerifyResponse> {
    if matches!(policy, Policy::Bypass | Policy::Deny) {
        return None;
    }
    let presented = match bearer(headers).filter(|t| looks_like_token(t)) {
        Some(token) => Cow::Borrowed(token),
        None => Cow::Owned(basic_password(headers).filter(|t| looks_like_token(t))?),
    };
    let refusal = match state.auth.api_tokens().check(&presented, state.now()) {
        Err(e) => return Some(refuse(state, headers, trusted, e)),
        Ok(None) => AuthError::InvalidToken,
        Ok(Some(token)) => {
            let target = match target {
                // With no rules the target was not read; a token's hosts need it.
                Target::Unknown if trusted => forward::original_target(headers),
                _ => target,
            };
            let host = match target {
                Target::Url { host, .. } if trusted => Some(host),
                _ => None,
            };
            if !allows_host(&token, host) {
                AuthError::InvalidToken
            } else if policy == Policy::TwoFactor && !token.two_factor {
                AuthError::SecondFactorRequired
            } else if policy == Policy::Passkey {
                // A token is a bearer secret, which a passkey app refuses.
                AuthError::PasskeyRequired
            } else {
                state.metrics.count(Kind::VerifyAllowed);
                let user = state.auth.credentials.username().to_string();
                let id = Some(token.id);
                return Some(VerifyResponse::Allowed(
                    Some(user),
                    None,
                    id,
                    NO_STORE.into(),
                ));
            }
        }
    };
    let session_cookie = [SESSION_COOKIE, ACCESS_COOKIE]
        .iter()
        .any(|name| cookies(headers, name).next().is_some());
    if session_cookie {
        return None;
    }
    Some(refuse(state, headers, trusted, refusal))
}

/// The password of `Authorization: Basic` (DAV and mobile clients put an
/// API token there).
fn basic_password(headers: &HeaderMap) -> Option<String> {
    basic(headers)?.ok().map(|(_, password)| password)
}

/// `Authorization: Basic`, decoded into user and password: `None` without
/// one, `Err` for one that is not base64 of UTF-8 `user:password`.
pub(super) fn basic(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    use base64::Engine;
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|text| {
            let (user, password) = text.split_once(':')?;
            Some((user.to_string(), password.to_string()))
        });
    Some(decoded.ok_or(()))
}

/// The answer to a refused request (see the module notes).
fn refuse(
    state: &AppState,
    headers: &HeaderMap,
    trusted: bool,
    refusal: AuthError,
) -> VerifyResponse {
    let refusal = match refusal {
        AuthError::Forbidden
        | AuthError::SecondFactorRequired
        | AuthError::PasskeyRequired
        | AuthError::InvalidToken => refusal,
        other => {
            tracing::error!(error = %other, "forward auth could not check a session");
            AuthError::InvalidToken
        }
    };
    if matches!(refusal, AuthError::Forbidden) {
        state.metrics.count(Kind::VerifyForbidden);
        let body = Json(ApiError::Refused(refusal).body());
        return VerifyResponse::Forbidden(body, None, NO_STORE.into());
    }
    let need = match refusal {
        AuthError::SecondFactorRequired => Some(forward::NEED_TWO_FACTOR),
        AuthError::PasskeyRequired => Some(forward::NEED_PASSKEY),
        _ => None,
    };
    let original = trusted.then(|| forward::original_url(headers)).flatten();
    let login = forward::login_url(&state.config.public_url, original.as_deref(), need);
    let nginx = headers.contains_key("x-original-url");
    let browser = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if browser && !nginx {
        state.metrics.count(Kind::VerifyRedirected);
        return VerifyResponse::Redirect(login, NO_STORE.into());
    }
    let location = (nginx || browser).then_some(login);
    let body = Json(ApiError::Refused(refusal).body());
    if need.is_some() {
        state.metrics.count(Kind::VerifyForbidden);
        VerifyResponse::Forbidden(body, location, NO_STORE.into())
    } else {
        state.metrics.count(Kind::VerifyDenied);
        VerifyResponse::Denied(body, location, NO_STORE.into())
    }
}
