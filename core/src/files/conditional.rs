//! Validators and conditional requests (RFC 9110 sections 8.8 and 13): a file's strong `ETag`,
//! the preconditions a request carries, and what they decide (304, 412, or go on).

use crate::http::request::Request;
use std::time::SystemTime;

/// An entity tag: `"opaque"` (strong) or `W/"opaque"` (weak).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTag {
    /// `W/` prefix: only weak comparison may match it.
    pub weak: bool,
    /// The characters between the quotes.
    pub opaque: String,
}

impl EntityTag {
    /// The strong tag of a file's current content: its length and modification time (to the
    /// nanosecond), `"{len:x}-{nanos:x}"`, both of which a rewrite changes and a restart keeps.
    /// No inode (as Apache 2.4's default `FileETag MTime Size`): two servers holding copies of
    /// one file synced with its times (`rsync -a`) give the same tag, so an `If-Range` made
    /// with one server's tag holds on the other and a resumed or split download is not
    /// refetched whole. A copy whose times were not kept (or kept to the second only) gets
    /// another tag, and a resume from it is answered with the whole file: slower, never wrong.
    pub fn for_file(len: u64, modified: SystemTime) -> EntityTag {
        let nanos = modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        // `{len:x}-{nanos:x}`, without the formatting machinery (once per response).
        let mut opaque = String::with_capacity(48);
        push_hex(&mut opaque, u128::from(len));
        opaque.push('-');
        push_hex(&mut opaque, nanos);
        EntityTag {
            weak: false,
            opaque,
        }
    }

    /// Append the tag as a field value writes it: `"opaque"` or `W/"opaque"`.
    pub fn push(&self, out: &mut Vec<u8>) {
        if self.weak {
            out.extend_from_slice(b"W/");
        }
        out.push(b'"');
        out.extend_from_slice(self.opaque.as_bytes());
        out.push(b'"');
    }

    /// Strong comparison (RFC 9110 section 8.8.3.2): both strong, same opaque tag.
    pub fn strong_eq(&self, other: &EntityTag) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }

    /// Weak comparison: same opaque tag, whatever the `W/` prefixes.
    pub fn weak_eq(&self, other: &EntityTag) -> bool {
        self.opaque == other.opaque
    }

    /// Parse one entity-tag at the start of `v`; returns it and the bytes after it.
    fn parse_prefix(v: &[u8]) -> Option<(EntityTag, &[u8])> {
        let (weak, rest) = match v.strip_prefix(b"W/") {
            Some(rest) => (true, rest),
            None => (false, v),
        };
        let rest = rest.strip_prefix(b"\"")?;
        let end = rest.iter().position(|&b| b == b'"')?;
        let opaque = &rest[..end];
        // etagc = %x21 / %x23-7E / obs-text
        if opaque.iter().any(|&b| b < 0x21 || b == 0x7f) {
            return None;
        }
        // obs-text is kept byte for byte; it only ever has to compare equal to itself.
        let opaque = String::from_utf8_lossy(opaque).into_owned();
        Some((EntityTag { weak, opaque }, &rest[end + 1..]))
    }

    /// Parse a field value holding exactly one entity-tag (`If-Range`).
    pub fn parse(v: &[u8]) -> Option<EntityTag> {
        match EntityTag::parse_prefix(crate::http::grammar::trim_ows(v))? {
            (tag, []) => Some(tag),
            _ => None,
        }
    }
}

impl std::fmt::Display for EntityTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.weak {
            f.write_str("W/")?;
        }
        write!(f, "\"{}\"", self.opaque)
    }
}

/// Append `n` in lowercase hexadecimal, no leading zeros (`0` for zero).
fn push_hex(out: &mut String, n: u128) {
    let mut digits = [0u8; 32];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// The value of `If-Match` or `If-None-Match`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagList {
    /// `*`: any current representation.
    Any,
    /// These tags. A value that does not parse is an empty list: it matches nothing, so a
    /// garbled `If-Match` fails (412) and a garbled `If-None-Match` never gives a 304.
    Tags(Vec<EntityTag>),
}

impl TagList {
    /// Parse the field lines of one list-valued header (`If-Match` or `If-None-Match`), combined
    /// as one list. `None` when there is no such line.
    pub fn from_fields<'a>(lines: impl Iterator<Item = &'a [u8]>) -> Option<TagList> {
        let mut list: Option<TagList> = None;
        for line in lines {
            let line = crate::http::grammar::trim_ows(line);
            let parsed = if line == b"*" {
                TagList::Any
            } else {
                TagList::Tags(parse_tag_list(line).unwrap_or_default())
            };
            list = Some(match (list, parsed) {
                (Some(TagList::Any), _) | (_, TagList::Any) => TagList::Any,
                (Some(TagList::Tags(mut a)), TagList::Tags(b)) => {
                    a.extend(b);
                    TagList::Tags(a)
                }
                (None, tags) => tags,
            });
        }
        list
    }

    /// Whether `current` is in the list, by `strong` or weak comparison.
    fn contains(&self, current: &EntityTag, strong: bool) -> bool {
        match self {
            TagList::Any => true,
            TagList::Tags(tags) => tags.iter().any(|t| {
                if strong {
                    t.strong_eq(current)
                } else {
                    t.weak_eq(current)
                }
            }),
        }
    }
}

/// `#entity-tag`: tags separated by commas and optional whitespace, empty elements allowed.
/// Commas may appear inside a tag's quotes, so the value is scanned, not split.
fn parse_tag_list(mut v: &[u8]) -> Option<Vec<EntityTag>> {
    let mut tags = Vec::new();
    loop {
        while let [b' ' | b'\t' | b',', rest @ ..] = v {
            v = rest;
        }
        if v.is_empty() {
            return Some(tags);
        }
        let (tag, rest) = EntityTag::parse_prefix(v)?;
        tags.push(tag);
        v = crate::http::grammar::trim_ows(rest);
        match v {
            [] => return Some(tags),
            [b',', ..] => {}
            _ => return None,
        }
    }
}

/// The validator in an `If-Range` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfRange {
    /// An entity-tag: the range is sent when it matches the current `ETag` strongly.
    Tag(EntityTag),
    /// An HTTP-date: the range is sent when it is exactly the current `Last-Modified`.
    Date(SystemTime),
    /// Neither: never matches, so the whole file is sent.
    Invalid,
}

impl IfRange {
    /// Parse an `If-Range` value.
    pub fn parse(v: &[u8]) -> IfRange {
        let v = crate::http::grammar::trim_ows(v);
        if v.starts_with(b"\"") || v.starts_with(b"W/") {
            return EntityTag::parse(v).map_or(IfRange::Invalid, IfRange::Tag);
        }
        crate::http::date::parse_http_date(v).map_or(IfRange::Invalid, IfRange::Date)
    }
}

/// The preconditions of a GET or HEAD, parsed from its head (RFC 9110 section 13.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preconditions {
    /// `If-Match`.
    pub if_match: Option<TagList>,
    /// `If-None-Match`.
    pub if_none_match: Option<TagList>,
    /// `If-Modified-Since`, if a valid HTTP-date (an invalid one is ignored, as RFC 9110 says).
    pub if_modified_since: Option<SystemTime>,
    /// `If-Unmodified-Since`, if a valid HTTP-date.
    pub if_unmodified_since: Option<SystemTime>,
    /// `If-Range`; only looked at with a `Range` (see [`Preconditions::range_applies`]).
    pub if_range: Option<IfRange>,
}

/// What the preconditions decide before a file is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answer normally (200, or a range).
    Proceed,
    /// 304 Not Modified: the client's copy is current.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// Whole seconds since the epoch (0 before it): HTTP dates have one-second resolution.
fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Preconditions {
    /// The preconditions in `request`'s head. `If-Match` and `If-None-Match` may span several
    /// field lines; the date fields and `If-Range` are read from their first line.
    pub fn from_request(request: &Request<'_>) -> Preconditions {
        // Most requests carry none: one pass to find out, rather than one per field name.
        if !request.headers.iter().any(|h| {
            h.name
                .as_bytes()
                .get(..3)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"if-"))
        }) {
            return Preconditions::default();
        }
        let lines = |name: &'static str| {
            request
                .headers
                .iter()
                .filter(move |h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        let date = |name| {
            request
                .header(name)
                .and_then(crate::http::date::parse_http_date)
        };
        Preconditions {
            if_match: TagList::from_fields(lines("If-Match")),
            if_none_match: TagList::from_fields(lines("If-None-Match")),
            if_modified_since: date("If-Modified-Since"),
            if_unmodified_since: date("If-Unmodified-Since"),
            if_range: request.header("If-Range").map(IfRange::parse),
        }
    }

    /// RFC 9110 section 13.2.2, steps 1 to 4, for a GET or HEAD of a file whose current tag is
    /// `etag` and which was last modified at `modified`:
    /// `If-Match` (strong comparison), else `If-Unmodified-Since`, failing gives 412; then
    /// `If-None-Match` (weak comparison), else `If-Modified-Since`, failing gives 304.
    pub fn evaluate(&self, etag: &EntityTag, modified: SystemTime) -> Outcome {
        let modified = unix_seconds(modified);
        if let Some(list) = &self.if_match {
            if !list.contains(etag, true) {
                return Outcome::Failed;
            }
        } else if let Some(since) = self.if_unmodified_since {
            if modified > unix_seconds(since) {
                return Outcome::Failed;
            }
        }
        if let Some(list) = &self.if_none_match {
            if list.contains(etag, false) {
                return Outcome::NotModified;
            }
        } else if let Some(since) = self.if_modified_since {
            if modified <= unix_seconds(since) {
                return Outcome::NotModified;
            }
        }
        Outcome::Proceed
    }

    /// Step 5: whether a `Range` may be honoured. True without `If-Range`; with it, true only
    /// when its validator matches: an entity-tag strongly, a date exactly and only if
    /// `Last-Modified` is strong, that is at least a second before `now` (RFC 9110 section
    /// 8.8.2.2: a file changed within the second may change again under the same date).
    pub fn range_applies(&self, etag: &EntityTag, modified: SystemTime, now: SystemTime) -> bool {
        match &self.if_range {
            None => true,
            Some(IfRange::Tag(tag)) => tag.strong_eq(etag),
            Some(IfRange::Date(date)) => {
                let modified = unix_seconds(modified);
                modified == unix_seconds(*date) && modified < unix_seconds(now)
            }
            Some(IfRange::Invalid) => false,
        }
    }
}
