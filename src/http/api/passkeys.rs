//! `/auth/passkeys/*`: adding, listing, renaming and removing passkeys, and
//! signing in with one (alone, or as the second step after the password).

use std::sync::Arc;

use poem::web::cookie::CookieJar;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::login::{answer, Remember, TokenResponse};
use super::text::{LongText, Name, Text};
use super::{decide, sensitive, Auth, LoginClient, OptionalJson, ReauthBody, SecretInput};
use crate::auth::passkeys::{self, NewPasskey, PasskeyInfo};
use crate::auth::Client;
use crate::base::clock::rfc3339;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// Passkeys (WebAuthn): sign in with a fingerprint, a face, a phone or a security key.
    Passkeys,
}

/// A ceremony started: its id, and the options for the browser
/// (`PublicKeyCredential.parseCreationOptionsFromJSON()` or
/// `parseRequestOptionsFromJSON()`).
#[derive(Object)]
pub struct CeremonyResponse {
    challenge_id: String,
    options: serde_json::Value,
}

/// The browser's answer to a registration, and the new passkey's name.
#[derive(Object)]
pub struct RegisterFinishBody {
    challenge_id: Text,
    /// What the owner calls this passkey ("MacBook Touch ID"), 1–64 characters.
    name: Name,
    /// `PublicKeyCredential.toJSON()` of the new credential.
    credential: serde_json::Value,
}

/// A registered passkey.
#[derive(Object)]
pub struct PasskeyResponse {
    /// The credential id, base64url.
    id: String,
    name: String,
    /// RFC 3339, like every date of the API.
    created_at: String,
    #[oai(nullable)]
    last_used_at: Option<String>,
    /// Synced by its provider (iCloud Keychain, Google Password Manager…).
    backed_up: bool,
}

/// A passkey just added.
#[derive(Object)]
pub struct AddedResponse {
    id: String,
    name: String,
    created_at: String,
}

/// A passkey's new name.
#[derive(Object)]
pub struct RenameBody {
    /// 1–64 characters, not all spaces, no control characters.
    name: Name,
}

/// Starting a passkey sign-in: nothing (the passkey alone), or the
/// `mfa_token` of `403 mfa_required` (the passkey as the second step).
#[derive(Object, Default)]
pub struct LoginStartBody {
    mfa_token: Option<SecretInput>,
}

/// The browser's answer to a sign-in.
#[derive(Object)]
pub struct LoginFinishBody {
    /// As `login/start` gave it: it carries the ceremony, so it can be long.
    challenge_id: LongText,
    /// `PublicKeyCredential.toJSON()` of the assertion.
    credential: serde_json::Value,
    /// Keep me signed in (default `true`), as at `POST /auth/login`.
    remember: Option<Remember>,
}

#[derive(ApiResponse)]
pub enum AddedAnswer {
    /// The passkey is registered.
    #[oai(status = 201)]
    Created(Json<AddedResponse>),
}

#[derive(ApiResponse)]
pub enum RemovedAnswer {
    /// The passkey is removed.
    #[oai(status = 204)]
    Done,
}

impl From<PasskeyInfo> for PasskeyResponse {
    fn from(p: PasskeyInfo) -> Self {
        PasskeyResponse {
            id: p.id,
            name: p.name,
            created_at: rfc3339(p.created_at),
            last_used_at: p.last_used_at.map(rfc3339),
            backed_up: p.backed_up,
        }
    }
}

/// The JSON text of a browser's credential, for the WebAuthn parser.
fn credential_json(credential: &serde_json::Value) -> ApiResult<Vec<u8>> {
    serde_json::to_vec(credential).map_err(|e| ApiError::BadRequest(e.to_string()))
}

fn no_such_passkey() -> ApiError {
    ApiError::NotFound("no such passkey".into())
}

pub struct PasskeysApi {
    pub state: Arc<AppState>,
}

#[OpenApi(tag = "ApiTags::Passkeys")]
impl PasskeysApi {
    /// Start adding a passkey. Needs a session that signed in within
    /// `AUTH_REAUTH_SECONDS` (default 10 minutes), or the current `password`
    /// in the body; otherwise `403 reauth_required`. The ceremony is good
    /// for 5 minutes, once, from this session.
    #[oai(path = "/auth/passkeys/register/start", method = "post")]
    async fn register_start(
        &self,
        auth: Auth,
        client: Client,
        body: OptionalJson<ReauthBody>,
    ) -> ApiResult<Json<CeremonyResponse>> {
        let (state, passkeys) = (&self.state, self.state.auth.passkeys());
        passkeys.check_available()?;
        let password = ReauthBody::password(body);
        let (challenge_id, options) =
            sensitive(state, &auth, &client, password, async |proof, _| {
                passkeys.start_registration(proof)
            })
            .await?;
        Ok(Json(CeremonyResponse {
            challenge_id,
            options,
        }))
    }

    /// Finish adding a passkey: the browser's answer and a name.
    #[oai(path = "/auth/passkeys/register/finish", method = "post")]
    async fn register_finish(
        &self,
        auth: Auth,
        client: Client,
        body: Json<RegisterFinishBody>,
    ) -> ApiResult<AddedAnswer> {
        let state = &self.state;
        state.auth.passkeys().check_available()?;
        let name = body.name.0.as_str();
        let parsed = passkeys::parse_registration(&credential_json(&body.credential)?)
            .map_err(ApiError::BadRequest)?;
        let sid = &auth.principal().session.id;
        let new = NewPasskey {
            challenge_id: &body.challenge_id.0,
            name,
            answer: parsed,
        };
        let added = decide(state, async |events, now| {
            let passkeys = state.auth.passkeys();
            passkeys
                .finish_registration(sid, new, now, &client, events)
                .await
        })
        .await?;
        Ok(AddedAnswer::Created(Json(AddedResponse {
            id: added.id,
            name: added.name,
            created_at: rfc3339(added.created_at),
        })))
    }

    /// The registered passkeys, oldest first.
    #[oai(path = "/auth/passkeys", method = "get")]
    async fn list(&self, _auth: Auth) -> ApiResult<Json<Vec<PasskeyResponse>>> {
        let all = self.state.auth.passkeys().list()?;
        Ok(Json(all.into_iter().map(PasskeyResponse::from).collect()))
    }

    /// Rename a passkey.
    #[oai(path = "/auth/passkeys/:id", method = "patch")]
    async fn rename(
        &self,
        _auth: Auth,
        id: Path<String>,
        body: Json<RenameBody>,
    ) -> ApiResult<Json<PasskeyResponse>> {
        self.state.auth.passkeys().check_available()?;
        let name = body.name.0.as_str();
        let renamed = self.state.auth.passkeys().rename(&id, name).await?;
        renamed.map(|p| Json(p.into())).ok_or_else(no_such_passkey)
    }

    /// Remove a passkey: it signs in no more. Needs a recent sign-in or
    /// the `password`, as adding one does.
    #[oai(path = "/auth/passkeys/:id", method = "delete")]
    async fn remove(
        &self,
        auth: Auth,
        client: Client,
        id: Path<String>,
        body: OptionalJson<ReauthBody>,
    ) -> ApiResult<RemovedAnswer> {
        let (state, passkeys) = (&self.state, self.state.auth.passkeys());
        let password = ReauthBody::password(body);
        let removed = sensitive(state, &auth, &client, password, async |proof, events| {
            passkeys.remove(proof, &id, events).await
        })
        .await?;
        match removed {
            true => Ok(RemovedAnswer::Done),
            false => Err(no_such_passkey()),
        }
    }

    /// Start signing in with a passkey: alone (the authenticator must verify
    /// its user), or with the `mfa_token` of `403 mfa_required` as the second
    /// step. `allowCredentials` lists the registered passkeys. The ceremony is
    /// good for 5 minutes, once.
    #[oai(path = "/auth/passkeys/login/start", method = "post")]
    async fn login_start(
        &self,
        LoginClient(client): LoginClient,
        body: OptionalJson<LoginStartBody>,
    ) -> ApiResult<Json<CeremonyResponse>> {
        let state = &self.state;
        let mfa_token = body.0.unwrap_or_default().mfa_token.map(|t| t.0);
        let login = state.auth.login();
        let (challenge_id, options) = decide(state, async |events, now| {
            login.start_passkey(&client, mfa_token.as_ref(), now, events)
        })
        .await?;
        Ok(Json(CeremonyResponse {
            challenge_id,
            options,
        }))
    }

    /// Finish signing in with a passkey: the browser's answer. Answers like
    /// `POST /auth/login` (tokens and cookies). Failures count toward the
    /// lockout like wrong passwords.
    #[oai(path = "/auth/passkeys/login/finish", method = "post")]
    async fn login_finish(
        &self,
        jar: &CookieJar,
        LoginClient(client): LoginClient,
        body: Json<LoginFinishBody>,
    ) -> ApiResult<Json<TokenResponse>> {
        let state = &self.state;
        state.auth.passkeys().check_available()?;
        let parsed = passkeys::parse_authentication(&credential_json(&body.credential)?)
            .map_err(ApiError::BadRequest)?;
        let remember = body.remember.as_ref().is_none_or(Remember::value);
        let login = state.auth.login();
        let outcome = decide(state, async |events, now| {
            login
                .passkey_step(
                    &client,
                    &body.challenge_id.0,
                    &parsed,
                    remember,
                    now,
                    events,
                )
                .await
        })
        .await?;
        answer(state, jar, outcome)
    }
}
