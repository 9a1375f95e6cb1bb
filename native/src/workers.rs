//! Worker processes for the server (`--workers N`), the way nginx runs `worker_processes`.
//!
//! async-std drives every socket of a process from one reactor, so threads added to a process
//! share it (and hand tasks to each other); a second process has a reactor of its own. The
//! server forks its workers before the runtime starts (no thread exists yet, so the child is a
//! plain copy), each binds its own `SO_REUSEPORT` socket on the address the first one got, and
//! the kernel spreads new connections over them. Serving files is stateless, so the workers
//! need nothing from each other.
//!
//! A worker dies with the process that started it (`PR_SET_PDEATHSIG`), so stopping the server
//! the usual way (Ctrl-C, `kill`) stops all of it; and the first process ends the server when
//! any worker ends ([`stop_with_any_worker`]). Limits such as `--max-connections` apply to each
//! process.

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
            _ => {}
        }
    }
    Ok(0)
}

/// In the first process: end the whole server (exit status 3) as soon as any worker ends, so a
/// crashed or failed worker is never a silent loss of capacity (the other workers follow by
/// `PR_SET_PDEATHSIG`; a supervisor such as systemd restarts the server). Runs on a thread of
/// its own, started after the fork.
#[cfg(target_os = "linux")]
pub fn stop_with_any_worker() {
    let watcher = std::thread::Builder::new()
        .name("workers".into())
        .spawn(|| loop {
            match rustix::process::wait(rustix::process::WaitOptions::empty()) {
                Ok(Some((pid, status))) => {
                    log::error!(
                        "worker process {} ended ({status:?}); stopping the server",
                        pid.as_raw_nonzero()
                    );
                    std::process::exit(3);
                }
                Err(rustix::io::Errno::INTR) => {}
                // No child left to wait for (ECHILD) or none reported.
                Ok(None) | Err(_) => return,
            }
        });
    if let Err(e) = watcher {
        log::warn!("cannot watch the worker processes: {e}");
    }
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
