//! The static file server: a [`Service`](crate::runtime::service::Service) for the shared
//! connection driver ([`crate::runtime::driver`]). Per request: route it with the core, open
//! the file beneath the root, send what the core decided, stream larger files in bounded
//! pieces; one log line.
//!
//! - [`service`]: the server's side of a connection, and its log lines;
//! - [`access`]: the access-log line of a request;
//! - [`open`]: finding and opening the file a request names, beneath the root
//!   ([`sandbox`]: the root held open, `openat2` beneath it);
//! - [`send`]: sending the answer; [`throttle`]: `--rate`, `--rate-total` and `--delay`;
//! - [`hasher`]: whole-file digests, computed in the background, for `Repr-Digest` and `Digest`.

pub mod access;
pub mod hasher;
pub mod open;
pub mod sandbox;
pub mod send;
pub mod service;
pub mod throttle;

use crate::runtime::accept;
use crate::runtime::access_log::AccessLog;
use crate::runtime::conn::ByteStream;
use crate::runtime::driver;
use crate::runtime::stop::Shutdown;
use crate::runtime::TcpListener;
use crate::server::hasher::Digests;
use crate::server::sandbox::Dir;
use crate::server::service::Files;
use crate::server::throttle::Throttle;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Server settings, from the command line.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory served, canonical (see [`Config::new`]).
    pub root: PathBuf,
    /// The root, opened once: files are opened beneath it.
    pub root_dir: Arc<Dir>,
    /// Slow-down for simulated slow servers.
    pub throttle: Throttle,
    /// Connection cap, head limits, deadlines and TLS.
    pub listener: accept::ListenerConfig,
    /// Where to write one Combined Log Format line per request, if anywhere.
    pub access_log: Option<AccessLog>,
    /// Whole-file digests known, and their background hashing (one thread by default).
    pub digests: Arc<Digests>,
}

impl Config {
    /// Settings with defaults for `root`, which must be an existing directory; it is made
    /// canonical so the containment check compares like with like.
    pub fn new(root: &std::path::Path) -> io::Result<Config> {
        let root = std::fs::canonicalize(root)?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", root.display()),
            ));
        }
        let root_dir = Arc::new(Dir::open(&root)?);
        Ok(Config {
            root,
            root_dir,
            throttle: Throttle::default(),
            listener: accept::ListenerConfig::new(1024),
            access_log: None,
            digests: Arc::new(Digests::new(1, true)),
        })
    }
}

/// Serve files from `listener` forever (never returns).
pub async fn serve_forever(listener: TcpListener, config: Config) -> ! {
    serve_until(listener, config, Shutdown::never()).await;
    futures::future::pending().await
}

/// Serve files from `listener` until `shutdown` fires, then let every connection drain and
/// return once all have closed.
pub async fn serve_until(mut listener: TcpListener, config: Config, shutdown: Shutdown) {
    let config = Arc::new(config);
    let max = config.listener.max_connections;
    config.listener.prepare(&mut listener);
    accept::accept_loop(listener, max, shutdown, move |stream, peer, shutdown| {
        let connection = Connection {
            config: Arc::clone(&config),
            peer,
            shutdown,
        };
        async move {
            let listener = &connection.config.listener;
            accept::serve_accepted(&connection, listener, stream, peer).await
        }
    })
    .await
}

/// One accepted connection of the file server.
struct Connection {
    config: Arc<Config>,
    peer: SocketAddr,
    shutdown: Shutdown,
}

impl accept::Handler for Connection {
    fn handle<S: ByteStream>(&self, stream: S) -> impl std::future::Future<Output = ()> + Send {
        serve_connection(stream, self.peer, &self.config, &self.shutdown)
    }
}

/// Serve one connection until it closes, fails, times out or drains after `shutdown`. Errors
/// are logged, never raised.
pub async fn serve_connection<S: ByteStream>(
    stream: S,
    peer: SocketAddr,
    config: &Config,
    shutdown: &Shutdown,
) {
    let mut files = Files::new(config, peer);
    let connection = config.listener.connection();
    driver::run(stream, connection, &mut files, shutdown).await;
}
