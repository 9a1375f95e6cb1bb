//! The client side of one HTTP exchange, shared by the download client and the balancer's
//! prober: connect to a URL (resolve, then try each address), send a request, and receive the
//! response through the core's [`ResponseReader`].
//!
//! [`connect`] gives a [`Stream`], plain TCP or TLS by the URL's scheme; everything after it works
//! on any `AsyncRead + AsyncWrite + Unpin` stream.

use crate::runtime::tls::{self, CertError, Connector, HandshakeError, Stream, Trust};
use crate::runtime::{self, AsyncReadExt, AsyncWriteExt};
use futures::io::{AsyncRead, AsyncWrite};
use ricochet_core::balance::family::Family;
use ricochet_core::http::exchange::{Event, ReadError, ResponseReader};
use ricochet_core::http::url::{Scheme, Url};
use ricochet_core::http::write::write_request_head_with;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::OnceLock;
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
    /// Resolving and connecting together, or the TLS handshake, took longer than the timeout.
    Timeout,
    /// The TLS handshake failed (certificate, name, protocol).
    Handshake(HandshakeError),
    /// The TLS configuration could not be built (a `--cacert` file).
    TlsConfig(CertError),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Resolve(e) => write!(f, "cannot resolve: {e}"),
            ConnectError::Connect(addr, e) => write!(f, "cannot connect to {addr}: {e}"),
            ConnectError::Timeout => f.write_str("timed out connecting"),
            ConnectError::Handshake(e) => e.fmt(f),
            ConnectError::TlsConfig(e) => e.fmt(f),
        }
    }
}

/// How to make TLS connections: the trust to verify servers with, and the connector built from
/// it on first use (reading the system's trust store costs a few milliseconds, which a plain
/// `http://` download never pays). One per process, so later connections resume sessions.
#[derive(Debug, Default)]
pub struct TlsClient {
    trust: Trust,
    connector: OnceLock<Connector>,
}

impl TlsClient {
    /// A client trusting what `trust` says.
    pub fn new(trust: Trust) -> TlsClient {
        TlsClient {
            trust,
            connector: OnceLock::new(),
        }
    }

    /// The connector, built now if it was not yet (a bad `--cacert` file fails here).
    pub fn connector(&self) -> Result<&Connector, CertError> {
        if let Some(connector) = self.connector.get() {
            return Ok(connector);
        }
        let connector = Connector::new(tls::client_config(&self.trust)?);
        Ok(self.connector.get_or_init(|| connector))
    }
}

/// Resolve the URL's host and connect to its addresses in turn, the first that accepts
/// winning, all of it bounded by `timeout` (as curl's `--connect-timeout`). For an `https` URL
/// the TLS handshake follows (its own `timeout`), verifying the certificate for the URL's host.
pub async fn connect(
    url: &Url,
    tls: &TlsClient,
    timeout: Duration,
) -> Result<Stream, ConnectError> {
    connect_over(url, None, tls, timeout).await
}

/// [`connect`], to the addresses of `family` only when one is given (the balancer probes a
/// server over each family separately): a name without an address of that family fails as
/// [`ConnectError::Resolve`].
pub async fn connect_over(
    url: &Url,
    family: Option<Family>,
    tls: &TlsClient,
    timeout: Duration,
) -> Result<Stream, ConnectError> {
    let resolve = async {
        let mut addrs = runtime::resolve(&url.socket_addr()).await?;
        if let Some(family) = family {
            addrs.retain(|a| Family::of(a.ip()) == family);
            if addrs.is_empty() {
                let why = format!("no {family} address");
                return Err(io::Error::new(io::ErrorKind::NotFound, why));
            }
        }
        Ok(addrs)
    };
    let tcp = connect_within(resolve, timeout).await?;
    if url.scheme() == Scheme::Http {
        return Ok(Stream::Plain(tcp));
    }
    let connector = tls.connector().map_err(ConnectError::TlsConfig)?;
    if tls.trust.insecure {
        eprintln!("warning: --insecure: the certificate of {url} is not verified");
    }
    match connector.connect(url.host(), tcp, timeout).await {
        Ok(stream) => Ok(stream),
        Err(HandshakeError::TimedOut) => Err(ConnectError::Timeout),
        Err(e) => Err(ConnectError::Handshake(e)),
    }
}

/// Connect to the addresses `resolve` yields, in turn, the first that accepts winning; the
/// resolution and every attempt together take at most `timeout`, however many addresses.
pub async fn connect_within(
    resolve: impl Future<Output = io::Result<Vec<SocketAddr>>>,
    timeout: Duration,
) -> Result<runtime::TcpStream, ConnectError> {
    let connect = async {
        let addrs = resolve.await.map_err(ConnectError::Resolve)?;
        let mut last = ConnectError::Resolve(io::ErrorKind::NotFound.into());
        for addr in addrs {
            match runtime::connect(addr).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Err(e) => last = ConnectError::Connect(addr, e),
            }
        }
        Err(last)
    };
    runtime::timeout(timeout, connect)
        .await
        .unwrap_or(Err(ConnectError::Timeout))
}

/// Send `GET url` with `fields` added (with `Connection: close`: one request per connection),
/// bounded by `timeout`. `Ok(None)` on timeout. Flushed: over TLS the request may otherwise
/// wait in the record layer.
pub async fn send_get<S: AsyncWrite + Unpin>(
    stream: &mut S,
    url: &Url,
    fields: &[(&str, &[u8])],
    timeout: Duration,
) -> io::Result<Option<()>> {
    send_request(stream, "GET", url, fields, timeout).await
}

/// As [`send_get`], with another method (`HEAD` for the balancer's file checks).
pub async fn send_request<S: AsyncWrite + Unpin>(
    stream: &mut S,
    method: &str,
    url: &Url,
    fields: &[(&str, &[u8])],
    timeout: Duration,
) -> io::Result<Option<()>> {
    let mut request = Vec::with_capacity(256);
    write_request_head_with(&mut request, method, url, USER_AGENT, false, fields);
    let send = async {
        stream.write_all(&request).await?;
        stream.flush().await
    };
    runtime::timeout(timeout, send).await.transpose()
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

    /// The bytes received and not consumed yet (after a failed head: all that came back).
    pub fn pending(&self) -> &[u8] {
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
