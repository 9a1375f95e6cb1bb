//! Incremental, strict RFC 9112 request-head parser (server side).
//!
//! Contract: the caller keeps one buffer per connection holding the bytes not yet consumed, appends
//! what it reads, and calls [`RequestParser::parse`] with the whole unconsumed buffer. The parser
//! remembers how far it has already scanned, so feeding one byte at a time costs O(n) overall.
//! On [`Parsed::Complete`] the head occupied `consumed` bytes; the body (framed by
//! [`Request::body`]) or the next pipelined request follows. The parser then resets itself for the
//! next message, which the caller passes starting at its first byte. After an error the parser stays
//! failed and returns the same error on every call.

use crate::http::grammar::{
    bytes_below, bytes_equal, bytes_high, coding_name, list_elements, parse_content_length,
    scan_field_line, skip_words, FieldLine, FieldPos, FieldScan, LineError, LineScanner, BARE_LF,
    TOKEN,
};
use crate::http::status::Status;
use crate::http::{BodyKind, Header, Parsed, Version};

/// Limits on what a request head may contain, each mapped to the status a server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (method, target and version, without its CRLF), in bytes; RFC 9112
    /// section 3 recommends at least 8,000. Over it: 414 when the target is what runs long, 400
    /// otherwise (a long method, a long version).
    pub max_request_line: usize,
    /// Largest head (empty lines before it, request line, header fields, final CRLF), in bytes.
    /// Over it in the header fields: 431.
    pub max_head: usize,
    /// Most header fields. Over it: 431.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_head: 16 * 1024,
            max_headers: 100,
        }
    }
}

/// Empty lines (CRLF) skipped before a request line (RFC 9112 section 2.2); one more is 400.
pub const MAX_EMPTY_LINES: usize = 4;

/// The request-target, in one of RFC 9112's four forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// `/path?query`: the usual form.
    Origin {
        /// Path, starting with `/`, still percent-encoded.
        path: &'a str,
        /// Query without the `?`, if any.
        query: Option<&'a str>,
    },
    /// `http://host:port/path?query`: the authority is parsed but must never be trusted for
    /// routing.
    Absolute {
        /// Authority as sent (`host`, `host:port`, `[v6]:port`).
        authority: &'a str,
        /// Path, starting with `/` (`/` when the URL had none), still percent-encoded.
        path: &'a str,
        /// Query without the `?`, if any.
        query: Option<&'a str>,
    },
    /// `*`, only with OPTIONS.
    Asterisk,
    /// `host:port`, only with CONNECT.
    Authority(&'a str),
}

/// A parsed request head, borrowing from the caller's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// Method token, case-sensitive (`GET`, `HEAD`, ...).
    pub method: &'a str,
    /// The request-target, parsed.
    pub target: Target<'a>,
    /// The request-target exactly as sent.
    pub raw_target: &'a str,
    /// Protocol version.
    pub version: Version,
    /// Header fields in order.
    pub headers: Vec<Header<'a>>,
    /// How the request body is framed ([`BodyKind::None`] when there is none; never
    /// [`BodyKind::CloseDelimited`]).
    pub body: BodyKind,
    /// Whether the connection may carry another request after this one: HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// Whether an HTTP/1.1 client sent `Expect: 100-continue` and waits for `100 Continue`
    /// before its body (see [`Request::sends_continue`]). Any other expectation is refused by
    /// the parser with 417; HTTP/1.0's is ignored (RFC 9110 section 10.1.1).
    pub expect_continue: bool,
}

impl<'a> Request<'a> {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        crate::http::find_header(&self.headers, name)
    }

    /// The path part of the target (`/` for asterisk and authority forms), still percent-encoded.
    pub fn path(&self) -> &'a str {
        match self.target {
            Target::Origin { path, .. } | Target::Absolute { path, .. } => path,
            Target::Asterisk | Target::Authority(_) => "/",
        }
    }

    /// The query without `?`, if any.
    pub fn query(&self) -> Option<&'a str> {
        match self.target {
            Target::Origin { query, .. } | Target::Absolute { query, .. } => query,
            Target::Asterisk | Target::Authority(_) => None,
        }
    }

    /// Whether to write `100 Continue` before reading the body: only when the client asked for
    /// it, a body follows, and the server `will_read_body`. A server that refuses the request
    /// sends its final status at once instead (and closes, or reads and discards the body).
    pub fn sends_continue(&self, will_read_body: bool) -> bool {
        let body = !matches!(self.body, BodyKind::None | BodyKind::Length(0));
        self.expect_continue && will_read_body && body
    }
}

/// Why a request head was rejected. Each variant knows the status a server should answer with
/// ([`ParseError::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Malformed syntax: 400. The string says what was wrong, for logs and error pages.
    BadRequest(&'static str),
    /// The header fields take the head past [`Limits::max_head`], or there are more than
    /// [`Limits::max_headers`] of them: 431.
    HeadTooLarge,
    /// The request line is longer than [`Limits::max_request_line`] because of its target: 414.
    TargetTooLong,
    /// A version other than HTTP/1.0 or HTTP/1.1: 505.
    VersionNotSupported,
    /// A method/target combination the server does not do (CONNECT's authority form), or a
    /// transfer coding other than chunked before the final chunked: 501.
    NotImplemented(&'static str),
    /// An `Expect` other than `100-continue`: 417.
    ExpectationFailed,
}

impl ParseError {
    /// The status a server should answer this error with.
    pub fn status(&self) -> Status {
        match self {
            ParseError::BadRequest(_) => Status::BAD_REQUEST,
            ParseError::HeadTooLarge => Status::HEADER_FIELDS_TOO_LARGE,
            ParseError::TargetTooLong => Status::URI_TOO_LONG,
            ParseError::VersionNotSupported => Status::VERSION_NOT_SUPPORTED,
            ParseError::NotImplemented(_) => Status::NOT_IMPLEMENTED,
            ParseError::ExpectationFailed => Status::EXPECTATION_FAILED,
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::BadRequest(why) => write!(f, "bad request: {why}"),
            ParseError::HeadTooLarge => f.write_str("request header fields too large"),
            ParseError::TargetTooLong => f.write_str("request-target too long"),
            ParseError::VersionNotSupported => f.write_str("HTTP version not supported"),
            ParseError::NotImplemented(why) => write!(f, "not implemented: {why}"),
            ParseError::ExpectationFailed => f.write_str("expectation other than 100-continue"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Incremental request-head parser; one per connection, reused for every pipelined request.
#[derive(Debug, Clone)]
pub struct RequestParser {
    limits: Limits,
    /// Set on the first error; every later call returns it.
    failed: Option<ParseError>,
    /// Where the next line starts and how far the search for its LF has got.
    scan: LineScanner,
    /// The request line, once it has been validated.
    line: Option<RequestLine>,
    /// Offsets of the header fields validated so far (reused between requests).
    fields: Vec<FieldPos>,
    /// How far the header line being read has been validated, to resume there.
    field_scan: FieldScan,
    /// What the fields said about framing and persistence, accumulated line by line.
    facts: RequestFacts,
}

/// Offsets of a validated request line inside the buffer.
#[derive(Debug, Clone, Copy)]
struct RequestLine {
    method: (usize, usize),
    target: (usize, usize),
    version: Version,
}

#[derive(Debug, Clone, Copy, Default)]
struct RequestFacts {
    hosts: u32,
    content_length: Option<u64>,
    transfer_encoding: bool,
    /// `chunked` was among the codings.
    chunked: bool,
    /// The last coding so far was `chunked` (it must be the final one).
    chunked_last: bool,
    /// A coding other than chunked was among them (501 if chunked is final).
    other_coding: bool,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

impl RequestParser {
    /// A parser with the given limits.
    pub fn new(limits: Limits) -> Self {
        RequestParser {
            limits,
            failed: None,
            scan: LineScanner::default(),
            line: None,
            fields: Vec::with_capacity(16),
            field_scan: FieldScan::default(),
            facts: RequestFacts::default(),
        }
    }

    /// Parse the head at the start of `buf` (the whole unconsumed buffer). See the module docs.
    ///
    /// Each line is validated as soon as its CRLF arrives, so a bad request line or field is
    /// reported without waiting for the rest of the head; which error is reported depends only
    /// on the bytes, never on how they were split between calls.
    pub fn parse<'b>(&mut self, buf: &'b [u8]) -> Result<Parsed<Request<'b>>, ParseError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if buf.len() < self.scan.scanned.max(self.field_scan.pos) {
            // The caller broke the contract (passed less than before): start over rather than
            // index out of bounds.
            self.reset();
        }
        // The answer is built in place and returned as is (no re-wrapping of the request):
        // a failure is remembered on the way out, as `grammar::remember_failure` does.
        let step = self.advance(buf);
        if let Err(e) = &step {
            self.failed = Some(*e);
        }
        step
    }

    fn reset(&mut self) {
        self.scan = LineScanner::default();
        self.line = None;
        self.fields.clear();
        self.field_scan = FieldScan::default();
        self.facts = RequestFacts::default();
    }

    fn advance<'b>(&mut self, buf: &'b [u8]) -> Result<Parsed<Request<'b>>, ParseError> {
        // The request line: found by its LF, then validated as a whole.
        let line = loop {
            if let Some(line) = self.line {
                break line;
            }
            let line_end = self.scan.line_start + self.limits.max_request_line + 2;
            let limit = line_end.min(self.limits.max_head);
            let (start, end) = match self.scan.next_line(buf, limit) {
                Ok(Some(line)) => line,
                Ok(None) => return Ok(Parsed::Partial),
                Err(LineError::BareLf) => return Err(ParseError::BadRequest(BARE_LF)),
                Err(LineError::TooLarge) => {
                    return Err(line_too_long(buf, self.scan.line_start, limit))
                }
            };
            if start == end {
                // RFC 9112 section 2.2: ignore empty lines before the request line, a few. Each
                // is two bytes, so the count is the offset over two.
                if start / 2 >= MAX_EMPTY_LINES {
                    return Err(ParseError::BadRequest(
                        "too many empty lines before the request",
                    ));
                }
                continue;
            }
            self.line = Some(parse_request_line(buf, start, end)?);
        };
        // The header section: each line validated in the same pass that finds its end, resuming
        // where the previous call stopped, so every byte is examined once.
        let window = &buf[..buf.len().min(self.limits.max_head)];
        loop {
            let start = self.scan.line_start;
            let scanned = scan_field_line(window, start, &mut self.field_scan)
                .map_err(ParseError::BadRequest)?;
            match scanned {
                FieldLine::Incomplete => {
                    if buf.len() >= self.limits.max_head {
                        return Err(ParseError::HeadTooLarge);
                    }
                    return Ok(Parsed::Partial);
                }
                FieldLine::End(head_len) => {
                    self.scan.line_start = head_len;
                    let parsed = self.finish(buf, line);
                    if parsed.is_ok() {
                        self.reset();
                    }
                    return parsed;
                }
                FieldLine::Field(field, next) => {
                    if self.fields.len() >= self.limits.max_headers {
                        return Err(ParseError::HeadTooLarge);
                    }
                    self.field_semantics(buf, field, line.version)?;
                    self.fields.push(field);
                    self.scan.line_start = next;
                    self.scan.scanned = next;
                    self.field_scan = FieldScan::default();
                }
            }
        }
    }

    fn field_semantics(
        &mut self,
        buf: &[u8],
        field: FieldPos,
        version: Version,
    ) -> Result<(), ParseError> {
        let name = &buf[field.name.0..field.name.1];
        let value = &buf[field.value.0..field.value.1];
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                self.facts.hosts += 1;
                if self.facts.hosts > 1 {
                    return Err(ParseError::BadRequest("more than one Host header"));
                }
                if value.is_empty() {
                    // RFC 9110 section 7.2: an http URI's authority is never empty.
                    return Err(ParseError::BadRequest("empty Host header"));
                }
                if !value.iter().all(|&b| HOST[b as usize]) {
                    return Err(ParseError::BadRequest("invalid Host header"));
                }
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                let n = parse_content_length(value).map_err(ParseError::BadRequest)?;
                match self.facts.content_length {
                    Some(previous) if previous != n => {
                        return Err(ParseError::BadRequest("conflicting Content-Length headers"))
                    }
                    _ => self.facts.content_length = Some(n),
                }
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                if version == Version::Http10 {
                    return Err(ParseError::BadRequest(
                        "Transfer-Encoding in an HTTP/1.0 request",
                    ));
                }
                self.facts.transfer_encoding = true;
                // Lines combine into one list; whether chunked is final is decided at the end
                // of the head.
                for coding in list_elements(value) {
                    let name = coding_name(coding);
                    if !name.eq_ignore_ascii_case(b"chunked") {
                        if name.is_empty() || !name.iter().all(|&b| TOKEN[b as usize]) {
                            return Err(ParseError::BadRequest("malformed Transfer-Encoding"));
                        }
                        self.facts.other_coding = true;
                        self.facts.chunked_last = false;
                        continue;
                    }
                    if self.facts.chunked || name.len() != coding.len() {
                        return Err(ParseError::BadRequest(
                            "malformed chunked Transfer-Encoding",
                        ));
                    }
                    self.facts.chunked = true;
                    self.facts.chunked_last = true;
                }
            }
            6 if name.eq_ignore_ascii_case(b"expect") => {
                for expectation in list_elements(value) {
                    if !expectation.eq_ignore_ascii_case(b"100-continue") {
                        return Err(ParseError::ExpectationFailed);
                    }
                    self.facts.expect_continue = version == Version::Http11;
                }
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for option in list_elements(value) {
                    if option.eq_ignore_ascii_case(b"close") {
                        self.facts.close = true;
                    } else if option.eq_ignore_ascii_case(b"keep-alive") {
                        self.facts.keep_alive = true;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn finish<'b>(
        &mut self,
        buf: &'b [u8],
        line: RequestLine,
    ) -> Result<Parsed<Request<'b>>, ParseError> {
        let facts = self.facts;
        if line.version == Version::Http11 && facts.hosts == 0 {
            return Err(ParseError::BadRequest("missing Host header"));
        }
        let body = if facts.transfer_encoding {
            if facts.content_length.is_some() {
                return Err(ParseError::BadRequest(
                    "both Transfer-Encoding and Content-Length",
                ));
            }
            if !facts.chunked && !facts.other_coding {
                return Err(ParseError::BadRequest("empty Transfer-Encoding"));
            }
            if !facts.chunked_last {
                // RFC 9112 section 6.3: the length cannot be determined.
                return Err(ParseError::BadRequest(
                    "Transfer-Encoding does not end with chunked",
                ));
            }
            if facts.other_coding {
                return Err(ParseError::NotImplemented(
                    "transfer coding other than chunked",
                ));
            }
            BodyKind::Chunked
        } else {
            match facts.content_length {
                Some(n) => BodyKind::Length(n),
                None => BodyKind::None,
            }
        };
        let keep_alive = match line.version {
            Version::Http11 => !facts.close,
            Version::Http10 => facts.keep_alive && !facts.close,
        };
        let head_len = self.scan.line_start;
        // One UTF-8 check for the whole head (it is ASCII unless a value has obs-text), then
        // every name is a cheap sub-slice; otherwise check the names one by one.
        let head = std::str::from_utf8(&buf[..head_len]).ok();
        let text = |(from, to): (usize, usize)| match head {
            Some(h) => h
                .get(from..to)
                .ok_or(ParseError::BadRequest("non-ASCII byte")),
            None => ascii_str(&buf[from..to]),
        };
        let method = text(line.method)?;
        let raw_target = text(line.target)?;
        let target = parse_target(method, raw_target)?;
        let mut headers = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            headers.push(Header {
                name: text(field.name)?,
                value: &buf[field.value.0..field.value.1],
            });
        }
        Ok(Parsed::Complete {
            value: Request {
                method,
                target,
                raw_target,
                version: line.version,
                headers,
                body,
                keep_alive,
                expect_continue: facts.expect_continue,
            },
            consumed: head_len,
        })
    }
}

impl Default for RequestParser {
    fn default() -> Self {
        RequestParser::new(Limits::default())
    }
}

/// Bytes already checked to be ASCII as `&str`. The error arm cannot happen; it exists so that
/// no code path can panic.
fn ascii_str(bytes: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(bytes).map_err(|_| ParseError::BadRequest("non-ASCII byte"))
}

/// The request line starting at `start` has no end before `limit`. 414 when the target is what
/// runs long: a token method followed by a target longer than it and, if the target has ended,
/// no more than a version and its CR. 400 otherwise (a long method, version or garbage).
fn line_too_long(buf: &[u8], start: usize, limit: usize) -> ParseError {
    let line = buf.get(start..limit.min(buf.len())).unwrap_or_default();
    let m = line
        .iter()
        .position(|&b| !TOKEN[b as usize])
        .unwrap_or(line.len());
    if m > 0 && line.get(m) == Some(&b' ') {
        let rest = &line[m + 1..];
        let t = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        let after = rest.len() - t;
        if t > m && after <= " HTTP/1.1\r".len() {
            return ParseError::TargetTooLong;
        }
    }
    ParseError::BadRequest("request line too long")
}

fn parse_request_line(buf: &[u8], start: usize, end: usize) -> Result<RequestLine, ParseError> {
    let line = &buf[start..end];
    // One pass per part: each table loop stops at the byte after its part, which must be SP.
    let m = line
        .iter()
        .position(|&b| !TOKEN[b as usize])
        .unwrap_or(line.len());
    if m == 0 || line.get(m) != Some(&b' ') {
        return Err(ParseError::BadRequest(
            if m > 0 && line.len() > m && line[m] != b'\r' {
                "method is not a token"
            } else {
                bad_line_reason(line)
            },
        ));
    }
    let rest = &line[m + 1..];
    let t = find_non_target(rest);
    let target = &rest[..t];
    match rest.get(t) {
        Some(b' ') if t > 0 => {}
        Some(b' ') => return Err(ParseError::BadRequest("empty request-target")),
        Some(b'#') => return Err(ParseError::BadRequest("fragment in request-target")),
        Some(b'\r') | None => return Err(ParseError::BadRequest(bad_line_reason(line))),
        Some(_) => return Err(ParseError::BadRequest("invalid byte in request-target")),
    }
    let version = parse_version(&rest[t + 1..]).map_err(|e| match e {
        ParseError::BadRequest(_) => ParseError::BadRequest(bad_line_reason(line)),
        e => e,
    })?;
    let method = &line[..m];
    if target[0] != b'/' || method == b"CONNECT" {
        // Only non-origin forms can be refused for their form; check them now so errors come
        // early. Both parts are ASCII here.
        parse_target(ascii_str(method)?, ascii_str(target)?)?;
    }
    let target_start = start + m + 1;
    Ok(RequestLine {
        method: (start, start + m),
        target: (target_start, target_start + t),
        version,
    })
}

fn bad_line_reason(line: &[u8]) -> &'static str {
    if line.contains(&b'\r') {
        "bare CR in request line"
    } else {
        "malformed request line"
    }
}

/// `HTTP/1.0` or `HTTP/1.1`; any other well-formed version is 505, anything else 400.
pub(crate) fn parse_version(v: &[u8]) -> Result<Version, ParseError> {
    match v {
        b"HTTP/1.1" => Ok(Version::Http11),
        b"HTTP/1.0" => Ok(Version::Http10),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(ParseError::VersionNotSupported)
        }
        _ => Err(ParseError::BadRequest("malformed HTTP version")),
    }
}

/// Split a validated (visible ASCII, no `#`) request-target into its form.
fn parse_target<'a>(method: &str, target: &'a str) -> Result<Target<'a>, ParseError> {
    if method == "CONNECT" {
        // authority-form: host:port. Valid or not, Ricochet does not tunnel.
        return if is_authority(target.as_bytes()) && target.contains(':') {
            Err(ParseError::NotImplemented("CONNECT"))
        } else {
            Err(ParseError::BadRequest(
                "CONNECT needs an authority-form target",
            ))
        };
    }
    if target.starts_with('/') {
        let (path, query) = split_query(target);
        return Ok(Target::Origin { path, query });
    }
    if target == "*" {
        return if method == "OPTIONS" {
            Ok(Target::Asterisk)
        } else {
            Err(ParseError::BadRequest("asterisk-form is only for OPTIONS"))
        };
    }
    // absolute-form: scheme "://" authority path-abempty [ "?" query ]
    let Some(colon) = target.find("://") else {
        return Err(ParseError::BadRequest("malformed request-target"));
    };
    let scheme = &target[..colon];
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(ParseError::BadRequest(
            "absolute-form with a scheme other than http",
        ));
    }
    let rest = &target[colon + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if authority.is_empty() || !is_authority(authority.as_bytes()) {
        return Err(ParseError::BadRequest("invalid authority in absolute-form"));
    }
    let after = &rest[authority_end..];
    let (path, query) = if after.starts_with('/') {
        split_query(after)
    } else {
        // Either empty or "?query": the path is empty, which means "/".
        ("/", after.strip_prefix('?'))
    };
    Ok(Target::Absolute {
        authority,
        path,
        query,
    })
}

fn split_query(s: &str) -> (&str, Option<&str>) {
    match s.bytes().position(|b| b == b'?') {
        Some(q) => (&s[..q], Some(&s[q + 1..])),
        None => (s, None),
    }
}

/// `host[:port]` with a reg-name, IPv4 or bracketed IP literal host; no userinfo.
fn is_authority(a: &[u8]) -> bool {
    if a.is_empty() || !a.iter().all(|&b| HOST[b as usize]) {
        return false;
    }
    let (host, port) = if a[0] == b'[' {
        let Some(close) = a.iter().position(|&b| b == b']') else {
            return false;
        };
        let inside = &a[1..close];
        if inside.is_empty() || inside.contains(&b'[') {
            return false;
        }
        match &a[close + 1..] {
            [] => (&a[..=close], None),
            [b':', port @ ..] => (&a[..=close], Some(port)),
            _ => return false,
        }
    } else {
        match a.iter().position(|&b| b == b':') {
            Some(c) => (&a[..c], Some(&a[c + 1..])),
            None => (a, None),
        }
    };
    if host.is_empty() || (host[0] != b'[' && host.iter().any(|&b| matches!(b, b'[' | b']'))) {
        return false;
    }
    match port {
        None => true,
        Some(p) => p.len() <= 5 && p.iter().all(u8::is_ascii_digit),
    }
}

/// Position of the first byte that may not appear in a request-target ([`TARGET`]), or the
/// length. Words with no byte below 0x21, `#`, 0x7F or above are skipped eight bytes at a time.
fn find_non_target(s: &[u8]) -> usize {
    let offset = skip_words(s, |w| {
        bytes_below(w, 0x21) | bytes_equal(w, b'#') | bytes_equal(w, 0x7f) | bytes_high(w)
    });
    s[offset..]
        .iter()
        .position(|&b| !TARGET[b as usize])
        .map_or(s.len(), |i| offset + i)
}

/// Bytes allowed in a request-target: visible ASCII except `#` (no fragment on the wire).
/// Percent-escapes are checked by whoever decodes the path.
static TARGET: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0x21;
    while i < 0x7f {
        t[i] = i != b'#' as usize;
        i += 1;
    }
    t
};

/// Bytes allowed in an authority (`host[:port]`): unreserved, sub-delims, `:`, `[`, `]`, `%`.
static HOST: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = crate::http::url::is_unreserved_or_sub_delim(b)
            || matches!(b, b':' | b'[' | b']' | b'%');
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_at_a_time_target_scan_agrees_with_the_table_for_every_byte_and_position() {
        let scan = |v: &[u8]| Some(find_non_target(v)).filter(|&i| i < v.len());
        crate::http::grammar::check_word_scan(scan, |b| !TARGET[b as usize]);
    }

    #[test]
    fn target_table_matches_the_grammar() {
        for b in 0..=255u8 {
            assert_eq!(TARGET[b as usize], (0x21..0x7f).contains(&b) && b != b'#');
        }
    }
}
