//! The static file server's decisions. The shell does the file system calls; every protocol
//! decision (which file, which status, which headers, which body) is made here.
//!
//! Flow per request: [`route`] the parsed request to a safe relative path or an error status;
//! the shell opens `root/relative` (for a directory, [`index_of`] it and try again), checks the
//! opened file's canonical path is inside the root with [`is_inside`], stats it, and calls
//! [`file_response`]; for any error it calls [`error_response`].

use crate::request::Request;
use crate::write::ResponseHead;
use std::path::Path;
use std::time::SystemTime;

/// What the server should serve for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRequest {
    /// Decoded path relative to the root, segments joined with `/`, no leading `/`; empty for the
    /// root itself. Guaranteed free of `..`, `.`, empty segments, NUL, `\` and encoded `/`.
    pub relative: String,
    /// HEAD: send the head only.
    pub head_only: bool,
    /// Parsed `If-Modified-Since`, if present and valid.
    pub if_modified_since: Option<SystemTime>,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
}

/// Map a request to a file, or to the error status to answer with (400 for malformed paths,
/// 403 for traversal attempts, 405 for known methods other than GET/HEAD, 501 for unknown
/// methods).
pub fn route(request: &Request<'_>) -> Result<FileRequest, u16> {
    let _ = request;
    todo!("core-app helper")
}

/// The relative path of a directory's index file.
pub fn index_of(dir: &str) -> String {
    if dir.is_empty() {
        "index.html".to_string()
    } else {
        format!("{dir}/index.html")
    }
}

/// Whether `candidate` (canonicalized by the shell) lies inside `root` (canonicalized). Symlinks
/// that lead out of the root fail this check.
pub fn is_inside(root: &Path, candidate: &Path) -> bool {
    candidate.starts_with(root)
}

/// Content-Type for a path, by extension, case-insensitive: html, css, js, png, jpg/jpeg, gif,
/// svg, ico, txt, json, pdf, wasm; anything else `application/octet-stream`.
pub fn content_type(path: &str) -> &'static str {
    let _ = path;
    todo!("core-app helper")
}

/// The response head for a file of `len` bytes last modified at `modified`: 200 with
/// Content-Type, Content-Length, Last-Modified, Date, Connection; or 304 (no body) when
/// `If-Modified-Since` is not older than `modified` (compared at one-second resolution).
/// The returned bool says whether the file's bytes follow the head.
pub fn file_response(
    request: &FileRequest,
    len: u64,
    modified: SystemTime,
    now: SystemTime,
) -> (ResponseHead, bool) {
    let _ = (request, len, modified, now);
    todo!("core-app helper")
}

/// A complete error response (head and a small HTML body, like a classic error page) for
/// `status`. 405 carries `Allow: GET, HEAD`. `keep_alive` false adds `Connection: close`.
/// `head_only` omits the body (the head still announces its length).
pub fn error_response(status: u16, keep_alive: bool, head_only: bool, now: SystemTime) -> Vec<u8> {
    let _ = (status, keep_alive, head_only, now);
    todo!("core-app helper")
}
