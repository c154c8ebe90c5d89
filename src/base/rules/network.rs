//! The `from` part of a rule: `from CIDR[,CIDR…]` matches a client in one
//! of the networks, `from !CIDR[,…]` a client in none of them. A bare
//! address is its own network (`/32`, `/128`). The client address is the
//! one forward auth settled on: the peer's, or from a trusted proxy the
//! right-most untrusted `X-Forwarded-For` entry (`http::client_ip`).

use std::net::IpAddr;

use ipnet::IpNet;

/// The networks a rule is limited to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Networks {
    /// `from !…`: the rule is for clients outside every network.
    outside: bool,
    nets: Vec<IpNet>,
}

impl Networks {
    /// Reads what follows `from`: a comma-separated list (spaces after the
    /// commas allowed), led by one `!` to negate the whole list.
    pub fn parse(text: &str) -> Result<Networks, String> {
        let (outside, list) = match text.trim().strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let nets = list
            .split(',')
            .map(str::trim)
            .map(|part| {
                if part.contains('!') {
                    return Err(format!(
                        "{part:?}: write one ! before the whole list (from !a,b)"
                    ));
                }
                part.parse::<IpNet>()
                    .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| format!("{part:?} is not an address or a network (CIDR)"))
            })
            .collect::<Result<Vec<IpNet>, String>>()?;
        Ok(Networks { outside, nets })
    }

    /// Whether a request from `client` is one the rule is for.
    pub fn admits(&self, client: IpAddr) -> bool {
        let client = match client {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(client, IpAddr::V4),
            v4 => v4,
        };
        self.nets.iter().any(|net| net.contains(&client)) != self.outside
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_list_admits_its_networks_and_a_negated_one_the_rest() {
        let lan = Networks::parse("192.168.0.0/16, 10.1.2.3,2001:db8::/32").unwrap();
        for inside in [
            "192.168.4.5",
            "10.1.2.3",
            "2001:db8::7",
            "::ffff:192.168.0.1",
        ] {
            assert!(lan.admits(ip(inside)), "{inside}");
        }
        for outside in ["192.169.0.1", "10.1.2.4", "2001:db9::1", "203.0.113.7"] {
            assert!(!lan.admits(ip(outside)), "{outside}");
        }
        let not_vpn = Networks::parse("!10.0.0.0/8").unwrap();
        assert!(!not_vpn.admits(ip("10.9.9.9")));
        assert!(not_vpn.admits(ip("198.51.100.4")));
        assert_eq!(
            Networks::parse("192.168.1.77/16").unwrap(),
            Networks::parse("192.168.0.0/16").unwrap(),
            "host bits are dropped"
        );
    }

    #[test]
    fn a_wrong_network_is_named() {
        for (text, hint) in [
            ("10.0.0.0/33", "not an address"),
            ("lan", "not an address"),
            ("", "not an address"),
            ("10.0.0.0/8,", "not an address"),
            ("10.0.0.0/8,!192.168.0.0/16", "one !"),
        ] {
            let why = Networks::parse(text).unwrap_err();
            assert!(why.contains(hint), "{text}: {why}");
        }
    }
}
