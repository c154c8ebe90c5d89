//! `GET /auth/me`, `GET /auth/sessions`, `DELETE /auth/sessions` (every
//! other session) and `DELETE /auth/sessions/{id}`.

use std::sync::Arc;

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::{decide, Auth, Caller, MeAuth};
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
    /// With an API token: its id (then `session_id` is empty, `amr` too).
    #[oai(skip_serializing_if_is_none)]
    token_id: Option<String>,
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
            token_id,
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
