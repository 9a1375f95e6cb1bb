//! A server-side connection's I/O: a byte stream plus the buffer of received bytes not yet
//! consumed, read and written under the deadlines of the core's
//! [`ServerConnection`].
//!
//! The driver ([`crate::runtime::driver`]) feeds [`Conn::buffered`] to the core, calls [`Conn::consume`]
//! for what it used, and [`Conn::fill`] when it needs more bytes. [`ByteStream`] is what the
//! connection runs over: TCP today, TLS through the same trait.

use crate::runtime::{self, AsyncWriteExt, TcpStream};
use futures::future::Either;
use ricochet_core::http::connection::ServerConnection;
use std::future::Future;
use std::io;
use std::time::Instant;

/// Receive buffer allocated for a new connection; it grows up to the capacity asked for.
const INITIAL_BUFFER: usize = 2048;

/// A connected byte stream a server connection runs over.
pub trait ByteStream: Send {
    /// Read at least one byte into `buf`; `Ok(0)` at end of stream.
    fn read_some(&mut self, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>> + Send;
    /// Write some of `buf`; how many bytes were taken.
    fn write(&mut self, buf: &[u8]) -> impl Future<Output = io::Result<usize>> + Send;
    /// Stop sending (the peer sees end of stream) but keep receiving.
    fn shutdown_write(&mut self) -> impl Future<Output = io::Result<()>> + Send;
    /// Turn Nagle's algorithm off (or on) on the socket underneath.
    fn set_nodelay(&self, on: bool) -> io::Result<()>;
    /// The connection ends here, its answers written: say so if the protocol has a way
    /// (TLS's `close_notify`); closing the socket is enough for plain TCP.
    fn finish(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// [`ByteStream::write`] of the connection's last bytes: once all of `buf` is taken, the
    /// stream may [`finish`](ByteStream::finish) in the same write (TLS: one segment for the
    /// answer and its `close_notify`).
    fn write_last(&mut self, buf: &[u8]) -> impl Future<Output = io::Result<usize>> + Send {
        self.write(buf)
    }
}

impl ByteStream for TcpStream {
    async fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        TcpStream::read_some(self, buf).await
    }

    async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        AsyncWriteExt::write(self, buf).await
    }

    async fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }

    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        TcpStream::set_nodelay(self, on)
    }
}

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

/// A connection with its receive buffer.
#[derive(Debug)]
pub struct Conn<S> {
    stream: S,
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
    /// What is written from now on is the connection's last ([`Conn::closing`]).
    closing: bool,
    /// The timer behind every wait's deadline.
    timer: runtime::Deadline,
    /// Bytes the stream has taken, over the connection's life.
    written: u64,
}

impl<S: ByteStream> Conn<S> {
    /// Wrap a stream with a receive buffer of `capacity` bytes
    /// ([`ServerConnection::buffer_size`]).
    pub fn new(stream: S, capacity: usize) -> Conn<S> {
        // Linux's Nagle (Minshall's variant) never holds back a first write; classic Nagle
        // elsewhere may hold its tail, so there TCP_NODELAY goes on from the start.
        let nodelay = !cfg!(target_os = "linux") && stream.set_nodelay(true).is_ok();
        Conn {
            stream,
            buf: vec![0; capacity.clamp(1, INITIAL_BUFFER)],
            capacity: capacity.max(1),
            start: 0,
            end: 0,
            wrote: false,
            nodelay,
            closing: false,
            timer: runtime::Deadline::default(),
            written: 0,
        }
    }

    /// The stream.
    #[cfg(test)]
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// Bytes the stream has taken so far (a write that failed midway counts what it got out).
    pub fn written(&self) -> u64 {
        self.written
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

    /// Write all of `bytes` under the machine's write deadline, which counts time without
    /// progress (like nginx's `send_timeout`): a slow but steady reader is never cut off. A
    /// stall past it gives `TimedOut`, and the machine is closed.
    ///
    /// On Linux the first write on a connection goes out with Nagle's algorithm on, which cannot
    /// delay it (nothing is in flight yet); TCP_NODELAY is set before any later write, which
    /// Nagle would hold back until the peer acknowledges the earlier one. A connection answered
    /// with one write (`Connection: close`, a redirect or a small file) thus makes no
    /// `setsockopt` call.
    ///
    /// `now` is the caller's latest reading of the clock (the write's progress is counted from
    /// it), saving a reading per answer.
    pub async fn write_all(
        &mut self,
        mut bytes: &[u8],
        machine: &mut ServerConnection,
        mut now: Instant,
    ) -> io::Result<()> {
        if self.wrote && !self.nodelay {
            if let Err(e) = self.stream.set_nodelay(true) {
                log::debug!("cannot set TCP_NODELAY: {e}");
            }
            self.nodelay = true;
        }
        self.wrote = true;
        machine.handle_write_progress(now);
        while !bytes.is_empty() {
            let deadline = machine.poll_timeout().unwrap_or(now);
            let write = if self.closing {
                Either::Left(self.stream.write_last(bytes))
            } else {
                Either::Right(self.stream.write(bytes))
            };
            match self.timer.run(deadline, write).await {
                Some(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Some(Ok(n)) => {
                    self.written += n as u64;
                    bytes = &bytes[n..];
                    if !bytes.is_empty() {
                        now = runtime::now();
                        machine.handle_write_progress(now);
                    }
                }
                Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Some(Err(e)) => return Err(e),
                None => {
                    machine.handle_timeout(runtime::now());
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "peer stopped reading",
                    ));
                }
            }
        }
        machine.handle_write_done();
        Ok(())
    }

    /// Nothing is written after the next [`Conn::write_all`]: its last write may end the
    /// stream too ([`ByteStream::write_last`]).
    pub fn closing(&mut self) {
        self.closing = true;
    }

    /// The connection ends: see [`ByteStream::finish`].
    pub async fn finish(&mut self) {
        self.stream.finish().await
    }

    /// Stop sending, keep receiving (lingering before a close).
    pub async fn shutdown_write(&mut self) {
        if let Err(e) = self.stream.shutdown_write().await {
            log::debug!("shutdown failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ricochet_core::http::connection::ConnectionConfig;
    use std::time::Duration;

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
            let mut machine = ServerConnection::new(ConnectionConfig::default(), Instant::now());
            assert!(!conn.stream().nodelay().unwrap());
            conn.write_all(b"first", &mut machine, Instant::now())
                .await
                .unwrap();
            assert!(!conn.stream().nodelay().unwrap());
            conn.write_all(b"second", &mut machine, Instant::now())
                .await
                .unwrap();
            assert!(conn.stream().nodelay().unwrap());
        });
    }

    /// A waker that counts its wakes.
    struct Wakes(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Wakes {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// After a read that emptied the socket, a fill waits for readiness: polled while nothing
    /// has arrived, it is pending and its task is not woken (a read that spins on `EAGAIN`,
    /// waking itself or looping, fails here), and it is polled a few times at most while it waits.
    /// Every piece is received, then the close is seen.
    #[test]
    fn fill_sleeps_until_bytes_arrive() {
        use std::sync::atomic::Ordering;
        use std::sync::{mpsc, Arc};
        use std::task::{Context, Waker};
        let pieces = [&b"GET / HTTP/1.1\r\n"[..], b"Host: x\r\n", b"\r\n"];
        let listener = runtime::block_on(runtime::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let (go, gone) = mpsc::channel::<()>();
        // A plain thread sends each piece 50 ms after it is told (or after 2 s, so that a read
        // that never returns while the socket is empty fails the test instead of hanging it).
        let client = std::thread::spawn(move || {
            let mut client = std::net::TcpStream::connect(addr).unwrap();
            for piece in pieces {
                let _ = gone.recv_timeout(Duration::from_secs(2));
                std::thread::sleep(Duration::from_millis(50));
                std::io::Write::write_all(&mut client, piece).unwrap();
            }
            let _ = gone.recv_timeout(Duration::from_secs(2));
            std::thread::sleep(Duration::from_millis(50));
        });
        runtime::block_on(async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = Conn::new(stream, 4096);
            let deadline = Instant::now() + Duration::from_secs(10);
            for expected in pieces.iter().map(|p| Some(p.len())).chain([None]) {
                let wakes = Arc::new(Wakes(0.into()));
                let waker = Waker::from(Arc::clone(&wakes));
                let mut fill = std::pin::pin!(conn.fill(deadline));
                let first = fill.as_mut().poll(&mut Context::from_waker(&waker));
                assert!(first.is_pending(), "a fill on an empty socket completed");
                std::thread::sleep(Duration::from_millis(50));
                let woken = wakes.0.load(Ordering::SeqCst);
                assert_eq!(woken, 0, "woken {woken} times with nothing to read");
                go.send(()).unwrap();
                let mut polls = 0;
                let outcome = std::future::poll_fn(|cx| {
                    polls += 1;
                    fill.as_mut().poll(cx)
                })
                .await;
                // A wait for readiness is polled about twice in those 50 ms (spurious wakes are
                // allowed); a task that wakes itself on EAGAIN, thousands of times.
                assert!(polls <= 10, "{polls} polls for one piece");
                match (expected, outcome) {
                    (Some(len), Ok(n)) => assert_eq!(n, len),
                    (None, Err(FillError::Closed)) => {}
                    (expected, outcome) => panic!("{outcome:?}, expected {expected:?}"),
                }
            }
            assert_eq!(conn.buffered(), pieces.concat());
        });
        client.join().unwrap();
    }
}
