//! The balancer's whole probing brain: a [`Pool`] driven by a [`ProbeSchedule`] per address
//! family, producing ranking snapshots ([`Rankings`]) and events to log. A server is probed once
//! per family it can be reached over ([`ServerAddr::families`]: a name over both, a literal over
//! its own), and ranked separately over each. The shell only connects, downloads, times and feeds
//! results back; it also hands in client reports of unreachable servers
//! ([`Balancer::handle_unreachable`]) and new server lists ([`Balancer::reload`]).
//!
//! The shell's loop:
//!
//! ```text
//! let mut b = Balancer::new(servers, &config, policy, now)?;
//! loop {
//!     while let Some(job) = b.poll_probe(now) {
//!         spawn download of job.url over job.family, bounded by job.deadline
//!     }
//!     while let Some(event) = b.poll_event() {
//!         Ranking  -> publish the snapshot (swap the shared Arc), log the table
//!         others   -> log them
//!     }
//!     wait until b.poll_timeout(), a download finishes, a report or a reload comes in:
//!         finished: b.handle_probe_result(index, family, now, verdict(..) or Err(failure))
//!         report:   b.handle_unreachable(index, now)
//!         reload:   b.reload(servers, now)
//!         timer:    b.handle_timeout(now)
//! }
//! ```
//!
//! Before accepting clients, run the loop until [`Balancer::first_round_complete`]; the first
//! [`Event::Ranking`] arrives then. If it is empty, no server passed over any family: exit with an error. After
//! that, keep the loop running even when [`Balancer::poll_timeout`] is `None` (every server
//! removed): a reload can bring servers back.

use crate::balance::family::Family;
use crate::balance::pool::{Policy, Pool, Ranking, ServerAddr};
use crate::balance::probe::{Health, ProbeSchedule, ProbeStatus, Readmit, Verdict};
use crate::balance::rankings::Rankings;
use crate::balance::verdict::{Measurement, ProbeFailure};
use crate::http::url::{Url, UrlError};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How servers are probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Path (and optional query) to download from every server, starting with `/`.
    pub path: String,
    /// Time between two probes of a live server.
    pub interval: Duration,
    /// How long one probe may take before it counts as failed.
    pub timeout: Duration,
    /// Whether removed servers are re-checked and come back (`None`: removed for good).
    pub readmit: Option<Readmit>,
}

/// A probe the shell must start now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeJob {
    /// The server's index in the pool: hand it back with the result.
    pub index: usize,
    /// Connect over this family only (for a name, to the addresses of this family it resolves
    /// to; none is a failure): hand it back with the result.
    pub family: Family,
    /// What to GET: the server's base URL plus the probe path. Connect to
    /// [`Url::socket_addr`], write the head with [`crate::http::write::write_request_head`].
    pub url: Url,
    /// Past this instant the result no longer counts (it is a timeout): stop the download.
    pub deadline: Instant,
}

/// Something the shell should log or act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A server failed and gets no more redirects.
    Removed {
        /// Its index in the pool.
        index: usize,
        /// The server.
        server: ServerAddr,
        /// The family it failed over (it may still be live over the other).
        family: Family,
        /// Why.
        failure: ProbeFailure,
        /// It is re-checked and may come back ([`Readmit`]); otherwise it is gone for good.
        rechecking: bool,
    },
    /// A probe failed without changing whether the server gets redirects: a live server
    /// below `fall` failures in a row, or a removed server's re-check.
    Failed {
        /// Its index in the pool.
        index: usize,
        /// The server.
        server: ServerAddr,
        /// The family probed.
        family: Family,
        /// Why.
        failure: ProbeFailure,
        /// Failures in a row.
        failures: u32,
    },
    /// A removed server passed a re-check, but not yet `rise` times in a row.
    Passed {
        /// Its index in the pool.
        index: usize,
        /// The server.
        server: ServerAddr,
        /// The family probed.
        family: Family,
        /// Passes in a row.
        passes: u32,
        /// Passes needed.
        rise: u32,
    },
    /// After the first round, a server became live: re-admitted after `rise` passes, or added
    /// by a reload and measured. It gets redirects from the ranking published with it.
    Admitted {
        /// Its index in the pool.
        index: usize,
        /// The server.
        server: ServerAddr,
        /// The family it became live over.
        family: Family,
    },
    /// New rankings to log and to publish, replacing the previous ones.
    Ranking(Rankings),
}

/// What [`Balancer::reload`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reloaded {
    /// New servers: probed now, redirected to once they pass.
    pub added: Vec<ServerAddr>,
    /// Servers no longer listed: no redirect from now on.
    pub removed: Vec<ServerAddr>,
    /// Servers removed for good (no [`Readmit`]) that are listed again: probed afresh, like new
    /// ones.
    pub restarted: Vec<ServerAddr>,
    /// Servers listed before and now, keeping their state and measurements.
    pub kept: usize,
}

/// One server in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSnapshot {
    /// Its index in the pool (the [`crate::balance::pool::Row::index`] of its ranking row, if live).
    pub index: usize,
    /// The server.
    pub server: ServerAddr,
    /// Health, last probe, passes and failures in a row, next probe: over the family it stands
    /// best on (live before pending, re-checking and removed; IPv4 first on a tie).
    pub probe: ProbeStatus,
    /// The same over each family it is probed over (one for a literal, both for a name).
    pub families: Vec<(Family, ProbeStatus)>,
}

/// A snapshot of the balancer's state, for status pages and metrics. Instants are on the
/// caller's monotonic clock; the caller converts them to wall-clock times for display.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Every configured server, in pool order (servers dropped by a reload are not listed).
    pub servers: Vec<ServerSnapshot>,
    /// When the next probe of any server starts (`None`: none is due, or one is running and
    /// nothing else is planned).
    pub next_probe: Option<Instant>,
    /// What is downloaded from every server.
    pub probe_path: String,
    /// Time between two probes of a live server.
    pub interval: Duration,
    /// How long a probe may take.
    pub timeout: Duration,
    /// Re-admission settings, if on.
    pub readmit: Option<Readmit>,
    /// The weighting policy.
    pub policy: Policy,
}

/// A [`Pool`] kept up to date by a [`ProbeSchedule`], one of each per address family. See the
/// module docs for the loop.
///
/// Rankings are published ([`Event::Ranking`]) once the first round is complete and then:
/// whenever a round ends (no probe left in flight, or every live server has reported since the
/// last ranking, for probes that overlap when they last longer than the interval) after new
/// results came in, and immediately whenever a server is removed or becomes live over a family,
/// so a dead server stops getting redirects at once and a recovered one gets them at once.
#[derive(Debug, Clone)]
pub struct Balancer {
    /// By [`Family::index`]. Both pools list every server at the same index; a server is
    /// retired from the schedule of a family it is not probed over.
    sides: [Side; 2],
    policy: Policy,
    probe_path: String,
    probe_urls: Vec<Url>,
    events: VecDeque<Event>,
    /// Results came in since the last published ranking.
    dirty: bool,
}

/// The servers as probed over one family.
#[derive(Debug, Clone)]
struct Side {
    family: Family,
    pool: Pool,
    schedule: ProbeSchedule,
    /// Which servers reported a result over this family since the last published ranking.
    reported: Vec<bool>,
}

impl Side {
    fn new(family: Family, servers: &[ServerAddr], config: &ProbeConfig, now: Instant) -> Side {
        let mut schedule = ProbeSchedule::new(
            servers.len(),
            config.interval,
            config.timeout,
            config.readmit,
            now,
        );
        for (index, server) in servers.iter().enumerate() {
            if !server.families().contains(&family) {
                schedule.retire(index);
            }
        }
        Side {
            family,
            pool: Pool::new(servers.to_vec()),
            schedule,
            reported: vec![false; servers.len()],
        }
    }

    fn push(&mut self, server: ServerAddr, now: Instant) {
        let probed = server.families().contains(&self.family);
        self.pool.push(server);
        let index = self.schedule.add(now);
        if !probed {
            self.schedule.retire(index);
        }
        self.reported.push(false);
    }

    fn all_reported(&self) -> bool {
        self.reported
            .iter()
            .enumerate()
            .all(|(i, &r)| r || self.schedule.health(i) != Some(Health::Live))
    }
}

fn probe_url(server: &ServerAddr, path: &str) -> Result<Url, UrlError> {
    Url::parse(&format!("{}{}", server.base_url(), path))
}

/// Orders health for [`ServerSnapshot::probe`]: the lowest is the best standing.
fn standing(health: Health) -> u8 {
    match health {
        Health::Live => 0,
        Health::Pending => 1,
        Health::Rechecking => 2,
        Health::Removed => 3,
    }
}

impl Balancer {
    /// A balancer for `servers`, all due for their first probe at `now` over each of their
    /// families. Fails if `config.path` does not make a valid URL with the servers (it must
    /// start with `/`).
    pub fn new(
        servers: Vec<ServerAddr>,
        config: &ProbeConfig,
        policy: Policy,
        now: Instant,
    ) -> Result<Balancer, UrlError> {
        if !config.path.starts_with('/') {
            return Err(UrlError::Malformed("the probe path must start with /"));
        }
        let probe_urls = servers
            .iter()
            .map(|s| probe_url(s, &config.path))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Balancer {
            sides: Family::ALL.map(|family| Side::new(family, &servers, config, now)),
            policy,
            probe_path: config.path.clone(),
            probe_urls,
            events: VecDeque::new(),
            dirty: false,
        })
    }

    fn side(&mut self, family: Family) -> &mut Side {
        &mut self.sides[family.index()]
    }

    fn servers(&self) -> &[ServerAddr] {
        self.sides[0].pool.servers()
    }

    /// The next probe to start now, if one is due. Call until `None`.
    pub fn poll_probe(&mut self, now: Instant) -> Option<ProbeJob> {
        for side in &mut self.sides {
            if let Some(index) = side.schedule.poll_probe(now) {
                return Some(ProbeJob {
                    index,
                    family: side.family,
                    url: self.probe_urls[index].clone(),
                    deadline: side.schedule.deadline(index)?,
                });
            }
        }
        None
    }

    /// Hand in the outcome of the probe of `index` over `family` (as the [`ProbeJob`] said),
    /// finished at `now`: the result of [`crate::balance::verdict::verdict`], or the failure
    /// the shell ran into (connect error, no address of that family, broken transfer). Late or
    /// unknown results are ignored. Then call [`Balancer::poll_event`] and
    /// [`Balancer::poll_probe`].
    pub fn handle_probe_result(
        &mut self,
        index: usize,
        family: Family,
        now: Instant,
        result: Result<Measurement, ProbeFailure>,
    ) {
        let announce = self.announce(index, family);
        if let Some(verdict) = self.side(family).schedule.handle_result(index, now, result) {
            self.apply(index, family, announce, verdict);
        }
    }

    /// When to call [`Balancer::handle_timeout`] next (`None`: nothing left to probe).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sides
            .iter()
            .filter_map(|side| side.schedule.poll_timeout())
            .min()
    }

    /// Time has passed: fail overdue probes. Harmless when nothing is due. Then call
    /// [`Balancer::poll_event`] and [`Balancer::poll_probe`].
    pub fn handle_timeout(&mut self, now: Instant) {
        for family in Family::ALL {
            let announce: Vec<bool> = (0..self.servers().len())
                .map(|i| self.announce(i, family))
                .collect();
            for (index, verdict) in self.side(family).schedule.handle_timeout(now) {
                self.apply(index, family, announce[index], verdict);
            }
        }
    }

    /// A client reported at `now` that it could not reach server `index` (the
    /// [`crate::balance::redirect::Answer::unreachable`] of its request). Starts a verification
    /// probe over each family the server is live over, unless one started in the last
    /// [`crate::balance::probe::REPORT_PERIOD`]; returns whether one did. The report itself
    /// changes nothing else.
    pub fn handle_unreachable(&mut self, index: usize, now: Instant) -> bool {
        let mut started = false;
        for side in &mut self.sides {
            started |= side.schedule.handle_report(index, now);
        }
        started
    }

    /// Replace the server list with `servers` at `now`: new servers are probed now and get
    /// redirects once they pass; servers no longer listed get none from the ranking published
    /// at once; servers listed before and now keep their state and measurements (except over a
    /// family they were removed for good over, where they are probed afresh). Fails, changing
    /// nothing, if a new server does not make a probe URL.
    pub fn reload(&mut self, servers: Vec<ServerAddr>, now: Instant) -> Result<Reloaded, UrlError> {
        let urls = servers
            .iter()
            .map(|s| probe_url(s, &self.probe_path))
            .collect::<Result<Vec<_>, _>>()?;
        let mut reloaded = Reloaded::default();
        let mut listed = vec![false; self.servers().len()];
        for (server, url) in servers.into_iter().zip(urls) {
            match self.servers().iter().position(|p| *p == server) {
                Some(index) if listed[index] => {}
                Some(index) => {
                    listed[index] = true;
                    let (mut fresh, mut restarted) = (true, false);
                    for &family in server.families() {
                        match self.side(family).schedule.health(index) {
                            None => self.restart(index, family, now),
                            Some(Health::Removed) => {
                                self.restart(index, family, now);
                                (fresh, restarted) = (false, true);
                            }
                            Some(_) => fresh = false,
                        }
                    }
                    if fresh {
                        reloaded.added.push(server);
                    } else if restarted {
                        reloaded.restarted.push(server);
                    } else {
                        reloaded.kept += 1;
                    }
                }
                None => {
                    for side in &mut self.sides {
                        side.push(server.clone(), now);
                    }
                    self.probe_urls.push(url);
                    listed.push(true);
                    reloaded.added.push(server);
                }
            }
        }
        for (index, listed) in listed.into_iter().enumerate() {
            if listed
                || self
                    .sides
                    .iter()
                    .all(|s| s.schedule.health(index).is_none())
            {
                continue;
            }
            for side in &mut self.sides {
                side.schedule.retire(index);
                if side.pool.remove(index) {
                    self.dirty = true;
                }
            }
            reloaded.removed.push(self.servers()[index].clone());
        }
        self.publish(true);
        Ok(reloaded)
    }

    fn restart(&mut self, index: usize, family: Family, now: Instant) {
        let side = self.side(family);
        side.schedule.restart(index, now);
        side.pool.reset(index);
        side.reported[index] = false;
    }

    /// Whether server `index` becoming live over `family` now is news: after the first round,
    /// and not live over it already. Asked before its verdict is applied.
    fn announce(&self, index: usize, family: Family) -> bool {
        self.first_round_complete()
            && self.sides[family.index()].schedule.health(index) != Some(Health::Live)
    }

    fn apply(&mut self, index: usize, family: Family, announce: bool, verdict: Verdict) {
        let server = self.servers()[index].clone();
        let rise = self.sides[0]
            .schedule
            .readmit()
            .map_or(1, |r| r.rise.max(1));
        let side = self.side(family);
        side.reported[index] = true;
        match verdict {
            Verdict::Measured(m) => {
                side.pool.record(index, m);
                self.dirty = true;
                self.publish(false);
            }
            Verdict::Admitted(m) => {
                side.pool.record(index, m);
                self.dirty = true;
                if announce {
                    self.events.push_back(Event::Admitted {
                        index,
                        server,
                        family,
                    });
                }
                self.publish(true);
            }
            Verdict::Rising {
                passes,
                measurement: _,
            } => self.events.push_back(Event::Passed {
                index,
                server,
                family,
                passes,
                rise,
            }),
            Verdict::Failed { failure, failures } => {
                self.events.push_back(Event::Failed {
                    index,
                    server,
                    family,
                    failure,
                    failures,
                });
                self.publish(false);
            }
            Verdict::Removed(failure) => {
                side.pool.remove(index);
                let rechecking = side.schedule.health(index) == Some(Health::Rechecking);
                self.events.push_back(Event::Removed {
                    index,
                    server,
                    family,
                    failure,
                    rechecking,
                });
                self.dirty = true;
                self.publish(true);
            }
        }
    }

    fn publish(&mut self, now_anyway: bool) {
        if self.dirty
            && self.first_round_complete()
            && (now_anyway || self.in_flight() == 0 || self.sides.iter().all(Side::all_reported))
        {
            self.dirty = false;
            for side in &mut self.sides {
                side.reported.iter_mut().for_each(|r| *r = false);
            }
            self.events.push_back(Event::Ranking(self.rankings()));
        }
    }

    fn in_flight(&self) -> usize {
        self.sides.iter().map(|s| s.schedule.in_flight()).sum()
    }

    /// The next event to log or act on, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Every server has had its first probe judged over each of its families.
    pub fn first_round_complete(&self) -> bool {
        self.sides.iter().all(|s| s.schedule.first_round_complete())
    }

    /// The current rankings: what each kind of request is answered from.
    pub fn rankings(&self) -> Rankings {
        Rankings::new(&self.sides[0].pool, &self.sides[1].pool, self.policy)
    }

    /// The current ranking of every live server, over its fastest family ([`Rankings::all`]).
    pub fn ranking(&self) -> Ranking {
        self.rankings().all().clone()
    }

    /// A snapshot of every configured server and of the settings.
    pub fn snapshot(&self) -> Snapshot {
        let servers: Vec<ServerSnapshot> = (0..self.servers().len())
            .filter_map(|index| {
                let families: Vec<(Family, ProbeStatus)> = self
                    .sides
                    .iter()
                    .filter_map(|side| Some((side.family, side.schedule.status(index)?)))
                    .collect();
                let probe = families
                    .iter()
                    .min_by_key(|(_, status)| standing(status.health))?
                    .1
                    .clone();
                Some(ServerSnapshot {
                    index,
                    server: self.servers()[index].clone(),
                    probe,
                    families,
                })
            })
            .collect();
        let schedule = &self.sides[0].schedule;
        Snapshot {
            next_probe: servers
                .iter()
                .flat_map(|s| s.families.iter().filter_map(|(_, p)| p.next_probe))
                .min(),
            servers,
            probe_path: self.probe_path.clone(),
            interval: schedule.interval(),
            timeout: schedule.timeout(),
            readmit: schedule.readmit(),
            policy: self.policy,
        }
    }
}
