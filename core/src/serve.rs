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
/// - 403: a backslash (raw or `%5C`), an encoded slash (`%2F`), a control byte other than those below,
///   a `..` segment (raw or encoded as `%2e%2e`), a `.` segment, or an empty segment other than
///   a trailing one (`//etc/passwd`, `/a//b`). Browsers and curl normalise `.`, `..` and never
///   produce these, so refusing them outright is simpler to trust than normalising them;
/// - 400: an invalid `%` escape, a NUL, CR or LF once decoded, a path that is not UTF-8 once
///   decoded, or one not starting with `/`.
///
/// A trailing `/` is fine (`/docs/` gives `docs`; the shell serves its index).
/// The returned `keep_alive` is the request's, except that a request carrying a body closes
/// the connection (the shell then never has to skip a body to stay in sync).
pub fn route(request: &Request<'_>) -> Result<FileRequest, u16> {
    let head_only = match request.method {
        "GET" => false,
        "HEAD" => true,
        m if is_known_method(m) => return Err(405),
        _ => return Err(501),
    };
    let relative = safe_relative_path(request.path())?;
    let if_modified_since = request
        .header("If-Modified-Since")
        .and_then(crate::date::parse_http_date);
    Ok(FileRequest {
        relative,
        head_only,
        if_modified_since,
        keep_alive: request.keep_alive && !has_body(request.body),
        trailing_slash: request.path().ends_with('/'),
    })
}

/// Methods RFC 9110 defines besides GET and HEAD (answered 405 with `Allow: GET, HEAD`);
/// any other method is 501.
pub fn is_known_method(method: &str) -> bool {
    matches!(
        method,
        "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "OPTIONS" | "PATCH" | "TRACE" | "CONNECT"
    )
}

pub(crate) fn has_body(kind: crate::BodyKind) -> bool {
    !matches!(kind, crate::BodyKind::None | crate::BodyKind::Length(0))
}

/// The path checks of [`route`] on a still-encoded path: the decoded relative path or a status.
pub fn safe_relative_path(path: &str) -> Result<String, u16> {
    if !path.starts_with('/') {
        return Err(400);
    }
    let raw = path.as_bytes();
    if raw.contains(&b'\\')
        || contains_ignore_case(raw, b"%2f")
        || contains_ignore_case(raw, b"%5c")
    {
        return Err(403);
    }
    let decoded = crate::url::percent_decode(raw).map_err(|_| 400u16)?;
    // NUL, CR and LF can name no file and only serve to cut or split something: malformed.
    if decoded.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n')) {
        return Err(400);
    }
    if decoded.iter().any(|&b| b < 0x20 || b == 0x7f || b == b'\\') {
        return Err(403);
    }
    let decoded = String::from_utf8(decoded).map_err(|_| 400u16)?;
    let inner = &decoded[1..];
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    if inner.is_empty() {
        return Ok(String::new());
    }
    if inner
        .split('/')
        .any(|segment| matches!(segment, "" | "." | ".."))
    {
        return Err(403);
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

/// `Connection: keep-alive` or `Connection: close`. Saying keep-alive explicitly costs a few
/// bytes and lets HTTP/1.0 clients that asked for it (ab, old proxies) reuse the connection.
pub(crate) fn connection_value(keep_alive: bool) -> &'static str {
    if keep_alive {
        "keep-alive"
    } else {
        "close"
    }
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
    let date = crate::date::http_date(now);
    let last_modified = crate::date::http_date(modified);
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

/// One line under the heading of an error page.
fn explanation(status: u16) -> &'static str {
    match status {
        400 => "Your browser sent a request that this server could not understand.",
        403 => "You don't have permission to access this resource.",
        404 => "The requested URL was not found on this server.",
        405 => "This resource only supports GET and HEAD.",
        408 => "The server timed out waiting for the request.",
        413 => "The request body is too large.",
        414 => "The requested URL is too long for this server.",
        417 => "The server cannot meet the request's Expect header.",
        431 => "The request header fields are too large.",
        500 => "The server encountered an internal error.",
        501 => "The server does not support the method or feature the request needs.",
        503 => "No server is available to handle this request right now. Please try again later.",
        505 => "The server only speaks HTTP/1.0 and HTTP/1.1.",
        301 => "This is a directory: its address ends with a slash.",
        _ => "The server cannot handle this request.",
    }
}

/// Statuses after which the connection cannot carry another request: the head was not fully
/// understood, so where the next request starts is unknown. [`error_response`] says
/// `Connection: close` for them; the shell must then close.
pub fn forces_close(status: u16) -> bool {
    matches!(status, 400 | 408 | 413 | 414 | 431 | 505)
}

/// Write a complete error response with `extra` headers (e.g. `Retry-After`) into `out`.
/// Returns whether the connection stays open (see [`error_response`]).
pub(crate) fn write_error(
    status: u16,
    keep_alive: bool,
    head_only: bool,
    now: SystemTime,
    extra: &[(&'static str, String)],
    out: &mut Vec<u8>,
) -> bool {
    let reason = match crate::status::reason_phrase(status) {
        "" => "Error",
        r => r,
    };
    let body = format!(
        "<!DOCTYPE html>\n<html>\n<head><title>{status} {reason}</title></head>\n<body>\n\
         <h1>{status} {reason}</h1>\n<p>{}</p>\n<hr><address>ricochet</address>\n</body>\n</html>\n",
        explanation(status)
    );
    let keep_alive = keep_alive && !forces_close(status);
    let mut head = ResponseHead::new(status)
        .header("Date", crate::date::http_date(now))
        .header("Content-Type", "text/html; charset=utf-8")
        .header("Content-Length", body.len().to_string());
    if status == 405 {
        head = head.header("Allow", "GET, HEAD");
    }
    for (name, value) in extra {
        head = head.header(name, value.clone());
    }
    head = head.header("Connection", connection_value(keep_alive));
    // Every value above is built here from digits and fixed text: writing cannot fail.
    let written = head.write(out);
    debug_assert!(written.is_ok());
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    keep_alive
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
    write_error(
        301,
        request.keep_alive,
        request.head_only,
        now,
        &[("Location", location)],
        &mut out,
    );
    out
}

/// A complete error response (head and a small HTML body, like a classic error page) for
/// `status`. 405 carries `Allow: GET, HEAD`. `keep_alive` false adds `Connection: close`.
/// `head_only` omits the body (the head still announces its length).
///
/// 400, 408, 413, 414, 431 and 505 always say `Connection: close`, whatever `keep_alive` says:
/// after them the request stream is out of sync, and the shell must close after writing.
pub fn error_response(status: u16, keep_alive: bool, head_only: bool, now: SystemTime) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write_error(status, keep_alive, head_only, now, &[], &mut out);
    out
}
