//! Where the balancer's server list comes from: the `--config` file's lines, then the SERVER
//! arguments, read at start and again on every reload. Parsing and the checks (malformed or
//! duplicate entries, named by line or argument) are the core's [`ServerList`]; this module
//! only reads the file.

use crate::cli::exit::Exit;
use ricochet_core::balance::pool::{ServerAddr, ServerList, ServerListError};
use std::fmt;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

/// The config file and the arguments a server list is read from.
#[derive(Debug, Clone, Default)]
pub struct ServerSource {
    /// The `--config` file, if any.
    pub config: Option<PathBuf>,
    /// The SERVER arguments, in order.
    pub arguments: Vec<String>,
}

/// Why a server list could not be read. Displayed as one line naming the file and the line
/// (or the argument) at fault.
#[derive(Debug)]
pub enum LoadError {
    /// The config file could not be read (at this line, if it broke off in the middle).
    File {
        /// The file.
        path: PathBuf,
        /// The line being read, if any had been.
        line: Option<usize>,
        /// The OS error.
        error: io::Error,
    },
    /// A malformed or duplicate entry; `path` is the config file's when it came from there.
    Entry {
        /// The config file, for an entry from it.
        path: Option<PathBuf>,
        /// What is wrong, with the line or argument number.
        error: ServerListError,
    },
    /// Neither the file nor the arguments list a server.
    Empty,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::File {
                path,
                line: None,
                error,
            } => write!(f, "cannot read {}: {error}", path.display()),
            LoadError::File {
                path,
                line: Some(n),
                error,
            } => write!(f, "{}: line {n}: {error}", path.display()),
            LoadError::Entry {
                path: Some(path),
                error,
            } => write!(f, "{}: {error}", path.display()),
            LoadError::Entry { path: None, error } => write!(f, "{error}"),
            LoadError::Empty => {
                f.write_str("no server given: pass host:port arguments or --config FILE")
            }
        }
    }
}

impl std::error::Error for LoadError {}

impl LoadError {
    /// The exit code of a binary whose server list failed this way: an unreadable file is
    /// [`Exit::LocalFile`], a bad or missing entry [`Exit::Usage`].
    pub fn exit(&self) -> Exit {
        match self {
            LoadError::File { .. } => Exit::LocalFile,
            LoadError::Entry { .. } | LoadError::Empty => Exit::Usage,
        }
    }
}

impl ServerSource {
    /// Read the list: the config file's servers first, then the arguments (the order only
    /// matters for ties). All or nothing: the first bad entry fails the whole list.
    pub fn load(&self) -> Result<Vec<ServerAddr>, LoadError> {
        let mut list = ServerList::new();
        if let Some(path) = &self.config {
            read_config(path, &mut list)?;
        }
        for server in &self.arguments {
            list.add_argument(server)
                .map_err(|error| LoadError::Entry { path: None, error })?;
        }
        if list.is_empty() {
            return Err(LoadError::Empty);
        }
        Ok(list.into_servers())
    }
}

fn read_config(path: &Path, list: &mut ServerList) -> Result<(), LoadError> {
    let file_error = |line, error| LoadError::File {
        path: path.to_path_buf(),
        line,
        error,
    };
    let file = std::fs::File::open(path).map_err(|e| file_error(None, e))?;
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| file_error(Some(i + 1), e))?;
        list.add_config_line(i + 1, &line)
            .map_err(|error| LoadError::Entry {
                path: Some(path.to_path_buf()),
                error,
            })?;
    }
    Ok(())
}
