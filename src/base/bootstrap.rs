//! First run: secrets that the environment does not give are generated once
//! and kept in the data directory, so restarts and redeploys reuse them.
//!
//! Each generated secret is its own file (`jwt_secret`, `encryption_key`,
//! `admin_password_hash`), mode 0600, written atomically (temp file, fsync,
//! rename, fsync the directory). A secret set in the environment always wins
//! over the file. When no password hash is configured, a random admin password
//! is generated, only its argon2id hash is kept, and the password itself is
//! returned once so the caller can print it. Deleting `admin_password_hash`
//! makes the next start generate a new password; tokens and sessions survive.
//! In production nothing is generated: config validation already refused a
//! start without explicit secrets.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::base::config::{Config, MIN_JWT_SECRET_LEN};
use crate::base::secret::{check_phc, hash_password};
use crate::base::secret::{random_token, ExposeSecret, SecretString};

/// The secrets the server runs with, from the environment or the data dir.
pub struct Keys {
    pub admin_password_hash: SecretString,
    pub jwt_secret: SecretString,
    pub jwt_previous_secrets: Vec<SecretString>,
    pub encryption_keys: Vec<SecretString>,
    /// Set only on the run that generated the admin password: print it once.
    pub generated_password: Option<SecretString>,
}

/// Tells whether a kept secret file's contents are usable.
type Validator = fn(&str) -> bool;

/// The secrets kept in the data directory and how to tell a kept one is usable.
pub const KEPT_SECRETS: [(&str, Validator); 3] = [
    ("jwt_secret", |s| s.len() >= MIN_JWT_SECRET_LEN),
    ("encryption_key", |s| fernet::Fernet::new(s).is_some()),
    ("admin_password_hash", |s| check_phc(s).is_ok()),
];

fn validator(file: &str) -> Validator {
    KEPT_SECRETS
        .iter()
        .find(|(name, _)| *name == file)
        .map_or(|_| false, |(_, valid)| *valid)
}

/// Problems with the kept secret files that exist (for `soloauth check`).
pub fn check_kept(dir: &Path) -> Vec<String> {
    KEPT_SECRETS
        .iter()
        .filter_map(|(file, valid)| {
            let contents = fs::read_to_string(dir.join(file)).ok()?;
            (!valid(contents.trim())).then(|| format!("{} is not valid", dir.join(file).display()))
        })
        .collect()
}

/// Creates the data directory (mode 0700) if needed.
pub fn ensure_data_dir(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    }
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    Ok(())
}

/// Every directory and file under `dir` (itself included, even when
/// `AUTH_DATA_DIR` names it through a link), links inside it skipped.
fn walk(dir: &Path) -> Vec<(std::path::PathBuf, fs::Metadata)> {
    let mut found = Vec::new();
    let root = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut todo = vec![root];
    while let Some(path) = todo.pop() {
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = fs::read_dir(&path) {
                todo.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
            }
        }
        if !meta.file_type().is_symlink() {
            found.push((path, meta));
        }
    }
    found
}

/// The mode a path in the data directory must have: only the owner may
/// read it (sessions, IPs, user agents, events and secrets live there).
fn private_mode(meta: &fs::Metadata) -> u32 {
    if meta.is_dir() {
        0o700
    } else {
        0o600
    }
}

/// Makes the data directory 0700 and everything in it 0700 (directories)
/// or 0600 (files), whatever modes an older version or a copy left. A path
/// it may not change (another owner) is a warning, not a refusal to start:
/// `soloauth check` reports it.
pub fn tighten_modes(dir: &Path) {
    for (path, meta) in walk(dir) {
        let want = private_mode(&meta);
        if meta.permissions().mode() & 0o777 != want {
            if let Err(e) = fs::set_permissions(&path, fs::Permissions::from_mode(want)) {
                tracing::warn!(path = %path.display(), error = %e, "cannot make a data file private");
            }
        }
    }
}

/// Paths in the data directory that others may read or write (for `check`).
pub fn loose_modes(dir: &Path) -> Vec<String> {
    walk(dir)
        .into_iter()
        .filter(|(_, meta)| meta.permissions().mode() & 0o077 != 0)
        .map(|(path, meta)| {
            format!(
                "{} has mode {:04o}; it should be {:04o} (soloauth fixes it at start)",
                path.display(),
                meta.permissions().mode() & 0o777,
                private_mode(&meta)
            )
        })
        .collect()
}

/// Writes `contents` to `dir/name` atomically with mode 0600.
pub(crate) fn write_secret_file(dir: &Path, name: &str, contents: &str) -> Result<(), String> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(fail)?;
    file.write_all(contents.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    fs::rename(&tmp, &path).map_err(fail)?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(fail)?;
    Ok(())
}

/// Reads `dir/name` if it exists.
fn read_secret_file(dir: &Path, name: &str) -> Result<Option<SecretString>, String> {
    let path = dir.join(name);
    match fs::read_to_string(&path) {
        Ok(v) if !v.trim().is_empty() => Ok(Some(SecretString::from(v.trim().to_string()))),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// The configured secret, else the kept one, else a new one made by `generate`
/// and kept. A kept file is validated (it may have been edited by hand).
fn resolve_one(
    configured: Option<&SecretString>,
    dir: &Path,
    file: &str,
    generate: impl FnOnce() -> Result<String, String>,
) -> Result<SecretString, String> {
    if let Some(s) = configured {
        return Ok(s.clone());
    }
    if let Some(kept) = read_secret_file(dir, file)? {
        if !validator(file)(kept.expose_secret()) {
            return Err(format!(
                "{} is not valid; fix or delete it",
                dir.join(file).display()
            ));
        }
        return Ok(kept);
    }
    let fresh = generate()?;
    write_secret_file(dir, file, &fresh)?;
    tracing::info!(file = %dir.join(file).display(), "generated a secret and kept it (mode 0600)");
    Ok(SecretString::from(fresh))
}

/// Resolves every secret for `config`, generating missing ones outside
/// production. Call it while holding the data directory (the store open), so
/// two processes can never generate different secrets into one directory.
pub fn resolve(config: &Config) -> Result<Keys, String> {
    ensure_data_dir(&config.data_dir)?;
    let dir = config.data_dir.as_path();
    if config.production
        && (config.admin_password_hash.is_none()
            || config.jwt_secret.is_none()
            || config.encryption_keys.is_empty())
    {
        return Err("production requires every secret in the environment".into());
    }
    let jwt_secret = resolve_one(config.jwt_secret.as_ref(), dir, "jwt_secret", || {
        Ok(random_token(48).expose_secret().to_string())
    })?;
    let encryption_keys = match config.encryption_keys.is_empty() {
        false => config.encryption_keys.clone(),
        true => vec![resolve_one(None, dir, "encryption_key", || {
            Ok(fernet::Fernet::generate_key())
        })?],
    };
    let mut generated_password = None;
    let admin_password_hash = resolve_one(
        config.admin_password_hash.as_ref(),
        dir,
        "admin_password_hash",
        || {
            let password = random_token(18);
            let hash = hash_password(password.expose_secret().as_bytes());
            generated_password = Some(password);
            hash
        },
    )?;
    Ok(Keys {
        admin_password_hash,
        jwt_secret,
        jwt_previous_secrets: config.jwt_previous_secrets.clone(),
        encryption_keys,
        generated_password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev_config(dir: &Path) -> Config {
        let dir = dir.to_str().unwrap().to_string();
        Config::from_lookup(&move |name| (name == "AUTH_DATA_DIR").then(|| dir.clone())).unwrap()
    }

    #[test]
    fn first_run_generates_then_reuses() {
        let tmp = tempfile::tempdir().unwrap();
        let config = dev_config(tmp.path());
        let first = resolve(&config).unwrap();
        assert!(first.generated_password.is_some());
        for file in ["jwt_secret", "encryption_key", "admin_password_hash"] {
            let mode = fs::metadata(tmp.path().join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        let second = resolve(&config).unwrap();
        assert!(second.generated_password.is_none());
        assert_eq!(
            first.jwt_secret.expose_secret(),
            second.jwt_secret.expose_secret()
        );
        assert_eq!(
            first.admin_password_hash.expose_secret(),
            second.admin_password_hash.expose_secret()
        );
        let hash = first.admin_password_hash.expose_secret();
        let password = first.generated_password.unwrap();
        assert!(!hash.contains(password.expose_secret()));
    }

    #[test]
    fn corrupt_kept_secret_is_reported() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("jwt_secret"), "short").unwrap();
        let err = resolve(&dev_config(tmp.path())).err().unwrap();
        assert!(err.contains("jwt_secret"));
        assert!(!err.contains("short"));
    }
}
