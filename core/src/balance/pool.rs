//! The balancer's servers, their latest probe results, and the ranking redirects are drawn from.
//!
//! - [`ServerAddr`] is one `host:port` or `http(s)://host[:port]/prefix/` entry; [`ServerList`]
//!   collects entries from the command line and a config file, refusing malformed and duplicate
//!   ones with an error naming where they came from.
//! - [`Pool`] holds every server with its state: not measured yet, live with its latest
//!   [`crate::balance::verdict::Measurement`], or removed. Indices into the pool never change (a
//!   removed server keeps its slot, new ones are pushed at the end), so probe results can
//!   always be matched. When a server is removed or comes back is the
//!   [`crate::balance::probe::ProbeSchedule`]'s decision, not the pool's.
//! - [`Ranking`] is an immutable snapshot built from the pool under a [`Policy`]: the live
//!   servers with their weights and cumulative weights, so [`Ranking::pick`] is a binary search.
//!   The shell shares one snapshot between all connections and swaps in a new one atomically
//!   when the pool changes.

use crate::balance::family::Family;
use crate::balance::verdict::Measurement;
use crate::http::url::{Scheme, Url, UrlError};
use std::fmt;
use std::time::Duration;

/// One server: `host:port` (plain HTTP at the root), or a URL `https://host[:port]/prefix/`
/// (or `http://`) whose path is a prefix for every request. Host lower-case, IPv6 without
/// brackets inside but bracketed when displayed (`[::1]:8080`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerAddr {
    scheme: Scheme,
    host: String,
    port: u16,
    /// `host:port`, IPv6 bracketed.
    authority: String,
    /// How the server is named: `host:port` for plain HTTP at the root, else the URL.
    text: String,
    /// `scheme://host:port/prefix` (no trailing slash), computed once: every redirect starts
    /// with it and goes on with the request's path.
    base_url: String,
}

/// Why a server entry was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerAddrError {
    /// Nothing but whitespace.
    Empty,
    /// A scheme other than `http` and `https`.
    UnsupportedScheme(String),
    /// `user@host` in a URL entry.
    HasUserInfo,
    /// A query or fragment in a URL entry.
    HasQueryOrFragment,
    /// A path after `host:port` without a scheme.
    HasPath,
    /// No `:port`.
    MissingPort,
    /// Bad host or port.
    Invalid(UrlError),
}

impl fmt::Display for ServerAddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerAddrError::Empty => f.write_str("empty server entry"),
            ServerAddrError::UnsupportedScheme(s) => {
                write!(
                    f,
                    "scheme '{s}' is not supported, only http:// and https://"
                )
            }
            ServerAddrError::HasUserInfo => f.write_str("user@ (user info) is not allowed"),
            ServerAddrError::HasQueryOrFragment => {
                f.write_str("a query (?) or fragment (#) is not allowed")
            }
            ServerAddrError::HasPath => f.write_str(
                "give host:port, or a URL with a scheme for a path: https://host:port/prefix/",
            ),
            ServerAddrError::MissingPort => {
                f.write_str("missing port: give host:port (IPv6 as [::1]:port)")
            }
            ServerAddrError::Invalid(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ServerAddrError {}

impl ServerAddr {
    /// Parse `host:port` (`127.0.0.1:8080`, `localhost:80`, `[::1]:8080`; the port is
    /// required) or a URL `https://host[:port]/prefix/` or `http://...` (the scheme's default
    /// port if none; no user info, query or fragment). `http://host:port/` is the same server as
    /// `host:port`. Surrounding whitespace is ignored.
    pub fn parse(entry: &str) -> Result<ServerAddr, ServerAddrError> {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err(ServerAddrError::Empty);
        }
        if let Some(i) = entry.find("://") {
            let scheme = Scheme::from_name(&entry[..i])
                .ok_or_else(|| ServerAddrError::UnsupportedScheme(entry[..i].to_lowercase()))?;
            let rest = &entry[i + 3..];
            let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
            if authority.contains('@') {
                return Err(ServerAddrError::HasUserInfo);
            }
            if entry.contains(['?', '#']) {
                return Err(ServerAddrError::HasQueryOrFragment);
            }
            let url = Url::parse(entry).map_err(ServerAddrError::Invalid)?;
            let prefix = url.path().trim_end_matches('/');
            return Ok(ServerAddr::new(
                scheme,
                url.host().to_string(),
                url.port(),
                prefix,
            ));
        }
        if entry.contains(['/', '?', '#']) {
            return Err(ServerAddrError::HasPath);
        }
        let (host, port) =
            crate::http::url::parse_authority(entry).map_err(ServerAddrError::Invalid)?;
        let port = port.ok_or(ServerAddrError::MissingPort)?;
        Ok(ServerAddr::new(Scheme::Http, host, port, ""))
    }

    fn new(scheme: Scheme, host: String, port: u16, prefix: &str) -> ServerAddr {
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let base_url = format!("{}://{authority}{prefix}", scheme.as_str());
        let text = if scheme == Scheme::Http && prefix.is_empty() {
            authority.clone()
        } else {
            format!("{base_url}/")
        };
        ServerAddr {
            scheme,
            host,
            port,
            authority,
            text,
            base_url,
        }
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// `host:port`, IPv6 bracketed: what to connect to.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Host without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address families it is probed and ranked over: an IPv4 literal only IPv4, an IPv6
    /// literal only IPv6, a name both.
    pub fn families(&self) -> &'static [Family] {
        Family::of_host(&self.host)
    }

    /// How logs and the ranking name the server: `host:port` (IPv6 bracketed) for plain HTTP
    /// at the root, else its URL (`https://host:port/prefix/`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `scheme://host:port/prefix` (the port always written, no trailing slash): the start of
    /// every redirect to it, followed by the request's path.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Where a server entry came from, for error messages. Numbers start at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The n-th SERVER argument on the command line.
    Argument(usize),
    /// Line n of the config file.
    Line(usize),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Argument(n) => write!(f, "argument {n}"),
            Source::Line(n) => write!(f, "line {n}"),
        }
    }
}

/// A refused server entry: where it was, what it said, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerListError {
    /// Where the entry came from.
    pub source: Source,
    /// The entry as written (trimmed, comment removed).
    pub entry: String,
    /// What is wrong with it.
    pub kind: ServerListErrorKind,
}

/// What is wrong with a server entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerListErrorKind {
    /// Not a valid `host:port`.
    Malformed(ServerAddrError),
    /// The same server was already given (at this source).
    Duplicate(Source),
}

impl fmt::Display for ServerListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ServerListErrorKind::Malformed(why) => {
                write!(f, "{}: bad server '{}': {why}", self.source, self.entry)
            }
            ServerListErrorKind::Duplicate(first) => write!(
                f,
                "{}: duplicate server '{}' (already given at {first})",
                self.source, self.entry
            ),
        }
    }
}

impl std::error::Error for ServerListError {}

/// Collects the balancer's servers from arguments and config-file lines, in order, refusing
/// malformed entries and duplicates (the same host and port, compared after parsing, so
/// `LOCALHOST:80` and `localhost:80` are duplicates).
#[derive(Debug, Clone, Default)]
pub struct ServerList {
    servers: Vec<(ServerAddr, Source)>,
    arguments: usize,
}

impl ServerList {
    /// An empty list.
    pub fn new() -> Self {
        ServerList::default()
    }

    /// Add the next SERVER command-line argument (numbered from 1 in call order).
    pub fn add_argument(&mut self, entry: &str) -> Result<(), ServerListError> {
        self.arguments += 1;
        self.add(entry.trim(), Source::Argument(self.arguments))
    }

    /// Add one line of a config file (`number` counts from 1). Blank lines and everything from
    /// `#` to the end of the line are ignored, so `10.0.0.1:80  # rack 2` is fine.
    pub fn add_config_line(&mut self, number: usize, line: &str) -> Result<(), ServerListError> {
        let entry = line.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            return Ok(());
        }
        self.add(entry, Source::Line(number))
    }

    fn add(&mut self, entry: &str, source: Source) -> Result<(), ServerListError> {
        let error = |kind| ServerListError {
            source,
            entry: entry.to_string(),
            kind,
        };
        let addr =
            ServerAddr::parse(entry).map_err(|e| error(ServerListErrorKind::Malformed(e)))?;
        if let Some((_, first)) = self.servers.iter().find(|(a, _)| *a == addr) {
            return Err(error(ServerListErrorKind::Duplicate(*first)));
        }
        self.servers.push((addr, source));
        Ok(())
    }

    /// No server given.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// The servers, in the order given.
    pub fn into_servers(self) -> Vec<ServerAddr> {
        self.servers.into_iter().map(|(a, _)| a).collect()
    }
}

/// How a server stands for the ranking.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ServerState {
    /// Not measured yet: not picked.
    Pending,
    /// Its latest probe succeeded: picked according to the policy.
    Live(Measurement),
    /// Removed after failing probes: not picked (the schedule decides whether it comes back).
    Removed,
}

/// How live servers are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Policy {
    /// By rank of transfer time: slowest 1, fastest N (see [`Pool::ranking`] for ties).
    #[default]
    Rank,
    /// By measured bytes per second, with a floor of [`THROUGHPUT_FLOOR`] of the fastest.
    Throughput,
}

/// Under [`Policy::Throughput`], no live server weighs less than this fraction of the fastest
/// one, so even a very slow server still gets some traffic (and stays observable).
pub const THROUGHPUT_FLOOR: f64 = 0.05;

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::Rank => "rank",
            Policy::Throughput => "throughput",
        })
    }
}

impl std::str::FromStr for Policy {
    type Err = String;

    /// `rank` or `throughput` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("rank") {
            Ok(Policy::Rank)
        } else if s.eq_ignore_ascii_case("throughput") {
            Ok(Policy::Throughput)
        } else {
            Err(format!("unknown policy '{s}': use rank or throughput"))
        }
    }
}

/// Every server with its state. Indices are positions in the list given to [`Pool::new`]
/// (then [`Pool::push`]) and stay valid for the pool's life.
#[derive(Debug, Clone)]
pub struct Pool {
    servers: Vec<ServerAddr>,
    states: Vec<ServerState>,
}

impl Pool {
    /// All servers not measured yet.
    pub fn new(servers: Vec<ServerAddr>) -> Pool {
        let states = vec![ServerState::Pending; servers.len()];
        Pool { servers, states }
    }

    /// Number of configured servers, removed ones included.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// No server configured.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Every configured server, by index.
    pub fn servers(&self) -> &[ServerAddr] {
        &self.servers
    }

    /// Add a server, not measured yet; returns its index.
    pub fn push(&mut self, server: ServerAddr) -> usize {
        self.servers.push(server);
        self.states.push(ServerState::Pending);
        self.servers.len() - 1
    }

    /// Make server `index` live with `measurement`, replacing its previous state (a removed
    /// server comes back only when the caller says so). Returns false if it does not exist.
    pub fn record(&mut self, index: usize, measurement: Measurement) -> bool {
        match self.states.get_mut(index) {
            Some(state) => {
                *state = ServerState::Live(measurement);
                true
            }
            None => false,
        }
    }

    /// Set server `index` back to not measured (not picked until measured again).
    pub fn reset(&mut self, index: usize) {
        if let Some(state) = self.states.get_mut(index) {
            *state = ServerState::Pending;
        }
    }

    /// Stop picking server `index`. Returns false, changing nothing, if it does not exist or
    /// was already removed.
    pub fn remove(&mut self, index: usize) -> bool {
        match self.states.get_mut(index) {
            Some(state) if *state != ServerState::Removed => {
                *state = ServerState::Removed;
                true
            }
            _ => false,
        }
    }

    /// The latest measurement of server `index` if it is live.
    pub fn measurement(&self, index: usize) -> Option<Measurement> {
        match self.states.get(index)? {
            ServerState::Live(m) => Some(*m),
            _ => None,
        }
    }

    /// A snapshot of the live servers weighted under `policy`.
    ///
    /// Rank: live servers are ordered by transfer time, slowest first, and take positions 1 to
    /// N. Servers with exactly equal times occupy a block of positions p..=q and each gets the
    /// average rank (p + q) / 2, which is its weight. So 3 servers get 1, 2, 3; a tie of the two
    /// fastest gives 1, 2.5, 2.5; all tied gives equal shares. The total weight is always
    /// N(N+1)/2, and a tie behaves exactly like breaking it by a fair coin.
    ///
    /// Throughput: the weight is the server's bytes per second divided by the fastest's, but
    /// at least [`THROUGHPUT_FLOOR`]. If every server measured zero bytes, all weigh the same.
    /// The rank column is still by transfer time.
    pub fn ranking(&self, policy: Policy) -> Ranking {
        self.ranking_where(policy, |_| true)
    }

    /// [`Pool::ranking`] over the live servers `keep` accepts only (ranks and weights are
    /// computed among them), e.g. the `https://` ones.
    pub fn ranking_where(&self, policy: Policy, keep: impl Fn(&ServerAddr) -> bool) -> Ranking {
        let mut live: Vec<(usize, Measurement)> = self
            .states
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                ServerState::Live(m) if keep(&self.servers[i]) => Some((i, *m)),
                _ => None,
            })
            .collect();
        // Slowest first; ties in reverse pool order, so that the table (this order reversed)
        // lists tied servers in pool order. Deterministic either way.
        live.sort_by(|a, b| b.1.elapsed.cmp(&a.1.elapsed).then(b.0.cmp(&a.0)));
        // Twice the average position of each tie block: an integer.
        let mut rank2 = vec![0u64; live.len()];
        let mut start = 0;
        while start < live.len() {
            let mut end = start;
            while end + 1 < live.len() && live[end + 1].1.elapsed == live[start].1.elapsed {
                end += 1;
            }
            for r in &mut rank2[start..=end] {
                *r = (start + 1 + end + 1) as u64;
            }
            start = end + 1;
        }
        let units: Vec<u64> = match policy {
            Policy::Rank => rank2.clone(),
            Policy::Throughput => {
                const SCALE: f64 = 1_000_000.0;
                let max = live
                    .iter()
                    .map(|(_, m)| m.bytes_per_second())
                    .fold(0.0, f64::max);
                live.iter()
                    .map(|(_, m)| {
                        let relative = if max > 0.0 {
                            m.bytes_per_second() / max
                        } else {
                            1.0
                        };
                        (relative.max(THROUGHPUT_FLOOR) * SCALE).round() as u64
                    })
                    .collect()
            }
        };
        let total: u64 = units.iter().sum();
        let scale = match policy {
            Policy::Rank => 2.0,
            Policy::Throughput => 1_000_000.0,
        };
        // Present fastest first; the cumulative weights follow the same order.
        let mut rows = Vec::with_capacity(live.len());
        let mut cumulative = Vec::with_capacity(live.len());
        let mut sum = 0;
        for ((&(index, measurement), &u), &r2) in live.iter().zip(&units).zip(&rank2).rev() {
            sum += u;
            cumulative.push(sum);
            rows.push(Row {
                index,
                server: self.servers[index].clone(),
                measurement,
                rank: r2 as f64 / 2.0,
                weight: u as f64 / scale,
                share: u as f64 / total as f64,
            });
        }
        Ranking {
            policy,
            rows,
            cumulative,
        }
    }
}

/// One live server in a [`Ranking`], as the table shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Index in the [`Pool`].
    pub index: usize,
    /// The server.
    pub server: ServerAddr,
    /// Its latest probe.
    pub measurement: Measurement,
    /// Rank by transfer time: 1 slowest, N fastest, ties averaged (so it may end in `.5`).
    pub rank: f64,
    /// Relative weight under the ranking's policy (the rank itself under [`Policy::Rank`]).
    pub weight: f64,
    /// Probability of being picked: weight / total weight.
    pub share: f64,
}

/// An immutable snapshot of the live servers and their weights. Cheap to share; build a new one
/// with [`Pool::ranking`] whenever the pool changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    policy: Policy,
    /// Fastest first.
    rows: Vec<Row>,
    /// `cumulative[i]` = sum of the integer weights of rows `0..=i`.
    cumulative: Vec<u64>,
}

impl Ranking {
    /// A ranking with no live server: [`Ranking::pick`] always gives `None` (answer 503).
    pub fn empty(policy: Policy) -> Ranking {
        Ranking {
            policy,
            rows: Vec::new(),
            cumulative: Vec::new(),
        }
    }

    /// The live servers, fastest first (tied servers in pool order), for logging.
    pub fn table(&self) -> &[Row] {
        &self.rows
    }

    /// Number of live servers.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// No live server.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Pick a live server at random with probability [`Row::share`]: one draw from `rng` and a
    /// binary search, O(log N). `None` when no server is live.
    pub fn pick<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> Option<&Row> {
        let total = *self.cumulative.last()?;
        if total == 0 {
            return None;
        }
        let x = rng.random_range(0..total);
        let i = self.cumulative.partition_point(|&c| c <= x);
        self.rows.get(i)
    }

    /// Pick as [`Ranking::pick`] does, but not the server at pool index `avoid` as long as
    /// another one can be picked: the others keep their relative shares. When `avoid` is not
    /// in the ranking this is [`Ranking::pick`]; when it is the only server, it is picked.
    pub fn pick_avoiding<R: rand::Rng + ?Sized>(&self, rng: &mut R, avoid: usize) -> Option<&Row> {
        let Some(pos) = self.rows.iter().position(|r| r.index == avoid) else {
            return self.pick(rng);
        };
        let total = *self.cumulative.last()?;
        let end = self.cumulative[pos];
        let start = if pos == 0 {
            0
        } else {
            self.cumulative[pos - 1]
        };
        let others = total - (end - start);
        if others == 0 {
            return self.pick(rng);
        }
        // Draw over the other servers' weights, skipping the avoided one's interval.
        let mut x = rng.random_range(0..others);
        if x >= start {
            x += end - start;
        }
        let i = self.cumulative.partition_point(|&c| c <= x);
        self.rows.get(i)
    }

    /// Pick as [`Ranking::pick`] does, but only among the live servers whose pool index `keep`
    /// accepts: they keep their relative shares (the weights are renormalised over them). One
    /// draw from `rng`, O(N), no allocation; `keep` is called twice per live server, so it must
    /// answer the same both times. `None` when `keep` accepts no live server.
    pub fn pick_where<R, F>(&self, rng: &mut R, keep: F) -> Option<&Row>
    where
        R: rand::Rng + ?Sized,
        F: Fn(usize) -> bool,
    {
        let weight =
            |i: usize| self.cumulative[i] - if i == 0 { 0 } else { self.cumulative[i - 1] };
        let total: u64 = (0..self.rows.len())
            .filter(|&i| keep(self.rows[i].index))
            .map(weight)
            .sum();
        if total == 0 {
            return None;
        }
        let mut x = rng.random_range(0..total);
        for (i, row) in self.rows.iter().enumerate() {
            if !keep(row.index) {
                continue;
            }
            let w = weight(i);
            if x < w {
                return Some(row);
            }
            x -= w;
        }
        None
    }

    /// The row of the live server at `server`'s host and port, whatever the schemes and path
    /// prefixes (a client reports a server by `host:port`).
    pub fn find(&self, server: &ServerAddr) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.server.authority() == server.authority())
    }
}

pub(crate) fn format_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10_000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

pub(crate) fn format_speed(bytes_per_second: f64) -> String {
    const UNITS: [&str; 4] = ["B/s", "kB/s", "MB/s", "GB/s"];
    let mut value = bytes_per_second;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

pub(crate) fn format_number(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else if (x * 2.0).fract() == 0.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

/// The table the balancer logs: one header line, then one line per live server, fastest first:
/// server, time, speed, rank, weight, share. With no live server: a single line saying so.
impl fmt::Display for Ranking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.rows.is_empty() {
            return write!(f, "no live server (policy {})", self.policy);
        }
        let width = self
            .rows
            .iter()
            .map(|r| r.server.as_str().len())
            .max()
            .unwrap_or(0)
            .max("server".len());
        write!(
            f,
            "{:<width$}  {:>10}  {:>11}  {:>5}  {:>7}  {:>6}   (policy {})",
            "server", "time", "speed", "rank", "weight", "share", self.policy
        )?;
        for row in &self.rows {
            write!(
                f,
                "\n{:<width$}  {:>10}  {:>11}  {:>5}  {:>7}  {:>5.1}%",
                row.server.as_str(),
                format_duration(row.measurement.elapsed),
                format_speed(row.measurement.bytes_per_second()),
                format_number(row.rank),
                format_number(row.weight),
                row.share * 100.0
            )?;
        }
        Ok(())
    }
}
