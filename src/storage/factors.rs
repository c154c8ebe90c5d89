//! Second-factor state: the TOTP secret (active and pending, Fernet-encrypted),
//! the last accepted time step, the recovery-code hashes and their pepper, and
//! pending MFA challenges.
//!
//! Everything but the challenges lives in the small `factors` tree, so each
//! change of state is one sled transaction over one tree: spending a time step
//! or a recovery code, enabling, disabling and regenerating are all atomic,
//! and of two concurrent uses of one code exactly one wins.
//!
//! A value that does not decode is an error everywhere here, never "not
//! set": read as absent, an unreadable active secret would turn TOTP off,
//! an unreadable last step would let a spent code in again, unreadable
//! recovery codes would let the pepper be replaced.

use serde::{Deserialize, Serialize};
use sled::transaction::{TransactionError, TransactionalTree};

use super::codec::{halt, settled, tx_read, tx_write, Halt, TxError};
use super::tree::Change;
use super::{trees, Store, StoreError};
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
    /// The attempts made at it so far (right or wrong).
    #[serde(default)]
    pub attempts: u8,
}

/// The value `key` of the `factors` tree, in a transaction.
fn tx_get<T: serde::de::DeserializeOwned, A>(
    tree: &TransactionalTree,
    key: &str,
) -> Result<Option<T>, TxError<A>> {
    tx_read(tree, trees::FACTORS, key.as_bytes())
}

/// Writes the value `key` of the `factors` tree, in a transaction.
fn tx_put<T: Serialize, A>(
    tree: &TransactionalTree,
    key: &str,
    value: &T,
) -> Result<(), TxError<A>> {
    tx_write(tree, trees::FACTORS, key.as_bytes(), value)
}

/// A transaction that answers whether it did its work (`halt(())`: no).
fn committed(result: Result<bool, TransactionError<Halt<()>>>) -> Result<bool, StoreError> {
    Ok(settled(result)?.unwrap_or(false))
}

impl Store {
    fn factor<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        self.factors.read(key)
    }

    /// The active TOTP secret, if TOTP was enrolled.
    pub fn totp_active(&self) -> Result<Option<StoredTotp>, StoreError> {
        self.factor(ACTIVE)
    }

    /// The pending enrollment, if one has not expired at `now`.
    pub fn totp_pending(&self, now: i64) -> Result<Option<StoredTotp>, StoreError> {
        Ok(self
            .factor::<StoredTotp>(PENDING)?
            .filter(|p| p.expires_at.is_none_or(|e| e > now)))
    }

    /// Stores a pending enrollment, replacing any earlier one.
    pub fn put_totp_pending(&self, pending: &StoredTotp) -> Result<(), StoreError> {
        self.factors.put(PENDING, pending)
    }

    /// The last accepted TOTP time step.
    pub fn last_step(&self) -> Result<Option<i64>, StoreError> {
        self.factor(LAST_STEP)
    }

    /// Records `step` as used if it is newer than the last; false if it is not.
    pub fn spend_step(&self, step: i64) -> Result<bool, StoreError> {
        committed(self.factors.transaction(|t| {
            if tx_get::<i64, ()>(t, LAST_STEP)?.is_some_and(|last| step <= last) {
                return halt(());
            }
            tx_put(t, LAST_STEP, &step)?;
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
    ) -> Result<bool, StoreError> {
        committed(self.factors.transaction(|t| {
            let still_pending =
                tx_get::<StoredTotp, ()>(t, PENDING)?.is_some_and(|p| &p == pending);
            let step_fresh = tx_get::<i64, ()>(t, LAST_STEP)?.is_none_or(|last| step > last);
            if !still_pending || !step_fresh || t.get(ACTIVE)?.is_some() {
                return halt(());
            }
            let active = StoredTotp {
                expires_at: None,
                session: None,
                ..pending.clone()
            };
            tx_put(t, ACTIVE, &active)?;
            t.remove(PENDING)?;
            tx_put(t, LAST_STEP, &step)?;
            tx_put(t, RECOVERY, codes)?;
            Ok(true)
        }))
    }

    /// Turns TOTP off: removes the secret, any pending enrollment, the codes
    /// and open MFA challenges. The last used step is kept, so old codes stay
    /// spent.
    pub fn disable_totp(&self) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        batch.remove(ACTIVE);
        batch.remove(PENDING);
        batch.remove(RECOVERY);
        self.factors.apply_batch(batch)?;
        self.clear_mfa_challenges()
    }

    /// Ends every open MFA challenge (every `mfa_token` stops working).
    /// Unflushed.
    pub fn clear_mfa_challenges(&self) -> Result<(), StoreError> {
        Ok(self.mfa_challenges.clear()?)
    }

    /// Forgets every second-factor secret, the recovery-code pepper included
    /// (for a lost device or a lost encryption key; a new pepper is made at
    /// the next start).
    pub fn reset_factors(&self) -> Result<(), StoreError> {
        self.disable_totp()?;
        self.factors.remove(PEPPER)?;
        Ok(())
    }

    /// The current recovery codes (empty when none).
    pub fn recovery_codes(&self) -> Result<RecoveryCodes, StoreError> {
        Ok(self.factor(RECOVERY)?.unwrap_or_default())
    }

    /// Replaces every recovery code, if TOTP is on (enrolled, or
    /// `env_managed`); false if it is not.
    pub fn replace_recovery_codes(
        &self,
        codes: &RecoveryCodes,
        env_managed: bool,
    ) -> Result<bool, StoreError> {
        committed(self.factors.transaction(|t| {
            if !env_managed && t.get(ACTIVE)?.is_none() {
                return halt(());
            }
            tx_put(t, RECOVERY, codes)?;
            Ok(true)
        }))
    }

    /// Replaces an unreadable pepper when nothing depends on it (no enrolled
    /// secret, no recovery codes); false if something does.
    pub fn replace_unused_pepper(&self, fresh: &str) -> Result<bool, StoreError> {
        committed(self.factors.transaction(|t| {
            let codes = tx_get::<RecoveryCodes, ()>(t, RECOVERY)?.unwrap_or_default();
            if t.get(ACTIVE)?.is_some() || !codes.hashes.is_empty() {
                return halt(());
            }
            tx_put(t, PEPPER, &fresh)?;
            Ok(true)
        }))
    }

    /// Removes the code with hash `hash`; false if there is none (already used).
    pub fn spend_recovery_code(&self, hash: &str) -> Result<bool, StoreError> {
        committed(self.factors.transaction(|t| {
            let mut codes = tx_get::<RecoveryCodes, ()>(t, RECOVERY)?.unwrap_or_default();
            let before = codes.hashes.len();
            codes
                .hashes
                .retain(|h| !ct_eq(h.as_bytes(), hash.as_bytes()));
            if codes.hashes.len() == before {
                return halt(());
            }
            tx_put(t, RECOVERY, &codes)?;
            Ok(true)
        }))
    }

    /// The encrypted recovery-code pepper, created from `make` on first use.
    pub fn recovery_pepper(&self, make: impl FnOnce() -> String) -> Result<String, StoreError> {
        if let Some(existing) = self.factor::<String>(PEPPER)? {
            return Ok(existing);
        }
        let fresh = make();
        let record = self.factors.encode(PEPPER.as_bytes(), &fresh)?;
        match self
            .factors
            .compare_and_swap(PEPPER, None as Option<&[u8]>, Some(record))?
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
    /// those that no key decrypts (then nothing changes). A value that does
    /// not decode is an error (then nothing changes either).
    pub fn reencrypt_factors(
        &self,
        reencrypt: impl Fn(&str) -> Option<String>,
    ) -> Result<Result<usize, Vec<&'static str>>, StoreError> {
        let result = self.factors.transaction(|t| {
            let mut changed = 0;
            let mut unreadable = Vec::new();
            if let Some(mut pending) = tx_get::<StoredTotp, _>(t, PENDING)? {
                match reencrypt(&pending.encrypted) {
                    Some(fresh) => {
                        pending.encrypted = fresh;
                        tx_put(t, PENDING, &pending)?;
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
                        tx_put(t, ACTIVE, &active)?;
                        changed += 1;
                    }
                    None => unreadable.push("the TOTP secret"),
                }
            }
            if let Some(pepper) = tx_get::<String, _>(t, PEPPER)? {
                match reencrypt(&pepper) {
                    Some(fresh) => {
                        tx_put(t, PEPPER, &fresh)?;
                        changed += 1;
                    }
                    None => unreadable.push("the recovery-code key"),
                }
            }
            if unreadable.is_empty() {
                Ok(changed)
            } else {
                halt(unreadable)
            }
        });
        settled(result)
    }

    /// Stores an MFA challenge under the hash of its token.
    pub fn put_mfa_challenge(
        &self,
        key: &[u8; 32],
        challenge: &MfaChallenge,
    ) -> Result<(), StoreError> {
        self.mfa_challenges.put(key, challenge)
    }

    /// The live challenge under `key`.
    pub fn mfa_challenge(
        &self,
        key: &[u8; 32],
        now: i64,
    ) -> Result<Option<MfaChallenge>, StoreError> {
        Ok(self
            .mfa_challenges
            .read::<MfaChallenge>(key)?
            .filter(|c| c.expires_at > now))
    }

    /// Counts one attempt at the live challenge `key`, as one
    /// compare-and-swap: the challenge as it was before, or `None` when
    /// there is none live. The attempt that reaches `max` removes it, so
    /// no number of parallel tries makes more than `max` attempts.
    pub fn count_mfa_attempt(
        &self,
        key: &[u8; 32],
        now: i64,
        max: u8,
    ) -> Result<Option<MfaChallenge>, StoreError> {
        self.mfa_challenges
            .update(key, |current: Option<MfaChallenge>| match current {
                Some(c) if c.expires_at > now && c.attempts < max => {
                    let counted = MfaChallenge {
                        attempts: c.attempts + 1,
                        ..c.clone()
                    };
                    match counted.attempts >= max {
                        true => Change::Remove(Some(c)),
                        false => Change::Put(counted, Some(c)),
                    }
                }
                _ => Change::Keep(None),
            })
    }

    /// Ends a challenge; true for the one caller that removed it.
    pub fn take_mfa_challenge(&self, key: &[u8; 32]) -> Result<bool, StoreError> {
        Ok(self.mfa_challenges.remove(key)?.is_some())
    }

    /// Removes expired challenges and an expired pending enrollment. A
    /// challenge that does not decode is kept (logged); a pending
    /// enrollment that does not decode is kept, and the error returned.
    pub fn purge_expired_factors(&self, now: i64) -> Result<(), StoreError> {
        self.mfa_challenges
            .purge(|c: &MfaChallenge| Ok(c.expires_at <= now))?;
        self.factors
            .update(PENDING, |pending: Option<StoredTotp>| match pending {
                Some(p) if p.expires_at.is_some_and(|e| e <= now) => Change::Remove(()),
                _ => Change::Keep(()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::storage::{assert_kept, plant, temp_store as store};

    #[test]
    fn undecodable_challenges_are_kept_by_the_purge() {
        let (_d, s) = store();
        plant(&s.mfa_challenges, [1u8; 32]);
        let old = MfaChallenge {
            expires_at: 5,
            remember: true,
            attempts: 0,
        };
        s.put_mfa_challenge(&[2u8; 32], &old).unwrap();
        s.purge_expired_factors(10_000).unwrap();
        assert_kept(&s.mfa_challenges, [1u8; 32]);
        assert!(s.mfa_challenges.get([2u8; 32]).unwrap().is_none());
        assert!(
            s.mfa_challenge(&[1u8; 32], 0).is_err(),
            "an error, not absent"
        );
    }

    #[test]
    fn undecodable_factors_are_errors_and_stay() {
        let (_d, s) = store();
        plant(&s.factors, LAST_STEP);
        assert!(s.spend_step(5).is_err_and(|e| e.is_undecodable()));
        assert!(s
            .enable_totp(&pending(), 5, &RecoveryCodes::default())
            .is_err());
        assert_kept(&s.factors, LAST_STEP);

        plant(&s.factors, RECOVERY);
        s.factors.insert(PEPPER, &b"\"old\""[..]).unwrap();
        assert!(s.replace_unused_pepper("new").is_err(), "not \"no codes\"");
        assert!(s.spend_recovery_code("a").is_err());
        assert!(s.recovery_codes().is_err());
        assert_eq!(
            s.factors.get(PEPPER).unwrap().as_deref(),
            Some(&b"\"old\""[..])
        );
        assert_kept(&s.factors, RECOVERY);

        plant(&s.factors, ACTIVE);
        assert!(s.totp_active().is_err(), "not \"TOTP off\"");
        assert!(s.reencrypt_factors(|v| Some(v.to_string())).is_err());
        assert_kept(&s.factors, ACTIVE);

        plant(&s.factors, PENDING);
        assert!(s.purge_expired_factors(10_000).is_err());
        assert_kept(&s.factors, PENDING);
    }

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
            attempts: 0,
        };
        s.put_mfa_challenge(&key, &challenge).unwrap();
        let live = s.mfa_challenge(&key, 50).unwrap();
        assert!(live.is_some_and(|c| !c.remember), "kept as stored");
        assert!(s.mfa_challenge(&key, 100).unwrap().is_none(), "expired");
        assert!(s.take_mfa_challenge(&key).unwrap());
        assert!(!s.take_mfa_challenge(&key).unwrap());
    }

    #[test]
    fn a_challenge_counts_its_attempts_and_the_last_one_ends_it() {
        let (_d, s) = store();
        let key = [8u8; 32];
        let challenge = MfaChallenge {
            expires_at: 100,
            remember: true,
            attempts: 0,
        };
        s.put_mfa_challenge(&key, &challenge).unwrap();
        for made in 0..3 {
            let before = s.count_mfa_attempt(&key, 50, 3).unwrap().unwrap();
            assert_eq!((before.attempts, before.remember), (made, true));
        }
        assert!(s.count_mfa_attempt(&key, 50, 3).unwrap().is_none());
        assert!(
            s.mfa_challenge(&key, 50).unwrap().is_none(),
            "the third ended it"
        );
        s.put_mfa_challenge(&key, &challenge).unwrap();
        assert!(
            s.count_mfa_attempt(&key, 100, 3).unwrap().is_none(),
            "expired"
        );
    }

    #[test]
    fn a_challenge_stored_before_attempts_were_counted_has_made_none() {
        let old: MfaChallenge =
            serde_json::from_str(r#"{"expires_at":5,"remember":false}"#).unwrap();
        assert_eq!(old.attempts, 0);
    }
}
