//! Worker processes for the server (`--workers N`), the way nginx runs `worker_processes`.
//!
//! async-std drives every socket of a process from one reactor, so threads added to a process
//! share it (and hand tasks to each other); a second process has a reactor of its own. The
//! server forks its workers before the runtime starts (no thread exists yet, so the child is a
//! plain copy), each binds its own `SO_REUSEPORT` socket on the address the first one got, and
//! the kernel spreads new connections over them. Serving files is stateless, so the workers
//! need nothing from each other.
//!
//! SIGTERM or SIGINT to the first process stops all of it gracefully: it passes the stop on
//! to its workers and waits for them ([`supervise`]). A worker dies with the process that
//! started it (`PR_SET_PDEATHSIG`), and the first process ends the server when a worker fails.
//! Limits such as `--max-connections` apply to each process.

use std::io;

/// Fork `extra` worker processes. Returns 0 in the calling process and 1..=extra in each
/// worker. Call it before anything starts a thread.
#[cfg(target_os = "linux")]
pub fn fork(extra: usize) -> io::Result<usize> {
    use std::io::Write;
    // Whatever is buffered would otherwise be written by every process.
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    let parent = rustix::process::getpid();
    for index in 1..=extra {
        // SAFETY: no other thread exists (the caller's contract), so the child is a complete
        // copy of this single-threaded process and may go on running ordinary Rust code. rustix
        // has no safe fork (none can exist: it is only sound without other threads).
        match unsafe { libc::fork() } {
            -1 => return Err(io::Error::last_os_error()),
            0 => {
                // If the parent died before the prctl, the signal would never fire: exit then.
                let death_signal = rustix::process::Signal::TERM;
                if rustix::process::set_parent_process_death_signal(Some(death_signal)).is_err()
                    || rustix::process::getppid() != Some(parent)
                {
                    std::process::exit(0);
                }
                return Ok(index);
            }
            pid => {
                if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                    family().running.push(pid);
                }
            }
        }
    }
    Ok(0)
}

/// The worker processes the first process started, and how they ended.
#[cfg(target_os = "linux")]
struct Family {
    running: Vec<rustix::process::Pid>,
    /// A graceful stop has been passed on to the workers: their ending is expected.
    stopping: bool,
    /// Every worker that ended during the stop exited 0.
    clean: bool,
}

#[cfg(target_os = "linux")]
static FAMILY: std::sync::Mutex<Family> = std::sync::Mutex::new(Family {
    running: Vec::new(),
    stopping: false,
    clean: true,
});

#[cfg(target_os = "linux")]
static ENDED: std::sync::Condvar = std::sync::Condvar::new();

#[cfg(target_os = "linux")]
fn family() -> std::sync::MutexGuard<'static, Family> {
    FAMILY.lock().unwrap_or_else(|e| e.into_inner())
}

/// In the first process, after [`fork`]: watch the workers on a thread of their own.
///
/// A graceful stop of this process (`stop`) is passed on to every worker (SIGTERM), whose
/// ending is then expected; [`wait_for_workers`] waits for them, and a forced end of this
/// process kills them. A worker that ends with status 0 by itself (it was sent SIGTERM or
/// SIGINT directly) starts the graceful stop of the whole server. Any other ending of a worker
/// ends the whole server at once ([`Exit::WorkerFailed`](crate::cli::exit::Exit::WorkerFailed)), so a crashed or failed worker is never a
/// silent loss of capacity (the other workers follow by `PR_SET_PDEATHSIG`; a supervisor such as
/// systemd restarts the server).
#[cfg(target_os = "linux")]
pub fn supervise(stop: &crate::runtime::stop::GracefulStop) {
    stop.on_start(|| {
        let mut family = family();
        family.stopping = true;
        for &pid in &family.running {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    });
    stop.on_force(|| {
        for &pid in &family().running {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    });
    let stop = stop.clone();
    let watcher = std::thread::Builder::new()
        .name("workers".into())
        .spawn(move || loop {
            match rustix::process::wait(rustix::process::WaitOptions::empty()) {
                Ok(Some((pid, status))) => {
                    let clean = status.exit_status() == Some(0);
                    let mut family = family();
                    family.running.retain(|&p| p != pid);
                    if family.stopping || clean {
                        family.clean &= clean;
                        let first = !family.stopping;
                        drop(family);
                        ENDED.notify_all();
                        if first {
                            stop.start(&format!("worker process {} stopped", pid.as_raw_nonzero()));
                        }
                        continue;
                    }
                    log::error!(
                        "worker process {} ended ({status:?}); stopping the server",
                        pid.as_raw_nonzero()
                    );
                    let failed = crate::cli::exit::Exit::WorkerFailed;
                    std::process::exit(i32::from(failed.code()));
                }
                Err(rustix::io::Errno::INTR) => {}
                // No child left to wait for (ECHILD) or none reported.
                Ok(None) | Err(_) => {
                    let mut family = family();
                    family.running.clear();
                    drop(family);
                    ENDED.notify_all();
                    return;
                }
            }
        });
    if let Err(e) = watcher {
        log::warn!("cannot watch the worker processes: {e}");
    }
}

/// In the first process, once it has drained: wait until every worker has ended. Returns
/// whether all of them drained cleanly (true without workers).
#[cfg(target_os = "linux")]
pub fn wait_for_workers() -> bool {
    let mut family = family();
    while !family.running.is_empty() {
        family = ENDED.wait(family).unwrap_or_else(|e| e.into_inner());
    }
    family.clean
}

/// Without workers there is nothing to wait for.
#[cfg(not(target_os = "linux"))]
pub fn wait_for_workers() -> bool {
    true
}

/// Worker processes need Linux (`SO_REUSEPORT` spreading, `PR_SET_PDEATHSIG`).
#[cfg(not(target_os = "linux"))]
pub fn fork(extra: usize) -> io::Result<usize> {
    if extra == 0 {
        return Ok(0);
    }
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "--workers above 1 needs Linux",
    ))
}
