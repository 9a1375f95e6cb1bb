//! Incremental response-head parser (client side).
//!
//! Same buffer contract as [`crate::request::RequestParser`]. Tolerant where common servers
//! deviate (an empty or missing reason phrase, obs-text in values), never ambiguous about where the
//! body ends: conflicting Content-Length values, or Content-Length with Transfer-Encoding, are
//! errors. 1xx interim responses are returned like any other; the caller skips them and parses
//! again.

use crate::{BodyKind, Header, Parsed, Version};

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
        crate::find_header(&self.headers, name)
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
    // implementation state lives here
}

impl ResponseParser {
    /// A parser accepting heads up to `max_head` bytes (64 KiB is a sensible default).
    pub fn new(max_head: usize) -> Self {
        ResponseParser { max_head }
    }

    /// Parse the head at the start of `buf`. `head_request` is true when the request was HEAD,
    /// so the response has no body whatever its headers say.
    pub fn parse<'b>(
        &mut self,
        buf: &'b [u8],
        head_request: bool,
    ) -> Result<Parsed<Response<'b>>, ResponseError> {
        let _ = (buf, head_request, self.max_head);
        todo!("core-http helper")
    }
}

impl Default for ResponseParser {
    fn default() -> Self {
        ResponseParser::new(64 * 1024)
    }
}
