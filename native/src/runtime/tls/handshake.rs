//! Handshakes under a deadline, on the server side ([`Acceptor`]) and the client side
//! ([`Connector`]), and why one failed.

use crate::runtime::tls::stream::Stream;
use crate::runtime::{self, TcpStream};
use futures_rustls::{TlsAcceptor, TlsConnector};
use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig, ServerConfig};
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Why a TLS handshake failed, as a client reports it (each kind is one line naming the cause).
#[derive(Debug)]
pub enum HandshakeError {
    /// The server's certificate is not trusted: unknown issuer, expired, not yet valid,
    /// revoked, badly signed...
    BadCertificate(String),
    /// The certificate is valid but not for the host name asked for.
    NameMismatch(String),
    /// Anything else: no common protocol or cipher, an alert, a peer not speaking TLS, the
    /// connection closed mid-handshake.
    Failed(String),
    /// The handshake did not complete in time.
    TimedOut,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::BadCertificate(why) => write!(f, "bad certificate: {why}"),
            HandshakeError::NameMismatch(why) => write!(f, "certificate name mismatch: {why}"),
            HandshakeError::Failed(why) => write!(f, "TLS handshake failed: {why}"),
            HandshakeError::TimedOut => f.write_str("TLS handshake timed out"),
        }
    }
}

impl std::error::Error for HandshakeError {}

impl HandshakeError {
    /// Classify what futures-rustls reports (a rustls error inside an `io::Error`, or a plain
    /// I/O error from the socket).
    fn from_io(e: io::Error) -> HandshakeError {
        let tls = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        match tls {
            Some(rustls::Error::InvalidCertificate(cert)) => match cert {
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => {
                    HandshakeError::NameMismatch(cert_reason(cert))
                }
                other => HandshakeError::BadCertificate(cert_reason(other)),
            },
            Some(rustls::Error::InvalidMessage(_))
            | Some(rustls::Error::InappropriateMessage { .. }) => HandshakeError::Failed(format!(
                "{} (is the peer speaking TLS?)",
                tls.map_or_else(String::new, |e| e.to_string())
            )),
            Some(other) => HandshakeError::Failed(other.to_string()),
            None if e.kind() == io::ErrorKind::UnexpectedEof => HandshakeError::Failed(
                "the peer closed the connection during the handshake".to_string(),
            ),
            None => HandshakeError::Failed(e.to_string()),
        }
    }
}

/// rustls' description of a certificate error, without its "invalid peer certificate" prefix.
fn cert_reason(e: &CertificateError) -> String {
    match e {
        CertificateError::UnknownIssuer => {
            "issued by an unknown certificate authority (use --cacert FILE to trust it)".into()
        }
        other => {
            let text = rustls::Error::InvalidCertificate(other.clone()).to_string();
            text.strip_prefix("invalid peer certificate: ")
                .map(str::to_string)
                .unwrap_or(text)
        }
    }
}

/// The server side: accept TLS on connections with one configuration.
#[derive(Clone)]
pub struct Acceptor {
    inner: TlsAcceptor,
}

impl fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Acceptor")
    }
}

impl Acceptor {
    /// An acceptor for `config` (from [`server_config`](super::server_config)).
    pub fn new(config: Arc<ServerConfig>) -> Acceptor {
        Acceptor {
            inner: TlsAcceptor::from(config),
        }
    }

    /// Run the server handshake on `tcp`, cut off after `timeout` (the header timeout: a
    /// handshake that stalls holds a connection slot no longer than a request head may). A
    /// peer that sends garbage or plaintext HTTP gets an alert and an `Err`; the caller drops
    /// that connection and nothing else.
    ///
    /// TCP_NODELAY goes on first: each flight is written whole, and Nagle would hold the next
    /// one (TLS 1.2's Finished after its ChangeCipherSpec, the first answer after TLS 1.3's
    /// tickets) until the peer acknowledges the last, 40 ms when it delays its ACKs.
    pub async fn accept(
        &self,
        tcp: TcpStream,
        timeout: Duration,
    ) -> Result<Stream, HandshakeError> {
        if let Err(e) = tcp.set_nodelay(true) {
            log::debug!("cannot set TCP_NODELAY: {e}");
        }
        match runtime::timeout(timeout, self.inner.accept(tcp)).await {
            None => Err(HandshakeError::TimedOut),
            Some(Err(e)) => Err(HandshakeError::from_io(e)),
            Some(Ok(tls)) => Ok(Stream::Tls(Box::new(tls.into()))),
        }
    }
}

/// The client side: TLS connections with one configuration (its session cache lets later
/// connections to the same server resume).
#[derive(Clone)]
pub struct Connector {
    inner: TlsConnector,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Connector")
    }
}

impl Connector {
    /// A connector for `config` (from [`client_config`](super::client_config)).
    pub fn new(config: Arc<ClientConfig>) -> Connector {
        Connector {
            inner: TlsConnector::from(config),
        }
    }

    /// Run the client handshake on `tcp` for `host` (a DNS name, sent as SNI and checked
    /// against the certificate, or an IP address, checked against the certificate's IP
    /// names), cut off after `timeout`.
    pub async fn connect(
        &self,
        host: &str,
        tcp: TcpStream,
        timeout: Duration,
    ) -> Result<Stream, HandshakeError> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| HandshakeError::Failed(format!("'{host}' is not a valid server name")))?;
        match runtime::timeout(timeout, self.inner.connect(name, tcp)).await {
            None => Err(HandshakeError::TimedOut),
            Some(Err(e)) => Err(HandshakeError::from_io(e)),
            Some(Ok(tls)) => Ok(Stream::Tls(Box::new(tls.into()))),
        }
    }
}
