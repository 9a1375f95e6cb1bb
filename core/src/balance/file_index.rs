//! What the balancer knows about which server holds the current copy of which file, and which
//! file check to run next.
//!
//! [`FileIndex`] is a state machine in the quinn-proto style. It is fed check results
//! ([`FileIndex::handle_check`]), client reports ([`FileIndex::handle_missing_report`]) and the
//! time; it hands out the checks to run ([`FileIndex::poll_check`]) and says when an unanswered
//! check times out ([`FileIndex::poll_timeout`], [`FileIndex::handle_timeout`]). A request is
//! answered by a [`crate::balance::file_pick::PickRequest`], which reads the index and asks it
//! for the checks it waits on. What it keeps:
//!
//! - one entry per path: the origin's last answer for it and each server's, with when each
//!   came. A server's answer is judged against the origin's ([`judge_copy`]) when either comes
//!   in, and the verdict kept beside it: a request reads verdicts and compares times, it never
//!   judges (a new origin answer re-judges every server of the path at once);
//! - an answer is fresh for `file_ttl` when it shows the current copy (or the origin has it),
//!   for `miss_ttl` when it shows a missing file or another version; after that the server is
//!   unknown again and checked anew when a request wants it. A failed check (timeout, error)
//!   leaves the server unknown, never "lacks it", and may be retried after `retry_after`;
//! - at most one check per (target, path) queued or running, however many requests wait on it;
//!   a running check has failed after `verify_timeout` ([`CheckFailure::Timeout`]), and an
//!   answer handed in at or after that deadline is a timeout too;
//! - at most `capacity` entries, the least recently used (by requests and reports) evicted.
//!
//! Memory: an entry takes [`FileIndex::bytes_per_entry`] bytes, from the sizes of its types
//! (a test pins them). On x86_64 Linux: 81 bytes for its slot and hash bucket, 16 + the path's
//! length for the path (one copy, shared by every server and by running checks), 88 bytes per
//! server that was asked (plus 65 for a digest, if its answer gave one), and 88 + 16 for the
//! origin's answer when an origin is configured. So 3 servers and a 40-byte path take 401 bytes
//! (505 with an origin): the default 100,000 entries take 40 to 51 MB. Not counted: the spare
//! room of the slab and the hash table (both grow by doubling: 56 and 25 bytes per spare
//! place) and the allocator's own overhead on an entry's two or three allocations. A counting
//! allocator (core/tests/file_index_memory.rs) sees 220 bytes asked per entry with one server
//! and 7-byte paths, 192 by the sizes.
//!
//! The shell's loop: after every `handle_*` call and every [`PickRequest`] poll, call
//! [`FileIndex::poll_check`] until it gives `None`, running one `HEAD` per job; when a result
//! comes in, hand it to [`FileIndex::handle_check`] and wake the requests that wait (they poll
//! again); sleep at most until [`FileIndex::poll_timeout`].
//!
//! [`PickRequest`]: crate::balance::file_pick::PickRequest

use crate::balance::file_check::{
    judge_copy, CheckFailure, CheckJob, CheckResult, FileHead, Presence, Target,
};
use crate::balance::lru::Lru;
use crate::balance::mirror_list::{CopyState, FileCounters, MirrorList, ServerCopy};
use crate::balance::pool::Ranking;
use crate::http::digest::Digest;
use crate::http::status::Status;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A client report ([`FileIndex::handle_missing_report`]) makes at most one re-check of a server
/// for a path due per this period, however many reports come in.
pub const MISSING_REPORT_PERIOD: Duration = Duration::from_secs(5);

/// The origin's 200 without a digest is asked again this long after it came, while requests
/// come (in the background: they go on with the answer in hand), at most [`DIGEST_TRIES`]
/// times: a server hashes a file in the background, so the first `HEAD` that asks for its
/// digest is often answered before it is known.
pub const DIGEST_RETRY: Duration = Duration::from_secs(2);

/// Answers of the origin without a digest, in a row, after which it is not asked again for one
/// before the answer expires.
pub const DIGEST_TRIES: u8 = 3;

/// How the index judges and remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileIndexConfig {
    /// An origin is configured: a server's copy is current only when it matches the origin's.
    /// Without one, a 200 with a length is enough.
    pub origin: bool,
    /// How long an answer showing the current copy stays fresh (default 5 min).
    pub file_ttl: Duration,
    /// How long an answer showing a missing file or another version stays fresh (default 30 s).
    pub miss_ttl: Duration,
    /// How far apart the server's and the origin's `Last-Modified` may be (default 2 s).
    pub mtime_slack: Duration,
    /// At most this many paths are remembered (default 100,000; at least 1).
    pub capacity: usize,
    /// A check still running this long after it was handed out has failed (default 2 s).
    pub verify_timeout: Duration,
    /// A failed check is not retried before this long after it failed (default 1 s); meanwhile
    /// requests go to other servers.
    pub retry_after: Duration,
    /// When a request that had to wait for a check is redirected, also check this many of the
    /// other live servers (best ranked first) whose answer for the path is unknown or stale,
    /// in the background: the next redirects' `Link` headers and the Metalink name every
    /// server known to hold the current copy, and that list fills up in one round of checks
    /// rather than one server per request. Requests served from fresh answers look at no other
    /// server. Default 0 (the balancer sets it to `--links`).
    pub look_ahead: usize,
}

impl Default for FileIndexConfig {
    fn default() -> Self {
        FileIndexConfig {
            origin: false,
            file_ttl: Duration::from_secs(300),
            miss_ttl: Duration::from_secs(30),
            mtime_slack: Duration::from_secs(2),
            capacity: 100_000,
            verify_timeout: Duration::from_secs(2),
            retry_after: Duration::from_secs(1),
            look_ahead: 0,
        }
    }
}

/// A server's last answer judged against the origin's last answer when either came in (so
/// a request reads it without judging anew): whether it is fresh is still read at each look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Verdict {
    /// No answer, or the check failed.
    #[default]
    None,
    /// The current copy.
    Has,
    /// Lacks it, or another version.
    NotCurrent,
    /// A 200, and the origin has not answered yet.
    NeedOrigin,
}

/// One target's knowledge of one path.
#[derive(Debug, Clone, Default)]
struct Knowledge {
    /// The last answer and when it came.
    answer: Option<(Instant, CheckResult)>,
    /// The last client report that made a re-check due.
    reported: Option<Instant>,
    /// A server's answer judged ([`judge`]); kept up to date by [`FileIndex::record`].
    verdict: Verdict,
    /// 200s without a digest in a row.
    undigested: u8,
    queued: bool,
    in_flight: bool,
    /// A server's answer that waits for the origin's before it is counted.
    uncounted: bool,
}

const NO_KNOWLEDGE: Knowledge = Knowledge {
    answer: None,
    reported: None,
    verdict: Verdict::None,
    undigested: 0,
    queued: false,
    in_flight: false,
    uncounted: false,
};

/// Everything known about one path.
#[derive(Debug, Clone, Default)]
pub(crate) struct Entry {
    /// Boxed: without an origin, an entry pays 8 bytes for it, not a whole `Knowledge`.
    origin: Option<Box<Knowledge>>,
    /// By server index; grows to the highest index touched.
    servers: Vec<Knowledge>,
}

impl Entry {
    fn get(&self, target: Target) -> &Knowledge {
        match target {
            Target::Origin => self.origin.as_deref().unwrap_or(&NO_KNOWLEDGE),
            Target::Server(i) => self.servers.get(i).unwrap_or(&NO_KNOWLEDGE),
        }
    }

    fn get_mut(&mut self, target: Target) -> &mut Knowledge {
        match target {
            Target::Origin => self.origin.get_or_insert_with(Box::default),
            Target::Server(i) => {
                if self.servers.len() <= i {
                    // Exactly: a plain resize would make room for 4 (a Vec's least capacity
                    // for elements this size), 312 bytes per path for nothing.
                    self.servers.reserve_exact(i + 1 - self.servers.len());
                    self.servers.resize(i + 1, Knowledge::default());
                }
                &mut self.servers[i]
            }
        }
    }
}

/// What a request may do with one target for one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// A fresh answer showing the current copy (for the origin: a 200).
    Has,
    /// A fresh answer showing a missing file or another version (for the origin: not a 200).
    NotCurrent,
    /// A fresh 200 from a server, not judged yet: the origin's answer is not in.
    NeedOrigin,
    /// No fresh answer; a check is queued or running.
    Checking,
    /// No fresh answer and no check: one may be asked for.
    Due,
    /// The last check failed a moment ago: not retried yet.
    Backoff,
}

#[derive(Debug, Clone)]
struct InFlight {
    target: Target,
    path: Arc<str>,
    deadline: Instant,
}

/// Per-(server, path) knowledge of who holds the current copy of a file. See the module docs.
#[derive(Debug)]
pub struct FileIndex {
    config: FileIndexConfig,
    entries: Lru<Entry>,
    queue: VecDeque<(Target, Arc<str>)>,
    in_flight: HashMap<u64, InFlight>,
    deadlines: BTreeSet<(Instant, u64)>,
    next_id: u64,
    counters: FileCounters,
}

impl FileIndex {
    /// An empty index.
    pub fn new(config: FileIndexConfig) -> FileIndex {
        FileIndex {
            config,
            entries: Lru::new(config.capacity),
            queue: VecDeque::new(),
            in_flight: HashMap::new(),
            deadlines: BTreeSet::new(),
            next_id: 0,
            counters: FileCounters::default(),
        }
    }

    /// The configuration it was made with.
    pub fn config(&self) -> &FileIndexConfig {
        &self.config
    }

    /// Paths remembered now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No path remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// The counts, entries and evictions included.
    pub fn counters(&self) -> FileCounters {
        FileCounters {
            entries: self.entries.len(),
            evictions: self.entries.evictions(),
            in_flight: self.in_flight.len(),
            ..self.counters
        }
    }

    /// Bytes one entry takes with answers from `servers` servers, the origin's if `origin`, and
    /// a path of `path_len` bytes (without digests), from the sizes of the types on this
    /// target.
    pub fn bytes_per_entry(servers: usize, origin: bool, path_len: usize) -> usize {
        const ARC_HEADER: usize = 2 * std::mem::size_of::<usize>();
        let knowledge = std::mem::size_of::<Knowledge>();
        let origin = if origin { knowledge + ARC_HEADER } else { 0 };
        Lru::<Entry>::bytes_per_slot() + ARC_HEADER + path_len + servers * knowledge + origin
    }

    /// Where `server` stands for `path` now. Does not count as a use of the path.
    pub fn presence(&self, server: usize, path: &str, now: Instant) -> Presence {
        self.presence_in(self.entries.peek(path), Target::Server(server), now)
    }

    /// A check of `target` for `path` is queued or running.
    pub fn is_checking(&self, target: Target, path: &str) -> bool {
        self.entries
            .peek(path)
            .is_some_and(|e| e.get(target).queued || e.get(target).in_flight)
    }

    /// The next check to run, if any. Never one for a (target, path) whose previous check is
    /// still running. The check has failed if its answer is not in by `now + verify_timeout`.
    pub fn poll_check(&mut self, now: Instant) -> Option<CheckJob> {
        while let Some((target, path)) = self.queue.pop_front() {
            let Some(entry) = self.entries.peek_mut(&path) else {
                continue;
            };
            let k = entry.get_mut(target);
            if !k.queued || k.in_flight {
                continue;
            }
            k.queued = false;
            k.in_flight = true;
            let id = self.next_id;
            self.next_id += 1;
            let deadline = now + self.config.verify_timeout;
            self.deadlines.insert((deadline, id));
            self.in_flight.insert(
                id,
                InFlight {
                    target,
                    path: path.clone(),
                    deadline,
                },
            );
            return Some(CheckJob::new(target, path, id));
        }
        None
    }

    /// The answer to `job`. Returns false, changing nothing, if the job is not running any more
    /// (it timed out, or was answered already). An answer at or after the job's deadline is a
    /// [`CheckFailure::Timeout`], whatever it says.
    pub fn handle_check(&mut self, job: &CheckJob, result: CheckResult, now: Instant) -> bool {
        let Some(flight) = self.in_flight.remove(&job.id()) else {
            return false;
        };
        self.deadlines.remove(&(flight.deadline, job.id()));
        let result = if now >= flight.deadline {
            Err(CheckFailure::Timeout)
        } else {
            result
        };
        self.record(job.target(), job.shared_path(), result, now);
        true
    }

    /// When the earliest running check times out, if any is running.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(deadline, _)| deadline)
    }

    /// Fail every running check whose deadline is at or before `now`. Spurious calls are
    /// harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(deadline, id)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(flight) = self.in_flight.remove(&id) {
                self.record(flight.target, &flight.path, Err(CheckFailure::Timeout), now);
            }
        }
    }

    /// A client says `server` answered 404 or 410 for `path`. The report is not believed: it
    /// makes a re-check due (at most one per server and path per [`MISSING_REPORT_PERIOD`]);
    /// until that check answers, the server keeps its state. Returns whether a re-check was
    /// queued. Counts as a use of the path.
    pub fn handle_missing_report(&mut self, server: usize, path: &str, now: Instant) -> bool {
        let slot = self.touch(path);
        let k = self.entries.at_mut(slot).get_mut(Target::Server(server));
        if k.reported
            .is_some_and(|at| now < at + MISSING_REPORT_PERIOD)
        {
            return false;
        }
        k.reported = Some(now);
        if k.queued || k.in_flight {
            return false;
        }
        self.counters.report_rechecks += 1;
        self.want_at(slot, Target::Server(server));
        true
    }

    /// An answer of `target` for `path` that another balancer process got at `at` (on this
    /// process's clock): recorded as if this process had checked, so it asks no `HEAD` of its
    /// own while the answer is fresh. Ignored when this process holds a newer answer. A check
    /// of its own still queued is dropped unless a client report newer than the answer made it
    /// due (waiting requests poll again and read the answer); a running one goes on and is
    /// recorded when it answers. A client report within [`MISSING_REPORT_PERIOD`] after the
    /// answer makes no re-check (the process that checked may have been re-checking on a
    /// report of its own). Not counted as a check. Counts as a use of the path. Returns
    /// whether it was recorded.
    pub fn handle_shared(
        &mut self,
        target: Target,
        path: &str,
        head: FileHead,
        at: Instant,
    ) -> bool {
        let slot = self.touch(path);
        let k = self.entries.at_mut(slot).get_mut(target);
        if k.answer.as_ref().is_some_and(|(known, _)| *known >= at) {
            return false;
        }
        if k.reported.is_none_or(|reported| reported <= at) {
            k.queued = false;
            // As fresh as a re-check a report here would make: reports reaching several
            // processes make one re-check per period between them.
            k.reported = Some(at);
        }
        let in_flight = k.in_flight;
        let counters = self.counters;
        self.record(target, path, Ok(head), at);
        self.counters = counters;
        self.entries.at_mut(slot).get_mut(target).in_flight = in_flight;
        true
    }

    /// Every server's state for `path` (servers `0..servers`; live ones are those in
    /// `ranking`), and the origin's. Does not count as a use of the path.
    pub fn mirror_list(
        &self,
        path: &str,
        ranking: &Ranking,
        servers: usize,
        now: Instant,
    ) -> MirrorList {
        let entry = self.entries.peek(path);
        let state = |target: Target| {
            let k = entry.map_or(&NO_KNOWLEDGE, |e| e.get(target));
            CopyState {
                presence: self.presence_in(entry, target, now),
                head: k
                    .answer
                    .as_ref()
                    .and_then(|(_, r)| r.as_ref().ok().cloned()),
                failure: k
                    .answer
                    .as_ref()
                    .and_then(|(_, r)| r.as_ref().err().copied()),
                checked: k.answer.as_ref().map(|&(at, _)| at),
                checking: k.queued || k.in_flight,
            }
        };
        MirrorList {
            origin: self.config.origin.then(|| state(Target::Origin)),
            servers: (0..servers)
                .map(|server| ServerCopy {
                    server,
                    live: ranking.table().iter().any(|r| r.index == server),
                    state: state(Target::Server(server)),
                })
                .collect(),
        }
    }

    /// Make `path` the most recently used, creating its entry (and evicting the least recently
    /// used one when full): its slot, for [`FileIndex::entry_at`] and [`FileIndex::want_at`]
    /// until the next call. The one lookup of the path a request's poll makes.
    pub(crate) fn touch(&mut self, path: &str) -> u32 {
        let (slot, inserted) = self.entries.touch(path, Entry::default);
        if inserted && !self.in_flight.is_empty() {
            // Checks of an evicted entry may still be running: never start a second one.
            let entry = self.entries.at_mut(slot);
            for flight in self.in_flight.values() {
                if *flight.path == *path {
                    entry.get_mut(flight.target).in_flight = true;
                }
            }
        }
        slot
    }

    /// Queue a check of `target` for the path in `slot` unless one is queued or running.
    pub(crate) fn want_at(&mut self, slot: u32, target: Target) {
        let k = self.entries.at_mut(slot).get_mut(target);
        if !k.queued && !k.in_flight {
            k.queued = true;
            let key = self.entries.key_at(slot).clone();
            self.queue.push_back((target, key));
        }
    }

    /// The entry in `slot` (from [`FileIndex::touch`]).
    pub(crate) fn entry_at(&self, slot: u32) -> &Entry {
        self.entries.at(slot)
    }

    /// The digest `target` gave with its last 200 in `slot`, fresh or not.
    pub(crate) fn digest_at(&self, slot: u32, target: Target) -> Option<&Digest> {
        match &self.entries.at(slot).get(target).answer {
            Some((_, Ok(head))) if head.status == Status::OK => head.digest.as_deref(),
            _ => None,
        }
    }

    /// Whether the origin's answer in `slot` is a 200 without a digest that is worth asking
    /// again ([`DIGEST_RETRY`], [`DIGEST_TRIES`]); no check of it is queued or running.
    pub(crate) fn origin_digest_due(&self, slot: u32, now: Instant) -> bool {
        let k = self.entries.at(slot).get(Target::Origin);
        match &k.answer {
            Some((at, Ok(head))) => {
                head.status == Status::OK
                    && head.digest.is_none()
                    && k.undigested < DIGEST_TRIES
                    && !k.queued
                    && !k.in_flight
                    && now >= *at + DIGEST_RETRY
            }
            _ => false,
        }
    }

    /// Whether `entry` holds a fresh answer of the origin (any status): what a server's 200 is
    /// judged against.
    pub(crate) fn origin_fresh(&self, entry: Option<&Entry>, now: Instant) -> bool {
        matches!(
            self.view_in(entry, Target::Origin, now, false),
            View::Has | View::NotCurrent
        )
    }

    /// What a request may do with `target` given `entry`'s knowledge; `origin_fresh` is
    /// [`FileIndex::origin_fresh`] of the same entry (unused for the origin itself). No
    /// judging here: a server's answer was judged when it or the origin's came in.
    pub(crate) fn view_in(
        &self,
        entry: Option<&Entry>,
        target: Target,
        now: Instant,
        origin_fresh: bool,
    ) -> View {
        let k = entry.map_or(&NO_KNOWLEDGE, |e| e.get(target));
        let pending = if k.queued || k.in_flight {
            View::Checking
        } else {
            View::Due
        };
        match &k.answer {
            None => pending,
            Some((at, Err(_))) => {
                if pending == View::Due && now < *at + self.config.retry_after {
                    View::Backoff
                } else {
                    pending
                }
            }
            Some((at, Ok(head))) => {
                let view = match target {
                    Target::Origin if head.status == Status::OK => View::Has,
                    Target::Origin => View::NotCurrent,
                    // A 200 is only as good as the origin's answer it was judged against.
                    Target::Server(_)
                        if self.config.origin && head.status == Status::OK && !origin_fresh =>
                    {
                        View::NeedOrigin
                    }
                    Target::Server(_) => match k.verdict {
                        Verdict::Has => View::Has,
                        Verdict::NotCurrent => View::NotCurrent,
                        Verdict::NeedOrigin | Verdict::None => View::NeedOrigin,
                    },
                };
                let ttl = match view {
                    View::NotCurrent => self.config.miss_ttl,
                    _ => self.config.file_ttl,
                };
                if now >= *at + ttl {
                    pending
                } else {
                    view
                }
            }
        }
    }

    /// Where `target` stands given `entry`'s knowledge, with the length and date of another
    /// version (judged anew: for the mirror list, not for requests).
    fn presence_in(&self, entry: Option<&Entry>, target: Target, now: Instant) -> Presence {
        let origin_fresh = self.origin_fresh(entry, now);
        match self.view_in(entry, target, now, origin_fresh) {
            View::Has => Presence::Has,
            View::NotCurrent => {
                let k = entry.map_or(&NO_KNOWLEDGE, |e| e.get(target));
                let Some((_, Ok(head))) = &k.answer else {
                    return Presence::Unknown;
                };
                let origin = entry
                    .and_then(|e| e.origin.as_ref())
                    .and_then(|o| o.answer.as_ref())
                    .and_then(|(_, r)| r.as_ref().ok())
                    .filter(|_| self.config.origin);
                match target {
                    Target::Origin => Presence::Lacks(head.status),
                    Target::Server(_) => judge_copy(head, origin, self.config.mtime_slack),
                }
            }
            View::NeedOrigin | View::Checking | View::Due | View::Backoff => Presence::Unknown,
        }
    }

    fn record(&mut self, target: Target, path: &str, result: CheckResult, now: Instant) {
        let config = self.config;
        let Some(entry) = self.entries.peek_mut(path) else {
            return;
        };
        let k = entry.get_mut(target);
        k.in_flight = false;
        if std::mem::take(&mut k.uncounted) {
            self.counters.unknown += 1;
        }
        let origin = (entry.origin.as_ref())
            .and_then(|o| o.answer.as_ref())
            .and_then(|(_, r)| r.as_ref().ok());
        let mut uncounted = false;
        let mut verdict = Verdict::None;
        match target {
            Target::Origin => {
                self.counters.origin_checks += 1;
                let origin = result.as_ref().ok();
                for k in &mut entry.servers {
                    let head = k.answer.as_ref().and_then(|(_, r)| r.as_ref().ok());
                    if std::mem::take(&mut k.uncounted) {
                        count(&mut self.counters, head, origin, config);
                    }
                    // Every server judged anew against the origin's new answer.
                    k.verdict = head.map_or(Verdict::None, |head| judge(head, origin, config));
                }
            }
            Target::Server(_) => {
                let head = result.as_ref().ok();
                // A 200 is judged against the origin's answer: counted when that comes.
                uncounted = config.origin
                    && head.is_some_and(|h| h.status == Status::OK)
                    && origin.is_none();
                if !uncounted {
                    count(&mut self.counters, head, origin, config);
                }
                verdict = head.map_or(Verdict::None, |head| judge(head, origin, config));
            }
        }
        let k = entry.get_mut(target);
        match &result {
            Ok(head) if head.status == Status::OK && head.digest.is_none() => {
                k.undigested = k.undigested.saturating_add(1)
            }
            Ok(_) => k.undigested = 0,
            Err(_) => {}
        }
        k.answer = Some((now, result));
        k.uncounted = uncounted;
        k.verdict = verdict;
    }
}

/// Count one server check: `head` is its answer (`None`: it failed), `origin` the origin's.
fn count(
    counters: &mut FileCounters,
    head: Option<&FileHead>,
    origin: Option<&FileHead>,
    config: FileIndexConfig,
) {
    let presence = match head {
        None => Presence::Unknown,
        Some(head) if config.origin && head.status == Status::OK && origin.is_none() => {
            Presence::Unknown
        }
        Some(head) => judge_copy(head, origin.filter(|_| config.origin), config.mtime_slack),
    };
    match presence {
        Presence::Has => counters.has += 1,
        Presence::Lacks(_) => counters.lacks += 1,
        Presence::OtherVersion { .. } => counters.other_version += 1,
        Presence::Unknown => counters.unknown += 1,
    }
}

/// A server's answer `head` judged against the origin's last answer (`None`: none yet, or its
/// check failed).
fn judge(head: &FileHead, origin: Option<&FileHead>, config: FileIndexConfig) -> Verdict {
    if config.origin && head.status == Status::OK && origin.is_none() {
        return Verdict::NeedOrigin;
    }
    match judge_copy(head, origin.filter(|_| config.origin), config.mtime_slack) {
        Presence::Has => Verdict::Has,
        _ => Verdict::NotCurrent,
    }
}

/// The figures the module docs state; other targets lay the types out differently.
#[cfg(all(test, target_pointer_width = "64", target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn bytes_per_entry_as_documented() {
        assert_eq!(Lru::<Entry>::bytes_per_slot(), 81);
        assert_eq!(std::mem::size_of::<Knowledge>(), 88);
        assert_eq!(FileIndex::bytes_per_entry(3, false, 40), 401);
        assert_eq!(FileIndex::bytes_per_entry(3, true, 40), 505);
    }
}
