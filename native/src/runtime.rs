//! The async runtime, in one place.
//!
//! async-std is discontinued upstream in favour of smol. Every async-std name used by Ricochet is
//! in this module, so moving to smol (or anything else speaking `futures::io`) means rewriting
//! this file only: the rest of the crate sees [`TcpListener`], [`TcpStream`], [`spawn`],
//! [`sleep`], [`timeout`], [`block_on`], [`resolve`] and [`File`], and reads and writes through
//! the `futures::io` traits ([`AsyncReadExt`], [`AsyncWriteExt`]).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use futures::io::{AsyncReadExt, AsyncWriteExt};

/// A listening TCP socket. `accept().await` yields `(TcpStream, SocketAddr)`.
pub type TcpListener = async_std::net::TcpListener;

/// A connected TCP socket; implements `AsyncRead`/`AsyncWrite` (also through `&TcpStream`).
pub type TcpStream = async_std::net::TcpStream;

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

/// Wait for `duration`.
pub async fn sleep(duration: Duration) {
    async_std::task::sleep(duration).await
}

/// Run `future` for at most `duration`: `None` when the time ran out first (the future is
/// dropped).
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Option<F::Output> {
    async_std::future::timeout(duration, future).await.ok()
}

/// Bind a listening socket (`127.0.0.1:0` picks a free port).
pub async fn bind(addr: &str) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
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
    TcpStream::connect(addr).await
}

/// A file opened for reading, for the server.
///
/// The calls are made inline on the executor thread, not on a thread pool: the files a static
/// server sends are small or already in the page cache, where an open or a 256 KiB read costs
/// microseconds, far less than two thread hand-offs per call. For slow disks, route these calls
/// through a blocking pool here (e.g. `blocking::unblock`) and nothing else changes.
#[derive(Debug)]
pub struct File {
    inner: std::fs::File,
}

impl File {
    /// Open a file for reading.
    pub async fn open(path: &Path) -> io::Result<File> {
        Ok(File {
            inner: std::fs::File::open(path)?,
        })
    }

    /// Metadata of the opened file (size, modification time, kind).
    pub async fn metadata(&self) -> io::Result<std::fs::Metadata> {
        self.inner.metadata()
    }

    /// Read up to `buf.len()` bytes; `Ok(0)` at end of file.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut self.inner, buf)
    }
}

/// Metadata of a path, following symlinks.
pub async fn metadata(path: &Path) -> io::Result<std::fs::Metadata> {
    std::fs::metadata(path)
}

/// Metadata of a path itself: a symlink is reported as a symlink, not followed.
pub async fn symlink_metadata(path: &Path) -> io::Result<std::fs::Metadata> {
    std::fs::symlink_metadata(path)
}

/// The canonical absolute path, symlinks resolved.
pub async fn canonicalize(path: &Path) -> io::Result<PathBuf> {
    std::fs::canonicalize(path)
}
