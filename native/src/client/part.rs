//! The file a download writes across attempts: the temporary (or `--continue` partial) file
//! beside the output, its note, its lock, and what it holds. It gets the output's name only
//! once complete.

use super::output::Destination;
use super::{ClientError, Options, Saved};
use ricochet_core::download::resume::{Local, PartMeta, Validator};
use ricochet_core::download::segments::Span;
use ricochet_core::http::url::Url;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// path (so the rename stays on one file system), unique per process.
pub fn part_path(path: &Path) -> PathBuf {
    path.with_file_name(format!(".{}.{}.part", file_name(path), std::process::id()))
}

/// The temporary file of a `--continue` download: hidden, next to the final path, the same
/// for every run so the next one finds it.
pub fn resume_part_path(path: &Path) -> PathBuf {
    path.with_file_name(format!(".{}.part", file_name(path)))
}

/// The note beside a `--continue` temporary file: its URL and version.
pub fn meta_path(part: &Path) -> PathBuf {
    part.with_file_name(format!("{}.meta", file_name(part)))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".to_string())
}

/// The file a download writes, across attempts, and what it holds.
///
/// Dropped without [`Part::finished`]: removed, unless it can be resumed (`--continue`, a
/// known version, some bytes), in which case it stays with its note.
pub(super) struct Part {
    /// The output path as the user named it (reported when saved, named in errors).
    pub(super) output: PathBuf,
    /// The temporary file, or the device written through.
    path: PathBuf,
    /// The final name it is renamed to; `None` for a device written through.
    pub(super) target: Option<PathBuf>,
    /// With `--continue`: where the note goes.
    meta: Option<PathBuf>,
    /// The URL the note names.
    url: String,
    /// Bytes in `path` that belong to `validator`'s version.
    pub(super) len: u64,
    validator: Option<Validator>,
    /// Length of the output file that existed at the start (`--continue`), while nothing else
    /// is known: asking from its end tells whether it is complete.
    existing: Option<u64>,
    /// With `--continue`, after a multi-source run: the ranges the note says are held (the
    /// file is sparse; `len` is only the part held from byte 0).
    ranges: Option<Vec<Span>>,
    /// `path` was created by this run (a per-process name is created exclusively, once).
    created: bool,
    finished: bool,
    #[cfg(unix)]
    _on_signal: Option<super::interrupt::RemoveOnSignal>,
    /// With `--continue`: the partial file, held open and locked for the whole run (see
    /// [`lock_part`]); released when the process ends, even if it is killed.
    _lock: Option<fs::File>,
}

impl Part {
    /// Where the body of `url` will go for `path`, with what an earlier `--continue` run left.
    /// Fails if another `--continue` run is downloading to the same file.
    pub(super) fn prepare(path: &Path, url: &Url, options: &Options) -> Result<Part, ClientError> {
        // Finished until fully built: a failure on the way removes nothing.
        let mut part = Part {
            output: path.to_path_buf(),
            path: PathBuf::new(),
            target: None,
            meta: None,
            url: url.to_string(),
            len: 0,
            validator: None,
            existing: None,
            ranges: None,
            created: true,
            finished: true,
            #[cfg(unix)]
            _on_signal: None,
            _lock: None,
        };
        let target = match Destination::of(path) {
            Destination::Direct(device) => {
                part.path = device;
                return Ok(part);
            }
            Destination::Replace { target } => target,
        };
        if !options.resume {
            part.path = part_path(&target);
            // Registered before the file exists, so no signal can leave it behind.
            #[cfg(unix)]
            {
                part._on_signal = Some(super::interrupt::remove_on_signal(&part.path));
            }
            part.created = false;
            part.target = Some(target);
            part.finished = false;
            return Ok(part);
        }
        // From here on this run owns the partial file and its note, or stops: both are read
        // only under the lock. Interrupted, the partial file stays for the next `--continue`.
        part.path = resume_part_path(&target);
        let lock = lock_part(&part.path).map_err(|e| ClientError::File(target.clone(), e))?;
        let meta = meta_path(&part.path);
        // A note for another URL, or none, makes the partial file worthless.
        let note = fs::read(&meta)
            .ok()
            .and_then(|text| PartMeta::parse(&text).ok())
            .filter(|note| note.url == part.url);
        let held = lock.metadata().map_or(0, |m| m.len());
        if let Some(note) = note.filter(|_| held > 0) {
            part.len = note.prefix(held);
            if note.ranges.is_some() && options.segments <= 1 {
                // One source from here on: it goes on from the part held from byte 0.
                lock.set_len(part.len)
                    .map_err(|e| ClientError::File(target.clone(), e))?;
            } else {
                part.ranges = note.ranges;
            }
            part.validator = Some(note.validator);
        } else {
            part.existing = fs::metadata(&target)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len());
        }
        part.meta = Some(meta);
        part.target = Some(target);
        part._lock = Some(lock);
        part.finished = false;
        Ok(part)
    }

    /// What is held locally, for [`ricochet_core::download::resume::plan`].
    pub(super) fn local(&self) -> Local<'_> {
        if self.target.is_none() {
            return Local::Nothing;
        }
        match (self.len, self.existing) {
            (0, Some(len)) => Local::Existing { len },
            (0, None) => Local::Nothing,
            (len, _) => Local::Partial {
                len,
                validator: self.validator.as_ref(),
            },
        }
    }

    /// Whether another attempt can go on from here: a device already written to cannot be
    /// rewound.
    pub(super) fn can_retry(&self) -> bool {
        self.target.is_some() || self.len == 0
    }

    /// Forget the local bytes (the file is truncated when the next body starts).
    pub(super) fn drop_local(&mut self) {
        self.len = 0;
        self.validator = None;
        self.existing = None;
        self.ranges = None;
        if let Some(meta) = &self.meta {
            let _ = fs::remove_file(meta);
        }
    }

    /// A whole body is coming: from now on the file holds `validator`'s version, from byte 0.
    /// With `--continue` the note is written before any byte, so whatever is on disk after a
    /// cut is a prefix of that version.
    pub(super) fn start_over(&mut self, validator: Option<Validator>) -> Result<(), ClientError> {
        self.drop_local();
        self.validator = validator;
        if let (Some(meta), Some(validator)) = (&self.meta, &self.validator) {
            let note = PartMeta {
                url: self.url.clone(),
                validator: validator.clone(),
                ranges: None,
            };
            fs::write(meta, note.to_text()).map_err(|e| ClientError::File(meta.clone(), e))?;
        }
        Ok(())
    }

    /// Open the file to write the body: appending after the bytes held, or from the start.
    pub(super) fn open(&mut self, append: bool) -> io::Result<fs::File> {
        let mut options = OpenOptions::new();
        options.write(true);
        if self.target.is_none() {
            // A device: written through as it is.
        } else if !self.created {
            options.create_new(true);
        } else {
            options.create(true);
            if append {
                options.append(true);
            } else {
                options.truncate(true);
            }
            // Never write through a link planted at the temporary name.
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
        }
        let file = options.open(&self.path)?;
        self.created = true;
        if append && self.ranges.take().is_some() {
            // A sparse multi-source file, gone on with from one source: what it holds from
            // byte 0 on is kept, the ranges after it are dropped.
            file.set_len(self.len)?;
        }
        if append && file.metadata()?.len() != self.len {
            return Err(io::Error::other(
                "the partial file changed under the download",
            ));
        }
        Ok(file)
    }

    /// Open the file for a multi-source download of `total` bytes written at their offsets,
    /// sized to `total` at once; `keep`: the ranges it holds stay (a resumed multi-source
    /// download), else it starts empty.
    pub(super) fn open_sparse(&mut self, total: u64, keep: bool) -> io::Result<fs::File> {
        let file = if keep && self.target.is_some() {
            let mut options = OpenOptions::new();
            options.write(true).read(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
            options.open(&self.path)?
        } else {
            self.open(false)?
        };
        file.set_len(total)?;
        Ok(file)
    }

    /// The ranges a multi-source `--continue` note says are held, and their version.
    pub(super) fn held_ranges(&self) -> Option<(&[Span], &Validator)> {
        Some((self.ranges.as_deref()?, self.validator.as_ref()?))
    }

    /// The writer of this download's note with the ranges held (`--continue` only).
    pub(super) fn note(&self) -> Option<Note> {
        Some(Note {
            path: self.meta.clone()?,
            meta: PartMeta {
                url: self.url.clone(),
                validator: self.validator.clone()?,
                ranges: Some(Vec::new()),
            },
        })
    }

    /// A multi-source download stopped holding the ranges `held`: another attempt (`--retry`)
    /// goes on from them, and the file (with its note) is kept for the next `--continue` run
    /// when there is something to keep.
    pub(super) fn keep_sparse(&mut self, held: &[Span]) {
        // One source would go on from the part held from byte 0.
        self.len = held.first().filter(|r| r.start == 0).map_or(0, |r| r.end);
        self.ranges = Some(held.to_vec());
    }

    /// The file written, opened for reading (to hash the bytes it holds already).
    pub(super) fn read(&self) -> io::Result<fs::File> {
        fs::File::open(&self.path)
    }

    /// The body is complete in the file: move it into place.
    pub(super) fn finish(&mut self, file: fs::File, options: &Options) -> io::Result<()> {
        let Some(target) = &self.target else {
            return Ok(());
        };
        if options.fsync {
            file.sync_all()?;
        }
        drop(file);
        fs::rename(&self.path, target)?;
        self.finished = true;
        if let Some(meta) = &self.meta {
            let _ = fs::remove_file(meta);
        }
        // Make the rename itself durable; best effort (not every file system allows it).
        if let Some(dir) = target.parent().filter(|_| options.fsync) {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// The server says the local copy is the whole file already.
    pub(super) fn complete_already(&mut self) -> Result<Saved, ClientError> {
        let Some(target) = self.target.clone() else {
            return Err(ClientError::File(
                self.path.clone(),
                io::Error::other("a device cannot be resumed"),
            ));
        };
        let bytes = match (self.len, self.existing) {
            (0, Some(len)) => {
                // The output file is the whole file; the partial file (empty, or of no use)
                // and its note go.
                let _ = fs::remove_file(&self.path);
                if let Some(meta) = &self.meta {
                    let _ = fs::remove_file(meta);
                }
                len
            }
            (len, _) => {
                // The partial file is the whole file: it becomes the output.
                fs::rename(&self.path, &target)
                    .map_err(|e| ClientError::File(target.clone(), e))?;
                if let Some(meta) = &self.meta {
                    let _ = fs::remove_file(meta);
                }
                len
            }
        };
        self.finished = true;
        Ok(Saved {
            path: self.output.clone(),
            bytes,
            resumed_from: bytes,
            already_complete: true,
            verified: None,
        })
    }

    /// After a failed body of which `written` bytes were handed to the file: how much of it
    /// is on disk.
    pub(super) fn settle(&mut self, file: Option<fs::File>, written: u64) {
        if self.target.is_none() {
            // Only "something was written" matters for a device.
            self.len += written;
            return;
        }
        let on_disk = match file {
            Some(file) => file.metadata().map(|m| m.len()),
            None => fs::metadata(&self.path).map(|m| m.len()),
        };
        self.len = on_disk.unwrap_or(0);
        if self.validator.is_none() {
            // Bytes of an unknown version cannot be resumed.
            self.len = 0;
        }
    }
}

/// The note of a multi-source `--continue` download, rewritten as ranges complete.
pub(super) struct Note {
    path: PathBuf,
    meta: PartMeta,
}

impl Note {
    /// Record `ranges` as held (best effort: a note not written only costs a refetch).
    pub(super) fn write(&mut self, ranges: &[Span]) {
        self.meta.ranges = Some(ranges.to_vec());
        let _ = fs::write(&self.path, self.meta.to_text());
    }
}

/// Opens the partial file of a `--continue` run (creating it empty if absent, never through a
/// link) and takes an exclusive lock on it without waiting: two runs for the same output would
/// otherwise write into the same file (one truncating what the other appends, or removing it
/// under the other), and the output would be spliced or lost. A second run stops with this
/// error instead; the first goes on. An advisory lock (`flock`): other programs are not kept
/// out, and the file is never locked without `--continue`, where its name is per process.
fn lock_part(part: &Path) -> io::Result<fs::File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    let file = options.open(part)?;
    #[cfg(unix)]
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "another `client --continue` run is downloading to it ({} is locked)",
                    part.display()
                ),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(file)
}

impl Drop for Part {
    fn drop(&mut self) {
        if self.finished || self.target.is_none() {
            return;
        }
        let held = self.len > 0 || self.ranges.as_ref().is_some_and(|r| !r.is_empty());
        let resumable = self.meta.is_some() && self.validator.is_some() && held;
        if !resumable {
            let _ = fs::remove_file(&self.path);
            if let Some(meta) = &self.meta {
                let _ = fs::remove_file(meta);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_file_sits_next_to_the_final_path_and_is_hidden() {
        let part = part_path(Path::new("some/dir/file.bin"));
        assert_eq!(part.parent(), Some(Path::new("some/dir")));
        let name = part.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".file.bin."), "{name}");
        assert!(name.ends_with(".part"), "{name}");
    }
}
