//! Whole-file digests for `Repr-Digest` and `Digest`, computed in the background so that no
//! request waits for a large file to be read: the first request that asks for a digest of a
//! file queues its hashing and is answered without it; the answers after the hash is done
//! carry it.
//!
//! - Which digests a request wants, and which known one it gets, is the core's decision
//!   ([`ricochet_core::files::serve::DigestWants`], [`serve::file_response`]); this module only
//!   reads files and remembers results.
//! - Remembered per file identity: device and inode, checked against the size and modification
//!   time (to the nanosecond) at every lookup. A file rewritten in place, replaced by a rename
//!   or touched gets no stale digest: a mismatch drops the entry and queues a new hash. A file
//!   changed while it is being hashed (its size or time differ after the last read) has its
//!   result thrown away.
//! - Bounded: `threads` hashing threads (1 by default, `--hash-threads`; 0 turns digests off),
//!   started at the first job in each process (so after the workers fork), at most
//!   [`MAX_QUEUED`] files waiting (more are not queued: a later request queues them again),
//!   [`MAX_KNOWN`] files remembered (beyond that an eighth of them, arbitrary ones, is dropped).
//! - Kept across restarts, and shared between `--workers`, in an extended attribute of the file
//!   (`user.ricochet.sha256`, `user.ricochet.sha512`), holding the size and modification time
//!   it describes: `LEN SECONDS.NANOSECONDS BASE64`. It is read before a file is queued and
//!   written after it is hashed, when the file system and the file's permissions allow
//!   (`--no-digest-xattr` turns the writing off; a read-only tree still works, hashed again
//!   after each restart). `rsync -X` carries it to mirrors, where it holds if `-t` kept the
//!   time. Writing it changes the file's ctime, never its mtime or content.
//!
//! [`serve::file_response`]: ricochet_core::files::serve::file_response

use crate::runtime::File;
use ricochet_core::files::serve::{DigestWants, KnownDigests};
use ricochet_core::http::base64;
use ricochet_core::http::digest::{Algorithm, Digest};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::Metadata;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// Files waiting to be hashed, at most (each holds an open descriptor).
pub const MAX_QUEUED: usize = 64;
/// Files whose digests are remembered, at most (about 200 bytes each).
pub const MAX_KNOWN: usize = 65_536;
/// Bytes read per call while hashing.
const READ: usize = 1 << 20;

/// A file's identity on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FileKey {
    dev: u64,
    ino: u64,
}

/// What a digest describes: the file's size and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    len: u64,
    modified: SystemTime,
}

impl Version {
    fn of(meta: &Metadata) -> Version {
        Version {
            len: meta.len(),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        }
    }
}

struct Entry {
    version: Version,
    digests: KnownDigests,
}

struct Job {
    key: FileKey,
    version: Version,
    algorithm: Algorithm,
    file: std::fs::File,
}

#[derive(Default)]
struct State {
    known: HashMap<FileKey, Entry>,
    queue: VecDeque<Job>,
    /// Queued or being hashed.
    busy: HashSet<(FileKey, Algorithm)>,
    /// Hashing threads started in this process.
    started: usize,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
}

/// The server's digests: those known, and the background hashing of the rest.
pub struct Digests {
    threads: usize,
    write_xattr: bool,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Digests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Digests")
            .field("threads", &self.threads)
            .field("write_xattr", &self.write_xattr)
            .finish_non_exhaustive()
    }
}

impl Digests {
    /// Digests computed by up to `threads` background threads (0: never, no digest is sent);
    /// with `write_xattr`, results are also stored in the files' extended attributes.
    pub fn new(threads: usize, write_xattr: bool) -> Digests {
        Digests {
            threads,
            write_xattr,
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                work: Condvar::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The digests known for the opened `file` (with its `meta`), for a request that `wants`
    /// some. Those it wants and are not known are looked for in the file's extended attributes,
    /// else queued for hashing; this call never reads the file's content. Makes file-system
    /// calls (run it inside [`crate::runtime::fs`]).
    pub fn lookup(&self, file: &File, meta: &Metadata, wants: &DigestWants) -> KnownDigests {
        if self.threads == 0 || !wants.any() {
            return KnownDigests::default();
        }
        let key = FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
        };
        let version = Version::of(meta);
        let mut known = KnownDigests::default();
        let mut missing = [None; 2];
        {
            let mut state = self.lock();
            match state.known.get(&key) {
                Some(entry) if entry.version == version => known = entry.digests,
                Some(_) => {
                    state.known.remove(&key);
                }
                None => {}
            }
            for (slot, algorithm) in missing.iter_mut().zip(wants.to_compute()) {
                if known.get(algorithm).is_none() && !state.busy.contains(&(key, algorithm)) {
                    *slot = Some(algorithm);
                }
            }
        }
        for algorithm in missing.into_iter().flatten() {
            if let Some(d) = read_xattr(file.as_std(), algorithm, version) {
                known.set(d);
                remember(&mut self.lock(), key, version, d);
            } else {
                self.queue(file, key, version, algorithm);
            }
        }
        known
    }

    fn queue(&self, file: &File, key: FileKey, version: Version, algorithm: Algorithm) {
        let mut state = self.lock();
        if state.queue.len() >= MAX_QUEUED || !state.busy.insert((key, algorithm)) {
            return;
        }
        // A descriptor of its own, read with pread: the request's reads and seeks go on.
        let file = match file.as_std().try_clone() {
            Ok(f) => f,
            Err(e) => {
                state.busy.remove(&(key, algorithm));
                log::warn!("cannot queue a file for hashing: {e}");
                return;
            }
        };
        state.queue.push_back(Job {
            key,
            version,
            algorithm,
            file,
        });
        if state.started < self.threads.min(state.busy.len()) {
            let shared = Arc::clone(&self.shared);
            let write_xattr = self.write_xattr;
            let spawned = std::thread::Builder::new()
                .name("hasher".into())
                .spawn(move || hash_forever(&shared, write_xattr));
            match spawned {
                Ok(_) => state.started += 1,
                Err(e) => log::warn!("cannot start a hashing thread: {e}"),
            }
        }
        self.shared.work.notify_one();
    }
}

/// Remember `d` for this version of the file (a digest of another version is dropped).
fn remember(state: &mut State, key: FileKey, version: Version, d: Digest) {
    if state.known.len() >= MAX_KNOWN && !state.known.contains_key(&key) {
        // An eighth of the entries, arbitrary ones: one pass per MAX_KNOWN / 8 insertions.
        let mut n = 0usize;
        state.known.retain(|_, _| {
            n += 1;
            n % 8 != 0
        });
    }
    let entry = state.known.entry(key).or_insert(Entry {
        version,
        digests: KnownDigests::default(),
    });
    if entry.version != version {
        *entry = Entry {
            version,
            digests: KnownDigests::default(),
        };
    }
    entry.digests.set(d);
}

/// One hashing thread: take the next job, hash the file, remember the result; forever.
fn hash_forever(shared: &Shared, write_xattr: bool) {
    let mut buf = vec![0u8; READ];
    loop {
        let job = {
            let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(job) = state.queue.pop_front() {
                    break job;
                }
                state = shared.work.wait(state).unwrap_or_else(|p| p.into_inner());
            }
        };
        let started = std::time::Instant::now();
        let result = hash_unchanged(&job, &mut buf);
        if result.as_ref().is_ok_and(Option::is_some) {
            let secs = started.elapsed().as_secs_f64();
            log::debug!(
                "hashed {} bytes ({}) in {:.3} s, {:.2} GB/s",
                job.version.len,
                job.algorithm.rfc9530_name(),
                secs,
                job.version.len as f64 / secs.max(1e-9) / 1e9
            );
        }
        let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        state.busy.remove(&(job.key, job.algorithm));
        match result {
            Ok(Some(d)) => {
                remember(&mut state, job.key, job.version, d);
                drop(state);
                if write_xattr {
                    write_xattr_of(&job.file, d, job.version);
                }
            }
            Ok(None) => log::debug!("a file changed while it was hashed; not remembered"),
            Err(e) => log::warn!("cannot hash a file: {e}"),
        }
    }
}

/// Hash the job's file; `None` when it is no longer the version the job was queued for.
fn hash_unchanged(job: &Job, buf: &mut [u8]) -> io::Result<Option<Digest>> {
    if Version::of(&job.file.metadata()?) != job.version {
        return Ok(None);
    }
    let d = hash_file(&job.file, job.algorithm, buf)?;
    let after = Version::of(&job.file.metadata()?);
    Ok((after == job.version).then_some(d))
}

fn aws_algorithm(algorithm: Algorithm) -> &'static aws_lc_rs::digest::Algorithm {
    match algorithm {
        Algorithm::Sha256 => &aws_lc_rs::digest::SHA256,
        Algorithm::Sha512 => &aws_lc_rs::digest::SHA512,
    }
}

/// The digest of `bytes` (for tests and benchmarks).
pub fn hash_bytes(algorithm: Algorithm, bytes: &[u8]) -> Digest {
    let d = aws_lc_rs::digest::digest(aws_algorithm(algorithm), bytes);
    Digest::new(algorithm, d.as_ref()).expect("aws-lc gives the algorithm's length")
}

/// The digest of the whole file, read from offset 0 to its end in `buf`-sized pieces with
/// positioned reads (the descriptor's offset is left alone). aws-lc-rs (already linked as
/// rustls' provider) uses the CPU's SHA extensions where there are some.
pub fn hash_file(file: &std::fs::File, algorithm: Algorithm, buf: &mut [u8]) -> io::Result<Digest> {
    let mut context = aws_lc_rs::digest::Context::new(aws_algorithm(algorithm));
    let mut offset = 0u64;
    loop {
        let n = match file.read_at(buf, offset) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        context.update(&buf[..n]);
        offset += n as u64;
    }
    let d = context.finish();
    Ok(Digest::new(algorithm, d.as_ref()).expect("aws-lc gives the algorithm's length"))
}

fn xattr_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::Sha256 => "user.ricochet.sha256",
        Algorithm::Sha512 => "user.ricochet.sha512",
    }
}

fn version_text(version: Version, out: &mut String) {
    let since = version
        .modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    out.push_str(&format!(
        "{} {}.{:09}",
        version.len,
        since.as_secs(),
        since.subsec_nanos()
    ));
}

/// The digest stored in the file's extended attribute, if there is one for this version.
fn read_xattr(file: &std::fs::File, algorithm: Algorithm, version: Version) -> Option<Digest> {
    let mut buf = [0u8; 160];
    let n = rustix::fs::fgetxattr(file, xattr_name(algorithm), &mut buf).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    let (described, b64) = text.rsplit_once(' ')?;
    let mut expected = String::with_capacity(40);
    version_text(version, &mut expected);
    if described != expected {
        return None;
    }
    let mut bytes = [0u8; 64];
    let n = base64::decode_to_slice(b64.as_bytes(), &mut bytes).ok()?;
    Digest::new(algorithm, &bytes[..n])
}

/// Store `d` in the file's extended attribute; best effort (a read-only file, a file system
/// without user attributes: it is remembered in memory only).
fn write_xattr_of(file: &std::fs::File, d: Digest, version: Version) {
    let mut text = String::with_capacity(140);
    version_text(version, &mut text);
    text.push(' ');
    let mut b64 = Vec::with_capacity(88);
    d.write_base64(&mut b64);
    text.push_str(std::str::from_utf8(&b64).unwrap_or_default());
    let name = xattr_name(d.algorithm());
    let flags = rustix::fs::XattrFlags::empty();
    if let Err(e) = rustix::fs::fsetxattr(file, name, text.as_bytes(), flags) {
        log::debug!("digest not stored in {name}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_the_known_values() {
        let d = hash_bytes(Algorithm::Sha256, b"{\"hello\": \"world\"}");
        let mut hex = Vec::new();
        d.write_hex(&mut hex);
        assert_eq!(
            hex,
            b"5f8f04f6a3a892aaabbddb6cf273894493773960d4a325b105fee46eef4304f1"
        );
        let dir = std::env::temp_dir().join(format!("ricochet-hash-{}", std::process::id()));
        let data: Vec<u8> = (0..3 * READ as u32 + 17).map(|i| (i % 251) as u8).collect();
        std::fs::write(&dir, &data).unwrap();
        let file = std::fs::File::open(&dir).unwrap();
        let mut buf = vec![0; READ];
        for algorithm in Algorithm::ALL {
            let whole = hash_file(&file, algorithm, &mut buf).unwrap();
            assert_eq!(whole, hash_bytes(algorithm, &data));
            // Small reads give the same digest.
            assert_eq!(
                hash_file(&file, algorithm, &mut buf[..4093]).unwrap(),
                whole
            );
        }
        std::fs::remove_file(&dir).unwrap();
    }
}
