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
}
