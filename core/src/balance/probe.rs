//! Probe scheduling: the per-server state machine that says when to probe which server and
//! whether it gets redirects, fed the verdicts of [`crate::balance::verdict`].
//!
//! [`ProbeSchedule`] is a state machine in the quinn-proto style: every time-aware call takes
//! `now`, [`ProbeSchedule::poll_timeout`] says when to call [`ProbeSchedule::handle_timeout`]
//! next, and spurious or late calls are harmless. It knows servers only by index (the index in
//! the [`crate::balance::pool::Pool`]), each with its [`Health`]. The policy it implements:
//!
//! - the first round probes every server at once, at construction time; a server that passes
//!   is [`Health::Live`];
//! - then each live server is probed again every `interval` (rounds stay aligned on the
//!   construction time: due at `start`, `start + interval`, `start + 2 * interval`, ...; if the
//!   caller was so late that a due time has already passed, the next one is `interval` after the
//!   late start);
//! - a server is never probed twice at once: if a probe is still running when the next is due,
//!   the next starts as soon as the result is in;
//! - a probe still running `timeout` after it started has failed ([`ProbeFailure::Timeout`]);
//!   a result handed in at or after that deadline is a timeout too, whatever it says;
//! - without [`Readmit`], a failed probe removes the server for good ([`Health::Removed`]): it
//!   is never probed again;
//! - with [`Readmit`], a live server is removed after `fall` failures in a row (probed again
//!   every [`RECHECK_START`] while failing) and becomes [`Health::Rechecking`]: re-checked with
//!   exponential backoff ([`RECHECK_START`] doubling, capped at `interval`); once a re-check
//!   passes the next come every [`RECHECK_START`] until `rise` passed in a row, and then it is
//!   live again. Every step is capped at `interval`;
//! - [`ProbeSchedule::handle_report`] (a client said it could not reach a live server) makes a
//!   verification probe due at once, at most one per server per [`REPORT_PERIOD`]; its result
//!   counts as any other;
//! - servers can be added (probed before they count) and retired (forgotten) at any time.
//!
//! The shell's loop (or use [`crate::balance::balancer::Balancer`], which wraps this with the pool):
//! after construction and after every `handle_*` call, call [`ProbeSchedule::poll_probe`] until
//! it gives `None`, starting one download per index; then sleep until
//! [`ProbeSchedule::poll_timeout`] or until a download finishes, whichever is first.

use crate::balance::verdict::{Measurement, ProbeFailure};
use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// Re-admission of removed servers. Without it (the default) a server that fails a probe is
/// removed for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readmit {
    /// Passes in a row a removed server needs to be live again (0 counts as 1).
    pub rise: u32,
    /// Failures in a row that remove a live server (0 counts as 1).
    pub fall: u32,
}

impl Default for Readmit {
    /// Rise 2, fall 1.
    fn default() -> Self {
        Readmit { rise: 2, fall: 1 }
    }
}

/// The first re-check delay after a removal, and the delay between the re-checks of a server
/// that passed one (or failed one while still live). Capped at the probe interval.
pub const RECHECK_START: Duration = Duration::from_secs(1);

/// A client report ([`ProbeSchedule::handle_report`]) starts at most one verification probe of
/// a server per this period, however many reports come in.
pub const REPORT_PERIOD: Duration = Duration::from_secs(5);

/// How a server stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    /// Not probed yet (at start, or added by a reload): gets no redirect until a probe passes.
    Pending,
    /// Its last probes passed (or failed fewer than `fall` times in a row): gets redirects.
    Live,
    /// Removed after failing, and re-checked until it passes `rise` times in a row
    /// ([`Readmit`]): gets no redirect meanwhile.
    Rechecking,
    /// Removed for good after failing (no [`Readmit`]): never probed nor picked again.
    Removed,
}

impl Health {
    /// `pending`, `live`, `re-checking` or `removed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Pending => "pending",
            Health::Live => "live",
            Health::Rechecking => "re-checking",
            Health::Removed => "removed",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a judged probe changed for its server.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// A live server passed: it stays live with this new measurement.
    Measured(Measurement),
    /// The server becomes live with this measurement: a pending server's first pass, or a
    /// re-checked server's `rise`-th pass in a row.
    Admitted(Measurement),
    /// A re-checked server passed, `passes` times in a row so far: not enough yet.
    Rising {
        /// This probe's measurement.
        measurement: Measurement,
        /// Passes in a row, this one included.
        passes: u32,
    },
    /// A failure that leaves the server as it was: live with fewer than `fall` failures in a
    /// row, or still re-checking.
    Failed {
        /// Why it failed.
        failure: ProbeFailure,
        /// Failures in a row, this one included.
        failures: u32,
    },
    /// A failure that removes the server: stop picking it. [`ProbeSchedule::health`] says
    /// whether it is re-checked or gone for good.
    Removed(ProbeFailure),
}

/// The last judged probe of a server.
#[derive(Debug, Clone, PartialEq)]
pub struct LastProbe {
    /// When its result was handed in (or its deadline passed).
    pub finished: Instant,
    /// The verdict on the download itself.
    pub result: Result<Measurement, ProbeFailure>,
}

/// How many judged probes of each server [`ProbeStatus::recent`] keeps: enough for the status
/// page's sparkline (ten minutes at a 30 s interval), bounded whatever the run time.
pub const PROBE_HISTORY: usize = 20;

/// One server as the schedule sees it, for status pages.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeStatus {
    /// How it stands.
    pub health: Health,
    /// Its last judged probe.
    pub last: Option<LastProbe>,
    /// Its last [`PROBE_HISTORY`] judged probes at most, oldest first (the last is `last`);
    /// emptied when a reload probes it afresh.
    pub recent: Vec<LastProbe>,
    /// Passes in a row.
    pub passes: u32,
    /// Failures in a row.
    pub failures: u32,
    /// Every failed probe of it so far (since it was added), for a `_total` metric.
    pub failures_total: u64,
    /// When its next probe starts; `None` while one is running or when it is never probed
    /// again.
    pub next_probe: Option<Instant>,
    /// A probe of it is running.
    pub probing: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    /// Not running; the next probe is due at `due` (`None`: never).
    Idle { due: Option<Instant> },
    /// Running; fails at `deadline`. `regular_due`: when the next probe is due if this one
    /// passes and the server stays live.
    InFlight {
        deadline: Instant,
        regular_due: Instant,
    },
}

#[derive(Debug, Clone)]
struct Slot {
    health: Health,
    /// Dropped from the configuration: never probed, its results ignored.
    retired: bool,
    run: Run,
    passes: u32,
    failures: u32,
    failures_total: u64,
    /// The delay before the next re-check while [`Health::Rechecking`] and failing.
    backoff: Duration,
    /// A verification probe is wanted now (requested at `last_report`).
    verify: bool,
    last_report: Option<Instant>,
    /// The last [`PROBE_HISTORY`] judged probes, oldest first.
    recent: VecDeque<LastProbe>,
}

impl Slot {
    fn pending(now: Instant) -> Slot {
        Slot {
            health: Health::Pending,
            retired: false,
            run: Run::Idle { due: Some(now) },
            passes: 0,
            failures: 0,
            failures_total: 0,
            backoff: RECHECK_START,
            verify: false,
            last_report: None,
            recent: VecDeque::new(),
        }
    }
}

/// Which servers to probe, and when; each server's [`Health`]. See the module docs for the
/// policy and the caller's loop.
#[derive(Debug, Clone)]
pub struct ProbeSchedule {
    interval: Duration,
    timeout: Duration,
    readmit: Option<Readmit>,
    slots: Vec<Slot>,
    first_round_complete: bool,
}

/// The shortest interval and timeout [`ProbeSchedule`] uses: smaller values are raised to it,
/// so a zero interval cannot make the shell spin.
pub const MIN_PERIOD: Duration = Duration::from_millis(1);

impl ProbeSchedule {
    /// A schedule for `servers` servers (indices `0..servers`), all due for their first probe
    /// at `now`. `interval` and `timeout` are raised to at least [`MIN_PERIOD`]. `readmit`:
    /// whether removed servers are re-checked, see the module docs.
    pub fn new(
        servers: usize,
        interval: Duration,
        timeout: Duration,
        readmit: Option<Readmit>,
        now: Instant,
    ) -> Self {
        ProbeSchedule {
            interval: interval.max(MIN_PERIOD),
            timeout: timeout.max(MIN_PERIOD),
            readmit,
            slots: vec![Slot::pending(now); servers],
            first_round_complete: servers == 0,
        }
    }

    /// The interval between probes of a live server.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How long a probe may run.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The re-admission settings, if removed servers are re-checked.
    pub fn readmit(&self) -> Option<Readmit> {
        self.readmit
    }

    /// The delay between quick re-checks: [`RECHECK_START`], capped at the interval.
    fn step(&self) -> Duration {
        RECHECK_START.min(self.interval)
    }

    /// Add a server, due for its first probe at `now` ([`Health::Pending`]). Returns its index.
    pub fn add(&mut self, now: Instant) -> usize {
        self.slots.push(Slot::pending(now));
        self.slots.len() - 1
    }

    /// Start server `index` afresh: pending, due for a probe at `now`, no history. Used for a
    /// server that comes back into the configuration. A probe still running counts as its
    /// first.
    pub fn restart(&mut self, index: usize, now: Instant) {
        if let Some(slot) = self.slots.get_mut(index) {
            let run = slot.run;
            *slot = Slot::pending(now);
            if matches!(run, Run::InFlight { .. }) {
                slot.run = run;
            }
        }
    }

    /// Forget server `index` (dropped from the configuration): it is never probed again and a
    /// result still to come is ignored. [`ProbeSchedule::restart`] brings it back.
    pub fn retire(&mut self, index: usize) {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.retired = true;
            slot.verify = false;
        }
        self.update_first_round();
    }

    /// The next server to start probing now, if any is due; it is marked in flight until
    /// [`ProbeSchedule::handle_result`] or its timeout. Call repeatedly until `None`.
    pub fn poll_probe(&mut self, now: Instant) -> Option<usize> {
        let index = self.slots.iter().position(|s| {
            !s.retired
                && matches!(s.run, Run::Idle { due } if s.verify || due.is_some_and(|d| d <= now))
        })?;
        let interval = self.interval;
        let deadline = now + self.timeout;
        let slot = &mut self.slots[index];
        let Run::Idle { due: Some(due) } = slot.run else {
            return None;
        };
        // A verification probe ahead of time leaves the regular one where it was.
        let regular_due = if due > now {
            due
        } else if due + interval <= now {
            now + interval
        } else {
            due + interval
        };
        slot.verify = false;
        slot.run = Run::InFlight {
            deadline,
            regular_due,
        };
        Some(index)
    }

    /// When the probe of `index` times out, if one is in flight. The shell may use it to stop
    /// a download that can no longer count.
    pub fn deadline(&self, index: usize) -> Option<Instant> {
        match self.slots.get(index)?.run {
            Run::InFlight { deadline, .. } => Some(deadline),
            Run::Idle { .. } => None,
        }
    }

    /// Hand in the result of the probe of `index`, finished at `now`, and get what it changed.
    /// A result at or past the probe's deadline is judged as [`ProbeFailure::Timeout`].
    /// Returns `None`, changing nothing, when no probe of `index` is in flight (a late result
    /// after a timeout, an unknown index, a duplicate) or the server was retired: the caller
    /// then ignores it.
    pub fn handle_result(
        &mut self,
        index: usize,
        now: Instant,
        result: Result<Measurement, ProbeFailure>,
    ) -> Option<Verdict> {
        let slot = self.slots.get_mut(index)?;
        let Run::InFlight { deadline, .. } = slot.run else {
            return None;
        };
        let result = if now >= deadline {
            Err(ProbeFailure::Timeout)
        } else {
            result
        };
        self.apply(index, now, result)
    }

    /// Judge `result` for the in-flight probe of `index`.
    fn apply(
        &mut self,
        index: usize,
        now: Instant,
        result: Result<Measurement, ProbeFailure>,
    ) -> Option<Verdict> {
        let step = self.step();
        let interval = self.interval;
        let readmit = self.readmit;
        let rise = readmit.map_or(1, |r| r.rise.max(1));
        let fall = readmit.map_or(1, |r| r.fall.max(1));
        let slot = &mut self.slots[index];
        let Run::InFlight { regular_due, .. } = slot.run else {
            return None;
        };
        if slot.retired {
            slot.run = Run::Idle { due: None };
            return None;
        }
        if slot.recent.len() == PROBE_HISTORY {
            slot.recent.pop_front();
        }
        slot.recent.push_back(LastProbe {
            finished: now,
            result: result.clone(),
        });
        let (due, verdict) = match result {
            Ok(m) => {
                slot.failures = 0;
                slot.passes = slot.passes.saturating_add(1);
                match slot.health {
                    Health::Live => (regular_due, Verdict::Measured(m)),
                    Health::Rechecking if slot.passes < rise => (
                        now + step,
                        Verdict::Rising {
                            measurement: m,
                            passes: slot.passes,
                        },
                    ),
                    Health::Rechecking => {
                        slot.health = Health::Live;
                        slot.backoff = step;
                        (now + interval, Verdict::Admitted(m))
                    }
                    Health::Pending | Health::Removed => {
                        slot.health = Health::Live;
                        (regular_due, Verdict::Admitted(m))
                    }
                }
            }
            Err(failure) => {
                slot.passes = 0;
                slot.failures = slot.failures.saturating_add(1);
                slot.failures_total = slot.failures_total.saturating_add(1);
                match slot.health {
                    Health::Live if slot.failures < fall => (
                        now + step,
                        Verdict::Failed {
                            failure,
                            failures: slot.failures,
                        },
                    ),
                    Health::Rechecking => {
                        slot.backoff = (slot.backoff * 2).min(interval);
                        (
                            now + slot.backoff,
                            Verdict::Failed {
                                failure,
                                failures: slot.failures,
                            },
                        )
                    }
                    Health::Live | Health::Pending | Health::Removed => {
                        slot.verify = false;
                        if readmit.is_some() {
                            slot.health = Health::Rechecking;
                            slot.backoff = step;
                            (now + step, Verdict::Removed(failure))
                        } else {
                            slot.health = Health::Removed;
                            slot.run = Run::Idle { due: None };
                            self.update_first_round();
                            return Some(Verdict::Removed(failure));
                        }
                    }
                }
            }
        };
        slot.run = Run::Idle { due: Some(due) };
        self.update_first_round();
        Some(verdict)
    }

    /// A client reported that it could not reach server `index` at `now`. If the server is
    /// live and no verification probe of it started in the last [`REPORT_PERIOD`], one is due
    /// at once (returns true). Reports are never trusted beyond that: only the probe's result
    /// counts.
    pub fn handle_report(&mut self, index: usize, now: Instant) -> bool {
        let Some(slot) = self.slots.get_mut(index) else {
            return false;
        };
        if slot.retired || slot.health != Health::Live {
            return false;
        }
        if slot.last_report.is_some_and(|t| now < t + REPORT_PERIOD) {
            return false;
        }
        slot.last_report = Some(now);
        match slot.run {
            Run::Idle { .. } => {
                slot.verify = true;
                true
            }
            // A probe is already on its way: its result is the verification.
            Run::InFlight { .. } => false,
        }
    }

    /// The earliest instant at which something is due: a probe to start or an in-flight probe's
    /// deadline. `None` when nothing is left to probe. An instant in the past means "now".
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter(|s| !s.retired)
            .filter_map(|s| match s.run {
                Run::Idle { .. } if s.verify => s.last_report,
                Run::Idle { due } => due,
                Run::InFlight { deadline, .. } => Some(deadline),
            })
            .min()
    }

    /// Fail every in-flight probe whose deadline is at or before `now` with
    /// [`ProbeFailure::Timeout`]; returns their indices and verdicts, in index order. Calling it
    /// early or twice is harmless. Afterwards call [`ProbeSchedule::poll_probe`]: probes may be
    /// due too.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<(usize, Verdict)> {
        let overdue: Vec<usize> = (0..self.slots.len())
            .filter(
                |&i| matches!(self.slots[i].run, Run::InFlight { deadline, .. } if deadline <= now),
            )
            .collect();
        overdue
            .into_iter()
            .filter_map(|i| Some((i, self.apply(i, now, Err(ProbeFailure::Timeout))?)))
            .collect()
    }

    fn update_first_round(&mut self) {
        if !self.first_round_complete {
            self.first_round_complete = self
                .slots
                .iter()
                .all(|s| s.retired || s.health != Health::Pending);
        }
    }

    /// Every server has had its first probe judged (measured or removed). Stays true.
    pub fn first_round_complete(&self) -> bool {
        self.first_round_complete
    }

    /// Number of probes in flight (of servers not retired).
    pub fn in_flight(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| !s.retired && matches!(s.run, Run::InFlight { .. }))
            .count()
    }

    /// How server `index` stands; `None` if it does not exist or was retired.
    pub fn health(&self, index: usize) -> Option<Health> {
        self.slots
            .get(index)
            .filter(|s| !s.retired)
            .map(|s| s.health)
    }

    /// Everything known about server `index`; `None` if it does not exist or was retired.
    pub fn status(&self, index: usize) -> Option<ProbeStatus> {
        let slot = self.slots.get(index).filter(|s| !s.retired)?;
        Some(ProbeStatus {
            health: slot.health,
            last: slot.recent.back().cloned(),
            recent: slot.recent.iter().cloned().collect(),
            passes: slot.passes,
            failures: slot.failures,
            failures_total: slot.failures_total,
            next_probe: match slot.run {
                Run::Idle { .. } if slot.verify => slot.last_report,
                Run::Idle { due } => due,
                Run::InFlight { .. } => None,
            },
            probing: matches!(slot.run, Run::InFlight { .. }),
        })
    }
}
