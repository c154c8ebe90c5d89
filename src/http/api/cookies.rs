//! The three auth cookies, all HttpOnly and Secure unless
//! `AUTH_COOKIE_SECURE=false`:
//! - `soloauth_session` (Lax, Path=/, optional Domain): the session's own
//!   secret, accepted by forward auth alone, for as long as the session
//!   lives; set at login only.
//! - `soloauth_access` (Lax, Path=/, optional Domain): the access token,
//!   for the API (and forward auth) while it lasts.
//! - `soloauth_refresh` (Strict, Path=/auth): the refresh token.
//!
//! With "remember me" the session and refresh cookies are kept until the
//! session's absolute end (the server ends it sooner when idle) and the
//! access cookie as long as its token; without, all three are
//! browser-session cookies (no `Max-Age`).

use std::time::Duration;

use poem::web::cookie::{Cookie, CookieJar, SameSite};

use super::{ACCESS_COOKIE, REFRESH_COOKIE, SESSION_COOKIE};
use crate::auth::sessions::TokenPair;
use crate::base::config::Config;
use crate::base::secret::ExposeSecret;

/// A cookie; `max_age` `None` makes it a browser-session cookie.
fn cookie(config: &Config, name: &str, value: &str, max_age: Option<i64>) -> Cookie {
    let mut c = Cookie::new_with_str(name, value);
    c.set_http_only(true);
    c.set_secure(config.cookie_secure);
    if let Some(secs) = max_age {
        c.set_max_age(Duration::from_secs(secs.max(0) as u64));
    }
    if name == REFRESH_COOKIE {
        c.set_same_site(SameSite::Strict);
        c.set_path("/auth");
    } else {
        c.set_same_site(SameSite::Lax);
        c.set_path("/");
        if let Some(domain) = &config.cookie_domain {
            c.set_domain(domain);
        }
    }
    c
}

/// Sets the cookies for a new token pair (the session cookie only at login,
/// when the pair carries it).
pub fn set(jar: &CookieJar, config: &Config, pair: &TokenPair, now: i64) {
    let session = &pair.session;
    let until_end = session.created_at + config.session_max_age - now;
    let age = |secs: i64| session.remember.then_some(secs);
    jar.add(cookie(
        config,
        ACCESS_COOKIE,
        &pair.access_token,
        age(config.access_ttl.min(until_end)),
    ));
    jar.add(cookie(
        config,
        REFRESH_COOKIE,
        pair.refresh_token.expose_secret(),
        age(until_end),
    ));
    if let Some(secret) = &pair.session_secret {
        jar.add(cookie(
            config,
            SESSION_COOKIE,
            secret.expose_secret(),
            age(until_end),
        ));
    }
}

/// Clears all three cookies.
pub fn clear(jar: &CookieJar, config: &Config) {
    for name in [SESSION_COOKIE, ACCESS_COOKIE, REFRESH_COOKIE] {
        jar.add(cookie(config, name, "", Some(0)));
    }
}
