//! Passkeys (WebAuthn): registering them, listing, renaming, removing, and
//! checking a passkey's answer at sign-in.
//!
//! The WebAuthn checks themselves (origin, RP ID hash, challenge, user
//! presence and verification, signature, counter) are `webauthn_rp`'s; this
//! module keeps its state. A ceremony (the challenge sent to the browser)
//! lives in memory, in [`Ceremonies`]: single-use, gone after
//! [`CEREMONY_TTL`] by the injected clock, bound to the session that started
//! a registration or to the `mfa_token` of a second step. Credentials live
//! in sled (`storage::passkeys`): public key, counter, name, dates; nothing
//! secret. Deciding what a verified passkey is worth (a sign-in alone, a
//! second step) is the login flow's (`auth::login`).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use webauthn_rp::bin::{Decode, Encode};
use webauthn_rp::request::auth::{
    AllowedCredentials, AuthenticationVerificationOptions, NonDiscoverableCredentialRequestOptions,
};
use webauthn_rp::request::register::{
    CredProtect, PublicKeyCredentialUserEntity, RegistrationVerificationOptions, UserHandle64,
    Username,
};
use webauthn_rp::request::{
    AsciiDomain, Credentials, ExtensionInfo, PublicKeyCredentialDescriptor, RpId as WebauthnRpId,
    UserVerificationRequirement,
};
use webauthn_rp::response::auth::error::AuthCeremonyErr;
use webauthn_rp::response::register::{CompressedPubKey, DynamicState, StaticState};
use webauthn_rp::response::{AuthTransports, Backup, CredentialId};
use webauthn_rp::{
    AuthenticatedCredential, NonDiscoverableAuthentication64,
    NonDiscoverableAuthenticationServerState, PublicKeyCredentialCreationOptions, Registration,
    RegistrationServerState,
};

use super::error::PasskeyRefusal;
use super::events::{Event, Events, Kind};
use super::{AuthError, AuthResult, Client};
use crate::base::rp_id::RpId;
use crate::base::secret::random_token;
use crate::base::secret::ExposeSecret;
use crate::storage::passkeys::StoredPasskey;
use crate::storage::Store;

/// How long a ceremony (registration or sign-in) waits for the browser.
pub const CEREMONY_TTL: i64 = 300;
/// At most this many ceremonies wait at once; past it the oldest is dropped.
const MAX_CEREMONIES: usize = 1024;
/// Longest passkey name kept.
pub const MAX_NAME_CHARS: usize = 64;

/// The relying party passkeys are bound to: the RP ID and the page's origin.
pub struct RelyingParty {
    rp_id: Result<WebauthnRpId, String>,
    origin: String,
}

impl RelyingParty {
    /// From the configured RP ID (or why passkeys are off) and the public origin.
    pub fn new(rp_id: &RpId, public_origin: &str) -> Self {
        let rp_id = match rp_id {
            RpId::Domain(domain) => AsciiDomain::try_from(domain.clone())
                .map(WebauthnRpId::Domain)
                .map_err(|e| format!("passkeys are off: {domain} is not an RP ID ({e})")),
            RpId::Off(why) => Err(why.clone()),
        };
        RelyingParty {
            rp_id,
            origin: public_origin.to_string(),
        }
    }

    fn rp_id(&self) -> AuthResult<&WebauthnRpId> {
        self.rp_id
            .as_ref()
            .map_err(|why| AuthError::PasskeysOff(why.clone()))
    }
}

/// What a ceremony was started for.
enum Ceremony {
    /// Adding a passkey, for this session only.
    Register {
        state: Box<RegistrationServerState<64>>,
        session: String,
    },
    /// Signing in.
    Login(LoginCeremony),
}

/// A sign-in ceremony, taken from the waiting ones.
pub struct LoginCeremony {
    state: Box<NonDiscoverableAuthenticationServerState>,
    /// The `mfa_token` key of the password step this is the second step of.
    pub after_password: Option<[u8; 32]>,
}

struct Pending {
    ceremony: Ceremony,
    started_at: i64,
}

/// Ceremonies waiting for the browser's answer, by `challenge_id`.
#[derive(Default)]
pub struct Ceremonies {
    pending: Mutex<HashMap<String, Pending>>,
    /// Held while a passkey's answer is checked against its stored counter
    /// and the new counter written: two answers never both pass one count.
    uses: Mutex<()>,
}

impl Ceremonies {
    fn start(&self, ceremony: Ceremony, now: i64) -> String {
        let id = random_token(16).expose_secret().to_string();
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.len() >= MAX_CEREMONIES {
            pending.retain(|_, p| p.started_at + CEREMONY_TTL > now);
        }
        if pending.len() >= MAX_CEREMONIES {
            let oldest = pending
                .iter()
                .min_by_key(|(_, p)| p.started_at)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                pending.remove(&oldest);
            }
        }
        pending.insert(
            id.clone(),
            Pending {
                ceremony,
                started_at: now,
            },
        );
        id
    }

    /// Takes the ceremony `id` (whoever takes it, it is gone), if still live.
    fn take(&self, id: &str, now: i64) -> Option<Ceremony> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let taken = pending.remove(id)?;
        (taken.started_at + CEREMONY_TTL > now).then_some(taken.ceremony)
    }
}

/// A passkey as the owner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PasskeyInfo {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub backed_up: bool,
}

impl From<StoredPasskey> for PasskeyInfo {
    fn from(p: StoredPasskey) -> Self {
        PasskeyInfo {
            id: p.id,
            name: p.name,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
            backed_up: p.backed_up,
        }
    }
}

/// A browser's answer, parsed (`PublicKeyCredential.toJSON()`).
pub struct Answer<T>(T);

/// Parses a registration answer; `Err` says what is wrong.
pub fn parse_registration(json: &[u8]) -> Result<Answer<Registration>, String> {
    Registration::from_json_relaxed(json)
        .map(Answer)
        .map_err(|e| format!("the credential is not a WebAuthn registration: {e}"))
}

/// Parses a sign-in answer; `Err` says what is wrong.
pub fn parse_authentication(
    json: &[u8],
) -> Result<Answer<NonDiscoverableAuthentication64>, String> {
    NonDiscoverableAuthentication64::from_json_relaxed(json)
        .map(Answer)
        .map_err(|e| format!("the credential is not a WebAuthn assertion: {e}"))
}

/// A registration's answer, for the ceremony `challenge_id`, to be called `name`.
pub struct NewPasskey<'a> {
    pub challenge_id: &'a str,
    pub name: &'a str,
    pub answer: Answer<Registration>,
}

/// Passkeys over the store, the relying party and the ceremonies.
pub struct Passkeys<'a> {
    pub store: &'a Store,
    pub rp: &'a RelyingParty,
    pub ceremonies: &'a Ceremonies,
    /// The account name shown by authenticators.
    pub username: &'a str,
}

type StoredKey = CompressedPubKey<[u8; 32], [u8; 32], [u8; 48], Vec<u8>>;

impl Passkeys<'_> {
    /// `Ok` when passkeys can be used here; else why not.
    pub fn check_available(&self) -> AuthResult<()> {
        self.rp.rp_id().map(|_| ())
    }

    /// Every registered passkey, oldest first.
    pub fn list(&self) -> AuthResult<Vec<PasskeyInfo>> {
        self.check_available()?;
        Ok(self
            .store
            .passkeys()?
            .into_iter()
            .map(PasskeyInfo::from)
            .collect())
    }

    /// Starts adding a passkey for `session`: the options for
    /// `navigator.credentials.create()`.
    pub fn start_registration(
        &self,
        session: &str,
        now: i64,
    ) -> AuthResult<(String, serde_json::Value)> {
        let rp_id = self.rp.rp_id()?;
        let handle = self.user_handle()?;
        let name = Username::try_from(self.username)
            .map_err(|e| AuthError::internal(format!("username unusable by WebAuthn: {e}")))?;
        let user = PublicKeyCredentialUserEntity {
            name,
            id: &handle,
            display_name: None,
        };
        let registered = self.descriptors()?;
        let mut options = PublicKeyCredentialCreationOptions::passkey(rp_id, user, registered);
        // Ask for credProtect, but let authenticators without it (CTAP 2.0
        // security keys) register rather than fail.
        options.extensions.cred_protect =
            CredProtect::UserVerificationRequired(ExtensionInfo::AllowDontEnforceValue);
        let (state, client) = options.start_ceremony().map_err(AuthError::internal)?;
        let options = serde_json::to_value(&client).map_err(AuthError::internal)?;
        let ceremony = Ceremony::Register {
            state: Box::new(state),
            session: session.to_string(),
        };
        Ok((self.ceremonies.start(ceremony, now), options))
    }

    /// Finishes adding a passkey: verified, named, stored durably.
    pub async fn finish_registration(
        &self,
        session: &str,
        new: NewPasskey<'_>,
        now: i64,
        client: &Client,
        events: &mut Events,
    ) -> AuthResult<PasskeyInfo> {
        let NewPasskey {
            challenge_id,
            name,
            answer,
        } = new;
        let rp_id = self.rp.rp_id()?;
        let Some(Ceremony::Register {
            state,
            session: started_by,
        }) = self.ceremonies.take(challenge_id, now)
        else {
            return Err(AuthError::Passkey(PasskeyRefusal::Challenge));
        };
        if started_by != session {
            return Err(AuthError::Passkey(PasskeyRefusal::Challenge));
        }
        let options = RegistrationVerificationOptions::<&str, &str> {
            allowed_origins: &[self.rp.origin.as_str()],
            ..Default::default()
        };
        let credential = state.verify(rp_id, &answer.0, &options).map_err(|e| {
            tracing::info!(error = %e, "passkey registration refused");
            AuthError::Passkey(PasskeyRefusal::Invalid)
        })?;
        let dynamic = credential.dynamic_state();
        let raw_id = credential.id().as_ref().to_vec();
        let public_key = credential
            .static_state()
            .encode()
            .map_err(AuthError::internal)?;
        let stored = StoredPasskey {
            id: B64.encode(&raw_id),
            name: name.to_string(),
            created_at: now,
            last_used_at: None,
            public_key: B64.encode(public_key),
            state: B64.encode(dynamic.encode().map_err(AuthError::internal)?),
            transports: credential
                .transports()
                .encode()
                .map_err(AuthError::internal)?,
            backed_up: matches!(dynamic.backup, Backup::Exists),
        };
        if !self.store.add_passkey(&raw_id, &stored)? {
            return Err(AuthError::Passkey(PasskeyRefusal::Invalid));
        }
        self.store.flush().await?;
        events.push(
            Event::new(Kind::PasskeyAdded, client.ip)
                .session(session)
                .detail(format!("passkey={}", stored.id)),
        );
        Ok(stored.into())
    }

    /// Renames a passkey; `None` when there is none with this id.
    pub async fn rename(&self, id: &str, name: &str) -> AuthResult<Option<PasskeyInfo>> {
        self.check_available()?;
        let Some(raw) = decode_id(id) else {
            return Ok(None);
        };
        if !self.store.update_passkey(&raw, |p| p.name = name.into())? {
            return Ok(None);
        }
        self.store.flush().await?;
        Ok(self.store.passkey(&raw)?.map(PasskeyInfo::from))
    }

    /// Removes a passkey; false when there is none with this id.
    pub async fn remove(
        &self,
        id: &str,
        session: &str,
        client: &Client,
        events: &mut Events,
    ) -> AuthResult<bool> {
        self.check_available()?;
        let Some(raw) = decode_id(id) else {
            return Ok(false);
        };
        if !self.store.remove_passkey(&raw)? {
            return Ok(false);
        }
        self.store.flush().await?;
        events.push(
            Event::new(Kind::PasskeyRemoved, client.ip)
                .session(session)
                .detail(format!("passkey={id}")),
        );
        Ok(true)
    }

    /// Starts a sign-in: the options for `navigator.credentials.get()`,
    /// listing every registered passkey. Alone (`after_password` none), the
    /// authenticator must verify its user; after the password it need not.
    pub fn start_login(
        &self,
        after_password: Option<[u8; 32]>,
        now: i64,
    ) -> AuthResult<(String, serde_json::Value)> {
        let rp_id = self.rp.rp_id()?;
        let mut allowed = AllowedCredentials::with_capacity(1);
        for descriptor in self.descriptors()? {
            allowed.push(descriptor.into());
        }
        let mut request = NonDiscoverableCredentialRequestOptions::second_factor(rp_id, allowed)
            .map_err(|_| AuthError::PasskeysOff(NO_PASSKEYS.into()))?;
        request.options().user_verification = match after_password {
            None => UserVerificationRequirement::Required,
            Some(_) => UserVerificationRequirement::Preferred,
        };
        let (state, client) = request.start_ceremony().map_err(AuthError::internal)?;
        let options = serde_json::to_value(&client).map_err(AuthError::internal)?;
        let ceremony = Ceremony::Login(LoginCeremony {
            state: Box::new(state),
            after_password,
        });
        Ok((self.ceremonies.start(ceremony, now), options))
    }

    /// Takes the sign-in ceremony `challenge_id` (single-use, live).
    pub fn take_login(&self, challenge_id: &str, now: i64) -> AuthResult<LoginCeremony> {
        match self.ceremonies.take(challenge_id, now) {
            Some(Ceremony::Login(ceremony)) => Ok(ceremony),
            _ => Err(AuthError::Passkey(PasskeyRefusal::Challenge)),
        }
    }

    /// Checks a sign-in answer against its ceremony and the stored passkey,
    /// and records the use (new counter, last used) durably; returns the
    /// passkey's id. A counter that went backwards is refused and recorded
    /// (`passkey_clone_suspected`).
    pub async fn verify_login(
        &self,
        ceremony: LoginCeremony,
        answer: &Answer<NonDiscoverableAuthentication64>,
        now: i64,
        client: &Client,
        events: &mut Events,
    ) -> AuthResult<String> {
        let rp_id = self.rp.rp_id()?;
        let raw_id = answer.0.raw_id().as_ref().to_vec();
        let id = {
            let _one_at_a_time = self
                .ceremonies
                .uses
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let stored = self
                .store
                .passkey(&raw_id)?
                .ok_or(AuthError::Passkey(PasskeyRefusal::UnknownKey))?;
            let new_state =
                self.check_answer(rp_id, *ceremony.state, answer, &stored, client, events)?;
            let state = B64.encode(new_state.encode().map_err(AuthError::internal)?);
            self.store.update_passkey(&raw_id, |p| {
                p.state = state.clone();
                p.last_used_at = Some(now);
                p.backed_up = matches!(new_state.backup, Backup::Exists);
            })?;
            stored.id
        };
        self.store.flush().await?;
        Ok(id)
    }

    /// Verifies `answer` with the stored passkey: its new dynamic state.
    fn check_answer(
        &self,
        rp_id: &WebauthnRpId,
        state: NonDiscoverableAuthenticationServerState,
        answer: &Answer<NonDiscoverableAuthentication64>,
        stored: &StoredPasskey,
        client: &Client,
        events: &mut Events,
    ) -> AuthResult<DynamicState> {
        let unreadable =
            |what: &str| AuthError::internal(format!("stored passkey {what} unreadable"));
        let handle = self.user_handle()?;
        let public_key = B64
            .decode(&stored.public_key)
            .ok()
            .and_then(|raw| StaticState::<StoredKey>::decode(raw.as_slice()).ok())
            .ok_or_else(|| unreadable("public key"))?;
        let dynamic = B64
            .decode(&stored.state)
            .ok()
            .and_then(|raw| <[u8; 7]>::try_from(raw).ok())
            .and_then(|raw| DynamicState::decode(raw).ok())
            .ok_or_else(|| unreadable("state"))?;
        let raw_id = answer.0.raw_id();
        let mut credential = AuthenticatedCredential::new(raw_id, &handle, public_key, dynamic)
            .map_err(|e| AuthError::internal(format!("stored passkey unusable: {e}")))?;
        let options = AuthenticationVerificationOptions::<&str, &str> {
            allowed_origins: &[self.rp.origin.as_str()],
            update_uv: true,
            ..Default::default()
        };
        match state.verify(rp_id, &answer.0, &mut credential, &options) {
            Ok(_) => Ok(credential.dynamic_state()),
            Err(AuthCeremonyErr::SignatureCounter) => {
                events.push(
                    Event::new(Kind::PasskeyCloneSuspected, client.ip)
                        .detail(format!("passkey={}", stored.id)),
                );
                Err(AuthError::Passkey(PasskeyRefusal::CloneSuspected))
            }
            Err(AuthCeremonyErr::UserNotVerified) => {
                Err(AuthError::Passkey(PasskeyRefusal::UserNotVerified))
            }
            Err(e) => {
                tracing::info!(error = %e, "passkey sign-in refused");
                Err(AuthError::Passkey(PasskeyRefusal::Invalid))
            }
        }
    }

    /// The registered passkeys as descriptors (for exclude and allow lists).
    fn descriptors(&self) -> AuthResult<Vec<PublicKeyCredentialDescriptor<Vec<u8>>>> {
        let mut all = Vec::new();
        for passkey in self.store.passkeys()? {
            let id = decode_id(&passkey.id).and_then(|raw| CredentialId::decode(raw).ok());
            let transports = AuthTransports::decode(passkey.transports).ok();
            if let (Some(id), Some(transports)) = (id, transports) {
                all.push(PublicKeyCredentialDescriptor { id, transports });
            }
        }
        Ok(all)
    }

    /// The account's WebAuthn user handle (random, made once).
    fn user_handle(&self) -> AuthResult<UserHandle64> {
        let raw = self
            .store
            .webauthn_user_handle(|| UserHandle64::new().as_ref().to_vec())?;
        let raw = <[u8; 64]>::try_from(raw)
            .map_err(|_| AuthError::internal("stored WebAuthn user handle unreadable"))?;
        UserHandle64::decode(raw).map_err(AuthError::internal)
    }
}

/// Why a sign-in cannot use a passkey yet.
const NO_PASSKEYS: &str = "no passkey is registered yet: sign in with the password, then add \
one from the account page";

fn decode_id(id: &str) -> Option<Vec<u8>> {
    B64.decode(id).ok().filter(|raw| !raw.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registration ceremony for a throwaway RP (its content is not the point).
    fn ceremony() -> Ceremony {
        let rp = WebauthnRpId::Domain(AsciiDomain::try_from("localhost".to_string()).unwrap());
        let handle = UserHandle64::new();
        let user = PublicKeyCredentialUserEntity {
            name: Username::try_from("admin").unwrap(),
            id: &handle,
            display_name: None,
        };
        let options = PublicKeyCredentialCreationOptions::passkey(&rp, user, Vec::new());
        let (state, _) = options.start_ceremony().unwrap();
        Ceremony::Register {
            state: Box::new(state),
            session: "s".into(),
        }
    }

    #[test]
    fn a_ceremony_is_taken_once_and_only_while_live() {
        let ceremonies = Ceremonies::default();
        let id = ceremonies.start(ceremony(), 1000);
        assert!(ceremonies.take(&id, 1000 + CEREMONY_TTL - 1).is_some());
        assert!(ceremonies.take(&id, 1000).is_none(), "single use");
        let id = ceremonies.start(ceremony(), 1000);
        assert!(
            ceremonies.take(&id, 1000 + CEREMONY_TTL).is_none(),
            "expired"
        );
        assert!(ceremonies.take("unknown", 1000).is_none());
    }

    #[test]
    fn past_the_cap_expired_ceremonies_go_first_then_the_oldest() {
        let ceremonies = Ceremonies::default();
        let oldest = ceremonies.start(ceremony(), 0);
        let ids: Vec<String> = (1..MAX_CEREMONIES as i64)
            .map(|t| ceremonies.start(ceremony(), 100 + t))
            .collect();
        // Full: the next one pushes out the oldest live one.
        let newest = ceremonies.start(ceremony(), 200);
        assert!(ceremonies.take(&oldest, 200).is_none());
        assert!(ceremonies.take(&ids[0], 200).is_some());
        assert!(ceremonies.take(&newest, 200).is_some());
        // Later, a start at the cap first drops everything expired.
        let late = 100 + MAX_CEREMONIES as i64 + CEREMONY_TTL;
        for _ in 0..3 {
            ceremonies.start(ceremony(), late);
        }
        let pending = ceremonies.pending.lock().unwrap();
        assert!(pending.len() < MAX_CEREMONIES, "{}", pending.len());
    }
}
