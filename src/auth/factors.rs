//! The second factor: TOTP enrollment, code checks, recovery codes and the
//! MFA challenge between the password step and the code step.
//!
//! A code is spent only by a request that succeeds: callers check the
//! password first, and a wrong code leaves every other code usable. Enabling,
//! disabling and regenerating codes revoke every other session. Everything
//! acknowledged is flushed before the function returns.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::auth::sessions::ClientInfo;
use crate::auth::{recovery, totp};
use crate::base::secret::{random_token, ExposeSecret, SecretString};
use crate::http::audit::{self, Kind};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::storage::factors::{MfaChallenge, RecoveryCodes, StoredTotp};

/// How long a pending enrollment may wait for its confirming code.
pub const PENDING_TTL: i64 = 600;
/// How long an `mfa_token` is good for.
pub const MFA_TTL: i64 = 300;

/// What the account's second factor looks like now.
pub struct FactorStatus {
    pub totp_enabled: bool,
    pub env_managed: bool,
    pub recovery_codes_remaining: usize,
}

/// A pending enrollment, ready to show.
pub struct Enrollment {
    /// Base32, for typing into an app by hand.
    pub secret: SecretString,
    pub otpauth_uri: SecretString,
    pub qr_png: Vec<u8>,
}

fn conflict(code: &'static str, message: &str) -> ApiError {
    ApiError::Conflict {
        code,
        message: message.into(),
    }
}

/// The second-factor status.
pub fn status(state: &AppState) -> ApiResult<FactorStatus> {
    Ok(FactorStatus {
        totp_enabled: state.env_totp.is_some() || state.store.totp_active()?.is_some(),
        env_managed: state.env_totp.is_some(),
        recovery_codes_remaining: state.store.recovery_codes()?.hashes.len(),
    })
}

/// The secret in force: from the environment, else the enrolled one.
fn active_secret(state: &AppState) -> ApiResult<Option<Zeroizing<Vec<u8>>>> {
    if let Some(env) = &state.env_totp {
        return Ok(Some(Zeroizing::new(env.expose_secret().to_vec())));
    }
    match state.store.totp_active()? {
        None => Ok(None),
        Some(stored) => state
            .vault
            .decrypt(&stored.encrypted)
            .map(Some)
            .ok_or_else(|| ApiError::internal("the stored TOTP secret does not decrypt")),
    }
}

/// Checks a TOTP code and, if right, spends its time step (durably).
pub async fn verify_totp_code(state: &AppState, code: &SecretString) -> ApiResult<bool> {
    let Some(secret) = active_secret(state)? else {
        return Ok(false);
    };
    let last = state.store.last_step()?;
    let Some(step) = totp::check(&secret, code.expose_secret(), state.now(), last) else {
        return Ok(false);
    };
    let spent = state.store.spend_step(step)?;
    state.store.flush().await?;
    Ok(spent)
}

/// Checks a recovery code and, if right, spends it (durably).
pub async fn use_recovery_code(
    state: &AppState,
    code: &SecretString,
    client: &ClientInfo,
) -> ApiResult<bool> {
    let Some(hash) = recovery::hash(state.pepper.expose_secret(), code) else {
        return Ok(false);
    };
    let spent = state.store.spend_recovery_code(&hash)?;
    if spent {
        let left = state.store.recovery_codes()?.hashes.len();
        audit::record(
            state,
            Kind::RecoveryCodeUsed,
            &client.ip_str(),
            None,
            &format!("remaining={left}"),
        );
    }
    state.store.flush().await?;
    Ok(spent)
}

fn ensure_enrollable(state: &AppState) -> ApiResult<()> {
    if state.env_totp.is_some() {
        return Err(conflict(
            "totp_managed_by_env",
            "TOTP is set by AUTH_TOTP_SECRET; change it in the environment",
        ));
    }
    if state.store.totp_active()?.is_some() {
        return Err(conflict(
            "totp_already_enabled",
            "TOTP is already enabled; disable it first to enroll a new device",
        ));
    }
    Ok(())
}

fn enrollment_of(state: &AppState, secret: &[u8]) -> ApiResult<Enrollment> {
    let uri = totp::otpauth_uri(
        secret,
        &state.config.totp_issuer,
        state.credentials.username(),
    )
    .map_err(ApiError::internal)?;
    let qr_png = totp::qr_png(&uri).map_err(ApiError::internal)?;
    Ok(Enrollment {
        secret: SecretString::from(totp::to_base32(secret)),
        otpauth_uri: SecretString::from(uri),
        qr_png,
    })
}

/// Starts an enrollment: a new secret, pending for [`PENDING_TTL`] seconds.
pub async fn begin_enrollment(state: &AppState) -> ApiResult<Enrollment> {
    ensure_enrollable(state)?;
    let now = state.now();
    let secret = totp::new_secret();
    state.store.put_totp_pending(&StoredTotp {
        encrypted: state.vault.encrypt(&secret),
        created_at: now,
        expires_at: Some(now + PENDING_TTL),
    })?;
    state.store.flush().await?;
    enrollment_of(state, &secret)
}

fn pending(state: &AppState) -> ApiResult<(StoredTotp, Zeroizing<Vec<u8>>)> {
    ensure_enrollable(state)?;
    let pending = state.store.totp_pending(state.now())?.ok_or_else(|| {
        conflict(
            "totp_not_enabled",
            "no TOTP enrollment is pending; call POST /auth/totp/setup first",
        )
    })?;
    let secret = state
        .vault
        .decrypt(&pending.encrypted)
        .ok_or_else(|| ApiError::internal("the pending TOTP secret does not decrypt"))?;
    Ok((pending, secret))
}

/// The pending enrollment again (for the QR image).
pub fn pending_enrollment(state: &AppState) -> ApiResult<Enrollment> {
    let (_, secret) = pending(state)?;
    enrollment_of(state, &secret)
}

/// A new set of recovery codes: the codes to show once, the hashes to keep.
fn new_codes(state: &AppState) -> ApiResult<(Vec<SecretString>, RecoveryCodes)> {
    let codes = recovery::generate();
    let hashes = codes
        .iter()
        .map(|c| recovery::hash(state.pepper.expose_secret(), c))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ApiError::internal("recovery code hashing failed"))?;
    Ok((
        codes,
        RecoveryCodes {
            hashes,
            created_at: state.now(),
        },
    ))
}

/// Records a factor change, revokes every session but `keep`, and flushes.
async fn factor_changed(
    state: &AppState,
    kind: Kind,
    client: &ClientInfo,
    keep: &str,
) -> ApiResult<()> {
    let ip = client.ip_str();
    audit::record(state, kind, &ip, Some(keep), "");
    let revoked = crate::auth::sessions::revoke_others(state, keep).await?;
    if revoked > 0 {
        let detail = format!("reason={} count={revoked}", kind.as_str());
        audit::record(state, Kind::SessionRevoked, &ip, None, &detail);
    }
    Ok(())
}

/// Confirms the pending enrollment with a code from the app: TOTP is on,
/// here are the recovery codes (shown once).
pub async fn confirm_enrollment(
    state: &AppState,
    code: &SecretString,
    keep_session: &str,
    client: &ClientInfo,
) -> ApiResult<Vec<SecretString>> {
    let (pending, secret) = pending(state)?;
    let last = state.store.last_step()?;
    let step = totp::check(&secret, code.expose_secret(), state.now(), last)
        .ok_or(ApiError::InvalidCode)?;
    let (codes, hashes) = new_codes(state)?;
    if !state.store.enable_totp(&pending, step, &hashes)? {
        return Err(ApiError::InvalidCode);
    }
    factor_changed(state, Kind::TotpEnabled, client, keep_session).await?;
    Ok(codes)
}

fn ensure_enrolled(state: &AppState, managed_is_error: bool) -> ApiResult<()> {
    if managed_is_error && state.env_totp.is_some() {
        return Err(conflict(
            "totp_managed_by_env",
            "TOTP is set by AUTH_TOTP_SECRET; remove it from the environment to turn TOTP off",
        ));
    }
    if state.env_totp.is_none() && state.store.totp_active()?.is_none() {
        return Err(conflict("totp_not_enabled", "TOTP is not enabled"));
    }
    Ok(())
}

/// Turns TOTP off, given a current TOTP code or a recovery code (the caller
/// has checked the password).
pub async fn disable(
    state: &AppState,
    code: &SecretString,
    keep_session: &str,
    client: &ClientInfo,
) -> ApiResult<()> {
    ensure_enrolled(state, true)?;
    let ok = verify_totp_code(state, code).await? || use_recovery_code(state, code, client).await?;
    if !ok {
        return Err(ApiError::InvalidCode);
    }
    state.store.disable_totp()?;
    factor_changed(state, Kind::TotpDisabled, client, keep_session).await
}

/// Replaces the recovery codes, given a current TOTP code.
pub async fn regenerate_codes(
    state: &AppState,
    code: &SecretString,
    keep_session: &str,
    client: &ClientInfo,
) -> ApiResult<Vec<SecretString>> {
    ensure_enrolled(state, false)?;
    if !verify_totp_code(state, code).await? {
        return Err(ApiError::InvalidCode);
    }
    let (codes, hashes) = new_codes(state)?;
    let env_managed = state.env_totp.is_some();
    if !state.store.replace_recovery_codes(&hashes, env_managed)? {
        return Err(conflict(
            "totp_not_enabled",
            "TOTP was turned off meanwhile",
        ));
    }
    factor_changed(state, Kind::RecoveryCodesRegenerated, client, keep_session).await?;
    Ok(codes)
}

fn challenge_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// After a right password: a single-use `mfa_token` for the code step.
pub async fn start_challenge(state: &AppState) -> ApiResult<SecretString> {
    let token = random_token(32);
    let challenge = MfaChallenge {
        expires_at: state.now() + MFA_TTL,
    };
    state
        .store
        .put_mfa_challenge(&challenge_key(token.expose_secret()), &challenge)?;
    state.store.flush().await?;
    Ok(token)
}

/// The second factor offered for an `mfa_token`.
pub enum SecondFactor {
    Totp(SecretString),
    Recovery(SecretString),
}

/// Completes a challenge. The token is single-use: any attempt, right or
/// wrong, ends it (a wrong code means starting again from the password).
pub async fn complete_challenge(
    state: &AppState,
    mfa_token: &SecretString,
    factor: &SecondFactor,
    client: &ClientInfo,
) -> ApiResult<()> {
    let key = challenge_key(mfa_token.expose_secret());
    let live = state.store.mfa_challenge(&key, state.now())?.is_some();
    if !live || !state.store.take_mfa_challenge(&key)? {
        return Err(ApiError::InvalidToken);
    }
    let ok = match factor {
        SecondFactor::Totp(code) => verify_totp_code(state, code).await?,
        SecondFactor::Recovery(code) => use_recovery_code(state, code, client).await?,
    };
    state.store.flush().await?;
    if ok {
        Ok(())
    } else {
        Err(ApiError::InvalidCode)
    }
}
