//! Byte ranges (RFC 9110 section 14): parsing `Range`, resolving it against a file's length, and
//! the choice between 206, 416 and the whole file.
//!
//! Several ranges in one request get the whole file with 200, which RFC 9110 section 14.2
//! allows (a server may ignore `Range`), rather than `multipart/byteranges`: every resumer and
//! segmented downloader (curl `-C`, wget `-c`, browsers, aria2c) asks for one range per request,
//! and multipart answers are what CVE-2011-3192 abused (many overlapping ranges multiplied
//! the response and the server's work). A 200 costs no more than a plain GET.

/// Most range-specs looked at in one `Range` field; more and the whole file is sent.
pub const MAX_RANGES: usize = 16;

/// One range-spec as sent, before the file's length is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `first-[last]`: from byte `first` to `last` inclusive, or to the end.
    From {
        /// First byte position.
        first: u64,
        /// Last byte position, inclusive; `None` for "to the end".
        last: Option<u64>,
    },
    /// `-n`: the last `n` bytes.
    Suffix(u64),
}

/// A `Range` field, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeHeader {
    /// A `bytes` range-set of at most [`MAX_RANGES`] specs.
    Bytes(Vec<RangeSpec>),
    /// A `bytes` range-set of more than [`MAX_RANGES`] specs: the whole file is sent.
    TooMany,
    /// Another unit or invalid syntax: ignored, the whole file is sent (RFC 9110 section 14.2).
    Invalid,
}

/// Contiguous bytes of a file: `len` bytes from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// Offset of the first byte.
    pub start: u64,
    /// Number of bytes.
    pub len: u64,
}

impl ByteRange {
    /// `Content-Range` value for this range of a file of `complete` bytes (`len` > 0).
    pub fn content_range(&self, complete: u64) -> String {
        let mut out = Vec::with_capacity(48);
        self.push_content_range(&mut out, complete);
        // Only ASCII digits, `bytes `, `-` and `/` are written.
        String::from_utf8(out).unwrap_or_default()
    }

    /// Append [`ByteRange::content_range`]`(complete)` to `out`.
    pub fn push_content_range(&self, out: &mut Vec<u8>, complete: u64) {
        let last = self.start + self.len.saturating_sub(1);
        out.extend_from_slice(b"bytes ");
        crate::http::write::push_decimal(out, self.start);
        out.push(b'-');
        crate::http::write::push_decimal(out, last);
        out.push(b'/');
        crate::http::write::push_decimal(out, complete);
    }
}

/// What to send for a GET with a `Range` (whose `If-Range`, if any, matched).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeDecision {
    /// 200 with the whole file: the range was invalid, there were several, or too many.
    Whole,
    /// 206 with these bytes.
    Partial(ByteRange),
    /// 416 with `Content-Range: bytes */LEN`: no range selects a byte of the file.
    Unsatisfiable,
}

/// Parse a `Range` field value: `bytes=` (unit case-insensitive) and a comma-separated list of
/// `first-last`, `first-` or `-suffix`, optional whitespace around the commas. A last position
/// before the first makes the whole field invalid. Numbers too large for a `u64` saturate: a
/// first position beyond any file is unsatisfiable, a huge last position or suffix means "to
/// the end" or "all".
pub fn parse_range(value: &[u8]) -> RangeHeader {
    let value = crate::http::grammar::trim_ows(value);
    let Some(set) = value
        .get(..6)
        .filter(|unit| unit.eq_ignore_ascii_case(b"bytes="))
        .map(|_| &value[6..])
    else {
        return RangeHeader::Invalid;
    };
    let mut specs = Vec::new();
    for element in set
        .split(|&b| b == b',')
        .map(crate::http::grammar::trim_ows)
    {
        if element.is_empty() {
            continue;
        }
        let Some(spec) = parse_spec(element) else {
            return RangeHeader::Invalid;
        };
        if specs.len() == MAX_RANGES {
            return RangeHeader::TooMany;
        }
        specs.push(spec);
    }
    if specs.is_empty() {
        return RangeHeader::Invalid;
    }
    RangeHeader::Bytes(specs)
}

fn parse_spec(element: &[u8]) -> Option<RangeSpec> {
    let dash = element.iter().position(|&b| b == b'-')?;
    let (first, last) = (&element[..dash], &element[dash + 1..]);
    if first.is_empty() {
        return Some(RangeSpec::Suffix(digits(last)?));
    }
    let first = digits(first)?;
    let last = if last.is_empty() {
        None
    } else {
        Some(digits(last)?)
    };
    if last.is_some_and(|last| last < first) {
        return None;
    }
    Some(RangeSpec::From { first, last })
}

/// `1*DIGIT`, saturating at `u64::MAX`.
fn digits(d: &[u8]) -> Option<u64> {
    if d.is_empty() || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(d.iter().fold(0u64, |n, &c| {
        n.saturating_mul(10).saturating_add(u64::from(c - b'0'))
    }))
}

impl RangeSpec {
    /// The bytes this spec selects in a file of `len` bytes; `None` when it selects none
    /// (RFC 9110 section 14.1.1: a first position at or past the end, or a zero suffix).
    pub fn resolve(self, len: u64) -> Option<ByteRange> {
        match self {
            RangeSpec::From { first, last } => {
                if first >= len {
                    return None;
                }
                let last = last.map_or(len - 1, |last| last.min(len - 1));
                Some(ByteRange {
                    start: first,
                    len: last - first + 1,
                })
            }
            RangeSpec::Suffix(0) => None,
            RangeSpec::Suffix(n) => {
                let start = len.saturating_sub(n);
                (len > 0).then_some(ByteRange {
                    start,
                    len: len - start,
                })
            }
        }
    }
}

/// Decide what a GET with this `Range` gets for a file of `len` bytes: one satisfiable range
/// gives 206 (unsatisfiable specs beside it are dropped); none gives 416; several, too many or
/// an invalid field give the whole file (see the module comment). On an empty file a nonzero
/// suffix is satisfiable (RFC 9110 section 14.1.1) but selects nothing `Content-Range` can
/// express, so it gets the whole (empty) file.
pub fn decide(header: &RangeHeader, len: u64) -> RangeDecision {
    let specs = match header {
        RangeHeader::Bytes(specs) => specs,
        RangeHeader::TooMany | RangeHeader::Invalid => return RangeDecision::Whole,
    };
    let mut selected = specs.iter().filter_map(|spec| spec.resolve(len));
    match (selected.next(), selected.next()) {
        (Some(range), None) => RangeDecision::Partial(range),
        (Some(_), Some(_)) => RangeDecision::Whole,
        (None, _)
            if len == 0
                && specs
                    .iter()
                    .any(|s| matches!(s, RangeSpec::Suffix(n) if *n > 0)) =>
        {
            RangeDecision::Whole
        }
        (None, _) => RangeDecision::Unsatisfiable,
    }
}
