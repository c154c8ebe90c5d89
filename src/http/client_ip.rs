//! Which address a request really came from.
//!
//! The peer address, unless the peer is a trusted proxy (`AUTH_TRUSTED_PROXIES`):
//! then the right-most address in `X-Forwarded-For` that is not itself a
//! trusted proxy. Anyone can write `X-Forwarded-For`, so it is read only from
//! proxies we were told to trust, and only from the right, where our own
//! proxies appended what they saw.

use std::net::IpAddr;

use ipnet::IpNet;
use poem::http::HeaderMap;

/// True when `ip` lies in one of the trusted networks.
pub fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = canonical(ip);
    trusted.iter().any(|net| net.contains(&ip))
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: an address, `ip:port`, `[ipv6]` or `[ipv6]:port`.
fn forwarded_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<std::net::SocketAddr>().map(|a| a.ip()))
        .ok()
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

/// The client address for a request from `peer` with `headers`.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = canonical(peer?);
    if !is_trusted(peer, trusted) {
        return Some(peer);
    }
    let forwarded: Vec<Option<IpAddr>> = headers
        .get_all("x-forwarded-for")
        .iter()
        // Lossy: a client's stray non-ASCII bytes must not hide the address
        // our proxy appended to the same line.
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(',')
                .map(|part| forwarded_entry(part).map(canonical))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut chosen = peer;
    // Walk from the right; stop at the first untrusted hop or unreadable entry.
    for ip in forwarded.into_iter().rev() {
        let Some(ip) = ip else { break };
        chosen = ip;
        if !is_trusted(ip, trusted) {
            break;
        }
    }
    Some(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        let got = client_ip(Some(ip("203.0.113.9")), &headers("1.2.3.4"), &[]);
        assert_eq!(got, Some(ip("203.0.113.9")));
    }

    #[test]
    fn trusted_proxy_gives_rightmost_untrusted() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let got = client_ip(
            Some(ip("10.0.0.2")),
            &headers("6.6.6.6, 198.51.100.7, 10.0.0.3"),
            &trusted,
        );
        assert_eq!(got, Some(ip("198.51.100.7")));
    }

    #[test]
    fn garbage_header_falls_back_to_peer() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        let got = client_ip(Some(ip("127.0.0.1")), &headers("not-an-ip"), &trusted);
        assert_eq!(got, Some(ip("127.0.0.1")));
    }

    #[test]
    fn garbage_on_the_left_does_not_hide_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let got = client_ip(
            Some(ip("10.0.0.2")),
            &headers("junk, 198.51.100.7"),
            &trusted,
        );
        assert_eq!(got, Some(ip("198.51.100.7")));
    }

    #[test]
    fn non_ascii_client_bytes_do_not_hide_the_appended_address() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            poem::http::HeaderValue::from_bytes(b"\x80, 1.2.3.4").unwrap(),
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), &h, &trusted),
            Some(ip("1.2.3.4"))
        );
    }

    #[test]
    fn entries_with_ports_are_read_as_their_address() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        for (entry, want) in [
            ("198.51.100.7:4711", "198.51.100.7"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("[2001:db8::2]", "2001:db8::2"),
            ("2001:db8::3", "2001:db8::3"),
        ] {
            let got = client_ip(Some(ip("10.0.0.2")), &headers(entry), &trusted);
            assert_eq!(got, Some(ip(want)), "{entry}");
        }
    }

    #[test]
    fn mapped_ipv6_peer_is_ipv4() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        assert!(is_trusted(ip("::ffff:127.0.0.1"), &trusted));
    }
}
