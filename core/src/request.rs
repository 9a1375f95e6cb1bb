//! Incremental, strict RFC 9112 request-head parser (server side).
//!
//! Contract: the caller keeps one buffer per connection holding the bytes not yet consumed, appends
//! what it reads, and calls [`RequestParser::parse`] with the whole unconsumed buffer. The parser
//! remembers how far it has already scanned, so feeding one byte at a time costs O(n) overall.
//! On [`Parsed::Complete`] the head occupied `consumed` bytes; the body (framed by
//! [`Request::body`]) or the next pipelined request follows. The parser then resets itself for the
//! next message, which the caller passes starting at its first byte. After an error the parser stays
//! failed and returns the same error on every call.

use crate::{BodyKind, Header, Parsed, Version};

/// Limits on what a request head may contain, each mapped to the status a server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest head (request line + headers + final CRLF), in bytes. Over it: 431.
    pub max_head: usize,
    /// Most header fields. Over it: 431.
    pub max_headers: usize,
    /// Longest request-target. Over it: 414.
    pub max_target: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 8 * 1024,
            max_headers: 100,
            max_target: 4 * 1024,
        }
    }
}

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
}

impl<'a> Request<'a> {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        crate::find_header(&self.headers, name)
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
}

/// Why a request head was rejected. Each variant knows the status a server should answer with
/// ([`ParseError::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Malformed syntax: 400. The string says what was wrong, for logs and error pages.
    BadRequest(&'static str),
    /// The head is larger than [`Limits::max_head`] or has more than [`Limits::max_headers`]
    /// fields: 431.
    HeadTooLarge,
    /// The request-target is longer than [`Limits::max_target`]: 414.
    TargetTooLong,
    /// A version other than HTTP/1.0 or HTTP/1.1: 505.
    VersionNotSupported,
    /// A method/target combination the server does not do (CONNECT's authority form): 501.
    NotImplemented(&'static str),
}

impl ParseError {
    /// The status code a server should answer this error with.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::BadRequest(_) => 400,
            ParseError::HeadTooLarge => 431,
            ParseError::TargetTooLong => 414,
            ParseError::VersionNotSupported => 505,
            ParseError::NotImplemented(_) => 501,
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
        }
    }
}

impl std::error::Error for ParseError {}

/// Incremental request-head parser; one per connection, reused for every pipelined request.
#[derive(Debug, Clone)]
pub struct RequestParser {
    limits: Limits,
    // implementation state (scan offset, failure) lives here
}

impl RequestParser {
    /// A parser with the given limits.
    pub fn new(limits: Limits) -> Self {
        RequestParser { limits }
    }

    /// Parse the head at the start of `buf` (the whole unconsumed buffer). See the module docs.
    pub fn parse<'b>(&mut self, buf: &'b [u8]) -> Result<Parsed<Request<'b>>, ParseError> {
        let _ = (buf, self.limits);
        todo!("core-http helper")
    }
}

impl Default for RequestParser {
    fn default() -> Self {
        RequestParser::new(Limits::default())
    }
}
