//! The exit codes of every binary: one failure, one code, whichever program meets it.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success: saved, or stopped after every connection drained |
//! | 1 | usage: a bad flag, argument, URL or server-list line |
//! | 2 | the network: a name not resolved, a connection refused, an address that cannot be listened on |
//! | 3 | timed out connecting or waiting for data |
//! | 4 | malformed response |
//! | 5 | final response not 2xx |
//! | 6 | redirect problem: too many, a loop, a missing or bad `Location`, a downgrade to `http` |
//! | 7 | a local file: the output, the root folder, the probe file, the server list, the access log, a certificate, key or CA file unreadable or unusable, or another `--continue` run holds the partial file |
//! | 8 | download cut short |
//! | 9 | TLS failure: the peer's certificate, its name, or the handshake |
//! | 10 | no server passed the first probe |
//! | 11 | a worker process failed |
//! | 12 | stopped, but connections were cut (`--shutdown-timeout`, or a second signal) |
//! | 13 | the downloaded bytes do not match the file's digest (a server's copy is wrong): nothing saved |

use std::process::ExitCode;

/// Why a program ended; its code is the table's (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Saved, or stopped after every connection drained.
    Success = 0,
    /// A bad flag, argument, URL or server-list line.
    Usage = 1,
    /// A name not resolved, a connection refused, an address that cannot be listened on.
    Network = 2,
    /// Timed out connecting or waiting for data.
    Timeout = 3,
    /// A malformed response.
    Malformed = 4,
    /// The final response was not 2xx.
    Status = 5,
    /// Too many redirects, a loop, a missing or bad `Location`, a downgrade.
    Redirect = 6,
    /// A local file: output, root, probe file, certificate, key or CA file, the partial's lock.
    LocalFile = 7,
    /// The download was cut short.
    CutShort = 8,
    /// The peer's certificate, its name, or the handshake.
    Tls = 9,
    /// No server passed the first probe.
    NoServer = 10,
    /// A worker process failed.
    WorkerFailed = 11,
    /// Stopped, but connections were cut.
    Forced = 12,
    /// The downloaded bytes do not match the file's digest.
    DigestMismatch = 13,
}

impl Exit {
    /// The numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}
