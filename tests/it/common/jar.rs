//! A browser's cookie jar on the test clock: it keeps what `Set-Cookie`
//! says, drops a cookie when its `Max-Age` has run out (by the server's
//! manual clock) or the browser session ends, and sends what a browser
//! would for a host and path.

use super::Reply;

struct Held {
    name: String,
    value: String,
    /// `None`: a browser-session cookie.
    expires_at: Option<i64>,
    path: String,
    domain: Option<String>,
}

/// The cookies one browser holds for the auth host (and, through
/// `Domain`, for the apps under the cookie domain).
#[derive(Default)]
pub struct Jar {
    held: Vec<Held>,
}

impl Jar {
    /// Takes every `Set-Cookie` of `reply`, received at `now`.
    pub fn take(&mut self, reply: &Reply, now: i64) {
        for raw in reply.set_cookies() {
            let c = cookie::Cookie::parse(raw.clone()).unwrap();
            // A browser tells cookies apart by name, domain and path.
            let (domain, path) = (c.domain(), c.path().unwrap_or("/"));
            self.held.retain(|h| {
                (h.name.as_str(), h.domain.as_deref(), h.path.as_str()) != (c.name(), domain, path)
            });
            let expires_at = c.max_age().map(|age| now + age.whole_seconds());
            if expires_at.is_some_and(|at| at <= now) {
                continue;
            }
            assert!(c.expires().is_none(), "Max-Age only: {raw}");
            self.held.push(Held {
                name: c.name().to_string(),
                value: c.value().to_string(),
                expires_at,
                path: c.path().unwrap_or("/").to_string(),
                domain: c.domain().map(str::to_string),
            });
        }
    }

    /// The `Cookie` header for a request to `host` and `path` at `now`
    /// (`host` the auth host, or an app host under the cookie domain).
    pub fn header(&self, host: &str, path: &str, now: i64) -> String {
        self.held
            .iter()
            .filter(|h| h.expires_at.is_none_or(|at| at > now))
            .filter(|h| path.starts_with(&h.path))
            .filter(|h| match &h.domain {
                Some(d) => host == d || host.ends_with(&format!(".{d}")),
                None => host == "auth.example.com",
            })
            .map(|h| format!("{}={}", h.name, h.value))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The browser is closed: its session cookies go.
    pub fn close_browser(&mut self) {
        self.held.retain(|h| h.expires_at.is_some());
    }

    /// Names of the cookies held at `now`.
    pub fn names(&self, now: i64) -> Vec<&str> {
        self.held
            .iter()
            .filter(|h| h.expires_at.is_none_or(|at| at > now))
            .map(|h| h.name.as_str())
            .collect()
    }
}
