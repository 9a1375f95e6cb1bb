//! The balancer's whole probing brain: a [`Pool`] driven by a [`ProbeSchedule`], producing
//! ranking snapshots and removal events. The shell only connects, downloads, times and feeds
//! results back.
//!
//! The shell's loop:
//!
//! ```text
//! let mut b = Balancer::new(servers, &config, policy, now)?;
//! loop {
//!     while let Some(job) = b.poll_probe(now) { spawn download of job.url, bounded by job.deadline }
//!     while let Some(event) = b.poll_event() {
//!         Removed  -> log it
//!         Ranking  -> log the table, publish the snapshot (swap the shared Arc)
//!     }
//!     wait until b.poll_timeout() or a download finishes:
//!         finished: b.handle_probe_result(index, now, probe::judge(..) or Err(failure))
//!         timer:    b.handle_timeout(now)
//! }
//! ```
//!
//! Before accepting clients, run the loop until [`Balancer::first_round_complete`]; the first
//! [`Event::Ranking`] arrives then. If it is empty, no server passed: exit with an error.

use crate::pool::{Measurement, Policy, Pool, Ranking, ServerAddr};
use crate::probe::{ProbeFailure, ProbeSchedule};
use crate::url::{Url, UrlError};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How servers are probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Path (and optional query) to download from every server, starting with `/`.
    pub path: String,
    /// Time between two probes of a server.
    pub interval: Duration,
    /// How long one probe may take before the server is removed.
    pub timeout: Duration,
}

/// A probe the shell must start now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeJob {
    /// The server's index in the pool: hand it back with the result.
    pub index: usize,
    /// What to GET: the server's base URL plus the probe path. Connect to
    /// [`Url::socket_addr`], write the head with [`crate::write::write_request_head`].
    pub url: Url,
    /// Past this instant the result no longer counts (it is a timeout): stop the download.
    pub deadline: Instant,
}

/// Something the shell should log or act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A server failed a probe and is gone for good.
    Removed {
        /// Its index in the pool.
        index: usize,
        /// The server.
        server: ServerAddr,
        /// Why.
        failure: ProbeFailure,
    },
    /// A new ranking to log and to publish, replacing the previous one.
    Ranking(Ranking),
}

/// A [`Pool`] kept up to date by a [`ProbeSchedule`]. See the module docs for the loop.
///
/// Rankings are published ([`Event::Ranking`]) once the first round is complete and then:
/// whenever a round ends (no probe left in flight, or every live server has reported since the
/// last ranking, for probes that overlap when they last longer than the interval) after new
/// results came in, and immediately whenever a server is removed, so a dead server stops
/// getting redirects at once.
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
    /// Each server's latest judged probe, for the admin page.
    last_probes: Vec<Option<ProbeRecord>>,
    /// Failed probes per server, for the metrics.
    failures: Vec<u64>,
}

/// A judged probe: when its result came in and what it was.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRecord {
    /// When the result was handed in (or the deadline passed).
    pub finished: Instant,
    /// The measurement, or why the probe failed.
    pub result: Result<Measurement, ProbeFailure>,
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
            .map(|s| Url::parse(&format!("{}{}", s.base_url(), config.path)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Balancer {
            reported: vec![false; servers.len()],
            last_probes: vec![None; servers.len()],
            failures: vec![0; servers.len()],
            schedule: ProbeSchedule::new(servers.len(), config.interval, config.timeout, now),
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
    /// [`crate::probe::judge`], or the failure the shell ran into (connect error, broken
    /// transfer). Late or unknown results are ignored. Then call [`Balancer::poll_event`] and
    /// [`Balancer::poll_probe`].
    pub fn handle_probe_result(
        &mut self,
        index: usize,
        now: Instant,
        result: Result<Measurement, ProbeFailure>,
    ) {
        let verdict = self.schedule.handle_result(index, now, result);
        if let Some(result) = &verdict {
            self.note(index, now, result.clone());
        }
        match verdict {
            Some(Ok(measurement)) => {
                self.pool.record(index, measurement);
                if let Some(r) = self.reported.get_mut(index) {
                    *r = true;
                }
                self.dirty = true;
                self.publish(false);
            }
            Some(Err(failure)) => self.remove(index, failure),
            None => {}
        }
    }

    /// When to call [`Balancer::handle_timeout`] next (`None`: nothing left to probe).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.schedule.poll_timeout()
    }

    /// Time has passed: fail overdue probes. Harmless when nothing is due. Then call
    /// [`Balancer::poll_event`] and [`Balancer::poll_probe`].
    pub fn handle_timeout(&mut self, now: Instant) {
        for index in self.schedule.handle_timeout(now) {
            self.note(index, now, Err(ProbeFailure::Timeout));
            self.remove(index, ProbeFailure::Timeout);
        }
    }

    fn note(&mut self, index: usize, finished: Instant, result: Result<Measurement, ProbeFailure>) {
        if result.is_err() {
            if let Some(n) = self.failures.get_mut(index) {
                *n += 1;
            }
        }
        if let Some(last) = self.last_probes.get_mut(index) {
            *last = Some(ProbeRecord { finished, result });
        }
    }

    /// The latest judged probe of server `index` (`None` before its first result).
    pub fn last_probe(&self, index: usize) -> Option<&ProbeRecord> {
        self.last_probes.get(index)?.as_ref()
    }

    /// How many probes of server `index` failed so far.
    pub fn probe_failures(&self, index: usize) -> u64 {
        self.failures.get(index).copied().unwrap_or(0)
    }

    /// When the next probe is due to start (`None` when nothing is left to probe).
    pub fn next_probe(&self) -> Option<Instant> {
        self.schedule.next_due()
    }

    fn remove(&mut self, index: usize, failure: ProbeFailure) {
        if self.pool.remove(index, failure.clone()) {
            self.events.push_back(Event::Removed {
                index,
                server: self.pool.servers()[index].clone(),
                failure,
            });
            self.dirty = true;
            self.publish(true);
        }
    }

    fn publish(&mut self, now_anyway: bool) {
        let all_reported = || {
            self.reported
                .iter()
                .enumerate()
                .all(|(i, &r)| r || self.schedule.is_removed(i))
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

    /// The pool, for inspection.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The schedule, for inspection.
    pub fn schedule(&self) -> &ProbeSchedule {
        &self.schedule
    }

    /// The path every probe downloads.
    pub fn probe_path(&self) -> &str {
        &self.probe_path
    }

    /// The weighting policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }
}
