//! A throwaway certificate authority for `cluster --tls` and the tests.

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;

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
