//! TLS, in the native shell only (the core sees plaintext bytes): rustls configurations built
//! from PEM files, handshakes under a deadline, and [`Stream`], a connection that is plain TCP
//! or TLS behind the same `AsyncRead`/`AsyncWrite`.
//!
//! The handshake and record layer are futures-rustls over [`TcpStream`] (see Cargo.toml for why
//! it and the crypto provider were chosen).

use crate::runtime::{self, TcpStream};
use futures::io::{AsyncRead, AsyncWrite};
use futures_rustls::{TlsAcceptor, TlsConnector};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The only protocol offered and accepted in ALPN.
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Server-side sessions kept for resumption by session ID (TLS 1.2 clients without tickets).
const SESSION_CACHE: usize = 4096;

/// The crypto provider every configuration here uses (see Cargo.toml for why this one).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Why a certificate, key or CA file could not be used. Stops a binary at start.
#[derive(Debug)]
pub enum CertError {
    /// The file cannot be opened or read.
    Read(PathBuf, io::Error),
    /// The file is not valid PEM.
    Pem(PathBuf, String),
    /// The file holds no certificate.
    NoCertificate(PathBuf),
    /// The file holds no private key.
    NoKey(PathBuf),
    /// The key is not the one the certificate was issued for.
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the pair or a CA for another reason (an unsupported key type...).
    Rejected(String),
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertError::Read(path, e) => write!(f, "cannot read {}: {e}", path.display()),
            CertError::Pem(path, e) => write!(f, "{} is not valid PEM: {e}", path.display()),
            CertError::NoCertificate(path) => {
                write!(f, "{} holds no PEM certificate", path.display())
            }
            CertError::NoKey(path) => write!(f, "{} holds no PEM private key", path.display()),
            CertError::Mismatch { cert, key } => write!(
                f,
                "the key in {} does not match the certificate in {}",
                key.display(),
                cert.display()
            ),
            CertError::Rejected(why) => write!(f, "unusable certificate or key: {why}"),
        }
    }
}

impl std::error::Error for CertError {}

fn pem_error(path: &Path, e: rustls::pki_types::pem::Error) -> CertError {
    match e {
        rustls::pki_types::pem::Error::Io(e) => CertError::Read(path.to_path_buf(), e),
        other => CertError::Pem(path.to_path_buf(), other.to_string()),
    }
}

/// Every certificate in a PEM file, in order (a chain: the server's own first).
fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(CertError::NoCertificate(path.to_path_buf()));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, CertError> {
    match PrivateKeyDer::from_pem_file(path) {
        Ok(key) => Ok(key),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            Err(CertError::NoKey(path.to_path_buf()))
        }
        Err(e) => Err(pem_error(path, e)),
    }
}

/// The server's TLS configuration from `cert` (PEM chain, the server's certificate first) and
/// `key` (PEM): TLS 1.2 and 1.3, ALPN `http/1.1`, resumption by tickets and by session cache.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, CertError> {
    let chain = load_certificates(cert)?;
    let private_key = load_key(key)?;
    server_config_from(chain, private_key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => CertError::Mismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        },
        other => CertError::Rejected(other.to_string()),
    })
}

/// [`server_config`] from a chain and key already in memory (as `cluster --tls` makes them).
pub fn server_config_from(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE);
    // Stateless tickets: the key is made here, before `--workers` forks, so every worker
    // accepts the others' tickets (until each rotates its own, every 6 hours).
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()?;
    // One ticket per handshake rather than rustls' 2: a resumption uses one up and gets one
    // back, as OpenSSL servers (nginx, HAProxy) do after a resumed handshake; the second cost
    // 5% of a Connection: close HTTPS redirect's CPU. Clients that ask for more (RFC 9149
    // ticket_request, to resume parallel connections) get up to 2.
    config.send_tls13_tickets = 1;
    config.max_tls13_tickets = 2;
    Ok(Arc::new(config))
}

/// Who to trust as a client: the system's store plus `--cacert` files, or (`-k`) anyone.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// Extra CA certificates (PEM files), trusted besides the system's.
    pub ca_files: Vec<PathBuf>,
    /// Accept any certificate (`-k/--insecure`); whoever connects warns on stderr each time.
    pub insecure: bool,
}

/// The client's TLS configuration: certificates verified against the system's trust store
/// (Debian's ca-certificates, through rustls-native-certs) plus `trust.ca_files`, SNI, ALPN
/// `http/1.1`, resumption on. With `trust.insecure` nothing is verified: the caller must warn.
pub fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>, CertError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| CertError::Rejected(e.to_string()))?;
    let mut config = if trust.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnything { provider }))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        let system = rustls_native_certs::load_native_certs();
        for e in &system.errors {
            log::debug!("system trust store: {e}");
        }
        let (_, unusable) = roots.add_parsable_certificates(system.certs);
        if unusable > 0 {
            log::debug!("system trust store: {unusable} certificates skipped");
        }
        for path in &trust.ca_files {
            for cert in load_certificates(path)? {
                roots.add(cert).map_err(|e| {
                    CertError::Pem(path.clone(), format!("not a usable CA certificate: {e}"))
                })?;
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}

/// `-k/--insecure`: any certificate for any name is accepted (the caller warns on stderr for
/// each connection: a resumed session skips this verifier); the handshake's signatures are
/// still checked, so the peer holds the key of the certificate it sent.
#[derive(Debug)]
struct AcceptAnything {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

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

/// Why `--tls-cert` and `--tls-key` gave no acceptor.
#[derive(Debug)]
pub enum TlsFlagsError {
    /// One was given without the other.
    Unpaired,
    /// The certificate or key could not be loaded.
    Cert(CertError),
}

impl fmt::Display for TlsFlagsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsFlagsError::Unpaired => f.write_str("--tls-cert and --tls-key go together"),
            TlsFlagsError::Cert(e) => e.fmt(f),
        }
    }
}

/// A listener's acceptor from its `--tls-cert` and `--tls-key` flags: `None` (plain HTTP)
/// without either.
pub fn acceptor_from_flags(
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Option<Acceptor>, TlsFlagsError> {
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => server_config(cert, key)
            .map(|config| Some(Acceptor::new(config)))
            .map_err(TlsFlagsError::Cert),
        _ => Err(TlsFlagsError::Unpaired),
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
    /// An acceptor for `config` (from [`server_config`]).
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
    /// A connector for `config` (from [`client_config`]).
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

/// A connection that is plain TCP or TLS over TCP. Reads and writes through the `futures::io`
/// traits; plaintext in and out either way.
///
/// Over TLS a write may leave bytes inside rustls when the socket is full: call `flush` (or
/// `AsyncWriteExt::write_all` followed by `flush`) before waiting for the peer's answer.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS (client or server side), boxed: its buffers are large.
    Tls(Box<futures_rustls::TlsStream<TcpStream>>),
}

impl From<TcpStream> for Stream {
    fn from(tcp: TcpStream) -> Stream {
        Stream::Plain(tcp)
    }
}

impl Stream {
    /// The TCP socket underneath (for its addresses and socket options).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
        }
    }

    /// Read at least one byte (`Ok(0)` at end of stream). Plain TCP goes through
    /// [`TcpStream::read_some`], which skips the read that would fail with `EAGAIN`.
    pub async fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read_some(buf).await,
            Stream::Tls(tls) => futures::io::AsyncReadExt::read(tls, buf).await,
        }
    }

    /// Write some of `buf` and, over TLS, push the records made of it onto the socket before
    /// returning (futures-rustls may otherwise keep them until the next write or flush).
    /// Returns how many bytes of `buf` were taken.
    pub async fn write_flushed(&mut self, buf: &[u8]) -> io::Result<usize> {
        use futures::io::AsyncWriteExt;
        match self {
            Stream::Plain(tcp) => tcp.write(buf).await,
            Stream::Tls(tls) => {
                let n = tls.write(buf).await?;
                tls.flush().await?;
                Ok(n)
            }
        }
    }

    /// Stop sending: a TLS `close_notify`, then the TCP write side is shut down.
    pub async fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.shutdown(std::net::Shutdown::Write),
            Stream::Tls(tls) => futures::io::AsyncWriteExt::close(tls).await,
        }
    }
}

/// What the server-side connection driver runs over.
impl crate::runtime::conn::ByteStream for Stream {
    /// A peer that closes TCP without TLS's `close_notify` is at end of stream here, as over
    /// plain TCP: requests are framed, so nothing can be cut unnoticed (the client side keeps
    /// rustls' error, which tells a cut close-delimited body from a complete one).
    async fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match Stream::read_some(self, buf).await {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            other => other,
        }
    }

    async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_flushed(buf).await
    }

    /// Over TLS the `close_notify` follows the last record in the same flush.
    async fn write_last(&mut self, buf: &[u8]) -> io::Result<usize> {
        use futures_rustls::TlsStream;
        use std::io::Write;
        let Stream::Tls(tls) = self else {
            return self.write_flushed(buf).await;
        };
        loop {
            // Into rustls' buffer (as much as its limit lets in), not yet onto the socket.
            let taken = match tls.as_mut() {
                TlsStream::Server(s) => s.get_mut().1.writer().write(buf)?,
                TlsStream::Client(c) => c.get_mut().1.writer().write(buf)?,
            };
            if taken == buf.len() {
                tls.get_mut().1.send_close_notify();
            }
            futures::io::AsyncWriteExt::flush(tls.as_mut()).await?;
            if taken > 0 || buf.is_empty() {
                return Ok(taken);
            }
        }
    }

    async fn shutdown_write(&mut self) -> io::Result<()> {
        Stream::shutdown_write(self).await
    }

    /// A TLS connection from [`Acceptor::accept`] has TCP_NODELAY on already: no system call.
    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        match self {
            Stream::Tls(tls)
                if on && matches!(tls.as_ref(), futures_rustls::TlsStream::Server(_)) =>
            {
                Ok(())
            }
            _ => self.tcp().set_nodelay(on),
        }
    }

    /// Over TLS, a `close_notify` alert, so that the peer can tell the end from a cut (OpenSSL
    /// 3 clients reading to the end otherwise report an error and drop the session instead of
    /// resuming it). Best effort: a peer that stopped reading gets no alert.
    async fn finish(&mut self) {
        if let Stream::Tls(tls) = self {
            tls.get_mut().1.send_close_notify();
            let _ =
                futures::FutureExt::now_or_never(futures::io::AsyncWriteExt::flush(tls.as_mut()));
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_close(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_close(cx),
        }
    }
}

/// A throwaway certificate authority, made at start by `cluster --tls` and by tests: it issues
/// server certificates for loopback names. Its key lives in memory only; never for real use.
pub struct ThrowawayCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl fmt::Debug for ThrowawayCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ThrowawayCa")
    }
}

/// A server certificate with its key, as issued by [`ThrowawayCa`].
#[derive(Debug)]
pub struct Issued {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key (PKCS#8), PEM.
    pub key_pem: String,
    /// The chain to send, DER: the certificate alone (clients trust the CA itself).
    pub chain: Vec<CertificateDer<'static>>,
    /// Its private key, DER.
    pub key: PrivateKeyDer<'static>,
}

/// How long an issued certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// From 2020 to 4096: valid now.
    Current,
    /// From 2000 to 2001: expired, for tests.
    Expired,
}

impl ThrowawayCa {
    /// A new CA with a fresh ECDSA P-256 key, named `name`.
    pub fn new(name: &str) -> Result<ThrowawayCa, rcgen::Error> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        let issuer = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate()?)?;
        Ok(ThrowawayCa { issuer })
    }

    /// The CA certificate, PEM: what a client is given with `--cacert`.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `names` (DNS names, or IP addresses such as `127.0.0.1`).
    pub fn issue(&self, names: &[&str], validity: Validity) -> Result<Issued, rcgen::Error> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names.clone())?;
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, first.as_str());
        }
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        (params.not_before, params.not_after) = match validity {
            Validity::Current => (
                rcgen::date_time_ymd(2020, 1, 1),
                rcgen::date_time_ymd(4096, 1, 1),
            ),
            Validity::Expired => (
                rcgen::date_time_ymd(2000, 1, 1),
                rcgen::date_time_ymd(2001, 1, 1),
            ),
        };
        let key = rcgen::KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{AsyncReadExt, AsyncWriteExt};
    use std::time::Instant;

    /// A fresh directory under the system's temporary directory, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            let path =
                std::env::temp_dir().join(format!("ricochet-tls-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }

        fn write(&self, name: &str, contents: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, contents).unwrap();
            path
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn localhost(ca: &ThrowawayCa) -> Issued {
        ca.issue(&["localhost", "127.0.0.1"], Validity::Current)
            .unwrap()
    }

    #[test]
    fn a_matching_pair_loads_and_every_bad_file_is_named() {
        let dir = Dir::new("load");
        let ca = ThrowawayCa::new("test CA").unwrap();
        let issued = localhost(&ca);
        let other = localhost(&ca);
        let cert = dir.write("cert.pem", &issued.cert_pem);
        let key = dir.write("key.pem", &issued.key_pem);
        let other_key = dir.write("other-key.pem", &other.key_pem);
        let garbage = dir.write(
            "garbage.pem",
            "-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n",
        );
        let missing = dir.0.join("missing.pem");

        let config = server_config(&cert, &key).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);

        let err = server_config(&missing, &key).unwrap_err();
        assert!(
            matches!(&err, CertError::Read(p, _) if *p == missing),
            "{err:?}"
        );
        assert!(err.to_string().contains("missing.pem"), "{err}");

        // A key file given as the certificate, and a certificate given as the key.
        let err = server_config(&key, &key).unwrap_err();
        assert!(
            matches!(&err, CertError::NoCertificate(p) if *p == key),
            "{err:?}"
        );
        let err = server_config(&cert, &cert).unwrap_err();
        assert!(matches!(&err, CertError::NoKey(p) if *p == cert), "{err:?}");

        let err = server_config(&cert, &other_key).unwrap_err();
        assert!(matches!(err, CertError::Mismatch { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "the key in {} does not match the certificate in {}",
                other_key.display(),
                cert.display()
            )
        );

        let err = server_config(&garbage, &key).unwrap_err();
        assert!(
            matches!(&err, CertError::Pem(p, _) if *p == garbage),
            "{err:?}"
        );
        for e in [
            server_config(&missing, &key).unwrap_err(),
            server_config(&garbage, &key).unwrap_err(),
        ] {
            assert!(!e.to_string().contains('\n'), "one line: {e}");
        }

        // The client's --cacert is read the same way.
        let err = client_config(&Trust {
            ca_files: vec![missing.clone()],
            insecure: false,
        })
        .unwrap_err();
        assert!(
            matches!(&err, CertError::Read(p, _) if *p == missing),
            "{err:?}"
        );
    }

    /// A TLS server on loopback answering each connection with "hello" after reading 4 bytes,
    /// handshakes cut off after `timeout`. Returns its address and a channel of handshake
    /// outcomes.
    fn tls_server(
        config: Arc<ServerConfig>,
        timeout: Duration,
    ) -> (
        std::net::SocketAddr,
        futures::channel::mpsc::UnboundedReceiver<Result<(), String>>,
    ) {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let listener = runtime::block_on(runtime::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = Acceptor::new(config);
        runtime::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                runtime::spawn(async move {
                    match acceptor.accept(tcp, timeout).await {
                        Ok(mut stream) => {
                            let _ = tx.unbounded_send(Ok(()));
                            let mut buf = [0; 4];
                            if stream.read_exact(&mut buf).await.is_ok() {
                                let _ = stream.write_all(b"hello").await;
                                let _ = stream.flush().await;
                                let _ = stream.shutdown_write().await;
                            }
                        }
                        Err(e) => {
                            let _ = tx.unbounded_send(Err(e.to_string()));
                        }
                    }
                });
            }
        });
        (addr, rx)
    }

    async fn fetch(
        connector: &Connector,
        addr: std::net::SocketAddr,
        host: &str,
    ) -> Result<(Vec<u8>, Stream), HandshakeError> {
        let tcp = runtime::connect(addr).await.unwrap();
        let mut stream = connector
            .connect(host, tcp, Duration::from_secs(10))
            .await?;
        stream.write_all(b"ping").await.unwrap();
        stream.flush().await.unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await.unwrap();
        Ok((got, stream))
    }

    #[test]
    fn handshakes_verify_names_and_resume() {
        let dir = Dir::new("handshake");
        let ca = ThrowawayCa::new("test CA").unwrap();
        let issued = localhost(&ca);
        let config = server_config_from(issued.chain, issued.key).unwrap();
        let (addr, _outcomes) = tls_server(config, Duration::from_secs(10));
        let ca_file = dir.write("ca.pem", &ca.cert_pem());
        let trusting = Connector::new(
            client_config(&Trust {
                ca_files: vec![ca_file],
                insecure: false,
            })
            .unwrap(),
        );
        runtime::block_on(async {
            for host in ["localhost", "127.0.0.1"] {
                let (got, stream) = fetch(&trusting, addr, host).await.unwrap();
                assert_eq!(got, b"hello");
                let Stream::Tls(tls) = stream else {
                    panic!("not TLS")
                };
                assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
            }
            // Later connections to localhost resume, each with the ticket the one before got.
            for _ in 0..3 {
                let (_, stream) = fetch(&trusting, addr, "localhost").await.unwrap();
                let Stream::Tls(tls) = stream else {
                    panic!("not TLS")
                };
                let kind = match tls.as_ref() {
                    futures_rustls::TlsStream::Client(c) => c.get_ref().1.handshake_kind(),
                    futures_rustls::TlsStream::Server(_) => unreachable!(),
                };
                assert_eq!(kind, Some(rustls::HandshakeKind::Resumed));
            }

            let err = fetch(&trusting, addr, "other.example").await.unwrap_err();
            assert!(matches!(err, HandshakeError::NameMismatch(_)), "{err}");
            assert!(err.to_string().contains("other.example"), "{err}");

            // Only the system's CAs: ours is unknown.
            let system = Connector::new(client_config(&Trust::default()).unwrap());
            let err = fetch(&system, addr, "localhost").await.unwrap_err();
            assert!(matches!(err, HandshakeError::BadCertificate(_)), "{err}");
            assert!(
                err.to_string().contains("unknown certificate authority"),
                "{err}"
            );

            let insecure = Connector::new(
                client_config(&Trust {
                    ca_files: Vec::new(),
                    insecure: true,
                })
                .unwrap(),
            );
            let (got, _) = fetch(&insecure, addr, "other.example").await.unwrap();
            assert_eq!(got, b"hello");
        });
    }

    #[test]
    fn an_expired_certificate_is_refused_as_such() {
        let dir = Dir::new("expired");
        let ca = ThrowawayCa::new("test CA").unwrap();
        let issued = ca.issue(&["localhost"], Validity::Expired).unwrap();
        let config = server_config_from(issued.chain, issued.key).unwrap();
        let (addr, _outcomes) = tls_server(config, Duration::from_secs(10));
        let trusting = Connector::new(
            client_config(&Trust {
                ca_files: vec![dir.write("ca.pem", &ca.cert_pem())],
                insecure: false,
            })
            .unwrap(),
        );
        let err = runtime::block_on(fetch(&trusting, addr, "localhost")).unwrap_err();
        assert!(matches!(err, HandshakeError::BadCertificate(_)), "{err}");
        assert!(err.to_string().contains("expired"), "{err}");
    }

    /// A client that stops sending by closing TCP without `close_notify` is at end of stream for
    /// the server's driver (after the bytes it sent), not an error that drops its request.
    #[test]
    fn a_tcp_close_without_close_notify_is_end_of_stream_for_the_server() {
        use crate::runtime::conn::ByteStream;
        let ca = ThrowawayCa::new("test CA").unwrap();
        let issued = localhost(&ca);
        let acceptor = Acceptor::new(server_config_from(issued.chain, issued.key).unwrap());
        let insecure = Connector::new(
            client_config(&Trust {
                ca_files: Vec::new(),
                insecure: true,
            })
            .unwrap(),
        );
        runtime::block_on(async {
            let listener = runtime::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            runtime::spawn(async move {
                let tcp = runtime::connect(addr).await.unwrap();
                let mut stream = insecure
                    .connect("localhost", tcp, Duration::from_secs(10))
                    .await
                    .unwrap();
                stream
                    .write_flushed(b"GET / HTTP/1.1\r\n\r\n")
                    .await
                    .unwrap();
                stream.tcp().shutdown(std::net::Shutdown::Write).unwrap();
                runtime::sleep(Duration::from_secs(5)).await;
            });
            let (tcp, _) = listener.accept().await.unwrap();
            let mut server = acceptor.accept(tcp, Duration::from_secs(10)).await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            loop {
                let read = ByteStream::read_some(&mut server, &mut buf);
                match runtime::timeout(Duration::from_secs(5), read).await {
                    Some(Ok(0)) => break,
                    Some(Ok(n)) => got.extend_from_slice(&buf[..n]),
                    other => panic!("not a clean end of stream: {other:?}"),
                }
            }
            assert_eq!(got, b"GET / HTTP/1.1\r\n\r\n");
        });
    }

    /// Plaintext HTTP and a silent peer each end only their own connection: the first at once,
    /// the second at the handshake deadline, while a good client is served in between.
    #[test]
    fn plaintext_and_stalled_handshakes_end_only_their_connection() {
        let dir = Dir::new("bad-peers");
        let ca = ThrowawayCa::new("test CA").unwrap();
        let issued = localhost(&ca);
        let config = server_config_from(issued.chain, issued.key).unwrap();
        let (addr, mut outcomes) = tls_server(config, Duration::from_millis(500));
        let trusting = Connector::new(
            client_config(&Trust {
                ca_files: vec![dir.write("ca.pem", &ca.cert_pem())],
                insecure: false,
            })
            .unwrap(),
        );
        runtime::block_on(async {
            use futures::StreamExt;
            let _stalled = runtime::connect(addr).await.unwrap();
            let mut plain = runtime::connect(addr).await.unwrap();
            plain
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut answer = Vec::new();
            let read = runtime::timeout(Duration::from_secs(5), plain.read_to_end(&mut answer));
            assert!(read.await.is_some(), "plaintext connection left open");
            assert!(!answer.starts_with(b"HTTP/"), "answered in plaintext");
            let plain_outcome = outcomes.next().await.unwrap().unwrap_err();
            assert!(plain_outcome.contains("TLS"), "{plain_outcome}");

            let (got, _) = fetch(&trusting, addr, "localhost").await.unwrap();
            assert_eq!(got, b"hello");
            assert_eq!(outcomes.next().await, Some(Ok(())));

            let started = Instant::now();
            let stalled = runtime::timeout(Duration::from_secs(10), outcomes.next())
                .await
                .expect("the stalled handshake was not cut off");
            assert_eq!(stalled, Some(Err(HandshakeError::TimedOut.to_string())));
            assert!(started.elapsed() < Duration::from_secs(5));
        });
    }
}
