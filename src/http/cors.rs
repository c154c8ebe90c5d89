//! CORS for the OpenID Connect endpoints a browser app calls from its own
//! page: discovery, JWKS, token, userinfo and revocation. The origins are
//! `auth::oidc::cors`'s to decide (public clients' redirect origins and
//! `AUTH_OIDC_CORS_ORIGINS`).
//!
//! An allowed origin gets `Access-Control-Allow-Origin` set to itself
//! (never `*`) and never `Access-Control-Allow-Credentials`: these
//! endpoints take no cookies, only what the app sends. Its preflight
//! (`OPTIONS` with `Access-Control-Request-Method`) is answered here, for
//! the methods the endpoint has. Any other origin's request is answered as
//! if CORS did not exist: a page there cannot read it, and a server-side
//! client that sends `Origin` is served as before.

use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{Request, Response};

use crate::http::state::AppState;

/// The endpoints that answer CORS, with the methods each has.
const ENDPOINTS: [(&str, &str); 5] = [
    ("/.well-known/openid-configuration", "GET"),
    ("/oidc/jwks.json", "GET"),
    ("/oidc/token", "POST"),
    ("/oidc/userinfo", "GET, POST"),
    ("/oidc/revoke", "POST"),
];

/// How long a browser may keep a preflight's answer (seconds).
const MAX_AGE: &str = "600";

/// The `Origin` of a CORS request to one of the endpoints, when the
/// provider allows it, with the endpoint's methods.
pub fn allowed(state: &AppState, req: &Request) -> Option<(HeaderValue, &'static str)> {
    let path = req.uri().path();
    let (_, methods) = ENDPOINTS.iter().find(|(p, _)| *p == path)?;
    let origin = req.headers().get(header::ORIGIN)?;
    let allows = state.auth.provider().cors_allows(origin.to_str().ok()?);
    let allows = allows.unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot read the OIDC apps for CORS");
        false
    });
    allows.then(|| (origin.clone(), *methods))
}

/// The answer to an allowed origin's preflight, when `req` is one for a
/// method the endpoint has (else the request goes on, to its `405`).
pub fn preflight(req: &Request, origin: &HeaderValue, methods: &str) -> Option<Response> {
    let asked = req.headers().get(header::ACCESS_CONTROL_REQUEST_METHOD)?;
    let asked = asked.to_str().ok()?;
    if req.method() != Method::OPTIONS || !methods.split(", ").any(|m| m == asked) {
        return None;
    }
    let answer = Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone())
        .header(header::ACCESS_CONTROL_ALLOW_METHODS, methods)
        .header(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "authorization, content-type",
        )
        .header(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE)
        .header(header::VARY, "Origin")
        .finish();
    Some(answer)
}

/// Lets the allowed origin's page read `resp` (and its `WWW-Authenticate`).
pub fn allow(resp: &mut Response, origin: HeaderValue) {
    let headers = resp.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("www-authenticate"),
    );
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}
