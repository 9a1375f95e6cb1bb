//! Request-head parser scenarios: chunking independence, pipelining, limits and every error
//! with the status a server answers.

use ricochet_core::http::request::{Limits, ParseError, Request, RequestParser, Target};
use ricochet_core::http::status::Status;
use ricochet_core::http::{BodyKind, Parsed, Version};

const BROWSER: &[u8] = b"GET /docs/index.html?lang=en&x=1 HTTP/1.1\r\n\
Host: www.example.com:8080\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Connection: keep-alive\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Site: none\r\n\
Priority: u=0, i\r\n\
\r\n";

/// Parse all at once, expecting a complete head.
fn complete(msg: &[u8]) -> (Request<'_>, usize) {
    match RequestParser::default().parse(msg) {
        Ok(Parsed::Complete { value, consumed }) => (value, consumed),
        other => panic!("expected a complete head, got {other:?}"),
    }
}

fn error(msg: &[u8]) -> ParseError {
    match RequestParser::default().parse(msg) {
        Err(e) => e,
        other => panic!(
            "expected an error for {:?}, got {other:?}",
            String::from_utf8_lossy(msg)
        ),
    }
}

/// Feed `msg` one byte more per call, as a slow client would; return the first non-Partial.
fn byte_at_a_time(
    parser: &mut RequestParser,
    msg: &[u8],
) -> Option<Result<(Request<'static>, usize), ParseError>> {
    let msg: &'static [u8] = Box::leak(msg.to_vec().into_boxed_slice());
    for n in 0..=msg.len() {
        match parser.parse(&msg[..n]) {
            Ok(Parsed::Partial) => continue,
            Ok(Parsed::Complete { value, consumed }) => return Some(Ok((value, consumed))),
            Err(e) => return Some(Err(e)),
        }
    }
    None
}

#[test]
fn parses_a_browser_request() {
    let (req, consumed) = complete(BROWSER);
    assert_eq!(consumed, BROWSER.len());
    assert_eq!(req.method, "GET");
    assert_eq!(req.version, Version::Http11);
    assert_eq!(req.raw_target, "/docs/index.html?lang=en&x=1");
    assert_eq!(
        req.target,
        Target::Origin {
            path: "/docs/index.html",
            query: Some("lang=en&x=1")
        }
    );
    assert_eq!(req.path(), "/docs/index.html");
    assert_eq!(req.query(), Some("lang=en&x=1"));
    assert_eq!(req.headers.len(), 11);
    assert_eq!(req.header("host"), Some(&b"www.example.com:8080"[..]));
    assert_eq!(req.header("PRIORITY"), Some(&b"u=0, i"[..]));
    assert_eq!(req.headers[1].name, "User-Agent");
    assert_eq!(req.body, BodyKind::None);
    assert!(req.keep_alive);
}

#[test]
fn every_prefix_is_partial() {
    for n in 0..BROWSER.len() {
        let mut p = RequestParser::default();
        assert_eq!(
            p.parse(&BROWSER[..n]),
            Ok(Parsed::Partial),
            "prefix of {n} bytes"
        );
    }
}

#[test]
fn byte_at_a_time_equals_all_at_once() {
    let all = complete(BROWSER);
    let mut p = RequestParser::default();
    assert_eq!(byte_at_a_time(&mut p, BROWSER), Some(Ok(all)));
}

#[test]
fn every_split_point_gives_the_same_request() {
    let all = complete(BROWSER);
    for split in 0..BROWSER.len() {
        let mut p = RequestParser::default();
        assert_eq!(p.parse(&BROWSER[..split]), Ok(Parsed::Partial));
        match p.parse(BROWSER) {
            Ok(Parsed::Complete { value, consumed }) => assert_eq!((value, consumed), all),
            other => panic!("split at {split}: {other:?}"),
        }
    }
}

#[test]
fn pipelined_requests_with_bodies() {
    let stream = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello\
GET /b HTTP/1.1\r\nHost: h\r\n\r\n\
HEAD /c HTTP/1.0\r\nConnection: close\r\n\r\n";
    let mut p = RequestParser::default();
    let mut buf = &stream[..];
    let mut seen = Vec::new();
    while !buf.is_empty() {
        let Ok(Parsed::Complete { value, consumed }) = p.parse(buf) else {
            panic!(
                "expected a complete head at {:?}",
                String::from_utf8_lossy(buf)
            );
        };
        let body_len = match value.body {
            BodyKind::Length(n) => n as usize,
            BodyKind::None => 0,
            other => panic!("unexpected body {other:?}"),
        };
        seen.push((value.method, value.path().to_string(), value.keep_alive));
        buf = &buf[consumed + body_len..];
    }
    assert_eq!(
        seen,
        vec![
            ("POST", "/a".to_string(), true),
            ("GET", "/b".to_string(), true),
            ("HEAD", "/c".to_string(), false),
        ]
    );
}

#[test]
fn pipelined_byte_at_a_time() {
    let stream = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut p = RequestParser::default();
    let (first, consumed) = byte_at_a_time(&mut p, stream).unwrap().unwrap();
    assert_eq!(first.path(), "/1");
    let (second, consumed2) = byte_at_a_time(&mut p, &stream[consumed..])
        .unwrap()
        .unwrap();
    assert_eq!(second.path(), "/2");
    assert_eq!(consumed + consumed2, stream.len());
}

#[test]
fn leading_empty_lines_are_skipped() {
    let (req, consumed) = complete(b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(req.path(), "/");
    assert_eq!(consumed, 31);
    let four = b"\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    let (_, consumed) = complete(four);
    assert_eq!(consumed, four.len());
    let mut p = RequestParser::default();
    assert!(matches!(byte_at_a_time(&mut p, four), Some(Ok(_))));
}

#[test]
fn expect_100_continue_is_exposed_and_decides_the_interim_response() {
    let post = |expect: &str, version: &str, body: &str| {
        format!("POST / HTTP/1.{version}\r\nHost: a\r\n{expect}{body}\r\n")
    };
    let cl = "Content-Length: 5\r\n";
    for (msg, expect_continue) in [
        (post("Expect: 100-continue\r\n", "1", cl), true),
        (post("Expect: 100-Continue\r\n", "1", cl), true),
        (post("", "1", cl), false),
        // RFC 9110 section 10.1.1: an HTTP/1.0 expectation is ignored.
        (post("Expect: 100-continue\r\n", "0", cl), false),
    ] {
        let (req, _) = complete(msg.as_bytes());
        assert_eq!(req.expect_continue, expect_continue, "{msg}");
        assert_eq!(req.sends_continue(true), expect_continue, "{msg}");
        // A refused request gets its final status at once, never 100 first.
        assert!(!req.sends_continue(false), "{msg}");
    }
    // Nothing to wait for without a body.
    let (req, _) = complete(b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n");
    assert!(req.expect_continue);
    assert!(!req.sends_continue(true));
    let empty = post("Expect: 100-continue\r\n", "1", "Content-Length: 0\r\n");
    let (req, _) = complete(empty.as_bytes());
    assert!(!req.sends_continue(true), "an empty body");
}

#[test]
fn options_asterisk_form_parses() {
    let msg = b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
    let (req, consumed) = complete(msg);
    assert_eq!(
        (req.method, req.target, consumed),
        ("OPTIONS", Target::Asterisk, msg.len())
    );
    let mut p = RequestParser::default();
    assert!(matches!(byte_at_a_time(&mut p, msg), Some(Ok(_))));
}

#[test]
fn target_forms() {
    let (r, _) = complete(b"GET http://Example.com:81/x?y HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        r.target,
        Target::Absolute {
            authority: "Example.com:81",
            path: "/x",
            query: Some("y")
        }
    );
    let (r, _) = complete(b"GET http://[::1]:8080 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        r.target,
        Target::Absolute {
            authority: "[::1]:8080",
            path: "/",
            query: None
        }
    );
    let (r, _) = complete(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.target, Target::Asterisk);
    assert_eq!(r.path(), "/");
    let (r, _) = complete(b"GET /a?b?c HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.query(), Some("b?c"));
}

#[test]
fn framing_and_keep_alive() {
    let cases: &[(&[u8], BodyKind, bool)] = &[
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", BodyKind::None, true),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            BodyKind::None,
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n",
            BodyKind::None,
            false,
        ),
        (b"GET / HTTP/1.0\r\n\r\n", BodyKind::None, false),
        (
            b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
            BodyKind::None,
            true,
        ),
        (
            b"GET / HTTP/1.0\r\nConnection: foo,keep-alive\r\n\r\n",
            BodyKind::None,
            true,
        ),
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
            BodyKind::None,
            false,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
            BodyKind::Length(0),
            true,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\ncontent-length: 12\r\n\r\n",
            BodyKind::Length(12),
            true,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            BodyKind::Chunked,
            true,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,Chunked \r\n\r\n",
            BodyKind::Chunked,
            true,
        ),
    ];
    for (msg, body, keep_alive) in cases {
        let (req, _) = complete(msg);
        assert_eq!(req.body, *body, "{}", String::from_utf8_lossy(msg));
        assert_eq!(
            req.keep_alive,
            *keep_alive,
            "{}",
            String::from_utf8_lossy(msg)
        );
    }
}

#[test]
fn header_values_are_trimmed_and_keep_obs_text() {
    let (req, _) = complete(b"GET / HTTP/1.1\r\nHost:a\r\nX-A: \t v\xe9 w \t\r\nX-B:\r\n\r\n");
    assert_eq!(req.header("host"), Some(&b"a"[..]));
    assert_eq!(req.header("x-a"), Some(&b"v\xe9 w"[..]));
    assert_eq!(req.header("x-b"), Some(&b""[..]));
}

/// Every rejection, with the status a server should send. Each is also fed one byte at a time
/// and must fail the same way.
#[test]
fn error_table() {
    use ParseError::*;
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(8192));
    let long_method = format!("{} / HTTP/1.1\r\nHost: a\r\n\r\n", "G".repeat(8192));
    let cases: Vec<(&[u8], u16, &str)> = vec![
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "version"),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "h2 preface"),
        (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, "version 1.2"),
        (b"GET / HTTP/1\r\nHost: a\r\n\r\n", 400, "malformed version"),
        (b"GET / http/1.1\r\nHost: a\r\n\r\n", 400, "lowercase version"),
        (b"GET /\r\n\r\n", 400, "HTTP/0.9"),
        (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "double space"),
        (b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "trailing space"),
        (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "method not a token"),
        (b" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "leading space"),
        (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "space in target"),
        (b"GET /a#f HTTP/1.1\r\nHost: a\r\n\r\n", 400, "fragment"),
        (b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", 400, "non-ASCII target"),
        (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "asterisk without OPTIONS"),
        (b"GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "authority-form without CONNECT"),
        (b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "absolute-form other scheme"),
        (b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "absolute-form empty host"),
        (b"GET http://u@h/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "userinfo"),
        (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", 501, "CONNECT"),
        (b"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "CONNECT without authority"),
        (long_target.as_bytes(), 414, "target too long"),
        (long_method.as_bytes(), 400, "method too long"),
        (b"\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "five empty lines"),
        (b"GET / HTTP/1.1\r\nHost:\r\n\r\n", 400, "empty Host"),
        (b"GET / HTTP/1.1\r\nHost: \t \r\n\r\n", 400, "blank Host"),
        (b"GET / HTTP/1.0\r\nHost:\r\n\r\n", 400, "empty Host in 1.0"),
        (b"GET / HTTP/1.1\r\nHost:\r\nHost: a\r\n\r\n", 400, "empty then full Host"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost:\r\n\r\n", 400, "full then empty Host"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\n", 417, "unknown expectation"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, x\r\n\r\n", 417, "extra expectation"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue=1\r\n\r\n", 417, "expectation with value"),
        (b"GET / HTTP/1.1\n\n", 400, "bare LF"),
        (b"GET / HTTP/1.1\r\nHost: a\n\r\n", 400, "bare LF in header"),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\n", 400, "bare LF at end"),
        (b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "leading bare LF"),
        (b"GET / HTTP/1.1\rX\r\nHost: a\r\n\r\n", 400, "bare CR in request line"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400, "bare CR in value"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400, "NUL"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400, "control byte"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", 400, "DEL"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n\r\n", 400, "space before colon"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX\t: b\r\n\r\n", 400, "tab before colon"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", 400, "obs-fold"),
        (b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, "whitespace before first field"),
        (b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400, "empty name"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX(Y): b\r\n\r\n", 400, "name not a token"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400, "no colon"),
        (b"GET / HTTP/1.1\r\n\r\n", 400, "missing Host"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, "two Host"),
        (b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, "two Host in 1.0"),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "bad Host"),
        (b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, "userinfo in Host"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400, "CL sign"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400, "CL list"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 400, "CL hex"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400, "CL empty"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400, "CL differ"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", 400, "CL overflow"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400, "TE+CL"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "CL+TE"),
        // RFC 9112 section 6.3: chunked not final means no length, 400 whatever precedes it.
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "TE gzip"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400, "chunked not final"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "chunked then gzip lines"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\nContent-Length: 5\r\n\r\n", 400, "chunked not final with CL"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "CL then gzip"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n", 400, "gzip, chunked with CL"),
        // Chunked final, a coding before it that is not implemented: 501.
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "gzip, chunked"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501, "gzip then chunked"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400, "chunked twice"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 400, "TE empty"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", 400, "chunked with parameter"),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "TE in 1.0"),
    ];
    for (msg, status, what) in &cases {
        let all = error(msg);
        assert_eq!(all.status().code(), *status, "{what}: {all}");
        let mut p = RequestParser::default();
        assert_eq!(
            byte_at_a_time(&mut p, msg),
            Some(Err(all)),
            "{what} byte at a time"
        );
        // After an error the parser stays failed, even on a valid request.
        assert_eq!(p.parse(BROWSER), Err(all), "{what} stays failed");
    }
    assert!(matches!(
        error(b"GET / HTTP/3.0\r\n\r\n"),
        VersionNotSupported
    ));
    assert!(matches!(
        error(b"CONNECT a:1 HTTP/1.1\r\n\r\n"),
        NotImplemented(_)
    ));
}

#[test]
fn head_size_limit_is_exact() {
    let limits = Limits {
        max_head: 64,
        ..Limits::default()
    };
    let base = b"GET / HTTP/1.1\r\nHost: a\r\nX: ";
    let fill = 64 - base.len() - 4;
    let mut exact = base.to_vec();
    exact.extend(std::iter::repeat_n(b'v', fill));
    exact.extend_from_slice(b"\r\n\r\n");
    assert_eq!(exact.len(), 64);
    let mut p = RequestParser::new(limits);
    assert!(matches!(
        p.parse(&exact),
        Ok(Parsed::Complete { consumed: 64, .. })
    ));

    let mut over = base.to_vec();
    over.extend(std::iter::repeat_n(b'v', fill + 1));
    over.extend_from_slice(b"\r\n\r\n");
    let mut p = RequestParser::new(limits);
    assert_eq!(p.parse(&over), Err(ParseError::HeadTooLarge));
    let mut p = RequestParser::new(limits);
    assert_eq!(
        byte_at_a_time(&mut p, &over),
        Some(Err(ParseError::HeadTooLarge))
    );
}

#[test]
fn oversized_head_fails_while_still_partial() {
    // A client that never ends its head is cut off once max_head bytes have arrived.
    let mut msg = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    while msg.len() < 9000 {
        msg.extend_from_slice(format!("X-Filler: {}\r\n", "a".repeat(200)).as_bytes());
    }
    while msg.len() < 17000 {
        msg.extend_from_slice(format!("X-Filler: {}\r\n", "a".repeat(200)).as_bytes());
    }
    let max = Limits::default().max_head;
    let mut p = RequestParser::default();
    assert_eq!(p.parse(&msg[..max - 1]), Ok(Parsed::Partial));
    assert_eq!(p.parse(&msg[..max]), Err(ParseError::HeadTooLarge));
    assert_eq!(
        ParseError::HeadTooLarge.status(),
        Status::HEADER_FIELDS_TOO_LARGE
    );
}

#[test]
fn endless_request_line_is_414_or_400_never_431() {
    let msg = format!("GET /{}", "a".repeat(9000));
    let mut p = RequestParser::default();
    assert_eq!(p.parse(msg.as_bytes()), Err(ParseError::TargetTooLong));
    let msg = "A".repeat(9000);
    let mut p = RequestParser::default();
    assert!(matches!(
        p.parse(msg.as_bytes()),
        Err(ParseError::BadRequest(_))
    ));
}

#[test]
fn header_count_limit() {
    let mut msg = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..99 {
        msg.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    let mut ok = msg.clone();
    ok.extend_from_slice(b"\r\n");
    let (req, _) = complete(&ok);
    assert_eq!(req.headers.len(), 100);
    msg.extend_from_slice(b"X-100: v\r\n\r\n");
    assert_eq!(error(&msg), ParseError::HeadTooLarge);
}

#[test]
fn request_line_limit_is_configurable() {
    let limits = Limits {
        max_request_line: 16,
        ..Limits::default()
    };
    let mut p = RequestParser::new(limits);
    assert!(matches!(
        p.parse(b"GET /ab HTTP/1.1\r\nHost: a\r\n\r\n"),
        Ok(Parsed::Complete { .. })
    ));
    for msg in [
        &b"GET /abc HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"GET /abcdefghijklmnop",
    ] {
        let mut p = RequestParser::new(limits);
        assert_eq!(p.parse(msg), Err(ParseError::TargetTooLong));
        let mut p = RequestParser::new(limits);
        assert_eq!(
            byte_at_a_time(&mut p, msg),
            Some(Err(ParseError::TargetTooLong))
        );
    }
    // A long method, or a long version after a short target, is malformed rather than 414.
    for msg in [
        &b"GETTINGLONGERSTILL / HTTP/1.1\r\n"[..],
        b"GET / HTTP/1.1111111111\r\n",
    ] {
        let mut p = RequestParser::new(limits);
        assert!(
            matches!(p.parse(msg), Err(ParseError::BadRequest(_))),
            "{msg:?}"
        );
    }
}

#[test]
fn request_lines_of_eight_thousand_octets_are_accepted() {
    // RFC 9112 section 3: at least 8,000 octets; the default allows 8 KiB.
    let line_len = Limits::default().max_request_line;
    let target = format!("/{}", "a".repeat(line_len - "GET  HTTP/1.1".len() - 1));
    let msg = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(msg.find('\r'), Some(line_len));
    let (req, _) = complete(msg.as_bytes());
    assert_eq!(req.raw_target, target);
    let mut p = RequestParser::default();
    assert!(matches!(
        byte_at_a_time(&mut p, msg.as_bytes()),
        Some(Ok(_))
    ));
    // One more octet is 414.
    let msg = format!("GET {target}a HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(error(msg.as_bytes()), ParseError::TargetTooLong);
    // A long line leaves the head's other 8 KiB to the header fields; past the head, 431.
    let long_field = format!("X: {}\r\n", "v".repeat(8000));
    let ok = format!("GET {target} HTTP/1.1\r\nHost: a\r\n{long_field}\r\n");
    assert!(ok.len() <= Limits::default().max_head);
    complete(ok.as_bytes());
    let over = format!("GET {target} HTTP/1.1\r\nHost: a\r\n{long_field}{long_field}\r\n");
    assert_eq!(error(over.as_bytes()), ParseError::HeadTooLarge);
}

#[test]
fn bad_request_line_is_reported_before_the_head_ends() {
    let mut p = RequestParser::default();
    assert_eq!(
        p.parse(b"GET / HTTP/2.0\r\nHost: a\r\n"),
        Err(ParseError::VersionNotSupported)
    );
    let mut p = RequestParser::default();
    assert!(matches!(
        p.parse(b"GET / HTTP/1.1\r\nX : y\r\n"),
        Err(ParseError::BadRequest(_))
    ));
}
