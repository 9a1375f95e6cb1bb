//! Incremental response-head parser (client side).
//!
//! Same buffer contract as [`crate::http::request::RequestParser`]. Tolerant where common servers
//! deviate (an empty or missing reason phrase, obs-text in values), never ambiguous about where the
//! body ends: conflicting Content-Length values, or Content-Length with Transfer-Encoding, are
//! errors. 1xx interim responses are returned like any other; the caller skips them and parses
//! again.

use crate::http::grammar::{
    coding_name, list_elements, parse_content_length, parse_field, remember_failure, FieldPos,
    LineError, LineScanner,
};
use crate::http::{BodyKind, Header, Parsed, Version};

/// A parsed response head, borrowing from the caller's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response<'a> {
    /// Protocol version.
    pub version: Version,
    /// Status code, 100 to 999.
    pub status: u16,
    /// Reason phrase, possibly empty.
    pub reason: &'a str,
    /// Header fields in order.
    pub headers: Vec<Header<'a>>,
    /// How the body is framed, given the request method (HEAD responses, 1xx, 204 and 304 have
    /// none).
    pub body: BodyKind,
    /// Whether the connection can be reused after this response's body.
    pub keep_alive: bool,
}

impl<'a> Response<'a> {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        crate::http::find_header(&self.headers, name)
    }
}

/// Why a response head was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseError {
    /// Malformed status line or header; the string says what.
    Malformed(&'static str),
    /// The head exceeded the parser's size limit.
    HeadTooLarge,
    /// The body length is ambiguous (conflicting Content-Length, or Content-Length with
    /// Transfer-Encoding, or a transfer coding other than a final chunked).
    AmbiguousLength(&'static str),
}

impl std::fmt::Display for ResponseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResponseError::Malformed(why) => write!(f, "malformed response: {why}"),
            ResponseError::HeadTooLarge => f.write_str("response head too large"),
            ResponseError::AmbiguousLength(why) => write!(f, "ambiguous response length: {why}"),
        }
    }
}

impl std::error::Error for ResponseError {}

/// Incremental response-head parser.
#[derive(Debug, Clone)]
pub struct ResponseParser {
    max_head: usize,
    failed: Option<ResponseError>,
    scan: LineScanner,
    line: Option<StatusLine>,
    fields: Vec<FieldPos>,
    facts: ResponseFacts,
}

#[derive(Debug, Clone, Copy)]
struct StatusLine {
    version: Version,
    status: u16,
    reason: (usize, usize),
}

#[derive(Debug, Clone, Copy, Default)]
struct ResponseFacts {
    content_length: Option<u64>,
    /// The first problem with Content-Length; it matters only if the response has a body.
    length_error: Option<ResponseError>,
    transfer_encoding: bool,
    /// Number of `chunked` codings seen, and whether the last coding seen was `chunked`.
    chunked: u32,
    chunked_last: bool,
    close: bool,
    keep_alive: bool,
}

impl ResponseParser {
    /// A parser accepting heads up to `max_head` bytes (64 KiB is a sensible default).
    pub fn new(max_head: usize) -> Self {
        ResponseParser {
            max_head,
            failed: None,
            scan: LineScanner::default(),
            line: None,
            fields: Vec::with_capacity(16),
            facts: ResponseFacts::default(),
        }
    }

    /// Parse the head at the start of `buf`. `head_request` is true when the request was HEAD,
    /// so the response has no body whatever its headers say.
    pub fn parse<'b>(
        &mut self,
        buf: &'b [u8],
        head_request: bool,
    ) -> Result<Parsed<Response<'b>>, ResponseError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if buf.len() < self.scan.scanned {
            self.reset();
        }
        let step = self.advance(buf, head_request);
        remember_failure(&mut self.failed, step)
    }

    fn reset(&mut self) {
        self.scan = LineScanner::default();
        self.line = None;
        self.fields.clear();
        self.facts = ResponseFacts::default();
    }

    fn advance<'b>(
        &mut self,
        buf: &'b [u8],
        head_request: bool,
    ) -> Result<Option<Parsed<Response<'b>>>, ResponseError> {
        loop {
            let (start, end) = match self.scan.next_line(buf, self.max_head) {
                Ok(Some(line)) => line,
                Ok(None) => return Ok(None),
                Err(LineError::BareLf) => {
                    return Err(ResponseError::Malformed("bare LF line ending"))
                }
                Err(LineError::TooLarge) => return Err(ResponseError::HeadTooLarge),
            };
            let Some(line) = self.line else {
                self.line = Some(parse_status_line(buf, start, end)?);
                continue;
            };
            if start == end {
                let response = self.finish(buf, line, head_request)?;
                self.reset();
                return Ok(Some(response));
            }
            let field = parse_field(buf, start, end).map_err(ResponseError::Malformed)?;
            self.field_semantics(buf, field);
            self.fields.push(field);
        }
    }

    fn field_semantics(&mut self, buf: &[u8], field: FieldPos) {
        let name = &buf[field.name.0..field.name.1];
        let value = &buf[field.value.0..field.value.1];
        let facts = &mut self.facts;
        match name.len() {
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                // Some servers send `Content-Length: 42, 42`; identical values are one length.
                let mut any = false;
                for element in value.split(|&b| b == b',') {
                    any = true;
                    let n = match parse_content_length(crate::http::grammar::trim_ows(element)) {
                        Ok(n) => n,
                        Err(why) => {
                            facts
                                .length_error
                                .get_or_insert(ResponseError::Malformed(why));
                            continue;
                        }
                    };
                    match facts.content_length {
                        Some(previous) if previous != n => {
                            facts
                                .length_error
                                .get_or_insert(ResponseError::AmbiguousLength(
                                    "conflicting Content-Length values",
                                ));
                        }
                        _ => facts.content_length = Some(n),
                    }
                }
                if !any {
                    facts
                        .length_error
                        .get_or_insert(ResponseError::Malformed("empty Content-Length"));
                }
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                facts.transfer_encoding = true;
                for coding in list_elements(value) {
                    let chunked = coding_name(coding).eq_ignore_ascii_case(b"chunked");
                    facts.chunked += u32::from(chunked);
                    facts.chunked_last = chunked;
                }
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for option in list_elements(value) {
                    if option.eq_ignore_ascii_case(b"close") {
                        facts.close = true;
                    } else if option.eq_ignore_ascii_case(b"keep-alive") {
                        facts.keep_alive = true;
                    }
                }
            }
            _ => {}
        }
    }

    fn finish<'b>(
        &mut self,
        buf: &'b [u8],
        line: StatusLine,
        head_request: bool,
    ) -> Result<Parsed<Response<'b>>, ResponseError> {
        let facts = self.facts;
        let body = if head_request || line.status < 200 || line.status == 204 || line.status == 304
        {
            BodyKind::None
        } else if facts.transfer_encoding {
            if facts.content_length.is_some() || facts.length_error.is_some() {
                return Err(ResponseError::AmbiguousLength(
                    "both Content-Length and Transfer-Encoding",
                ));
            }
            if line.version == Version::Http10 {
                return Err(ResponseError::AmbiguousLength(
                    "Transfer-Encoding in an HTTP/1.0 response",
                ));
            }
            if facts.chunked != 1 || !facts.chunked_last {
                return Err(ResponseError::AmbiguousLength(
                    "transfer coding other than a final chunked",
                ));
            }
            BodyKind::Chunked
        } else if let Some(e) = facts.length_error {
            return Err(e);
        } else if let Some(n) = facts.content_length {
            BodyKind::Length(n)
        } else {
            BodyKind::CloseDelimited
        };
        let keep_alive = body != BodyKind::CloseDelimited
            && match line.version {
                Version::Http11 => !facts.close,
                Version::Http10 => facts.keep_alive && !facts.close,
            };
        let mut headers = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            headers.push(Header {
                name: std::str::from_utf8(&buf[field.name.0..field.name.1])
                    .map_err(|_| ResponseError::Malformed("non-ASCII header name"))?,
                value: &buf[field.value.0..field.value.1],
            });
        }
        // The reason is informational: obs-text that is not UTF-8 is dropped rather than fatal.
        let reason = std::str::from_utf8(&buf[line.reason.0..line.reason.1]).unwrap_or("");
        Ok(Parsed::Complete {
            value: Response {
                version: line.version,
                status: line.status,
                reason,
                headers,
                body,
                keep_alive,
            },
            consumed: self.scan.line_start,
        })
    }
}

impl Default for ResponseParser {
    fn default() -> Self {
        ResponseParser::new(64 * 1024)
    }
}

/// `HTTP/1.x SP 3DIGIT [SP reason]`: the space and reason may be missing.
fn parse_status_line(buf: &[u8], start: usize, end: usize) -> Result<StatusLine, ResponseError> {
    let line = &buf[start..end];
    if line.len() < 12 || line[8] != b' ' {
        return Err(ResponseError::Malformed("malformed status line"));
    }
    let version = match &line[..8] {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        _ => return Err(ResponseError::Malformed("unsupported HTTP version")),
    };
    let code = &line[9..12];
    if !code.iter().all(u8::is_ascii_digit) || code[0] == b'0' {
        return Err(ResponseError::Malformed("malformed status code"));
    }
    let status = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    let reason = match &line[12..] {
        [] => (end, end),
        [b' ', reason @ ..] => {
            if reason
                .iter()
                .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
            {
                return Err(ResponseError::Malformed("control byte in reason phrase"));
            }
            (start + 13, end)
        }
        _ => return Err(ResponseError::Malformed("malformed status code")),
    };
    Ok(StatusLine {
        version,
        status,
        reason,
    })
}
