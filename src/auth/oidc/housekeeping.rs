//! The provider's part of housekeeping: expired codes and access tokens go,
//! and so do grants whose session ended or whose app was removed.
//!
//! Nothing is removed on the strength of a failed read: a record that does
//! not decode is kept (logged), and an app that could not be read stops
//! the purge rather than count as removed (which would end its grants).

use super::provider::{Provider, CODE_MEMORY};
use crate::storage::StoreError;

impl Provider<'_> {
    /// Purges what the provider no longer needs at `now` (see the module).
    pub fn purge(&self, now: i64) -> Result<(), StoreError> {
        let app_exists = |client_id: &str| -> Result<bool, StoreError> {
            let from_env = self.config.clients.iter().any(|c| c.client_id == client_id);
            Ok(from_env || self.store.oidc_client(client_id)?.is_some())
        };
        self.store.purge_oidc(now, CODE_MEMORY, app_exists)
    }
}

#[cfg(test)]
mod tests {
    use crate::auth::testkit::{Kit, NOW};
    use crate::storage::oidc::{Grant, StoredClient};
    use crate::storage::sessions::Session;
    use crate::storage::{assert_kept, plant};

    /// A kit with a live session and a grant of app `app` bound to it.
    fn kit_with_grant() -> Kit {
        let kit = Kit::new(5);
        let session = Session {
            id: "s".into(),
            created_at: NOW,
            last_seen_at: NOW,
            expires_at: NOW + 1_000,
            ip: "127.0.0.1".into(),
            user_agent: "test".into(),
            amr: vec![crate::base::amr::Amr::Pwd],
            refresh_hash: "r".into(),
            cookie_hash: String::new(),
            remember: true,
            consents: Vec::new(),
        };
        kit.store.put_session(&session).unwrap();
        let grant = Grant {
            id: "g".into(),
            client_id: "app".into(),
            session_id: "s".into(),
            scope: "openid".into(),
            nonce: None,
            auth_time: NOW,
            amr: vec![crate::base::amr::Amr::Pwd],
            created_at: NOW,
            refresh_hash: "h".into(),
            previous_hash: None,
            rotated_at: NOW,
            retired: Vec::new(),
        };
        kit.store.put_grant(&grant).unwrap();
        kit
    }

    #[test]
    fn an_app_that_cannot_be_read_stops_the_purge_and_keeps_its_grants() {
        let kit = kit_with_grant();
        plant(&kit.store.oidc_clients, "app");
        let before = kit.store.oidc_grants.get("g").unwrap();
        let purged = kit.provider().purge(NOW);
        assert!(purged.is_err_and(|e| e.is_undecodable()));
        assert_eq!(kit.store.oidc_grants.get("g").unwrap(), before);
        assert_kept(&kit.store.oidc_clients, "app");
    }

    #[test]
    fn an_app_that_is_there_keeps_its_grants_and_a_removed_one_loses_them() {
        let kit = kit_with_grant();
        let app = StoredClient {
            client_id: "app".into(),
            name: "Photos".into(),
            secret_hash: None,
            redirect_uris: vec!["https://photos.example/cb".into()],
            logout_uris: Vec::new(),
            created_at: NOW,
            policy: Default::default(),
        };
        kit.store.put_oidc_client(&app).unwrap();
        kit.provider().purge(NOW).unwrap();
        assert!(kit.store.grant("g").unwrap().is_some());
        kit.store.oidc_clients.remove("app").unwrap();
        kit.provider().purge(NOW).unwrap();
        assert!(kit.store.grant("g").unwrap().is_none());
    }
}
