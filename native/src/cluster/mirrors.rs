//! The demo's mirrors: the second and third servers serve copies of the root made at start, the
//! second's without [`MISSING`], the third's with an older [`OLDER`], so that `--verify-files`
//! and the mirror list have something to show. The copies live under [`scratch_dir`] and are
//! removed when the cluster stops.
//!
//! Copied file by file (the server refuses links that leave its root), each keeping its
//! source's modification time: a copy made now would otherwise be a day newer than the origin's
//! and every file would be "another version".

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file the second server lacks (a mirror that has not synced the new release yet).
pub const MISSING: &str = "release.bin";

/// The file the third server holds an older version of (a mirror a day behind).
pub const OLDER: &str = "data.bin";

/// How much older the third server's [`OLDER`] is than the root's.
const OLDER_BY: Duration = Duration::from_secs(24 * 60 * 60);

/// This process's directory for the copies, in the temporary directory.
pub fn scratch_dir() -> PathBuf {
    std::env::temp_dir().join(format!("ricochet-cluster-{}", std::process::id()))
}

/// Each server's root; removes the copies when dropped.
#[derive(Debug)]
pub struct Mirrors {
    root: PathBuf,
    dir: PathBuf,
    copies: [PathBuf; 2],
}

impl Mirrors {
    /// Copy `root` twice into `dir` (which must not exist yet): one copy without [`MISSING`],
    /// one with an older [`OLDER`] (the first three quarters of its bytes, each inverted, dated
    /// a day earlier). Either file may be absent from `root`: then that copy is a plain copy.
    pub fn make(root: &Path, dir: PathBuf) -> io::Result<Mirrors> {
        fs::create_dir(&dir)?;
        // From here on, dropping it removes whatever was made.
        let mirrors = Mirrors {
            root: root.to_path_buf(),
            copies: [dir.join("2"), dir.join("3")],
            dir,
        };
        let [lacking, behind] = &mirrors.copies;
        copy_tree(root, lacking)?;
        match fs::remove_file(lacking.join(MISSING)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        copy_tree(root, behind)?;
        let current = root.join(OLDER);
        if current.is_file() {
            let bytes = fs::read(&current)?;
            let older: Vec<u8> = bytes[..bytes.len() * 3 / 4].iter().map(|b| !b).collect();
            let modified = fs::metadata(&current)?.modified()? - OLDER_BY;
            let path = behind.join(OLDER);
            fs::write(&path, older)?;
            File::options()
                .write(true)
                .open(&path)?
                .set_modified(modified)?;
        }
        Ok(mirrors)
    }

    /// The root server `index` (0 first) serves: the first and any past the third serve the
    /// root itself.
    pub fn root(&self, index: usize) -> &Path {
        match index {
            1 | 2 => &self.copies[index - 1],
            _ => &self.root,
        }
    }
}

impl Drop for Mirrors {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            log::warn!("cannot remove {}: {e}", self.dir.display());
        }
    }
}

/// Copy the directory `from` to `to` (made here), file by file, keeping modification times.
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        // Follows links: the copy holds what the root serves, never a link.
        let metadata = fs::metadata(&source)?;
        if metadata.is_dir() {
            copy_tree(&source, &target)?;
        } else if metadata.is_file() {
            fs::copy(&source, &target)?;
            File::options()
                .write(true)
                .open(&target)?
                .set_modified(metadata.modified()?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn the_copies_lack_one_file_and_hold_an_older_other_and_go_when_dropped() {
        let base =
            std::env::temp_dir().join(format!("ricochet-mirrors-test-{}", std::process::id()));
        let root = base.join("root");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join(MISSING), b"new release").unwrap();
        fs::write(root.join(OLDER), [1u8, 2, 3, 4]).unwrap();
        fs::write(root.join("sub").join("a.txt"), b"a").unwrap();
        let day_ago = SystemTime::now() - Duration::from_secs(86_400);
        File::options()
            .write(true)
            .open(root.join("sub").join("a.txt"))
            .unwrap()
            .set_modified(day_ago)
            .unwrap();

        let mirrors = Mirrors::make(&root, base.join("copies")).unwrap();
        assert_eq!(mirrors.root(0), root);
        assert!(!mirrors.root(1).join(MISSING).exists());
        assert!(mirrors.root(1).join(OLDER).exists());
        assert_eq!(
            fs::read(mirrors.root(2).join(MISSING)).unwrap(),
            b"new release"
        );
        assert_eq!(
            fs::read(mirrors.root(2).join(OLDER)).unwrap(),
            [!1u8, !2, !3]
        );
        let mtime = |p: PathBuf| fs::metadata(p).unwrap().modified().unwrap();
        let current = mtime(root.join(OLDER));
        assert_eq!(mtime(mirrors.root(2).join(OLDER)), current - OLDER_BY);
        assert_eq!(mtime(mirrors.root(1).join("sub").join("a.txt")), day_ago);
        assert_eq!(mtime(mirrors.root(2).join("sub").join("a.txt")), day_ago);

        drop(mirrors);
        assert!(!base.join("copies").exists());
        fs::remove_dir_all(&base).unwrap();
    }
}
