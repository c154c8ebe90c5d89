//! What the auth domain owns for the life of the server: the store, the
//! keys, the vault, the policies and the in-memory limiters. The narrow
//! services ([`Sessions`], [`Factors`], [`Lockout`], [`LoginFlow`]) are built
//! from it on demand and only borrow, so each request gets exactly the part
//! it needs and a unit test can build the same core over a temporary store.

use super::factors::Factors;
use super::lockout::{InFlight, Lockout, LockoutPolicy, RateLimits};
use super::login::LoginFlow;
use super::oidc::provider::{Provider, SigningKeys};
use super::passkeys::{Ceremonies, Passkeys, RelyingParty};
use super::password::CredentialChecker;
use super::password_login::{startup_problem, PasswordLogin};
use super::sessions::{SessionPolicy, Sessions};
use super::tokens::JwtKeys;
use super::totp;
use super::vault::Vault;
use crate::base::bootstrap::Keys;
use crate::base::clock::Clock;
use crate::base::config::Config;
use crate::base::oidc_config::OidcConfig;
use crate::base::secret::{random_bytes, secret_bytes, ExposeSecret, SecretBytes};
use crate::storage::{Store, StoreError};

/// The auth domain's state.
pub struct AuthCore {
    pub store: Store,
    pub keys: JwtKeys,
    pub credentials: CredentialChecker,
    pub vault: Vault,
    /// `AUTH_TOTP_SECRET`, decoded: TOTP managed by the environment.
    pub env_totp: Option<SecretBytes>,
    /// The key of the recovery-code hashes (kept encrypted in the store).
    pub pepper: SecretBytes,
    /// Shown in authenticator apps (`AUTH_TOTP_ISSUER`).
    pub issuer: String,
    pub rate: RateLimits,
    /// Password and code checks reserved and not yet finished.
    pub attempts: InFlight,
    pub session_policy: SessionPolicy,
    pub lockout_policy: LockoutPolicy,
    /// Where passkeys are bound (or why they are off).
    pub relying_party: RelyingParty,
    /// Passkey ceremonies: registrations waiting, the key sign-in
    /// challenges are sealed with, the sign-in challenges already used.
    pub ceremonies: Ceremonies,
    /// `AUTH_PASSWORD_LOGIN=off`: only a passkey signs in.
    pub password_login_off: bool,
    /// The OIDC provider's settings, issuer and signing keys.
    pub oidc: OidcConfig,
    pub oidc_issuer: String,
    pub oidc_keys: SigningKeys,
}

/// The message when stored secrets do not decrypt with the configured keys.
const UNDECRYPTABLE: &str = "AUTH_ENCRYPTION_KEY cannot decrypt the secrets stored in the data \
directory. If you changed the key, list the new one first and keep the old one after it \
(AUTH_ENCRYPTION_KEY=new,old), start, then run `soloauth rotate-keys`. If the old key is lost, \
run `soloauth reset-totp` (TOTP off, recovery codes void) and enroll again.";

impl AuthCore {
    /// Builds the core from validated config, resolved secrets and an open
    /// store. Refuses to start when stored secrets cannot be decrypted, or
    /// when nothing could sign in (`AUTH_PASSWORD_LOGIN=off` with no usable
    /// passkey), rather than locking the owner out at the first login.
    pub fn new(config: &Config, keys: &Keys, store: Store, clock: &Clock) -> Result<Self, String> {
        if let Some(problem) =
            startup_problem(config, &store).map_err(|e| format!("storage error: {e}"))?
        {
            return Err(problem);
        }
        Self::build(config, keys, store, clock)
    }

    /// [`AuthCore::new`] without the check of who could sign in (unit
    /// tests set the store up after).
    pub(super) fn build(
        config: &Config,
        keys: &Keys,
        store: Store,
        clock: &Clock,
    ) -> Result<Self, String> {
        let credentials = CredentialChecker::new(
            config.admin_username.clone(),
            keys.admin_password_hash.clone(),
        )?;
        let vault = Vault::new(&keys.encryption_keys)?;
        let env_totp = match &config.totp_secret {
            Some(s) => Some(secret_bytes(
                totp::decode_base32(s.expose_secret())?.to_vec(),
            )),
            None => None,
        };
        let storage_err = |e: StoreError| format!("storage error: {e}");
        let encrypted_pepper = store
            .recovery_pepper(|| vault.encrypt(&random_bytes(32)))
            .map_err(storage_err)?;
        let pepper = match vault.decrypt(&encrypted_pepper) {
            Some(p) => p.to_vec(),
            None => {
                // Unreadable, but if nothing uses it yet, simply start a new one.
                let fresh = random_bytes(32);
                if !store
                    .replace_unused_pepper(&vault.encrypt(&fresh))
                    .map_err(storage_err)?
                {
                    return Err(UNDECRYPTABLE.into());
                }
                tracing::warn!(
                    "the encryption key changed; nothing was encrypted with the old one"
                );
                fresh
            }
        };
        if let Some(active) = store.totp_active().map_err(storage_err)? {
            vault.decrypt(&active.encrypted).ok_or(UNDECRYPTABLE)?;
        }
        let oidc_keys = SigningKeys::load(&config.oidc, &store, &vault, clock.now())?;
        Ok(AuthCore {
            keys: JwtKeys::new(
                &config.admin_username,
                &keys.jwt_secret,
                &keys.jwt_previous_secrets,
            )?,
            credentials,
            vault,
            env_totp,
            pepper: secret_bytes(pepper),
            issuer: config.totp_issuer.clone(),
            rate: RateLimits::new(config.rate_per_minute, config.rate_burst, clock.clone()),
            attempts: InFlight::default(),
            session_policy: SessionPolicy {
                access_ttl: config.access_ttl,
                refresh_ttl: config.refresh_ttl,
                max_age: config.session_max_age,
                refresh_grace: config.refresh_grace_seconds,
                reauth_seconds: config.reauth_seconds,
            },
            lockout_policy: LockoutPolicy {
                max_failed_attempts: config.max_failed_attempts,
                account_max_failures: config.account_max_failures,
                window: i64::from(config.lockout_minutes) * 60,
            },
            relying_party: RelyingParty::new(&config.webauthn_rp_id, &config.public_origin),
            ceremonies: Ceremonies::default(),
            password_login_off: config.password_login_off,
            oidc_keys,
            oidc: config.oidc.clone(),
            oidc_issuer: config.public_url.trim_end_matches('/').to_string(),
            store,
        })
    }

    /// Sessions over the store and the token keys.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions {
            store: &self.store,
            keys: &self.keys,
            policy: &self.session_policy,
        }
    }

    /// The second factor over the store and the vault.
    pub fn factors(&self) -> Factors<'_> {
        Factors {
            store: &self.store,
            vault: &self.vault,
            env_totp: self.env_totp.as_ref(),
            pepper: &self.pepper,
            issuer: &self.issuer,
            credentials: &self.credentials,
            lockout: self.lockout(),
        }
    }

    /// Passkeys over the store and the relying party.
    pub fn passkeys(&self) -> Passkeys<'_> {
        Passkeys {
            store: &self.store,
            rp: &self.relying_party,
            ceremonies: &self.ceremonies,
            username: self.credentials.username(),
            totp_from_env: self.env_totp.is_some(),
            password_login_env_off: self.password_login_off,
        }
    }

    /// Whether a password may sign in (the passwordless switch).
    pub fn password_login(&self) -> PasswordLogin<'_> {
        PasswordLogin {
            store: &self.store,
            env_off: self.password_login_off,
            passkeys: self.passkeys(),
        }
    }

    /// API tokens.
    pub fn api_tokens(&self) -> super::api_tokens::ApiTokens<'_> {
        super::api_tokens::ApiTokens { store: &self.store }
    }

    /// The OpenID Connect apps added here.
    pub fn oidc_apps(&self) -> super::oidc_apps::OidcApps<'_> {
        super::oidc_apps::OidcApps {
            store: &self.store,
            config: &self.oidc,
        }
    }

    /// The OpenID Connect provider.
    pub fn provider(&self) -> Provider<'_> {
        Provider {
            store: &self.store,
            vault: &self.vault,
            keys: &self.oidc_keys,
            config: &self.oidc,
            issuer: &self.oidc_issuer,
            username: self.credentials.username(),
            refresh_grace: self.session_policy.refresh_grace,
        }
    }

    /// Rate limits and lockouts.
    pub fn lockout(&self) -> Lockout<'_> {
        Lockout {
            store: &self.store,
            rate: &self.rate,
            attempts: &self.attempts,
            policy: &self.lockout_policy,
        }
    }

    /// The login flow.
    pub fn login(&self) -> LoginFlow<'_> {
        LoginFlow {
            credentials: &self.credentials,
            sessions: self.sessions(),
            factors: self.factors(),
            passkeys: self.passkeys(),
            password_login: self.password_login(),
            lockout: self.lockout(),
        }
    }
}
