//! The client side of one HTTP exchange, shared by the download client and the balancer's
//! prober: connect to a URL (resolve, then try each address), send a request, and receive the
//! response through the core's [`ResponseReader`].
//!
//! Everything after [`connect`] works on any `AsyncRead + AsyncWrite + Unpin` stream, so a TLS
//! stream wrapping the [`TcpStream`] can take its place.

use crate::runtime::{self, AsyncReadExt, AsyncWriteExt, TcpStream};
use futures::io::{AsyncRead, AsyncWrite};
use ricochet_core::exchange::{Event, ReadError, ResponseReader};
use ricochet_core::url::Url;
use ricochet_core::write::write_request_head_with;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// `User-Agent` sent with every request.
pub const USER_AGENT: &str = concat!("ricochet/", env!("CARGO_PKG_VERSION"));

/// Why no connection was made.
#[derive(Debug)]
pub enum ConnectError {
    /// The host name does not resolve.
    Resolve(io::Error),
    /// The last address tried refused or was unreachable.
    Connect(SocketAddr, io::Error),
    /// Resolving, or connecting to the last address tried, took longer than the timeout.
    Timeout,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Resolve(e) => write!(f, "cannot resolve: {e}"),
            ConnectError::Connect(addr, e) => write!(f, "cannot connect to {addr}: {e}"),
            ConnectError::Timeout => f.write_str("timed out connecting"),
        }
    }
}

/// Resolve the URL's host and connect to its addresses in turn, each attempt (and the
/// resolution) bounded by `timeout`. The first that accepts wins.
pub async fn connect(url: &Url, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let addrs = match runtime::timeout(timeout, runtime::resolve(&url.socket_addr())).await {
        None => return Err(ConnectError::Timeout),
        Some(Err(e)) => return Err(ConnectError::Resolve(e)),
        Some(Ok(addrs)) => addrs,
    };
    let mut last = ConnectError::Resolve(io::ErrorKind::NotFound.into());
    for addr in addrs {
        match runtime::timeout(timeout, runtime::connect(addr)).await {
            Some(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Some(Err(e)) => last = ConnectError::Connect(addr, e),
            None => last = ConnectError::Timeout,
        }
    }
    Err(last)
}

/// Send `GET url` with `fields` added (with `Connection: close`: one request per connection),
/// bounded by `timeout`. `Ok(None)` on timeout.
pub async fn send_get<S: AsyncWrite + Unpin>(
    stream: &mut S,
    url: &Url,
    fields: &[(&str, &[u8])],
    timeout: Duration,
) -> io::Result<Option<()>> {
    let mut request = Vec::with_capacity(256);
    write_request_head_with(&mut request, "GET", url, USER_AGENT, false, fields);
    runtime::timeout(timeout, stream.write_all(&request))
        .await
        .transpose()
}

/// Why a response could not be received.
#[derive(Debug)]
pub enum ReceiveError {
    /// The bytes received are not a valid response, or it ended early (see
    /// [`ReadError::is_truncation`]).
    Read(ReadError),
    /// Reading from the connection failed (a reset is not a clean end, even for a
    /// close-delimited body).
    Io(io::Error),
    /// Nothing arrived for the timeout.
    Timeout,
}

impl std::fmt::Display for ReceiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReceiveError::Read(e) => e.fmt(f),
            ReceiveError::Io(e) => write!(f, "reading failed: {e}"),
            ReceiveError::Timeout => f.write_str("timed out waiting for data"),
        }
    }
}

/// The receive buffer of one connection and the bytes in it not consumed yet.
pub struct Received {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Received {
    /// A buffer of `capacity` bytes: the most of a body held in memory at once; it must hold
    /// the largest response head the reader accepts.
    pub fn new(capacity: usize) -> Received {
        Received {
            buf: vec![0; capacity].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    /// Forget what is buffered (a new connection starts empty).
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.clear();
        }
    }

    /// Read more; `Ok(None)` on timeout, `Ok(Some(0))` at end of stream.
    async fn fill<S: AsyncRead + Unpin>(
        &mut self,
        stream: &mut S,
        timeout: Duration,
    ) -> io::Result<Option<usize>> {
        if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Err(io::Error::other(
                "response head larger than the receive buffer",
            ));
        }
        match runtime::timeout(timeout, stream.read(&mut self.buf[self.end..])).await {
            None => Ok(None),
            Some(Ok(n)) => {
                self.end += n;
                Ok(Some(n))
            }
            Some(Err(e)) => Err(e),
        }
    }

    /// Read until `reader` has the next event, and hand it to `handle` (the event borrows
    /// from this buffer, so it is handled here rather than returned). Waits at most `timeout`
    /// for each read. After [`Event::End`] every call returns `End` again.
    pub async fn next_event<S, T>(
        &mut self,
        stream: &mut S,
        reader: &mut ResponseReader,
        timeout: Duration,
        handle: impl FnOnce(Event<'_>) -> T,
    ) -> Result<T, ReceiveError>
    where
        S: AsyncRead + Unpin,
    {
        loop {
            let step = reader
                .read(&self.buf[self.start..self.end])
                .map_err(ReceiveError::Read)?;
            if let Some(event) = step.event {
                let handled = handle(event);
                self.consume(step.consumed);
                return Ok(handled);
            }
            self.consume(step.consumed);
            match self.fill(stream, timeout).await {
                Ok(Some(0)) => reader
                    .handle_eof(self.pending())
                    .map_err(ReceiveError::Read)?,
                Ok(Some(_)) => {}
                Ok(None) => return Err(ReceiveError::Timeout),
                Err(e) => return Err(ReceiveError::Io(e)),
            }
        }
    }
}
