//! Unix signals as ordinary callbacks: [`watch`] runs a closure on a dedicated thread each time
//! the process receives a signal (SIGHUP to reload the balancer's servers; SIGTERM and SIGINT
//! for a graceful stop).
//!
//! The OS handler only writes the signal's number into a socket pair (the self-pipe trick:
//! `write` is async-signal-safe, a lock or an allocation is not); one thread blocks reading the
//! other end and calls the closures registered for that signal, where anything goes. async-std
//! has no signal API, and the `signal-hook` crate would be one more dependency for these few
//! lines. The client's temporary-file cleanup (`client::interrupt`) is separate on purpose: it
//! must act inside the handler, before the signal ends the process.

use std::ffi::c_int;
use std::io::{self, Read};
use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// A signal [`watch`] can deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// SIGHUP: reload the configuration.
    Hangup,
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM: stop.
    Terminate,
}

impl Signal {
    fn number(self) -> c_int {
        match self {
            Signal::Hangup => libc::SIGHUP,
            Signal::Interrupt => libc::SIGINT,
            Signal::Terminate => libc::SIGTERM,
        }
    }

    fn from_number(n: u8) -> Option<Signal> {
        [Signal::Hangup, Signal::Interrupt, Signal::Terminate]
            .into_iter()
            .find(|s| s.number() == c_int::from(n))
    }
}

/// The write end of the socket pair, for the OS handler; -1 until set up.
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

type Callback = Arc<dyn Fn() + Send + Sync>;

struct Registry {
    callbacks: Mutex<Vec<(Signal, Callback)>>,
}

extern "C" fn on_signal(signal: c_int) {
    let fd = WRITE_FD.load(Ordering::Relaxed);
    let byte = signal as u8;
    // SAFETY: write(2) is async-signal-safe; `byte` lives for the call and `fd` is the
    // non-blocking write end set up before any handler was installed (never closed). A full
    // socket drops the byte: the reader has signals of this kind pending anyway. errno is
    // saved and restored so the interrupted code never sees a changed value.
    unsafe {
        let saved = errno();
        libc::write(fd, (&byte as *const u8).cast(), 1);
        set_errno(saved);
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
unsafe fn errno() -> c_int {
    // SAFETY: __errno_location returns this thread's errno; reading it is always valid.
    unsafe { *libc::__errno_location() }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
unsafe fn set_errno(value: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = value }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
unsafe fn errno() -> c_int {
    // SAFETY: __error returns this thread's errno (BSDs, macOS).
    unsafe { *libc::__error() }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
unsafe fn set_errno(value: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__error() = value }
}

/// The registry, with its socket pair and reader thread started on first use.
fn registry() -> io::Result<&'static Registry> {
    static REGISTRY: OnceLock<io::Result<Registry>> = OnceLock::new();
    let result = REGISTRY.get_or_init(|| {
        let (mut reader, writer) = UnixStream::pair()?;
        writer.set_nonblocking(true)?;
        // The write end lives as long as the process: the handler may run at any time.
        WRITE_FD.store(writer.into_raw_fd(), Ordering::Relaxed);
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                let mut byte = [0u8; 1];
                while let Ok(1) = reader.read(&mut byte) {
                    let Some(signal) = Signal::from_number(byte[0]) else {
                        continue;
                    };
                    let callbacks: Vec<Callback> = registry()
                        .map(|r| {
                            r.callbacks
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .iter()
                                .filter(|(s, _)| *s == signal)
                                .map(|(_, c)| Arc::clone(c))
                                .collect()
                        })
                        .unwrap_or_default();
                    for callback in callbacks {
                        callback();
                    }
                }
                log::error!("signal reader stopped: signals are no longer handled");
            })?;
        Ok(Registry {
            callbacks: Mutex::new(Vec::new()),
        })
    });
    result
        .as_ref()
        .map_err(|e| io::Error::new(e.kind(), e.to_string()))
}

/// Call `callback` on the signal thread every time the process receives `signal`, from now
/// on (the signal's default action, e.g. ending the process, no longer happens). Several
/// callbacks may watch the same signal; they run one after the other, in registration order,
/// and should return quickly (send a message, set a flag).
pub fn watch(signal: Signal, callback: impl Fn() + Send + Sync + 'static) -> io::Result<()> {
    let registry = registry()?;
    let mut callbacks = registry.callbacks.lock().unwrap_or_else(|e| e.into_inner());
    let first = !callbacks.iter().any(|(s, _)| *s == signal);
    callbacks.push((signal, Arc::new(callback)));
    if first {
        install(signal)?;
    }
    Ok(())
}

fn install(signal: Signal) -> io::Result<()> {
    // SAFETY: `action` is zero-initialised (a valid sigaction: empty mask, no flags) and then
    // filled in; `on_signal` only makes async-signal-safe calls. SA_RESTART keeps blocking
    // calls elsewhere from failing with EINTR.
    let result = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal.number(), &action, std::ptr::null_mut())
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The raw descriptor the handler writes to, for tests.
#[cfg(test)]
fn write_fd() -> i32 {
    WRITE_FD.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn a_raised_signal_reaches_every_callback_watching_it() {
        let (tx, rx) = mpsc::channel();
        let tx2 = Mutex::new(tx.clone());
        let tx = Mutex::new(tx);
        watch(Signal::Hangup, move || {
            let _ = tx.lock().unwrap().send(1);
        })
        .unwrap();
        watch(Signal::Hangup, move || {
            let _ = tx2.lock().unwrap().send(2);
        })
        .unwrap();
        assert!(write_fd() >= 0);
        // SAFETY: raise(3) sends SIGHUP to this process, whose handler was just installed.
        unsafe {
            libc::raise(libc::SIGHUP);
        }
        let mut got = [
            rx.recv_timeout(Duration::from_secs(5)).unwrap(),
            rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        ];
        got.sort();
        assert_eq!(got, [1, 2]);
    }

    #[test]
    fn signal_numbers_round_trip() {
        for s in [Signal::Hangup, Signal::Interrupt, Signal::Terminate] {
            assert_eq!(Signal::from_number(s.number() as u8), Some(s));
        }
        assert_eq!(Signal::from_number(0), None);
    }
}
