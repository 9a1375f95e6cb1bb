//! What one probe yields: [`judge`] turns what the shell observed during a probe download (status,
//! announced and received length, time) into a [`Measurement`] or a [`ProbeFailure`];
//! [`verdict`] does it from a [`ResponseReader`] that read the probe's response, and [`decided`]
//! says when the head alone decides it. [`crate::balance::probe`] schedules the probes.

use crate::http::body::BodyError;
use crate::http::exchange::{ReadError, ResponseReader};
use std::fmt;
use std::time::Duration;

/// A successful probe: how long the full download took and how many body bytes it carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measurement {
    /// From starting to connect to the last body byte.
    pub elapsed: Duration,
    /// Body bytes received.
    pub bytes: u64,
}

impl Measurement {
    /// Bytes per second. A zero duration counts as one nanosecond, so the result is finite.
    pub fn bytes_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        self.bytes as f64 / secs
    }
}

/// Why a probe failed, as a kind; the message is `Display`'s. The text some kinds carry is the
/// OS's or the TLS library's own words, for the log line: nothing matches on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeFailure {
    /// The host name did not resolve: the resolver's words.
    Unresolved(String),
    /// The connection was refused: nothing listens on the port.
    Refused,
    /// The server could not be reached otherwise (host or network unreachable): the OS's words.
    Unreachable(String),
    /// No complete answer within the probe timeout.
    Timeout,
    /// The TLS handshake failed (certificate, name, protocol): the TLS library's words.
    Tls(String),
    /// The connection broke while the request was sent or the response read: the OS's words.
    Broken(String),
    /// The connection closed before any byte of a response.
    NoResponse,
    /// The connection closed in the middle of the response (its head, or a body without a
    /// Content-Length).
    Truncated,
    /// The response is not valid HTTP: what is wrong with it.
    Malformed(String),
    /// The server answered with a status other than 200.
    Status(u16),
    /// The body was not as long as the response's Content-Length announced.
    WrongLength {
        /// Bytes announced by Content-Length.
        expected: u64,
        /// Bytes received.
        received: u64,
    },
}

impl fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeFailure::Unresolved(why) => write!(f, "cannot connect: name not resolved: {why}"),
            ProbeFailure::Refused => f.write_str("cannot connect: connection refused"),
            ProbeFailure::Unreachable(why) => write!(f, "cannot connect: {why}"),
            ProbeFailure::Timeout => f.write_str("probe timed out"),
            ProbeFailure::Tls(why) => write!(f, "cannot connect over TLS: {why}"),
            ProbeFailure::Broken(why) => write!(f, "download failed: {why}"),
            ProbeFailure::NoResponse => f.write_str("closed the connection without answering"),
            ProbeFailure::Truncated => {
                f.write_str("closed the connection before the response ended")
            }
            ProbeFailure::Malformed(why) => write!(f, "malformed response: {why}"),
            ProbeFailure::Status(s) => write!(
                f,
                "answered {s} {} instead of 200",
                crate::http::status::reason_phrase(*s)
            ),
            ProbeFailure::WrongLength { expected, received } => write!(
                f,
                "received {received} bytes, Content-Length announced {expected}"
            ),
        }
    }
}

impl std::error::Error for ProbeFailure {}

/// Judge a completed probe download: `status` of the response, the Content-Length it
/// announced (`Some(n)` when the response's body was [`crate::http::BodyKind::Length`]`(n)`, `None`
/// for chunked or close-delimited), the body bytes actually `received`, and the `elapsed` time
/// from starting to connect to the last byte.
///
/// Success needs status 200 and, when a length was announced, exactly that many bytes.
pub fn judge(
    status: u16,
    content_length: Option<u64>,
    received: u64,
    elapsed: Duration,
) -> Result<Measurement, ProbeFailure> {
    if status != 200 {
        return Err(ProbeFailure::Status(status));
    }
    if let Some(expected) = content_length {
        if expected != received {
            return Err(ProbeFailure::WrongLength { expected, received });
        }
    }
    Ok(Measurement {
        elapsed,
        bytes: received,
    })
}

/// Whether the head alone already decides a probe (its status is not 200): the prober need
/// not read the body.
pub fn decided(reader: &ResponseReader) -> bool {
    reader.status().is_some_and(|s| s != 200)
}

/// Judge a probe download that read through `reader`: `failure` is the read error that ended
/// it, if one did, and `elapsed` the time from starting to connect to the last byte (see
/// [`judge`]). A status other than 200 is judged on the head alone, so a prober may stop
/// reading as soon as [`decided`]. A body shorter than its Content-Length is a wrong length,
/// not a transfer error.
pub fn verdict(
    reader: &ResponseReader,
    failure: Option<&ReadError>,
    elapsed: Duration,
) -> Result<Measurement, ProbeFailure> {
    let announced = reader.announced_length();
    match (reader.status(), failure) {
        (Some(status), _) if decided(reader) => judge(status, announced, 0, elapsed),
        (Some(status), Some(ReadError::Body(BodyError::Truncated { .. })))
            if announced.is_some() =>
        {
            judge(status, announced, reader.received(), elapsed)
        }
        (_, Some(e)) => Err(read_failure(e)),
        (Some(status), None) if reader.is_done() => {
            judge(status, announced, reader.received(), elapsed)
        }
        (None, None) => Err(ProbeFailure::NoResponse),
        (Some(_), None) => Err(ProbeFailure::Truncated),
    }
}

/// The kind of a read error that ended a probe download.
fn read_failure(e: &ReadError) -> ProbeFailure {
    match e {
        ReadError::NoResponse => ProbeFailure::NoResponse,
        ReadError::HeadCut | ReadError::Body(BodyError::Truncated { .. }) => {
            ProbeFailure::Truncated
        }
        ReadError::Head(_) | ReadError::Body(_) | ReadError::UnexpectedSwitch => {
            ProbeFailure::Malformed(e.to_string())
        }
    }
}
