//! `/auth/tokens`: API tokens for scripts, mobile and DAV apps, minted and
//! revoked by the signed-in owner. Minting one is a sensitive action (recent
//! sign-in or the password); the token is in that answer only.

use std::sync::Arc;

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::text::{Name, Text};
use super::{sensitive, Auth, OptionalJson, ReauthBody, SecretInput};
use crate::auth::api_tokens::{check_hosts, NewToken, TokenView};
use crate::auth::Client;
use crate::base::clock::rfc3339;
use crate::base::secret::{ExposeSecret, SecretString};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// API tokens: forward auth for what cannot click a login page.
    Tokens,
}

/// A new token.
#[derive(Object)]
pub struct NewTokenBody {
    /// What it is for ("backup script"), 1–64 characters.
    name: Name,
    /// Days until it stops working; absent: never.
    #[oai(validator(minimum(value = "1"), maximum(value = "3650")))]
    expires_in_days: Option<u32>,
    /// Host patterns (as in the access rules) it is good for; absent: any.
    #[oai(validator(max_items = 20))]
    hosts: Option<Vec<Text>>,
    /// The current password, when the session signed in a while ago.
    #[oai(nullable)]
    password: Option<SecretInput>,
}

/// A token as listed.
#[derive(Object)]
pub struct TokenInfo {
    id: String,
    name: String,
    created_at: String,
    #[oai(nullable)]
    expires_at: Option<String>,
    #[oai(nullable)]
    last_used_at: Option<String>,
    hosts: Vec<String>,
}

/// A token just made, with the token itself (shown this once).
#[derive(Object)]
pub struct NewTokenResponse {
    id: String,
    name: String,
    token: String,
    created_at: String,
    #[oai(nullable)]
    expires_at: Option<String>,
    hosts: Vec<String>,
}

#[derive(ApiResponse)]
pub enum CreatedAnswer {
    #[oai(status = 201)]
    Created(Json<NewTokenResponse>),
}

#[derive(ApiResponse)]
pub enum RevokedAnswer {
    #[oai(status = 204)]
    Done,
}

impl NewTokenBody {
    /// The token asked for, its hosts checked (else `400`), and the password.
    fn into_new(self) -> ApiResult<(NewToken, Option<SecretString>)> {
        let hosts = self.hosts.unwrap_or_default();
        let hosts: Vec<String> = hosts.into_iter().map(|h| h.0).collect();
        check_hosts(&hosts).map_err(ApiError::BadRequest)?;
        let new = NewToken {
            name: self.name.0,
            expires_in_days: self.expires_in_days,
            hosts,
        };
        Ok((new, self.password.map(|p| p.0)))
    }
}

fn info(t: TokenView) -> TokenInfo {
    TokenInfo {
        id: t.id,
        name: t.name,
        created_at: rfc3339(t.created_at),
        expires_at: t.expires_at.map(rfc3339),
        last_used_at: t.last_used_at.map(rfc3339),
        hosts: t.hosts,
    }
}

pub struct TokensApi {
    pub state: Arc<AppState>,
}

#[OpenApi(tag = "ApiTags::Tokens")]
impl TokensApi {
    /// Make a token. Needs a recent sign-in or the `password`. The token is
    /// in this answer only; `two_factor` rules accept it only if this
    /// session signed in with a second factor.
    #[oai(path = "/auth/tokens", method = "post")]
    async fn create(
        &self,
        auth: Auth,
        client: Client,
        body: Json<NewTokenBody>,
    ) -> ApiResult<CreatedAnswer> {
        let (state, tokens) = (&self.state, self.state.auth.api_tokens());
        let (new, password) = body.0.into_new()?;
        let (record, token) = sensitive(state, &auth, &client, password, async |proof, events| {
            tokens.create(proof, new, events).await
        })
        .await?;
        Ok(CreatedAnswer::Created(Json(NewTokenResponse {
            token: token.expose_secret().to_string(),
            id: record.id,
            name: record.name,
            created_at: rfc3339(record.created_at),
            expires_at: record.expires_at.map(rfc3339),
            hosts: record.hosts,
        })))
    }

    /// Every token (never the token itself), oldest first.
    #[oai(path = "/auth/tokens", method = "get")]
    async fn list(&self, _auth: Auth) -> ApiResult<Json<Vec<TokenInfo>>> {
        let all = self.state.auth.api_tokens().list()?;
        Ok(Json(all.into_iter().map(info).collect()))
    }

    /// Revoke a token: refused from the very next request. Needs a recent
    /// sign-in or the `password`, as making one does.
    #[oai(path = "/auth/tokens/:id", method = "delete")]
    async fn revoke(
        &self,
        auth: Auth,
        client: Client,
        id: Path<String>,
        body: OptionalJson<ReauthBody>,
    ) -> ApiResult<RevokedAnswer> {
        let (state, tokens) = (&self.state, self.state.auth.api_tokens());
        let password = ReauthBody::password(body);
        let revoked = sensitive(state, &auth, &client, password, async |proof, events| {
            tokens.revoke(proof, &id, events).await
        })
        .await?;
        match revoked {
            true => Ok(RevokedAnswer::Done),
            false => Err(ApiError::NotFound("no such token".into())),
        }
    }
}
