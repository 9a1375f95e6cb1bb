//! `--segments N`: one file from several servers at once. The core's [`Segments`] decides who
//! fetches which bytes; here one task per source (all on this thread) sends the `Range`
//! requests, writes each body chunk at its offset in the temporary file, and reports failures.
//! The file is hashed as the part held from byte 0 grows ([`behind`]) and checked once complete
//! against the digest the sources agree on (the redirect's when it gave one); a source
//! announcing another digest is dropped as corrupt, and everything it wrote is fetched again
//! from the others. Each source's task is [`source`]'s.

mod behind;
mod source;

use super::error::ClientError;
use super::hash::Hasher;
use super::part::Part;
use super::print::say;
use super::progress::Progress;
use super::{Options, Saved, READ_BUF};
use crate::runtime;
use crate::runtime::exchange::{self, Received, TlsClient};
use behind::HashBehind;
use ricochet_core::download::follow::KeptHead;
use ricochet_core::download::resume::Validator;
use ricochet_core::download::segments::{
    judge_piece, Dropped, Failure, SegmentConfig, Segments, Span,
};
use ricochet_core::download::verify::{self, consensus, Expect};
use ricochet_core::http::digest::Digest;
use ricochet_core::http::url::Url;
use source::{send_and_read_head, source_task, Conn};
use std::cell::RefCell;
use std::time::{Duration, Instant};

/// How long an idle source waits before asking for work again.
const IDLE_PAUSE: Duration = Duration::from_millis(20);

/// How often the whole download's state is looked at: is it complete, and how far has the part
/// held from byte 0 grown (it is hashed as it grows).
const WATCH_EVERY: Duration = Duration::from_millis(5);

/// How often the progress line's per-source speeds are redrawn.
const SPEEDS_EVERY: Duration = Duration::from_millis(500);

/// What every source task shares.
struct Shared {
    segments: Segments,
    /// The file's version, from the first answer: sent as `If-Range` by every request.
    validator: Option<Validator>,
    /// The digest each source announced (`None`: none yet, or it sent none).
    announced: Vec<Option<Digest>>,
    /// The redirect's digest (the reference), if it gave one.
    reference: Option<Digest>,
    progress: Progress,
    speeds_shown: Instant,
    /// With `--continue`: the note, rewritten as pieces complete.
    note: Option<super::part::Note>,
    /// Sources dropped as corrupt so far: their bytes are fetched again, so what was hashed
    /// of them must be hashed again.
    corrupt_drops: u32,
}

impl Shared {
    /// The digest the file must hash to, as known now.
    fn expected(&self) -> Option<Digest> {
        consensus(self.reference, &self.announced)
    }

    /// Drop as corrupt every live source whose digest differs from the one agreed on.
    fn drop_disagreeing(&mut self, urls: &[Url], now: Instant) {
        let Some(expected) = self.expected() else {
            return;
        };
        for (i, d) in self.announced.iter().enumerate() {
            let differs = d.is_some_and(|d| d.algorithm() == expected.algorithm() && d != expected);
            if differs && self.segments.dropped(i).is_none() {
                say(format_args!(
                    "{}: its digest differs from the file's: dropped, its bytes fetched again\n",
                    urls[i].socket_addr()
                ));
                self.segments.handle_failed(i, Failure::Corrupt, now);
                self.corrupt_drops += 1;
            }
        }
    }

    fn show_speeds(&mut self, urls: &[Url], now: Instant) {
        if now.duration_since(self.speeds_shown) < SPEEDS_EVERY {
            return;
        }
        self.speeds_shown = now;
        self.progress.set_message(speeds(&self.segments, urls, now));
    }
}

/// `host:port 12.3MB/s` for each source still in use.
fn speeds(segments: &Segments, urls: &[Url], now: Instant) -> String {
    let mut line = String::new();
    for (i, url) in urls.iter().enumerate() {
        if segments.dropped(i).is_some() {
            continue;
        }
        let speed = segments.speed(i, now).unwrap_or(0.0);
        line.push_str(&format!(
            "{} {:.1}MB/s  ",
            url.socket_addr(),
            speed / 1_000_000.0
        ));
    }
    line
}

/// Download the file the redirect `head` led to from `first` (its `Location`) and the
/// servers its `Link` headers named, at most `options.segments` of them. `Ok(None)` when the
/// first server cannot be reached or its answer does not allow it (no ranges, no length, no
/// validator): the caller goes on with one source.
pub(super) async fn download(
    first: &Url,
    head: &KeptHead,
    expect: &Expect,
    part: &mut Part,
    tls: &TlsClient,
    options: &Options,
) -> Result<Option<Saved>, ClientError> {
    let mut urls = vec![first.clone()];
    urls.extend(head.duplicates(first, first, options.allow_downgrade));
    urls.truncate(options.segments.max(1) as usize);
    let config = SegmentConfig::default();
    // The first piece is asked before the length is known: it tells the length and version.
    let probe = Span {
        start: 0,
        end: config.min_piece,
    };
    // The first server unreachable: the one-source path fails over (asks the balancer again).
    let Ok(mut stream) = exchange::connect(first, tls, options.timeout).await else {
        return Ok(None);
    };
    let mut received = Received::new(READ_BUF);
    let answer =
        send_and_read_head(&mut stream, &mut received, first, probe, None, options).await?;
    let (piece, head0, reader) = match answer {
        Some((head0, reader)) => match judge_piece(
            probe,
            None,
            None,
            head0.status,
            head0.content_range.as_deref(),
            head0.validator.as_ref(),
            head0.body,
        ) {
            Ok(piece) if head0.validator.is_some() => (piece, head0, reader),
            _ => return Ok(None),
        },
        None => return Ok(None),
    };
    let total = piece.total;
    let now = Instant::now();
    // A `--continue` note's ranges count when they are of this version (and this length).
    let held: Vec<Span> = match part.held_ranges() {
        Some((ranges, validator))
            if Some(validator) == head0.validator.as_ref()
                && ranges.last().is_none_or(|r| r.end <= total) =>
        {
            ranges.to_vec()
        }
        _ => Vec::new(),
    };
    if held.is_empty() {
        part.start_over(head0.validator.clone())?;
    }
    let file = part
        .open_sparse(total, !held.is_empty())
        .map_err(|e| ClientError::File(part.output.clone(), e))?;
    let mut note = part.note();
    if let Some(note) = note.as_mut() {
        note.write(&held);
    }
    if !held.is_empty() {
        say(format_args!(
            "resuming: {} of {total} bytes held\n",
            held.iter().map(Span::len).sum::<u64>()
        ));
    }
    let reference = expect.reference();
    let shared = RefCell::new(Shared {
        segments: Segments::new(total, urls.len(), &held, config),
        note,
        validator: head0.validator.clone(),
        announced: vec![None; urls.len()],
        reference,
        progress: Progress::multi(options.quiet, total),
        speeds_shown: now,
        corrupt_drops: 0,
    });
    let probe_taken;
    {
        let mut s = shared.borrow_mut();
        s.announced[0] = verify::preferred(&head0.digests);
        s.drop_disagreeing(&urls, now);
        probe_taken = s.segments.assign(0, probe, now);
    }
    say(format_args!(
        "{} bytes from {} sources: {}\n",
        total,
        urls.len(),
        urls.iter()
            .map(|u| u.socket_addr())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    // The first source goes on with its open connection and the probe's body, unless those
    // bytes are held already (or it was dropped): then the connection goes.
    let mut first_conn = probe_taken.then_some(Conn {
        stream,
        received,
        reader: Some(reader),
        keep_alive: head0.keep_alive,
    });
    let reader = part
        .read()
        .map_err(|e| ClientError::File(part.output.clone(), e))?;
    let mut behind = HashBehind::default();
    // Rounds: a source found corrupt after the others finished sends them back to work.
    for _round in 0..=urls.len() {
        let tasks = (0..urls.len()).map(|i| {
            let conn = if i == 0 { first_conn.take() } else { None };
            source_task(i, &urls, conn, &shared, &file, tls, options)
        });
        let all = futures::future::join_all(tasks);
        // Once every byte is held, a source still waiting on a stalled server is not waited
        // for: its task is dropped, closing its connection.
        let done = async {
            loop {
                runtime::sleep(WATCH_EVERY).await;
                behind.advance(&shared, &reader);
                let s = shared.borrow();
                if s.segments.is_complete() || s.segments.all_dropped() {
                    break;
                }
            }
        };
        futures::future::select(Box::pin(all), Box::pin(done)).await;
        let s = shared.borrow();
        if s.segments.is_complete() || s.segments.all_dropped() {
            break;
        }
    }
    let mut s = shared.into_inner();
    if !s.segments.is_complete() {
        s.progress.abandon();
        if let Some(note) = s.note.as_mut() {
            note.write(s.segments.done());
        }
        part.keep_sparse(s.segments.done());
        return Err(ClientError::NoSource(dropped_summary(&s.segments, &urls)));
    }
    // The whole file, hashed once complete (read back in bounded chunks).
    let expected = s.expected();
    if expected.is_none() {
        // Sources that disagree with no majority and no reference: which bytes are right
        // cannot be told, so none are saved.
        let mut sent = s.announced.iter().flatten();
        if let Some(first) = sent.next() {
            if let Some(other) = sent.find(|d| *d != first) {
                s.progress.abandon();
                part.drop_local();
                let e = verify::Mismatch {
                    expected: *first,
                    got: *other,
                    source: verify::Source::Server,
                };
                let who = urls
                    .iter()
                    .map(|u| u.socket_addr())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ClientError::Digest(who, Box::new(e)));
            }
        }
    }
    if let Some(expected) = expected {
        let got = match behind.finish(&reader, total, expected, s.corrupt_drops) {
            Some(got) => got,
            None => {
                let mut hasher = Hasher::new(expected.algorithm());
                hasher
                    .update_from(&reader, total)
                    .map_err(|e| ClientError::File(part.output.clone(), e))?;
                hasher.finish()
            }
        };
        let source = if s.reference.is_some() {
            verify::Source::Redirect
        } else {
            verify::Source::Server
        };
        if let Err(e) = Expect::check((expected, source), got) {
            s.progress.abandon();
            part.drop_local();
            let who = urls
                .iter()
                .map(|u| u.socket_addr())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ClientError::Digest(who, e));
        }
    }
    part.finish(file, options)
        .map_err(|e| ClientError::File(part.output.clone(), e))?;
    s.progress.finish();
    summary(&s.segments, &urls, options);
    Ok(Some(Saved {
        path: part.output.clone(),
        bytes: total,
        resumed_from: 0,
        already_complete: false,
        verified: expected.map(|d| d.algorithm()),
    }))
}

fn dropped_word(dropped: Dropped) -> &'static str {
    match dropped {
        Dropped::Failing => "failing",
        Dropped::Refused => "no usable range answers",
        Dropped::Corrupt => "wrong copy",
        Dropped::Slow => "far slower than the others",
    }
}

fn dropped_summary(segments: &Segments, urls: &[Url]) -> String {
    urls.iter()
        .enumerate()
        .map(|(i, u)| {
            let state = segments.dropped(i).map_or("unused", dropped_word);
            format!("{} {state}", u.socket_addr())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each source's share, on stderr.
fn summary(segments: &Segments, urls: &[Url], options: &Options) {
    if options.quiet {
        return;
    }
    let now = Instant::now();
    for (i, url) in urls.iter().enumerate() {
        let state = segments.dropped(i).map_or(String::new(), |d| {
            format!(" (dropped: {})", dropped_word(d))
        });
        eprintln!(
            "source {}: {} bytes at {:.1} MB/s{state}",
            url.socket_addr(),
            segments.received(i),
            segments.speed(i, now).unwrap_or(0.0) / 1_000_000.0
        );
    }
}
