//! How a sign-in was made: the authentication methods (`amr`, RFC 8176) a
//! session records, its access tokens and ID tokens carry, and `/auth/me`
//! answers. One closed vocabulary, serialised as the RFC's lowercase names,
//! exactly the strings stored and sent before it was a type: a session
//! written by an older build decodes as it always did.

use serde::{Deserialize, Serialize};

/// One authentication method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Amr {
    /// The password.
    Pwd,
    /// A one-time code: a TOTP code or a recovery code.
    Otp,
    /// A hardware-bound key: a passkey.
    Hwk,
    /// More than one factor in one: a passkey that verified its user.
    Mfa,
}

impl Amr {
    /// Every method, in the order a sign-in lists them.
    pub const ALL: [Amr; 4] = [Amr::Pwd, Amr::Otp, Amr::Hwk, Amr::Mfa];

    /// The name tokens and the API carry.
    pub fn as_str(self) -> &'static str {
        match self {
            Amr::Pwd => "pwd",
            Amr::Otp => "otp",
            Amr::Hwk => "hwk",
            Amr::Mfa => "mfa",
        }
    }

    /// Whether this method is a second factor (something held), which
    /// two-factor rules ask for.
    pub fn is_second_factor(self) -> bool {
        match self {
            Amr::Otp | Amr::Hwk => true,
            Amr::Pwd | Amr::Mfa => false,
        }
    }
}

/// How strong a sign-in was, weakest first: what an OIDC app requires
/// (`AUTH_OIDC_CLIENT_<NAME>_POLICY`, the page's apps, `acr_values`) and
/// what an ID token's `acr` says. The names are the access rules'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assurance {
    /// Any sign-in.
    #[default]
    OneFactor,
    /// With a second factor (`otp` or `hwk`).
    TwoFactor,
    /// With a passkey (`hwk`): phishing-resistant.
    Passkey,
}

impl Assurance {
    /// Every level, weakest first.
    pub const ALL: [Assurance; 3] = [
        Assurance::OneFactor,
        Assurance::TwoFactor,
        Assurance::Passkey,
    ];

    /// The name in variables, the API, `acr` and `acr_values`.
    pub fn as_str(self) -> &'static str {
        match self {
            Assurance::OneFactor => "one_factor",
            Assurance::TwoFactor => "two_factor",
            Assurance::Passkey => "passkey",
        }
    }

    /// The level named `name`, if it is one.
    pub fn parse(name: &str) -> Option<Assurance> {
        Assurance::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The strongest level a sign-in with these methods meets.
    pub fn of(amr: &[Amr]) -> Assurance {
        if amr.contains(&Amr::Hwk) {
            Assurance::Passkey
        } else if amr.iter().any(|m| m.is_second_factor()) {
            Assurance::TwoFactor
        } else {
            Assurance::OneFactor
        }
    }
}

/// `pwd+otp`, as event details show a sign-in's methods.
pub fn joined(amr: &[Amr]) -> String {
    let names: Vec<&str> = amr.iter().map(|m| m.as_str()).collect();
    names.join("+")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_are_the_strings_stored_and_sent_before() {
        for amr in Amr::ALL {
            let json = serde_json::to_string(&amr).unwrap();
            assert_eq!(json, format!("\"{}\"", amr.as_str()));
            assert_eq!(serde_json::from_str::<Amr>(&json).unwrap(), amr);
        }
        let names: Vec<&str> = Amr::ALL.iter().map(|m| m.as_str()).collect();
        assert_eq!(names, ["pwd", "otp", "hwk", "mfa"]);
        assert!(serde_json::from_str::<Amr>("\"PWD\"").is_err());
        assert!(serde_json::from_str::<Amr>("\"sms\"").is_err());
        assert_eq!(joined(&[Amr::Pwd, Amr::Otp]), "pwd+otp");
    }

    #[test]
    fn a_sign_in_meets_the_strongest_level_its_methods_reach() {
        use Amr::*;
        assert_eq!(Assurance::of(&[Pwd]), Assurance::OneFactor);
        assert_eq!(Assurance::of(&[Pwd, Otp]), Assurance::TwoFactor);
        assert_eq!(Assurance::of(&[Pwd, Hwk]), Assurance::Passkey);
        assert_eq!(Assurance::of(&[Hwk, Mfa]), Assurance::Passkey);
        assert!(
            Assurance::OneFactor < Assurance::TwoFactor
                && Assurance::TwoFactor < Assurance::Passkey
        );
        for level in Assurance::ALL {
            assert_eq!(Assurance::parse(level.as_str()), Some(level));
            let json = serde_json::to_string(&level).unwrap();
            assert_eq!(json, format!("\"{}\"", level.as_str()));
        }
        assert_eq!(Assurance::parse("mfa"), None);
    }
}
