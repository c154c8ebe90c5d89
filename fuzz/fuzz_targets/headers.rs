//! Forwarded headers and the `rd` allow-list (forward auth, login redirects).
//!
//! The input is split on `\n` (which no header value may contain) into
//! pieces: `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host`,
//! `X-Forwarded-Uri`, `X-Original-URL`, then any number of further
//! `X-Forwarded-For` lines. A piece `HeaderValue::from_bytes` refuses is left
//! out, as hyper would never hand it to the server.
//!
//! Properties: nothing panics; an untrusted peer's headers are ignored; a
//! redirect target that is allowed parses again as a URL on an allowed host;
//! the access rules' verdict on the described request is never more open
//! than the verdict on a plainer spelling of it: a path that any reading
//! puts outside `/public/` never gets `bypass`.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use poem::http::{HeaderMap, HeaderName, HeaderValue};
use soloauth::base::rules::{normalize_path, Policy, Rules, Target};
use soloauth::http::client_ip::{client_ip, is_trusted};
use soloauth::http::forward::{allowed_redirect, original_target, original_url};

const PUBLIC_HOST: &str = "auth.example.com";
const COOKIE_DOMAIN: &str = "example.com";

const NAMES: [&str; 5] = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-uri",
    "x-original-url",
];

fn trusted() -> &'static [IpNet] {
    static TRUSTED: OnceLock<Vec<IpNet>> = OnceLock::new();
    TRUSTED.get_or_init(|| vec![IpNet::V4("10.0.0.0/8".parse().unwrap())])
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        Rules::parse(
            "bypass app.example.com/public/*; deny app.example.com/admin*",
            Policy::OneFactor,
        )
        .unwrap()
    })
}

/// The rules property: `bypass` only for a path under `/public/` however
/// it is read, `deny` for every path that reads as under `/admin`.
fn check_rules(headers: &HeaderMap) {
    let target = original_target(headers);
    let policy = rules().policy_for(target, std::net::Ipv4Addr::LOCALHOST.into());
    if let Target::Url { path, .. } = target {
        let plain = normalize_path(path);
        if policy == Policy::Bypass {
            assert!(
                plain.starts_with("/public/"),
                "{path:?} ({plain:?}) bypassed"
            );
        }
        if plain.starts_with("/admin") {
            assert_ne!(policy, Policy::Bypass, "{path:?} reads as {plain:?}");
        }
    }
}

/// The rd property: an accepted target is an http(s) URL on our hosts.
fn check_redirect(rd: &str) {
    let Some(url) = allowed_redirect(rd, PUBLIC_HOST, Some(COOKIE_DOMAIN), false) else {
        return;
    };
    let parsed = url::Url::parse(&url)
        .unwrap_or_else(|e| panic!("allowed_redirect returned {url:?}, which does not parse: {e}"));
    assert!(
        matches!(parsed.scheme(), "http" | "https"),
        "allowed_redirect returned {url:?}"
    );
    assert!(
        parsed.username().is_empty() && parsed.password().is_none(),
        "allowed_redirect returned {url:?} with credentials"
    );
    let host = parsed
        .host_str()
        .unwrap_or_else(|| panic!("allowed_redirect returned {url:?} without a host"))
        .to_ascii_lowercase();
    assert!(
        host == PUBLIC_HOST || host == COOKIE_DOMAIN || host.ends_with(".example.com"),
        "allowed_redirect({rd:?}) returned {url:?}, host {host:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let trusted = trusted();
    let mut headers = HeaderMap::new();
    for (i, piece) in data.split(|&b| b == b'\n').enumerate() {
        let name = NAMES.get(i).copied().unwrap_or("x-forwarded-for");
        if let Ok(value) = HeaderValue::from_bytes(piece) {
            headers.append(HeaderName::from_static(name), value);
        }
    }

    // Trusted peers (plain and IPv4-mapped IPv6) and an untrusted one.
    let peers = [
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        IpAddr::V6(Ipv4Addr::new(10, 9, 8, 7).to_ipv6_mapped()),
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];
    for peer in peers {
        let got = client_ip(Some(peer), &headers, trusted).expect("a peer gives an address");
        if !is_trusted(peer, trusted) {
            assert_eq!(
                got, peer,
                "an untrusted peer's X-Forwarded-For was believed"
            );
        }
    }
    assert_eq!(client_ip(None, &headers, trusted), None);
    check_rules(&headers);

    if let Some(original) = original_url(&headers) {
        let parsed = url::Url::parse(&original)
            .unwrap_or_else(|e| panic!("original_url returned {original:?}: {e}"));
        assert!(matches!(parsed.scheme(), "http" | "https"));
        assert!(parsed.host_str().is_some());
        check_redirect(&original);
    }

    // Every piece, and the whole input, as an `rd` query parameter.
    for piece in data.split(|&b| b == b'\n') {
        check_redirect(&String::from_utf8_lossy(piece));
    }
    check_redirect(&String::from_utf8_lossy(data));
});
