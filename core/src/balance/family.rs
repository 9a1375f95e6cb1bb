//! Address families: a server is probed, and ranked, once per family it can be reached over,
//! and a client is sent to a server that passed over the family the client came in on.

use core::net::IpAddr;
use std::fmt;

/// IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4 (a client on an IPv4-mapped IPv6 address, `::ffff:a.b.c.d`, counts as IPv4: that is
    /// how a dual-stack `[::]` listener sees an IPv4 client).
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// Both, in the order they are probed and listed.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// The family a peer at `ip` came in on; IPv4-mapped IPv6 addresses are IPv4.
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// The families a host can be reached over: an IPv4 literal only IPv4, an IPv6 literal
    /// only IPv6, a name both (it is probed over each; a family it does not resolve to fails).
    pub fn of_host(host: &str) -> &'static [Family] {
        match host.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => &Family::ALL[..1],
            Ok(IpAddr::V6(_)) => &Family::ALL[1..],
            Err(_) => &Family::ALL,
        }
    }

    /// The other one.
    pub fn other(self) -> Family {
        match self {
            Family::V4 => Family::V6,
            Family::V6 => Family::V4,
        }
    }

    /// 0 for IPv4, 1 for IPv6: an index into per-family arrays.
    pub fn index(self) -> usize {
        match self {
            Family::V4 => 0,
            Family::V6 => 1,
        }
    }

    /// `IPv4` or `IPv6`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_ipv4_peers_are_ipv4_and_literals_have_one_family() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(Family::of(ip("127.0.0.1")), Family::V4);
        assert_eq!(Family::of(ip("::ffff:127.0.0.1")), Family::V4);
        assert_eq!(Family::of(ip("::1")), Family::V6);
        assert_eq!(Family::of_host("127.0.0.1"), &[Family::V4]);
        assert_eq!(Family::of_host("::1"), &[Family::V6]);
        assert_eq!(Family::of_host("localhost"), &[Family::V4, Family::V6]);
    }
}
