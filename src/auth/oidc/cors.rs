//! Which browser origins may call the provider's endpoints from their own
//! pages (CORS): a browser app on another origin (a single-page app signing
//! in with PKCE) reads discovery and JWKS, exchanges its code, calls
//! userinfo and revokes its tokens with `fetch`.
//!
//! An origin may when it is the origin of a public client's registered
//! redirect URI (a loopback one on any port, as its redirect matches), or
//! is listed in `AUTH_OIDC_CORS_ORIGINS`. Nothing else: a confidential
//! app's backend needs no CORS, and no answer ever carries credentials.

use super::clients::App;
use super::provider::Provider;
use crate::auth::AuthResult;

impl Provider<'_> {
    /// Whether the page at `origin` (the `Origin` header as sent) may read
    /// the provider's answers.
    pub fn cors_allows(&self, origin: &str) -> AuthResult<bool> {
        let Some(origin) = parse_origin(origin) else {
            return Ok(false);
        };
        let serialized = origin.ascii_serialization();
        if self.config.cors_origins.contains(&serialized) {
            return Ok(true);
        }
        let apps = self.apps()?;
        Ok(apps
            .iter()
            .filter(|app| app.is_public())
            .any(|app| redirects_to(app, &origin)))
    }
}

/// `Origin` as browsers send it: exactly `scheme://host[:port]`.
fn parse_origin(text: &str) -> Option<url::Origin> {
    let url = url::Url::parse(text).ok()?;
    let origin = url.origin();
    (origin.is_tuple() && origin.ascii_serialization() == text).then_some(origin)
}

/// Whether one of `app`'s redirect URIs is on `origin` (a loopback
/// `http://127.0.0.1` or `http://[::1]` one on any port).
fn redirects_to(app: &App, origin: &url::Origin) -> bool {
    app.redirect_uris.iter().any(|uri| {
        let Ok(uri) = url::Url::parse(uri) else {
            return false;
        };
        let loopback = |o: &url::Origin| match o {
            url::Origin::Tuple(scheme, host, _) => {
                let host = host.to_string();
                scheme == "http" && (host == "127.0.0.1" || host == "[::1]")
            }
            url::Origin::Opaque(_) => false,
        };
        let here = uri.origin();
        match (&here, origin) {
            (url::Origin::Tuple(_, host, _), url::Origin::Tuple(_, other, _))
                if loopback(&here) && loopback(origin) =>
            {
                host == other
            }
            _ => here == *origin,
        }
    })
}

#[cfg(test)]
mod tests {
    use crate::auth::testkit::{Kit, NOW};
    use crate::storage::oidc::StoredClient;

    fn app(id: &str, secret: Option<&str>, redirect: &str) -> StoredClient {
        StoredClient {
            client_id: id.into(),
            name: id.into(),
            secret_hash: secret.map(crate::auth::oidc::clients::hash_secret),
            redirect_uris: vec![redirect.into()],
            logout_uris: Vec::new(),
            created_at: NOW,
            policy: Default::default(),
        }
    }

    #[test]
    fn public_clients_redirect_origins_may_and_nothing_else() {
        let kit = Kit::new(5);
        for client in [
            app("spa", None, "https://spa.example.com/callback"),
            app("cli", None, "http://127.0.0.1/callback"),
            app(
                "photos",
                Some(&"s".repeat(32)),
                "https://photos.example.com/cb",
            ),
        ] {
            kit.store.put_oidc_client(&client).unwrap();
        }
        let provider = kit.provider();
        for allowed in [
            "https://spa.example.com",
            "http://127.0.0.1:5173",
            "http://127.0.0.1",
        ] {
            assert!(provider.cors_allows(allowed).unwrap(), "{allowed}");
        }
        for refused in [
            "https://photos.example.com",
            "https://spa.example.com:8443",
            "http://spa.example.com",
            "https://evil.example.com",
            "https://spa.example.com/",
            "http://localhost:5173",
            "http://[::1]:5173",
            "null",
            "",
        ] {
            assert!(!provider.cors_allows(refused).unwrap(), "{refused:?}");
        }
    }
}
