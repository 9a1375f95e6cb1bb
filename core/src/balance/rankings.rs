//! The rankings a request can be answered from, built at each publish so that answering a
//! request only indexes an array: which servers a client may be sent to depends on how it came
//! in.
//!
//! - Over HTTPS, only to `https://` servers while any is live: a redirect from https to http
//!   makes apt, browsers and our client refuse or warn. With none live, to any server.
//! - Over IPv4 (an IPv4-mapped IPv6 peer included), to servers that passed their probe over
//!   IPv4, and over IPv6 to those that passed over IPv6; with none live over the client's
//!   family, to those live over the other one.
//!
//! The scheme comes first: an HTTPS client over IPv6 goes to an `https://` server live over IPv4
//! rather than to an `http://` one live over IPv6 (a dual-stack client reaches the first; no
//! client follows the second without a warning). So the order tried for an HTTPS client over
//! family F is: https over F, https over the other family, any over F, any over the other; for a
//! plain client: any over F, any over the other.

use crate::balance::family::Family;
use crate::balance::pool::{Policy, Pool, Ranking};
use crate::http::url::Scheme;
use core::net::IpAddr;
use std::fmt;

/// Every ranking a request can be answered from, and which one answers which request.
/// Immutable; build a new one with [`Rankings::new`] whenever a pool changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Rankings {
    /// By [`slot`]: the servers live over a family, all of them or the `https://` ones only.
    by_slot: [Ranking; 4],
    /// By scheme (http 0, https 1) and [`Family::index`]: the slot that answers.
    choice: [[u8; 2]; 2],
    /// Every server live over some family, measured by its fastest.
    all: Ranking,
}

/// Where the ranking of the servers live over `family` (`https_only`: only `https://` ones)
/// sits in [`Rankings::by_slot`].
fn slot(https_only: bool, family: Family) -> usize {
    usize::from(https_only) * 2 + family.index()
}

fn scheme_index(scheme: Scheme) -> usize {
    match scheme {
        Scheme::Http => 0,
        Scheme::Https => 1,
    }
}

impl Rankings {
    /// No live server: every request gets a 503.
    pub fn empty(policy: Policy) -> Rankings {
        Rankings::from_parts(
            [0; 4].map(|_| Ranking::empty(policy)),
            Ranking::empty(policy),
        )
    }

    /// The rankings of the same servers probed over IPv4 (`v4`) and over IPv6 (`v6`), both
    /// pools listing the same servers at the same indices, weighted under `policy`.
    pub fn new(v4: &Pool, v6: &Pool, policy: Policy) -> Rankings {
        let https = |s: &crate::balance::pool::ServerAddr| s.scheme() == Scheme::Https;
        let by_slot = [
            v4.ranking(policy),
            v6.ranking(policy),
            v4.ranking_where(policy, https),
            v6.ranking_where(policy, https),
        ];
        let mut best = Pool::new(v4.servers().to_vec());
        for index in 0..v4.len() {
            let fastest = [v4.measurement(index), v6.measurement(index)]
                .into_iter()
                .flatten()
                .min_by_key(|m| m.elapsed);
            if let Some(m) = fastest {
                best.record(index, m);
            }
        }
        Rankings::from_parts(by_slot, best.ranking(policy))
    }

    fn from_parts(by_slot: [Ranking; 4], all: Ranking) -> Rankings {
        let mut choice = [[0u8; 2]; 2];
        for family in Family::ALL {
            let other = family.other();
            let order = |https_first: bool| {
                let mut order = Vec::with_capacity(4);
                if https_first {
                    order.extend([slot(true, family), slot(true, other)]);
                }
                order.extend([slot(false, family), slot(false, other)]);
                order
                    .into_iter()
                    .find(|&s| !by_slot[s].is_empty())
                    .unwrap_or(slot(false, family))
            };
            choice[scheme_index(Scheme::Http)][family.index()] = order(false) as u8;
            choice[scheme_index(Scheme::Https)][family.index()] = order(true) as u8;
        }
        Rankings {
            by_slot,
            choice,
            all,
        }
    }

    /// The ranking to answer a request from: one that came in over `scheme` (`https` when the
    /// balancer's listener speaks TLS) from a peer at `peer`. No allocation, no search.
    pub fn for_request(&self, scheme: Scheme, peer: IpAddr) -> &Ranking {
        self.for_family(scheme, Family::of(peer))
    }

    /// [`Rankings::for_request`] for a client over `family`.
    pub fn for_family(&self, scheme: Scheme, family: Family) -> &Ranking {
        let slot = self.choice[scheme_index(scheme)][family.index()];
        &self.by_slot[usize::from(slot)]
    }

    /// The servers live over `family`, whatever their scheme.
    pub fn over(&self, family: Family) -> &Ranking {
        &self.by_slot[slot(false, family)]
    }

    /// Every server live over some family, measured over its fastest: what the log and the
    /// status page show (the shares are those of a client that could reach every server).
    pub fn all(&self) -> &Ranking {
        &self.all
    }

    /// No server is live over either family.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Servers are live, but no `https://` one: clients that came over HTTPS are sent to
    /// `http://` servers (a downgrade) rather than answered 503.
    pub fn https_falls_back(&self) -> bool {
        !self.is_empty()
            && Family::ALL
                .iter()
                .all(|&f| self.by_slot[slot(true, f)].is_empty())
    }
}

/// The table of [`Rankings::all`] when servers are live over one family only (or none);
/// otherwise one table per family, each under its name (`IPv4:`, `IPv6:`).
impl fmt::Display for Rankings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let live: Vec<Family> = Family::ALL
            .into_iter()
            .filter(|&family| !self.over(family).is_empty())
            .collect();
        match live[..] {
            [family] => self.over(family).fmt(f),
            [_, _] => write!(
                f,
                "IPv4:\n{}\nIPv6:\n{}",
                self.over(Family::V4),
                self.over(Family::V6)
            ),
            _ => self.all.fmt(f),
        }
    }
}
