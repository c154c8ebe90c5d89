//! The WebAuthn relying-party ID passkeys are bound to (`AUTH_WEBAUTHN_RP_ID`).
//!
//! Browsers bind a passkey to a domain: the page's host or a parent domain
//! of it, never an IP address. By default it is the public host. A parent
//! domain (`example.com` for `auth.example.com`) may be chosen so passkeys
//! survive a move between subdomains. An explicit ID that is an IP address,
//! or a domain the public host is not under, can never work: start-up
//! refuses it and says why. A public URL on a bare IP (a LAN test install)
//! is not refused: passkeys are simply off, with the reason kept for the
//! server to report. (Groundwork for passkeys: the ceremonies come next.)

use std::net::IpAddr;

use crate::base::rules::normalize_host;

/// Whether passkeys are on, and for which relying-party ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpId {
    /// Passkeys are bound to this domain (lower case).
    Domain(String),
    /// Passkeys are off; the text says why, for the log.
    Off(String),
}

/// The RP ID for `public_host` (host, maybe with a port) and the explicit
/// `AUTH_WEBAUTHN_RP_ID`, if set; `Err` names what is wrong with it.
pub fn resolve(explicit: Option<&str>, public_host: &str) -> Result<RpId, String> {
    let Some(host) = normalize_host(public_host) else {
        return Ok(RpId::Off(format!(
            "passkeys are off: the public host {public_host:?} is not a host name"
        )));
    };
    let Some(wanted) = explicit.map(|e| e.trim().trim_end_matches('.').to_ascii_lowercase()) else {
        return Ok(if is_ip(&host) {
            RpId::Off(format!(
                "passkeys are off: the public URL's host {host} is an IP address, \
                 and browsers bind passkeys only to a domain name"
            ))
        } else {
            RpId::Domain(host)
        });
    };
    if is_ip(&wanted) {
        return Err(format!(
            "AUTH_WEBAUTHN_RP_ID={wanted} is an IP address: browsers bind passkeys \
             only to a domain name"
        ));
    }
    let under = host == wanted || (wanted.contains('.') && host.ends_with(&format!(".{wanted}")));
    if !under {
        return Err(format!(
            "AUTH_WEBAUTHN_RP_ID={wanted} is neither the public host {host} nor a \
             parent domain of it (a single-label name like \"com\" is no parent): \
             browsers would refuse every passkey"
        ));
    }
    Ok(RpId::Domain(wanted))
}

fn is_ip(host: &str) -> bool {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(d: &str) -> Result<RpId, String> {
        Ok(RpId::Domain(d.into()))
    }

    #[test]
    fn the_public_host_by_default() {
        assert_eq!(
            resolve(None, "auth.example.com"),
            domain("auth.example.com")
        );
        assert_eq!(resolve(None, "localhost:8001"), domain("localhost"));
        assert_eq!(
            resolve(None, "Auth.Example.com:8443"),
            domain("auth.example.com")
        );
    }

    #[test]
    fn a_bare_ip_public_url_turns_passkeys_off_without_refusing() {
        for host in ["192.168.1.10:8001", "[::1]:8001", "10.0.0.2"] {
            let Ok(RpId::Off(why)) = resolve(None, host) else {
                panic!("{host}: passkeys should be off");
            };
            assert!(why.contains("IP address"), "{why}");
        }
    }

    #[test]
    fn a_parent_domain_may_be_chosen() {
        assert_eq!(
            resolve(Some("example.com"), "auth.example.com"),
            domain("example.com")
        );
        assert_eq!(
            resolve(Some("Example.com."), "a.b.example.com"),
            domain("example.com")
        );
        assert_eq!(
            resolve(Some("auth.example.com"), "auth.example.com:8443"),
            domain("auth.example.com")
        );
    }

    #[test]
    fn an_ip_or_an_unrelated_domain_is_refused_with_the_reason() {
        for (explicit, host, why) in [
            ("192.168.1.10", "192.168.1.10:8001", "is an IP address"),
            ("::1", "localhost", "is an IP address"),
            ("evil.com", "auth.example.com", "neither the public host"),
            ("ample.com", "auth.example.com", "neither the public host"),
            ("com", "auth.example.com", "single-label"),
            (
                "sub.auth.example.com",
                "auth.example.com",
                "neither the public host",
            ),
        ] {
            let err = resolve(Some(explicit), host).expect_err(explicit);
            assert!(err.contains(why), "{explicit}: {err}");
            assert!(err.contains("AUTH_WEBAUTHN_RP_ID"), "{err}");
        }
    }
}
