//! TOTP enrollment and recovery codes: `/auth/totp/*`, `/auth/recovery-codes`.

use std::sync::Arc;

use base64::Engine;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::{guarded, require_recent_sign_in, Auth, OptionalJson, SecretInput};
use crate::auth::factors;
use crate::auth::sessions::ClientInfo;
use crate::base::secret::{ExposeSecret, SecretString};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// The second factor: TOTP enrollment and recovery codes.
    Totp,
}

/// A new TOTP secret to add to an authenticator app.
#[derive(Object)]
pub struct SetupResponse {
    /// Base32, for manual entry.
    secret: String,
    /// `otpauth://totp/…`, what the QR code holds.
    otpauth_uri: String,
    /// The QR code as a `data:image/png;base64,…` URL.
    qr_png: String,
}

/// The current password, for an action that needs a recent sign-in when
/// the session signed in longer ago than `AUTH_REAUTH_SECONDS`.
#[derive(Object)]
pub struct ReauthBody {
    password: SecretInput,
}

/// A TOTP code from the authenticator app.
#[derive(Object)]
pub struct CodeBody {
    code: SecretInput,
}

/// Password and a current code, to turn TOTP off.
#[derive(Object)]
pub struct DisableBody {
    password: SecretInput,
    /// A current TOTP code (or, if the device is lost, a recovery code).
    code: SecretInput,
}

/// Recovery codes, shown this once.
#[derive(Object)]
pub struct RecoveryCodesResponse {
    recovery_codes: Vec<String>,
}

#[derive(ApiResponse)]
pub enum QrResponse {
    /// The pending enrollment's QR code.
    #[oai(status = 200, content_type = "image/png")]
    Png(Binary<Vec<u8>>),
}

#[derive(ApiResponse)]
pub enum DisabledResponse {
    /// TOTP is off; other sessions are revoked.
    #[oai(status = 204)]
    Done,
}

fn codes_response(codes: Vec<SecretString>) -> Json<RecoveryCodesResponse> {
    Json(RecoveryCodesResponse {
        recovery_codes: codes
            .iter()
            .map(|c| c.expose_secret().to_string())
            .collect(),
    })
}

pub struct TotpApi {
    pub state: Arc<AppState>,
}

#[OpenApi(tag = "ApiTags::Totp")]
impl TotpApi {
    /// Start enrolling an authenticator app: a new secret, pending for 10
    /// minutes. Needs a session that signed in within `AUTH_REAUTH_SECONDS`
    /// (default 10 minutes), or the current `password` in the body; otherwise
    /// `403 reauth_required`.
    #[oai(path = "/auth/totp/setup", method = "post")]
    async fn setup(
        &self,
        auth: Auth,
        client: ClientInfo,
        body: OptionalJson<ReauthBody>,
    ) -> ApiResult<Json<SetupResponse>> {
        let password = body.0.map(|b| b.password.0);
        let route = "/auth/totp/setup";
        require_recent_sign_in(&self.state, auth.principal(), &client, route, password).await?;
        let e = factors::begin_enrollment(&self.state).await?;
        let png = base64::engine::general_purpose::STANDARD.encode(&e.qr_png);
        Ok(Json(SetupResponse {
            secret: e.secret.expose_secret().to_string(),
            otpauth_uri: e.otpauth_uri.expose_secret().to_string(),
            qr_png: format!("data:image/png;base64,{png}"),
        }))
    }

    /// The pending enrollment's QR code as a PNG image.
    #[oai(path = "/auth/totp/qr.png", method = "get")]
    async fn qr(&self, _auth: Auth) -> ApiResult<QrResponse> {
        let e = factors::pending_enrollment(&self.state)?;
        Ok(QrResponse::Png(Binary(e.qr_png)))
    }

    /// Confirm enrollment with a code from the app: TOTP turns on, other
    /// sessions are revoked, and the 10 recovery codes are returned once.
    #[oai(path = "/auth/totp/confirm", method = "post")]
    async fn confirm(
        &self,
        auth: Auth,
        client: ClientInfo,
        body: Json<CodeBody>,
    ) -> ApiResult<Json<RecoveryCodesResponse>> {
        let state = &self.state;
        let sid = &auth.principal().session.id;
        let attempt = factors::confirm_enrollment(state, &body.0.code.0, sid, &client);
        let codes = guarded(
            state,
            &client,
            "totp_confirm",
            "/auth/totp/confirm",
            attempt,
        )
        .await?;
        Ok(codes_response(codes))
    }

    /// Turn TOTP off (password and a current code); other sessions are revoked.
    #[oai(path = "/auth/totp/disable", method = "post")]
    async fn disable(
        &self,
        auth: Auth,
        client: ClientInfo,
        body: Json<DisableBody>,
    ) -> ApiResult<DisabledResponse> {
        let state = &self.state;
        let body = body.0;
        let sid = &auth.principal().session.id;
        guarded(
            state,
            &client,
            "totp_disable",
            "/auth/totp/disable",
            async {
                let username = state.credentials.username();
                if !state.credentials.verify(username, body.password.0).await? {
                    return Err(ApiError::InvalidCredentials);
                }
                factors::disable(state, &body.code.0, sid, &client).await
            },
        )
        .await?;
        Ok(DisabledResponse::Done)
    }

    /// Replace the recovery codes (needs a current TOTP code); the old ones
    /// stop working and other sessions are revoked.
    #[oai(path = "/auth/recovery-codes", method = "post")]
    async fn regenerate(
        &self,
        auth: Auth,
        client: ClientInfo,
        body: Json<CodeBody>,
    ) -> ApiResult<Json<RecoveryCodesResponse>> {
        let state = &self.state;
        let sid = &auth.principal().session.id;
        let attempt = factors::regenerate_codes(state, &body.0.code.0, sid, &client);
        let codes = guarded(
            state,
            &client,
            "recovery_codes",
            "/auth/recovery-codes",
            attempt,
        )
        .await?;
        Ok(codes_response(codes))
    }
}
