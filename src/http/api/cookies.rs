//! The two auth cookies: `soloauth_access` (Lax, Path=/, optional Domain for
//! single sign-on across subdomains) and `soloauth_refresh` (Strict,
//! Path=/auth). Both HttpOnly, and Secure unless `AUTH_COOKIE_SECURE=false`.

use std::time::Duration;

use poem::web::cookie::{Cookie, CookieJar, SameSite};

use super::{ACCESS_COOKIE, REFRESH_COOKIE};
use crate::auth::sessions::TokenPair;
use crate::base::config::Config;
use crate::base::secret::ExposeSecret;

fn cookie(config: &Config, name: &str, value: &str, max_age: i64) -> Cookie {
    let mut c = Cookie::new_with_str(name, value);
    c.set_http_only(true);
    c.set_secure(config.cookie_secure);
    c.set_max_age(Duration::from_secs(max_age.max(0) as u64));
    if name == ACCESS_COOKIE {
        c.set_same_site(SameSite::Lax);
        c.set_path("/");
        if let Some(domain) = &config.cookie_domain {
            c.set_domain(domain);
        }
    } else {
        c.set_same_site(SameSite::Strict);
        c.set_path("/auth");
    }
    c
}

/// Sets both cookies for a new token pair.
pub fn set(jar: &CookieJar, config: &Config, pair: &TokenPair) {
    jar.add(cookie(
        config,
        ACCESS_COOKIE,
        &pair.access_token,
        config.access_ttl,
    ));
    jar.add(cookie(
        config,
        REFRESH_COOKIE,
        pair.refresh_token.expose_secret(),
        config.refresh_ttl,
    ));
}

/// Clears both cookies.
pub fn clear(jar: &CookieJar, config: &Config) {
    jar.add(cookie(config, ACCESS_COOKIE, "", 0));
    jar.add(cookie(config, REFRESH_COOKIE, "", 0));
}
