//! The balancer's whole probing brain: a [`Pool`] driven by a [`ProbeSchedule`], producing
//! ranking snapshots and events to log. The shell only connects, downloads, times and feeds
//! results back; it also hands in client reports of unreachable servers
//! ([`Balancer::handle_unreachable`]) and new server lists ([`Balancer::reload`]).
//!
//! The shell's loop:
//!
//! ```text
//! let mut b = Balancer::new(servers, &config, policy, now)?;
//! loop {
//!     while let Some(job) = b.poll_probe(now) { spawn download of job.url, bounded by job.deadline }
//!     while let Some(event) = b.poll_event() {
//!         Ranking  -> publish the snapshot (swap the shared Arc), log the table
//!         others   -> log them
//!     }
//!     wait until b.poll_timeout(), a download finishes, a report or a reload comes in:
//!         finished: b.handle_probe_result(index, now, probe::judge(..) or Err(failure))
//!         report:   b.handle_unreachable(index, now)
//!         reload:   b.reload(servers, now)
//!         timer:    b.handle_timeout(now)
//! }
//! ```
//!
//! Before accepting clients, run the loop until [`Balancer::first_round_complete`]; the first
//! [`Event::Ranking`] arrives then. If it is empty, no server passed: exit with an error. After
//! that, keep the loop running even when [`Balancer::poll_timeout`] is `None` (every server
//! removed): a reload can bring servers back.

use crate::balance::pool::{Policy, Pool, Ranking, ServerAddr};
use crate::balance::probe::{Health, ProbeSchedule, ProbeStatus, Readmit, Verdict};
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
    },
    /// A new ranking to log and to publish, replacing the previous one.
    Ranking(Ranking),
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
    /// Health, last probe, passes and failures in a row, next probe.
    pub probe: ProbeStatus,
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

/// A [`Pool`] kept up to date by a [`ProbeSchedule`]. See the module docs for the loop.
///
/// Rankings are published ([`Event::Ranking`]) once the first round is complete and then:
/// whenever a round ends (no probe left in flight, or every live server has reported since the
/// last ranking, for probes that overlap when they last longer than the interval) after new
/// results came in, and immediately whenever a server is removed or becomes live, so a dead
/// server stops getting redirects at once and a recovered one gets them at once.
#[derive(Debug, Clone)]
pub struct Balancer {
    pool: Pool,
    schedule: ProbeSchedule,
    policy: Policy,
    probe_path: String,
    probe_urls: Vec<Url>,
    events: VecDeque<Event>,
    /// Results came in since the last published ranking.
    dirty: bool,
    /// Which servers reported a result since the last published ranking.
    reported: Vec<bool>,
}

fn probe_url(server: &ServerAddr, path: &str) -> Result<Url, UrlError> {
    Url::parse(&format!("{}{}", server.base_url(), path))
}

impl Balancer {
    /// A balancer for `servers`, all due for their first probe at `now`. Fails if
    /// `config.path` does not make a valid URL with the servers (it must start with `/`).
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
            reported: vec![false; servers.len()],
            schedule: ProbeSchedule::new(
                servers.len(),
                config.interval,
                config.timeout,
                config.readmit,
                now,
            ),
            pool: Pool::new(servers),
            policy,
            probe_path: config.path.clone(),
            probe_urls,
            events: VecDeque::new(),
            dirty: false,
        })
    }

    /// The next probe to start now, if one is due. Call until `None`.
    pub fn poll_probe(&mut self, now: Instant) -> Option<ProbeJob> {
        let index = self.schedule.poll_probe(now)?;
        Some(ProbeJob {
            index,
            url: self.probe_urls[index].clone(),
            deadline: self.schedule.deadline(index)?,
        })
    }

    /// Hand in the outcome of the probe of `index`, finished at `now`: the result of
    /// [`crate::balance::verdict::judge`], or the failure the shell ran into (connect error, broken
    /// transfer). Late or unknown results are ignored. Then call [`Balancer::poll_event`] and
    /// [`Balancer::poll_probe`].
    pub fn handle_probe_result(
        &mut self,
        index: usize,
        now: Instant,
        result: Result<Measurement, ProbeFailure>,
    ) {
        let announce = self.announce(index);
        if let Some(verdict) = self.schedule.handle_result(index, now, result) {
            self.apply(index, announce, verdict);
        }
    }

    /// When to call [`Balancer::handle_timeout`] next (`None`: nothing left to probe).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.schedule.poll_timeout()
    }

    /// Time has passed: fail overdue probes. Harmless when nothing is due. Then call
    /// [`Balancer::poll_event`] and [`Balancer::poll_probe`].
    pub fn handle_timeout(&mut self, now: Instant) {
        let announce: Vec<bool> = (0..self.pool.len()).map(|i| self.announce(i)).collect();
        for (index, verdict) in self.schedule.handle_timeout(now) {
            self.apply(index, announce[index], verdict);
        }
    }

    /// A client reported at `now` that it could not reach server `index` (the
    /// [`crate::balance::redirect::Answer::unreachable`] of its request). Starts a verification probe
    /// if the server is live and none started in the last [`crate::balance::probe::REPORT_PERIOD`];
    /// returns whether one did. The report itself changes nothing else.
    pub fn handle_unreachable(&mut self, index: usize, now: Instant) -> bool {
        self.schedule.handle_report(index, now)
    }

    /// Replace the server list with `servers` at `now`: new servers are probed now and get
    /// redirects once they pass; servers no longer listed get none from the ranking published
    /// at once; servers listed before and now keep their state and measurements (except those
    /// removed for good, which are probed afresh). Fails, changing nothing, if a new server
    /// does not make a probe URL.
    pub fn reload(&mut self, servers: Vec<ServerAddr>, now: Instant) -> Result<Reloaded, UrlError> {
        let urls = servers
            .iter()
            .map(|s| probe_url(s, &self.probe_path))
            .collect::<Result<Vec<_>, _>>()?;
        let mut reloaded = Reloaded::default();
        let mut listed = vec![false; self.pool.len()];
        for (server, url) in servers.into_iter().zip(urls) {
            match self.pool.servers().iter().position(|p| *p == server) {
                Some(index) if listed[index] => {}
                Some(index) => {
                    listed[index] = true;
                    match self.schedule.health(index) {
                        None => {
                            self.restart(index, now);
                            reloaded.added.push(server);
                        }
                        Some(Health::Removed) => {
                            self.restart(index, now);
                            reloaded.restarted.push(server);
                        }
                        Some(_) => reloaded.kept += 1,
                    }
                }
                None => {
                    self.pool.push(server.clone());
                    self.schedule.add(now);
                    self.reported.push(false);
                    self.probe_urls.push(url);
                    listed.push(true);
                    reloaded.added.push(server);
                }
            }
        }
        for (index, listed) in listed.into_iter().enumerate() {
            if !listed && self.schedule.health(index).is_some() {
                self.schedule.retire(index);
                if self.pool.remove(index) {
                    self.dirty = true;
                }
                reloaded.removed.push(self.pool.servers()[index].clone());
            }
        }
        self.publish(true);
        Ok(reloaded)
    }

    fn restart(&mut self, index: usize, now: Instant) {
        self.schedule.restart(index, now);
        self.pool.reset(index);
        self.reported[index] = false;
    }

    /// Whether server `index` becoming live now is news: after the first round, and not live
    /// already. Asked before its verdict is applied.
    fn announce(&self, index: usize) -> bool {
        self.schedule.first_round_complete() && self.schedule.health(index) != Some(Health::Live)
    }

    fn apply(&mut self, index: usize, announce: bool, verdict: Verdict) {
        let server = self.pool.servers()[index].clone();
        self.reported[index] = true;
        match verdict {
            Verdict::Measured(m) => {
                self.pool.record(index, m);
                self.dirty = true;
                self.publish(false);
            }
            Verdict::Admitted(m) => {
                self.pool.record(index, m);
                self.dirty = true;
                if announce {
                    self.events.push_back(Event::Admitted { index, server });
                }
                self.publish(true);
            }
            Verdict::Rising {
                passes,
                measurement: _,
            } => self.events.push_back(Event::Passed {
                index,
                server,
                passes,
                rise: self.schedule.readmit().map_or(1, |r| r.rise.max(1)),
            }),
            Verdict::Failed { failure, failures } => {
                self.events.push_back(Event::Failed {
                    index,
                    server,
                    failure,
                    failures,
                });
                self.publish(false);
            }
            Verdict::Removed(failure) => {
                self.pool.remove(index);
                self.events.push_back(Event::Removed {
                    index,
                    server,
                    failure,
                    rechecking: self.schedule.health(index) == Some(Health::Rechecking),
                });
                self.dirty = true;
                self.publish(true);
            }
        }
    }

    fn publish(&mut self, now_anyway: bool) {
        let all_reported = || {
            self.reported
                .iter()
                .enumerate()
                .all(|(i, &r)| r || self.schedule.health(i) != Some(Health::Live))
        };
        if self.dirty
            && self.schedule.first_round_complete()
            && (now_anyway || self.schedule.in_flight() == 0 || all_reported())
        {
            self.dirty = false;
            self.reported.iter_mut().for_each(|r| *r = false);
            self.events.push_back(Event::Ranking(self.ranking()));
        }
    }

    /// The next event to log or act on, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Every server has had its first probe judged.
    pub fn first_round_complete(&self) -> bool {
        self.schedule.first_round_complete()
    }

    /// The current ranking of live servers.
    pub fn ranking(&self) -> Ranking {
        self.pool.ranking(self.policy)
    }

    /// A snapshot of every configured server and of the settings.
    pub fn snapshot(&self) -> Snapshot {
        let servers: Vec<ServerSnapshot> = (0..self.pool.len())
            .filter_map(|index| {
                Some(ServerSnapshot {
                    index,
                    server: self.pool.servers()[index].clone(),
                    probe: self.schedule.status(index)?,
                })
            })
            .collect();
        Snapshot {
            next_probe: servers.iter().filter_map(|s| s.probe.next_probe).min(),
            servers,
            probe_path: self.probe_path.clone(),
            interval: self.schedule.interval(),
            timeout: self.schedule.timeout(),
            readmit: self.schedule.readmit(),
            policy: self.policy,
        }
    }
}
