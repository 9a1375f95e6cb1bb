//! Certificates for the HTTPS tests, made at test time by Ricochet's own throwaway CA (rcgen):
//! a CA file for `--cacert`, and certificate and key files for `--tls-cert`/`--tls-key`.

use crate::TempDir;
use ricochet::runtime::tls::{ThrowawayCa, Validity};
use std::path::{Path, PathBuf};

/// A CA with its certificate written to a file, issuing server certificates into files.
pub struct Pki {
    ca: ThrowawayCa,
    dir: TempDir,
    /// The CA certificate (PEM): what clients get with `--cacert`.
    pub ca_file: PathBuf,
}

/// A server certificate and its key, as files.
pub struct ServerCert {
    /// Certificate (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

impl ServerCert {
    /// `--tls-cert CERT --tls-key KEY`, for a command line.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--tls-cert".to_string(),
            self.cert.display().to_string(),
            "--tls-key".to_string(),
            self.key.display().to_string(),
        ]
    }
}

impl Pki {
    /// A fresh CA named `label`.
    pub fn new(label: &str) -> Pki {
        let ca = ThrowawayCa::new(&format!("Ricochet test CA {label}")).expect("make a CA");
        let dir = TempDir::new(&format!("pki-{label}"));
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.cert_pem()).expect("write the CA");
        Pki { ca, dir, ca_file }
    }

    /// Where the files are.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A certificate for `names`, written as `<file>.pem` and `<file>-key.pem`.
    pub fn issue(&self, file: &str, names: &[&str], validity: Validity) -> ServerCert {
        let issued = self.ca.issue(names, validity).expect("issue a certificate");
        let cert = self.dir.path().join(format!("{file}.pem"));
        let key = self.dir.path().join(format!("{file}-key.pem"));
        std::fs::write(&cert, issued.cert_pem).expect("write the certificate");
        std::fs::write(&key, issued.key_pem).expect("write the key");
        ServerCert { cert, key }
    }

    /// A current certificate for the loopback names: `localhost`, `127.0.0.1` and `::1`.
    pub fn loopback(&self, file: &str) -> ServerCert {
        self.issue(file, &["localhost", "127.0.0.1", "::1"], Validity::Current)
    }
}
