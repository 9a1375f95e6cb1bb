//! What the prober publishes and every connection reads: the rankings in force (which one
//! answers a request depends on its scheme and address family), the latest snapshot, the counters, and the way back to the prober for client reports.

use crate::balancer::counters::{RedirectCounts, RequestCounts};
use crate::balancer::prober::Input;
use futures::channel::mpsc;
use ricochet_core::balance::admin::ProberInfo;
use ricochet_core::balance::balancer::Snapshot;
use ricochet_core::balance::pool::Ranking;
use ricochet_core::balance::rankings::Rankings;
use ricochet_core::balance::shared::Counts;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

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
    /// The latest counters of each worker process (`--workers`), by its name.
    peers: Mutex<BTreeMap<String, Counts>>,
    /// Who probes, when processes share one state.
    prober: Mutex<Option<ProberInfo>>,
}

/// The rankings in force, every live server's ([`Rankings::all`], shared on its own for the
/// status page), and the redirect counters of the pool's servers, by pool index.
#[derive(Debug, Clone)]
struct Current {
    rankings: Arc<Rankings>,
    ranking: Arc<Ranking>,
    redirects: RedirectCounts,
}

impl Current {
    fn new(rankings: Rankings, redirects: &RedirectCounts) -> Current {
        Current {
            redirects: redirects.covering(rankings.all()),
            ranking: Arc::new(rankings.all().clone()),
            rankings: Arc::new(rankings),
        }
    }
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
    /// Start with `rankings`, no status yet, and no prober to report to.
    pub fn new(rankings: Rankings) -> Published {
        Published::with_reports(rankings, None)
    }

    /// Start with `rankings`, reporting unreachable servers on `tx` with `queued` counting the
    /// reports not yet taken.
    pub(super) fn reporting_to(
        rankings: Rankings,
        tx: mpsc::UnboundedSender<Input>,
        queued: Arc<AtomicUsize>,
    ) -> Published {
        Published::with_reports(rankings, Some(Reports { tx, queued }))
    }

    fn with_reports(rankings: Rankings, reports: Option<Reports>) -> Published {
        Published {
            generation: AtomicU64::new(0),
            current: RwLock::new(Current::new(rankings, &RedirectCounts::default())),
            requests: RequestCounts::default(),
            snapshot: RwLock::new(None),
            reports,
            peers: Mutex::new(BTreeMap::new()),
            prober: Mutex::new(None),
        }
    }

    /// Replace the rankings; connections pick them up at their next request.
    pub fn publish(&self, rankings: Rankings) {
        // A poisoned lock only means a panic elsewhere while holding it; the data inside is
        // still whole, so carry on rather than crash.
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        *current = Current::new(rankings, &current.redirects);
        drop(current);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The current ranking of every live server ([`Rankings::all`]).
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

    pub(super) fn set_snapshot(&self, snapshot: Snapshot) {
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

    pub(super) fn view(&self) -> View {
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

    /// Who probes for the processes sharing this one's state (`None`: it is on its own).
    pub fn prober(&self) -> Option<ProberInfo> {
        self.prober
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn set_prober(&self, prober: ProberInfo) {
        *self.prober.lock().unwrap_or_else(|e| e.into_inner()) = Some(prober);
    }

    pub(super) fn set_peer_counts(&self, peer: String, counts: Counts) {
        self.peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(peer, counts);
    }

    /// The worker processes' counters added up: requests by status, redirects by server
    /// address (empty without workers).
    pub fn peer_totals(&self) -> (BTreeMap<u16, u64>, BTreeMap<String, u64>) {
        let mut requests = BTreeMap::new();
        let mut redirects = BTreeMap::new();
        for counts in self
            .peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            for &(code, n) in &counts.requests {
                *requests.entry(code).or_insert(0) += n;
            }
            for (server, n) in &counts.redirects {
                *redirects.entry(server.as_str().to_string()).or_insert(0) += n;
            }
        }
        (requests, redirects)
    }
}

/// One connection's copy of the published ranking.
pub(super) struct View {
    generation: u64,
    current: Current,
}

impl View {
    /// The rankings in force: one atomic load, and a lock only when new ones were published.
    /// Pick the one for a request with [`Rankings::for_request`].
    pub(super) fn refresh(&mut self, published: &Published) -> &Rankings {
        let generation = published.generation.load(Ordering::Acquire);
        if generation != self.generation {
            self.generation = generation;
            self.current = published.read().clone();
        }
        &self.current.rankings
    }

    /// Every live server as of the last [`View::refresh`] (any request's pick is among them).
    pub(super) fn ranking(&self) -> &Ranking {
        &self.current.ranking
    }

    /// Count a redirect to server `index` (by pool index).
    pub(super) fn count_redirect(&self, index: usize) {
        self.current.redirects.count(index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ricochet_core::balance::pool::{Policy, Pool, ServerAddr};
    use ricochet_core::balance::verdict::Measurement;
    use std::time::Duration;

    fn ranking_of(n: usize) -> Rankings {
        let servers: Vec<ServerAddr> = (0..n)
            .map(|i| ServerAddr::parse(&format!("127.0.0.1:{}", 8000 + i)).unwrap())
            .collect();
        let mut pool = Pool::new(servers.clone());
        for i in 0..n {
            pool.record(
                i,
                Measurement {
                    elapsed: Duration::from_millis(10 * (i as u64 + 1)),
                    bytes: 1000,
                },
            );
        }
        // Literals of one family: nothing is live over IPv6.
        Rankings::new(&pool, &Pool::new(servers), Policy::Rank)
    }

    #[test]
    fn connections_see_a_new_ranking_at_their_next_request() {
        let published = Published::new(ranking_of(3));
        let mut view = published.view();
        assert_eq!(view.refresh(&published).all().len(), 3);
        published.publish(ranking_of(2));
        assert_eq!(view.refresh(&published).all().len(), 2);
        published.publish(Rankings::empty(Policy::Rank));
        assert!(view.refresh(&published).is_empty());
        // A view taken later starts from the latest ranking.
        assert!(published.view().ranking().is_empty());
    }
}
