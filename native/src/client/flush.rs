//! Syncing the temporary file in the background while the download goes on, so the final
//! fsync before the rename (`--fsync`) only has the tail left to write.

use std::fs;
use std::sync::mpsc::{self, SyncSender};
use std::thread::{self, JoinHandle};

/// Bytes written between two background syncs.
const SYNC_EVERY: u64 = 16 * 1024 * 1024;

/// A thread that syncs the file each time [`SYNC_EVERY`] more bytes were written.
pub(super) struct Flusher {
    wake: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    unsynced: u64,
}

impl Flusher {
    /// `None` if the file cannot be shared with a thread; the final fsync still happens.
    pub(super) fn new(file: &fs::File) -> Option<Flusher> {
        let file = file.try_clone().ok()?;
        let (wake, asked) = mpsc::sync_channel::<()>(1);
        let thread = thread::Builder::new()
            .name("sync".into())
            .spawn(move || {
                while asked.recv().is_ok() {
                    let _ = file.sync_data();
                }
            })
            .ok()?;
        Some(Flusher {
            wake: Some(wake),
            thread: Some(thread),
            unsynced: 0,
        })
    }

    /// `n` more bytes were handed to the file.
    pub(super) fn wrote(&mut self, n: usize) {
        self.unsynced += n as u64;
        if self.unsynced >= SYNC_EVERY {
            self.unsynced = 0;
            if let Some(wake) = &self.wake {
                // Busy with the previous sync: this one folds into the next.
                let _ = wake.try_send(());
            }
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.wake = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
