//! `--rate` and `--delay`: make a server answer slowly on purpose, so a local cluster can
//! simulate slow and fast servers for the balancer.

use crate::runtime;
use crate::runtime::conn::ByteStream;
use crate::runtime::driver::Responder;
use std::io;
use std::time::{Duration, Instant};

/// How to slow responses down. The default is not at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Throttle {
    /// Pause before each response head.
    pub delay: Duration,
    /// Bytes per second for each response (head and body), `None` for full speed.
    pub rate: Option<u64>,
}

impl Throttle {
    /// Begin a response: sleep for the delay, then pace what follows.
    pub async fn start(&self) -> Pace {
        if !self.delay.is_zero() {
            runtime::sleep(self.delay).await;
        }
        Pace {
            rate: self.rate.filter(|r| *r > 0),
            started: Instant::now(),
            sent: 0,
        }
    }
}

/// Pacing state of one response.
#[derive(Debug)]
pub struct Pace {
    rate: Option<u64>,
    started: Instant,
    sent: u64,
}

impl Pace {
    /// Bytes written so far through this pace.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Write `bytes` through `out`, no faster than the rate: in slices of about a twentieth of
    /// a second's worth, sleeping until each slice is due.
    pub async fn write_all<S: ByteStream>(
        &mut self,
        out: &mut Responder<'_, S>,
        bytes: &[u8],
    ) -> io::Result<()> {
        let Some(rate) = self.rate else {
            out.write_all(bytes).await?;
            self.sent += bytes.len() as u64;
            return Ok(());
        };
        let slice = usize::try_from(rate / 20).unwrap_or(usize::MAX).max(512);
        for piece in bytes.chunks(slice) {
            out.write_all(piece).await?;
            self.sent += piece.len() as u64;
            let due = self.started + Duration::from_secs_f64(self.sent as f64 / rate as f64);
            let now = Instant::now();
            if due > now {
                runtime::sleep(due - now).await;
            }
        }
        Ok(())
    }
}
