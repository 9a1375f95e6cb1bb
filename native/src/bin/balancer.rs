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

use argh::FromArgs;
use ricochet::balancer::admin::{self, Admin};
use ricochet::balancer::files::Files;
use ricochet::balancer::servers::ServerSource;
use ricochet::balancer::{Config, FileFlags, LaunchError, Prober};
use ricochet::cli::duration::parse_duration;
use ricochet::cli::{logging, version};
use ricochet::runtime::access_log::AccessLog;
use ricochet::runtime::listen;
use ricochet::runtime::signal::{self, Signal};
use ricochet::runtime::stop::GracefulStop;
use ricochet::runtime::tls::{self, Trust};
use ricochet::{balancer, runtime};
use ricochet_core::balance::admin::Reload;
use ricochet_core::balance::balancer::ProbeConfig;
use ricochet_core::balance::pool::Policy;
use ricochet_core::balance::redirect::Redirect;
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
    match config(&args).and_then(|config| runtime::block_on(run(args, config, started))) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("balancer: {e}");
            e.exit().into()
        }
    }
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
    if let Some(path) = &args.access_log {
        let log = AccessLog::open(path).map_err(|e| LaunchError::AccessLog(path.clone(), e))?;
        config.access_log = Some(log);
    }
    let files = FileFlags {
        verify: args.verify_files,
        origin: args.origin.clone(),
        mtime_slack: args.mtime_slack,
        file_ttl: args.file_ttl,
        miss_ttl: args.miss_ttl,
        verify_timeout: args.verify_timeout,
        file_cache: args.file_cache,
    };
    if let Some((settings, origin)) = files.settings().map_err(LaunchError::Files)? {
        let trust = config.probe_trust.clone();
        config.files = Some(Arc::new(Files::new(settings, origin, trust)));
    }
    Ok(config)
}

/// Bind, run the first probe round, then serve until a signal stops the balancer.
async fn run(args: Args, config: Config, started: Instant) -> Result<ExitCode, LaunchError> {
    // Bind first: a busy port is reported at once, and clients arriving during the first
    // probe round wait in the backlog instead of being refused.
    let bind = |addr: &str, flag| {
        let addr = addr.to_string();
        async move {
            listen::bind(&addr)
                .await
                .map_err(|error| LaunchError::Listen { addr, flag, error })
        }
    };
    let (listener, addr) = bind(&args.listen, None).await?;
    let admin_listener = match &args.admin {
        Some(admin) => Some(bind(admin, Some("--admin")).await?),
        None => None,
    };
    // SIGTERM or SIGINT during the first probe round stops the balancer once it is done.
    let stop = GracefulStop::on_signals(args.shutdown_timeout, true);
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
    listen::announce(addr, config.listener.tls.is_some());
    balancer::serve_until(listener, prober, config, stop.shutdown()).await;
    Ok(stop.finish(true))
}
