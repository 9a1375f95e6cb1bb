//! Writers for response heads (server, balancer) and request heads (client), and HTTP dates.
//!
//! Writers append to a caller-owned `Vec<u8>` so a connection can reuse one output buffer.
//! Header values given to the writers must not contain CR or LF; values that do are refused
//! (never written), so no caller can split a header.

use std::time::SystemTime;

/// A response head under construction. Build it, then [`ResponseHead::write`] it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code; the reason phrase comes from [`crate::status::reason_phrase`].
    pub status: u16,
    /// Header fields, in order, written after the status line.
    pub headers: Vec<(&'static str, String)>,
}

/// Why a head could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteError {
    /// A header value contained CR, LF or NUL.
    InvalidHeaderValue,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("header value contains CR, LF or NUL")
    }
}

impl std::error::Error for WriteError {}

impl ResponseHead {
    /// A head with this status and no headers yet.
    pub fn new(status: u16) -> Self {
        ResponseHead {
            status,
            headers: Vec::new(),
        }
    }

    /// Add a header. Chainable.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Append the status line (`HTTP/1.1 <status> <reason>`), the headers and the final CRLF.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), WriteError> {
        let _ = out;
        todo!("core-http helper")
    }
}

/// Format `t` as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`. Times before 1970 format
/// as the epoch.
pub fn http_date(t: SystemTime) -> String {
    let _ = t;
    todo!("core-http helper")
}

/// Parse an HTTP date: IMF-fixdate, and the obsolete RFC 850 and asctime forms a recipient must
/// accept. `None` when it is none of them.
pub fn parse_http_date(value: &[u8]) -> Option<SystemTime> {
    let _ = value;
    todo!("core-http helper")
}

/// Append a client request head: `<method> <path> HTTP/1.1`, `Host` (with the port unless it is
/// 80), `User-Agent`, `Accept: */*`, and `Connection: close` unless `keep_alive`.
pub fn write_request_head(
    out: &mut Vec<u8>,
    method: &str,
    url: &crate::url::Url,
    user_agent: &str,
    keep_alive: bool,
) {
    let _ = (out, method, url, user_agent, keep_alive);
    todo!("core-http helper")
}
