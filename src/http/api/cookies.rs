//! The three auth cookies, all HttpOnly and Secure unless
//! `AUTH_COOKIE_SECURE=false`. Their scopes are the boundary between
//! soloauth and the apps it protects:
//! - `soloauth_session` (Lax, Path=/, `Domain=AUTH_COOKIE_DOMAIN` when set):
//!   the session's own secret, sent to every app under the cookie domain,
//!   and so accepted by forward auth alone (`/auth/verify` is the only
//!   reader: see `verify.rs`), for as long as the session lives; set at
//!   login only.
//! - `soloauth_access` (Lax, Path=/, host-only): the access token, for the
//!   API (and forward auth) while it lasts.
//! - `soloauth_refresh` (Strict, Path=/auth, host-only): the refresh token.
//!
//! The access and refresh cookies never carry a `Domain`, whatever
//! `AUTH_COOKIE_DOMAIN` says: only the auth host's own pages receive them,
//! so nothing an app under the cookie domain holds can call the API, prove
//! a recent sign-in, or sign in to another app. Release 0.1 gave
//! them the cookie domain too; whenever new ones are set, those old copies
//! are expired ([`retire_domain_copies`]).
//!
//! With "remember me" the session and refresh cookies are kept until the
//! session's absolute end (the server ends it sooner when idle) and the
//! access cookie as long as its token; without, all three are
//! browser-session cookies (no `Max-Age`).

use std::time::Duration;

use poem::http::{header, HeaderMap, HeaderValue};
use poem::web::cookie::{Cookie, CookieJar, SameSite};

use crate::auth::sessions::TokenPair;
use crate::base::config::Config;
use crate::base::secret::ExposeSecret;

/// Name of the access-token cookie (host-only).
pub const ACCESS_COOKIE: &str = "soloauth_access";
/// Name of the refresh-token cookie (host-only).
pub const REFRESH_COOKIE: &str = "soloauth_refresh";
/// Name of the session cookie (the cookie domain's; forward auth only).
pub const SESSION_COOKIE: &str = "soloauth_session";

/// Most cookies of one name read (a browser sends every cookie of that
/// name its host and path match, longest path first; a sibling subdomain
/// may have planted more).
const MAX_SAME_NAME: usize = 4;

/// The values of the cookies named `name`, read straight from the `Cookie`
/// headers (forward auth's hot path builds no cookie jar). The session
/// cookie is read by `/auth/verify` alone.
pub(super) fn values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(move |pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then(|| value.trim_matches('"'))
        })
        .take(MAX_SAME_NAME)
}

/// A cookie; `max_age` `None` makes it a browser-session cookie.
fn cookie(config: &Config, name: &str, value: &str, max_age: Option<i64>) -> Cookie {
    let mut c = Cookie::new_with_str(name, value);
    c.set_http_only(true);
    c.set_secure(config.cookie_secure);
    if let Some(secs) = max_age {
        c.set_max_age(Duration::from_secs(secs.max(0) as u64));
    }
    match name {
        REFRESH_COOKIE => {
            c.set_same_site(SameSite::Strict);
            c.set_path("/auth");
        }
        SESSION_COOKIE => {
            c.set_same_site(SameSite::Lax);
            c.set_path("/");
            if let Some(domain) = &config.cookie_domain {
                c.set_domain(domain);
            }
        }
        _ => {
            c.set_same_site(SameSite::Lax);
            c.set_path("/");
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

/// Whether a request carries an access or refresh cookie (one that a
/// release 0.1 may have scoped to the cookie domain).
pub fn holds_own(headers: &HeaderMap) -> bool {
    [ACCESS_COOKIE, REFRESH_COOKIE]
        .iter()
        .any(|name| values(headers, name).next().is_some())
}

/// With a cookie domain, a response that sets the access or refresh cookie,
/// to a browser that sent one ([`holds_own`]), also expires their copies
/// scoped to that domain, which release 0.1 set: the browser then
/// holds one of each, on the auth host only. (A cookie jar keeps one cookie
/// per name, so these are added as headers.)
pub fn retire_domain_copies(headers: &mut HeaderMap, config: &Config) {
    let Some(domain) = &config.cookie_domain else {
        return;
    };
    let sets = |name: &str| {
        headers
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|v| v.as_bytes().starts_with(format!("{name}=").as_bytes()))
    };
    let retired: Vec<HeaderValue> = [(ACCESS_COOKIE, "/"), (REFRESH_COOKIE, "/auth")]
        .into_iter()
        .filter(|(name, _)| sets(name))
        .filter_map(|(name, path)| {
            let mut old = Cookie::new_with_str(name, "");
            old.set_domain(domain);
            old.set_path(path);
            old.set_max_age(Duration::ZERO);
            old.set_http_only(true);
            old.set_secure(config.cookie_secure);
            HeaderValue::from_str(&old.to_string()).ok()
        })
        .collect();
    for value in retired {
        headers.append(header::SET_COOKIE, value);
    }
}
