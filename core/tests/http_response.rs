//! Response-head parser: tolerance, framing decisions, keep-alive and errors.

use ricochet_core::http::response::{Response, ResponseError, ResponseParser};
use ricochet_core::http::{BodyKind, Parsed, Version};

const NGINX: &[u8] = b"HTTP/1.1 301 Moved Permanently\r\n\
Server: nginx/1.24.0\r\n\
Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
Content-Type: text/html\r\n\
Content-Length: 169\r\n\
Connection: keep-alive\r\n\
Location: http://example.com/new\r\n\
\r\n";

fn complete(msg: &[u8], head: bool) -> Result<(Response<'_>, usize), ResponseError> {
    match ResponseParser::default().parse(msg, head)? {
        Parsed::Complete { value, consumed } => Ok((value, consumed)),
        Parsed::Partial => panic!("partial: {}", String::from_utf8_lossy(msg)),
    }
}

fn byte_at_a_time(msg: &[u8], head: bool) -> Result<(Response<'_>, usize), ResponseError> {
    let mut p = ResponseParser::default();
    for n in 0..=msg.len() {
        if let Parsed::Complete { value, consumed } = p.parse(&msg[..n], head)? {
            return Ok((value, consumed));
        }
    }
    panic!("never complete");
}

#[test]
fn parses_a_redirect() {
    let (r, consumed) = complete(NGINX, false).unwrap();
    assert_eq!(consumed, NGINX.len());
    assert_eq!(r.version, Version::Http11);
    assert_eq!((r.status, r.reason), (301, "Moved Permanently"));
    assert_eq!(r.header("location"), Some(&b"http://example.com/new"[..]));
    assert_eq!(r.body, BodyKind::Length(169));
    assert!(r.keep_alive);
    assert_eq!(r.headers.len(), 6);
}

#[test]
fn every_prefix_is_partial_and_byte_at_a_time_matches() {
    for n in 0..NGINX.len() {
        assert_eq!(
            ResponseParser::default().parse(&NGINX[..n], false),
            Ok(Parsed::Partial)
        );
    }
    assert_eq!(byte_at_a_time(NGINX, false), complete(NGINX, false));
}

#[test]
fn tolerates_missing_or_empty_reason() {
    let (r, _) = complete(b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false).unwrap();
    assert_eq!((r.status, r.reason), (200, ""));
    let (r, _) = complete(b"HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", false).unwrap();
    assert_eq!((r.status, r.reason), (404, ""));
    let (r, _) = complete(b"HTTP/1.0 599 Very \xff Odd\r\n\r\n", false).unwrap();
    assert_eq!((r.status, r.reason), (599, ""));
}

#[test]
fn framing_table() {
    use BodyKind::*;
    let cases: &[(&[u8], bool, BodyKind, bool)] = &[
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
            false,
            Length(10),
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
            true,
            None,
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n",
            false,
            Length(7),
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
            Chunked,
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            true,
            None,
            true,
        ),
        (b"HTTP/1.1 200 OK\r\n\r\n", false, CloseDelimited, false),
        (b"HTTP/1.1 200 OK\r\n\r\n", true, None, true),
        (b"HTTP/1.1 204 No Content\r\n\r\n", false, None, true),
        (
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n",
            false,
            None,
            true,
        ),
        (
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            false,
            None,
            true,
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\n", false, None, true),
        (
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
            false,
            None,
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
            false,
            Length(3),
            false,
        ),
        (
            b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n",
            false,
            Length(3),
            false,
        ),
        (
            b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n",
            false,
            Length(3),
            true,
        ),
        (
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n",
            false,
            CloseDelimited,
            false,
        ),
    ];
    for (msg, head, body, keep_alive) in cases {
        let (r, _) = complete(msg, *head).unwrap();
        assert_eq!(
            (r.body, r.keep_alive),
            (*body, *keep_alive),
            "{}",
            String::from_utf8_lossy(msg)
        );
        assert_eq!(byte_at_a_time(msg, *head), complete(msg, *head));
    }
}

#[test]
fn error_table() {
    use ResponseError::{AmbiguousLength as Ambiguous, Malformed};
    let cases: &[(&[u8], ResponseError)] = &[
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            Ambiguous("conflicting Content-Length values"),
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
            Ambiguous("conflicting Content-Length values"),
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            Ambiguous("both Content-Length and Transfer-Encoding"),
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            Ambiguous("transfer coding other than a final chunked"),
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            Ambiguous("transfer coding other than a final chunked"),
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            Ambiguous("transfer coding other than a final chunked"),
        ),
        (
            b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            Ambiguous("Transfer-Encoding in an HTTP/1.0 response"),
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            Malformed("Content-Length is not a number"),
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            Malformed("Content-Length overflows"),
        ),
        (b"HTTP/2 200\r\n\r\n", Malformed("malformed status line")),
        (
            b"HTTP/1.1 20 OK\r\n\r\n",
            Malformed("malformed status code"),
        ),
        (
            b"HTTP/1.1 099 OK\r\n\r\n",
            Malformed("malformed status code"),
        ),
        (
            b"HTTP/1.1 2000 OK\r\n\r\n",
            Malformed("malformed status code"),
        ),
        (
            b"HTTP/1.1 200OK\r\n\r\n",
            Malformed("malformed status code"),
        ),
        (
            b"HTTP/1.1 200 O\x01K\r\n\r\n",
            Malformed("control byte in reason phrase"),
        ),
        (
            b"http/1.1 200 OK\r\n\r\n",
            Malformed("unsupported HTTP version"),
        ),
        (b"HTTP/1.1 200 OK\n\n", Malformed("bare LF line ending")),
        (
            b"HTTP/1.1 200 OK\r\nX : y\r\n\r\n",
            Malformed("whitespace before colon"),
        ),
        (
            b"HTTP/1.1 200 OK\r\nX: y\r\n folded\r\n\r\n",
            Malformed("obs-fold line folding"),
        ),
        (
            b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
            Malformed("bare CR in header value"),
        ),
    ];
    for (msg, expected) in cases {
        let e = complete(msg, false).unwrap_err();
        assert_eq!(e, *expected, "{}", String::from_utf8_lossy(msg));
        assert_eq!(byte_at_a_time(msg, false).unwrap_err(), e);
        // The message a user reads names the kind and the reason.
        let (kind, why) = match e {
            Ambiguous(why) => ("ambiguous response length: ", why),
            Malformed(why) => ("malformed response: ", why),
            ResponseError::HeadTooLarge => unreachable!(),
        };
        assert_eq!(e.to_string(), format!("{kind}{why}"));
    }
}

#[test]
fn errors_stick_and_size_limit_applies() {
    let mut p = ResponseParser::new(32);
    let big = b"HTTP/1.1 200 OK\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    assert_eq!(p.parse(big, false), Err(ResponseError::HeadTooLarge));
    assert_eq!(p.parse(NGINX, false), Err(ResponseError::HeadTooLarge));
}

#[test]
fn interim_response_then_final_one() {
    let stream = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let mut p = ResponseParser::default();
    let Ok(Parsed::Complete { value, consumed }) = p.parse(stream, false) else {
        panic!()
    };
    assert_eq!(value.status, 100);
    let rest = &stream[consumed..];
    let Ok(Parsed::Complete { value, consumed }) = p.parse(rest, false) else {
        panic!()
    };
    assert_eq!((value.status, value.body), (200, BodyKind::Length(2)));
    assert_eq!(&rest[consumed..], b"ok");
}
