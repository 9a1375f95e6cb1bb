//! Certificates and keys read from PEM files, and why one could not be used.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

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
pub(super) fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
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
pub(super) fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, CertError> {
    match PrivateKeyDer::from_pem_file(path) {
        Ok(key) => Ok(key),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            Err(CertError::NoKey(path.to_path_buf()))
        }
        Err(e) => Err(pem_error(path, e)),
    }
}
