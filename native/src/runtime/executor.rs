//! The executor, sockets and timers: the only module that names async-std (and its reactor,
//! async-io) or the OS's readiness API. async-std is discontinued upstream in favour of smol;
//! moving to smol (or anything else speaking `futures::io`) means rewriting this file only.
//!
//! Listeners are registered with async-io, the reactor async-std runs on. Connected sockets on
//! Linux are registered once, edge-triggered, with an epoll instance of this module's own,
//! itself watched through async-io ([`edge`]): async-io's registration is oneshot and would
//! cost an `epoll_ctl` for every wait, one per request on a kept-alive connection. Reads keep
//! track of whether the last one emptied the socket, so that the next one waits for readiness
//! instead of failing with `EAGAIN` first.
//!
//! With one executor thread (the default), accepted connections are not tasks either: the
//! dispatcher that takes the epoll reports polls their futures itself ([`spawn_connection`],
//! [`inline`]), and hands them a clock read once per round ([`now`]).

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
                    let drained = !cfg!(target_os = "linux");
                    return Ok((TcpStream::new(stream, drained)?, peer));
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

/// A connected TCP socket; implements `AsyncRead` and `AsyncWrite`.
///
/// On Linux the socket is registered once, edge-triggered, with this module's own epoll
/// instance ([`edge`]), and never re-armed: a wait for readiness costs no system call, where
/// async-io's oneshot registration costs an `epoll_ctl` per wait (one per request on a
/// kept-alive connection). Elsewhere it is registered with async-io as before.
///
/// Its reads (`AsyncRead` on an owned stream, and [`TcpStream::read_some`]) remember whether the
/// last one emptied the socket: the cheapest next step is then to wait for readiness, not to
/// try a read that fails with `EAGAIN`.
#[derive(Debug)]
pub struct TcpStream {
    inner: Watched,
    /// The last read got fewer bytes than it had room for, or `EAGAIN`.
    drained: bool,
    /// The socket's read readiness count just before that read ([`Watched::read_ticks`]).
    seen: u32,
}

impl TcpStream {
    fn new(stream: std::net::TcpStream, drained: bool) -> io::Result<TcpStream> {
        let inner = Watched::new(stream)?;
        let seen = inner.read_ticks();
        Ok(TcpStream {
            inner,
            drained,
            seen,
        })
    }

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
        let this = self.get_mut();
        loop {
            if this.drained {
                if let Err(e) = std::task::ready!(this.inner.poll_readable(cx, this.seen)) {
                    return Poll::Ready(Err(e));
                }
            }
            this.seen = this.inner.read_ticks();
            match this.inner.recv(buf) {
                Ok(n) => {
                    this.drained = this.inner.emptied_by(n, buf.len());
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => this.drained = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// `AsyncWrite` for `TcpStream`: a write is tried at once, and waits for readiness only after
/// `EAGAIN`. Vectored writes are passed on (one `writev`): rustls hands over a TLS flight as
/// several records, which would otherwise go out one `send` each.
impl futures::io::AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().inner.poll_write(cx, |s| send(s, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .inner
            .poll_write(cx, |mut s| std::io::Write::write_vectored(&mut s, bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.inner.get_ref().shutdown(std::net::Shutdown::Write))
    }
}

/// `recv` with no flags, as `Read::read` on a std stream, but as a plain system call on Linux:
/// glibc's `recv` and `send` wrappers are thread cancellation points, and their bookkeeping
/// (`__pthread_enable_asynccancel`/`disable`) measured about 2% of the balancer's CPU.
fn recv(stream: &std::net::TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        Ok(rustix::net::recv(stream, buf, rustix::net::RecvFlags::empty())?.0)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        std::io::Read::read(&mut &*stream, buf)
    }
}

/// `send` with `MSG_NOSIGNAL`, as `Write::write` on a std stream (see [`recv`]).
fn send(stream: &std::net::TcpStream, buf: &[u8]) -> io::Result<usize> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        Ok(rustix::net::send(
            stream,
            buf,
            rustix::net::SendFlags::NOSIGNAL,
        )?)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        std::io::Write::write(&mut &*stream, buf)
    }
}

/// A socket and its registration for readiness.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[derive(Debug)]
enum Watched {
    /// An accepted connection, registered with [`edge`] at its first wait: one answered and
    /// closed without ever waiting (its request is already there when it is accepted) is never
    /// registered at all.
    Edge {
        stream: std::net::TcpStream,
        registration: Option<edge::Registration>,
    },
    /// A connection we opened (probes, file checks, downloads), registered with async-io: a
    /// report reaches the waiting task straight from async-io's reactor, where one through the
    /// dispatcher takes one more trip through the executor's queue. That trip costs nothing
    /// per request on a busy kept-alive connection, but a file check waits on its server's
    /// answer before the client's can go: measured, `--verify-files` checks of distinct paths
    /// went about 9% slower with these sockets on the dispatcher too.
    Oneshot(Async<std::net::TcpStream>),
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
#[derive(Debug)]
struct Watched {
    inner: Async<std::net::TcpStream>,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
impl Watched {
    /// Watch an accepted, non-blocking socket.
    fn new(stream: std::net::TcpStream) -> io::Result<Watched> {
        Ok(Watched::Edge {
            stream,
            registration: None,
        })
    }

    fn get_ref(&self) -> &std::net::TcpStream {
        match self {
            Watched::Edge { stream, .. } => stream,
            Watched::Oneshot(inner) => inner.get_ref(),
        }
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        recv(self.get_ref(), buf)
    }

    /// How many times the socket was reported ready in direction `dir` (wrapping; 0 before it
    /// is registered, and always 0 with async-io, whose every wait is for a report after it
    /// started): a wait given this count ends at the next report.
    fn ticks(&self, dir: usize) -> u32 {
        match self {
            Watched::Edge {
                registration: Some(registration),
                ..
            } => registration.ticks(dir),
            _ => 0,
        }
    }

    /// How many times the socket was reported readable: see [`ticks`](Self::ticks).
    fn read_ticks(&self) -> u32 {
        self.ticks(edge::READ)
    }

    /// Whether a read of `n` bytes into a buffer of `room` left nothing to read. Not when the
    /// peer has closed an edge-registered socket: its end of stream is still to be read, and
    /// was reported only once (async-io's wait ends at once when it is still to be read).
    fn emptied_by(&self, n: usize, room: usize) -> bool {
        n < room && !matches!(self, Watched::Edge { registration: Some(r), .. } if r.hung_up())
    }

    /// Ready once the socket has been reported ready in direction `dir` since `seen` was read
    /// from [`ticks`](Self::ticks). The first wait registers an accepted socket; the kernel
    /// reports a socket that is ready when it is added, so nothing that came before is missed.
    fn poll_ready(&mut self, dir: usize, cx: &mut Context<'_>, seen: u32) -> Poll<io::Result<()>> {
        match self {
            Watched::Edge {
                stream,
                registration,
            } => {
                let registration = match registration {
                    Some(registration) => registration,
                    none => none.insert(edge::Registration::new(std::os::fd::AsFd::as_fd(stream))?),
                };
                registration.poll_ready(dir, cx, seen).map(Ok)
            }
            Watched::Oneshot(inner) if dir == edge::READ => inner.poll_readable(cx),
            Watched::Oneshot(inner) => inner.poll_writable(cx),
        }
    }

    /// Ready once the socket has been reported readable since `seen` was read.
    fn poll_readable(&mut self, cx: &mut Context<'_>, seen: u32) -> Poll<io::Result<()>> {
        self.poll_ready(edge::READ, cx, seen)
    }

    /// Try the write `op`; on `EAGAIN`, wait for readiness and try again.
    fn poll_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&std::net::TcpStream) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        loop {
            let seen = self.ticks(edge::WRITE);
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::task::ready!(self.poll_ready(edge::WRITE, cx, seen))?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
impl Watched {
    fn new(stream: std::net::TcpStream) -> io::Result<Watched> {
        Ok(Watched {
            inner: Async::new_nonblocking(stream)?,
        })
    }

    fn get_ref(&self) -> &std::net::TcpStream {
        self.inner.get_ref()
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        recv(self.inner.get_ref(), buf)
    }

    /// async-io's registration is oneshot: every wait is for a report after it started.
    fn read_ticks(&self) -> u32 {
        0
    }

    /// Whether a read of `n` bytes into a buffer of `room` left nothing to read (a wait on
    /// async-io's registration ends at once if an end of stream is still to be read).
    fn emptied_by(&self, n: usize, room: usize) -> bool {
        n < room
    }

    fn poll_readable(&mut self, cx: &mut Context<'_>, _seen: u32) -> Poll<io::Result<()>> {
        self.inner.poll_readable(cx)
    }

    fn poll_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&std::net::TcpStream) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        loop {
            match op(self.inner.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::task::ready!(self.inner.poll_writable(cx))?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }
}

/// Connected sockets registered once, edge-triggered, with an epoll instance of our own.
///
/// async-io registers every socket oneshot: each wait for readiness re-arms it with an
/// `epoll_ctl`, one per request on a kept-alive connection. Here each socket is added once
/// (`EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET`) and every report bumps a count per direction
/// and wakes the task waiting in that direction, if any. A reader notes the count before a read;
/// after a read that emptied the socket it waits until the count moves (the kernel reports
/// every arrival of new bytes), so no read fails with `EAGAIN` first, and no system call is
/// made to wait.
///
/// The epoll instance is itself registered with async-io, and one task (the dispatcher)
/// takes its reports whenever async-io says it has some: one `epoll_wait` and one re-arm per
/// batch of reports instead of one re-arm per socket and wait. A socket is never removed with
/// `EPOLL_CTL_DEL`: closing it removes it; a report that was already taken for a closed socket
/// names a slot whose generation has moved on, and is dropped.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod edge {
    use async_io::Async;
    use futures::task::AtomicWaker;
    use rustix::event::epoll;
    use std::io;
    use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
    use std::sync::{Arc, Mutex, OnceLock};
    use std::task::{Context, Poll};

    pub const READ: usize = 0;
    pub const WRITE: usize = 1;

    /// What the dispatcher shares with one socket: per direction, the count of reports and
    /// the task waiting for the next one.
    #[derive(Debug, Default)]
    struct Slot {
        ticks: [AtomicU32; 2],
        wakers: [AtomicWaker; 2],
        /// The peer closed its side, or the socket failed: reported once, edge-triggered, but
        /// true until the end, so a read that did not fill its buffer may have left the end of
        /// stream (or the error) still to read.
        hung_up: AtomicBool,
        /// Where the slot is in the [`Table`].
        index: AtomicU32,
    }

    /// A socket's place in the reactor; dropping it frees the place (close the socket too).
    #[derive(Debug)]
    pub struct Registration {
        slot: Arc<Slot>,
    }

    impl Registration {
        /// Add a connected, non-blocking socket.
        pub fn new(fd: BorrowedFd<'_>) -> io::Result<Registration> {
            let reactor = reactor()?;
            let slot = Arc::new(Slot::default());
            let (index, generation) = reactor.table().insert(Arc::clone(&slot));
            slot.index.store(index, SeqCst);
            let key = u64::from(generation) << 32 | u64::from(index);
            let flags = epoll::EventFlags::IN
                | epoll::EventFlags::OUT
                | epoll::EventFlags::RDHUP
                | epoll::EventFlags::ET;
            if let Err(e) = epoll::add(&reactor.epoll, fd, epoll::EventData::new_u64(key), flags) {
                reactor.table().remove(index);
                return Err(e.into());
            }
            Ok(Registration { slot })
        }

        /// Reports in direction `dir` so far (wrapping).
        pub fn ticks(&self, dir: usize) -> u32 {
            self.slot.ticks[dir].load(SeqCst)
        }

        /// Whether the peer closed its side or the socket failed (see [`Slot::hung_up`]).
        pub fn hung_up(&self) -> bool {
            self.slot.hung_up.load(SeqCst)
        }

        /// Ready once a report in direction `dir` came after [`ticks`](Self::ticks) gave
        /// `seen`; otherwise the task is woken by the next one.
        pub fn poll_ready(&self, dir: usize, cx: &mut Context<'_>, seen: u32) -> Poll<()> {
            if self.ticks(dir) != seen {
                return Poll::Ready(());
            }
            self.slot.wakers[dir].register(cx.waker());
            // A report between the first look and the registration woke nobody: look again.
            if self.ticks(dir) != seen {
                return Poll::Ready(());
            }
            Poll::Pending
        }
    }

    impl Drop for Registration {
        fn drop(&mut self) {
            if let Ok(reactor) = reactor() {
                reactor.table().remove(self.slot.index.load(SeqCst));
            }
        }
    }

    struct Entry {
        generation: u32,
        slot: Option<Arc<Slot>>,
    }

    /// Registered sockets by index; freed indexes are reused with the next generation.
    #[derive(Default)]
    struct Table {
        entries: Vec<Entry>,
        free: Vec<u32>,
    }

    impl Table {
        fn insert(&mut self, slot: Arc<Slot>) -> (u32, u32) {
            match self.free.pop() {
                Some(index) => {
                    let entry = &mut self.entries[index as usize];
                    entry.slot = Some(slot);
                    (index, entry.generation)
                }
                None => {
                    let index = self.entries.len() as u32;
                    self.entries.push(Entry {
                        generation: 0,
                        slot: Some(slot),
                    });
                    (index, 0)
                }
            }
        }

        fn remove(&mut self, index: u32) {
            let entry = &mut self.entries[index as usize];
            entry.slot = None;
            entry.generation = entry.generation.wrapping_add(1);
            self.free.push(index);
        }

        fn get(&self, key: u64) -> Option<&Slot> {
            let entry = self.entries.get((key & u64::from(u32::MAX)) as usize)?;
            if u64::from(entry.generation) != key >> 32 {
                return None;
            }
            entry.slot.as_deref()
        }
    }

    struct Reactor {
        epoll: OwnedFd,
        table: Mutex<Table>,
    }

    impl Reactor {
        fn table(&self) -> std::sync::MutexGuard<'_, Table> {
            self.table.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    /// Create the reactor and start its dispatcher, if not done yet.
    pub fn start() -> io::Result<()> {
        reactor().map(drop)
    }

    /// The reactor, created (and its dispatcher started) on first use.
    fn reactor() -> io::Result<&'static Reactor> {
        static REACTOR: OnceLock<Result<Reactor, i32>> = OnceLock::new();
        let reactor = REACTOR.get_or_init(|| {
            let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).map_err(|e| e.raw_os_error())?;
            Ok(Reactor {
                epoll,
                table: Mutex::default(),
            })
        });
        match reactor {
            Ok(reactor) => {
                static STARTED: std::sync::Once = std::sync::Once::new();
                STARTED.call_once(|| super::spawn(dispatch(reactor)));
                Ok(reactor)
            }
            Err(errno) => Err(io::Error::from_raw_os_error(*errno)),
        }
    }

    /// Reports taken per `epoll_wait`.
    const BATCH: usize = 256;

    /// Take the reports waiting (at most [`BATCH`], without waiting) and pass each on: bump the
    /// count of its directions and wake the task waiting there. How many were taken.
    fn take_reports(reactor: &Reactor) -> io::Result<usize> {
        use epoll::EventFlags as F;
        let mut events = [std::mem::MaybeUninit::<epoll::Event>::uninit(); BATCH];
        let now = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let (events, _) = loop {
            match epoll::wait(&reactor.epoll, &mut events, Some(&now)) {
                Err(rustix::io::Errno::INTR) => continue,
                result => break result?,
            }
        };
        let table = reactor.table();
        for event in &*events {
            let (key, flags) = (event.data.u64(), event.flags);
            let Some(slot) = table.get(key) else {
                continue;
            };
            if flags.intersects(F::RDHUP | F::HUP | F::ERR) {
                slot.hung_up.store(true, SeqCst);
            }
            if flags.intersects(F::IN | F::RDHUP | F::HUP | F::ERR) {
                slot.ticks[READ].fetch_add(1, SeqCst);
                slot.wakers[READ].wake();
            }
            if flags.intersects(F::OUT | F::HUP | F::ERR) {
                slot.ticks[WRITE].fetch_add(1, SeqCst);
                slot.wakers[WRITE].wake();
            }
        }
        Ok(events.len())
    }

    /// Take the epoll instance's reports whenever async-io says it has some, pass each on, and
    /// poll the connection futures run inline ([`super::inline`]) that were woken.
    ///
    /// One round: take the reports if async-io has reported the epoll instance readable, then
    /// poll every inline future woken so far once. After a round that polled something the
    /// task yields to the executor (the accept loop, probes and timers run); after one that
    /// polled nothing it waits for async-io's next report or an inline future's wake. Reports
    /// are taken only after async-io's (as before connections ran inline): the executor turns
    /// the reactor once it has run everything runnable, by which time a batch of reports has
    /// gathered; taking them after every round instead measured about three times as many
    /// `epoll_wait` and `epoll_ctl` calls per request, each finding fewer reports.
    async fn dispatch(reactor: &'static Reactor) {
        let watched = match Async::new_nonblocking(reactor.epoll.as_fd()) {
            Ok(watched) => watched,
            Err(e) => {
                log::error!("cannot watch the socket reactor: {e}");
                return;
            }
        };
        let mut inline = super::inline::Set::default();
        // The last round polled something (and the task yielded after it).
        let mut busy = false;
        std::future::poll_fn(|cx| loop {
            let reported = match watched.poll_readable(cx) {
                Poll::Pending => false,
                Poll::Ready(Ok(())) => true,
                Poll::Ready(Err(e)) => {
                    log::error!("cannot wait for the socket reactor: {e}");
                    return Poll::Ready(());
                }
            };
            // After a busy round, look for reports without waiting for async-io's: under load
            // some came in meanwhile, and one `epoll_wait` here saves a turn of async-io's
            // reactor (its own `epoll_wait`, a `timerfd_settime`, a `read` and three
            // `epoll_ctl` re-arms). async-executor still turns the reactor at least every 200
            // task polls, so the listener, timers and probes keep their turn.
            if reported || std::mem::take(&mut busy) {
                if let Err(e) = take_reports(reactor) {
                    log::error!("epoll_wait failed: {e}");
                    return Poll::Ready(());
                }
            }
            if inline.run() > 0 {
                // Let the other tasks run first, then look again.
                busy = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            // Nothing to poll: wait, once async-io has this task's waker again.
            if !reported && inline.park(cx.waker()) {
                return Poll::Pending;
            }
        })
        .await
    }
}

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

/// The time, for deadlines and the core's `now`. In a connection polled inline (see
/// [`spawn_connection`]) it is read once per round of the dispatcher, when first asked for, and
/// the same reading serves every connection polled in that round, as nginx reads the clock once
/// per turn of its event loop: a reading is at most one round old (microseconds under load),
/// which only ever makes a deadline come a little sooner. Elsewhere it is `Instant::now()`.
pub fn now() -> Instant {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        inline::now()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        Instant::now()
    }
}

/// Run an accepted connection's future in the background, to completion.
///
/// With one executor thread on Linux (the default, see [`set_threads`]) it is not a task of its
/// own: the task that takes the socket reports polls it directly whenever it is woken (see
/// [`inline`]), with no trip through the executor's queues. Otherwise it is [`spawn`]ed.
pub fn spawn_connection<F>(future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if inline::enabled() {
        return inline::spawn(Box::pin(future));
    }
    spawn(future)
}

/// Connection futures polled by the dispatcher task (see [`edge`]) instead of each being a task.
///
/// A task of async-std costs, per wake: a trip through the executor's queue, the task-locals
/// wrapper set and reset around its poll, and reference counting of its waker; on a kept-alive
/// connection that is once per request. Here each future sits boxed in a slab owned by the
/// dispatcher, with a waker of its own that queues the future's index (once until it is polled)
/// and wakes the dispatcher if it is waiting. The dispatcher polls the futures queued once per
/// round, right after passing on the socket reports that woke most of them.
///
/// Only with one executor thread: with more, the futures would all run on the dispatcher's
/// thread instead of being spread over them.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod inline {
    use futures::task::AtomicWaker;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
    use std::task::{Context, Poll, Waker};
    use std::time::Instant;

    /// This thread's clock for [`now`].
    #[derive(Clone, Copy)]
    enum Clock {
        /// Not in a round: every reading is taken afresh.
        Live,
        /// In a round, not read yet.
        Unread,
        /// In a round, read at this time.
        Read(Instant),
    }

    thread_local! {
        static CLOCK: std::cell::Cell<Clock> = const { std::cell::Cell::new(Clock::Live) };
    }

    /// See [`super::now`].
    pub fn now() -> Instant {
        CLOCK.with(|clock| match clock.get() {
            Clock::Read(at) => at,
            Clock::Unread => {
                let at = Instant::now();
                clock.set(Clock::Read(at));
                at
            }
            Clock::Live => Instant::now(),
        })
    }

    type Boxed = Pin<Box<dyn Future<Output = ()> + Send>>;

    /// Whether connections run inline: the executor runs one thread (async-std reads the count
    /// from `ASYNC_STD_THREAD_COUNT`, which [`super::set_threads`] sets before it starts).
    pub fn enabled() -> bool {
        static ENABLED: OnceLock<bool> = OnceLock::new();
        *ENABLED.get_or_init(|| {
            std::env::var("ASYNC_STD_THREAD_COUNT").is_ok_and(|n| n.trim() == "1")
                && super::edge::start().is_ok()
        })
    }

    /// Hand a new connection's future to the dispatcher.
    pub fn spawn(future: Boxed) {
        QUEUE.push(|queue| queue.incoming.push(future));
    }

    /// What wakers and new connections hand over to the dispatcher.
    struct Queue {
        inner: Mutex<Queued>,
        /// The dispatcher, while it waits.
        dispatcher: AtomicWaker,
    }

    struct Queued {
        /// Indexes in the [`Set`] of the futures woken since the last round.
        woken: Vec<u32>,
        /// Futures not in the set yet.
        incoming: Vec<Boxed>,
        /// The dispatcher waits: whoever queues something next wakes it.
        parked: bool,
    }

    /// The dispatcher's queue.
    static QUEUE: Queue = Queue::new();

    impl Queue {
        const fn new() -> Queue {
            Queue {
                inner: Mutex::new(Queued {
                    woken: Vec::new(),
                    incoming: Vec::new(),
                    parked: false,
                }),
                dispatcher: AtomicWaker::new(),
            }
        }

        fn lock(&self) -> MutexGuard<'_, Queued> {
            self.inner.lock().unwrap_or_else(|e| e.into_inner())
        }

        fn push(&self, put: impl FnOnce(&mut Queued)) {
            let wake = {
                let mut queued = self.lock();
                put(&mut queued);
                std::mem::take(&mut queued.parked)
            };
            if wake {
                self.dispatcher.wake();
            }
        }
    }

    /// One future's waker: queues its index, once until the future is polled again.
    struct Wake {
        index: u32,
        queued: AtomicBool,
        queue: &'static Queue,
    }

    impl std::task::Wake for Wake {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref()
        }

        fn wake_by_ref(self: &Arc<Self>) {
            if !self.queued.swap(true, SeqCst) {
                self.queue.push(|queue| queue.woken.push(self.index));
            }
        }
    }

    struct Entry {
        future: Boxed,
        waker: Waker,
        wake: Arc<Wake>,
    }

    /// The futures run inline; owned by the dispatcher task. A freed index is reused: a stale
    /// waker of a finished future then polls its successor once for nothing, which is harmless.
    pub struct Set {
        queue: &'static Queue,
        entries: Vec<Option<Entry>>,
        free: Vec<u32>,
        /// This round's indexes and new futures, taken from [`QUEUE`] (kept for their capacity).
        woken: Vec<u32>,
        incoming: Vec<Boxed>,
    }

    impl Default for Set {
        fn default() -> Set {
            Set::new(&QUEUE)
        }
    }

    impl Set {
        fn new(queue: &'static Queue) -> Set {
            Set {
                queue,
                entries: Vec::new(),
                free: Vec::new(),
                woken: Vec::new(),
                incoming: Vec::new(),
            }
        }

        /// Poll every future woken since the last round, and every new one, once. How many
        /// were polled.
        pub fn run(&mut self) -> usize {
            {
                let mut queued = self.queue.lock();
                queued.parked = false;
                std::mem::swap(&mut queued.woken, &mut self.woken);
                std::mem::swap(&mut queued.incoming, &mut self.incoming);
            }
            let polled = self.woken.len() + self.incoming.len();
            CLOCK.with(|clock| clock.set(Clock::Unread));
            let mut incoming = std::mem::take(&mut self.incoming);
            for future in incoming.drain(..) {
                let index = self.insert(future);
                self.poll(index);
            }
            self.incoming = incoming;
            let mut woken = std::mem::take(&mut self.woken);
            for &index in &woken {
                self.poll(index);
            }
            woken.clear();
            self.woken = woken;
            CLOCK.with(|clock| clock.set(Clock::Live));
            polled
        }

        /// Wait: `waker` is woken when a future is next queued. False if one already is (then
        /// run another round instead).
        pub fn park(&mut self, waker: &Waker) -> bool {
            self.queue.dispatcher.register(waker);
            let mut queued = self.queue.lock();
            queued.parked = queued.woken.is_empty() && queued.incoming.is_empty();
            queued.parked
        }

        fn insert(&mut self, future: Boxed) -> u32 {
            let index = match self.free.pop() {
                Some(index) => index,
                None => {
                    self.entries.push(None);
                    (self.entries.len() - 1) as u32
                }
            };
            let wake = Arc::new(Wake {
                index,
                queued: AtomicBool::new(false),
                queue: self.queue,
            });
            self.entries[index as usize] = Some(Entry {
                future,
                waker: Waker::from(Arc::clone(&wake)),
                wake,
            });
            index
        }

        /// Poll one future; drop it when it is done or panicked (a panic ends only its own
        /// connection, as it would end only its own task).
        fn poll(&mut self, index: u32) {
            use std::panic::{catch_unwind, AssertUnwindSafe};
            let Some(Some(entry)) = self.entries.get_mut(index as usize) else {
                return;
            };
            entry.wake.queued.store(false, SeqCst);
            let mut cx = Context::from_waker(&entry.waker);
            let future = &mut entry.future;
            let done = match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx))) {
                Ok(Poll::Pending) => false,
                Ok(Poll::Ready(())) => true,
                Err(_) => {
                    log::error!("a connection panicked; it is dropped");
                    true
                }
            };
            if done {
                let entry = self.entries[index as usize].take();
                self.free.push(index);
                if catch_unwind(AssertUnwindSafe(move || drop(entry))).is_err() {
                    log::error!("a connection panicked while it was dropped");
                }
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::sync::atomic::AtomicUsize;

        /// Sets its flag when dropped.
        struct Dropped(Arc<AtomicBool>);

        impl Drop for Dropped {
            fn drop(&mut self) {
                self.0.store(true, SeqCst);
            }
        }

        /// A future that panics when polled ends alone: it is dropped, and the one beside it
        /// is still polled when woken (during its own poll too), and completes.
        #[test]
        fn a_panicking_future_is_dropped_and_the_others_run_on() {
            let queue: &'static Queue = Box::leak(Box::new(Queue::new()));
            let mut set = Set::new(queue);
            let dropped = Arc::new(AtomicBool::new(false));
            let guard = Dropped(Arc::clone(&dropped));
            queue.push(|q| {
                q.incoming.push(Box::pin(async move {
                    let _guard = guard;
                    panic!("on purpose");
                }))
            });
            let polls = Arc::new(AtomicUsize::new(0));
            let counted = Arc::clone(&polls);
            let stored: Arc<Mutex<Option<Waker>>> = Arc::default();
            let waker = Arc::clone(&stored);
            let done = Arc::new(AtomicBool::new(false));
            let finished = Arc::clone(&done);
            queue.push(|q| {
                q.incoming.push(Box::pin(async move {
                    std::future::poll_fn(|cx| match counted.fetch_add(1, SeqCst) {
                        // Woken while being polled: polled again next round.
                        0 => {
                            cx.waker().wake_by_ref();
                            Poll::Pending
                        }
                        // Woken later, from outside.
                        1 => {
                            *waker.lock().unwrap() = Some(cx.waker().clone());
                            Poll::Pending
                        }
                        _ => Poll::Ready(()),
                    })
                    .await;
                    finished.store(true, SeqCst);
                }))
            });
            assert_eq!(set.run(), 2);
            assert!(dropped.load(SeqCst), "the panicked future was kept");
            assert_eq!(set.run(), 1);
            assert_eq!(polls.load(SeqCst), 2);
            // Nothing queued: the dispatcher may wait, and a wake then asks for it.
            assert_eq!(set.run(), 0);
            let dispatcher = Arc::new(Counter::default());
            assert!(set.park(&Waker::from(Arc::clone(&dispatcher))));
            let wake = stored.lock().unwrap().take().unwrap();
            wake.wake_by_ref();
            wake.wake();
            assert_eq!(
                dispatcher.0.load(SeqCst),
                1,
                "the waiting dispatcher not woken once"
            );
            assert_eq!(set.run(), 1, "two wakes before a poll, one poll");
            assert!(done.load(SeqCst));
            assert_eq!(set.entries.iter().flatten().count(), 0);
        }

        /// A waker that counts its wakes.
        #[derive(Default)]
        struct Counter(AtomicUsize);

        impl std::task::Wake for Counter {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, SeqCst);
            }
        }
    }
}

/// A connection's deadlines, on one reactor timer that is moved only when a wait must end
/// sooner than it is set for.
///
/// [`timeout`] registers a fresh timer for every wait that blocks and removes it again, once per
/// request on a kept-alive connection. Here the timer stays armed across waits: a later deadline
/// leaves it where it is (when it fires early, the clock is read and it is re-armed for the real
/// deadline), so a busy connection whose idle deadline keeps moving out touches the timer about
/// once per timeout period instead of twice per request.
///
/// Nor is the timer polled again while it already holds the waiting task's waker and [`now`]
/// says it cannot have fired: async-io's timer reads the clock on every poll, once per request
/// otherwise.
#[derive(Debug)]
pub struct Deadline {
    timer: async_io::Timer,
    /// When the timer is set to fire, if it is armed.
    armed: Option<Instant>,
    /// The waker the timer was last polled with (and will wake when it fires), if it was
    /// polled since it was armed.
    waker: Option<std::task::Waker>,
}

impl Default for Deadline {
    fn default() -> Deadline {
        Deadline {
            timer: async_io::Timer::never(),
            armed: None,
            waker: None,
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
                match self.armed {
                    Some(at) if at <= deadline => {
                        let registered =
                            self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
                        if registered && now() < at {
                            // It will wake this task when it fires.
                            return Poll::Pending;
                        }
                    }
                    _ => {
                        self.timer.set_at(deadline);
                        self.armed = Some(deadline);
                        self.waker = None;
                    }
                }
                match Pin::new(&mut self.timer).poll(cx) {
                    Poll::Pending => {
                        self.waker = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                    Poll::Ready(_) => {
                        // Fired: for this deadline, or for an earlier one it was left at.
                        self.armed = None;
                        self.waker = None;
                        if now() >= deadline {
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
    let connected = Async::<std::net::TcpStream>::connect(addr).await?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let inner = Watched::Oneshot(connected);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let inner = Watched { inner: connected };
    Ok(TcpStream {
        inner,
        drained: false,
        seen: 0,
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

    /// The peer's last bytes and its close, both reported before the read that takes the
    /// bytes: that read does not fill the buffer, yet the end of stream is still to be read
    /// (and is not reported again), so the next read returns it instead of waiting for ever.
    #[test]
    fn an_end_of_stream_behind_the_last_bytes_is_read_after_them() {
        block_on(async {
            let listener = bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let mut client = std::net::TcpStream::connect(addr).unwrap();
            std::io::Write::write_all(&mut client, b"a").unwrap();
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 64];
            assert_eq!(stream.read_some(&mut buf).await.unwrap(), 1);
            {
                // A wait on the empty socket registers it.
                let waker = futures::task::noop_waker();
                let mut read = std::pin::pin!(stream.read_some(&mut buf));
                let first = read.as_mut().poll(&mut Context::from_waker(&waker));
                assert!(first.is_pending());
                std::io::Write::write_all(&mut client, b"bc").unwrap();
                client.shutdown(std::net::Shutdown::Write).unwrap();
                sleep(Duration::from_millis(100)).await;
                assert_eq!(read.await.unwrap(), 2);
            }
            let end = timeout(Duration::from_secs(5), stream.read_some(&mut buf)).await;
            assert_eq!(end.map(|r| r.unwrap()), Some(0), "end of stream not seen");
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
