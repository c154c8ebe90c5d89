//! The events an auth decision produces: what happened, to whom, from where.
//!
//! Domain functions append them to the request's [`Events`] (refused or
//! not); the HTTP layer records them in one place
//! (`http::audit`): audited kinds are stored and logged, and every kind is
//! counted in the metrics, which are derived from the kind alone. An
//! audited event is written to the log by one function, [`write`], for the
//! server and the host-side commands alike. Details are short
//! classifications (`reason=credentials`), never a password, hash, token,
//! code or secret.

use std::net::IpAddr;

use crate::auth::attempt::{Attempt, Failure};
use crate::auth::Client;
use crate::storage::events::StoredEvent;
use crate::storage::{Store, StoreError};

/// Which limit a lockout is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Ip,
    Account,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ip => "ip",
            Scope::Account => "account",
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    // Audited: stored in the event log and logged.
    LoginSuccess,
    LoginFailure,
    MfaFailure,
    Lockout(Scope),
    Unlock,
    RecoveryCodeUsed,
    RefreshReuse,
    SessionRevoked,
    TotpEnabled,
    TotpDisabled,
    RecoveryCodesRegenerated,
    KeysRotated,
    PasskeyAdded,
    PasskeyRemoved,
    PasskeyLogin,
    /// A passkey's signature counter went backwards (refused).
    PasskeyCloneSuspected,
    OidcAuthorized,
    OidcCodeReuse,
    OidcClientAdded,
    OidcClientRemoved,
    TokenCreated,
    TokenRevoked,
    /// Password sign-in turned on or off (`enabled=…`).
    PasswordLoginChanged,
    // Counted only (too frequent or too ordinary to store).
    MfaRequired,
    MfaSuccess,
    Locked,
    /// `on`: what was limited.
    RateLimited {
        on: Attempt,
    },
    Refreshed,
    RefreshRefused,
    VerifyAllowed,
    VerifyBypassed,
    VerifyDenied,
    VerifyForbidden,
    VerifyRedirected,
}

impl Kind {
    /// The event a failed attempt is recorded as.
    pub fn of_failure(failure: Failure) -> Kind {
        match failure {
            Failure::Credentials | Failure::Passkey => Kind::LoginFailure,
            Failure::Code => Kind::MfaFailure,
        }
    }

    /// The name of the kind, as stored and shown by `/auth/events`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::LoginSuccess => "login_success",
            Kind::LoginFailure => "login_failure",
            Kind::MfaFailure => "mfa_failure",
            Kind::Lockout(_) => "lockout",
            Kind::Unlock => "unlock",
            Kind::RecoveryCodeUsed => "recovery_code_used",
            Kind::RefreshReuse => "refresh_reuse",
            Kind::SessionRevoked => "session_revoked",
            Kind::TotpEnabled => "totp_enabled",
            Kind::TotpDisabled => "totp_disabled",
            Kind::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Kind::KeysRotated => "keys_rotated",
            Kind::PasskeyAdded => "passkey_added",
            Kind::PasskeyRemoved => "passkey_removed",
            Kind::PasskeyLogin => "passkey_login",
            Kind::PasskeyCloneSuspected => "passkey_clone_suspected",
            Kind::OidcAuthorized => "oidc_authorized",
            Kind::OidcCodeReuse => "oidc_code_reuse",
            Kind::OidcClientAdded => "oidc_client_added",
            Kind::OidcClientRemoved => "oidc_client_removed",
            Kind::TokenCreated => "token_created",
            Kind::TokenRevoked => "token_revoked",
            Kind::PasswordLoginChanged => "password_login_changed",
            Kind::MfaRequired => "mfa_required",
            Kind::MfaSuccess => "mfa_success",
            Kind::Locked => "locked",
            Kind::RateLimited { .. } => "rate_limited",
            Kind::Refreshed => "refreshed",
            Kind::RefreshRefused => "refresh_refused",
            Kind::VerifyAllowed => "verify_allowed",
            Kind::VerifyDenied => "verify_denied",
            Kind::VerifyBypassed => "verify_bypassed",
            Kind::VerifyForbidden => "verify_forbidden",
            Kind::VerifyRedirected => "verify_redirected",
        }
    }

    /// True for the kinds the event log keeps: those in [`AUDITED`].
    pub fn is_audited(self) -> bool {
        let kind = std::mem::discriminant(&self);
        AUDITED.iter().any(|k| std::mem::discriminant(k) == kind)
    }
}

/// Every audited kind (one per name): what the event log keeps and sign-in
/// alerts may be about.
pub const AUDITED: [Kind; 23] = [
    Kind::LoginSuccess,
    Kind::LoginFailure,
    Kind::MfaFailure,
    Kind::Lockout(Scope::Ip),
    Kind::Unlock,
    Kind::RecoveryCodeUsed,
    Kind::RefreshReuse,
    Kind::SessionRevoked,
    Kind::TotpEnabled,
    Kind::TotpDisabled,
    Kind::RecoveryCodesRegenerated,
    Kind::KeysRotated,
    Kind::PasskeyAdded,
    Kind::PasskeyRemoved,
    Kind::PasskeyLogin,
    Kind::PasskeyCloneSuspected,
    Kind::OidcAuthorized,
    Kind::OidcCodeReuse,
    Kind::OidcClientAdded,
    Kind::OidcClientRemoved,
    Kind::TokenCreated,
    Kind::TokenRevoked,
    Kind::PasswordLoginChanged,
];

/// Whether a sign-in's address and user agent were seen at earlier
/// sign-ins (`true`: known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub ip: bool,
    pub user_agent: bool,
}

/// One thing that happened, ready to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: Kind,
    /// The client address (empty when there is none: a host-side command).
    pub ip: String,
    /// The client's user agent (empty when unknown).
    pub user_agent: String,
    pub session: Option<String>,
    pub detail: String,
    /// For a sign-in: what was known about where it came from.
    pub seen: Option<Seen>,
}

impl Event {
    /// An event of `kind` from `client`, with no session and no detail.
    pub fn new(kind: Kind, client: &Client) -> Self {
        Event {
            user_agent: client.user_agent.clone(),
            ..Event::from_ip(kind, client.ip)
        }
    }

    /// An event of `kind` from `ip` alone (no user agent is known).
    pub fn from_ip(kind: Kind, ip: IpAddr) -> Self {
        Event {
            kind,
            ip: ip.to_string(),
            user_agent: String::new(),
            session: None,
            detail: String::new(),
            seen: None,
        }
    }

    /// An event of `kind` from a host-side command: no client, no address.
    pub fn from_host(kind: Kind) -> Self {
        Event {
            kind,
            ip: String::new(),
            user_agent: String::new(),
            session: None,
            detail: String::new(),
            seen: None,
        }
    }

    /// The event as the log keeps it at `at`: its detail, then whether the
    /// sign-in's address and user agent were new, then its session.
    pub fn to_stored(&self, at: i64) -> StoredEvent {
        let mut parts: Vec<String> = Vec::new();
        if !self.detail.is_empty() {
            parts.push(self.detail.clone());
        }
        if let Some(seen) = self.seen {
            let word = |known: bool| if known { "known" } else { "new" };
            parts.push(format!(
                "ip={} user_agent={}",
                word(seen.ip),
                word(seen.user_agent)
            ));
        }
        if let Some(sid) = &self.session {
            parts.push(format!("session={sid}"));
        }
        StoredEvent {
            at,
            kind: self.kind.as_str().into(),
            ip: self.ip.clone(),
            detail: parts.join(" "),
        }
    }

    /// The same sign-in, with what was known about its client.
    pub fn seen(mut self, seen: Seen) -> Self {
        self.seen = Some(seen);
        self
    }

    /// The same event about session `sid`.
    pub fn session(mut self, sid: &str) -> Self {
        self.session = Some(sid.to_string());
        self
    }

    /// The same event with a detail (a short classification, never a secret).
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

/// The events of one request, in order. Domain functions append to it
/// whether they succeed or refuse; the caller records them all.
pub type Events = Vec<Event>;

/// Logs an audited event (one line) and appends it to the event log at
/// `at` (not flushed): the one way one is written, by the server
/// (`http::audit`, which also counts and alerts) and by the host-side
/// commands (`cli`). Answers it as stored.
pub fn write(store: &Store, event: &Event, at: i64) -> Result<StoredEvent, StoreError> {
    let name = event.kind.as_str();
    let (ip, detail) = (event.ip.as_str(), event.detail.as_str());
    let session_id = event.session.as_deref().unwrap_or("-");
    match event.kind {
        Kind::LoginFailure
        | Kind::MfaFailure
        | Kind::Lockout(_)
        | Kind::RefreshReuse
        | Kind::PasskeyCloneSuspected => {
            tracing::warn!(event = name, ip, session_id, detail, "auth decision")
        }
        _ => tracing::info!(event = name, ip, session_id, detail, "auth decision"),
    }
    let stored = event.to_stored(at);
    store.append_event(&stored)?;
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_code_is_an_mfa_failure_and_every_other_failure_a_login_failure() {
        let kinds = [Failure::Credentials, Failure::Code, Failure::Passkey].map(Kind::of_failure);
        assert_eq!(
            kinds,
            [Kind::LoginFailure, Kind::MfaFailure, Kind::LoginFailure]
        );
    }

    #[test]
    fn the_audited_list_is_the_audited_kinds_once_each() {
        let mut names: Vec<&str> = AUDITED.iter().map(|k| k.as_str()).collect();
        assert!(AUDITED.iter().all(|k| k.is_audited()));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), AUDITED.len());
        for counted_only in [Kind::MfaRequired, Kind::Refreshed, Kind::VerifyAllowed] {
            assert!(!counted_only.is_audited());
        }
    }
}
