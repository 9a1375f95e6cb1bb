//! `--verify-files`: the core's [`FileIndex`] shared by every connection, the checks it asks
//! for, and the requests waiting on them.
//!
//! - The index lives behind one mutex, held only to poll a request's [`PickRequest`], hand in
//!   a check result or a timeout, or take a snapshot: never across an await.
//! - After every poll the checks the index hands out ([`FileIndex::poll_check`]) are spawned,
//!   one task each ([`Checker::head`]: kept-alive connections, a few checks per server at
//!   once); a result is handed to [`FileIndex::handle_check`] and
//!   wakes every waiting request ([`Notify`]), which polls again. Requests never busy-poll.
//! - One timer task sleeps until [`FileIndex::poll_timeout`] and hands in timeouts (each check
//!   also gives up by itself after the verify timeout: the timer only guards against a check
//!   that never reports).
//! - With `--workers` or `--state`, every answer a check of this process gets is sent to the
//!   other processes ([`Files::share_with`]), and theirs are recorded here as if this process
//!   had checked ([`Files::handle_news`]): one `HEAD` per (server, path) per TTL for all of
//!   them. Sending never waits: a line that finds its link's queue full is dropped and counted.

use crate::balancer::check::Checker;
use crate::balancer::published::Published;
use crate::balancer::state::Peer;
use crate::runtime;
use crate::runtime::exchange::TlsClient;
use crate::runtime::notify::Notify;
use crate::runtime::tls::Trust;
use ricochet_core::balance::file_check::{CheckJob, Target};
use ricochet_core::balance::file_index::DIGEST_RETRY;
use ricochet_core::balance::file_index::{FileIndex, FileIndexConfig};
use ricochet_core::balance::file_pick::{PickRequest, PickStep};
use ricochet_core::balance::mirror_list::{FileCounters, MirrorList};
use ricochet_core::balance::mirror_meta::{self, FileMeta};
use ricochet_core::balance::pool::{Ranking, ServerAddr};
use ricochet_core::balance::redirect::Answer;
use ricochet_core::balance::shared::{FileNews, Message};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Instant, SystemTime};

/// The file checks of `--verify-files`, shared by every connection. See the module docs.
pub struct Files {
    index: Mutex<FileIndex>,
    /// Moves on whenever a check result or timeout was handed in: waiting requests poll again.
    results: Notify,
    /// Moves on whenever checks were started: the timer task looks at the new deadlines.
    started: Notify,
    timer_running: AtomicBool,
    origin: Option<ServerAddr>,
    checker: Checker,
    /// This process's name and the links its answers go to ([`Files::share_with`]).
    sharing: OnceLock<(String, Vec<Peer>)>,
    /// Answers not sent or not passed on because a link's queue was full.
    dropped: AtomicU64,
}

impl fmt::Debug for Files {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Without the index: printing must never wait for its lock.
        f.debug_struct("Files")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Files {
    /// Checks judged by `config` (its `origin` is set from `origin`), checking `https://`
    /// servers with `trust`.
    pub fn new(mut config: FileIndexConfig, origin: Option<ServerAddr>, trust: Trust) -> Files {
        config.origin = origin.is_some();
        Files {
            index: Mutex::new(FileIndex::new(config)),
            results: Notify::new(),
            started: Notify::new(),
            timer_running: AtomicBool::new(false),
            origin,
            checker: Checker::new(TlsClient::new(trust)),
            sharing: OnceLock::new(),
            dropped: AtomicU64::new(0),
        }
    }

    /// Send every answer this process's checks get to `peers`, as `id`. Set once.
    pub fn share_with(&self, id: String, peers: Vec<Peer>) {
        if !peers.is_empty() {
            let _ = self.sharing.set((id, peers));
        }
    }

    /// Queue `line` on each of `peers`, counting those dropped.
    pub fn forward(&self, line: &str, peers: &[Peer]) {
        for peer in peers {
            if !peer.send(line.to_string()) {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    log::warn!("{n} file check answers not shared so far: a link is behind");
                }
            }
        }
    }

    /// Answers not shared because a link's queue was full, so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// An answer another process got: recorded as if this process had checked (its age kept,
    /// as far as the two clocks agree; one older than the file TTL is ignored), and the
    /// waiting requests poll again. The server is found by its entry in `published`'s
    /// snapshot (indices may differ between instances).
    pub fn handle_news(&self, news: FileNews, published: &Published) {
        let target = match &news.server {
            None => Target::Origin,
            Some(server) => {
                let snapshot = published.snapshot();
                let found = snapshot
                    .as_ref()
                    .and_then(|s| s.servers.iter().find(|s| s.server == *server))
                    .map(|s| s.index);
                match found {
                    Some(index) => Target::Server(index),
                    None => return,
                }
            }
        };
        let age = SystemTime::now()
            .duration_since(news.checked)
            .unwrap_or_default();
        let now = Instant::now();
        let recorded = {
            let mut index = self.lock();
            if age > index.config().file_ttl {
                return;
            }
            let at = now.checked_sub(age).unwrap_or(now);
            index.handle_shared(target, &news.path, news.head, at)
        };
        if recorded {
            self.results.notify_all();
        }
    }

    /// The origin, if one is configured.
    pub fn origin(&self) -> Option<&ServerAddr> {
        self.origin.as_ref()
    }

    /// The counts for the admin page and `/metrics`.
    pub fn counters(&self) -> FileCounters {
        FileCounters {
            news_dropped: self.dropped(),
            ..self.lock().counters()
        }
    }

    /// What is known of `path` on servers `0..servers` (live ones are `ranking`'s).
    pub fn mirror_list(&self, path: &str, ranking: &Ranking, servers: usize) -> MirrorList {
        self.lock()
            .mirror_list(path, ranking, servers, Instant::now())
    }

    /// Poll `pick` once, first handing in the client's report that `missing` lacks the file;
    /// start the checks the index hands out. Returns the step and, for [`PickStep::Wait`], the
    /// generation to pass to [`Files::wait`].
    pub fn poll(
        self: &Arc<Self>,
        pick: &mut PickRequest<'_>,
        missing: Option<usize>,
        ranking: &Ranking,
        published: &Published,
    ) -> (PickStep, u64) {
        let mut jobs = Vec::new();
        let (step, generation) = {
            let now = Instant::now();
            let mut index = self.lock();
            if let Some(server) = missing {
                if index.handle_missing_report(server, pick.path(), now) {
                    log::info!(
                        "a client reports server {server} lacks {}: re-checking",
                        pick.path()
                    );
                }
            }
            let step = pick.poll(&mut index, ranking, &mut rand::rng(), now);
            while let Some(job) = index.poll_check(now) {
                jobs.push(job);
            }
            (step, self.results.generation())
        };
        if !jobs.is_empty() {
            self.start(jobs, published);
        }
        (step, generation)
    }

    /// Wait until a check result or timeout came in after `generation` was read.
    pub async fn wait(&self, generation: u64) {
        self.results.changed(generation).await
    }

    /// Spawn one task per check, and the timer task if it is not running yet.
    fn start(self: &Arc<Self>, jobs: Vec<CheckJob>, published: &Published) {
        let snapshot = published.snapshot();
        for job in jobs {
            let target = match job.target() {
                Target::Origin => self.origin.clone(),
                Target::Server(i) => snapshot
                    .as_ref()
                    .and_then(|s| s.servers.iter().find(|s| s.index == i))
                    .map(|s| s.server.clone()),
            };
            let files = Arc::clone(self);
            runtime::spawn(async move { files.run(job, target).await });
        }
        self.started.notify_all();
        if !self.timer_running.swap(true, Ordering::SeqCst) {
            let files = Arc::clone(self);
            runtime::spawn(async move { files.run_timer().await });
        }
    }

    /// Run one check and hand its result in.
    async fn run(&self, job: CheckJob, target: Option<ServerAddr>) {
        let timeout = self.lock().config().verify_timeout;
        let result = match &target {
            Some(server) => self.checker.head(server, job.path(), timeout).await,
            // Dropped by a reload meanwhile: nothing to ask.
            None => Err(ricochet_core::balance::file_check::CheckFailure::Error),
        };
        if let Some(server) = &target {
            match &result {
                Ok(head) => log::debug!("checked {server}{}: {}", job.path(), head.status),
                Err(failure) => log::info!("check of {server}{}: {failure}", job.path()),
            }
        }
        let share = self
            .sharing
            .get()
            .zip(target.as_ref())
            .and_then(|(sharing, server)| {
                let head = result.as_ref().ok()?.clone();
                let server = match job.target() {
                    Target::Origin => None,
                    Target::Server(_) => Some(server.clone()),
                };
                Some((sharing, server, head))
            });
        let recorded = self.lock().handle_check(&job, result, Instant::now());
        // Sent before the waiting requests answer: the next request, whichever process it
        // reaches, most likely finds the answer there.
        if let (true, Some(((id, peers), server, head))) = (recorded, share) {
            let news = FileNews {
                server,
                path: job.path().to_string(),
                head,
                checked: SystemTime::now(),
            };
            self.forward(&Message::File(news).encode(id), peers);
        }
        self.results.notify_all();
    }

    /// Hand in timeouts as the index's deadlines pass; sleep until checks start when none runs.
    async fn run_timer(&self) {
        loop {
            let (deadline, generation) = (self.lock().poll_timeout(), self.started.generation());
            match deadline {
                None => self.started.changed(generation).await,
                Some(deadline) => {
                    runtime::sleep(deadline.saturating_duration_since(Instant::now())).await;
                    let now = Instant::now();
                    let timed_out = {
                        let mut index = self.lock();
                        let before = index.counters().in_flight;
                        index.handle_timeout(now);
                        index.counters().in_flight < before
                    };
                    if timed_out {
                        self.results.notify_all();
                    }
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, FileIndex> {
        // A panic elsewhere while holding it leaves the index whole: carry on.
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The answer to `GET /PATH?sha256` or `?meta4` ([`mirror_meta`]) from what is known of `path`
/// on the live servers of `ranking`. With `--verify-files` (`files`) the checks the path needs
/// are started first (as a request for it would), not waited for: while the digest or a server
/// holding the file is still unknown the answer is 503 with `Retry-After` of
/// [`DIGEST_RETRY`].
pub fn answer_meta(
    files: Option<&Arc<Files>>,
    path: &str,
    asked: mirror_meta::Asked,
    ranking: &Ranking,
    published: &Published,
    keep_alive: bool,
    out: &mut Vec<u8>,
) -> Answer {
    let list = files.map(|files| {
        files.poll(&mut PickRequest::new(path), None, ranking, published);
        let servers = ranking.table().iter().map(|r| r.index + 1).max();
        files.mirror_list(path, ranking, servers.unwrap_or(0))
    });
    let meta = FileMeta::new(path, ranking, list.as_ref());
    let retry_after = DIGEST_RETRY.as_secs() as u32;
    let now = SystemTime::now();
    meta.answer(asked, files.is_some(), retry_after, keep_alive, now, out)
}
