//! The balancer's settings (from the command line or the demo cluster), the re-admission
//! flags, and why it could not start (each reason with its exit code).

use crate::balancer::servers::{LoadError, ServerSource};
use crate::cli::exit::Exit;
use crate::runtime::accept;
use crate::runtime::access_log::AccessLog;
use crate::runtime::tls::{CertError, TlsFlagsError, Trust};
use ricochet_core::balance::balancer::ProbeConfig;
use ricochet_core::balance::pool::{Policy, ServerAddr};
use ricochet_core::balance::probe::Readmit;
use ricochet_core::balance::redirect::Redirect;
use ricochet_core::http::url::UrlError;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Balancer settings, from the command line.
#[derive(Debug, Clone)]
pub struct Config {
    /// The servers, in the order given.
    pub servers: Vec<ServerAddr>,
    /// What to download from each server, how often, and for how long at most.
    pub probe: ProbeConfig,
    /// How live servers are weighted.
    pub policy: Policy,
    /// Which redirect status, and the 503's Retry-After.
    pub redirect: Redirect,
    /// Client connection cap, head limits, deadlines and TLS.
    pub listener: accept::ListenerConfig,
    /// Who to trust when probing `https://` servers: the system's store plus
    /// `--probe-cacert` files.
    pub probe_trust: Trust,
    /// Where a reload re-reads the server list (`None`: reloads are refused).
    pub source: Option<ServerSource>,
    /// Where to write one Combined Log Format line per request, if anywhere.
    pub access_log: Option<AccessLog>,
}

impl Config {
    /// Settings with defaults for `servers`: probe `/probe.bin` every 300 s with a 10 s
    /// timeout, rank policy, 301.
    pub fn new(servers: Vec<ServerAddr>) -> Config {
        Config {
            servers,
            probe: ProbeConfig {
                path: "/probe.bin".to_string(),
                interval: Duration::from_secs(300),
                timeout: Duration::from_secs(10),
                readmit: None,
            },
            policy: Policy::Rank,
            redirect: Redirect::default(),
            listener: accept::ListenerConfig::new(4096),
            probe_trust: Trust::default(),
            source: None,
            access_log: None,
        }
    }
}

/// Why `--readmit`, `--rise` and `--fall` do not go together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadmitFlagsError {
    /// `--rise` or `--fall` without `--readmit`.
    WithoutReadmit,
    /// `--rise 0` or `--fall 0`.
    Zero,
}

impl fmt::Display for ReadmitFlagsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReadmitFlagsError::WithoutReadmit => "--rise and --fall need --readmit",
            ReadmitFlagsError::Zero => "--rise and --fall must be at least 1",
        })
    }
}

impl std::error::Error for ReadmitFlagsError {}

/// The re-admission settings from the `--readmit`, `--rise` and `--fall` flags: `None` without
/// `--readmit`; `--rise` and `--fall` need it and must be at least 1 (defaults 2 and 1).
pub fn readmit_from_flags(
    readmit: bool,
    rise: Option<u32>,
    fall: Option<u32>,
) -> Result<Option<Readmit>, ReadmitFlagsError> {
    if !readmit {
        return match (rise, fall) {
            (None, None) => Ok(None),
            _ => Err(ReadmitFlagsError::WithoutReadmit),
        };
    }
    let defaults = Readmit::default();
    let readmit = Readmit {
        rise: rise.unwrap_or(defaults.rise),
        fall: fall.unwrap_or(defaults.fall),
    };
    if readmit.rise == 0 || readmit.fall == 0 {
        return Err(ReadmitFlagsError::Zero);
    }
    Ok(Some(readmit))
}

/// Why the balancer could not start serving.
#[derive(Debug)]
pub enum StartError {
    /// The probe path does not make a URL with the servers.
    BadProbePath(UrlError),
    /// No server was given.
    NoServers,
    /// Every server failed its first probe.
    NoServerPassed,
    /// A `--probe-cacert` file cannot be used.
    ProbeCaFile(CertError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::BadProbePath(e) => write!(f, "bad probe path: {e}"),
            StartError::NoServers => f.write_str("no server given"),
            StartError::NoServerPassed => {
                f.write_str("no server passed the first probe: nothing to redirect to")
            }
            StartError::ProbeCaFile(e) => write!(f, "--probe-cacert: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

impl StartError {
    /// The exit code of a binary that could not start for this reason.
    pub fn exit(&self) -> Exit {
        match self {
            StartError::BadProbePath(_) | StartError::NoServers => Exit::Usage,
            StartError::NoServerPassed => Exit::NoServer,
            StartError::ProbeCaFile(_) => Exit::LocalFile,
        }
    }
}

/// Why the `balancer` binary stopped before serving, each with its exit code.
#[derive(Debug)]
pub enum LaunchError {
    /// `--readmit`, `--rise` and `--fall` do not go together.
    Readmit(ReadmitFlagsError),
    /// The server list could not be read, or has a bad entry.
    ServerList(LoadError),
    /// `--tls-cert` and `--tls-key` gave no acceptor.
    Tls(TlsFlagsError),
    /// The `--access-log` file cannot be opened.
    AccessLog(PathBuf, io::Error),
    /// An address cannot be listened on (`flag` names the flag other than `--listen`).
    Listen {
        /// The address asked for.
        addr: String,
        /// `Some("--admin")` for the admin listener.
        flag: Option<&'static str>,
        /// The OS error.
        error: io::Error,
    },
    /// The prober could not start, or no server passed its first probe.
    Start(StartError),
}

impl LaunchError {
    /// The exit code for this failure ([`Exit`]).
    pub fn exit(&self) -> Exit {
        match self {
            LaunchError::Readmit(_) | LaunchError::Tls(TlsFlagsError::Unpaired) => Exit::Usage,
            LaunchError::ServerList(e) => e.exit(),
            LaunchError::Tls(TlsFlagsError::Cert(_)) | LaunchError::AccessLog(..) => {
                Exit::LocalFile
            }
            LaunchError::Listen { .. } => Exit::Network,
            LaunchError::Start(e) => e.exit(),
        }
    }
}

impl fmt::Display for LaunchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LaunchError::Readmit(e) => e.fmt(f),
            LaunchError::ServerList(e) => e.fmt(f),
            LaunchError::Tls(e) => e.fmt(f),
            LaunchError::AccessLog(path, e) => {
                write!(f, "cannot open the access log {}: {e}", path.display())
            }
            LaunchError::Listen {
                addr,
                flag: None,
                error,
            } => write!(f, "cannot listen on {addr}: {error}"),
            LaunchError::Listen {
                addr,
                flag: Some(flag),
                error,
            } => write!(f, "cannot listen on {addr} ({flag}): {error}"),
            LaunchError::Start(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LaunchError {}
