//! Forward auth's verdict: which credential of a request passes, and
//! whether the rule's policy lets it through.
//!
//! A browser sends the session cookie and, while it lasts, the access
//! cookie (a sibling subdomain may have planted more cookies of the same
//! names); a script sends a Bearer access token. Every credential present
//! is tried, cheapest first, until one passes (one with a second factor
//! under `two_factor`, with a passkey under `passkey`): an app's own
//! `Authorization` header or a planted cookie never hides a browser's live
//! session. The policy comes from the
//! access rules (`crate::base::rules`).

use super::sessions::{Passport, Sessions};
use super::{AuthError, AuthResult};
use crate::base::amr::Assurance;
use crate::base::rules::Policy;

/// The credentials a forward-auth request carried.
#[derive(Default)]
pub struct Credentials<'a> {
    /// Values of `soloauth_session` cookies.
    pub session_cookies: Vec<&'a str>,
    /// Access tokens: `soloauth_access` cookies, then a Bearer token.
    pub access_tokens: Vec<&'a str>,
}

/// Lets a request through under `policy`: `Ok(None)` for `bypass` (no
/// identity asked or given), `Ok(Some)` for a live session the policy
/// accepts. Refusals: `Forbidden` (`deny`), `InvalidToken` (no live
/// session), `SecondFactorRequired` (a password-only session under
/// `two_factor`), `PasskeyRequired` (a session without a passkey under
/// `passkey`).
pub fn admit(
    sessions: &Sessions<'_>,
    policy: Policy,
    credentials: &Credentials<'_>,
    now: i64,
) -> AuthResult<Option<Passport>> {
    let shortfall = match policy {
        Policy::Deny => return Err(AuthError::Forbidden),
        Policy::Bypass => return Ok(None),
        Policy::OneFactor => None,
        Policy::TwoFactor => Some(AuthError::SecondFactorRequired),
        Policy::Passkey => Some(AuthError::PasskeyRequired),
    };
    let passport = identify(sessions, credentials, policy, now)?.ok_or(AuthError::InvalidToken)?;
    match shortfall {
        Some(refusal) if !meets(&passport, policy) => Err(refusal),
        _ => Ok(Some(passport)),
    }
}

/// Whether a session's sign-in is strong enough for `policy`.
fn meets(passport: &Passport, policy: Policy) -> bool {
    let needed = match policy {
        Policy::Bypass | Policy::OneFactor => Assurance::OneFactor,
        Policy::TwoFactor => Assurance::TwoFactor,
        Policy::Passkey => Assurance::Passkey,
        Policy::Deny => return false,
    };
    passport.assurance >= needed
}

/// The first credential that names a live session strong enough for
/// `policy`; else the first live one (whose refusal says what it lacks).
fn identify(
    sessions: &Sessions<'_>,
    credentials: &Credentials<'_>,
    policy: Policy,
    now: i64,
) -> AuthResult<Option<Passport>> {
    let mut weaker = None;
    let mut consider = |passport: Option<Passport>| match passport {
        Some(p) if meets(&p, policy) => Some(p),
        Some(p) => {
            weaker.get_or_insert(p);
            None
        }
        None => None,
    };
    for cookie in &credentials.session_cookies {
        if let Some(p) = consider(sessions.pass_session_cookie(cookie, now)?) {
            return Ok(Some(p));
        }
    }
    for token in &credentials.access_tokens {
        if let Some(p) = consider(sessions.pass_access_token(token, now)?) {
            return Ok(Some(p));
        }
    }
    Ok(weaker)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testkit::{client, Kit, NOW};
    use crate::base::amr::Amr;
    use crate::base::secret::ExposeSecret;

    async fn session(kit: &Kit, amr: &[Amr]) -> crate::auth::sessions::TokenPair {
        kit.sessions()
            .start(amr.to_vec(), &client(), true, NOW)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_session_cookie_outlives_the_access_token() {
        let kit = Kit::new(5);
        let pair = session(&kit, &[Amr::Pwd]).await;
        let secret = pair.session_secret.as_ref().unwrap().expose_secret();
        let creds = Credentials {
            session_cookies: vec![secret],
            access_tokens: vec![&pair.access_token],
        };
        let later = NOW + 3 * 86_400;
        let passport = admit(&kit.sessions(), Policy::OneFactor, &creds, later).unwrap();
        assert_eq!(passport.unwrap().session_id, pair.session.id);
        let token_only = Credentials {
            access_tokens: vec![&pair.access_token],
            ..Credentials::default()
        };
        assert!(matches!(
            admit(&kit.sessions(), Policy::OneFactor, &token_only, later),
            Err(AuthError::InvalidToken)
        ));
    }

    #[tokio::test]
    async fn policies_decide() {
        let kit = Kit::new(5);
        let weak = session(&kit, &[Amr::Pwd]).await;
        let strong = session(&kit, &[Amr::Pwd, Amr::Otp]).await;
        fn creds(pair: &crate::auth::sessions::TokenPair) -> Credentials<'_> {
            Credentials {
                access_tokens: vec![pair.access_token.as_str()],
                ..Credentials::default()
            }
        }
        let s = kit.sessions();
        assert!(matches!(
            admit(&s, Policy::TwoFactor, &creds(&weak), NOW),
            Err(AuthError::SecondFactorRequired)
        ));
        assert!(admit(&s, Policy::TwoFactor, &creds(&strong), NOW)
            .unwrap()
            .is_some());
        assert!(matches!(
            admit(&s, Policy::Deny, &creds(&strong), NOW),
            Err(AuthError::Forbidden)
        ));
        assert!(admit(&s, Policy::Bypass, &Credentials::default(), NOW)
            .unwrap()
            .is_none());
        // Under two_factor, a strong credential behind a weak one is found.
        let both = Credentials {
            access_tokens: vec![&weak.access_token, &strong.access_token],
            ..Credentials::default()
        };
        let p = admit(&s, Policy::TwoFactor, &both, NOW).unwrap().unwrap();
        assert_eq!(p.session_id, strong.session.id);
        let p = admit(&s, Policy::OneFactor, &both, NOW).unwrap().unwrap();
        assert_eq!(p.session_id, weak.session.id, "else the first");
    }

    #[tokio::test]
    async fn the_passkey_policy_wants_a_passkey_not_just_two_factors() {
        let kit = Kit::new(5);
        let s = kit.sessions();
        let code = session(&kit, &[Amr::Pwd, Amr::Otp]).await;
        let alone = session(&kit, &[Amr::Hwk, Amr::Mfa]).await;
        let second = session(&kit, &[Amr::Pwd, Amr::Hwk]).await;
        let with = |pair: &crate::auth::sessions::TokenPair| {
            let token = pair.access_token.clone();
            admit(
                &s,
                Policy::Passkey,
                &Credentials {
                    access_tokens: vec![&token],
                    ..Credentials::default()
                },
                NOW,
            )
            .map(|p| p.map(|p| p.session_id))
        };
        assert!(matches!(with(&code), Err(AuthError::PasskeyRequired)));
        assert_eq!(with(&alone).unwrap(), Some(alone.session.id.clone()));
        assert_eq!(with(&second).unwrap(), Some(second.session.id.clone()));
        let both = Credentials {
            access_tokens: vec![&code.access_token, &second.access_token],
            ..Credentials::default()
        };
        let p = admit(&s, Policy::Passkey, &both, NOW).unwrap().unwrap();
        assert_eq!(
            p.session_id, second.session.id,
            "the passkey session behind the other"
        );
    }

    #[tokio::test]
    async fn a_forged_or_revoked_session_cookie_fails() {
        let kit = Kit::new(5);
        let pair = session(&kit, &[Amr::Pwd]).await;
        let forged = format!("{}.{}", pair.session.id, "A".repeat(43));
        let s = kit.sessions();
        fn with(cookie: &str) -> Credentials<'_> {
            Credentials {
                session_cookies: vec![cookie],
                ..Credentials::default()
            }
        }
        assert!(admit(&s, Policy::OneFactor, &with(&forged), NOW).is_err());
        let secret = pair.session_secret.as_ref().unwrap().expose_secret();
        let planted = Credentials {
            session_cookies: vec![&forged, secret],
            ..Credentials::default()
        };
        assert!(
            admit(&s, Policy::OneFactor, &planted, NOW).is_ok(),
            "a planted cookie of the same name does not hide the real one"
        );
        let secret = pair.session_secret.as_ref().unwrap().expose_secret();
        assert!(admit(&s, Policy::OneFactor, &with(secret), NOW).is_ok());
        s.revoke(&pair.session.id).await.unwrap();
        assert!(admit(&s, Policy::OneFactor, &with(secret), NOW).is_err());
    }
}
