//! The balancer's settings (from the command line or the demo cluster), the re-admission
//! flags, and why it could not start (each reason with its exit code).

use crate::balancer::files::Files;
use crate::balancer::servers::{LoadError, ServerSource};
use crate::cli::exit::Exit;
use crate::runtime::accept;
use crate::runtime::access_log::AccessLog;
use crate::runtime::tls::{CertError, TlsFlagsError, Trust};
use ricochet_core::balance::balancer::ProbeConfig;
use ricochet_core::balance::file_index::FileIndexConfig;
use ricochet_core::balance::pool::{Policy, ServerAddr};
use ricochet_core::balance::probe::Readmit;
use ricochet_core::balance::redirect::Redirect;
use ricochet_core::http::url::UrlError;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
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
    /// The file checks of `--verify-files`, shared by every connection and the admin
    /// listener (`None`: off, every live server is taken to hold every file).
    pub files: Option<Arc<Files>>,
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
            files: None,
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

/// Why the `--verify-files` flags do not go together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileFlagsError {
    /// A flag that tunes the file checks (named) without `--verify-files`.
    WithoutVerify(&'static str),
    /// `--file-cache 0`.
    NoCache,
    /// `--verify-timeout`, `--file-ttl` or `--miss-ttl` (named) of zero.
    Zero(&'static str),
    /// `--origin` is not an `http://` or `https://` URL (what was given, and why).
    Origin(String, String),
}

impl fmt::Display for FileFlagsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileFlagsError::WithoutVerify(flag) => write!(f, "{flag} needs --verify-files"),
            FileFlagsError::NoCache => f.write_str("--file-cache must be at least 1"),
            FileFlagsError::Zero(flag) => write!(f, "{flag} must be more than 0"),
            FileFlagsError::Origin(given, why) => write!(
                f,
                "--origin '{given}' is not an http:// or https:// URL: {why}"
            ),
        }
    }
}

impl std::error::Error for FileFlagsError {}

/// The `--verify-files` flags as given (`None`: not given).
#[derive(Debug, Clone, Default)]
pub struct FileFlags {
    /// `--verify-files`.
    pub verify: bool,
    /// `--origin URL`.
    pub origin: Option<String>,
    /// `--mtime-slack`.
    pub mtime_slack: Option<Duration>,
    /// `--file-ttl`.
    pub file_ttl: Option<Duration>,
    /// `--miss-ttl`.
    pub miss_ttl: Option<Duration>,
    /// `--verify-timeout`.
    pub verify_timeout: Option<Duration>,
    /// `--file-cache ENTRIES`.
    pub file_cache: Option<usize>,
    /// `--links K`: how many other servers a redirect's `Link` headers may name, and so how
    /// many the index checks ahead ([`FileIndexConfig::look_ahead`]).
    pub links: u32,
}

impl FileFlags {
    /// The index settings and the origin, or `None` without `--verify-files` (then no other
    /// of these flags may be given). Defaults: [`FileIndexConfig::default`].
    pub fn settings(
        &self,
    ) -> Result<Option<(FileIndexConfig, Option<ServerAddr>)>, FileFlagsError> {
        let given = [
            ("--origin", self.origin.is_some()),
            ("--mtime-slack", self.mtime_slack.is_some()),
            ("--file-ttl", self.file_ttl.is_some()),
            ("--miss-ttl", self.miss_ttl.is_some()),
            ("--verify-timeout", self.verify_timeout.is_some()),
            ("--file-cache", self.file_cache.is_some()),
        ];
        if !self.verify {
            return match given.iter().find(|(_, given)| *given) {
                Some((flag, _)) => Err(FileFlagsError::WithoutVerify(flag)),
                None => Ok(None),
            };
        }
        let defaults = FileIndexConfig::default();
        let config = FileIndexConfig {
            origin: self.origin.is_some(),
            file_ttl: self.file_ttl.unwrap_or(defaults.file_ttl),
            miss_ttl: self.miss_ttl.unwrap_or(defaults.miss_ttl),
            mtime_slack: self.mtime_slack.unwrap_or(defaults.mtime_slack),
            capacity: self.file_cache.unwrap_or(defaults.capacity),
            verify_timeout: self.verify_timeout.unwrap_or(defaults.verify_timeout),
            retry_after: defaults.retry_after,
            look_ahead: self.links as usize,
        };
        if config.capacity == 0 {
            return Err(FileFlagsError::NoCache);
        }
        for (flag, value) in [
            ("--verify-timeout", config.verify_timeout),
            ("--file-ttl", config.file_ttl),
            ("--miss-ttl", config.miss_ttl),
        ] {
            if value.is_zero() {
                return Err(FileFlagsError::Zero(flag));
            }
        }
        let origin = match &self.origin {
            None => None,
            Some(url) => Some(parse_origin(url)?),
        };
        Ok(Some((config, origin)))
    }
}

/// An `http://` or `https://` URL, as a server entry (its path is the prefix of every path).
fn parse_origin(url: &str) -> Result<ServerAddr, FileFlagsError> {
    let error = |why: String| FileFlagsError::Origin(url.to_string(), why);
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("http" | "https")) {
        return Err(error("it must start with http:// or https://".into()));
    }
    ServerAddr::parse(url).map_err(|e| error(e.to_string()))
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
    /// The `--verify-files` flags do not go together, or `--origin` is not a URL.
    Files(FileFlagsError),
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
            LaunchError::Readmit(_)
            | LaunchError::Files(_)
            | LaunchError::Tls(TlsFlagsError::Unpaired) => Exit::Usage,
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
            LaunchError::Files(e) => e.fmt(f),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_flags_need_verify_files_and_sensible_values() {
        assert_eq!(FileFlags::default().settings(), Ok(None));
        let without = FileFlags {
            file_ttl: Some(Duration::from_secs(1)),
            ..FileFlags::default()
        };
        assert_eq!(
            without.settings(),
            Err(FileFlagsError::WithoutVerify("--file-ttl"))
        );
        let on = FileFlags {
            verify: true,
            ..FileFlags::default()
        };
        let (config, origin) = on.settings().unwrap().unwrap();
        assert_eq!((config, origin), (FileIndexConfig::default(), None));
        let cache0 = FileFlags {
            file_cache: Some(0),
            ..on.clone()
        };
        assert_eq!(cache0.settings(), Err(FileFlagsError::NoCache));
        for bad in ["127.0.0.1:80", "ftp://x/", "http://"] {
            let flags = FileFlags {
                origin: Some(bad.into()),
                ..on.clone()
            };
            assert!(
                matches!(flags.settings(), Err(FileFlagsError::Origin(..))),
                "{bad}"
            );
        }
        let flags = FileFlags {
            origin: Some("https://origin.example/pub/".into()),
            ..on
        };
        let (config, origin) = flags.settings().unwrap().unwrap();
        assert!(config.origin);
        assert_eq!(origin.unwrap().base_url(), "https://origin.example:443/pub");
    }
}
