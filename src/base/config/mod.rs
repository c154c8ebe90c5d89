//! Configuration: raw environment → validated [`Config`], in two steps.
//!
//! [`Config::from_lookup`] reads every `AUTH_*` variable (each one is in the
//! table of [`variables`], with its default and documentation) through a
//! lookup function (the process environment in production, a map in tests),
//! reads `NAME_FILE` for each secret, and validates everything at once: the
//! error is the full list of problems, so one failed start tells the
//! operator all they must fix. Secrets that are absent stay `None` here;
//! `bootstrap` fills them from (or generates them into) the data directory
//! outside production.
//!
//! One module reads each concern, all through one `reader` that keeps
//! the list of problems: `secrets`, `network` (bind address, public
//! URL, cookies, trusted proxies), `account` (username, TOTP issuer,
//! passkeys' relying-party ID), `limits` (lifetimes, lockouts, rates),
//! `access` (forward auth's rules), `oidc` (the provider and its apps)
//! and `operation` (`AUTH_ENV`, data directory, logs, snapshots, alerts).
//! `AUTH_ENV` is read first (production requires secrets); after it, the
//! problems come in the order of that list.

mod access;
mod account;
mod limits;
mod network;
mod oidc;
mod operation;
mod reader;
mod secrets;

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;

use crate::base::notify_config::NotifyConfig;
use crate::base::oidc_config::OidcConfig;
use crate::base::rp_id::RpId;
use crate::base::rules::Rules;
use crate::base::secret::SecretString;
use crate::base::variables;

pub use network::origin_and_host;
pub use operation::{MAX_BACKUP_INTERVAL_HOURS, MAX_BACKUP_KEEP};
pub use reader::is_placeholder;
pub use secrets::MIN_JWT_SECRET_LEN;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The validated configuration.
#[derive(Debug)]
pub struct Config {
    pub production: bool,
    pub admin_username: String,
    pub admin_password_hash: Option<SecretString>,
    pub jwt_secret: Option<SecretString>,
    pub jwt_previous_secrets: Vec<SecretString>,
    pub encryption_keys: Vec<SecretString>,
    pub totp_secret: Option<SecretString>,
    pub data_dir: PathBuf,
    pub bind: SocketAddr,
    /// The public URL without a trailing slash, e.g. `https://auth.example.com`.
    pub public_url: String,
    /// `scheme://host[:port]` of the public URL, as browsers send in `Origin`.
    pub public_origin: String,
    /// The host (and port) of the public URL.
    pub public_host: String,
    pub cookie_domain: Option<String>,
    pub cookie_secure: bool,
    pub access_ttl: i64,
    pub refresh_ttl: i64,
    pub max_failed_attempts: u32,
    pub lockout_minutes: u32,
    pub rate_per_minute: u32,
    pub rate_burst: u32,
    pub account_max_failures: u32,
    pub totp_issuer: String,
    pub trusted_proxies: Vec<IpNet>,
    pub log_format: LogFormat,
    /// How recent a sign-in must be for sensitive actions (seconds).
    pub reauth_seconds: i64,
    /// How long a just-rotated refresh token is refused without revoking.
    pub refresh_grace_seconds: i64,
    /// When an idle keep-alive connection is closed.
    pub idle_timeout: std::time::Duration,
    /// The Bearer token `/metrics` asks for, when set.
    pub metrics_token: Option<SecretString>,
    /// A session ends this long after its login, however active (seconds).
    pub session_max_age: i64,
    /// Forward auth's access rules and default policy.
    pub rules: Rules,
    /// The relying-party ID passkeys are bound to, or why they are off.
    pub webauthn_rp_id: RpId,
    /// `AUTH_PASSWORD_LOGIN=off`: every password step is refused (see
    /// `auth::password_login`).
    pub password_login_off: bool,
    /// The OpenID Connect provider: the owner's claims, a given key, the
    /// apps from the environment.
    pub oidc: OidcConfig,
    /// Sign-in alerts, when `AUTH_NOTIFY_URL` is set.
    pub notify: Option<NotifyConfig>,
    /// Hours between the snapshots written while running; 0: none on a
    /// schedule (see [`crate::backup`]).
    pub backup_interval_hours: u32,
    /// How many of those snapshots are kept, the newest.
    pub backup_keep: u32,
}

/// The `AUTH_*` names among `names` that soloauth does not read (see
/// [`variables::is_known`]).
pub fn unknown_vars(names: impl IntoIterator<Item = String>) -> Vec<String> {
    names
        .into_iter()
        .filter(|k| k.starts_with("AUTH_") && !variables::is_known(k))
        .collect()
}

impl Config {
    /// True when the public URL is `https://` (cookies Secure, HSTS, no `rd` downgrade).
    pub fn public_url_is_https(&self) -> bool {
        self.public_origin.starts_with("https://")
    }

    /// Reads and validates the process environment.
    pub fn from_env() -> Result<Config, Vec<String>> {
        let names: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
        Config::from_lookup_with_names(&|name| std::env::var(name).ok(), &names)
    }

    /// `AUTH_*` variables in the process environment that soloauth does not know.
    pub fn unknown_env_vars() -> Vec<String> {
        unknown_vars(std::env::vars().map(|(k, _)| k))
    }

    /// Reads and validates configuration through `lookup`; on failure, every problem.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, Vec<String>> {
        Config::from_lookup_with_names(lookup, &[])
    }

    /// [`Config::from_lookup`], where `names` lists the variables that are
    /// set (apps' `AUTH_OIDC_CLIENT_<NAME>_…` are found among them).
    pub fn from_lookup_with_names(
        lookup: &dyn Fn(&str) -> Option<String>,
        names: &[String],
    ) -> Result<Config, Vec<String>> {
        let mut r = reader::Reader::new(lookup);
        let production = operation::production(&mut r);
        let secrets = secrets::read(&mut r, production);
        let network = network::read(&mut r);
        let account = account::read(&mut r, &network.public_host);
        let limits = limits::read(&mut r);
        let rules = access::read(&mut r);
        let oidc = oidc::read(&mut r, names, &account.admin_username);
        let operation = operation::read(&mut r);
        r.finish()?;
        Ok(Config {
            production,
            admin_username: account.admin_username,
            admin_password_hash: secrets.admin_password_hash,
            jwt_secret: secrets.jwt_secret,
            jwt_previous_secrets: secrets.jwt_previous_secrets,
            encryption_keys: secrets.encryption_keys,
            totp_secret: secrets.totp_secret,
            data_dir: operation.data_dir,
            bind: network.bind,
            public_url: network.public_url,
            public_origin: network.public_origin,
            public_host: network.public_host,
            cookie_domain: network.cookie_domain,
            cookie_secure: network.cookie_secure,
            access_ttl: limits.access_ttl,
            refresh_ttl: limits.refresh_ttl,
            max_failed_attempts: limits.max_failed_attempts,
            lockout_minutes: limits.lockout_minutes,
            rate_per_minute: limits.rate_per_minute,
            rate_burst: limits.rate_burst,
            account_max_failures: limits.account_max_failures,
            totp_issuer: account.totp_issuer,
            trusted_proxies: network.trusted_proxies,
            log_format: operation.log_format,
            reauth_seconds: limits.reauth_seconds,
            refresh_grace_seconds: limits.refresh_grace_seconds,
            idle_timeout: network.idle_timeout,
            metrics_token: secrets.metrics_token,
            session_max_age: limits.session_max_age,
            rules,
            webauthn_rp_id: account.webauthn_rp_id,
            password_login_off: account.password_login_off,
            oidc,
            notify: operation.notify,
            backup_interval_hours: operation.backup_interval_hours,
            backup_keep: operation.backup_keep,
        })
    }
}

/// Reads `vars` as the whole environment (for the tests of every part).
#[cfg(test)]
fn load(vars: &[(&str, &str)]) -> Result<Config, Vec<String>> {
    let map: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let names: Vec<String> = map.keys().cloned().collect();
    Config::from_lookup_with_names(&move |name| map.get(name).cloned(), &names)
}

/// An app `GRAFANA` with `extra` variables.
#[cfg(test)]
fn grafana<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut vars = vec![
        ("AUTH_OIDC_CLIENT_GRAFANA_ID", "grafana"),
        (
            "AUTH_OIDC_CLIENT_GRAFANA_REDIRECT_URIS",
            "https://grafana.example.com/login/generic_oauth",
        ),
    ];
    vars.extend_from_slice(extra);
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value for every variable of the table (an app's for the patterns).
    fn every_variable() -> Vec<String> {
        variables::VARIABLES
            .iter()
            .map(|v| v.name.replace("<NAME>", "IMMICH"))
            .collect()
    }

    #[test]
    fn the_reader_reads_every_variable_of_the_table_and_no_other() {
        let names = every_variable();
        let asked = std::cell::RefCell::new(Vec::new());
        // Unset, then all set: with both `NAME` and `NAME_FILE` set, a
        // secret is refused before any file is opened.
        for value in [None, Some("x")] {
            let lookup = |name: &str| {
                asked.borrow_mut().push(name.to_string());
                value.map(str::to_string)
            };
            let _ = Config::from_lookup_with_names(&lookup, &names);
        }
        let asked = asked.into_inner();
        for name in &asked {
            assert!(
                variables::is_known(name),
                "{name} is read but not in the table"
            );
        }
        for name in &names {
            assert!(
                asked.contains(name),
                "{name} is in the table but never read"
            );
        }
        let secrets = variables::VARIABLES.iter().filter(|v| v.secret);
        for name in secrets.map(|v| format!("{}_FILE", v.name.replace("<NAME>", "IMMICH"))) {
            assert!(
                asked.contains(&name),
                "{name}: a secret is read from a file too"
            );
        }
    }

    #[test]
    fn only_names_outside_the_table_are_unknown() {
        let mut names = every_variable();
        names.push("AUTH_JWT_SECRET_FILE".into());
        names.push("AUTH_OIDC_CLIENT_IMMICH_SECRET_FILE".into());
        names.push("HOME".into());
        assert_eq!(unknown_vars(names.clone()), Vec::<String>::new());
        names.extend(["AUTH_BACKUP_HOURS".into(), "AUTH_BIND_FILE".into()]);
        assert_eq!(unknown_vars(names), ["AUTH_BACKUP_HOURS", "AUTH_BIND_FILE"]);
    }

    #[test]
    fn the_defaults_the_table_shows_are_the_readers() {
        // With a notify URL, so the alerts' defaults are read too.
        let base = [("AUTH_NOTIFY_URL", "https://ntfy.example.com/topic")];
        let unset = format!("{:?}", load(&base).unwrap());
        let mut checked = 0;
        for v in variables::VARIABLES.iter().filter(|v| !v.is_pattern()) {
            let Some(value) = v
                .default
                .strip_prefix('`')
                .and_then(|d| d.strip_suffix('`'))
            else {
                continue;
            };
            if value.contains('`') {
                continue;
            }
            let set = format!("{:?}", load(&[base[0], (v.name, value)]).unwrap());
            assert_eq!(set, unset, "{} is not {value} when unset", v.name);
            checked += 1;
        }
        assert!(checked >= 20, "only {checked} defaults checked");
    }

    #[test]
    fn defaults_without_any_variable() {
        let c = load(&[]).unwrap();
        assert!(!c.production);
        assert_eq!(c.admin_username, "admin");
        assert_eq!(c.bind.to_string(), "0.0.0.0:8001");
        assert_eq!(c.public_origin, "http://localhost:8001");
        assert!(!c.cookie_secure, "http public URL means non-Secure cookies");
        assert_eq!(c.access_ttl, 1800);
        assert_eq!(c.refresh_ttl, 604_800);
        assert_eq!(c.max_failed_attempts, 5);
        assert_eq!(c.account_max_failures, 100);
        assert!(c.jwt_secret.is_none());
        assert_eq!((c.backup_interval_hours, c.backup_keep), (24, 7));
    }

    #[test]
    fn every_problem_reported_at_once() {
        let problems = load(&[
            ("AUTH_JWT_SECRET", "short"),
            ("AUTH_BIND", "nope"),
            ("AUTH_ACCESS_TTL_SECONDS", "-3"),
            ("AUTH_ENCRYPTION_KEY", "not-a-key"),
            ("AUTH_TRUSTED_PROXIES", "10.0.0.0/8,garbage"),
            ("AUTH_LOG_FORMAT", "xml"),
        ])
        .unwrap_err();
        assert_eq!(problems.len(), 6, "{problems:?}");
    }
}
