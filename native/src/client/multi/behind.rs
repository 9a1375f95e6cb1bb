//! The hash of a multi-source download's file, kept up while it downloads: the part held from
//! byte 0 is read back and hashed as it grows, so little is left to hash once it is complete.

use super::Shared;
use crate::client::hash::Hasher;
use ricochet_core::http::digest::Digest;
use std::cell::RefCell;
use std::fs::File;

/// Most bytes hashed per look, so the sources' tasks are never held up for long.
const HASH_STEP: u64 = 4 * 1024 * 1024;

/// The hash of the part held from byte 0, kept up as it grows (read back from the file), so
/// that little is left to hash once the file is complete.
#[derive(Default)]
pub(super) struct HashBehind {
    hasher: Option<Hasher>,
    hashed: u64,
    corrupt_drops: u32,
}

impl HashBehind {
    /// Hash what was added to the prefix held (at most [`HASH_STEP`]), with the algorithm the
    /// expected digest is likely to have; start over when a corrupt source was dropped.
    pub(super) fn advance(&mut self, shared: &RefCell<Shared>, file: &File) {
        let (prefix, drops, algorithm) = {
            let s = shared.borrow();
            let prefix = s
                .segments
                .done()
                .first()
                .filter(|r| r.start == 0)
                .map_or(0, |r| r.end);
            let likely = s
                .reference
                .or_else(|| s.announced.iter().flatten().next().copied());
            (prefix, s.corrupt_drops, likely.map(|d| d.algorithm()))
        };
        let Some(algorithm) = algorithm else { return };
        let stale = drops != self.corrupt_drops
            || self
                .hasher
                .as_ref()
                .is_some_and(|h| h.algorithm() != algorithm);
        if self.hasher.is_none() || stale {
            *self = HashBehind {
                hasher: Some(Hasher::new(algorithm)),
                hashed: 0,
                corrupt_drops: drops,
            };
        }
        let Some(hasher) = self.hasher.as_mut() else {
            return;
        };
        let len = prefix.saturating_sub(self.hashed).min(HASH_STEP);
        if len > 0 && hasher.update_at(file, self.hashed, len).is_ok() {
            self.hashed += len;
        } else if len > 0 {
            self.hasher = None;
        }
    }

    /// The digest of the whole file (`total` bytes), hashing the rest now; `None` when what
    /// was hashed cannot be used (another algorithm, a corrupt source dropped since).
    pub(super) fn finish(
        mut self,
        file: &File,
        total: u64,
        expected: Digest,
        drops: u32,
    ) -> Option<Digest> {
        let mut hasher = self.hasher.take()?;
        if hasher.algorithm() != expected.algorithm() || drops != self.corrupt_drops {
            return None;
        }
        hasher
            .update_at(file, self.hashed, total - self.hashed)
            .ok()?;
        Some(hasher.finish())
    }
}
