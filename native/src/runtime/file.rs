//! Files the server reads, and where their blocking calls are made.

use std::io;
use std::path::Path;

/// Make the file-system calls in `calls` (open, stat, read a piece: see [`File`] and
/// the server's `sandbox::Dir`)
/// and give their result.
///
/// The calls are made inline on the executor thread, not on a thread pool: the files a static
/// server sends are small or already in the page cache, where an open or a 256 KiB read costs
/// microseconds, far less than two thread hand-offs per call. For slow disks, run `calls` on a
/// blocking pool here (e.g. `blocking::unblock`) and nothing else changes. One closure per step
/// rather than an `async fn` per call keeps a request's future small: it is moved once per
/// request, and every nested call's state would be part of it.
pub async fn fs<T>(calls: impl FnOnce() -> T) -> T {
    calls()
}

/// A file opened for reading, for the server. Its calls block: make them inside [`fs`].
///
/// Reads are positioned (`pread`) from a position of this handle's own, so several handles
/// may share one open file ([`File::share`]): the server keeps a file open between requests
/// for the same path, and two connections sending it at once must not move each other's
/// position.
#[derive(Debug)]
pub struct File {
    inner: std::sync::Arc<std::fs::File>,
    /// Where the next read starts.
    pos: u64,
}

impl File {
    /// A file opened some other way (beneath a directory, see
    /// the server's `sandbox::Dir`).
    pub fn from_std(inner: std::fs::File) -> File {
        File {
            inner: std::sync::Arc::new(inner),
            pos: 0,
        }
    }

    /// Open a file for reading.
    pub fn open(path: &Path) -> io::Result<File> {
        Ok(File::from_std(std::fs::File::open(path)?))
    }

    /// Another handle on the same open file, reading from its start.
    pub fn share(&self) -> File {
        File {
            inner: std::sync::Arc::clone(&self.inner),
            pos: 0,
        }
    }

    /// The standard file underneath: the server's hasher duplicates it and reads it with
    /// positioned reads, and reads its extended attributes.
    pub fn as_std(&self) -> &std::fs::File {
        &self.inner
    }

    /// Metadata of the opened file (size, modification time, kind).
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        self.inner.metadata()
    }

    /// Read up to `buf.len()` bytes from this handle's position; `Ok(0)` at end of file.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = read_at(&self.inner, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }

    /// Move the read position to `offset` bytes from the start (where a range begins).
    pub fn seek_to(&mut self, offset: u64) -> io::Result<()> {
        self.pos = offset;
        Ok(())
    }
}

#[cfg(unix)]
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}
