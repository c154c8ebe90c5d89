//! Password hashing and verification with argon2id, off the async workers.
//!
//! Verification runs in `spawn_blocking` behind a semaphore with one permit per
//! core, so a flood of logins queues instead of starving other requests; when
//! more than [`MAX_WAITING`] verifications are already waiting, new ones are
//! shed with `503 busy`. A wrong username is verified against a dummy hash
//! with the same parameters as the real one, so it costs exactly the same time
//! and gives exactly the same answer as a wrong password.

use std::sync::Arc;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier as _};
use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult};
use crate::secret::{ct_eq, random_bytes, ExposeSecret, SecretString};

/// Verifications allowed to wait for a free core before new ones are shed.
pub const MAX_WAITING: usize = 64;

/// Checks that `phc` is an argon2 PHC string this server can verify.
pub fn check_phc(phc: &str) -> Result<(), String> {
    let hash = PasswordHash::new(phc).map_err(|_| "not a PHC string (expected $argon2id$…)")?;
    if !hash.algorithm.as_str().starts_with("argon2") {
        return Err("only argon2 hashes are supported".into());
    }
    argon2::Params::try_from(&hash).map_err(|_| "unsupported argon2 parameters")?;
    Ok(())
}

/// Hashes a password with argon2id and the OWASP-recommended defaults.
pub fn hash_password(password: &[u8]) -> Result<String, String> {
    Argon2::default()
        .hash_password(password)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing failed: {e}"))
}

/// Verifies `password` against a PHC string (blocking; ~20 ms).
fn verify_blocking(password: &[u8], phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default().verify_password(password, &hash).is_ok(),
        Err(_) => false,
    }
}

/// The admin's credentials and the bounded pool that checks them.
pub struct CredentialChecker {
    username: String,
    hash: Arc<SecretString>,
    dummy_hash: Arc<String>,
    /// One permit per core: verifications running at once.
    permits: Semaphore,
    /// Running plus waiting verifications; `try_acquire` failing sheds load.
    admitted: Semaphore,
}

impl CredentialChecker {
    /// Builds a checker for the single admin account.
    pub fn new(username: String, hash: SecretString) -> Result<Self, String> {
        check_phc(hash.expose_secret())?;
        let parsed = PasswordHash::new(hash.expose_secret()).map_err(|e| e.to_string())?;
        let params = argon2::Params::try_from(&parsed).map_err(|e| e.to_string())?;
        let algorithm = argon2::Algorithm::try_from(parsed.algorithm.as_str()).unwrap_or_default();
        let dummy_hash = Argon2::new(algorithm, argon2::Version::V0x13, params)
            .hash_password(&random_bytes(16))
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(CredentialChecker {
            username,
            hash: Arc::new(hash),
            dummy_hash: Arc::new(dummy_hash),
            permits: Semaphore::new(cores),
            admitted: Semaphore::new(cores + MAX_WAITING),
        })
    }

    /// The admin username.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// True when both username and password are right. Always does one full
    /// argon2 verification, whichever is wrong.
    pub async fn verify(&self, username: &str, password: SecretString) -> ApiResult<bool> {
        let user_ok = ct_eq(username.as_bytes(), self.username.as_bytes());
        // Permits are released on drop, so a client that hangs up while
        // queued frees its place.
        let _admitted = self
            .admitted
            .try_acquire()
            .map_err(|_| ApiError::Busy { retry_after: 1 })?;
        let _running = self.permits.acquire().await.map_err(ApiError::internal)?;
        let hash = self.hash.clone();
        let dummy = self.dummy_hash.clone();
        let password_ok = tokio::task::spawn_blocking(move || {
            let phc: &str = if user_ok {
                hash.expose_secret()
            } else {
                dummy.as_str()
            };
            verify_blocking(password.expose_secret().as_bytes(), phc)
        })
        .await
        .map_err(ApiError::internal)?;
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
    fn rejects_non_argon2() {
        assert!(check_phc("$2b$12$abcdefghijklmnopqrstuv").is_err());
        assert!(check_phc("plaintext").is_err());
    }
}
