//! `balancer`: Ricochet's load balancer, which works purely by HTTP redirection.
//!
//! It times the download of a probe file from every server, ranks the servers (fastest gets the
//! most weight) and answers every GET or HEAD with a redirect (301 by default) to a server
//! picked at random by weight. It re-probes in the background every interval; a server that
//! fails a probe is removed for good, or with `--readmit` re-checked until it passes `--rise`
//! times in a row. With no server left it answers 503. SIGHUP re-reads `--config`.
//!
//! Run it (in front of servers started with `server --listen 127.0.0.1:8081 --root www` ...):
//!
//! ```sh
//! cargo run -p ricochet --bin balancer -- --listen 127.0.0.1:12345 127.0.0.1:8081 127.0.0.1:8082
//! cargo run -p ricochet --bin client -- http://127.0.0.1:12345/index.html
//! ```
//!
//! It prints `listening on http://ADDR` on stdout once the first probe round is done (clients
//! connecting earlier wait in the listen backlog). `RICOCHET_LOG` sets the log level (`off`,
//! `error`, `warn`, `info`, `debug`, `trace`; default `info`).
//!
//! `--workers N` runs N processes on the address, one of them probing for all;
//! `--state redis://HOST:PORT/DB` shares one prober between balancers through Redis
//! (docs/deployment.md).

use argh::FromArgs;
use ricochet::balancer::admin::{self, Admin};
use ricochet::balancer::files::Files;
use ricochet::balancer::servers::ServerSource;
use ricochet::balancer::state::redis::{self as redis_state, RedisState, StateUrlError};
use ricochet::balancer::state::workers::{self as worker_links, Ends};
use ricochet::balancer::{Config, FileFlags, LaunchError, Prober};
use ricochet::cli::duration::parse_duration;
use ricochet::cli::exit::Exit;
use ricochet::cli::{logging, version};
use ricochet::runtime::access_log::AccessLog;
use ricochet::runtime::listen;
use ricochet::runtime::signal::{self, Signal};
use ricochet::runtime::stop::GracefulStop;
use ricochet::runtime::tls::{self, Trust};
use ricochet::runtime::workers;
use ricochet::{balancer, runtime};
use ricochet_core::balance::admin::Reload;
use ricochet_core::balance::balancer::ProbeConfig;
use ricochet_core::balance::pool::Policy;
use ricochet_core::balance::redirect::Redirect;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

ricochet::args_struct! {
/// Redirect every GET and HEAD to one of the SERVERs (host:port, IPv6 as [::1]:port, or an
/// http:// or https:// URL), picked at random with more weight for the servers that downloaded
/// the probe file faster. Prints `listening on http://ADDR` (https:// with --tls-cert) on
/// stdout after the first probe round. Logs go to stderr; the
/// environment variable RICOCHET_LOG sets their level (off, error, warn, info, debug, trace;
/// default info). SIGHUP re-reads --config (and the arguments): new servers are probed before
/// they get redirects, dropped ones get none from then on; a list with an error is refused
/// whole, with one log line naming the line, and the servers in force stay. With
/// --verify-files a file is redirected only to servers seen to hold its current copy.
/// GET /PATH?mirrorlist shows every server's state for that file (HTML; JSON with
/// Accept: application/json).
#[derive(FromArgs)]
#[argh(
    error_code(
        1,
        "usage error: a bad flag or value, a malformed or duplicate server (the message names the argument or line), or no server given"
    ),
    error_code(
        2,
        "cannot listen on the --listen or --admin address"
    ),
    error_code(
        7,
        "the --config or --access-log file cannot be read or opened, or the --tls-cert, --tls-key or --probe-cacert file is missing, unreadable or not PEM, or the key does not match the certificate"
    ),
    error_code(10, "no server passed the first probe"),
    error_code(11, "a worker process failed or could not be started (with --workers above 1)"),
    error_code(
        12,
        "stopped by SIGTERM or SIGINT, but connections were still open after --shutdown-timeout (or a second signal came); they were closed"
    )
)]
struct Args {
threads {}
{
    /// address to listen on, host:port; port 0 picks a free port (default 127.0.0.1:12345)
    #[argh(option, default = "String::from(\"127.0.0.1:12345\")")]
    listen: String,

    /// file listing servers, one host:port or http(s):// URL per line; blank lines and #
    /// comments allowed
    /// (default: none, servers from the arguments only)
    #[argh(option)]
    config: Option<PathBuf>,

    /// path (and query) downloaded from every server to time it (default /probe.bin)
    #[argh(option, default = "String::from(\"/probe.bin\")")]
    probe_path: String,

    /// time between two probes of a server, e.g. 300s, 5m, 500ms (default 300s)
    #[argh(
        option,
        default = "Duration::from_secs(300)",
        from_str_fn(parse_duration)
    )]
    probe_interval: Duration,

    /// longest a probe may take before it counts as failed, e.g. 10s (default 10s)
    #[argh(
        option,
        default = "Duration::from_secs(10)",
        from_str_fn(parse_duration)
    )]
    probe_timeout: Duration,

}
readmit {
    /// keep re-checking removed servers (after 1 s, doubling up to the probe interval) and
    /// redirect to them again once they pass --rise probes in a row (default: a server that
    /// fails a probe is removed for good)
    readmit,
    /// with --readmit: probes in a row a removed server must pass to get redirects again
    /// (default 2)
    rise,
    /// with --readmit: failed probes in a row that remove a live server (default 1)
    fall,
}
{
    /// how servers are weighted: rank (slowest 1 ... fastest N) or throughput (by measured
    /// bytes per second, with a floor) (default rank)
    #[argh(option, default = "Policy::Rank")]
    policy: Policy,

    /// redirect status: 301, 302, 303, 307 or 308 (default 301)
    #[argh(option, default = "Redirect::default()", from_str_fn(parse_redirect))]
    redirect: Redirect,

    /// seconds announced in the Retry-After of a 503 when no server is left (default 60)
    #[argh(option, default = "60")]
    retry_after: u32,

}
{
    /// name at most this many other live servers holding the file in RFC 6249 headers on a
    /// file's redirect (`Link: <URL>; rel=duplicate; pri=N`, best weight first, plus the
    /// Metalink's `rel=describedby`), for multi-source clients (client -s, aria2c); 0 sends
    /// none (default 5)
    #[argh(option, default = "ricochet_core::balance::redirect::DEFAULT_LINKS")]
    links: u32,
}
limits {
    /// most client connections open at once; more wait to be accepted (default 4096)
    max_connections = "4096",
    /// time allowed to send a complete request head, e.g. 10s; then 408 (default 10s)
    header_timeout,
    /// after SIGTERM or SIGINT, how long answers in flight may take to finish before they are
    /// cut and the balancer exits 12, e.g. 30s (default 30s)
    shutdown_timeout,
    /// how long a kept-alive connection may wait for its next request, and a write may stall
    /// (default 60s)
    idle_timeout,
}
{
    /// address of the admin listener (status page at /, /status.json, /metrics, POST
    /// /reload), host:port; keep it on loopback (default: off)
    #[argh(option)]
    admin: Option<String>,

}
tls {
    /// write one Combined Log Format line per request to this file (appended; - for stderr),
    /// followed by the server redirected to (default: off)
    access_log,
    /// answer over HTTPS with this certificate (PEM; the balancer's certificate first, then
    /// its chain); needs --tls-key
    tls_cert,
}
{
    /// before redirecting a GET or HEAD to a server, make sure it holds the current copy of
    /// the file: a HEAD of the path on it (and on --origin), remembered per server and path;
    /// servers that lack the file or hold another version get no redirect for it (default:
    /// off, every live server is taken to hold every file)
    #[argh(switch)]
    verify_files: bool,

    /// with --verify-files: the http:// or https:// URL of the server holding the current
    /// copy of every file (it may also be in the pool); a copy is current when its length and
    /// Last-Modified match the origin's, and a file no server holds is redirected there
    /// (default: none; a 200 with a length is current, and a file no server holds is 404)
    #[argh(option)]
    origin: Option<String>,

    /// with --verify-files: how far apart a server's and the origin's Last-Modified may be
    /// (default 2s)
    #[argh(option, from_str_fn(parse_duration))]
    mtime_slack: Option<Duration>,

    /// with --verify-files: how long a check that found the current copy is trusted
    /// (default 5m)
    #[argh(option, from_str_fn(parse_duration))]
    file_ttl: Option<Duration>,

    /// with --verify-files: how long a check that found the file missing or another version
    /// is trusted (default 30s)
    #[argh(option, from_str_fn(parse_duration))]
    miss_ttl: Option<Duration>,

    /// with --verify-files: how long a check may take; a check that times out or fails
    /// leaves the server unknown, never "lacks it" (default 2s)
    #[argh(option, from_str_fn(parse_duration))]
    verify_timeout: Option<Duration>,

    /// with --verify-files: most paths remembered, the least recently used forgotten first;
    /// about 450 bytes each with 3 servers (default 100000)
    #[argh(option)]
    file_cache: Option<usize>,

    /// trust the CA certificates in this PEM file too, besides the system's, when probing
    /// https:// servers (repeatable)
    #[argh(option)]
    probe_cacert: Vec<PathBuf>,

    /// worker processes (default 1): each has its own event loop and SO_REUSEPORT socket on
    /// the same address; the first probes and the others follow its ranking over a Unix
    /// socket; --max-connections applies to each (Linux only)
    #[argh(option, default = "1")]
    workers: usize,

    /// share one prober with other balancers through Redis, redis://HOST:PORT/DB: the holder
    /// of a lease probes and publishes, the others follow; with Redis unreachable each probes
    /// on its own (default: off)
    #[argh(option)]
    state: Option<String>,

    /// with --state: how long the probing lease lasts unless renewed (renewed every sixth of
    /// it); a dead holder is replaced within it (default 3s)
    #[argh(option, from_str_fn(parse_duration))]
    lease: Option<Duration>,

    /// servers to balance: host:port (IPv6 as [::1]:port), or a URL http(s)://host[:port]/prefix/
    /// whose path is put in front of every redirected path; in addition to --config's
    #[argh(positional)]
    servers: Vec<String>,
}
}
}

fn parse_redirect(value: &str) -> Result<Redirect, String> {
    let status: u16 = value
        .trim()
        .parse()
        .map_err(|_| format!("'{value}' is not a status code"))?;
    Redirect::new(status).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    version::exit_if_asked("balancer");
    let started = Instant::now();
    let args: Args = argh::from_env();
    runtime::set_threads(args.threads);
    logging::init();
    match launch(args, started) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("balancer: {e}");
            e.exit().into()
        }
    }
}

/// Why the balancer could not start: the [`LaunchError`]s, and those of `--workers` and
/// `--state`.
#[derive(Debug)]
enum RunError {
    Launch(LaunchError),
    /// The worker processes or their links could not be started.
    Workers(usize, io::Error),
    /// `--state` is not a Redis URL.
    State(StateUrlError),
    /// `--lease` without `--state`.
    LeaseWithoutState,
}

impl RunError {
    fn exit(&self) -> Exit {
        match self {
            RunError::Launch(e) => e.exit(),
            RunError::Workers(..) => Exit::WorkerFailed,
            RunError::State(_) | RunError::LeaseWithoutState => Exit::Usage,
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Launch(e) => e.fmt(f),
            RunError::Workers(n, e) => write!(f, "cannot start {n} workers: {e}"),
            RunError::State(e) => e.fmt(f),
            RunError::LeaseWithoutState => f.write_str("--lease needs --state"),
        }
    }
}

impl From<LaunchError> for RunError {
    fn from(e: LaunchError) -> Self {
        RunError::Launch(e)
    }
}

/// What the first process and each worker start from.
struct Launch {
    config: Config,
    /// Bound before the fork (in a worker, closed: it binds its own once it has a ranking).
    listener: Option<std::net::TcpListener>,
    addr: std::net::SocketAddr,
    worker: usize,
    ends: Ends,
    state: Option<RedisState>,
    started: Instant,
}

/// Check the flags, bind, fork the workers (before any thread exists), then run.
fn launch(args: Args, started: Instant) -> Result<ExitCode, RunError> {
    let mut config = config(&args)?;
    let state = match (&args.state, args.lease) {
        (Some(url), lease) => {
            let lease = lease.unwrap_or(Duration::from_secs(3));
            Some(RedisState::new(url, lease).map_err(RunError::State)?)
        }
        (None, Some(_)) => return Err(RunError::LeaseWithoutState),
        (None, None) => None,
    };
    let workers = args.workers.max(1);
    // Bind first: a busy port is reported at once, and clients arriving during the first
    // probe round wait in the backlog instead of being refused.
    let listen_error = |error| LaunchError::Listen {
        addr: args.listen.clone(),
        flag: None,
        error,
    };
    let listener = runtime::bind_first_std(&args.listen, workers > 1).map_err(listen_error)?;
    let addr = listener.local_addr().map_err(listen_error)?;
    let (worker, ends) =
        worker_links::fork(workers - 1).map_err(|e| RunError::Workers(workers, e))?;
    // Opened after the fork: its writer thread would not survive it.
    if let Some(path) = &args.access_log {
        let log = AccessLog::open(path).map_err(|e| LaunchError::AccessLog(path.clone(), e))?;
        config.access_log = Some(log);
    }
    let launch = Launch {
        config,
        listener: (worker == 0).then_some(listener),
        addr,
        worker,
        ends,
        state,
        started,
    };
    runtime::block_on(run(args, launch))
}

/// The balancer's settings from its flags and server list.
fn config(args: &Args) -> Result<Config, LaunchError> {
    let readmit = balancer::readmit_from_flags(args.readmit, args.rise, args.fall)
        .map_err(LaunchError::Readmit)?;
    // Servers: the config file's first, then the arguments (the order only matters for ties).
    let source = ServerSource {
        config: args.config.clone(),
        arguments: args.servers.clone(),
    };
    let servers = source.load().map_err(LaunchError::ServerList)?;
    let mut config = Config::new(servers);
    config.source = Some(source);
    config.probe = ProbeConfig {
        path: args.probe_path.clone(),
        interval: args.probe_interval,
        timeout: args.probe_timeout,
        readmit,
    };
    config.policy = args.policy;
    config.redirect = args
        .redirect
        .with_retry_after(args.retry_after)
        .with_links(args.links);
    config.listener.max_connections = args.max_connections.max(1);
    config.listener.limits.max_request_line = args.max_request_line;
    config.listener.limits.max_head = args.max_head;
    config.listener.header_timeout = args.header_timeout;
    config.listener.idle_timeout = args.idle_timeout;
    config.probe_trust = Trust {
        ca_files: args.probe_cacert.clone(),
        insecure: false,
    };
    config.listener.tls =
        tls::acceptor_from_flags(args.tls_cert.as_deref(), args.tls_key.as_deref())
            .map_err(LaunchError::Tls)?;
    let files = FileFlags {
        verify: args.verify_files,
        origin: args.origin.clone(),
        mtime_slack: args.mtime_slack,
        file_ttl: args.file_ttl,
        miss_ttl: args.miss_ttl,
        verify_timeout: args.verify_timeout,
        file_cache: args.file_cache,
        links: args.links,
    };
    if let Some((settings, origin)) = files.settings().map_err(LaunchError::Files)? {
        let trust = config.probe_trust.clone();
        config.files = Some(Arc::new(Files::new(settings, origin, trust)));
    }
    Ok(config)
}

/// Run the first probe round (or, following another prober, wait for its first ranking), then
/// serve until a signal stops the balancer.
async fn run(args: Args, launch: Launch) -> Result<ExitCode, RunError> {
    let Launch {
        config,
        listener,
        addr,
        worker,
        ends,
        state,
        started,
    } = launch;
    let workers = args.workers.max(1);
    let bind = |addr: &str, flag| {
        let addr = addr.to_string();
        async move {
            listen::bind(&addr)
                .await
                .map_err(|error| LaunchError::Listen { addr, flag, error })
        }
    };
    // The admin listener is the first process's: it shows the workers' counters too.
    let admin_listener = match (&args.admin, worker) {
        (Some(admin), 0) => Some(bind(admin, Some("--admin")).await?),
        _ => None,
    };
    // SIGTERM or SIGINT during the first probe round stops the balancer once it is done; a
    // worker's stop is the first process's to force.
    let stop = GracefulStop::on_signals(args.shutdown_timeout, worker == 0);
    #[cfg(target_os = "linux")]
    if worker == 0 && workers > 1 {
        workers::supervise(&stop);
    }
    // Lines of answers sent before a stop are written out before the process ends.
    if let Some(log) = config.access_log.clone() {
        stop.on_exit(move || log.flush());
    }
    log::info!(
        "probing {} servers for {} (timeout {:?})",
        config.servers.len(),
        config.probe.path,
        config.probe.timeout
    );
    let mut prober = Prober::new(&config).map_err(LaunchError::Start)?;
    let id = match worker {
        0 => redis_state::instance_id(),
        n => format!("{}/worker{n}", redis_state::instance_id()),
    };
    // A stopping instance gives the lease up so that another probes at once.
    if let (Some(state), 0) = (state.clone(), worker) {
        let id = id.clone();
        stop.on_start(move || state.release(&id));
    }
    prober
        .share(ends, state.as_ref(), id)
        .map_err(|e| RunError::Workers(workers, e))?;
    // From now on SIGHUP reloads instead of ending the process.
    let reloader = prober.reloader();
    if let Err(e) = signal::watch(Signal::Hangup, move || reloader.request_reload()) {
        log::warn!("cannot handle SIGHUP, reloading is off: {e}");
    }
    prober.first_round().await.map_err(LaunchError::Start)?;
    if let Some((admin_listener, admin_addr)) = admin_listener {
        // Same as SIGHUP: the prober re-reads the list and logs the outcome.
        let reloader = prober.reloader();
        let admin = Admin {
            published: Arc::clone(prober.published()),
            started,
            reload: Some(Arc::new(move || {
                reloader.request_reload();
                Reload::Accepted
            })),
            files: config.files.clone(),
        };
        admin::spawn(admin_listener, admin_addr, admin, stop.shutdown());
    }
    // A worker binds its own socket on the address once it has a ranking to answer from.
    let listener = match listener {
        Some(listener) => listener,
        None => runtime::bind_std(addr, true).map_err(|error| LaunchError::Listen {
            addr: addr.to_string(),
            flag: None,
            error,
        })?,
    };
    let listener =
        runtime::TcpListener::from_std(listener).map_err(|error| LaunchError::Listen {
            addr: addr.to_string(),
            flag: None,
            error,
        })?;
    if worker == 0 {
        listen::announce(addr, config.listener.tls.is_some());
        if workers > 1 {
            log::info!("{workers} worker processes");
        }
    }
    balancer::serve_until(listener, prober, config, stop.shutdown()).await;
    Ok(stop.finish(worker != 0 || workers::wait_for_workers()))
}
