//! The static file server's connection handling: read request heads, let the core decide, send
//! what it decided, stream files in bounded pieces.
//!
//! Per connection: keep-alive and pipelining with one [`RequestParser`]; a header-read timeout
//! (408) and an idle keep-alive timeout (quiet close); request bodies skipped with the core's
//! [`BodyDecoder`](ricochet_core::body::BodyDecoder) so the next request starts in the right
//! place. Per request, one log line: peer, method, target, status, bytes sent, duration.

use crate::accept;
use crate::conn::{Conn, DiscardError, FillError};
use crate::runtime::{self, Dir, File, TcpListener, TcpStream};
use crate::throttle::Throttle;
use crate::tls::Stream;
use ricochet_core::request::{Limits, RequestParser};
use ricochet_core::serve::{self, Directory, FileRequest};
use ricochet_core::{BodyKind, Parsed};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Files up to this size go out with their head in a single write.
const SMALL_FILE: u64 = 64 * 1024;
/// Piece size for streaming larger files: the most file data a connection holds at once.
const CHUNK: usize = 256 * 1024;
/// Largest request body skipped to keep a connection alive; a larger one closes it.
const MAX_DISCARD: u64 = 1024 * 1024;
/// How long to read and drop a client's leftovers after a final error response.
const LINGER: Duration = Duration::from_secs(1);

/// Server settings, from the command line.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory served, canonical (see [`Config::new`]).
    pub root: PathBuf,
    /// The root, opened once: files are opened beneath it.
    pub root_dir: Arc<Dir>,
    /// Slow-down for simulated slow servers.
    pub throttle: Throttle,
    /// Longest time from a request's first byte to the end of its head (then 408).
    pub header_timeout: Duration,
    /// Longest wait for the next request on a kept-alive connection (then a quiet close); also
    /// the longest a write may stall.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Request-head limits for the parser.
    pub limits: Limits,
    /// TLS on the listener (`--tls-cert`/`--tls-key`); `None` for plain HTTP.
    pub tls: Option<crate::tls::Acceptor>,
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
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            limits: Limits::default(),
            tls: None,
        })
    }
}

/// Serve files from `listener` forever.
pub async fn run(listener: TcpListener, config: Config) -> ! {
    let config = Arc::new(config);
    let max = config.max_connections;
    accept::accept_loop(listener, max, move |stream, peer| {
        let config = Arc::clone(&config);
        async move { handle_connection(stream, peer, &config).await }
    })
    .await
}

/// What is kept of a request once its head has been consumed (the head borrows the receive
/// buffer, which the body and the next request reuse).
struct Summary {
    method_and_target: String,
    head_only: bool,
    keep_alive: bool,
}

impl Summary {
    /// No request could be parsed: log `-` in its place.
    fn unparsed(&mut self) {
        self.method_and_target.clear();
        self.method_and_target.push('-');
    }
}

/// How a connection goes on after a response.
enum After {
    KeepAlive,
    Close,
    /// Close after sending a final error (read the peer's leftovers first).
    Linger,
}

/// Serve one connection until it closes, fails or times out. Errors are logged, never raised.
pub async fn handle_connection(stream: TcpStream, peer: SocketAddr, config: &Config) {
    let capacity = config.limits.max_head.saturating_add(1024);
    let stream = match &config.tls {
        None => Stream::Plain(stream),
        Some(tls) => match tls.accept(stream, config.header_timeout).await {
            Ok(stream) => stream,
            Err(e) => return log::debug!("{peer}: {e}"),
        },
    };
    let mut conn = Conn::new(stream, capacity);
    let mut parser = RequestParser::new(config.limits);
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk: Vec<u8> = Vec::new();
    let mut summary = Summary {
        method_and_target: String::with_capacity(128),
        head_only: false,
        keep_alive: false,
    };
    let mut first = true;
    loop {
        // Wait for a complete head. A fresh connection gets the header timeout to send anything;
        // a kept-alive one the idle timeout; once a head has begun, the header timeout runs from
        // its first byte.
        let waiting_since = Instant::now();
        let idle_deadline = waiting_since
            + if first {
                config.header_timeout
            } else {
                config.idle_timeout
            };
        // When the first byte of this request was seen: the start of its header timeout and of
        // the duration logged.
        let mut head_started: Option<Instant> = if conn.buffered().is_empty() {
            None
        } else {
            Some(waiting_since)
        };
        let (route, body, started) = loop {
            let parsed = parser.parse(conn.buffered());
            match parsed {
                Ok(Parsed::Complete { value, consumed }) => {
                    summary.method_and_target.clear();
                    summary.method_and_target.push_str(value.method);
                    summary.method_and_target.push(' ');
                    summary.method_and_target.push_str(value.raw_target);
                    summary.head_only = value.method == "HEAD";
                    summary.keep_alive = value.keep_alive;
                    let route = serve::route(&value);
                    let body = value.body;
                    conn.consume(consumed);
                    break (route, body, head_started.unwrap_or(waiting_since));
                }
                Ok(Parsed::Partial) => {}
                Err(e) => {
                    log::debug!("{peer}: {e}");
                    let started = head_started.unwrap_or(waiting_since);
                    summary.unparsed();
                    send_final_error(conn, peer, e.status(), &summary, config, started).await;
                    return;
                }
            }
            let deadline = if conn.buffered().is_empty() {
                idle_deadline
            } else {
                let begun = *head_started.get_or_insert_with(Instant::now);
                begun + config.header_timeout
            };
            match conn.fill(deadline).await {
                Ok(_) => {
                    head_started.get_or_insert_with(Instant::now);
                }
                Err(FillError::TimedOut) if !conn.buffered().is_empty() => {
                    let started = head_started.unwrap_or(waiting_since);
                    summary.unparsed();
                    send_final_error(conn, peer, 408, &summary, config, started).await;
                    return;
                }
                Err(FillError::BufferFull) => {
                    let started = head_started.unwrap_or(waiting_since);
                    summary.unparsed();
                    send_final_error(conn, peer, 431, &summary, config, started).await;
                    return;
                }
                Err(FillError::Io(e)) => {
                    log::debug!("{peer}: read failed: {e}");
                    return;
                }
                Err(FillError::Closed | FillError::TimedOut) => return,
            }
        };
        first = false;

        // Skip the request body so a pipelined request after it parses from its first byte.
        let mut after_body = After::KeepAlive;
        if body != BodyKind::None {
            let deadline = Instant::now() + config.idle_timeout;
            match conn.discard_body(body, MAX_DISCARD, deadline).await {
                Ok(()) => {}
                Err(DiscardError::Body(e)) => {
                    log::debug!("{peer}: {e}");
                    send_final_error(conn, peer, e.status(), &summary, config, started).await;
                    return;
                }
                Err(DiscardError::TooLarge) => after_body = After::Linger,
                Err(DiscardError::Fill(_)) => return,
            }
        }

        let result = match route {
            Ok(mut request) => {
                if !matches!(after_body, After::KeepAlive) {
                    request.keep_alive = false;
                }
                send_file(&mut conn, &request, config, &mut out, &mut chunk).await
            }
            Err(status) => {
                let keep_alive = summary.keep_alive && matches!(after_body, After::KeepAlive);
                send_error(&mut conn, status, keep_alive, summary.head_only, config).await
            }
        };
        let (status, sent, after) = match result {
            Ok(done) => done,
            Err(e) => {
                log::debug!("{peer}: {}: write failed: {e}", summary.method_and_target);
                return;
            }
        };
        log_request(peer, &summary.method_and_target, status, sent, started);
        match (after, after_body) {
            (After::KeepAlive, After::KeepAlive) => {}
            (_, After::Linger) | (After::Linger, _) => {
                conn.close_gracefully(LINGER).await;
                return;
            }
            // Bytes the peer pipelined after a `Connection: close` request would be answered
            // by the kernel with a reset that can destroy this response: drain them first.
            (After::Close, _) | (_, After::Close) if !conn.buffered().is_empty() => {
                conn.close_gracefully(LINGER).await;
                return;
            }
            (After::Close, _) | (_, After::Close) => return,
        }
    }
}

fn log_request(peer: SocketAddr, request: &str, status: u16, sent: u64, started: Instant) {
    if !log::log_enabled!(log::Level::Info) {
        return;
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    log::info!("{peer} \"{request}\" {status} {sent} {ms:.1}ms");
}

/// Send an error that ends the connection (malformed head, timeout, bad body), log it, close.
async fn send_final_error(
    mut conn: Conn,
    peer: SocketAddr,
    status: u16,
    summary: &Summary,
    config: &Config,
    started: Instant,
) {
    match send_error(&mut conn, status, false, false, config).await {
        Ok((status, sent, _)) => {
            log_request(peer, &summary.method_and_target, status, sent, started);
            conn.close_gracefully(LINGER).await;
        }
        Err(e) => log::debug!("{peer}: write failed: {e}"),
    }
}

/// Send the core's error page for `status`. Returns the status, bytes sent and what next.
async fn send_error(
    conn: &mut Conn,
    status: u16,
    keep_alive: bool,
    head_only: bool,
    config: &Config,
) -> io::Result<(u16, u64, After)> {
    let keep_alive = keep_alive && !serve::forces_close(status);
    let bytes = serve::error_response(status, keep_alive, head_only, SystemTime::now());
    send_bytes(conn, &bytes, status, keep_alive, config).await
}

/// Send a complete response the core produced; the status, bytes sent and what comes next.
async fn send_bytes(
    conn: &mut Conn,
    bytes: &[u8],
    status: u16,
    keep_alive: bool,
    config: &Config,
) -> io::Result<(u16, u64, After)> {
    let mut pace = config.throttle.start().await;
    pace.write_all(conn, bytes, config.idle_timeout).await?;
    let after = if keep_alive {
        After::KeepAlive
    } else {
        After::Close
    };
    Ok((status, pace.sent(), after))
}

/// Why a file could not be served, as a status.
fn io_status(e: &io::Error) -> u16 {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => 404,
        // A name longer than the file system allows names no file.
        _ if e.raw_os_error() == Some(libc::ENAMETOOLONG) => 404,
        io::ErrorKind::PermissionDenied => 403,
        _ => 500,
    }
}

/// Find and check the path `relative` (from the core's router) names under the root, with
/// its metadata (symlinks followed). `Err` is the status to answer.
///
/// The root is canonical and `relative` has no `.`, `..` or empty segments, so a path whose
/// components are none of them symlinks lies inside the root: one `lstat` per component proves
/// it. Only when a component is a symlink is the path canonicalized and checked with the core's
/// [`serve::is_inside`] (a symlink leading out of the root is refused with 403).
async fn resolve(config: &Config, relative: &str) -> Result<(PathBuf, std::fs::Metadata), u16> {
    let mut path = config.root.clone();
    let mut meta = None;
    for segment in relative.split('/').filter(|s| !s.is_empty()) {
        path.push(segment);
        let m = runtime::symlink_metadata(&path)
            .await
            .map_err(|e| io_status(&e))?;
        if m.file_type().is_symlink() {
            let full = config.root.join(relative);
            let canonical = runtime::canonicalize(&full)
                .await
                .map_err(|e| io_status(&e))?;
            if !serve::is_inside(&config.root, &canonical) {
                log::warn!("refusing {relative}: it resolves outside the root");
                return Err(403);
            }
            let m = runtime::metadata(&canonical)
                .await
                .map_err(|e| io_status(&e))?;
            return Ok((canonical, m));
        }
        meta = Some(m);
    }
    match meta {
        Some(m) => Ok((path, m)),
        None => {
            let m = runtime::metadata(&path).await.map_err(|e| io_status(&e))?;
            Ok((path, m))
        }
    }
}

/// Find, check and open the file a request names (a directory's index page for a
/// directory), with its metadata and, for a directory, the request for its index page (the
/// one to answer: its name gives the Content-Type). `Err` is the status to answer.
async fn open_file(
    config: &Config,
    request: &FileRequest,
) -> Result<(File, std::fs::Metadata, Option<FileRequest>), u16> {
    // The root is always a directory: straight to its index page.
    let (file, meta, index) = if request.relative.is_empty() {
        let index = index_request(request)?;
        let (file, meta) = open_checked(config, &index.relative).await?;
        (file, meta, Some(index))
    } else {
        let (file, meta) = open_checked(config, &request.relative).await?;
        if meta.is_dir() {
            let index = index_request(request)?;
            let (file, meta) = open_checked(config, &index.relative).await?;
            (file, meta, Some(index))
        } else {
            (file, meta, None)
        }
    };
    match file {
        Some(file) if meta.is_file() => Ok((file, meta, index)),
        // A directory without index.html, a FIFO, a device: nothing to serve.
        _ => Err(404),
    }
}

/// The request for a directory's index page, or 301 (answered with
/// [`serve::directory_redirect`] by the caller) when the path lacks its trailing slash.
fn index_request(request: &FileRequest) -> Result<FileRequest, u16> {
    match serve::directory(request) {
        Directory::Index(index) => Ok(index),
        Directory::AddSlash => Err(301),
    }
}

/// Open `relative` under the root, with its metadata (symlinks followed). The file is `None`
/// when it is not a regular file (a directory, a FIFO...). `Err` is the status to answer.
///
/// Usually one `openat2` call that both opens the file and proves it lies beneath the root,
/// then an `fstat`; when that call cannot decide (an absolute symlink on the way, or no
/// `openat2` in the kernel), the path is checked component by component by [`resolve`].
async fn open_checked(
    config: &Config,
    relative: &str,
) -> Result<(Option<File>, std::fs::Metadata), u16> {
    if let Some(file) = config
        .root_dir
        .open_beneath(relative)
        .await
        .map_err(|e| io_status(&e))?
    {
        let meta = file.metadata().await.map_err(|e| io_status(&e))?;
        return Ok((Some(file), meta));
    }
    let (path, meta) = resolve(config, relative).await?;
    if !meta.is_file() {
        return Ok((None, meta));
    }
    // The checked path has no symlink left in it: open it beneath the root again, so a link
    // swapped in since the check cannot lead out (where openat2 exists).
    let checked = path
        .strip_prefix(&config.root)
        .ok()
        .and_then(|p| p.to_str());
    let reopened = match checked {
        Some(rel) if !rel.is_empty() => config.root_dir.reopen_beneath(rel).await,
        _ => None,
    };
    let file = match reopened {
        Some(opened) => opened.map_err(|e| io_status(&e))?,
        None => File::open(&path).await.map_err(|e| io_status(&e))?,
    };
    let meta = file.metadata().await.map_err(|e| io_status(&e))?;
    if !meta.is_file() {
        return Ok((None, meta));
    }
    Ok((Some(file), meta))
}

/// Serve a routed request: the file, a 304, or the error page if the file cannot be had.
async fn send_file(
    conn: &mut Conn,
    request: &FileRequest,
    config: &Config,
    out: &mut Vec<u8>,
    chunk: &mut Vec<u8>,
) -> io::Result<(u16, u64, After)> {
    let (mut file, meta, index) = match open_file(config, request).await {
        Ok(opened) => opened,
        Err(301) => {
            let bytes = serve::directory_redirect(request, SystemTime::now());
            return send_bytes(conn, &bytes, 301, request.keep_alive, config).await;
        }
        Err(status) => {
            return send_error(conn, status, request.keep_alive, request.head_only, config).await
        }
    };
    let request = index.as_ref().unwrap_or(request);
    let file_meta = serve::FileMeta {
        len: meta.len(),
        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        inode: inode(&meta),
    };
    let (head, body) = match serve::file_response(request, &file_meta, SystemTime::now()) {
        serve::FileResponse::File { head, body } => (head, body),
        serve::FileResponse::Refused { status, bytes } => {
            return send_bytes(conn, &bytes, status, request.keep_alive, config).await;
        }
    };
    out.clear();
    if head.write(out).is_err() {
        return send_error(conn, 500, false, request.head_only, config).await;
    }
    let status = head.status;
    let after = if request.keep_alive {
        After::KeepAlive
    } else {
        After::Close
    };
    let mut pace = config.throttle.start().await;
    let Some(body) = body else {
        pace.write_all(conn, out, config.idle_timeout).await?;
        return Ok((status, pace.sent(), after));
    };
    if body.start > 0 {
        file.seek_to(body.start).await?;
    }
    let len = body.len;
    if len <= SMALL_FILE {
        // Head and body in one write.
        let head_len = out.len();
        out.resize(head_len + len as usize, 0);
        let complete = read_full(&mut file, &mut out[head_len..]).await?;
        if complete < len as usize {
            // The file shrank under us: what was announced cannot be sent.
            pace.write_all(conn, &out[..head_len + complete], config.idle_timeout)
                .await?;
            log::warn!("{} shrank while being sent", request.relative);
            return Ok((status, pace.sent(), After::Close));
        }
        pace.write_all(conn, out, config.idle_timeout).await?;
        return Ok((status, pace.sent(), after));
    }
    // Larger files: head plus the first piece in one write, then piece by piece.
    if chunk.is_empty() {
        chunk.resize(CHUNK, 0);
    }
    let mut remaining = len;
    let mut offset = 0;
    if out.len() <= CHUNK / 2 {
        chunk[..out.len()].copy_from_slice(out);
        offset = out.len();
    } else {
        pace.write_all(conn, out, config.idle_timeout).await?;
    }
    while remaining > 0 {
        let want = (CHUNK - offset).min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let got = read_full(&mut file, &mut chunk[offset..offset + want]).await?;
        pace.write_all(conn, &chunk[..offset + got], config.idle_timeout)
            .await?;
        offset = 0;
        if got < want {
            log::warn!("{} shrank while being sent", request.relative);
            return Ok((status, pace.sent(), After::Close));
        }
        remaining -= got as u64;
    }
    Ok((status, pace.sent(), after))
}

/// The file's inode number, part of its ETag (0 where there is none).
fn inode(meta: &std::fs::Metadata) -> u64 {
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let ino = {
        let _ = meta;
        0
    };
    ino
}

/// Read until `buf` is full or the file ends; returns how much was read.
async fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]).await {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
