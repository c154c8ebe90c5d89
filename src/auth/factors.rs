//! The second factor: TOTP enrollment, code checks, recovery codes and the
//! MFA challenge between the password step and the code step.
//!
//! [`Factors`] is a narrow service over the store, the vault and the keys of
//! the second factor. Every public function that checks a code runs it
//! behind the lockout guard itself ([`Lockout::guarded`]: rate limit,
//! reservation, failure counting), so no caller can forget it; the
//! unguarded checks are the login flow's, which guards its steps.
//! Disabling TOTP and new recovery codes take a [`RecentSignIn`]; disabling
//! needs one made with the password. A code is spent only by a request that
//! succeeds: the password is checked first, and a wrong code leaves every
//! other code usable. Enabling, disabling and regenerating codes revoke
//! every other session. Everything acknowledged is flushed before the
//! function returns.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::attempt::Attempt;
use super::error::FactorConflict;
use super::events::{Event, Events, Kind};
use super::lockout::Lockout;
use super::password::CredentialChecker;
use super::recent::RecentSignIn;
use super::sessions::Principal;
use super::vault::Vault;
use super::{recovery, totp, AuthError, AuthResult, Client};
use crate::base::secret::{random_token, ExposeSecret, SecretBytes, SecretString};
use crate::storage::factors::{MfaChallenge, RecoveryCodes, StoredTotp};
use crate::storage::Store;

/// How long a pending enrollment may wait for its confirming code.
pub const PENDING_TTL: i64 = 600;
/// How long an `mfa_token` is good for.
pub const MFA_TTL: i64 = 300;
/// How many answers an `mfa_token` takes: a typo is forgiven, the third
/// wrong answer (or a right one) spends it.
pub const MFA_ATTEMPTS: u8 = 3;

/// What the account's second factor looks like now.
pub struct FactorStatus {
    pub totp_enabled: bool,
    pub recovery_codes_remaining: usize,
}

/// A pending enrollment, ready to show.
pub struct Enrollment {
    /// Base32, for typing into an app by hand.
    pub secret: SecretString,
    pub otpauth_uri: SecretString,
    pub qr_png: Vec<u8>,
}

/// The second factor over the store and the vault.
pub struct Factors<'a> {
    pub store: &'a Store,
    pub vault: &'a Vault,
    /// `AUTH_TOTP_SECRET`, decoded: TOTP managed by the environment.
    pub env_totp: Option<&'a SecretBytes>,
    /// The key of the recovery-code hashes.
    pub pepper: &'a SecretBytes,
    /// Shown in authenticator apps.
    pub issuer: &'a str,
    pub credentials: &'a CredentialChecker,
    /// The guard of every code checked here.
    pub lockout: Lockout<'a>,
}

impl Factors<'_> {
    /// The second-factor status.
    pub fn status(&self) -> AuthResult<FactorStatus> {
        Ok(FactorStatus {
            totp_enabled: self.env_totp.is_some() || self.store.totp_active()?.is_some(),
            recovery_codes_remaining: self.store.recovery_codes()?.hashes.len(),
        })
    }

    /// The secret in force: from the environment, else the enrolled one.
    fn active_secret(&self) -> AuthResult<Option<Zeroizing<Vec<u8>>>> {
        if let Some(env) = self.env_totp {
            return Ok(Some(Zeroizing::new(env.expose_secret().to_vec())));
        }
        match self.store.totp_active()? {
            None => Ok(None),
            Some(stored) => self
                .vault
                .decrypt(&stored.encrypted)
                .map(Some)
                .ok_or_else(|| AuthError::internal("the stored TOTP secret does not decrypt")),
        }
    }

    /// Checks a TOTP code and, if right, spends its time step. Unguarded
    /// and unflushed: for the guarded steps of the login flow and of this
    /// service, which flush once (the change, the session or the failure).
    pub(super) fn verify_totp(&self, code: &SecretString, now: i64) -> AuthResult<bool> {
        let Some(secret) = self.active_secret()? else {
            return Ok(false);
        };
        let last = self.store.last_step()?;
        let Some(step) = totp::check(&secret, code.expose_secret(), now, last) else {
            return Ok(false);
        };
        Ok(self.store.spend_step(step)?)
    }

    /// Checks a recovery code and, if right, spends it. Unguarded and
    /// unflushed, as [`Factors::verify_totp`].
    pub(super) fn use_recovery_code(
        &self,
        code: &SecretString,
        client: &Client,
        events: &mut Events,
    ) -> AuthResult<bool> {
        let Some(hash) = recovery::hash(self.pepper.expose_secret(), code) else {
            return Ok(false);
        };
        let spent = self.store.spend_recovery_code(&hash)?;
        if spent {
            let left = self.store.recovery_codes()?.hashes.len();
            events.push(
                Event::new(Kind::RecoveryCodeUsed, client).detail(format!("remaining={left}")),
            );
        }
        Ok(spent)
    }

    /// A TOTP code, else a recovery code (a lost device).
    fn verify_any_code(
        &self,
        code: &SecretString,
        client: &Client,
        now: i64,
        events: &mut Events,
    ) -> AuthResult<bool> {
        Ok(self.verify_totp(code, now)? || self.use_recovery_code(code, client, events)?)
    }

    fn ensure_enrollable(&self) -> AuthResult<()> {
        if self.env_totp.is_some() {
            return Err(AuthError::Conflict(FactorConflict::ManagedByEnv));
        }
        if self.store.totp_active()?.is_some() {
            return Err(AuthError::Conflict(FactorConflict::AlreadyEnabled));
        }
        Ok(())
    }

    fn enrollment_of(&self, secret: &[u8]) -> AuthResult<Enrollment> {
        let uri = totp::otpauth_uri(secret, self.issuer, self.credentials.username())
            .map_err(AuthError::internal)?;
        let qr_png = totp::qr_png(&uri).map_err(AuthError::internal)?;
        Ok(Enrollment {
            secret: SecretString::from(totp::to_base32(secret)),
            otpauth_uri: SecretString::from(uri),
            qr_png,
        })
    }

    /// Starts an enrollment for the proof's session: a new secret, pending
    /// for [`PENDING_TTL`] seconds, that only this session can see and
    /// confirm.
    pub async fn begin_enrollment(&self, proof: &RecentSignIn) -> AuthResult<Enrollment> {
        let (sid, now) = (proof.session_id(), proof.now());
        self.ensure_enrollable()?;
        let secret = totp::new_secret();
        self.store.put_totp_pending(&StoredTotp {
            encrypted: self.vault.encrypt(&secret),
            created_at: now,
            expires_at: Some(now + PENDING_TTL),
            session: Some(sid.to_string()),
        })?;
        self.store.flush().await?;
        self.enrollment_of(&secret)
    }

    /// Session `sid`'s pending enrollment. Another session's is not there
    /// for it: a stolen access token cannot read or confirm the owner's.
    fn pending(&self, sid: &str, now: i64) -> AuthResult<(StoredTotp, Zeroizing<Vec<u8>>)> {
        self.ensure_enrollable()?;
        let pending = self
            .store
            .totp_pending(now)?
            .filter(|p| p.session.as_deref() == Some(sid))
            .ok_or(AuthError::Conflict(FactorConflict::NothingPending))?;
        let secret = self
            .vault
            .decrypt(&pending.encrypted)
            .ok_or_else(|| AuthError::internal("the pending TOTP secret does not decrypt"))?;
        Ok((pending, secret))
    }

    /// Session `sid`'s pending enrollment again (for the QR image).
    pub fn pending_enrollment(&self, sid: &str, now: i64) -> AuthResult<Enrollment> {
        let (_, secret) = self.pending(sid, now)?;
        self.enrollment_of(&secret)
    }

    /// A new set of recovery codes: the codes to show once, the hashes to keep.
    fn new_codes(&self, now: i64) -> AuthResult<(Vec<SecretString>, RecoveryCodes)> {
        let codes = recovery::generate();
        let hashes = codes
            .iter()
            .map(|c| recovery::hash(self.pepper.expose_secret(), c))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| AuthError::internal("recovery code hashing failed"))?;
        let codes_record = RecoveryCodes {
            hashes,
            created_at: now,
        };
        Ok((codes, codes_record))
    }

    /// Records a factor change and revokes every session but `keep` (durably).
    async fn changed(
        &self,
        kind: Kind,
        client: &Client,
        keep: &str,
        events: &mut Events,
    ) -> AuthResult<()> {
        events.push(Event::new(kind, client).session(keep));
        let revoked = self.store.delete_sessions_except(Some(keep))?;
        self.store.flush().await?;
        if revoked > 0 {
            let detail = format!("reason={} count={revoked}", kind.as_str());
            events.push(Event::new(Kind::SessionRevoked, client).detail(detail));
        }
        Ok(())
    }

    /// Confirms session `keep`'s pending enrollment with a code from the
    /// app, behind the lockout guard: TOTP is on, here are the recovery
    /// codes (shown once), and every other session is revoked.
    pub async fn confirm_enrollment(
        &self,
        code: &SecretString,
        keep: &str,
        client: &Client,
        now: i64,
        events: &mut Events,
    ) -> AuthResult<Vec<SecretString>> {
        self.lockout
            .guarded(client, Attempt::TotpConfirm, now, events, async |own| {
                let (pending, secret) = self.pending(keep, now)?;
                let last = self.store.last_step()?;
                let step = totp::check(&secret, code.expose_secret(), now, last)
                    .ok_or(AuthError::InvalidCode)?;
                let (codes, hashes) = self.new_codes(now)?;
                if !self.store.enable_totp(&pending, step, &hashes)? {
                    return Err(AuthError::InvalidCode);
                }
                self.changed(Kind::TotpEnabled, client, keep, own).await?;
                Ok(codes)
            })
            .await
    }

    fn ensure_enrolled(&self, managed_is_error: bool) -> AuthResult<()> {
        if managed_is_error && self.env_totp.is_some() {
            return Err(AuthError::Conflict(FactorConflict::ManagedByEnv));
        }
        if self.env_totp.is_none() && self.store.totp_active()?.is_none() {
            return Err(AuthError::Conflict(FactorConflict::NotEnabled));
        }
        Ok(())
    }

    /// Turns TOTP off, given the proof of the password (a recent session
    /// alone is `ReauthRequired`) and a current TOTP code or a recovery
    /// code, checked behind the lockout guard. The proof came first, so a
    /// wrong password spends no code.
    pub async fn disable(
        &self,
        proof: &RecentSignIn,
        code: &SecretString,
        events: &mut Events,
    ) -> AuthResult<()> {
        if !proof.password_given() {
            return Err(AuthError::ReauthRequired);
        }
        let (client, keep, now) = (proof.client(), proof.session_id(), proof.now());
        self.lockout
            .guarded(client, Attempt::TotpDisable, now, events, async |own| {
                self.ensure_enrolled(true)?;
                if !self.verify_any_code(code, client, now, own)? {
                    return Err(AuthError::InvalidCode);
                }
                self.store.disable_totp()?;
                self.changed(Kind::TotpDisabled, client, keep, own).await
            })
            .await
    }

    /// Replaces the recovery codes, given a current TOTP code, checked
    /// behind the lockout guard.
    pub async fn regenerate_codes(
        &self,
        principal: &Principal,
        client: &Client,
        code: &SecretString,
        now: i64,
        events: &mut Events,
    ) -> AuthResult<Vec<SecretString>> {
        // The current code is the proof here (as the API has always had it),
        // behind the lockout: no recent sign-in is asked for.
        let keep = principal.session.id.as_str();
        self.lockout
            .guarded(client, Attempt::RecoveryCodes, now, events, async |own| {
                self.ensure_enrolled(false)?;
                if !self.verify_totp(code, now)? {
                    return Err(AuthError::InvalidCode);
                }
                let (codes, hashes) = self.new_codes(now)?;
                let managed = self.env_totp.is_some();
                if !self.store.replace_recovery_codes(&hashes, managed)? {
                    return Err(AuthError::Conflict(FactorConflict::NotEnabled));
                }
                let kind = Kind::RecoveryCodesRegenerated;
                self.changed(kind, client, keep, own).await?;
                Ok(codes)
            })
            .await
    }

    /// After a right password: a single-use `mfa_token` for the code step.
    /// `remember` is the login's, for the session the second step starts.
    pub async fn start_challenge(&self, remember: bool, now: i64) -> AuthResult<SecretString> {
        let token = random_token(32);
        let challenge = MfaChallenge {
            expires_at: now + MFA_TTL,
            remember,
            attempts: 0,
        };
        self.store
            .put_mfa_challenge(&challenge_key(token.expose_secret()), &challenge)?;
        self.store.flush().await?;
        Ok(token)
    }

    /// The key of the live challenge `mfa_token` names (it stays live).
    pub fn live_challenge(&self, mfa_token: &SecretString, now: i64) -> AuthResult<[u8; 32]> {
        let key = challenge_key(mfa_token.expose_secret());
        match self.store.mfa_challenge(&key, now)? {
            Some(_) => Ok(key),
            None => Err(AuthError::InvalidToken),
        }
    }

    /// Counts one attempt at the live challenge under `key` (made before
    /// the answer is checked, so parallel tries share the
    /// [`MFA_ATTEMPTS`]); returns the login's "remember me". The last
    /// attempt ends the challenge. The caller flushes.
    pub fn attempt_challenge(&self, key: &[u8; 32], now: i64) -> AuthResult<bool> {
        match self.store.count_mfa_attempt(key, now, MFA_ATTEMPTS)? {
            Some(challenge) => Ok(challenge.remember),
            None => Err(AuthError::InvalidToken),
        }
    }

    /// Ends the challenge under `key`: its answer was right. The caller
    /// flushes.
    pub fn end_challenge(&self, key: &[u8; 32]) -> AuthResult<()> {
        self.store.take_mfa_challenge(key)?;
        Ok(())
    }
}

fn challenge_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testkit::{
        by_password, client, enroll, enroll_as, principal, recent, secret, secret_code, Kit,
    };

    #[tokio::test]
    async fn enrolling_turns_totp_on_and_revokes_the_other_sessions() {
        let kit = Kit::new(5);
        let sessions = kit.sessions();
        let other = sessions
            .start(vec![crate::base::amr::Amr::Pwd], &client(), true, kit.now())
            .await
            .unwrap();
        let proof = recent(&kit).await;
        let keep = kit.store.live_session(proof.session_id(), kit.now());
        let keep = keep.unwrap().unwrap();
        let (_, codes) = enroll_as(&kit, &proof).await;
        assert_eq!(codes.len(), 10);
        let status = kit.factors().status().unwrap();
        assert!(status.totp_enabled);
        assert_eq!(status.recovery_codes_remaining, 10);
        assert!(kit
            .store
            .live_session(&keep.id, kit.now())
            .unwrap()
            .is_some());
        assert!(sessions
            .authenticate(&other.access_token, kit.now())
            .is_err());
        assert!(matches!(
            kit.factors().begin_enrollment(&proof).await,
            Err(AuthError::Conflict(FactorConflict::AlreadyEnabled))
        ));
    }

    #[tokio::test]
    async fn a_code_works_once_and_a_pending_enrollment_expires() {
        let kit = Kit::new(5);
        let factors = kit.factors();
        let proof = recent(&kit).await;
        factors.begin_enrollment(&proof).await.unwrap();
        let s1 = proof.session_id();
        let pending = |sid: &str, at: i64| factors.pending_enrollment(sid, at);
        assert!(pending(s1, kit.now() + PENDING_TTL - 1).is_ok());
        let nothing = |r| matches!(r, Err(AuthError::Conflict(FactorConflict::NothingPending)));
        assert!(
            nothing(pending("s2", kit.now())),
            "another session does not see it"
        );
        assert!(nothing(pending(s1, kit.now() + PENDING_TTL)), "expired");
        let (totp_secret, _) = enroll(&kit).await;
        let code = secret_code(&totp_secret, kit.now());
        assert!(factors.verify_totp(&code, kit.now()).unwrap());
        assert!(!factors.verify_totp(&code, kit.now()).unwrap(), "replay");
    }

    #[tokio::test]
    async fn disabling_needs_the_password_given_and_a_code_behind_the_guard() {
        let kit = Kit::new(5);
        let (_, codes) = enroll(&kit).await;
        let factors = kit.factors();
        let mut events = Events::new();
        let code = secret(&codes[0]);
        let recent_only = recent(&kit).await;
        let refused = factors.disable(&recent_only, &code, &mut events).await;
        assert!(matches!(refused, Err(AuthError::ReauthRequired)));
        assert_eq!(
            factors.status().unwrap().recovery_codes_remaining,
            10,
            "no code spent"
        );
        let proof = by_password(&kit).await;
        let wrong = secret("AAAAA-AAAAA");
        let wrong = factors.disable(&proof, &wrong, &mut events).await;
        assert!(matches!(wrong, Err(AuthError::InvalidCode)));
        factors.disable(&proof, &code, &mut events).await.unwrap();
        assert!(!factors.status().unwrap().totp_enabled);
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "mfa_failure",
                "recovery_code_used",
                "totp_disabled",
                "session_revoked"
            ]
        );
        assert_eq!(events[0].detail, "reason=code via=totp_disable");
        assert_eq!(events[2].session.as_deref(), Some(proof.session_id()));
    }

    #[tokio::test]
    async fn regenerating_voids_the_old_codes() {
        let kit = Kit::new(5);
        let (totp_secret, old) = enroll(&kit).await;
        let factors = kit.factors();
        let mut events = Events::new();
        let code = secret_code(&totp_secret, kit.now());
        let who = principal(&kit).await;
        let fresh = factors
            .regenerate_codes(&who, &client(), &code, kit.now(), &mut events)
            .await
            .unwrap();
        assert_eq!(fresh.len(), 10);
        assert!(!factors
            .use_recovery_code(&secret(&old[0]), &client(), &mut events)
            .unwrap());
        assert!(factors
            .use_recovery_code(&fresh[0], &client(), &mut events)
            .unwrap());
    }

    /// The guard is the service's own: wrong codes at confirm and at new
    /// recovery codes count towards the lockout with no caller's help.
    #[tokio::test]
    async fn wrong_codes_lock_the_address_whoever_calls() {
        let kit = Kit::new(2);
        let factors = kit.factors();
        let proof = recent(&kit).await;
        factors.begin_enrollment(&proof).await.unwrap();
        let mut events = Events::new();
        let (sid, now, x, client) = (proof.session_id(), proof.now(), secret("x"), client());
        let wrong = factors.confirm_enrollment(&x, sid, &client, now, &mut events);
        assert!(matches!(wrong.await, Err(AuthError::InvalidCode)));
        let who = principal(&kit).await;
        let wrong = factors.regenerate_codes(&who, &client, &x, now, &mut events);
        assert!(
            matches!(
                wrong.await,
                Err(AuthError::Conflict(FactorConflict::NotEnabled))
            ),
            "not enrolled yet: a conflict, not counted"
        );
        let wrong = factors.confirm_enrollment(&x, sid, &client, now, &mut events);
        assert!(matches!(wrong.await, Err(AuthError::InvalidCode)));
        let locked = factors.confirm_enrollment(&x, sid, &client, now, &mut events);
        assert!(matches!(locked.await, Err(AuthError::Locked { .. })));
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["mfa_failure", "mfa_failure", "lockout", "locked"]);
        assert_eq!(events[0].detail, "reason=code via=totp_confirm");
    }
}
