//! Body framing: Content-Length, chunked (extensions, trailers, overflow, every split point),
//! close-delimited, and keeping a keep-alive connection in sync.

use ricochet_core::http::body::{BodyDecoder, BodyError};
use ricochet_core::http::status::Status;
use ricochet_core::http::BodyKind;

/// Decode `input` in pieces of `step` bytes the way a connection would: keep unconsumed bytes,
/// append new ones. Returns the body, whether it finished, and the bytes left after it.
fn decode_in_steps(
    kind: BodyKind,
    input: &[u8],
    step: usize,
) -> Result<(Vec<u8>, bool, Vec<u8>), BodyError> {
    let mut d = BodyDecoder::new(kind);
    let mut body = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    loop {
        if d.is_done() {
            break;
        }
        let out = d.decode(&buf)?;
        body.extend_from_slice(out.data);
        let consumed = out.consumed;
        buf.drain(..consumed);
        if consumed == 0 || buf.is_empty() {
            if fed == input.len() {
                break;
            }
            let end = (fed + step).min(input.len());
            buf.extend_from_slice(&input[fed..end]);
            fed = end;
        }
    }
    assert_eq!(d.received(), body.len() as u64);
    buf.extend_from_slice(&input[fed..]);
    Ok((body, d.is_done(), buf))
}

fn whole(kind: BodyKind, input: &[u8]) -> Result<(Vec<u8>, bool, Vec<u8>), BodyError> {
    decode_in_steps(kind, input, input.len().max(1))
}

#[test]
fn content_length_body_leaves_the_next_request() {
    let (body, done, rest) = whole(BodyKind::Length(5), b"helloGET / HTTP/1.1").unwrap();
    assert_eq!(body, b"hello");
    assert!(done);
    assert_eq!(rest, b"GET / HTTP/1.1");
}

#[test]
fn content_length_data_is_zero_copy() {
    let input = b"abcdef";
    let mut d = BodyDecoder::new(BodyKind::Length(4));
    let out = d.decode(input).unwrap();
    assert_eq!(out.consumed, 4);
    assert!(std::ptr::eq(out.data.as_ptr(), input.as_ptr()));
    assert!(d.is_done());
    let out = d.decode(&input[4..]).unwrap();
    assert_eq!((out.consumed, out.data), (0, &b""[..]));
}

#[test]
fn none_and_zero_length_are_done_at_once() {
    for kind in [BodyKind::None, BodyKind::Length(0)] {
        let mut d = BodyDecoder::new(kind);
        assert!(d.is_done());
        assert_eq!(d.decode(b"next").unwrap().consumed, 0);
        assert_eq!(d.handle_eof(), Ok(()));
    }
}

#[test]
fn truncated_bodies_are_errors_at_eof() {
    let mut d = BodyDecoder::new(BodyKind::Length(10));
    assert_eq!(d.decode(b"abc").unwrap().data, b"abc");
    let e = d.handle_eof().unwrap_err();
    assert_eq!(
        e,
        BodyError::Truncated {
            received: 3,
            expected: Some(10)
        }
    );
    assert_eq!(e.to_string(), "body cut short: received 3 of 10 bytes");
    assert_eq!(d.decode(b"more"), Err(e));

    let mut d = BodyDecoder::new(BodyKind::Chunked);
    d.decode(b"5\r\nab").unwrap();
    assert_eq!(
        d.handle_eof(),
        Err(BodyError::Truncated {
            received: 2,
            expected: None
        })
    );
}

#[test]
fn close_delimited_runs_to_eof() {
    let mut d = BodyDecoder::new(BodyKind::CloseDelimited);
    let out = d.decode(b"anything at all").unwrap();
    assert_eq!(out.consumed, 15);
    assert!(!d.is_done());
    assert_eq!(d.handle_eof(), Ok(()));
    assert!(d.is_done());
    assert_eq!(d.received(), 15);
}

const CHUNKED: &[u8] = b"5;name=value;quoted=\"a b\"\r\nhello\r\n\
1A \t; ext\r\nabcdefghijklmnopqrstuvwxyz\r\n\
000\r\nExpires: never\r\nX-Sum:  42 \r\n\r\nGET /next";

#[test]
fn chunked_with_extensions_and_trailers() {
    let (body, done, rest) = whole(BodyKind::Chunked, CHUNKED).unwrap();
    assert_eq!(body, b"helloabcdefghijklmnopqrstuvwxyz");
    assert!(done);
    assert_eq!(rest, b"GET /next");
}

#[test]
fn chunked_split_at_every_byte_and_every_step() {
    let expected = whole(BodyKind::Chunked, CHUNKED).unwrap();
    for step in 1..CHUNKED.len() {
        assert_eq!(
            decode_in_steps(BodyKind::Chunked, CHUNKED, step).unwrap(),
            expected,
            "step {step}"
        );
    }
    // Two pieces, split at every position.
    for split in 0..CHUNKED.len() {
        let mut d = BodyDecoder::new(BodyKind::Chunked);
        let mut body = Vec::new();
        let first = d.decode(&CHUNKED[..split]).unwrap();
        body.extend_from_slice(first.data);
        let mut buf = CHUNKED[first.consumed..].to_vec();
        while !d.is_done() {
            let out = d.decode(&buf).unwrap();
            assert!(out.consumed > 0, "split {split}: stuck");
            body.extend_from_slice(out.data);
            buf.drain(..out.consumed);
        }
        assert_eq!(
            (body, buf),
            (expected.0.clone(), expected.2.clone()),
            "split {split}"
        );
    }
}

#[test]
fn empty_chunked_body() {
    let (body, done, rest) = whole(BodyKind::Chunked, b"0\r\n\r\n").unwrap();
    assert!(body.is_empty() && done && rest.is_empty());
}

#[test]
fn largest_chunk_size_is_accepted_and_one_more_digit_overflows() {
    let mut d = BodyDecoder::new(BodyKind::Chunked);
    let out = d.decode(b"ffffffffffffffff\r\nab").unwrap();
    assert_eq!(out.data, b"ab");
    let mut d = BodyDecoder::new(BodyKind::Chunked);
    assert_eq!(
        d.decode(b"10000000000000000\r\n"),
        Err(BodyError::ChunkSizeOverflow)
    );
    // Leading zeros do not overflow.
    let mut d = BodyDecoder::new(BodyKind::Chunked);
    assert!(d.decode(b"00000000000000000001\r\nx\r\n").is_ok());
    assert_eq!(d.received(), 1);
}

#[test]
fn chunked_error_table() {
    let cases: &[(&[u8], &str)] = &[
        (b"\r\n", "no size"),
        (b"x\r\n", "not hex"),
        (b"-1\r\n", "negative"),
        (b"0x5\r\n", "0x prefix"),
        (b"5\nhello\r\n", "bare LF after size"),
        (b"5\rhello", "CR without LF"),
        (b"5 x\r\n", "garbage after size"),
        (b"5;a\x01\r\n", "control in extension"),
        (b"5\r\nhelloX\r\n", "data too long"),
        (b"5\r\nhello\n0\r\n\r\n", "bare LF after data"),
        (b"0\r\nbad trailer\r\n\r\n", "trailer without colon"),
        (b"0\r\n: v\r\n\r\n", "trailer without name"),
        (b"0\r\nX: a\x00b\r\n\r\n", "NUL in trailer"),
        (b"0\r\nX: v\n\r\n", "bare LF in trailer"),
        (b"0\r\n\rX", "bad final CRLF"),
        (b"0\r\n X: folded\r\n\r\n", "folded trailer"),
        // RFC 9112 section 7.1: chunk-size [ chunk-ext ] CRLF, nothing else.
        (b"5;\r\nhello\r\n0\r\n\r\n", "semicolon without a name"),
        (b"5; =x\r\nhello\r\n0\r\n\r\n", "extension without a name"),
        (b"5;a@b\r\nhello\r\n0\r\n\r\n", "extension name not a token"),
        (b"5;a=\r\nhello\r\n0\r\n\r\n", "extension without a value"),
        (b"5;a=b c\r\nhello\r\n0\r\n\r\n", "space inside a value"),
        (
            b"5;a=\"b\r\nhello\r\n0\r\n\r\n",
            "unterminated quoted value",
        ),
        (
            b"5;a=\"b\"c\r\nhello\r\n0\r\n\r\n",
            "garbage after a quoted value",
        ),
        (
            b"5;a \r\nhello\r\n0\r\n\r\n",
            "space after a name at the end",
        ),
        (
            b"5 \r\nhello\r\n0\r\n\r\n",
            "trailing space without extension",
        ),
        (
            b"5\t\r\nhello\r\n0\r\n\r\n",
            "trailing tab without extension",
        ),
        (b" 5\r\nhello\r\n0\r\n\r\n", "leading space"),
        (b"+5\r\nhello\r\n0\r\n\r\n", "plus sign"),
        (b"1_0\r\n", "underscore"),
        (b"5\rhello\r\n0\r\n\r\n", "bare CR after size"),
        (b"5;a\rb\r\nhello\r\n", "bare CR in extension"),
        (b"5\0\r\nhello\r\n0\r\n\r\n", "NUL after size"),
        (b"5;a=\0\r\nhello\r\n", "NUL in extension"),
        (b"5;a=\"\0\"\r\nhello\r\n", "NUL in quoted extension"),
        (b"\x005\r\nhello\r\n", "NUL before size"),
        (
            b"5\r\nhello world\r\n0\r\n\r\n",
            "data longer than its size",
        ),
    ];
    for (input, what) in cases {
        let e = whole(BodyKind::Chunked, input).unwrap_err();
        assert!(matches!(e, BodyError::BadChunk(_)), "{what}: {e:?}");
        assert_eq!(e.status(), Status::BAD_REQUEST);
        assert_eq!(
            decode_in_steps(BodyKind::Chunked, input, 1).unwrap_err(),
            e,
            "{what} byte at a time"
        );
    }
}

#[test]
fn extensions_follow_the_grammar() {
    // BWS around `;` and `=`, token and quoted-string values (with quoted-pairs), all skipped.
    let input = b"5 ;a ; b = c;d=\"x\\\"y;z\" \t;e\r\nhello\r\n\
3;f=\"\"\r\nabc\r\n0;g\r\n\r\n";
    let (body, done, rest) = whole(BodyKind::Chunked, input).unwrap();
    assert_eq!(
        (body.as_slice(), done, rest.as_slice()),
        (&b"helloabc"[..], true, &b""[..])
    );
    let (stepped, done, _) = decode_in_steps(BodyKind::Chunked, input, 1).unwrap();
    assert_eq!((stepped, done), (body, true));
}

#[test]
fn a_64_kib_extension_is_refused() {
    let mut input = b"5;a=".to_vec();
    input.extend(std::iter::repeat_n(b'v', 64 * 1024));
    input.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
    let e = whole(BodyKind::Chunked, &input).unwrap_err();
    assert_eq!(
        (e.status(), matches!(e, BodyError::BadChunk(_))),
        (Status::BAD_REQUEST, true)
    );
}

#[test]
fn framing_lines_are_bounded() {
    let mut long_ext = b"1;".to_vec();
    long_ext.extend(std::iter::repeat_n(b'a', 5000));
    let mut d = BodyDecoder::new(BodyKind::Chunked);
    assert!(matches!(d.decode(&long_ext), Err(BodyError::BadChunk(_))));
    // Stays failed.
    assert!(d.decode(b"\r\nx\r\n0\r\n\r\n").is_err());

    let mut trailers = b"0\r\n".to_vec();
    for i in 0..1000 {
        trailers.extend_from_slice(format!("X-{i}: vvvvvvvv\r\n").as_bytes());
    }
    let mut d = BodyDecoder::new(BodyKind::Chunked);
    assert!(matches!(d.decode(&trailers), Err(BodyError::BadChunk(_))));
}

#[test]
fn keep_alive_connection_stays_in_sync_after_a_chunked_request() {
    use ricochet_core::http::request::RequestParser;
    use ricochet_core::http::Parsed;
    let stream = b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n\
GET /after HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut p = RequestParser::default();
    let Ok(Parsed::Complete { value, consumed }) = p.parse(stream) else {
        panic!()
    };
    assert_eq!(value.body, BodyKind::Chunked);
    let (body, done, rest) = whole(value.body, &stream[consumed..]).unwrap();
    assert_eq!((body.as_slice(), done), (&b"wikipedia"[..], true));
    let Ok(Parsed::Complete { value, .. }) = p.parse(&rest) else {
        panic!()
    };
    assert_eq!(value.path(), "/after");
}
