//! The server's own secrets: the password hash, the JWT signing secrets
//! (current and previous), the encryption keys, the TOTP secret and the
//! metrics token. Each is checked for its format here; none is ever put in
//! a problem. Those `AUTH_ENV=production` requires must be given; elsewhere
//! an absent one stays `None` for `bootstrap` to fill.

use crate::base::config::reader::Reader;
use crate::base::secret::{check_base32_secret, check_phc, ExposeSecret, SecretString};
use crate::base::variables;

/// Minimum length of a JWT signing secret, in bytes.
pub const MIN_JWT_SECRET_LEN: usize = 32;

/// The secrets read, each checked.
pub(super) struct Secrets {
    pub admin_password_hash: Option<SecretString>,
    pub jwt_secret: Option<SecretString>,
    pub jwt_previous_secrets: Vec<SecretString>,
    pub encryption_keys: Vec<SecretString>,
    pub totp_secret: Option<SecretString>,
    pub metrics_token: Option<SecretString>,
}

/// Reads and checks the secrets; in `production`, every required one must be set.
pub(super) fn read(r: &mut Reader, production: bool) -> Secrets {
    let secrets = Secrets {
        admin_password_hash: r.secret("AUTH_ADMIN_PASSWORD_HASH"),
        jwt_secret: r.secret("AUTH_JWT_SECRET"),
        jwt_previous_secrets: split_secret_list(r.secret("AUTH_JWT_PREVIOUS_SECRETS")),
        encryption_keys: split_secret_list(r.secret("AUTH_ENCRYPTION_KEY")),
        totp_secret: r.secret("AUTH_TOTP_SECRET"),
        metrics_token: r.secret("AUTH_METRICS_TOKEN"),
    };
    if production {
        for name in variables::required_in_production() {
            if r.var(name).is_none() && r.var(&format!("{name}_FILE")).is_none() {
                r.problem(format!(
                    "{name} is required when AUTH_ENV=production (see `soloauth gen-secrets`)"
                ));
            }
        }
    }
    check(r, &secrets);
    secrets
}

/// A problem for each secret not in its format (naming the variable only).
fn check(r: &mut Reader, s: &Secrets) {
    if let Some(hash) = &s.admin_password_hash {
        if let Err(why) = check_phc(hash.expose_secret()) {
            r.problem(format!("AUTH_ADMIN_PASSWORD_HASH is not usable: {why}"));
        }
    }
    let jwt = s.jwt_secret.iter().map(|s| ("AUTH_JWT_SECRET", s));
    let previous = s
        .jwt_previous_secrets
        .iter()
        .map(|s| ("AUTH_JWT_PREVIOUS_SECRETS", s));
    for (name, secret) in jwt.chain(previous) {
        if secret.expose_secret().len() < MIN_JWT_SECRET_LEN {
            r.problem(format!(
                "{name}: every secret must be at least {MIN_JWT_SECRET_LEN} bytes"
            ));
        }
    }
    if s.encryption_keys
        .iter()
        .any(|k| fernet::Fernet::new(k.expose_secret()).is_none())
    {
        r.problem(
            "AUTH_ENCRYPTION_KEY: every key must be a Fernet key (32 bytes, URL-safe base64)",
        );
    }
    if let Some(secret) = &s.totp_secret {
        if let Err(why) = check_base32_secret(secret.expose_secret()) {
            r.problem(format!("AUTH_TOTP_SECRET: {why}"));
        }
    }
}

/// Splits a comma-separated secret list into trimmed, non-empty parts.
fn split_secret_list(list: Option<SecretString>) -> Vec<SecretString> {
    list.map(|s| {
        s.expose_secret()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| SecretString::from(p.to_string()))
            .collect()
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::config::load;

    #[test]
    fn production_lists_every_missing_secret() {
        let problems = load(&[("AUTH_ENV", "production")]).unwrap_err();
        for name in variables::required_in_production() {
            assert!(
                problems.iter().any(|p| p.contains(name)),
                "{name} missing from {problems:?}"
            );
        }
    }

    #[test]
    fn problems_never_echo_secrets() {
        let problems = load(&[("AUTH_JWT_SECRET", "tooshort-secret-value")]).unwrap_err();
        assert!(!problems.join(" ").contains("tooshort-secret-value"));
    }

    #[test]
    fn every_secret_can_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, value: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("{value}\n")).unwrap();
            path.to_str().unwrap().to_string()
        };
        let hash = crate::base::secret::hash_password(b"pw").unwrap();
        let key = fernet::Fernet::generate_key();
        let files = [
            ("AUTH_ADMIN_PASSWORD_HASH_FILE", write("hash", &hash)),
            ("AUTH_JWT_SECRET_FILE", write("jwt", &"j".repeat(32))),
            (
                "AUTH_JWT_PREVIOUS_SECRETS_FILE",
                write("prev", &"p".repeat(32)),
            ),
            ("AUTH_ENCRYPTION_KEY_FILE", write("key", &key)),
            ("AUTH_TOTP_SECRET_FILE", write("totp", "JBSWY3DPEHPK3PXP")),
        ];
        let mut vars: Vec<(&str, &str)> = files.iter().map(|(k, v)| (*k, v.as_str())).collect();
        vars.push(("AUTH_ENV", "production"));
        let c = load(&vars).unwrap();
        assert_eq!(c.admin_password_hash.unwrap().expose_secret(), hash);
        assert_eq!(c.jwt_previous_secrets.len(), 1);
        assert_eq!(c.encryption_keys[0].expose_secret(), key);
        assert!(c.totp_secret.is_some());
        let both = load(&[
            ("AUTH_JWT_SECRET", &"x".repeat(32)),
            ("AUTH_JWT_SECRET_FILE", &files[1].1),
        ]);
        assert!(both.unwrap_err()[0].contains("not both"));
    }

    #[test]
    fn secret_lists_split_on_commas() {
        let (k1, k2) = (
            fernet::Fernet::generate_key(),
            fernet::Fernet::generate_key(),
        );
        let c = load(&[
            ("AUTH_ENCRYPTION_KEY", &format!("{k1}, {k2}")),
            (
                "AUTH_JWT_PREVIOUS_SECRETS",
                &format!("{},{}", "a".repeat(32), "b".repeat(32)),
            ),
        ])
        .unwrap();
        assert_eq!(c.encryption_keys.len(), 2);
        assert_eq!(c.jwt_previous_secrets.len(), 2);
    }
}
