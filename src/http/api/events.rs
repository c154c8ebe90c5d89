//! `GET /auth/events`: the audit log, newest first.

use std::sync::Arc;

use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

use super::Auth;
use crate::base::clock::rfc3339;
use crate::http::error::ApiResult;
use crate::http::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// What happened: logins, failures, lockouts, factor changes.
    Events,
}

/// One audit event.
#[derive(Object)]
pub struct EventInfo {
    at: String,
    /// `login_success`, `login_failure`, `mfa_failure`, `lockout`, `unlock`,
    /// `recovery_code_used`, `refresh_reuse`, `session_revoked`, `totp_enabled`,
    /// `totp_disabled`, `recovery_codes_regenerated`, `keys_rotated`,
    /// `passkey_added`, `passkey_removed`, `passkey_login`,
    /// `passkey_clone_suspected`, `oidc_authorized`, `oidc_code_reuse`,
    /// `oidc_client_added`, `oidc_client_removed`, `token_created`,
    /// `token_revoked` or `password_login_changed` (every audited kind; a
    /// test keeps this list whole).
    kind: String,
    ip: String,
    detail: String,
}

pub struct EventsApi {
    pub state: Arc<AppState>,
}

#[OpenApi(tag = "ApiTags::Events")]
impl EventsApi {
    /// Recent audit events, newest first.
    #[oai(path = "/auth/events", method = "get")]
    async fn events(
        &self,
        _auth: Auth,
        /// How many (1–1000, default 50).
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        limit: Query<u32>,
    ) -> ApiResult<Json<Vec<EventInfo>>> {
        let events = self.state.auth.store.recent_events(limit.0 as usize)?;
        Ok(Json(
            events
                .into_iter()
                .map(|e| EventInfo {
                    at: rfc3339(e.at),
                    kind: e.kind,
                    ip: e.ip,
                    detail: e.detail,
                })
                .collect(),
        ))
    }
}

fn default_limit() -> u32 {
    50
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::events::AUDITED;

    #[test]
    fn the_kind_doc_lists_every_audited_kind() {
        let mut registry = poem_openapi::registry::Registry::new();
        <EventInfo as poem_openapi::types::Type>::register(&mut registry);
        let schema = format!("{:?}", registry.schemas.get("EventInfo"));
        for kind in AUDITED {
            let name = format!("`{}`", kind.as_str());
            assert!(schema.contains(&name), "{name} missing from EventInfo.kind");
        }
    }
}
