//! Where a body goes: the output path (`-o`, or the URL's name), and whether it is replaced
//! through a temporary file or written straight through (a device, a FIFO).

use ricochet_core::download::follow;
use ricochet_core::http::url::Url;
use std::fs;
use std::path::{Path, PathBuf};

/// Where to save: `-o` as given (inside it, if it is a directory), or the URL's name here.
pub fn output_path(output: Option<&Path>, url: &Url) -> PathBuf {
    match output {
        Some(path) if path.is_dir() => path.join(follow::output_name(url)),
        Some(path) => path.to_path_buf(),
        None => PathBuf::from(follow::output_name(url)),
    }
}

/// How a body reaches its output.
pub(super) enum Destination {
    /// The usual case: write a temporary file, then rename it over `target` (a regular file,
    /// or nothing yet). A symlink given as the output is followed, so the link stays and its
    /// target is replaced.
    Replace {
        /// The final name; the temporary file sits beside it.
        target: PathBuf,
    },
    /// An existing non-regular file (`/dev/null`, a FIFO, a terminal): written straight
    /// through, never replaced by a rename.
    Direct(PathBuf),
}

impl Destination {
    /// How to write to `path`.
    pub(super) fn of(path: &Path) -> Destination {
        // `metadata` follows symlinks: `/dev/stdout` into a pipe is a FIFO, written through,
        // never renamed over (its resolution may not even be a path).
        match fs::metadata(path) {
            Ok(meta) if meta.is_file() => match fs::symlink_metadata(path) {
                Ok(link) if link.file_type().is_symlink() => match fs::canonicalize(path) {
                    Ok(real) => Destination::replace(&real),
                    Err(_) => Destination::Direct(path.to_path_buf()),
                },
                _ => Destination::replace(path),
            },
            Ok(meta) if !meta.is_dir() => Destination::Direct(path.to_path_buf()),
            _ => Destination::replace(path),
        }
    }

    fn replace(path: &Path) -> Destination {
        Destination::Replace {
            target: path.to_path_buf(),
        }
    }
}
