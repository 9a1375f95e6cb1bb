//! The accept loop every listening binary shares: a cap on open connections, and accept errors
//! (EMFILE and friends) logged and backed off instead of ending the server.

use crate::runtime::conn::ByteStream;
use crate::runtime::driver::Shutdown;
use crate::runtime::tls::Acceptor;
use crate::runtime::{self, TcpListener, TcpStream};
use futures::channel::oneshot;
use futures::task::AtomicWaker;
use ricochet_core::http::connection::ConnectionConfig;
use ricochet_core::http::request::Limits;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

/// First pause after a failed accept; doubles on each further failure up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(5);
/// Longest pause after repeated accept failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A counting semaphore for connection slots, taken by the one accept loop and given back by
/// each connection as it ends: a count of free slots, and the accept loop's waker for when none
/// was free.
struct Slots(Arc<SlotCount>);

struct SlotCount {
    free: AtomicUsize,
    /// The accept loop, waiting for a slot (woken when the count leaves zero).
    waiting: AtomicWaker,
}

/// A held connection slot; dropping it frees the slot.
pub struct Slot(Arc<SlotCount>);

impl Drop for Slot {
    fn drop(&mut self) {
        if self.0.free.fetch_add(1, Ordering::AcqRel) == 0 {
            self.0.waiting.wake();
        }
    }
}

impl Slots {
    fn new(n: usize) -> Slots {
        Slots(Arc::new(SlotCount {
            free: AtomicUsize::new(n),
            waiting: AtomicWaker::new(),
        }))
    }

    /// Take a slot, waiting until one is free.
    async fn acquire(&mut self) -> Slot {
        let count = &self.0;
        std::future::poll_fn(|cx| loop {
            let free = count.free.load(Ordering::Acquire);
            if free > 0 {
                // Only this loop takes slots, so the count can only have grown meanwhile.
                count.free.fetch_sub(1, Ordering::AcqRel);
                return Poll::Ready(Slot(Arc::clone(count)));
            }
            count.waiting.register(cx.waker());
            // A slot freed before the registration woke nobody: look again.
            if count.free.load(Ordering::Acquire) == 0 {
                return Poll::Pending;
            }
        })
        .await
    }
}

/// What every listener's connections share: their cap, request-head limits, deadlines and TLS.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Request-head limits for the parser.
    pub limits: Limits,
    /// Longest time from a request's first byte to the end of its head (then 408); also the
    /// time a TLS handshake gets.
    pub header_timeout: Duration,
    /// Longest wait for the next request on a kept-alive connection (then a quiet close); also
    /// the longest a write may stall.
    pub idle_timeout: Duration,
    /// TLS on the listener (`--tls-cert`/`--tls-key`); `None` for plain HTTP.
    pub tls: Option<Acceptor>,
}

impl ListenerConfig {
    /// Plain HTTP, default head limits, 10 s header and 60 s idle timeouts, and at most
    /// `max_connections` open at once.
    pub fn new(max_connections: usize) -> ListenerConfig {
        ListenerConfig {
            max_connections,
            limits: Limits::default(),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            tls: None,
        }
    }

    /// Set `listener` up for these connections: with TLS, one connection accepted per readiness
    /// event ([`TcpListener::set_one_per_wake`]), so that the requests of open connections are
    /// answered between new handshakes rather than after a whole burst of them; without TLS,
    /// every queued one at once.
    pub fn prepare(&self, listener: &mut TcpListener) {
        listener.set_one_per_wake(self.tls.is_some());
    }

    /// The driver's settings for one connection.
    pub fn connection(&self) -> ConnectionConfig {
        ConnectionConfig::new(self.limits, self.header_timeout, self.idle_timeout)
    }
}

/// One accepted connection's application side (it knows the peer and the stop signal), run
/// over plain TCP or TLS.
pub trait Handler {
    /// Serve `stream` until it closes, fails, times out or drains.
    fn handle<S: ByteStream>(&self, stream: S) -> impl Future<Output = ()> + Send;
}

/// Hand a connection accepted from `peer` to `handler`: as is without TLS in `config`, else
/// after the TLS handshake, which gets the header timeout (the time a request head gets). A
/// failed handshake is logged and ends only this connection. The plain path stays monomorphic
/// over [`TcpStream`], with no boxing.
///
/// The TLS path is boxed: its future holds a rustls connection and is several kilobytes, and an
/// unboxed branch would make every plain connection's task that large too (a task's future is
/// moved several times on its way into the executor, once per connection).
pub async fn serve_accepted<H: Handler>(
    handler: &H,
    config: &ListenerConfig,
    stream: TcpStream,
    peer: SocketAddr,
) {
    match &config.tls {
        None => handler.handle(stream).await,
        Some(tls) => {
            Box::pin(async move {
                match tls.accept(stream, config.header_timeout).await {
                    Ok(stream) => handler.handle(stream).await,
                    Err(e) => log::debug!("{peer}: {e}"),
                }
            })
            .await
        }
    }
}

/// Accept connections until `shutdown` fires, running `handle(stream, peer, shutdown)` for each
/// ([`runtime::spawn_connection`]: inline in the socket dispatcher with one executor thread, else
/// a task), with at most `max_connections` open at once (further clients wait in the kernel's
/// backlog); then stop accepting, and return once every connection has ended (they drain on the
/// same signal). TCP_NODELAY is left to [`Conn`](crate::runtime::conn::Conn), which sets it from a
/// connection's second write on.
///
/// The loop itself runs as a task on the executor's worker threads, not on the thread awaiting
/// this function: a connection task spawned from a worker starts on that worker's own queue,
/// with no cross-thread wake-up per accepted connection.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    max_connections: usize,
    shutdown: Shutdown,
    handle: F,
) where
    F: Fn(TcpStream, SocketAddr, Shutdown) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (done, finished) = oneshot::channel();
    runtime::spawn(async move {
        run_loop(listener, max_connections, shutdown, handle).await;
        let _ = done.send(());
    });
    let _ = finished.await;
}

async fn run_loop<F, Fut>(
    listener: TcpListener,
    max_connections: usize,
    shutdown: Shutdown,
    handle: F,
) where
    F: Fn(TcpStream, SocketAddr, Shutdown) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let max = max_connections.max(1);
    let mut slots = Slots::new(max);
    let mut backoff = MIN_BACKOFF;
    // One watch for the loop's life: registered with the signal once, not per connection.
    let mut stop = shutdown.watch();
    // Checked before each accept too: under load an accept may never wait.
    while !shutdown.is_triggered() {
        let next = async {
            let slot = slots.acquire().await;
            (slot, listener.accept().await)
        };
        let Some((slot, accepted)) = stop.until(next).await else {
            break;
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = MIN_BACKOFF;
                let open = shutdown.open();
                let task = handle(stream, peer, shutdown.clone());
                runtime::spawn_connection(async move {
                    task.await;
                    drop(open);
                    drop(slot);
                });
            }
            Err(e) => {
                // EMFILE, ENFILE, ENOBUFS, ECONNABORTED...: the listener itself is fine; wait a
                // little so a full file table has a chance to drain, then try again.
                log::warn!("accept failed: {e}; retrying in {backoff:?}");
                drop(slot);
                runtime::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    drop(listener);
    // Every slot back: every connection has ended.
    let mut held = Vec::with_capacity(max);
    for _ in 0..max {
        held.push(slots.acquire().await);
    }
}
