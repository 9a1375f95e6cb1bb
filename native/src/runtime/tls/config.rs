//! rustls configurations: the server's from its certificate and key, the client's from whom it
//! trusts, and a listener's acceptor from its `--tls-cert` and `--tls-key` flags.

use crate::runtime::tls::handshake::Acceptor;
use crate::runtime::tls::pem::{load_certificates, load_key, CertError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The only protocol offered and accepted in ALPN.
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Server-side sessions kept for resumption by session ID (TLS 1.2 clients without tickets).
const SESSION_CACHE: usize = 4096;

/// The crypto provider every configuration here uses (see Cargo.toml for why this one).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
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
    // back, as OpenSSL servers do. Clients that ask for more (RFC 9149 ticket_request, to
    // resume parallel connections) get up to 2.
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
