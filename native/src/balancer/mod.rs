//! The balancer's shell: probe downloads driven by the core's [`Balancer`], a shared ranking
//! swapped atomically, and connections answered with [`Redirect::answer`].
//!
//! - [`Prober`] owns the core [`Balancer`]: it starts the probe downloads the core asks for
//!   ([`crate::balancer::probe::probe`]), sleeps until the core's next deadline or the next input (a
//!   probe result, a client report of an unreachable server, a reload request from a
//!   [`Reloader`]), feeds them in, logs every event (removals, re-checks, re-admissions,
//!   reloads, ranking tables), and publishes each new ranking and a [`Snapshot`] into
//!   [`Published`]. It runs for ever, even with every server removed.
//! - [`start`] runs the first probe round (before any client is accepted) and fails with
//!   [`StartError::NoServerPassed`] if no server passed; [`serve`] then runs the prober in the
//!   background and answers clients forever.
//! - A connection runs on the shared driver ([`crate::runtime::driver`]: keep-alive, pipelining with
//!   every answer already due in one write, timeouts, error pages); the balancer's part answers
//!   each request with [`Redirect::answer`], and passes a client's report of an unreachable
//!   server on to the prober ([`Published::report_unreachable`]). The hot path takes the
//!   current ranking with one atomic load (a new `Arc` is cloned only after a new ranking was
//!   published) and draws from the thread's random generator; buffers are reused for the life
//!   of the connection.

pub mod admin;
pub mod counters;
pub mod probe;
pub mod servers;

use crate::balancer::counters::{RedirectCounts, RequestCounts};
use crate::balancer::servers::{LoadError, ServerSource};
use crate::runtime::accept;
use crate::runtime::access_log::AccessLog;
use crate::runtime::conn::ByteStream;
use crate::runtime::driver::{self, InstantService, Shutdown};
use crate::runtime::exchange::TlsClient;
use crate::runtime::{self, TcpListener};
use crate::tls::{CertError, Trust};
use futures::channel::{mpsc, oneshot};
use futures::StreamExt;
use ricochet_core::balance::balancer::{Balancer, Event, ProbeConfig, Reloaded, Snapshot};
use ricochet_core::balance::pool::{Policy, Ranking, ServerAddr};
use ricochet_core::balance::probe::{Measurement, ProbeFailure, Readmit};
use ricochet_core::balance::redirect::Redirect;
use ricochet_core::http::access_log;
use ricochet_core::http::request::Request;
use ricochet_core::http::status::Status;
use ricochet_core::http::url::UrlError;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

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

/// The current ranking, shared by every connection and replaced atomically by the prober,
/// with the latest [`Snapshot`] of every server (for the admin listener), the counters it
/// reports, and the way back to the prober for client reports of unreachable servers.
///
/// Readers keep their own `Arc` and a generation number: checking for a new ranking costs one
/// atomic load, and the lock is taken only when there is one. Counting a request or a redirect
/// is one relaxed atomic add: no lock, no allocation.
#[derive(Debug)]
pub struct Published {
    generation: AtomicU64,
    current: RwLock<Current>,
    requests: RequestCounts,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    reports: Option<Reports>,
}

/// The ranking in force and the redirect counters of the pool's servers, by pool index.
#[derive(Debug, Clone)]
struct Current {
    ranking: Arc<Ranking>,
    redirects: RedirectCounts,
}

/// Most client reports queued for the prober at once; more are dropped (the prober verifies
/// a server at most once per [`ricochet_core::balance::probe::REPORT_PERIOD`] anyway).
const MAX_QUEUED_REPORTS: usize = 64;

/// The connections' side of the report channel: a bounded count over an unbounded channel,
/// so sending costs an atomic add and never waits.
#[derive(Debug)]
struct Reports {
    tx: mpsc::UnboundedSender<Input>,
    queued: Arc<AtomicUsize>,
}

impl Published {
    /// Start with `ranking`, no status yet, and no prober to report to.
    pub fn new(ranking: Ranking) -> Published {
        let redirects = RedirectCounts::default().covering(&ranking);
        Published {
            generation: AtomicU64::new(0),
            current: RwLock::new(Current {
                ranking: Arc::new(ranking),
                redirects,
            }),
            requests: RequestCounts::default(),
            snapshot: RwLock::new(None),
            reports: None,
        }
    }

    /// Replace the ranking; connections pick it up at their next request.
    pub fn publish(&self, ranking: Ranking) {
        // A poisoned lock only means a panic elsewhere while holding it; the data inside is
        // still whole, so carry on rather than crash.
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        current.redirects = current.redirects.covering(&ranking);
        current.ranking = Arc::new(ranking);
        drop(current);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The current ranking.
    pub fn current(&self) -> Arc<Ranking> {
        Arc::clone(&self.read().ranking)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Current> {
        self.current.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The prober's latest snapshot of every server (health, last probe, next probe) and of
    /// its settings; `None` before the prober's first step. Updated after every probe result,
    /// report and reload. Join it with [`Published::current`] by [`Row::index`] for ranks,
    /// weights and shares.
    ///
    /// [`Row::index`]: ricochet_core::balance::pool::Row::index
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_snapshot(&self, snapshot: Snapshot) {
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(snapshot));
    }

    /// Tell the prober a client could not reach server `index` (the
    /// [`ricochet_core::balance::redirect::Answer::unreachable`] of its request). Never waits; dropped
    /// when too many reports are queued already.
    pub fn report_unreachable(&self, index: usize) {
        let Some(reports) = &self.reports else {
            return;
        };
        if reports.queued.fetch_add(1, Ordering::Relaxed) >= MAX_QUEUED_REPORTS {
            reports.queued.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        if reports
            .tx
            .unbounded_send(Input::Unreachable(index))
            .is_err()
        {
            reports.queued.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn view(&self) -> View {
        let generation = self.generation.load(Ordering::Acquire);
        View {
            generation,
            current: self.read().clone(),
        }
    }

    /// Requests answered on the redirect port, by status code.
    pub fn requests(&self) -> &RequestCounts {
        &self.requests
    }

    /// Redirects sent so far, by pool index.
    pub fn redirects(&self) -> Vec<u64> {
        self.read().redirects.values()
    }
}

/// One connection's copy of the published ranking.
struct View {
    generation: u64,
    current: Current,
}

impl View {
    fn refresh(&mut self, published: &Published) -> &Ranking {
        let generation = published.generation.load(Ordering::Acquire);
        if generation != self.generation {
            self.generation = generation;
            self.current = published.read().clone();
        }
        &self.current.ranking
    }
}

/// A finished probe download.
#[derive(Debug)]
struct Outcome {
    index: usize,
    finished: Instant,
    result: Result<Measurement, ProbeFailure>,
}

/// What the prober waits for, besides its timer.
#[derive(Debug)]
enum Input {
    Probed(Outcome),
    /// A client could not reach this server.
    Unreachable(usize),
    /// Re-read the server list; the outcome goes back on the sender, if any.
    Reload(Option<oneshot::Sender<Result<Reloaded, ReloadError>>>),
}

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
        let mut published = Published::new(Ranking::empty(config.policy));
        published.reports = Some(Reports {
            tx: tx.clone(),
            queued: Arc::clone(&queued_reports),
        });
        published.set_snapshot(balancer.snapshot());
        Ok(Prober {
            tls: Arc::new(tls),
            balancer,
            published: Arc::new(published),
            tx,
            rx,
            queued_reports,
            source: config.source.clone(),
        })
    }

    /// The shared ranking and status this prober publishes into.
    pub fn published(&self) -> &Arc<Published> {
        &self.published
    }

    /// A handle to ask this prober for reloads.
    pub fn reloader(&self) -> Reloader {
        Reloader {
            tx: self.tx.clone(),
        }
    }

    /// Start every probe the core says is due.
    fn start_due(&mut self) {
        let now = Instant::now();
        while let Some(job) = self.balancer.poll_probe(now) {
            log::debug!("probing {}", job.url);
            let tx = self.tx.clone();
            let tls = Arc::clone(&self.tls);
            runtime::spawn(async move {
                let result = probe::probe(&job.url, &tls, job.deadline).await;
                let outcome = Outcome {
                    index: job.index,
                    finished: Instant::now(),
                    result,
                };
                // The receiver lives as long as the prober; if it is gone, nobody cares.
                let _ = tx.unbounded_send(Input::Probed(outcome));
            });
        }
    }

    /// Log and publish what the core produced. A new ranking is logged after it is published.
    fn handle_events(&mut self) {
        while let Some(event) = self.balancer.poll_event() {
            match event {
                Event::Removed {
                    server,
                    failure,
                    rechecking: false,
                    ..
                } => log::warn!("removed {server}: {failure}; it gets no more redirects"),
                Event::Removed {
                    server,
                    failure,
                    rechecking: true,
                    ..
                } => log::warn!("removed {server}: {failure}; re-checking it"),
                Event::Failed {
                    server,
                    failure,
                    failures,
                    ..
                } => log::info!("probe of {server} failed ({failures} in a row): {failure}"),
                Event::Passed {
                    server,
                    passes,
                    rise,
                    ..
                } => log::info!("{server} passed a re-check ({passes} of {rise})"),
                Event::Admitted { server, .. } => {
                    log::info!("{server} is live: it gets redirects")
                }
                Event::Ranking(ranking) => {
                    // Logged once live, so whoever reads the log line can rely on it.
                    let table = ranking.to_string();
                    let empty = ranking.is_empty();
                    self.published.publish(ranking);
                    log::info!("new ranking:\n{table}");
                    if empty && self.balancer.first_round_complete() {
                        log::error!("no live server: answering 503 until one passes a probe");
                    }
                }
            }
        }
    }

    fn handle_input(&mut self, input: Input) {
        match input {
            Input::Probed(outcome) => {
                self.balancer
                    .handle_probe_result(outcome.index, outcome.finished, outcome.result)
            }
            Input::Unreachable(index) => {
                self.queued_reports.fetch_sub(1, Ordering::Relaxed);
                if self.balancer.handle_unreachable(index, Instant::now()) {
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
        }
    }

    /// Re-read the server list and apply it; logs the outcome in one line.
    fn reload(&mut self) -> Result<Reloaded, ReloadError> {
        let result = match &self.source {
            None => Err(ReloadError::NoSource),
            Some(source) => source
                .load()
                .map_err(ReloadError::Load)
                .and_then(|servers| {
                    self.balancer
                        .reload(servers, Instant::now())
                        .map_err(ReloadError::ProbeUrl)
                }),
        };
        match &result {
            Ok(r) => {
                let names = |list: &[ServerAddr]| {
                    list.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                log::info!(
                    "reloaded the server list: {} kept, added [{}], removed [{}], probed again [{}]",
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
        self.handle_events();
        self.published.set_snapshot(self.balancer.snapshot());
        let input = match self.balancer.poll_timeout() {
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
        self.balancer.handle_timeout(Instant::now());
        self.start_due();
        self.handle_events();
        self.published.set_snapshot(self.balancer.snapshot());
    }

    /// Run the first probe round to completion. The ranking it produced is in
    /// [`Prober::published`]; fails if it is empty.
    pub async fn first_round(&mut self) -> Result<Arc<Ranking>, StartError> {
        while !self.balancer.first_round_complete() {
            self.step().await;
        }
        self.handle_events();
        let ranking = self.published.current();
        if ranking.is_empty() {
            return Err(StartError::NoServerPassed);
        }
        Ok(ranking)
    }

    /// Keep probing, and taking reports and reloads, for ever: even with every server removed,
    /// a reload or (with readmit) a passing re-check brings servers back.
    pub async fn run(mut self) {
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

/// Keep probing in the background and answer clients from `listener` forever.
pub async fn serve(listener: TcpListener, prober: Prober, config: Config) -> ! {
    serve_until(listener, prober, config, Shutdown::never()).await;
    futures::future::pending().await
}

/// Keep probing in the background and answer clients from `listener` until `shutdown` fires;
/// then stop probing, let every connection drain and return once all have closed.
pub async fn serve_until(
    mut listener: TcpListener,
    prober: Prober,
    config: Config,
    shutdown: Shutdown,
) {
    let published = Arc::clone(prober.published());
    // The prober stops with the accept loop: no new probe during the drain.
    let stop = shutdown.clone();
    runtime::spawn(async move {
        let probing = std::pin::pin!(prober.run());
        futures::future::select(probing, std::pin::pin!(stop.wait())).await;
    });
    let config = Arc::new(config);
    let max = config.listener.max_connections;
    config.listener.prepare(&mut listener);
    accept::accept_loop(listener, max, shutdown, move |stream, peer, shutdown| {
        let client = Client {
            config: Arc::clone(&config),
            published: Arc::clone(&published),
            peer,
            shutdown,
        };
        async move { accept::serve_accepted(&client, &client.config.listener, stream, peer).await }
    })
    .await
}

/// One accepted client connection: what it is answered from, and who it is.
struct Client {
    config: Arc<Config>,
    published: Arc<Published>,
    peer: SocketAddr,
    shutdown: Shutdown,
}

impl accept::Handler for Client {
    fn handle<S: ByteStream>(&self, stream: S) -> impl std::future::Future<Output = ()> + Send {
        handle_connection(
            stream,
            self.peer,
            &self.config,
            &self.published,
            &self.shutdown,
        )
    }
}

/// Answer one connection until it closes, fails or times out. Errors are logged, never raised.
pub async fn handle_connection<S: ByteStream>(
    stream: S,
    peer: SocketAddr,
    config: &Config,
    published: &Published,
    shutdown: &Shutdown,
) {
    let mut redirector = Redirector {
        config,
        published,
        view: published.view(),
        peer,
    };
    let connection = config.listener.connection();
    driver::run(stream, connection, &mut redirector, shutdown).await;
}

/// The balancer's side of one connection: every request answered at once with
/// [`Redirect::answer`] into the driver's output buffer.
struct Redirector<'a> {
    config: &'a Config,
    published: &'a Published,
    view: View,
    peer: SocketAddr,
}

impl InstantService for Redirector<'_> {
    fn answer(&mut self, request: &Request<'_>, keep_alive: bool, out: &mut Vec<u8>) -> bool {
        let ranking = self.view.refresh(self.published);
        let start = out.len();
        let now = SystemTime::now();
        let answer = {
            let mut rng = rand::rng();
            self.config
                .redirect
                .answer(request, keep_alive, ranking, &mut rng, now, out)
        };
        self.published.requests.count(answer.status);
        if let Some(index) = answer.server {
            self.view.current.redirects.count(index);
        }
        let ranking = &self.view.current.ranking;
        let to = || {
            answer
                .server
                .and_then(|i| ranking.table().iter().find(|r| r.index == i))
                .map(|r| r.server.as_str())
        };
        if let Some(access_log) = &self.config.access_log {
            access_log.record(|line| {
                let entry = access_log::Entry {
                    client: &self.peer.ip(),
                    time: now,
                    request: Some((request.method, request.raw_target, request.version.as_str())),
                    status: answer.status,
                    body_bytes: (out.len() - start - driver::head_len(&out[start..])) as u64,
                    referer: request.header("referer"),
                    user_agent: request.header("user-agent"),
                };
                access_log::write_redirect(&entry, to(), line);
            });
        }
        if log::log_enabled!(log::Level::Info) {
            let to = to().unwrap_or("-");
            log::info!(
                "{} \"{} {}\" {} -> {to}",
                self.peer,
                request.method,
                request.raw_target,
                answer.status
            );
        }
        if let Some(index) = answer.unreachable {
            self.published.report_unreachable(index);
        }
        answer.keep_alive
    }

    fn error(&mut self, status: Status, _: u64, body: u64, _: Option<Instant>) {
        self.published.requests.count(status.code());
        if let Some(access_log) = &self.config.access_log {
            access_log.record(|line| {
                let entry = access_log::Entry {
                    client: &self.peer.ip(),
                    time: SystemTime::now(),
                    request: None,
                    status: status.code(),
                    body_bytes: body,
                    referer: None,
                    user_agent: None,
                };
                access_log::write_redirect(&entry, None, line);
            });
        }
        log::info!("{} \"-\" {status}", self.peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ricochet_core::balance::pool::Pool;

    fn ranking_of(n: usize) -> Ranking {
        let servers: Vec<ServerAddr> = (0..n)
            .map(|i| ServerAddr::parse(&format!("127.0.0.1:{}", 8000 + i)).unwrap())
            .collect();
        let mut pool = Pool::new(servers);
        for i in 0..n {
            pool.record(
                i,
                Measurement {
                    elapsed: Duration::from_millis(10 * (i as u64 + 1)),
                    bytes: 1000,
                },
            );
        }
        pool.ranking(Policy::Rank)
    }

    #[test]
    fn connections_see_a_new_ranking_at_their_next_request() {
        let published = Published::new(ranking_of(3));
        let mut view = published.view();
        assert_eq!(view.refresh(&published).len(), 3);
        published.publish(ranking_of(2));
        assert_eq!(view.refresh(&published).len(), 2);
        published.publish(Ranking::empty(Policy::Rank));
        assert!(view.refresh(&published).is_empty());
        // A view taken later starts from the latest ranking.
        assert!(published.view().current.ranking.is_empty());
    }

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
