//! TOTP enrollment and recovery codes: `/auth/totp/*`, `/auth/recovery-codes`.

use std::sync::Arc;

use base64::Engine;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::{decide, sensitive, Auth, OptionalJson, ReauthBody, SecretInput};
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

/// A TOTP code from the authenticator app.
#[derive(Object)]
pub struct CodeBody {
    code: SecretInput,
}

/// A current TOTP code, to replace the recovery codes.
#[derive(Object)]
pub struct RegenerateBody {
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
        let (state, factors) = (&self.state, self.state.auth.factors());
        let password = ReauthBody::password(body);
        let e = sensitive(state, &auth, &client, password, async |proof, _| {
            factors.begin_enrollment(proof).await
        })
        .await?;
        let png = base64::engine::general_purpose::STANDARD.encode(&e.qr_png);
        Ok(Json(SetupResponse {
            secret: e.secret.expose_secret().to_string(),
            otpauth_uri: e.otpauth_uri.expose_secret().to_string(),
            qr_png: format!("data:image/png;base64,{png}"),
        }))
    }

    /// The pending enrollment's QR code as a PNG image.
    #[oai(path = "/auth/totp/qr.png", method = "get")]
    async fn qr(&self, auth: Auth) -> ApiResult<QrResponse> {
        let (state, sid) = (&self.state, &auth.principal().session.id);
        let e = state.auth.factors().pending_enrollment(sid, state.now())?;
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
        let (state, factors) = (&self.state, self.state.auth.factors());
        let (sid, code) = (&auth.principal().session.id, &body.code.0);
        let codes = decide(state, async |events, now| {
            factors
                .confirm_enrollment(code, sid, &client, now, events)
                .await
        })
        .await?;
        Ok(codes_response(codes))
    }

    /// Turn TOTP off (password and a current code); other sessions are revoked.
    #[oai(path = "/auth/totp/disable", method = "post")]
    async fn disable(
        &self,
        auth: Auth,
        client: Client,
        body: Json<DisableBody>,
    ) -> ApiResult<DisabledResponse> {
        let (state, factors) = (&self.state, self.state.auth.factors());
        let DisableBody { password, code } = body.0;
        sensitive(
            state,
            &auth,
            &client,
            Some(password.0),
            async |proof, events| factors.disable(proof, &code.0, events).await,
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
        client: Client,
        body: Json<RegenerateBody>,
    ) -> ApiResult<Json<RecoveryCodesResponse>> {
        let (state, factors) = (&self.state, self.state.auth.factors());
        let codes = decide(state, async |events, now| {
            let principal = auth.principal();
            factors
                .regenerate_codes(principal, &client, &body.code.0, now, events)
                .await
        })
        .await?;
        Ok(codes_response(codes))
    }
}
