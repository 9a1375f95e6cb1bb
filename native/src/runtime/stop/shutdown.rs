//! The shutdown signal: fired once, watched by every accept loop and connection (which then
//! drain), and counting the connections open under it.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// The graceful-stop signal, cloned into every accept loop and connection; it also counts the
/// connections open under it (for the drain's log lines).
///
/// Checking it is an atomic load: a connection registers its task's waker once (see
/// [`StopWatch`]), not on every wait, because every kept-alive connection waits for the signal
/// and for its socket at once, once per request.
#[derive(Clone)]
pub struct Shutdown {
    signal: Option<Arc<Signal>>,
    open: Arc<AtomicUsize>,
}

/// The shared part of a [`Shutdown`]: whether it fired, and whom to wake when it does.
#[derive(Default)]
struct Signal {
    fired: AtomicBool,
    waiters: Mutex<Waiters>,
}

/// Wakers of the tasks watching a signal, by key; freed keys are reused.
#[derive(Default)]
struct Waiters {
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Signal {
    fn fire(&self) {
        self.fired.store(true, Ordering::SeqCst);
        let waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        for waker in waiters.wakers.iter().flatten() {
            waker.wake_by_ref();
        }
    }
}

/// One open connection, counted by its [`Shutdown`] until dropped.
pub struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Fires the [`Shutdown`] signal it was made with (dropping it fires it too).
pub struct ShutdownTrigger(Arc<Signal>);

impl ShutdownTrigger {
    /// Stop: accept loops end, connections drain.
    pub fn trigger(self) {
        // Dropping fires it.
    }
}

impl Drop for ShutdownTrigger {
    fn drop(&mut self) {
        self.0.fire();
    }
}

/// One task's watch on a [`Shutdown`]: the task is registered to be woken when the signal
/// fires, once, and unregistered when the watch is dropped.
pub struct StopWatch {
    signal: Option<Arc<Signal>>,
    /// The registered waker and its key.
    registered: Option<(usize, Waker)>,
}

impl StopWatch {
    /// Whether the signal has fired; if not, `cx`'s task is woken when it does.
    pub fn poll_fired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(signal) = &self.signal else {
            return false;
        };
        if signal.fired.load(Ordering::SeqCst) {
            return true;
        }
        match &self.registered {
            Some((_, waker)) if waker.will_wake(cx.waker()) => {}
            _ => {
                let mut waiters = signal.waiters.lock().unwrap_or_else(|e| e.into_inner());
                let waker = cx.waker().clone();
                let key = match self.registered.take() {
                    Some((key, _)) => key,
                    None => match waiters.free.pop() {
                        Some(key) => key,
                        None => {
                            waiters.wakers.push(None);
                            waiters.wakers.len() - 1
                        }
                    },
                };
                waiters.wakers[key] = Some(waker.clone());
                self.registered = Some((key, waker));
            }
        }
        // Fired between the first check and the registration: the wake may have been missed.
        signal.fired.load(Ordering::SeqCst)
    }

    /// `future`'s output (`Some`), or `None` if the signal fires first. The future is polled
    /// first: one that is ready wins over a stop.
    pub async fn until<F: Future>(&mut self, future: F) -> Option<F::Output> {
        let mut future = std::pin::pin!(future);
        std::future::poll_fn(|cx| match future.as_mut().poll(cx) {
            Poll::Ready(output) => Poll::Ready(Some(output)),
            Poll::Pending if self.poll_fired(cx) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        })
        .await
    }
}

impl Drop for StopWatch {
    fn drop(&mut self) {
        if let (Some(signal), Some((key, _))) = (&self.signal, &self.registered) {
            let mut waiters = signal.waiters.lock().unwrap_or_else(|e| e.into_inner());
            waiters.wakers[*key] = None;
            waiters.free.push(*key);
        }
    }
}

impl Shutdown {
    /// A signal and what fires it.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let signal = Arc::new(Signal::default());
        (
            ShutdownTrigger(Arc::clone(&signal)),
            Shutdown {
                signal: Some(signal),
                open: Arc::default(),
            },
        )
    }

    /// A signal that never fires (costs nothing to watch).
    pub fn never() -> Shutdown {
        Shutdown {
            signal: None,
            open: Arc::default(),
        }
    }

    /// Count a connection as open until the returned value is dropped.
    pub fn open(&self) -> Open {
        self.open.fetch_add(1, Ordering::Relaxed);
        Open(Arc::clone(&self.open))
    }

    /// Connections open now under this signal (and its clones).
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Whether it has fired.
    pub fn is_triggered(&self) -> bool {
        self.signal
            .as_ref()
            .is_some_and(|s| s.fired.load(Ordering::SeqCst))
    }

    /// A watch for one task (see [`StopWatch::poll_fired`]).
    pub fn watch(&self) -> StopWatch {
        StopWatch {
            signal: self.signal.clone(),
            registered: None,
        }
    }

    /// Wait until it fires (forever for [`Shutdown::never`]).
    pub async fn wait(&self) {
        let mut watch = self.watch();
        std::future::poll_fn(|cx| {
            if watch.poll_fired(cx) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A waker that counts its wakes.
    struct Count(AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_stop_wakes_every_watching_task_once_and_not_those_that_stopped_watching() {
        let (trigger, shutdown) = Shutdown::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        let mut a = shutdown.watch();
        let mut b = shutdown.clone().watch();
        assert!(!a.poll_fired(&mut cx));
        assert!(!a.poll_fired(&mut cx), "polled again: registered once");
        assert!(!b.poll_fired(&mut cx));
        drop(b);
        let mut c = shutdown.watch();
        assert!(!c.poll_fired(&mut cx));
        trigger.trigger();
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            2,
            "a and c, not the dropped b"
        );
        assert!(a.poll_fired(&mut cx) && c.poll_fired(&mut cx));
        assert!(shutdown.is_triggered());
        assert!(
            shutdown.watch().poll_fired(&mut cx),
            "a watch made after the stop"
        );
        assert!(!Shutdown::never().watch().poll_fired(&mut cx));
    }
}
