//! The executor, sockets and timers: the only module that names async-std (and its reactor,
//! async-io). async-std is discontinued upstream in favour of smol; moving to smol (or anything
//! else speaking `futures::io`) means rewriting this file only.
//!
//! Sockets are registered directly with async-io, the reactor async-std runs on, because its
//! readiness is oneshot: after a read that emptied the socket the cheap next step is to wait for
//! readiness, whereas async-io's `AsyncRead` first tries a read that fails with `EAGAIN`.
//! [`TcpStream`]'s reads and [`TcpListener::accept`] keep track of that.

use async_io::Async;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A listening TCP socket, registered with the reactor async-std runs on (async-io's).
#[derive(Debug)]
pub struct TcpListener {
    inner: Async<std::net::TcpListener>,
    /// The last accept found no connection waiting (see [`TcpStream::read_some`]), or took one
    /// and [`one_per_wake`](Self::set_one_per_wake) is on.
    drained: std::sync::atomic::AtomicBool,
    one_per_wake: bool,
}

impl TcpListener {
    /// Register a listener bound with [`bind_std`] (or by std) with the reactor.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: Async::new(listener)?,
            drained: false.into(),
            one_per_wake: false,
        })
    }

    /// Take one connection per readiness event instead of every one queued (nginx's
    /// `multi_accept off`): after a connection, the next accept waits for the reactor to report
    /// the listener readable again, which it does only once the executor has run every task
    /// already runnable and polled for I/O. Worth its extra reactor round per connection where
    /// starting a connection is dear (a TLS handshake): a burst of new handshakes then waits
    /// its turn instead of holding up the answers of connections already open.
    pub fn set_one_per_wake(&mut self, on: bool) {
        self.one_per_wake = on;
    }

    /// The address the socket is bound to (the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// Wait for the next connection.
    ///
    /// After a connection the next call tries `accept` again at once (more may be queued),
    /// unless [`set_one_per_wake`](Self::set_one_per_wake) is on; after an empty one it waits
    /// for readiness rather than trying again first. On Linux the
    /// listener defers accepts until the client's first bytes arrive (see [`bind`]), so an
    /// accepted stream is read at once; elsewhere it waits for readiness first.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        use std::sync::atomic::Ordering::Relaxed;
        loop {
            if self.drained.load(Relaxed) {
                std::future::poll_fn(|cx| self.inner.poll_readable(cx)).await?;
            }
            match accept_nonblocking(self.inner.get_ref()) {
                Ok((stream, peer)) => {
                    self.drained.store(self.one_per_wake, Relaxed);
                    let inner = Async::new_nonblocking(stream)?;
                    let drained = !cfg!(target_os = "linux");
                    return Ok((TcpStream { inner, drained }, peer));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.drained.store(true, Relaxed)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Accept one connection as a non-blocking socket: `accept4(SOCK_NONBLOCK)` where there is one,
/// saving the `ioctl` a separate switch to non-blocking mode costs per connection.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn accept_nonblocking(
    listener: &std::net::TcpListener,
) -> io::Result<(std::net::TcpStream, SocketAddr)> {
    use rustix::net::SocketFlags;
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let (fd, peer) = rustix::net::acceptfrom_with(listener, flags)?;
    let peer = peer
        .and_then(|p| SocketAddr::try_from(p).ok())
        .ok_or_else(|| io::Error::other("accepted a peer with no IP address"))?;
    Ok((std::net::TcpStream::from(fd), peer))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn accept_nonblocking(
    listener: &std::net::TcpListener,
) -> io::Result<(std::net::TcpStream, SocketAddr)> {
    let (stream, peer) = listener.accept()?;
    stream.set_nonblocking(true)?;
    Ok((stream, peer))
}

/// Ask the kernel to hand over connections only once the client's first bytes have arrived
/// (Linux's `TCP_DEFER_ACCEPT`, which Apache sets by default and nginx offers as `deferred`).
/// An HTTP client always speaks first, so a connection is accepted with its request already
/// readable: no readiness round trip per connection, and a connection that never sends
/// anything costs no descriptor until the period (1 s, as SYN-ACK retransmissions count it)
/// has passed; it is accepted then, and the header timeout applies as usual.
#[cfg(target_os = "linux")]
fn defer_accept(listener: &std::net::TcpListener) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let seconds: libc::c_int = 1;
    // SAFETY: setsockopt reads `optlen` bytes from `optval`, which points to a live c_int of
    // that size; the descriptor is the listener's own, open for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&seconds as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A connected TCP socket; implements `AsyncRead`/`AsyncWrite`, also through `&TcpStream`.
///
/// Its reads (`AsyncRead` on an owned stream, and [`TcpStream::read_some`]) remember whether the
/// last one emptied the socket: the reactor is oneshot, so after a short read the cheapest next
/// step is to wait for readiness, not to try a read that fails with `EAGAIN`.
#[derive(Debug)]
pub struct TcpStream {
    inner: Async<std::net::TcpStream>,
    /// The last read got fewer bytes than it had room for, or `EAGAIN`.
    drained: bool,
}

impl TcpStream {
    /// Turn Nagle's algorithm off (or on).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.inner.get_ref().set_nodelay(on)
    }

    /// Whether Nagle's algorithm is off.
    #[cfg(test)]
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.get_ref().nodelay()
    }

    /// Shut down one or both directions.
    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }

    /// Read at least one byte into `buf` (`Ok(0)` at end of stream), waiting for readiness
    /// first when the previous read left the socket empty.
    pub async fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| futures::io::AsyncRead::poll_read(Pin::new(&mut *self), cx, buf))
            .await
    }
}

/// `AsyncRead` for `TcpStream`: after a read that emptied the socket it waits for readiness
/// rather than trying a read that fails with `EAGAIN` (TLS reads through this path too).
impl futures::io::AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        use std::io::Read;
        let this = self.get_mut();
        loop {
            if this.drained {
                if let Err(e) = std::task::ready!(this.inner.poll_readable(cx)) {
                    return Poll::Ready(Err(e));
                }
            }
            match this.inner.get_ref().read(buf) {
                Ok(n) => {
                    this.drained = n < buf.len();
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => this.drained = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl futures::io::AsyncRead for &TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &self.inner).poll_read(cx, buf)
    }
}

/// `AsyncWrite` for `TcpStream` and `&TcpStream`, both through async-io's implementation for
/// `&Async<std::net::TcpStream>`. Vectored writes are passed on (one `writev`): rustls hands
/// over a TLS flight as several records, which would otherwise go out one `send` each.
macro_rules! write_through_async {
    ($($t:ty),*) => {$(
        impl futures::io::AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &self.inner).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &self.inner).poll_write_vectored(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut &self.inner).poll_flush(cx)
            }

            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut &self.inner).poll_close(cx)
            }
        }
    )*};
}

write_through_async!(TcpStream, &TcpStream);

/// Set how many executor threads run spawned tasks (at least 1): `n` if given, else what
/// `ASYNC_STD_THREAD_COUNT` already says, else 1. Call it first thing in `main`: async-std
/// starts its pool on first use, reading that variable.
pub fn set_threads(n: Option<usize>) {
    const VAR: &str = "ASYNC_STD_THREAD_COUNT";
    match n {
        Some(n) => std::env::set_var(VAR, n.max(1).to_string()),
        None if std::env::var_os(VAR).is_some() => {}
        None => std::env::set_var(VAR, "1"),
    }
}

/// Run a future to completion on the current thread (the executor's worker threads run spawned
/// tasks). The entry point of every binary.
pub fn block_on<F: Future>(future: F) -> F::Output {
    async_std::task::block_on(future)
}

/// Run a task in the background. The task is detached: it runs to completion on its own.
pub fn spawn<F>(future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    drop(async_std::task::spawn(future));
}

/// A connection's deadlines, on one reactor timer that is moved only when a wait must end
/// sooner than it is set for.
///
/// [`timeout`] registers a fresh timer for every wait that blocks and removes it again, once per
/// request on a kept-alive connection. Here the timer stays armed across waits: a later deadline
/// leaves it where it is (when it fires early, the clock is read and it is re-armed for the real
/// deadline), so a busy connection whose idle deadline keeps moving out touches the timer about
/// once per timeout period instead of twice per request.
#[derive(Debug)]
pub struct Deadline {
    timer: async_io::Timer,
    /// When the timer is set to fire, if it is armed.
    armed: Option<Instant>,
}

impl Default for Deadline {
    fn default() -> Deadline {
        Deadline {
            timer: async_io::Timer::never(),
            armed: None,
        }
    }
}

impl Deadline {
    /// Run `future` until it completes (`Some`) or `deadline` passes first (`None`; the future
    /// is dropped).
    pub async fn run<F: Future>(&mut self, deadline: Instant, future: F) -> Option<F::Output> {
        let mut future = std::pin::pin!(future);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(output) = future.as_mut().poll(cx) {
                return Poll::Ready(Some(output));
            }
            loop {
                if self.armed.is_none_or(|at| at > deadline) {
                    self.timer.set_at(deadline);
                    self.armed = Some(deadline);
                }
                match Pin::new(&mut self.timer).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(_) => {
                        // Fired: for this deadline, or for an earlier one it was left at.
                        self.armed = None;
                        if Instant::now() >= deadline {
                            return Poll::Ready(None);
                        }
                    }
                }
            }
        })
        .await
    }
}

/// Wait for `duration`.
pub async fn sleep(duration: Duration) {
    async_std::task::sleep(duration).await
}

/// Run `future` for at most `duration`: `None` when the time ran out first (the future is
/// dropped).
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Option<F::Output> {
    async_std::future::timeout(duration, future).await.ok()
}

/// Bind a listening socket (`127.0.0.1:0` picks a free port): the first of the addresses
/// `addr` resolves to that binds.
pub async fn bind(addr: &str) -> io::Result<TcpListener> {
    TcpListener::from_std(bind_first_std(addr, false)?)
}

/// [`bind_std`] on the first of the addresses `addr` (`host:port`) resolves to that binds.
/// The name is resolved the blocking way: this is for start-up, before the runtime may run.
pub fn bind_first_std(addr: &str, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    use std::net::ToSocketAddrs;
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match bind_std(a, reuse_port) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::ErrorKind::AddrNotAvailable.into()))
}

/// Bind a listening socket without touching the runtime (so it can be done before `fork`),
/// with `SO_REUSEADDR`, on Linux `TCP_DEFER_ACCEPT` (see [`TcpListener::accept`]), and with
/// `reuse_port` (Linux only), `SO_REUSEPORT`: several processes then bind the same address,
/// each with its own queue, and the kernel spreads new connections over them.
pub fn bind_std(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    #[cfg(target_os = "linux")]
    {
        use rustix::net::{sockopt, AddressFamily, SocketFlags, SocketType};
        let family = if addr.is_ipv4() {
            AddressFamily::INET
        } else {
            AddressFamily::INET6
        };
        let fd = rustix::net::socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
        sockopt::set_socket_reuseaddr(&fd, true)?;
        if reuse_port {
            sockopt::set_socket_reuseport(&fd, true)?;
        }
        rustix::net::bind(&fd, &addr)?;
        rustix::net::listen(&fd, 1024)?;
        let listener = std::net::TcpListener::from(fd);
        if let Err(e) = defer_accept(&listener) {
            // Only a cost: accepted streams that are not readable yet wait for it.
            log::debug!("cannot set TCP_DEFER_ACCEPT: {e}");
        }
        Ok(listener)
    }
    #[cfg(not(target_os = "linux"))]
    {
        if reuse_port {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "SO_REUSEPORT spreading needs Linux",
            ));
        }
        std::net::TcpListener::bind(addr)
    }
}

/// Resolve `host:port` (IPv6 literals bracketed) to socket addresses. A name that does not
/// resolve is an error, as is a name resolving to nothing.
pub async fn resolve(host_port: &str) -> io::Result<Vec<SocketAddr>> {
    use async_std::net::ToSocketAddrs;
    let addrs: Vec<SocketAddr> = host_port.to_socket_addrs().await?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "name resolved to no address",
        ));
    }
    Ok(addrs)
}

/// Connect to one address.
pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    Ok(TcpStream {
        inner: Async::<std::net::TcpStream>::connect(addr).await?,
        drained: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With one accept per wake, a listener with several connections queued hands over one and
    /// then waits for the reactor before the next (so other ready tasks run in between); without
    /// it, the next queued connection is taken at once. Each is taken in the end.
    #[test]
    fn one_accept_per_wake_waits_for_the_reactor_between_queued_connections() {
        block_on(async {
            for one_per_wake in [false, true] {
                let mut listener = bind("127.0.0.1:0").await.unwrap();
                listener.set_one_per_wake(one_per_wake);
                let addr = listener.local_addr().unwrap();
                // Each client speaks first, as HTTP clients do (the listener defers accepts on
                // Linux until a client's first bytes arrive).
                let clients: Vec<_> = (0..3)
                    .map(|_| {
                        let mut c = std::net::TcpStream::connect(addr).unwrap();
                        std::io::Write::write_all(&mut c, b"G").unwrap();
                        c
                    })
                    .collect();
                sleep(Duration::from_millis(100)).await;
                listener.accept().await.unwrap();
                let mut next = std::pin::pin!(listener.accept());
                let waker = futures::task::noop_waker();
                let first_poll = next.as_mut().poll(&mut Context::from_waker(&waker));
                match first_poll {
                    Poll::Ready(accepted) => {
                        assert!(!one_per_wake, "second queued connection taken at once");
                        accepted.unwrap();
                    }
                    Poll::Pending => {
                        assert!(one_per_wake, "second queued connection not taken at once");
                        next.await.unwrap();
                    }
                }
                listener.accept().await.unwrap();
                drop(clients);
            }
        })
    }

    /// A deadline ends a wait at that deadline, whether the timer was left armed for an
    /// earlier one (it fires early and is re-armed) or for a later one (it is moved sooner),
    /// and a future that completes first is not cut short.
    #[test]
    fn deadlines_end_waits_at_the_right_time_whatever_the_timer_was_left_at() {
        block_on(async {
            let ms = Duration::from_millis;
            let never = futures::future::pending::<()>;
            let mut deadline = Deadline::default();

            let start = Instant::now();
            assert_eq!(deadline.run(start + ms(50), never()).await, None);
            assert!(start.elapsed() >= ms(50));

            // Armed at start + 300 ms by this completed wait; the timer stays armed.
            let start = Instant::now();
            let done = deadline.run(start + ms(300), sleep(ms(10))).await;
            assert_eq!(done, Some(()));
            assert!(start.elapsed() < ms(300));

            // A later deadline: the timer fires at the old one first, then at this one.
            assert_eq!(deadline.run(start + ms(500), never()).await, None);
            let took = start.elapsed();
            assert!(took >= ms(500), "ended after {took:?}, before its deadline");

            // An earlier deadline than the armed one (armed at +2 s by this completed wait).
            let start = Instant::now();
            let done = deadline.run(start + ms(2000), sleep(ms(10))).await;
            assert_eq!(done, Some(()));
            assert_eq!(deadline.run(start + ms(60), never()).await, None);
            let took = start.elapsed();
            assert!(
                took >= ms(60) && took < ms(1500),
                "ended after {took:?}, not at its 60 ms deadline"
            );
        });
    }
}
