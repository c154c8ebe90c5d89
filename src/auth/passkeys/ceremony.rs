//! Ceremonies: the challenges sent to the browser, single-use and live for
//! [`CEREMONY_TTL`] by the injected clock.
//!
//! - A **registration** (a signed-in session adding a passkey) waits in
//!   memory, bound to its session; a session has at most [`PER_SESSION`]
//!   waiting, and only signed-in sessions can start one.
//! - A **sign-in** keeps nothing per start: its `challenge_id` is the
//!   ceremony itself, sealed. It holds a version byte, the expiry (Unix
//!   seconds), the `mfa_token` key of the password step it is the second
//!   step of (if any) and `webauthn_rp`'s server state (challenge, user
//!   verification, the allowed credentials, the library's own expiry),
//!   followed by an HMAC-SHA256 of all that, base64url. The key is random,
//!   made when the process starts and never stored: a restart voids the
//!   sign-ins in flight (at most five minutes of them), which is also what
//!   lets the used challenges live in memory only (a key that outlived them
//!   would let a used challenge be replayed after a restart).
//!
//! A sign-in's challenge is spent when a finish takes it: remembered until
//! it expires, under one lock, so of two finishes with one `challenge_id`
//! at most one proceeds. That set grows only with finishes (rate-limited and
//! behind the lockout), never with starts: no number of starts, from any
//! number of addresses, keeps the owner's from working.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use webauthn_rp::bin::{Decode, Encode};
use webauthn_rp::request::TimedCeremony;
use webauthn_rp::{NonDiscoverableAuthenticationServerState, RegistrationServerState};

use super::super::{AuthError, AuthResult};
use crate::base::secret::{ct_eq, random_bytes, random_token, secret_bytes};
use crate::base::secret::{ExposeSecret, SecretBytes};

/// How long a ceremony (registration or sign-in) waits for the browser.
pub const CEREMONY_TTL: i64 = 300;
/// Registrations one session may have waiting; a new one ends its oldest.
const PER_SESSION: usize = 2;
/// The longest sign-in `challenge_id` made or taken (characters): a few
/// dozen passkeys of the longest ids authenticators use today.
pub const MAX_CHALLENGE_ID: usize = 8192;
/// The first byte of a sealed sign-in: its layout's version.
const SIGN_IN_V1: u8 = 1;
/// Bytes of the MAC at the end of a sealed sign-in.
const TAG: usize = 32;

/// A registration waiting for the browser.
struct Pending {
    state: Box<RegistrationServerState<64>>,
    session: String,
    started_at: i64,
}

/// A sign-in ceremony, taken.
pub struct LoginCeremony {
    pub(super) state: Box<NonDiscoverableAuthenticationServerState>,
    /// The `mfa_token` key of the password step this is the second step of.
    pub after_password: Option<[u8; 32]>,
}

/// The ceremonies: registrations waiting, the key sign-ins are sealed
/// with, and the sign-in challenges already taken.
pub struct Ceremonies {
    registrations: Mutex<HashMap<String, Pending>>,
    /// The HMAC-SHA256 key of sign-in `challenge_id`s: this process's only.
    key: SecretBytes,
    /// Taken sign-in challenges, until they expire (Unix seconds).
    used: Mutex<HashMap<u128, i64>>,
    /// Held while a passkey's answer is checked against its stored counter
    /// and the new counter written: two answers never both pass one count.
    uses: Mutex<()>,
}

impl Default for Ceremonies {
    /// None waiting, and a fresh random key.
    fn default() -> Self {
        Ceremonies {
            registrations: Mutex::default(),
            key: secret_bytes(random_bytes(32)),
            used: Mutex::default(),
            uses: Mutex::default(),
        }
    }
}

/// A lock whose holder never leaves the data half-changed: a poisoned one
/// is simply taken.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Ceremonies {
    /// Keeps a registration for `session`; returns its id. The session's
    /// oldest ends past [`PER_SESSION`]; expired ones are dropped.
    pub(super) fn start_registration(
        &self,
        state: RegistrationServerState<64>,
        session: &str,
        now: i64,
    ) -> String {
        let mut pending = lock(&self.registrations);
        pending.retain(|_, p| p.started_at + CEREMONY_TTL > now);
        let mut mine: Vec<(i64, String)> = pending
            .iter()
            .filter(|(_, p)| p.session == session)
            .map(|(id, p)| (p.started_at, id.clone()))
            .collect();
        mine.sort();
        for (_, id) in mine.iter().rev().skip(PER_SESSION - 1) {
            pending.remove(id);
        }
        let id = random_token(16).expose_secret().to_string();
        let state = Box::new(state);
        let session = session.to_string();
        let started_at = now;
        pending.insert(
            id.clone(),
            Pending {
                state,
                session,
                started_at,
            },
        );
        id
    }

    /// Takes the registration `id` (whoever takes it, it is gone), if still
    /// live: its state and the session that started it.
    pub(super) fn take_registration(
        &self,
        id: &str,
        now: i64,
    ) -> Option<(Box<RegistrationServerState<64>>, String)> {
        let taken = lock(&self.registrations).remove(id)?;
        (taken.started_at + CEREMONY_TTL > now).then_some((taken.state, taken.session))
    }

    /// Seals a sign-in into its `challenge_id`: nothing is kept.
    pub(super) fn seal_login(
        &self,
        state: &NonDiscoverableAuthenticationServerState,
        after_password: Option<[u8; 32]>,
        now: i64,
    ) -> AuthResult<String> {
        let mut sealed = vec![SIGN_IN_V1];
        sealed.extend_from_slice(&(now + CEREMONY_TTL).to_be_bytes());
        match after_password {
            Some(key) => {
                sealed.push(1);
                sealed.extend_from_slice(&key);
            }
            None => sealed.push(0),
        }
        sealed.extend_from_slice(&state.encode().map_err(AuthError::internal)?);
        let tag = self
            .mac(&sealed)
            .ok_or_else(|| AuthError::internal("HMAC refused the ceremony key"))?;
        sealed.extend_from_slice(&tag);
        Ok(B64.encode(sealed))
    }

    /// Takes the sign-in `challenge_id`: `None` unless it is one of ours
    /// (its MAC checks out), live, and not taken before. Taking spends it.
    pub(super) fn take_login(&self, challenge_id: &str, now: i64) -> Option<LoginCeremony> {
        if challenge_id.len() > MAX_CHALLENGE_ID {
            return None;
        }
        let raw = B64.decode(challenge_id).ok()?;
        let (sealed, tag) = raw.split_at_checked(raw.len().checked_sub(TAG)?)?;
        if !ct_eq(&self.mac(sealed)?, tag) {
            return None;
        }
        let (&version, rest) = sealed.split_first()?;
        let (expires_at, rest) = rest.split_first_chunk::<8>()?;
        let expires_at = i64::from_be_bytes(*expires_at);
        if version != SIGN_IN_V1 || expires_at <= now {
            return None;
        }
        let (after_password, state) = match rest.split_first()? {
            (0, state) => (None, state),
            (1, rest) => {
                let (key, state) = rest.split_first_chunk::<32>()?;
                (Some(*key), state)
            }
            _ => return None,
        };
        let state = NonDiscoverableAuthenticationServerState::decode(state).ok()?;
        let mut used = lock(&self.used);
        used.retain(|_, until| *until > now);
        if used.insert(state.sent_challenge().0, expires_at).is_some() {
            return None;
        }
        Some(LoginCeremony {
            state: Box::new(state),
            after_password,
        })
    }

    /// The MAC of a sealed sign-in; `None` only if HMAC refused the key
    /// (it takes any length): then nothing is sealed or taken.
    fn mac(&self, sealed: &[u8]) -> Option<[u8; TAG]> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret()).ok()?;
        mac.update(sealed);
        Some(mac.finalize().into_bytes().into())
    }

    /// Held while a passkey is checked and its use written, or removed.
    pub(in crate::auth) fn lock_uses(&self) -> MutexGuard<'_, ()> {
        lock(&self.uses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use webauthn_rp::request::auth::{AllowedCredentials, NonDiscoverableCredentialRequestOptions};
    use webauthn_rp::request::register::{PublicKeyCredentialUserEntity, UserHandle64, Username};
    use webauthn_rp::request::{
        AsciiDomain, Credentials, PublicKeyCredentialDescriptor, RpId as WebauthnRpId,
    };
    use webauthn_rp::response::{AuthTransports, CredentialId};
    use webauthn_rp::PublicKeyCredentialCreationOptions;

    const NOW: i64 = 1_800_000_000;
    const KEY: [u8; 32] = [9; 32];

    fn rp() -> WebauthnRpId {
        WebauthnRpId::Domain(AsciiDomain::try_from("localhost".to_string()).unwrap())
    }

    /// A registration's state for a throwaway RP (its content is not the point).
    fn registration() -> RegistrationServerState<64> {
        let (rp, handle) = (rp(), UserHandle64::new());
        let user = PublicKeyCredentialUserEntity {
            name: Username::try_from("admin").unwrap(),
            id: &handle,
            display_name: None,
        };
        let options = PublicKeyCredentialCreationOptions::passkey(&rp, user, Vec::new());
        options.start_ceremony().unwrap().0
    }

    /// A sign-in's state allowing `keys` passkeys with ids of `id_len` bytes.
    fn sign_in(keys: u8, id_len: usize) -> NonDiscoverableAuthenticationServerState {
        let rp = rp();
        let mut allowed = AllowedCredentials::with_capacity(usize::from(keys));
        for n in 0..keys {
            allowed.push(
                PublicKeyCredentialDescriptor {
                    id: CredentialId::decode(vec![n; id_len]).unwrap(),
                    transports: AuthTransports::decode(0).unwrap(),
                }
                .into(),
            );
        }
        let request = NonDiscoverableCredentialRequestOptions::second_factor(&rp, allowed);
        request.unwrap().start_ceremony().unwrap().0
    }

    fn sealed(ceremonies: &Ceremonies, after_password: Option<[u8; 32]>) -> String {
        let state = sign_in(1, 16);
        ceremonies.seal_login(&state, after_password, NOW).unwrap()
    }

    #[test]
    fn a_registration_is_taken_once_only_while_live_with_its_session() {
        let ceremonies = Ceremonies::default();
        let id = ceremonies.start_registration(registration(), "s", NOW);
        let (_, session) = ceremonies.take_registration(&id, NOW + 299).unwrap();
        assert_eq!(session, "s");
        assert!(ceremonies.take_registration(&id, NOW).is_none(), "once");
        let id = ceremonies.start_registration(registration(), "s", NOW);
        let late = NOW + CEREMONY_TTL;
        assert!(ceremonies.take_registration(&id, late).is_none(), "expired");
        assert!(ceremonies.take_registration("unknown", NOW).is_none());
    }

    #[test]
    fn a_session_keeps_two_registrations_and_expired_ones_go() {
        let ceremonies = Ceremonies::default();
        let other = ceremonies.start_registration(registration(), "other", NOW);
        let ids: Vec<String> = (0..3)
            .map(|n| ceremonies.start_registration(registration(), "s", NOW + n))
            .collect();
        assert!(ceremonies.take_registration(&ids[0], NOW + 3).is_none());
        assert!(ceremonies.take_registration(&ids[1], NOW + 3).is_some());
        assert!(ceremonies.take_registration(&other, NOW + 3).is_some());
        ceremonies.start_registration(registration(), "late", NOW + 2 * CEREMONY_TTL);
        assert_eq!(lock(&ceremonies.registrations).len(), 1, "the expired went");
    }

    #[test]
    fn a_sign_in_keeps_nothing_until_taken_once_while_live() {
        let ceremonies = Ceremonies::default();
        let ids: Vec<String> = (0..1000).map(|_| sealed(&ceremonies, None)).collect();
        assert!(lock(&ceremonies.used).is_empty());
        assert!(lock(&ceremonies.registrations).is_empty());
        let taken = ceremonies.take_login(&ids[0], NOW + CEREMONY_TTL - 1);
        assert_eq!(taken.unwrap().after_password, None);
        assert!(ceremonies.take_login(&ids[0], NOW).is_none(), "reused");
        assert!(
            ceremonies.take_login(&ids[1], NOW + CEREMONY_TTL).is_none(),
            "expired, by the clock it is given"
        );
        assert!(ceremonies.take_login(&ids[2], NOW).is_some());
        assert_eq!(lock(&ceremonies.used).len(), 2);
        // Spent challenges are forgotten once they would have expired anyway.
        let later = NOW + CEREMONY_TTL;
        let fresh = ceremonies.seal_login(&sign_in(1, 16), None, later);
        assert!(ceremonies.take_login(&fresh.unwrap(), later).is_some());
        assert_eq!(lock(&ceremonies.used).len(), 1, "the expired ones pruned");
    }

    #[test]
    fn a_second_step_stays_bound_to_its_password_step() {
        let ceremonies = Ceremonies::default();
        let id = sealed(&ceremonies, Some(KEY));
        let taken = ceremonies.take_login(&id, NOW).unwrap();
        assert_eq!(taken.after_password, Some(KEY));
        // Another password step's key, or none, written in: the MAC fails.
        let mut raw = B64.decode(sealed(&ceremonies, Some(KEY))).unwrap();
        raw[10] ^= 1;
        assert!(ceremonies.take_login(&B64.encode(&raw), NOW).is_none());
        let mut raw = B64.decode(sealed(&ceremonies, Some(KEY))).unwrap();
        raw[9] = 0;
        raw.drain(10..42);
        assert!(ceremonies.take_login(&B64.encode(&raw), NOW).is_none());
    }

    #[test]
    fn a_tampered_foreign_or_malformed_challenge_id_is_refused() {
        let ceremonies = Ceremonies::default();
        let id = sealed(&ceremonies, None);
        let raw = B64.decode(&id).unwrap();
        for at in [0, 1, 8, 9, 20, raw.len() - 1] {
            let mut changed = raw.clone();
            changed[at] ^= 0x80;
            let changed = B64.encode(&changed);
            assert!(ceremonies.take_login(&changed, NOW).is_none(), "byte {at}");
        }
        // A later expiry written in fails the MAC too.
        let mut extended = raw.clone();
        extended[1..9].copy_from_slice(&(NOW + 10 * CEREMONY_TTL).to_be_bytes());
        let extended = B64.encode(&extended);
        assert!(ceremonies
            .take_login(&extended, NOW + CEREMONY_TTL)
            .is_none());
        // Another process's (another key's), a registration's, garbage.
        let foreign = sealed(&Ceremonies::default(), None);
        let registration = ceremonies.start_registration(registration(), "s", NOW);
        let long = "A".repeat(MAX_CHALLENGE_ID + 1);
        for bad in [
            foreign.as_str(),
            registration.as_str(),
            "",
            "!!!",
            "AAAA",
            &long,
            &id[..id.len() - 1],
        ] {
            assert!(ceremonies.take_login(bad, NOW).is_none(), "{bad:.40}");
        }
        assert!(lock(&ceremonies.used).is_empty(), "nothing refused is kept");
        assert!(ceremonies.take_login(&id, NOW).is_some(), "the real one");
    }

    #[test]
    fn of_concurrent_finishes_with_one_challenge_one_proceeds() {
        let ceremonies = Ceremonies::default();
        let id = sealed(&ceremonies, None);
        let taken = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| ceremonies.take_login(&id, NOW).is_some()))
                .collect();
            let results = racers.into_iter().map(|r| r.join().unwrap());
            results.filter(|took| *took).count()
        });
        assert_eq!(taken, 1);
    }

    #[test]
    fn dozens_of_long_passkey_ids_still_fit_a_challenge_id() {
        let ceremonies = Ceremonies::default();
        let state = sign_in(40, 128);
        let id = ceremonies.seal_login(&state, Some(KEY), NOW).unwrap();
        assert!(id.len() <= MAX_CHALLENGE_ID, "{}", id.len());
        assert!(ceremonies.take_login(&id, NOW).is_some());
    }
}
