//! Ricochet's native shell: sockets, timers, files and the binaries, on top of the sans-IO
//! `ricochet-core`. It reads bytes, feeds the core, and writes what the core produced; it makes
//! no protocol decision of its own.
//!
//! Module map:
//! - [`runtime`]: the only module that names the async runtime (async-std today).
//! - [`accept`]: the accept loop with its connection cap and accept-error backoff.
//! - [`driver`]: the one connection loop for the server, the balancer and the admin listener,
//!   driving the core's `ServerConnection`; a [`driver::Service`] (or
//!   [`driver::InstantService`]) is the per-application part; graceful stop.
//! - [`stop`]: SIGTERM and SIGINT fire the driver's graceful stop (`--shutdown-timeout`);
//!   [`workers`]: the server's worker processes, which stop with the first.
//! - [`conn`]: a connection's I/O: a byte stream and its receive buffer, under deadlines.
//! - [`server`]: the static file server's service.
//! - [`throttle`]: `--rate` and `--delay`.
//! - [`exchange`]: the client side of one request (connect, send, receive through the core's
//!   response reader), shared by the client and the prober.
//! - [`tls`]: rustls configurations from PEM files, handshakes under a deadline, and
//!   [`tls::Stream`], plain TCP or TLS behind one set of I/O traits; a throwaway CA for
//!   `cluster --tls` and the tests.
//! - [`client`]: the download client (redirects, `--continue`, `--retry`).
//! - [`balancer`]: the balancer's service and its prober (probes, client reports, reloads);
//!   [`probe`]: one probe download; [`servers`]: reading the server list.
//! - [`cluster`]: the demo cluster (three throttled servers and a balancer in one process).
//! - [`admin`]: the balancer's admin listener; [`counters`]: what it counts on the hot path.
//! - [`access_log`]: `--access-log`, written by a background thread.
//! - [`version`]: the `--version` flag.
//! - [`listen`], [`logging`], [`duration`], [`flags`]: command-line plumbing shared by the
//!   binaries.
//! - [`signal`]: Unix signals as callbacks on a thread (SIGHUP reload, SIGTERM/SIGINT stop);
//!   [`interrupt`]: the client's temporary-file cleanup on a signal.

#![deny(clippy::undocumented_unsafe_blocks)]

pub mod accept;
pub mod access_log;
pub mod admin;
pub mod balancer;
pub mod client;
pub mod cluster;
pub mod conn;
pub mod counters;
pub mod driver;
pub mod duration;
pub mod exchange;
pub mod flags;
#[cfg(unix)]
pub mod interrupt;
pub mod listen;
pub mod logging;
pub mod probe;
pub mod runtime;
pub mod server;
pub mod servers;
#[cfg(unix)]
pub mod signal;
#[cfg(unix)]
pub mod stop;
pub mod throttle;
pub mod tls;
pub mod version;
pub mod workers;
