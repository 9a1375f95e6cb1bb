//! A server-side connection: a socket plus the buffer of received bytes not yet consumed, read
//! and written under deadlines. Shared by the file server and the balancer.
//!
//! The caller drives a core parser over [`Conn::buffered`], calls [`Conn::consume`] for what the
//! parser used, and [`Conn::fill`] when it needs more bytes.

use crate::runtime::{self, TcpStream};
use crate::tls::Stream;
use ricochet_core::body::{BodyDecoder, BodyError};
use ricochet_core::BodyKind;
use std::io;
use std::time::{Duration, Instant};

/// Receive buffer allocated for a new connection; it grows up to the capacity asked for.
const INITIAL_BUFFER: usize = 2048;

/// Why [`Conn::fill`] got no bytes.
#[derive(Debug)]
pub enum FillError {
    /// The peer closed its side.
    Closed,
    /// The deadline passed first.
    TimedOut,
    /// The receive buffer is full (the head did not fit).
    BufferFull,
    /// A socket error.
    Io(io::Error),
}

/// Why a request body could not be skipped.
#[derive(Debug)]
pub enum DiscardError {
    /// The body is malformed (bad chunk framing): answer with its status and close.
    Body(BodyError),
    /// The body is larger than the caller allows: answer, then close instead of reading it.
    TooLarge,
    /// The peer closed, timed out or failed.
    Fill(FillError),
}

/// A connection with its receive buffer.
#[derive(Debug)]
pub struct Conn {
    stream: Stream,
    /// Zeroed bytes in use; grows up to `capacity` only when a head does not fit (most heads
    /// fit in the first [`INITIAL_BUFFER`] bytes, so a connection zeroes no more than that).
    buf: Vec<u8>,
    capacity: usize,
    start: usize,
    end: usize,
    /// Something was written already: TCP_NODELAY goes on before the next write.
    wrote: bool,
    /// TCP_NODELAY is on.
    nodelay: bool,
    /// The timer behind every wait's deadline.
    timer: runtime::Deadline,
}

impl Conn {
    /// Wrap a stream with a receive buffer of `capacity` bytes (make it larger than the longest
    /// head the parser accepts, so the parser reports an oversized head before the buffer fills).
    pub fn new(stream: impl Into<Stream>, capacity: usize) -> Conn {
        let stream = stream.into();
        // Linux's Nagle (Minshall's variant) never holds back a first write; classic Nagle
        // elsewhere may hold its tail, so there TCP_NODELAY goes on from the start.
        let nodelay = !cfg!(target_os = "linux") && stream.tcp().set_nodelay(true).is_ok();
        Conn {
            stream,
            buf: vec![0; capacity.clamp(1, INITIAL_BUFFER)],
            capacity: capacity.max(1),
            start: 0,
            end: 0,
            wrote: false,
            nodelay,
            timer: runtime::Deadline::default(),
        }
    }

    /// The TCP socket underneath, for its addresses and options.
    pub fn stream(&self) -> &TcpStream {
        self.stream.tcp()
    }

    /// Received bytes not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Drop `n` bytes from the front of [`Conn::buffered`].
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Read more bytes, waiting at most until `deadline`. Returns how many arrived (never 0).
    pub async fn fill(&mut self, deadline: Instant) -> Result<usize, FillError> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < self.capacity {
                let grown = (self.buf.len() * 2).min(self.capacity);
                self.buf.resize(grown, 0);
            } else {
                return Err(FillError::BufferFull);
            }
        }
        let read = self.stream.read_some(&mut self.buf[self.end..]);
        match self.timer.run(deadline, read).await {
            None => Err(FillError::TimedOut),
            Some(Ok(0)) => Err(FillError::Closed),
            Some(Ok(n)) => {
                self.end += n;
                Ok(n)
            }
            Some(Err(e)) => Err(FillError::Io(e)),
        }
    }

    /// Read and throw away a request body framed as `kind`, so the next pipelined request
    /// starts where it should. At most `limit` body bytes are read; each read waits at most
    /// until `deadline`.
    pub async fn discard_body(
        &mut self,
        kind: BodyKind,
        limit: u64,
        deadline: Instant,
    ) -> Result<(), DiscardError> {
        match kind {
            BodyKind::None => return Ok(()),
            BodyKind::Length(n) if n > limit => return Err(DiscardError::TooLarge),
            _ => {}
        }
        let mut decoder = BodyDecoder::new(kind);
        loop {
            while !decoder.is_done() && !self.buffered().is_empty() {
                let step = decoder
                    .decode(self.buffered())
                    .map_err(DiscardError::Body)?;
                if step.consumed == 0 {
                    break;
                }
                self.consume(step.consumed);
            }
            if decoder.is_done() {
                return Ok(());
            }
            if decoder.received() > limit {
                return Err(DiscardError::TooLarge);
            }
            self.fill(deadline).await.map_err(DiscardError::Fill)?;
        }
    }

    /// Write all of `bytes`, giving up (with `TimedOut`) if the peer takes nothing for
    /// `timeout`. The limit is on time without progress, like nginx's `send_timeout`, so a slow
    /// but steady reader is never cut off in the middle of a large file.
    ///
    /// On Linux the first write on a connection goes out with Nagle's algorithm on, which cannot
    /// delay it (nothing is in flight yet); TCP_NODELAY is set before any later write, which
    /// Nagle would hold back until the peer acknowledges the earlier one. A connection answered
    /// with one write (`Connection: close`, a redirect or a small file) thus makes no
    /// `setsockopt` call.
    pub async fn write_all(&mut self, mut bytes: &[u8], timeout: Duration) -> io::Result<()> {
        if self.wrote && !self.nodelay {
            if let Err(e) = self.stream.tcp().set_nodelay(true) {
                log::debug!("cannot set TCP_NODELAY: {e}");
            }
            self.nodelay = true;
        }
        self.wrote = true;
        while !bytes.is_empty() {
            let write = self.stream.write_flushed(bytes);
            match self.timer.run(Instant::now() + timeout, write).await {
                Some(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Some(Ok(n)) => bytes = &bytes[n..],
                Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "peer stopped reading",
                    ))
                }
            }
        }
        Ok(())
    }

    /// Close after a final response: stop sending, then read and discard what the peer still
    /// sends for a short while, so the kernel does not answer unread data with a reset that could
    /// destroy the response before the peer reads it.
    pub async fn close_gracefully(mut self, linger: Duration) {
        let shutdown = self.stream.shutdown_write();
        let _ = self.timer.run(Instant::now() + linger, shutdown).await;
        let deadline = Instant::now() + linger;
        let mut drained = 0usize;
        while drained < 256 * 1024 {
            self.start = 0;
            self.end = 0;
            match self.fill(deadline).await {
                Ok(n) => drained += n,
                Err(_) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::AsyncWriteExt;

    /// A head longer than the initial buffer is received whole (the buffer grows), and one that
    /// fills the whole capacity gives `BufferFull`.
    #[test]
    fn buffer_grows_to_its_capacity_then_reports_full() {
        runtime::block_on(async {
            let listener = runtime::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let sent: Vec<u8> = (0..6000u32).map(|i| b'a' + (i % 26) as u8).collect();
            let to_send = sent.clone();
            runtime::spawn(async move {
                let mut client = runtime::connect(addr).await.unwrap();
                client.write_all(&to_send).await.unwrap();
                runtime::sleep(Duration::from_secs(5)).await;
            });
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = Conn::new(stream, 5000);
            let deadline = Instant::now() + Duration::from_secs(5);
            let outcome = loop {
                match conn.fill(deadline).await {
                    Ok(_) => continue,
                    Err(e) => break e,
                }
            };
            assert!(matches!(outcome, FillError::BufferFull), "{outcome:?}");
            assert_eq!(conn.buffered(), &sent[..5000]);
            conn.consume(4000);
            conn.fill(deadline).await.unwrap();
            assert_eq!(conn.buffered(), &sent[4000..]);
        });
    }

    /// A connection's first write goes out with Nagle on (nothing is in flight, so it cannot be
    /// held back); from the second write on, TCP_NODELAY is set, so a kept-alive connection's
    /// next response is not held until the peer acknowledges the previous one.
    #[cfg(target_os = "linux")]
    #[test]
    fn nodelay_goes_on_from_the_second_write() {
        runtime::block_on(async {
            let listener = runtime::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            runtime::spawn(async move {
                let _client = runtime::connect(addr).await.unwrap();
                runtime::sleep(Duration::from_secs(5)).await;
            });
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = Conn::new(stream, 4096);
            let timeout = Duration::from_secs(5);
            assert!(!conn.stream().nodelay().unwrap());
            conn.write_all(b"first", timeout).await.unwrap();
            assert!(!conn.stream().nodelay().unwrap());
            conn.write_all(b"second", timeout).await.unwrap();
            assert!(conn.stream().nodelay().unwrap());
        });
    }

    /// After a read that emptied the socket, the next fill waits for readiness instead of
    /// reading at once: bytes that arrive later, in several pieces and after the peer closes,
    /// are all received, then the close is seen.
    #[test]
    fn fill_waits_for_bytes_that_arrive_later() {
        runtime::block_on(async {
            let listener = runtime::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            runtime::spawn(async move {
                let mut client = runtime::connect(addr).await.unwrap();
                for piece in [&b"GET / HTTP/1.1\r\n"[..], b"Host: x\r\n", b"\r\n"] {
                    runtime::sleep(Duration::from_millis(100)).await;
                    client.write_all(piece).await.unwrap();
                }
            });
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = Conn::new(stream, 4096);
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut fills = 0;
            let outcome = loop {
                match conn.fill(deadline).await {
                    Ok(_) => fills += 1,
                    Err(e) => break e,
                }
            };
            assert!(matches!(outcome, FillError::Closed), "{outcome:?}");
            assert_eq!(conn.buffered(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            // Pieces 100 ms apart arrive in separate reads, unless the machine stalls that long.
            assert!(
                fills >= 2,
                "the pieces sent later were waited for: {fills} fills"
            );
        });
    }
}
