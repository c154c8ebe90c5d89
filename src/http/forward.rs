//! Forward auth helpers: which URL the proxy was asked for, where to send a
//! browser that must log in, and which `rd` targets the login page may follow.
//!
//! Forwarded headers are read only when the peer is a trusted proxy (the
//! caller checks). Traefik and Caddy send `X-Forwarded-Proto/Host/Uri`; nginx's
//! `auth_request` sends what we ask for, by convention `X-Original-URL`.

use poem::http::HeaderMap;
use url::Url;

use crate::base::rules::Target;

/// Longest `rd` accepted, in bytes: room for any authorization request
/// within the documented limits (`state` and `nonce` 512 bytes each, `scope`
/// 1024, every byte percent-encoded) and for any forwarded URI forward auth
/// takes (8 KiB).
pub const MAX_RD: usize = 16 * 1024;

/// The original request, rebuilt from forwarded headers.
pub fn original_url(headers: &HeaderMap) -> Option<String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let candidate = match header("x-original-url") {
        Some(url) => url.to_string(),
        None => {
            let proto = header("x-forwarded-proto")?.split(',').next()?.trim();
            let host = header("x-forwarded-host")?.split(',').next()?.trim();
            let uri = header("x-forwarded-uri").unwrap_or("/");
            if !uri.starts_with('/') || uri.starts_with("//") {
                return None;
            }
            format!("{proto}://{host}{uri}")
        }
    };
    if candidate.len() > MAX_RD {
        return None;
    }
    let url = Url::parse(&candidate).ok()?;
    let web = matches!(url.scheme(), "http" | "https");
    (web && url.host_str().is_some()).then(|| url.to_string())
}

/// The original request as the access rules see it: host and raw path
/// (query included), read as text, never re-parsed, so what the rules
/// match is what the proxy saw. Traefik and Caddy describe it with
/// `X-Forwarded-Host`/`-Uri`, nginx with `X-Original-URL`; a client can add
/// the other kind (proxies pass unknown headers on), so when both are
/// present they must agree, or the request is [`Target::Malformed`]. A
/// forwarded URI over [`MAX_FORWARDED_URI`] is [`Target::Oversized`], unread.
pub fn original_target(headers: &HeaderMap) -> Target<'_> {
    if oversized(headers) {
        return Target::Oversized;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().map(str::trim).map_err(|_| ()))
    };
    let nginx = match header("x-original-url") {
        None => None,
        Some(Ok(url)) => match split_url(url) {
            Some(parts) => Some(parts),
            None => return Target::Malformed,
        },
        Some(Err(())) => return Target::Malformed,
    };
    let forwarded = match header("x-forwarded-host") {
        None => None,
        Some(Ok(hosts)) => {
            let host = hosts.split(',').next().unwrap_or_default().trim();
            let uri = match header("x-forwarded-uri") {
                None => "/",
                Some(Ok(uri)) if uri.starts_with('/') => uri,
                Some(_) => return Target::Malformed,
            };
            Some((host, uri))
        }
        Some(Err(())) => return Target::Malformed,
    };
    match (nginx, forwarded) {
        (Some(a), Some(b)) if !same_target(a, b) => Target::Malformed,
        (Some((host, path)), _) | (None, Some((host, path))) => Target::Url { host, path },
        (None, None) => Target::Unknown,
    }
}

/// Longest forwarded URI (`X-Forwarded-Uri`, or `X-Original-URL`) read, in
/// bytes; a longer one gets `deny`.
pub const MAX_FORWARDED_URI: usize = 8 * 1024;

/// Whether a forwarded URI is longer than [`MAX_FORWARDED_URI`]: only its
/// length is looked at, so refusing a huge one costs nothing.
pub fn oversized(headers: &HeaderMap) -> bool {
    ["x-forwarded-uri", "x-original-url"]
        .into_iter()
        .any(|name| {
            headers
                .get(name)
                .is_some_and(|v| v.len() > MAX_FORWARDED_URI)
        })
}

fn same_target(a: (&str, &str), b: (&str, &str)) -> bool {
    let host = |h: &str| crate::base::rules::normalize_host(h);
    a.1 == b.1 && host(a.0).is_some() && host(a.0) == host(b.0)
}

/// `scheme://authority/path?query` split as text: the authority must be a
/// plain host[:port] (no user info, query or fragment in it).
fn split_url(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return None;
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let clean = !authority.is_empty()
        && !authority
            .bytes()
            .any(|b| matches!(b, b'@' | b'?' | b'#' | b'\\') || b.is_ascii_whitespace());
    clean.then_some((authority, path))
}

/// Why the login page is shown: a second factor for an app that needs one.
pub const NEED_TWO_FACTOR: &str = "two_factor";
/// `need=` for a session that lacks a passkey.
pub const NEED_PASSKEY: &str = "passkey";

/// The login page, with `rd` when the original URL is known, and `need`
/// when a sign-in is not enough.
pub fn login_url(public_url: &str, original: Option<&str>, need: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(rd) = original {
        query.append_pair("rd", rd);
    }
    if let Some(need) = need {
        query.append_pair("need", need);
    }
    match query.finish() {
        q if q.is_empty() => format!("{public_url}/"),
        q => format!("{public_url}/?{q}"),
    }
}

/// `rd`, normalised, if the login page may send the browser there: an
/// absolute http(s) URL without credentials whose host is the public host or
/// lies under the cookie domain, and, when `https_only` (an `https://`
/// public URL), not `http://`: no downgrade after signing in. Everything else
/// (`//evil.com`, `javascript:`, `https://example.com.evil.com`, …) is refused.
pub fn allowed_redirect(
    rd: &str,
    public_host: &str,
    cookie_domain: Option<&str>,
    https_only: bool,
) -> Option<String> {
    if rd.len() > MAX_RD {
        return None;
    }
    let url = Url::parse(rd.trim()).ok()?;
    let scheme_ok = match url.scheme() {
        "https" => true,
        "http" => !https_only,
        _ => false,
    };
    if !scheme_ok || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    let public = public_host
        .rsplit_once(':')
        .map_or(public_host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                public_host
            }
        });
    let under_domain = cookie_domain.is_some_and(|d| host == d || host.ends_with(&format!(".{d}")));
    (host == public.to_ascii_lowercase() || under_domain).then(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn original_url_from_traefik_caddy_and_nginx_headers() {
        let traefik = headers(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "app.example.com"),
            ("x-forwarded-uri", "/path?q=1"),
        ]);
        assert_eq!(
            original_url(&traefik).as_deref(),
            Some("https://app.example.com/path?q=1")
        );
        let nginx = headers(&[("x-original-url", "https://app.example.com/x")]);
        assert_eq!(
            original_url(&nginx).as_deref(),
            Some("https://app.example.com/x")
        );
        for bad in [
            headers(&[
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "a.com"),
                ("x-forwarded-uri", "//evil.com"),
            ]),
            headers(&[
                ("x-forwarded-proto", "javascript"),
                ("x-forwarded-host", "a.com"),
            ]),
            headers(&[("x-original-url", "not a url")]),
            headers(&[]),
        ] {
            assert_eq!(original_url(&bad), None);
        }
    }

    #[test]
    fn login_url_encodes_rd() {
        assert_eq!(
            login_url(
                "https://auth.example.com",
                Some("https://app.example.com/a?b=1&c=2"),
                None
            ),
            "https://auth.example.com/?rd=https%3A%2F%2Fapp.example.com%2Fa%3Fb%3D1%26c%3D2"
        );
        assert_eq!(
            login_url("https://auth.example.com", None, None),
            "https://auth.example.com/"
        );
        assert_eq!(
            login_url(
                "https://auth.example.com",
                Some("https://a.example.com/"),
                Some(NEED_TWO_FACTOR)
            ),
            "https://auth.example.com/?rd=https%3A%2F%2Fa.example.com%2F&need=two_factor"
        );
    }

    #[test]
    fn rd_allow_list() {
        let ok = |rd: &str| allowed_redirect(rd, "auth.example.com", Some("example.com"), false);
        assert!(ok("https://app.example.com/x").is_some());
        assert!(ok("https://example.com/").is_some());
        assert!(ok("https://auth.example.com/settings").is_some());
        for evil in [
            "//evil.com",
            "https://evil.com",
            "https://example.com.evil.com/",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "https://example.com@evil.com/",
            "https://app.example.com:pw@evil.com/",
            "https:%2F%2Fevil.com",
            "https%3A%2F%2Fevil.com",
            "https://evil.com\\@app.example.com",
            "https://evil.com%2F@app.example.com",
            "/relative/path",
            "data:text/html,hi",
            "https://notexample.com/",
            "",
        ] {
            assert_eq!(ok(evil), None, "{evil}");
        }
        // Without a cookie domain, only the public host itself.
        assert!(
            allowed_redirect("https://app.example.com/", "auth.example.com", None, false).is_none()
        );
        assert!(
            allowed_redirect("http://localhost:9000/", "localhost:8001", None, false).is_some()
        );
    }

    #[test]
    fn rd_is_never_a_downgrade_from_https() {
        let rd = |url: &str| allowed_redirect(url, "auth.example.com", Some("example.com"), true);
        assert!(rd("https://app.example.com/x").is_some());
        assert_eq!(rd("http://app.example.com/x"), None);
        assert_eq!(rd("HTTP://auth.example.com/"), None);
    }
}
