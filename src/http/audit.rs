//! Records what the domain decided, in one place: every event is counted in
//! the metrics (derived from its kind); audited kinds are also logged as one
//! line and stored in the event log, flushed before the response. The
//! kinds of a successful sign-in (`login_success`, `passkey_login`) are
//! not flushed on their own: they report a session that is already on disk
//! (a sign-in flushes once, when its session starts), and reach the disk
//! with the next flush (the storage probe makes one every 10 s).
//!
//! Details are short classifications (`reason=credentials`), never a
//! password, hash, token, code or secret. A sign-in's detail also says
//! whether its address and user agent are new (`ip=new user_agent=known`).
//!
//! The audited kinds the owner chose are also offered as sign-in alerts,
//! which leave later, off the request path.

use crate::auth::events::{self, Event, Kind};
use crate::http::state::AppState;
use crate::notify::Alert;
use crate::storage::events::StoredEvent;

/// The kinds that report a sign-in whose session is already flushed.
const SIGN_IN_ON_DISK: [Kind; 2] = [Kind::LoginSuccess, Kind::PasskeyLogin];

/// Records every event of a request, in order. A storage failure here is
/// logged, never fails the request.
pub async fn record(state: &AppState, events: &[Event]) {
    let mut flush = false;
    for event in events {
        state.metrics.count(event.kind);
        if event.kind.is_audited() {
            let stored = store_and_log(state, event);
            flush |= !SIGN_IN_ON_DISK.contains(&event.kind);
            if state.alerts.wants(event.kind.as_str()) {
                let server = &state.config.public_url;
                let alert = Alert::of_event(event, stored.detail, stored.at, server);
                state.alerts.offer(alert);
            }
        }
    }
    if flush {
        if let Err(e) = state.auth.store.flush().await {
            tracing::error!(error = %e, "cannot flush audit events");
        }
    }
}

/// Logs and stores `event` ([`events::write`]); answers it as stored,
/// even when the store refused it (for its alert).
fn store_and_log(state: &AppState, event: &Event) -> StoredEvent {
    let now = state.now();
    events::write(&state.auth.store, event, now).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot store audit event");
        event.to_stored(now)
    })
}
