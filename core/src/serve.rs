//! The static file server's decisions. The shell does the file system calls; every protocol
//! decision (which file, which status, which headers, which body) is made here.
//!
//! Flow per request: [`route`] the parsed request to a safe relative path or an error status;
//! the shell opens `root/relative` (for a directory, [`index_of`] it and try again), checks the
//! opened file's canonical path is inside the root with [`is_inside`], stats it, and calls
//! [`file_response`]; for any error it answers [`crate::error_page::error_response`].

use crate::error_page::connection_value;
use crate::request::Request;
use crate::status::Status;
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
    /// Whether the request's path ended with `/`. A directory requested without it is
    /// redirected to the path with it ([`directory_redirect`]).
    pub trailing_slash: bool,
}

/// Map a request to a file, or to the error status to answer with (400 for malformed paths,
/// 403 for traversal attempts, 405 for known methods other than GET/HEAD, 501 for unknown
/// methods).
///
/// The path (never the query, never the absolute-form authority) is checked before and after
/// percent-decoding:
/// - 403: a backslash (raw or `%5C`), an encoded slash (`%2F`), NUL or any other control byte,
///   a `..` segment (raw or encoded as `%2e%2e`), a `.` segment, or an empty segment other than
///   a trailing one (`//etc/passwd`, `/a//b`). Browsers and curl normalise `.`, `..` and never
///   produce these, so refusing them outright is simpler to trust than normalising them;
/// - 400: an invalid `%` escape, a path that is not UTF-8 once decoded, or one not starting
///   with `/`.
///
/// A trailing `/` is fine (`/docs/` gives `docs`; the shell serves its index).
/// The returned `keep_alive` is the request's; the connection machine may still close
/// ([`crate::connection::Event::Respond`] says).
pub fn route(request: &Request<'_>) -> Result<FileRequest, Status> {
    let head_only = crate::error_page::allowed_method(request.method)?;
    let relative = safe_relative_path(request.path())?;
    let if_modified_since = request
        .header("If-Modified-Since")
        .and_then(crate::write::parse_http_date);
    Ok(FileRequest {
        relative,
        head_only,
        if_modified_since,
        keep_alive: request.keep_alive,
        trailing_slash: request.path().ends_with('/'),
    })
}

/// Why a file could not be opened or read, as the shell's I/O error kinds sort it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileError {
    /// No such file, or a path component is not a directory: 404.
    NotFound,
    /// The server may not read it: 403.
    PermissionDenied,
    /// Anything else: 500.
    Other,
}

impl FileError {
    /// The status to answer.
    pub fn status(self) -> Status {
        match self {
            FileError::NotFound => Status::NOT_FOUND,
            FileError::PermissionDenied => Status::FORBIDDEN,
            FileError::Other => Status::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The path checks of [`route`] on a still-encoded path: the decoded relative path or a status.
pub fn safe_relative_path(path: &str) -> Result<String, Status> {
    if !path.starts_with('/') {
        return Err(Status::BAD_REQUEST);
    }
    let raw = path.as_bytes();
    if raw.contains(&b'\\')
        || contains_ignore_case(raw, b"%2f")
        || contains_ignore_case(raw, b"%5c")
    {
        return Err(Status::FORBIDDEN);
    }
    let decoded = crate::url::percent_decode(raw).map_err(|_| Status::BAD_REQUEST)?;
    if decoded.iter().any(|&b| b < 0x20 || b == 0x7f || b == b'\\') {
        return Err(Status::FORBIDDEN);
    }
    let decoded = String::from_utf8(decoded).map_err(|_| Status::BAD_REQUEST)?;
    let inner = &decoded[1..];
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    if inner.is_empty() {
        return Ok(String::new());
    }
    if inner
        .split('/')
        .any(|segment| matches!(segment, "" | "." | ".."))
    {
        return Err(Status::FORBIDDEN);
    }
    Ok(inner.to_string())
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// What to do when the path a request names is a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directory {
    /// Serve this relative path, the directory's index page, instead.
    Index(String),
    /// Answer [`directory_redirect`]: the path lacks its trailing slash.
    AddSlash,
}

/// The request named a directory: serve its index page, or first redirect to the path with its
/// trailing slash (the root always has it).
pub fn directory(request: &FileRequest) -> Directory {
    if request.relative.is_empty() || request.trailing_slash {
        Directory::Index(index_of(&request.relative))
    } else {
        Directory::AddSlash
    }
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
/// Text types carry `charset=utf-8`.
pub fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = match name.rfind('.') {
        Some(i) => &name[i + 1..],
        None => return "application/octet-stream",
    };
    const TYPES: &[(&str, &str)] = &[
        ("html", "text/html; charset=utf-8"),
        ("htm", "text/html; charset=utf-8"),
        ("css", "text/css; charset=utf-8"),
        ("js", "text/javascript; charset=utf-8"),
        ("mjs", "text/javascript; charset=utf-8"),
        ("png", "image/png"),
        ("jpg", "image/jpeg"),
        ("jpeg", "image/jpeg"),
        ("gif", "image/gif"),
        ("svg", "image/svg+xml"),
        ("ico", "image/x-icon"),
        ("txt", "text/plain; charset=utf-8"),
        ("json", "application/json"),
        ("pdf", "application/pdf"),
        ("wasm", "application/wasm"),
    ];
    TYPES
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        .map_or("application/octet-stream", |(_, t)| t)
}

/// Whole seconds since the epoch (0 before it): HTTP dates have one-second resolution.
fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The response head for a file of `len` bytes last modified at `modified`: 200 with
/// Content-Type, Content-Length, Last-Modified, Date, Connection; or 304 (no body) when
/// `If-Modified-Since` is not older than `modified` (compared at one-second resolution).
/// The returned bool says whether the file's bytes follow the head.
///
/// Content-Type comes from `request.relative`: for a directory, pass the request with
/// `relative` set to [`index_of`] the directory.
/// The 304 carries Date, Last-Modified and Connection only. A HEAD gets the same head as a GET
/// (with the file's Content-Length) and `false`.
pub fn file_response(
    request: &FileRequest,
    len: u64,
    modified: SystemTime,
    now: SystemTime,
) -> (ResponseHead, bool) {
    let date = crate::write::http_date(now);
    let last_modified = crate::write::http_date(modified);
    let connection = connection_value(request.keep_alive);
    let not_modified = request
        .if_modified_since
        .is_some_and(|since| unix_seconds(modified) <= unix_seconds(since));
    if not_modified {
        let head = ResponseHead::new(304)
            .header("Date", date)
            .header("Last-Modified", last_modified)
            .header("Connection", connection);
        return (head, false);
    }
    let head = ResponseHead {
        status: 200,
        headers: Vec::with_capacity(5),
    }
    .header("Date", date)
    .header("Content-Type", content_type(&request.relative))
    .header("Content-Length", len.to_string())
    .header("Last-Modified", last_modified)
    .header("Connection", connection);
    (head, !request.head_only)
}

/// The answer for a directory requested without its trailing slash (`/docs`): `301` to the
/// same path with the slash (`/docs/`), as nginx and Apache answer, so that the index page's
/// relative links resolve inside the directory. The `Location` is an absolute path (RFC 9110
/// allows a relative reference) built from the decoded path, every byte that is not safe in a
/// path segment percent-encoded; the query is not carried over.
pub fn directory_redirect(request: &FileRequest, now: SystemTime) -> Vec<u8> {
    let mut location = String::with_capacity(request.relative.len() + 2);
    for segment in request.relative.split('/') {
        location.push('/');
        crate::url::encode_path_segment(segment.as_bytes(), &mut location);
    }
    location.push('/');
    let mut out = Vec::with_capacity(512);
    crate::error_page::write(
        Status::MOVED_PERMANENTLY,
        request.keep_alive,
        request.head_only,
        now,
        &[("Location", location)],
        &mut out,
    );
    out
}
