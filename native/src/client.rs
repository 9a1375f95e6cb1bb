//! The download client: GET a URL, print each response's head, follow redirects as the core's
//! [`Follower`] decides (asking the redirecting URL once more, with the server reported, when
//! a redirect target cannot be reached), and stream a 2xx body to disk through a temporary
//! file that is renamed only once the body is complete (and, with `--fsync`, synced to disk).
//!
//! Every failure is a [`ClientError`] with its own exit code ([`ClientError::exit_code`]), so
//! scripts can tell a refused connection from a truncated download.

use crate::runtime::{self, AsyncReadExt, AsyncWriteExt, TcpStream};
use ricochet_core::body::{BodyDecoder, BodyError};
use ricochet_core::follow::{self, FollowError, Follower, Next};
use ricochet_core::response::{Response, ResponseParser};
use ricochet_core::url::{Url, UrlError};
use ricochet_core::{BodyKind, Parsed};
use std::fs::{self, OpenOptions};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `User-Agent` sent with every request.
pub const USER_AGENT: &str = concat!("ricochet/", env!("CARGO_PKG_VERSION"));

/// Socket read size, and the most body data held in memory at once.
const READ_BUF: usize = 256 * 1024;
/// File write buffer (bodies arriving in small chunks are gathered into writes this large).
const WRITE_BUF: usize = 64 * 1024;
/// Most bytes of a non-2xx text body echoed to stdout.
const MAX_ERROR_BODY: u64 = 1024 * 1024;

/// The exit codes, in the order `--help` lists them.
pub const EXIT_CODES: [(u8, &str); 9] = [
    (0, "success: the body was saved"),
    (1, "usage error or bad URL"),
    (2, "name not resolved, or connection refused or unreachable"),
    (3, "timed out connecting or waiting for data"),
    (
        4,
        "malformed response, or the connection broke before a complete head",
    ),
    (5, "the final response is not 2xx (nothing saved)"),
    (
        6,
        "redirect problem: too many, a loop, or a missing or bad Location",
    ),
    (7, "local file error while saving"),
    (8, "download cut short: fewer body bytes than announced"),
];

/// What to download and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The URL as typed.
    pub url: String,
    /// Where to save: a file, or an existing directory to save into; `None` for the URL's last
    /// path segment in the current directory.
    pub output: Option<PathBuf>,
    /// Redirects to follow at most.
    pub max_redirects: u32,
    /// No progress bar, no closing summary.
    pub quiet: bool,
    /// Longest wait to connect, and between two reads.
    pub timeout: Duration,
    /// Flush the file to stable storage (fsync) before renaming it into place, so that even a
    /// power cut right after the client exits cannot leave a short file under the final name.
    /// Off by default, as in curl and wget: without it the rename still guarantees that no
    /// interrupted download ever stands under the final name while the system runs.
    pub fsync: bool,
}

/// A completed download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// Where the body now is.
    pub path: PathBuf,
    /// Body bytes saved.
    pub bytes: u64,
}

/// Why a download failed.
#[derive(Debug)]
pub enum ClientError {
    /// The URL given cannot be used.
    BadUrl(String, UrlError),
    /// The host name does not resolve.
    Resolve(String, io::Error),
    /// No address of the host accepted the connection.
    Connect(String, io::Error),
    /// Nothing happened for the timeout while doing the named thing.
    Timeout(&'static str, Url),
    /// The response cannot be understood, or the connection broke before its head was complete.
    Protocol(Url, String),
    /// The final response is not 2xx.
    Status(u16, String),
    /// Following redirects failed.
    Redirect(FollowError),
    /// The local file could not be written.
    File(PathBuf, io::Error),
    /// The body ended before its announced end.
    Truncated(Url, BodyError),
}

impl ClientError {
    /// The process exit code for this error (see [`EXIT_CODES`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::BadUrl(..) => 1,
            ClientError::Resolve(..) | ClientError::Connect(..) => 2,
            ClientError::Timeout(..) => 3,
            ClientError::Protocol(..) => 4,
            ClientError::Status(..) => 5,
            ClientError::Redirect(..) => 6,
            ClientError::File(..) => 7,
            ClientError::Truncated(..) => 8,
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::BadUrl(url, e) => write!(f, "bad URL '{url}': {e}"),
            ClientError::Resolve(host, e) => write!(f, "cannot resolve {host}: {e}"),
            ClientError::Connect(addr, e) => write!(f, "cannot connect to {addr}: {e}"),
            ClientError::Timeout(what, url) => write!(f, "timed out {what} {url}"),
            ClientError::Protocol(url, what) => write!(f, "bad response from {url}: {what}"),
            ClientError::Status(status, reason) => {
                write!(f, "server answered {status} {reason}; nothing saved")
            }
            ClientError::Redirect(e) => write!(f, "{e}"),
            ClientError::File(path, e) => write!(f, "cannot save {}: {e}", path.display()),
            ClientError::Truncated(url, e) => {
                write!(f, "download from {url} incomplete: {e}; nothing saved")
            }
        }
    }
}

impl std::error::Error for ClientError {}

/// Download as `options` say, printing each response head to stdout. Blocks until done.
pub fn run(options: &Options) -> Result<Saved, ClientError> {
    runtime::block_on(download(options))
}

/// What the client keeps of a final or redirect response head.
struct Head {
    status: u16,
    reason: String,
    location: Option<Vec<u8>>,
    body: BodyKind,
    is_text: bool,
}

/// The receive buffer and the bytes in it not consumed yet.
struct Received {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Received {
    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Read more; `Ok(None)` on timeout, `Ok(Some(0))` at end of stream.
    async fn fill(
        &mut self,
        stream: &mut TcpStream,
        timeout: Duration,
    ) -> io::Result<Option<usize>> {
        if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Err(io::Error::other(
                "response head larger than the receive buffer",
            ));
        }
        match runtime::timeout(timeout, stream.read(&mut self.buf[self.end..])).await {
            None => Ok(None),
            Some(Ok(n)) => {
                self.end += n;
                Ok(Some(n))
            }
            Some(Err(e)) => Err(e),
        }
    }
}

async fn download(options: &Options) -> Result<Saved, ClientError> {
    let url = Url::parse(&options.url).map_err(|e| ClientError::BadUrl(options.url.clone(), e))?;
    // The default file name comes from the URL the user gave, never from a redirect target: a
    // server must not choose which local file is written (wget's CVE-2010-2252).
    let named_after = url.clone();
    let mut follower = Follower::new(url, options.max_redirects);
    let mut received = Received {
        buf: vec![0; READ_BUF].into_boxed_slice(),
        start: 0,
        end: 0,
    };
    let mut request = Vec::with_capacity(512);
    loop {
        let url = follower.current().clone();
        let mut stream = match connect(&url, options.timeout).await {
            Ok(stream) => stream,
            // A redirect target that cannot be reached: ask the URL that redirected here once
            // more, naming it (a Ricochet balancer then picks another server).
            Err(e @ (ClientError::Connect(..) | ClientError::Timeout("connecting to", _))) => {
                match follower.handle_unreachable() {
                    Some(failover) => {
                        say(format_args!(
                            "{e}\nasking {} for another server\n",
                            failover.url
                        ));
                        continue;
                    }
                    None => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        request.clear();
        follower.write_request_head(&mut request, USER_AGENT);
        match runtime::timeout(options.timeout, stream.write_all(&request)).await {
            None => return Err(ClientError::Timeout("sending the request to", url)),
            Some(Err(e)) => {
                return Err(ClientError::Protocol(
                    url,
                    format!("sending the request failed: {e}"),
                ))
            }
            Some(Ok(())) => {}
        }
        received.start = 0;
        received.end = 0;
        let head = read_head(&mut stream, &mut received, &url, options.timeout).await?;
        let next = follower
            .handle_response(head.status, head.location.as_deref())
            .map_err(ClientError::Redirect)?;
        match next {
            Next::Redirect(next) => {
                say(format_args!("redirected to {next}\n"));
                continue;
            }
            Next::Done => {}
        }
        if !(200..300).contains(&head.status) {
            if head.is_text {
                echo_body(&mut stream, &mut received, head.body, options.timeout).await;
            }
            return Err(ClientError::Status(head.status, head.reason));
        }
        let path = output_path(options.output.as_deref(), &named_after);
        return save_body(&mut stream, &mut received, &head, &url, &path, options).await;
    }
}

/// Print to stdout, ignoring a closed stdout (the download itself still matters).
fn say(args: std::fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    let _ = out.write_fmt(args);
    let _ = out.flush();
}

/// Resolve and connect, trying each address in turn.
async fn connect(url: &Url, timeout: Duration) -> Result<TcpStream, ClientError> {
    let target = url.socket_addr();
    let addrs = match runtime::timeout(timeout, runtime::resolve(&target)).await {
        None => return Err(ClientError::Timeout("resolving", url.clone())),
        Some(Err(e)) => return Err(ClientError::Resolve(url.host().to_string(), e)),
        Some(Ok(addrs)) => addrs,
    };
    let mut last = None;
    for addr in addrs {
        match runtime::timeout(timeout, runtime::connect(addr)).await {
            Some(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Some(Err(e)) => last = Some(ClientError::Connect(addr.to_string(), e)),
            None => last = Some(ClientError::Timeout("connecting to", url.clone())),
        }
    }
    Err(last.unwrap_or_else(|| {
        ClientError::Resolve(url.host().to_string(), io::ErrorKind::NotFound.into())
    }))
}

/// Read the response head (skipping 1xx interim responses), print it, keep what matters.
async fn read_head(
    stream: &mut TcpStream,
    received: &mut Received,
    url: &Url,
    timeout: Duration,
) -> Result<Head, ClientError> {
    let mut parser = ResponseParser::default();
    loop {
        match parser.parse(received.pending(), false) {
            Ok(Parsed::Complete { value, consumed }) => {
                print_head(&value);
                if (100..200).contains(&value.status) {
                    received.consume(consumed);
                    parser = ResponseParser::default();
                    continue;
                }
                let head = Head {
                    status: value.status,
                    reason: value.reason.to_string(),
                    location: value.header("location").map(<[u8]>::to_vec),
                    body: value.body,
                    is_text: value
                        .header("content-type")
                        .is_some_and(|v| v.len() >= 5 && v[..5].eq_ignore_ascii_case(b"text/")),
                };
                received.consume(consumed);
                return Ok(head);
            }
            Ok(Parsed::Partial) => {}
            Err(e) => return Err(ClientError::Protocol(url.clone(), e.to_string())),
        }
        match received.fill(stream, timeout).await {
            Ok(Some(0)) => {
                let what = if received.pending().is_empty() {
                    "the server closed the connection without answering"
                } else {
                    "the connection closed in the middle of the response head"
                };
                return Err(ClientError::Protocol(url.clone(), what.to_string()));
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(ClientError::Timeout(
                    "waiting for a response from",
                    url.clone(),
                ))
            }
            Err(e) => {
                return Err(ClientError::Protocol(
                    url.clone(),
                    format!("reading the response head failed: {e}"),
                ))
            }
        }
    }
}

/// Print a response head as received: status line, headers, blank line.
fn print_head(response: &Response<'_>) {
    let mut out = io::stdout().lock();
    let _ = writeln!(
        out,
        "{} {} {}",
        response.version.as_str(),
        response.status,
        response.reason
    );
    for header in &response.headers {
        let _ = writeln!(
            out,
            "{}: {}",
            header.name,
            String::from_utf8_lossy(header.value)
        );
    }
    let _ = writeln!(out);
    let _ = out.flush();
}

/// Where to save: `-o` as given (inside it, if it is a directory), or the URL's name here.
pub fn output_path(output: Option<&Path>, url: &Url) -> PathBuf {
    match output {
        Some(path) if path.is_dir() => path.join(follow::output_name(url)),
        Some(path) => path.to_path_buf(),
        None => PathBuf::from(follow::output_name(url)),
    }
}

/// The temporary file a download goes to before it is complete: hidden, next to the final
/// path (so the rename stays on one file system), unique per process.
pub fn part_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".to_string());
    path.with_file_name(format!(".{name}.{}.part", std::process::id()))
}

/// Bytes written between two background syncs.
const SYNC_EVERY: u64 = 16 * 1024 * 1024;

/// Syncs the temporary file to disk in the background while the download goes on, so the
/// final fsync before the rename only has the tail left to write (for a 100 MiB file that
/// final fsync otherwise costs as much as a third of the download's wall time).
struct Flusher {
    wake: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    unsynced: u64,
}

impl Flusher {
    /// `None` if the file cannot be shared with a thread; the final fsync still happens.
    fn new(file: &fs::File) -> Option<Flusher> {
        let file = file.try_clone().ok()?;
        let (wake, asked) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("sync".into())
            .spawn(move || {
                while asked.recv().is_ok() {
                    let _ = file.sync_data();
                }
            })
            .ok()?;
        Some(Flusher {
            wake: Some(wake),
            thread: Some(thread),
            unsynced: 0,
        })
    }

    /// `n` more bytes were handed to the file.
    fn wrote(&mut self, n: usize) {
        self.unsynced += n as u64;
        if self.unsynced >= SYNC_EVERY {
            self.unsynced = 0;
            if let Some(wake) = &self.wake {
                // Busy with the previous sync: this one folds into the next.
                let _ = wake.try_send(());
            }
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.wake = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Where a body goes.
enum Destination {
    /// The usual case: write `part`, then rename it over `target` (a regular file, or nothing
    /// yet). A symlink given as the output is followed, so the link stays and its target is
    /// replaced.
    Replace {
        /// The temporary file.
        part: PathBuf,
        /// The final name.
        target: PathBuf,
    },
    /// An existing non-regular file (`/dev/null`, a FIFO, a terminal): written straight
    /// through, never replaced by a rename.
    Direct(PathBuf),
}

impl Destination {
    fn of(path: &Path) -> Destination {
        // `metadata` follows symlinks: `/dev/stdout` into a pipe is a FIFO, written through,
        // never renamed over (its resolution may not even be a path).
        match fs::metadata(path) {
            Ok(meta) if meta.is_file() => match fs::symlink_metadata(path) {
                Ok(link) if link.file_type().is_symlink() => match fs::canonicalize(path) {
                    Ok(real) => Destination::replace(&real),
                    Err(_) => Destination::Direct(path.to_path_buf()),
                },
                _ => Destination::replace(path),
            },
            Ok(meta) if !meta.is_dir() => Destination::Direct(path.to_path_buf()),
            _ => Destination::replace(path),
        }
    }

    fn replace(path: &Path) -> Destination {
        Destination::Replace {
            part: part_path(path),
            target: path.to_path_buf(),
        }
    }
}

/// Removes the temporary file unless the download completed, including when a signal (Ctrl-C)
/// ends the process.
struct PartFile {
    path: PathBuf,
    keep: bool,
    #[cfg(unix)]
    _on_signal: crate::interrupt::RemoveOnSignal,
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Stream the body to `path` through its temporary file; check its length, sync, rename.
async fn save_body(
    stream: &mut TcpStream,
    received: &mut Received,
    head: &Head,
    url: &Url,
    path: &Path,
    options: &Options,
) -> Result<Saved, ClientError> {
    let file_error = |e: io::Error| ClientError::File(path.to_path_buf(), e);
    let destination = Destination::of(path);
    let (file, mut guard) = match &destination {
        Destination::Replace { part, .. } => {
            // Registered before the file exists, so no signal can leave it behind.
            #[cfg(unix)]
            let on_signal = crate::interrupt::remove_on_signal(part);
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(part)
                .map_err(file_error)?;
            let guard = PartFile {
                path: part.clone(),
                keep: false,
                #[cfg(unix)]
                _on_signal: on_signal,
            };
            (file, Some(guard))
        }
        Destination::Direct(device) => {
            let file = OpenOptions::new()
                .write(true)
                .open(device)
                .map_err(file_error)?;
            (file, None)
        }
    };
    let mut flusher = match destination {
        Destination::Replace { .. } if options.fsync => Flusher::new(&file),
        _ => None,
    };
    let mut writer = BufWriter::with_capacity(WRITE_BUF, file);
    let total = match head.body {
        BodyKind::Length(n) => Some(n),
        _ => None,
    };
    let progress = Progress::new(options.quiet, total);
    let mut decoder = BodyDecoder::new(head.body);
    loop {
        while !decoder.is_done() && !received.pending().is_empty() {
            let step = decoder
                .decode(received.pending())
                .map_err(|e| body_error(url, e))?;
            writer.write_all(step.data).map_err(file_error)?;
            progress.advance(step.data.len());
            if let Some(flusher) = flusher.as_mut() {
                flusher.wrote(step.data.len());
            }
            if step.consumed == 0 {
                break;
            }
            received.consume(step.consumed);
        }
        if decoder.is_done() {
            break;
        }
        match received.fill(stream, options.timeout).await {
            Ok(Some(0)) => {
                decoder.handle_eof().map_err(|e| body_error(url, e))?;
                break;
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                progress.abandon();
                return Err(ClientError::Timeout(
                    "waiting for the body from",
                    url.clone(),
                ));
            }
            Err(e) => {
                log::debug!("reading the body failed: {e}");
                // A reset is not a clean end, even for a close-delimited body.
                let cut = BodyError::Truncated {
                    received: decoder.received(),
                    expected: total,
                };
                return Err(body_error(url, cut));
            }
        }
    }
    let file = writer
        .into_inner()
        .map_err(|e| file_error(e.into_error()))?;
    let Destination::Replace { part, target } = &destination else {
        progress.finish();
        return Ok(Saved {
            path: path.to_path_buf(),
            bytes: decoder.received(),
        });
    };
    drop(flusher);
    if options.fsync {
        file.sync_all().map_err(file_error)?;
    }
    drop(file);
    fs::rename(part, target).map_err(file_error)?;
    if let Some(guard) = guard.as_mut() {
        guard.keep = true;
    }
    // Make the rename itself durable; best effort (not every file system allows it).
    if let Some(dir) = target.parent().filter(|_| options.fsync) {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    progress.finish();
    Ok(Saved {
        path: path.to_path_buf(),
        bytes: decoder.received(),
    })
}

fn body_error(url: &Url, e: BodyError) -> ClientError {
    match e {
        BodyError::Truncated { .. } => ClientError::Truncated(url.clone(), e),
        other => ClientError::Protocol(url.clone(), other.to_string()),
    }
}

/// Echo (the start of) a non-2xx response's text body to stdout. Best effort: errors end it.
async fn echo_body(
    stream: &mut TcpStream,
    received: &mut Received,
    body: BodyKind,
    timeout: Duration,
) {
    let mut decoder = BodyDecoder::new(body);
    let mut out = io::stdout();
    loop {
        while !decoder.is_done() && !received.pending().is_empty() {
            let Ok(step) = decoder.decode(received.pending()) else {
                return;
            };
            let _ = out.write_all(step.data);
            if step.consumed == 0 {
                break;
            }
            received.consume(step.consumed);
        }
        if decoder.is_done() || decoder.received() >= MAX_ERROR_BODY {
            break;
        }
        match received.fill(stream, timeout).await {
            Ok(Some(n)) if n > 0 => {}
            _ => break,
        }
    }
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// The progress bar on stderr: only when stderr is a terminal and not quiet.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(quiet: bool, total: Option<u64>) -> Progress {
        if quiet || !io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = match total {
            Some(n) => {
                let bar = indicatif::ProgressBar::new(n);
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                ) {
                    bar.set_style(style);
                }
                bar
            }
            None => {
                let bar = indicatif::ProgressBar::new_spinner();
                if let Ok(style) =
                    indicatif::ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec}")
                {
                    bar.set_style(style);
                }
                bar
            }
        };
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        Progress { bar: Some(bar) }
    }

    fn advance(&self, n: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(n as u64);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }

    fn abandon(&self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_file_sits_next_to_the_final_path_and_is_hidden() {
        let part = part_path(Path::new("some/dir/file.bin"));
        assert_eq!(part.parent(), Some(Path::new("some/dir")));
        let name = part.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".file.bin."), "{name}");
        assert!(name.ends_with(".part"), "{name}");
    }

    #[test]
    fn exit_codes_are_distinct() {
        let mut codes: Vec<u8> = EXIT_CODES.iter().map(|(c, _)| *c).collect();
        codes.dedup();
        assert_eq!(codes.len(), EXIT_CODES.len());
    }
}
