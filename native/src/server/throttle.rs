//! `--rate`, `--rate-total` and `--delay`: make a server answer slowly on purpose, so a local
//! cluster can simulate slow and fast servers for the balancer. `--rate` caps each response;
//! `--rate-total` caps all of them together, as an uplink does: opening more connections to
//! the server does not make it faster.

use crate::runtime;
use crate::runtime::conn::ByteStream;
use crate::runtime::driver::Responder;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How to slow responses down. The default is not at all.
#[derive(Debug, Clone, Default)]
pub struct Throttle {
    /// Pause before each response head.
    pub delay: Duration,
    /// Bytes per second for each response (head and body), `None` for full speed.
    pub rate: Option<u64>,
    /// One cap shared by every response (head and body) of the server, if any.
    pub total: Option<Arc<Uplink>>,
}

/// A bandwidth cap shared by every connection: a token bucket holding at most
/// [`Uplink::BURST`] of sending, kept as the instant the link is next free (the "theoretical
/// arrival time" of GCRA). Each piece a response sends reserves its time on the link first and
/// waits for it, so concurrent responses interleave their pieces and share the rate.
#[derive(Debug)]
pub struct Uplink {
    rate: u64,
    free_at: Mutex<Instant>,
}

impl Uplink {
    /// How much sending an idle link may do at once (the bucket's depth, in time).
    pub const BURST: Duration = Duration::from_millis(50);

    /// A link of `rate` bytes per second (at least 1).
    pub fn new(rate: u64) -> Arc<Uplink> {
        Arc::new(Uplink {
            rate: rate.max(1),
            free_at: Mutex::new(Instant::now()),
        })
    }

    /// The link's rate in bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Reserve the link for `n` bytes; returns when they may be sent (now or later).
    fn reserve(&self, n: usize, now: Instant) -> Instant {
        let mut free_at = self.free_at.lock().unwrap_or_else(|p| p.into_inner());
        let earliest = now.checked_sub(Self::BURST).unwrap_or(now);
        let start = (*free_at).max(earliest);
        *free_at = start + Duration::from_secs_f64(n as f64 / self.rate as f64);
        start.max(now)
    }
}

impl Throttle {
    /// Begin a response: sleep for the delay, then pace what follows.
    pub async fn start(&self) -> Pace {
        if !self.delay.is_zero() {
            runtime::sleep(self.delay).await;
        }
        Pace {
            rate: self.rate.filter(|r| *r > 0),
            total: self.total.clone(),
            started: Instant::now(),
            sent: 0,
        }
    }
}

/// Pacing state of one response.
#[derive(Debug)]
pub struct Pace {
    rate: Option<u64>,
    total: Option<Arc<Uplink>>,
    started: Instant,
    sent: u64,
}

impl Pace {
    /// Bytes written so far through this pace.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Write `bytes` through `out`, no faster than the rates: in slices of about a twentieth
    /// of a second's worth, each waiting for its turn on the shared link (`--rate-total`), then
    /// sleeping until this response's rate allows the next (`--rate`).
    pub async fn write_all<S: ByteStream>(
        &mut self,
        out: &mut Responder<'_, S>,
        bytes: &[u8],
    ) -> io::Result<()> {
        if self.rate.is_none() && self.total.is_none() {
            out.write_all(bytes).await?;
            self.sent += bytes.len() as u64;
            return Ok(());
        }
        let slowest = match (self.rate, &self.total) {
            (Some(r), Some(t)) => r.min(t.rate()),
            (Some(r), None) => r,
            (None, Some(t)) => t.rate(),
            (None, None) => u64::MAX,
        };
        let slice = usize::try_from(slowest / 20)
            .unwrap_or(usize::MAX)
            .clamp(512, 256 * 1024);
        for piece in bytes.chunks(slice) {
            if let Some(total) = &self.total {
                let now = Instant::now();
                let at = total.reserve(piece.len(), now);
                if at > now {
                    runtime::sleep(at - now).await;
                }
            }
            out.write_all(piece).await?;
            self.sent += piece.len() as u64;
            if let Some(rate) = self.rate {
                let due = self.started + Duration::from_secs_f64(self.sent as f64 / rate as f64);
                let now = Instant::now();
                if due > now {
                    runtime::sleep(due - now).await;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_is_shared_at_its_rate() {
        let link = Uplink::new(1_000_000);
        let t0 = Instant::now() + Duration::from_secs(1);
        // An idle link sends a burst at once...
        assert_eq!(link.reserve(10_000, t0), t0);
        assert_eq!(link.reserve(40_000, t0), t0);
        // ...then each piece waits for its turn, whoever asks: 1 MB takes 1 s, less the burst.
        let mut last = t0;
        for _ in 0..95 {
            last = link.reserve(10_000, t0);
        }
        // The last 10 kB may start after 990 kB, less the 50 ms burst.
        let expected = t0 + Duration::from_millis(990) - Uplink::BURST;
        let off = last.max(expected) - last.min(expected);
        assert!(off < Duration::from_millis(1), "{off:?}");
        // Idle time is not saved up beyond the burst.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(link.reserve(60_000, later), later);
        assert!(link.reserve(10_000, later) > later);
    }
}
