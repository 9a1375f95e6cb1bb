//! Ricochet's sans-IO core: everything Ricochet knows about HTTP/1.1, URLs, redirects, server
//! ranking and probe scheduling, as pure functions and state machines.
//!
//! Nothing here touches a socket, a file, a clock or the OS's randomness. Bytes come in as `&[u8]`,
//! time as an [`std::time::Instant`] or [`std::time::SystemTime`] value passed by the caller, and
//! randomness as an injected [`rand::Rng`]. The caller (the `ricochet` crate, or any other runtime,
//! WASI included) owns the I/O: it reads, feeds the core, writes what the core produced and sleeps
//! until the core's next deadline.
//!
//! Module map:
//! - `grammar` (internal): the HTTP/1.1 grammar both parsers share (tokens, CRLF lines, header
//!   fields, lists).
//! - [`request`]: incremental, strict request-head parser (server side).
//! - [`connection`]: one server-side connection as a state machine (requests, bodies skipped,
//!   keep-alive, deadlines, drain, closing), shared by the file server and the balancer.
//! - [`body`]: message body framing (Content-Length, chunked, close-delimited) for both sides.
//! - [`response`]: response-head parser (client side).
//! - [`exchange`]: reading one response on the client side (1xx, body, end), for the client and
//!   the prober.
//! - [`mod@write`]: response and request head writers.
//! - [`date`]: HTTP dates, IMF-fixdate formatting and parsing.
//! - [`url`]: `http://` URL parsing, reference resolution and percent-encoding.
//! - [`status`]: status codes as a type, with their reason phrases.
//! - [`error_page`]: error pages and the GET/HEAD method policy, for server and balancer.
//! - [`serve`]: the static file server's decisions (path mapping, content types, what a file
//!   request is answered).
//! - [`conditional`]: ETags and conditional requests (304, 412, `If-Range`).
//! - [`range`]: byte ranges (`Range`, 206, 416).
//! - [`follow`]: the download client's decisions (redirect following, output file name).
//! - [`resume`]: the download client's resumes and retries (Range, If-Range, 200/206/416).
//! - [`redirect`]: the balancer's redirect responses (and client reports of unreachable
//!   servers).
//! - [`probe`]: how to judge a probe, and each server's health: when to probe it, when it is
//!   removed, re-checked and re-admitted.
//! - [`pool`]: servers with their latest measurements, ranking and the weighted random pick
//!   (uses [`probe::Measurement`]; `probe` knows nothing of the pool).
//! - [`admin`]: the balancer's admin application (status page, JSON, metrics, reload).
//! - [`access_log`]: access log lines in Combined Log Format.
//! - [`balancer`]: the pool driven by the probe schedule, publishing rankings, taking client
//!   reports and reloads, giving snapshots (the balancer's whole probing logic, so its shell
//!   only downloads and times).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod access_log;
pub mod admin;
pub mod balancer;
/// The README's Rust examples, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

pub mod body;
pub mod conditional;
pub mod connection;
pub mod date;
pub mod error_page;
pub mod exchange;
pub mod follow;
mod grammar;
pub mod pool;
pub mod probe;
pub mod range;
pub mod redirect;
pub mod request;
pub mod response;
pub mod resume;
pub mod serve;
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
