//! The provider's decisions: codes, the token endpoint's two grants,
//! userinfo, revocation. Free of HTTP: the HTTP layer turns requests into
//! these calls and [`OAuthError`]s into RFC 6749 answers. What an
//! authorization request leads to is `super::authorize`'s; who a client is,
//! `super::client_auth`'s.
//!
//! Every grant belongs to the soloauth session that authorized it: a grant
//! is good only while that session lives, so revoking the session (or
//! logging out) ends the app's refresh tokens and access tokens too. Codes
//! are single-use for 60 s; a second use ends the grant the first one made.
//! Refresh tokens rotate like soloauth's own: a token presented again
//! within the grace window is refused and harms nothing, later it is reuse
//! and ends the grant.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::clients::App;
use super::keys::{generate_der, KeyRing, ID_TOKEN_TTL};
use super::tokens::{id_token_claims, IdTokenFacts, Identity};
use crate::auth::events::{Event, Events, Kind};
use crate::auth::refresh;
use crate::auth::vault::Vault;
use crate::auth::{AuthError, AuthResult};
use crate::base::oidc_config::OidcConfig;
use crate::base::secret::{random_token, sha256_hex, ExposeSecret, SecretString};
use crate::storage::oidc::{Grant, Rotation, StoredAccess, StoredCode, StoredKey};
use crate::storage::{Store, StoreError};

/// How long a code waits for its exchange.
pub const CODE_TTL: i64 = 60;
/// How long an app's access token lasts.
pub const ACCESS_TTL: i64 = 3600;
/// How long a used code is remembered, to catch its reuse.
pub const CODE_MEMORY: i64 = 600;

/// An OAuth error (RFC 6749 §5.2, §4.1.2.1).
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            error,
            description: description.into(),
        }
    }

    fn grant(description: &str) -> Self {
        OAuthError::new("invalid_grant", description)
    }
}

/// A storage or internal failure inside an OAuth flow.
impl From<AuthError> for OAuthError {
    fn from(e: AuthError) -> Self {
        tracing::error!(error = %e, "OIDC provider failure");
        OAuthError::new("server_error", "the server could not complete the request")
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        AuthError::from(e).into()
    }
}

/// The signing keys, made the first time they are needed.
#[derive(Default)]
pub struct SigningKeys {
    ring: tokio::sync::RwLock<Option<Arc<KeyRing>>>,
}

impl SigningKeys {
    /// Keys given in the environment, or the stored ones if any.
    pub fn load(
        config: &OidcConfig,
        store: &Store,
        vault: &Vault,
        now: i64,
    ) -> Result<Self, String> {
        let ring = match &config.private_key {
            Some(pem) => Some(KeyRing::from_pem(pem)?),
            None => KeyRing::from_store(store, vault, now)?,
        };
        Ok(SigningKeys {
            ring: tokio::sync::RwLock::new(ring.map(Arc::new)),
        })
    }

    /// The key ring; on first use a key is generated and stored durably.
    pub async fn ring(&self, store: &Store, vault: &Vault, now: i64) -> AuthResult<Arc<KeyRing>> {
        if let Some(ring) = self.ring.read().await.as_ref() {
            return Ok(ring.clone());
        }
        let mut slot = self.ring.write().await;
        if let Some(ring) = slot.as_ref() {
            return Ok(ring.clone());
        }
        let der = tokio::task::spawn_blocking(generate_der)
            .await
            .map_err(AuthError::internal)?
            .map_err(AuthError::internal)?;
        let ring = KeyRing::from_der_new(&der).map_err(AuthError::internal)?;
        store.put_oidc_key(&StoredKey {
            kid: ring.kid().to_string(),
            encrypted: vault.encrypt(&der),
            created_at: now,
            retired_at: None,
        })?;
        store.flush().await?;
        let ring = Arc::new(ring);
        *slot = Some(ring.clone());
        Ok(ring)
    }
}

/// What a code is issued for: an authorization request that passed
/// `super::authorize`'s checks.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AuthorizeRequest {
    /// A registered redirect URI of the app (checked before anything else).
    pub redirect_uri: String,
    pub response_type: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// What an app sends to the token endpoint with a code.
pub struct CodeExchange<'a> {
    pub code: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
}

/// The signed-in session an authorization is made for.
pub struct Signer<'a> {
    pub session_id: &'a str,
    pub auth_time: i64,
    pub amr: &'a [crate::base::amr::Amr],
}

/// Tokens for an app.
pub struct TokenSet {
    pub access_token: SecretString,
    pub id_token: String,
    pub refresh_token: SecretString,
    pub expires_in: i64,
    pub scope: String,
}

/// The provider over its services.
pub struct Provider<'a> {
    pub store: &'a Store,
    pub vault: &'a Vault,
    pub keys: &'a SigningKeys,
    pub config: &'a OidcConfig,
    pub issuer: &'a str,
    pub username: &'a str,
    pub refresh_grace: i64,
}

/// PKCE at the token endpoint: a challenge needs its verifier (43 to 128
/// unreserved characters, RFC 7636), a verifier needs a challenge (no
/// downgrade), and a public client needs PKCE.
fn check_pkce(
    app: &App,
    challenge: Option<&str>,
    verifier: Option<&str>,
) -> Result<(), OAuthError> {
    match (challenge, verifier) {
        (Some(challenge), Some(verifier)) => {
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
            if !well_formed {
                return Err(OAuthError::grant(
                    "code_verifier must be 43 to 128 unreserved characters",
                ));
            }
            let computed = B64.encode(Sha256::digest(verifier.as_bytes()));
            if crate::base::secret::ct_eq(computed.as_bytes(), challenge.as_bytes()) {
                Ok(())
            } else {
                Err(OAuthError::grant(
                    "code_verifier does not match code_challenge",
                ))
            }
        }
        (Some(_), None) => Err(OAuthError::grant("code_verifier is missing")),
        (None, Some(_)) => Err(OAuthError::grant(
            "a code_verifier for a code issued without code_challenge",
        )),
        (None, None) if app.is_public() => Err(OAuthError::grant("a public client must use PKCE")),
        (None, None) => Ok(()),
    }
}

impl Provider<'_> {
    /// The app `client_id`: from the environment, else added from the page.
    pub fn app(&self, client_id: &str) -> AuthResult<Option<App>> {
        if let Some(env) = self
            .config
            .clients
            .iter()
            .find(|c| c.client_id == client_id)
        {
            return Ok(Some(App::from_env(env)));
        }
        Ok(self
            .store
            .oidc_client(client_id)?
            .map(|c| App::from_stored(&c)))
    }

    /// Every app, the environment's first.
    pub fn apps(&self) -> AuthResult<Vec<App>> {
        let mut all: Vec<App> = self.config.clients.iter().map(App::from_env).collect();
        all.extend(self.store.oidc_clients()?.iter().map(App::from_stored));
        Ok(all)
    }

    /// Issues a code for `app` at `redirect_uri`, for the signed-in session.
    pub async fn issue_code(
        &self,
        app: &App,
        req: &AuthorizeRequest,
        signer: &Signer<'_>,
        now: i64,
        events: &mut Events,
        ip: std::net::IpAddr,
    ) -> AuthResult<SecretString> {
        let code = random_token(32);
        self.store.put_code(
            &sha256_hex(code.expose_secret()),
            &StoredCode {
                client_id: app.client_id.clone(),
                redirect_uri: req.redirect_uri.clone(),
                code_challenge: req.code_challenge.clone(),
                nonce: req.nonce.clone(),
                scope: req.scope.clone(),
                session_id: signer.session_id.to_string(),
                auth_time: signer.auth_time,
                amr: signer.amr.to_vec(),
                expires_at: now + CODE_TTL,
                used_by: None,
                used_at: None,
                reused: false,
            },
        )?;
        self.store.flush().await?;
        events.push(
            Event::from_ip(Kind::OidcAuthorized, ip)
                .session(signer.session_id)
                .detail(format!("client={}", app.client_id)),
        );
        Ok(code)
    }

    /// The `authorization_code` grant. The code is spent only by an
    /// exchange that passes every check (its client, redirect URI and PKCE
    /// verifier): a request that fails one leaves it usable. A spent code
    /// presented again, passing those checks, within the grace window is a
    /// retry and harms nothing; later it is reuse, and the grant the first
    /// exchange made ends.
    pub async fn exchange_code(
        &self,
        app: &App,
        exchange: &CodeExchange<'_>,
        now: i64,
        events: &mut Events,
        ip: std::net::IpAddr,
    ) -> Result<TokenSet, OAuthError> {
        let CodeExchange {
            code,
            redirect_uri,
            code_verifier,
        } = *exchange;
        let hash = sha256_hex(code);
        let Some(stored) = self.store.code(&hash)? else {
            return Err(OAuthError::grant("unknown or expired code"));
        };
        if stored.client_id != app.client_id {
            return Err(OAuthError::grant("the code was issued to another client"));
        }
        if redirect_uri != Some(stored.redirect_uri.as_str()) {
            return Err(OAuthError::grant(
                "redirect_uri differs from the authorization request's",
            ));
        }
        check_pkce(app, stored.code_challenge.as_deref(), code_verifier)?;
        if let Some(first) = stored.used_by.as_deref() {
            let retry = stored
                .used_at
                .is_some_and(|at| now - at <= self.refresh_grace);
            if retry {
                return Err(OAuthError::grant(
                    "the code was just used; its tokens went to the first request",
                ));
            }
            self.store.mark_code_reused(&hash)?;
            self.store.remove_grant(first)?;
            self.store.flush().await?;
            events.push(
                Event::from_ip(Kind::OidcCodeReuse, ip)
                    .session(&stored.session_id)
                    .detail(format!("client={} grant revoked", stored.client_id)),
            );
            return Err(OAuthError::grant(
                "the code was already used; the sign-in it made is revoked",
            ));
        }
        if stored.expires_at <= now {
            return Err(OAuthError::grant("unknown or expired code"));
        }
        if self.store.live_session(&stored.session_id, now)?.is_none() {
            return Err(OAuthError::grant("the sign-in behind this code has ended"));
        }
        let grant_id = uuid::Uuid::new_v4().simple().to_string();
        if !self.store.spend_code(&hash, &stored, &grant_id, now)? {
            return Err(OAuthError::grant(
                "the code was just used; its tokens went to the first request",
            ));
        }
        let refresh = refresh::mint(&grant_id);
        let grant = Grant {
            id: grant_id,
            client_id: app.client_id.clone(),
            session_id: stored.session_id,
            scope: stored.scope,
            nonce: stored.nonce,
            auth_time: stored.auth_time,
            amr: stored.amr,
            created_at: now,
            refresh_hash: refresh.hash,
            previous_hash: None,
            rotated_at: now,
            retired: Vec::new(),
        };
        self.store.put_grant(&grant)?;
        // A reuse that came meanwhile (past the grace window) saw this
        // grant's id too late to end it: give up, and end it here.
        if self.store.code_reused(&hash)? {
            self.store.remove_grant(&grant.id)?;
            self.store.flush().await?;
            return Err(OAuthError::grant(
                "the code was used twice; nothing was issued",
            ));
        }
        self.tokens(&grant, refresh.token, true, now).await
    }

    /// The `refresh_token` grant: rotation, with the grace window and reuse
    /// detection of soloauth's own refresh tokens.
    pub async fn refresh(
        &self,
        app: &App,
        presented: &str,
        now: i64,
        events: &mut Events,
        ip: std::net::IpAddr,
    ) -> Result<TokenSet, OAuthError> {
        let Some((grant_id, hash)) = refresh::parse(presented) else {
            return Err(OAuthError::grant("unknown refresh token"));
        };
        let Some(grant) = self.store.grant(grant_id)? else {
            return Err(OAuthError::grant("unknown or revoked refresh token"));
        };
        if grant.client_id != app.client_id {
            return Err(OAuthError::grant(
                "the refresh token was issued to another client",
            ));
        }
        if self.store.live_session(&grant.session_id, now)?.is_none() {
            self.store.remove_grant(grant_id)?;
            self.store.flush().await?;
            return Err(OAuthError::grant("the sign-in behind this token has ended"));
        }
        // The app's requirement now, not when the grant was made: raising
        // it ends the weaker grants' refreshes (the app signs in again).
        if crate::base::amr::Assurance::of(&grant.amr) < app.policy {
            let why = format!("this app now requires a {} sign-in", app.policy.as_str());
            return Err(OAuthError::grant(&why));
        }
        let next = refresh::mint(grant_id);
        match self
            .store
            .rotate_grant(grant_id, &hash, &next.hash, now, self.refresh_grace)?
        {
            Rotation::Rotated(grant) => self.tokens(&grant, next.token, false, now).await,
            Rotation::Raced => Err(OAuthError::grant(
                "this refresh token was just rotated; use the new one",
            )),
            Rotation::Reused(grant) => {
                self.store.flush().await?;
                events.push(
                    Event::from_ip(Kind::RefreshReuse, ip)
                        .session(&grant.session_id)
                        .detail(format!("client={} grant revoked", grant.client_id)),
                );
                Err(OAuthError::grant(
                    "this refresh token was already used; the grant is revoked",
                ))
            }
            Rotation::Invalid => Err(OAuthError::grant("unknown or revoked refresh token")),
        }
    }

    /// Access, ID and refresh tokens for `grant` (flushed before the answer).
    async fn tokens(
        &self,
        grant: &Grant,
        refresh_token: SecretString,
        with_nonce: bool,
        now: i64,
    ) -> Result<TokenSet, OAuthError> {
        let access = refresh::mint(&grant.id);
        self.store.put_access(
            &sha256_hex(access.token.expose_secret()),
            &StoredAccess {
                grant_id: grant.id.clone(),
                expires_at: now + ACCESS_TTL,
            },
        )?;
        let ring = self.keys.ring(self.store, self.vault, now).await?;
        let subject = self.subject()?;
        let identity = self.identity(&subject);
        let facts = IdTokenFacts {
            issuer: self.issuer,
            client_id: &grant.client_id,
            now,
            ttl: ID_TOKEN_TTL,
            auth_time: grant.auth_time,
            nonce: grant.nonce.as_deref().filter(|_| with_nonce),
            access_token: access.token.expose_secret(),
            amr: &grant.amr,
            session_id: &grant.session_id,
        };
        let id_token = ring
            .sign(&id_token_claims(&identity, &grant.scope, &facts))
            .map_err(AuthError::internal)?;
        self.store.flush().await?;
        Ok(TokenSet {
            access_token: access.token,
            id_token,
            refresh_token,
            expires_in: ACCESS_TTL,
            scope: grant.scope.clone(),
        })
    }

    /// The claims userinfo answers for a live access token; `None` for a
    /// token that is unknown, expired, or whose grant or session has ended.
    pub fn userinfo(&self, access_token: &str, now: i64) -> AuthResult<Option<serde_json::Value>> {
        let Some(access) = self.store.access(&sha256_hex(access_token.trim()), now)? else {
            return Ok(None);
        };
        let Some(grant) = self.store.grant(&access.grant_id)? else {
            return Ok(None);
        };
        if self.store.live_session(&grant.session_id, now)?.is_none()
            || self.app(&grant.client_id)?.is_none()
        {
            return Ok(None);
        }
        let subject = self.subject()?;
        Ok(Some(serde_json::Value::Object(
            self.identity(&subject).claims(&grant.scope),
        )))
    }

    /// RFC 7009: ends the grant of a refresh token, or one access token, if
    /// `app` holds it. Unknown tokens are not an error.
    pub async fn revoke(&self, app: &App, token: &str) -> AuthResult<()> {
        let token = token.trim();
        if let Some((grant_id, hash)) = refresh::parse(token) {
            if let Some(grant) = self.store.grant(grant_id)? {
                let current =
                    crate::base::secret::ct_eq(grant.refresh_hash.as_bytes(), hash.as_bytes());
                if grant.client_id == app.client_id && current {
                    self.store.remove_grant(grant_id)?;
                }
            }
        }
        let hash = sha256_hex(token);
        if let Some(access) = self.store.access(&hash, i64::MIN)? {
            let owned = self
                .store
                .grant(&access.grant_id)?
                .is_some_and(|g| g.client_id == app.client_id);
            if owned {
                self.store.remove_access(&hash)?;
            }
        }
        self.store.flush().await?;
        Ok(())
    }

    /// The names of the apps session `sid` has signed in to.
    pub fn apps_of_session(&self, sid: &str) -> AuthResult<Vec<String>> {
        let mut names = Vec::new();
        for grant in self.store.grants()? {
            if grant.session_id == sid {
                let name = self
                    .app(&grant.client_id)?
                    .map_or(grant.client_id.clone(), |a| a.name);
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names.sort();
        Ok(names)
    }

    fn subject(&self) -> AuthResult<String> {
        Ok(self
            .store
            .oidc_subject(|| uuid::Uuid::new_v4().simple().to_string())?)
    }

    fn identity<'s>(&'s self, subject: &'s str) -> Identity<'s> {
        Identity {
            subject,
            username: self.username,
            config: self.config,
        }
    }
}

#[cfg(test)]
mod tests;
