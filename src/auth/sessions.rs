//! Session lifecycle: start after a login, rotate on refresh, authenticate
//! access tokens, revoke.
//!
//! Every function that changes a session flushes the store before it returns,
//! so what the client is told has happened is on disk.

use std::sync::Arc;

use crate::auth::refresh;
use crate::auth::tokens::AccessClaims;
use crate::base::secret::SecretString;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::storage::sessions::{Rotation, Session, TOUCH_INTERVAL};

/// Where a request came from, recorded on its session.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: std::net::IpAddr,
    pub user_agent: String,
}

impl ClientInfo {
    /// The client address as text (sessions, events, logs).
    pub fn ip_str(&self) -> String {
        self.ip.to_string()
    }
}

/// A new access token and refresh token for a session.
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: SecretString,
    pub session: Session,
}

/// An authenticated request: valid access token, live session.
#[derive(Debug, Clone)]
pub struct Principal {
    pub claims: Arc<AccessClaims>,
    pub session: Session,
}

fn issue_access(state: &AppState, session: &Session, now: i64) -> ApiResult<String> {
    let claims = AccessClaims::new(
        state.credentials.username(),
        &session.id,
        &session.amr,
        now,
        state.config.access_ttl,
    );
    state.jwt.sign(&claims).map_err(ApiError::internal)
}

/// Starts a session for the admin after a successful login.
pub async fn start(
    state: &AppState,
    amr: Vec<String>,
    client: &ClientInfo,
) -> ApiResult<TokenPair> {
    let now = state.now();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let refresh = refresh::mint(&id);
    let session = Session {
        id,
        created_at: now,
        last_seen_at: now,
        expires_at: now + state.config.refresh_ttl,
        ip: client.ip_str(),
        user_agent: client.user_agent.clone(),
        amr,
        refresh_hash: refresh.hash,
    };
    state.store.put_session(&session)?;
    state.store.flush().await?;
    Ok(TokenPair {
        access_token: issue_access(state, &session, now)?,
        refresh_token: refresh.token,
        session,
    })
}

/// Rotates a refresh token: the presented one dies, a new pair is returned.
pub async fn rotate(state: &AppState, presented: &str) -> ApiResult<TokenPair> {
    let (sid, presented_hash) = refresh::parse(presented).ok_or(ApiError::InvalidToken)?;
    let now = state.now();
    let next = refresh::mint(sid);
    let rotation = state.store.rotate_refresh(
        sid,
        &presented_hash,
        &next.hash,
        now,
        now + state.config.refresh_ttl,
        state.config.refresh_grace_seconds,
    )?;
    state.store.flush().await?;
    match rotation {
        Rotation::Rotated(session) => Ok(TokenPair {
            access_token: issue_access(state, &session, now)?,
            refresh_token: next.token,
            session: *session,
        }),
        Rotation::Reused => Err(ApiError::TokenReused),
        Rotation::Raced | Rotation::Invalid => Err(ApiError::InvalidToken),
    }
}

/// Checks an access token and that its session is still live.
pub fn authenticate(state: &AppState, token: &str) -> ApiResult<Principal> {
    let now = state.now();
    let claims = state.jwt.verify(token, now).ok_or(ApiError::InvalidToken)?;
    let session = state
        .store
        .live_session(&claims.sid, now)?
        .ok_or(ApiError::InvalidToken)?;
    Ok(Principal { claims, session })
}

/// Forward auth's check: [`authenticate`] reading only the session's times,
/// and recording activity on it (at most every [`TOUCH_INTERVAL`] seconds).
pub fn check_access(state: &AppState, token: &str) -> ApiResult<Arc<AccessClaims>> {
    let now = state.now();
    let claims = state.jwt.verify(token, now).ok_or(ApiError::InvalidToken)?;
    let clock = state
        .store
        .live_session_clock(&claims.sid, now)?
        .ok_or(ApiError::InvalidToken)?;
    if now - clock.last_seen_at >= TOUCH_INTERVAL {
        if let Some(session) = state.store.live_session(&claims.sid, now)? {
            let _ = state.store.touch_session(&session, now);
        }
    }
    Ok(claims)
}

/// Revokes every session but `keep`; returns how many went.
pub async fn revoke_others(state: &AppState, keep: &str) -> ApiResult<usize> {
    let revoked = state.store.delete_sessions_except(Some(keep))?;
    state.store.flush().await?;
    Ok(revoked)
}

/// Revokes session `sid`; false if there was none.
pub async fn revoke(state: &AppState, sid: &str) -> ApiResult<bool> {
    let existed = state.store.delete_session(sid)?;
    state.store.flush().await?;
    Ok(existed)
}
