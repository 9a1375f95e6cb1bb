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
//! the usual way (Ctrl-C, `kill`) stops all of it.

use std::io;

/// Fork `extra` worker processes. Returns 0 in the calling process and 1..=extra in each
/// worker. Call it before anything starts a thread.
#[cfg(target_os = "linux")]
pub fn fork(extra: usize) -> io::Result<usize> {
    use std::io::Write;
    // Whatever is buffered would otherwise be written by every process.
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    for index in 1..=extra {
        // SAFETY: no other thread exists (the caller's contract), so the child is a complete
        // copy of this single-threaded process and may go on running ordinary Rust code.
        match unsafe { libc::fork() } {
            -1 => return Err(io::Error::last_os_error()),
            0 => {
                // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number; getppid has no
                // preconditions. If the parent died before the prctl, it would never fire.
                unsafe {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0
                        || libc::getppid() != parent
                    {
                        std::process::exit(0);
                    }
                }
                return Ok(index);
            }
            _ => {}
        }
    }
    Ok(0)
}

/// Worker processes need Linux (`SO_REUSEPORT` spreading, `PR_SET_PDEATHSIG`).
#[cfg(not(target_os = "linux"))]
pub fn fork(_extra: usize) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "--workers above 1 needs Linux",
    ))
}
