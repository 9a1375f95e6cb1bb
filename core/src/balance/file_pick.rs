//! One request's pick among the servers that hold the current copy of its file.
//!
//! A [`PickRequest`] is made per request and polled ([`PickRequest::poll`]) until it gives
//! something other than [`PickStep::Wait`]. Each poll:
//!
//! 1. with an origin, needs the origin's answer for the path: asks for it when there is none
//!    (in parallel with the server's check); when the origin does not answer 200, or its check
//!    failed, the request goes to the origin ([`PickStep::Origin`]);
//! 2. makes today's weighted pick ([`Ranking::pick_where`]) among the live servers not known to
//!    lack the current copy (the weights renormalised over them), leaving out the servers this
//!    request already found wanting and those it was told to avoid (a server reported
//!    unreachable only while another may be picked);
//! 3. redirects to the pick when it is known to hold the current copy; when it is unknown,
//!    waits for its check (asking for one if none is queued or running), then goes back to 2,
//!    without it if it lacks the file or its check failed;
//! 4. after [`MAX_CHECKS_PER_REQUEST`] checks, picks only among servers known to hold it;
//! 5. when no server is left: the origin if there is one, else [`PickStep::NotFound`] when every
//!    live server is known not to hold the current copy, else [`PickStep::Unavailable`] (some
//!    server could not be checked, or none is live).
//!
//! A redirect never goes to a server known to lack the current copy, nor to one not seen to hold
//! it. The shell, after each poll, runs the checks [`FileIndex::poll_check`] hands out; on
//! [`PickStep::Wait`] it waits until a check result came in (any), then polls again.

use crate::balance::file_check::Target;
use crate::balance::file_index::{FileIndex, View};
use crate::balance::pool::Ranking;
use crate::http::digest::Digest;
use std::borrow::Cow;
use std::time::Instant;

/// A request waits on at most this many server checks; after that it is sent only to a server
/// already known to hold the file (or to the origin, or answered 404 or 503).
pub const MAX_CHECKS_PER_REQUEST: u32 = 3;

/// Draws over every live server before one over only those that may be picked.
const REJECTION_DRAWS: usize = 2;

/// What to do with the request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PickStep {
    /// Redirect to the server at this pool index: it holds the current copy.
    Redirect(usize),
    /// A check this request needs is queued or running: run what
    /// [`FileIndex::poll_check`] gives, and poll again when a check result has come in.
    Wait,
    /// Redirect to the origin: no server holds the current copy, the origin does not answer 200
    /// for it, or its check failed.
    Origin,
    /// No origin, and every live server is known not to hold the current copy: answer 404.
    NotFound,
    /// No origin, and no server could be shown to hold it (checks failed, no live server, or the
    /// request's checks ran out): answer 503.
    Unavailable,
}

/// One request's way to a server holding the current copy of its path. See the module docs.
#[derive(Debug, Clone)]
pub struct PickRequest<'p> {
    path: Cow<'p, str>,
    state: PickState,
}

/// What a [`PickRequest`] has found so far (apart from its path, so both can be borrowed at
/// once).
#[derive(Debug, Clone)]
struct PickState {
    /// Servers the client reported missing the file, and servers this request found wanting.
    excluded: Vec<usize>,
    /// The server the client reported unreachable: left out while another may be picked.
    shunned: Option<usize>,
    waiting: Option<usize>,
    checks: u32,
    done: Option<PickStep>,
    /// The file's digest as the request was decided: see [`PickRequest::digest`].
    digest: Option<Digest>,
    /// Servers (pool indices below 64) known to hold the current copy as the request was
    /// redirected: see [`PickRequest::holds`].
    holders: u64,
}

impl<'p> PickRequest<'p> {
    /// A request for `path` (the request path, as the checks ask it).
    pub fn new(path: &'p str) -> PickRequest<'p> {
        PickRequest {
            path: Cow::Borrowed(path),
            state: PickState {
                excluded: Vec::new(),
                shunned: None,
                waiting: None,
                checks: 0,
                done: None,
                digest: None,
                holders: 0,
            },
        }
    }

    /// The same request, owning its path: what a request that must wait keeps while the
    /// buffer its path came from is reused. Copies the path once if it was borrowed.
    pub fn into_owned(self) -> PickRequest<'static> {
        PickRequest {
            path: Cow::Owned(self.path.into_owned()),
            state: self.state,
        }
    }

    /// The path this request is for.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Never pick `server` for this request (a client reported it missing the file). Call
    /// before the first poll.
    pub fn avoid(&mut self, server: usize) {
        self.state.excluded.push(server);
    }

    /// Pick `server` for this request only when no other server may be picked (a client
    /// reported it unreachable: as [`Ranking::pick_avoiding`] does without file checks, the
    /// report is verified by a probe, not taken at its word). Call before the first poll.
    pub fn avoid_unless_alone(&mut self, server: usize) {
        self.state.shunned = Some(server);
    }

    /// The file's SHA-256 digest, once the request is decided ([`PickStep::Redirect`] or
    /// [`PickStep::Origin`]) and one is known: with an origin, the origin's (the reference: a
    /// mirror's own digest only describes the copy it holds, and a copy judged current matches
    /// the origin's); without, the picked server's own.
    pub fn digest(&self) -> Option<&Digest> {
        self.state.digest.as_ref()
    }

    /// Whether `server` was known to hold the current copy when the request was redirected
    /// (the other servers a redirect may name in `Link: rel=duplicate` headers). Servers from
    /// pool index 64 on are never named.
    pub fn holds(&self, server: usize) -> bool {
        server < 64 && self.state.holders & (1 << server) != 0
    }

    /// Server checks this request has waited on so far.
    pub fn checks(&self) -> u32 {
        self.state.checks
    }

    /// What to do now; see [`PickStep`]. Once it gives anything but [`PickStep::Wait`] it gives
    /// the same forever. Counts as a use of the path in `index`.
    pub fn poll<R: rand::Rng + ?Sized>(
        &mut self,
        index: &mut FileIndex,
        ranking: &Ranking,
        rng: &mut R,
        now: Instant,
    ) -> PickStep {
        let state = &mut self.state;
        if let Some(done) = state.done {
            return done;
        }
        let step = state.decide(&self.path, index, ranking, rng, now);
        if step != PickStep::Wait {
            state.done = Some(step);
        }
        step
    }
}

/// The live servers (pool indices below 64) known to hold the current copy of the path in
/// `slot`.
fn holders(index: &FileIndex, slot: u32, ranking: &Ranking, now: Instant) -> u64 {
    let entry = Some(index.entry_at(slot));
    let origin_fresh = !index.config().origin || index.origin_fresh(entry, now);
    ranking
        .table()
        .iter()
        .filter(|row| row.index < 64)
        .filter(|row| {
            index.view_in(entry, Target::Server(row.index), now, origin_fresh) == View::Has
        })
        .fold(0, |set, row| set | 1 << row.index)
}

/// Queue checks of up to [`FileIndexConfig::look_ahead`] live servers besides `picked` (best
/// ranked first) whose answer for the path in `slot` is unknown or stale.
///
/// [`FileIndexConfig::look_ahead`]: crate::balance::file_index::FileIndexConfig::look_ahead
fn look_ahead(index: &mut FileIndex, slot: u32, ranking: &Ranking, picked: usize, now: Instant) {
    let ahead = index.config().look_ahead;
    if ahead == 0 {
        return;
    }
    let entry = Some(index.entry_at(slot));
    let origin_fresh = !index.config().origin || index.origin_fresh(entry, now);
    let due: Vec<usize> = ranking
        .table()
        .iter()
        .filter(|row| row.index != picked)
        .take(ahead)
        .filter(|row| {
            index.view_in(entry, Target::Server(row.index), now, origin_fresh) == View::Due
        })
        .map(|row| row.index)
        .collect();
    for server in due {
        index.want_at(slot, Target::Server(server));
    }
}

impl PickState {
    /// One lookup of the path ([`FileIndex::touch`]); every look after it reads the entry's
    /// slot and the verdicts judged when the answers came in.
    fn decide<R: rand::Rng + ?Sized>(
        &mut self,
        path: &str,
        index: &mut FileIndex,
        ranking: &Ranking,
        rng: &mut R,
        now: Instant,
    ) -> PickStep {
        let slot = index.touch(path);
        let step = self.step(slot, index, ranking, rng, now);
        let origin = index.config().origin;
        self.digest = match step {
            PickStep::Origin if origin => index.digest_at(slot, Target::Origin).copied(),
            PickStep::Redirect(_) if origin => index.digest_at(slot, Target::Origin).copied(),
            PickStep::Redirect(server) => index.digest_at(slot, Target::Server(server)).copied(),
            _ => None,
        };
        if let PickStep::Redirect(picked) = step {
            if self.checks > 0 {
                look_ahead(index, slot, ranking, picked, now);
            }
            self.holders = holders(index, slot, ranking, now);
        }
        step
    }

    fn step<R: rand::Rng + ?Sized>(
        &mut self,
        slot: u32,
        index: &mut FileIndex,
        ranking: &Ranking,
        rng: &mut R,
        now: Instant,
    ) -> PickStep {
        let mut origin_fresh = false;
        if index.config().origin {
            match index.view_in(Some(index.entry_at(slot)), Target::Origin, now, false) {
                View::Has => {
                    origin_fresh = true;
                    if index.origin_digest_due(slot, now) {
                        index.want_at(slot, Target::Origin);
                    }
                }
                View::Checking | View::NeedOrigin => {}
                View::NotCurrent | View::Backoff => return PickStep::Origin,
                View::Due => index.want_at(slot, Target::Origin),
            }
        }
        loop {
            let entry = Some(index.entry_at(slot));
            let view = |server| index.view_in(entry, Target::Server(server), now, origin_fresh);
            if let Some(server) = self.waiting {
                match view(server) {
                    View::Has => return PickStep::Redirect(server),
                    View::Checking | View::NeedOrigin => return PickStep::Wait,
                    // Lacks it, another version, its check failed, or the check was lost with
                    // an evicted entry: on to the others.
                    View::NotCurrent | View::Backoff | View::Due => {
                        self.excluded.push(server);
                        self.waiting = None;
                    }
                }
            }
            let exhausted = self.checks >= MAX_CHECKS_PER_REQUEST;
            let shunned = self.shunned;
            let keep = |i| {
                !self.excluded.contains(&i)
                    && shunned != Some(i)
                    && match view(i) {
                        View::Has => true,
                        View::NotCurrent | View::Backoff => false,
                        View::NeedOrigin | View::Checking | View::Due => !exhausted,
                    }
            };
            // A draw over every live server, kept if it may be picked (twice at most), else
            // one over those that may: either way a draw from the renormalised weights
            // (rejection sampling), and when every server holds the file, one look at one.
            let pick = (0..REJECTION_DRAWS)
                .map_while(|_| ranking.pick(rng))
                .find(|row| keep(row.index))
                .or_else(|| ranking.pick_where(rng, keep));
            let Some(server) = pick.map(|row| row.index) else {
                if self.shunned.take().is_some() {
                    // Nobody else: the reported server after all, if it holds the file.
                    continue;
                }
                return self.fallback(index, slot, ranking, now, origin_fresh);
            };
            match view(server) {
                View::Has => return PickStep::Redirect(server),
                // Not picked by the filter above; never redirected to, whatever happens.
                View::NotCurrent | View::Backoff => self.excluded.push(server),
                View::NeedOrigin => self.waiting = Some(server),
                View::Checking => {
                    self.checks += 1;
                    self.waiting = Some(server);
                }
                View::Due => {
                    index.want_at(slot, Target::Server(server));
                    self.checks += 1;
                    self.waiting = Some(server);
                }
            }
        }
    }

    /// No server left to pick.
    fn fallback(
        &self,
        index: &FileIndex,
        slot: u32,
        ranking: &Ranking,
        now: Instant,
        origin_fresh: bool,
    ) -> PickStep {
        if index.config().origin {
            return PickStep::Origin;
        }
        let entry = Some(index.entry_at(slot));
        let all_known_missing = !ranking.is_empty()
            && ranking.table().iter().all(|row| {
                index.view_in(entry, Target::Server(row.index), now, origin_fresh)
                    == View::NotCurrent
            });
        if all_known_missing {
            PickStep::NotFound
        } else {
            PickStep::Unavailable
        }
    }
}
