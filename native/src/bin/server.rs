//! `server`: Ricochet's static file server.
//!
//! Serves the files under `--root` over HTTP/1.1 (GET and HEAD, keep-alive, pipelining,
//! If-Modified-Since), refusing anything that would leave the root. `--rate` and `--delay` slow
//! it down on purpose so a local cluster can mimic slow and fast servers.
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
use ricochet::cli::{listen, logging, version};
use ricochet::runtime::access_log::AccessLog;
use ricochet::runtime::workers;
use ricochet::server::throttle::Throttle;
use ricochet::server::{self, Config};
use ricochet::{runtime, tls};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

ricochet::args_struct! {
/// Ricochet's static file server: GET and HEAD for the files under --root, over HTTPS with
/// --tls-cert and --tls-key. Prints `listening on http://ADDR` (https://) on stdout when ready. Logs go to stderr; the environment
/// variable RICOCHET_LOG sets their level (off, error, warn, info, debug, trace; default info).
#[derive(FromArgs)]
#[argh(
    error_code(
        1,
        "usage error, --root is not a readable directory, or the --access-log file cannot be opened"
    ),
    error_code(2, "cannot listen on the --listen address"),
    error_code(3, "a worker process ended (with --workers above 1)"),
    error_code(
        4,
        "the --tls-cert or --tls-key file is missing, unreadable, not PEM, or the key does not match the certificate"
    ),
    error_code(
        6,
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
    /// cut and the server exits 6, e.g. 30s (default 30s)
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
    if args.version {
        println!("{}", version::line("server"));
        return ExitCode::SUCCESS;
    }
    runtime::set_threads(args.threads);
    logging::init();
    let mut config = match Config::new(&args.root) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("server: cannot serve {}: {e}", args.root.display());
            return ExitCode::from(1);
        }
    };
    config.throttle = Throttle {
        delay: Duration::from_millis(args.delay),
        rate: args.rate,
    };
    config.listener.max_connections = args.max_connections.max(1);
    config.listener.limits.max_request_line = args.max_request_line;
    config.listener.limits.max_head = args.max_head;
    config.listener.header_timeout = args.header_timeout;
    // Loaded before the workers fork: one error message, and one session-ticket key for all.
    config.listener.tls =
        match tls::acceptor_from_flags(args.tls_cert.as_deref(), args.tls_key.as_deref()) {
            Ok(tls) => tls,
            Err(e) => {
                eprintln!("server: {e}");
                return ExitCode::from(match e {
                    tls::TlsFlagsError::Unpaired => 1,
                    tls::TlsFlagsError::Cert(_) => 4,
                });
            }
        };
    config.listener.idle_timeout = args.idle_timeout;

    // Bound and forked before the runtime starts: a forked child must not inherit its threads
    // or its reactor.
    let workers = args.workers.max(1);
    let bound = runtime::bind_first_std(&args.listen, workers > 1)
        .and_then(|listener| Ok((listener.local_addr()?, listener)));
    let (addr, first) = match bound {
        Ok(bound) => bound,
        Err(e) => {
            eprintln!("server: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(2);
        }
    };
    let worker = match workers::fork(workers - 1) {
        Ok(worker) => worker,
        Err(e) => {
            eprintln!("server: cannot start {workers} workers: {e}");
            return ExitCode::from(1);
        }
    };
    // SIGTERM and SIGINT drain; a worker leaves forcing a stop to the first process.
    let stop =
        ricochet::runtime::stop::GracefulStop::on_signals(args.shutdown_timeout, worker == 0);
    #[cfg(target_os = "linux")]
    if worker == 0 && workers > 1 {
        workers::supervise(&stop);
    }
    // Opened after the fork: its writer thread would not survive it.
    if let Some(path) = &args.access_log {
        match AccessLog::open(path) {
            Ok(log) => config.access_log = Some(log),
            Err(e) => {
                eprintln!("server: cannot open the access log {}: {e}", path.display());
                return ExitCode::from(1);
            }
        }
    }
    // Lines of answers sent before a stop are written out before the process ends.
    if let Some(log) = config.access_log.clone() {
        stop.on_exit(move || log.flush());
    }
    let listener = if worker == 0 {
        first
    } else {
        drop(first);
        match runtime::bind_std(addr, true) {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("server: worker {worker} cannot listen on {addr}: {e}");
                return ExitCode::from(2);
            }
        }
    };

    let shutdown = stop.shutdown();
    let served = runtime::block_on(async move {
        let listener = match runtime::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("server: cannot listen on {addr}: {e}");
                return Err(ExitCode::from(2));
            }
        };
        if worker == 0 {
            listen::announce(addr, config.listener.tls.is_some());
            log::info!("serving {}", config.root.display());
            if workers > 1 {
                log::info!("{workers} worker processes");
            }
        }
        server::serve_until(listener, config, shutdown).await;
        Ok(())
    });
    match served {
        Ok(()) => stop.finish(worker != 0 || workers::wait_for_workers()),
        Err(code) => code,
    }
}
