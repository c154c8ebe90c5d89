//! `/auth/oidc/clients`: the apps that may "Sign in with soloauth", added
//! and removed by the signed-in owner. Adding one is a sensitive action
//! (recent sign-in or the password); its secret is shown once and kept
//! only as a hash.

use std::sync::Arc;

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::text::{Name, Text};
use super::{confirm_recent, Auth, OptionalJson, ReauthBody, SecretInput};
use crate::auth::events::{Event, Kind};
use crate::auth::oidc::clients::{hash_secret, new_credentials, App};
use crate::auth::Client;
use crate::base::clock::rfc3339;
use crate::base::oidc_config::check_uri;
use crate::base::secret::ExposeSecret;
use crate::http::audit;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::storage::oidc::StoredClient;

#[derive(Tags)]
enum ApiTags {
    /// The apps that sign in with soloauth (OpenID Connect clients).
    OidcClients,
}

/// A new app.
#[derive(Object)]
pub struct NewClientBody {
    /// What the app is called ("Immich"), 1–64 characters.
    name: Name,
    /// Where the app receives its code, exactly as it sends them.
    #[oai(validator(min_items = 1, max_items = 10))]
    redirect_uris: Vec<Text>,
    /// Where it may send the browser after a logout.
    #[oai(validator(max_items = 10))]
    logout_uris: Option<Vec<Text>>,
    /// A public client (a mobile or single-page app): no secret, PKCE required.
    public: Option<bool>,
    /// The current password, when the session signed in a while ago.
    #[oai(nullable)]
    password: Option<SecretInput>,
}

/// An app as listed.
#[derive(Object)]
pub struct ClientInfo {
    client_id: String,
    name: String,
    redirect_uris: Vec<String>,
    logout_uris: Vec<String>,
    public: bool,
    /// Configured in the environment: removed there, not here.
    from_env: bool,
    #[oai(nullable)]
    created_at: Option<String>,
}

/// An app just added, with its secret (shown this once).
#[derive(Object)]
pub struct AddedClient {
    client_id: String,
    #[oai(skip_serializing_if_is_none)]
    client_secret: Option<String>,
    name: String,
    redirect_uris: Vec<String>,
    public: bool,
}

#[derive(ApiResponse)]
pub enum AddedAnswer {
    #[oai(status = 201)]
    Created(Json<AddedClient>),
}

#[derive(ApiResponse)]
pub enum RemovedAnswer {
    #[oai(status = 204)]
    Done,
}

fn info(app: App) -> ClientInfo {
    ClientInfo {
        public: app.is_public(),
        client_id: app.client_id,
        name: app.name,
        redirect_uris: app.redirect_uris,
        logout_uris: app.logout_uris,
        from_env: app.from_env,
        created_at: app.created_at.map(rfc3339),
    }
}

pub struct OidcClientsApi {
    pub state: Arc<AppState>,
}

#[OpenApi(tag = "ApiTags::OidcClients")]
impl OidcClientsApi {
    /// Add an app. Needs a recent sign-in or the `password`. The secret is
    /// in this answer only.
    #[oai(path = "/auth/oidc/clients", method = "post")]
    async fn add(
        &self,
        auth: Auth,
        client: Client,
        body: Json<NewClientBody>,
    ) -> ApiResult<AddedAnswer> {
        let state = &self.state;
        let body = body.0;
        let name = body.name.0;
        let strings = |list: Vec<Text>| list.into_iter().map(|t| t.0).collect::<Vec<String>>();
        let redirect_uris = strings(body.redirect_uris);
        let logout_uris = strings(body.logout_uris.unwrap_or_default());
        for (field, uri) in redirect_uris
            .iter()
            .map(|u| ("redirect_uris", u))
            .chain(logout_uris.iter().map(|u| ("logout_uris", u)))
        {
            check_uri(field, uri).map_err(ApiError::BadRequest)?;
        }
        let password = body.password.map(|p| p.0);
        let principal = auth.principal();
        confirm_recent(state, principal, &client, password).await?;
        let public = body.public.unwrap_or(false);
        let (client_id, secret) = new_credentials(public);
        let stored = StoredClient {
            client_id: client_id.clone(),
            name: name.clone(),
            secret_hash: secret.as_ref().map(|s| hash_secret(s.expose_secret())),
            redirect_uris: redirect_uris.clone(),
            logout_uris,
            created_at: state.now(),
        };
        state.auth.store.put_oidc_client(&stored)?;
        state.auth.store.flush().await?;
        let event = Event::new(Kind::OidcClientAdded, &client)
            .session(&principal.session.id)
            .detail(format!("client={client_id}"));
        audit::record(state, &[event]).await;
        Ok(AddedAnswer::Created(Json(AddedClient {
            client_id,
            client_secret: secret.map(|s| s.expose_secret().to_string()),
            name,
            redirect_uris,
            public,
        })))
    }

    /// Every app: the environment's, then those added here.
    #[oai(path = "/auth/oidc/clients", method = "get")]
    async fn list(&self, _auth: Auth) -> ApiResult<Json<Vec<ClientInfo>>> {
        let apps = self.state.auth.provider().apps()?;
        Ok(Json(apps.into_iter().map(info).collect()))
    }

    /// Remove an app added here: its sign-ins end (refresh and access tokens
    /// die). Needs a recent sign-in or the `password`, as adding one does.
    #[oai(path = "/auth/oidc/clients/:id", method = "delete")]
    async fn remove(
        &self,
        auth: Auth,
        client: Client,
        id: Path<String>,
        body: OptionalJson<ReauthBody>,
    ) -> ApiResult<RemovedAnswer> {
        let (state, principal) = (&self.state, auth.principal());
        confirm_recent(state, principal, &client, ReauthBody::password(body)).await?;
        if state.auth.oidc.clients.iter().any(|c| c.client_id == id.0) {
            return Err(ApiError::Conflict {
                code: "client_managed_by_env",
                message: "this app is configured in the environment (AUTH_OIDC_CLIENT_…); remove it there".into(),
            });
        }
        if !state.auth.store.remove_oidc_client(&id.0)? {
            return Err(ApiError::NotFound("no such app".into()));
        }
        state.auth.store.flush().await?;
        let event = Event::new(Kind::OidcClientRemoved, &client)
            .session(&principal.session.id)
            .detail(format!("client={}", id.0));
        audit::record(state, &[event]).await;
        Ok(RemovedAnswer::Done)
    }
}
