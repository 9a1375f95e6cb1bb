//! When to probe which server, and how to judge a probe.
//!
//! [`ProbeSchedule`] is a state machine in the quinn-proto style: every time-aware call takes
//! `now`, [`ProbeSchedule::poll_timeout`] says when to call [`ProbeSchedule::handle_timeout`]
//! next, and spurious or late calls are harmless. It knows servers only by index (the index in
//! the [`crate::pool::Pool`]). The policy it implements:
//!
//! - the first round probes every server at once, at construction time;
//! - then each live server is probed again every `interval` (rounds stay aligned on the
//!   construction time: due at `start`, `start + interval`, `start + 2 * interval`, ...; if the
//!   caller was so late that a due time has already passed, the next one is `interval` after the
//!   late start);
//! - a server is never probed twice at once: if a probe is still running when the next is due,
//!   the next starts as soon as the result is in;
//! - a probe still running `timeout` after it started has failed ([`ProbeFailure::Timeout`]);
//!   a result handed in at or after that deadline is a timeout too, whatever it says;
//! - a failed probe removes the server for good: it is never probed again.
//!
//! [`judge`] turns what the shell observed during a probe download into a
//! [`Measurement`] or a [`ProbeFailure`].
//!
//! The shell's loop (or use [`crate::balancer::Balancer`], which wraps this with the pool):
//! after construction and after every `handle_*` call, call [`ProbeSchedule::poll_probe`] until
//! it gives `None`, starting one download per index; then sleep until
//! [`ProbeSchedule::poll_timeout`] or until a download finishes, whichever is first.

use crate::pool::Measurement;
use std::fmt;
use std::time::{Duration, Instant};

/// Why a probe failed. Any failure removes the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeFailure {
    /// Could not connect (refused, unreachable, name not resolved): the OS error text.
    Connect(String),
    /// No complete answer within the probe timeout.
    Timeout,
    /// The server answered with a status other than 200.
    Status(u16),
    /// The body was not as long as the response's Content-Length announced.
    WrongLength {
        /// Bytes announced by Content-Length.
        expected: u64,
        /// Bytes received.
        received: u64,
    },
    /// The connection broke or the response was malformed: the error text.
    Transfer(String),
}

impl fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeFailure::Connect(why) => write!(f, "cannot connect: {why}"),
            ProbeFailure::Timeout => f.write_str("probe timed out"),
            ProbeFailure::Status(s) => write!(
                f,
                "answered {s} {} instead of 200",
                crate::status::reason_phrase(*s)
            ),
            ProbeFailure::WrongLength { expected, received } => write!(
                f,
                "received {received} bytes, Content-Length announced {expected}"
            ),
            ProbeFailure::Transfer(why) => write!(f, "download failed: {why}"),
        }
    }
}

impl std::error::Error for ProbeFailure {}

/// Judge a completed probe download: `status` of the response, the Content-Length it
/// announced (`Some(n)` when the response's body was [`crate::BodyKind::Length`]`(n)`, `None`
/// for chunked or close-delimited), the body bytes actually `received`, and the `elapsed` time
/// from starting to connect to the last byte.
///
/// Success needs status 200 and, when a length was announced, exactly that many bytes.
pub fn judge(
    status: u16,
    content_length: Option<u64>,
    received: u64,
    elapsed: Duration,
) -> Result<Measurement, ProbeFailure> {
    if status != 200 {
        return Err(ProbeFailure::Status(status));
    }
    if let Some(expected) = content_length {
        if expected != received {
            return Err(ProbeFailure::WrongLength { expected, received });
        }
    }
    Ok(Measurement {
        elapsed,
        bytes: received,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Not running; the next probe is due at `due`. `probed`: at least one result came in.
    Waiting { due: Instant, probed: bool },
    /// Running since `started`; fails at `deadline`; the following probe is due at `next_due`.
    /// `probed`: an earlier result came in (so the first round is over for this server even
    /// while it is probed again, which matters when a probe lasts longer than the interval).
    InFlight {
        started: Instant,
        deadline: Instant,
        next_due: Instant,
        probed: bool,
    },
    /// Failed once: never probed again.
    Removed,
}

/// Which servers to probe, and when. See the module docs for the policy and the caller's loop.
#[derive(Debug, Clone)]
pub struct ProbeSchedule {
    interval: Duration,
    timeout: Duration,
    slots: Vec<Slot>,
    first_round_complete: bool,
}

/// The shortest interval and timeout [`ProbeSchedule`] uses: smaller values are raised to it,
/// so a zero interval cannot make the shell spin.
pub const MIN_PERIOD: Duration = Duration::from_millis(1);

impl ProbeSchedule {
    /// A schedule for `servers` servers (indices `0..servers`), all due for their first probe
    /// at `now`. `interval` and `timeout` are raised to at least [`MIN_PERIOD`].
    pub fn new(servers: usize, interval: Duration, timeout: Duration, now: Instant) -> Self {
        ProbeSchedule {
            interval: interval.max(MIN_PERIOD),
            timeout: timeout.max(MIN_PERIOD),
            slots: vec![
                Slot::Waiting {
                    due: now,
                    probed: false,
                };
                servers
            ],
            first_round_complete: servers == 0,
        }
    }

    /// The interval between probes of a server.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How long a probe may run.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The next server to start probing now, if any is due; it is marked in flight until
    /// [`ProbeSchedule::handle_result`] or its timeout. Call repeatedly until `None`.
    pub fn poll_probe(&mut self, now: Instant) -> Option<usize> {
        let index = self
            .slots
            .iter()
            .position(|s| matches!(s, Slot::Waiting { due, .. } if *due <= now))?;
        let Slot::Waiting { due, probed } = self.slots[index] else {
            return None;
        };
        let mut next_due = due + self.interval;
        if next_due <= now {
            next_due = now + self.interval;
        }
        self.slots[index] = Slot::InFlight {
            started: now,
            deadline: now + self.timeout,
            next_due,
            probed,
        };
        Some(index)
    }

    /// When the probe of `index` started, if one is in flight.
    pub fn started(&self, index: usize) -> Option<Instant> {
        match self.slots.get(index) {
            Some(Slot::InFlight { started, .. }) => Some(*started),
            _ => None,
        }
    }

    /// When the probe of `index` times out, if one is in flight. The shell may use it to stop
    /// a download that can no longer count.
    pub fn deadline(&self, index: usize) -> Option<Instant> {
        match self.slots.get(index) {
            Some(Slot::InFlight { deadline, .. }) => Some(*deadline),
            _ => None,
        }
    }

    /// Hand in the result of the probe of `index`, finished at `now`. Returns the verdict to
    /// apply to the pool: the result itself, or [`ProbeFailure::Timeout`] if `now` is at or
    /// past the probe's deadline. Returns `None`, changing nothing, when no probe of `index` is
    /// in flight (a late result after a timeout, an unknown index, a duplicate): the caller
    /// then ignores it. A failure removes the server from the schedule.
    pub fn handle_result(
        &mut self,
        index: usize,
        now: Instant,
        result: Result<Measurement, ProbeFailure>,
    ) -> Option<Result<Measurement, ProbeFailure>> {
        let slot = self.slots.get_mut(index)?;
        let Slot::InFlight {
            deadline, next_due, ..
        } = *slot
        else {
            return None;
        };
        let verdict = if now >= deadline {
            Err(ProbeFailure::Timeout)
        } else {
            result
        };
        *slot = match verdict {
            Ok(_) => Slot::Waiting {
                due: next_due,
                probed: true,
            },
            Err(_) => Slot::Removed,
        };
        self.update_first_round();
        Some(verdict)
    }

    /// The earliest instant at which something is due: a probe to start or an in-flight probe's
    /// deadline. `None` when every server is removed. An instant in the past means "now".
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter_map(|s| match s {
                Slot::Waiting { due, .. } => Some(*due),
                Slot::InFlight { deadline, .. } => Some(*deadline),
                Slot::Removed => None,
            })
            .min()
    }

    /// When the next probe is due to start: the earliest due time of a waiting server, or of
    /// the next probe of one in flight. `None` when every server is removed.
    pub fn next_due(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter_map(|s| match s {
                Slot::Waiting { due, .. } => Some(*due),
                Slot::InFlight { next_due, .. } => Some(*next_due),
                Slot::Removed => None,
            })
            .min()
    }

    /// Fail every in-flight probe whose deadline is at or before `now`; returns their indices
    /// (now removed), in index order. Calling it early or twice is harmless. Afterwards call
    /// [`ProbeSchedule::poll_probe`]: probes may be due too.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<usize> {
        let mut failed = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if matches!(slot, Slot::InFlight { deadline, .. } if *deadline <= now) {
                *slot = Slot::Removed;
                failed.push(i);
            }
        }
        if !failed.is_empty() {
            self.update_first_round();
        }
        failed
    }

    fn update_first_round(&mut self) {
        if !self.first_round_complete {
            self.first_round_complete = self.slots.iter().all(|s| {
                matches!(
                    s,
                    Slot::Removed
                        | Slot::Waiting { probed: true, .. }
                        | Slot::InFlight { probed: true, .. }
                )
            });
        }
    }

    /// Every server has had its first probe judged (measured or removed). Stays true.
    pub fn first_round_complete(&self) -> bool {
        self.first_round_complete
    }

    /// Number of probes in flight.
    pub fn in_flight(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| matches!(s, Slot::InFlight { .. }))
            .count()
    }

    /// Whether server `index` was removed (or does not exist).
    pub fn is_removed(&self, index: usize) -> bool {
        !matches!(
            self.slots.get(index),
            Some(Slot::Waiting { .. } | Slot::InFlight { .. })
        )
    }
}
