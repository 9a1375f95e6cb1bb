//! Reloads of the server list: the handle that asks the prober for one, and why one was
//! refused.

use crate::balancer::prober::Input;
use crate::balancer::servers::LoadError;
use futures::channel::{mpsc, oneshot};
use ricochet_core::balance::balancer::Reloaded;
use ricochet_core::http::url::UrlError;
use std::fmt;

/// Why a reload was refused (the servers in force stay as they were).
#[derive(Debug)]
pub enum ReloadError {
    /// Nothing to re-read: the server list was not given by a file or arguments (the demo
    /// cluster).
    NoSource,
    /// The list could not be read or has a bad entry.
    Load(LoadError),
    /// A new server does not make a probe URL.
    ProbeUrl(UrlError),
    /// The prober is gone.
    Stopped,
}

impl fmt::Display for ReloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadError::NoSource => f.write_str("no --config to re-read"),
            ReloadError::Load(e) => write!(f, "{e}"),
            ReloadError::ProbeUrl(e) => write!(f, "bad probe URL: {e}"),
            ReloadError::Stopped => f.write_str("the prober has stopped"),
        }
    }
}

impl std::error::Error for ReloadError {}

/// A handle that asks the prober to re-read the server list (SIGHUP, the admin listener's
/// `POST /reload`). Cheap to clone; usable from any thread.
#[derive(Debug, Clone)]
pub struct Reloader {
    tx: mpsc::UnboundedSender<Input>,
}

impl Reloader {
    /// A handle sending its requests to the prober on `tx`.
    pub(super) fn new(tx: mpsc::UnboundedSender<Input>) -> Reloader {
        Reloader { tx }
    }

    /// Ask for a reload and return at once. The prober logs the outcome.
    pub fn request_reload(&self) {
        let _ = self.tx.unbounded_send(Input::Reload(None));
    }

    /// Ask for a reload and wait for its outcome (also logged by the prober).
    pub async fn reload(&self) -> Result<Reloaded, ReloadError> {
        let (tx, rx) = oneshot::channel();
        if self.tx.unbounded_send(Input::Reload(Some(tx))).is_err() {
            return Err(ReloadError::Stopped);
        }
        rx.await.unwrap_or(Err(ReloadError::Stopped))
    }
}
