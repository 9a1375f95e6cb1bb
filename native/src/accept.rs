//! The accept loop every listening binary shares: a cap on open connections, and accept errors
//! (EMFILE and friends) logged and backed off instead of ending the server.

use crate::conn::ByteStream;
use crate::driver::Shutdown;
use crate::runtime::{self, TcpListener, TcpStream};
use crate::tls::Acceptor;
use futures::channel::{mpsc, oneshot};
use futures::future::{select, Either};
use futures::StreamExt;
use ricochet_core::connection::ConnectionConfig;
use ricochet_core::request::Limits;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

/// First pause after a failed accept; doubles on each further failure up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(5);
/// Longest pause after repeated accept failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A counting semaphore for connection slots: a token per free slot in a channel.
struct Slots {
    tx: mpsc::UnboundedSender<()>,
    rx: mpsc::UnboundedReceiver<()>,
}

/// A held connection slot; dropping it frees the slot.
pub struct Slot {
    tx: mpsc::UnboundedSender<()>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        // The receiver lives as long as the accept loop; if it is gone nobody needs the slot.
        let _ = self.tx.unbounded_send(());
    }
}

impl Slots {
    fn new(n: usize) -> Slots {
        let (tx, rx) = mpsc::unbounded();
        for _ in 0..n {
            tx.unbounded_send(()).expect("receiver is alive");
        }
        Slots { tx, rx }
    }

    async fn acquire(&mut self) -> Slot {
        // `tx` is held by `self`, so the channel never ends and `next` never yields `None`.
        let _ = self.rx.next().await;
        Slot {
            tx: self.tx.clone(),
        }
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

/// Accept connections until `shutdown` fires, running `handle(stream, peer, shutdown)` as a
/// task for each, with at most `max_connections` open at once (further clients wait in the kernel's
/// backlog); then stop accepting, and return once every connection has ended (they drain on the
/// same signal). TCP_NODELAY is left to [`Conn`](crate::conn::Conn), which sets it from a
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
    loop {
        let next = async {
            let slot = slots.acquire().await;
            (slot, listener.accept().await)
        };
        let stop = shutdown.wait();
        let (slot, accepted) = match select(pin!(next), pin!(stop)).await {
            Either::Left((next, _)) => next,
            Either::Right(_) => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = MIN_BACKOFF;
                let open = shutdown.open();
                let task = handle(stream, peer, shutdown.clone());
                runtime::spawn(async move {
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
