//! Which bytes of a file each source fetches in a multi-source download (`client --segments N`).
//!
//! A [`Segments`] is a sans-IO state machine over the file's byte ranges and its sources (the
//! servers the balancer listed). The shell runs one task per source: it asks
//! [`Segments::poll_assign`] for a range, sends a `Range` request for it, hands every body chunk
//! to [`Segments::handle_data`] (which says where to write it and how much of it to keep) and
//! reports failures ([`Segments::handle_failed`]). Time comes in as `now`.
//!
//! - Ranges are handed out from the lowest byte still to fetch, sized by the source's measured
//!   speed ([`SegmentConfig::target`] worth of its bytes, between [`SegmentConfig::min_piece`]
//!   and [`SegmentConfig::max_piece`]): a faster source gets larger pieces and, handing back
//!   more often, more of the file.
//! - Once nothing is left to hand out, an idle source steals the tail of the assignment that
//!   would finish last, sized so that both end together (end game); the victim's range is cut
//!   short and [`Segments::handle_data`] tells its task to stop there.
//! - A failing source gives its unfinished range back; after [`SegmentConfig::max_failures`]
//!   failures in a row, or at once when its copy is wrong ([`Failure::Corrupt`]: everything it
//!   wrote is fetched again from the others), it is dropped.

use std::time::{Duration, Instant};

/// How pieces are sized and when a source is dropped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentConfig {
    /// Smallest range handed out (a smaller remainder is handed out whole).
    pub min_piece: u64,
    /// Largest range handed out.
    pub max_piece: u64,
    /// A piece is about this long at the source's measured speed.
    pub target: Duration,
    /// Failures in a row after which a source is dropped.
    pub max_failures: u32,
    /// Smallest tail worth stealing from another source.
    pub min_steal: u64,
    /// A source this many times slower than the fastest (both measured for at least
    /// [`SegmentConfig::target`]) is dropped when it asks for more work, or when another takes
    /// over the rest of its piece (all of it): what it would fetch the others fetch sooner.
    pub slow_ratio: f64,
}

impl Default for SegmentConfig {
    /// 256 KiB to 16 MiB pieces of about 2 s each, a source dropped after 3 failures in a row
    /// or when 20 times slower than the fastest, tails of 64 KiB or more stolen.
    fn default() -> Self {
        SegmentConfig {
            min_piece: 256 * 1024,
            max_piece: 16 * 1024 * 1024,
            target: Duration::from_secs(2),
            max_failures: 3,
            min_steal: 64 * 1024,
            slow_ratio: 20.0,
        }
    }
}

/// A byte range, `start..end` (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl Span {
    /// Bytes in it.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Empty.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// The `Range` request field's value: `bytes=FIRST-LAST`.
    pub fn range_value(&self) -> String {
        format!("bytes={}-{}", self.start, self.end - 1)
    }
}

/// What a source's task does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assign {
    /// Fetch this range (one `Range` request).
    Fetch(Span),
    /// Nothing to fetch now, but the file is not complete: others are still at work (their
    /// part may come back). Ask again after a short pause.
    Wait,
    /// Every byte is held: the task ends.
    Complete,
    /// This source was dropped: the task ends.
    Dropped,
}

/// Where to write a chunk of body that arrived, and whether the assignment is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Write {
    /// File offset of the chunk's first byte.
    pub offset: u64,
    /// How many of the chunk's bytes to write (the rest is past the assignment, cut short by a
    /// steal: drop it).
    pub keep: u64,
    /// The assignment is complete: when the response still has bytes to come (it was cut
    /// short), close the connection rather than reading them.
    pub complete: bool,
}

/// Why a source failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A connection error, a timeout, a cut body, a transient status: may pass.
    Transient,
    /// An answer that cannot be used (no range support, another version, a refusal): dropped.
    Refused,
    /// Its copy is not the right file (its digest differs from the reference): dropped, and
    /// every byte it wrote is fetched again.
    Corrupt,
}

/// Why a source is no longer used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Failed [`SegmentConfig::max_failures`] times in a row.
    Failing,
    /// [`Failure::Refused`].
    Refused,
    /// [`Failure::Corrupt`].
    Corrupt,
    /// [`SegmentConfig::slow_ratio`] times slower than the fastest source.
    Slow,
}

#[derive(Debug, Clone)]
struct Active {
    span: Span,
    /// Next byte to arrive.
    pos: u64,
    since: Instant,
}

#[derive(Debug, Clone, Default)]
struct Source {
    active: Option<Active>,
    failures: u32,
    dropped: Option<Dropped>,
    /// Bytes received and time spent on finished or failed pieces.
    bytes: u64,
    busy: Duration,
    /// Every range it wrote, for [`Failure::Corrupt`].
    wrote: Vec<Span>,
}

/// The multi-source plan of one file. See the module docs.
#[derive(Debug, Clone)]
pub struct Segments {
    total: u64,
    config: SegmentConfig,
    /// Ranges nobody holds or fetches, sorted, disjoint.
    todo: Vec<Span>,
    /// Ranges held, sorted, merged.
    done: Vec<Span>,
    sources: Vec<Source>,
}

impl Segments {
    /// A file of `total` bytes from `sources` sources, `held` ranges already on disk (from a
    /// `--continue` note).
    pub fn new(total: u64, sources: usize, held: &[Span], config: SegmentConfig) -> Segments {
        let mut segments = Segments {
            total,
            config,
            todo: vec![Span {
                start: 0,
                end: total,
            }],
            done: Vec::new(),
            sources: vec![Source::default(); sources],
        };
        if total == 0 {
            segments.todo.clear();
        }
        for span in held {
            let span = Span {
                start: span.start.min(total),
                end: span.end.min(total),
            };
            if !span.is_empty() {
                remove(&mut segments.todo, span);
                insert(&mut segments.done, span);
            }
        }
        segments
    }

    /// The file's length.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Add a source (one more server learned of); returns its number.
    pub fn add_source(&mut self) -> usize {
        self.sources.push(Source::default());
        self.sources.len() - 1
    }

    /// The ranges held, sorted and merged: what a `--continue` note records.
    pub fn done(&self) -> &[Span] {
        &self.done
    }

    /// Bytes held.
    pub fn held(&self) -> u64 {
        self.done.iter().map(Span::len).sum()
    }

    /// Every byte is held.
    pub fn is_complete(&self) -> bool {
        self.held() == self.total
    }

    /// Why `source` was dropped, if it was.
    pub fn dropped(&self, source: usize) -> Option<Dropped> {
        self.sources.get(source).and_then(|s| s.dropped)
    }

    /// Every source is dropped (and the file is not complete): the download cannot finish.
    pub fn all_dropped(&self) -> bool {
        self.sources.iter().all(|s| s.dropped.is_some())
    }

    /// `source`'s measured speed in bytes per second (its pieces so far, the current one
    /// included), `None` before it has received anything for a measurable time.
    pub fn speed(&self, source: usize, now: Instant) -> Option<f64> {
        let s = self.sources.get(source)?;
        let (mut bytes, mut busy) = (s.bytes, s.busy);
        if let Some(active) = &s.active {
            bytes += active.pos - active.span.start;
            busy += now.saturating_duration_since(active.since);
        }
        let secs = busy.as_secs_f64();
        (bytes > 0 && secs > 0.0).then(|| bytes as f64 / secs)
    }

    /// Bytes `source` has received in all.
    pub fn received(&self, source: usize) -> u64 {
        self.sources.get(source).map_or(0, |s| {
            s.bytes + s.active.as_ref().map_or(0, |a| a.pos - a.span.start)
        })
    }

    /// What `source` does next. A source with an assignment keeps it (the same span, from
    /// where it is). See the module docs for how ranges are sized and stolen.
    pub fn poll_assign(&mut self, source: usize, now: Instant) -> Assign {
        let Some(s) = self.sources.get(source) else {
            return Assign::Dropped;
        };
        if s.dropped.is_some() {
            return Assign::Dropped;
        }
        if let Some(active) = &s.active {
            return Assign::Fetch(Span {
                start: active.pos,
                end: active.span.end,
            });
        }
        if self.is_complete() {
            return Assign::Complete;
        }
        if self.is_slow(source, now) {
            self.sources[source].dropped = Some(Dropped::Slow);
            return Assign::Dropped;
        }
        let span = match self.todo.first().copied() {
            Some(first) => {
                let size = self.piece_size(source, now);
                let end = if first.len() <= size + self.config.min_piece {
                    first.end
                } else {
                    first.start + size
                };
                let span = Span {
                    start: first.start,
                    end,
                };
                remove(&mut self.todo, span);
                span
            }
            None => match self.steal(source, now) {
                Some(span) => span,
                None => return Assign::Wait,
            },
        };
        self.sources[source].active = Some(Active {
            span,
            pos: span.start,
            since: now,
        });
        Assign::Fetch(span)
    }

    /// Hand `span` to `source` (its first request, sent before the file's length was known):
    /// it becomes the source's assignment, as if [`Segments::poll_assign`] had given it. Only
    /// the part still to fetch is taken; `false` when `source` is busy or dropped.
    pub fn assign(&mut self, source: usize, span: Span, now: Instant) -> bool {
        let end = span.end.min(self.total);
        let span = Span {
            start: span.start,
            end,
        };
        let free = self
            .sources
            .get(source)
            .is_some_and(|s| s.active.is_none() && s.dropped.is_none());
        let todo = self
            .todo
            .iter()
            .any(|t| t.start <= span.start && span.end <= t.end);
        if !free || span.is_empty() || !todo {
            return false;
        }
        remove(&mut self.todo, span);
        self.sources[source].active = Some(Active {
            span,
            pos: span.start,
            since: now,
        });
        true
    }

    /// `source` was measured long enough and is [`SegmentConfig::slow_ratio`] times slower
    /// than the fastest source measured as long.
    fn is_slow(&self, source: usize, now: Instant) -> bool {
        let measured = |i: usize| {
            let s = &self.sources[i];
            let active = s
                .active
                .as_ref()
                .map_or(Duration::ZERO, |a| now.saturating_duration_since(a.since));
            (s.busy + active >= self.config.target && s.dropped.is_none())
                .then(|| self.speed(i, now))
                .flatten()
        };
        let Some(mine) = measured(source) else {
            return false;
        };
        let fastest = (0..self.sources.len())
            .filter_map(measured)
            .fold(0.0, f64::max);
        mine * self.config.slow_ratio < fastest
    }

    /// How large a piece `source` gets now.
    fn piece_size(&self, source: usize, now: Instant) -> u64 {
        let (min, max) = (self.config.min_piece, self.config.max_piece.max(1));
        match self.speed(source, now) {
            Some(speed) => ((speed * self.config.target.as_secs_f64()) as u64).clamp(min, max),
            // Unproven: a share of what is left, so every source starts at once.
            None => {
                let left: u64 = self.todo.iter().map(Span::len).sum();
                let live = self.sources.iter().filter(|s| s.dropped.is_none()).count();
                (left / (2 * live.max(1) as u64)).clamp(min, max)
            }
        }
    }

    /// The end game: take the tail of the assignment that would finish last, when `source`
    /// can fetch it sooner; the victim's span is cut short.
    fn steal(&mut self, source: usize, now: Instant) -> Option<Span> {
        let mine = self.speed(source, now).unwrap_or(0.0);
        let mut best: Option<(usize, f64)> = None;
        for (i, s) in self.sources.iter().enumerate() {
            let Some(active) = &s.active else { continue };
            if i == source {
                continue;
            }
            let left = active.span.end - active.pos;
            if left < self.config.min_steal.max(2) {
                continue;
            }
            let theirs = self.speed(i, now).unwrap_or(0.0);
            let finish = if theirs > 0.0 {
                left as f64 / theirs
            } else {
                f64::INFINITY
            };
            if best.is_none_or(|(_, f)| finish > f) {
                best = Some((i, finish));
            }
        }
        let (victim, _) = best?;
        let active = self.sources[victim].active.as_ref()?;
        let left = active.span.end - active.pos;
        let theirs = self.speed(victim, now).unwrap_or(0.0);
        // A victim far slower than the others loses all of it, and is dropped.
        let slow = self.is_slow(victim, now);
        // Both end together: mine / (mine + theirs) of what is left, from the end. An unproven
        // stealer takes half.
        let share = if slow {
            1.0
        } else if mine > 0.0 {
            mine / (mine + theirs)
        } else {
            0.5
        };
        let take = ((left as f64 * share) as u64).clamp(1, left);
        // Not worth a request when the victim is as good as done.
        if take < self.config.min_steal && take < left {
            return None;
        }
        let end = active.span.end;
        let start = end - take;
        if slow {
            self.sources[victim].dropped = Some(Dropped::Slow);
        }
        let victim_active = self.sources[victim].active.as_mut()?;
        victim_active.span.end = start;
        Some(Span { start, end })
    }

    /// `len` body bytes arrived for `source`'s assignment: where to write them, how many to
    /// keep, and whether the assignment is complete (then the source is free for the next
    /// [`Segments::poll_assign`]). Bytes with no assignment (dropped, or already complete)
    /// are not kept.
    pub fn handle_data(&mut self, source: usize, len: u64, now: Instant) -> Write {
        let Some(s) = self.sources.get_mut(source) else {
            return Write {
                offset: 0,
                keep: 0,
                complete: true,
            };
        };
        let Some(active) = s.active.as_mut() else {
            return Write {
                offset: 0,
                keep: 0,
                complete: true,
            };
        };
        let offset = active.pos;
        let keep = len.min(active.span.end - active.pos);
        active.pos += keep;
        if keep > 0 {
            s.failures = 0;
        }
        let kept = Span {
            start: offset,
            end: offset + keep,
        };
        if !kept.is_empty() {
            insert(&mut s.wrote, kept);
            insert(&mut self.done, kept);
        }
        let complete = active.pos >= active.span.end;
        if complete {
            let active = s.active.take().expect("checked");
            s.bytes += active.pos - active.span.start;
            s.busy += now.saturating_duration_since(active.since);
        }
        Write {
            offset,
            keep,
            complete,
        }
    }

    /// `source` failed: what it had not fetched of its assignment goes back to be handed out
    /// again; it is dropped as [`Failure`] and [`SegmentConfig::max_failures`] say.
    pub fn handle_failed(&mut self, source: usize, failure: Failure, now: Instant) {
        let Some(s) = self.sources.get_mut(source) else {
            return;
        };
        if let Some(active) = s.active.take() {
            s.bytes += active.pos - active.span.start;
            s.busy += now.saturating_duration_since(active.since);
            let rest = Span {
                start: active.pos,
                end: active.span.end,
            };
            if !rest.is_empty() {
                insert(&mut self.todo, rest);
            }
        }
        s.failures += 1;
        match failure {
            Failure::Transient if s.failures >= self.config.max_failures => {
                s.dropped = Some(Dropped::Failing)
            }
            Failure::Transient => {}
            Failure::Refused => s.dropped = Some(Dropped::Refused),
            Failure::Corrupt => {
                s.dropped = Some(Dropped::Corrupt);
                for span in std::mem::take(&mut s.wrote) {
                    remove(&mut self.done, span);
                    insert(&mut self.todo, span);
                }
            }
        }
    }
}

/// What a usable answer to a piece's `Range` request holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// The bytes the body carries (from the start asked; it may stop short of the end asked:
    /// the rest stays assigned and is asked for next).
    pub span: Span,
    /// The whole file's length, as `Content-Range` says.
    pub total: u64,
}

/// Judge the answer to a request for `asked` (sent with `If-Range` when `held` is known):
/// usable only as a 206 starting at `asked.start`, with the file's complete length (equal to
/// `total` once known), a body the length of its range, and no other version than `held`.
/// A 200 (no range support, or another version: `If-Range` failed), another range, or a
/// refusal is [`Failure::Refused`]; statuses worth retrying are [`Failure::Transient`].
pub fn judge_piece(
    asked: Span,
    total: Option<u64>,
    held: Option<&crate::download::resume::Validator>,
    status: u16,
    content_range: Option<&[u8]>,
    validator: Option<&crate::download::resume::Validator>,
    body: crate::http::BodyKind,
) -> Result<Piece, Failure> {
    use crate::download::resume::{is_transient_status, parse_content_range, ContentRange};
    if status != 206 {
        return Err(if is_transient_status(status) {
            Failure::Transient
        } else {
            Failure::Refused
        });
    }
    let Some(Ok(ContentRange::Bytes {
        first,
        last,
        complete: Some(complete),
    })) = content_range.map(parse_content_range)
    else {
        return Err(Failure::Refused);
    };
    let span = Span {
        start: first,
        end: last + 1,
    };
    let same_version = match (held, validator) {
        (Some(held), Some(now)) => held == now,
        _ => true,
    };
    let length_ok = match body {
        crate::http::BodyKind::Length(n) => n == span.len(),
        crate::http::BodyKind::None => false,
        _ => true,
    };
    if first != asked.start
        || span.end > asked.end
        || total.is_some_and(|t| t != complete)
        || !same_version
        || !length_ok
    {
        return Err(Failure::Refused);
    }
    Ok(Piece {
        span,
        total: complete,
    })
}

/// Add `span` to the sorted, merged `set`.
fn insert(set: &mut Vec<Span>, span: Span) {
    if span.is_empty() {
        return;
    }
    let mut merged = span;
    set.retain(|s| {
        if s.end < merged.start || s.start > merged.end {
            true
        } else {
            merged.start = merged.start.min(s.start);
            merged.end = merged.end.max(s.end);
            false
        }
    });
    let at = set.partition_point(|s| s.start < merged.start);
    set.insert(at, merged);
}

/// Take `span` out of the sorted, merged `set`.
fn remove(set: &mut Vec<Span>, span: Span) {
    if span.is_empty() {
        return;
    }
    let mut out = Vec::with_capacity(set.len() + 1);
    for s in set.drain(..) {
        if s.end <= span.start || s.start >= span.end {
            out.push(s);
            continue;
        }
        if s.start < span.start {
            out.push(Span {
                start: s.start,
                end: span.start,
            });
        }
        if s.end > span.end {
            out.push(Span {
                start: span.end,
                end: s.end,
            });
        }
    }
    *set = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_split() {
        let mut set = Vec::new();
        insert(&mut set, Span { start: 10, end: 20 });
        insert(&mut set, Span { start: 0, end: 5 });
        insert(&mut set, Span { start: 5, end: 10 });
        assert_eq!(set, [Span { start: 0, end: 20 }]);
        remove(&mut set, Span { start: 3, end: 7 });
        assert_eq!(set, [Span { start: 0, end: 3 }, Span { start: 7, end: 20 }]);
    }
}
