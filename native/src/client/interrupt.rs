//! Removing the client's temporary file when the process is interrupted (Ctrl-C, `kill`,
//! a closed terminal), so an interrupted download leaves nothing behind, as a failed one
//! doesn't.
//!
//! Destructors do not run when a signal ends the process, so the path to remove is kept where
//! a signal handler can reach it: a leaked C string behind an atomic pointer. The handler does
//! only what is safe in a signal handler (an atomic swap, `unlink`, restoring the default
//! action, `raise`): it removes the file, then lets the signal end the process as it would have,
//! so the shell still sees "killed by SIGINT".

use std::ffi::{c_char, c_int, CString};
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Once;

/// The file to remove on a signal, or null. Whoever swaps a non-null pointer out owns it.
static PART: AtomicPtr<c_char> = AtomicPtr::new(ptr::null_mut());

const SIGNALS: [c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(signal: c_int) {
    let path = PART.swap(ptr::null_mut(), Ordering::SeqCst);
    // SAFETY: `path` is null or a C string leaked by `remove_on_signal` and owned by whoever
    // swaps it out, here this handler; it is never freed once taken here. unlink, signal and
    // raise are async-signal-safe.
    unsafe {
        if !path.is_null() {
            libc::unlink(path);
        }
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

/// While this is alive, SIGINT, SIGTERM or SIGHUP removes the file before ending the process.
#[derive(Debug)]
pub struct RemoveOnSignal {
    _private: (),
}

/// Remove `path` if a signal ends the process before the returned guard is dropped. One path at
/// a time: registering another replaces it.
pub fn remove_on_signal(path: &Path) -> RemoveOnSignal {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        for signal in SIGNALS {
            // SAFETY: installs a handler that only makes async-signal-safe calls (see above).
            // A signal the process ignores (SIG_IGN, e.g. SIGHUP under nohup) stays ignored.
            unsafe {
                let previous = libc::signal(signal, on_signal as *const () as libc::sighandler_t);
                if previous == libc::SIG_IGN {
                    libc::signal(signal, libc::SIG_IGN);
                }
            }
        }
    });
    use std::os::unix::ffi::OsStrExt;
    if let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) {
        take_and_free(PART.swap(c_path.into_raw(), Ordering::SeqCst));
    }
    RemoveOnSignal { _private: () }
}

impl Drop for RemoveOnSignal {
    fn drop(&mut self) {
        take_and_free(PART.swap(ptr::null_mut(), Ordering::SeqCst));
    }
}

/// Free a path this thread swapped out of [`PART`].
fn take_and_free(path: *mut c_char) {
    if !path.is_null() {
        // SAFETY: the pointer came from `CString::into_raw` and was swapped out of PART by this
        // thread, so no one else (the handler included) can reach it any more.
        drop(unsafe { CString::from_raw(path) });
    }
}
