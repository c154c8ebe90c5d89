//! Command-line interface: `serve` (the default) and the host-side tools.
//!
//! Commands that open the data directory (`check`, `revoke-sessions`,
//! `reset-totp`, `reset-passkeys`, `rotate-keys`, `rotate-oidc-key`,
//! `unlock`, `events`, `backup` and `restore`) need the server stopped: sled
//! admits one process at a time, and they say so and exit non-zero when it
//! is running.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::auth::password::hash_password;
use crate::base::clock::Clock;
use crate::base::config::Config;
use crate::base::secret::{random_token, ExposeSecret, SecretString};
use crate::storage::Store;

mod store;

pub use store::{
    events_command, notify_test_command, reset_passkeys_command, reset_totp_command,
    revoke_sessions_command, rotate_keys_command, rotate_oidc_key_command, unlock_command,
};

#[derive(Parser, Debug)]
#[command(
    name = "soloauth",
    version,
    about = "A small authentication server for one person"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Hash a password for AUTH_ADMIN_PASSWORD_HASH (prompts without echo, or reads stdin).
    HashPassword,
    /// Print fresh secrets as ready-to-paste environment lines.
    GenSecrets,
    /// Pre-flight: validate configuration and data directory; non-zero on any problem.
    Check,
    /// Exit 0 when the local server answers /health with 200 (for Docker HEALTHCHECK).
    Healthcheck,
    /// Revoke every session (all devices must log in again).
    RevokeSessions,
    /// Lost device: turn TOTP off, void the recovery codes, revoke every session.
    ResetTotp,
    /// Lost or orphaned passkeys: remove every passkey, revoke every session.
    ResetPasskeys,
    /// Re-encrypt stored secrets with the first AUTH_ENCRYPTION_KEY.
    RotateKeys,
    /// New OIDC signing key; the old one stays in the JWKS until its tokens expire.
    RotateOidcKey,
    /// Lift every lockout (account-wide and per IP).
    Unlock,
    /// Send one test alert to AUTH_NOTIFY_URL; non-zero when it is not delivered.
    NotifyTest,
    /// Write a snapshot of the data directory to FILE (server stopped).
    Backup {
        /// Where to write it; must not exist.
        file: PathBuf,
    },
    /// Check the snapshot FILE, move the current data aside, restore it (server stopped).
    Restore {
        /// A snapshot: DATA/backups/soloauth-<time>.tar, or one `backup` wrote.
        file: PathBuf,
    },
    /// Time argon2id verifications (for scripts/bench.sh).
    #[command(hide = true)]
    BenchHash,
    /// Print docs/configuration.md: every variable, from the table in the code.
    #[command(hide = true)]
    ConfigDocs,
    /// Print recent audit events, newest first.
    Events {
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

/// Prints configuration problems and returns the failure code.
fn report_config_problems(problems: &[String]) -> ExitCode {
    eprintln!("soloauth: configuration problems:");
    for p in problems {
        eprintln!("  - {p}");
    }
    ExitCode::FAILURE
}

/// Loads config or prints every problem.
pub fn load_config() -> Result<Config, ExitCode> {
    for name in Config::unknown_env_vars() {
        eprintln!("soloauth: warning: unknown variable {name} is ignored");
    }
    Config::from_env().map_err(|problems| report_config_problems(&problems))
}

/// Reads a password: a no-echo prompt (twice) on a terminal, else one line of stdin.
fn read_password() -> Result<SecretString, String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("the passwords differ".into());
        }
        Ok(SecretString::from(first))
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        Ok(SecretString::from(
            line.trim_end_matches(['\r', '\n']).to_string(),
        ))
    }
}

/// `soloauth hash-password`.
pub fn hash_password_command() -> ExitCode {
    let password = match read_password() {
        Ok(p) if !p.expose_secret().is_empty() => p,
        Ok(_) => {
            eprintln!("soloauth: empty password");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("soloauth: cannot read the password: {e}");
            return ExitCode::FAILURE;
        }
    };
    if password.expose_secret().chars().count() < 12 {
        eprintln!("soloauth: warning: a password shorter than 12 characters is easy to guess");
    }
    match hash_password(password.expose_secret().as_bytes()) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("soloauth: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `soloauth gen-secrets`.
pub fn gen_secrets_command() -> ExitCode {
    let password = random_token(18);
    let hash = match hash_password(password.expose_secret().as_bytes()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("soloauth: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("# soloauth secrets — keep these private (e.g. in .env, mode 0600)");
    println!("# admin password (not needed by the server; store it in your password manager):");
    println!("#   {}", password.expose_secret());
    println!("AUTH_ADMIN_PASSWORD_HASH='{hash}'");
    println!("AUTH_JWT_SECRET={}", random_token(48).expose_secret());
    println!("AUTH_ENCRYPTION_KEY={}", fernet::Fernet::generate_key());
    println!(
        "# a client secret for an OIDC app, AUTH_OIDC_CLIENT_<NAME>_SECRET (run again for another): {}",
        random_token(32).expose_secret()
    );
    ExitCode::SUCCESS
}

/// What `check` warns about apps that may sign in while the profile they
/// get has no email.
pub const NO_EMAIL: &str =
    "Immich and others refuse a profile without an email: set AUTH_ADMIN_EMAIL";

/// The warning for `apps` OIDC apps (from the environment and the page)
/// when `AUTH_ADMIN_EMAIL` is empty; none otherwise.
pub fn email_warning(config: &Config, apps: usize) -> Option<String> {
    (apps > 0 && config.oidc.admin_email.is_none())
        .then(|| format!("{apps} OIDC app(s) configured and AUTH_ADMIN_EMAIL is empty. {NO_EMAIL}"))
}

/// `soloauth check`.
pub fn check_command() -> ExitCode {
    let config = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut problems = Vec::new();
    let mut page_apps = 0;
    if let Err(e) = crate::base::bootstrap::ensure_data_dir(&config.data_dir) {
        problems.push(e);
    } else {
        let probe = config.data_dir.join(".write-test");
        match std::fs::write(&probe, b"ok") {
            Ok(()) => {
                let _ = std::fs::remove_file(&probe);
            }
            Err(e) => problems.push(format!(
                "data directory {} is not writable: {e}",
                config.data_dir.display()
            )),
        }
        problems.extend(crate::base::bootstrap::check_kept(&config.data_dir));
        problems.extend(crate::base::bootstrap::loose_modes(&config.data_dir));
        let backups = config.data_dir.join(crate::backup::DIR);
        if backups.exists() && !backups.is_dir() {
            problems.push(format!(
                "{} is not a directory: snapshots cannot be written",
                backups.display()
            ));
        }
        match Store::open(&config.data_dir) {
            // Unreadable apps are left out of the list; the count is a hint.
            Ok(store) => {
                page_apps = store.oidc_clients().map_or(0, |apps| apps.len());
                match crate::auth::password_login::startup_problem(&config, &store) {
                    Ok(problem) => problems.extend(problem),
                    Err(e) => problems.push(e.to_string()),
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    if let Some(warning) = email_warning(&config, config.oidc.clients.len() + page_apps) {
        eprintln!("soloauth: warning: {warning}");
    }
    if problems.is_empty() {
        let snapshots = match config.backup_interval_hours {
            0 => "no scheduled snapshots".to_string(),
            hours => format!(
                "a snapshot every {hours} h, the {} newest kept",
                config.backup_keep
            ),
        };
        println!(
            "soloauth: configuration ok ({} mode, data in {}, listening on {}, public URL {}, {snapshots})",
            if config.production {
                "production"
            } else {
                "development"
            },
            config.data_dir.display(),
            config.bind,
            config.public_url
        );
        ExitCode::SUCCESS
    } else {
        report_config_problems(&problems)
    }
}

/// Where to reach a server bound to `bind` from this host.
fn local_target(bind: SocketAddr) -> SocketAddr {
    let ip = match bind.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bind.port())
}

/// `soloauth healthcheck`: a bare HTTP/1.0 GET, so the image needs no curl.
pub fn healthcheck_command() -> ExitCode {
    let config = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let target = local_target(config.bind);
    let attempt = || -> std::io::Result<String> {
        let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(3))?;
        stream.set_read_timeout(Some(Duration::from_secs(3)))?;
        stream.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut head = String::new();
        stream.take(4096).read_to_string(&mut head)?;
        Ok(head)
    };
    match attempt() {
        Ok(resp) if resp.starts_with("HTTP/1.0 200") || resp.starts_with("HTTP/1.1 200") => {
            println!("healthy");
            ExitCode::SUCCESS
        }
        Ok(resp) => {
            eprintln!(
                "unhealthy: {}",
                resp.lines().next().unwrap_or("no response")
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("unhealthy: cannot reach {target}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a command's report, or its error; the exit code.
fn report(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("soloauth: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What `backup` and `restore` do: data directory, file, now (Unix ms).
pub type SnapshotJob = fn(&Path, &Path, i64) -> Result<String, String>;

/// `soloauth backup FILE` and `soloauth restore FILE`: `job` on the
/// configured data directory, its report printed.
pub fn snapshot_command(job: SnapshotJob, file: &Path) -> ExitCode {
    match load_config() {
        Ok(config) => report(job(&config.data_dir, file, Clock::System.now_millis())),
        Err(code) => code,
    }
}

/// `soloauth config-docs` (hidden): the variable table as markdown, what
/// `docs/configuration.md` holds.
pub fn config_docs_command() -> ExitCode {
    print!("{}", crate::base::variables::markdown());
    ExitCode::SUCCESS
}

/// `soloauth bench-hash` (hidden): the median time of one verification.
pub fn bench_hash_command() -> ExitCode {
    match crate::auth::password::median_verify_ms(21) {
        Ok(ms) => {
            println!("median {ms:.2} ms per argon2id verification (21 rounds)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("soloauth: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        let map: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let names: Vec<String> = map.keys().cloned().collect();
        Config::from_lookup_with_names(&|n| map.get(n).cloned(), &names).unwrap()
    }

    #[test]
    fn apps_without_an_admin_email_draw_a_warning() {
        let app = [
            ("AUTH_OIDC_CLIENT_IMMICH_ID", "immich"),
            (
                "AUTH_OIDC_CLIENT_IMMICH_REDIRECT_URIS",
                "app.immich:///oauth-callback",
            ),
        ];
        assert_eq!(
            email_warning(&config(&app), 1).as_deref(),
            Some(
                "1 OIDC app(s) configured and AUTH_ADMIN_EMAIL is empty. Immich and others \
                 refuse a profile without an email: set AUTH_ADMIN_EMAIL"
            )
        );
        // Apps added from the page count too.
        assert!(email_warning(&config(&[]), 2).is_some_and(|w| w.starts_with("2 OIDC")));
        assert_eq!(email_warning(&config(&[]), 0), None);
        let mut with_email = app.to_vec();
        with_email.push(("AUTH_ADMIN_EMAIL", "owner@example.com"));
        assert_eq!(email_warning(&config(&with_email), 1), None);
    }
}
