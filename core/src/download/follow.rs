//! The download client's decisions: which responses to save, follow or refuse, when to stop,
//! which bodies to print, where to save, and when to ask a balancer again for another server
//! (client-assisted failover), what a broken connection means, and when a plain `http://`
//! exchange looks like it reached a TLS server.

use crate::download::resume::Validator;
use crate::http::body::BodyError;
use crate::http::response::Response;
use crate::http::url::{Scheme, Url, UrlError};
use crate::http::BodyKind;

/// What the client does after a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// A 2xx final response: save its body.
    Save,
    /// A redirect: request this URL next.
    Redirect(Url),
    /// A 404 or 410 from a server a redirect led to: request [`Failover::url`] (the URL that
    /// redirected here, now [`Follower::current`]) again, reporting the server
    /// ([`Follower::report_field`]). Nothing is saved from this response.
    AskAgain(Failover),
    /// Any other final response: report it; nothing is saved.
    Refused,
}

/// Why the client stops following.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowError {
    /// More redirects than allowed.
    TooManyRedirects(u32),
    /// The Location leads back to a URL already requested.
    Loop(Url),
    /// A redirect without a Location header.
    MissingLocation(u16),
    /// A Location that is not a usable URL.
    BadLocation(UrlError),
    /// A redirect from `https` to `http` (the rest would travel unencrypted), not allowed.
    Downgrade(Url),
}

impl std::fmt::Display for FollowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FollowError::TooManyRedirects(n) => write!(f, "stopped after {n} redirects"),
            FollowError::Loop(u) => write!(f, "redirect loop: {u} was already requested"),
            FollowError::MissingLocation(s) => write!(f, "{s} redirect without a Location header"),
            FollowError::BadLocation(e) => write!(f, "unusable Location: {e}"),
            FollowError::Downgrade(u) => write!(
                f,
                "redirect from https to {u} refused: it would no longer be encrypted"
            ),
        }
    }
}

impl std::error::Error for FollowError {}

/// Tracks a chain of requests from the first URL.
#[derive(Debug, Clone)]
pub struct Follower {
    max_redirects: u32,
    visited: Vec<Url>,
    /// Follow redirects from `https` to `http`.
    allow_downgrade: bool,
    /// The report sent with the current request, when it is a failover retry.
    report: Option<Report>,
    /// A failover for an unreachable server was tried already in this chain: the next
    /// unreachable server is final.
    failed_over: bool,
    /// A failover for a missing file was tried already in this chain: the next 404 or 410 is
    /// final.
    missing_failed_over: bool,
    /// Every server reported missing in this download (kept by [`Follower::restart`]), as
    /// `host:port`: none is reported twice.
    reported_missing: Vec<String>,
}

/// What a failover retry reports about the server a redirect led to, as `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// It could not be connected to ([`crate::http::report::UNREACHABLE_HEADER`]).
    Unreachable(String),
    /// It answered 404 or 410 ([`crate::http::report::MISSING_HEADER`]).
    Missing(String),
}

impl Report {
    /// The server reported, `host:port`.
    pub fn server(&self) -> &str {
        match self {
            Report::Unreachable(server) | Report::Missing(server) => server,
        }
    }

    /// The request field that carries this report.
    pub fn field(&self) -> (&'static str, &[u8]) {
        match self {
            Report::Unreachable(server) => {
                (crate::http::report::UNREACHABLE_HEADER, server.as_bytes())
            }
            Report::Missing(server) => (crate::http::report::MISSING_HEADER, server.as_bytes()),
        }
    }
}

/// A failover decided by [`Follower::handle_unreachable`] or [`Next::AskAgain`]: ask `url`
/// (the URL that redirected the client) once more, sending `report`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failover {
    /// The URL to request again: the one whose redirect led to the server reported.
    pub url: Url,
    /// What happened at that server.
    pub report: Report,
}

impl Follower {
    /// Start at `url`, following at most `max_redirects` redirects.
    pub fn new(url: Url, max_redirects: u32) -> Self {
        Follower {
            max_redirects,
            visited: vec![url],
            allow_downgrade: false,
            report: None,
            failed_over: false,
            missing_failed_over: false,
            reported_missing: Vec::new(),
        }
    }

    /// Start a new chain from the first URL, for another attempt after a transient failure:
    /// the redirects and both failovers start afresh, but a server reported missing stays
    /// reported, so none is reported twice in one download.
    pub fn restart(&mut self) {
        self.visited.truncate(1);
        self.report = None;
        self.failed_over = false;
        self.missing_failed_over = false;
    }

    /// Start a new chain from the first URL, as [`Follower::restart`] does, reporting `server`
    /// (`host:port`) as missing the file on the first request
    /// ([`crate::http::report::MISSING_HEADER`]): its copy turned out wrong (a digest
    /// mismatch), so the balancer should send the client elsewhere. `false` (and a plain
    /// restart) when that server was reported already in this download.
    pub fn restart_reporting(&mut self, server: String) -> bool {
        self.restart();
        if self.reported_missing.contains(&server) {
            return false;
        }
        self.reported_missing.push(server.clone());
        self.report = Some(Report::Missing(server));
        true
    }

    /// Follow redirects from `https` to `http` too (refused by default: the rest of the chain
    /// would travel unencrypted).
    pub fn allow_downgrade(mut self, allow: bool) -> Self {
        self.allow_downgrade = allow;
        self
    }

    /// The URL to request now.
    pub fn current(&self) -> &Url {
        self.visited.last().expect("never empty")
    }

    /// Feed the status and `Location` of the response to the current request.
    ///
    /// 2xx is [`Next::Save`]. A 404 or 410 is [`Next::AskAgain`] when a redirect from another
    /// server (`host:port`) led here, this server was not reported missing before in this
    /// download and no such report was sent yet in this chain: the follower goes back to the
    /// URL that redirected here, as for an unreachable server ([`Follower::handle_unreachable`]),
    /// and the retry does not count as a redirect. So a balancer that sends the client to the
    /// same server again, or to another server without the file, ends the chain with that
    /// server's 404. Any other status but 301, 302, 303, 307 or 308 is
    /// [`Next::Refused`]. A redirect's `Location`
    /// (bytes not allowed in a URI are percent-encoded first, as browsers do) is resolved against
    /// [`Follower::current`]; the result becomes the new current URL. Errors, checked in this
    /// order: no Location, an unusable one, `https` to `http` unless allowed, more than
    /// `max_redirects` redirects, a URL already in the chain (a loop). After an error the follower is unchanged.
    pub fn handle_response(
        &mut self,
        status: u16,
        location: Option<&[u8]>,
    ) -> Result<Next, FollowError> {
        self.report = None;
        if (200..300).contains(&status) {
            return Ok(Next::Save);
        }
        if matches!(status, 404 | 410) {
            return Ok(self.handle_missing().map_or(Next::Refused, Next::AskAgain));
        }
        if !crate::http::status::is_redirect(status) {
            return Ok(Next::Refused);
        }
        let location = location.ok_or(FollowError::MissingLocation(status))?;
        let mut reference = String::with_capacity(location.len());
        crate::http::url::encode_uri(location, &mut reference);
        let next = self
            .current()
            .join(&reference)
            .map_err(FollowError::BadLocation)?;
        let downgrade = self.current().scheme() == Scheme::Https && next.scheme() == Scheme::Http;
        if downgrade && !self.allow_downgrade {
            return Err(FollowError::Downgrade(next));
        }
        if self.redirects() >= self.max_redirects {
            return Err(FollowError::TooManyRedirects(self.max_redirects));
        }
        if self.visited.contains(&next) {
            return Err(FollowError::Loop(next));
        }
        self.visited.push(next.clone());
        Ok(Next::Redirect(next))
    }

    /// The current URL could not be connected to. If a redirect led there and no failover was
    /// tried yet in this chain, go back to the URL that redirected here and return it with the
    /// server to report: request it again with [`Follower::report_field`] among the request's
    /// fields (a Ricochet balancer then redirects elsewhere; any other server answers as
    /// before). Otherwise `None`: the failure is final. The retry does not count as a
    /// redirect.
    pub fn handle_unreachable(&mut self) -> Option<Failover> {
        if self.failed_over || self.visited.len() < 2 {
            return None;
        }
        let dead = self.visited.pop()?;
        self.failed_over = true;
        Some(self.go_back(Report::Unreachable(dead.socket_addr())))
    }

    /// The current URL answered 404 or 410: go back to the URL that redirected here, if the
    /// rules in [`Follower::handle_response`] allow.
    fn handle_missing(&mut self) -> Option<Failover> {
        let [.., from, here] = self.visited.as_slice() else {
            return None;
        };
        let server = here.socket_addr();
        if self.missing_failed_over
            || from.socket_addr() == server
            || self.reported_missing.contains(&server)
        {
            return None;
        }
        self.visited.pop();
        self.missing_failed_over = true;
        self.reported_missing.push(server.clone());
        Some(self.go_back(Report::Missing(server)))
    }

    /// Make `report` the field of the next request, to [`Follower::current`].
    fn go_back(&mut self, report: Report) -> Failover {
        self.report = Some(report.clone());
        Failover {
            url: self.current().clone(),
            report,
        }
    }

    /// The extra request field for [`Follower::current`]: the report
    /// ([`crate::http::report::UNREACHABLE_HEADER`] or [`crate::http::report::MISSING_HEADER`])
    /// when this request is a failover retry, for
    /// [`crate::http::write::write_request_head_with`].
    pub fn report_field(&self) -> Option<(&'static str, &[u8])> {
        self.report.as_ref().map(Report::field)
    }

    /// How many redirects have been followed so far.
    pub fn redirects(&self) -> u32 {
        u32::try_from(self.visited.len() - 1).unwrap_or(u32::MAX)
    }

    /// Every URL requested so far, the first one first.
    pub fn chain(&self) -> &[Url] {
        &self.visited
    }
}

/// Most bytes of a redirect's body printed: it is a courtesy note ("moved here"), not content.
pub const REDIRECT_ECHO_LIMIT: u64 = 4 * 1024;

/// Most bytes of a refused (non-2xx, non-redirect) response's body printed: the error page
/// says why.
pub const REFUSED_ECHO_LIMIT: u64 = 1024 * 1024;

/// How many bytes of a response's body the client prints to the terminal, if any: `None` for
/// a 2xx body (it is saved, never printed) and for a body that is not text. Text is `text/*`,
/// or a body without a Content-Type (short notes from simple servers); everything else may be
/// binary and would garble a terminal.
pub fn echo_limit(status: u16, content_type: Option<&[u8]>) -> Option<u64> {
    if (200..300).contains(&status) {
        return None;
    }
    let text = content_type.is_none_or(|t| t.len() >= 5 && t[..5].eq_ignore_ascii_case(b"text/"));
    if !text {
        return None;
    }
    if crate::http::status::is_redirect(status) {
        Some(REDIRECT_ECHO_LIMIT)
    } else {
        Some(REFUSED_ECHO_LIMIT)
    }
}

/// File name to save a URL's body under when the user gave none: the last path segment,
/// percent-decoded, with anything unsafe for a file name replaced; `index.html` for an empty
/// segment (a trailing slash).
///
/// Unsafe means `/`, `\`, NUL and other control characters (each becomes `_`); a name that is
/// empty, `.` or `..` becomes `index.html`. Invalid UTF-8 is replaced lossily; an invalid escape
/// keeps the segment as sent. The result never contains a path separator, so it always names
/// a file in the current directory.
pub fn output_name(url: &Url) -> String {
    let path = url.path();
    let segment = path.rsplit('/').next().unwrap_or("");
    let decoded = crate::http::url::percent_decode(segment.as_bytes())
        .unwrap_or_else(|_| segment.as_bytes().to_vec());
    let name: String = String::from_utf8_lossy(&decoded)
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    match name.as_str() {
        "" | "." | ".." => "index.html".to_string(),
        _ => name,
    }
}

/// The `rel=duplicate` targets of every `Link` field of `response`, lowest `pri` first (no
/// `pri` last), in the order sent among equals.
fn duplicate_links(response: &Response<'_>) -> Vec<String> {
    use crate::http::link::{parse_links, DUPLICATE};
    let mut links: Vec<(u32, String)> = Vec::new();
    for h in &response.headers {
        if h.name.eq_ignore_ascii_case("link") {
            links.extend(
                parse_links(h.value)
                    .into_iter()
                    .filter(|l| l.has_rel(DUPLICATE))
                    .map(|l| (l.pri.unwrap_or(u32::MAX), l.target.to_string())),
            );
        }
    }
    links.sort_by_key(|(pri, _)| *pri);
    links.into_iter().map(|(_, target)| target).collect()
}

/// What the client keeps of a final response head: the fields its decisions read, picked by
/// name here so the shell never looks a header up itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptHead {
    /// The status code.
    pub status: u16,
    /// The reason phrase, for the error message of a refused response.
    pub reason: String,
    /// `Location`, for [`Follower::handle_response`].
    pub location: Option<Vec<u8>>,
    /// `Content-Type`, for [`echo_limit`].
    pub content_type: Option<Vec<u8>>,
    /// `Content-Range`, for [`crate::download::resume::decide`].
    pub content_range: Option<Vec<u8>>,
    /// The version the body belongs to ([`Validator::of`] its `ETag` and `Last-Modified`).
    pub validator: Option<Validator>,
    /// How the body is framed.
    pub body: BodyKind,
    /// Whether the connection can carry another request after this response.
    pub keep_alive: bool,
    /// The digests it carries (`Repr-Digest`, then `Digest`).
    pub digests: Vec<crate::http::digest::Digest>,
    /// The targets of its `Link: <...>; rel=duplicate` links (other servers holding the same
    /// file, RFC 6249), most preferred (lowest `pri`) first, as sent: resolve them with
    /// [`KeptHead::duplicates`].
    pub duplicate_links: Vec<String>,
}

impl KeptHead {
    /// Keep what the client needs of `response`.
    pub fn of(response: &Response<'_>) -> KeptHead {
        KeptHead {
            status: response.status,
            reason: response.reason.to_string(),
            location: response.header("location").map(<[u8]>::to_vec),
            content_type: response.header("content-type").map(<[u8]>::to_vec),
            content_range: response.header("content-range").map(<[u8]>::to_vec),
            validator: Validator::of(response.header("etag"), response.header("last-modified")),
            body: response.body,
            keep_alive: response.keep_alive,
            digests: crate::download::verify::digests_of(response),
            duplicate_links: duplicate_links(response),
        }
    }

    /// The other servers holding the file this redirect leads to (its `rel=duplicate` links
    /// resolved against `base`, the URL that answered), most preferred first, without
    /// `location` (the redirect's own target) and without repeats. `https` to `http` links are
    /// dropped unless `allow_downgrade`.
    pub fn duplicates(&self, base: &Url, location: &Url, allow_downgrade: bool) -> Vec<Url> {
        let mut out: Vec<Url> = Vec::new();
        for target in &self.duplicate_links {
            let Ok(url) = base.join(target) else { continue };
            let downgrade = base.scheme() == Scheme::Https && url.scheme() == Scheme::Http;
            if (downgrade && !allow_downgrade) || &url == location || out.contains(&url) {
                continue;
            }
            out.push(url);
        }
        out
    }

    /// How many bytes of this response's body to print ([`echo_limit`]).
    pub fn echo_limit(&self) -> Option<u64> {
        echo_limit(self.status, self.content_type.as_deref())
    }

    /// The length `Content-Length` announced, if it did.
    pub fn announced_length(&self) -> Option<u64> {
        match self.body {
            BodyKind::Length(n) => Some(n),
            _ => None,
        }
    }

    /// The connection failed (a reset, a read error) after `received` body bytes: the body was
    /// cut short, even a close-delimited one, whose only clean end is the peer's orderly close.
    pub fn broken_off(&self, received: u64) -> BodyError {
        BodyError::Truncated {
            received,
            expected: self.announced_length(),
        }
    }
}

/// Ports where a plain-HTTP request most likely reached a TLS server.
const TLS_PORTS: [u16; 2] = [443, 8443];

/// Whether an `http://` exchange that yielded no usable response head looks like it reached a
/// TLS server, so the failure can suggest `https://`. `received` is every byte that came back.
/// True when they start like a TLS record (an alert, a handshake: content type 20 to 23, then
/// version 3.x), or when nothing came back from a port TLS usually listens on.
pub fn may_want_tls(url: &Url, received: &[u8]) -> bool {
    if url.scheme() != Scheme::Http {
        return false;
    }
    match received {
        [] => TLS_PORTS.contains(&url.port()),
        [content_type, 3, ..] => (20..=23).contains(content_type),
        [content_type] => (20..=23).contains(content_type),
        _ => false,
    }
}
