//! The download client: GET a URL, print each response's head, follow redirects as the core's
//! [`Follower`] decides (asking the redirecting URL once more, with the server reported, when
//! a redirect target cannot be reached or answers 404 or 410), and stream a 2xx body to disk
//! through a temporary file that is renamed only once the body is complete (and, with
//! `--fsync`, synced to disk).
//!
//! With `--continue` the temporary file has a stable name (`.NAME.part`) and a note beside it
//! (`.NAME.part.meta`: the URL and the version's validator), so a later run asks only for the
//! rest; with `--retry N` a transfer cut short is resumed the same way within the run. What
//! to ask and what an answer means are the core's ([`ricochet_core::download::resume`]); this
//! module keeps the files.
//!
//! Every failure is a [`ClientError`] of its own kind, with its exit code
//! ([`ClientError::exit`]), so scripts can tell a refused connection from a truncated download.
//!
//! Here: the retries and the redirects. One request is `request`'s; the file is [`part`]'s.

mod error;
mod flush;
mod hash;
#[cfg(unix)]
pub mod interrupt;
mod multi;
pub mod output;
pub mod part;
pub mod print;
mod progress;
mod request;

pub use error::{ClientError, TimeoutPhase};

use crate::runtime;
use crate::runtime::exchange::{self, Received, TlsClient};
use crate::runtime::tls::Trust;
use output::output_path;
use part::Part;
use print::say;
use request::{request, Outcome};
use ricochet_core::download::follow::Follower;
use ricochet_core::download::resume;
use ricochet_core::download::verify::Expect;
use ricochet_core::http::url::Url;
use std::path::PathBuf;
use std::time::Duration;

/// Socket read size, and the most body data held in memory at once.
const READ_BUF: usize = 256 * 1024;

/// What to download and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The URL given.
    pub url: Url,
    /// Where to save: a file, or an existing directory to save into; `None` for the URL's last
    /// path segment in the current directory.
    pub output: Option<PathBuf>,
    /// Redirects to follow at most.
    pub max_redirects: u32,
    /// No progress bar, no closing summary.
    pub quiet: bool,
    /// Longest wait to connect (in all, not per address), and between two reads.
    pub timeout: Duration,
    /// Flush the file to stable storage (fsync) before renaming it into place, so that even a
    /// power cut right after the client exits cannot leave a short file under the final name.
    /// Off by default, as in curl and wget: without it the rename still keeps any interrupted
    /// download from standing under the final name while the system runs.
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
    /// `--segments N`: fetch from up to N of the servers a redirect names (its `Location` and
    /// `Link: rel=duplicate` headers) at once; 1 is one server, as without the flag.
    pub segments: u32,
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
    /// The algorithm of the digest the saved bytes were checked against, if one was known.
    pub verified: Option<ricochet_core::http::digest::Algorithm>,
}

/// Download as `options` say, printing each response head to stdout. Blocks until done.
pub fn run(options: &Options) -> Result<Saved, ClientError> {
    runtime::block_on(download(options))
}

/// Attempts from the URL given, retrying (and resuming) transient failures as `--retry` allows.
async fn download(options: &Options) -> Result<Saved, ClientError> {
    let url = &options.url;
    // The default file name comes from the URL the user gave, never from a redirect target: a
    // server must not choose which local file is written (wget's CVE-2010-2252).
    let path = output_path(options.output.as_deref(), url);
    let tls = TlsClient::new(options.trust.clone());
    let mut part = Part::prepare(&path, url, options)?;
    let mut received = Received::new(READ_BUF);
    // One follower for the whole download: it remembers which servers were reported missing.
    let mut follower =
        Follower::new(url.clone(), options.max_redirects).allow_downgrade(options.allow_downgrade);
    let mut retries = 0;
    // A server whose copy turned out wrong, to report on the next attempt's first request.
    let mut wrong_copy: Option<String> = None;
    loop {
        match wrong_copy.take() {
            Some(server) => {
                follower.restart_reporting(server);
            }
            None => follower.restart(),
        }
        match attempt(&mut follower, &tls, &mut part, &mut received, options).await {
            Ok(Some(saved)) => return Ok(saved),
            // Asked again without a range: this cannot repeat.
            Ok(None) => part.drop_local(),
            // A wrong copy: report the server to the balancer and ask it for another one.
            Err(ClientError::Digest(server, e))
                if retries < options.retries && follower.chain().len() > 1 && part.can_retry() =>
            {
                retries += 1;
                part.drop_local();
                if !options.quiet {
                    eprintln!(
                        "client: {server} sent a wrong copy: {e}; retry {retries} of {}, \
                         reporting it to {}",
                        options.retries, options.url
                    );
                }
                wrong_copy = Some(server);
            }
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

/// One attempt from the URL the user gave (`follower` restarted there; through the balancer
/// again when it is the balancer's), following redirects: `Ok(None)` when the local bytes must
/// be dropped and the file asked whole.
async fn attempt(
    follower: &mut Follower,
    tls: &TlsClient,
    part: &mut Part,
    received: &mut Received,
    options: &Options,
) -> Result<Option<Saved>, ClientError> {
    let ask = resume::plan(part.local());
    let mut expect = Expect::new();
    loop {
        let current = follower.current().clone();
        let mut stream = match exchange::connect(&current, tls, options.timeout).await {
            Ok(stream) => stream,
            Err(e) => {
                let e = error::connect_error(&current, e);
                // A redirect target that cannot be reached: ask the URL that redirected here
                // once more, naming it (a Ricochet balancer then picks another server).
                let failover = e.is_unreachable().then(|| follower.handle_unreachable());
                let Some(Some(failover)) = failover else {
                    return Err(e);
                };
                say(format_args!(
                    "{e}\nasking {} for another server\n",
                    failover.url
                ));
                continue;
            }
        };
        received.clear();
        let outcome = request(
            &mut stream,
            received,
            follower,
            ask.as_ref(),
            &expect,
            part,
            options,
        )
        .await?;
        match outcome {
            Outcome::Redirect(next, head) => {
                expect.handle_redirect(&head.digests);
                say(format_args!("redirected to {next}\n"));
                // Several servers named, and no partial single-source file to go on with.
                let several = !head.duplicate_links.is_empty() && options.segments > 1;
                if several && part.can_retry() {
                    if let Some(saved) =
                        multi::download(&next, &head, &expect, part, tls, options).await?
                    {
                        return Ok(Some(saved));
                    }
                    say(format_args!(
                        "{next} cannot start a multi-source download (unreachable, or no \
                         ranges of a known version): one source\n"
                    ));
                }
            }
            Outcome::AskAgain => {}
            Outcome::Saved(saved) => return Ok(Some(saved)),
            Outcome::Refetch => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::exchange::{connect_within, ConnectError};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    /// A loopback listener whose accept queue is full: a connect to it waits for the timeout
    /// (the kernel drops the SYN), as to a server that is down. Keep both parts alive.
    fn full_listener() -> (TcpListener, TcpStream, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        rustix::net::listen(&listener, 0).unwrap();
        let addr = listener.local_addr().unwrap();
        let queued = TcpStream::connect(addr).unwrap();
        (listener, queued, addr)
    }

    #[test]
    fn the_timeout_bounds_the_whole_connect_however_many_addresses() {
        let full: Vec<_> = (0..3).map(|_| full_listener()).collect();
        let addrs: Vec<SocketAddr> = full.iter().map(|(_, _, addr)| *addr).collect();
        let timeout = Duration::from_millis(400);
        let started = Instant::now();
        let result = crate::runtime::block_on(connect_within(async { Ok(addrs) }, timeout));
        let took = started.elapsed();
        assert!(matches!(result, Err(ConnectError::Timeout)), "{result:?}");
        assert!(
            took < timeout * 2,
            "three addresses took {took:?} with a {timeout:?} timeout"
        );
    }
}
