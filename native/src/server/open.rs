//! Finding, checking and opening the file a request names, beneath the root: by
//! [`Dir::open_beneath`](crate::server::sandbox::Dir::open_beneath) where it can decide, else component by component.

use crate::runtime::File;
use crate::server::Config;
use ricochet_core::files::serve::{self, Directory, FileError, FileRequest};
use std::io;
use std::path::PathBuf;

/// Why a file could not be had, in the core's terms.
fn file_error(e: &io::Error) -> FileError {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => FileError::NotFound,
        // A name longer than the file system allows names no file.
        _ if e.raw_os_error() == Some(libc::ENAMETOOLONG) => FileError::NotFound,
        io::ErrorKind::PermissionDenied => FileError::PermissionDenied,
        _ => FileError::Other,
    }
}

/// Find and check the path `relative` (from the core's router) names under the root, with
/// its metadata (symlinks followed). `Err` is the status to answer.
///
/// The root is canonical and `relative` has no `.`, `..` or empty segments, so a path whose
/// components are none of them symlinks lies inside the root: one `lstat` per component proves
/// it. Only when a component is a symlink is the path canonicalized and checked with the core's
/// [`serve::is_inside`] (a symlink leading out of the root is refused with 403).
fn resolve(config: &Config, relative: &str) -> Result<(PathBuf, std::fs::Metadata), FileError> {
    let mut path = config.root.clone();
    let mut meta = None;
    for segment in relative.split('/').filter(|s| !s.is_empty()) {
        path.push(segment);
        let m = std::fs::symlink_metadata(&path).map_err(|e| file_error(&e))?;
        if m.file_type().is_symlink() {
            let full = config.root.join(relative);
            let canonical = std::fs::canonicalize(&full).map_err(|e| file_error(&e))?;
            if !serve::is_inside(&config.root, &canonical) {
                log::warn!("refusing {relative}: it resolves outside the root");
                return Err(FileError::OutsideRoot);
            }
            let m = std::fs::metadata(&canonical).map_err(|e| file_error(&e))?;
            return Ok((canonical, m));
        }
        meta = Some(m);
    }
    match meta {
        Some(m) => Ok((path, m)),
        None => {
            let m = std::fs::metadata(&path).map_err(|e| file_error(&e))?;
            Ok((path, m))
        }
    }
}

/// What a request names, once found and checked. Returned once per request and taken apart
/// at once: boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Opened {
    /// A regular file with its metadata and, for a directory, the request for its index page
    /// (the one to answer: its name gives the Content-Type).
    File(File, std::fs::Metadata, Option<FileRequest>),
    /// A directory named without its trailing slash: answer [`serve::directory_redirect`].
    AddSlash,
}

/// Find, check and open the file a request names (a directory's index page for a
/// directory). `Err` is the status to answer.
pub fn open_file(config: &Config, request: &FileRequest) -> Result<Opened, FileError> {
    // The root is always a directory: straight to its index page.
    let (file, meta, index) = if request.relative.is_empty() {
        let Directory::Index(index) = serve::directory(request) else {
            return Ok(Opened::AddSlash);
        };
        let (file, meta) = open_checked(config, &index.relative)?;
        (file, meta, Some(index))
    } else {
        let (file, meta) = open_checked(config, &request.relative)?;
        if meta.is_dir() {
            let Directory::Index(index) = serve::directory(request) else {
                return Ok(Opened::AddSlash);
            };
            let (file, meta) = open_checked(config, &index.relative)?;
            (file, meta, Some(index))
        } else {
            (file, meta, None)
        }
    };
    match file {
        Some(file) if meta.is_file() => Ok(Opened::File(file, meta, index)),
        // A directory without index.html, a FIFO, a device: nothing to serve.
        _ => Err(FileError::NotAFile),
    }
}

/// Open `relative` under the root, with its metadata (symlinks followed). The file is `None`
/// when it is not a regular file (a directory, a FIFO...). `Err` is the status to answer.
///
/// A file held open from an earlier request costs one `stat` of its path (see
/// [`Dir::open_held`](crate::server::sandbox::Dir::open_held)). Otherwise, usually one
/// `openat2` call that both opens the file and proves it lies beneath the root, then an
/// `fstat`; when that call cannot decide (an absolute symlink on the way, or no
/// `openat2` in the kernel), the path is checked component by component by [`resolve`].
fn open_checked(
    config: &Config,
    relative: &str,
) -> Result<(Option<File>, std::fs::Metadata), FileError> {
    if let Some((file, meta)) = config.root_dir.open_held(relative) {
        return Ok((Some(file), meta));
    }
    if let Some(file) = config
        .root_dir
        .open_beneath(relative)
        .map_err(|e| file_error(&e))?
    {
        let meta = file.metadata().map_err(|e| file_error(&e))?;
        config.root_dir.hold(relative, &file, &meta);
        return Ok((Some(file), meta));
    }
    let (path, meta) = resolve(config, relative)?;
    if !meta.is_file() {
        return Ok((None, meta));
    }
    // The checked path has no symlink left in it: open it beneath the root again, so a link
    // swapped in since the check cannot lead out (where openat2 exists).
    let checked = path
        .strip_prefix(&config.root)
        .ok()
        .and_then(|p| p.to_str());
    let reopened = match checked {
        Some(rel) if !rel.is_empty() => config.root_dir.reopen_beneath(rel),
        _ => None,
    };
    let file = match reopened {
        Some(opened) => opened.map_err(|e| file_error(&e))?,
        None => File::open(&path).map_err(|e| file_error(&e))?,
    };
    let meta = file.metadata().map_err(|e| file_error(&e))?;
    if !meta.is_file() {
        return Ok((None, meta));
    }
    Ok((Some(file), meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read what `relative` names, as a request would: its bytes, or the status's reason.
    fn read(config: &Config, relative: &str) -> Result<String, FileError> {
        let (file, meta) = open_checked(config, relative)?;
        let mut file = file.expect("a regular file");
        let mut buf = vec![0; 64];
        let n = file.read(&mut buf).unwrap();
        assert_eq!(
            n as u64,
            meta.len(),
            "the length comes from the file as it is now"
        );
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// A file kept open from an earlier request is served only while its path still names
    /// it: written in place, it is read as it now is; replaced by a rename, the new file is
    /// served at once; swapped for a link out of the root, it is refused; deleted, it is not
    /// found. At most 256 files are kept open.
    #[cfg(unix)]
    #[test]
    fn a_held_file_is_served_only_while_its_path_names_it() {
        let base = std::env::temp_dir().join(format!("ricochet-held-{}", std::process::id()));
        let root = base.join("root");
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(base.join("outside.txt"), "outside").unwrap();
        std::fs::write(root.join("a.txt"), "one").unwrap();
        let config = Config::new(&root).unwrap();

        assert_eq!(read(&config, "a.txt").unwrap(), "one");
        assert_eq!(config.root_dir.held(), 1);
        assert_eq!(read(&config, "a.txt").unwrap(), "one");

        std::fs::write(root.join("a.txt"), "three!!").unwrap();
        assert_eq!(read(&config, "a.txt").unwrap(), "three!!");

        std::fs::write(root.join("new.tmp"), "four").unwrap();
        std::fs::rename(root.join("new.tmp"), root.join("a.txt")).unwrap();
        assert_eq!(read(&config, "a.txt").unwrap(), "four");

        std::fs::remove_file(root.join("a.txt")).unwrap();
        std::os::unix::fs::symlink("../outside.txt", root.join("a.txt")).unwrap();
        assert!(matches!(
            read(&config, "a.txt"),
            Err(FileError::OutsideRoot)
        ));

        std::fs::remove_file(root.join("a.txt")).unwrap();
        assert!(matches!(read(&config, "a.txt"), Err(FileError::NotFound)));

        for i in 0..300 {
            let name = format!("f{i}");
            std::fs::write(root.join(&name), "x").unwrap();
            assert_eq!(read(&config, &name).unwrap(), "x");
        }
        assert_eq!(config.root_dir.held(), 256);
        let _ = std::fs::remove_dir_all(&base);
    }
}
