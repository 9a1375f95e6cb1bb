//! The demo cluster: three file servers at clearly different simulated speeds and a balancer in
//! front of them, all in one process, built from the library's own [`crate::server`] and
//! [`crate::balancer`]. The second and third servers serve imperfect copies of the root
//! ([`mirrors`]), and the balancer checks files (`--verify-files`, the first server as origin)
//! unless told not to.

pub mod mirrors;

use crate::balancer::admin::{self, Admin};
use crate::balancer::files::Files;
use crate::balancer::{self, ReadmitFlagsError, StartError};
use crate::cli::exit::Exit;
use crate::runtime::driver::Shutdown;
use crate::runtime::listen::{self, listening_line};
use crate::runtime::tls;
use crate::runtime::{self, TcpListener};
use crate::server;
use crate::server::throttle::{Throttle, Uplink};
use mirrors::Mirrors;
use ricochet_core::balance::file_index::FileIndexConfig;
use ricochet_core::balance::pool::{ServerAddr, ServerAddrError};
use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The default servers' ports, fastest first.
pub const SERVER_PORTS: [u16; 3] = [11111, 22222, 33333];

/// The default send rates in bytes per second, fastest first: the 256 KiB probe file takes
/// about 0.1 s, 0.3 s and 0.8 s.
pub const RATES: [u64; 3] = [2_600_000, 870_000, 330_000];

/// What to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory the servers serve; must hold the probe file.
    pub root: PathBuf,
    /// The balancer's address.
    pub listen: String,
    /// The balancer's admin listener.
    pub admin: String,
    /// One server per entry: its port on 127.0.0.1 (0 picks a free one) and its send rate.
    pub servers: Vec<(u16, u64)>,
    /// The balancer's settings (its server list is filled in from the bound servers).
    pub balancer: balancer::Config,
    /// Everything over HTTPS, with a throwaway CA made at start.
    pub tls: bool,
    /// The balancer checks files (`--verify-files`, the first server as `--origin`).
    pub verify_files: bool,
}

/// Why the cluster could not start, each with its exit code.
#[derive(Debug)]
pub enum ClusterError {
    /// `--server-port` was given, but not once per server.
    ServerPorts,
    /// `--readmit`, `--rise` and `--fall` do not go together.
    Readmit(ReadmitFlagsError),
    /// The root is not a servable directory.
    Root(PathBuf, io::Error),
    /// The probe file is missing under the root.
    ProbeFile(PathBuf),
    /// The servers' copies of the root could not be made in this directory.
    Mirrors(PathBuf, io::Error),
    /// A socket could not be bound.
    Listen(String, io::Error),
    /// A bound address did not make a server entry.
    Address(SocketAddr, ServerAddrError),
    /// The balancer could not start.
    Balancer(StartError),
    /// The throwaway CA or its certificate could not be made or written.
    Tls(String),
}

impl ClusterError {
    /// The exit code for this failure ([`Exit`]).
    pub fn exit(&self) -> Exit {
        match self {
            ClusterError::ServerPorts | ClusterError::Readmit(_) => Exit::Usage,
            ClusterError::Listen(..) | ClusterError::Address(..) => Exit::Network,
            ClusterError::Root(..)
            | ClusterError::ProbeFile(..)
            | ClusterError::Mirrors(..)
            | ClusterError::Tls(_) => Exit::LocalFile,
            ClusterError::Balancer(e) => e.exit(),
        }
    }
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::ServerPorts => write!(
                f,
                "give --server-port {} times (or not at all)",
                SERVER_PORTS.len()
            ),
            ClusterError::Readmit(e) => e.fmt(f),
            ClusterError::Root(root, e) => write!(f, "cannot serve {}: {e}", root.display()),
            ClusterError::ProbeFile(path) => write!(
                f,
                "{} is missing: generate it with `python3 www/generate.py`",
                path.display()
            ),
            ClusterError::Mirrors(dir, e) => {
                write!(f, "cannot copy the root into {}: {e}", dir.display())
            }
            ClusterError::Listen(addr, e) => write!(f, "cannot listen on {addr}: {e}"),
            ClusterError::Address(addr, e) => write!(f, "bad server address {addr}: {e}"),
            ClusterError::Balancer(e) => write!(f, "{e}"),
            ClusterError::Tls(e) => write!(f, "cannot set up TLS: {e}"),
        }
    }
}

impl std::error::Error for ClusterError {}

/// The sample site to serve when no root is given: `www/` in the current directory or one of
/// its parents, else the workspace's own `www/` (where this crate was built from).
pub fn default_root() -> PathBuf {
    if let Ok(mut dir) = std::env::current_dir() {
        loop {
            let candidate = dir.join("www");
            if candidate.join("index.html").is_file() {
                return candidate;
            }
            if !dir.pop() {
                break;
            }
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("www")
}

async fn bind(addr: &str) -> Result<(TcpListener, SocketAddr), ClusterError> {
    listen::bind(addr)
        .await
        .map_err(|e| ClusterError::Listen(addr.to_string(), e))
}

fn say(args: fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    let _ = out.write_fmt(args);
    let _ = out.flush();
}

/// Start the servers, probe them, print the ranking and how to try it, then serve until
/// `shutdown` fires; then stop accepting on every port, let every connection drain (servers and
/// balancer together) and return once all have closed. Errs only on a start-up failure.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), ClusterError> {
    start(config, shutdown).await
}

/// A throwaway CA, its certificate written to a file clients are given with `--cacert`, and
/// one certificate for the loopback names that every server and the balancer present.
fn demo_tls() -> Result<(PathBuf, tls::Acceptor), ClusterError> {
    let error = |e: &dyn fmt::Display| ClusterError::Tls(e.to_string());
    let ca = tls::ThrowawayCa::new("Ricochet cluster demo CA").map_err(|e| error(&e))?;
    let issued = ca
        .issue(&["localhost", "127.0.0.1", "::1"], tls::Validity::Current)
        .map_err(|e| error(&e))?;
    let server = tls::server_config_from(issued.chain, issued.key).map_err(|e| error(&e))?;
    let path = std::env::temp_dir().join(format!("ricochet-cluster-ca-{}.pem", std::process::id()));
    std::fs::write(&path, ca.cert_pem())
        .map_err(|e| ClusterError::Tls(format!("cannot write {}: {e}", path.display())))?;
    Ok((path, tls::Acceptor::new(server)))
}

async fn start(config: Config, shutdown: Shutdown) -> Result<(), ClusterError> {
    let mut server_config = server::Config::new(&config.root)
        .map_err(|e| ClusterError::Root(config.root.clone(), e))?;
    let demo_tls = if config.tls { Some(demo_tls()?) } else { None };
    server_config.listener.tls = demo_tls.as_ref().map(|(_, acceptor)| acceptor.clone());
    let probe_file = server_config
        .root
        .join(config.balancer.probe.path.trim_start_matches('/'));
    if !probe_file.is_file() {
        return Err(ClusterError::ProbeFile(probe_file));
    }
    // Dropped (the copies removed) when this returns; a forced exit leaves that to the caller.
    let scratch = mirrors::scratch_dir();
    let mirrors = Mirrors::make(&server_config.root, scratch.clone())
        .map_err(|e| ClusterError::Mirrors(scratch, e))?;
    // Bind everything first, so a busy port is reported before anything starts.
    let started = Instant::now();
    let (balancer_listener, balancer_addr) = bind(&config.listen).await?;
    let (admin_listener, admin_addr) = bind(&config.admin).await?;
    let mut servers = Vec::new();
    let mut bound = Vec::new();
    let mut drained = Vec::new();
    for (index, &(port, rate)) in config.servers.iter().enumerate() {
        let (listener, addr) = bind(&format!("127.0.0.1:{port}")).await?;
        let entry = if config.tls {
            ServerAddr::parse(&format!("https://{addr}/"))
        } else {
            ServerAddr::parse(&addr.to_string())
        }
        .map_err(|e| ClusterError::Address(addr, e))?;
        let root = mirrors.root(index);
        let mut this = server::Config::new(root).map_err(|e| ClusterError::Root(root.into(), e))?;
        this.listener = server_config.listener.clone();
        // The rate is the server's uplink, shared by all its connections (`--rate-total`): a
        // client opening more connections to one server does not get more from it.
        this.throttle = Throttle {
            delay: Duration::ZERO,
            rate: None,
            total: Some(Uplink::new(rate)),
        };
        let differs = match index {
            1 => format!(" (a copy without {})", mirrors::MISSING),
            2 => format!(" (a copy with an older {})", mirrors::OLDER),
            _ => String::new(),
        };
        say(format_args!(
            "server {} serving {}{differs} at {} kB/s\n",
            listening_line(addr, config.tls).trim_start_matches("listening on "),
            this.root.display(),
            rate / 1000
        ));
        let (done, finished) = futures::channel::oneshot::channel::<()>();
        let stop = shutdown.clone();
        runtime::spawn(async move {
            server::serve_until(listener, this, stop).await;
            drop(done);
        });
        drained.push(finished);
        servers.push(entry);
        bound.push(addr);
    }
    // The first server serves the root itself: it is the origin of every file.
    let scheme = if config.tls { "https" } else { "http" };
    let origin = servers.first().cloned();
    let checking = match (config.verify_files, bound.first()) {
        (true, Some(addr)) => format!(
            "checking files (--verify-files) against the origin {scheme}://{addr}: \
             a client is never sent to a server without the origin's copy"
        ),
        _ => "not checking files: every server is taken to hold every file".into(),
    };
    let mut balancer_config = config.balancer;
    balancer_config.servers = servers;
    if let Some((ca_file, acceptor)) = &demo_tls {
        balancer_config.probe_trust.ca_files.push(ca_file.clone());
        balancer_config.listener.tls = Some(acceptor.clone());
    }
    if config.verify_files {
        let trust = balancer_config.probe_trust.clone();
        // As the balancer sets it from --links: the servers a redirect's Link headers may
        // name are checked ahead, so the demo's multi-source downloads find them all.
        let index = FileIndexConfig {
            look_ahead: balancer_config.redirect.links() as usize,
            ..FileIndexConfig::default()
        };
        let files = Files::new(index, origin, trust);
        balancer_config.files = Some(Arc::new(files));
    }
    say(format_args!(
        "probing {} servers for {} ...\n",
        balancer_config.servers.len(),
        balancer_config.probe.path
    ));
    let prober = balancer::start(&balancer_config)
        .await
        .map_err(ClusterError::Balancer)?;
    let ranking = prober.published().current();
    say(format_args!("{ranking}\n"));
    let admin = Admin {
        published: Arc::clone(prober.published()),
        started,
        reload: None,
        files: balancer_config.files.clone(),
    };
    admin::spawn(admin_listener, admin_addr, admin, shutdown.clone());
    say(format_args!(
        "balancer: probing every {:?}, redirecting with {}\n{checking}\n{}\n",
        balancer_config.probe.interval,
        balancer_config.redirect.status(),
        listening_line(balancer_addr, config.tls),
    ));
    match &demo_tls {
        Some((ca_file, _)) => say(format_args!(
            "try: cargo run --release -p ricochet --bin client -- --cacert {} https://{balancer_addr}/index.html\n\
             or: curl -L --cacert {} https://{balancer_addr}/index.html\n",
            ca_file.display(),
            ca_file.display(),
        )),
        None => say(format_args!(
            "try: cargo run --release -p ricochet --bin client -- http://{balancer_addr}/index.html\n"
        )),
    }
    for file in [mirrors::MISSING, mirrors::OLDER] {
        say(format_args!(
            "mirror list: {scheme}://{balancer_addr}/{file}?mirrorlist\n"
        ));
    }
    say(format_args!("stop with Ctrl-C\n"));
    balancer::serve_until(balancer_listener, prober, balancer_config, shutdown).await;
    for finished in drained {
        // Each server's task drops its sender once its connections have all ended.
        let _ = finished.await;
    }
    if let Some((ca_file, _)) = &demo_tls {
        // Its key is gone with this process: the file trusts nothing that still exists.
        let _ = std::fs::remove_file(ca_file);
    }
    drop(mirrors);
    Ok(())
}
