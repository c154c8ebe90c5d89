//! `POST /auth/login`, `/auth/refresh` and `/auth/logout`.

use std::sync::Arc;

use poem::web::cookie::CookieJar;
use poem::Request;
use poem_openapi::payload::{Form, Json};
use poem_openapi::{ApiRequest, ApiResponse, Object, OpenApi, Tags};

use super::{cookies, Auth, OptionalJson, SecretInput, REFRESH_COOKIE};
use crate::app::AppState;
use crate::auth::factors::{self, SecondFactor};
use crate::auth::sessions::{self, ClientInfo, TokenPair};
use crate::error::{ApiError, ApiResult};
use crate::secret::{ExposeSecret, SecretString};

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
}

/// JSON or an OAuth2-style form (`username=…&password=…`).
#[derive(ApiRequest)]
pub enum LoginRequest {
    Json(Json<LoginBody>),
    Form(Form<LoginBody>),
}

/// The second step of a login: the `mfa_token` and one of `code` or `recovery_code`.
#[derive(Object)]
pub struct LoginTotpBody {
    mfa_token: SecretInput,
    /// A current 6-digit TOTP code.
    code: Option<SecretInput>,
    /// One of the recovery codes (case, spaces and dashes ignored).
    recovery_code: Option<SecretInput>,
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

fn token_response(state: &AppState, pair: TokenPair) -> ApiResult<Json<TokenResponse>> {
    let totp_enabled = factors::status(state)?.totp_enabled;
    Ok(Json(TokenResponse {
        access_token: pair.access_token,
        token_type: "Bearer".into(),
        expires_in: state.config.access_ttl,
        refresh_token: pair.refresh_token.expose_secret().to_string(),
        refresh_expires_in: pair.session.expires_at - state.now(),
        session_id: pair.session.id,
        user: UserInfo {
            username: state.credentials.username().to_string(),
            totp_enabled,
        },
    }))
}

/// Starts the session after every factor checked out, and sets the cookies.
async fn finish_login(
    state: &AppState,
    jar: &CookieJar,
    client: &ClientInfo,
    amr: &[&str],
) -> ApiResult<Json<TokenResponse>> {
    let amr = amr.iter().map(|m| m.to_string()).collect();
    let pair = sessions::start(state, amr, client).await?;
    tracing::info!(event = "login_success", ip = %client.ip, session_id = %pair.session.id);
    cookies::set(jar, &state.config, &pair);
    token_response(state, pair)
}

pub struct LoginApi {
    pub state: Arc<AppState>,
}

#[OpenApi(tag = "ApiTags::Login")]
impl LoginApi {
    /// Log in with username and password. With TOTP on, add `totp_code` to
    /// log in in one step; without it the answer is `403 mfa_required` with an
    /// `mfa_token` for `POST /auth/login/totp`.
    #[oai(path = "/auth/login", method = "post")]
    async fn login(
        &self,
        jar: &CookieJar,
        client: ClientInfo,
        body: LoginRequest,
    ) -> ApiResult<Json<TokenResponse>> {
        let (LoginRequest::Json(Json(body)) | LoginRequest::Form(Form(body))) = body;
        let state = &self.state;
        let ok = state
            .credentials
            .verify(body.username.0.expose_secret(), body.password.0)
            .await?;
        if !ok {
            tracing::info!(event = "login_failure", ip = %client.ip, reason = "credentials");
            return Err(ApiError::InvalidCredentials);
        }
        if !factors::status(state)?.totp_enabled {
            return finish_login(state, jar, &client, &["pwd"]).await;
        }
        let Some(code) = body.totp_code else {
            let mfa_token = factors::start_challenge(state).await?;
            tracing::info!(event = "mfa_required", ip = %client.ip);
            return Err(ApiError::MfaRequired {
                mfa_token: mfa_token.expose_secret().to_string(),
                expires_in: factors::MFA_TTL,
            });
        };
        if !factors::verify_totp_code(state, &code.0).await? {
            tracing::info!(event = "mfa_failure", ip = %client.ip, reason = "totp");
            return Err(ApiError::InvalidCode);
        }
        finish_login(state, jar, &client, &["pwd", "otp"]).await
    }

    /// The second step of a login: the `mfa_token` from `403 mfa_required`
    /// with a TOTP `code` or a `recovery_code`. The token is single-use and
    /// good for 5 minutes; a few wrong codes end it.
    #[oai(path = "/auth/login/totp", method = "post")]
    async fn login_totp(
        &self,
        jar: &CookieJar,
        client: ClientInfo,
        body: Json<LoginTotpBody>,
    ) -> ApiResult<Json<TokenResponse>> {
        let state = &self.state;
        let body = body.0;
        let factor = match (body.code, body.recovery_code) {
            (Some(code), None) => SecondFactor::Totp(code.0),
            (None, Some(code)) => SecondFactor::Recovery(code.0),
            _ => {
                return Err(ApiError::BadRequest(
                    "give exactly one of code or recovery_code".into(),
                ))
            }
        };
        if let Err(err) = factors::complete_challenge(state, &body.mfa_token.0, &factor).await {
            tracing::info!(event = "mfa_failure", ip = %client.ip, reason = err.code());
            return Err(err);
        }
        finish_login(state, jar, &client, &["pwd", "otp"]).await
    }

    /// Exchange a refresh token (body or `soloauth_refresh` cookie) for a new pair.
    /// The presented token dies at once; presenting it again revokes the session.
    #[oai(path = "/auth/refresh", method = "post")]
    async fn refresh(
        &self,
        req: &Request,
        jar: &CookieJar,
        client: ClientInfo,
        body: OptionalJson<RefreshBody>,
    ) -> ApiResult<Json<TokenResponse>> {
        let state = &self.state;
        let from_body = body.0.and_then(|b| b.refresh_token).map(|s| s.0);
        let presented: SecretString = match from_body {
            Some(token) => token,
            None => {
                let cookie = jar.get(REFRESH_COOKIE).ok_or(ApiError::InvalidToken)?;
                super::check_csrf(req, state)?;
                SecretString::from(cookie.value_str().to_string())
            }
        };
        let result = sessions::rotate(state, presented.expose_secret()).await;
        match result {
            Ok(pair) => {
                tracing::info!(event = "refresh", ip = %client.ip, session_id = %pair.session.id);
                cookies::set(jar, &state.config, &pair);
                token_response(state, pair)
            }
            Err(err) => {
                if matches!(err, ApiError::TokenReused) {
                    tracing::warn!(event = "refresh_reuse", ip = %client.ip, "refresh token reuse: session revoked");
                    cookies::clear(jar, &state.config);
                }
                Err(err)
            }
        }
    }

    /// Revoke the current session and clear the cookies.
    #[oai(path = "/auth/logout", method = "post")]
    async fn logout(
        &self,
        auth: Auth,
        jar: &CookieJar,
        client: ClientInfo,
    ) -> ApiResult<LogoutResponse> {
        let sid = &auth.principal().session.id;
        sessions::revoke(&self.state, sid).await?;
        tracing::info!(event = "session_revoked", ip = %client.ip, session_id = %sid, reason = "logout");
        cookies::clear(jar, &self.state.config);
        Ok(LogoutResponse::Done)
    }
}
