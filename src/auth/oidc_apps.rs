//! The apps the owner adds and removes from the page or the API ("Sign in
//! with soloauth"): sensitive writes, each taking a [`RecentSignIn`]. An
//! added app's secret is returned once and kept only as a hash; removing
//! one ends its sign-ins (its grants go with it). Apps configured in the
//! environment are listed with the others (`Provider::apps`) but are
//! removed there, not here. Each change is flushed before it returns and
//! reported in the request's [`Events`].

use super::events::{Event, Events, Kind};
use super::oidc::clients::{hash_secret, new_credentials, App};
use super::recent::RecentSignIn;
use super::AuthResult;
use crate::base::amr::Assurance;
use crate::base::oidc_config::OidcConfig;
use crate::base::secret::{ExposeSecret, SecretString};
use crate::storage::oidc::StoredClient;
use crate::storage::Store;

/// An app as the owner describes it (URIs already checked).
pub struct NewApp {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub logout_uris: Vec<String>,
    /// No secret, PKCE required (a mobile or single-page app).
    pub public: bool,
    /// How strong a sign-in it requires.
    pub policy: Assurance,
}

/// What removing an app found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// No app added here has this id.
    Unknown,
    /// Configured in the environment: removed there.
    FromEnv,
}

/// The apps added here, over the store.
pub struct OidcApps<'a> {
    pub store: &'a Store,
    pub config: &'a OidcConfig,
}

impl OidcApps<'_> {
    /// Adds an app; its secret (none for a public app) is returned this once.
    pub async fn add(
        &self,
        proof: &RecentSignIn,
        new: NewApp,
        events: &mut Events,
    ) -> AuthResult<(App, Option<SecretString>)> {
        let (client_id, secret) = new_credentials(new.public);
        let stored = StoredClient {
            client_id: client_id.clone(),
            name: new.name,
            secret_hash: secret.as_ref().map(|s| hash_secret(s.expose_secret())),
            redirect_uris: new.redirect_uris,
            logout_uris: new.logout_uris,
            created_at: proof.now(),
            policy: new.policy,
        };
        self.store.put_oidc_client(&stored)?;
        self.store.flush().await?;
        events.push(
            Event::new(Kind::OidcClientAdded, proof.client())
                .session(proof.session_id())
                .detail(format!("client={client_id}")),
        );
        Ok((App::from_stored(&stored), secret))
    }

    /// Removes an app added here, and every sign-in it holds.
    pub async fn remove(
        &self,
        proof: &RecentSignIn,
        client_id: &str,
        events: &mut Events,
    ) -> AuthResult<Removal> {
        if self.config.clients.iter().any(|c| c.client_id == client_id) {
            return Ok(Removal::FromEnv);
        }
        if !self.store.remove_oidc_client(client_id)? {
            return Ok(Removal::Unknown);
        }
        self.store.flush().await?;
        events.push(
            Event::new(Kind::OidcClientRemoved, proof.client())
                .session(proof.session_id())
                .detail(format!("client={client_id}")),
        );
        Ok(Removal::Removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testkit::{recent, Kit};

    #[tokio::test]
    async fn an_app_is_added_with_a_hashed_secret_and_removed_with_its_event() {
        let kit = Kit::new(5);
        let proof = recent(&kit).await;
        let apps = kit.oidc_apps();
        let mut events = Events::new();
        let new = NewApp {
            name: "Wiki".into(),
            redirect_uris: vec!["https://wiki.example.com/cb".into()],
            logout_uris: Vec::new(),
            public: false,
            policy: Assurance::TwoFactor,
        };
        let (app, secret) = apps.add(&proof, new, &mut events).await.unwrap();
        let secret = secret.unwrap();
        assert!(app.secret_matches(secret.expose_secret()) && !app.is_public());
        assert_eq!(app.created_at, Some(proof.now()));
        let stored = kit.store.oidc_clients().unwrap();
        assert_eq!(stored.len(), 1);
        assert_ne!(
            stored[0].secret_hash.as_deref(),
            Some(secret.expose_secret())
        );
        let removed = apps.remove(&proof, &app.client_id, &mut events).await;
        assert_eq!(removed.unwrap(), Removal::Removed);
        let again = apps.remove(&proof, &app.client_id, &mut events).await;
        assert_eq!(again.unwrap(), Removal::Unknown);
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["oidc_client_added", "oidc_client_removed"]);
        assert_eq!(events[1].session.as_deref(), Some(proof.session_id()));
    }
}
