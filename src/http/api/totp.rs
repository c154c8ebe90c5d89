//! TOTP enrollment and recovery codes: `/auth/totp/*`, `/auth/recovery-codes`.

use std::sync::Arc;

use base64::Engine;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::{recorded, Auth, OptionalJson, SecretInput};
use crate::auth::events::Events;
use crate::auth::Client;
use crate::base::secret::{ExposeSecret, SecretString};
use crate::http::error::ApiResult;
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
        client: Client,
        body: OptionalJson<ReauthBody>,
    ) -> ApiResult<Json<SetupResponse>> {
        let (state, now) = (&self.state, self.state.now());
        let password = body.0.map(|b| b.password.0);
        let mut events = Events::new();
        let confirmed = state
            .login()
            .confirm_recent(auth.principal(), &client, password, now, &mut events)
            .await;
        recorded(state, &events, confirmed)?;
        let e = state.factors().begin_enrollment(now).await?;
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
        let e = self.state.factors().pending_enrollment(self.state.now())?;
        Ok(QrResponse::Png(Binary(e.qr_png)))
    }

    /// Confirm enrollment with a code from the app: TOTP turns on, other
    /// sessions are revoked, and the 10 recovery codes are returned once.
    #[oai(path = "/auth/totp/confirm", method = "post")]
    async fn confirm(
        &self,
        auth: Auth,
        client: Client,
        body: Json<CodeBody>,
    ) -> ApiResult<Json<RecoveryCodesResponse>> {
        let (state, now) = (&self.state, self.state.now());
        let (sid, factors) = (&auth.principal().session.id, state.factors());
        let mut events = Events::new();
        let confirm = async |own: &mut Events| {
            factors
                .confirm_enrollment(&body.code.0, sid, &client, now, own)
                .await
        };
        let result = state
            .lockout()
            .guarded(&client, "totp_confirm", now, &mut events, confirm)
            .await;
        Ok(codes_response(recorded(state, &events, result)?))
    }

    /// Turn TOTP off (password and a current code); other sessions are revoked.
    #[oai(path = "/auth/totp/disable", method = "post")]
    async fn disable(
        &self,
        auth: Auth,
        client: Client,
        body: Json<DisableBody>,
    ) -> ApiResult<DisabledResponse> {
        let (state, now) = (&self.state, self.state.now());
        let (sid, factors, body) = (&auth.principal().session.id, state.factors(), body.0);
        let mut events = Events::new();
        let disable = async |own: &mut Events| {
            let password = body.password.0;
            factors
                .disable(password, &body.code.0, sid, &client, now, own)
                .await
        };
        let result = state
            .lockout()
            .guarded(&client, "totp_disable", now, &mut events, disable)
            .await;
        recorded(state, &events, result)?;
        Ok(DisabledResponse::Done)
    }

    /// Replace the recovery codes (needs a current TOTP code); the old ones
    /// stop working and other sessions are revoked.
    #[oai(path = "/auth/recovery-codes", method = "post")]
    async fn regenerate(
        &self,
        auth: Auth,
        client: Client,
        body: Json<CodeBody>,
    ) -> ApiResult<Json<RecoveryCodesResponse>> {
        let (state, now) = (&self.state, self.state.now());
        let (sid, factors) = (&auth.principal().session.id, state.factors());
        let mut events = Events::new();
        let regenerate = async |own: &mut Events| {
            factors
                .regenerate_codes(&body.code.0, sid, &client, now, own)
                .await
        };
        let result = state
            .lockout()
            .guarded(&client, "recovery_codes", now, &mut events, regenerate)
            .await;
        Ok(codes_response(recorded(state, &events, result)?))
    }
}
