//! The host-side commands over the data directory (`revoke-sessions`,
//! `reset-totp`, `reset-passkeys`, `rotate-keys`, `rotate-oidc-key`,
//! `unlock`, `events`) and `notify-test`. Each opens the store (the server
//! stopped), writes what it did to the event log as the server writes its
//! events ([`events::write`]), closes the store, then sends the alerts the
//! owner chose.

use std::process::ExitCode;
use std::sync::Arc;

use super::load_config;
use crate::auth::events::{self, Event, Kind, AUDITED};
use crate::base::clock::Clock;
use crate::base::config::Config;
use crate::notify::alert::TEST_KIND;
use crate::notify::{Alert, Poster};
use crate::storage::events::StoredEvent;
use crate::storage::{Store, StoreError};

/// Runs `work` on the store of the configured data directory, flushes,
/// sends the alerts for the events it recorded, and prints what it returns;
/// the server must be stopped.
fn with_store(
    work: impl FnOnce(&Config, &Store, &mut Vec<StoredEvent>) -> Result<String, String>,
) -> ExitCode {
    let config = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let store = match Store::open(&config.data_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("soloauth: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut recorded = Vec::new();
    let result = work(&config, &store, &mut recorded);
    // Flushed and closed, the data directory free, before any alert is
    // tried: a receiver that is down must not keep the server from starting.
    let closed = block_on(store.close()).and_then(|r| r.map_err(storage_error));
    match result.and_then(|message| closed.map(|()| message)) {
        Ok(message) => {
            println!("{message}");
            send_alerts(&config, &recorded);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("soloauth: {e}");
            ExitCode::FAILURE
        }
    }
}

fn storage_error(e: StoreError) -> String {
    format!("storage error: {e}")
}

/// Writes an audit event for a host-side command (no client IP) as the
/// server writes its own ([`events::write`]) and keeps it in `recorded`
/// for its alert.
fn record_cli_event(
    store: &Store,
    recorded: &mut Vec<StoredEvent>,
    kind: Kind,
    detail: &str,
) -> Result<(), String> {
    let event = Event::from_host(kind).detail(detail);
    let stored = events::write(store, &event, Clock::System.now()).map_err(storage_error)?;
    recorded.push(stored);
    Ok(())
}

/// Runs `work` on a runtime of its own (commands have none).
fn block_on<T>(work: impl std::future::Future<Output = T>) -> Result<T, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|runtime| runtime.block_on(work))
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// Sends the alerts the owner chose for the command's events, as the
/// server would (three attempts); a failure is reported, not fatal.
fn send_alerts(config: &Config, recorded: &[StoredEvent]) {
    let Some(notify) = &config.notify else {
        return;
    };
    let alerts: Vec<Alert> = recorded
        .iter()
        .filter_map(|e| {
            let kind = AUDITED.iter().map(|k| k.as_str()).find(|k| *k == e.kind)?;
            let alert = Alert::from_host(kind, &e.detail, e.at, &config.public_url);
            notify.wants(kind).then_some(alert)
        })
        .collect();
    if alerts.is_empty() {
        return;
    }
    let sent = block_on(async {
        let poster = Poster::new(Arc::new(notify.clone()), None)?;
        for alert in &alerts {
            if let Err(why) = poster.deliver(alert).await {
                eprintln!("warning: the {} alert was not delivered: {why}", alert.kind);
            }
        }
        Ok::<(), String>(())
    });
    if let Err(why) = sent.and_then(|r| r) {
        eprintln!("warning: alerts were not sent: {why}");
    }
}

/// `soloauth notify-test`: one alert, one attempt, the outcome printed.
pub fn notify_test_command() -> ExitCode {
    let config = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(notify) = &config.notify else {
        eprintln!("soloauth: AUTH_NOTIFY_URL is not set, so there is nowhere to send alerts");
        return ExitCode::FAILURE;
    };
    let detail = "sent by soloauth notify-test";
    let alert = Alert::from_host(TEST_KIND, detail, Clock::System.now(), &config.public_url);
    let sent = block_on(async {
        Poster::new(Arc::new(notify.clone()), None)?
            .attempt(&alert)
            .await
    });
    match sent.and_then(|r| r) {
        Ok(()) => {
            println!("test alert delivered ({} format)", notify.format.as_str());
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("soloauth: the test alert was not delivered: {why}");
            ExitCode::FAILURE
        }
    }
}

/// `soloauth revoke-sessions`.
pub fn revoke_sessions_command() -> ExitCode {
    with_store(|_, store, recorded| {
        let n = store.delete_sessions_except(None).map_err(storage_error)?;
        let detail = format!("count={n} by=cli");
        record_cli_event(store, recorded, Kind::SessionRevoked, &detail)?;
        Ok(format!("revoked {n} session(s)"))
    })
}

/// `soloauth reset-totp`.
pub fn reset_totp_command() -> ExitCode {
    with_store(|config, store, recorded| {
        let was_on = store.totp_active().map_err(storage_error)?.is_some();
        store.reset_factors().map_err(storage_error)?;
        let n = store.delete_sessions_except(None).map_err(storage_error)?;
        if was_on {
            let detail = format!("sessions_revoked={n} by=cli");
            record_cli_event(store, recorded, Kind::TotpDisabled, &detail)?;
        }
        let mut message =
            format!("TOTP is off, recovery codes are void, {n} session(s) revoked; sign in with the password and enroll again");
        if config.totp_secret.is_some() {
            message.push_str(
                "\nwarning: AUTH_TOTP_SECRET is set, so TOTP stays on until you remove it",
            );
        }
        Ok(message)
    })
}

/// `soloauth reset-passkeys`.
pub fn reset_passkeys_command() -> ExitCode {
    with_store(|config, store, recorded| {
        let password_was_off = store.password_login_off().map_err(storage_error)?;
        let removed = store.clear_passkeys().map_err(storage_error)?;
        let n = store.delete_sessions_except(None).map_err(storage_error)?;
        if removed > 0 {
            record_cli_event(
                store,
                recorded,
                Kind::PasskeyRemoved,
                &format!("count={removed} by=cli"),
            )?;
        }
        if password_was_off {
            let detail = "enabled=true by=cli";
            record_cli_event(store, recorded, Kind::PasswordLoginChanged, detail)?;
        }
        let mut message = format!(
            "{removed} passkey(s) removed, {n} session(s) revoked, password sign-in on; sign in \
             with the password (and TOTP) and add passkeys again"
        );
        if config.password_login_off {
            message.push_str(
                "\nwarning: AUTH_PASSWORD_LOGIN=off is set: remove it, or the server will not \
                 start (no passkey is left to sign in with)",
            );
        }
        Ok(message)
    })
}

/// `soloauth rotate-oidc-key`.
pub fn rotate_oidc_key_command() -> ExitCode {
    with_store(|config, store, recorded| {
        if config.oidc.private_key.is_some() {
            return Err(
                "AUTH_OIDC_PRIVATE_KEY is set: the signing key comes from the \
                        environment; change it there"
                    .into(),
            );
        }
        let keys = crate::base::bootstrap::resolve(config)?;
        let vault = crate::auth::vault::Vault::new(&keys.encryption_keys)?;
        let now = Clock::System.now();
        let kid = crate::auth::oidc::keys::KeyRing::rotate(store, &vault, now)?;
        record_cli_event(
            store,
            recorded,
            Kind::KeysRotated,
            &format!("oidc_kid={kid} by=cli"),
        )?;
        Ok(format!(
            "new OIDC signing key {kid}; the previous one stays published for {} s",
            crate::auth::oidc::keys::ID_TOKEN_TTL
        ))
    })
}

/// `soloauth rotate-keys`.
pub fn rotate_keys_command() -> ExitCode {
    with_store(|config, store, recorded| {
        let keys = crate::base::bootstrap::resolve(config)?;
        let vault = crate::auth::vault::Vault::new(&keys.encryption_keys)?;
        match store.reencrypt_factors(|t| vault.reencrypt(t)).map_err(storage_error)? {
            Ok(n) => {
                let mut n = n;
                for mut key in store.oidc_keys().map_err(storage_error)? {
                    key.encrypted = vault.reencrypt(&key.encrypted).ok_or(
                        "no configured key decrypts the OIDC signing key (add the old key to \
                         AUTH_ENCRYPTION_KEY, or run `soloauth rotate-oidc-key`)",
                    )?;
                    store.put_oidc_key(&key).map_err(storage_error)?;
                    n += 1;
                }
                let detail = format!("reencrypted={n} by=cli");
                record_cli_event(store, recorded, Kind::KeysRotated, &detail)?;
                Ok(format!(
                    "re-encrypted {n} stored secret(s) with the first AUTH_ENCRYPTION_KEY; older keys may now be removed"
                ))
            }
            Err(unreadable) => Err(format!(
                "no configured key decrypts: {}; nothing was changed for those (add the old key to AUTH_ENCRYPTION_KEY)",
                unreadable.join(", ")
            )),
        }
    })
}

/// `soloauth unlock`.
pub fn unlock_command() -> ExitCode {
    with_store(|_, store, recorded| {
        let n = store.clear_all_lockouts().map_err(storage_error)?;
        record_cli_event(
            store,
            recorded,
            Kind::Unlock,
            &format!("records={n} by=cli"),
        )?;
        Ok(format!(
            "cleared {n} lockout record(s); the account is unlocked"
        ))
    })
}

/// `soloauth events`.
pub fn events_command(limit: usize) -> ExitCode {
    with_store(|_, store, _| {
        let events = store.recent_events(limit).map_err(storage_error)?;
        let lines: Vec<String> = events
            .iter()
            .map(|e| {
                let ip = if e.ip.is_empty() { "-" } else { e.ip.as_str() };
                format!(
                    "{}  {:<26} {:<15} {}",
                    crate::base::clock::rfc3339(e.at),
                    e.kind,
                    ip,
                    e.detail
                )
            })
            .collect();
        Ok(if lines.is_empty() {
            "no events".to_string()
        } else {
            lines.join("\n")
        })
    })
}
