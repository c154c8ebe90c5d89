//! Forward auth's verdict: which credential of a request passes, and
//! whether the rule's policy lets it through.
//!
//! A browser sends up to two cookies (the session cookie, and the access
//! token while it lasts) and a script a Bearer access token. Each present
//! credential is tried, cheapest first, until one passes: an app's own
//! `Authorization` header never hides a browser's live session. The policy
//! comes from the access rules (`crate::base::rules`).

use super::sessions::{Passport, Sessions};
use super::{AuthError, AuthResult};
use crate::base::rules::Policy;

/// The credentials a forward-auth request carried.
#[derive(Default)]
pub struct Credentials<'a> {
    pub session_cookie: Option<&'a str>,
    pub access_cookie: Option<&'a str>,
    pub bearer: Option<&'a str>,
}

/// Lets a request through under `policy`: `Ok(None)` for `bypass` (no
/// identity asked or given), `Ok(Some)` for a live session the policy
/// accepts. Refusals: `Forbidden` (`deny`), `InvalidToken` (no live
/// session), `SecondFactorRequired` (a password-only session under
/// `two_factor`).
pub fn admit(
    sessions: &Sessions<'_>,
    policy: Policy,
    credentials: &Credentials<'_>,
    now: i64,
) -> AuthResult<Option<Passport>> {
    match policy {
        Policy::Deny => return Err(AuthError::Forbidden),
        Policy::Bypass => return Ok(None),
        Policy::OneFactor | Policy::TwoFactor => {}
    }
    let passport = identify(sessions, credentials, now)?.ok_or(AuthError::InvalidToken)?;
    if policy == Policy::TwoFactor && !passport.second_factor {
        return Err(AuthError::SecondFactorRequired);
    }
    Ok(Some(passport))
}

/// The first credential that names a live session.
fn identify(
    sessions: &Sessions<'_>,
    credentials: &Credentials<'_>,
    now: i64,
) -> AuthResult<Option<Passport>> {
    if let Some(cookie) = credentials.session_cookie {
        if let Some(p) = sessions.pass_session_cookie(cookie, now)? {
            return Ok(Some(p));
        }
    }
    for token in [credentials.access_cookie, credentials.bearer]
        .into_iter()
        .flatten()
    {
        if let Some(p) = sessions.pass_access_token(token, now)? {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testkit::{client, Kit, NOW};
    use crate::base::secret::ExposeSecret;

    async fn session(kit: &Kit, amr: &[&str]) -> crate::auth::sessions::TokenPair {
        let amr = amr.iter().map(|m| m.to_string()).collect();
        kit.sessions()
            .start(amr, &client(), true, NOW)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_session_cookie_outlives_the_access_token() {
        let kit = Kit::new(5);
        let pair = session(&kit, &["pwd"]).await;
        let secret = pair.session_secret.as_ref().unwrap().expose_secret();
        let creds = Credentials {
            session_cookie: Some(secret),
            access_cookie: Some(&pair.access_token),
            bearer: None,
        };
        let later = NOW + 3 * 86_400;
        let passport = admit(&kit.sessions(), Policy::OneFactor, &creds, later).unwrap();
        assert_eq!(passport.unwrap().session_id, pair.session.id);
        let token_only = Credentials {
            access_cookie: Some(&pair.access_token),
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
        let weak = session(&kit, &["pwd"]).await;
        let strong = session(&kit, &["pwd", "otp"]).await;
        fn creds(pair: &crate::auth::sessions::TokenPair) -> Credentials<'_> {
            Credentials {
                bearer: Some(pair.access_token.as_str()),
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
    }

    #[tokio::test]
    async fn a_forged_or_revoked_session_cookie_fails() {
        let kit = Kit::new(5);
        let pair = session(&kit, &["pwd"]).await;
        let forged = format!("{}.{}", pair.session.id, "A".repeat(43));
        let s = kit.sessions();
        fn with(cookie: &str) -> Credentials<'_> {
            Credentials {
                session_cookie: Some(cookie),
                ..Credentials::default()
            }
        }
        assert!(admit(&s, Policy::OneFactor, &with(&forged), NOW).is_err());
        let secret = pair.session_secret.as_ref().unwrap().expose_secret();
        assert!(admit(&s, Policy::OneFactor, &with(secret), NOW).is_ok());
        s.revoke(&pair.session.id).await.unwrap();
        assert!(admit(&s, Policy::OneFactor, &with(secret), NOW).is_err());
    }
}
