//! Unit-test fixtures: the domain's core, wired as the server wires it
//! (`AuthCore::new` from a `Config`), over a temporary store with a manual
//! clock, and no server (tests only).

use std::sync::OnceLock;

use super::core::AuthCore;
use super::password::hash_password;
use super::recent::RecentSignIn;
use super::sessions::Principal;
use super::Client;
use crate::base::amr::Amr;
use crate::base::bootstrap::Keys;
use crate::base::clock::Clock;
use crate::base::config::Config;
use crate::base::secret::SecretString;

pub const PASSWORD: &str = "correct horse battery staple";
pub const NOW: i64 = 1_800_000_000;

/// The argon2 hash of [`PASSWORD`], computed once per test binary.
fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(PASSWORD.as_bytes()).unwrap())
}

/// The domain's core over a temporary store, with a manual clock.
pub struct Kit {
    _dir: tempfile::TempDir,
    pub core: AuthCore,
    pub clock: Clock,
    /// The configuration the core was built from.
    pub config: Config,
}

impl Kit {
    /// A fresh kit whose lockout allows `max_failed` failures per address.
    pub fn new(max_failed: u32) -> Kit {
        let max_failed = max_failed.to_string();
        Kit::with_env(&[("AUTH_MAX_FAILED_ATTEMPTS", &max_failed)])
    }

    /// A fresh kit under these environment variables (rate limits off).
    /// The core is built without the start-up checks of the store's
    /// contents (a test sets up what it checks).
    pub fn with_env(vars: &[(&str, &str)]) -> Kit {
        let (dir, store) = crate::storage::temp_store();
        let clock = Clock::manual(NOW);
        let config = Config::from_lookup(&|name| match name {
            "AUTH_RATE_PER_MINUTE" | "AUTH_RATE_BURST" => Some("1000".into()),
            _ => vars
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string()),
        })
        .unwrap();
        let keys = Keys {
            admin_password_hash: password_hash().into(),
            jwt_secret: SecretString::from("k".repeat(32)),
            jwt_previous_secrets: Vec::new(),
            encryption_keys: vec![SecretString::from(fernet::Fernet::generate_key())],
            generated_password: None,
        };
        let core = AuthCore::build(&config, &keys, store, &clock).unwrap();
        Kit {
            _dir: dir,
            core,
            clock,
            config,
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}

/// Tests reach the services as `kit.login()`, `kit.sessions()`, ….
impl std::ops::Deref for Kit {
    type Target = AuthCore;

    fn deref(&self) -> &AuthCore {
        &self.core
    }
}

/// A signed-in session (password only) as its access token proves it.
pub async fn principal(kit: &Kit) -> Principal {
    let sessions = kit.sessions();
    let pair = sessions
        .start(vec![Amr::Pwd], &client(), true, kit.now())
        .await
        .unwrap();
    sessions
        .authenticate(&pair.access_token, kit.now())
        .unwrap()
}

/// A session's proof of a recent sign-in, made now.
pub async fn recent(kit: &Kit) -> RecentSignIn {
    let mut events = Vec::new();
    kit.login()
        .recent_sign_in(
            &principal(kit).await,
            &client(),
            None,
            kit.now(),
            &mut events,
        )
        .await
        .unwrap()
}

/// A proof made with the right password, now.
pub async fn by_password(kit: &Kit) -> RecentSignIn {
    let mut events = Vec::new();
    let password = Some(secret(PASSWORD));
    kit.login()
        .recent_sign_in(
            &principal(kit).await,
            &client(),
            password,
            kit.now(),
            &mut events,
        )
        .await
        .unwrap()
}

/// Registers a passkey record straight in the store (it cannot sign in:
/// its key is no key), for the decisions that only ask whether one exists.
pub fn add_passkey(kit: &Kit) {
    let n = kit.store.passkeys().unwrap().len();
    let id = format!("key{n}");
    let stored = crate::storage::passkeys::StoredPasskey {
        id: id.clone(),
        name: id.clone(),
        created_at: kit.now(),
        last_used_at: None,
        public_key: String::new(),
        state: String::new(),
        transports: 0,
        backed_up: false,
    };
    assert!(kit.store.add_passkey(id.as_bytes(), &stored).unwrap());
}

/// A client at a documentation address.
pub fn client() -> Client {
    Client {
        ip: "198.51.100.7".parse().unwrap(),
        user_agent: "unit test".into(),
    }
}

pub fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

/// Turns TOTP on from a new session, with the code of the moment, then
/// steps the clock past it (that step is spent). Returns the secret and the
/// recovery codes.
pub async fn enroll(kit: &Kit) -> (Vec<u8>, Vec<String>) {
    enroll_as(kit, &recent(kit).await).await
}

/// [`enroll`] from the proof's session (every other one is revoked).
pub async fn enroll_as(kit: &Kit, proof: &RecentSignIn) -> (Vec<u8>, Vec<String>) {
    use crate::base::secret::ExposeSecret;
    let factors = kit.factors();
    let enrollment = factors.begin_enrollment(proof).await.unwrap();
    let keep_session = proof.session_id();
    let secret = super::totp::decode_base32(enrollment.secret.expose_secret())
        .unwrap()
        .to_vec();
    let code = secret_code(&secret, kit.now());
    let mut events = Vec::new();
    let codes = factors
        .confirm_enrollment(&code, keep_session, &client(), kit.now(), &mut events)
        .await
        .unwrap();
    kit.clock.advance(30);
    let codes = codes
        .iter()
        .map(|c| c.expose_secret().to_string())
        .collect();
    (secret, codes)
}

/// The TOTP code for `secret` at `now`, as a secret.
pub fn secret_code(secret: &[u8], now: i64) -> SecretString {
    SecretString::from(super::totp::code_at(secret, now))
}
