//! What can go wrong in an auth decision, with no HTTP in sight.
//!
//! Every domain function returns [`AuthResult`]. The HTTP layer maps each
//! variant to a status and an error code in one place (`http::error`);
//! nothing here knows about either. Messages never hold a secret.

/// A conflict with the state of the second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FactorConflict {
    #[error("TOTP is already enabled; disable it first to enroll a new device")]
    AlreadyEnabled,
    #[error("TOTP is not enabled")]
    NotEnabled,
    #[error("no TOTP enrollment is pending (or it expired); start a new one")]
    NothingPending,
    #[error("TOTP is set by AUTH_TOTP_SECRET; change it in the environment")]
    ManagedByEnv,
    #[error("add a passkey first: with password sign-in off, only a passkey signs in")]
    NoPasskey,
    #[error("password sign-in is off: turn it back on before removing the last passkey")]
    LastPasskey,
    #[error("AUTH_PASSWORD_LOGIN=off keeps password sign-in off; change it in the environment")]
    PasswordLoginByEnv,
}

/// Why a passkey was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasskeyRefusal {
    #[error("this passkey challenge is unknown, already used or expired: start again")]
    Challenge,
    #[error("this passkey is not registered here (it may have been removed)")]
    UnknownKey,
    #[error("this passkey is already registered")]
    AlreadyRegistered,
    #[error("the passkey's answer did not verify")]
    Invalid,
    #[error(
        "the passkey did not verify its user (PIN, fingerprint or face): a passkey alone needs it"
    )]
    UserNotVerified,
    #[error("this passkey's signature counter went backwards, as a cloned key's would: refused")]
    CloneSuspected,
}

/// Why an auth decision was refused or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("invalid or already used code")]
    InvalidCode,
    #[error("missing, invalid, expired or revoked token")]
    InvalidToken,
    #[error("this refresh token was already used; the session has been revoked")]
    TokenReused,
    #[error("this action needs a recent sign-in: send the current password as \"password\"")]
    ReauthRequired,
    #[error("this app needs a sign-in with a second factor (a TOTP code or a passkey)")]
    SecondFactorRequired,
    #[error("this app needs a sign-in with a passkey")]
    PasskeyRequired,
    #[error(
        "password sign-in is off for this account: sign in with a passkey (every passkey \
         lost: the password with a recovery code)"
    )]
    PasswordLoginOff,
    #[error("access to this app is denied")]
    Forbidden,
    #[error("too many failed attempts; try again later")]
    Locked { retry_after: u64 },
    #[error("too many requests; slow down")]
    RateLimited { retry_after: u64 },
    #[error("the server is busy; try again shortly")]
    Busy { retry_after: u64 },
    #[error("{0}")]
    Conflict(FactorConflict),
    #[error("{0}")]
    Passkey(PasskeyRefusal),
    /// Passkeys cannot be used here; the text says why.
    #[error("{0}")]
    PasskeysOff(String),
    #[error("storage error: {0}")]
    Storage(#[from] crate::storage::StoreError),
    /// A failure that is ours, not the client's: the text is for the log.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AuthError {
    /// An internal failure; `detail` goes to the log and must hold no secret.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        AuthError::Internal(detail.to_string())
    }
}

/// Shorthand for domain results.
pub type AuthResult<T> = Result<T, AuthError>;
