//! The one account and how its factors present themselves: the username,
//! the issuer authenticator apps show for TOTP, and the relying-party ID
//! passkeys are bound to (from the public host unless set; see
//! [`crate::base::rp_id`]), and whether a password may sign in at all
//! (`AUTH_PASSWORD_LOGIN`).

use crate::base::config::reader::Reader;
use crate::base::rp_id::{self, RpId};

/// The account settings read.
pub(super) struct Account {
    pub admin_username: String,
    pub totp_issuer: String,
    pub webauthn_rp_id: RpId,
    /// `AUTH_PASSWORD_LOGIN=off`: only a passkey signs in.
    pub password_login_off: bool,
}

/// Reads and checks the account settings; `public_host` is the host of the
/// public URL, which the relying-party ID must be or be a parent of.
pub(super) fn read(r: &mut Reader, public_host: &str) -> Account {
    let admin_username = r.text("AUTH_ADMIN_USERNAME", "admin");
    if admin_username.len() > 128
        || admin_username.chars().any(char::is_control)
        || admin_username.contains(':')
    {
        r.problem("AUTH_ADMIN_USERNAME must be at most 128 printable characters, without ':'");
    }
    let totp_issuer = r.text("AUTH_TOTP_ISSUER", "soloauth");
    if totp_issuer.contains(':') {
        r.problem("AUTH_TOTP_ISSUER must not contain ':' (authenticator apps split on it)");
    }
    let webauthn_rp_id = match rp_id::resolve(r.var("AUTH_WEBAUTHN_RP_ID").as_deref(), public_host)
    {
        Ok(id) => id,
        Err(problem) => {
            r.problem(problem);
            RpId::Off(String::new())
        }
    };
    let password_login_off = match r
        .text("AUTH_PASSWORD_LOGIN", "on")
        .to_ascii_lowercase()
        .as_str()
    {
        "on" => false,
        "off" => true,
        other => {
            r.problem(format!("AUTH_PASSWORD_LOGIN={other:?} is not on or off"));
            false
        }
    };
    Account {
        admin_username,
        totp_issuer,
        webauthn_rp_id,
        password_login_off,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::config::load;

    #[test]
    fn an_impossible_rp_id_stops_start_up_and_a_bare_ip_turns_passkeys_off() {
        let problems = load(&[
            ("AUTH_PUBLIC_URL", "https://auth.example.com"),
            ("AUTH_WEBAUTHN_RP_ID", "evil.com"),
        ])
        .unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("AUTH_WEBAUTHN_RP_ID=evil.com")),
            "{problems:?}"
        );
        let config = load(&[("AUTH_PUBLIC_URL", "http://192.168.1.10:8001")]).unwrap();
        assert!(matches!(config.webauthn_rp_id, RpId::Off(_)));
        let config = load(&[("AUTH_PUBLIC_URL", "https://auth.example.com")]).unwrap();
        assert_eq!(
            config.webauthn_rp_id,
            RpId::Domain("auth.example.com".into())
        );
    }

    #[test]
    fn password_login_is_on_unless_turned_off_and_a_typo_is_named() {
        assert!(!load(&[]).unwrap().password_login_off);
        assert!(
            load(&[("AUTH_PASSWORD_LOGIN", "OFF")])
                .unwrap()
                .password_login_off
        );
        assert!(
            !load(&[("AUTH_PASSWORD_LOGIN", "on")])
                .unwrap()
                .password_login_off
        );
        let problems = load(&[("AUTH_PASSWORD_LOGIN", "no")]).unwrap_err();
        assert!(
            problems.iter().any(|p| p.contains("AUTH_PASSWORD_LOGIN")),
            "{problems:?}"
        );
    }
}
