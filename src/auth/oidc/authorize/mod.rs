//! The authorization endpoint's policy, in one place and free of HTTP.
//! [`Authorizer::decide`] takes the request as the browser sent it, the app
//! its `client_id` names, the browser's session as auth sees it (or none)
//! and `now`, and returns a [`Decision`]; it reads and writes nothing.
//! [`Provider::authorize`] looks the app up and decides;
//! [`Provider::issue`] carries out a [`Decision::Issue`].
//!
//! In order:
//! 1. no `client_id`, an unknown one, or a `redirect_uri` not registered for
//!    the app: an error page, never a redirect (the address is unproven);
//! 2. anything else wrong with the request goes back to the app as
//!    `error=…` (response type, scope, lengths, PKCE, `max_age`, `prompt`);
//! 3. the session must be fresh enough: `prompt=login` wants a new sign-in,
//!    `max_age` one at most that old; back from the login page, the signed
//!    `login_after` ([`super::login_after`]) says which sign-in is new
//!    enough. And strong enough: the app's policy, or the first level of
//!    `acr_values` soloauth knows when that asks for more ([`Assurance`]).
//!    Otherwise: sign in, with `need` for a stronger one (or
//!    `login_required` for `prompt=none`);
//! 4. a public app at a loopback or custom-scheme redirect needs the
//!    owner's consent, once per sign-in (or `consent_required`);
//! 5. a code.

use super::clients::App;
use super::login_after::LoginAfterKey;
use super::provider::{AuthorizeRequest, OAuthError, Provider, Signer};
use super::tokens::has_word;
use crate::auth::events::Events;
use crate::auth::AuthResult;
use crate::base::amr::Assurance;
use crate::base::secret::SecretString;
use crate::storage::sessions::Session;

/// Longest `prompt` taken (its values are a few short words).
const MAX_PROMPT: usize = 64;

/// The owner's answer on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentAnswer {
    Allow,
    /// `deny`, or anything but `allow`.
    Deny,
}

impl ConsentAnswer {
    pub fn parse(value: &str) -> Self {
        match value {
            "allow" => ConsentAnswer::Allow,
            _ => ConsentAnswer::Deny,
        }
    }
}

/// An authorization request as the browser sent it (query or form).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AuthorizationRequest {
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
    /// The levels the app would like, in order of preference (OIDC Core
    /// §3.1.2.1; names as [`Assurance`] has them).
    pub acr_values: Option<String>,
    /// Added by soloauth when it sent the browser to sign in again.
    pub login_after: Option<String>,
    /// The owner's answer: set only for the consent page's own form post.
    pub consent: Option<ConsentAnswer>,
}

impl AuthorizationRequest {
    /// The parameters but `consent`, as query pairs or form fields (to come
    /// back here after signing in, or to post from the consent page).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("response_type", &self.response_type),
            ("scope", &self.scope),
            ("state", &self.state),
            ("nonce", &self.nonce),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            ("prompt", &self.prompt),
            ("max_age", &self.max_age),
            ("acr_values", &self.acr_values),
            ("login_after", &self.login_after),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
        .collect()
    }
}

/// What an authorization request leads to.
#[derive(Debug)]
pub enum Decision {
    /// Signed in, fresh enough, allowed: a code for the app.
    Issue(Box<CodeIssue>),
    /// Sign in (again) on the login page first, then come back.
    SignIn(SignIn),
    /// Ask the owner to allow the app on this device.
    Consent(ConsentAsk),
    /// Back to the app (at a registered redirect URI) with an OAuth error.
    ToApp(AppError),
    /// A page for the person in front of the browser, never a redirect.
    ErrorPage(ErrorPage),
}

/// A code to issue, and what goes in it.
#[derive(Debug)]
pub struct CodeIssue {
    pub app: App,
    pub request: AuthorizeRequest,
    pub session_id: String,
    /// When the session signed in.
    pub auth_time: i64,
    pub amr: Vec<crate::base::amr::Amr>,
    /// The owner allowed the app on the consent page just now: the session
    /// remembers it.
    pub remember_consent: bool,
}

impl CodeIssue {
    /// Where the code goes.
    pub fn back(&self) -> Back {
        Back {
            redirect_uri: self.request.redirect_uri.clone(),
            state: self.request.state.clone(),
        }
    }
}

/// Which sign-in is fresh enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    /// No session in sight and nothing asked: any sign-in will do.
    Any,
    /// `prompt=login`: a sign-in made after `after`.
    Login { after: i64 },
    /// `max_age`: the session in sight was older (or there was none): a
    /// sign-in made after `after`.
    MaxAge { max_age: i64, after: i64 },
    /// Back with a `login_after` the session does not pass, or that is not
    /// soloauth's: a sign-in made after `after`.
    LoginAfter { after: i64 },
}

impl Threshold {
    /// The time a new sign-in must come after, if any.
    pub fn after(self) -> Option<i64> {
        match self {
            Threshold::Any => None,
            Threshold::Login { after }
            | Threshold::MaxAge { after, .. }
            | Threshold::LoginAfter { after } => Some(after),
        }
    }
}

/// To the login page, and back.
#[derive(Debug, Clone, PartialEq)]
pub struct SignIn {
    pub threshold: Threshold,
    /// The request to come back to: an absolute URL at the issuer, without
    /// `prompt`, with a signed `login_after` when the threshold has a time.
    pub return_to: String,
    /// A session was in sight, not fresh enough: the login page must make a
    /// new one rather than go straight back with it.
    pub fresh: bool,
    /// The app needs a stronger sign-in than one factor: the login page
    /// asks for it (`need=two_factor` or `need=passkey`).
    pub need: Option<Assurance>,
}

/// "Allow APP on this device to sign in as you?"
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentAsk {
    pub app_name: String,
    pub redirect_uri: String,
    /// The request again, as the page's form fields.
    pub fields: Vec<(&'static str, String)>,
}

impl ConsentAsk {
    fn new(req: &AuthorizationRequest, app: &App, redirect_uri: &str) -> Self {
        ConsentAsk {
            app_name: app.name.clone(),
            redirect_uri: redirect_uri.to_string(),
            fields: req.pairs(),
        }
    }
}

/// Where the browser goes back to the app: a registered redirect URI, and
/// the request's `state`.
#[derive(Debug, Clone, PartialEq)]
pub struct Back {
    pub redirect_uri: String,
    pub state: Option<String>,
}

impl Back {
    /// The redirect URI with `pairs`, then `state` and `iss` (RFC 9207).
    pub fn location(&self, pairs: &[(&str, &str)], issuer: &str) -> String {
        let mut all = pairs.to_vec();
        if let Some(state) = self.state.as_deref() {
            all.push(("state", state));
        }
        all.push(("iss", issuer));
        with_query(&self.redirect_uri, &all)
    }
}

/// An OAuth error for the app (RFC 6749 §4.1.2.1).
#[derive(Debug, Clone, PartialEq)]
pub struct AppError {
    pub back: Back,
    pub error: OAuthError,
}

impl AppError {
    pub fn location(&self, issuer: &str) -> String {
        let e = &self.error;
        let pairs = [("error", e.error), ("error_description", &e.description)];
        self.back.location(&pairs, issuer)
    }
}

/// Why an authorization request gets a page instead of a redirect.
#[derive(Debug)]
pub enum ErrorPage {
    /// The app sent no `client_id`.
    NoClientId,
    /// No app has the `client_id` sent.
    UnknownClient,
    /// The `redirect_uri` sent (if any) is not registered for `app`.
    RedirectMismatch { app: App, sent: Option<String> },
}

/// `uri` with `pairs` added to its query (as given when it does not parse).
pub fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
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

fn invalid_request(description: &str) -> OAuthError {
    OAuthError::new("invalid_request", description)
}

/// An S256 challenge: base64url (no padding) of 32 bytes.
fn is_s256_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// Checks the parts of an authorization request that are reported to the
/// app (its redirect URI is already known good).
pub fn check_request(app: &App, req: &AuthorizeRequest) -> Result<(), OAuthError> {
    if req.response_type != "code" {
        return Err(OAuthError::new(
            "unsupported_response_type",
            "only the authorization code flow (response_type=code) is supported",
        ));
    }
    if !has_word(&req.scope, "openid") {
        return Err(OAuthError::new(
            "invalid_scope",
            "the scope must include openid",
        ));
    }
    let too_long = |v: &Option<String>, max: usize| v.as_ref().is_some_and(|v| v.len() > max);
    if too_long(&req.state, 512) || too_long(&req.nonce, 512) || req.scope.len() > 1024 {
        return Err(invalid_request(
            "state and nonce are at most 512 bytes, scope 1024",
        ));
    }
    match (&req.code_challenge, req.code_challenge_method.as_deref()) {
        (Some(c), Some("S256")) if !is_s256_challenge(c) => Err(invalid_request(
            "code_challenge must be 43 base64url characters (a SHA-256)",
        )),
        (Some(_), Some("S256")) => Ok(()),
        (Some(_), _) => Err(invalid_request("code_challenge_method must be S256")),
        (None, _) if app.is_public() => Err(invalid_request(
            "a public client must use PKCE (code_challenge with S256)",
        )),
        (None, _) => Ok(()),
    }
}

/// `max_age`: a number of seconds, if given.
fn max_age(value: Option<&str>) -> Result<Option<i64>, OAuthError> {
    match value.map(str::parse::<i64>) {
        None => Ok(None),
        Some(Ok(age)) if age >= 0 => Ok(Some(age)),
        Some(_) => Err(invalid_request("max_age must be a number of seconds")),
    }
}

/// What the request asks of the sign-in.
struct Freshness {
    prompt_login: bool,
    max_age: Option<i64>,
    /// The `login_after` sent back: `Some(None)` when it did not verify.
    login_after: Option<Option<i64>>,
}

impl Freshness {
    /// Whether a session made at `created_at` is too old. Back with a
    /// `login_after`, only a sign-in after it will do, and then `max_age`
    /// is met; a forged or mangled one is never met.
    fn too_old(&self, created_at: i64, now: i64) -> bool {
        match self.login_after {
            Some(Some(threshold)) => created_at <= threshold,
            Some(None) => true,
            None => self.prompt_login || self.max_age.is_some_and(|age| now - created_at > age),
        }
    }

    /// What a new sign-in must pass: newer than the stale session, or than
    /// a second ago when none was in sight.
    fn threshold(&self, stale: Option<&Session>, now: i64) -> Threshold {
        let after = stale.map_or(now - 1, |s| s.created_at);
        match (self.login_after, self.prompt_login, self.max_age) {
            (Some(_), _, _) => Threshold::LoginAfter { after },
            (None, true, _) => Threshold::Login { after },
            (None, false, Some(max_age)) => Threshold::MaxAge { max_age, after },
            (None, false, None) => Threshold::Any,
        }
    }
}

/// The level `acr_values` asks for: its first value soloauth knows (in
/// order of preference, OIDC Core §3.1.2.1); none known: any.
fn requested(acr_values: Option<&str>) -> Assurance {
    acr_values
        .unwrap_or_default()
        .split_whitespace()
        .find_map(Assurance::parse)
        .unwrap_or_default()
}

/// Step 4: where the owner stands on the app.
enum ConsentStep {
    /// Not a question here (or answered earlier in this sign-in).
    Needless,
    /// Allowed just now, on the consent page.
    Given,
    /// To ask.
    Ask,
}

/// Whether a public app at a loopback or custom-scheme redirect was
/// allowed on this device for this sign-in; `access_denied` when the owner
/// said no, `consent_required` when `prompt=none` forbids asking.
fn consent_step(
    req: &AuthorizationRequest,
    app: &App,
    redirect_uri: &str,
    session: &Session,
    prompt: &str,
) -> Result<ConsentStep, OAuthError> {
    let allowed = session.consents.contains(&app.client_id);
    if !app.needs_consent(redirect_uri) || allowed {
        return Ok(ConsentStep::Needless);
    }
    match req.consent {
        Some(ConsentAnswer::Allow) => Ok(ConsentStep::Given),
        Some(ConsentAnswer::Deny) => Err(OAuthError::new(
            "access_denied",
            "the owner did not allow this app",
        )),
        None if has_word(prompt, "none") => Err(OAuthError::new(
            "consent_required",
            "the owner must allow this app on this device first",
        )),
        None => Ok(ConsentStep::Ask),
    }
}

/// What decides an authorization request besides the request itself.
pub struct Authorizer<'a> {
    /// The issuer (the public URL): the login page comes back to it.
    pub issuer: &'a str,
    pub key: LoginAfterKey<'a>,
    /// The longest URL the login page goes back to.
    pub max_return: usize,
}

impl Authorizer<'_> {
    /// Decides `req`; `app` is the app its `client_id` names, `session`
    /// the browser's (see the module notes).
    pub fn decide(
        &self,
        req: &AuthorizationRequest,
        app: Option<App>,
        session: Option<&Session>,
        now: i64,
    ) -> Decision {
        let Some(client_id) = req.client_id.as_deref() else {
            return Decision::ErrorPage(ErrorPage::NoClientId);
        };
        let Some(app) = app.filter(|app| app.client_id == client_id) else {
            return Decision::ErrorPage(ErrorPage::UnknownClient);
        };
        let Some(redirect_uri) = req.redirect_uri.clone().filter(|u| app.redirect_allowed(u))
        else {
            let sent = req.redirect_uri.clone();
            return Decision::ErrorPage(ErrorPage::RedirectMismatch { app, sent });
        };
        let request = AuthorizeRequest {
            redirect_uri,
            response_type: req.response_type.clone().unwrap_or_default(),
            scope: req.scope.clone().unwrap_or_default(),
            state: req.state.clone(),
            nonce: req.nonce.clone(),
            code_challenge: req.code_challenge.clone(),
            code_challenge_method: req.code_challenge_method.clone(),
        };
        let back = Back {
            redirect_uri: request.redirect_uri.clone(),
            state: request.state.clone(),
        };
        self.checked(req, app, request, session, now)
            .unwrap_or_else(|error| Decision::ToApp(AppError { back, error }))
    }

    /// Steps 2 to 5, for a known app at a registered redirect URI: an error
    /// goes back to the app.
    fn checked(
        &self,
        req: &AuthorizationRequest,
        app: App,
        request: AuthorizeRequest,
        session: Option<&Session>,
        now: i64,
    ) -> Result<Decision, OAuthError> {
        check_request(&app, &request)?;
        let max_age = max_age(req.max_age.as_deref())?;
        let prompt = req.prompt.as_deref().unwrap_or_default();
        if prompt.len() > MAX_PROMPT {
            return Err(invalid_request("prompt is at most 64 bytes"));
        }
        let redirect_uri = request.redirect_uri.as_str();
        let freshness = Freshness {
            prompt_login: has_word(prompt, "login"),
            max_age,
            login_after: (req.login_after.as_deref())
                .map(|value| self.key.verify(value, &app.client_id, redirect_uri)),
        };
        let needed = app.policy.max(requested(req.acr_values.as_deref()));
        let strong_enough = |s: &Session| Assurance::of(&s.amr) >= needed;
        let session = match session {
            Some(s) if !freshness.too_old(s.created_at, now) && strong_enough(s) => s,
            _ if has_word(prompt, "none") => {
                return Err(OAuthError::new(
                    "login_required",
                    format!("no {} sign-in, and prompt=none", needed.as_str()),
                ))
            }
            stale => {
                let threshold = freshness.threshold(stale, now);
                // A session too old wants a new sign-in first (which may
                // then be strong enough); one too weak, or none, is told
                // what the new one needs.
                let too_old = stale.is_some_and(|s| freshness.too_old(s.created_at, now));
                let need = (!too_old && needed > Assurance::OneFactor).then_some(needed);
                let fresh = stale.is_some();
                return self.sign_in(req, &app, redirect_uri, threshold, fresh, need);
            }
        };
        let remember_consent = match consent_step(req, &app, redirect_uri, session, prompt)? {
            ConsentStep::Needless => false,
            ConsentStep::Given => true,
            ConsentStep::Ask => {
                return Ok(Decision::Consent(ConsentAsk::new(req, &app, redirect_uri)))
            }
        };
        Ok(Decision::Issue(Box::new(CodeIssue {
            app,
            request,
            session_id: session.id.clone(),
            auth_time: session.created_at,
            amr: session.amr.clone(),
            remember_consent,
        })))
    }

    /// To the login page, coming back to `req` without `prompt` and with
    /// the threshold signed into `login_after`.
    fn sign_in(
        &self,
        req: &AuthorizationRequest,
        app: &App,
        redirect_uri: &str,
        threshold: Threshold,
        fresh: bool,
        need: Option<Assurance>,
    ) -> Result<Decision, OAuthError> {
        let mut again = req.clone();
        again.prompt = None;
        again.login_after = threshold
            .after()
            .and_then(|after| self.key.sign(after, &app.client_id, redirect_uri));
        let pairs = again.pairs();
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let return_to = with_query(&format!("{}/oidc/authorize", self.issuer), &pairs);
        if return_to.len() > self.max_return {
            return Err(invalid_request(
                "the request is too long to come back to after signing in",
            ));
        }
        Ok(Decision::SignIn(SignIn {
            threshold,
            return_to,
            fresh,
            need,
        }))
    }
}

impl Provider<'_> {
    /// Decides an authorization request: the app its `client_id` names,
    /// then [`Authorizer::decide`].
    pub fn authorize(
        &self,
        authorizer: &Authorizer,
        req: &AuthorizationRequest,
        session: Option<&Session>,
        now: i64,
    ) -> AuthResult<Decision> {
        let app = match req.client_id.as_deref() {
            Some(client_id) => self.app(client_id)?,
            None => None,
        };
        Ok(authorizer.decide(req, app, session, now))
    }

    /// Carries out [`Decision::Issue`]: the session remembers a consent
    /// just given, then the code is issued (both durable before it is sent).
    pub async fn issue(
        &self,
        issue: &CodeIssue,
        now: i64,
        events: &mut Events,
        ip: std::net::IpAddr,
    ) -> AuthResult<SecretString> {
        if issue.remember_consent {
            self.store
                .add_consent(&issue.session_id, &issue.app.client_id)?;
            self.store.flush().await?;
        }
        let signer = Signer {
            session_id: &issue.session_id,
            auth_time: issue.auth_time,
            amr: &issue.amr,
        };
        self.issue_code(&issue.app, &issue.request, &signer, now, events, ip)
            .await
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_assurance;
