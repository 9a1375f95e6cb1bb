//! The HTTP/1.1 wire protocol, used by every program: head parsers and writers, body framing,
//! one server-side connection and one client-side exchange, dates, URLs, status codes, error
//! pages, access-log lines, digest fields (with their base64) and Ricochet's own request headers. Nothing here knows of files,
//! downloads or balancing.

pub mod access_log;
pub mod base64;
pub mod body;
pub mod connection;
pub mod date;
pub mod digest;
pub mod error_page;
pub mod exchange;
pub(crate) mod grammar;
pub mod link;
pub mod report;
pub mod request;
pub mod response;
pub mod status;
pub mod url;
pub mod write;

/// HTTP version of a message. Only HTTP/1.0 and HTTP/1.1 are spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// `HTTP/1.0`
    Http10,
    /// `HTTP/1.1`
    Http11,
}

impl Version {
    /// The version as it appears on the wire, e.g. `HTTP/1.1`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// One header field, borrowed from the caller's buffer. The name keeps its original case;
/// compare it with [`str::eq_ignore_ascii_case`]. The value has surrounding whitespace trimmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// Field name, a validated token.
    pub name: &'a str,
    /// Field value without leading or trailing whitespace; may be non-UTF-8 (obs-text).
    pub value: &'a [u8],
}

/// How the body of a message is delimited, decided from the head by the parsers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body at all (e.g. a GET without Content-Length, a HEAD response, 204, 304).
    None,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// The body runs until the peer closes the connection (responses only).
    CloseDelimited,
}

/// Result of feeding bytes to an incremental parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The head is not complete yet: read more bytes, append them, and call again with the
    /// whole unconsumed buffer.
    Partial,
    /// The head is complete.
    Complete {
        /// The parsed head, borrowing from the buffer.
        value: T,
        /// How many bytes of the buffer the head occupied; the body (or the next pipelined
        /// message) starts at this offset.
        consumed: usize,
    },
}

/// Find a header by name, case-insensitively. Returns the first match.
pub fn find_header<'a>(headers: &[Header<'a>], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}
