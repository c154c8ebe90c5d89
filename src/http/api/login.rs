//! `POST /auth/login`, `/auth/refresh` and `/auth/logout`.

use std::borrow::Cow;
use std::sync::Arc;

use poem::web::cookie::CookieJar;
use poem::Request;
use poem_openapi::payload::{Form, Json};
use poem_openapi::registry::MetaSchemaRef;
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::{ApiRequest, ApiResponse, Object, OpenApi, Tags, Union};

use super::{cookies, decide, Auth, LoginClient, OptionalJson, SecretInput, REFRESH_COOKIE};
use crate::auth::factor::Credential;
use crate::auth::login::{Outcome, PasswordStep};
use crate::auth::sessions::{SessionEnd, TokenPair};
use crate::auth::{AuthError, Client};
use crate::base::secret::{ExposeSecret, SecretString};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// Logging in and out, refreshing tokens.
    Login,
}

/// Credentials for `POST /auth/login`.
#[derive(Object, serde::Deserialize)]
pub struct LoginBody {
    /// Held as a secret too: people type passwords into the username field.
    username: SecretInput,
    password: SecretInput,
    /// A current TOTP code, to log in in one step when TOTP is on.
    totp_code: Option<SecretInput>,
    /// A recovery code, to log in in one step (spent): the way back when
    /// every passkey is lost, taken even with password sign-in off.
    recovery_code: Option<SecretInput>,
    /// Keep me signed in (default `true`; form: `remember=on`). With
    /// `false`, every cookie ends with the browser session.
    remember: Option<Remember>,
}

/// "Remember me": a JSON boolean, or a form checkbox's `on` (also
/// `true`/`false`, `1`/`0`, `off`).
pub struct Remember(bool);

impl Remember {
    /// The choice: keep the cookies past the browser session.
    pub fn value(&self) -> bool {
        self.0
    }
}

impl Type for Remember {
    const IS_REQUIRED: bool = true;
    type RawValueType = bool;
    type RawElementValueType = bool;

    fn name() -> Cow<'static, str> {
        bool::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        bool::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&bool> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a bool> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromJSON for Remember {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        match value {
            Some(serde_json::Value::Bool(b)) => Ok(Remember(b)),
            _ => Err(ParseError::custom("expected true or false")),
        }
    }
}

impl ToJSON for Remember {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::Bool(self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Remember {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "on" | "true" | "1" => Ok(Remember(true)),
            "off" | "false" | "0" | "" => Ok(Remember(false)),
            _ => Err(serde::de::Error::custom("remember must be on or off")),
        }
    }
}

/// JSON or an OAuth2-style form (`username=…&password=…`).
#[derive(ApiRequest)]
pub enum LoginRequest {
    Json(Json<LoginBody>),
    Form(Form<LoginBody>),
}

/// The second step with a TOTP code.
#[derive(Object)]
pub struct LoginTotpCode {
    mfa_token: SecretInput,
    /// A current 6-digit TOTP code.
    code: SecretInput,
}

/// The second step with a recovery code.
#[derive(Object)]
pub struct LoginTotpRecovery {
    mfa_token: SecretInput,
    /// One of the recovery codes (case, spaces and dashes ignored).
    recovery_code: SecretInput,
}

/// The second step of a login: the `mfa_token` and exactly one of `code` or
/// `recovery_code` (a body with both, or neither, is `400`).
#[derive(Union)]
#[oai(one_of)]
pub enum LoginTotpBody {
    Code(LoginTotpCode),
    Recovery(LoginTotpRecovery),
}

/// `POST /auth/refresh` body; the `soloauth_refresh` cookie may stand in for it.
#[derive(Object, Default)]
pub struct RefreshBody {
    refresh_token: Option<SecretInput>,
}

/// The user a token pair belongs to.
#[derive(Object)]
pub struct UserInfo {
    username: String,
    totp_enabled: bool,
}

/// A new access token and refresh token.
#[derive(Object)]
pub struct TokenResponse {
    access_token: String,
    token_type: String,
    expires_in: i64,
    refresh_token: String,
    refresh_expires_in: i64,
    session_id: String,
    user: UserInfo,
}

#[derive(ApiResponse)]
pub enum LogoutResponse {
    /// The session is revoked and the cookies cleared.
    #[oai(status = 204)]
    Done,
}

/// The token response for a new pair, with its cookies set.
fn token_response(
    state: &AppState,
    jar: &CookieJar,
    pair: TokenPair,
    totp_enabled: bool,
) -> Json<TokenResponse> {
    cookies::set(jar, &state.config, &pair, state.now());
    Json(TokenResponse {
        access_token: pair.access_token,
        token_type: "Bearer".into(),
        expires_in: state.config.access_ttl,
        refresh_token: pair.refresh_token.expose_secret().to_string(),
        refresh_expires_in: pair.session.expires_at - state.now(),
        session_id: pair.session.id,
        user: UserInfo {
            username: state.auth.credentials.username().to_string(),
            totp_enabled,
        },
    })
}

/// A step's outcome as the API answers it: tokens and cookies, or
/// `403 mfa_required` with the token for the next step.
pub(super) fn answer(
    state: &AppState,
    jar: &CookieJar,
    outcome: Outcome,
) -> ApiResult<Json<TokenResponse>> {
    match outcome {
        Outcome::SignedIn { pair, totp_enabled } => {
            Ok(token_response(state, jar, *pair, totp_enabled))
        }
        Outcome::SecondFactorNeeded {
            mfa_token,
            expires_in,
            factors,
        } => Err(ApiError::MfaRequired {
            mfa_token,
            expires_in,
            factors: factors.iter().map(|f| f.as_str()).collect(),
        }),
    }
}

pub struct LoginApi {
    pub state: Arc<AppState>,
}

#[OpenApi(tag = "ApiTags::Login")]
impl LoginApi {
    /// Log in with username and password. With a second factor (TOTP or a
    /// passkey) the answer is `403 mfa_required` with an `mfa_token` and the
    /// `factors` the second step takes: a code for `POST /auth/login/totp`,
    /// or a passkey (`/auth/passkeys/login/start` with the token). With TOTP
    /// on, `totp_code` logs in in one step; a `recovery_code` always does
    /// (and spends it). With password sign-in off, only the password with a
    /// `recovery_code` is taken: anything else is `403 password_login_off`.
    #[oai(path = "/auth/login", method = "post")]
    async fn login(
        &self,
        jar: &CookieJar,
        LoginClient(client): LoginClient,
        body: LoginRequest,
    ) -> ApiResult<Json<TokenResponse>> {
        let (LoginRequest::Json(Json(body)) | LoginRequest::Form(Form(body))) = body;
        let state = &self.state;
        let step = PasswordStep {
            username: body.username.0,
            password: body.password.0,
            totp_code: body.totp_code.map(|c| c.0),
            recovery_code: body.recovery_code.map(|c| c.0),
            remember: body.remember.is_none_or(|r| r.0),
        };
        let login = state.auth.login();
        let outcome = decide(state, async |events, now| {
            login.password_step(&client, step, now, events).await
        })
        .await?;
        answer(state, jar, outcome)
    }

    /// The second step of a login: the `mfa_token` from `403 mfa_required`
    /// with a TOTP `code` or a `recovery_code`. The token is good for 5
    /// minutes and 3 attempts: a wrong code is `401 invalid_code` (counted
    /// toward the lockout) and the token stays for another try; a right
    /// code, or the third wrong one, spends it (then `401 invalid_token`:
    /// sign in with the password again).
    #[oai(path = "/auth/login/totp", method = "post")]
    async fn login_totp(
        &self,
        jar: &CookieJar,
        LoginClient(client): LoginClient,
        body: Json<LoginTotpBody>,
    ) -> ApiResult<Json<TokenResponse>> {
        let state = &self.state;
        let (mfa_token, code) = match body.0 {
            LoginTotpBody::Code(b) => (b.mfa_token.0, Credential::Totp(b.code.0)),
            LoginTotpBody::Recovery(b) => {
                (b.mfa_token.0, Credential::RecoveryCode(b.recovery_code.0))
            }
        };
        let login = state.auth.login();
        let outcome = decide(state, async |events, now| {
            login
                .second_step(&client, &mfa_token, code, now, events)
                .await
        })
        .await?;
        answer(state, jar, outcome)
    }

    /// Exchange a refresh token (body or `soloauth_refresh` cookie) for a new pair.
    /// The presented token dies at once; presenting it again revokes the session.
    #[oai(path = "/auth/refresh", method = "post")]
    async fn refresh(
        &self,
        req: &Request,
        jar: &CookieJar,
        client: Client,
        body: OptionalJson<RefreshBody>,
    ) -> ApiResult<Json<TokenResponse>> {
        let state = &self.state;
        let from_body = body.0.and_then(|b| b.refresh_token).map(|s| s.0);
        let presented: SecretString = match from_body {
            Some(token) => token,
            None => {
                let cookie = jar.get(REFRESH_COOKIE).ok_or(ApiError::INVALID_TOKEN)?;
                super::check_csrf(req, state)?;
                SecretString::from(cookie.value_str().to_string())
            }
        };
        let login = state.auth.login();
        let result = decide(state, async |events, now| {
            login.refresh(&client, &presented, now, events).await
        })
        .await;
        if matches!(result, Err(ApiError::Refused(AuthError::TokenReused))) {
            cookies::clear(jar, &state.config);
        }
        let pair = result?;
        let totp_enabled = state.auth.factors().status()?.totp_enabled;
        Ok(token_response(state, jar, pair, totp_enabled))
    }

    /// Revoke the current session and clear the cookies.
    #[oai(path = "/auth/logout", method = "post")]
    async fn logout(
        &self,
        auth: Auth,
        jar: &CookieJar,
        client: Client,
    ) -> ApiResult<LogoutResponse> {
        let (state, sid) = (&self.state, &auth.principal().session.id);
        let sessions = state.auth.sessions();
        decide(state, async |events, _| {
            sessions.end(sid, SessionEnd::Logout, &client, events).await
        })
        .await?;
        cookies::clear(jar, &state.config);
        Ok(LogoutResponse::Done)
    }
}
