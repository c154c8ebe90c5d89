//! The OpenID Connect endpoints: discovery, JWKS, authorize, token,
//! userinfo, RP-initiated logout and revocation. Their answers follow OAuth
//! (RFC 6749 errors `{"error","error_description"}`), not soloauth's own API;
//! the decisions are `auth::oidc::provider`'s.

use std::sync::Arc;

use poem::web::cookie::CookieJar;
use poem::Request;
use poem_openapi::param::Query;
use poem_openapi::payload::{Html, Json};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::oauth_form::OAuthForm;
use super::oidc_pages::{self as pages, page};
use super::verify::{basic, bearer};
use super::{browser_session, cookies};
use crate::auth::events::{Event, Events, Kind};
use crate::auth::oidc::clients::App;
use crate::auth::oidc::provider::{AuthorizeRequest, CodeExchange, OAuthError, Signer, TokenSet};
use crate::auth::oidc::tokens::has_word;
use crate::auth::Client;
use crate::base::secret::ExposeSecret;
use crate::http::audit;
use crate::http::error::{ApiError, ApiResult};
use crate::http::forward::{login_url, MAX_RD};
use crate::http::state::AppState;
use crate::storage::sessions::Session;
use poem::http::HeaderMap;

#[derive(Tags)]
enum ApiTags {
    /// OpenID Connect provider: "Sign in with soloauth" for apps.
    Oidc,
}

/// The error page for a `redirect_uri` (`sent`) that is not registered for
/// `app`, and a warning in the log with what it sent (cut short, quoted:
/// it is the client's) and the registered ones (checked URIs, no spaces).
fn redirect_mismatch(app: &App, sent: Option<&str>) -> RedirectAnswer {
    let sent = sent.filter(|uri| !uri.is_empty());
    let shown = sent.map(|uri| pages::truncated(uri, pages::SHOWN_URI_CHARS));
    tracing::warn!(
        client_id = %app.client_id,
        redirect_uri = ?shown.as_deref().unwrap_or(""),
        registered = %app.redirect_uris.join(" "),
        "oidc authorize refused: the redirect_uri is not registered for the app"
    );
    RedirectAnswer::ErrorPage(pages::redirect_mismatch(
        &app.name,
        app.from_env,
        sent,
        &app.redirect_uris,
    ))
}

/// An OAuth error body.
#[derive(Object)]
pub struct OAuthErrorBody {
    error: String,
    error_description: String,
}

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

#[derive(ApiResponse)]
pub enum LogoutAnswer {
    /// Back to the app.
    #[oai(status = 302)]
    Redirect(#[oai(header = "Location")] String),
    /// "Sign out of soloauth?": the request again, as a form to confirm.
    #[oai(status = 200)]
    Confirm(
        Html<String>,
        #[oai(header = "Content-Security-Policy")] String,
    ),
    /// Signed out, nowhere registered to go.
    #[oai(status = 200)]
    Done(Html<String>),
    /// Storage is failing.
    #[oai(status = 503)]
    Unavailable(Html<String>),
}

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

/// An authorization request's parameters (query or form).
#[derive(Object, Default, serde::Deserialize)]
pub struct AuthorizeParams {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    prompt: Option<String>,
    max_age: Option<String>,
    /// Set by soloauth when it sent the browser to sign in again: a session
    /// made at or after this time is fresh enough.
    login_after: Option<String>,
    /// The owner's answer on the consent page: `allow` or `deny` (taken
    /// only from that page's own form post).
    consent: Option<String>,
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

/// The revocation endpoint's form.
#[derive(Object, Default, serde::Deserialize)]
pub struct RevokeForm {
    token: Option<String>,
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// Userinfo by form.
#[derive(Object, Default, serde::Deserialize)]
pub struct UserinfoForm {
    access_token: Option<String>,
}

/// RP-initiated logout's parameters.
#[derive(Object, Default, serde::Deserialize)]
pub struct LogoutParams {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
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

/// Longest `prompt` taken (its values are a few short words).
const MAX_PROMPT: usize = 64;

const BASIC_CHALLENGE: &str = r#"Basic realm="soloauth""#;

/// `uri` with `pairs` added to its query.
fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return uri.to_string();
    }
    match url::Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs);
            url.to_string()
        }
        Err(_) => uri.to_string(),
    }
}

/// Client credentials: HTTP Basic (each part form-urlencoded, RFC 6749
/// §2.3.1) or the form's `client_id`/`client_secret`.
fn client_credentials(
    req: &Request,
    form_id: Option<&str>,
    form_secret: Option<&str>,
) -> Result<(String, Option<String>), OAuthError> {
    if let Some(basic) = basic(req.headers()) {
        let bad = || OAuthError::new("invalid_client", "malformed client credentials");
        let (id, secret) = basic.map_err(|()| bad())?;
        // Each part is form-urlencoded (RFC 6749 §2.3.1): `+` is a space.
        let decode = |s: &str| {
            let spaced = s.replace('+', " ");
            percent_encoding::percent_decode_str(&spaced)
                .decode_utf8_lossy()
                .into_owned()
        };
        return Ok((decode(&id), Some(decode(&secret))));
    }
    let id = form_id
        .ok_or_else(|| OAuthError::new("invalid_client", "client authentication is missing"))?;
    Ok((id.to_string(), form_secret.map(str::to_string)))
}

pub struct OidcApi {
    pub state: Arc<AppState>,
}

impl OidcApi {
    /// The app these credentials prove (a public client: its id alone).
    fn authenticate(
        &self,
        req: &Request,
        form_id: Option<&str>,
        form_secret: Option<&str>,
    ) -> Result<App, OAuthError> {
        let (id, secret) = client_credentials(req, form_id, form_secret)?;
        let unknown = || OAuthError::new("invalid_client", "unknown client or wrong secret");
        let app = self.state.auth.provider().app(&id)?.ok_or_else(unknown)?;
        match (app.is_public(), secret.as_deref()) {
            (true, None | Some("")) => Ok(app),
            (false, Some(secret)) if app.secret_matches(secret) => Ok(app),
            _ => Err(unknown()),
        }
    }

    /// `login_after`'s value: a sign-in time, with a MAC over it and the
    /// request's app and redirect URI (the key: the recovery-code pepper,
    /// domain-separated).
    fn sign_threshold(
        &self,
        threshold: i64,
        client_id: &str,
        redirect_uri: &str,
    ) -> Option<String> {
        let mac = self.threshold_mac(threshold, client_id, redirect_uri)?;
        Some(format!("{threshold}.{mac}"))
    }

    /// The sign-in time a `login_after` carries, if its MAC is right.
    fn threshold(&self, value: &str, client_id: &str, redirect_uri: &str) -> Option<i64> {
        let (threshold, mac) = value.split_once('.')?;
        let threshold: i64 = threshold.parse().ok()?;
        let expected = self.threshold_mac(threshold, client_id, redirect_uri)?;
        crate::base::secret::ct_eq(expected.as_bytes(), mac.as_bytes()).then_some(threshold)
    }

    /// `None` only if HMAC refused the key (it takes any length): then no
    /// `login_after` is made or accepted.
    fn threshold_mac(&self, threshold: i64, client_id: &str, redirect_uri: &str) -> Option<String> {
        use hmac::{Hmac, Mac};
        let key = self.state.auth.pepper.expose_secret();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).ok()?;
        for part in [
            "oidc-login-after",
            &threshold.to_string(),
            client_id,
            redirect_uri,
        ] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        Some(crate::base::secret::to_hex(&mac.finalize().into_bytes()))
    }

    /// The session this browser is signed in to, as its host-only access
    /// cookie proves it (never the session cookie: see `browser_session`).
    fn signed_in(&self, headers: &HeaderMap) -> ApiResult<Option<Session>> {
        Ok(browser_session(&self.state, headers)?.map(|p| p.session))
    }

    /// An authorization request; `from_consent_page`: it is the consent
    /// page's own form post (same origin), so its `consent` is the owner's.
    async fn authorize(
        &self,
        headers: &HeaderMap,
        client: &Client,
        p: AuthorizeParams,
        from_consent_page: bool,
    ) -> ApiResult<RedirectAnswer> {
        let state = &self.state;
        let provider = state.auth.provider();
        let error_page = |text: &str| {
            Ok(RedirectAnswer::ErrorPage(page(
                "cannot sign in to this app",
                text,
            )))
        };
        let Some(client_id) = p.client_id.clone() else {
            return error_page("The app sent no client_id.");
        };
        let Some(app) = provider.app(&client_id)? else {
            return error_page("This app is not registered with soloauth (unknown client_id).");
        };
        let Some(redirect_uri) = p.redirect_uri.clone().filter(|u| app.redirect_allowed(u)) else {
            return Ok(redirect_mismatch(&app, p.redirect_uri.as_deref()));
        };
        let issuer = state.auth.oidc_issuer.as_str();
        let app_state = p.state.clone();
        let back = |pairs: &[(&str, &str)]| {
            let mut all = pairs.to_vec();
            if let Some(s) = app_state.as_deref() {
                all.push(("state", s));
            }
            all.push(("iss", issuer));
            Ok(RedirectAnswer::Redirect(with_query(&redirect_uri, &all)))
        };
        let request = AuthorizeRequest {
            redirect_uri: redirect_uri.clone(),
            response_type: p.response_type.clone().unwrap_or_default(),
            scope: p.scope.clone().unwrap_or_default(),
            state: p.state.clone(),
            nonce: p.nonce.clone(),
            code_challenge: p.code_challenge.clone(),
            code_challenge_method: p.code_challenge_method.clone(),
        };
        if let Err(e) = provider.check_request(&app, &request) {
            return back(&[("error", e.error), ("error_description", &e.description)]);
        }
        let max_age = match p.max_age.as_deref().map(str::parse::<i64>) {
            None => None,
            Some(Ok(age)) if age >= 0 => Some(age),
            Some(_) => {
                return back(&[
                    ("error", "invalid_request"),
                    ("error_description", "max_age must be a number of seconds"),
                ]);
            }
        };
        let prompt = p.prompt.clone().unwrap_or_default();
        if prompt.len() > MAX_PROMPT {
            return back(&[
                ("error", "invalid_request"),
                ("error_description", "prompt is at most 64 bytes"),
            ]);
        }
        let now = state.now();
        let session = self.signed_in(headers)?;
        // `login_after` (signed by soloauth when it sent the browser to sign
        // in again for prompt=login or max_age): only a sign-in after the
        // one found too old will do, and then max_age is met. A forged or
        // mangled one counts as not met.
        let login_after = p
            .login_after
            .as_deref()
            .map(|v| self.threshold(v, &client_id, &redirect_uri));
        let too_old = |created_at: i64| match login_after {
            Some(Some(threshold)) => created_at <= threshold,
            Some(None) => true,
            None => has_word(&prompt, "login") || max_age.is_some_and(|age| now - created_at > age),
        };
        let session = match session {
            Some(session) if !too_old(session.created_at) => session,
            stale => {
                if has_word(&prompt, "none") {
                    return back(&[
                        ("error", "login_required"),
                        ("error_description", "no sign-in, and prompt=none"),
                    ]);
                }
                // Back from the login page, when the app asked for a fresh
                // sign-in (prompt=login, max_age), a session newer than this
                // counts: the stale one's start, or a second ago when none
                // was in sight. Otherwise any will do, such as the session
                // the page renewed when only the access cookie had run out.
                let mut again = p;
                again.prompt = None;
                if has_word(&prompt, "login") || max_age.is_some() || again.login_after.is_some() {
                    let threshold = stale.as_ref().map_or(now - 1, |s| s.created_at);
                    again.login_after = self.sign_threshold(threshold, &client_id, &redirect_uri);
                }
                let target = with_query(
                    &format!("{issuer}/oidc/authorize"),
                    &again
                        .pairs()
                        .iter()
                        .map(|(k, v)| (*k, v.as_str()))
                        .collect::<Vec<_>>(),
                );
                if target.len() > MAX_RD {
                    return back(&[
                        ("error", "invalid_request"),
                        (
                            "error_description",
                            "the request is too long to come back to after signing in",
                        ),
                    ]);
                }
                let fresh = stale.is_some().then_some("fresh_sign_in");
                return Ok(RedirectAnswer::Redirect(login_url(
                    issuer,
                    Some(&target),
                    fresh,
                )));
            }
        };
        if app.needs_consent(&redirect_uri) && !session.consents.contains(&client_id) {
            let answer = p.consent.as_deref().filter(|_| from_consent_page);
            match answer {
                Some("allow") => {
                    state.auth.store.add_consent(&session.id, &client_id)?;
                    state.auth.store.flush().await?;
                }
                Some(_) => {
                    return back(&[
                        ("error", "access_denied"),
                        ("error_description", "the owner did not allow this app"),
                    ]);
                }
                None if has_word(&prompt, "none") => {
                    return back(&[
                        ("error", "consent_required"),
                        (
                            "error_description",
                            "the owner must allow this app on this device first",
                        ),
                    ]);
                }
                None => {
                    let pairs = p.pairs();
                    let pairs: Vec<(&str, &str)> =
                        pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    let page = pages::consent(&app.name, &redirect_uri, &pairs);
                    let csp = pages::csp_redirecting_to(Some(&redirect_uri));
                    return Ok(RedirectAnswer::Consent(page, csp));
                }
            }
        }
        let signer = Signer {
            session_id: &session.id,
            auth_time: session.created_at,
            amr: &session.amr,
        };
        let mut events = Events::new();
        let code = provider
            .issue_code(&app, &request, &signer, now, &mut events, client.ip)
            .await;
        audit::record(state, &events).await;
        let code = code?;
        back(&[("code", code.expose_secret())])
    }

    async fn token(&self, req: &Request, client: &Client, f: TokenForm) -> ApiResult<TokenAnswer> {
        let refuse = |e: OAuthError| match e.error {
            "invalid_client" => TokenAnswer::BadClient(oauth_json(&e), BASIC_CHALLENGE.into()),
            "server_error" => TokenAnswer::Unavailable(unavailable_json()),
            _ => TokenAnswer::Refused(oauth_json(&e)),
        };
        let app = match self.authenticate(req, f.client_id.as_deref(), f.client_secret.as_deref()) {
            Ok(app) => app,
            Err(e) => return Ok(refuse(e)),
        };
        let (state, now) = (&self.state, self.state.now());
        let provider = state.auth.provider();
        let mut events = Events::new();
        let result = match f.grant_type.as_deref() {
            Some("authorization_code") => match f.code.as_deref() {
                Some(code) => {
                    let exchange = CodeExchange {
                        code,
                        redirect_uri: f.redirect_uri.as_deref(),
                        code_verifier: f.code_verifier.as_deref(),
                    };
                    provider
                        .exchange_code(&app, &exchange, now, &mut events, client.ip)
                        .await
                }
                None => Err(OAuthError::new("invalid_request", "code is missing")),
            },
            Some("refresh_token") => match f.refresh_token.as_deref() {
                Some(token) => {
                    provider
                        .refresh(&app, token, now, &mut events, client.ip)
                        .await
                }
                None => Err(OAuthError::new(
                    "invalid_request",
                    "refresh_token is missing",
                )),
            },
            Some(_) => Err(OAuthError::new(
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token",
            )),
            None => Err(OAuthError::new("invalid_request", "grant_type is missing")),
        };
        audit::record(state, &events).await;
        Ok(match result {
            Ok(tokens) => TokenAnswer::Tokens(Json(token_body(tokens))),
            Err(e) => refuse(e),
        })
    }

    fn userinfo(&self, token: Option<String>) -> ApiResult<UserinfoAnswer> {
        let refused = || {
            let e = OAuthError::new(
                "invalid_token",
                "missing, unknown, expired or revoked access token",
            );
            UserinfoAnswer::Refused(oauth_json(&e), r#"Bearer error="invalid_token""#.into())
        };
        let Some(token) = token else {
            return Ok(refused());
        };
        let (state, now) = (&self.state, self.state.now());
        match state.auth.provider().userinfo(&token, now)? {
            Some(claims) => Ok(UserinfoAnswer::Claims(Json(claims))),
            None => Ok(refused()),
        }
    }

    /// RP-initiated logout. A sign-in ends only when the request surely
    /// comes from its owner or its app:
    /// - this browser's session (its host-only access cookie), when an ID
    ///   token we signed names it, or on our own confirmation form (a
    ///   same-origin post);
    /// - with no session in sight (the access cookie ran out, or a
    ///   cross-site post carried no cookie), the session a valid ID token
    ///   names: the app holding that token asks to end its own sign-in.
    ///
    /// Anything else (a bare link or form another site could plant) gets
    /// the confirmation page and clears nothing. Cookies are cleared when
    /// this browser's own session ended, or on our own form.
    async fn logout(
        &self,
        headers: &HeaderMap,
        jar: &CookieJar,
        client: &Client,
        p: LogoutParams,
        from_our_page: bool,
    ) -> ApiResult<LogoutAnswer> {
        let state = &self.state;
        let ring = state
            .auth
            .oidc_keys
            .ring(&state.auth.store, &state.auth.vault, state.now())
            .await?;
        let issuer = state.auth.oidc_issuer.as_str();
        let hint = p
            .id_token_hint
            .as_deref()
            .and_then(|t| ring.verify_hint(t, issuer));
        let hinted_sid = hint.as_ref().and_then(|c| c["sid"].as_str());
        let target = self.logout_target(&p, hint.as_ref())?;
        let visible = self.signed_in(headers)?;
        let ending = match (&visible, hinted_sid) {
            (Some(own), hinted) if from_our_page || hinted == Some(own.id.as_str()) => {
                Some(own.id.as_str())
            }
            (None, Some(hinted)) => Some(hinted),
            (None, None) if from_our_page => None,
            (Some(_), _) | (None, None) => {
                let page = pages::confirm_logout(&p.pairs());
                let csp = pages::csp_redirecting_to(target.as_deref());
                return Ok(LogoutAnswer::Confirm(page, csp));
            }
        };
        if let Some(sid) = ending {
            if state.auth.sessions().revoke(sid).await? {
                let event = Event::new(Kind::SessionRevoked, client)
                    .session(sid)
                    .detail("reason=oidc_logout");
                audit::record(state, &[event]).await;
            }
        }
        if from_our_page || visible.is_some() {
            cookies::clear(jar, &state.config);
        }
        Ok(match target {
            Some(uri) => {
                let pairs: Vec<(&str, &str)> = p
                    .state
                    .as_deref()
                    .map(|s| ("state", s))
                    .into_iter()
                    .collect();
                LogoutAnswer::Redirect(with_query(&uri, &pairs))
            }
            None => LogoutAnswer::Done(page("signed out", "You are signed out of soloauth.")),
        })
    }
}

impl OidcApi {
    /// Where a logout goes back to: `post_logout_redirect_uri` when it is a
    /// registered logout URI of the app (named by `client_id` or the hint's
    /// `aud`).
    fn logout_target(
        &self,
        p: &LogoutParams,
        hint: Option<&serde_json::Value>,
    ) -> ApiResult<Option<String>> {
        let hinted_app = hint.and_then(|c| c["aud"].as_str().map(str::to_string));
        let Some(client_id) = p.client_id.clone().or(hinted_app) else {
            return Ok(None);
        };
        let Some(uri) = p.post_logout_redirect_uri.as_deref() else {
            return Ok(None);
        };
        let app = self.state.auth.provider().app(&client_id)?;
        Ok(app
            .filter(|app| app.logout_allowed(uri))
            .map(|_| uri.to_string()))
    }
}

impl LogoutParams {
    /// The parameters as form fields (for the confirmation page).
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("id_token_hint", &self.id_token_hint),
            ("post_logout_redirect_uri", &self.post_logout_redirect_uri),
            ("state", &self.state),
            ("client_id", &self.client_id),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
        .collect()
    }
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

impl AuthorizeParams {
    /// The parameters as query pairs (to come back here after signing in).
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        let mut push = |k: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                pairs.push((k, v.clone()));
            }
        };
        push("client_id", &self.client_id);
        push("redirect_uri", &self.redirect_uri);
        push("response_type", &self.response_type);
        push("scope", &self.scope);
        push("state", &self.state);
        push("nonce", &self.nonce);
        push("code_challenge", &self.code_challenge);
        push("code_challenge_method", &self.code_challenge_method);
        push("prompt", &self.prompt);
        push("max_age", &self.max_age);
        if let Some(t) = &self.login_after {
            pairs.push(("login_after", t.clone()));
        }
        pairs
    }
}

#[OpenApi(tag = "ApiTags::Oidc")]
impl OidcApi {
    /// OpenID Connect discovery.
    #[oai(path = "/.well-known/openid-configuration", method = "get")]
    async fn discovery(&self) -> Json<serde_json::Value> {
        let issuer = &self.state.auth.oidc_issuer;
        Json(serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/oidc/authorize"),
            "token_endpoint": format!("{issuer}/oidc/token"),
            "userinfo_endpoint": format!("{issuer}/oidc/userinfo"),
            "jwks_uri": format!("{issuer}/oidc/jwks.json"),
            "end_session_endpoint": format!("{issuer}/oidc/logout"),
            "revocation_endpoint": format!("{issuer}/oidc/revoke"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "groups", "offline_access"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash",
                "amr", "sid", "azp", "preferred_username", "name", "email", "email_verified", "groups"],
            "prompt_values_supported": ["none", "login"],
            "authorization_response_iss_parameter_supported": true,
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
        }))
    }

    /// The public signing keys.
    #[oai(path = "/oidc/jwks.json", method = "get")]
    async fn jwks(&self) -> ApiResult<Json<serde_json::Value>> {
        let state = &self.state;
        let ring = state
            .auth
            .oidc_keys
            .ring(&state.auth.store, &state.auth.vault, state.now())
            .await?;
        let set = serde_json::to_value(ring.jwks()).map_err(ApiError::internal)?;
        Ok(Json(set))
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
        login_after: Query<Option<String>>,
    ) -> RedirectAnswer {
        let params = AuthorizeParams {
            client_id: client_id.0,
            redirect_uri: redirect_uri.0,
            response_type: response_type.0,
            scope: scope.0,
            state: state.0,
            nonce: nonce.0,
            code_challenge: code_challenge.0,
            code_challenge_method: code_challenge_method.0,
            prompt: prompt.0,
            max_age: max_age.0,
            login_after: login_after.0,
            consent: None,
        };
        self.authorize(req.headers(), &client, params, false)
            .await
            .unwrap_or_else(|_| RedirectAnswer::Unavailable(pages::unavailable()))
    }

    /// Authorization by form post.
    #[oai(path = "/oidc/authorize", method = "post")]
    async fn authorize_post(
        &self,
        req: &Request,
        client: Client,
        form: OAuthForm<AuthorizeParams>,
    ) -> RedirectAnswer {
        let from_consent_page = super::check_csrf(req, &self.state).is_ok();
        self.authorize(req.headers(), &client, form.0, from_consent_page)
            .await
            .unwrap_or_else(|_| RedirectAnswer::Unavailable(pages::unavailable()))
    }

    /// The token endpoint: `authorization_code` and `refresh_token`.
    #[oai(path = "/oidc/token", method = "post")]
    async fn token_post(
        &self,
        req: &Request,
        client: Client,
        form: OAuthForm<TokenForm>,
    ) -> TokenAnswer {
        self.token(req, &client, form.0)
            .await
            .unwrap_or_else(|_| TokenAnswer::Unavailable(unavailable_json()))
    }

    /// The claims of an access token (`Authorization: Bearer`).
    #[oai(path = "/oidc/userinfo", method = "get")]
    async fn userinfo_get(&self, req: &Request) -> UserinfoAnswer {
        self.userinfo(bearer(req.headers()).map(str::to_string))
            .unwrap_or_else(|_| UserinfoAnswer::Unavailable(unavailable_json()))
    }

    /// The claims of an access token (Bearer, or `access_token` in the form).
    #[oai(path = "/oidc/userinfo", method = "post")]
    async fn userinfo_post(&self, req: &Request, form: OAuthForm<UserinfoForm>) -> UserinfoAnswer {
        self.userinfo(
            bearer(req.headers())
                .map(str::to_string)
                .or(form.0.access_token),
        )
        .unwrap_or_else(|_| UserinfoAnswer::Unavailable(unavailable_json()))
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
            .unwrap_or_else(|_| LogoutAnswer::Unavailable(pages::unavailable()))
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
            .unwrap_or_else(|_| LogoutAnswer::Unavailable(pages::unavailable()))
    }

    /// Token revocation (RFC 7009).
    #[oai(path = "/oidc/revoke", method = "post")]
    async fn revoke(&self, req: &Request, form: OAuthForm<RevokeForm>) -> RevokeAnswer {
        let f = form.0;
        let app = match self.authenticate(req, f.client_id.as_deref(), f.client_secret.as_deref()) {
            Ok(app) => app,
            Err(e) if e.error == "server_error" => {
                return RevokeAnswer::Unavailable(unavailable_json())
            }
            Err(e) => return RevokeAnswer::BadClient(oauth_json(&e), BASIC_CHALLENGE.into()),
        };
        if let Some(token) = f.token.as_deref() {
            if self
                .state
                .auth
                .provider()
                .revoke(&app, token)
                .await
                .is_err()
            {
                return RevokeAnswer::Unavailable(unavailable_json());
            }
        }
        RevokeAnswer::Done
    }
}
