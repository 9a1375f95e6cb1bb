//! Resuming a download: the client side of byte ranges (RFC 9110 sections 13.1.5 and 14).
//!
//! A client holding the first `N` bytes of a file asks for the rest with `Range: bytes=N-` and
//! `If-Range:` the validator of the version it holds, so a server whose file changed answers
//! the whole new file (200) instead of a tail that would splice two versions. This module
//! decides everything about that exchange; the shell only keeps files:
//!
//! - [`Validator::of`]: what to remember from the first response (a strong `ETag`, else
//!   `Last-Modified`);
//! - [`PartMeta`]: the note kept next to a partial file (URL and validator), so a resume never
//!   mixes two URLs or two versions;
//! - [`plan`]: whether to ask for a range, and the request fields ([`RangeRequest::fields`]);
//! - [`decide`]: what a 200, 206 or 416 answer means for the local bytes ([`Resume`]);
//! - [`parse_content_range`]: the `Content-Range` field;
//! - [`retry_delay`] and [`is_transient_status`]: when and how soon to try again.

use crate::download::segments::Span;
use crate::http::BodyKind;
use std::time::Duration;

/// What identifies one version of a remote file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validator {
    /// A strong entity tag, quotes included (`"abc"`).
    EntityTag(String),
    /// A `Last-Modified` date, as sent.
    LastModified(String),
}

impl Validator {
    /// The validator to remember from a response's `ETag` and `Last-Modified`: the ETag if it
    /// is strong (a weak one cannot be used with `If-Range`), else the date; `None` when
    /// neither is usable (the download can then only restart from the beginning).
    pub fn of(etag: Option<&[u8]>, last_modified: Option<&[u8]>) -> Option<Validator> {
        if let Some(tag) = etag.filter(|t| is_strong_etag(t)) {
            return Some(Validator::EntityTag(ascii(tag)?));
        }
        let date = last_modified.filter(|d| !d.is_empty())?;
        Some(Validator::LastModified(ascii(date)?))
    }

    /// The value to send in `If-Range`.
    pub fn value(&self) -> &str {
        match self {
            Validator::EntityTag(v) | Validator::LastModified(v) => v,
        }
    }
}

/// `"..."` with only etagc bytes inside (no `W/` prefix).
fn is_strong_etag(tag: &[u8]) -> bool {
    tag.len() >= 2
        && tag[0] == b'"'
        && tag[tag.len() - 1] == b'"'
        && tag[1..tag.len() - 1]
            .iter()
            .all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
}

/// Printable ASCII (and spaces) only: what may go back into a header field and a note file.
fn ascii(v: &[u8]) -> Option<String> {
    if v.iter().all(|&b| (0x20..0x7f).contains(&b)) {
        std::str::from_utf8(v).ok().map(str::to_string)
    } else {
        None
    }
}

/// The note kept next to a partial file: which URL it comes from and which version it holds.
/// The partial file's own length says how much of it is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartMeta {
    /// The URL the user asked for (before any redirect), as it prints.
    pub url: String,
    /// The version the partial bytes belong to.
    pub validator: Validator,
    /// For a multi-source download (`--segments`): the byte ranges held, sorted and merged
    /// (the file is sparse, its length says nothing). `None`: the file's length is what is
    /// held, from byte 0.
    pub ranges: Option<Vec<Span>>,
}

/// Why a note file cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaError {
    /// Not a note this client wrote, or a damaged one; the string says what.
    Malformed(&'static str),
}

impl std::fmt::Display for MetaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetaError::Malformed(why) => write!(f, "unusable partial-download note: {why}"),
        }
    }
}

impl std::error::Error for MetaError {}

const META_MAGIC: &str = "ricochet-partial 1";

impl PartMeta {
    /// The note as text: a first line naming the format, then `url`, then `etag` or
    /// `last-modified`, one `key value` per line.
    pub fn to_text(&self) -> String {
        let (key, value) = match &self.validator {
            Validator::EntityTag(v) => ("etag", v),
            Validator::LastModified(v) => ("last-modified", v),
        };
        let mut text = format!("{META_MAGIC}\nurl {}\n{key} {value}\n", self.url);
        if let Some(ranges) = &self.ranges {
            let list: Vec<String> = ranges
                .iter()
                .map(|r| format!("{}-{}", r.start, r.end))
                .collect();
            text.push_str(&format!("ranges {}\n", list.join(",")));
        }
        text
    }

    /// The bytes held from byte 0 on: the whole file's length without [`PartMeta::ranges`],
    /// else the end of a range starting at 0 (what a single-source resume can go on from).
    pub fn prefix(&self, file_len: u64) -> u64 {
        match &self.ranges {
            None => file_len,
            Some(ranges) => ranges
                .first()
                .filter(|r| r.start == 0)
                .map_or(0, |r| r.end.min(file_len)),
        }
    }

    /// Read a note written by [`PartMeta::to_text`].
    pub fn parse(text: &[u8]) -> Result<PartMeta, MetaError> {
        let text = std::str::from_utf8(text).map_err(|_| MetaError::Malformed("not UTF-8"))?;
        let mut lines = text.lines();
        if lines.next() != Some(META_MAGIC) {
            return Err(MetaError::Malformed("unknown format"));
        }
        let mut url = None;
        let mut validator = None;
        let mut ranges = None;
        for line in lines {
            let (key, value) = line
                .split_once(' ')
                .ok_or(MetaError::Malformed("line without a value"))?;
            let found = match key {
                "url" => url.replace(value.to_string()).is_some(),
                "etag" if is_strong_etag(value.as_bytes()) => validator
                    .replace(Validator::EntityTag(value.to_string()))
                    .is_some(),
                "last-modified" if ascii(value.as_bytes()).is_some() && !value.is_empty() => {
                    validator
                        .replace(Validator::LastModified(value.to_string()))
                        .is_some()
                }
                "ranges" => ranges.replace(parse_ranges(value)?).is_some(),
                _ => return Err(MetaError::Malformed("unknown or invalid line")),
            };
            if found {
                return Err(MetaError::Malformed("repeated line"));
            }
        }
        Ok(PartMeta {
            url: url.ok_or(MetaError::Malformed("no url"))?,
            validator: validator.ok_or(MetaError::Malformed("no validator"))?,
            ranges,
        })
    }
}

/// `START-END,...`: sorted, disjoint, non-empty, half-open ranges (an empty list is allowed).
fn parse_ranges(value: &str) -> Result<Vec<Span>, MetaError> {
    let bad = MetaError::Malformed("bad ranges");
    let mut out: Vec<Span> = Vec::new();
    for item in value.split(',').filter(|i| !i.is_empty()) {
        let (a, b) = item.split_once('-').ok_or(bad)?;
        let (start, end) = (
            number(a.as_bytes()).ok_or(bad)?,
            number(b.as_bytes()).ok_or(bad)?,
        );
        if end <= start || out.last().is_some_and(|l| l.end >= start) {
            return Err(bad);
        }
        out.push(Span { start, end });
    }
    Ok(out)
}

/// What the local bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local<'a> {
    /// Nothing yet.
    Nothing,
    /// A partial download of `len` bytes of the version `validator` (`None`: unknown version,
    /// e.g. the server sent no validator).
    Partial {
        /// Bytes held.
        len: u64,
        /// Their version.
        validator: Option<&'a Validator>,
    },
    /// An existing output file of `len` bytes, of unknown version: asking from its end can only
    /// tell whether it is complete (a 416 for exactly that length).
    Existing {
        /// Its length.
        len: u64,
    },
}

/// A ranged request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeRequest {
    /// First byte asked for (the local length).
    pub offset: u64,
    /// The version the local bytes belong to, sent as `If-Range`.
    pub validator: Option<Validator>,
    range: String,
}

impl RangeRequest {
    /// The request fields: `Range: bytes=N-`, and `If-Range` when the version is known.
    pub fn fields(&self) -> Vec<(&'static str, &[u8])> {
        let mut fields = vec![("Range", self.range.as_bytes())];
        if let Some(v) = &self.validator {
            fields.push(("If-Range", v.value().as_bytes()));
        }
        fields
    }
}

/// Whether to ask for a range, given what is held locally. A partial of unknown version is
/// not worth a range (any tail could belong to another version): the caller starts over.
pub fn plan(local: Local<'_>) -> Option<RangeRequest> {
    let (offset, validator) = match local {
        Local::Nothing => return None,
        Local::Partial {
            validator: None, ..
        } => return None,
        Local::Partial {
            len,
            validator: Some(v),
        } => (len, Some(v.clone())),
        Local::Existing { len } => (len, None),
    };
    if offset == 0 {
        return None;
    }
    Some(RangeRequest {
        offset,
        validator,
        range: format!("bytes={offset}-"),
    })
}

/// A parsed `Content-Range` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentRange {
    /// `bytes first-last/complete` (`complete` is `None` for `*`).
    Bytes {
        /// First byte position.
        first: u64,
        /// Last byte position, inclusive.
        last: u64,
        /// The whole representation's length, when known.
        complete: Option<u64>,
    },
    /// `bytes */complete`: the range asked for is not satisfiable (with 416).
    Unsatisfied {
        /// The whole representation's length.
        complete: u64,
    },
}

/// Parse `Content-Range` (RFC 9110 section 14.4). Positions must be in order and inside the
/// complete length when it is known.
pub fn parse_content_range(value: &[u8]) -> Result<ContentRange, ResumeError> {
    let bad = ResumeError::BadContentRange;
    let rest = value
        .strip_prefix(b"bytes ")
        .ok_or(bad("not a byte range"))?;
    let slash = rest.iter().position(|&b| b == b'/').ok_or(bad("no '/'"))?;
    let (range, complete) = (&rest[..slash], &rest[slash + 1..]);
    let complete = match complete {
        b"*" => None,
        digits => Some(number(digits).ok_or(bad("bad complete length"))?),
    };
    if range == b"*" {
        let complete = complete.ok_or(bad("'*/*'"))?;
        return Ok(ContentRange::Unsatisfied { complete });
    }
    let dash = range.iter().position(|&b| b == b'-').ok_or(bad("no '-'"))?;
    let first = number(&range[..dash]).ok_or(bad("bad first position"))?;
    let last = number(&range[dash + 1..]).ok_or(bad("bad last position"))?;
    if last < first || complete.is_some_and(|c| last >= c) {
        return Err(bad("positions out of order or past the end"));
    }
    Ok(ContentRange::Bytes {
        first,
        last,
        complete,
    })
}

/// Check that an appended body ended the file where the 206's `Content-Range` said the file
/// ends (`complete`, from [`Resume::Append`]): a chunked or close-delimited 206 can carry
/// more or fewer bytes than its range, and such a file must never get its final name.
pub fn check_appended(
    offset: u64,
    received: u64,
    complete: Option<u64>,
) -> Result<(), ResumeError> {
    match complete {
        Some(c) if offset.checked_add(received) != Some(c) => Err(ResumeError::LengthMismatch),
        _ => Ok(()),
    }
}

fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')),
    )
}

/// What an answer to a ranged request means for the local bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// A 206 for exactly the rest: append the body to the local bytes. `complete` is the
    /// whole file's length, when the server said it.
    Append {
        /// The whole file's length.
        complete: Option<u64>,
    },
    /// A 2xx with the whole file (it changed, or the server ignores ranges): write it from the
    /// start into a fresh file; the local bytes are worthless.
    StartOver,
    /// A 416 for exactly the local length: the local copy is already the whole file.
    Complete,
    /// The answer cannot be used with the local bytes (a 206 that cannot be proven to be the
    /// same version, a 416 for another length): ask again for the whole file, without a range.
    Refetch,
}

/// Why an answer to a ranged request is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeError {
    /// A malformed `Content-Range`; the string says what.
    BadContentRange(&'static str),
    /// A 206 for bytes other than the rest asked for.
    WrongRange {
        /// First byte asked for.
        asked: u64,
        /// First byte sent.
        sent: u64,
    },
    /// A 206 whose body length does not match its `Content-Range`.
    LengthMismatch,
    /// A 206 to a request without `Range`.
    Unasked,
}

impl std::fmt::Display for ResumeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResumeError::BadContentRange(why) => write!(f, "bad Content-Range: {why}"),
            ResumeError::WrongRange { asked, sent } => {
                write!(
                    f,
                    "asked for bytes from {asked}, the server sent from {sent}"
                )
            }
            ResumeError::LengthMismatch => {
                f.write_str("206 body length does not match its Content-Range")
            }
            ResumeError::Unasked => f.write_str("206 Partial Content to a request without Range"),
        }
    }
}

impl std::error::Error for ResumeError {}

/// Judge the final (non-redirect) answer to a request, `asked` with a range or not: its `status`, `Content-Range`, the
/// validator it carries ([`Validator::of`] its `ETag` and `Last-Modified`) and its body framing.
/// `Ok(None)` for statuses that are not about the range (errors): the client treats them as it
/// would without a range. Without a range asked, every 2xx is [`Resume::StartOver`] and a 206
/// an error.
///
/// A 206 is appended only when it starts exactly at the offset, runs to the end of the file,
/// has a body of that length, and is provably the version held: `If-Range` was sent, and the
/// answer's own validator, if any, is the same. A 416 means complete only for exactly the
/// local length and no other version named.
pub fn decide(
    asked: Option<&RangeRequest>,
    status: u16,
    content_range: Option<&[u8]>,
    validator: Option<&Validator>,
    body: BodyKind,
) -> Result<Option<Resume>, ResumeError> {
    let Some(asked) = asked else {
        return match status {
            206 => Err(ResumeError::Unasked),
            200..=299 => Ok(Some(Resume::StartOver)),
            _ => Ok(None),
        };
    };
    match status {
        206 => {
            let range = content_range.ok_or(ResumeError::BadContentRange("missing"))?;
            let ContentRange::Bytes {
                first,
                last,
                complete,
            } = parse_content_range(range)?
            else {
                return Err(ResumeError::BadContentRange("'*' in a 206"));
            };
            if first != asked.offset {
                return Err(ResumeError::WrongRange {
                    asked: asked.offset,
                    sent: first,
                });
            }
            let len = last - first + 1;
            match body {
                BodyKind::Length(n) if n != len => return Err(ResumeError::LengthMismatch),
                BodyKind::None => return Err(ResumeError::LengthMismatch),
                _ => {}
            }
            let same_version = asked.validator.is_some() && !changed(asked, validator);
            // A tail that stops short of the end would need another request: start over.
            let to_the_end = complete.is_none_or(|c| last + 1 == c);
            if same_version && to_the_end {
                Ok(Some(Resume::Append { complete }))
            } else {
                Ok(Some(Resume::Refetch))
            }
        }
        416 => match content_range.map(parse_content_range) {
            Some(Ok(ContentRange::Unsatisfied { complete }))
                if complete == asked.offset && !changed(asked, validator) =>
            {
                Ok(Some(Resume::Complete))
            }
            _ => Ok(Some(Resume::Refetch)),
        },
        200..=299 => Ok(Some(Resume::StartOver)),
        _ => Ok(None),
    }
}

/// The answer names a version other than the one held.
fn changed(asked: &RangeRequest, validator: Option<&Validator>) -> bool {
    match (&asked.validator, validator) {
        (Some(held), Some(now)) => held != now,
        _ => false,
    }
}

/// Statuses worth retrying after a pause, as curl's `--retry` does: the server or the
/// balancer may be better in a moment (408, 429, 500, 502, 503, 504).
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// First pause between attempts; it doubles each time up to [`MAX_RETRY_DELAY`].
pub const FIRST_RETRY_DELAY: Duration = Duration::from_millis(500);

/// Longest pause between attempts.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(8);

/// The pause before retry number `retry` (1 for the first).
pub fn retry_delay(retry: u32) -> Duration {
    let doublings = retry.saturating_sub(1).min(16);
    FIRST_RETRY_DELAY
        .saturating_mul(1 << doublings)
        .min(MAX_RETRY_DELAY)
}
