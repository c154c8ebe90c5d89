//! The factors a sign-in is made of, and the credentials that prove them.
//!
//! [`Factor`] names each way the owner proves who they are; [`Credential`]
//! is one offered, with what proves it. The login flow checks every
//! credential in one place, `LoginFlow::check` (one `match`, each arm the
//! whole check of its factor), in the manner of kanidm's `CredHandler`:
//! where a sign-in stands ([`Stage`]) decides which factors it accepts
//! next. Everything that follows from a factor is a `match` here with no
//! catch-all (its `amr`, where it is accepted, whether alone it is two
//! factors), so a new factor is a compile error at every place that must
//! decide about it.

use webauthn_rp::NonDiscoverableAuthentication64;

use super::passkeys::{Answer, LoginCeremony};
use crate::base::amr::Amr;
use crate::base::secret::SecretString;

/// A way to prove who the owner is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Password,
    Totp,
    RecoveryCode,
    Passkey,
}

/// Where a sign-in stands: what it has proven so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Nothing yet (also a password given again for a sensitive action).
    Start,
    /// The password, in this request or against an `mfa_token`.
    AfterPassword,
}

impl Factor {
    /// The method it adds to a sign-in's `amr`.
    pub fn amr(self) -> Amr {
        match self {
            Factor::Password => Amr::Pwd,
            Factor::Totp | Factor::RecoveryCode => Amr::Otp,
            Factor::Passkey => Amr::Hwk,
        }
    }

    /// Whether a sign-in at `stage` takes this factor next.
    /// The factor's name in the API (`mfa_required`'s `factors`, `/auth/me`).
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::Password => "password",
            Factor::Totp => "totp",
            Factor::RecoveryCode => "recovery_code",
            Factor::Passkey => "passkey",
        }
    }

    pub fn accepted_at(self, stage: Stage) -> bool {
        match (self, stage) {
            (Factor::Password | Factor::Passkey, Stage::Start) => true,
            (Factor::Totp | Factor::RecoveryCode, Stage::Start) => false,
            (Factor::Totp | Factor::RecoveryCode | Factor::Passkey, Stage::AfterPassword) => true,
            (Factor::Password, Stage::AfterPassword) => false,
        }
    }

    /// Whether it is a whole sign-in on its own: a passkey, whose ceremony
    /// alone requires user verification (something held, and something
    /// known or been).
    pub fn is_whole(self) -> bool {
        match self {
            Factor::Passkey => true,
            Factor::Password | Factor::Totp | Factor::RecoveryCode => false,
        }
    }
}

/// The `amr` of a sign-in made of `factors`, in order: each factor's
/// method, and `mfa` after a factor that is a whole sign-in alone.
pub fn amr_of(factors: &[Factor]) -> Vec<Amr> {
    let mut amr: Vec<Amr> = factors.iter().map(|f| f.amr()).collect();
    if let [only] = factors {
        if only.is_whole() {
            amr.push(Amr::Mfa);
        }
    }
    amr
}

/// A credential offered at sign-in.
pub enum Credential<'a> {
    /// A username and password (the configured username, to sign in again).
    Password {
        username: &'a str,
        password: SecretString,
    },
    Totp(SecretString),
    RecoveryCode(SecretString),
    /// A browser's answer to the sign-in ceremony it was taken from.
    Passkey {
        ceremony: LoginCeremony,
        answer: &'a Answer<NonDiscoverableAuthentication64>,
    },
}

impl Credential<'_> {
    /// The factor it proves.
    pub fn factor(&self) -> Factor {
        match self {
            Credential::Password { .. } => Factor::Password,
            Credential::Totp(_) => Factor::Totp,
            Credential::RecoveryCode(_) => Factor::RecoveryCode,
            Credential::Passkey { .. } => Factor::Passkey,
        }
    }
}

/// A factor that checked out, and what names it (a passkey's id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub factor: Factor,
    pub passkey: Option<String>,
}

impl Checked {
    /// `factor`, with nothing to name.
    pub fn of(factor: Factor) -> Self {
        Checked {
            factor,
            passkey: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Factor; 4] = [
        Factor::Password,
        Factor::Totp,
        Factor::RecoveryCode,
        Factor::Passkey,
    ];

    #[test]
    fn sign_ins_carry_the_amr_of_before() {
        use Factor::*;
        let amr = |factors: &[Factor]| amr_of(factors);
        assert_eq!(amr(&[Password]), [Amr::Pwd]);
        assert_eq!(amr(&[Password, Totp]), [Amr::Pwd, Amr::Otp]);
        assert_eq!(amr(&[Password, RecoveryCode]), [Amr::Pwd, Amr::Otp]);
        assert_eq!(amr(&[Password, Passkey]), [Amr::Pwd, Amr::Hwk]);
        assert_eq!(amr(&[Passkey]), [Amr::Hwk, Amr::Mfa]);
    }

    #[test]
    fn a_sign_in_starts_with_a_password_or_a_passkey_and_a_code_follows_the_password() {
        let at = |stage| {
            ALL.into_iter()
                .filter(|f| f.accepted_at(stage))
                .collect::<Vec<_>>()
        };
        assert_eq!(at(Stage::Start), [Factor::Password, Factor::Passkey]);
        assert_eq!(
            at(Stage::AfterPassword),
            [Factor::Totp, Factor::RecoveryCode, Factor::Passkey]
        );
        for factor in ALL {
            assert_eq!(
                factor.amr().is_second_factor(),
                factor != Factor::Password,
                "{factor:?}"
            );
        }
    }
}
