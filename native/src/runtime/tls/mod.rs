//! TLS, in the native shell only (the core sees plaintext bytes). The handshake and record
//! layer are futures-rustls over [`TcpStream`](crate::runtime::TcpStream) (see Cargo.toml for
//! why it and the crypto provider were chosen).
//!
//! - [`pem`]: certificates and keys from PEM files, and [`CertError`];
//! - [`config`]: the server's and the client's rustls configurations, whom a client trusts,
//!   and a listener's acceptor from `--tls-cert` and `--tls-key`;
//! - [`handshake`]: handshakes under a deadline ([`Acceptor`], [`Connector`]) and
//!   [`HandshakeError`];
//! - [`stream`]: [`Stream`], a connection that is plain TCP or TLS behind the same
//!   `AsyncRead`/`AsyncWrite`;
//! - [`throwaway_ca`]: the throwaway CA of `cluster --tls` and the tests.

pub mod config;
pub mod handshake;
pub mod pem;
pub mod stream;
#[cfg(test)]
mod tests;
pub mod throwaway_ca;

pub use config::{
    acceptor_from_flags, client_config, server_config, server_config_from, TlsFlagsError, Trust,
};
pub use handshake::{Acceptor, Connector, HandshakeError};
pub use pem::CertError;
pub use stream::Stream;
pub use throwaway_ca::{Issued, ThrowawayCa, Validity};
