//! The progress bar on stderr: only when stderr is a terminal and not quiet. The bar takes
//! whatever width the rest of the line leaves, so the line never wraps the terminal.

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{self, IsTerminal};

/// A bar (or a spinner when the total is unknown), or nothing.
pub(super) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar of `total` bytes starting at `start`, the bytes already held when resuming.
    pub(super) fn new(quiet: bool, total: Option<u64>, start: u64) -> Progress {
        if quiet || !io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let (bar, template) = match total {
            Some(n) => (
                ProgressBar::new(n),
                "{prefix}{wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            ),
            None => (
                ProgressBar::new_spinner(),
                "{prefix}{spinner} {bytes} {bytes_per_sec}",
            ),
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        if start > 0 {
            bar.set_prefix(format!("resumed at {} ", HumanBytes(start)));
            bar.set_position(start);
            bar.reset_eta();
        }
        bar.set_draw_target(ProgressDrawTarget::stderr());
        Progress { bar: Some(bar) }
    }

    /// A bar of `total` bytes for a multi-source download, each source's speed on a line below
    /// ([`Progress::set_message`]).
    pub(super) fn multi(quiet: bool, total: u64) -> Progress {
        if quiet || !io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new(total);
        let template = "{wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}\n{wide_msg}";
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_draw_target(ProgressDrawTarget::stderr());
        Progress { bar: Some(bar) }
    }

    /// The text after the bar (a multi-source download's per-source speeds).
    pub(super) fn set_message(&self, text: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(text);
        }
    }

    /// `n` more bytes arrived.
    pub(super) fn advance(&self, n: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(n as u64);
        }
    }

    /// The download is complete: the bar stays, full.
    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }

    /// The download failed: the bar stays where it stopped.
    pub(super) fn abandon(&self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}
