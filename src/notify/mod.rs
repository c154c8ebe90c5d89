//! Sign-in alerts: audit events the owner chose (`AUTH_NOTIFY_EVENTS`),
//! POSTed to their phone's push service (`AUTH_NOTIFY_URL`) as JSON or as
//! ntfy, Gotify, Discord or Slack read it.
//!
//! - [`alert`]: the alert an event becomes, and its text for people;
//! - [`inert`]: what a client sent (its user agent), made inert: one line,
//!   at most 200 characters, in a code span or with `://` broken;
//! - [`format`]: the request body and headers of each format;
//! - [`courier`]: the queue handlers offer alerts to, and the task that
//!   delivers them off the request path, with a timeout and bounded retries.
//!
//! `http::audit` offers every recorded event it is asked to alert about; the
//! command line sends its own events' alerts and `soloauth notify-test`.

pub mod alert;
pub mod courier;
pub mod format;
pub mod inert;

pub use alert::Alert;
pub use courier::{outbox, Courier, Outbox, Poster};
pub use inert::Inert;
