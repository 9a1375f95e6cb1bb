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
//!    request already found wanting and those it was told to avoid;
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

use crate::balance::file_check::{Presence, Target};
use crate::balance::file_index::{FileIndex, View};
use crate::balance::pool::Ranking;
use std::borrow::Cow;
use std::time::Instant;

/// A request waits on at most this many server checks; after that it is sent only to a server
/// already known to hold the file (or to the origin, or answered 404 or 503).
pub const MAX_CHECKS_PER_REQUEST: u32 = 3;

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
    /// Servers the client asked not to be sent to, and servers this request found wanting.
    excluded: Vec<usize>,
    waiting: Option<usize>,
    checks: u32,
    done: Option<PickStep>,
}

impl<'p> PickRequest<'p> {
    /// A request for `path` (the request path, as the checks ask it).
    pub fn new(path: &'p str) -> PickRequest<'p> {
        PickRequest {
            path: Cow::Borrowed(path),
            state: PickState {
                excluded: Vec::new(),
                waiting: None,
                checks: 0,
                done: None,
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

    /// Never pick `server` for this request (a client reported it missing the file, or
    /// unreachable). Call before the first poll.
    pub fn avoid(&mut self, server: usize) {
        self.state.excluded.push(server);
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

impl PickState {
    fn decide<R: rand::Rng + ?Sized>(
        &mut self,
        path: &str,
        index: &mut FileIndex,
        ranking: &Ranking,
        rng: &mut R,
        now: Instant,
    ) -> PickStep {
        index.touch(path);
        if index.config().origin {
            match index.view(Target::Origin, path, now) {
                View::Known(Presence::Has) | View::Checking | View::NeedOrigin => {}
                View::Known(_) | View::Backoff => return PickStep::Origin,
                View::Due => index.want(Target::Origin, path),
            }
        }
        loop {
            if let Some(server) = self.waiting {
                match index.view(Target::Server(server), path, now) {
                    View::Known(Presence::Has) => return PickStep::Redirect(server),
                    View::Checking | View::NeedOrigin => return PickStep::Wait,
                    // Lacks it, another version, its check failed, or the check was lost with
                    // an evicted entry: on to the others.
                    View::Known(_) | View::Backoff | View::Due => {
                        self.excluded.push(server);
                        self.waiting = None;
                    }
                }
            }
            let exhausted = self.checks >= MAX_CHECKS_PER_REQUEST;
            let entry = index.entry(path);
            let pick = ranking.pick_where(rng, |i| {
                !self.excluded.contains(&i)
                    && match index.view_in(entry, Target::Server(i), now) {
                        View::Known(p) => p == Presence::Has,
                        View::Backoff => false,
                        View::NeedOrigin | View::Checking | View::Due => !exhausted,
                    }
            });
            let Some(server) = pick.map(|row| row.index) else {
                return fallback(path, index, ranking, now);
            };
            match index.view_in(entry, Target::Server(server), now) {
                View::Known(Presence::Has) => return PickStep::Redirect(server),
                // Not picked by the filter above; never redirected to, whatever happens.
                View::Known(_) | View::Backoff => self.excluded.push(server),
                View::NeedOrigin => self.waiting = Some(server),
                View::Checking => {
                    self.checks += 1;
                    self.waiting = Some(server);
                }
                View::Due => {
                    index.want(Target::Server(server), path);
                    self.checks += 1;
                    self.waiting = Some(server);
                }
            }
        }
    }
}

fn fallback(path: &str, index: &FileIndex, ranking: &Ranking, now: Instant) -> PickStep {
    if index.config().origin {
        return PickStep::Origin;
    }
    let entry = index.entry(path);
    let all_known_missing = !ranking.is_empty()
        && ranking.table().iter().all(|row| {
            matches!(
                index.view_in(entry, Target::Server(row.index), now),
                View::Known(p) if p.is_not_current()
            )
        });
    if all_known_missing {
        PickStep::NotFound
    } else {
        PickStep::Unavailable
    }
}
