//! Password hashing and verification with argon2id, off the async workers.
//!
//! Verification runs in `spawn_blocking` behind a semaphore with one permit per
//! core, so a flood of logins queues instead of starving other requests; when
//! more than [`MAX_WAITING`] verifications are already waiting, new ones are
//! shed with `503 busy`. A wrong username is verified against a dummy hash
//! with the same parameters as the real one, so it costs exactly the same time
//! and gives exactly the same answer as a wrong password.
//!
//! Each running verification reuses one of a bounded set of argon2 work
//! areas (at most one per permit, ~19 MiB each with the default parameters),
//! wiped after each use. Allocating a fresh one per login let the allocator
//! keep hundreds of megabytes around under a login flood; reusing them keeps
//! memory flat. Once no verification has run for [`IDLE_RELEASE`] (checked
//! by a sweeper task that lives only while work areas are kept), they are
//! freed, so a server that saw one login an hour ago does not hold them.
//! A work area is allocated large enough (see [`MIN_AREA_BYTES`]) that the
//! allocator maps it on its own and its free gives the memory back to the
//! system.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::{Argon2, Block, PasswordHash};
use tokio::sync::Semaphore;
use zeroize::Zeroize;

use super::{AuthError, AuthResult};
pub use crate::base::secret::{check_phc, hash_password};
use crate::base::secret::{ct_eq, random_bytes, ExposeSecret, SecretString};

/// Verifications allowed to wait for a free core before new ones are shed.
pub const MAX_WAITING: usize = 64;

/// How long work areas are kept after the last verification: between one
/// and two of these (the sweeper looks every [`IDLE_RELEASE`]).
pub const IDLE_RELEASE: Duration = Duration::from_secs(10);

/// The smallest capacity a work area is allocated with. glibc's malloc maps a
/// large block on its own (mmap) and unmaps it on free, but after such a free
/// it raises its mmap threshold to the block's size (up to 32 MiB), so the
/// next 19 MiB block would come from the heap, and its free might never be
/// returned to the system. Above 32 MiB the threshold is left alone: every
/// work area is mapped and unmapped. Only the pages in use (the parameters'
/// block count) are ever touched, so the rest costs address space, not memory.
const MIN_AREA_BYTES: usize = 33 << 20;

/// Verifies `password` against a PHC string in the work area `memory`
/// (grown if too small), comparing in constant time. Blocking; ~20 ms.
fn verify_in(memory: &mut Vec<Block>, password: &[u8], phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let Ok(params) = argon2::Params::try_from(&hash) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(hash.algorithm.as_str()) else {
        return false;
    };
    let version = match hash.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        let floor = MIN_AREA_BYTES / std::mem::size_of::<Block>();
        memory.reserve_exact(blocks.max(floor) - memory.len());
        memory.resize(blocks, Block::default());
    }
    let mut out = zeroize::Zeroizing::new(vec![0u8; expected.len()]);
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt,
        &mut out,
        &mut memory[..blocks],
    );
    memory.iter_mut().for_each(Zeroize::zeroize);
    hashed.is_ok() && ct_eq(&out, expected.as_bytes())
}

/// Verifies with a fresh work area (tests and one-off checks).
#[cfg(test)]
fn verify_blocking(password: &[u8], phc: &str) -> bool {
    verify_in(&mut Vec::new(), password, phc)
}

/// Median milliseconds of one verification, as the server does it (for
/// `scripts/bench.sh`, through the hidden `soloauth bench-hash`).
pub fn median_verify_ms(rounds: usize) -> Result<f64, String> {
    let password = random_bytes(16);
    let phc = hash_password(&password)?;
    let mut memory = Vec::new();
    let mut times: Vec<f64> = (0..rounds.max(1))
        .map(|_| {
            let watch = crate::base::clock::Stopwatch::start();
            verify_in(&mut memory, &password, &phc);
            watch.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// The admin's credentials and the bounded pool that checks them.
pub struct CredentialChecker {
    username: String,
    hash: Arc<SecretString>,
    dummy_hash: Arc<String>,
    /// One permit per core: verifications running at once.
    permits: Arc<Semaphore>,
    /// Running plus waiting verifications; `try_acquire` failing sheds load.
    admitted: Arc<Semaphore>,
    /// Work areas, at most as many as `permits`.
    memory: Arc<Mutex<Pool>>,
}

/// The idle work areas, and whether they have been used since the sweeper
/// last looked.
#[derive(Default)]
struct Pool {
    areas: Vec<Vec<Block>>,
    used: bool,
    sweeping: bool,
}

impl Pool {
    /// Frees the work areas if none was used since the last call (else only
    /// notes that none was, for the next). True when nothing is kept.
    fn release_idle(&mut self) -> bool {
        if std::mem::take(&mut self.used) {
            return false;
        }
        self.areas = Vec::new();
        true
    }

    /// Takes back a work area; true when a sweeper must be started.
    fn put_back(&mut self, area: Vec<Block>) -> bool {
        self.areas.push(area);
        self.used = true;
        !std::mem::replace(&mut self.sweeping, true)
    }
}

/// Frees the pool's work areas once they sit unused, then ends (the next
/// verification starts another).
async fn sweep(pool: Arc<Mutex<Pool>>) {
    loop {
        tokio::time::sleep(IDLE_RELEASE).await;
        let Ok(mut pool) = pool.lock() else { return };
        if pool.release_idle() {
            pool.sweeping = false;
            return;
        }
    }
}

/// Returns a work area to the pool, starting the sweeper if none runs.
fn put_back(pool: &Arc<Mutex<Pool>>, area: Vec<Block>) {
    let Ok(mut guard) = pool.lock() else { return };
    if guard.put_back(area) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(sweep(pool.clone()))),
            Err(_) => guard.sweeping = false,
        }
    }
}

impl CredentialChecker {
    /// Builds a checker for the single admin account.
    pub fn new(username: String, hash: SecretString) -> Result<Self, String> {
        check_phc(hash.expose_secret())?;
        // The dummy has the real hash's algorithm and parameters with a random
        // salt and output: verifying against it costs exactly the same and
        // never succeeds. (No hashing here, so the server starts at once.)
        let mut dummy = PasswordHash::new(hash.expose_secret()).map_err(|e| e.to_string())?;
        let out_len = dummy.hash.as_ref().map_or(32, |h| h.len());
        let phc = |e: argon2::password_hash::phc::Error| e.to_string();
        dummy.salt = Some(argon2::password_hash::phc::Salt::new(&random_bytes(16)).map_err(phc)?);
        dummy.hash =
            Some(argon2::password_hash::phc::Output::new(&random_bytes(out_len)).map_err(phc)?);
        let dummy_hash = dummy.to_string();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        // Leave one core for everything else (/auth/verify must stay fast).
        let cores = cores.saturating_sub(1).max(1);
        Ok(CredentialChecker {
            username,
            hash: Arc::new(hash),
            dummy_hash: Arc::new(dummy_hash),
            permits: Arc::new(Semaphore::new(cores)),
            admitted: Arc::new(Semaphore::new(cores + MAX_WAITING)),
            memory: Arc::new(Mutex::new(Pool::default())),
        })
    }

    /// The admin username.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// True when both username and password are right. Always does one full
    /// argon2 verification, whichever is wrong. Only the auth domain calls
    /// it, behind the lockout guard (`LoginFlow::check`).
    pub(super) async fn verify(&self, username: &str, password: SecretString) -> AuthResult<bool> {
        let user_ok = ct_eq(username.as_bytes(), self.username.as_bytes());
        // A client that hangs up while queued drops its permits and frees its
        // place. Once hashing starts, the permits move into the blocking task
        // and are held until the hash is done, even if the client is gone:
        // otherwise dropped requests would let hashes pile up past the limit.
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| AuthError::Busy { retry_after: 1 })?;
        let running = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(AuthError::internal)?;
        let hash = self.hash.clone();
        let dummy = self.dummy_hash.clone();
        let pool = self.memory.clone();
        let password_ok = tokio::task::spawn_blocking(move || {
            let _permits = (admitted, running);
            let phc: &str = if user_ok {
                hash.expose_secret()
            } else {
                dummy.as_str()
            };
            let mut memory = pool
                .lock()
                .ok()
                .and_then(|mut p| p.areas.pop())
                .unwrap_or_default();
            let ok = verify_in(&mut memory, password.expose_secret().as_bytes(), phc);
            put_back(&pool, memory);
            ok
        })
        .await
        .map_err(AuthError::internal)?;
        Ok(user_ok && password_ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker(pw: &str) -> CredentialChecker {
        let hash = hash_password(pw.as_bytes()).unwrap();
        CredentialChecker::new("admin".into(), SecretString::from(hash)).unwrap()
    }

    #[tokio::test]
    async fn right_and_wrong_credentials() {
        let c = checker("correct horse");
        let pw = |s: &str| SecretString::from(s.to_string());
        assert!(c.verify("admin", pw("correct horse")).await.unwrap());
        assert!(!c.verify("admin", pw("wrong")).await.unwrap());
        assert!(!c.verify("root", pw("correct horse")).await.unwrap());
    }

    #[tokio::test]
    async fn idle_work_areas_are_released() {
        let c = checker("correct horse");
        let pw = |s: &str| SecretString::from(s.to_string());
        assert!(c.verify("admin", pw("correct horse")).await.unwrap());
        let kept = |c: &CredentialChecker| c.memory.lock().unwrap().areas.len();
        assert_eq!(kept(&c), 1);
        // Used since the last look: kept; then unused for a whole period: freed.
        assert!(!c.memory.lock().unwrap().release_idle());
        assert_eq!(kept(&c), 1);
        assert!(c.memory.lock().unwrap().release_idle());
        assert_eq!(kept(&c), 0);
        // The next verification allocates a fresh one and still answers right.
        assert!(!c.verify("admin", pw("wrong")).await.unwrap());
        assert!(c.verify("admin", pw("correct horse")).await.unwrap());
        assert_eq!(kept(&c), 1);
    }

    #[test]
    fn work_areas_are_allocated_above_the_mmap_threshold() {
        let mut area = Vec::new();
        let phc = hash_password(b"x").unwrap();
        assert!(verify_in(&mut area, b"x", &phc));
        assert!(area.capacity() * std::mem::size_of::<Block>() >= MIN_AREA_BYTES);
        assert!(area.capacity() * std::mem::size_of::<Block>() > 32 << 20);
    }

    #[test]
    fn hash_from_another_implementation_verifies() {
        // Made by the reference C implementation (argon2-cffi, Python):
        // argon2.PasswordHasher().hash("correct horse battery staple")
        let phc = "$argon2id$v=19$m=65536,t=3,p=4$BAZURvxOlsPwGT2VX7pIlQ$U+hAxRWlzS8jYcB2OVct+NExTKPhkW+/Crm3KAPFPOA";
        assert!(check_phc(phc).is_ok());
        assert!(verify_blocking(b"correct horse battery staple", phc));
        assert!(!verify_blocking(b"correct horse battery stapler", phc));
    }

    #[test]
    fn the_dummy_hash_costs_what_the_real_one_costs() {
        // A hash with non-default parameters: the dummy must copy them.
        let phc = "$argon2id$v=19$m=65536,t=3,p=4$BAZURvxOlsPwGT2VX7pIlQ$U+hAxRWlzS8jYcB2OVct+NExTKPhkW+/Crm3KAPFPOA";
        let c =
            CredentialChecker::new("admin".into(), SecretString::from(phc.to_string())).unwrap();
        let params = |h: &str| h.split('$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(params(&c.dummy_hash), params(phc));
    }

    #[test]
    fn rejects_non_argon2() {
        assert!(check_phc("$2b$12$abcdefghijklmnopqrstuv").is_err());
        assert!(check_phc("plaintext").is_err());
    }
}
