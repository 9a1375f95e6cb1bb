//! [`Stream`]: a connection that is plain TCP or TLS behind the same reads and writes.

use crate::runtime::TcpStream;
use futures::io::{AsyncRead, AsyncWrite};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A connection that is plain TCP or TLS over TCP. Reads and writes through the `futures::io`
/// traits; plaintext in and out either way.
///
/// Over TLS a write may leave bytes inside rustls when the socket is full: call `flush` (or
/// `AsyncWriteExt::write_all` followed by `flush`) before waiting for the peer's answer.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS (client or server side), boxed: its buffers are large.
    Tls(Box<futures_rustls::TlsStream<TcpStream>>),
}

impl From<TcpStream> for Stream {
    fn from(tcp: TcpStream) -> Stream {
        Stream::Plain(tcp)
    }
}

impl Stream {
    /// The TCP socket underneath (for its addresses and socket options).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
        }
    }

    /// Read at least one byte (`Ok(0)` at end of stream). Plain TCP goes through
    /// [`TcpStream::read_some`], which skips the read that would fail with `EAGAIN`.
    pub async fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read_some(buf).await,
            Stream::Tls(tls) => futures::io::AsyncReadExt::read(tls, buf).await,
        }
    }

    /// Write some of `buf` and, over TLS, push the records made of it onto the socket before
    /// returning (futures-rustls may otherwise keep them until the next write or flush).
    /// Returns how many bytes of `buf` were taken.
    pub async fn write_flushed(&mut self, buf: &[u8]) -> io::Result<usize> {
        use futures::io::AsyncWriteExt;
        match self {
            Stream::Plain(tcp) => tcp.write(buf).await,
            Stream::Tls(tls) => {
                let n = tls.write(buf).await?;
                tls.flush().await?;
                Ok(n)
            }
        }
    }

    /// Stop sending: a TLS `close_notify`, then the TCP write side is shut down.
    pub async fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.shutdown(std::net::Shutdown::Write),
            Stream::Tls(tls) => futures::io::AsyncWriteExt::close(tls).await,
        }
    }
}

/// What the server-side connection driver runs over.
impl crate::runtime::conn::ByteStream for Stream {
    /// A peer that closes TCP without TLS's `close_notify` is at end of stream here, as over
    /// plain TCP: requests are framed, so nothing can be cut unnoticed (the client side keeps
    /// rustls' error, which tells a cut close-delimited body from a complete one).
    async fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match Stream::read_some(self, buf).await {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            other => other,
        }
    }

    async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_flushed(buf).await
    }

    /// Over TLS the `close_notify` follows the last record in the same flush.
    async fn write_last(&mut self, buf: &[u8]) -> io::Result<usize> {
        use futures_rustls::TlsStream;
        use std::io::Write;
        let Stream::Tls(tls) = self else {
            return self.write_flushed(buf).await;
        };
        loop {
            // Into rustls' buffer (as much as its limit lets in), not yet onto the socket.
            let taken = match tls.as_mut() {
                TlsStream::Server(s) => s.get_mut().1.writer().write(buf)?,
                TlsStream::Client(c) => c.get_mut().1.writer().write(buf)?,
            };
            if taken == buf.len() {
                tls.get_mut().1.send_close_notify();
            }
            futures::io::AsyncWriteExt::flush(tls.as_mut()).await?;
            if taken > 0 || buf.is_empty() {
                return Ok(taken);
            }
        }
    }

    async fn shutdown_write(&mut self) -> io::Result<()> {
        Stream::shutdown_write(self).await
    }

    /// A TLS connection from [`Acceptor::accept`](super::Acceptor::accept) has TCP_NODELAY on already: no system call.
    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        match self {
            Stream::Tls(tls)
                if on && matches!(tls.as_ref(), futures_rustls::TlsStream::Server(_)) =>
            {
                Ok(())
            }
            _ => self.tcp().set_nodelay(on),
        }
    }

    /// Over TLS, a `close_notify` alert, so that the peer can tell the end from a cut (OpenSSL
    /// 3 clients reading to the end otherwise report an error and drop the session instead of
    /// resuming it). Best effort: a peer that stopped reading gets no alert.
    async fn finish(&mut self) {
        if let Stream::Tls(tls) = self {
            tls.get_mut().1.send_close_notify();
            let _ =
                futures::FutureExt::now_or_never(futures::io::AsyncWriteExt::flush(tls.as_mut()));
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_close(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_close(cx),
        }
    }
}
