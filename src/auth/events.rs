//! The events an auth decision produces: what happened, to whom, from where.
//!
//! Domain functions append them to the request's [`Events`] (refused or
//! not); the HTTP layer records them in one place
//! (`http::audit`): audited kinds are stored and logged, and every kind is
//! counted in the metrics, which are derived from the kind alone. Details are
//! short classifications (`reason=credentials`), never a password, hash,
//! token, code or secret.

use std::net::IpAddr;

use crate::auth::attempt::Attempt;
use crate::auth::Client;

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
pub const AUDITED: [Kind; 22] = [
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
    /// The client address (or `-` when there is none, e.g. the CLI).
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

#[cfg(test)]
mod tests {
    use super::*;

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
