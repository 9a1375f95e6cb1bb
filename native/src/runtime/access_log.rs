//! `--access-log PATH`: one Combined Log Format line per request ([`ricochet_core::http::access_log`]
//! formats it), written by a background thread so a slow disk never stalls a connection.
//!
//! A connection formats its line into a per-thread scratch buffer, then appends it to a shared
//! buffer under a mutex held only for that copy. The writer thread swaps the buffer out and
//! writes it at least every [`FLUSH_EVERY`], sooner once [`EAGER`] bytes are waiting. Memory
//! is bounded: past [`MAX_PENDING`] bytes waiting, lines are dropped and counted, and the
//! writer logs how many once it catches up.

use std::cell::RefCell;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Longest a line waits before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Wake the writer early once this many bytes wait.
pub const EAGER: usize = 64 * 1024;
/// Most bytes waiting to be written; lines beyond are dropped.
pub const MAX_PENDING: usize = 4 * 1024 * 1024;

struct Shared {
    pending: Mutex<Vec<u8>>,
    wake: Condvar,
    dropped: AtomicU64,
    /// The file (or stderr). Taken before `pending` by whoever writes, so batches reach it in
    /// the order they were taken.
    out: Mutex<Box<dyn Write + Send>>,
}

/// A handle on the access log; cheap to clone, shared by every connection.
#[derive(Clone)]
pub struct AccessLog {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessLog")
    }
}

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(512));
}

impl AccessLog {
    /// Open `path` for appending (created if missing; `-` is stderr) and start the writer
    /// thread.
    pub fn open(path: &Path) -> io::Result<AccessLog> {
        let out: Box<dyn Write + Send> = if path == Path::new("-") {
            Box::new(io::stderr())
        } else {
            Box::new(OpenOptions::new().create(true).append(true).open(path)?)
        };
        let shared = Arc::new(Shared {
            pending: Mutex::new(Vec::with_capacity(EAGER)),
            wake: Condvar::new(),
            dropped: AtomicU64::new(0),
            out: Mutex::new(out),
        });
        let writer = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_forever(&writer))?;
        Ok(AccessLog { shared })
    }

    /// Add one line: `format` appends it (newline included) to the buffer it is given.
    pub fn record(&self, format: impl FnOnce(&mut Vec<u8>)) {
        SCRATCH.with(|scratch| {
            let mut line = scratch.borrow_mut();
            line.clear();
            format(&mut line);
            let mut pending = self
                .shared
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if pending.len() + line.len() > MAX_PENDING {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let was_below = pending.len() < EAGER;
            pending.extend_from_slice(&line);
            if was_below && pending.len() >= EAGER {
                self.shared.wake.notify_one();
            }
        });
    }
}

impl AccessLog {
    /// Write out every line recorded so far, now (for a clean exit); blocks until written.
    pub fn flush(&self) {
        let mut batch = Vec::new();
        write_batch(&self.shared, &mut batch, &mut false);
    }
}

/// Take what is pending (swapping in `batch`'s buffer) and write it.
fn write_batch(shared: &Shared, batch: &mut Vec<u8>, failed: &mut bool) {
    let mut out = shared.out.lock().unwrap_or_else(|e| e.into_inner());
    {
        let mut pending = shared.pending.lock().unwrap_or_else(|e| e.into_inner());
        // Swap buffers: connections go on appending to the (empty) previous batch.
        std::mem::swap(&mut *pending, batch);
    }
    if batch.is_empty() {
        return;
    }
    match out.write_all(batch).and_then(|()| out.flush()) {
        Ok(()) => *failed = false,
        Err(e) if !*failed => {
            // Said once per run of failures, not once per batch.
            log::error!("cannot write the access log: {e}");
            *failed = true;
        }
        Err(_) => {}
    }
    batch.clear();
    // A burst may have grown the buffer far beyond its usual size: give it back.
    batch.shrink_to(EAGER);
}

fn write_forever(shared: &Shared) {
    let mut batch: Vec<u8> = Vec::with_capacity(EAGER);
    let mut failed = false;
    loop {
        {
            let pending = shared.pending.lock().unwrap_or_else(|e| e.into_inner());
            let _woken = shared
                .wake
                .wait_timeout_while(pending, FLUSH_EVERY, |p| p.len() < EAGER)
                .unwrap_or_else(|e| e.into_inner());
        }
        write_batch(shared, &mut batch, &mut failed);
        let dropped = shared.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            log::warn!("access log: {dropped} lines dropped, the log could not keep up");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn lines_reach_the_file_within_the_flush_interval() {
        let dir = std::env::temp_dir().join(format!("ricochet-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("access.log");
        let log = AccessLog::open(&path).unwrap();
        for i in 0..3 {
            log.record(|out| out.extend_from_slice(format!("line {i}\n").as_bytes()));
        }
        let end = Instant::now() + FLUSH_EVERY * 5;
        let text = loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.lines().count() == 3 || Instant::now() > end {
                break text;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(text, "line 0\nline 1\nline 2\n");
        // flush() writes at once, whatever the interval.
        log.record(|out| out.extend_from_slice(b"line 3\n"));
        log.flush();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("line 2\nline 3\n"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn memory_stays_bounded_when_the_writer_cannot_keep_up() {
        // A writer that never finishes: hold the file's lock so nothing is taken out.
        let dir = std::env::temp_dir().join(format!("ricochet-access-full-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = AccessLog::open(&dir.join("access.log")).unwrap();
        let held = log.shared.out.lock().unwrap();
        let line = [b'x'; 1023];
        for _ in 0..(MAX_PENDING / 1024 + 100) {
            log.record(|out| {
                out.extend_from_slice(&line);
                out.push(b'\n');
            });
        }
        let pending = log.shared.pending.lock().unwrap().len();
        assert!(pending <= MAX_PENDING, "{pending}");
        assert!(log.shared.dropped.load(Ordering::Relaxed) >= 100);
        drop(held);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
