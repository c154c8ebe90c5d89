//! Authentication domain logic, free of HTTP: passwords, tokens, sessions.
//! Functions take `now` or an [`crate::app::AppState`] with an injected clock.

pub mod password;
pub mod refresh;
pub mod sessions;
pub mod tokens;
pub mod totp;
