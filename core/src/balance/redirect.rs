//! The balancer's answers, as complete response bytes: the redirect to a picked server, 503
//! when no server is live, 405/501 for other methods, and error pages for malformed requests.
//!
//! [`Redirect::answer`] decides the whole answer to a parsed request; the shell writes the
//! bytes and closes the connection when [`Answer::keep_alive`] is false. Requests that did not
//! parse or timed out get [`crate::http::error_page`]'s pages, as on the file server. With
//! `--verify-files` the answer comes in two halves around the file checks:
//! [`crate::balance::file_redirect`].
//!
//! Client-assisted failover: a request carrying [`UNREACHABLE_HEADER`]`: HOST:PORT` (sent by a
//! client that could not connect to the server it was redirected to) is redirected to another
//! live server when there is one, and [`Answer::unreachable`] names the reported server so the
//! shell can ask for a verification probe ([`crate::balance::balancer::Balancer::handle_unreachable`]).
//! The header is never trusted further: anyone can send it.
//!
//! The redirect's target host always comes from the [`Ranking`] (the pool), never from the
//! request: neither `Host` nor an absolute-form target can steer it, so the balancer is no open
//! redirect. The request's path and query are carried over with every byte that may not appear
//! in a URI percent-encoded ([`crate::http::url::encode_uri`], plus `#`), so CR, LF or spaces can
//! never split or inject a header.

use crate::balance::pool::{Ranking, ServerAddr};
use crate::http::error_page::{Method, Reply};
use crate::http::report::{MISSING_HEADER, UNREACHABLE_HEADER};
use crate::http::request::Request;
use crate::http::status::Status;
use std::fmt;
use std::ops::Range;
use std::time::SystemTime;

/// The `Retry-After` of a 503, in seconds, unless set with [`Redirect::with_retry_after`].
pub const DEFAULT_RETRY_AFTER: u32 = 60;

/// Most `Link: rel=duplicate` headers on a redirect, unless set with [`Redirect::with_links`].
pub const DEFAULT_LINKS: u32 = 5;

/// How the balancer redirects: which status, what a 503 announces, how many other servers
/// its `Link` headers name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirect {
    status: u16,
    retry_after: u32,
    links: u32,
}

/// A redirect status that is not 301, 302, 303, 307 or 308.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotARedirect(pub u16);

impl fmt::Display for NotARedirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is not a redirect status: use 301, 302, 303, 307 or 308",
            self.0
        )
    }
}

impl std::error::Error for NotARedirect {}

impl Default for Redirect {
    /// 301 Moved Permanently, Retry-After [`DEFAULT_RETRY_AFTER`].
    fn default() -> Self {
        Redirect {
            status: 301,
            retry_after: DEFAULT_RETRY_AFTER,
            links: DEFAULT_LINKS,
        }
    }
}

/// What the balancer answered, for the shell (close or not) and its logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The status written.
    pub status: u16,
    /// Whether the connection may carry another request. When false the response says
    /// `Connection: close` and the shell must close after writing it.
    pub keep_alive: bool,
    /// The pool index of the server redirected to, if it was a redirect.
    pub server: Option<usize>,
    /// The pool index of the live server the request reported unreachable
    /// ([`UNREACHABLE_HEADER`]), if any: hand it to the prober for a verification probe.
    pub unreachable: Option<usize>,
    /// Bytes of the body written (0 for HEAD): what an access log counts.
    pub body_bytes: u64,
}

impl Redirect {
    /// Redirect with `status`: 301, 302, 303, 307 or 308; anything else is refused.
    pub fn new(status: u16) -> Result<Redirect, NotARedirect> {
        if crate::http::status::is_redirect(status) {
            Ok(Redirect {
                status,
                ..Redirect::default()
            })
        } else {
            Err(NotARedirect(status))
        }
    }

    /// Announce `seconds` in the `Retry-After` of a 503.
    pub fn with_retry_after(self, seconds: u32) -> Redirect {
        Redirect {
            retry_after: seconds,
            ..self
        }
    }

    /// Name at most `links` other servers in `Link: <URL>; rel=duplicate; pri=N` headers
    /// (RFC 6249) on a file's redirect; 0 sends no `Link` header at all.
    pub fn with_links(self, links: u32) -> Redirect {
        Redirect { links, ..self }
    }

    /// How many other servers a redirect names at most.
    pub fn links(&self) -> u32 {
        self.links
    }

    /// The redirect status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The 503's `Retry-After`, in seconds.
    pub fn retry_after(&self) -> u32 {
        self.retry_after
    }

    /// Decide and write the complete answer to `request` into `out`:
    /// - GET or HEAD: a redirect to a server picked from `ranking` with `rng`, or 503 (with
    ///   `Retry-After`) when the ranking is empty; HEAD gets the same head without the body;
    ///   when [`UNREACHABLE_HEADER`] names a live server, another one is picked if there is
    ///   one ([`Ranking::pick_avoiding`]) and [`Answer::unreachable`] names it; a live server
    ///   named by [`MISSING_HEADER`] (a client found the file missing there, or its copy wrong)
    ///   is avoided the same way; the redirect names other live servers in `Link` headers
    ///   ([`Redirect::write_linked`]);
    /// - OPTIONS: 204 with `Allow: GET, HEAD, OPTIONS`; POST, PUT, DELETE, PATCH, TRACE,
    ///   CONNECT: 405 with the same `Allow`;
    /// - any other method: 501;
    /// - a malformed path, holding a NUL or a `%` not followed by two hex digits
    ///   ([`crate::http::url::path_is_malformed`]): 400, as from the file server.
    ///
    /// `keep_alive` is what the connection machine decided
    /// ([`crate::http::connection::Event::Request`]); the answer says so in `Connection`.
    pub fn answer<R: rand::Rng + ?Sized>(
        &self,
        request: &Request<'_>,
        keep_alive: bool,
        ranking: &Ranking,
        rng: &mut R,
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> Answer {
        let method = crate::http::error_page::allowed_method(request.method);
        let head_only = method == Method::Head;
        if let Some(answer) = answer_instead(request, method, keep_alive, now, out) {
            return answer;
        }
        let unreachable = reported_server(request, UNREACHABLE_HEADER, ranking);
        // A server reported missing the file (or holding a wrong copy) is avoided too, as one
        // reported unreachable, but needs no probe.
        let avoid = unreachable.or_else(|| reported_server(request, MISSING_HEADER, ranking));
        let picked = match avoid {
            None => ranking.pick(rng),
            Some(index) => ranking.pick_avoiding(rng, index),
        };
        match picked {
            Some(row) => {
                let picked = row.index;
                let duplicates = ranking
                    .table()
                    .iter()
                    .filter(|r| r.index != picked && Some(r.index) != avoid)
                    .map(|r| r.server.base_url());
                let body_bytes = self.write_linked(
                    row.server.base_url(),
                    request.path(),
                    request.query(),
                    duplicates,
                    head_only,
                    keep_alive,
                    now,
                    out,
                );
                Answer {
                    status: self.status,
                    keep_alive,
                    server: Some(row.index),
                    unreachable,
                    body_bytes: body_bytes as u64,
                }
            }
            None => answer_unavailable(
                self.retry_after,
                head_only,
                keep_alive,
                unreachable,
                now,
                out,
            ),
        }
    }

    /// Write a complete redirect to `base_url` (`http://host:port`, from the pool) + `path` +
    /// `?query`: status line, `Location` (see [`location`]), `Cache-Control: no-store` (a
    /// browser caches a 301 forever otherwise and would stop coming back through the
    /// balancer), `Content-Type`, `Content-Length`, `Date`, `Connection`, then a small HTML
    /// body with the escaped link unless `head_only`. Returns the body's length in bytes (0 when
    /// `head_only`). No `Link` header: [`Redirect::write_linked`] adds them.
    #[allow(clippy::too_many_arguments)]
    pub fn write(
        &self,
        base_url: &str,
        path: &str,
        query: Option<&str>,
        head_only: bool,
        keep_alive: bool,
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> usize {
        let none = std::iter::empty();
        self.with_links(0)
            .write_linked(base_url, path, query, none, head_only, keep_alive, now, out)
    }

    /// [`Redirect::write`], plus RFC 6249's `Link` headers after `Location` when the path names
    /// a file (does not end in `/`) and [`Redirect::links`] is not 0: `Link: <URL>;
    /// rel=duplicate; pri=N` for each of the first [`Redirect::links`] `duplicates` (base URLs
    /// of other servers holding the file, best first: `pri` counts from 1), each with the same
    /// encoded path and query as the `Location`, then `Link: <PATH?meta4>; rel=describedby;
    /// type="application/metalink4+xml"` (the balancer's Metalink document for the file).
    #[allow(clippy::too_many_arguments)]
    pub fn write_linked<'u>(
        &self,
        base_url: &str,
        path: &str,
        query: Option<&str>,
        duplicates: impl Iterator<Item = &'u str>,
        head_only: bool,
        keep_alive: bool,
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> usize {
        let (status_line, body_start) = fixed_text(self.status);
        // Written in one pass, straight into `out`: the same bytes `ResponseHead::write` gives
        // for Location, Cache-Control, Content-Type, Content-Length, Date and Connection. The
        // path and query are encoded once, into the `Location`; the `Link` lines and the body
        // copy that span from `out` itself.
        let request_len = path.len() + query.map_or(0, str::len);
        out.reserve(400 + 2 * (base_url.len() + request_len));
        out.extend_from_slice(status_line);
        let location = push_location(base_url, path, query, out);
        out.extend_from_slice(b"\r\n");
        if self.links > 0 && !path.ends_with('/') && !path.is_empty() {
            let encoded = location.start + base_url.len()..location.end;
            write_links(encoded, duplicates, self.links, out);
        }
        let href_len = location.len() + html_escape_extra(&out[location.clone()]);
        let body_len = body_start.len() + href_len + BODY_END.len();
        out.extend_from_slice(
            b"Cache-Control: no-store\r\nContent-Type: text/html; charset=utf-8\r\n\
              Content-Length: ",
        );
        crate::http::write::push_decimal(out, body_len as u64);
        out.extend_from_slice(b"\r\nDate: ");
        crate::http::date::push_http_date(out, now);
        out.extend_from_slice(b"\r\nConnection: ");
        out.extend_from_slice(crate::http::error_page::connection_value(keep_alive).as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        if !head_only {
            let before = out.len();
            out.extend_from_slice(body_start);
            push_html_escaped_within(out, location, href_len);
            out.extend_from_slice(BODY_END);
            debug_assert_eq!(out.len() - before, body_len);
            body_len
        } else {
            0
        }
    }
}

/// What ends a redirect's HTML body, after the link.
const BODY_END: &[u8] = b"\">here</a>.</p>\n</body>\n</html>\n";

/// The fixed text of a redirect with `status`: the status line and `Location: `, and the body
/// up to the link (`<a href="`). `status` is one [`Redirect::new`] accepts.
fn fixed_text(status: u16) -> (&'static [u8], &'static [u8]) {
    macro_rules! text {
        ($code:literal, $reason:literal) => {
            (
                concat!("HTTP/1.1 ", $code, " ", $reason, "\r\nLocation: ").as_bytes(),
                concat!(
                    "<!DOCTYPE html>\n<html>\n<head><title>",
                    $code,
                    " ",
                    $reason,
                    "</title></head>\n<body>\n<h1>",
                    $reason,
                    "</h1>\n<p>The document has moved <a href=\""
                )
                .as_bytes(),
            )
        };
    }
    match status {
        302 => text!(302, "Found"),
        303 => text!(303, "See Other"),
        307 => text!(307, "Temporary Redirect"),
        308 => text!(308, "Permanent Redirect"),
        // 301, and what `Redirect::new` refuses (never built).
        _ => text!(301, "Moved Permanently"),
    }
}

/// The `Link` lines of a file's redirect: `duplicates` (at most `max`), each followed by the
/// path and query as encoded in the `Location` (`out[encoded]`), then the Metalink description.
fn write_links<'u>(
    encoded: Range<usize>,
    duplicates: impl Iterator<Item = &'u str>,
    max: u32,
    out: &mut Vec<u8>,
) {
    // What `link::write_link_params` writes for these relations, as one copy (the tests below
    // read the lines back).
    const DUPLICATE_PRI: &[u8] = b">; rel=duplicate; pri=";
    const DESCRIBED_BY_METALINK: &[u8] =
        b"?meta4>; rel=describedby; type=\"application/metalink4+xml\"\r\n";
    for (pri, base_url) in (1..=max).zip(duplicates) {
        out.extend_from_slice(b"Link: <");
        out.extend_from_slice(base_url.as_bytes());
        out.extend_from_within(encoded.clone());
        out.extend_from_slice(DUPLICATE_PRI);
        match u8::try_from(pri) {
            Ok(digit @ 0..=9) => out.push(b'0' + digit),
            _ => crate::http::write::push_decimal(out, u64::from(pri)),
        }
        out.extend_from_slice(b"\r\n");
    }
    // The balancer's own path: everything before the query, as encoded.
    let path_len = out[encoded.clone()]
        .iter()
        .position(|&b| b == b'?')
        .unwrap_or(encoded.len());
    out.extend_from_slice(b"Link: <");
    out.extend_from_within(encoded.start..encoded.start + path_len);
    out.extend_from_slice(DESCRIBED_BY_METALINK);
}

/// The answer to a request that is not to be redirected, written into `out`: 405 or 501 for
/// another method than GET, HEAD or OPTIONS (204 for OPTIONS), 400 for a path holding a NUL.
/// `None` for a GET or HEAD to redirect. `method` is the request's
/// ([`crate::http::error_page::allowed_method`]).
pub(crate) fn answer_instead(
    request: &Request<'_>,
    method: Method,
    keep_alive: bool,
    now: SystemTime,
    out: &mut Vec<u8>,
) -> Option<Answer> {
    let head_only = method == Method::Head;
    let status = method.answer_instead().or_else(|| {
        crate::http::url::path_is_malformed(request.path()).then_some(Status::BAD_REQUEST)
    })?;
    Some(write_status(status, head_only, keep_alive, now, out))
}

/// Write `status`'s error page (no body when `head_only`).
pub(crate) fn write_status(
    status: Status,
    head_only: bool,
    keep_alive: bool,
    now: SystemTime,
    out: &mut Vec<u8>,
) -> Answer {
    let reply = Reply {
        keep_alive,
        head_only,
    };
    let start = out.len();
    let written = crate::http::error_page::write(status, reply, now, &[], out);
    Answer {
        status: status.code(),
        keep_alive: written.keep_alive,
        server: None,
        unreachable: None,
        body_bytes: (out.len() - start - written.head_len) as u64,
    }
}

/// The pool index of the live server named by the request's `header` (`HOST:PORT`, as
/// [`UNREACHABLE_HEADER`] or [`crate::http::report::MISSING_HEADER`]), if any. Costs one
/// length comparison per header when the header is absent.
pub(crate) fn reported_server(
    request: &Request<'_>,
    header: &str,
    ranking: &Ranking,
) -> Option<usize> {
    let value = request
        .headers
        .iter()
        .find(|h| h.name.len() == header.len() && h.name.eq_ignore_ascii_case(header))?
        .value;
    // `host:port` only, as the client sends it (a server entry may also be a URL).
    let value = std::str::from_utf8(value).ok()?;
    if value.contains("://") {
        return None;
    }
    let server = ServerAddr::parse(value).ok()?;
    ranking.find(&server).map(|row| row.index)
}

/// What [`html_escape`] writes for `c`, if `c` needs escaping.
fn html_entity(c: char) -> Option<&'static str> {
    match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '"' => Some("&quot;"),
        '\'' => Some("&#39;"),
        _ => None,
    }
}

/// How many bytes [`html_escape`] adds for each byte (0: written as itself).
static HTML_EXTRA: [u8; 256] = {
    let mut table = [0; 256];
    table[b'&' as usize] = 4;
    table[b'<' as usize] = 3;
    table[b'>' as usize] = 3;
    table[b'"' as usize] = 5;
    table[b'\'' as usize] = 4;
    table
};

/// How many bytes longer `text` is once HTML-escaped by [`html_escape`].
fn html_escape_extra(text: &[u8]) -> usize {
    text.iter()
        .map(|&b| usize::from(HTML_EXTRA[usize::from(b)]))
        .sum()
}

/// Append `out[text]` HTML-escaped as [`html_escape`] does, `escaped_len` bytes in all: copied
/// as is when nothing needs escaping (a `Location` seldom holds `&` or `'`), else a run of
/// plain bytes at a time.
fn push_html_escaped_within(out: &mut Vec<u8>, text: Range<usize>, escaped_len: usize) {
    if escaped_len == text.len() {
        out.extend_from_within(text);
        return;
    }
    let mut at = text.start;
    while at < text.end {
        let run = out[at..text.end]
            .iter()
            .position(|&b| HTML_EXTRA[usize::from(b)] != 0)
            .unwrap_or(text.end - at);
        out.extend_from_within(at..at + run);
        at += run;
        if let Some(entity) = out.get(at).and_then(|&b| html_entity(char::from(b))) {
            out.extend_from_slice(entity.as_bytes());
            at += 1;
        }
    }
}

/// The absolute `Location` for a redirect: `base_url` + `path` (a `/` is added in front if it
/// lacks one) + `?query` if there is one, with every byte that may not appear in a URI
/// percent-encoded ([`crate::http::url::encode_uri`]), and `#` too, since the request's path and
/// query cannot contain a fragment. Already-encoded escapes are kept as they are, so the
/// server gets exactly the path the client asked for.
pub fn location(base_url: &str, path: &str, query: Option<&str>) -> String {
    let mut out =
        Vec::with_capacity(base_url.len() + path.len() + query.map_or(0, |q| q.len() + 1) + 1);
    push_location(base_url, path, query, &mut out);
    // Printable ASCII only: the base URL comes from the pool, the rest is encoded.
    String::from_utf8(out).unwrap_or_default()
}

/// Append [`location`]`(base_url, path, query)` to `out`; where it is in `out`.
fn push_location(
    base_url: &str,
    path: &str,
    query: Option<&str>,
    out: &mut Vec<u8>,
) -> Range<usize> {
    let start = out.len();
    out.extend_from_slice(base_url.as_bytes());
    if !path.starts_with('/') {
        out.push(b'/');
    }
    crate::http::url::push_uri_encoded(path.as_bytes(), out);
    if let Some(query) = query {
        out.push(b'?');
        crate::http::url::push_uri_encoded(query.as_bytes(), out);
    }
    start..out.len()
}

/// Escape `&`, `<`, `>`, `"` and `'` for use in HTML text or a quoted attribute.
pub fn html_escape(text: &str) -> String {
    escape(text, html_entity)
}

/// `text` with every character for which `replace` has a replacement replaced.
pub(crate) fn escape(text: &str, replace: impl Fn(char) -> Option<&'static str>) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match replace(c) {
            Some(r) => out.push_str(r),
            None => out.push(c),
        }
    }
    out
}

/// [`write_unavailable`] as an [`Answer`]: the 503 every answerer gives when it has no server
/// to name, `unreachable` passed through for the prober.
pub fn answer_unavailable(
    retry_after: u32,
    head_only: bool,
    keep_alive: bool,
    unreachable: Option<usize>,
    now: SystemTime,
    out: &mut Vec<u8>,
) -> Answer {
    let start = out.len();
    let head_len = write_unavailable(retry_after, head_only, keep_alive, now, out);
    Answer {
        status: 503,
        keep_alive,
        server: None,
        unreachable,
        body_bytes: (out.len() - start - head_len) as u64,
    }
}

/// A `200` page the balancer makes itself (`?mirrorlist`, `?meta4`, `?sha256`): never cached,
/// varying with `Accept`, the body left out for HEAD.
pub(crate) fn answer_page(
    body: &[u8],
    content_type: &str,
    head_only: bool,
    keep_alive: bool,
    now: SystemTime,
    out: &mut Vec<u8>,
) -> Answer {
    let head = crate::http::write::ResponseHead::new(200)
        .header("Date", crate::http::date::http_date(now))
        .header("Content-Type", content_type)
        .header("Content-Length", body.len().to_string())
        .header("Cache-Control", "no-store")
        .header("Vary", "Accept")
        .header(
            "Connection",
            crate::http::error_page::connection_value(keep_alive),
        );
    // Every value is fixed text or digits: writing cannot fail.
    let written = head.write(out);
    debug_assert!(written.is_ok());
    let body_bytes = if head_only {
        0
    } else {
        out.extend_from_slice(body);
        body.len() as u64
    };
    Answer {
        status: 200,
        keep_alive,
        server: None,
        unreachable: None,
        body_bytes,
    }
}

/// Write `503 Service Unavailable` with `Retry-After: retry_after` and an HTML body (unless
/// `head_only`): the answer when no server is live. Returns the head's length.
pub fn write_unavailable(
    retry_after: u32,
    head_only: bool,
    keep_alive: bool,
    now: SystemTime,
    out: &mut Vec<u8>,
) -> usize {
    crate::http::error_page::write(
        Status::SERVICE_UNAVAILABLE,
        Reply {
            keep_alive,
            head_only,
        },
        now,
        &[("Retry-After", retry_after.to_string())],
        out,
    )
    .head_len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::write::ResponseHead;

    const BASE: &str = "http://127.0.0.1:8080";

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_764_000_000)
    }

    /// The `Location` as built before the one-pass writer: [`crate::http::url::encode_uri`]
    /// into a `String`, then every `#` replaced.
    fn reference_location(base_url: &str, path: &str, query: Option<&str>) -> String {
        let encode = |input: &str, out: &mut String| {
            let mut encoded = String::new();
            crate::http::url::encode_uri(input.as_bytes(), &mut encoded);
            out.push_str(&encoded.replace('#', "%23"));
        };
        let mut out = base_url.to_string();
        if !path.starts_with('/') {
            out.push('/');
        }
        encode(path, &mut out);
        if let Some(query) = query {
            out.push('?');
            encode(query, &mut out);
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn location_encodes_as_encode_uri_then_hash(
            path in "[/a-z%0-9#&'\"<> ?\\x00-\\x1f\u{e9}\u{1F600}]{0,24}",
            query in proptest::option::of("[a-z%0-9#&'=\\x7f ]{0,12}"),
        ) {
            let query = query.as_deref();
            proptest::prop_assert_eq!(
                location(BASE, &path, query),
                reference_location(BASE, &path, query)
            );
        }
    }

    /// The answer built through `ResponseHead`: the one-pass writer must give the same bytes.
    fn reference(
        redirect: &Redirect,
        (path, query): (&str, Option<&str>),
        head_only: bool,
        keep_alive: bool,
    ) -> Vec<u8> {
        let location = reference_location(BASE, path, query);
        let reason = crate::http::status::reason_phrase(redirect.status);
        let body = format!(
            "<!DOCTYPE html>\n<html>\n<head><title>{status} {reason}</title></head>\n<body>\n\
             <h1>{reason}</h1>\n<p>The document has moved <a href=\"{href}\">here</a>.</p>\n\
             </body>\n</html>\n",
            status = redirect.status,
            href = html_escape(&location),
        );
        let head = ResponseHead::new(redirect.status)
            .header("Location", location)
            .header("Cache-Control", "no-store")
            .header("Content-Type", "text/html; charset=utf-8")
            .header("Content-Length", body.len().to_string())
            .header("Date", crate::http::date::http_date(now()))
            .header(
                "Connection",
                crate::http::error_page::connection_value(keep_alive),
            );
        let mut out = Vec::new();
        head.write(&mut out).unwrap();
        if !head_only {
            out.extend_from_slice(body.as_bytes());
        }
        out
    }

    #[test]
    fn one_pass_writer_gives_the_same_bytes_as_a_response_head() {
        let cases = [
            ("/a.bin", None),
            ("/", Some("x=1&y='2'")),
            ("/d\"q<>&#", Some("a b#c")),
            ("nolead", Some("")),
            ("/%41%zz/\u{e9}", None),
            ("/%4", Some("%")),
            ("/a'b&c", Some("d=&e='")),
            ("/#%2#%", Some("#")),
        ];
        for status in [301, 302, 303, 307, 308] {
            let redirect = Redirect::new(status).unwrap();
            for (path, query) in cases {
                for head_only in [false, true] {
                    for keep_alive in [false, true] {
                        let mut out = b"previous".to_vec();
                        let (h, k) = (head_only, keep_alive);
                        redirect.write(BASE, path, query, h, k, now(), &mut out);
                        let mut expected = b"previous".to_vec();
                        expected.extend(reference(&redirect, (path, query), h, k));
                        assert_eq!(
                            String::from_utf8_lossy(&out),
                            String::from_utf8_lossy(&expected)
                        );
                    }
                }
            }
        }
    }

    fn ranking(n: usize) -> Ranking {
        use crate::balance::pool::{Policy, Pool};
        use crate::balance::verdict::Measurement;
        let servers = (0..n)
            .map(|i| ServerAddr::parse(&format!("127.0.0.{}:800{i}", i + 2)).unwrap())
            .collect();
        let mut pool = Pool::new(servers);
        for i in 0..n {
            // Server 0 slowest: the ranking lists the last one first.
            let elapsed = std::time::Duration::from_millis(100 - 10 * i as u64);
            pool.record(i, Measurement { elapsed, bytes: 1 });
        }
        pool.ranking(Policy::Rank)
    }

    fn answer_text(redirect: Redirect, head: &[u8], ranking: &Ranking) -> (Answer, String) {
        use crate::http::request::{Limits, RequestParser};
        let mut parser = RequestParser::new(Limits::default());
        let Ok(crate::http::Parsed::Complete { value, .. }) = parser.parse(head) else {
            panic!("bad request");
        };
        let mut out = Vec::new();
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(19);
        let answer = redirect.answer(&value, true, ranking, &mut rng, now(), &mut out);
        (answer, String::from_utf8(out).unwrap())
    }

    #[test]
    fn a_file_redirect_names_the_other_servers_best_first_and_its_metalink() {
        let ranking = ranking(4);
        let head = b"GET /pub/a%20b.iso?x=1 HTTP/1.1\r\nHost: b\r\n\r\n";
        let (answer, text) = answer_text(Redirect::default().with_links(2), head, &ranking);
        let picked = answer.server.unwrap();
        let links: Vec<&str> = text.lines().filter(|l| l.starts_with("Link: ")).collect();
        let others: Vec<String> = ranking
            .table()
            .iter()
            .filter(|r| r.index != picked)
            .take(2)
            .enumerate()
            .map(|(i, r)| {
                format!(
                    "Link: <{}/pub/a%20b.iso?x=1>; rel=duplicate; pri={}",
                    r.server.base_url(),
                    i + 1
                )
            })
            .collect();
        assert_eq!(links.len(), 3, "{text}");
        assert_eq!(links[..2], others[..], "{text}");
        assert_eq!(
            links[2],
            "Link: </pub/a%20b.iso?meta4>; rel=describedby; type=\"application/metalink4+xml\""
        );
        // Every link parses back, and the location is not among the duplicates.
        let location = text
            .lines()
            .find_map(|l| l.strip_prefix("Location: "))
            .unwrap();
        for line in &links[..2] {
            let parsed = crate::http::link::parse_links(&line.as_bytes()[6..]);
            assert_eq!(parsed.len(), 1);
            assert_ne!(parsed[0].target, location);
        }
    }

    #[test]
    fn no_links_for_a_directory_with_links_0_or_a_single_server() {
        let head_dir = b"GET /pub/ HTTP/1.1\r\nHost: b\r\n\r\n";
        let head_file = b"GET /f HTTP/1.1\r\nHost: b\r\n\r\n";
        let (_, text) = answer_text(Redirect::default(), head_dir, &ranking(3));
        assert!(!text.contains("Link:"), "{text}");
        let (_, text) = answer_text(Redirect::default().with_links(0), head_file, &ranking(3));
        assert!(!text.contains("Link:"), "{text}");
        let (_, text) = answer_text(Redirect::default(), head_file, &ranking(1));
        assert!(!text.contains("rel=duplicate"), "{text}");
        assert!(text.contains("rel=describedby"), "{text}");
        // Fewer servers than --links: every other one, once.
        let (_, text) = answer_text(Redirect::default(), head_file, &ranking(3));
        assert_eq!(text.matches("rel=duplicate").count(), 2, "{text}");
    }
}
