//! [`Notify`]: tasks park until something changed, and every parked task is woken at once by
//! [`Notify::notify_all`]. An async condition variable without the lock: a waiter reads
//! [`Notify::generation`] while it looks at the shared state (under the state's own lock), then
//! awaits [`Notify::changed`] with it, so a change made after it looked is never missed.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

/// A generation count and the tasks waiting for it to move on.
#[derive(Debug, Default)]
pub struct Notify {
    generation: AtomicU64,
    waiters: Mutex<Vec<Waker>>,
}

impl Notify {
    /// A notifier nobody waits on yet.
    pub fn new() -> Notify {
        Notify::default()
    }

    /// The current generation: pass it to [`Notify::changed`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Move to the next generation and wake every task waiting on an earlier one.
    pub fn notify_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let waiters = std::mem::take(&mut *self.lock());
        for waker in waiters {
            waker.wake();
        }
    }

    /// Resolves once the generation is no longer `seen`.
    pub fn changed(&self, seen: u64) -> Changed<'_> {
        Changed { notify: self, seen }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Waker>> {
        // A panic elsewhere while holding it leaves a list of wakers, still usable.
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The future of [`Notify::changed`].
#[derive(Debug)]
pub struct Changed<'a> {
    notify: &'a Notify,
    seen: u64,
}

impl Future for Changed<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut waiters = self.notify.lock();
        // Read under the lock `notify_all` takes after moving on: no wake-up is lost.
        if self.notify.generation() != self.seen {
            return Poll::Ready(());
        }
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime;
    use futures::StreamExt;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn every_waiter_wakes_and_a_late_change_is_not_missed() {
        runtime::block_on(async {
            let notify = Arc::new(Notify::new());
            let seen = notify.generation();
            let (tx, mut rx) = futures::channel::mpsc::unbounded();
            for _ in 0..10 {
                let (notify, tx) = (Arc::clone(&notify), tx.clone());
                runtime::spawn(async move {
                    notify.changed(seen).await;
                    let _ = tx.unbounded_send(());
                });
            }
            runtime::sleep(Duration::from_millis(20)).await;
            assert!(rx.try_recv().is_err(), "woken before the change");
            notify.notify_all();
            for _ in 0..10 {
                let woken = runtime::timeout(Duration::from_secs(5), rx.next()).await;
                assert_eq!(woken, Some(Some(())));
            }
            // Changed before the wait started: resolves at once.
            notify.changed(seen).await;
        });
    }
}
