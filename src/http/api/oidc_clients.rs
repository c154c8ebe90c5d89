//! `/auth/oidc/clients`: the apps that may "Sign in with soloauth", added
//! and removed by the signed-in owner. Adding one is a sensitive action
//! (recent sign-in or the password); its secret is shown once and kept
//! only as a hash.

use std::sync::Arc;

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::text::{Name, Text};
use super::{sensitive, Auth, OptionalJson, ReauthBody, SecretInput};
use crate::auth::oidc::clients::App;
use crate::auth::oidc_apps::{NewApp, Removal};
use crate::auth::Client;
use crate::base::amr::Assurance;
use crate::base::clock::rfc3339;
use crate::base::oidc_config::check_uri;
use crate::base::secret::{ExposeSecret, SecretString};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

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
    /// How strong a sign-in the app requires (default `one_factor`): a
    /// session that falls short is sent to sign in again.
    policy: Option<AppPolicy>,
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
    /// How strong a sign-in the app requires.
    policy: AppPolicy,
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
    policy: AppPolicy,
}

/// How strong a sign-in an app requires: any (`one_factor`), with a
/// second factor (`two_factor`), or with a passkey (`passkey`).
#[derive(poem_openapi::Enum, Clone, Copy)]
#[oai(rename_all = "snake_case")]
pub enum AppPolicy {
    OneFactor,
    TwoFactor,
    Passkey,
}

impl From<AppPolicy> for Assurance {
    fn from(p: AppPolicy) -> Assurance {
        match p {
            AppPolicy::OneFactor => Assurance::OneFactor,
            AppPolicy::TwoFactor => Assurance::TwoFactor,
            AppPolicy::Passkey => Assurance::Passkey,
        }
    }
}

impl From<Assurance> for AppPolicy {
    fn from(a: Assurance) -> AppPolicy {
        match a {
            Assurance::OneFactor => AppPolicy::OneFactor,
            Assurance::TwoFactor => AppPolicy::TwoFactor,
            Assurance::Passkey => AppPolicy::Passkey,
        }
    }
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
        policy: app.policy.into(),
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

impl NewClientBody {
    /// The app asked for, its URIs checked (else `400`), and the password.
    fn into_new(self) -> ApiResult<(NewApp, Option<SecretString>)> {
        let strings = |list: Vec<Text>| list.into_iter().map(|t| t.0).collect::<Vec<String>>();
        let redirect_uris = strings(self.redirect_uris);
        let logout_uris = strings(self.logout_uris.unwrap_or_default());
        for (field, uri) in redirect_uris
            .iter()
            .map(|u| ("redirect_uris", u))
            .chain(logout_uris.iter().map(|u| ("logout_uris", u)))
        {
            check_uri(field, uri).map_err(ApiError::BadRequest)?;
        }
        let new = NewApp {
            name: self.name.0,
            redirect_uris,
            logout_uris,
            public: self.public.unwrap_or(false),
            policy: self.policy.map_or(Assurance::OneFactor, Assurance::from),
        };
        Ok((new, self.password.map(|p| p.0)))
    }
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
        let (state, apps) = (&self.state, self.state.auth.oidc_apps());
        let (new, password) = body.0.into_new()?;
        let (app, secret) = sensitive(state, &auth, &client, password, async |proof, events| {
            apps.add(proof, new, events).await
        })
        .await?;
        Ok(AddedAnswer::Created(Json(AddedClient {
            public: app.is_public(),
            policy: app.policy.into(),
            client_id: app.client_id,
            client_secret: secret.map(|s| s.expose_secret().to_string()),
            name: app.name,
            redirect_uris: app.redirect_uris,
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
        let (state, apps) = (&self.state, self.state.auth.oidc_apps());
        let password = ReauthBody::password(body);
        let removal = sensitive(state, &auth, &client, password, async |proof, events| {
            apps.remove(proof, &id, events).await
        })
        .await?;
        match removal {
            Removal::Removed => Ok(RemovedAnswer::Done),
            Removal::Unknown => Err(ApiError::NotFound("no such app".into())),
            Removal::FromEnv => Err(ApiError::Conflict {
                code: "client_managed_by_env",
                message: "this app is configured in the environment (AUTH_OIDC_CLIENT_…); remove it there".into(),
            }),
        }
    }
}
