//! The static file server's decisions. The shell does the file system calls; every protocol
//! decision (which file, which status, which headers, which body) is made here.
//!
//! Flow per request: [`route`] the parsed request to a safe relative path or an error status;
//! the shell opens `root/relative` (for a directory, it answers the request [`directory`] gives
//! for its index page instead), checks the opened file's canonical path is inside the root with
//! [`is_inside`], stats it, and calls [`file_response`] (which decides 200, 206, 304, 412 or
//! 416 and which bytes of the file follow); for any error it answers
//! [`crate::http::error_page::write`]'s page.

use crate::files::conditional::{EntityTag, Outcome, Preconditions};
use crate::files::range::{ByteRange, RangeDecision, RangeHeader};
use crate::http::digest::{self, Algorithm, Digest, Wanted};
use crate::http::error_page::{connection_value, Method, Reply};
use crate::http::request::Request;
use crate::http::status::Status;
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
    /// `If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`, `If-Range`.
    pub preconditions: Preconditions,
    /// The `Range` field of a GET (`None` for HEAD, which ignores it, RFC 9110 section 14.2).
    /// Several `Range` lines make it [`RangeHeader::Invalid`].
    pub range: Option<RangeHeader>,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
    /// Whether the request's path ended with `/`. A directory requested without it is
    /// redirected to the path with it ([`directory_redirect`]).
    pub trailing_slash: bool,
    /// The digests the request asked for (`Want-Repr-Digest`, `Want-Digest`).
    pub wants: DigestWants,
}

/// The whole-file digests a request asked for: RFC 9530's `Want-Repr-Digest` (answered with
/// `Repr-Digest`) and RFC 3230's `Want-Digest` (answered with `Digest`, as aria2c asks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DigestWants {
    /// From `Want-Repr-Digest`.
    pub repr: Wanted,
    /// From `Want-Digest`.
    pub digest: Wanted,
}

impl DigestWants {
    /// Read both fields of a request; several lines of one field count as one list (for each
    /// algorithm, the highest preference given on any line).
    pub fn from_request(request: &Request<'_>) -> DigestWants {
        let mut wants = DigestWants::default();
        for h in &request.headers {
            if h.name.eq_ignore_ascii_case("Want-Repr-Digest") {
                wants.repr = wants.repr.merged(digest::parse_want_repr_digest(h.value));
            } else if h.name.eq_ignore_ascii_case("Want-Digest") {
                wants.digest = wants.digest.merged(digest::parse_want_digest(h.value));
            }
        }
        wants
    }

    /// Whether any digest was asked for.
    pub fn any(&self) -> bool {
        self.repr.best().is_some() || self.digest.best().is_some()
    }

    /// The algorithms the shell should compute for this request when it does not know them
    /// yet: each field's most preferred one (SHA-256 for every client seen: curl with the
    /// RFC's examples, aria2c, Ricochet's own client and balancer).
    pub fn to_compute(&self) -> impl Iterator<Item = Algorithm> {
        let (repr, digest) = (self.repr.best(), self.digest.best());
        Algorithm::ALL
            .into_iter()
            .filter(move |&a| repr == Some(a) || digest == Some(a))
    }
}

/// The whole-file digests the shell knows for the file being answered (it computes them in
/// the background; none while they are being computed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KnownDigests {
    /// SHA-256 of the whole file, if known.
    pub sha256: Option<Digest>,
    /// SHA-512 of the whole file, if known.
    pub sha512: Option<Digest>,
}

impl KnownDigests {
    /// The digest made with `algorithm`, if known.
    pub fn get(&self, algorithm: Algorithm) -> Option<Digest> {
        match algorithm {
            Algorithm::Sha256 => self.sha256,
            Algorithm::Sha512 => self.sha512,
        }
    }

    /// Remember `d` (replacing any digest of its algorithm).
    pub fn set(&mut self, d: Digest) {
        match d.algorithm() {
            Algorithm::Sha256 => self.sha256 = Some(d),
            Algorithm::Sha512 => self.sha512 = Some(d),
        }
    }

    /// The digest to answer a field's `wanted` with: the most preferred acceptable one known.
    fn answer(&self, wanted: &Wanted) -> Option<Digest> {
        wanted
            .choose(|a| self.get(a).is_some())
            .and_then(|a| self.get(a))
    }
}

/// Map a request to a file, or to the status whose [`crate::http::error_page::write()`] answer
/// replaces it (204 for OPTIONS, 400 for malformed paths, 403 for traversal attempts, 405 for
/// known methods other than GET/HEAD, 501 for unknown methods).
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
/// The returned `keep_alive` is the request's own; the shell replaces it with the connection
/// machine's verdict ([`crate::http::connection::Event::Respond`]) before answering.
pub fn route(request: &Request<'_>) -> Result<FileRequest, Instead> {
    let method = crate::http::error_page::allowed_method(request.method);
    if let Some(status) = method.answer_instead() {
        return Err(Instead {
            status,
            head_only: false,
        });
    }
    let head_only = method == Method::Head;
    let relative =
        safe_relative_path(request.path()).map_err(|status| Instead { status, head_only })?;
    let range = if head_only {
        None
    } else {
        let mut lines = request
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("Range"));
        match (lines.next(), lines.next()) {
            (Some(line), None) => Some(crate::files::range::parse_range(line.value)),
            (Some(_), Some(_)) => Some(RangeHeader::Invalid),
            (None, _) => None,
        }
    };
    Ok(FileRequest {
        relative,
        head_only,
        preconditions: Preconditions::from_request(request),
        range,
        keep_alive: request.keep_alive,
        trailing_slash: request.path().ends_with('/'),
        wants: DigestWants::from_request(request),
    })
}

/// What [`route`] answers instead of a file: the page [`crate::http::error_page::write`]
/// writes for `status` (an error, or for OPTIONS the 204 that lists the allowed methods).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instead {
    /// The status to answer.
    pub status: Status,
    /// The request was a HEAD: the page's head only.
    pub head_only: bool,
}

/// Why a file could not be opened or read, as the shell's I/O error kinds sort it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileError {
    /// No such file, or a path component is not a directory: 404.
    NotFound,
    /// The server may not read it: 403.
    PermissionDenied,
    /// A symlink on the way leads out of the served root: 403.
    OutsideRoot,
    /// It exists but is no regular file (a directory without an index page, a FIFO, a
    /// device): nothing to serve, 404.
    NotAFile,
    /// Anything else: 500.
    Other,
}

impl FileError {
    /// The status to answer.
    pub fn status(self) -> Status {
        match self {
            FileError::NotFound | FileError::NotAFile => Status::NOT_FOUND,
            FileError::PermissionDenied | FileError::OutsideRoot => Status::FORBIDDEN,
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
    let decoded = crate::http::url::percent_decode(raw).map_err(|_| Status::BAD_REQUEST)?;
    // CR and LF, like NUL, can name no file and only serve to split something: malformed.
    if crate::http::url::path_holds_nul(path) || decoded.iter().any(|&b| matches!(b, b'\r' | b'\n'))
    {
        return Err(Status::BAD_REQUEST);
    }
    if decoded.iter().any(|&b| b < 0x20 || b == 0x7f || b == b'\\') {
        return Err(Status::FORBIDDEN);
    }
    let mut decoded = String::from_utf8(decoded).map_err(|_| Status::BAD_REQUEST)?;
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
    // `inner` in place: without the leading `/` and a trailing one.
    let end = 1 + inner.len();
    decoded.truncate(end);
    decoded.remove(0);
    Ok(decoded)
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// What to do when the path a request names is a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directory {
    /// Serve this request, for the directory's index page, instead: its `relative` is the index
    /// file's, so [`file_response`] types the page by the index's name, not the directory's.
    Index(FileRequest),
    /// Answer [`directory_redirect`]: the path lacks its trailing slash.
    AddSlash,
}

/// The request named a directory: serve its index page, or first redirect to the path with its
/// trailing slash (the root always has it).
pub fn directory(request: &FileRequest) -> Directory {
    if request.relative.is_empty() || request.trailing_slash {
        Directory::Index(FileRequest {
            relative: index_of(&request.relative),
            ..request.clone()
        })
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

/// What the shell knows of the file it opened, from its metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    /// Size in bytes.
    pub len: u64,
    /// Modification time.
    pub modified: SystemTime,
    /// The whole file's digests known so far, for `Repr-Digest` and `Digest`.
    pub digests: KnownDigests,
}

/// How to answer a request for a file, decided by [`file_response`]. Returned once per request
/// and taken apart at once: boxing the head (its digests make it the larger variant) would only
/// add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileResponse {
    /// Send `head`, then these bytes of the file (`None`: the head only, for HEAD and 304).
    File {
        /// 200, 206 or 304.
        head: FileHead,
        /// The part of the file to send after the head.
        body: Option<ByteRange>,
    },
    /// Send `page`, a complete response of `status` instead of the file (412, 416).
    Refused {
        /// 412 or 416.
        status: u16,
        /// Head and short HTML page (head only for HEAD).
        page: Page,
    },
}

/// A complete short response the core wrote (an error page, a redirect): its bytes, and where
/// its head ends (the rest is the body an access log counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Head and body.
    pub bytes: Vec<u8>,
    /// Bytes of the head.
    pub head_len: usize,
}

/// The answer for a file, given the request for it (for a directory, the request
/// [`directory`] gives for its index page) and the opened file's metadata:
/// - preconditions first (RFC 9110 section 13.2.2): 412 when `If-Match` or
///   `If-Unmodified-Since` fails; 304 (no body; Date, ETag, Last-Modified, Connection) when
///   `If-None-Match` or, without it, `If-Modified-Since` says the client's copy is current;
/// - then a GET's `Range`, if its `If-Range` matches: 206 with one range, 416 with
///   `Content-Range: bytes */LEN` when none is satisfiable, else the whole file
///   ([`crate::files::range::decide`]);
/// - else 200 with the whole file. A HEAD gets the same head as a GET without `Range`, and no
///   body.
///
/// Files are answered with Date, Content-Type (from `request.relative`), Content-Length,
/// Last-Modified, a strong ETag ([`EntityTag::for_file`]), `Accept-Ranges: bytes` and
/// Connection; a 206 adds Content-Range. A 200 or 206 (and a HEAD's head) adds `Repr-Digest`
/// when the request has `Want-Repr-Digest`, and `Digest` when it has `Want-Digest`, each with
/// the most preferred acceptable digest among `file.digests` (of the whole file, whatever the
/// range, as RFC 9530 and RFC 3230 define it), and leaves it out when none is known.
pub fn file_response(request: &FileRequest, file: &FileMeta, now: SystemTime) -> FileResponse {
    let etag = EntityTag::for_file(file.len, file.modified);
    let refused = |status: Status, extra: &[(&'static str, String)]| FileResponse::Refused {
        status: status.code(),
        page: page(request, status, extra, now),
    };
    // Called once, last, when the tag is no longer needed here: it moves into the head.
    let head = |status: u16, part: ByteRange, etag: EntityTag| FileHead {
        status,
        now,
        content_type: content_type(&request.relative),
        part,
        file_len: file.len,
        modified: file.modified,
        etag,
        keep_alive: request.keep_alive,
        repr_digest: None,
        digest: None,
    };
    let whole = ByteRange {
        start: 0,
        len: file.len,
    };
    match request.preconditions.evaluate(&etag, file.modified) {
        Outcome::Proceed => {}
        Outcome::Failed => return refused(Status::PRECONDITION_FAILED, &[]),
        Outcome::NotModified => {
            let head = head(304, whole, etag);
            return FileResponse::File { head, body: None };
        }
    }
    let decision = match &request.range {
        Some(range)
            if !request.head_only
                && request
                    .preconditions
                    .range_applies(&etag, file.modified, now) =>
        {
            crate::files::range::decide(range, file.len)
        }
        _ => RangeDecision::Whole,
    };
    let (status, part) = match decision {
        RangeDecision::Whole => (200, whole),
        RangeDecision::Partial(part) => (206, part),
        RangeDecision::Unsatisfiable => {
            let range = format!("bytes */{}", file.len);
            return refused(Status::RANGE_NOT_SATISFIABLE, &[("Content-Range", range)]);
        }
    };
    let body = (!request.head_only).then_some(part);
    let mut head = head(status, part, etag);
    head.repr_digest = file.digests.answer(&request.wants.repr);
    head.digest = file.digests.answer(&request.wants.digest);
    FileResponse::File { head, body }
}

/// The head of a file's answer (200, 206 or 304), as [`file_response`] decided it. Every value
/// in it is generated here (dates, numbers, a type from [`content_type`]'s table, the ETag's
/// hex digits), so [`FileHead::write`] writes it in one pass with no check and no allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHead {
    /// 200, 206 or 304.
    pub status: u16,
    now: SystemTime,
    content_type: &'static str,
    /// The bytes announced: the whole file for 200, the range for 206 (unused for 304).
    part: ByteRange,
    file_len: u64,
    modified: SystemTime,
    etag: EntityTag,
    keep_alive: bool,
    /// For `Repr-Digest` (200 and 206 only).
    repr_digest: Option<Digest>,
    /// For `Digest` (200 and 206 only).
    digest: Option<Digest>,
}

impl FileHead {
    /// Append the head: the status line; `Date`; for 200 and 206 `Content-Type`,
    /// `Content-Length` and (206) `Content-Range`; `Last-Modified`; `ETag`; for 200 and 206
    /// `Accept-Ranges: bytes` and the digests asked for and known (`Repr-Digest`, `Digest`);
    /// `Connection`; the blank line. A 304 has no `Content-*` fields
    /// (RFC 9110 section 15.4.5).
    pub fn write(&self, out: &mut Vec<u8>) {
        use crate::http::date::push_http_date;
        use crate::http::write::push_decimal;
        out.reserve(320);
        crate::http::write::push_status_line(out, self.status);
        out.extend_from_slice(b"Date: ");
        push_http_date(out, self.now);
        let content = self.status != 304;
        if content {
            out.extend_from_slice(b"\r\nContent-Type: ");
            out.extend_from_slice(self.content_type.as_bytes());
            out.extend_from_slice(b"\r\nContent-Length: ");
            push_decimal(out, self.part.len);
            if self.status == 206 {
                out.extend_from_slice(b"\r\nContent-Range: ");
                self.part.push_content_range(out, self.file_len);
            }
        }
        out.extend_from_slice(b"\r\nLast-Modified: ");
        push_http_date(out, self.modified);
        out.extend_from_slice(b"\r\nETag: ");
        self.etag.push(out);
        if content {
            out.extend_from_slice(b"\r\nAccept-Ranges: bytes");
        }
        out.extend_from_slice(b"\r\n");
        if let Some(d) = self.repr_digest {
            digest::write_repr_digest(out, &d);
        }
        if let Some(d) = self.digest {
            digest::write_digest(out, &d);
        }
        out.extend_from_slice(b"Connection: ");
        out.extend_from_slice(connection_value(self.keep_alive).as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
    }
}

/// The status of [`directory_redirect`].
pub const DIRECTORY_REDIRECT: Status = Status::MOVED_PERMANENTLY;

/// The answer for a directory requested without its trailing slash (`/docs`): `301` to the
/// same path with the slash (`/docs/`), as nginx and Apache answer, so that the index page's
/// relative links resolve inside the directory. The `Location` is an absolute path (RFC 9110
/// allows a relative reference) built from the decoded path, every byte that is not safe in a
/// path segment percent-encoded; the query is not carried over.
pub fn directory_redirect(request: &FileRequest, now: SystemTime) -> Page {
    let mut location = String::with_capacity(request.relative.len() + 2);
    for segment in request.relative.split('/') {
        location.push('/');
        crate::http::url::encode_path_segment(segment.as_bytes(), &mut location);
    }
    location.push('/');
    page(request, DIRECTORY_REDIRECT, &[("Location", location)], now)
}

/// The page for `status` as an answer to `request` (its keep-alive and HEAD-ness).
fn page(
    request: &FileRequest,
    status: Status,
    extra: &[(&'static str, String)],
    now: SystemTime,
) -> Page {
    let mut bytes = Vec::with_capacity(512);
    let reply = Reply {
        keep_alive: request.keep_alive,
        head_only: request.head_only,
    };
    let head_len = crate::http::error_page::write(status, reply, now, extra, &mut bytes).head_len;
    Page { bytes, head_len }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::write::ResponseHead;
    use std::time::Duration;

    /// The head as the checked writer builds it, field by field, from the same facts.
    fn reference(head: &FileHead) -> Vec<u8> {
        let mut fields =
            ResponseHead::new(head.status).header("Date", crate::http::date::http_date(head.now));
        if head.status != 304 {
            fields = fields
                .header("Content-Type", head.content_type)
                .header("Content-Length", head.part.len.to_string());
            if head.status == 206 {
                fields = fields.header("Content-Range", head.part.content_range(head.file_len));
            }
        }
        fields = fields
            .header("Last-Modified", crate::http::date::http_date(head.modified))
            .header("ETag", head.etag.to_string());
        if head.status != 304 {
            fields = fields.header("Accept-Ranges", "bytes");
        }
        if let Some(d) = head.repr_digest {
            let mut v = Vec::new();
            digest::write_repr_digest_value(&mut v, &d);
            fields = fields.header("Repr-Digest", String::from_utf8(v).unwrap());
        }
        if let Some(d) = head.digest {
            let mut v = Vec::new();
            digest::write_digest_value(&mut v, &d);
            fields = fields.header("Digest", String::from_utf8(v).unwrap());
        }
        let fields = fields.header("Connection", connection_value(head.keep_alive));
        let mut out = Vec::new();
        fields.write(&mut out).expect("every value is valid");
        out
    }

    #[test]
    fn one_pass_head_is_what_the_checked_writer_gives() {
        let modified = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let now = modified + Duration::from_secs(86_400 * 400 + 7);
        let cases = [
            (200, "index.html", 0, 5_000, 5_000, true),
            (200, "a/b.bin", 0, 0, 0, false),
            (206, "big.iso", 1_000, 24, 4_000_000_000, true),
            (206, "x.png", 0, 1, 1, false),
            (304, "style.css", 0, 7, 7, true),
            (304, "style.css", 0, 7, 7, false),
        ];
        let sha256 = Digest::new(Algorithm::Sha256, &[0xa5; 32]);
        let sha512 = Digest::new(Algorithm::Sha512, &[0x5a; 64]);
        for (i, (status, name, start, len, file_len, keep_alive)) in cases.into_iter().enumerate() {
            let digests = status != 304 && i % 2 == 0;
            let head = FileHead {
                status,
                now,
                content_type: content_type(name),
                part: ByteRange { start, len },
                file_len,
                modified,
                etag: EntityTag::for_file(file_len, modified),
                keep_alive,
                repr_digest: sha512.filter(|_| digests),
                digest: sha256.filter(|_| digests),
            };
            let mut out = Vec::new();
            head.write(&mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(reference(&head)).unwrap(),
                "{status} {name}"
            );
        }
    }

    #[test]
    fn file_tags_are_the_hex_of_length_and_nanoseconds() {
        let modified = SystemTime::UNIX_EPOCH + Duration::new(1, 5);
        let tag = EntityTag::for_file(255, modified);
        assert_eq!(tag.to_string(), "\"ff-3b9aca05\"");
        let tag = EntityTag::for_file(u64::MAX, SystemTime::UNIX_EPOCH);
        assert_eq!(tag.opaque, "ffffffffffffffff-0");
    }
}
