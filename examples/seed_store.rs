//! A realistic store for `scripts/bench.sh`'s snapshot figures: adds
//! SESSIONS sessions and EVENTS audit events (records the size of real
//! ones: a browser's user agent, the hashes, a login's event detail) to the
//! data directory DIR, which no server may hold.
//!
//!   cargo run --release --example seed_store -- DIR SESSIONS EVENTS
//!
//! The events are kept to the store's retention (10 000), as the server's are.

use std::process::ExitCode;

use soloauth::base::amr::Amr;
use soloauth::storage::events::StoredEvent;
use soloauth::storage::sessions::Session;
use soloauth::storage::Store;

/// Far in the future: the sessions stay live while the bench runs.
const EXPIRES: i64 = 4_000_000_000;
const AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                     Chrome/131.0.0.0 Safari/537.36";

fn seed(dir: &str, sessions: u64, events: u64) -> Result<String, String> {
    let store = Store::open(std::path::Path::new(dir)).map_err(|e| e.to_string())?;
    let hash = |n: u64, what: &str| format!("{:064x}", u128::from(n) << 8 | what.len() as u128);
    for n in 0..sessions {
        let session = Session {
            id: format!("{:032x}", u128::from(n) * 0x9e37_79b9_7f4a_7c15),
            created_at: 1_800_000_000,
            last_seen_at: 1_800_000_000,
            expires_at: EXPIRES,
            ip: format!("198.51.100.{}", n % 250),
            user_agent: AGENT.into(),
            amr: vec![Amr::Pwd, Amr::Otp],
            refresh_hash: hash(n, "refresh"),
            cookie_hash: hash(n, "cookie"),
            remember: true,
            consents: Vec::new(),
        };
        store.put_session(&session).map_err(|e| e.to_string())?;
    }
    for n in 0..events {
        let event = StoredEvent {
            at: 1_800_000_000 + n as i64,
            kind: "login_success".into(),
            ip: format!("198.51.100.{}", n % 250),
            detail: format!("session={:032x} amr=pwd,otp remember=true", n),
        };
        store.append_event(&event).map_err(|e| e.to_string())?;
    }
    store.flush_blocking().map_err(|e| e.to_string())?;
    Ok(format!(
        "added {sessions} sessions and {events} events to {dir}"
    ))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [dir, sessions, events] => sessions
            .parse()
            .ok()
            .zip(events.parse().ok())
            .map(|n| (dir, n)),
        _ => None,
    };
    let Some((dir, (sessions, events))) = parsed else {
        eprintln!("usage: seed_store DIR SESSIONS EVENTS");
        return ExitCode::FAILURE;
    };
    match seed(dir, sessions, events) {
        Ok(done) => {
            println!("{done}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("seed_store: {e}");
            ExitCode::FAILURE
        }
    }
}
