//! Session lifecycle: start after a login, rotate on refresh, authenticate
//! access tokens and session cookies, revoke.
//!
//! A session ends at logout or revocation, after `refresh_ttl` seconds with
//! no activity (any authenticated request, forward auth included), or
//! `max_age` seconds after its login, whichever comes first. Besides the
//! access and refresh tokens, a login mints a session cookie secret: it
//! lives as long as the session and is accepted by forward auth alone, so
//! an app's background requests pass long after the access token expired.
//!
//! [`Sessions`] is a narrow service over the store and the token keys, with
//! the lifetimes it applies; every function takes `now`. Every function that
//! changes a session flushes the store before it returns, so what the client
//! is told has happened is on disk.

use std::net::IpAddr;
use std::sync::Arc;

use super::events::{Event, Events, Kind, Seen};
use super::refresh;
use super::tokens::{AccessClaims, JwtKeys};
use super::{AuthError, AuthResult, Client};
use crate::base::amr::{Amr, Assurance};
use crate::base::secret::ct_eq;
use crate::base::secret::SecretString;
use crate::storage::sessions::{Lifetime, Rotation, Session, TOUCH_INTERVAL};
use crate::storage::Store;

/// How long tokens and sessions live.
#[derive(Debug, Clone)]
pub struct SessionPolicy {
    /// Access-token lifetime, seconds.
    pub access_ttl: i64,
    /// Idle limit of a session and lifetime of its refresh token (sliding),
    /// seconds.
    pub refresh_ttl: i64,
    /// Absolute limit of a session after its login, seconds.
    pub max_age: i64,
    /// A refresh token presented again this soon after its rotation is a
    /// race, not a theft (seconds).
    pub refresh_grace: i64,
    /// A session that signed in this recently may take sensitive actions
    /// without the password (seconds).
    pub reauth_seconds: i64,
}

impl SessionPolicy {
    /// The sliding and absolute limits as the store applies them.
    pub fn lifetime(&self) -> Lifetime {
        Lifetime {
            idle: self.refresh_ttl,
            max_age: self.max_age,
        }
    }
}

/// A new access token and refresh token for a session.
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: SecretString,
    /// The session cookie's value: only at login (a refresh keeps it).
    pub session_secret: Option<SecretString>,
    pub session: Session,
}

/// Who forward auth found behind a request.
#[derive(Debug, Clone)]
pub struct Passport {
    pub session_id: String,
    /// How strong the session's sign-in was.
    pub assurance: Assurance,
}

/// Whether an `amr` list holds a second factor.
pub fn has_second_factor(amr: &[Amr]) -> bool {
    Assurance::of(amr) >= Assurance::TwoFactor
}

/// Why a request ends a session (the detail of its `session_revoked`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd<'a> {
    /// The session signed itself out.
    Logout,
    /// The owner revoked it from session `by`.
    RevokedBy(&'a str),
    /// An app asked to end its sign-in (`/oidc/logout`).
    OidcLogout,
}

impl SessionEnd<'_> {
    fn detail(self) -> String {
        match self {
            SessionEnd::Logout => "reason=logout".into(),
            SessionEnd::RevokedBy(by) => format!("by={by}"),
            SessionEnd::OidcLogout => "reason=oidc_logout".into(),
        }
    }
}

/// An authenticated request: valid access token, live session. Only
/// [`Sessions::authenticate`] makes one, from an access token (host-only:
/// the session cookie never proves a principal).
#[derive(Debug, Clone)]
pub struct Principal {
    pub claims: Arc<AccessClaims>,
    pub session: Session,
    _from: FromAccessToken,
}

/// The private mark of a [`Principal`]: only this module makes one.
#[derive(Debug, Clone, Copy)]
struct FromAccessToken;

/// A refresh that did not produce tokens.
#[derive(Debug, PartialEq)]
pub enum RefreshRefused {
    /// Unknown, malformed or expired, or presented again within the grace
    /// period: the session (if any) is untouched.
    Invalid,
    /// An already rotated token after the grace period: session `sid` is revoked.
    Reused { sid: String },
}

/// A session as the owner sees it: never its hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: String,
    pub user_agent: String,
}

impl From<Session> for SessionView {
    fn from(s: Session) -> Self {
        SessionView {
            id: s.id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            ip: s.ip,
            user_agent: s.user_agent,
        }
    }
}

/// Sessions over the store and the token keys.
pub struct Sessions<'a> {
    pub store: &'a Store,
    pub keys: &'a JwtKeys,
    pub policy: &'a SessionPolicy,
}

impl Sessions<'_> {
    fn pair(
        &self,
        session: Session,
        refresh_token: SecretString,
        now: i64,
    ) -> AuthResult<TokenPair> {
        let access_token = self
            .keys
            .issue(&session.id, &session.amr, now, self.policy.access_ttl)
            .map_err(AuthError::internal)?;
        Ok(TokenPair {
            access_token,
            refresh_token,
            session_secret: None,
            session,
        })
    }

    /// Notes a complete sign-in's client and answers whether its address
    /// (an IPv6 address by its /64, as the lockout counts it) and user agent
    /// were seen at earlier sign-ins. Written with the session that follows.
    /// On a data directory from before this record, the live sessions'
    /// clients are learnt first.
    pub fn note_client(&self, client: &Client, now: i64) -> AuthResult<Seen> {
        let network = |ip: IpAddr| super::lockout::client_key(ip).to_string();
        if self.store.seen_is_empty() {
            for session in self.store.list_sessions(now)? {
                if let Ok(ip) = session.ip.parse() {
                    let at = session.last_seen_at;
                    self.store
                        .note_sign_in(&network(ip), &session.user_agent, at)?;
                }
            }
        }
        let (ip, user_agent) =
            self.store
                .note_sign_in(&network(client.ip), &client.user_agent, now)?;
        Ok(Seen { ip, user_agent })
    }

    /// Starts a session for the admin after a complete login; `remember`
    /// makes its cookies outlive the browser session.
    pub async fn start(
        &self,
        amr: Vec<Amr>,
        client: &Client,
        remember: bool,
        now: i64,
    ) -> AuthResult<TokenPair> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let refresh = refresh::mint(&id);
        let cookie = refresh::mint(&id);
        let session = Session {
            id,
            created_at: now,
            last_seen_at: now,
            expires_at: self.policy.lifetime().deadline(now, now),
            ip: client.ip.to_string(),
            user_agent: client.user_agent.clone(),
            amr,
            refresh_hash: refresh.hash,
            cookie_hash: cookie.hash,
            remember,
            consents: Vec::new(),
        };
        self.store.put_session(&session)?;
        self.store.flush().await?;
        let mut pair = self.pair(session, refresh.token, now)?;
        pair.session_secret = Some(cookie.token);
        Ok(pair)
    }

    /// Rotates a refresh token: the presented one dies, a new pair is returned.
    pub async fn rotate(
        &self,
        presented: &str,
        now: i64,
    ) -> AuthResult<Result<TokenPair, RefreshRefused>> {
        let Some((sid, presented_hash)) = refresh::parse(presented) else {
            return Ok(Err(RefreshRefused::Invalid));
        };
        let next = refresh::mint(sid);
        let rotation = self.store.rotate_refresh(
            sid,
            &presented_hash,
            &next.hash,
            now,
            self.policy.lifetime(),
            self.policy.refresh_grace,
        )?;
        self.store.flush().await?;
        Ok(match rotation {
            Rotation::Rotated(session) => Ok(self.pair(*session, next.token, now)?),
            Rotation::Reused => Err(RefreshRefused::Reused {
                sid: sid.to_string(),
            }),
            Rotation::Raced | Rotation::Invalid => Err(RefreshRefused::Invalid),
        })
    }

    /// Checks an access token and that its session is still live.
    pub fn authenticate(&self, token: &str, now: i64) -> AuthResult<Principal> {
        let claims = self
            .keys
            .verify(token, now)
            .ok_or(AuthError::InvalidToken)?;
        let session = self
            .store
            .live_session(&claims.sid, now)?
            .ok_or(AuthError::InvalidToken)?;
        Ok(Principal {
            claims,
            session,
            _from: FromAccessToken,
        })
    }

    /// Records activity on an authenticated session, sliding its idle
    /// deadline (at most once a minute; not flushed).
    pub fn touch(&self, principal: &Principal, now: i64) -> AuthResult<()> {
        let lifetime = self.policy.lifetime();
        if now - principal.session.last_seen_at < TOUCH_INTERVAL {
            return Ok(());
        }
        Ok(self
            .store
            .touch_session(&principal.session.id, now, lifetime)?)
    }

    /// Forward auth's check of an access token: [`Sessions::authenticate`]
    /// reading only what it needs of the session, and recording activity.
    pub fn pass_access_token(&self, token: &str, now: i64) -> AuthResult<Option<Passport>> {
        let Some(claims) = self.keys.verify(token, now) else {
            return Ok(None);
        };
        self.pass_session(&claims.sid, now, |_| true)
    }

    /// Forward auth's check of a session cookie: the session it names is
    /// live and the cookie's secret is the one minted at its login.
    pub fn pass_session_cookie(&self, cookie: &str, now: i64) -> AuthResult<Option<Passport>> {
        let Some((sid, hash)) = refresh::parse(cookie) else {
            return Ok(None);
        };
        self.pass_session(sid, now, |stored| ct_eq(stored.as_bytes(), hash.as_bytes()))
    }

    /// The passport of live session `sid` if `proof` accepts its cookie
    /// hash; records activity (at most every [`TOUCH_INTERVAL`] seconds).
    fn pass_session(
        &self,
        sid: &str,
        now: i64,
        proof: impl Fn(&str) -> bool,
    ) -> AuthResult<Option<Passport>> {
        let seen = self.store.with_live_session_gate(sid, now, |gate| {
            let assurance = Assurance::of(&gate.amr);
            proof(&gate.cookie_hash).then_some((gate.last_seen_at, assurance))
        });
        let seen = match seen {
            Ok(seen) => seen,
            // A session whose record does not decode proves nothing: it is
            // refused as a missing one would be (the browser is sent to sign
            // in again, the next credential is tried), never deleted or
            // rewritten; the storage log names its tree and key.
            Err(e) if e.is_undecodable() => None,
            Err(e) => return Err(e.into()),
        };
        let Some((last_seen_at, assurance)) = seen.flatten() else {
            return Ok(None);
        };
        if now - last_seen_at >= TOUCH_INTERVAL {
            self.store.touch_session(sid, now, self.policy.lifetime())?;
        }
        Ok(Some(Passport {
            session_id: sid.to_string(),
            assurance,
        }))
    }

    /// Every live session, newest first.
    pub fn list(&self, now: i64) -> AuthResult<Vec<SessionView>> {
        let all = self.store.list_sessions(now)?;
        Ok(all.into_iter().map(SessionView::from).collect())
    }

    /// Revokes session `sid`; false if there was none. Reports nothing:
    /// a request ending a session says why with [`Sessions::end`].
    pub async fn revoke(&self, sid: &str) -> AuthResult<bool> {
        let existed = self.store.delete_session(sid)?;
        self.store.flush().await?;
        Ok(existed)
    }

    /// Ends session `sid` for `why`, reported as a `session_revoked`
    /// event; false if there was none (then nothing is reported).
    pub async fn end(
        &self,
        sid: &str,
        why: SessionEnd<'_>,
        client: &Client,
        events: &mut Events,
    ) -> AuthResult<bool> {
        let existed = self.revoke(sid).await?;
        if existed {
            let event = Event::new(Kind::SessionRevoked, client).session(sid);
            events.push(event.detail(why.detail()));
        }
        Ok(existed)
    }

    /// Revokes every session but `keep` ("sign out everywhere else"),
    /// reported as one event; returns how many went.
    pub async fn revoke_others(
        &self,
        keep: &str,
        client: &Client,
        events: &mut Events,
    ) -> AuthResult<usize> {
        let revoked = self.store.delete_sessions_except(Some(keep))?;
        self.store.flush().await?;
        let detail = format!("reason=others count={revoked}");
        let event = Event::new(Kind::SessionRevoked, client).session(keep);
        events.push(event.detail(detail));
        Ok(revoked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testkit::{client, Kit, NOW};
    use crate::base::secret::ExposeSecret;
    use crate::storage::{assert_kept, plant};

    /// A password-only session started at [`NOW`].
    async fn started(sessions: &Sessions<'_>) -> TokenPair {
        let me = client();
        sessions
            .start(vec![Amr::Pwd], &me, true, NOW)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn forward_auth_refuses_an_undecodable_session_and_keeps_it() {
        let kit = Kit::new(5);
        let sessions = kit.sessions();
        let pair = started(&sessions).await;
        let sid = pair.session.id.clone();
        plant(&kit.store.sessions, &sid);
        let cookie = pair.session_secret.as_ref().unwrap().expose_secret();
        let later = NOW + 2 * TOUCH_INTERVAL;
        let passed = sessions.pass_session_cookie(cookie, later).unwrap();
        assert!(passed.is_none(), "refused, as a missing session is");
        let passed = sessions
            .pass_access_token(&pair.access_token, later)
            .unwrap();
        assert!(passed.is_none());
        assert!(
            matches!(
                sessions.authenticate(&pair.access_token, later),
                Err(AuthError::Storage(e)) if e.is_undecodable()
            ),
            "the API answers 503, not 401"
        );
        assert_kept(&kit.store.sessions, &sid);
    }

    #[tokio::test]
    async fn a_session_authenticates_until_revoked_or_expired() {
        let kit = Kit::new(5);
        let sessions = kit.sessions();
        let pair = started(&sessions).await;
        let p = sessions.authenticate(&pair.access_token, NOW + 60).unwrap();
        assert_eq!(p.session.ip, "198.51.100.7");
        assert!(matches!(
            sessions.authenticate(&pair.access_token, NOW + 1800),
            Err(AuthError::InvalidToken)
        ));
        assert!(sessions.revoke(&pair.session.id).await.unwrap());
        assert!(matches!(
            sessions.authenticate(&pair.access_token, NOW + 61),
            Err(AuthError::InvalidToken)
        ));
    }

    #[tokio::test]
    async fn rotation_races_within_grace_and_is_reuse_after() {
        let kit = Kit::new(5);
        let sessions = kit.sessions();
        let first = started(&sessions).await;
        let old = first.refresh_token.expose_secret().to_string();
        let next = sessions.rotate(&old, NOW + 5).await.unwrap().unwrap();
        assert_eq!(
            sessions.rotate(&old, NOW + 15).await.unwrap().err(),
            Some(RefreshRefused::Invalid),
            "within the grace period"
        );
        assert!(sessions.authenticate(&next.access_token, NOW + 15).is_ok());
        assert_eq!(
            sessions.rotate(&old, NOW + 16).await.unwrap().err(),
            Some(RefreshRefused::Reused {
                sid: first.session.id.clone()
            })
        );
        assert!(sessions.authenticate(&next.access_token, NOW + 16).is_err());
        assert_eq!(
            sessions.rotate("garbage", NOW).await.unwrap().err(),
            Some(RefreshRefused::Invalid)
        );
    }

    #[tokio::test]
    async fn revoking_the_others_keeps_the_caller() {
        let kit = Kit::new(5);
        let sessions = kit.sessions();
        let a = started(&sessions).await;
        let b = started(&sessions).await;
        let (mut events, client) = (Events::new(), client());
        let others = sessions.revoke_others(&b.session.id, &client, &mut events);
        assert_eq!(others.await.unwrap(), 1);
        assert!(sessions.authenticate(&a.access_token, NOW).is_err());
        assert!(sessions.authenticate(&b.access_token, NOW).is_ok());
        assert_eq!(sessions.list(NOW).unwrap().len(), 1);
        let ended = sessions.end("gone", SessionEnd::Logout, &client, &mut events);
        assert!(!ended.await.unwrap(), "no such session: nothing reported");
        let by = SessionEnd::RevokedBy(&a.session.id);
        let ended = sessions.end(&b.session.id, by, &client, &mut events);
        assert!(ended.await.unwrap());
        let details: Vec<(&str, Option<&str>)> = events
            .iter()
            .map(|e| (e.detail.as_str(), e.session.as_deref()))
            .collect();
        let (a, b) = (a.session.id.as_str(), b.session.id.as_str());
        assert_eq!(
            details,
            [
                ("reason=others count=1", Some(b)),
                (format!("by={a}").as_str(), Some(b))
            ]
        );
    }

    #[tokio::test]
    async fn a_sign_in_knows_earlier_clients_and_an_upgrade_its_live_sessions() {
        let kit = Kit::new(5);
        let sessions = kit.sessions();
        let v6 = |ip: &str, agent: &str| Client {
            ip: ip.parse().unwrap(),
            user_agent: agent.into(),
        };
        // A session from before the record (its IPv6 address in full).
        sessions
            .start(vec![Amr::Pwd], &v6("2001:db8:5:6::1", "Firefox"), true, NOW)
            .await
            .unwrap();
        let seen = sessions
            .note_client(&v6("2001:db8:5:6::99", "Safari"), NOW)
            .unwrap();
        assert_eq!((seen.ip, seen.user_agent), (true, false), "same /64");
        let seen = sessions
            .note_client(&v6("2001:db8:5:7::1", "Safari"), NOW)
            .unwrap();
        assert_eq!((seen.ip, seen.user_agent), (false, true));
        let seen = sessions.note_client(&client(), NOW).unwrap();
        assert_eq!((seen.ip, seen.user_agent), (false, false));
    }
}
