//! The prober loop: it owns the core [`Balancer`], starts the probe downloads the core asks
//! for, feeds results, deadlines, client reports and reloads in, and logs and publishes what
//! comes out.
//!
//! Shared with other processes ([`Prober::share`]), it either probes and sends its board to
//! them, or follows the board of the process that probes: it then publishes rankings built
//! from that board, probes nothing, and passes client reports and reloaded lists to the
//! prober. With Redis the lease decides which, and may change it at any time.

use crate::balancer::config::{Config, StartError};
use crate::balancer::files::Files;
use crate::balancer::probe;
use crate::balancer::published::Published;
use crate::balancer::reload::{ReloadError, Reloader};
use crate::balancer::servers::ServerSource;
use crate::balancer::state::redis::RedisState;
use crate::balancer::state::{self, Peer, Source};
use crate::runtime;
use crate::runtime::exchange::TlsClient;
use futures::channel::{mpsc, oneshot};
use futures::StreamExt;
use ricochet_core::balance::admin::ProberInfo;
use ricochet_core::balance::balancer::{Balancer, Event, Reloaded};
use ricochet_core::balance::family::Family;
use ricochet_core::balance::pool::{Policy, Ranking, ServerAddr};
use ricochet_core::balance::rankings::Rankings;
use ricochet_core::balance::shared::{Board, Counts, Message};
use ricochet_core::balance::verdict::{Measurement, ProbeFailure};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A finished probe download.
#[derive(Debug)]
pub(super) struct Outcome {
    index: usize,
    family: Family,
    finished: Instant,
    result: Result<Measurement, ProbeFailure>,
}

/// What the prober waits for, besides its timer.
#[derive(Debug)]
pub(super) enum Input {
    /// A probe download finished.
    Probed(Outcome),
    /// A client could not reach this server.
    Unreachable(usize),
    /// Re-read the server list; the outcome goes back on the sender, if any.
    Reload(Option<oneshot::Sender<Result<Reloaded, ReloadError>>>),
    /// A message from another balancer process ([`state`]), and who sent it.
    Shared(Message, Source, String),
    /// A worker's counters so far, by its name.
    Counts(String, Counts),
    /// Probe (`true`) or follow the board from upstream (`false`): the Redis link's verdict.
    Lead(bool),
    /// A worker's time to send its counters to the first process.
    SendCounts,
    /// The first process closed its link: it ended (it takes its workers with it).
    UpstreamGone,
}

/// How often a worker sends its counters to the first process (for the admin totals).
const COUNTS_PERIOD: std::time::Duration = std::time::Duration::from_secs(1);

/// Drives the core [`Balancer`]: starts probe downloads, feeds results, timeouts, client
/// reports and reloads in, logs and publishes what comes out.
pub struct Prober {
    balancer: Balancer,
    /// TLS for probing `https://` servers (its session cache spans probe rounds).
    tls: Arc<TlsClient>,
    published: Arc<Published>,
    tx: mpsc::UnboundedSender<Input>,
    rx: mpsc::UnboundedReceiver<Input>,
    queued_reports: Arc<AtomicUsize>,
    source: Option<ServerSource>,
    /// The listener speaks TLS: say when its clients are sent to http:// servers.
    https: bool,
    policy: Policy,
    /// The rankings this process's own probes produced last.
    own: Rankings,
    /// Shared with other processes ([`Prober::share`]): none without `--workers` or `--state`.
    sharing: Sharing,
    /// `--verify-files`: check answers from other processes go in here.
    files: Option<Arc<Files>>,
}

/// Who this prober shares its state with, and whether it probes.
#[derive(Debug)]
struct Sharing {
    /// Probe (otherwise follow [`Sharing::board`]). Always, without an upstream.
    leading: bool,
    /// Told whether to lead (with Redis, by its first answer): until then, neither.
    decided: bool,
    /// This process's name in the messages it sends.
    id: String,
    /// The first process (for a worker), or Redis.
    upstream: Option<Peer>,
    /// The upstream is Redis: boards go up while leading, and counters stay here.
    redis: bool,
    /// This process's workers (in the first process).
    workers: Vec<Peer>,
    /// The board followed last.
    board: Option<Board>,
    /// The board line sent last (to workers, and up while leading).
    sent: Option<String>,
}

impl Sharing {
    fn none() -> Sharing {
        Sharing {
            leading: true,
            decided: true,
            id: String::new(),
            upstream: None,
            redis: false,
            workers: Vec::new(),
            board: None,
            sent: None,
        }
    }

    /// Other processes share this one's state (`--workers` above 1, or `--state`).
    fn active(&self) -> bool {
        self.upstream.is_some() || !self.workers.is_empty()
    }

    fn send_up(&self, message: &Message) {
        if let Some(up) = &self.upstream {
            up.send(message.encode(&self.id));
        }
    }

    /// Send `board`, the prober `from`'s, to the workers, and up if `up`, unless it is the
    /// one sent last.
    fn send_board(&mut self, board: Board, from: &str, up: bool) {
        if self.workers.is_empty() && !up {
            return;
        }
        let line = Message::Board(board).encode(from);
        if self.sent.as_deref() == Some(line.as_str()) {
            return;
        }
        for worker in &self.workers {
            worker.send(line.clone());
        }
        if up {
            if let Some(upstream) = &self.upstream {
                upstream.send(line.clone());
            }
        }
        self.sent = Some(line);
    }
}

/// ` over IPv6` after a server given by name (probed over both families); nothing after a
/// literal, which has one family only.
fn over(server: &ServerAddr, family: Family) -> String {
    if server.families().len() > 1 {
        format!(" over {family}")
    } else {
        String::new()
    }
}

impl Prober {
    /// A prober for `config`'s servers, all due for their first probe now.
    pub fn new(config: &Config) -> Result<Prober, StartError> {
        if config.servers.is_empty() {
            return Err(StartError::NoServers);
        }
        let balancer = Balancer::new(
            config.servers.clone(),
            &config.probe,
            config.policy,
            Instant::now(),
        )
        .map_err(StartError::BadProbePath)?;
        let tls = TlsClient::new(config.probe_trust.clone());
        if !config.probe_trust.ca_files.is_empty() {
            tls.connector().map_err(StartError::ProbeCaFile)?;
        }
        let (tx, rx) = mpsc::unbounded();
        let queued_reports = Arc::new(AtomicUsize::new(0));
        let published = Published::reporting_to(
            Rankings::empty(config.policy),
            tx.clone(),
            Arc::clone(&queued_reports),
        );
        published.set_snapshot(balancer.snapshot());
        Ok(Prober {
            tls: Arc::new(tls),
            balancer,
            published: Arc::new(published),
            tx,
            rx,
            queued_reports,
            source: config.source.clone(),
            https: config.listener.tls.is_some(),
            policy: config.policy,
            own: Rankings::empty(config.policy),
            sharing: Sharing::none(),
            files: config.files.clone(),
        })
    }

    /// Share this prober's state with the other processes: with `ends` of worker socket
    /// pairs ([`state::workers::fork`]), and, in the first process, through `redis`. A worker
    /// follows the first process; with Redis, the lease decides whether this process probes.
    /// `id` names this process in what it sends.
    pub fn share(
        &mut self,
        ends: state::workers::Ends,
        redis: Option<&RedisState>,
        id: String,
    ) -> std::io::Result<()> {
        let worker = matches!(ends, state::workers::Ends::Worker(_));
        let (upstream, workers) = state::workers::start(ends, &self.tx)?;
        self.sharing.id = id;
        self.sharing.workers = workers;
        if worker {
            self.sharing.upstream = upstream;
            self.sharing.leading = false;
            let tx = self.tx.clone();
            runtime::spawn(async move {
                loop {
                    runtime::sleep(COUNTS_PERIOD).await;
                    if tx.unbounded_send(Input::SendCounts).is_err() {
                        return;
                    }
                }
            });
        } else if let Some(redis) = redis {
            // Until the lease says otherwise, nobody is known to probe.
            self.sharing.upstream = Some(redis.start(self.sharing.id.clone(), &self.tx)?);
            self.sharing.redis = true;
            self.sharing.leading = false;
            self.sharing.decided = false;
        }
        if let Some(files) = &self.files {
            // A worker's answers go to the first process, which passes them on; the first
            // process's go to its workers and to Redis.
            let peers = self.sharing.upstream.iter().chain(&self.sharing.workers);
            files.share_with(self.sharing.id.clone(), peers.cloned().collect());
        }
        if self.sharing.leading && !self.sharing.workers.is_empty() {
            self.published.set_prober(ProberInfo {
                instance: self.sharing.id.clone(),
                this: true,
            });
        }
        Ok(())
    }

    /// This process probes (rather than following another's board).
    pub fn leading(&self) -> bool {
        self.sharing.leading
    }

    /// The shared ranking and status this prober publishes into.
    pub fn published(&self) -> &Arc<Published> {
        &self.published
    }

    /// A handle to ask this prober for reloads.
    pub fn reloader(&self) -> Reloader {
        Reloader::new(self.tx.clone())
    }

    /// Start every probe the core says is due (none while following another prober).
    fn start_due(&mut self) {
        if !self.sharing.leading {
            return;
        }
        let now = Instant::now();
        while let Some(job) = self.balancer.poll_probe(now) {
            log::debug!("probing {} over {}", job.url, job.family);
            let tx = self.tx.clone();
            let tls = Arc::clone(&self.tls);
            runtime::spawn(async move {
                let result = probe::probe(&job.url, job.family, &tls, job.deadline).await;
                let outcome = Outcome {
                    index: job.index,
                    family: job.family,
                    finished: Instant::now(),
                    result,
                };
                // The receiver lives as long as the prober; if it is gone, nobody cares.
                let _ = tx.unbounded_send(Input::Probed(outcome));
            });
        }
    }

    /// Drain the core's events: log each, and publish new rankings before logging them.
    fn poll_events(&mut self) {
        while let Some(event) = self.balancer.poll_event() {
            match event {
                Event::Removed {
                    server,
                    family,
                    failure,
                    rechecking: false,
                    ..
                } => log::warn!(
                    "removed {server}{}: {failure}; it gets no more redirects{}",
                    over(&server, family),
                    over(&server, family),
                ),
                Event::Removed {
                    server,
                    family,
                    failure,
                    rechecking: true,
                    ..
                } => log::warn!(
                    "removed {server}{}: {failure}; re-checking it",
                    over(&server, family)
                ),
                Event::Failed {
                    server,
                    family,
                    failure,
                    failures,
                    ..
                } => log::info!(
                    "probe of {server}{} failed ({failures} in a row): {failure}",
                    over(&server, family)
                ),
                Event::Passed {
                    server,
                    family,
                    passes,
                    rise,
                    ..
                } => log::info!(
                    "{server} passed a re-check{} ({passes} of {rise})",
                    over(&server, family)
                ),
                Event::Admitted { server, family, .. } => {
                    log::info!(
                        "{server} is live{}: it gets redirects",
                        over(&server, family)
                    )
                }
                Event::Ranking(rankings) => {
                    // Logged once live, so whoever reads the log line can rely on it.
                    let table = rankings.to_string();
                    let empty = rankings.is_empty();
                    let downgrade = rankings.https_falls_back();
                    if self.sharing.active() {
                        self.own = rankings.clone();
                    }
                    if !self.sharing.leading {
                        continue;
                    }
                    self.published.publish(rankings);
                    log::info!("new ranking:\n{table}");
                    if empty && self.balancer.first_round_complete() {
                        log::error!("no live server: answering 503 until one passes a probe");
                    }
                    if downgrade && self.https {
                        log::debug!(
                            "no https:// server is live: clients of this HTTPS listener are \
                             sent to http:// servers"
                        );
                    }
                }
            }
        }
    }

    fn handle_input(&mut self, input: Input) {
        match input {
            Input::Probed(outcome) => self.balancer.handle_probe_result(
                outcome.index,
                outcome.family,
                outcome.finished,
                outcome.result,
            ),
            Input::Unreachable(index) => {
                self.queued_reports.fetch_sub(1, Ordering::Relaxed);
                if !self.sharing.leading {
                    let board = self.sharing.board.as_ref();
                    if let Some(server) = board.and_then(|b| b.server(index)) {
                        log::info!(
                            "a client could not reach {server}: asking the prober to verify it"
                        );
                        self.sharing.send_up(&Message::Unreachable(server.clone()));
                    }
                } else if self.balancer.handle_unreachable(index, Instant::now()) {
                    let snapshot = self.balancer.snapshot();
                    if let Some(s) = snapshot.servers.iter().find(|s| s.index == index) {
                        log::info!("a client could not reach {}: probing it now", s.server);
                    }
                }
            }
            Input::Reload(reply) => {
                let result = self.reload();
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            Input::Shared(message, source, from) => self.handle_shared(message, source, from),
            Input::Counts(worker, counts) => self.published.set_peer_counts(worker, counts),
            Input::Lead(lead) => self.set_leading(lead),
            Input::UpstreamGone => {
                // Before the first ranking the first process failed to start, and said why;
                // later, its stop (or its death) stops this worker by a signal.
                if self.sharing.board.is_none() {
                    log::debug!("the first process ended before its first ranking");
                    std::process::exit(i32::from(crate::cli::exit::Exit::NoServer.code()));
                }
            }
            Input::SendCounts => {
                let Some(board) = &self.sharing.board else {
                    return;
                };
                let redirects = self
                    .published
                    .redirects()
                    .into_iter()
                    .enumerate()
                    .filter(|&(_, n)| n > 0)
                    .filter_map(|(i, n)| Some((board.server(i)?.clone(), n)))
                    .collect();
                let counts = Counts {
                    requests: self.published.requests().snapshot(),
                    redirects,
                };
                self.sharing.send_up(&Message::Counts(counts));
            }
        }
    }

    /// A message from another process: the prober acts on reports and reloaded lists, a
    /// follower adopts boards and passes its workers' messages up.
    fn handle_shared(&mut self, message: Message, source: Source, from: String) {
        state::handled(&message);
        let leading = self.sharing.leading;
        match message {
            Message::Board(board) if !leading && source == Source::Upstream => {
                self.follow(board, from)
            }
            Message::Unreachable(server) if leading => {
                let snapshot = self.balancer.snapshot();
                if let Some(s) = snapshot.servers.iter().find(|s| s.server == server) {
                    if self.balancer.handle_unreachable(s.index, Instant::now()) {
                        log::info!("a client could not reach {server} (reported by another balancer): probing it now");
                    }
                }
            }
            Message::Servers(servers) if leading => {
                let _ = self.apply_servers(servers, "received");
            }
            Message::File(news) if from != self.sharing.id => {
                let Some(files) = &self.files else {
                    return;
                };
                // Passed on by the first process: from a worker to the other workers (each
                // ignores its own) and to Redis; from Redis to the workers.
                let line = (!self.sharing.workers.is_empty() || source == Source::Worker)
                    .then(|| Message::File(news.clone()).encode(&from));
                files.handle_news(news, &self.published);
                if let Some(line) = line {
                    files.forward(&line, &self.sharing.workers);
                    if source == Source::Worker {
                        files.forward(&line, self.sharing.upstream.as_slice());
                    }
                }
            }
            message @ (Message::Unreachable(_) | Message::Servers(_))
                if source == Source::Worker =>
            {
                self.sharing.send_up(&message)
            }
            _ => {}
        }
    }

    /// Answer from `board`, the prober's, and pass it on to the workers.
    fn follow(&mut self, board: Board, from: String) {
        if self.sharing.board.as_ref() == Some(&board) {
            return;
        }
        self.published.set_prober(ProberInfo {
            instance: from.clone(),
            this: false,
        });
        let rankings = board.rankings(self.policy);
        let table = rankings.to_string();
        self.published.publish(rankings);
        self.published
            .set_snapshot(board.snapshot(&self.balancer.snapshot(), Instant::now()));
        log::info!("new ranking from the prober:\n{table}");
        self.sharing.send_board(board.clone(), &from, false);
        self.sharing.board = Some(board);
    }

    /// Start probing (taking over from the board followed last) or stop.
    fn set_leading(&mut self, lead: bool) {
        self.sharing.decided = true;
        if lead == self.sharing.leading {
            return;
        }
        self.sharing.leading = lead;
        self.sharing.sent = None;
        if !lead {
            return;
        }
        self.published.set_prober(ProberInfo {
            instance: self.sharing.id.clone(),
            this: true,
        });
        // The list in force is the one the last prober had.
        if let Some(board) = &self.sharing.board {
            let servers = board.server_list();
            let mine: Vec<ServerAddr> = self
                .balancer
                .snapshot()
                .servers
                .into_iter()
                .map(|s| s.server)
                .collect();
            if servers != mine && !servers.is_empty() {
                let _ = self.apply_servers(servers, "taken over");
            }
        }
        log::info!("probing the servers");
    }

    /// Re-read the server list and apply it (a follower sends it to the prober instead);
    /// logs the outcome in one line.
    fn reload(&mut self) -> Result<Reloaded, ReloadError> {
        let servers = match &self.source {
            None => Err(ReloadError::NoSource),
            Some(source) => source.load().map_err(ReloadError::Load),
        };
        let servers = match servers {
            Ok(servers) => servers,
            Err(e) => {
                log::error!("reload refused, the servers in force stay: {e}");
                return Err(e);
            }
        };
        if self.sharing.leading {
            return self.apply_servers(servers, "reloaded");
        }
        let old = self
            .sharing
            .board
            .as_ref()
            .map(Board::server_list)
            .unwrap_or_default();
        let reloaded = Reloaded {
            added: servers
                .iter()
                .filter(|s| !old.contains(s))
                .cloned()
                .collect(),
            removed: old
                .iter()
                .filter(|s| !servers.contains(s))
                .cloned()
                .collect(),
            restarted: Vec::new(),
            kept: old.iter().filter(|s| servers.contains(s)).count(),
        };
        log::info!(
            "reloaded the server list: {} servers, sent to the prober",
            servers.len()
        );
        self.sharing.send_up(&Message::Servers(servers));
        Ok(reloaded)
    }

    /// Make `servers` the list in force; logs the outcome in one line, saying how the list
    /// came (`reloaded`, `received` from another balancer, `taken over` from the last prober).
    fn apply_servers(
        &mut self,
        servers: Vec<ServerAddr>,
        how: &str,
    ) -> Result<Reloaded, ReloadError> {
        let result = self
            .balancer
            .reload(servers, Instant::now())
            .map_err(ReloadError::ProbeUrl);
        match &result {
            Ok(r) => {
                let names = |list: &[ServerAddr]| {
                    list.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                log::info!(
                    "{how} the server list: {} kept, added [{}], removed [{}], probed again [{}]",
                    r.kept,
                    names(&r.added),
                    names(&r.removed),
                    names(&r.restarted)
                );
            }
            Err(e) => log::error!("reload refused, the servers in force stay: {e}"),
        }
        result
    }

    /// One turn: start due probes, then wait for a result, a report, a reload or the core's
    /// next deadline, and hand it in. With nothing to probe, waits for inputs only.
    async fn step(&mut self) {
        self.start_due();
        self.poll_events();
        self.publish_snapshot();
        let timer = match self.sharing.leading {
            true => self.balancer.poll_timeout(),
            false => None,
        };
        let input = match timer {
            Some(wake) => {
                let left = wake.saturating_duration_since(Instant::now());
                runtime::timeout(left, self.rx.next()).await.flatten()
            }
            None => self.rx.next().await,
        };
        if let Some(input) = input {
            self.handle_input(input);
        }
        // Hand in every input already queued before judging deadlines: a probe that finished
        // in time must not be taken for a timeout because another result was read first.
        while let Ok(input) = self.rx.try_recv() {
            self.handle_input(input);
        }
        if self.sharing.leading {
            self.balancer.handle_timeout(Instant::now());
        }
        self.start_due();
        self.poll_events();
        self.publish_snapshot();
    }

    /// While probing: the snapshot for the admin listener, and the board for the others once
    /// there is a ranking to share.
    fn publish_snapshot(&mut self) {
        if !self.sharing.leading {
            return;
        }
        let snapshot = self.balancer.snapshot();
        if self.sharing.active() && self.balancer.first_round_complete() {
            let board = Board::from_prober(&snapshot, &self.own);
            let (redis, id) = (self.sharing.redis, self.sharing.id.clone());
            self.sharing.send_board(board, &id, redis);
        }
        self.published.set_snapshot(snapshot);
    }

    /// Run the first probe round to completion. The ranking it produced is in
    /// [`Prober::published`]; fails if it is empty.
    ///
    /// A process that follows another's probes waits for its first board instead (and with
    /// Redis, for the lease's verdict): then it never fails.
    pub async fn first_round(&mut self) -> Result<Arc<Ranking>, StartError> {
        loop {
            let sharing = &self.sharing;
            if sharing.decided && !sharing.leading && sharing.board.is_some() {
                return Ok(self.published.current());
            }
            if sharing.decided && sharing.leading && self.balancer.first_round_complete() {
                break;
            }
            self.step().await;
        }
        self.poll_events();
        self.publish_snapshot();
        let ranking = self.published.current();
        if ranking.is_empty() {
            return Err(StartError::NoServerPassed);
        }
        Ok(ranking)
    }

    /// Keep probing, and taking reports and reloads, for ever: even with every server removed,
    /// a reload or (with readmit) a passing re-check brings servers back.
    pub async fn run_forever(mut self) -> ! {
        loop {
            self.step().await;
        }
    }
}

/// Run the first probe round: returns the prober (with the first ranking published) once every
/// server has been judged, or the reason the balancer cannot serve.
pub async fn start(config: &Config) -> Result<Prober, StartError> {
    let mut prober = Prober::new(config)?;
    prober.first_round().await?;
    Ok(prober)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prober_needs_servers_and_a_probe_path_starting_with_a_slash() {
        assert!(matches!(
            Prober::new(&Config::new(Vec::new())),
            Err(StartError::NoServers)
        ));
        let mut config = Config::new(vec![ServerAddr::parse("127.0.0.1:1").unwrap()]);
        config.probe.path = "probe.bin".into();
        assert!(matches!(
            Prober::new(&config),
            Err(StartError::BadProbePath(_))
        ));
    }
}
