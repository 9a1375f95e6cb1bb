//! `cluster`: the demo. Three file servers on 127.0.0.1:11111, 22222 and 33333 serving `www/`
//! at clearly different simulated speeds (the 256 KiB probe file takes about 0.1 s, 0.3 s and
//! 0.8 s), and the balancer on 127.0.0.1:12345 in front of them, all in one process.
//!
//! Run it from the repository root (this is what `just run-cluster` does):
//!
//! ```sh
//! cargo run --release -p ricochet --bin cluster
//! cargo run --release -p ricochet --bin client -- http://127.0.0.1:12345/index.html
//! ```
//!
//! It prints the ranking, `admin on http://127.0.0.1:12346` (the balancer's status page and
//! metrics), `listening on http://ADDR`, an example client command and two mirror lists, then
//! runs until Ctrl-C. The second server lacks `release.bin` and the third holds an older
//! `data.bin`; the balancer checks files (`--verify-files`) and sends no client there for them.
//! `RICOCHET_LOG` sets the log level (default `info`: every request is logged).

use argh::FromArgs;
use ricochet::cli::duration::parse_duration;
use ricochet::cli::logging;
use ricochet::cluster::{self, ClusterError, Config, RATES, SERVER_PORTS};
use ricochet::runtime::stop::GracefulStop;
use ricochet::{balancer, runtime};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

ricochet::args_struct! {
/// Start three throttled file servers and a balancer in front of them, in one process, and run
/// until Ctrl-C. Prints the ranking, `listening on http://ADDR` (the balancer) and an example
/// client command on stdout. The environment variable RICOCHET_LOG sets the log level (off,
/// error, warn, info, debug, trace; default info).
#[derive(FromArgs)]
#[argh(
    error_code(1, "usage error"),
    error_code(2, "cannot listen on one of the ports"),
    error_code(
        7,
        "the root is not a directory, the probe file is missing from it, the root could not be copied for the second and third servers, or (--tls) the throwaway CA or its file could not be made"
    ),
    error_code(10, "no server passed the first probe"),
    error_code(
        12,
        "stopped by Ctrl-C (SIGINT) or SIGTERM, but connections to the servers or the balancer were still open after --shutdown-timeout (or a second signal came); they were closed"
    )
)]
struct Args {
threads {}
{
    /// directory the servers serve (default: www/ in the current directory or a parent, else
    /// the workspace's www/)
    #[argh(option)]
    root: Option<PathBuf>,

    /// the balancer's address; port 0 picks a free port (default 127.0.0.1:12345)
    #[argh(option, default = "String::from(\"127.0.0.1:12345\")")]
    listen: String,

    /// after SIGTERM or SIGINT (Ctrl-C), how long answers in flight may take to finish before
    /// they are cut and the cluster exits 12, e.g. 30s (default 30s)
    #[argh(
        option,
        default = "Duration::from_secs(30)",
        from_str_fn(parse_duration)
    )]
    shutdown_timeout: Duration,

    /// ports of the three servers on 127.0.0.1, fastest first, each as its own flag; 0 picks a
    /// free port (default 11111 22222 33333)
    #[argh(option)]
    server_port: Vec<u16>,

    /// time between two probes of a server (default 30s)
    #[argh(
        option,
        default = "Duration::from_secs(30)",
        from_str_fn(parse_duration)
    )]
    probe_interval: Duration,

}
readmit {
    /// keep re-checking servers that failed a probe and redirect to them again once they pass
    /// --rise probes in a row (default: removed for good)
    readmit,
    /// with --readmit: probes in a row a removed server must pass (default 2)
    rise,
    /// with --readmit: failed probes in a row that remove a live server (default 1)
    fall,
}
{
    /// the balancer's admin listener (status page, /status.json, /metrics); port 0 picks a
    /// free port (default 127.0.0.1:12346)
    #[argh(option, default = "String::from(\"127.0.0.1:12346\")")]
    admin: String,

    /// print the name and version, then exit
    #[argh(switch)]
    #[expect(dead_code, reason = "version::exit_if_asked answers it before argh parses")]
    version: bool,

    /// everything over HTTPS: a throwaway CA and certificate for 127.0.0.1 and localhost are
    /// made at start, the CA written to a file in the temporary directory for clients'
    /// --cacert (default off)
    #[argh(switch)]
    tls: bool,

    /// redirect by speed alone, as if every server held every file (default: the balancer
    /// runs with --verify-files and the first server as --origin, so it never sends a client
    /// to the second server for release.bin nor to the third for data.bin)
    #[argh(switch)]
    no_verify_files: bool,
}
}
}

fn main() -> ExitCode {
    ricochet::cli::version::exit_if_asked("cluster");
    let args: Args = argh::from_env();
    runtime::set_threads(args.threads);
    logging::init();
    let shutdown_timeout = args.shutdown_timeout;
    let ran = config(args).and_then(|config| {
        // Ctrl-C (SIGINT) or SIGTERM drains the servers and the balancer together.
        let stop = GracefulStop::on_signals(shutdown_timeout, true);
        // A forced exit skips the cluster's own clean-up of the servers' copies of the root.
        stop.on_force(|| {
            let _ = std::fs::remove_dir_all(cluster::mirrors::scratch_dir());
        });
        runtime::block_on(cluster::run(config, stop.shutdown())).map(|()| stop.finish(true))
    });
    match ran {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cluster: {e}");
            e.exit().into()
        }
    }
}

/// The cluster's settings from its flags.
fn config(args: Args) -> Result<Config, ClusterError> {
    let ports = match args.server_port.len() {
        0 => SERVER_PORTS.to_vec(),
        n if n == SERVER_PORTS.len() => args.server_port,
        _ => return Err(ClusterError::ServerPorts),
    };
    let mut balancer_config = balancer::Config::new(Vec::new());
    balancer_config.probe.interval = args.probe_interval;
    balancer_config.probe.readmit =
        balancer::readmit_from_flags(args.readmit, args.rise, args.fall)
            .map_err(ClusterError::Readmit)?;
    Ok(Config {
        root: args.root.unwrap_or_else(cluster::default_root),
        listen: args.listen,
        admin: args.admin,
        servers: ports.into_iter().zip(RATES).collect(),
        balancer: balancer_config,
        tls: args.tls,
        verify_files: !args.no_verify_files,
    })
}
