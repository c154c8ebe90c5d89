//! API tokens: for scripts, mobile and DAV apps that cannot click a login
//! page. A token is `soloauth_<id>_<256 random bits>`: the fixed prefix lets
//! secret scanners recognise it, the id finds its record in one read, and
//! only the SHA-256 of the random part is stored (the part has 256 bits of
//! entropy, so a fast hash fits and forward auth stays on its fast path).
//! A token opens forward auth (within its hosts, under one-factor rules; two-
//! factor rules only when minted from a two-factor session) and `GET /auth/me`,
//! nothing else.

use super::events::{Event, Events, Kind};
use super::recent::RecentSignIn;
use super::AuthResult;
use crate::base::rules::{normalize_host, HostPattern};
use crate::base::secret::{ct_eq, random_token, sha256_hex, ExposeSecret, SecretString};
use crate::storage::api_tokens::StoredToken;
use crate::storage::Store;

/// What every token starts with.
pub const PREFIX: &str = "soloauth_";
/// How often a token's `last_used_at` is written at most (seconds).
const TOUCH_INTERVAL: i64 = 60;

/// A token as the owner asks for it (hosts already checked).
pub struct NewToken {
    pub name: String,
    pub expires_in_days: Option<u32>,
    pub hosts: Vec<String>,
}

/// A token as the owner sees it: never its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// Host patterns (as in the access rules); empty: any host.
    pub hosts: Vec<String>,
    /// Good for two-factor rules (minted from a two-factor session).
    pub two_factor: bool,
}

impl From<StoredToken> for TokenView {
    fn from(t: StoredToken) -> Self {
        TokenView {
            id: t.id,
            name: t.name,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            hosts: t.hosts,
            two_factor: t.two_factor,
        }
    }
}

/// API tokens over the store.
pub struct ApiTokens<'a> {
    pub store: &'a Store,
}

/// Splits a presented token into its id and random part.
fn parse(token: &str) -> Option<(&str, &str)> {
    let rest = token.trim().strip_prefix(PREFIX)?;
    let (id, random) = rest.split_once('_')?;
    let ok = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) && random.len() == 43;
    ok.then_some((id, random))
}

/// Whether a presented credential looks like an API token (not a JWT).
pub fn looks_like_token(credential: &str) -> bool {
    credential.trim().starts_with(PREFIX)
}

impl ApiTokens<'_> {
    /// Mints a token for the proof's session (good for two-factor rules if
    /// that session signed in with a second factor); the token is returned
    /// this once.
    pub async fn create(
        &self,
        proof: &RecentSignIn,
        new: NewToken,
        events: &mut Events,
    ) -> AuthResult<(TokenView, SecretString)> {
        let now = proof.now();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let random = random_token(32);
        let token = SecretString::from(format!("{PREFIX}{id}_{}", random.expose_secret()));
        let record = StoredToken {
            id: id.clone(),
            name: new.name,
            hash: sha256_hex(random.expose_secret()),
            created_at: now,
            expires_at: new.expires_in_days.map(|d| now + i64::from(d) * 86_400),
            last_used_at: None,
            hosts: new.hosts,
            two_factor: proof.second_factor(),
        };
        self.store.put_api_token(&record)?;
        self.store.flush().await?;
        events.push(
            Event::new(Kind::TokenCreated, proof.client())
                .session(proof.session_id())
                .detail(format!("token={id}")),
        );
        Ok((record.into(), token))
    }

    /// Every token, oldest first.
    pub fn list(&self) -> AuthResult<Vec<TokenView>> {
        let all = self.store.api_tokens()?;
        Ok(all.into_iter().map(TokenView::from).collect())
    }

    /// Revokes a token (refused from the next request); false when unknown.
    pub async fn revoke(
        &self,
        proof: &RecentSignIn,
        id: &str,
        events: &mut Events,
    ) -> AuthResult<bool> {
        if !self.store.remove_api_token(id)? {
            return Ok(false);
        }
        self.store.flush().await?;
        events.push(
            Event::new(Kind::TokenRevoked, proof.client())
                .session(proof.session_id())
                .detail(format!("token={id}")),
        );
        Ok(true)
    }

    /// The live token `presented` names, if its secret is right; records
    /// the use (at most once a minute).
    pub fn check(&self, presented: &str, now: i64) -> AuthResult<Option<StoredToken>> {
        let Some((id, random)) = parse(presented) else {
            return Ok(None);
        };
        let Some(token) = self.store.api_token(id)? else {
            return Ok(None);
        };
        if !ct_eq(token.hash.as_bytes(), sha256_hex(random).as_bytes())
            || token.expires_at.is_some_and(|at| at <= now)
        {
            return Ok(None);
        }
        if token
            .last_used_at
            .is_none_or(|at| now - at >= TOUCH_INTERVAL)
        {
            self.store.touch_api_token(id, now)?;
        }
        Ok(Some(token))
    }
}

/// Checks host patterns as the access rules read them; `Err` names the bad one.
pub fn check_hosts(hosts: &[String]) -> Result<(), String> {
    match hosts.iter().find(|h| HostPattern::parse(h).is_none()) {
        Some(bad) => Err(format!(
            "{bad:?} is not a host pattern (a host name, or *. and a domain)"
        )),
        None => Ok(()),
    }
}

/// Whether `token` may be used for a request to `host` (`None`: the host is
/// not known, which only a token without hosts accepts).
pub fn allows_host(token: &StoredToken, host: Option<&str>) -> bool {
    if token.hosts.is_empty() {
        return true;
    }
    let Some(host) = host.and_then(normalize_host) else {
        return false;
    };
    token
        .hosts
        .iter()
        .filter_map(|h| HostPattern::parse(h))
        .any(|p| p.matches(&host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_only_in_their_own_shape() {
        let id = "0123456789abcdef0123456789abcdef";
        let random = "a".repeat(43);
        let token = format!("{PREFIX}{id}_{random}");
        assert_eq!(parse(&token), Some((id, random.as_str())));
        for junk in [
            "",
            "soloauth_",
            "soloauth_x_y",
            "eyJhbGciOi.x.y",
            &token[1..],
        ] {
            assert!(parse(junk).is_none(), "{junk}");
        }
        assert!(looks_like_token(&token));
        assert!(!looks_like_token("eyJ0eXAi.x.y"));
    }
}
