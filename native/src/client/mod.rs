//! The download client: GET a URL, print each response's head, follow redirects as the core's
//! [`Follower`] decides (asking the redirecting URL once more, with the server reported, when
//! a redirect target cannot be reached), and stream a 2xx body to disk through a temporary file that is renamed
//! only once the body is complete (and, with `--fsync`, synced to disk).
//!
//! With `--continue` the temporary file has a stable name (`.NAME.part`) and a note beside it
//! (`.NAME.part.meta`: the URL and the version's validator), so a later run asks only for the
//! rest; with `--retry N` a transfer cut short is resumed the same way within the run. What
//! to ask and what an answer means are the core's ([`ricochet_core::download::resume`]); this module
//! keeps the files.
//!
//! Every failure is a [`ClientError`] with its own exit code ([`ClientError::exit_code`]), so
//! scripts can tell a refused connection from a truncated download.

#[cfg(unix)]
pub mod interrupt;

use crate::runtime;
use crate::runtime::exchange::{self, ConnectError, ReceiveError, Received, TlsClient};
use crate::tls::{CertError, HandshakeError, Trust};
use futures::io::{AsyncRead, AsyncWrite};
use ricochet_core::download::follow::{self, FollowError, Follower, Next};
use ricochet_core::download::resume::{self, Local, PartMeta, RangeRequest, Resume, Validator};
use ricochet_core::http::body::BodyError;
use ricochet_core::http::exchange::{Event, ReadError, ResponseReader};
use ricochet_core::http::response::Response;
use ricochet_core::http::url::{Url, UrlError};
use ricochet_core::http::BodyKind;
use std::fs::{self, OpenOptions};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Socket read size, and the most body data held in memory at once.
const READ_BUF: usize = 256 * 1024;
/// File write buffer (bodies arriving in small chunks are gathered into writes this large).
const WRITE_BUF: usize = 64 * 1024;

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
    /// Resume from the partial file an earlier run left (or check an existing output file),
    /// and leave a resumable partial file when this run fails.
    pub resume: bool,
    /// Attempts after the first when the transfer fails in a way that may pass (a cut
    /// connection, a refused one, a timeout, a 503...).
    pub retries: u32,
    /// Who to trust for `https://`: the system's store, `--cacert` files, or `-k` anyone.
    pub trust: Trust,
    /// Follow a redirect from `https` to `http` (`--allow-downgrade`).
    pub allow_downgrade: bool,
}

/// A completed download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// Where the body now is.
    pub path: PathBuf,
    /// Length of the saved file.
    pub bytes: u64,
    /// Bytes that were already there when the last request started (0 without a resume).
    pub resumed_from: u64,
    /// The file was complete already (a 416 for its length): nothing was transferred.
    pub already_complete: bool,
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
    /// The response cannot be understood.
    Protocol(Url, String),
    /// The connection broke before the response head was complete.
    Broken(Url, String),
    /// The final response is not 2xx.
    Status(u16, String),
    /// Following redirects failed.
    Redirect(FollowError),
    /// The local file could not be written.
    File(PathBuf, io::Error),
    /// The body ended before its announced end.
    Truncated(Url, BodyError),
    /// The TLS handshake with the named `host:port` failed.
    Tls(String, HandshakeError),
    /// A `--cacert` file cannot be used.
    CaFile(CertError),
}

impl ClientError {
    /// The process exit code for this error (the client binary's `--help` lists them).
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::BadUrl(..) | ClientError::CaFile(..) => 1,
            ClientError::Resolve(..) | ClientError::Connect(..) => 2,
            ClientError::Timeout(..) => 3,
            ClientError::Protocol(..) | ClientError::Broken(..) => 4,
            ClientError::Status(..) => 5,
            ClientError::Redirect(..) => 6,
            ClientError::File(..) => 7,
            ClientError::Truncated(..) => 8,
            ClientError::Tls(..) => 9,
        }
    }
}

impl ClientError {
    /// Whether another attempt may succeed: the connection failed or was cut, nothing came
    /// in time, or the status says "try again later".
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Connect(..)
            | ClientError::Timeout(..)
            | ClientError::Broken(..)
            | ClientError::Truncated(..) => true,
            ClientError::Status(status, _) => resume::is_transient_status(*status),
            _ => false,
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
            ClientError::Protocol(url, what) | ClientError::Broken(url, what) => {
                write!(f, "bad response from {url}: {what}")
            }
            ClientError::Status(status, reason) => {
                write!(f, "server answered {status} {reason}; nothing saved")
            }
            ClientError::Redirect(e @ FollowError::Downgrade(_)) => {
                write!(f, "{e} (--allow-downgrade follows it)")
            }
            ClientError::Redirect(e) => write!(f, "{e}"),
            ClientError::File(path, e) => write!(f, "cannot save {}: {e}", path.display()),
            ClientError::Truncated(url, e) => {
                write!(f, "download from {url} incomplete: {e}")
            }
            ClientError::Tls(addr, e) => write!(f, "{addr}: {e}"),
            ClientError::CaFile(e) => write!(f, "--cacert: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// Download as `options` say, printing each response head to stdout. Blocks until done.
pub fn run(options: &Options) -> Result<Saved, ClientError> {
    runtime::block_on(download(options))
}

/// What the client keeps of a final response head.
struct Head {
    status: u16,
    reason: String,
    location: Option<Vec<u8>>,
    content_type: Option<Vec<u8>>,
    content_range: Option<Vec<u8>>,
    validator: Option<Validator>,
    body: BodyKind,
}

impl Head {
    fn of(response: &Response<'_>) -> Head {
        Head {
            status: response.status,
            reason: response.reason.to_string(),
            location: response.header("location").map(<[u8]>::to_vec),
            content_type: response.header("content-type").map(<[u8]>::to_vec),
            content_range: response.header("content-range").map(<[u8]>::to_vec),
            validator: Validator::of(response.header("etag"), response.header("last-modified")),
            body: response.body,
        }
    }
}

/// How one request ended.
enum Outcome {
    /// Done: the file is complete.
    Saved(Saved),
    /// Request this URL next.
    Redirect(Url),
    /// The local bytes do not fit the answer: drop them and ask again for the whole file.
    Refetch,
}

async fn download(options: &Options) -> Result<Saved, ClientError> {
    let url = Url::parse(&options.url).map_err(|e| ClientError::BadUrl(options.url.clone(), e))?;
    // The default file name comes from the URL the user gave, never from a redirect target: a
    // server must not choose which local file is written (wget's CVE-2010-2252).
    let path = output_path(options.output.as_deref(), &url);
    let tls = TlsClient::new(options.trust.clone());
    if !options.trust.ca_files.is_empty() {
        // A bad --cacert file is a usage error, whatever the URL.
        tls.connector().map_err(ClientError::CaFile)?;
    }
    let mut part = Part::prepare(&path, &url, options)?;
    let mut received = Received::new(READ_BUF);
    let mut retries = 0;
    loop {
        match attempt(&url, &tls, &mut part, &mut received, options).await {
            Ok(Some(saved)) => return Ok(saved),
            // Asked again without a range: this cannot repeat.
            Ok(None) => part.drop_local(),
            Err(e) if retries < options.retries && e.is_transient() && part.can_retry() => {
                retries += 1;
                let pause = resume::retry_delay(retries);
                if !options.quiet {
                    eprintln!(
                        "client: {e}; retry {retries} of {} in {:.1}s{}",
                        options.retries,
                        pause.as_secs_f64(),
                        match part.len {
                            0 => String::new(),
                            n => format!(", resuming at byte {n}"),
                        }
                    );
                }
                runtime::sleep(pause).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// One attempt from the URL the user gave (through the balancer again when it is the
/// balancer's): `Ok(None)` when the local bytes must be dropped and the file asked whole.
async fn attempt(
    url: &Url,
    tls: &TlsClient,
    part: &mut Part,
    received: &mut Received,
    options: &Options,
) -> Result<Option<Saved>, ClientError> {
    let ask = resume::plan(part.local());
    let mut follower =
        Follower::new(url.clone(), options.max_redirects).allow_downgrade(options.allow_downgrade);
    loop {
        let current = follower.current().clone();
        let mut stream = match connect(&current, tls, options.timeout).await {
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
        received.clear();
        let outcome = request(
            &mut stream,
            received,
            &mut follower,
            ask.as_ref(),
            part,
            options,
        )
        .await?;
        match outcome {
            Outcome::Redirect(next) => say(format_args!("redirected to {next}\n")),
            Outcome::Saved(saved) => return Ok(Some(saved)),
            Outcome::Refetch => return Ok(None),
        }
    }
}

/// Connect to the URL's host, mapping failures to the client's errors.
async fn connect(
    url: &Url,
    tls: &TlsClient,
    timeout: Duration,
) -> Result<crate::tls::Stream, ClientError> {
    exchange::connect(url, tls, timeout)
        .await
        .map_err(|e| match e {
            ConnectError::Resolve(e) => ClientError::Resolve(url.host().to_string(), e),
            ConnectError::Connect(addr, e) => ClientError::Connect(addr.to_string(), e),
            ConnectError::Timeout => ClientError::Timeout("connecting to", url.clone()),
            ConnectError::Handshake(e) => ClientError::Tls(url.socket_addr(), e),
            ConnectError::TlsConfig(e) => ClientError::CaFile(e),
        })
}

/// One request on a fresh connection: send it (with `Range` and `If-Range` when resuming),
/// print the response (interim heads, the final head, a text body that is not saved), then
/// save the body or say what comes next.
async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    received: &mut Received,
    follower: &mut Follower,
    ask: Option<&RangeRequest>,
    part: &mut Part,
    options: &Options,
) -> Result<Outcome, ClientError> {
    let url = follower.current().clone();
    let mut fields = ask.map(RangeRequest::fields).unwrap_or_default();
    fields.extend(follower.report_field());
    match exchange::send_get(stream, &url, &fields, options.timeout).await {
        Ok(Some(())) => {}
        Ok(None) => return Err(ClientError::Timeout("sending the request to", url)),
        Err(e) => {
            return Err(ClientError::Broken(
                url,
                format!("sending the request failed: {e}"),
            ))
        }
    }
    let mut reader = ResponseReader::new(false);
    let head = loop {
        let head = received
            .next_event(stream, &mut reader, options.timeout, |event| match event {
                Event::Interim(response) => {
                    print_head(&response);
                    None
                }
                Event::Head(response) => {
                    print_head(&response);
                    Some(Head::of(&response))
                }
                Event::Data(_) | Event::End => None,
            })
            .await
            .map_err(|e| head_error(&url, e))?;
        if let Some(head) = head {
            break head;
        }
    };
    let next = follower.handle_response(head.status, head.location.as_deref());
    let resume = match next {
        Ok(Next::Save | Next::Refused) => resume::decide(
            ask,
            head.status,
            head.content_range.as_deref(),
            head.validator.as_ref(),
            head.body,
        )
        .map_err(|e| ClientError::Protocol(url.clone(), e.to_string()))?,
        _ => None,
    };
    if resume.is_none() {
        if let Some(limit) = follow::echo_limit(head.status, head.content_type.as_deref()) {
            echo_body(stream, received, &mut reader, &head, limit, options.timeout).await;
        }
    }
    let complete = match (next.map_err(ClientError::Redirect)?, resume) {
        (Next::Redirect(next), _) => return Ok(Outcome::Redirect(next)),
        (_, Some(Resume::Refetch)) => {
            say(format_args!(
                "the partial file does not fit this answer: downloading the whole file\n"
            ));
            return Ok(Outcome::Refetch);
        }
        (_, Some(Resume::Complete)) => return part.complete_already().map(Outcome::Saved),
        (Next::Refused, None) => return Err(ClientError::Status(head.status, head.reason)),
        (_, Some(Resume::Append { complete })) => complete,
        (Next::Save, None) | (_, Some(Resume::StartOver)) => {
            part.start_over(head.validator.clone())?;
            None
        }
    };
    save_body(
        stream,
        received,
        &mut reader,
        &head,
        &url,
        part,
        complete,
        options,
    )
    .await
    .map(Outcome::Saved)
}

/// Print to stdout, ignoring a closed stdout (the download itself still matters).
fn say(args: std::fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    let _ = out.write_fmt(args);
    let _ = out.flush();
}

fn head_error(url: &Url, e: ReceiveError) -> ClientError {
    match e {
        ReceiveError::Read(e @ (ReadError::NoResponse | ReadError::HeadCut)) => {
            ClientError::Broken(url.clone(), e.to_string())
        }
        ReceiveError::Read(e) => ClientError::Protocol(url.clone(), e.to_string()),
        ReceiveError::Io(e) => ClientError::Broken(
            url.clone(),
            format!("reading the response head failed: {e}"),
        ),
        ReceiveError::Timeout => ClientError::Timeout("waiting for a response from", url.clone()),
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
    path.with_file_name(format!(".{}.{}.part", file_name(path), std::process::id()))
}

/// The temporary file of a `--continue` download: hidden, next to the final path, the same
/// for every run so the next one finds it.
pub fn resume_part_path(path: &Path) -> PathBuf {
    path.with_file_name(format!(".{}.part", file_name(path)))
}

/// The note beside a `--continue` temporary file: its URL and version.
pub fn meta_path(part: &Path) -> PathBuf {
    part.with_file_name(format!("{}.meta", file_name(part)))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".to_string())
}

/// The file a download writes, across attempts, and what it holds.
///
/// Dropped without [`Part::finished`]: removed, unless it can be resumed (`--continue`, a
/// known version, some bytes), in which case it stays with its note.
struct Part {
    /// The output path as the user named it (reported when saved).
    output: PathBuf,
    /// The temporary file, or the device written through.
    path: PathBuf,
    /// The final name it is renamed to; `None` for a device written through.
    target: Option<PathBuf>,
    /// With `--continue`: where the note goes.
    meta: Option<PathBuf>,
    /// The URL the note names.
    url: String,
    /// Bytes in `path` that belong to `validator`'s version.
    len: u64,
    validator: Option<Validator>,
    /// Length of the output file that existed at the start (`--continue`), while nothing else
    /// is known: asking from its end tells whether it is complete.
    existing: Option<u64>,
    /// `path` was created by this run (a per-process name is created exclusively, once).
    created: bool,
    finished: bool,
    #[cfg(unix)]
    _on_signal: Option<crate::client::interrupt::RemoveOnSignal>,
    /// With `--continue`: the partial file, held open and locked for the whole run (see
    /// [`lock_part`]); released when the process ends, even if it is killed.
    _lock: Option<fs::File>,
}

impl Part {
    /// Where the body of `url` will go for `path`, with what an earlier `--continue` run left.
    /// Fails if another `--continue` run is downloading to the same file.
    fn prepare(path: &Path, url: &Url, options: &Options) -> Result<Part, ClientError> {
        let url = url.to_string();
        let (part, target) = match Destination::of(path) {
            Destination::Direct(device) => {
                return Ok(Part {
                    output: path.to_path_buf(),
                    path: device,
                    target: None,
                    meta: None,
                    url,
                    len: 0,
                    validator: None,
                    existing: None,
                    created: true,
                    finished: true,
                    #[cfg(unix)]
                    _on_signal: None,
                    _lock: None,
                });
            }
            Destination::Replace { target } if options.resume => {
                (resume_part_path(&target), target)
            }
            Destination::Replace { target } => (part_path(&target), target),
        };
        if !options.resume {
            return Ok(Part {
                // Registered before the file exists, so no signal can leave it behind.
                #[cfg(unix)]
                _on_signal: Some(crate::client::interrupt::remove_on_signal(&part)),
                output: path.to_path_buf(),
                path: part,
                target: Some(target),
                meta: None,
                url,
                len: 0,
                validator: None,
                existing: None,
                created: false,
                finished: false,
                _lock: None,
            });
        }
        // From here on this run owns the partial file and its note, or stops: both are read
        // only under the lock.
        let lock = lock_part(&part).map_err(|e| ClientError::File(target.clone(), e))?;
        let meta = meta_path(&part);
        // A note for another URL, or none, makes the partial file worthless.
        let note = fs::read(&meta)
            .ok()
            .and_then(|text| PartMeta::parse(&text).ok())
            .filter(|note| note.url == url);
        let held = lock.metadata().map_or(0, |m| m.len());
        let (len, validator) = match note {
            Some(note) if held > 0 => (held, Some(note.validator)),
            _ => (0, None),
        };
        let existing = match len {
            0 => fs::metadata(&target)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len()),
            _ => None,
        };
        Ok(Part {
            output: path.to_path_buf(),
            path: part,
            target: Some(target),
            meta: Some(meta),
            url,
            len,
            validator,
            existing,
            created: true,
            finished: false,
            // Interrupted, the partial file stays for the next `--continue`.
            #[cfg(unix)]
            _on_signal: None,
            _lock: Some(lock),
        })
    }

    /// What is held locally, for [`resume::plan`].
    fn local(&self) -> Local<'_> {
        if self.target.is_none() {
            return Local::Nothing;
        }
        match (self.len, self.existing) {
            (0, Some(len)) => Local::Existing { len },
            (0, None) => Local::Nothing,
            (len, _) => Local::Partial {
                len,
                validator: self.validator.as_ref(),
            },
        }
    }

    /// Whether another attempt can go on from here: a device already written to cannot be
    /// rewound.
    fn can_retry(&self) -> bool {
        self.target.is_some() || self.len == 0
    }

    /// Forget the local bytes (the file is truncated when the next body starts).
    fn drop_local(&mut self) {
        self.len = 0;
        self.validator = None;
        self.existing = None;
        if let Some(meta) = &self.meta {
            let _ = fs::remove_file(meta);
        }
    }

    /// A whole body is coming: from now on the file holds `validator`'s version, from byte 0.
    /// With `--continue` the note is written before any byte, so whatever is on disk after a
    /// cut is a prefix of that version.
    fn start_over(&mut self, validator: Option<Validator>) -> Result<(), ClientError> {
        self.drop_local();
        self.validator = validator;
        if let (Some(meta), Some(validator)) = (&self.meta, &self.validator) {
            let note = PartMeta {
                url: self.url.clone(),
                validator: validator.clone(),
            };
            fs::write(meta, note.to_text()).map_err(|e| ClientError::File(meta.clone(), e))?;
        }
        Ok(())
    }

    /// Open the file to write the body: appending after the bytes held, or from the start.
    fn open(&mut self, append: bool) -> io::Result<fs::File> {
        let mut options = OpenOptions::new();
        options.write(true);
        if self.target.is_none() {
            // A device: written through as it is.
        } else if !self.created {
            options.create_new(true);
        } else {
            options.create(true);
            if append {
                options.append(true);
            } else {
                options.truncate(true);
            }
            // Never write through a link planted at the temporary name.
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
        }
        let file = options.open(&self.path)?;
        self.created = true;
        if append && file.metadata()?.len() != self.len {
            return Err(io::Error::other(
                "the partial file changed under the download",
            ));
        }
        Ok(file)
    }

    /// The body is complete in the file: move it into place.
    fn finish(&mut self, file: fs::File, options: &Options) -> io::Result<()> {
        let Some(target) = &self.target else {
            return Ok(());
        };
        if options.fsync {
            file.sync_all()?;
        }
        drop(file);
        fs::rename(&self.path, target)?;
        self.finished = true;
        if let Some(meta) = &self.meta {
            let _ = fs::remove_file(meta);
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
        Ok(())
    }

    /// The server says the local copy is the whole file already.
    fn complete_already(&mut self) -> Result<Saved, ClientError> {
        let Some(target) = self.target.clone() else {
            return Err(ClientError::File(
                self.path.clone(),
                io::Error::other("a device cannot be resumed"),
            ));
        };
        let bytes = match (self.len, self.existing) {
            (0, Some(len)) => {
                // The output file is the whole file; the partial file (empty, or of no use)
                // and its note go.
                let _ = fs::remove_file(&self.path);
                if let Some(meta) = &self.meta {
                    let _ = fs::remove_file(meta);
                }
                len
            }
            (len, _) => {
                // The partial file is the whole file: it becomes the output.
                fs::rename(&self.path, &target)
                    .map_err(|e| ClientError::File(target.clone(), e))?;
                if let Some(meta) = &self.meta {
                    let _ = fs::remove_file(meta);
                }
                len
            }
        };
        self.finished = true;
        Ok(Saved {
            path: self.output.clone(),
            bytes,
            resumed_from: bytes,
            already_complete: true,
        })
    }

    /// After a failed body of which `written` bytes were handed to the file: how much of it
    /// is on disk.
    fn settle(&mut self, file: Option<fs::File>, written: u64) {
        if self.target.is_none() {
            // Only "something was written" matters for a device.
            self.len += written;
            return;
        }
        let on_disk = match file {
            Some(file) => file.metadata().map(|m| m.len()),
            None => fs::metadata(&self.path).map(|m| m.len()),
        };
        self.len = on_disk.unwrap_or(0);
        if self.validator.is_none() {
            // Bytes of an unknown version cannot be resumed.
            self.len = 0;
        }
    }
}

/// Opens the partial file of a `--continue` run (creating it empty if absent, never through a
/// link) and takes an exclusive lock on it without waiting: two runs for the same output would
/// otherwise write into the same file (one truncating what the other appends, or removing it
/// under the other), and the output would be spliced or lost. A second run stops with this
/// error instead; the first goes on. An advisory lock (`flock`): other programs are not kept
/// out, and the file is never locked without `--continue`, where its name is per process.
fn lock_part(part: &Path) -> io::Result<fs::File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    let file = options.open(part)?;
    #[cfg(unix)]
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "another `client --continue` run is downloading to it ({} is locked)",
                    part.display()
                ),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(file)
}

impl Drop for Part {
    fn drop(&mut self) {
        if self.finished || self.target.is_none() {
            return;
        }
        let resumable = self.meta.is_some() && self.validator.is_some() && self.len > 0;
        if !resumable {
            let _ = fs::remove_file(&self.path);
            if let Some(meta) = &self.meta {
                let _ = fs::remove_file(meta);
            }
        }
    }
}

/// Stream the body into `part` (appended after its bytes when it holds some, which the
/// caller has checked are the same version); check its length, sync, rename. `complete` is
/// the whole file's length when known, for the progress bar.
#[allow(clippy::too_many_arguments)]
async fn save_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    received: &mut Received,
    reader: &mut ResponseReader,
    head: &Head,
    url: &Url,
    part: &mut Part,
    complete: Option<u64>,
    options: &Options,
) -> Result<Saved, ClientError> {
    let file_error = |path: &Path, e: io::Error| ClientError::File(path.to_path_buf(), e);
    let offset = part.len;
    let file = part
        .open(offset > 0)
        .map_err(|e| file_error(&part.path, e))?;
    let mut flusher = match part.target {
        Some(_) if options.fsync => Flusher::new(&file),
        _ => None,
    };
    let mut writer = BufWriter::with_capacity(WRITE_BUF, file);
    let total = match head.body {
        BodyKind::Length(n) => Some(n),
        _ => None,
    };
    let appended_to = complete;
    let complete = complete.or(total.map(|n| offset + n));
    let progress = Progress::new(options.quiet, complete, offset);
    let failure = loop {
        let wrote = received
            .next_event(stream, reader, options.timeout, |event| match event {
                Event::Data(data) => writer.write_all(data).map(|()| Some(data.len())),
                _ => Ok(None),
            })
            .await;
        match wrote {
            Ok(Ok(Some(n))) => {
                progress.advance(n);
                if let Some(flusher) = flusher.as_mut() {
                    flusher.wrote(n);
                }
            }
            Ok(Ok(None)) => break None,
            Ok(Err(e)) => break Some(file_error(&part.path, e)),
            Err(ReceiveError::Timeout) => {
                break Some(ClientError::Timeout(
                    "waiting for the body from",
                    url.clone(),
                ))
            }
            Err(ReceiveError::Read(e)) => break Some(body_error(url, e)),
            Err(ReceiveError::Io(e)) => {
                log::debug!("reading the body failed: {e}");
                // A reset is not a clean end, even for a close-delimited body.
                let cut = BodyError::Truncated {
                    received: reader.received(),
                    expected: total,
                };
                break Some(body_error(url, ReadError::Body(cut)));
            }
        }
    };
    if let Some(e) = failure {
        progress.abandon();
        // Keep what arrived intact on disk: a later attempt resumes after it.
        part.settle(writer.into_inner().ok(), reader.received());
        return Err(e);
    }
    let file = writer
        .into_inner()
        .map_err(|e| file_error(&part.path, e.into_error()))?;
    drop(flusher);
    if let Err(e) = resume::check_appended(offset, reader.received(), appended_to) {
        progress.abandon();
        // The local bytes and this body do not make one file: keep neither.
        part.len = 0;
        return Err(ClientError::Protocol(url.clone(), e.to_string()));
    }
    let bytes = offset + reader.received();
    part.finish(file, options)
        .map_err(|e| file_error(part.target.as_deref().unwrap_or(&part.path), e))?;
    progress.finish();
    Ok(Saved {
        path: part.output.clone(),
        bytes,
        resumed_from: offset,
        already_complete: false,
    })
}

fn body_error(url: &Url, e: ReadError) -> ClientError {
    match e {
        ReadError::Body(cut @ BodyError::Truncated { .. }) => {
            ClientError::Truncated(url.clone(), cut)
        }
        other => ClientError::Protocol(url.clone(), other.to_string()),
    }
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
    /// The usual case: write a temporary file, then rename it over `target` (a regular file,
    /// or nothing yet). A symlink given as the output is followed, so the link stays and its target is
    /// replaced.
    Replace {
        /// The final name; the temporary file sits beside it.
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
            target: path.to_path_buf(),
        }
    }
}

/// Print (the start of) a body that is not saved, at most `limit` bytes, saying so when there
/// was more. Best effort: an error or a timeout ends it, and the rest is never read.
async fn echo_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    received: &mut Received,
    reader: &mut ResponseReader,
    head: &Head,
    limit: u64,
    timeout: Duration,
) {
    let mut out = io::stdout().lock();
    let mut printed: u64 = 0;
    let mut last = b'\n';
    let mut cut = false;
    loop {
        let left = limit - printed;
        let step = received
            .next_event(stream, reader, timeout, |event| match event {
                Event::Data(data) => {
                    let shown =
                        &data[..data.len().min(usize::try_from(left).unwrap_or(usize::MAX))];
                    let _ = out.write_all(shown);
                    if let Some(&b) = shown.last() {
                        last = b;
                    }
                    Some((shown.len() as u64, shown.len() < data.len()))
                }
                _ => None,
            })
            .await;
        match step {
            Ok(Some((n, more))) => {
                printed += n;
                if more {
                    cut = true;
                    break;
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    if last != b'\n' {
        let _ = out.write_all(b"\n");
    }
    if cut {
        let _ = match head.body {
            BodyKind::Length(n) => {
                writeln!(out, "[body truncated: first {printed} of {n} bytes shown]")
            }
            _ => writeln!(out, "[body truncated: first {printed} bytes shown]"),
        };
    }
    let _ = out.flush();
}

/// The progress bar on stderr: only when stderr is a terminal and not quiet.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    /// A bar (or a spinner when the total is unknown) starting at `start`, the bytes already
    /// held when resuming.
    fn new(quiet: bool, total: Option<u64>, start: u64) -> Progress {
        if quiet || !io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = match total {
            Some(n) => {
                let bar = indicatif::ProgressBar::new(n);
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "{prefix}{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                ) {
                    bar.set_style(style);
                }
                bar
            }
            None => {
                let bar = indicatif::ProgressBar::new_spinner();
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "{prefix}{spinner} {bytes} {bytes_per_sec}",
                ) {
                    bar.set_style(style);
                }
                bar
            }
        };
        if start > 0 {
            bar.set_prefix(format!("resumed at {} ", indicatif::HumanBytes(start)));
            bar.set_position(start);
            bar.reset_eta();
        }
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
}
