//! What the lockout guard counts: which attempt it runs ([`Attempt`]), and
//! which refusals are failed attempts ([`Failure::of`]).
//!
//! Both are closed and exhaustive. An attempt's name is the `via=` of its
//! failure events and the `attempt` label of
//! `soloauth_rate_limited_total`, from a fixed set. Whether a refusal
//! counts towards the lockouts is decided by one `match` over every
//! [`AuthError`] (and every [`PasskeyRefusal`]) with no catch-all: a new
//! error variant does not compile until someone says whether it is a
//! wrong secret.

use super::error::PasskeyRefusal;
use super::AuthError;

/// An attempt the lockout guard runs or the rate limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The password step of a sign-in (and its optional TOTP code).
    Login,
    /// The code step of a sign-in (a TOTP or recovery code).
    LoginTotp,
    /// A passkey's answer at sign-in.
    Passkey,
    /// Starting a passkey sign-in (rate limited only: no secret yet).
    PasskeyStart,
    /// A refresh-token exchange (rate limited only).
    Refresh,
    /// The password given again for a sensitive action.
    Reauth,
    /// The code that confirms a TOTP enrollment.
    TotpConfirm,
    /// The code that turns TOTP off.
    TotpDisable,
    /// The code that replaces the recovery codes.
    RecoveryCodes,
}

impl Attempt {
    /// Every attempt.
    pub const ALL: [Attempt; 9] = [
        Attempt::Login,
        Attempt::LoginTotp,
        Attempt::Passkey,
        Attempt::PasskeyStart,
        Attempt::Refresh,
        Attempt::Reauth,
        Attempt::TotpConfirm,
        Attempt::TotpDisable,
        Attempt::RecoveryCodes,
    ];

    /// Its name in events (`via=`) and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Attempt::Login => "login",
            Attempt::LoginTotp => "login_totp",
            Attempt::Passkey => "passkey",
            Attempt::PasskeyStart => "passkey_start",
            Attempt::Refresh => "refresh",
            Attempt::Reauth => "reauth",
            Attempt::TotpConfirm => "totp_confirm",
            Attempt::TotpDisable => "totp_disable",
            Attempt::RecoveryCodes => "recovery_codes",
        }
    }
}

/// A failed attempt: a wrong secret, counted towards the lockouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A wrong username or password.
    Credentials,
    /// A wrong, used or expired TOTP or recovery code.
    Code,
    /// A passkey's answer that did not verify.
    Passkey,
}

impl Failure {
    /// Whether a refusal is a failed attempt, and which. Everything else
    /// (a spent challenge, a conflict, a limit, our own failure) returns
    /// the attempt's reservation uncounted.
    pub fn of(error: &AuthError) -> Option<Failure> {
        match error {
            AuthError::InvalidCredentials => Some(Failure::Credentials),
            AuthError::InvalidCode => Some(Failure::Code),
            AuthError::Passkey(refusal) => match refusal {
                PasskeyRefusal::UnknownKey
                | PasskeyRefusal::Invalid
                | PasskeyRefusal::UserNotVerified
                | PasskeyRefusal::CloneSuspected => Some(Failure::Passkey),
                // Nothing secret was checked: a spent or unknown ceremony,
                // a registration of a key already there.
                PasskeyRefusal::Challenge | PasskeyRefusal::AlreadyRegistered => None,
            },
            AuthError::InvalidToken
            | AuthError::TokenReused
            | AuthError::ReauthRequired
            | AuthError::SecondFactorRequired
            | AuthError::PasskeyRequired
            | AuthError::PasswordLoginOff
            | AuthError::Forbidden
            | AuthError::Locked { .. }
            | AuthError::RateLimited { .. }
            | AuthError::Busy { .. }
            | AuthError::Conflict(_)
            | AuthError::PasskeysOff(_)
            | AuthError::Storage(_)
            | AuthError::Internal(_) => None,
        }
    }

    /// The failure event's `reason=`.
    pub fn reason(self) -> &'static str {
        match self {
            Failure::Credentials => "credentials",
            Failure::Code => "code",
            Failure::Passkey => "passkey",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::error::FactorConflict;

    #[test]
    fn the_attempt_names_are_the_metric_labels_of_before() {
        let names: Vec<&str> = Attempt::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(
            names,
            [
                "login",
                "login_totp",
                "passkey",
                "passkey_start",
                "refresh",
                "reauth",
                "totp_confirm",
                "totp_disable",
                "recovery_codes"
            ]
        );
    }

    /// Every refusal, and what the lockout makes of it: only a wrong
    /// secret counts.
    #[test]
    fn only_wrong_secrets_are_failed_attempts() {
        let failed = |e: AuthError| Failure::of(&e);
        assert_eq!(
            failed(AuthError::InvalidCredentials),
            Some(Failure::Credentials)
        );
        assert_eq!(failed(AuthError::InvalidCode), Some(Failure::Code));
        for refusal in [
            PasskeyRefusal::UnknownKey,
            PasskeyRefusal::Invalid,
            PasskeyRefusal::UserNotVerified,
            PasskeyRefusal::CloneSuspected,
        ] {
            assert_eq!(failed(AuthError::Passkey(refusal)), Some(Failure::Passkey));
        }
        let storage = crate::storage::StoreError::Unencodable {
            tree: "t",
            key: "k".into(),
        };
        for uncounted in [
            AuthError::Passkey(PasskeyRefusal::Challenge),
            AuthError::Passkey(PasskeyRefusal::AlreadyRegistered),
            AuthError::InvalidToken,
            AuthError::TokenReused,
            AuthError::ReauthRequired,
            AuthError::SecondFactorRequired,
            AuthError::PasskeyRequired,
            AuthError::Forbidden,
            AuthError::Locked { retry_after: 1 },
            AuthError::RateLimited { retry_after: 1 },
            AuthError::Busy { retry_after: 1 },
            AuthError::Conflict(FactorConflict::NotEnabled),
            AuthError::PasskeysOff("off".into()),
            AuthError::Storage(storage),
            AuthError::internal("ours"),
        ] {
            assert_eq!(Failure::of(&uncounted), None, "{uncounted:?}");
        }
        let reasons = [Failure::Credentials, Failure::Code, Failure::Passkey].map(Failure::reason);
        assert_eq!(reasons, ["credentials", "code", "passkey"]);
    }
}
