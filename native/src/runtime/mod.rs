//! The plumbing every program runs on.
//!
//! - [`executor`]: tasks, sockets and timers, the only module that names the async runtime
//!   (its names are re-exported here: [`TcpListener`], [`TcpStream`], [`spawn`], [`sleep`],
//!   [`timeout`], [`block_on`], [`resolve`]...); the rest of the crate reads and writes through
//!   the `futures::io` traits ([`AsyncReadExt`], [`AsyncWriteExt`]).
//! - [`file`](mod@file): files the server reads, and where their blocking calls are made ([`fs`]).
//! - [`tls`]: rustls configurations from PEM files, handshakes, the plain-or-TLS stream, and a
//!   throwaway CA for `cluster --tls` and the tests.
//! - [`listen`]: listeners from `--listen` flags; [`accept`]: the accept loop; [`conn`]: a server connection's buffer and deadlines;
//!   [`service`]: what an application does with a request; [`driver`]: the loop between them
//!   and the core's connection machine.
//! - [`stop`]: the shutdown signal and the graceful stop on SIGTERM/SIGINT; [`signal`]: Unix
//!   signals as callbacks; [`workers`]: worker processes.
//! - [`exchange`]: the client side of one exchange; [`access_log`]: the access-log writer.
//! - [`notify`]: tasks parked until shared state changes, woken all at once.

pub mod accept;
pub mod access_log;
pub mod conn;
pub mod driver;
pub mod exchange;
pub mod executor;
pub mod file;
pub mod listen;
pub mod notify;
pub mod service;
#[cfg(unix)]
pub mod signal;
pub mod stop;
pub mod tls;
pub mod workers;

pub use executor::{
    bind, bind_first_std, bind_std, block_on, connect, now, resolve, set_threads, sleep, spawn,
    spawn_connection, timeout, Deadline, TcpListener, TcpStream,
};
pub use file::{fs, File};
pub use futures::io::{AsyncReadExt, AsyncWriteExt};
