//! Property tests: no input panics a parser or decoder, chunking never changes a result, and
//! what the writers produce the parsers read back.

use proptest::prelude::*;
use ricochet_core::http::body::BodyDecoder;
use ricochet_core::http::request::{Limits, RequestParser};
use ricochet_core::http::response::ResponseParser;
use ricochet_core::http::write::ResponseHead;
use ricochet_core::http::{BodyKind, Parsed};

/// Feed growing prefixes, ending at `splits` (sorted) and finally the whole input; the first
/// non-Partial result, rendered as a string so different lifetimes compare.
fn request_in_pieces(input: &[u8], splits: &[usize], limits: Limits) -> String {
    let mut p = RequestParser::new(limits);
    for &s in splits.iter().chain(std::iter::once(&input.len())) {
        match p.parse(&input[..s.min(input.len())]) {
            Ok(Parsed::Partial) => continue,
            other => return format!("{other:?}"),
        }
    }
    "Partial".into()
}

fn response_in_pieces(input: &[u8], splits: &[usize], head: bool) -> String {
    let mut p = ResponseParser::new(512);
    for &s in splits.iter().chain(std::iter::once(&input.len())) {
        match p.parse(&input[..s.min(input.len())], head) {
            Ok(Parsed::Partial) => continue,
            other => return format!("{other:?}"),
        }
    }
    "Partial".into()
}

/// Run a body decoder over `input` delivered in pieces; the decoded body, the leftover, and the
/// error if any, as a string.
fn body_in_pieces(kind: BodyKind, input: &[u8], splits: &[usize]) -> String {
    let mut d = BodyDecoder::new(kind);
    let mut body = Vec::new();
    let mut buf = Vec::new();
    let mut fed = 0;
    for &s in splits.iter().chain(std::iter::once(&input.len())) {
        let s = s.clamp(fed, input.len());
        buf.extend_from_slice(&input[fed..s]);
        fed = s;
        while !d.is_done() && !buf.is_empty() {
            match d.decode(&buf) {
                Ok(out) if out.consumed == 0 => break,
                Ok(out) => {
                    body.extend_from_slice(out.data);
                    let n = out.consumed;
                    buf.drain(..n);
                }
                Err(e) => return format!("error {e:?}"),
            }
        }
    }
    format!(
        "{body:?} {buf:?} done={} eof={:?}",
        d.is_done(),
        d.handle_eof()
    )
}

/// Realistic messages with a few bytes replaced by troublesome ones.
fn mutated(base: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    let nasty = prop::sample::select(&b"\r\n\0\t :;,/?#*\x7f\xff0aZ-"[..]);
    prop::collection::vec((any::<prop::sample::Index>(), nasty), 0..4).prop_map(move |edits| {
        let mut m = base.to_vec();
        for (i, b) in edits {
            let i = i.index(m.len());
            m[i] = b;
        }
        m
    })
}

const REQUEST: &[u8] = b"POST /a/b?c=d HTTP/1.1\r\nHost: example.com:8080\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\nX-A: v\r\n\r\n";
const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\nX-A: v\r\n\r\n";
const CHUNKED: &[u8] = b"3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\nrest";

fn splits() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..200, 0..8).prop_map(|mut v| {
        v.sort_unstable();
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// A date header is peer input too: arbitrary bytes, and valid dates with one byte
    /// replaced (by a multi-byte UTF-8 character, say), never panic the date parser.
    #[test]
    fn http_dates_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..40),
        at in 0usize..29,
        with in prop_oneof![Just("\u{e9}"), Just("\u{20ac}"), Just("x")],
    ) {
        let _ = ricochet_core::http::date::parse_http_date(&bytes);
        for valid in ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                      "Sun Nov  6 08:49:37 1994"] {
            let mut mutated = valid.to_string();
            // Same byte length, so the length checks pass and the offsets are exercised.
            if at + with.len() <= mutated.len() {
                mutated.replace_range(at..at + with.len(), with);
            }
            let _ = ricochet_core::http::date::parse_http_date(mutated.as_bytes());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..300), head in any::<bool>()) {
        let _ = RequestParser::default().parse(&input);
        let _ = ResponseParser::default().parse(&input, head);
        for kind in [BodyKind::Chunked, BodyKind::Length(17), BodyKind::CloseDelimited, BodyKind::None] {
            let _ = body_in_pieces(kind, &input, &[]);
        }
    }

    #[test]
    fn request_chunking_never_changes_the_result(input in mutated(REQUEST), s in splits()) {
        let limits = Limits { max_request_line: 20, max_head: 100, max_headers: 3 };
        prop_assert_eq!(request_in_pieces(&input, &s, limits), request_in_pieces(&input, &[], limits));
        let limits = Limits::default();
        prop_assert_eq!(request_in_pieces(&input, &s, limits), request_in_pieces(&input, &[], limits));
    }

    #[test]
    fn request_chunking_on_random_bytes(input in prop::collection::vec(any::<u8>(), 0..200), s in splits()) {
        let limits = Limits { max_request_line: 16, max_head: 64, max_headers: 2 };
        prop_assert_eq!(request_in_pieces(&input, &s, limits), request_in_pieces(&input, &[], limits));
    }

    #[test]
    fn response_chunking_never_changes_the_result(input in mutated(RESPONSE), s in splits(), head in any::<bool>()) {
        prop_assert_eq!(response_in_pieces(&input, &s, head), response_in_pieces(&input, &[], head));
    }

    #[test]
    fn body_chunking_never_changes_the_result(input in mutated(CHUNKED), s in splits()) {
        for kind in [BodyKind::Chunked, BodyKind::Length(9)] {
            prop_assert_eq!(body_in_pieces(kind, &input, &s), body_in_pieces(kind, &input, &[]));
        }
    }

    #[test]
    fn response_write_then_parse(
        status in 100u16..1000,
        headers in prop::collection::vec(("X-[A-Za-z0-9!#$%&'*+.^_`|~-]{0,12}", "[ -~\t]{0,40}"), 0..10),
        length in any::<u64>(),
    ) {
        let mut head = ResponseHead::new(status).header("Content-Length", length.to_string());
        for (n, v) in &headers {
            let name: &'static str = Box::leak(n.clone().into_boxed_str());
            head = head.header(name, v.clone());
        }
        let mut out = Vec::new();
        head.write(&mut out).unwrap();
        out.extend_from_slice(b"body");
        let Ok(Parsed::Complete { value, consumed }) = ResponseParser::default().parse(&out, false) else {
            panic!("did not parse: {:?}", String::from_utf8_lossy(&out));
        };
        prop_assert_eq!(&out[consumed..], b"body");
        prop_assert_eq!(value.status, status);
        prop_assert_eq!(value.reason, ricochet_core::http::status::reason_phrase(status));
        prop_assert_eq!(value.headers.len(), headers.len() + 1);
        for (h, (n, v)) in value.headers[1..].iter().zip(&headers) {
            prop_assert_eq!(h.name, n.as_str());
            prop_assert_eq!(h.value, v.trim_matches([' ', '\t']).as_bytes());
        }
        let expected = if status < 200 || status == 204 || status == 304 { BodyKind::None } else { BodyKind::Length(length) };
        prop_assert_eq!(value.body, expected);
    }

    #[test]
    fn request_write_then_parse(
        method in "[A-Z]{1,8}",
        path in "(/[A-Za-z0-9._~%!$&'()*+,;=:@-]{0,10}){1,4}",
        query in prop::option::of("[A-Za-z0-9._~%!$&'()*+,;=:@/?-]{0,20}"),
        headers in prop::collection::vec(("X-[A-Za-z0-9-]{0,12}", "[!-~]([ -~\t]{0,30}[!-~])?"), 0..10),
        http10 in any::<bool>(),
    ) {
        prop_assume!(method != "CONNECT");
        let target = match &query { Some(q) => format!("{path}?{q}"), None => path.clone() };
        let version = if http10 { "HTTP/1.0" } else { "HTTP/1.1" };
        let mut out = format!("{method} {target} {version}\r\nHost: h:1\r\n");
        for (n, v) in &headers {
            out.push_str(&format!("{n}:{v}\r\n"));
        }
        out.push_str("\r\n");
        let Ok(Parsed::Complete { value, consumed }) = RequestParser::default().parse(out.as_bytes()) else {
            panic!("did not parse: {out:?}");
        };
        prop_assert_eq!(consumed, out.len());
        prop_assert_eq!(value.method, method.as_str());
        prop_assert_eq!(value.raw_target, target.as_str());
        prop_assert_eq!(value.path(), path.as_str());
        prop_assert_eq!(value.query(), query.as_deref());
        prop_assert_eq!(value.headers.len(), headers.len() + 1);
        for (h, (n, v)) in value.headers[1..].iter().zip(&headers) {
            prop_assert_eq!(h.name, n.as_str());
            prop_assert_eq!(h.value, v.as_bytes());
        }
    }

    #[test]
    fn chunked_encode_then_decode(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..40), 0..6),
        s in splits(),
    ) {
        let mut wire = Vec::new();
        for c in &chunks {
            wire.extend_from_slice(format!("{:x};e=1\r\n", c.len()).as_bytes());
            wire.extend_from_slice(c);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\nX-T: 1\r\n\r\nnext");
        let expected: Vec<u8> = chunks.concat();
        let r = body_in_pieces(BodyKind::Chunked, &wire, &s);
        prop_assert_eq!(r, format!("{expected:?} {:?} done=true eof=Ok(())", b"next".to_vec()));
    }
}
