//! The apps ("clients") that may sign in with soloauth: those configured in
//! the environment and those added from the page. Secrets of added apps are
//! kept only as SHA-256 hashes (they are 256 random bits); every comparison
//! is constant-time. A redirect URI must match a registered one exactly,
//! except that a loopback one (`http://127.0.0.1`, `http://[::1]`) takes
//! any port (RFC 8252).

use crate::base::oidc_config::EnvClient;
use crate::base::secret::{ct_eq, random_token, sha256_hex, ExposeSecret, SecretString};
use crate::storage::oidc::StoredClient;

/// How an app proves itself at the token endpoint.
#[derive(Clone)]
enum Secret {
    /// From the environment, as given.
    Given(SecretString),
    /// Added from the page: the hash.
    Hashed(String),
    /// A public client: PKCE instead.
    None,
}

/// An app, wherever it was configured.
#[derive(Clone)]
pub struct App {
    pub client_id: String,
    pub name: String,
    secret: Secret,
    pub redirect_uris: Vec<String>,
    pub logout_uris: Vec<String>,
    /// Configured in the environment (cannot be removed from the page).
    pub from_env: bool,
    pub created_at: Option<i64>,
    /// How strong a sign-in the app requires.
    pub policy: crate::base::amr::Assurance,
}

/// Everything but the secret.
impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("public", &self.is_public())
            .field("redirect_uris", &self.redirect_uris)
            .field("logout_uris", &self.logout_uris)
            .field("from_env", &self.from_env)
            .finish_non_exhaustive()
    }
}

impl App {
    pub fn from_env(client: &EnvClient) -> Self {
        App {
            client_id: client.client_id.clone(),
            name: client.name.clone(),
            secret: match &client.secret {
                Some(s) => Secret::Given(s.clone()),
                None => Secret::None,
            },
            redirect_uris: client.redirect_uris.clone(),
            logout_uris: client.logout_uris.clone(),
            from_env: true,
            created_at: None,
            policy: client.policy,
        }
    }

    pub fn from_stored(client: &StoredClient) -> Self {
        App {
            client_id: client.client_id.clone(),
            name: client.name.clone(),
            secret: match &client.secret_hash {
                Some(h) => Secret::Hashed(h.clone()),
                None => Secret::None,
            },
            redirect_uris: client.redirect_uris.clone(),
            logout_uris: client.logout_uris.clone(),
            from_env: false,
            created_at: Some(client.created_at),
            policy: client.policy,
        }
    }

    /// A public client has no secret and must use PKCE.
    pub fn is_public(&self) -> bool {
        matches!(self.secret, Secret::None)
    }

    /// Whether `presented` is this app's secret (false for a public client).
    pub fn secret_matches(&self, presented: &str) -> bool {
        match &self.secret {
            Secret::Given(s) => ct_eq(s.expose_secret().as_bytes(), presented.as_bytes()),
            Secret::Hashed(h) => ct_eq(h.as_bytes(), hash_secret(presented).as_bytes()),
            Secret::None => false,
        }
    }

    /// Whether `uri` is one of the registered redirect URIs.
    pub fn redirect_allowed(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| uri_matches(r, uri))
    }

    /// Whether the owner must allow this app before it gets a code at
    /// `redirect_uri`: a public app (anyone may claim its id) at a loopback
    /// or custom-scheme redirect, where any program on the device could be
    /// listening (RFC 8252 §8.6).
    pub fn needs_consent(&self, redirect_uri: &str) -> bool {
        let Ok(url) = url::Url::parse(redirect_uri) else {
            return true;
        };
        let device = match url.scheme() {
            "http" | "https" => matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost")),
            _ => true,
        };
        self.is_public() && device
    }

    /// Whether `uri` is one of the registered post-logout redirect URIs.
    pub fn logout_allowed(&self, uri: &str) -> bool {
        self.logout_uris.iter().any(|r| uri_matches(r, uri))
    }
}

/// Exact match, or the same loopback URI on any port.
fn uri_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let (Ok(r), Ok(p)) = (url::Url::parse(registered), url::Url::parse(presented)) else {
        return false;
    };
    let loopback = |u: &url::Url| {
        u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1") | Some("[::1]"))
    };
    loopback(&r)
        && loopback(&p)
        && r.host_str() == p.host_str()
        && r.path() == p.path()
        && r.query() == p.query()
        && p.fragment().is_none()
}

/// Hex SHA-256 of a client secret.
pub fn hash_secret(secret: &str) -> String {
    sha256_hex(secret)
}

/// A new client id and, for a confidential app, its secret.
pub fn new_credentials(public: bool) -> (String, Option<SecretString>) {
    let id = random_token(16).expose_secret().to_string();
    let secret = (!public).then(|| random_token(32));
    (id, secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(uris: &[&str]) -> App {
        App {
            client_id: "c".into(),
            name: "app".into(),
            secret: Secret::Hashed(hash_secret("s3cret")),
            redirect_uris: uris.iter().map(|u| u.to_string()).collect(),
            logout_uris: vec![],
            from_env: false,
            created_at: None,
            policy: Default::default(),
        }
    }

    #[test]
    fn redirect_uris_match_exactly_or_on_any_loopback_port() {
        let a = app(&["https://photos.example.com/cb", "http://127.0.0.1/callback"]);
        assert!(a.redirect_allowed("https://photos.example.com/cb"));
        for other in [
            "https://photos.example.com/cb/",
            "https://photos.example.com/CB",
            "https://photos.example.com/cb?x=1",
            "http://photos.example.com/cb",
            "https://evil.example/cb",
        ] {
            assert!(!a.redirect_allowed(other), "{other}");
        }
        assert!(a.redirect_allowed("http://127.0.0.1:53123/callback"));
        assert!(!a.redirect_allowed("http://127.0.0.1:53123/other"));
        assert!(!a.redirect_allowed("http://localhost:53123/callback"));
    }

    #[test]
    fn public_apps_at_device_redirects_need_consent() {
        let mut a = app(&[]);
        assert!(!a.needs_consent("http://127.0.0.1:5000/cb"), "confidential");
        a.secret = Secret::None;
        for device in [
            "http://127.0.0.1:5000/cb",
            "http://[::1]/cb",
            "http://localhost:8080/cb",
            "com.example.app:/oauth",
        ] {
            assert!(a.needs_consent(device), "{device}");
        }
        assert!(!a.needs_consent("https://spa.example.com/cb"));
    }

    #[test]
    fn secrets_are_checked_by_hash() {
        let a = app(&[]);
        assert!(a.secret_matches("s3cret"));
        assert!(!a.secret_matches("s3cre"));
        assert!(!a.is_public());
        let (id, secret) = new_credentials(false);
        assert_eq!(id.len(), 22);
        assert!(secret.is_some());
        assert!(new_credentials(true).1.is_none());
    }
}
