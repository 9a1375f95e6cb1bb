//! Graceful stop on SIGTERM and SIGINT, for `server`, `balancer` and `cluster`.
//!
//! The first signal fires the [`Shutdown`] the process serves under: listeners close at once
//! (new connections are refused), answers in flight complete, idle connections close, and
//! serving returns once every connection has ended; then [`GracefulStop::finish`] gives exit
//! status 0. If connections are still open after the shutdown timeout, or a second signal
//! comes, the process ends at once with [`Exit::Forced`] (the kernel closes what is left).

use crate::cli::exit::Exit;
use crate::runtime::signal::{self, Signal};
use crate::runtime::stop::{Shutdown, ShutdownTrigger};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Hook = Box<dyn Fn() + Send + Sync>;

/// The process's graceful stop: what SIGTERM and SIGINT do once [`GracefulStop::on_signals`]
/// has set it up.
#[derive(Clone)]
pub struct GracefulStop {
    state: Arc<State>,
    shutdown: Shutdown,
}

struct State {
    trigger: Mutex<Option<ShutdownTrigger>>,
    timeout: Duration,
    second_signal_forces: bool,
    signals: AtomicUsize,
    started: Mutex<Option<Instant>>,
    finished: AtomicBool,
    on_start: Mutex<Vec<Hook>>,
    on_force: Mutex<Vec<Hook>>,
    on_exit: Mutex<Vec<Hook>>,
}

impl GracefulStop {
    /// From now on SIGTERM and SIGINT start a drain of at most `timeout`. With
    /// `second_signal_forces`, a second signal during the drain ends the process at once with
    /// [`Exit::Forced`] (a worker process leaves that to the process that started it). If the
    /// handlers cannot be installed, a warning is logged and the signals keep ending the process
    /// at once.
    pub fn on_signals(timeout: Duration, second_signal_forces: bool) -> GracefulStop {
        let (trigger, shutdown) = Shutdown::new();
        let stop = GracefulStop {
            state: Arc::new(State {
                trigger: Mutex::new(Some(trigger)),
                timeout,
                second_signal_forces,
                signals: AtomicUsize::new(0),
                started: Mutex::new(None),
                finished: AtomicBool::new(false),
                on_start: Mutex::new(Vec::new()),
                on_force: Mutex::new(Vec::new()),
                on_exit: Mutex::new(Vec::new()),
            }),
            shutdown,
        };
        for (signal, name) in [
            (Signal::Terminate, "SIGTERM"),
            (Signal::Interrupt, "SIGINT"),
        ] {
            let this = stop.clone();
            if let Err(e) = signal::watch(signal, move || this.handle_signal(name)) {
                log::warn!("cannot handle {name}; it will stop the process at once: {e}");
            }
        }
        stop
    }

    /// The signal to serve under.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Run `hook` (on the signal thread) when the drain starts, before the listeners stop, e.g.
    /// to pass the stop on to worker processes; it ends before the process can.
    pub fn on_start(&self, hook: impl Fn() + Send + Sync + 'static) {
        lock(&self.state.on_start).push(Box::new(hook));
    }

    /// Run `hook` just before the process ends with [`Exit::Forced`], e.g. to kill worker
    /// processes.
    pub fn on_force(&self, hook: impl Fn() + Send + Sync + 'static) {
        lock(&self.state.on_force).push(Box::new(hook));
    }

    /// Run `hook` when the stop ends, cleanly ([`GracefulStop::finish`]) or not, e.g. to flush
    /// the access log.
    pub fn on_exit(&self, hook: impl Fn() + Send + Sync + 'static) {
        lock(&self.state.on_exit).push(Box::new(hook));
    }

    fn handle_signal(&self, name: &str) {
        let count = self.state.signals.fetch_add(1, Ordering::SeqCst) + 1;
        if count == 1 {
            self.start(name);
        } else if self.state.second_signal_forces {
            self.force(&format!("{name} again during the drain"));
        }
    }

    /// Whether the drain has started.
    pub fn is_stopping(&self) -> bool {
        lock(&self.state.started).is_some()
    }

    /// Start the drain (once; later calls do nothing): stop accepting, let connections finish,
    /// and end the process with [`Exit::Forced`] if they have not after the timeout. `reason`
    /// names the cause in the log line.
    pub fn start(&self, reason: &str) {
        let Some(trigger) = lock(&self.state.trigger).take() else {
            return;
        };
        *lock(&self.state.started) = Some(Instant::now());
        let timeout = self.state.timeout;
        log::info!(
            "{reason}: stopping; no longer accepting; {} open, draining (at most {timeout:?})",
            connections(self.shutdown.open_connections())
        );
        // The hooks run before the trigger: once triggered, a process with nothing to drain may
        // end at once, and a hook cut off half-way (giving a lease back) would be lost.
        for hook in lock(&self.state.on_start).iter() {
            hook();
        }
        trigger.trigger();
        let this = self.clone();
        let timer = std::thread::Builder::new()
            .name("shutdown-timeout".into())
            .spawn(move || {
                std::thread::sleep(timeout);
                this.force(&format!("shutdown timeout ({timeout:?}) passed"));
            });
        if let Err(e) = timer {
            log::warn!("cannot time the drain, it may take as long as connections do: {e}");
        }
    }

    fn force(&self, reason: &str) {
        if self.state.finished.load(Ordering::SeqCst) {
            return;
        }
        log::warn!(
            "{reason}: cutting {} still open; exit status {}",
            connections(self.shutdown.open_connections()),
            Exit::Forced.code()
        );
        for hook in lock(&self.state.on_force).iter() {
            hook();
        }
        for hook in lock(&self.state.on_exit).iter() {
            hook();
        }
        log::logger().flush();
        std::process::exit(i32::from(Exit::Forced.code()));
    }

    /// Serving has returned (every connection ended): log the end of the drain and give the
    /// exit status, 0, or [`Exit::Forced`] if `clean` is false (a worker did not drain cleanly).
    pub fn finish(&self, clean: bool) -> ExitCode {
        self.state.finished.store(true, Ordering::SeqCst);
        for hook in lock(&self.state.on_exit).iter() {
            hook();
        }
        let took = lock(&self.state.started).map(|t| t.elapsed());
        match (took, clean) {
            (Some(took), true) => log::info!("drained: every connection closed in {took:.1?}"),
            (Some(took), false) => {
                log::warn!("stopped in {took:.1?}, but not every worker drained cleanly")
            }
            (None, _) => {}
        }
        if clean { Exit::Success } else { Exit::Forced }.into()
    }
}

/// `1 connection`, `2 connections`: for the log lines.
fn connections(n: usize) -> String {
    match n {
        1 => "1 connection".to_string(),
        n => format!("{n} connections"),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
