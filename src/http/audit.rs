//! Audit: every auth decision becomes one stored event, one log line and one
//! metric increment, here and nowhere else.
//!
//! Details are short classifications (`reason=credentials`), never a password,
//! hash, token, code or secret.

use crate::http::state::AppState;
use crate::storage::events::Event;

/// The kinds of audit event (API.md `/auth/events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    LoginSuccess,
    LoginFailure,
    MfaFailure,
    Lockout,
    Unlock,
    RecoveryCodeUsed,
    RefreshReuse,
    SessionRevoked,
    TotpEnabled,
    TotpDisabled,
    RecoveryCodesRegenerated,
    KeysRotated,
}

impl Kind {
    /// The contract's name for the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::LoginSuccess => "login_success",
            Kind::LoginFailure => "login_failure",
            Kind::MfaFailure => "mfa_failure",
            Kind::Lockout => "lockout",
            Kind::Unlock => "unlock",
            Kind::RecoveryCodeUsed => "recovery_code_used",
            Kind::RefreshReuse => "refresh_reuse",
            Kind::SessionRevoked => "session_revoked",
            Kind::TotpEnabled => "totp_enabled",
            Kind::TotpDisabled => "totp_disabled",
            Kind::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Kind::KeysRotated => "keys_rotated",
        }
    }
}

/// Builds an event at `at`.
pub fn event(kind: Kind, at: i64, ip: &str, detail: &str) -> Event {
    Event {
        at,
        kind: kind.as_str().into(),
        ip: ip.into(),
        detail: detail.into(),
    }
}

/// Records an event: stored (flushed by the caller's next flush), logged,
/// counted. A storage failure here is logged, never fails the request.
pub fn record(state: &AppState, kind: Kind, ip: &str, session_id: Option<&str>, detail: &str) {
    let name = kind.as_str();
    let session_id = session_id.unwrap_or("-");
    match kind {
        Kind::LoginFailure | Kind::MfaFailure | Kind::Lockout | Kind::RefreshReuse => {
            tracing::warn!(event = name, ip, session_id, detail, "auth decision")
        }
        _ => tracing::info!(event = name, ip, session_id, detail, "auth decision"),
    }
    state.metrics.events.with_label_values(&[name]).inc();
    let detail = match session_id {
        "-" => detail.to_string(),
        sid if detail.is_empty() => format!("session={sid}"),
        sid => format!("{detail} session={sid}"),
    };
    if let Err(e) = state
        .store
        .append_event(&event(kind, state.now(), ip, &detail))
    {
        tracing::error!(error = %e, "cannot store audit event");
    }
}
