//! Configuration: raw environment → validated [`Config`], in two steps.
//!
//! [`Config::from_lookup`] reads every `AUTH_*` variable (each one is in the
//! table of [`variables`], with its default and documentation) through a
//! lookup function (the process environment in production, a map in tests),
//! reads `NAME_FILE` for each secret, and validates everything at once: the
//! error is the full list of problems, so one failed start tells the
//! operator all they must fix. Secrets that are absent stay `None` here; `bootstrap` fills them
//! from (or generates them into) the data directory outside production.

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;

use crate::base::notify_config::{self, NotifyConfig};
use crate::base::oidc_config::{self, EnvClient, OidcConfig};
use crate::base::rp_id::{self, RpId};
use crate::base::rules::{Policy, Rules};
use crate::base::secret::{ExposeSecret, SecretString};
use crate::base::variables;

/// Minimum length of a JWT signing secret, in bytes.
pub const MIN_JWT_SECRET_LEN: usize = 32;

/// The longest snapshot interval, in hours (a year).
pub const MAX_BACKUP_INTERVAL_HOURS: u32 = 8760;
/// The most snapshots kept.
pub const MAX_BACKUP_KEEP: u32 = 1000;

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

/// Collects problems while reading, so all are reported together.
struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<String>,
}

impl Reader<'_> {
    /// A plain variable; empty counts as unset.
    fn var(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    /// A secret, from `NAME` or the file named by `NAME_FILE`; a
    /// placeholder (see [`is_placeholder`]) is a problem, never a secret.
    fn secret(&mut self, name: &str) -> Option<SecretString> {
        let value = self.raw_secret(name)?;
        if is_placeholder(value.expose_secret()) {
            let source = self.secret_source(name);
            self.problems.push(format!(
                "{source} holds a placeholder, not a secret: run `soloauth gen-secrets` \
                 and use the value it prints"
            ));
            return None;
        }
        Some(value)
    }

    /// The variable a secret came from: `NAME_FILE` when that is set, else `NAME`.
    fn secret_source(&self, name: &str) -> String {
        let file_var = format!("{name}_FILE");
        match self.var(&file_var) {
            Some(_) => file_var,
            None => name.to_string(),
        }
    }

    /// A secret as given, from `NAME` or the file named by `NAME_FILE`.
    fn raw_secret(&mut self, name: &str) -> Option<SecretString> {
        let file_var = format!("{name}_FILE");
        match (self.var(name), self.var(&file_var)) {
            (Some(_), Some(_)) => {
                self.problems
                    .push(format!("set {name} or {file_var}, not both"));
                None
            }
            (Some(v), None) => Some(SecretString::from(v.trim().to_string())),
            (None, Some(path)) => match std::fs::read_to_string(path.trim()) {
                Ok(v) if !v.trim().is_empty() => Some(SecretString::from(v.trim().to_string())),
                Ok(_) => {
                    self.problems.push(format!("{file_var}: the file is empty"));
                    None
                }
                Err(e) => {
                    self.problems
                        .push(format!("{file_var}: cannot read {}: {e}", path.trim()));
                    None
                }
            },
            (None, None) => None,
        }
    }

    fn parse<T: std::str::FromStr>(&mut self, name: &str, default: T, what: &str) -> T {
        match self.var(name) {
            None => default,
            Some(v) => v.trim().parse().unwrap_or_else(|_| {
                self.problems.push(format!("{name}={v:?} is not {what}"));
                default
            }),
        }
    }

    /// A whole number of at least `min`.
    fn number(&mut self, name: &str, default: u32, min: u32) -> u32 {
        let n = self.parse(name, default, "a whole number");
        if n < min {
            self.problems.push(format!("{name} must be at least {min}"));
            return default;
        }
        n
    }

    /// A whole number from `min` to `max`.
    fn ranged(&mut self, name: &str, default: u32, min: u32, max: u32) -> u32 {
        let n = self.number(name, default, min);
        if n > max {
            self.problems.push(format!("{name} must be at most {max}"));
            return default;
        }
        n
    }
}

/// The `AUTH_*` names among `names` that soloauth does not read (see
/// [`variables::is_known`]).
pub fn unknown_vars(names: impl IntoIterator<Item = String>) -> Vec<String> {
    names
        .into_iter()
        .filter(|k| k.starts_with("AUTH_") && !variables::is_known(k))
        .collect()
}

/// True for a value copied from an example rather than generated: one
/// starting with `change-me` or `changeme` (any case, as the
/// `.env.example` secrets do), or ending in `$...` (its password hash).
/// Each part of a comma-separated list counts.
pub fn is_placeholder(value: &str) -> bool {
    value.split(',').map(str::trim).any(|part| {
        let lower = part.to_ascii_lowercase();
        lower.starts_with("change-me")
            || lower.starts_with("changeme")
            || lower.ends_with("$...")
            || lower.ends_with("$\u{2026}")
    })
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

/// `(origin, host)` of an absolute http(s) URL, or `None`.
pub fn origin_and_host(url: &str) -> Option<(String, String)> {
    let uri: poem::http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let mut host = authority.as_str().to_ascii_lowercase();
    // Browsers leave the default port out of `Origin`.
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    if let Some(stripped) = host.strip_suffix(default_port) {
        host = stripped.to_string();
    }
    Some((format!("{scheme}://{host}"), host))
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
        let mut r = Reader {
            lookup,
            problems: Vec::new(),
        };

        let production = match r.var("AUTH_ENV").as_deref().map(str::trim) {
            None | Some("development") => false,
            Some("production") => true,
            Some(other) => {
                r.problems.push(format!(
                    "AUTH_ENV={other:?} must be \"development\" or \"production\""
                ));
                true
            }
        };

        let admin_password_hash = r.secret("AUTH_ADMIN_PASSWORD_HASH");
        let jwt_secret = r.secret("AUTH_JWT_SECRET");
        let jwt_previous_secrets = split_secret_list(r.secret("AUTH_JWT_PREVIOUS_SECRETS"));
        let encryption_keys = split_secret_list(r.secret("AUTH_ENCRYPTION_KEY"));
        let totp_secret = r.secret("AUTH_TOTP_SECRET");
        let metrics_token = r.secret("AUTH_METRICS_TOKEN");

        if production {
            for name in variables::required_in_production() {
                if r.var(name).is_none() && r.var(&format!("{name}_FILE")).is_none() {
                    r.problems.push(format!(
                        "{name} is required when AUTH_ENV=production (see `soloauth gen-secrets`)"
                    ));
                }
            }
        }
        if let Some(hash) = &admin_password_hash {
            if let Err(why) = crate::base::secret::check_phc(hash.expose_secret()) {
                r.problems
                    .push(format!("AUTH_ADMIN_PASSWORD_HASH is not usable: {why}"));
            }
        }
        for (name, secret) in jwt_secret.iter().map(|s| ("AUTH_JWT_SECRET", s)).chain(
            jwt_previous_secrets
                .iter()
                .map(|s| ("AUTH_JWT_PREVIOUS_SECRETS", s)),
        ) {
            if secret.expose_secret().len() < MIN_JWT_SECRET_LEN {
                r.problems.push(format!(
                    "{name}: every secret must be at least {MIN_JWT_SECRET_LEN} bytes"
                ));
            }
        }
        if encryption_keys
            .iter()
            .any(|k| fernet::Fernet::new(k.expose_secret()).is_none())
        {
            r.problems.push(
                "AUTH_ENCRYPTION_KEY: every key must be a Fernet key (32 bytes, URL-safe base64)"
                    .into(),
            );
        }
        if let Some(secret) = &totp_secret {
            if let Err(why) = crate::base::secret::check_base32_secret(secret.expose_secret()) {
                r.problems.push(format!("AUTH_TOTP_SECRET: {why}"));
            }
        }

        let admin_username = r
            .var("AUTH_ADMIN_USERNAME")
            .map(|u| u.trim().to_string())
            .unwrap_or_else(|| "admin".into());
        if admin_username.len() > 128
            || admin_username.chars().any(char::is_control)
            || admin_username.contains(':')
        {
            r.problems.push(
                "AUTH_ADMIN_USERNAME must be at most 128 printable characters, without ':'".into(),
            );
        }

        let data_dir = PathBuf::from(r.var("AUTH_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let bind = r.parse(
            "AUTH_BIND",
            SocketAddr::from(([0, 0, 0, 0], 8001)),
            "an address like 0.0.0.0:8001",
        );

        let public_url = r
            .var("AUTH_PUBLIC_URL")
            .unwrap_or_else(|| "http://localhost:8001".into())
            .trim()
            .trim_end_matches('/')
            .to_string();
        let (public_origin, public_host) = origin_and_host(&public_url).unwrap_or_else(|| {
            r.problems.push(format!(
                "AUTH_PUBLIC_URL={public_url:?} must be an absolute http:// or https:// URL"
            ));
            ("http://localhost:8001".into(), "localhost:8001".into())
        });

        let cookie_domain = r
            .var("AUTH_COOKIE_DOMAIN")
            .map(|d| d.trim().trim_start_matches('.').to_ascii_lowercase());
        if let Some(domain) = &cookie_domain {
            let host = public_host.split(':').next().unwrap_or_default();
            let labels: Vec<&str> = domain.split('.').collect();
            let ip_host = host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[');
            if ip_host {
                r.problems.push(format!(
                    "AUTH_COOKIE_DOMAIN={domain:?} cannot work with a public URL on an IP address \
                     ({host}): browsers keep no cookie for a domain there. Give soloauth and the \
                     apps host names under one domain, or leave AUTH_COOKIE_DOMAIN unset"
                ));
            } else if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
                r.problems.push(format!(
                    "AUTH_COOKIE_DOMAIN={domain:?} must be a registered domain like example.com, not a public suffix"
                ));
            } else if psl::domain(domain.as_bytes()).is_none() {
                r.problems.push(format!(
                    "AUTH_COOKIE_DOMAIN={domain:?} is a public suffix (on the Public Suffix List, like \
                     com, home.arpa or github.io): browsers refuse cookies for it, so no sign-in \
                     would stick. Use a domain registered under it, e.g. auth.{domain} with \
                     AUTH_COOKIE_DOMAIN=apps.{domain}, or leave AUTH_COOKIE_DOMAIN unset"
                ));
            } else if host != domain && !host.ends_with(&format!(".{domain}")) {
                r.problems.push(format!(
                    "AUTH_COOKIE_DOMAIN={domain:?} must be the public host or a parent of it ({host})"
                ));
            }
        }
        let secure_default = !public_url.to_ascii_lowercase().starts_with("http://");
        let cookie_secure = r.parse("AUTH_COOKIE_SECURE", secure_default, "true or false");

        let access_ttl = i64::from(r.number("AUTH_ACCESS_TTL_SECONDS", 1800, 10));
        let refresh_ttl = i64::from(r.number("AUTH_REFRESH_TTL_SECONDS", 604_800, 60));
        if refresh_ttl < access_ttl {
            r.problems.push(
                "AUTH_REFRESH_TTL_SECONDS must not be shorter than AUTH_ACCESS_TTL_SECONDS".into(),
            );
        }
        let max_failed_attempts = r.number("AUTH_MAX_FAILED_ATTEMPTS", 5, 1);
        let lockout_minutes = r.number("AUTH_LOCKOUT_MINUTES", 15, 1);
        let rate_per_minute = r.number("AUTH_RATE_PER_MINUTE", 10, 1);
        let rate_burst = r.number("AUTH_RATE_BURST", 5, 1);
        let account_max_failures = r.number("AUTH_ACCOUNT_MAX_FAILURES", 100, 1);
        let totp_issuer = r
            .var("AUTH_TOTP_ISSUER")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "soloauth".into());
        if totp_issuer.contains(':') {
            r.problems.push(
                "AUTH_TOTP_ISSUER must not contain ':' (authenticator apps split on it)".into(),
            );
        }

        let mut trusted_proxies = Vec::new();
        for part in r
            .var("AUTH_TRUSTED_PROXIES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let parsed = part
                .parse::<IpNet>()
                .or_else(|_| part.parse::<std::net::IpAddr>().map(IpNet::from));
            match parsed {
                Ok(net) => trusted_proxies.push(net),
                Err(_) => r.problems.push(format!(
                    "AUTH_TRUSTED_PROXIES: {part:?} is not an IP address or CIDR"
                )),
            }
        }

        let reauth_seconds = i64::from(r.number("AUTH_REAUTH_SECONDS", 600, 0));
        let refresh_grace_seconds = i64::from(r.number("AUTH_REFRESH_GRACE_SECONDS", 10, 0));
        let idle_timeout =
            std::time::Duration::from_secs(u64::from(r.number("AUTH_IDLE_TIMEOUT_SECONDS", 60, 1)));

        let session_max_age = i64::from(r.number("AUTH_SESSION_MAX_DAYS", 30, 1)) * 86_400;
        let default_policy = match r.var("AUTH_DEFAULT_POLICY").as_deref().map(str::trim) {
            None => Policy::OneFactor,
            Some("bypass") => {
                r.problems.push(
                    "AUTH_DEFAULT_POLICY=bypass would let any unproxied request through; \
                     use bypass rules for the paths to open"
                        .into(),
                );
                Policy::OneFactor
            }
            Some(name) => Policy::parse(name).unwrap_or_else(|| {
                r.problems.push(format!(
                    "AUTH_DEFAULT_POLICY={name:?} must be one_factor, two_factor or deny"
                ));
                Policy::OneFactor
            }),
        };
        let rules = Rules::parse(&r.var("AUTH_RULES").unwrap_or_default(), default_policy)
            .unwrap_or_else(|problems| {
                r.problems.extend(problems);
                Rules::none(default_policy)
            });

        let webauthn_rp_id =
            match rp_id::resolve(r.var("AUTH_WEBAUTHN_RP_ID").as_deref(), &public_host) {
                Ok(id) => id,
                Err(problem) => {
                    r.problems.push(problem);
                    RpId::Off(String::new())
                }
            };

        let log_format = match r.var("AUTH_LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                r.problems.push(format!(
                    "AUTH_LOG_FORMAT={other:?} must be \"pretty\" or \"json\""
                ));
                LogFormat::Pretty
            }
        };

        let backup_interval_hours = r.ranged(
            "AUTH_BACKUP_INTERVAL_HOURS",
            24,
            0,
            MAX_BACKUP_INTERVAL_HOURS,
        );
        let backup_keep = r.ranged("AUTH_BACKUP_KEEP", 7, 1, MAX_BACKUP_KEEP);

        let oidc = read_oidc(&mut r, names, &admin_username);
        let notify_url = r.secret("AUTH_NOTIFY_URL");
        let notify = notify_config::read(
            notify_url,
            r.var("AUTH_NOTIFY_FORMAT").as_deref(),
            r.var("AUTH_NOTIFY_EVENTS").as_deref(),
        )
        .unwrap_or_else(|problems| {
            r.problems.extend(problems);
            None
        });

        if !r.problems.is_empty() {
            return Err(r.problems);
        }
        Ok(Config {
            production,
            admin_username,
            admin_password_hash,
            jwt_secret,
            jwt_previous_secrets,
            encryption_keys,
            totp_secret,
            data_dir,
            bind,
            public_url,
            public_origin,
            public_host,
            cookie_domain,
            cookie_secure,
            access_ttl,
            refresh_ttl,
            max_failed_attempts,
            lockout_minutes,
            rate_per_minute,
            rate_burst,
            account_max_failures,
            totp_issuer,
            trusted_proxies,
            log_format,
            reauth_seconds,
            refresh_grace_seconds,
            idle_timeout,
            metrics_token,
            session_max_age,
            rules,
            webauthn_rp_id,
            oidc,
            notify,
            backup_interval_hours,
            backup_keep,
        })
    }
}

/// The OpenID Connect provider's variables (see [`oidc_config`]).
fn read_oidc(r: &mut Reader, names: &[String], admin_username: &str) -> OidcConfig {
    let admin_email = r.var("AUTH_ADMIN_EMAIL").map(|e| e.trim().to_string());
    if let Some(email) = &admin_email {
        let (local, domain) = email.split_once('@').unwrap_or(("", ""));
        if local.is_empty() || domain.is_empty() || email.chars().any(char::is_whitespace) {
            r.problems.push(format!(
                "AUTH_ADMIN_EMAIL={email:?} is not an email address"
            ));
        }
    }
    let groups = match r.var("AUTH_ADMIN_GROUPS") {
        Some(value) => oidc_config::list(Some(value)),
        None => vec!["admin".to_string()],
    };
    let private_key = r.secret("AUTH_OIDC_PRIVATE_KEY");
    let apps: Vec<(String, EnvClient)> = oidc_config::client_names(names)
        .into_iter()
        .filter_map(|name| read_client(r, &name).map(|client| (name, client)))
        .collect();
    r.problems.extend(shared_client_ids(&apps));
    let clients = apps.into_iter().map(|(_, client)| client).collect();
    OidcConfig {
        admin_name: r
            .var("AUTH_ADMIN_NAME")
            .map(|n| n.trim().to_string())
            .unwrap_or_else(|| admin_username.to_string()),
        admin_email,
        admin_groups: groups,
        private_key,
        clients,
    }
}

/// The variable `AUTH_OIDC_CLIENT_<name><suffix>`.
fn client_var(name: &str, suffix: &str) -> String {
    format!("{}{name}{suffix}", oidc_config::CLIENT_PREFIX)
}

/// One app's `AUTH_OIDC_CLIENT_<NAME>_…` variables; `None` without a client id.
fn read_client(r: &mut Reader, name: &str) -> Option<EnvClient> {
    let var = |suffix: &str| client_var(name, suffix);
    let Some(client_id) = r.var(&var("_ID")).map(|v| v.trim().to_string()) else {
        r.problems.push(format!(
            "{} is missing: every app needs a client id",
            var("_ID")
        ));
        return None;
    };
    let redirect_uris = oidc_config::uri_list(r.var(&var("_REDIRECT_URIS")));
    if redirect_uris.is_empty() {
        r.problems.push(format!(
            "{} is missing: every app needs its redirect URIs",
            var("_REDIRECT_URIS")
        ));
    }
    let logout_uris = oidc_config::uri_list(r.var(&var("_LOGOUT_URIS")));
    for (suffix, uri) in redirect_uris
        .iter()
        .map(|u| ("_REDIRECT_URIS", u))
        .chain(logout_uris.iter().map(|u| ("_LOGOUT_URIS", u)))
    {
        if let Err(why) = oidc_config::check_uri(&var(suffix), uri) {
            r.problems.push(why);
        }
    }
    Some(EnvClient {
        name: name.to_ascii_lowercase(),
        client_id,
        secret: read_client_secret(r, &var("_SECRET")),
        redirect_uris,
        logout_uris,
    })
}

/// An app's secret (`None`: a public client); set but empty, or shorter
/// than [`oidc_config::MIN_CLIENT_SECRET_LEN`], is a problem.
fn read_client_secret(r: &mut Reader, secret_var: &str) -> Option<SecretString> {
    // An unset `${SECRET}` in a compose file must not quietly make a
    // confidential app public.
    for name in [secret_var.to_string(), format!("{secret_var}_FILE")] {
        if (r.lookup)(&name).is_some_and(|v| v.trim().is_empty()) {
            r.problems.push(format!(
                "{name} is set but empty (leave it out for a public client)"
            ));
        }
    }
    let secret = r.secret(secret_var)?;
    if secret.expose_secret().chars().count() < oidc_config::MIN_CLIENT_SECRET_LEN {
        r.problems.push(format!(
            "{} is shorter than {} characters: give the app a long random secret, \
             such as the client secret `soloauth gen-secrets` prints",
            r.secret_source(secret_var),
            oidc_config::MIN_CLIENT_SECRET_LEN
        ));
    }
    Some(secret)
}

/// One problem for each app whose client id an earlier app already has,
/// naming both apps' `_ID` variables (`apps`: `<NAME>` and app).
fn shared_client_ids(apps: &[(String, EnvClient)]) -> Vec<String> {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    let mut problems = Vec::new();
    for (name, app) in apps {
        match seen.iter().find(|(_, id)| *id == app.client_id) {
            Some((first, _)) => problems.push(format!(
                "{} and {} share the client id {:?}: every app needs its own",
                client_var(first, "_ID"),
                client_var(name, "_ID"),
                app.client_id
            )),
            None => seen.push((name, &app.client_id)),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Config, Vec<String>> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let names: Vec<String> = map.keys().cloned().collect();
        Config::from_lookup_with_names(&move |name| map.get(name).cloned(), &names)
    }

    /// An app `GRAFANA` with `extra` variables.
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

    #[test]
    fn client_secrets_need_32_characters_and_the_problem_names_the_variable() {
        let short = "a-31-character-client-secret-xy";
        assert_eq!(short.len(), 31);
        let problems = load(&grafana(&[("AUTH_OIDC_CLIENT_GRAFANA_SECRET", short)])).unwrap_err();
        assert_eq!(
            problems,
            [
                "AUTH_OIDC_CLIENT_GRAFANA_SECRET is shorter than 32 characters: give the app a \
              long random secret, such as the client secret `soloauth gen-secrets` prints"
            ]
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, format!("{short}\n")).unwrap();
        let file = path.to_str().unwrap();
        let problems =
            load(&grafana(&[("AUTH_OIDC_CLIENT_GRAFANA_SECRET_FILE", file)])).unwrap_err();
        assert!(
            problems[0].starts_with("AUTH_OIDC_CLIENT_GRAFANA_SECRET_FILE is shorter than 32"),
            "{problems:?}"
        );
        assert!(!problems.join(" ").contains(short));
        // Characters, not bytes: 32 of them will do, and 31 will not.
        let (long, short) = ("é".repeat(32), "é".repeat(31));
        let c = load(&grafana(&[("AUTH_OIDC_CLIENT_GRAFANA_SECRET", &long)]));
        assert!(c.unwrap().oidc.clients[0].secret.is_some());
        assert!(load(&grafana(&[("AUTH_OIDC_CLIENT_GRAFANA_SECRET", &short)])).is_err());
    }

    #[test]
    fn apps_sharing_a_client_id_are_named_both() {
        let problems = load(&[
            ("AUTH_OIDC_CLIENT_IMMICH_ID", "photos"),
            (
                "AUTH_OIDC_CLIENT_IMMICH_REDIRECT_URIS",
                "https://a.example/cb",
            ),
            ("AUTH_OIDC_CLIENT_GRAFANA_ID", "photos"),
            (
                "AUTH_OIDC_CLIENT_GRAFANA_REDIRECT_URIS",
                "https://b.example/cb",
            ),
            ("AUTH_OIDC_CLIENT_PAPERLESS_ID", "paperless"),
            (
                "AUTH_OIDC_CLIENT_PAPERLESS_REDIRECT_URIS",
                "https://c.example/cb",
            ),
        ])
        .unwrap_err();
        assert_eq!(
            problems,
            [
                "AUTH_OIDC_CLIENT_GRAFANA_ID and AUTH_OIDC_CLIENT_IMMICH_ID share the client id \
              \"photos\": every app needs its own"
            ]
        );
    }

    #[test]
    fn placeholders_are_recognised() {
        for placeholder in [
            "change-me",
            "CHANGE-ME-please",
            "changeme",
            "ChangeMe123",
            "change-me-to-48-random-bytes-from-gen-secrets",
            "change-me-to-a-fernet-key-from-gen-secrets",
            "$argon2id$v=19$m=19456,t=2,p=1$...",
            "real-key, change-me",
        ] {
            assert!(is_placeholder(placeholder), "{placeholder}");
        }
        for real in [
            "x".repeat(48),
            "please-change-me".into(),
            "$argon2id$v=19$abc".into(),
        ] {
            assert!(!is_placeholder(&real), "{real}");
        }
    }

    #[test]
    fn the_env_example_placeholders_are_refused_naming_the_variable() {
        let example = [
            ("AUTH_ENV", "production"),
            (
                "AUTH_ADMIN_PASSWORD_HASH",
                "$argon2id$v=19$m=19456,t=2,p=1$...",
            ),
            (
                "AUTH_JWT_SECRET",
                "change-me-to-48-random-bytes-from-gen-secrets",
            ),
            (
                "AUTH_ENCRYPTION_KEY",
                "change-me-to-a-fernet-key-from-gen-secrets",
            ),
            ("AUTH_METRICS_TOKEN", "ChangeMe"),
            (
                "AUTH_OIDC_CLIENT_GRAFANA_SECRET",
                "change-me-to-a-long-random-client-secret",
            ),
        ];
        let problems = load(&grafana(&example)).unwrap_err();
        let expected: Vec<String> = [
            "AUTH_ADMIN_PASSWORD_HASH",
            "AUTH_JWT_SECRET",
            "AUTH_ENCRYPTION_KEY",
            "AUTH_METRICS_TOKEN",
            "AUTH_OIDC_CLIENT_GRAFANA_SECRET",
        ]
        .iter()
        .map(|name| {
            format!(
                "{name} holds a placeholder, not a secret: run `soloauth gen-secrets` and use \
                 the value it prints"
            )
        })
        .collect();
        assert_eq!(problems, expected, "one problem each, no other");
        for (_, value) in &example[1..] {
            assert!(!problems.join(" ").contains(value), "{value} echoed");
        }
        // Outside production too: a placeholder is never a secret anyone means.
        let problems = load(&example[2..3]).unwrap_err();
        assert_eq!(problems, expected[1..2]);
        // From a file, the problem names the file's variable.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt");
        std::fs::write(&path, "CHANGEME\n").unwrap();
        let problems = load(&[("AUTH_JWT_SECRET_FILE", path.to_str().unwrap())]).unwrap_err();
        assert!(
            problems[0].starts_with("AUTH_JWT_SECRET_FILE holds a placeholder"),
            "{problems:?}"
        );
    }

    #[test]
    fn app_uri_lists_split_on_whitespace_and_each_uri_is_checked() {
        let c = load(&[
            ("AUTH_OIDC_CLIENT_IMMICH_ID", "immich"),
            (
                "AUTH_OIDC_CLIENT_IMMICH_REDIRECT_URIS",
                "https://photos.example.com/auth/login https://photos.example.com/user-settings\n\
                 app.immich:///oauth-callback",
            ),
            (
                "AUTH_OIDC_CLIENT_IMMICH_LOGOUT_URIS",
                "https://photos.example.com/, https://photos.example.com/bye",
            ),
        ])
        .unwrap();
        let app = &c.oidc.clients[0];
        assert_eq!(
            app.redirect_uris,
            [
                "https://photos.example.com/auth/login",
                "https://photos.example.com/user-settings",
                "app.immich:///oauth-callback"
            ]
        );
        assert_eq!(app.logout_uris.len(), 2);
        let problems = load(&[
            ("AUTH_OIDC_CLIENT_IMMICH_ID", "immich"),
            (
                "AUTH_OIDC_CLIENT_IMMICH_REDIRECT_URIS",
                "https://photos.example.com/cb /relative",
            ),
            (
                "AUTH_OIDC_CLIENT_IMMICH_LOGOUT_URIS",
                "https://photos.example.com/ javascript:alert(1)",
            ),
        ])
        .unwrap_err();
        assert_eq!(
            problems,
            [
                "AUTH_OIDC_CLIENT_IMMICH_REDIRECT_URIS: \"/relative\" is not an absolute URL \
                 (relative URL without a base)",
                "AUTH_OIDC_CLIENT_IMMICH_LOGOUT_URIS: \"javascript:alert(1)\" has scheme \
                 javascript: not a redirect target"
            ]
        );
    }

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
    fn snapshot_settings_are_bounded() {
        let c = load(&[
            ("AUTH_BACKUP_INTERVAL_HOURS", "0"),
            ("AUTH_BACKUP_KEEP", "1"),
        ])
        .unwrap();
        assert_eq!((c.backup_interval_hours, c.backup_keep), (0, 1));
        let problems = load(&[
            ("AUTH_BACKUP_INTERVAL_HOURS", "8761"),
            ("AUTH_BACKUP_KEEP", "0"),
        ])
        .unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("AUTH_BACKUP_INTERVAL_HOURS must be at most 8760"));
        assert!(problems[1].contains("AUTH_BACKUP_KEEP must be at least 1"));
        let problems = load(&[("AUTH_BACKUP_INTERVAL_HOURS", "1.5")]).unwrap_err();
        assert!(problems[0].contains("not a whole number"), "{problems:?}");
    }

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

    #[test]
    fn problems_never_echo_secrets() {
        let problems = load(&[("AUTH_JWT_SECRET", "tooshort-secret-value")]).unwrap_err();
        assert!(!problems.join(" ").contains("tooshort-secret-value"));
    }

    #[test]
    fn secret_from_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt");
        std::fs::write(&path, "x".repeat(40) + "\n").unwrap();
        let c = load(&[("AUTH_JWT_SECRET_FILE", path.to_str().unwrap())]).unwrap();
        assert_eq!(c.jwt_secret.unwrap().expose_secret(), "x".repeat(40));
        let problems = load(&[
            ("AUTH_JWT_SECRET_FILE", "/nonexistent/file"),
            ("AUTH_ENCRYPTION_KEY", &fernet::Fernet::generate_key()),
        ])
        .unwrap_err();
        assert_eq!(problems.len(), 1);
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

    #[test]
    fn https_public_url_makes_cookies_secure_and_checks_domain() {
        let c = load(&[
            ("AUTH_PUBLIC_URL", "https://auth.example.com/"),
            ("AUTH_COOKIE_DOMAIN", ".example.com"),
        ])
        .unwrap();
        assert!(c.cookie_secure);
        assert_eq!(c.public_url, "https://auth.example.com");
        assert_eq!(c.cookie_domain.as_deref(), Some("example.com"));
        assert!(load(&[
            ("AUTH_PUBLIC_URL", "https://auth.example.com"),
            ("AUTH_COOKIE_DOMAIN", "other.org"),
        ])
        .is_err());
    }

    #[test]
    fn default_ports_are_left_out_of_the_origin() {
        let c = load(&[("AUTH_PUBLIC_URL", "https://auth.example.com:443/")]).unwrap();
        assert_eq!(c.public_origin, "https://auth.example.com");
        let c = load(&[("AUTH_PUBLIC_URL", "http://10.0.0.5:8001")]).unwrap();
        assert_eq!(c.public_origin, "http://10.0.0.5:8001");
    }

    #[test]
    fn cookie_domain_must_be_a_real_domain() {
        for bad in [".", "com", "example..com", "example.com."] {
            let vars = [
                ("AUTH_PUBLIC_URL", "https://auth.example.com."),
                ("AUTH_COOKIE_DOMAIN", bad),
            ];
            assert!(load(&vars).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_public_suffix_is_no_cookie_domain() {
        for (public_url, suffix) in [
            ("https://auth.home.arpa", "home.arpa"),
            ("https://auth.example.com", "com"),
            ("https://auth.github.io", "github.io"),
            ("https://auth.example.co.uk", "co.uk"),
        ] {
            let vars = [
                ("AUTH_PUBLIC_URL", public_url),
                ("AUTH_COOKIE_DOMAIN", suffix),
            ];
            let problems = load(&vars).unwrap_err();
            assert!(
                problems.iter().any(|p| p.contains("public suffix")),
                "{suffix}: {problems:?}"
            );
        }
        for (public_url, domain) in [
            ("https://auth.lab.home.arpa", "lab.home.arpa"),
            ("https://auth.example.co.uk", "example.co.uk"),
            ("http://auth.test.localhost:8001", "test.localhost"),
        ] {
            let vars = [
                ("AUTH_PUBLIC_URL", public_url),
                ("AUTH_COOKIE_DOMAIN", domain),
            ];
            assert!(load(&vars).is_ok(), "{domain}");
        }
    }

    #[test]
    fn bare_ips_are_trusted_proxies() {
        let c = load(&[("AUTH_TRUSTED_PROXIES", "172.16.0.0/12, 127.0.0.1, ::1")]).unwrap();
        assert_eq!(c.trusted_proxies.len(), 3);
    }

    #[test]
    fn an_impossible_rp_id_stops_start_up_and_a_bare_ip_turns_passkeys_off() {
        let problems = load(&[
            ("AUTH_PUBLIC_URL", "https://auth.example.com"),
            ("AUTH_WEBAUTHN_RP_ID", "evil.com"),
        ])
        .unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("AUTH_WEBAUTHN_RP_ID=evil.com")),
            "{problems:?}"
        );
        let config = load(&[("AUTH_PUBLIC_URL", "http://192.168.1.10:8001")]).unwrap();
        assert!(matches!(config.webauthn_rp_id, RpId::Off(_)));
        let config = load(&[("AUTH_PUBLIC_URL", "https://auth.example.com")]).unwrap();
        assert_eq!(
            config.webauthn_rp_id,
            RpId::Domain("auth.example.com".into())
        );
    }
}
