//! Why a download failed, as kinds: each kind has one exit code ([`ClientError::exit`]) and
//! says whether another attempt may succeed ([`ClientError::is_transient`]) or a redirect target
//! should be failed over ([`ClientError::is_unreachable`]).

use crate::cli::exit::Exit;
use crate::runtime::exchange::{ConnectError, ReceiveError};
use crate::runtime::tls::{CertError, HandshakeError};
use ricochet_core::download::follow::{self, FollowError};
use ricochet_core::download::resume;
use ricochet_core::download::verify::Mismatch;
use ricochet_core::http::body::BodyError;
use ricochet_core::http::exchange::ReadError;
use ricochet_core::http::url::{Url, UrlError};
use std::io;
use std::path::PathBuf;

/// What the client was waiting for when the timeout passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// Resolving the name, connecting, or the TLS handshake: the server may be down.
    Connect,
    /// Sending the request.
    Send,
    /// The response head.
    Head,
    /// More of the body.
    Body,
}

impl TimeoutPhase {
    /// What the client was doing, as a phrase before the URL.
    fn doing(self) -> &'static str {
        match self {
            TimeoutPhase::Connect => "connecting to",
            TimeoutPhase::Send => "sending the request to",
            TimeoutPhase::Head => "waiting for a response from",
            TimeoutPhase::Body => "waiting for the body from",
        }
    }
}

/// Why a download failed.
#[derive(Debug)]
pub enum ClientError {
    /// The URL given cannot be used.
    BadUrl(String, UrlError),
    /// The host name does not resolve.
    Resolve(String, io::Error),
    /// No address of the host accepted the connection.
    Connect(String, io::Error),
    /// Nothing happened for the timeout while waiting for the phase's step.
    Timeout(TimeoutPhase, Url),
    /// The response cannot be understood.
    Protocol(Url, String),
    /// The connection broke before the response head was complete.
    Broken(Url, String),
    /// An `http://` exchange failed the way a TLS server answers plain HTTP
    /// ([`follow::may_want_tls`]); the string says how it failed.
    WantsTls(Url, String),
    /// The final response is not 2xx.
    Status(u16, String),
    /// Following redirects failed.
    Redirect(FollowError),
    /// The local file (named as the user gave it) could not be written.
    File(PathBuf, io::Error),
    /// The body ended before its announced end.
    Truncated(Url, BodyError),
    /// The TLS handshake with the named `host:port` failed.
    Tls(String, HandshakeError),
    /// A `--cacert` file cannot be used.
    CaFile(CertError),
    /// The bytes from `host:port` are not the file the digest describes (the server announced
    /// another digest than the redirect's, or what was saved hashes to another one).
    Digest(String, Box<Mismatch>),
    /// A multi-source download ran out of usable sources before the file was complete; the
    /// string says what happened to them.
    NoSource(String),
}

impl ClientError {
    /// How the process ends for this error.
    pub fn exit(&self) -> Exit {
        match self {
            ClientError::BadUrl(..) => Exit::Usage,
            ClientError::Resolve(..) | ClientError::Connect(..) => Exit::Network,
            ClientError::Timeout(..) => Exit::Timeout,
            ClientError::Protocol(..) | ClientError::Broken(..) | ClientError::WantsTls(..) => {
                Exit::Malformed
            }
            ClientError::Status(..) => Exit::Status,
            ClientError::Redirect(..) => Exit::Redirect,
            ClientError::File(..) | ClientError::CaFile(..) => Exit::LocalFile,
            ClientError::Truncated(..) => Exit::CutShort,
            ClientError::Tls(..) => Exit::Tls,
            ClientError::Digest(..) => Exit::DigestMismatch,
            ClientError::NoSource(..) => Exit::CutShort,
        }
    }

    /// Whether another attempt may succeed: the connection failed or was cut, nothing came
    /// in time, or the status says "try again later". Not a TLS server asked in plain HTTP.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Connect(..)
            | ClientError::Timeout(..)
            | ClientError::Broken(..)
            | ClientError::Truncated(..)
            | ClientError::NoSource(..) => true,
            ClientError::Status(status, _) => resume::is_transient_status(*status),
            _ => false,
        }
    }

    /// Whether the server could not be reached at all (refused, or no connection in time):
    /// a redirect target failing so is worth asking the redirecting URL about once more.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ClientError::Connect(..) | ClientError::Timeout(TimeoutPhase::Connect, _)
        )
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::BadUrl(url, e) => write!(f, "bad URL '{url}': {e}"),
            ClientError::Resolve(host, e) => write!(f, "cannot resolve {host}: {e}"),
            ClientError::Connect(addr, e) => write!(f, "cannot connect to {addr}: {e}"),
            ClientError::Timeout(phase, url) => write!(f, "timed out {} {url}", phase.doing()),
            ClientError::Protocol(url, what) | ClientError::Broken(url, what) => {
                write!(f, "bad response from {url}: {what}")
            }
            ClientError::WantsTls(url, what) => write!(
                f,
                "bad response from {url}: {what}; the server answered like a TLS server: \
                 it may want https://"
            ),
            ClientError::Status(status, reason) => {
                write!(f, "server answered {status} {reason}; nothing saved")
            }
            ClientError::Redirect(e @ FollowError::Downgrade(_)) => {
                write!(f, "{e} (--allow-downgrade follows it)")
            }
            ClientError::Redirect(e) => write!(f, "{e}"),
            ClientError::File(path, e) => write!(f, "cannot save {}: {e}", path.display()),
            ClientError::Truncated(url, e) => {
                write!(f, "download from {url} incomplete: {e}")
            }
            ClientError::Tls(addr, e) => write!(f, "{addr}: {e}"),
            ClientError::CaFile(e) => write!(f, "--cacert: {e}"),
            ClientError::Digest(server, e) => {
                write!(f, "{server} sent a wrong copy: {e}; nothing saved")
            }
            ClientError::NoSource(what) => write!(f, "no source left: {what}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// The client's error for a connection to `url` that could not be made.
pub(super) fn connect_error(url: &Url, e: ConnectError) -> ClientError {
    match e {
        ConnectError::Resolve(e) => ClientError::Resolve(url.host().to_string(), e),
        ConnectError::Connect(addr, e) => ClientError::Connect(addr.to_string(), e),
        ConnectError::Timeout => ClientError::Timeout(TimeoutPhase::Connect, url.clone()),
        ConnectError::Handshake(e) => ClientError::Tls(url.socket_addr(), e),
        ConnectError::TlsConfig(e) => ClientError::CaFile(e),
    }
}

/// The client's error for a response head from `url` that could not be received, given
/// every byte that came back (`received`), which may show a TLS server behind `http://`.
pub(super) fn head_error(url: &Url, e: ReceiveError, received: &[u8]) -> ClientError {
    let error = match e {
        ReceiveError::Read(e @ (ReadError::NoResponse | ReadError::HeadCut)) => {
            ClientError::Broken(url.clone(), e.to_string())
        }
        ReceiveError::Read(e) => ClientError::Protocol(url.clone(), e.to_string()),
        ReceiveError::Io(e) => ClientError::Broken(
            url.clone(),
            format!("reading the response head failed: {e}"),
        ),
        ReceiveError::Timeout => return ClientError::Timeout(TimeoutPhase::Head, url.clone()),
    };
    match error {
        ClientError::Broken(url, what) | ClientError::Protocol(url, what)
            if follow::may_want_tls(&url, received) =>
        {
            ClientError::WantsTls(url, what)
        }
        other => other,
    }
}

/// The client's error for a body from `url` that could not be read: cut short, or malformed.
pub(super) fn body_error(url: &Url, e: ReadError) -> ClientError {
    match e {
        ReadError::Body(cut @ BodyError::Truncated { .. }) => {
            ClientError::Truncated(url.clone(), cut)
        }
        other => ClientError::Protocol(url.clone(), other.to_string()),
    }
}
