//! `server`: Ricochet's static file server.
//!
//! Serves the files under `--root` over HTTP/1.1 (GET and HEAD, keep-alive, pipelining,
//! If-Modified-Since), refusing anything that would leave the root. With `Want-Repr-Digest` or
//! `Want-Digest`, responses carry the file's digest once a background thread has hashed it.
//! `--rate`, `--rate-total` and `--delay` slow it down on purpose so a local cluster can mimic
//! slow and fast servers.
//!
//! Run it:
//!
//! ```sh
//! cargo run -p ricochet --bin server -- --listen 127.0.0.1:8080 --root www
//! curl -v http://127.0.0.1:8080/
//! ```
//!
//! It prints `listening on http://ADDR` on stdout once bound (with `--listen 127.0.0.1:0` the
//! port is picked by the system), then one log line per request. `RICOCHET_LOG` sets the log
//! level (`off`, `error`, `warn`, `info`, `debug`, `trace`; default `info`).

use argh::FromArgs;
use ricochet::cli::exit::Exit;
use ricochet::cli::{logging, version};
use ricochet::runtime::access_log::AccessLog;
use ricochet::runtime::listen;
use ricochet::runtime::stop::GracefulStop;
use ricochet::runtime::workers;
use ricochet::runtime::{self, tls};
use ricochet::server::hasher::Digests;
use ricochet::server::throttle::{Throttle, Uplink};
use ricochet::server::{self, Config};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

ricochet::args_struct! {
/// Ricochet's static file server: GET and HEAD for the files under --root, over HTTPS with
/// --tls-cert and --tls-key. Prints `listening on http://ADDR` (https://) on stdout when ready. Logs go to stderr; the environment
/// variable RICOCHET_LOG sets their level (off, error, warn, info, debug, trace; default info).
#[derive(FromArgs)]
#[argh(
    error_code(1, "usage error"),
    error_code(2, "cannot listen on the --listen address"),
    error_code(
        7,
        "--root is not a readable directory, the --access-log file cannot be opened, or the --tls-cert or --tls-key file is missing, unreadable, not PEM, or the key does not match the certificate"
    ),
    error_code(11, "a worker process failed or could not be started (with --workers above 1)"),
    error_code(
        12,
        "stopped by SIGTERM or SIGINT, but connections were still open after --shutdown-timeout (or a second signal came); they were closed"
    )
)]
struct Args {
{
    /// executor threads running connections (default 1, or ASYNC_STD_THREAD_COUNT if set):
    /// async-std drives every socket from one reactor, and for small responses one thread
    /// answers fastest; more help when large responses keep a core busy
    #[argh(option)]
    threads: Option<usize>,

    /// worker processes (default 1): each has its own event loop and its own SO_REUSEPORT
    /// socket on the same address, like nginx's worker_processes; --max-connections applies
    /// to each (Linux only)
    #[argh(option, default = "1")]
    workers: usize,

    /// address to listen on, host:port; port 0 picks a free port (default 127.0.0.1:8080)
    #[argh(option, default = "String::from(\"127.0.0.1:8080\")")]
    listen: String,

    /// directory to serve (default . , the current directory)
    #[argh(option, default = "PathBuf::from(\".\")")]
    root: PathBuf,

    /// send each response at most this many bytes per second (default: unlimited)
    #[argh(option)]
    rate: Option<u64>,

    /// send all responses together at most this many bytes per second, like an uplink; with
    /// --workers N each worker gets a 1/N share (default: unlimited)
    #[argh(option)]
    rate_total: Option<u64>,

    /// threads hashing files in the background for Repr-Digest and Digest (asked for with
    /// Want-Repr-Digest, Want-Digest); 0 sends no digest (default 1)
    #[argh(option, default = "1")]
    hash_threads: usize,

    /// do not store computed digests in the files' user.ricochet.sha256 extended attribute
    /// (by default they are, when the file system and permissions allow, so they survive a
    /// restart and are shared by --workers)
    #[argh(switch)]
    no_digest_xattr: bool,

    /// wait this many milliseconds before each response (default 0)
    #[argh(option, default = "0")]
    delay: u64,

}
limits {
    /// most connections open at once; more wait to be accepted (default 1024)
    max_connections = "1024",
    /// time allowed to send a complete request head, e.g. 10s or 500ms; then 408 (default 10s)
    header_timeout,
    /// after SIGTERM or SIGINT, how long responses in flight may take to finish before they are
    /// cut and the server exits 12, e.g. 30s (default 30s)
    shutdown_timeout,
    /// how long a kept-alive connection may wait for its next request, and a write may stall,
    /// e.g. 60s (default 60s)
    idle_timeout,
}
{
}
tls {
    /// write one Combined Log Format line per request to this file (appended; - for stderr;
    /// with --workers, every worker appends to it) (default: off)
    access_log,
    /// serve HTTPS with this certificate (PEM; the server's certificate first, then its
    /// chain); needs --tls-key
    tls_cert,
}
{
}
}
}

fn main() -> ExitCode {
    version::exit_if_asked("server");
    let args: Args = argh::from_env();
    runtime::set_threads(args.threads);
    logging::init();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("server: {e}");
            e.exit().into()
        }
    }
}

/// Why the server could not start; each maps to its exit code ([`StartError::exit`]).
#[derive(Debug)]
enum StartError {
    /// `--root` is not a readable directory.
    Root(PathBuf, io::Error),
    /// `--tls-cert`/`--tls-key` are unpaired or unusable.
    Tls(tls::TlsFlagsError),
    /// The `--listen` address (or the worker's copy of it) cannot be listened on.
    Listen(String, io::Error),
    /// The worker processes could not be started.
    Workers(usize, io::Error),
    /// The `--access-log` file cannot be opened.
    AccessLog(PathBuf, io::Error),
}

impl StartError {
    fn exit(&self) -> Exit {
        match self {
            StartError::Root(..) | StartError::AccessLog(..) => Exit::LocalFile,
            StartError::Tls(tls::TlsFlagsError::Unpaired) => Exit::Usage,
            StartError::Tls(tls::TlsFlagsError::Cert(_)) => Exit::LocalFile,
            StartError::Listen(..) => Exit::Network,
            StartError::Workers(..) => Exit::WorkerFailed,
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Root(root, e) => write!(f, "cannot serve {}: {e}", root.display()),
            StartError::Tls(e) => e.fmt(f),
            StartError::Listen(addr, e) => write!(f, "cannot listen on {addr}: {e}"),
            StartError::Workers(n, e) => write!(f, "cannot start {n} workers: {e}"),
            StartError::AccessLog(path, e) => {
                write!(f, "cannot open the access log {}: {e}", path.display())
            }
        }
    }
}

/// The settings from the flags (the access log is opened later, after the fork).
fn config(args: &Args) -> Result<Config, StartError> {
    let mut config = Config::new(&args.root).map_err(|e| StartError::Root(args.root.clone(), e))?;
    let workers = args.workers.max(1) as u64;
    config.throttle = Throttle {
        delay: Duration::from_millis(args.delay),
        rate: args.rate,
        total: args
            .rate_total
            .filter(|r| *r > 0)
            .map(|r| Uplink::new(r / workers)),
    };
    config.digests = Arc::new(Digests::new(args.hash_threads, !args.no_digest_xattr));
    config.listener.max_connections = args.max_connections.max(1);
    config.listener.limits.max_request_line = args.max_request_line;
    config.listener.limits.max_head = args.max_head;
    config.listener.header_timeout = args.header_timeout;
    config.listener.idle_timeout = args.idle_timeout;
    // Loaded before the workers fork: one error message, and one session-ticket key for all.
    config.listener.tls =
        tls::acceptor_from_flags(args.tls_cert.as_deref(), args.tls_key.as_deref())
            .map_err(StartError::Tls)?;
    Ok(config)
}

/// Start, serve until SIGTERM or SIGINT, and give the exit status of the stop.
fn run(args: Args) -> Result<ExitCode, StartError> {
    let mut config = config(&args)?;
    // Bound and forked before the runtime starts: a forked child must not inherit its threads
    // or its reactor.
    let workers = args.workers.max(1);
    let cannot_listen = |addr: String| move |e| StartError::Listen(addr, e);
    let first = runtime::bind_first_std(&args.listen, workers > 1)
        .map_err(cannot_listen(args.listen.clone()))?;
    let addr = first
        .local_addr()
        .map_err(cannot_listen(args.listen.clone()))?;
    let worker = workers::fork(workers - 1).map_err(|e| StartError::Workers(workers, e))?;
    // SIGTERM and SIGINT drain; a worker leaves forcing a stop to the first process.
    let stop = GracefulStop::on_signals(args.shutdown_timeout, worker == 0);
    #[cfg(target_os = "linux")]
    if worker == 0 && workers > 1 {
        workers::supervise(&stop);
    }
    // Opened after the fork: its writer thread would not survive it.
    if let Some(path) = &args.access_log {
        let log = AccessLog::open(path).map_err(|e| StartError::AccessLog(path.clone(), e))?;
        // Lines of answers sent before a stop are written out before the process ends.
        let flushed = log.clone();
        stop.on_exit(move || flushed.flush());
        config.access_log = Some(log);
    }
    let listener = if worker == 0 {
        first
    } else {
        drop(first);
        runtime::bind_std(addr, true).map_err(cannot_listen(addr.to_string()))?
    };
    let listener =
        runtime::TcpListener::from_std(listener).map_err(cannot_listen(addr.to_string()))?;
    runtime::block_on(serve_until(listener, addr, config, &stop, worker, workers));
    Ok(stop.finish(worker != 0 || workers::wait_for_workers()))
}

/// Announce the address (in the first process) and serve until the stop fires.
async fn serve_until(
    listener: runtime::TcpListener,
    addr: SocketAddr,
    config: Config,
    stop: &GracefulStop,
    worker: usize,
    workers: usize,
) {
    if worker == 0 {
        listen::announce(addr, config.listener.tls.is_some());
        log::info!("serving {}", config.root.display());
        if workers > 1 {
            log::info!("{workers} worker processes");
        }
    }
    server::serve_until(listener, config, stop.shutdown()).await
}
