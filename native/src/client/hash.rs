//! Hashing what the client saves, for the digest check: SHA-256 or SHA-512 with aws-lc-rs
//! (the crypto rustls already links; SHA-NI on x86-64), fed chunk by chunk, and the bytes a
//! resumed or multi-source download already holds read back in bounded chunks.

use ricochet_core::http::digest::{Algorithm, Digest};
use std::fs::File;
use std::io::{self, Read};

/// Bytes read back from the file at once.
const READ_BACK: usize = 1024 * 1024;

/// A running hash of the saved bytes.
pub(super) struct Hasher {
    context: aws_lc_rs::digest::Context,
    algorithm: Algorithm,
}

impl Hasher {
    pub(super) fn new(algorithm: Algorithm) -> Hasher {
        let which = match algorithm {
            Algorithm::Sha256 => &aws_lc_rs::digest::SHA256,
            Algorithm::Sha512 => &aws_lc_rs::digest::SHA512,
        };
        Hasher {
            context: aws_lc_rs::digest::Context::new(which),
            algorithm,
        }
    }

    pub(super) fn update(&mut self, data: &[u8]) {
        self.context.update(data);
    }

    /// Hash the first `len` bytes of `file` (read from its start).
    pub(super) fn update_from(&mut self, mut file: &File, len: u64) -> io::Result<()> {
        use std::io::{Seek, SeekFrom};
        file.seek(SeekFrom::Start(0))?;
        let mut buf = vec![0u8; READ_BACK];
        let mut left = len;
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
            let n = file.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the partial file is shorter than recorded",
                ));
            }
            self.context.update(&buf[..n]);
            left -= n as u64;
        }
        Ok(())
    }

    /// Hash `len` bytes of `file` from `offset` (positioned reads: the file's cursor is left
    /// alone).
    pub(super) fn update_at(&mut self, file: &File, offset: u64, len: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; READ_BACK.min(usize::try_from(len).unwrap_or(READ_BACK))];
        let (mut at, end) = (offset, offset + len);
        while at < end {
            let want = usize::try_from(end - at)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            file.read_exact_at(&mut buf[..want], at)?;
            self.context.update(&buf[..want]);
            at += want as u64;
        }
        Ok(())
    }

    /// The algorithm it computes.
    pub(super) fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub(super) fn finish(self) -> Digest {
        let out = self.context.finish();
        Digest::new(self.algorithm, out.as_ref()).expect("the algorithm's own length")
    }
}
