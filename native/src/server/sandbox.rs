//! The server's root sandbox: its root directory held open, and files opened beneath it with
//! `openat2(RESOLVE_BENEATH)`, so that no path or symlink leads out of it.

use crate::runtime::File;
use std::io;
use std::path::{Path, PathBuf};
#[cfg(any(target_os = "linux", target_os = "android"))]
use std::time::Instant;

/// A directory opened once, for opening files beneath it (the server's root).
///
/// It follows its path: at most once a second, a request checks that the path still names the
/// directory held open (same device and inode) and reopens it if not, so replacing the whole
/// root (`mv new-site www`) takes effect as it would for a server that opens by path.
#[derive(Debug)]
pub struct Dir {
    path: PathBuf,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fd: std::sync::RwLock<std::os::fd::OwnedFd>,
    /// Seconds (on `clock`) when the path was last checked.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    checked: std::sync::atomic::AtomicU64,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    clock: Instant,
    /// Files opened beneath the directory, kept open for the next request for the same path.
    held: Held,
}

/// Regular files kept open between requests, by path relative to the root: at most
/// [`MAX_HELD`]. A request for a held path costs one `stat` of the path instead of an
/// `openat2`, an `fstat` and a `close`. The `stat` proves the path still names the held file:
/// same device, inode and change time (`ctime` moves on every write, `chmod`, `chown`, link,
/// rename and extended attribute of the file), else the file is let go and the path opened
/// afresh, beneath the root, as for a path never seen. So a file replaced, renamed, deleted,
/// made unreadable or moved out of the root behind a symlink is never served from the held
/// copy; a file written in place is read as it now is (the size comes from the fresh `stat`).
#[derive(Debug, Default)]
struct Held {
    files: std::sync::Mutex<std::collections::HashMap<Box<str>, HeldFile>>,
}

/// Most files [`Held`] keeps open: a bound on descriptors (and on the disk space of deleted
/// files still held) that covers a busy mirror's hot files.
const MAX_HELD: usize = 256;

#[derive(Debug)]
struct HeldFile {
    file: File,
    dev: u64,
    ino: u64,
    ctime: (i64, i64),
}

/// What says a path still names the same file: see [`Held`].
#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> (u64, u64, (i64, i64)) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino(), (meta.ctime(), meta.ctime_nsec()))
}

impl Held {
    fn files(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<Box<str>, HeldFile>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Set once `openat2` has failed with ENOSYS or EPERM (a kernel before 5.6, or a seccomp
/// filter): from then on every path goes straight to the caller's own check.
#[cfg(any(target_os = "linux", target_os = "android"))]
static NO_OPENAT2: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Dir {
    /// Open the directory at `path` (`O_PATH`: search permission is all it needs).
    pub fn open(path: &Path) -> io::Result<Dir> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            Ok(Dir {
                path: path.to_path_buf(),
                fd: std::sync::RwLock::new(Self::open_fd(path)?),
                checked: 0.into(),
                clock: Instant::now(),
                held: Held::default(),
            })
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            if !std::fs::metadata(path)?.is_dir() {
                return Err(io::ErrorKind::NotADirectory.into());
            }
            Ok(Dir {
                path: path.to_path_buf(),
                held: Held::default(),
            })
        }
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn open_fd(path: &Path) -> io::Result<std::os::fd::OwnedFd> {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        Ok(rustix::fs::open(path, flags, Mode::empty())?)
    }

    /// Reopen the directory if its path now names another one (checked at most once a second).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn follow_path(&self) {
        use std::os::unix::fs::MetadataExt;
        use std::sync::atomic::Ordering::Relaxed;
        let now = self.clock.elapsed().as_secs() + 1;
        if self.checked.swap(now, Relaxed) == now {
            return;
        }
        let Ok(named) = std::fs::metadata(&self.path) else {
            return;
        };
        let held = {
            let fd = self.fd.read().unwrap_or_else(|e| e.into_inner());
            rustix::fs::fstat(&*fd)
        };
        let same = held.is_ok_and(|st| st.st_dev == named.dev() && st.st_ino == named.ino());
        if !same {
            if let Ok(fd) = Self::open_fd(&self.path) {
                log::info!(
                    "{} was replaced; serving the new directory",
                    self.path.display()
                );
                *self.fd.write().unwrap_or_else(|e| e.into_inner()) = fd;
            }
        }
    }

    /// The file `relative` names, if it is held open (see [`Held`]) and the path still names
    /// it, with its metadata from a fresh `stat`. `None` means: open it as usual (a held file
    /// the path no longer names is let go).
    #[cfg(unix)]
    pub fn open_held(&self, relative: &str) -> Option<(File, std::fs::Metadata)> {
        let (file, held) = {
            let files = self.held.files();
            let held = files.get(relative)?;
            (held.file.share(), (held.dev, held.ino, held.ctime))
        };
        match std::fs::metadata(self.path.join(relative)) {
            Ok(meta) if meta.is_file() && identity(&meta) == held => Some((file, meta)),
            _ => {
                self.held.files().remove(relative);
                None
            }
        }
    }

    /// Keep `file`, just opened beneath the directory for `relative`, open for the next
    /// request (regular files only; see [`Held`]).
    #[cfg(unix)]
    pub fn hold(&self, relative: &str, file: &File, meta: &std::fs::Metadata) {
        if !meta.is_file() {
            return;
        }
        let (dev, ino, ctime) = identity(meta);
        let mut files = self.held.files();
        if files.len() >= MAX_HELD && !files.contains_key(relative) {
            // Let one go: which one matters little, a path asked for again is reopened.
            if let Some(key) = files.keys().next().cloned() {
                files.remove(&key);
            }
        }
        let file = file.share();
        files.insert(
            relative.into(),
            HeldFile {
                file,
                dev,
                ino,
                ctime,
            },
        );
    }

    /// How many files are held open.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.held.files().len()
    }

    /// Nothing is held where there is no `stat` identity to check it by.
    #[cfg(not(unix))]
    pub fn open_held(&self, _relative: &str) -> Option<(File, std::fs::Metadata)> {
        None
    }

    #[cfg(not(unix))]
    pub fn hold(&self, _relative: &str, _file: &File, _meta: &std::fs::Metadata) {}

    /// `openat2(relative, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` for reading, with
    /// `O_NONBLOCK | O_NOCTTY`. `None` when the kernel has no `openat2` (`ENOSYS`, or `EPERM`
    /// from a seccomp filter), which is remembered.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn openat2(&self, relative: &str) -> Option<rustix::io::Result<File>> {
        use rustix::fs::{Mode, OFlags, ResolveFlags};
        use rustix::io::Errno;
        use std::sync::atomic::Ordering::Relaxed;
        if NO_OPENAT2.load(Relaxed) {
            return None;
        }
        let opened = {
            let fd = self.fd.read().unwrap_or_else(|e| e.into_inner());
            rustix::fs::openat2(
                &*fd,
                relative,
                OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
            )
        };
        match opened {
            Err(e) if e == Errno::NOSYS || e == Errno::PERM => {
                NO_OPENAT2.store(true, Relaxed);
                None
            }
            opened => Some(opened.map(|fd| File::from_std(std::fs::File::from(fd)))),
        }
    }

    /// Open `relative` for reading in one `openat2` call with `RESOLVE_BENEATH`: the kernel
    /// walks the path from this directory and fails with `EXDEV` if any step, a symlink
    /// included, would leave it. `O_NONBLOCK | O_NOCTTY`, as nginx opens files: a FIFO or a
    /// device is opened without waiting (then refused by its metadata) instead of hanging the
    /// thread.
    ///
    /// `Ok(None)` when this call cannot decide and the caller must check the path another way:
    /// the path crosses an absolute symlink (refused by `RESOLVE_BENEATH` even when it points
    /// back inside: `EXDEV`), permission is refused (`EACCES`: a directory may be searchable
    /// but not readable, and the caller's check says which), a socket (`ENXIO`), a rename
    /// racing a `..` step (`EAGAIN`), or no `openat2` at all (`ENOSYS`/`EPERM`: before Linux
    /// 5.6, or a seccomp filter; remembered).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn open_beneath(&self, relative: &str) -> io::Result<Option<File>> {
        use rustix::io::Errno;
        self.follow_path();
        match self.openat2(relative) {
            None => Ok(None),
            Some(Ok(file)) => Ok(Some(file)),
            Some(Err(e))
                if e == Errno::XDEV
                    || e == Errno::ACCESS
                    || e == Errno::NXIO
                    || e == Errno::AGAIN =>
            {
                Ok(None)
            }
            Some(Err(e)) => Err(e.into()),
        }
    }

    /// Without `openat2` the caller always checks the path itself.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub fn open_beneath(&self, _relative: &str) -> io::Result<Option<File>> {
        Ok(None)
    }

    /// Open `relative`, a path the caller has already checked (no symlink left in it), with
    /// `RESOLVE_BENEATH` again, so that a symlink swapped in since the check cannot lead out
    /// of the directory: that case fails with `PermissionDenied`. `None` when there is no
    /// `openat2`; the caller then opens by path, as it must.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn reopen_beneath(&self, relative: &str) -> Option<io::Result<File>> {
        Some(self.openat2(relative)?.map_err(|e| {
            if e == rustix::io::Errno::XDEV {
                io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "the path changed to lead out of the root",
                )
            } else {
                e.into()
            }
        }))
    }

    /// Without `openat2` the caller opens by path.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub fn reopen_beneath(&self, _relative: &str) -> Option<io::Result<File>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// `Dir::open_beneath` decides in one call what it can (files and relative links inside,
    /// missing files) and hands back what it cannot (links out of the root, absolute links) to
    /// the caller's own check; a root replaced by another directory is followed.
    #[cfg(target_os = "linux")]
    #[test]
    fn open_beneath_decides_what_it_can_and_follows_a_replaced_root() {
        use std::os::unix::fs::symlink;
        let base = std::env::temp_dir().join(format!("ricochet-dir-{}", std::process::id()));
        let root = base.join("root");
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("file.txt"), "inside").unwrap();
        std::fs::write(base.join("outside.txt"), "outside").unwrap();
        symlink("file.txt", root.join("rel-in")).unwrap();
        symlink("../outside.txt", root.join("rel-out")).unwrap();
        symlink(root.join("file.txt"), root.join("abs-in")).unwrap();
        let dir = Dir::open(&root).unwrap();
        let read = |relative: &str| -> io::Result<Option<String>> {
            match dir.open_beneath(relative)? {
                Some(mut file) => {
                    let mut buf = vec![0; 64];
                    let n = file.read(&mut buf)?;
                    Ok(Some(String::from_utf8_lossy(&buf[..n]).into_owned()))
                }
                None => Ok(None),
            }
        };
        assert_eq!(read("file.txt").unwrap().as_deref(), Some("inside"));
        assert_eq!(read("rel-in").unwrap().as_deref(), Some("inside"));
        assert_eq!(
            read("rel-out").unwrap(),
            None,
            "a link out of the root is not opened"
        );
        assert_eq!(
            read("abs-in").unwrap(),
            None,
            "absolute links go to the caller's check"
        );
        let missing = read("missing.txt").unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        let sub = dir.open_beneath("sub").unwrap().unwrap();
        assert!(sub.metadata().unwrap().is_dir());

        // A path checked by the caller is opened beneath the root again: a link that leads out
        // (as if swapped in after the check) is refused, not followed.
        assert!(dir.reopen_beneath("file.txt").unwrap().is_ok());
        let out = dir.reopen_beneath("rel-out").unwrap().unwrap_err();
        assert_eq!(out.kind(), io::ErrorKind::PermissionDenied);

        // Replace the whole root; within about a second the new one is served.
        std::fs::rename(&root, base.join("old-root")).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("file.txt"), "replaced").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while read("file.txt").unwrap().as_deref() != Some("replaced") {
            assert!(
                Instant::now() < deadline,
                "the replaced root was not followed"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = std::fs::remove_dir_all(&base);
    }
}
