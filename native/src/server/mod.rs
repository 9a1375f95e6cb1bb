//! The static file server: a [`Service`] for the shared connection driver ([`crate::runtime::driver`]).
//! Per request: route it with the core, open the file beneath the root, send what the core
//! decided, stream larger files in bounded pieces; one log line (peer, method, target, status,
//! bytes sent, duration).

pub mod throttle;

use crate::runtime::accept;
use crate::runtime::access_log::AccessLog;
use crate::runtime::conn::ByteStream;
use crate::runtime::driver::{self, Responder, Service, Shutdown};
use crate::runtime::{self, Dir, File, TcpListener};
use crate::server::throttle::Throttle;
use ricochet_core::files::serve::{self, Directory, FileError, FileRequest};
use ricochet_core::http::access_log;
use ricochet_core::http::error_page;
use ricochet_core::http::request::Request;
use ricochet_core::http::status::Status;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Files up to this size go out with their head in a single write.
const SMALL_FILE: u64 = 64 * 1024;
/// Piece size for streaming larger files: the most file data a connection holds at once.
const CHUNK: usize = 256 * 1024;

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
        })
    }
}

/// Serve files from `listener` forever.
pub async fn run(listener: TcpListener, config: Config) -> ! {
    serve(listener, config, Shutdown::never()).await;
    futures::future::pending().await
}

/// Serve files from `listener` until `shutdown` fires, then let every connection drain and
/// return once all have closed.
pub async fn serve(mut listener: TcpListener, config: Config, shutdown: Shutdown) {
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
        handle_connection(stream, self.peer, &self.config, &self.shutdown)
    }
}

/// Serve one connection until it closes, fails or times out. Errors are logged, never raised.
pub async fn handle_connection<S: ByteStream>(
    stream: S,
    peer: SocketAddr,
    config: &Config,
    shutdown: &Shutdown,
) {
    let mut files = Files {
        config,
        peer,
        summary: String::with_capacity(128),
        out: Vec::with_capacity(4096),
        chunk: Vec::new(),
        access: AccessFields::new(),
    };
    let connection = config.listener.connection();
    driver::run(stream, connection, &mut files, shutdown).await;
}

/// The file server's side of one connection: a request in, a file (or an error page) out.
struct Files<'a> {
    config: &'a Config,
    peer: SocketAddr,
    /// `METHOD target` of the request being answered, for its log line.
    summary: String,
    /// A response head (and a small file's bytes).
    out: Vec<u8>,
    /// One piece of a larger file.
    chunk: Vec<u8>,
    /// The request's fields for the access log, if there is one.
    access: AccessFields,
}

/// A routed request, or the error page to answer it with.
type Routed = Result<FileRequest, serve::Refused>;

impl Service for Files<'_> {
    type Pending = Routed;

    fn request(&mut self, request: &Request<'_>, _: bool, _: &mut Vec<u8>) -> Routed {
        self.summary.clear();
        if log::log_enabled!(log::Level::Info) {
            self.summary.push_str(request.method);
            self.summary.push(' ');
            self.summary.push_str(request.raw_target);
        }
        if self.config.access_log.is_some() {
            self.access.keep(request);
        }
        serve::route(request)
    }

    async fn respond<S: ByteStream>(
        &mut self,
        routed: Routed,
        keep_alive: bool,
        responder: &mut Responder<'_, S>,
    ) -> io::Result<bool> {
        let config = self.config;
        let mut answer = Answer::default();
        let answered = match routed {
            Ok(mut request) => {
                request.keep_alive = keep_alive;
                let (out, chunk) = (&mut self.out, &mut self.chunk);
                send_file(responder, &request, config, out, chunk, &mut answer).await
            }
            Err(refused) => {
                let (status, head_only) = (refused.status, refused.head_only);
                send_error(
                    responder,
                    status,
                    keep_alive,
                    head_only,
                    config,
                    &mut answer,
                )
                .await
            }
        };
        // Logged whether or not the answer went out whole: a download its client cut short
        // gets its line too, with the bytes actually sent (as nginx logs it).
        let started = responder.request_started();
        let sent = responder.sent();
        let body = sent.saturating_sub(answer.head as u64);
        if let Some(access_log) = &config.access_log {
            self.access
                .record(access_log, self.peer, answer.status, body);
        }
        log_request(self.peer, &self.summary, answer.status, sent, started);
        answered.map(|()| answer.more)
    }

    fn error(&mut self, status: Status, sent: u64, body: u64, started: Option<Instant>) {
        if let Some(access_log) = &self.config.access_log {
            // The driver's error page: the request could not be (fully) parsed.
            self.access.unparsed();
            self.access
                .record(access_log, self.peer, status.code(), body);
        }
        log_request(self.peer, "-", status.code(), sent, started);
    }
}

/// What the access log needs of a request, kept while it is answered (the head borrows the
/// receive buffer); the buffers are reused from request to request.
struct AccessFields {
    received: SystemTime,
    method: String,
    target: String,
    version: &'static str,
    referer: Vec<u8>,
    user_agent: Vec<u8>,
    parsed: bool,
}

impl AccessFields {
    fn new() -> AccessFields {
        AccessFields {
            received: SystemTime::UNIX_EPOCH,
            method: String::new(),
            target: String::new(),
            version: "",
            referer: Vec::new(),
            user_agent: Vec::new(),
            parsed: false,
        }
    }

    fn keep(&mut self, request: &Request<'_>) {
        self.received = SystemTime::now();
        self.method.clear();
        self.method.push_str(request.method);
        self.target.clear();
        self.target.push_str(request.raw_target);
        self.version = request.version.as_str();
        self.referer.clear();
        self.referer
            .extend_from_slice(request.header("referer").unwrap_or_default());
        self.user_agent.clear();
        self.user_agent
            .extend_from_slice(request.header("user-agent").unwrap_or_default());
        self.parsed = true;
    }

    fn unparsed(&mut self) {
        self.received = SystemTime::now();
        self.parsed = false;
        self.referer.clear();
        self.user_agent.clear();
    }

    fn record(&self, log: &AccessLog, peer: SocketAddr, status: u16, body_bytes: u64) {
        log.record(|line| {
            let entry = access_log::Entry {
                client: &peer.ip(),
                time: self.received,
                request: self.parsed.then_some((
                    self.method.as_str(),
                    self.target.as_str(),
                    self.version,
                )),
                status,
                body_bytes,
                referer: Some(&self.referer),
                user_agent: Some(&self.user_agent),
            };
            access_log::write_combined(&entry, line);
        });
    }
}

fn log_request(peer: SocketAddr, request: &str, status: u16, sent: u64, started: Option<Instant>) {
    if !log::log_enabled!(log::Level::Info) {
        return;
    }
    let ms = started.map_or(0.0, |t| t.elapsed().as_secs_f64() * 1000.0);
    log::info!("{peer} \"{request}\" {status} {sent} {ms:.1}ms");
}

/// The answer being sent, settled before its first byte goes out so that one cut short is
/// still logged with its status.
#[derive(Debug, Default)]
struct Answer {
    status: u16,
    /// Whether the connection may carry another request.
    more: bool,
    /// Length of the response head.
    head: usize,
}

/// Send the core's error page for `status`.
async fn send_error<S: ByteStream>(
    responder: &mut Responder<'_, S>,
    status: Status,
    keep_alive: bool,
    head_only: bool,
    config: &Config,
    answer: &mut Answer,
) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(512);
    let more = error_page::write(
        status,
        keep_alive,
        head_only,
        SystemTime::now(),
        &[],
        &mut bytes,
    );
    send_bytes(responder, &bytes, status.code(), more, config, answer).await
}

/// Send a complete response the core produced, at the configured pace.
async fn send_bytes<S: ByteStream>(
    responder: &mut Responder<'_, S>,
    bytes: &[u8],
    status: u16,
    more: bool,
    config: &Config,
    answer: &mut Answer,
) -> io::Result<()> {
    let head = driver::head_len(bytes);
    *answer = Answer { status, more, head };
    let mut pace = config.throttle.start().await;
    pace.write_all(responder, bytes).await
}

/// Why a file could not be had, in the core's terms.
fn file_error(e: &io::Error) -> FileError {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => FileError::NotFound,
        // A name longer than the file system allows names no file.
        _ if e.raw_os_error() == Some(libc::ENAMETOOLONG) => FileError::NotFound,
        io::ErrorKind::PermissionDenied => FileError::PermissionDenied,
        _ => FileError::Other,
    }
}

/// Find and check the path `relative` (from the core's router) names under the root, with
/// its metadata (symlinks followed). `Err` is the status to answer.
///
/// The root is canonical and `relative` has no `.`, `..` or empty segments, so a path whose
/// components are none of them symlinks lies inside the root: one `lstat` per component proves
/// it. Only when a component is a symlink is the path canonicalized and checked with the core's
/// [`serve::is_inside`] (a symlink leading out of the root is refused with 403).
fn resolve(config: &Config, relative: &str) -> Result<(PathBuf, std::fs::Metadata), FileError> {
    let mut path = config.root.clone();
    let mut meta = None;
    for segment in relative.split('/').filter(|s| !s.is_empty()) {
        path.push(segment);
        let m = std::fs::symlink_metadata(&path).map_err(|e| file_error(&e))?;
        if m.file_type().is_symlink() {
            let full = config.root.join(relative);
            let canonical = std::fs::canonicalize(&full).map_err(|e| file_error(&e))?;
            if !serve::is_inside(&config.root, &canonical) {
                log::warn!("refusing {relative}: it resolves outside the root");
                return Err(FileError::OutsideRoot);
            }
            let m = std::fs::metadata(&canonical).map_err(|e| file_error(&e))?;
            return Ok((canonical, m));
        }
        meta = Some(m);
    }
    match meta {
        Some(m) => Ok((path, m)),
        None => {
            let m = std::fs::metadata(&path).map_err(|e| file_error(&e))?;
            Ok((path, m))
        }
    }
}

/// What a request names, once found and checked. Returned once per request and taken apart
/// at once: boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Opened {
    /// A regular file with its metadata and, for a directory, the request for its index page
    /// (the one to answer: its name gives the Content-Type).
    File(File, std::fs::Metadata, Option<FileRequest>),
    /// A directory named without its trailing slash: answer [`serve::directory_redirect`].
    AddSlash,
}

/// Find, check and open the file a request names (a directory's index page for a
/// directory). `Err` is the status to answer.
fn open_file(config: &Config, request: &FileRequest) -> Result<Opened, FileError> {
    // The root is always a directory: straight to its index page.
    let (file, meta, index) = if request.relative.is_empty() {
        let Directory::Index(index) = serve::directory(request) else {
            return Ok(Opened::AddSlash);
        };
        let (file, meta) = open_checked(config, &index.relative)?;
        (file, meta, Some(index))
    } else {
        let (file, meta) = open_checked(config, &request.relative)?;
        if meta.is_dir() {
            let Directory::Index(index) = serve::directory(request) else {
                return Ok(Opened::AddSlash);
            };
            let (file, meta) = open_checked(config, &index.relative)?;
            (file, meta, Some(index))
        } else {
            (file, meta, None)
        }
    };
    match file {
        Some(file) if meta.is_file() => Ok(Opened::File(file, meta, index)),
        // A directory without index.html, a FIFO, a device: nothing to serve.
        _ => Err(FileError::NotAFile),
    }
}

/// Open `relative` under the root, with its metadata (symlinks followed). The file is `None`
/// when it is not a regular file (a directory, a FIFO...). `Err` is the status to answer.
///
/// Usually one `openat2` call that both opens the file and proves it lies beneath the root,
/// then an `fstat`; when that call cannot decide (an absolute symlink on the way, or no
/// `openat2` in the kernel), the path is checked component by component by [`resolve`].
fn open_checked(
    config: &Config,
    relative: &str,
) -> Result<(Option<File>, std::fs::Metadata), FileError> {
    if let Some(file) = config
        .root_dir
        .open_beneath(relative)
        .map_err(|e| file_error(&e))?
    {
        let meta = file.metadata().map_err(|e| file_error(&e))?;
        return Ok((Some(file), meta));
    }
    let (path, meta) = resolve(config, relative)?;
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
        Some(rel) if !rel.is_empty() => config.root_dir.reopen_beneath(rel),
        _ => None,
    };
    let file = match reopened {
        Some(opened) => opened.map_err(|e| file_error(&e))?,
        None => File::open(&path).map_err(|e| file_error(&e))?,
    };
    let meta = file.metadata().map_err(|e| file_error(&e))?;
    if !meta.is_file() {
        return Ok((None, meta));
    }
    Ok((Some(file), meta))
}

/// Serve a routed request: the file, a 304, or the error page if the file cannot be had.
async fn send_file<S: ByteStream>(
    responder: &mut Responder<'_, S>,
    request: &FileRequest,
    config: &Config,
    out: &mut Vec<u8>,
    chunk: &mut Vec<u8>,
    answer: &mut Answer,
) -> io::Result<()> {
    let (mut file, meta, index) = match runtime::fs(|| open_file(config, request)).await {
        Ok(Opened::File(file, meta, index)) => (file, meta, index),
        Ok(Opened::AddSlash) => {
            let bytes = serve::directory_redirect(request, SystemTime::now());
            let status = serve::DIRECTORY_REDIRECT.code();
            let more = request.keep_alive;
            return send_bytes(responder, &bytes, status, more, config, answer).await;
        }
        Err(e) => {
            let (keep_alive, head_only) = (request.keep_alive, request.head_only);
            return send_error(responder, e.status(), keep_alive, head_only, config, answer).await;
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
            let more = request.keep_alive;
            return send_bytes(responder, &bytes, status, more, config, answer).await;
        }
    };
    out.clear();
    head.write(out);
    let head_len = out.len();
    *answer = Answer {
        status: head.status,
        more: request.keep_alive,
        head: head_len,
    };
    let mut pace = config.throttle.start().await;
    let Some(body) = body else {
        return pace.write_all(responder, out).await;
    };
    if body.start > 0 {
        runtime::fs(|| file.seek_to(body.start)).await?;
    }
    let len = body.len;
    if len <= SMALL_FILE {
        // Head and body in one write.
        out.resize(head_len + len as usize, 0);
        let complete = runtime::fs(|| read_full(&mut file, &mut out[head_len..])).await?;
        if complete < len as usize {
            // The file shrank under us: what was announced cannot be sent.
            answer.more = false;
            pace.write_all(responder, &out[..head_len + complete])
                .await?;
            log::warn!("{} shrank while being sent", request.relative);
            return Ok(());
        }
        return pace.write_all(responder, out).await;
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
        pace.write_all(responder, out).await?;
    }
    while remaining > 0 {
        let want = (CHUNK - offset).min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let got = runtime::fs(|| read_full(&mut file, &mut chunk[offset..offset + want])).await?;
        pace.write_all(responder, &chunk[..offset + got]).await?;
        offset = 0;
        if got < want {
            answer.more = false;
            log::warn!("{} shrank while being sent", request.relative);
            return Ok(());
        }
        remaining -= got as u64;
    }
    Ok(())
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
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
