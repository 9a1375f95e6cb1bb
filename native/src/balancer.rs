//! The balancer's shell: probe downloads driven by the core's [`Balancer`], a shared ranking
//! swapped atomically, and connections answered with [`Redirect::answer`].
//!
//! - [`Prober`] owns the core [`Balancer`]: it starts the probe downloads the core asks for
//!   ([`crate::probe::probe`]), sleeps until the core's next deadline or the next result, feeds
//!   results and timeouts back, logs every removal and every new ranking table, and publishes
//!   each new ranking into [`Published`].
//! - [`start`] runs the first probe round (before any client is accepted) and fails with
//!   [`StartError::NoServerPassed`] if no server passed; [`serve`] then runs the prober in the
//!   background and answers clients forever.
//! - A connection runs on the shared driver ([`crate::driver`]: keep-alive, pipelining with
//!   every answer already due in one write, timeouts, error pages); the balancer's part answers
//!   each request with [`Redirect::answer`]. The hot path takes the current ranking with one
//!   atomic load (a new `Arc` is cloned only after a new ranking was published) and draws from
//!   the thread's random generator; buffers are reused for the life of the connection.

use crate::accept;
use crate::conn::ByteStream;
use crate::driver::{self, Responder, Service, Shutdown};
use crate::exchange::TlsClient;
use crate::probe;
use crate::runtime::{self, TcpListener};
use crate::tls::{CertError, Trust};
use futures::channel::mpsc;
use futures::StreamExt;
use ricochet_core::balancer::{Balancer, Event, ProbeConfig};
use ricochet_core::connection::ConnectionConfig;
use ricochet_core::pool::{Measurement, Policy, Ranking, ServerAddr};
use ricochet_core::probe::ProbeFailure;
use ricochet_core::redirect::Redirect;
use ricochet_core::request::{Limits, Request};
use ricochet_core::status::Status;
use ricochet_core::url::UrlError;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Longest time from a request's first byte to the end of its head (then 408).
    pub header_timeout: Duration,
    /// Longest wait for the next request on a kept-alive connection (then a quiet close); also
    /// the longest a write may stall.
    pub idle_timeout: Duration,
    /// Most client connections open at once.
    pub max_connections: usize,
    /// Request-head limits for the parser.
    pub limits: Limits,
    /// Who to trust when probing `https://` servers: the system's store plus
    /// `--probe-cacert` files.
    pub probe_trust: Trust,
    /// TLS on the listener (`--tls-cert`/`--tls-key`); `None` for plain HTTP.
    pub tls: Option<crate::tls::Acceptor>,
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
            },
            policy: Policy::Rank,
            redirect: Redirect::default(),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            limits: Limits::default(),
            probe_trust: Trust::default(),
            tls: None,
        }
    }
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

/// The current ranking, shared by every connection and replaced atomically by the prober.
///
/// Readers keep their own `Arc` and a generation number: checking for a new ranking costs one
/// atomic load, and the lock is taken only when there is one.
#[derive(Debug)]
pub struct Published {
    generation: AtomicU64,
    ranking: RwLock<Arc<Ranking>>,
}

impl Published {
    /// Start with `ranking`.
    pub fn new(ranking: Ranking) -> Published {
        Published {
            generation: AtomicU64::new(0),
            ranking: RwLock::new(Arc::new(ranking)),
        }
    }

    /// Replace the ranking; connections pick it up at their next request.
    pub fn publish(&self, ranking: Ranking) {
        let ranking = Arc::new(ranking);
        // A poisoned lock only means a panic elsewhere while holding it; the Arc inside is
        // still whole, so carry on rather than crash.
        *self.ranking.write().unwrap_or_else(|e| e.into_inner()) = ranking;
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The current ranking.
    pub fn current(&self) -> Arc<Ranking> {
        Arc::clone(&self.ranking.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn view(&self) -> View {
        let generation = self.generation.load(Ordering::Acquire);
        View {
            generation,
            ranking: self.current(),
        }
    }
}

/// One connection's copy of the published ranking.
struct View {
    generation: u64,
    ranking: Arc<Ranking>,
}

impl View {
    fn refresh(&mut self, published: &Published) -> &Ranking {
        let generation = published.generation.load(Ordering::Acquire);
        if generation != self.generation {
            self.generation = generation;
            self.ranking = published.current();
        }
        &self.ranking
    }
}

/// A finished probe download.
struct Outcome {
    index: usize,
    finished: Instant,
    result: Result<Measurement, ProbeFailure>,
}

/// Drives the core [`Balancer`]: starts probe downloads, feeds results and timeouts back,
/// logs and publishes what comes out.
pub struct Prober {
    balancer: Balancer,
    /// TLS for probing `https://` servers (its session cache spans probe rounds).
    tls: Arc<TlsClient>,
    published: Arc<Published>,
    tx: mpsc::UnboundedSender<Outcome>,
    rx: mpsc::UnboundedReceiver<Outcome>,
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
        Ok(Prober {
            tls: Arc::new(tls),
            balancer,
            published: Arc::new(Published::new(Ranking::empty(config.policy))),
            tx,
            rx,
        })
    }

    /// The shared ranking this prober publishes into.
    pub fn published(&self) -> &Arc<Published> {
        &self.published
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
                let _ = tx.unbounded_send(outcome);
            });
        }
    }

    /// Log and publish what the core produced. A new ranking is logged after it is published.
    fn handle_events(&mut self) {
        while let Some(event) = self.balancer.poll_event() {
            match event {
                Event::Removed {
                    server, failure, ..
                } => log::warn!("removed {server}: {failure}; it gets no more redirects"),
                Event::Ranking(ranking) => {
                    // Logged once live, so whoever reads the log line can rely on it.
                    let table = ranking.to_string();
                    self.published.publish(ranking);
                    log::info!("new ranking:\n{table}");
                }
            }
        }
    }

    /// One turn: start due probes, then wait for a result or the core's next deadline and hand
    /// it in. Returns false when nothing is left to probe (every server removed).
    pub async fn step(&mut self) -> bool {
        self.start_due();
        self.handle_events();
        let Some(wake) = self.balancer.poll_timeout() else {
            return false;
        };
        let left = wake.saturating_duration_since(Instant::now());
        if let Some(Some(outcome)) = runtime::timeout(left, self.rx.next()).await {
            self.balancer
                .handle_probe_result(outcome.index, outcome.finished, outcome.result);
        }
        // Hand in every result already queued before judging deadlines: a probe that finished
        // in time must not be taken for a timeout because another result was read first.
        while let Ok(outcome) = self.rx.try_recv() {
            self.balancer
                .handle_probe_result(outcome.index, outcome.finished, outcome.result);
        }
        self.balancer.handle_timeout(Instant::now());
        self.start_due();
        self.handle_events();
        true
    }

    /// Run the first probe round to completion. The ranking it produced is in
    /// [`Prober::published`]; fails if it is empty.
    pub async fn first_round(&mut self) -> Result<Arc<Ranking>, StartError> {
        while !self.balancer.first_round_complete() {
            if !self.step().await {
                break;
            }
        }
        self.handle_events();
        let ranking = self.published.current();
        if ranking.is_empty() {
            return Err(StartError::NoServerPassed);
        }
        Ok(ranking)
    }

    /// Keep probing every interval until every server is gone.
    pub async fn run(mut self) {
        while self.step().await {}
        log::error!("every server has been removed: answering 503 from now on");
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
/// then let every connection drain and return once all have closed.
pub async fn serve_until(
    listener: TcpListener,
    prober: Prober,
    config: Config,
    shutdown: Shutdown,
) {
    let published = Arc::clone(prober.published());
    runtime::spawn(prober.run());
    let config = Arc::new(config);
    let max = config.max_connections;
    accept::accept_loop(listener, max, shutdown, move |stream, peer, stop| {
        let config = Arc::clone(&config);
        let published = Arc::clone(&published);
        async move {
            match &config.tls {
                None => handle_connection(stream, peer, &config, &published, &stop).await,
                // The handshake gets the time a request head gets.
                Some(tls) => match tls.accept(stream, config.header_timeout).await {
                    Ok(stream) => handle_connection(stream, peer, &config, &published, &stop).await,
                    Err(e) => log::debug!("{peer}: {e}"),
                },
            }
        }
    })
    .await
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
    let connection =
        ConnectionConfig::new(config.limits, config.header_timeout, config.idle_timeout);
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

impl Service for Redirector<'_> {
    /// Whether the answer let the connection go on.
    type Pending = bool;

    fn request(&mut self, request: &Request<'_>, keep_alive: bool, out: &mut Vec<u8>) -> bool {
        let ranking = self.view.refresh(self.published);
        let answer = {
            let mut rng = rand::rng();
            let now = SystemTime::now();
            self.config
                .redirect
                .answer(request, keep_alive, ranking, &mut rng, now, out)
        };
        if log::log_enabled!(log::Level::Info) {
            let to = answer
                .server
                .and_then(|i| ranking.table().iter().find(|r| r.index == i))
                .map_or("-", |r| r.server.as_str());
            log::info!(
                "{} \"{} {}\" {} -> {to}",
                self.peer,
                request.method,
                request.raw_target,
                answer.status
            );
        }
        answer.keep_alive
    }

    async fn respond<S: ByteStream>(
        &mut self,
        keep_alive: bool,
        _: bool,
        _: &mut Responder<'_, S>,
    ) -> io::Result<bool> {
        // Already written into the driver's buffer by `request`.
        Ok(keep_alive)
    }

    fn error(&mut self, status: Status, _: u64, _: Option<Instant>) {
        log::info!("{} \"-\" {status}", self.peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ricochet_core::pool::Pool;

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
        assert!(published.view().ranking.is_empty());
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
