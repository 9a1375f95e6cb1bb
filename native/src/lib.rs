//! Ricochet's native shell: sockets, timers, files and the binaries, on top of the sans-IO
//! `ricochet-core`. It reads bytes, feeds the core, and writes what the core produced; it makes
//! no protocol decision of its own.
//!
//! Module map, lowest first; a folder imports only from folders above it in this list:
//! - [`cli`]: command-line plumbing shared by the binaries: flags, durations, logging,
//!   `--version`, and the exit codes.
//! - [`runtime`]: the plumbing every program runs on: the executor, sockets and timers (the
//!   only place that names the async runtime), TLS, listeners and the accept loop, the
//!   connection driver and graceful stop, signals, worker processes, the client side of one
//!   exchange, and the access-log writer.
//! - [`server`]: the static file server (its service, the root sandbox, `--rate`/`--delay`).
//! - [`client`]: the download client (redirects, `--continue`, `--retry`, progress).
//! - [`balancer`]: the balancer (its service, the prober, reloads, the admin listener, the
//!   server list).
//! - [`cluster`]: the demo cluster (three throttled servers and a balancer in one process).

#![deny(clippy::undocumented_unsafe_blocks)]

pub mod balancer;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod runtime;
pub mod server;
