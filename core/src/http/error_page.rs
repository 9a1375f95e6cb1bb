//! The answers a server gives when it does not serve what was asked: the error pages (the same
//! for the file server and the balancer) and the method policy of a GET/HEAD-only resource
//! (204 with the allowed methods for OPTIONS, 405 for another method RFC 9110 defines, 501 for
//! any other).

use crate::http::status::Status;
use crate::http::write::ResponseHead;
use std::time::SystemTime;

/// The methods a GET/HEAD-only resource allows, as its `Allow` field lists them.
pub const ALLOW: &str = "GET, HEAD, OPTIONS";

/// What a request's method asks of a GET/HEAD-only resource ([`allowed_method`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET: the resource.
    Get,
    /// HEAD: the resource's head only.
    Head,
    /// OPTIONS (`*` or a path): 204 with the allowed methods.
    Options,
    /// Any other method: the page for this status, 405 for the methods RFC 9110 defines, 501
    /// for any other.
    Refused(Status),
}

impl Method {
    /// The status whose answer ([`write()`]) replaces the resource: 204 for OPTIONS, the
    /// refusal's status; `None` for GET and HEAD, which get the resource.
    pub fn answer_instead(self) -> Option<Status> {
        match self {
            Method::Get | Method::Head => None,
            Method::Options => Some(Status::NO_CONTENT),
            Method::Refused(status) => Some(status),
        }
    }
}

/// What a GET/HEAD-only resource does with `method` (case-sensitive: `get` is no GET).
pub fn allowed_method(method: &str) -> Method {
    match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "OPTIONS" => Method::Options,
        "POST" | "PUT" | "DELETE" | "PATCH" | "TRACE" | "CONNECT" => {
            Method::Refused(Status::METHOD_NOT_ALLOWED)
        }
        _ => Method::Refused(Status::NOT_IMPLEMENTED),
    }
}

/// How a page goes out: whether the connection may stay open and whether the request was HEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The connection may carry another request (what the connection machine decided); the
    /// statuses of [`forces_close`] close it anyway.
    pub keep_alive: bool,
    /// The request was HEAD: the head without the page.
    pub head_only: bool,
}

impl Reply {
    /// The page in full, and the connection ends: the answer to a request that did not parse
    /// or whose body failed.
    pub const CLOSE: Reply = Reply {
        keep_alive: false,
        head_only: false,
    };
}

/// One line under the heading of an error page.
fn explanation(status: Status) -> &'static str {
    match status.code() {
        301 => "This is a directory: its address ends with a slash.",
        400 => "Your browser sent a request that this server could not understand.",
        403 => "You don't have permission to access this resource.",
        404 => "The requested URL was not found on this server.",
        405 => "This resource only supports GET, HEAD and OPTIONS.",
        408 => "The server timed out waiting for the request.",
        412 => "A precondition of the request (If-Match, If-Unmodified-Since) does not hold.",
        413 => "The request body is too large.",
        414 => "The requested URL is too long for this server.",
        416 => "The requested range is not part of the file.",
        431 => "The request header fields are too large.",
        500 => "The server encountered an internal error.",
        501 => "The server does not support the method or feature the request needs.",
        503 => "No server is available to handle this request right now. Please try again later.",
        505 => "The server only speaks HTTP/1.0 and HTTP/1.1.",
        _ => "The server cannot handle this request.",
    }
}

/// Statuses after which the connection cannot carry another request: the head was not fully
/// understood, so where the next request starts is unknown.
pub fn forces_close(status: Status) -> bool {
    matches!(status.code(), 400 | 408 | 413 | 414 | 431 | 505)
}

/// What [`write()`] appended to its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Whether the connection stays open: [`Reply::keep_alive`], except after the statuses of
    /// [`forces_close`], whose response always says `Connection: close`.
    pub keep_alive: bool,
    /// Bytes of the head; the rest of what was appended is the body (what an access log counts).
    pub head_len: usize,
}

/// Write a complete error response for `status` into `out`: head (with `extra` headers such as
/// `Retry-After` or `Location`; 405 carries `Allow: GET, HEAD, OPTIONS`) and a small HTML page
/// unless [`Reply::head_only`]. Says whether the connection stays open and where the head ends.
/// 204 ([`Method::answer_instead`] for OPTIONS) is the OPTIONS answer: `Allow`, no body, no
/// `extra`.
pub fn write(
    status: Status,
    reply: Reply,
    now: SystemTime,
    extra: &[(&'static str, String)],
    out: &mut Vec<u8>,
) -> Written {
    let start = out.len();
    if status == Status::NO_CONTENT {
        crate::http::write::write_options_response(out, now, reply.keep_alive);
        return Written {
            keep_alive: reply.keep_alive,
            head_len: out.len() - start,
        };
    }
    let reason = match status.reason() {
        "" => "Error",
        r => r,
    };
    let body = format!(
        "<!DOCTYPE html>\n<html>\n<head><title>{status} {reason}</title></head>\n<body>\n\
         <h1>{status} {reason}</h1>\n<p>{}</p>\n<hr><address>ricochet</address>\n</body>\n</html>\n",
        explanation(status)
    );
    let keep_alive = reply.keep_alive && !forces_close(status);
    let mut head = ResponseHead::new(status.code())
        .header("Date", crate::http::date::http_date(now))
        .header("Content-Type", "text/html; charset=utf-8")
        .header("Content-Length", body.len().to_string());
    if status == Status::METHOD_NOT_ALLOWED {
        head = head.header("Allow", ALLOW);
    }
    for (name, value) in extra {
        head = head.header(name, value.clone());
    }
    head = head.header("Connection", connection_value(keep_alive));
    // Every value above is built here from digits and fixed text: writing cannot fail.
    let written = head.write(out);
    debug_assert!(written.is_ok());
    let head_len = out.len() - start;
    if !reply.head_only {
        out.extend_from_slice(body.as_bytes());
    }
    Written {
        keep_alive,
        head_len,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn page(status: Status, keep_alive: bool, head_only: bool) -> (bool, String) {
        let mut out = Vec::new();
        let reply = Reply {
            keep_alive,
            head_only,
        };
        let written = write(status, reply, SystemTime::UNIX_EPOCH, &[], &mut out);
        let text = String::from_utf8(out).unwrap();
        let head_end = text.find("\r\n\r\n").unwrap() + 4;
        assert_eq!(
            written.head_len, head_end,
            "{status}: the head ends where it says"
        );
        (written.keep_alive, text)
    }

    #[test]
    fn get_and_head_pass_known_methods_get_405_others_501() {
        assert_eq!(allowed_method("GET"), Method::Get);
        assert_eq!(allowed_method("HEAD"), Method::Head);
        assert_eq!(allowed_method("OPTIONS"), Method::Options);
        let refused = Method::Refused(Status::METHOD_NOT_ALLOWED);
        assert_eq!(allowed_method("DELETE"), refused);
        assert_eq!(
            allowed_method("BREW"),
            Method::Refused(Status::NOT_IMPLEMENTED)
        );
        // Methods are case-sensitive: `get` is not GET.
        assert_eq!(
            allowed_method("get"),
            Method::Refused(Status::NOT_IMPLEMENTED)
        );
        assert_eq!(Method::Get.answer_instead(), None);
        assert_eq!(Method::Head.answer_instead(), None);
        assert_eq!(refused.answer_instead(), Some(Status::METHOD_NOT_ALLOWED));
    }

    #[test]
    fn a_page_that_breaks_framing_always_closes() {
        let (more, text) = page(Status::BAD_REQUEST, true, false);
        assert!(!more);
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        assert!(text.contains("Connection: close\r\n"), "{text}");
        let (more, text) = page(Status::NOT_FOUND, true, true);
        assert!(more);
        assert!(text.ends_with("Connection: keep-alive\r\n\r\n"), "{text}");
    }

    #[test]
    fn options_is_answered_with_the_allowed_methods_and_no_body() {
        let status = allowed_method("OPTIONS").answer_instead();
        let (more, text) = page(status.expect("OPTIONS is not served as a GET"), true, false);
        assert!(more);
        assert!(text.starts_with("HTTP/1.1 204 No Content\r\n"), "{text}");
        assert!(text.contains("\r\nAllow: GET, HEAD, OPTIONS\r\n"), "{text}");
        assert!(!text.contains("Content-Length"), "{text}");
        assert!(text.ends_with("Connection: keep-alive\r\n\r\n"), "{text}");
    }
}
