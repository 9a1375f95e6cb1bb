//! The balancer's counters for the admin listener: requests by status code and redirects by
//! server. Both are counted on the hot path with one relaxed atomic add each: no lock, no
//! allocation. Reading them (for a metrics scrape) is not synchronised with counting, which is
//! fine for monotonic counters.

use ricochet_core::balance::pool::Ranking;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const FIRST_CODE: u16 = 100;
const LAST_CODE: u16 = 599;

/// Requests answered, by status code (100 to 599).
#[derive(Debug)]
pub struct RequestCounts {
    by_code: Box<[AtomicU64]>,
}

impl Default for RequestCounts {
    fn default() -> Self {
        RequestCounts {
            by_code: (FIRST_CODE..=LAST_CODE)
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }
}

impl RequestCounts {
    /// Count one answer with `status` (ignored outside 100 to 599).
    pub fn count(&self, status: u16) {
        if let Some(c) = self
            .by_code
            .get(usize::from(status.wrapping_sub(FIRST_CODE)))
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every status answered at least once, ascending, with its count.
    pub fn snapshot(&self) -> Vec<(u16, u64)> {
        (FIRST_CODE..=LAST_CODE)
            .zip(self.by_code.iter())
            .map(|(code, c)| (code, c.load(Ordering::Relaxed)))
            .filter(|&(_, n)| n > 0)
            .collect()
    }
}

/// Redirects sent, by pool index. Grows (never shrinks) when a ranking names a server beyond
/// its end; the counters it had are shared with the grown copy, so a connection still holding
/// the old copy keeps counting into the same place.
#[derive(Debug, Clone, Default)]
pub struct RedirectCounts {
    slots: Arc<[Arc<AtomicU64>]>,
}

impl RedirectCounts {
    /// These counters, grown to cover every server `ranking` names.
    pub fn covering(&self, ranking: &Ranking) -> RedirectCounts {
        let needed = ranking
            .table()
            .iter()
            .map(|r| r.index + 1)
            .max()
            .unwrap_or(0);
        if needed <= self.slots.len() {
            return self.clone();
        }
        let slots = self
            .slots
            .iter()
            .cloned()
            .chain((self.slots.len()..needed).map(|_| Arc::new(AtomicU64::new(0))))
            .collect();
        RedirectCounts { slots }
    }

    /// Count one redirect to server `index`.
    pub fn count(&self, index: usize) {
        if let Some(c) = self.slots.get(index) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counts, by pool index.
    pub fn values(&self) -> Vec<u64> {
        self.slots
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ricochet_core::balance::pool::{Policy, Pool, ServerAddr};
    use ricochet_core::balance::verdict::Measurement;
    use std::time::Duration;

    fn ranking(live: &[usize], size: usize) -> Ranking {
        let servers = (0..size)
            .map(|i| ServerAddr::parse(&format!("127.0.0.1:{}", 9000 + i)).unwrap())
            .collect();
        let mut pool = Pool::new(servers);
        for &i in live {
            pool.record(
                i,
                Measurement {
                    elapsed: Duration::from_millis(10),
                    bytes: 1,
                },
            );
        }
        pool.ranking(Policy::Rank)
    }

    #[test]
    fn requests_are_counted_by_code() {
        let c = RequestCounts::default();
        for status in [301, 301, 503, 99, 600, 0] {
            c.count(status);
        }
        assert_eq!(c.snapshot(), vec![(301, 2), (503, 1)]);
    }

    #[test]
    fn redirect_counters_survive_growth() {
        let first = RedirectCounts::default().covering(&ranking(&[0, 1], 2));
        first.count(1);
        let grown = first.covering(&ranking(&[0, 3], 4));
        // A connection still holding the first copy counts into the shared slot.
        first.count(1);
        grown.count(3);
        grown.count(7);
        assert_eq!(grown.values(), vec![0, 2, 0, 1]);
        assert_eq!(first.covering(&ranking(&[], 4)).values(), vec![0, 2]);
    }
}
