//! Several balancer processes sharing one prober: the links that carry the core's
//! [`shared`](ricochet_core::balance::shared) messages between them.
//!
//! - [`workers`]: `--workers N` on one machine. The first process probes; each worker is
//!   linked to it by a Unix socket pair made before the fork, gets every new board within
//!   milliseconds, and sends back client reports, reloaded lists and its counters.
//! - [`redis`]: `--state redis://HOST:PORT/DB` across machines. The holder of a lease key in
//!   Redis probes and publishes its board; the others follow it; with Redis unreachable, each
//!   probes on its own.
//!
//! Each link runs on threads of its own with blocking I/O and hands what it receives to the
//! prober's input channel; the prober hands it lines to send without waiting
//! ([`Peer::send`]). Nothing on a connection's path touches a link.

pub mod redis;
pub mod workers;

use ricochet_core::balance::shared::Message;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;

/// File check answers ([`Message::File`]) received and not yet handled by the prober, at most:
/// more are dropped (and counted) rather than queued, so a burst of new paths on other
/// processes never builds an unbounded queue here. The process then checks for itself.
const MAX_QUEUED_FILE_NEWS: usize = 1024;

static QUEUED_FILE_NEWS: AtomicUsize = AtomicUsize::new(0);
static DROPPED_FILE_NEWS: AtomicU64 = AtomicU64::new(0);

/// Whether `message`, received, may go to the prober: anything but a file check answer, and
/// those while fewer than [`MAX_QUEUED_FILE_NEWS`] wait. The prober calls [`handled`] for each
/// file check answer it takes.
pub(crate) fn admit(message: &Message) -> bool {
    if !matches!(message, Message::File(_)) {
        return true;
    }
    if QUEUED_FILE_NEWS.fetch_add(1, Ordering::Relaxed) < MAX_QUEUED_FILE_NEWS {
        return true;
    }
    QUEUED_FILE_NEWS.fetch_sub(1, Ordering::Relaxed);
    let n = DROPPED_FILE_NEWS.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_power_of_two() {
        log::warn!("{n} file check answers from other balancers dropped so far: too many at once");
    }
    false
}

/// The prober took a file check answer [`admit`] let through.
pub(crate) fn handled(message: &Message) {
    if matches!(message, Message::File(_)) {
        QUEUED_FILE_NEWS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Lines waiting for a link at most; more are dropped (a board is sent again on its next
/// change, and every prober round changes it).
const MAX_QUEUED_LINES: usize = 256;

/// Where a shared message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A worker of this process (over its socket pair).
    Worker,
    /// The process this one follows: its first process, or Redis.
    Upstream,
}

/// The sending side of a link: lines queued for its writer thread. Never waits.
#[derive(Debug, Clone)]
pub struct Peer {
    tx: mpsc::SyncSender<String>,
}

impl Peer {
    /// A peer whose writer takes lines from the returned receiver.
    pub(crate) fn channel() -> (Peer, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::sync_channel(MAX_QUEUED_LINES);
        (Peer { tx }, rx)
    }

    /// Queue `line` (without its newline); dropped when the link is gone or too far behind.
    /// Returns false when it was dropped because the link is behind.
    pub fn send(&self, line: String) -> bool {
        if let Err(mpsc::TrySendError::Full(_)) = self.tx.try_send(line) {
            log::debug!("a shared-state link is behind: a message was dropped");
            return false;
        }
        true
    }
}

/// Read one line of at most `max` bytes (without its newline) into `line`; `Ok(false)` at the
/// end of the stream. A longer line is an error: the peer is not one of ours.
pub(crate) fn read_line(
    reader: &mut impl std::io::BufRead,
    line: &mut String,
    max: u64,
) -> std::io::Result<bool> {
    use std::io::{BufRead, Read};
    line.clear();
    let n = reader.take(max).read_line(line)?;
    if n == 0 {
        return Ok(false);
    }
    if !line.ends_with('\n') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "shared-state line too long or cut",
        ));
    }
    line.pop();
    Ok(true)
}

/// Longest shared-state line read: a board of about 40,000 servers.
pub(crate) const MAX_LINE: u64 = 4 << 20;
