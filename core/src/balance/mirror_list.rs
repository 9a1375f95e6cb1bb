//! What the file index shows: one path's state on every server and the origin (the mirror
//! list, `GET /PATH?mirrorlist`), and the counts for the admin page and `/metrics`. Built by
//! [`crate::balance::file_index::FileIndex::mirror_list`] and
//! [`crate::balance::file_index::FileIndex::counters`].

use crate::balance::file_check::{CheckFailure, FileHead, Presence};
use std::time::Instant;

/// Counts for the admin page and `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileCounters {
    /// Server checks that showed the current copy.
    pub has: u64,
    /// Server checks answered with another status than 200.
    pub lacks: u64,
    /// Server checks that showed another version.
    pub other_version: u64,
    /// Server checks that failed (timeout, error), or whose origin answer did not come.
    pub unknown: u64,
    /// Checks of the origin, whatever their outcome.
    pub origin_checks: u64,
    /// Re-checks made due by client reports.
    pub report_rechecks: u64,
    /// Paths remembered now.
    pub entries: usize,
    /// Paths forgotten to stay within the capacity.
    pub evictions: u64,
    /// Checks handed out and not answered yet.
    pub in_flight: usize,
    /// Check answers not shared with the other processes (`--workers`, `--state`) because a
    /// link's queue was full (the other processes then check for themselves).
    pub news_dropped: u64,
}

/// Where one target stands for one path, as a snapshot for the mirror list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyState {
    /// Where it stands now (an expired answer is [`Presence::Unknown`]; for the origin,
    /// [`Presence::Has`] or [`Presence::Lacks`]).
    pub presence: Presence,
    /// Its last answer, fresh or not.
    pub head: Option<FileHead>,
    /// Why its last check failed, if it did.
    pub failure: Option<CheckFailure>,
    /// When its last answer (or failure) came in.
    pub checked: Option<Instant>,
    /// A check of it is queued or running.
    pub checking: bool,
}

/// One server's row in a [`MirrorList`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCopy {
    /// Index in the pool.
    pub server: usize,
    /// In the ranking (not removed, not waiting for its first probe).
    pub live: bool,
    /// What the index knows.
    pub state: CopyState,
}

/// Every server's state for one path, and the origin's: what `GET /PATH?mirrorlist` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorList {
    /// The origin's state, when one is configured.
    pub origin: Option<CopyState>,
    /// Every server of the pool, by index.
    pub servers: Vec<ServerCopy>,
}
