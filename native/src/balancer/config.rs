//! The balancer's settings (from the command line or the demo cluster), the re-admission
//! flags, and why it could not start.

use crate::balancer::servers::ServerSource;
use crate::runtime::accept;
use crate::runtime::access_log::AccessLog;
use crate::tls::{CertError, Trust};
use ricochet_core::balance::balancer::ProbeConfig;
use ricochet_core::balance::pool::{Policy, ServerAddr};
use ricochet_core::balance::probe::Readmit;
use ricochet_core::balance::redirect::Redirect;
use ricochet_core::http::url::UrlError;
use std::fmt;
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

/// The re-admission settings from the `--readmit`, `--rise` and `--fall` flags: `None` without
/// `--readmit`; `--rise` and `--fall` need it and must be at least 1 (defaults 2 and 1).
pub fn readmit_from_flags(
    readmit: bool,
    rise: Option<u32>,
    fall: Option<u32>,
) -> Result<Option<Readmit>, String> {
    if !readmit {
        return match (rise, fall) {
            (None, None) => Ok(None),
            _ => Err("--rise and --fall need --readmit".into()),
        };
    }
    let defaults = Readmit::default();
    let readmit = Readmit {
        rise: rise.unwrap_or(defaults.rise),
        fall: fall.unwrap_or(defaults.fall),
    };
    if readmit.rise == 0 || readmit.fall == 0 {
        return Err("--rise and --fall must be at least 1".into());
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
