//! Ricochet's sans-IO core: everything Ricochet knows about HTTP/1.1, URLs, serving files,
//! downloading, redirects, server ranking and probe scheduling, as pure functions and state
//! machines.
//!
//! Nothing here touches a socket, a file, a clock or the OS's randomness. Bytes come in as `&[u8]`,
//! time as an [`std::time::Instant`] or [`std::time::SystemTime`] value passed by the caller, and
//! randomness as an injected [`rand::Rng`]. The caller (the `ricochet` crate, or any other runtime,
//! WASI included) owns the I/O: it reads, feeds the core, writes what the core produced and sleeps
//! until the core's next deadline.
//!
//! Module map, lowest first; a folder imports only from folders above it in this list:
//! - [`http`]: the wire protocol, used by everything: request and response heads
//!   (`request`, `response`, `write`), bodies (`body`), one server-side connection
//!   (`connection`) and one client-side exchange (`exchange`), `date`, `url`, `status`,
//!   `error_page`, `access_log`, whole-file digest fields (`digest`, `base64`), and Ricochet's own
//!   report headers (`report`).
//! - [`files`]: what the static file server answers (`serve`, `conditional`, `range`).
//! - [`download`]: what the download client decides (`follow`, `resume`).
//! - [`balance`]: the balancer: probe verdicts (`verdict`), each server's health and when to
//!   probe it (`probe`), the ranked pool (`pool`), redirect answers (`redirect`), the admin
//!   application (`admin`), and the `balancer` that drives them; for verified redirects, what one
//!   file check yields (`file_check`), which server holds the current copy of which file
//!   (`file_index`, bounded by a private least-recently-used map, `lru`) and one request's pick
//!   among them (`file_pick`), and what it shows (`mirror_list`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod balance;
pub mod download;
pub mod files;
pub mod http;

/// The README's Rust examples (if any), compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// The Rust examples of docs/architecture.md, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../../docs/architecture.md")]
struct ArchitectureDoctests;
