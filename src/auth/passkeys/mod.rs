//! Passkeys (WebAuthn): registering them, listing, renaming, removing, and
//! checking a passkey's answer at sign-in.
//!
//! The WebAuthn checks themselves (origin, RP ID hash, challenge, user
//! presence and verification, signature, counter) are `webauthn_rp`'s; this
//! module keeps its state. A ceremony (the challenge sent to the browser) is
//! single-use and live for [`CEREMONY_TTL`] by the injected clock
//! ([`ceremony`]). A registration waits in memory, bound to the signed-in
//! session that started it. A sign-in keeps no state per start: its
//! `challenge_id` carries the ceremony (the library's server state, its
//! expiry, the `mfa_token` key of the password step it is the second step
//! of), MACed with a key made when the process starts; only a finish that
//! takes it writes anything (the challenge, remembered until it expires), so
//! no flood of starts, from however many addresses, keeps the owner's from
//! working. Credentials live in sled (`storage::passkeys`): public key,
//! counter, name, dates; nothing secret. Deciding what a verified passkey is
//! worth (a sign-in alone, a second step) is the login flow's (`auth::login`).

pub mod ceremony;

pub use ceremony::{Ceremonies, LoginCeremony, CEREMONY_TTL, MAX_CHALLENGE_ID};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use webauthn_rp::bin::{Decode, Encode};
use webauthn_rp::request::auth::{
    AllowedCredentials, AuthenticationVerificationOptions, NonDiscoverableCredentialRequestOptions,
};
use webauthn_rp::request::register::{
    CredProtect, Nickname, PublicKeyCredentialUserEntity, RegistrationVerificationOptions,
    UserHandle64, Username,
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
};

use super::error::{FactorConflict, PasskeyRefusal};
use super::events::{Event, Events, Kind};
use super::recent::RecentSignIn;
use super::{AuthError, AuthResult, Client};
use crate::base::rp_id::RpId;
use crate::storage::passkeys::StoredPasskey;
use crate::storage::Store;

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
        .map_err(|e| {
            tracing::debug!(error = %e, "unreadable passkey registration");
            "the credential is not a WebAuthn registration (PublicKeyCredential.toJSON())".into()
        })
}

/// Parses a sign-in answer; `Err` says what is wrong.
pub fn parse_authentication(
    json: &[u8],
) -> Result<Answer<NonDiscoverableAuthentication64>, String> {
    NonDiscoverableAuthentication64::from_json_relaxed(json)
        .map(Answer)
        .map_err(|e| {
            tracing::debug!(error = %e, "unreadable passkey assertion");
            "the credential is not a WebAuthn assertion (PublicKeyCredential.toJSON())".into()
        })
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
    /// `AUTH_TOTP_SECRET` is set: TOTP is on whatever the store says.
    pub totp_from_env: bool,
    /// `AUTH_PASSWORD_LOGIN=off`: the last passkey stays.
    pub password_login_env_off: bool,
}

type StoredKey = CompressedPubKey<[u8; 32], [u8; 32], [u8; 48], Vec<u8>>;

impl Passkeys<'_> {
    /// `Ok` when passkeys can be used here; else why not.
    pub fn check_available(&self) -> AuthResult<()> {
        self.rp.rp_id().map(|_| ())
    }

    /// Whether a passkey can sign in: passkeys work here and one is
    /// registered.
    pub fn can_sign_in(&self) -> AuthResult<bool> {
        Ok(self.check_available().is_ok() && !self.store.passkeys()?.is_empty())
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

    /// Starts adding a passkey for the proof's session: the options for
    /// `navigator.credentials.create()`.
    pub fn start_registration(
        &self,
        proof: &RecentSignIn,
    ) -> AuthResult<(String, serde_json::Value)> {
        let (session, now) = (proof.session_id(), proof.now());
        let rp_id = self.rp.rp_id()?;
        let handle = self.user_handle()?;
        // WebAuthn's user name refuses spaces and emoji, which a username
        // may hold: then the authenticator shows the display name.
        let name = Username::try_from(self.username)
            .or_else(|_| Username::try_from(FALLBACK_NAME))
            .map_err(AuthError::internal)?;
        let user = PublicKeyCredentialUserEntity {
            name,
            id: &handle,
            display_name: Nickname::try_from(self.username).ok(),
        };
        let registered = self.descriptors()?;
        let mut options = PublicKeyCredentialCreationOptions::passkey(rp_id, user, registered);
        // Ask for credProtect, but let authenticators without it (CTAP 2.0
        // security keys) register rather than fail.
        options.extensions.cred_protect =
            CredProtect::UserVerificationRequired(ExtensionInfo::AllowDontEnforceValue);
        let (state, client) = options.start_ceremony().map_err(AuthError::internal)?;
        let options = serde_json::to_value(&client).map_err(AuthError::internal)?;
        let id = self.ceremonies.start_registration(state, session, now);
        Ok((id, options))
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
        let Some((state, started_by)) = self.ceremonies.take_registration(challenge_id, now) else {
            return Err(AuthError::Passkey(PasskeyRefusal::Challenge));
        };
        if started_by != session {
            return Err(AuthError::Passkey(PasskeyRefusal::Challenge));
        }
        let options = RegistrationVerificationOptions::<&str, &str> {
            allowed_origins: &[self.rp.origin.as_str()],
            // Some clients add outputs nobody asked for (`credProps`).
            error_on_unsolicited_extensions: false,
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
        let first_second_factor = self.store.passkeys()?.is_empty()
            && !self.totp_from_env
            && self.store.totp_active()?.is_none();
        if !self.store.add_passkey(&raw_id, &stored)? {
            return Err(AuthError::Passkey(PasskeyRefusal::AlreadyRegistered));
        }
        // The account's first second factor: every other session signed
        // in with the password alone, as enabling TOTP ends them.
        let revoked = match first_second_factor {
            true => self.store.delete_sessions_except(Some(session))?,
            false => 0,
        };
        self.store.flush().await?;
        events.push(
            Event::new(Kind::PasskeyAdded, client)
                .session(session)
                .detail(format!("passkey={}", stored.id)),
        );
        if revoked > 0 {
            let detail = format!("reason=passkey_added count={revoked}");
            events.push(Event::new(Kind::SessionRevoked, client).detail(detail));
        }
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

    /// Removes a passkey; false when there is none with this id. The last
    /// one stays while password sign-in is off (`LastPasskey`).
    pub async fn remove(
        &self,
        proof: &RecentSignIn,
        id: &str,
        events: &mut Events,
    ) -> AuthResult<bool> {
        self.check_available()?;
        let Some(raw) = decode_id(id) else {
            return Ok(false);
        };
        let removed = {
            let _no_use_meanwhile = self.ceremonies.lock_uses();
            let password_off = self.password_login_env_off || self.store.password_login_off()?;
            let this = B64.encode(&raw);
            let others = self
                .store
                .passkeys()?
                .iter()
                .filter(|p| p.id != this)
                .count();
            if password_off && others == 0 && self.store.passkey(&raw)?.is_some() {
                return Err(AuthError::Conflict(FactorConflict::LastPasskey));
            }
            self.store.remove_passkey(&raw)?
        };
        if !removed {
            return Ok(false);
        }
        self.store.flush().await?;
        events.push(
            Event::new(Kind::PasskeyRemoved, proof.client())
                .session(proof.session_id())
                .detail(format!("passkey={id}")),
        );
        Ok(true)
    }

    /// Starts a sign-in: the options for `navigator.credentials.get()`,
    /// listing every registered passkey, and the sealed ceremony as its
    /// `challenge_id` (nothing is kept). Alone (`after_password` none), the
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
        let (state, browser) = request.start_ceremony().map_err(AuthError::internal)?;
        let options = serde_json::to_value(&browser).map_err(AuthError::internal)?;
        let id = self.ceremonies.seal_login(&state, after_password, now)?;
        if id.len() > MAX_CHALLENGE_ID {
            return Err(AuthError::PasskeysOff(TOO_MANY.into()));
        }
        Ok((id, options))
    }

    /// Takes the sign-in ceremony `challenge_id`: ours, live, and not taken
    /// before (taking it spends it).
    pub fn take_login(&self, challenge_id: &str, now: i64) -> AuthResult<LoginCeremony> {
        self.ceremonies
            .take_login(challenge_id, now)
            .ok_or(AuthError::Passkey(PasskeyRefusal::Challenge))
    }

    /// Checks a sign-in answer against its ceremony and the stored passkey,
    /// and records the use (new counter, last used); returns the passkey's
    /// id. Not flushed here: the sign-in it is part of flushes once, when
    /// its session starts (or its failure is counted). A counter that went backwards is refused and recorded
    /// (`passkey_clone_suspected`).
    pub(in crate::auth) async fn verify_login(
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
            let _one_at_a_time = self.ceremonies.lock_uses();
            let stored = self
                .store
                .passkey(&raw_id)?
                .ok_or(AuthError::Passkey(PasskeyRefusal::UnknownKey))?;
            let new_state =
                self.check_answer(rp_id, *ceremony.state, answer, &stored, client, events)?;
            let state = B64.encode(new_state.encode().map_err(AuthError::internal)?);
            let still_there = self.store.update_passkey(&raw_id, |p| {
                p.state = state.clone();
                p.last_used_at = Some(now);
                p.backed_up = matches!(new_state.backup, Backup::Exists);
            })?;
            if !still_there {
                return Err(AuthError::Passkey(PasskeyRefusal::UnknownKey));
            }
            stored.id
        };
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
            error_on_unsolicited_extensions: false,
            update_uv: true,
            ..Default::default()
        };
        match state.verify(rp_id, &answer.0, &mut credential, &options) {
            Ok(_) => Ok(credential.dynamic_state()),
            Err(AuthCeremonyErr::SignatureCounter) => {
                events.push(
                    Event::new(Kind::PasskeyCloneSuspected, client)
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

/// The WebAuthn user name when the username is not one (it has spaces).
const FALLBACK_NAME: &str = "admin";

/// Why a sign-in cannot use a passkey yet.
const NO_PASSKEYS: &str = "no passkey is registered yet: sign in with the password, then add \
one from the account page";

/// Why a sign-in cannot start with this many passkeys.
const TOO_MANY: &str = "too many passkeys are registered to offer them all in one sign-in: remove \
some from the account page (sign in with the password)";

fn decode_id(id: &str) -> Option<Vec<u8>> {
    B64.decode(id).ok().filter(|raw| !raw.is_empty())
}
