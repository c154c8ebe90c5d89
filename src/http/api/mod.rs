//! The HTTP API: thin poem-openapi handlers over `auth::*`.
//!
//! This module holds what every handler shares: the security schemes (a
//! Bearer token, documented as an OAuth2 password flow so `/docs` can log in,
//! or the `soloauth_access` cookie), the CSRF rule for cookie-authenticated
//! writes, the request's [`Client`], [`decide`] (the one way a handler runs
//! a domain decision and records what it produced), [`sensitive`] (the same
//! behind the proof of a recent sign-in), and
//! [`SecretInput`], the string type
//! for passwords and codes in request bodies.

pub mod api_tokens;
pub mod cookies;
pub mod events;
pub mod health;
pub mod login;
pub mod oauth_form;
pub mod oidc;
pub mod oidc_clients;
pub mod oidc_pages;
pub mod page;
pub mod passkeys;
pub mod session;
pub mod text;
pub mod totp;
pub mod verify;

use std::borrow::Cow;
use std::sync::Arc;

use poem::http::{HeaderMap, Method};
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::auth::{ApiKey, Bearer};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions, Object, OpenApiService, SecurityScheme,
};

use crate::auth::events::Events;
use crate::auth::recent::RecentSignIn;
use crate::auth::sessions::Principal;
use crate::auth::{AuthResult, Client};
use crate::base::secret::SecretString;
use crate::http::audit;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

pub use cookies::{ACCESS_COOKIE, REFRESH_COOKIE, SESSION_COOKIE};

fn state(req: &Request) -> Result<&Arc<AppState>, ApiError> {
    req.data::<Arc<AppState>>()
        .ok_or_else(|| ApiError::internal("application state missing"))
}

/// What the browser says about where a request came from.
#[derive(Debug, PartialEq)]
enum Provenance {
    /// From the public origin (`Origin` matches, or no `Origin` and
    /// `Sec-Fetch-Site: same-origin`).
    SameOrigin,
    /// From another site (a foreign `Origin`, or `Sec-Fetch-Site` naming another site).
    CrossSite,
    /// Neither header: a script or CLI client, not a browser page.
    Unknown,
}

/// Reads `Origin` and `Sec-Fetch-Site`. Where both are sent, `Origin`
/// decides, except `Origin: null`: browsers send it on a form POST from the
/// page's own origin when the page's referrer policy is `no-referrer` (ours
/// is: Fetch, "append a request `Origin` header"), and from opaque origins
/// (sandboxed frames, `data:` URLs). `Sec-Fetch-Site`, which no page can
/// set, tells the two apart; `null` without it is another site.
fn provenance(req: &Request, state: &AppState) -> Provenance {
    let header = |name: &str| req.headers().get(name).map(|v| v.to_str().unwrap_or(""));
    let fetch_site = header("sec-fetch-site");
    match header("origin") {
        Some("null") => match fetch_site {
            Some("same-origin") => Provenance::SameOrigin,
            _ => Provenance::CrossSite,
        },
        Some(origin) if origin.eq_ignore_ascii_case(&state.config.public_origin) => {
            Provenance::SameOrigin
        }
        Some(_) => Provenance::CrossSite,
        None => match fetch_site {
            Some("same-origin") => Provenance::SameOrigin,
            Some("cross-site" | "same-site") => Provenance::CrossSite,
            _ => Provenance::Unknown,
        },
    }
}

/// Whether a browser says this request comes from another site (a foreign
/// `Origin`, or `Sec-Fetch-Site` naming another site).
pub fn is_cross_site(req: &Request, state: &AppState) -> bool {
    provenance(req, state) == Provenance::CrossSite
}

/// Refuses a state-changing request authenticated by cookie unless it comes
/// from the public origin.
pub fn check_csrf(req: &Request, state: &AppState) -> Result<(), ApiError> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    match provenance(req, state) {
        Provenance::SameOrigin => Ok(()),
        Provenance::CrossSite | Provenance::Unknown => Err(ApiError::Csrf),
    }
}

/// The client of a sign-in step: a route declares the login CSRF rule once
/// by taking this instead of [`Client`]. A request a browser says comes
/// from another site is refused (`403 csrf`) before any check: a hostile
/// page must not spend its visitor's failed attempts (and so lock the
/// owner out). Clients that send neither header pass.
pub struct LoginClient(pub Client);

impl<'a> FromRequest<'a> for LoginClient {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let client = <Client as FromRequest>::from_request(req, body).await?;
        match provenance(req, state(req)?) {
            Provenance::CrossSite => Err(ApiError::Csrf.into()),
            Provenance::SameOrigin | Provenance::Unknown => Ok(LoginClient(client)),
        }
    }
}

/// Authenticates an access token and records activity on its session.
fn principal(state: &AppState, token: &str) -> poem::Result<Principal> {
    let now = state.now();
    let sessions = state.auth.sessions();
    let principal = sessions.authenticate(token, now).map_err(ApiError::from)?;
    if let Err(e) = sessions.touch(&principal, now) {
        tracing::warn!(error = %e, "cannot record session activity");
    }
    Ok(principal)
}

/// The session this browser is signed in to, as its host-only access
/// cookie proves it (every `soloauth_access` cookie sent is tried: a sibling
/// subdomain may plant more of that name). For the pages outside the JSON
/// API (`/oidc/authorize`, `/oidc/logout`). The session cookie, which every
/// app under the cookie domain receives, never counts here: a browser with
/// only that cookie is signed in for forward auth alone.
pub fn browser_session(state: &AppState, headers: &HeaderMap) -> ApiResult<Option<Principal>> {
    let (sessions, now) = (state.auth.sessions(), state.now());
    for token in cookies::values(headers, ACCESS_COOKIE) {
        match sessions.authenticate(token, now) {
            Ok(principal) => return Ok(Some(principal)),
            Err(crate::auth::AuthError::InvalidToken) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    principal(state(req)?, &bearer.token)
}

async fn check_cookie(req: &Request, key: ApiKey) -> poem::Result<Principal> {
    let state = state(req)?;
    check_csrf(req, state)?;
    principal(state, &key.key)
}

/// `Authorization: Bearer <access token>`; `/docs` gets one through the password flow.
#[derive(SecurityScheme)]
#[oai(
    rename = "bearer",
    ty = "oauth2",
    flows(password(token_url = "/auth/login")),
    checker = "check_bearer"
)]
pub struct BearerAuth(pub Principal);

/// The `soloauth_access` cookie set at login (browsers).
#[derive(SecurityScheme)]
#[oai(
    rename = "cookie",
    ty = "api_key",
    key_name = "soloauth_access",
    key_in = "cookie",
    checker = "check_cookie"
)]
pub struct CookieAuth(pub Principal);

/// Who `GET /auth/me` answers: a session, or an API token.
pub enum Caller {
    Session(Principal),
    Token(crate::auth::api_tokens::TokenView),
}

/// The Bearer check of `GET /auth/me`: an access token, or an API token.
async fn check_me_bearer(req: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let state = state(req)?;
    if !crate::auth::api_tokens::looks_like_token(&bearer.token) {
        return principal(state, &bearer.token).map(Caller::Session);
    }
    let token = state
        .auth
        .api_tokens()
        .check(&bearer.token, state.now())
        .map_err(ApiError::from)?;
    token
        .map(|t| Caller::Token(t.into()))
        .ok_or_else(|| ApiError::INVALID_TOKEN.into())
}

/// `Authorization: Bearer` for `GET /auth/me`: the same scheme as
/// [`BearerAuth`], which also takes an API token there (and nowhere else).
#[derive(SecurityScheme)]
#[oai(
    rename = "bearer",
    ty = "oauth2",
    flows(password(token_url = "/auth/login")),
    checker = "check_me_bearer"
)]
pub struct MeBearer(pub Caller);

/// `GET /auth/me`'s caller: Bearer (access or API token) or the cookie.
#[derive(SecurityScheme)]
pub enum MeAuth {
    Bearer(MeBearer),
    Cookie(CookieAuth),
}

/// An authenticated request, by Bearer token or cookie.
#[derive(SecurityScheme)]
pub enum Auth {
    Bearer(BearerAuth),
    Cookie(CookieAuth),
}

impl Auth {
    /// The authenticated session and token claims.
    pub fn principal(&self) -> &Principal {
        match self {
            Auth::Bearer(b) => &b.0,
            Auth::Cookie(c) => &c.0,
        }
    }
}

/// The client of a request. One whose address is unknown is refused: it
/// must not share a rate-limit and lockout key with every other such client.
impl<'a> FromRequest<'a> for Client {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let state = state(req)?;
        let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
        let trusted = &state.config.trusted_proxies;
        let ip =
            crate::http::client_ip::client_ip(peer, req.headers(), trusted).ok_or_else(|| {
                ApiError::BadRequest("the client's network address is unknown".into())
            })?;
        let user_agent = req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .chars()
            .take(256)
            .collect();
        Ok(Client { ip, user_agent })
    }
}

/// Runs a domain step at the request's time and records the events it
/// produced (refused or not: `http::audit`, the one place); hands back its
/// result as it is (an OAuth endpoint answers its own errors).
pub async fn recorded<T>(state: &AppState, step: impl AsyncFnOnce(&mut Events, i64) -> T) -> T {
    let mut events = Events::new();
    let result = step(&mut events, state.now()).await;
    audit::record(state, &events).await;
    result
}

/// [`recorded`] for a domain decision: its refusal is the API's.
pub async fn decide<T>(
    state: &AppState,
    decision: impl AsyncFnOnce(&mut Events, i64) -> AuthResult<T>,
) -> ApiResult<T> {
    recorded(state, decision).await.map_err(ApiError::from)
}

/// The current password, for an action that needs a recent sign-in (adding
/// or removing a factor or a credential) when the session signed in longer
/// ago than `AUTH_REAUTH_SECONDS`. An absent body, `{}` and `null` all mean
/// "no password".
#[derive(Object, Default)]
pub struct ReauthBody {
    /// The current password; leave it out within `AUTH_REAUTH_SECONDS` of
    /// signing in.
    #[oai(nullable)]
    password: Option<SecretInput>,
}

impl ReauthBody {
    /// The password of an optional body, if one was sent.
    pub fn password(body: OptionalJson<ReauthBody>) -> Option<SecretString> {
        body.0.and_then(|b| b.password).map(|p| p.0)
    }
}

/// Runs a sensitive action (adding or removing a factor or a credential):
/// first its proof of a recent sign-in, once (the session signed in within
/// `AUTH_REAUTH_SECONDS`, or `password` is right, checked like a login:
/// rate limit, lockout, events; else `403 reauth_required`), then `action`
/// with it, at the proof's time; every event of both is recorded as
/// [`decide`] records them. Only a host-only credential makes an [`Auth`]
/// (the access cookie or a Bearer token), so nothing an app under the
/// cookie domain holds proves a recent sign-in.
pub async fn sensitive<T>(
    state: &AppState,
    auth: &Auth,
    client: &Client,
    password: Option<SecretString>,
    action: impl AsyncFnOnce(&RecentSignIn, &mut Events) -> AuthResult<T>,
) -> ApiResult<T> {
    let login = state.auth.login();
    decide(state, async |events, now| {
        let principal = auth.principal();
        let proof = login.recent_sign_in(principal, client, password, now, events);
        action(&proof.await?, events).await
    })
    .await
}

/// A password or code in a request body: a JSON string that goes straight into
/// a [`SecretString`] (redacted `Debug`, zeroized on drop).
pub struct SecretInput(pub SecretString);

impl Type for SecretInput {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_password".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "password")))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for SecretInput {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        match value {
            Some(serde_json::Value::String(s)) if s.len() <= 1024 => {
                Ok(SecretInput(SecretString::from(s)))
            }
            Some(serde_json::Value::String(_)) => Err(ParseError::custom("too long")),
            // Not `expected_type`: it would echo the submitted value back.
            _ => Err(ParseError::custom("expected a string")),
        }
    }
}

impl<'de> serde::Deserialize<'de> for SecretInput {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| SecretInput(SecretString::from(s)))
    }
}

impl ToJSON for SecretInput {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String("[REDACTED]".into()))
    }
}

/// An optional JSON body: an empty body (with or without a Content-Type) is
/// `None`, so a browser can call `POST /auth/refresh` with only its cookie.
/// Anything else must be JSON: whitespace alone is malformed, not empty.
pub struct OptionalJson<T>(pub Option<T>);

impl<'a, T: ParseFromJSON> ApiExtractor<'a> for OptionalJson<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: "application/json; charset=utf-8",
                schema: T::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        req: &'a Request,
        body: &mut RequestBody,
        _opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let bytes = body.take()?.into_vec().await?;
        if bytes.is_empty() {
            return Ok(OptionalJson(None));
        }
        if !req
            .content_type()
            .is_some_and(|ct| ct.starts_with("application/json"))
        {
            return Err(
                ApiError::BadRequest("expected Content-Type: application/json".into()).into(),
            );
        }
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
        T::parse_from_json(Some(value))
            .map(|v| OptionalJson(Some(v)))
            .map_err(|e| ApiError::bad_request(&e.into_message()).into())
    }
}

/// Every API group served.
pub type Apis = (
    login::LoginApi,
    session::SessionApi,
    totp::TotpApi,
    passkeys::PasskeysApi,
    oidc::OidcApi,
    oidc_clients::OidcClientsApi,
    api_tokens::TokensApi,
    events::EventsApi,
    verify::VerifyApi,
    health::HealthApi,
    page::PageApi,
);

/// The OpenAPI service with every endpoint.
pub fn service(state: Arc<AppState>) -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            login::LoginApi {
                state: state.clone(),
            },
            session::SessionApi {
                state: state.clone(),
            },
            totp::TotpApi {
                state: state.clone(),
            },
            passkeys::PasskeysApi {
                state: state.clone(),
            },
            oidc::OidcApi {
                state: state.clone(),
            },
            oidc_clients::OidcClientsApi {
                state: state.clone(),
            },
            api_tokens::TokensApi {
                state: state.clone(),
            },
            events::EventsApi {
                state: state.clone(),
            },
            verify::VerifyApi {
                state: state.clone(),
            },
            health::HealthApi {
                state: state.clone(),
            },
            page::PageApi {
                state: state.clone(),
            },
        ),
        "soloauth",
        env!("CARGO_PKG_VERSION"),
    )
    .description("A small authentication server for one person: password + TOTP or passkeys, JWT sessions, forward auth.")
}
