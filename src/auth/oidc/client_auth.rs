//! Client authentication at the token and revocation endpoints (RFC 6749
//! §2.3): `client_secret_basic` (HTTP Basic, each part form-urlencoded),
//! `client_secret_post` (`client_id` and `client_secret` in the form), or
//! `none` for a public client, whose proof is PKCE at the code exchange.
//!
//! When an `Authorization: Basic` header is sent it alone names the client:
//! the form's `client_id` and `client_secret` are then not read. Its parts
//! are taken both form-decoded, as RFC 6749 §2.3.1 has them, and as sent,
//! as some libraries send them (Authlib): a secret holding `+` or `%`
//! passes either way. Every reading of the secret is compared, each in
//! constant time (`App::secret_matches`); an unknown client and a wrong
//! secret get the same answer.

use super::clients::App;
use super::provider::{OAuthError, Provider};
use crate::auth::AuthError;

/// What a request presented to prove its client.
#[derive(Debug, Default, Clone)]
pub struct ClientCredentials<'a> {
    /// `Authorization: Basic`, decoded from base64 into its two parts (still
    /// form-urlencoded); `Err` when it was not base64 of UTF-8 `id:secret`.
    pub basic: Option<Result<(String, String), ()>>,
    /// The form's `client_id`.
    pub form_id: Option<&'a str>,
    /// The form's `client_secret`.
    pub form_secret: Option<&'a str>,
}

/// Why a client is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClientAuthError {
    /// An `Authorization: Basic` header that does not decode.
    #[error("malformed client credentials")]
    Malformed,
    /// Neither Basic nor a form `client_id`.
    #[error("client authentication is missing")]
    Missing,
    /// An unknown client, a wrong or missing secret, or a secret sent for a
    /// public client: one answer for all.
    #[error("unknown client or wrong secret")]
    Refused,
    /// Storage failed while looking the client up (logged where it happened).
    #[error("the server could not complete the request")]
    Unavailable,
}

impl From<AuthError> for ClientAuthError {
    fn from(e: AuthError) -> Self {
        tracing::error!(error = %e, "OIDC client authentication failure");
        ClientAuthError::Unavailable
    }
}

/// `invalid_client` (RFC 6749 §5.2), or `server_error` when storage failed.
impl From<ClientAuthError> for OAuthError {
    fn from(e: ClientAuthError) -> Self {
        let error = match e {
            ClientAuthError::Unavailable => "server_error",
            _ => "invalid_client",
        };
        OAuthError::new(error, e.to_string())
    }
}

/// A form-urlencoded part of a Basic header (`+` is a space).
fn form_decoded(part: &str) -> String {
    let spaced = part.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// The client ids the credentials may name (a Basic header's id
/// form-decoded, then as sent if that differs) and the secrets they may
/// present (read the same two ways).
pub fn presented(
    creds: &ClientCredentials,
) -> Result<(Vec<String>, Vec<Option<String>>), ClientAuthError> {
    let Some(basic) = &creds.basic else {
        let id = creds.form_id.ok_or(ClientAuthError::Missing)?;
        return Ok((vec![id.into()], vec![creds.form_secret.map(str::to_string)]));
    };
    let (id, secret) = basic.as_ref().map_err(|()| ClientAuthError::Malformed)?;
    let both = |part: &String| {
        let decoded = form_decoded(part);
        match decoded == *part {
            true => vec![decoded],
            false => vec![decoded, part.clone()],
        }
    };
    let secrets = both(secret).into_iter().map(Some).collect();
    Ok((both(id), secrets))
}

/// The app `secret` proves: `app` is the one the presented id names (if
/// any). A public client proves itself by its id alone, with no secret or
/// an empty one; a confidential client by its secret.
pub fn check_secret(app: Option<App>, secret: Option<&str>) -> Result<App, ClientAuthError> {
    let app = app.ok_or(ClientAuthError::Refused)?;
    match (app.is_public(), secret) {
        (true, None | Some("")) => Ok(app),
        (false, Some(secret)) if app.secret_matches(secret) => Ok(app),
        _ => Err(ClientAuthError::Refused),
    }
}

impl Provider<'_> {
    /// The app these credentials prove: the first id that names an app
    /// whose secret one of the readings matches. Every reading is checked
    /// (no early exit on the secret), so the time says nothing of which.
    pub fn authenticate_client(&self, creds: &ClientCredentials) -> Result<App, ClientAuthError> {
        let (ids, secrets) = presented(creds)?;
        for id in &ids {
            let Some(app) = self.app(id)? else { continue };
            let proven = secrets.iter().fold(None, |proven, secret| {
                let checked = check_secret(Some(app.clone()), secret.as_deref()).ok();
                proven.or(checked)
            });
            if let Some(app) = proven {
                return Ok(app);
            }
        }
        Err(ClientAuthError::Refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::oidc::clients::hash_secret;
    use crate::auth::testkit::{Kit, NOW};
    use crate::storage::oidc::StoredClient;

    const SECRET: &str = "a secret of thirty-two characters";

    /// A kit with a confidential app `photos` (secret [`SECRET`]) and a
    /// public one `mobile`.
    fn kit() -> Kit {
        let kit = Kit::new(5);
        for (id, secret) in [("photos", Some(hash_secret(SECRET))), ("mobile", None)] {
            let app = StoredClient {
                client_id: id.into(),
                name: id.into(),
                secret_hash: secret,
                redirect_uris: vec!["https://app.example/cb".into()],
                logout_uris: Vec::new(),
                created_at: NOW,
                policy: Default::default(),
            };
            kit.store.put_oidc_client(&app).unwrap();
        }
        kit
    }

    fn basic(id: &str, secret: &str) -> ClientCredentials<'static> {
        ClientCredentials {
            basic: Some(Ok((id.into(), secret.into()))),
            ..Default::default()
        }
    }

    fn post<'a>(id: &'a str, secret: Option<&'a str>) -> ClientCredentials<'a> {
        ClientCredentials {
            form_id: Some(id),
            form_secret: secret,
            ..Default::default()
        }
    }

    fn client_id(r: Result<App, ClientAuthError>) -> Result<String, ClientAuthError> {
        r.map(|app| app.client_id)
    }

    #[test]
    fn client_secret_basic_with_its_parts_form_decoded() {
        let kit = kit();
        let provider = kit.provider();
        let ok = provider.authenticate_client(&basic("photos", SECRET));
        assert_eq!(client_id(ok).as_deref(), Ok("photos"));
        // RFC 6749 §2.3.1: each part is form-urlencoded first.
        let encoded = basic("pho%74os", "a+secret+of+thirty-two%20characters");
        let ok = provider.authenticate_client(&encoded);
        assert_eq!(client_id(ok).as_deref(), Ok("photos"));
        let wrong = basic("pho%74os", "a+secret+of+thirty-two%20characterz");
        let refused = provider.authenticate_client(&wrong);
        assert_eq!(client_id(refused), Err(ClientAuthError::Refused));
        let malformed = ClientCredentials {
            basic: Some(Err(())),
            ..Default::default()
        };
        let refused = provider.authenticate_client(&malformed);
        assert_eq!(client_id(refused), Err(ClientAuthError::Malformed));
    }

    #[test]
    fn client_secret_basic_as_libraries_send_it_unencoded() {
        let kit = Kit::new(5);
        let secret = "p+q%2Fr s/t=u%v&w:x".repeat(2);
        let app = StoredClient {
            client_id: "odd+id%".into(),
            name: "odd".into(),
            secret_hash: Some(hash_secret(&secret)),
            redirect_uris: vec!["https://app.example/cb".into()],
            logout_uris: Vec::new(),
            created_at: NOW,
            policy: Default::default(),
        };
        kit.store.put_oidc_client(&app).unwrap();
        let provider = kit.provider();
        let raw = provider.authenticate_client(&basic("odd+id%", &secret));
        assert_eq!(
            client_id(raw).as_deref(),
            Ok("odd+id%"),
            "as sent (Authlib)"
        );
        let form = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let encoded = provider.authenticate_client(&basic(&form("odd+id%"), &form(&secret)));
        assert_eq!(
            client_id(encoded).as_deref(),
            Ok("odd+id%"),
            "form-encoded (pyoidc)"
        );
        let wrong = provider.authenticate_client(&basic("odd+id%", &secret.replace('+', " ")));
        assert_eq!(
            client_id(wrong),
            Err(ClientAuthError::Refused),
            "+ read as space only"
        );
    }

    #[test]
    fn client_secret_post() {
        let kit = kit();
        let provider = kit.provider();
        let ok = provider.authenticate_client(&post("photos", Some(SECRET)));
        assert_eq!(client_id(ok).as_deref(), Ok("photos"));
        let none = provider.authenticate_client(&ClientCredentials::default());
        assert_eq!(client_id(none), Err(ClientAuthError::Missing));
    }

    #[test]
    fn with_both_the_basic_header_alone_decides() {
        let kit = kit();
        let provider = kit.provider();
        let mut both = basic("photos", SECRET);
        both.form_id = Some("mobile");
        both.form_secret = Some("wrong");
        let ok = provider.authenticate_client(&both);
        assert_eq!(client_id(ok).as_deref(), Ok("photos"));
        let mut both = basic("photos", "wrong");
        both.form_id = Some("photos");
        both.form_secret = Some(SECRET);
        let refused = provider.authenticate_client(&both);
        assert_eq!(client_id(refused), Err(ClientAuthError::Refused));
    }

    #[test]
    fn a_wrong_secret_or_an_unknown_client_is_refused_alike() {
        let kit = kit();
        let provider = kit.provider();
        let near = &SECRET[..SECRET.len() - 1];
        let longer = format!("{SECRET}x");
        for wrong in [
            near,
            longer.as_str(),
            "",
            "A SECRET OF THIRTY-TWO CHARACTERS",
        ] {
            let refused = provider.authenticate_client(&post("photos", Some(wrong)));
            assert_eq!(client_id(refused), Err(ClientAuthError::Refused), "{wrong}");
            let refused = provider.authenticate_client(&basic("photos", wrong));
            assert_eq!(client_id(refused), Err(ClientAuthError::Refused), "{wrong}");
        }
        let unknown = provider.authenticate_client(&post("nobody", Some(SECRET)));
        assert_eq!(client_id(unknown), Err(ClientAuthError::Refused));
        let e = OAuthError::from(ClientAuthError::Refused);
        assert_eq!(e.error, "invalid_client");
        assert_eq!(e.description, "unknown client or wrong secret");
    }

    #[test]
    fn a_public_client_has_no_secret_and_a_confidential_one_must_send_its_own() {
        let kit = kit();
        let provider = kit.provider();
        for secret in [None, Some("")] {
            let ok = provider.authenticate_client(&post("mobile", secret));
            assert_eq!(client_id(ok).as_deref(), Ok("mobile"));
        }
        let ok = provider.authenticate_client(&basic("mobile", ""));
        assert_eq!(client_id(ok).as_deref(), Ok("mobile"));
        // A secret for a public client is no proof of anything.
        let refused = provider.authenticate_client(&post("mobile", Some(SECRET)));
        assert_eq!(client_id(refused), Err(ClientAuthError::Refused));
        // A confidential client without its secret.
        for secret in [None, Some("")] {
            let refused = provider.authenticate_client(&post("photos", secret));
            assert_eq!(client_id(refused), Err(ClientAuthError::Refused));
        }
    }

    #[test]
    fn a_storage_failure_is_a_server_error_not_a_refusal() {
        let kit = kit();
        crate::storage::plant(&kit.store.oidc_clients, "photos");
        let failed = kit
            .provider()
            .authenticate_client(&post("photos", Some(SECRET)));
        assert_eq!(client_id(failed), Err(ClientAuthError::Unavailable));
        assert_eq!(
            OAuthError::from(ClientAuthError::Unavailable).error,
            "server_error"
        );
    }
}
