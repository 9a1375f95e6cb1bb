//! The HTTP/1.1 grammar both parsers share (RFC 9110 section 5, RFC 9112 section 5): tokens,
//! CRLF line scanning, header field lines, OWS trimming, list elements and Content-Length.

use crate::http::Parsed;

/// Offsets of one validated header field: name and trimmed value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldPos {
    pub(crate) name: (usize, usize),
    pub(crate) value: (usize, usize),
}

/// Content-Length: one or more digits, nothing else, fitting in a u64.
pub(crate) fn parse_content_length(v: &[u8]) -> Result<u64, &'static str> {
    if v.is_empty() {
        return Err("empty Content-Length");
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return Err("Content-Length is not a number");
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or("Content-Length overflows")?;
    }
    Ok(n)
}

/// Elements of a comma-separated list, trimmed, empty ones skipped (RFC 9110 section 5.6.1).
pub(crate) fn list_elements(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// The coding name of a transfer-coding element (before any `;` parameter).
pub(crate) fn coding_name(e: &[u8]) -> &[u8] {
    let end = e.iter().position(|&b| b == b';').unwrap_or(e.len());
    trim_ows(&e[..end])
}

pub(crate) fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

pub(crate) const BARE_LF: &str = "bare LF line ending";

/// Where the scan of a header line stopped, so a later call with more bytes resumes there.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FieldScan {
    /// Offset of the colon once the name has been read (0: still in the name).
    pub(crate) colon: usize,
    /// Next byte to examine (0: the line's first byte).
    pub(crate) pos: usize,
}

/// One line of the header section, as found by [`scan_field_line`].
pub(crate) enum FieldLine {
    /// The line is not complete in the buffer yet.
    Incomplete,
    /// The empty line that ends the head; the head's length.
    End(usize),
    /// A valid field, and where the next line starts.
    Field(FieldPos, usize),
}

/// Validate the header line starting at `start` and find its end in one pass: a token name, a
/// colon right after it, a value of visible bytes, obs-text, SP and HTAB, then CRLF. The value
/// is searched eight bytes at a time for the first control byte, which must be the CR of the
/// CRLF (or an HTAB). Errors depend only on the bytes, never on how they arrived.
pub(crate) fn scan_field_line(
    buf: &[u8],
    start: usize,
    state: &mut FieldScan,
) -> Result<FieldLine, &'static str> {
    let mut pos = state.pos.max(start);
    if state.colon == 0 {
        if pos == start {
            let Some(&first) = buf.get(start) else {
                return Ok(FieldLine::Incomplete);
            };
            match first {
                b'\r' => {
                    return match buf.get(start + 1) {
                        None => Ok(FieldLine::Incomplete),
                        Some(b'\n') => Ok(FieldLine::End(start + 2)),
                        Some(_) => Err("bare CR in header"),
                    }
                }
                b'\n' => return Err(BARE_LF),
                b' ' | b'\t' => return Err("obs-fold line folding"),
                _ => {}
            }
        }
        pos += buf[pos..]
            .iter()
            .position(|&b| !TOKEN[b as usize])
            .unwrap_or(buf.len() - pos);
        let Some(&b) = buf.get(pos) else {
            state.pos = pos;
            return Ok(FieldLine::Incomplete);
        };
        match b {
            b':' if pos > start => state.colon = pos,
            b' ' | b'\t' if pos > start => return Err("whitespace before colon"),
            b'\r' => {
                return match buf.get(pos + 1) {
                    None => {
                        state.pos = pos;
                        Ok(FieldLine::Incomplete)
                    }
                    Some(b'\n') => Err("invalid header name"),
                    Some(_) => Err("bare CR in header"),
                }
            }
            b'\n' => return Err(BARE_LF),
            _ => return Err("invalid header name"),
        }
        pos += 1;
    }
    loop {
        let Some(i) = find_control(&buf[pos..]) else {
            state.pos = buf.len();
            return Ok(FieldLine::Incomplete);
        };
        let at = pos + i;
        match buf[at] {
            b'\t' => pos = at + 1,
            b'\r' => match buf.get(at + 1) {
                None => {
                    state.pos = at;
                    return Ok(FieldLine::Incomplete);
                }
                Some(b'\n') => {
                    let (mut v_start, mut v_end) = (state.colon + 1, at);
                    while v_start < v_end && matches!(buf[v_start], b' ' | b'\t') {
                        v_start += 1;
                    }
                    while v_end > v_start && matches!(buf[v_end - 1], b' ' | b'\t') {
                        v_end -= 1;
                    }
                    let field = FieldPos {
                        name: (start, state.colon),
                        value: (v_start, v_end),
                    };
                    return Ok(FieldLine::Field(field, at + 2));
                }
                Some(_) => return Err("bare CR in header value"),
            },
            b'\n' => return Err(BARE_LF),
            0 => return Err("NUL in header value"),
            _ => return Err("control byte in header value"),
        }
    }
}

/// A head parser's step outcome (`None`: not complete yet), with an error kept in `failed`:
/// a parser that failed stays failed (as h11's), so the caller cannot resume past bad input.
pub(crate) fn remember_failure<T, E: Copy>(
    failed: &mut Option<E>,
    step: Result<Option<Parsed<T>>, E>,
) -> Result<Parsed<T>, E> {
    match step {
        Ok(Some(parsed)) => Ok(parsed),
        Ok(None) => Ok(Parsed::Partial),
        Err(e) => {
            *failed = Some(e);
            Err(e)
        }
    }
}

/// Position of the first byte below 0x20 or equal to 0x7F (a control byte: CR, LF, HTAB, NUL
/// ...).
pub(crate) fn find_control(s: &[u8]) -> Option<usize> {
    let offset = skip_words(s, |w| bytes_below(w, 0x20) | bytes_equal(w, 0x7f));
    s[offset..]
        .iter()
        .position(|&b| b < 0x20 || b == 0x7f)
        .map(|i| offset + i)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Offset of the first 8-byte word of `s` for which `flags` is non-zero (or of the remainder
/// after the last whole word): the caller searches byte by byte from there. `flags` combines
/// [`bytes_below`] and [`bytes_equal`] on the little-endian word.
pub(crate) fn skip_words(s: &[u8], flags: impl Fn(u64) -> u64) -> usize {
    let mut offset = 0;
    for chunk in s.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if flags(u64::from_le_bytes(word)) != 0 {
            break;
        }
        offset += 8;
    }
    offset
}

/// Non-zero when some byte of `w` is below `n` (`n` at most 0x80), the classic SWAR test.
/// Only "some byte" is exact: a borrow may flag a higher byte too.
pub(crate) fn bytes_below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS
}

/// Non-zero when some byte of `w` equals `b`.
pub(crate) fn bytes_equal(w: u64, b: u8) -> u64 {
    bytes_below(w ^ (ONES * u64::from(b)), 1)
}

/// Non-zero when some byte of `w` is 0x80 or above.
pub(crate) fn bytes_high(w: u64) -> u64 {
    w & HIGHS
}

/// Validate the header field line `buf[start..end]` (without its CRLF): a token name, a colon
/// right after it, then a value of visible bytes, obs-text, SP and HTAB only.
pub(crate) fn parse_field(buf: &[u8], start: usize, end: usize) -> Result<FieldPos, &'static str> {
    let line = &buf[start..end];
    if matches!(line[0], b' ' | b'\t') {
        return Err("obs-fold line folding");
    }
    let name_len = line
        .iter()
        .position(|&b| !TOKEN[b as usize])
        .unwrap_or(line.len());
    match line.get(name_len) {
        Some(b':') if name_len > 0 => {}
        Some(b' ' | b'\t') if name_len > 0 => return Err("whitespace before colon"),
        Some(b'\r') => return Err("bare CR in header"),
        _ => return Err("invalid header name"),
    }
    let value = &line[name_len + 1..];
    // Branch-free over the value so it vectorises; classify only on the error path.
    let bad = value.iter().fold(false, |bad, &b| {
        bad | ((b < 0x20 && b != b'\t') || b == 0x7f)
    });
    if bad {
        return Err(if value.contains(&b'\r') {
            "bare CR in header value"
        } else if value.contains(&0) {
            "NUL in header value"
        } else {
            "control byte in header value"
        });
    }
    let mut v_start = start + name_len + 1;
    let mut v_end = end;
    while v_start < v_end && matches!(buf[v_start], b' ' | b'\t') {
        v_start += 1;
    }
    while v_end > v_start && matches!(buf[v_end - 1], b' ' | b'\t') {
        v_end -= 1;
    }
    Ok(FieldPos {
        name: (start, start + name_len),
        value: (v_start, v_end),
    })
}

/// Why the line scanner stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineError {
    /// An LF not preceded by CR.
    BareLf,
    /// No end of line within the head size limit.
    TooLarge,
}

/// Finds CRLF-terminated lines in a growing buffer, remembering how far it has searched so that
/// feeding a byte at a time stays linear.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LineScanner {
    /// Start of the line being looked for; after the final empty line, the head's length.
    pub(crate) line_start: usize,
    /// Every byte before this has been searched for LF.
    pub(crate) scanned: usize,
}

impl LineScanner {
    /// The next complete line as `(start, end)` with `end` at its CR, or `None` if the buffer
    /// holds no complete line yet. Lines must end within the first `max_head` bytes.
    pub(crate) fn next_line(
        &mut self,
        buf: &[u8],
        max_head: usize,
    ) -> Result<Option<(usize, usize)>, LineError> {
        let window = buf.len().min(max_head);
        let from = self.scanned.max(self.line_start);
        if from < window {
            if let Some(i) = find_lf(&buf[from..window]) {
                let lf = from + i;
                if lf == self.line_start || buf[lf - 1] != b'\r' {
                    return Err(LineError::BareLf);
                }
                let line = (self.line_start, lf - 1);
                self.line_start = lf + 1;
                self.scanned = lf + 1;
                return Ok(Some(line));
            }
        }
        self.scanned = window.max(self.scanned);
        if buf.len() >= max_head {
            return Err(LineError::TooLarge);
        }
        Ok(None)
    }
}

/// Position of the first LF. Blocks of 16 bytes are tested with a branch-free OR of
/// comparisons (which the compiler turns into one SIMD compare), so the byte loop only runs in
/// the block that holds the LF.
pub(crate) fn find_lf(s: &[u8]) -> Option<usize> {
    let mut chunks = s.chunks_exact(16);
    let mut offset = 0;
    for chunk in &mut chunks {
        if chunk.iter().fold(false, |found, &b| found | (b == b'\n')) {
            return chunk.iter().position(|&b| b == b'\n').map(|i| offset + i);
        }
        offset += 16;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| offset + i)
}

/// tchar (RFC 9110 section 5.6.2).
pub(crate) static TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        i += 1;
    }
    t
};

/// Check a word-at-a-time scan against the byte test it speeds up: every byte value at every
/// position of buffers that straddle the 8-byte words, with a filler the scan skips (and
/// obs-text, which some scans stop at).
#[cfg(test)]
pub(crate) fn check_word_scan(scan: impl Fn(&[u8]) -> Option<usize>, stops: impl Fn(u8) -> bool) {
    for filler in [b'a', 0x80] {
        for len in 0..20 {
            for pos in 0..len {
                for byte in 0..=255u8 {
                    let mut v = vec![filler; len];
                    v[pos] = byte;
                    assert_eq!(scan(&v), v.iter().position(|&b| stops(b)), "{v:?}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_lf_at_every_position_and_length() {
        for len in 0..70 {
            let mut v = vec![b'a'; len];
            assert_eq!(find_lf(&v), None);
            for pos in 0..len {
                v[pos] = b'\n';
                assert_eq!(find_lf(&v), Some(pos), "len {len} pos {pos}");
                // A later LF does not hide the first.
                if pos + 1 < len {
                    v[len - 1] = b'\n';
                    assert_eq!(find_lf(&v), Some(pos));
                    v[len - 1] = b'a';
                }
                v[pos] = b'a';
            }
        }
    }

    #[test]
    fn word_at_a_time_control_scan_agrees_with_the_definition_for_every_byte_and_position() {
        check_word_scan(find_control, |b| b < 0x20 || b == 0x7f);
    }

    #[test]
    fn token_table_matches_the_grammar() {
        let tchar = b"!#$%&'*+-.^_`|~";
        for b in 0..=255u8 {
            let token = b.is_ascii_alphanumeric() || tchar.contains(&b);
            assert_eq!(TOKEN[b as usize], token, "{b:#x}");
        }
    }
}
