//! Where the server listens and how it is reached: the bind address, the
//! public URL (its origin and host), the cookie domain (checked against
//! the public host and the Public Suffix List), whether cookies are
//! `Secure`, the proxies whose forwarded headers are trusted, and when an
//! idle connection is closed.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

use crate::base::config::reader::Reader;

/// The network settings read.
pub(super) struct Network {
    pub bind: SocketAddr,
    pub public_url: String,
    pub public_origin: String,
    pub public_host: String,
    pub cookie_domain: Option<String>,
    pub cookie_secure: bool,
    pub trusted_proxies: Vec<IpNet>,
    pub idle_timeout: Duration,
}

/// Reads and checks the network settings.
pub(super) fn read(r: &mut Reader) -> Network {
    let bind = r.parse(
        "AUTH_BIND",
        SocketAddr::from(([0, 0, 0, 0], 8001)),
        "an address like 0.0.0.0:8001",
    );
    let public_url = r
        .text("AUTH_PUBLIC_URL", "http://localhost:8001")
        .trim_end_matches('/')
        .to_string();
    let (public_origin, public_host) = origin_and_host(&public_url).unwrap_or_else(|| {
        r.problem(format!(
            "AUTH_PUBLIC_URL={public_url:?} must be an absolute http:// or https:// URL"
        ));
        ("http://localhost:8001".into(), "localhost:8001".into())
    });
    let cookie_domain = r
        .var("AUTH_COOKIE_DOMAIN")
        .map(|d| d.trim().trim_start_matches('.').to_ascii_lowercase());
    if let Some(problem) = cookie_domain
        .as_deref()
        .and_then(|domain| cookie_domain_problem(domain, &public_host))
    {
        r.problem(problem);
    }
    let secure_default = !public_url.to_ascii_lowercase().starts_with("http://");
    Network {
        bind,
        cookie_secure: r.parse("AUTH_COOKIE_SECURE", secure_default, "true or false"),
        trusted_proxies: trusted_proxies(r),
        idle_timeout: Duration::from_secs(u64::from(r.number("AUTH_IDLE_TIMEOUT_SECONDS", 60, 1))),
        public_url,
        public_origin,
        public_host,
        cookie_domain,
    }
}

/// `(origin, host)` of an absolute http(s) URL, or `None`.
pub fn origin_and_host(url: &str) -> Option<(String, String)> {
    let uri: poem::http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let mut host = authority.as_str().to_ascii_lowercase();
    // Browsers leave the default port out of `Origin`.
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    if let Some(stripped) = host.strip_suffix(default_port) {
        host = stripped.to_string();
    }
    Some((format!("{scheme}://{host}"), host))
}

/// Why `domain` cannot be the cookie domain for `public_host`, if it cannot:
/// browsers keep no cookie for an IP host or a public suffix, and send none
/// to a host outside the domain.
fn cookie_domain_problem(domain: &str, public_host: &str) -> Option<String> {
    let host = public_host.split(':').next().unwrap_or_default();
    let labels: Vec<&str> = domain.split('.').collect();
    let ip_host = host.parse::<IpAddr>().is_ok() || host.starts_with('[');
    if ip_host {
        Some(format!(
            "AUTH_COOKIE_DOMAIN={domain:?} cannot work with a public URL on an IP address \
             ({host}): browsers keep no cookie for a domain there. Give soloauth and the \
             apps host names under one domain, or leave AUTH_COOKIE_DOMAIN unset"
        ))
    } else if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        Some(format!(
            "AUTH_COOKIE_DOMAIN={domain:?} must be a registered domain like example.com, not a public suffix"
        ))
    } else if psl::domain(domain.as_bytes()).is_none() {
        Some(format!(
            "AUTH_COOKIE_DOMAIN={domain:?} is a public suffix (on the Public Suffix List, like \
             com, home.arpa or github.io): browsers refuse cookies for it, so no sign-in \
             would stick. Use a domain registered under it, e.g. auth.{domain} with \
             AUTH_COOKIE_DOMAIN=apps.{domain}, or leave AUTH_COOKIE_DOMAIN unset"
        ))
    } else if host != domain && !host.ends_with(&format!(".{domain}")) {
        Some(format!(
            "AUTH_COOKIE_DOMAIN={domain:?} must be the public host or a parent of it ({host})"
        ))
    } else {
        None
    }
}

/// `AUTH_TRUSTED_PROXIES`: comma-separated CIDRs or bare addresses.
fn trusted_proxies(r: &mut Reader) -> Vec<IpNet> {
    let mut proxies = Vec::new();
    for part in r
        .var("AUTH_TRUSTED_PROXIES")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let parsed = part
            .parse::<IpNet>()
            .or_else(|_| part.parse::<IpAddr>().map(IpNet::from));
        match parsed {
            Ok(net) => proxies.push(net),
            Err(_) => r.problem(format!(
                "AUTH_TRUSTED_PROXIES: {part:?} is not an IP address or CIDR"
            )),
        }
    }
    proxies
}

#[cfg(test)]
mod tests {
    use crate::base::config::load;

    #[test]
    fn https_public_url_makes_cookies_secure_and_checks_domain() {
        let c = load(&[
            ("AUTH_PUBLIC_URL", "https://auth.example.com/"),
            ("AUTH_COOKIE_DOMAIN", ".example.com"),
        ])
        .unwrap();
        assert!(c.cookie_secure);
        assert_eq!(c.public_url, "https://auth.example.com");
        assert_eq!(c.cookie_domain.as_deref(), Some("example.com"));
        assert!(load(&[
            ("AUTH_PUBLIC_URL", "https://auth.example.com"),
            ("AUTH_COOKIE_DOMAIN", "other.org"),
        ])
        .is_err());
    }

    #[test]
    fn default_ports_are_left_out_of_the_origin() {
        let c = load(&[("AUTH_PUBLIC_URL", "https://auth.example.com:443/")]).unwrap();
        assert_eq!(c.public_origin, "https://auth.example.com");
        let c = load(&[("AUTH_PUBLIC_URL", "http://10.0.0.5:8001")]).unwrap();
        assert_eq!(c.public_origin, "http://10.0.0.5:8001");
    }

    #[test]
    fn cookie_domain_must_be_a_real_domain() {
        for bad in [".", "com", "example..com", "example.com."] {
            let vars = [
                ("AUTH_PUBLIC_URL", "https://auth.example.com."),
                ("AUTH_COOKIE_DOMAIN", bad),
            ];
            assert!(load(&vars).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_public_suffix_is_no_cookie_domain() {
        for (public_url, suffix) in [
            ("https://auth.home.arpa", "home.arpa"),
            ("https://auth.example.com", "com"),
            ("https://auth.github.io", "github.io"),
            ("https://auth.example.co.uk", "co.uk"),
        ] {
            let vars = [
                ("AUTH_PUBLIC_URL", public_url),
                ("AUTH_COOKIE_DOMAIN", suffix),
            ];
            let problems = load(&vars).unwrap_err();
            assert!(
                problems.iter().any(|p| p.contains("public suffix")),
                "{suffix}: {problems:?}"
            );
        }
        for (public_url, domain) in [
            ("https://auth.lab.home.arpa", "lab.home.arpa"),
            ("https://auth.example.co.uk", "example.co.uk"),
            ("http://auth.test.localhost:8001", "test.localhost"),
        ] {
            let vars = [
                ("AUTH_PUBLIC_URL", public_url),
                ("AUTH_COOKIE_DOMAIN", domain),
            ];
            assert!(load(&vars).is_ok(), "{domain}");
        }
    }

    #[test]
    fn bare_ips_are_trusted_proxies() {
        let c = load(&[("AUTH_TRUSTED_PROXIES", "172.16.0.0/12, 127.0.0.1, ::1")]).unwrap();
        assert_eq!(c.trusted_proxies.len(), 3);
    }
}
