//! Command-line plumbing shared by the binaries: flags, durations, logging, `--version`, and the exit codes ([`exit::Exit`]).

pub mod duration;
pub mod exit;
pub mod flags;
pub mod logging;
pub mod version;
