//! The client-side response reader: every split of the byte stream gives the same events; 1xx
//! interim responses are handed out and skipped; HEAD, 204 and 304 have no body; chunked and
//! close-delimited bodies; a short body is an error that says how short; and what the client
//! and the prober decide from what was read.

use ricochet_core::balance::verdict::ProbeFailure;
use ricochet_core::download::follow::{Follower, Next};
use ricochet_core::http::body::BodyError;
use ricochet_core::http::exchange::{Event, ReadError, ResponseReader};
use ricochet_core::http::response::ResponseError;
use ricochet_core::http::url::Url;
use std::time::Duration;

/// What a user of the reader sees, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    interim: Vec<u16>,
    status: Option<u16>,
    location: Option<Vec<u8>>,
    body: Vec<u8>,
    ended: bool,
    error: Option<ReadError>,
    /// Bytes after the end of the response, left unconsumed.
    left: usize,
}

/// Feed `input` cut at `cuts` (increasing offsets) the way a connection would: keep what the
/// reader did not consume, append the next piece, call again; end of stream after the last.
fn read_split(head_request: bool, input: &[u8], cuts: &[usize]) -> Seen {
    let mut reader = ResponseReader::new(head_request);
    let mut seen = Seen {
        interim: vec![],
        status: None,
        location: None,
        body: vec![],
        ended: false,
        error: None,
        left: 0,
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut pieces = cuts
        .iter()
        .copied()
        .chain([input.len()])
        .scan(0, |from, to| {
            let piece = &input[*from..to];
            *from = to;
            Some(piece)
        });
    loop {
        let step = match reader.read(&buf) {
            Ok(step) => step,
            Err(e) => {
                seen.error = Some(e);
                return seen;
            }
        };
        let consumed = step.consumed;
        let need_more = step.event.is_none();
        match step.event {
            Some(Event::Interim(r)) => seen.interim.push(r.status),
            Some(Event::Head(r)) => {
                seen.status = Some(r.status);
                seen.location = r.header("location").map(<[u8]>::to_vec);
            }
            Some(Event::Data(d)) => {
                assert!(!d.is_empty(), "an empty Data event");
                seen.body.extend_from_slice(d);
            }
            Some(Event::End) => {
                seen.ended = true;
                buf.drain(..consumed);
                seen.left = buf.len() + pieces.map(<[u8]>::len).sum::<usize>();
                assert_eq!(reader.received(), seen.body.len() as u64);
                return seen;
            }
            None => {}
        }
        buf.drain(..consumed);
        if need_more {
            match pieces.next() {
                Some(piece) => buf.extend_from_slice(piece),
                None => {
                    if let Err(e) = reader.handle_eof(&buf) {
                        seen.error = Some(e);
                        return seen;
                    }
                }
            }
        }
    }
}

/// Every way of cutting `input` in two and three pieces, and one byte at a time: all must
/// read the same as the whole input at once, which is returned.
fn read_every_split(head_request: bool, input: &[u8]) -> Seen {
    let whole = read_split(head_request, input, &[]);
    let bytewise: Vec<usize> = (1..input.len()).collect();
    assert_eq!(
        read_split(head_request, input, &bytewise),
        whole,
        "byte at a time"
    );
    for a in 0..=input.len() {
        assert_eq!(read_split(head_request, input, &[a]), whole, "cut at {a}");
    }
    let step = (input.len() / 40).max(1);
    for a in (0..=input.len()).step_by(step) {
        for b in (a..=input.len()).step_by(step) {
            assert_eq!(
                read_split(head_request, input, &[a, b]),
                whole,
                "cuts at {a}, {b}"
            );
        }
    }
    whole
}

#[test]
fn a_content_length_body_reads_the_same_at_every_split() {
    let seen = read_every_split(
        false,
        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world",
    );
    assert_eq!(seen.status, Some(200));
    assert_eq!(seen.body, b"hello world");
    assert!(seen.ended);
    assert_eq!(seen.error, None);
}

#[test]
fn interim_responses_are_handed_out_then_skipped() {
    let seen = read_every_split(
        false,
        b"HTTP/1.1 100 Continue\r\n\r\n\
          HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n\
          HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    );
    assert_eq!(seen.interim, vec![100, 103]);
    assert_eq!(seen.status, Some(200));
    assert_eq!(seen.body, b"ok");
    assert!(seen.ended);
}

#[test]
fn a_101_without_an_upgrade_request_is_an_error() {
    let seen = read_split(
        false,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
        &[],
    );
    assert_eq!(seen.error, Some(ReadError::UnexpectedSwitch));
}

#[test]
fn a_head_response_has_no_body_whatever_it_announces() {
    let input = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n";
    let seen = read_every_split(true, input);
    assert_eq!(seen.status, Some(200));
    assert!(seen.ended);
    assert!(seen.body.is_empty());
    // The same bytes answering a GET: the body is missing.
    let get = read_split(false, input, &[]);
    assert_eq!(
        get.error,
        Some(ReadError::Body(BodyError::Truncated {
            received: 0,
            expected: Some(5000)
        }))
    );
}

#[test]
fn no_content_and_not_modified_end_at_their_head() {
    for status in ["204 No Content", "304 Not Modified"] {
        let input = format!("HTTP/1.1 {status}\r\nContent-Length: 10\r\n\r\nNEXT");
        let seen = read_every_split(false, input.as_bytes());
        assert!(seen.ended, "{status}");
        assert!(seen.body.is_empty(), "{status}");
        assert_eq!(
            seen.left, 4,
            "{status}: bytes after the head are not its body"
        );
    }
}

#[test]
fn a_chunked_body_with_extensions_and_trailers_reads_at_every_split() {
    let seen = read_every_split(
        false,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;name=value\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: x\r\n\r\nNEXT",
    );
    assert_eq!(seen.body, b"hello world");
    assert!(seen.ended);
    assert_eq!(seen.left, 4);
}

#[test]
fn a_close_delimited_body_ends_at_end_of_stream() {
    let seen = read_every_split(
        false,
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
    );
    assert_eq!(seen.body, b"until the end");
    assert!(seen.ended);
    assert_eq!(seen.error, None);
}

#[test]
fn a_short_content_length_body_is_an_error_that_says_how_short() {
    let seen = read_every_split(false, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    assert_eq!(seen.body, b"abc");
    let error = seen.error.expect("a short body is an error");
    assert!(error.is_truncation());
    assert_eq!(
        error,
        ReadError::Body(BodyError::Truncated {
            received: 3,
            expected: Some(10)
        })
    );
    assert!(error.to_string().contains("3 of 10"), "{error}");
}

#[test]
fn a_chunked_body_cut_before_its_last_chunk_is_truncated() {
    let seen = read_every_split(
        false,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
    );
    assert_eq!(seen.body, b"abc");
    assert!(seen.error.is_some_and(|e| e.is_truncation()));
}

#[test]
fn a_connection_closed_early_says_where() {
    let nothing = read_split(false, b"", &[]);
    assert_eq!(nothing.error, Some(ReadError::NoResponse));
    let half = read_split(false, b"HTTP/1.1 200 OK\r\nContent-Le", &[]);
    assert_eq!(half.error, Some(ReadError::HeadCut));
    let after_interim = read_split(false, b"HTTP/1.1 100 Continue\r\n\r\n", &[]);
    assert_eq!(after_interim.error, Some(ReadError::HeadCut));
}

#[test]
fn malformed_input_is_an_error_and_stays_one() {
    let mut reader = ResponseReader::new(false);
    let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    let head = reader.read(bad).unwrap();
    assert!(matches!(head.event, Some(Event::Head(_))));
    let consumed = head.consumed;
    let err = reader.read(&bad[consumed..]).unwrap_err();
    assert!(matches!(err, ReadError::Body(BodyError::BadChunk(_))));
    assert_eq!(reader.read(b"0\r\n\r\n"), Err(err));

    let mut reader = ResponseReader::with_max_head(false, 64);
    let long = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(100));
    assert_eq!(
        reader.read(long.as_bytes()),
        Err(ReadError::Head(ResponseError::HeadTooLarge))
    );
}

#[test]
fn end_repeats_and_consumes_nothing() {
    let mut reader = ResponseReader::new(false);
    let input = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nrest";
    let head = reader.read(input).unwrap();
    let at = head.consumed;
    for _ in 0..2 {
        let end = reader.read(&input[at..]).unwrap();
        assert_eq!(end.event, Some(Event::End));
        assert_eq!(end.consumed, 0);
    }
    assert!(reader.is_done());
}

/// The client's decision from a read response: follow the redirect's Location, save a 2xx.
#[test]
fn a_redirect_read_through_the_reader_is_followed_to_its_location() {
    let mut follower = Follower::new(Url::parse("http://a:8080/dir/old").unwrap(), 5);
    let seen = read_every_split(
        false,
        b"HTTP/1.1 301 Moved Permanently\r\nLocation: ../new?x=1\r\n\
          Content-Type: text/html\r\nContent-Length: 5\r\n\r\nmoved",
    );
    assert_eq!(seen.body, b"moved");
    let next = follower.handle_response(seen.status.unwrap(), seen.location.as_deref());
    assert_eq!(
        next,
        Ok(Next::Redirect(Url::parse("http://a:8080/new?x=1").unwrap()))
    );
    let last = read_every_split(false, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(
        follower.handle_response(last.status.unwrap(), None),
        Ok(Next::Save)
    );
}

/// Read all of `input` at once, then judge it as a probe.
fn probe_verdict(input: &[u8]) -> Result<u64, ProbeFailure> {
    let mut reader = ResponseReader::new(false);
    let mut at = 0;
    let mut failure = None;
    loop {
        match reader.read(&input[at..]) {
            Ok(step) => {
                at += step.consumed;
                match step.event {
                    Some(Event::End) => break,
                    Some(_) => {}
                    None => match reader.handle_eof(&input[at..]) {
                        Ok(()) => {}
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    },
                }
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    ricochet_core::balance::verdict::verdict(&reader, failure.as_ref(), Duration::from_millis(5))
        .map(|m| m.bytes)
}

#[test]
fn a_probe_is_judged_on_status_length_and_framing() {
    assert_eq!(
        probe_verdict(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"),
        Ok(3)
    );
    assert_eq!(
        probe_verdict(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"),
        Ok(2)
    );
    assert_eq!(probe_verdict(b"HTTP/1.0 200 OK\r\n\r\nabcd"), Ok(4));
    assert_eq!(
        probe_verdict(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz"
        ),
        Ok(1)
    );
    assert_eq!(
        probe_verdict(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
        Err(ProbeFailure::WrongLength {
            expected: 10,
            received: 3
        })
    );
    // Judged on the status alone, whatever follows.
    assert_eq!(
        probe_verdict(b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\n"),
        Err(ProbeFailure::Status(404))
    );
    assert_eq!(
        probe_verdict(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab"),
        Err(ProbeFailure::Truncated)
    );
    assert_eq!(
        probe_verdict(b"HTTP/1.1 200 OK\r\nContent-Le"),
        Err(ProbeFailure::Truncated)
    );
    assert!(matches!(
        probe_verdict(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
        Err(ProbeFailure::Malformed(_))
    ));
    assert_eq!(probe_verdict(b""), Err(ProbeFailure::NoResponse));
}

#[test]
fn a_probe_is_decided_by_a_head_that_is_not_200_before_its_body_arrives() {
    // The prober stops reading there: a mirror sending a large error page costs no download.
    let decided = |head: &[u8]| {
        let mut reader = ResponseReader::new(false);
        let step = reader.read(head).expect("a valid head");
        assert_eq!(step.consumed, head.len());
        ricochet_core::balance::verdict::decided(&reader)
    };
    assert!(decided(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 9000000\r\n\r\n"
    ));
    assert!(decided(
        b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 5\r\n\r\n"
    ));
    assert!(!decided(
        b"HTTP/1.1 200 OK\r\nContent-Length: 9000000\r\n\r\n"
    ));
    assert!(
        !ricochet_core::balance::verdict::decided(&ResponseReader::new(false)),
        "no head yet"
    );
}
