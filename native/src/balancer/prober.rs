//! The prober loop: it owns the core [`Balancer`], starts the probe downloads the core asks
//! for, feeds results, deadlines, client reports and reloads in, and logs and publishes what
//! comes out.

use crate::balancer::config::{Config, StartError};
use crate::balancer::probe;
use crate::balancer::published::Published;
use crate::balancer::reload::{ReloadError, Reloader};
use crate::balancer::servers::ServerSource;
use crate::runtime;
use crate::runtime::exchange::TlsClient;
use futures::channel::{mpsc, oneshot};
use futures::StreamExt;
use ricochet_core::balance::balancer::{Balancer, Event, Reloaded};
use ricochet_core::balance::family::Family;
use ricochet_core::balance::pool::{Ranking, ServerAddr};
use ricochet_core::balance::rankings::Rankings;
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
    /// The listener speaks TLS: say when its clients are sent to http:// servers.
    https: bool,
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
        })
    }

    /// The shared ranking and status this prober publishes into.
    pub fn published(&self) -> &Arc<Published> {
        &self.published
    }

    /// A handle to ask this prober for reloads.
    pub fn reloader(&self) -> Reloader {
        Reloader::new(self.tx.clone())
    }

    /// Start every probe the core says is due.
    fn start_due(&mut self) {
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
        self.poll_events();
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
        self.poll_events();
        self.published.set_snapshot(self.balancer.snapshot());
    }

    /// Run the first probe round to completion. The ranking it produced is in
    /// [`Prober::published`]; fails if it is empty.
    pub async fn first_round(&mut self) -> Result<Arc<Ranking>, StartError> {
        while !self.balancer.first_round_complete() {
            self.step().await;
        }
        self.poll_events();
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
