//! `POST /auth/login`, `/auth/refresh` and `/auth/logout`.

use std::sync::Arc;

use poem::web::cookie::CookieJar;
use poem::Request;
use poem_openapi::payload::{Form, Json};
use poem_openapi::{ApiRequest, ApiResponse, Object, OpenApi, Tags, Union};

use super::{cookies, guarded, Auth, OptionalJson, SecretInput, REFRESH_COOKIE};
use crate::auth::factors::{self, SecondFactor};
use crate::auth::lockout;
use crate::auth::sessions::{self, ClientInfo, TokenPair};
use crate::base::secret::{ExposeSecret, SecretString};
use crate::http::audit::{self, Kind};
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
    lockout::record_success(state, client.ip).await?;
    let amr: Vec<String> = amr.iter().map(|m| m.to_string()).collect();
    let detail = format!("amr={}", amr.join("+"));
    let pair = sessions::start(state, amr, client).await?;
    state.metrics.logins.with_label_values(&["success"]).inc();
    audit::record(
        state,
        Kind::LoginSuccess,
        &client.ip_str(),
        Some(&pair.session.id),
        &detail,
    );
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
        req: &Request,
        jar: &CookieJar,
        client: ClientInfo,
        body: LoginRequest,
    ) -> ApiResult<Json<TokenResponse>> {
        let (LoginRequest::Json(Json(body)) | LoginRequest::Form(Form(body))) = body;
        let state = &self.state;
        super::check_login_csrf(req, state)?;
        let amr = guarded(state, &client, "login", "/auth/login", async {
            let user = body.username.0.expose_secret();
            if !state.credentials.verify(user, body.password.0).await? {
                return Err(ApiError::InvalidCredentials);
            }
            if !factors::status(state)?.totp_enabled {
                return Ok(vec!["pwd"]);
            }
            let code = body
                .totp_code
                .as_ref()
                .filter(|c| !c.0.expose_secret().trim().is_empty());
            let Some(code) = code else {
                let mfa_token = factors::start_challenge(state).await?;
                state
                    .metrics
                    .logins
                    .with_label_values(&["mfa_required"])
                    .inc();
                return Err(ApiError::MfaRequired {
                    mfa_token: mfa_token.expose_secret().to_string(),
                    expires_in: factors::MFA_TTL,
                });
            };
            if !factors::verify_totp_code(state, &code.0).await? {
                return Err(ApiError::InvalidCode);
            }
            state.metrics.mfa.with_label_values(&["success"]).inc();
            Ok(vec!["pwd", "otp"])
        })
        .await?;
        finish_login(state, jar, &client, &amr).await
    }

    /// The second step of a login: the `mfa_token` from `403 mfa_required`
    /// with a TOTP `code` or a `recovery_code`. The token is single-use and
    /// good for 5 minutes: one attempt, right or wrong, ends it (after a wrong
    /// code, sign in with the password again).
    #[oai(path = "/auth/login/totp", method = "post")]
    async fn login_totp(
        &self,
        req: &Request,
        jar: &CookieJar,
        client: ClientInfo,
        body: Json<LoginTotpBody>,
    ) -> ApiResult<Json<TokenResponse>> {
        let state = &self.state;
        super::check_login_csrf(req, state)?;
        let (mfa_token, factor) = match body.0 {
            LoginTotpBody::Code(b) => (b.mfa_token.0, SecondFactor::Totp(b.code.0)),
            LoginTotpBody::Recovery(b) => {
                (b.mfa_token.0, SecondFactor::Recovery(b.recovery_code.0))
            }
        };
        let attempt = factors::complete_challenge(state, &mfa_token, &factor, &client);
        guarded(state, &client, "login_totp", "/auth/login/totp", attempt).await?;
        state.metrics.mfa.with_label_values(&["success"]).inc();
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
        lockout::check_rate(state, client.ip, "/auth/refresh")?;
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
                state
                    .metrics
                    .refreshes
                    .with_label_values(&["success"])
                    .inc();
                tracing::info!(event = "refresh", ip = %client.ip, session_id = %pair.session.id);
                cookies::set(jar, &state.config, &pair);
                token_response(state, pair)
            }
            Err(err) => {
                let reused = matches!(err, ApiError::TokenReused);
                let outcome = if reused { "reuse" } else { "invalid" };
                state.metrics.refreshes.with_label_values(&[outcome]).inc();
                if reused {
                    let sid = presented.expose_secret().split('.').next().unwrap_or("");
                    let detail = "session revoked";
                    audit::record(
                        state,
                        Kind::RefreshReuse,
                        &client.ip_str(),
                        Some(sid),
                        detail,
                    );
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
        audit::record(
            &self.state,
            Kind::SessionRevoked,
            &client.ip_str(),
            Some(sid),
            "reason=logout",
        );
        cookies::clear(jar, &self.state.config);
        Ok(LogoutResponse::Done)
    }
}
