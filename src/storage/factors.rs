//! Second-factor state: the TOTP secret (active and pending, Fernet-encrypted),
//! the last accepted time step, the recovery-code hashes and their pepper, and
//! pending MFA challenges.
//!
//! Everything but the challenges lives in the small `factors` tree, so each
//! change of state is one sled transaction over one tree: spending a time step
//! or a recovery code, enabling, disabling and regenerating are all atomic,
//! and of two concurrent uses of one code exactly one wins.

use serde::{Deserialize, Serialize};
use sled::transaction::{abort, ConflictableTransactionError, TransactionError};

use super::{decode, encode, Store};
use crate::base::secret::ct_eq;

const ACTIVE: &str = "totp_active";
const PENDING: &str = "totp_pending";
const LAST_STEP: &str = "last_step";
const RECOVERY: &str = "recovery_codes";
const PEPPER: &str = "recovery_pepper";

/// A Fernet-encrypted TOTP secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredTotp {
    pub encrypted: String,
    pub created_at: i64,
    /// Pending enrollments expire; the active secret does not.
    pub expires_at: Option<i64>,
    /// The session that started a pending enrollment: only it may see or
    /// confirm it.
    #[serde(default)]
    pub session: Option<String>,
}

/// The current set of recovery-code hashes.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RecoveryCodes {
    pub hashes: Vec<String>,
    pub created_at: i64,
}

/// A password-verified login waiting for its second factor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfaChallenge {
    pub expires_at: i64,
    /// The login's "remember me", for the session the code step starts.
    #[serde(default = "crate::storage::sessions::remembered")]
    pub remember: bool,
}

fn tx_get<T: serde::de::DeserializeOwned, E>(
    tree: &sled::transaction::TransactionalTree,
    key: &str,
) -> Result<Option<T>, ConflictableTransactionError<E>> {
    Ok(tree.get(key)?.and_then(|raw| decode(&raw)))
}

fn committed(result: Result<bool, TransactionError<()>>) -> Result<bool, sled::Error> {
    match result {
        Ok(done) => Ok(done),
        Err(TransactionError::Abort(())) => Ok(false),
        Err(TransactionError::Storage(e)) => Err(e),
    }
}

impl Store {
    fn factor<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, sled::Error> {
        Ok(self.factors.get(key)?.and_then(|raw| decode(&raw)))
    }

    /// The active TOTP secret, if TOTP was enrolled.
    pub fn totp_active(&self) -> Result<Option<StoredTotp>, sled::Error> {
        self.factor(ACTIVE)
    }

    /// The pending enrollment, if one has not expired at `now`.
    pub fn totp_pending(&self, now: i64) -> Result<Option<StoredTotp>, sled::Error> {
        Ok(self
            .factor::<StoredTotp>(PENDING)?
            .filter(|p| p.expires_at.is_none_or(|e| e > now)))
    }

    /// Stores a pending enrollment, replacing any earlier one.
    pub fn put_totp_pending(&self, pending: &StoredTotp) -> Result<(), sled::Error> {
        self.factors.insert(PENDING, encode(pending)?)?;
        Ok(())
    }

    /// The last accepted TOTP time step.
    pub fn last_step(&self) -> Result<Option<i64>, sled::Error> {
        self.factor(LAST_STEP)
    }

    /// Records `step` as used if it is newer than the last; false if it is not.
    pub fn spend_step(&self, step: i64) -> Result<bool, sled::Error> {
        committed(self.factors.transaction(|t| {
            if tx_get::<i64, ()>(t, LAST_STEP)?.is_some_and(|last| step <= last) {
                return abort(());
            }
            t.insert(LAST_STEP, encode(&step)?)?;
            Ok(true)
        }))
    }

    /// Turns the pending enrollment (still `pending`) into the active secret,
    /// spending `step` and installing `codes`; false if anything moved meanwhile.
    pub fn enable_totp(
        &self,
        pending: &StoredTotp,
        step: i64,
        codes: &RecoveryCodes,
    ) -> Result<bool, sled::Error> {
        committed(self.factors.transaction(|t| {
            let still_pending =
                tx_get::<StoredTotp, ()>(t, PENDING)?.is_some_and(|p| &p == pending);
            let step_fresh = tx_get::<i64, ()>(t, LAST_STEP)?.is_none_or(|last| step > last);
            if !still_pending || !step_fresh || t.get(ACTIVE)?.is_some() {
                return abort(());
            }
            let active = StoredTotp {
                expires_at: None,
                session: None,
                ..pending.clone()
            };
            t.insert(ACTIVE, encode(&active)?)?;
            t.remove(PENDING)?;
            t.insert(LAST_STEP, encode(&step)?)?;
            t.insert(RECOVERY, encode(codes)?)?;
            Ok(true)
        }))
    }

    /// Turns TOTP off: removes the secret, any pending enrollment, the codes
    /// and open MFA challenges. The last used step is kept, so old codes stay
    /// spent.
    pub fn disable_totp(&self) -> Result<(), sled::Error> {
        let mut batch = sled::Batch::default();
        batch.remove(ACTIVE);
        batch.remove(PENDING);
        batch.remove(RECOVERY);
        self.factors.apply_batch(batch)?;
        self.mfa_challenges.clear()
    }

    /// Forgets every second-factor secret, the recovery-code pepper included
    /// (for a lost device or a lost encryption key; a new pepper is made at
    /// the next start).
    pub fn reset_factors(&self) -> Result<(), sled::Error> {
        self.disable_totp()?;
        self.factors.remove(PEPPER)?;
        Ok(())
    }

    /// The current recovery codes (empty when none).
    pub fn recovery_codes(&self) -> Result<RecoveryCodes, sled::Error> {
        Ok(self.factor(RECOVERY)?.unwrap_or_default())
    }

    /// Replaces every recovery code, if TOTP is on (enrolled, or
    /// `env_managed`); false if it is not.
    pub fn replace_recovery_codes(
        &self,
        codes: &RecoveryCodes,
        env_managed: bool,
    ) -> Result<bool, sled::Error> {
        committed(self.factors.transaction(|t| {
            if !env_managed && t.get(ACTIVE)?.is_none() {
                return abort(());
            }
            t.insert(RECOVERY, encode(codes)?)?;
            Ok(true)
        }))
    }

    /// Replaces an unreadable pepper when nothing depends on it (no enrolled
    /// secret, no recovery codes); false if something does.
    pub fn replace_unused_pepper(&self, fresh: &str) -> Result<bool, sled::Error> {
        committed(self.factors.transaction(|t| {
            let codes = tx_get::<RecoveryCodes, ()>(t, RECOVERY)?.unwrap_or_default();
            if t.get(ACTIVE)?.is_some() || !codes.hashes.is_empty() {
                return abort(());
            }
            t.insert(PEPPER, encode(&fresh.to_string())?)?;
            Ok(true)
        }))
    }

    /// Removes the code with hash `hash`; false if there is none (already used).
    pub fn spend_recovery_code(&self, hash: &str) -> Result<bool, sled::Error> {
        committed(self.factors.transaction(|t| {
            let mut codes = tx_get::<RecoveryCodes, ()>(t, RECOVERY)?.unwrap_or_default();
            let before = codes.hashes.len();
            codes
                .hashes
                .retain(|h| !ct_eq(h.as_bytes(), hash.as_bytes()));
            if codes.hashes.len() == before {
                return abort(());
            }
            t.insert(RECOVERY, encode(&codes)?)?;
            Ok(true)
        }))
    }

    /// The encrypted recovery-code pepper, created from `make` on first use.
    pub fn recovery_pepper(&self, make: impl FnOnce() -> String) -> Result<String, sled::Error> {
        if let Some(existing) = self.factor::<String>(PEPPER)? {
            return Ok(existing);
        }
        let fresh = make();
        match self
            .factors
            .compare_and_swap(PEPPER, None as Option<&[u8]>, Some(encode(&fresh)?))?
        {
            Ok(()) => {
                self.flush_blocking()?;
                Ok(fresh)
            }
            Err(_) => Ok(self.factor::<String>(PEPPER)?.unwrap_or(fresh)),
        }
    }

    /// Rewrites every encrypted value through `reencrypt`, in one transaction.
    /// A pending enrollment nothing can read is dropped (it is only a
    /// half-finished setup). Returns how many values changed, or the names of
    /// those that no key decrypts (then nothing changes).
    pub fn reencrypt_factors(
        &self,
        reencrypt: impl Fn(&str) -> Option<String>,
    ) -> Result<Result<usize, Vec<&'static str>>, sled::Error> {
        let result = self.factors.transaction(|t| {
            let mut changed = 0;
            let mut unreadable = Vec::new();
            if let Some(mut pending) = tx_get::<StoredTotp, _>(t, PENDING)? {
                match reencrypt(&pending.encrypted) {
                    Some(fresh) => {
                        pending.encrypted = fresh;
                        t.insert(PENDING, encode(&pending)?)?;
                        changed += 1;
                    }
                    None => {
                        t.remove(PENDING)?;
                    }
                }
            }
            if let Some(mut active) = tx_get::<StoredTotp, _>(t, ACTIVE)? {
                match reencrypt(&active.encrypted) {
                    Some(fresh) => {
                        active.encrypted = fresh;
                        t.insert(ACTIVE, encode(&active)?)?;
                        changed += 1;
                    }
                    None => unreadable.push("the TOTP secret"),
                }
            }
            if let Some(pepper) = tx_get::<String, _>(t, PEPPER)? {
                match reencrypt(&pepper) {
                    Some(fresh) => {
                        t.insert(PEPPER, encode(&fresh)?)?;
                        changed += 1;
                    }
                    None => unreadable.push("the recovery-code key"),
                }
            }
            if unreadable.is_empty() {
                Ok(Ok(changed))
            } else {
                abort(unreadable)
            }
        });
        match result {
            Ok(done) => Ok(done),
            Err(TransactionError::Abort(unreadable)) => Ok(Err(unreadable)),
            Err(TransactionError::Storage(e)) => Err(e),
        }
    }

    /// Stores an MFA challenge under the hash of its token.
    pub fn put_mfa_challenge(
        &self,
        key: &[u8; 32],
        challenge: &MfaChallenge,
    ) -> Result<(), sled::Error> {
        self.mfa_challenges.insert(key, encode(challenge)?)?;
        Ok(())
    }

    /// The live challenge under `key`.
    pub fn mfa_challenge(
        &self,
        key: &[u8; 32],
        now: i64,
    ) -> Result<Option<MfaChallenge>, sled::Error> {
        Ok(self
            .mfa_challenges
            .get(key)?
            .and_then(|raw| decode::<MfaChallenge>(&raw))
            .filter(|c| c.expires_at > now))
    }

    /// Ends a challenge; true for the one caller that removed it.
    pub fn take_mfa_challenge(&self, key: &[u8; 32]) -> Result<bool, sled::Error> {
        Ok(self.mfa_challenges.remove(key)?.is_some())
    }

    /// Removes expired challenges and an expired pending enrollment.
    pub fn purge_expired_factors(&self, now: i64) -> Result<(), sled::Error> {
        for item in self.mfa_challenges.iter() {
            let (key, raw) = item?;
            if decode::<MfaChallenge>(&raw).is_none_or(|c| c.expires_at <= now) {
                self.mfa_challenges.remove(key)?;
            }
        }
        if self.factor::<StoredTotp>(PENDING)?.is_some() && self.totp_pending(now)?.is_none() {
            self.factors.remove(PENDING)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::storage::temp_store as store;

    fn pending() -> StoredTotp {
        StoredTotp {
            encrypted: "enc".into(),
            created_at: 1,
            expires_at: Some(600),
            session: Some("s1".into()),
        }
    }

    #[test]
    fn steps_are_spent_once_and_in_order() {
        let (_d, s) = store();
        assert!(s.spend_step(10).unwrap());
        assert!(!s.spend_step(10).unwrap());
        assert!(!s.spend_step(9).unwrap());
        assert!(s.spend_step(11).unwrap());
    }

    #[test]
    fn enabling_spends_the_step_and_needs_the_same_pending() {
        let (_d, s) = store();
        s.put_totp_pending(&pending()).unwrap();
        let codes = RecoveryCodes {
            hashes: vec!["a".into(), "b".into()],
            created_at: 1,
        };
        let other = StoredTotp {
            encrypted: "other".into(),
            ..pending()
        };
        assert!(!s.enable_totp(&other, 5, &codes).unwrap());
        assert!(s.enable_totp(&pending(), 5, &codes).unwrap());
        assert!(s.totp_active().unwrap().is_some());
        assert!(s.totp_pending(0).unwrap().is_none());
        assert!(!s.spend_step(5).unwrap(), "the confirm step is spent");
        assert!(s.spend_recovery_code("a").unwrap());
        assert!(!s.spend_recovery_code("a").unwrap());
        assert_eq!(s.recovery_codes().unwrap().hashes, vec!["b".to_string()]);
        s.disable_totp().unwrap();
        assert!(s.totp_active().unwrap().is_none());
        assert!(s.recovery_codes().unwrap().hashes.is_empty());
    }

    #[test]
    fn concurrent_recovery_code_use_has_one_winner() {
        let (_d, s) = store();
        let s = std::sync::Arc::new(s);
        let codes = RecoveryCodes {
            hashes: vec!["x".into()],
            created_at: 1,
        };
        assert!(
            !s.replace_recovery_codes(&codes, false).unwrap(),
            "TOTP is off"
        );
        assert!(s.replace_recovery_codes(&codes, true).unwrap());
        let wins = (0..8)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || s.spend_recovery_code("x").unwrap())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|won| *won)
            .count();
        assert_eq!(wins, 1);
    }

    #[test]
    fn mfa_challenges_expire_and_are_taken_once() {
        let (_d, s) = store();
        let key = [7u8; 32];
        let challenge = MfaChallenge {
            expires_at: 100,
            remember: false,
        };
        s.put_mfa_challenge(&key, &challenge).unwrap();
        let live = s.mfa_challenge(&key, 50).unwrap();
        assert!(live.is_some_and(|c| !c.remember), "kept as stored");
        assert!(s.mfa_challenge(&key, 100).unwrap().is_none(), "expired");
        assert!(s.take_mfa_challenge(&key).unwrap());
        assert!(!s.take_mfa_challenge(&key).unwrap());
    }
}
