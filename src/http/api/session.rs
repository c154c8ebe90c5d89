//! `GET /auth/me`, `PUT /auth/password-login` (the passwordless switch),
//! `GET /auth/sessions`, `DELETE /auth/sessions` (every other session) and
//! `DELETE /auth/sessions/{id}`.

use std::sync::Arc;

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::{decide, sensitive, Auth, Caller, MeAuth, SecretInput};
use crate::auth::sessions::SessionEnd;
use crate::auth::Client;
use crate::base::amr::Amr;
use crate::base::clock::rfc3339;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// The signed-in account and its sessions.
    Account,
}

/// Who is signed in.
#[derive(Object)]
pub struct MeResponse {
    username: String,
    totp_enabled: bool,
    recovery_codes_remaining: u32,
    session_id: String,
    /// Methods used at login: `pwd`; `otp` (a code) or `hwk` (a passkey)
    /// after it; `hwk` and `mfa` for a passkey that verified its user.
    amr: Vec<String>,
    /// How many passkeys are registered.
    passkeys: u32,
    /// What protects a sign-in now: some of `password` (while password
    /// sign-in is on), `totp`, `passkey`.
    factors: Vec<String>,
    /// Whether a password can sign in (with the second factor, if any).
    password_login: bool,
    /// True when `AUTH_PASSWORD_LOGIN=off` holds password sign-in off.
    password_login_from_env: bool,
    /// With an API token: its id (then `session_id` is empty, `amr` too).
    #[oai(skip_serializing_if_is_none)]
    token_id: Option<String>,
}

/// `PUT /auth/password-login` body.
#[derive(Object)]
pub struct PasswordLoginBody {
    /// `false`: only a passkey signs in (needs one registered); `true`:
    /// the password signs in again.
    enabled: bool,
    /// The current password; leave it out within `AUTH_REAUTH_SECONDS` of
    /// signing in (while password sign-in is off, sign in with a passkey).
    #[oai(nullable)]
    password: Option<SecretInput>,
}

/// Whether a password can sign in.
#[derive(Object)]
pub struct PasswordLoginResponse {
    password_login: bool,
    /// True when `AUTH_PASSWORD_LOGIN=off` holds it off.
    password_login_from_env: bool,
}

/// One login session.
#[derive(Object)]
pub struct SessionInfo {
    id: String,
    created_at: String,
    last_seen_at: String,
    expires_at: String,
    ip: String,
    user_agent: String,
    /// True for the session making this request.
    current: bool,
    /// The apps this session signed in to ("Sign in with soloauth").
    apps: Vec<String>,
}

#[derive(ApiResponse)]
pub enum RevokedResponse {
    /// The session is revoked.
    #[oai(status = 204)]
    Done,
}

/// The methods as the API names them (`pwd`, `otp`, `hwk`, `mfa`).
fn amr_names(amr: &[Amr]) -> Vec<String> {
    amr.iter().map(|m| m.as_str().to_string()).collect()
}

pub struct SessionApi {
    pub state: Arc<AppState>,
}

#[OpenApi(tag = "ApiTags::Account")]
impl SessionApi {
    /// The signed-in account.
    #[oai(path = "/auth/me", method = "get")]
    async fn me(&self, auth: MeAuth) -> ApiResult<Json<MeResponse>> {
        let factors = self.state.auth.factors().status()?;
        let account = self.state.auth.login().account_factors()?;
        let switch = self.state.auth.password_login().state()?;
        let caller = match auth {
            MeAuth::Bearer(b) => b.0,
            MeAuth::Cookie(c) => Caller::Session(c.0),
        };
        let (session_id, amr, token_id) = match caller {
            Caller::Session(p) => (p.session.id, amr_names(&p.claims.amr), None),
            Caller::Token(token) => (String::new(), Vec::new(), Some(token.id)),
        };
        Ok(Json(MeResponse {
            username: self.state.auth.credentials.username().to_string(),
            totp_enabled: factors.totp_enabled,
            recovery_codes_remaining: factors.recovery_codes_remaining as u32,
            session_id,
            amr,
            passkeys: u32::try_from(self.state.auth.store.passkeys()?.len()).unwrap_or(u32::MAX),
            factors: account.iter().map(|f| f.as_str().to_string()).collect(),
            password_login: switch.on,
            password_login_from_env: switch.from_env,
            token_id,
        }))
    }

    /// Turn password sign-in off (only a passkey signs in; the password
    /// with a recovery code stays the way back) or on again. Needs a
    /// recent sign-in or the `password`, as adding a factor does. Off with
    /// no passkey is `409 no_passkey`; on while `AUTH_PASSWORD_LOGIN=off`
    /// is `409 password_login_managed_by_env`.
    #[oai(path = "/auth/password-login", method = "put")]
    async fn set_password_login(
        &self,
        auth: Auth,
        client: Client,
        body: Json<PasswordLoginBody>,
    ) -> ApiResult<Json<PasswordLoginResponse>> {
        let state = &self.state;
        let switch = state.auth.password_login();
        let Json(PasswordLoginBody { enabled, password }) = body;
        let password = password.map(|p| p.0);
        let now = sensitive(state, &auth, &client, password, async |proof, events| {
            switch.set(proof, enabled, events).await
        })
        .await?;
        Ok(Json(PasswordLoginResponse {
            password_login: now.on,
            password_login_from_env: now.from_env,
        }))
    }

    /// Every live session, newest first.
    #[oai(path = "/auth/sessions", method = "get")]
    async fn list(&self, auth: Auth) -> ApiResult<Json<Vec<SessionInfo>>> {
        let current = &auth.principal().session.id;
        let all = self.state.auth.sessions().list(self.state.now())?;
        let provider = self.state.auth.provider();
        let mut listed = Vec::with_capacity(all.len());
        for s in all {
            listed.push((provider.apps_of_session(&s.id)?, s));
        }
        Ok(Json(
            listed
                .into_iter()
                .map(|(apps, s)| SessionInfo {
                    apps,
                    current: &s.id == current,
                    created_at: rfc3339(s.created_at),
                    last_seen_at: rfc3339(s.last_seen_at),
                    expires_at: rfc3339(s.expires_at),
                    id: s.id,
                    ip: s.ip,
                    user_agent: s.user_agent,
                })
                .collect(),
        ))
    }

    /// Revoke every session but this one ("sign out everywhere else").
    #[oai(path = "/auth/sessions", method = "delete")]
    async fn revoke_others(&self, auth: Auth, client: Client) -> ApiResult<RevokedResponse> {
        let (state, current) = (&self.state, &auth.principal().session.id);
        let sessions = state.auth.sessions();
        decide(state, async |events, _| {
            sessions.revoke_others(current, &client, events).await
        })
        .await?;
        Ok(RevokedResponse::Done)
    }

    /// Revoke one session (its tokens stop working at once).
    #[oai(path = "/auth/sessions/:id", method = "delete")]
    async fn revoke(
        &self,
        auth: Auth,
        client: Client,
        id: Path<String>,
    ) -> ApiResult<RevokedResponse> {
        let (state, by) = (
            &self.state,
            SessionEnd::RevokedBy(&auth.principal().session.id),
        );
        let sessions = state.auth.sessions();
        let ended = decide(state, async |events, _| {
            sessions.end(&id.0, by, &client, events).await
        })
        .await?;
        match ended {
            true => Ok(RevokedResponse::Done),
            false => Err(ApiError::NotFound("no such session".into())),
        }
    }
}
