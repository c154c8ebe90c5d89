//! Authentication domain logic, free of HTTP: passwords, tokens, sessions,
//! the second factor. Functions take `now` or an [`crate::http::state::AppState`]
//! with an injected clock.

pub mod factors;
pub mod lockout;
pub mod password;
pub mod recovery;
pub mod refresh;
pub mod sessions;
pub mod tokens;
pub mod totp;
pub mod vault;
