//! Everything HTTP: the accept loop, routes, handlers, middleware, errors,
//! client addresses, forwarded headers, metrics and the audit recorder.
//!
//! This file builds the application endpoint: routes, embedded static files,
//! and the middleware every response passes through (security headers, the
//! 16 KiB body limit, and JSON errors for everything the framework itself
//! refuses). The domain (`crate::auth`) knows nothing of any of it.

pub mod api;
pub mod audit;
pub mod client_ip;
pub mod connections;
pub mod cors;
pub mod error;
pub mod forward;
pub mod metrics;
pub mod routes;
pub mod state;

use std::sync::Arc;

use poem::error::ResponseError;
use poem::http::{header, HeaderMap, HeaderValue};
use poem::web::Path;
use poem::{get, handler, Endpoint, IntoEndpoint, IntoResponse, Request, Response, Route};

use crate::base::clock::Stopwatch;
use crate::http::error::ApiError;
use crate::http::metrics::RouteLatency;
use crate::http::routes::Routes;
use crate::http::state::AppState;

/// Largest accepted request body, in bytes.
pub const BODY_LIMIT: usize = 16 * 1024;
/// How long a request body may take to arrive (a slow body holds a
/// connection as long as slow headers would).
const BODY_TIMEOUT: std::time::Duration = crate::http::connections::HEADER_TIMEOUT;

/// The login page's Content-Security-Policy: no inline script or style.
/// A page whose form's answer redirects elsewhere (the OIDC consent and
/// logout pages) sends its own, with that target added to `form-action`
/// (browsers hold a form post's redirects to it); the frame keeps it.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";
/// `/docs` (Swagger UI) needs inline script and style; it gets this, alone.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'";

/// Strict-Transport-Security for an `https://` public URL: a year, so a
/// browser never again tries the owner's sign-in over plain HTTP.
const HSTS: &str = "max-age=31536000";

/// The files of `static/`, embedded in the binary.
#[derive(rust_embed::RustEmbed)]
#[folder = "static/"]
pub struct Assets;

/// `GET /static/*`: an embedded file, with a strong ETag and `304` when the
/// browser already has it. (poem's own endpoint writes an unquoted ETag and
/// then answers `400` when the browser sends it back.)
#[handler]
fn static_file(req: &Request, Path(path): Path<String>) -> Response {
    serve_asset(req, &path)
}

/// `GET /favicon.ico`: browsers ask for it on every page, the JSON ones too.
#[handler]
fn favicon(req: &Request) -> Response {
    serve_asset(req, "favicon.svg")
}

fn serve_asset(req: &Request, path: &str) -> Response {
    let Some(file) = Assets::get(path) else {
        return ApiError::NotFound("no such file".into()).as_response();
    };
    let etag = format!(
        "\"{}\"",
        crate::base::secret::to_hex(&file.metadata.sha256_hash()[..16])
    );
    let cached = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let builder = Response::builder()
        .header(header::ETAG, etag)
        .header(header::CACHE_CONTROL, "no-cache");
    if cached {
        return builder
            .status(poem::http::StatusCode::NOT_MODIFIED)
            .finish();
    }
    builder
        .content_type(file.metadata.mimetype())
        .body(file.data.into_owned())
}

/// What every request passes through, in one endpoint: the request's
/// route and method timed into the latency histogram, the 16 KiB body limit,
/// JSON errors for everything the framework itself refuses, `Allow` on a
/// `405`, and the security headers (`no-store` on everything but static
/// assets). One endpoint rather than a stack of poem middleware: each layer
/// of those costs a boxed future and extension-map work on every request.
struct Frame<A, F> {
    /// The API (poem-openapi adds its own cookie jar manager).
    api: A,
    /// Every route, for the paths that are not plainly the API's.
    full: F,
    state: Arc<AppState>,
    routes: Arc<Routes>,
    latency: RouteLatency,
    hsts: bool,
}

/// `GET`/`HEAD /auth/verify`.
fn forward_auth(req: &Request) -> bool {
    req.uri().path() == "/auth/verify"
        && matches!(
            *req.method(),
            poem::http::Method::GET | poem::http::Method::HEAD
        )
}

/// Paths that may be served outside the API: anything under these prefixes,
/// or percent-encoded (poem's router decodes before matching), goes through
/// the full route table.
fn outside_api(path: &str) -> bool {
    ["/static", "/favicon", "/openapi", "/docs"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
        || path.contains('%')
        || path.contains("//")
}

impl<A, F> Frame<A, F>
where
    A: Endpoint<Output = Response>,
    F: Endpoint<Output = Response>,
{
    /// The request to its endpoint: forward auth straight to its answer,
    /// the API, or the full route table.
    async fn dispatch(&self, req: Request) -> poem::Result<Response> {
        let outside = outside_api(req.uri().path());
        // The rare paths are boxed: the common one's future stays small
        // (it is moved whole, every request).
        match limit_body(req) {
            // Forward auth, the hot path: straight to its answer.
            Ok(Body::None(req)) if forward_auth(&req) => {
                Ok(api::verify::answer(&self.state, &req).into_response())
            }
            Ok(Body::None(req)) if !outside => self.api.call(req).await,
            Ok(Body::None(req)) => Box::pin(self.full.call(req)).await,
            Ok(Body::Read(req)) => match Box::pin(read_body(req)).await {
                Ok(req) if outside => Box::pin(self.full.call(req)).await,
                Ok(req) => self.api.call(req).await,
                Err(err) => Err(err),
            },
            Err(err) => Err(err),
        }
    }
}

impl<A, F> Endpoint for Frame<A, F>
where
    A: Endpoint<Output = Response>,
    F: Endpoint<Output = Response>,
{
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let path = req.uri().path();
        let route = self.routes.index(path);
        let docs = path.starts_with("/docs");
        let asset = path.starts_with("/static/");
        let method = req.method().clone();
        let may_hold_old_cookies = !forward_auth(&req) && api::cookies::holds_own(req.headers());
        req.set_data(self.state.clone());
        let started = Stopwatch::start();
        // A browser app's origin the provider allows (OIDC endpoints only).
        let cors = cors::allowed(&self.state, &req);
        let preflight = cors.as_ref().and_then(|(o, m)| cors::preflight(&req, o, m));
        let readable_by = match (&preflight, cors) {
            (None, Some((origin, _))) if method != poem::http::Method::OPTIONS => Some(origin),
            _ => None,
        };
        let result = match preflight {
            Some(answer) => Ok(answer),
            None => self.dispatch(req).await,
        };
        let mut resp = result.unwrap_or_else(error_response);
        self.latency.observe(route, &method, started.elapsed());
        if resp.status().is_client_error() || resp.status().is_server_error() {
            resp = Box::pin(ensure_json_error(resp)).await;
        }
        // After the error body is settled, so an error is readable too.
        if let Some(origin) = readable_by {
            cors::allow(&mut resp, origin);
        }
        if resp.status() == poem::http::StatusCode::METHOD_NOT_ALLOWED {
            let allow = route.and_then(|r| self.routes.allow_at(r));
            if let Some(value) = allow.and_then(|a| HeaderValue::from_str(a).ok()) {
                resp.headers_mut().insert(header::ALLOW, value);
            }
        }
        if may_hold_old_cookies && resp.headers().contains_key(header::SET_COOKIE) {
            api::cookies::retire_domain_copies(resp.headers_mut(), &self.state.config);
        }
        security_headers(resp.headers_mut(), docs, asset, self.hsts);
        Ok(resp)
    }
}

/// Adds the security headers; `no-store` on everything but static assets.
fn security_headers(headers: &mut HeaderMap, docs: bool, asset: bool, hsts: bool) {
    headers.reserve(6);
    let csp = if docs { DOCS_CSP } else { PAGE_CSP };
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
    }
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    if !asset && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Any error as the contract's JSON body.
fn error_response(err: poem::Error) -> Response {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return api.as_response();
    }
    let message = err.to_string();
    ApiError::from_status(err.status(), message).as_response()
}

/// Turns a non-JSON error response (from the framework) into a JSON one.
async fn ensure_json_error(resp: Response) -> Response {
    // JSON already, or a page meant for a person (the OIDC error page).
    let as_is = resp
        .content_type()
        .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with("text/html"));
    if as_is {
        return resp;
    }
    let status = resp.status();
    let message = resp.into_body().into_string().await.unwrap_or_default();
    let message = if message.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        message
    };
    ApiError::from_status(status, message).as_response()
}

/// A request with its body still to read, or with nothing to read.
enum Body {
    Read(Request),
    None(Request),
}

/// Refuses a body declared over [`BODY_LIMIT`] with `413`. A request with
/// neither `Content-Length` nor `Transfer-Encoding` has no body (HTTP/1.1):
/// nothing to read or wait for.
fn limit_body(req: Request) -> poem::Result<Body> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .map(|v| v.to_str().ok().and_then(|v| v.parse::<u64>().ok()));
    if declared
        .flatten()
        .is_some_and(|len| len > BODY_LIMIT as u64)
    {
        return Err(ApiError::PayloadTooLarge(BODY_LIMIT).into());
    }
    let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
    Ok(if !chunked && matches!(declared, None | Some(Some(0))) {
        Body::None(req)
    } else {
        Body::Read(req)
    })
}

/// Reads the body: over [`BODY_LIMIT`] as it streams is `413`, slower than
/// [`BODY_TIMEOUT`] is `408`.
async fn read_body(mut req: Request) -> poem::Result<Request> {
    let body = req.take_body();
    let bytes = tokio::time::timeout(BODY_TIMEOUT, body.into_bytes_limit(BODY_LIMIT))
        .await
        .map_err(|_| ApiError::RequestTimeout)?
        .map_err(|e| match e {
            poem::error::ReadBodyError::PayloadTooLarge => ApiError::PayloadTooLarge(BODY_LIMIT),
            other => ApiError::BadRequest(format!("cannot read the request body: {other}")),
        })?;
    req.set_body(bytes);
    Ok(req)
}

/// The whole application as one endpoint.
pub fn app(state: Arc<AppState>) -> impl Endpoint {
    let api = crate::http::api::service(state.clone());
    let routes = Arc::new(Routes::from_spec(&api.spec()));
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let api = Arc::new(api.into_endpoint());
    let full = Route::new()
        .at("/static/*path", get(static_file))
        .at("/favicon.ico", get(favicon))
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .nest("/", api.clone());
    let latency = state
        .metrics
        .route_latency((0..routes.len()).map(|i| routes.template(i)));
    Frame {
        api,
        full,
        hsts: state.config.public_url_is_https(),
        state,
        routes,
        latency,
    }
}
