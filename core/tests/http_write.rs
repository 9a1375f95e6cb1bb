//! Head writers and HTTP dates.

use ricochet_core::http::date::{http_date, parse_http_date};
use ricochet_core::http::response::ResponseParser;
use ricochet_core::http::write::{
    write_options_response, write_request_head, ResponseHead, WriteError,
};
use ricochet_core::http::{BodyKind, Parsed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn writes_a_redirect_head() {
    let head = ResponseHead::new(301)
        .header("Date", http_date(at(784_111_777)))
        .header("Location", "http://b.example:8080/x")
        .header("Content-Length", "0");
    let mut out = b"previous".to_vec();
    head.write(&mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "previousHTTP/1.1 301 Moved Permanently\r\n\
Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
Location: http://b.example:8080/x\r\n\
Content-Length: 0\r\n\r\n"
    );
}

#[test]
fn unknown_status_gets_an_empty_reason_and_still_parses() {
    let mut out = Vec::new();
    ResponseHead::new(599)
        .header("Content-Length", "0")
        .write(&mut out)
        .unwrap();
    assert!(out.starts_with(b"HTTP/1.1 599 \r\n"));
    let Ok(Parsed::Complete { value, .. }) = ResponseParser::default().parse(&out, false) else {
        panic!()
    };
    assert_eq!(
        (value.status, value.reason, value.body),
        (599, "", BodyKind::Length(0))
    );
}

#[test]
fn refuses_header_splitting_and_writes_nothing() {
    for bad in [
        "a\r\nSet-Cookie: x",
        "a\nb",
        "a\rb",
        "a\0b",
        "a\x01b",
        "a\x7f",
    ] {
        let mut out = b"kept".to_vec();
        let head = ResponseHead::new(200).header("Ok", "fine").header("X", bad);
        assert_eq!(
            head.write(&mut out),
            Err(WriteError::InvalidHeaderValue),
            "{bad:?}"
        );
        assert_eq!(out, b"kept");
    }
    let mut out = Vec::new();
    assert!(ResponseHead::new(200)
        .header("Bad Name", "v")
        .write(&mut out)
        .is_err());
    assert!(ResponseHead::new(1000).write(&mut out).is_err());
    assert!(ResponseHead::new(99).write(&mut out).is_err());
    assert!(out.is_empty());
    // HTAB inside a value is allowed.
    assert!(ResponseHead::new(200)
        .header("X", "a\tb")
        .write(&mut out)
        .is_ok());
}

#[test]
fn http_date_known_values() {
    assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(http_date(at(784_111_777)), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(http_date(at(951_782_400)), "Tue, 29 Feb 2000 00:00:00 GMT");
    assert_eq!(
        http_date(at(4_102_444_799)),
        "Thu, 31 Dec 2099 23:59:59 GMT"
    );
    assert_eq!(
        http_date(at(1_700_000_000) + Duration::from_millis(999)),
        "Tue, 14 Nov 2023 22:13:20 GMT"
    );
    assert_eq!(
        http_date(UNIX_EPOCH - Duration::from_secs(5)),
        "Thu, 01 Jan 1970 00:00:00 GMT"
    );
}

#[test]
fn parses_all_three_date_forms() {
    let t = Some(at(784_111_777));
    assert_eq!(parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT"), t);
    assert_eq!(parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT"), t);
    assert_eq!(parse_http_date(b"Sun Nov  6 08:49:37 1994"), t);
    assert_eq!(
        parse_http_date(b"Thursday, 01-Jan-37 00:00:00 GMT"),
        Some(at(2_114_380_800))
    );
    assert_eq!(
        parse_http_date(b"Tue, 29 Feb 2000 00:00:00 GMT"),
        Some(at(951_782_400))
    );
    assert_eq!(
        parse_http_date(b"Thu Feb 29 00:00:00 2024"),
        Some(at(1_709_164_800))
    );
    assert_eq!(
        parse_http_date(b"Wed, 31 Dec 1969 23:59:59 GMT"),
        Some(UNIX_EPOCH - Duration::from_secs(1))
    );
}

#[test]
fn rejects_malformed_dates() {
    for bad in [
        &b""[..],
        b"Sun, 06 Nov 1994 08:49:37 UTC",
        b"Sun, 6 Nov 1994 08:49:37 GMT",
        b"sun, 06 Nov 1994 08:49:37 GMT",
        b"Sun, 06 nov 1994 08:49:37 GMT",
        b"Xyz, 06 Nov 1994 08:49:37 GMT",
        b"Sun, 06 Nov 1994 08:49:37 GMT ",
        b"Sun, 31 Nov 1994 08:49:37 GMT",
        b"Sun, 29 Feb 1900 08:49:37 GMT",
        b"Sun, 00 Nov 1994 08:49:37 GMT",
        b"Sun, 06 Nov 1994 24:00:00 GMT",
        b"Sun, 06 Nov 1994 08:60:00 GMT",
        b"Sun, 06 Nov 1994 08:49:61 GMT",
        b"Sun, 06 Nov 1994 08-49-37 GMT",
        b"Sun, 06 Nov +994 08:49:37 GMT",
        b"Sunday, 06-Nov-1994 08:49:37 GMT",
        b"Sun Nov 6 08:49:37 1994",
        b"Sun, 06 Nov 1994 08:49:37 GMT\xff",
        b"1994-11-06T08:49:37Z",
    ] {
        assert_eq!(
            parse_http_date(bad),
            None,
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn date_round_trip_over_two_centuries() {
    let mut t = 0u64;
    while t < 7_000_000_000 {
        let s = http_date(at(t));
        assert_eq!(parse_http_date(s.as_bytes()), Some(at(t)), "{s}");
        t += 86_400 * 13 + 3_607;
    }
}

#[test]
fn request_head_round_trips_through_the_parser() {
    use ricochet_core::http::request::RequestParser;
    let u = ricochet_core::http::url::Url::parse("http://[::1]:8080/a%20b?q=1").unwrap();
    let mut out = Vec::new();
    write_request_head(&mut out, "GET", &u, "ricochet/0.1", false);
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        "GET /a%20b?q=1 HTTP/1.1\r\nHost: [::1]:8080\r\nUser-Agent: ricochet/0.1\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    let Ok(Parsed::Complete { value, consumed }) = RequestParser::default().parse(&out) else {
        panic!()
    };
    assert_eq!(consumed, out.len());
    assert_eq!(
        (value.path(), value.query(), value.keep_alive),
        ("/a%20b", Some("q=1"), false)
    );

    let u = ricochet_core::http::url::Url::parse("http://example.com/").unwrap();
    let mut out = Vec::new();
    write_request_head(&mut out, "HEAD", &u, "bad\r\nX: y", true);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HEAD / HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"
    );
}

#[test]
fn options_answer_is_204_with_allow_and_no_length() {
    for keep_alive in [true, false] {
        let mut out = Vec::new();
        write_options_response(&mut out, at(784_111_777), keep_alive);
        let Ok(Parsed::Complete { value, consumed }) = ResponseParser::default().parse(&out, false)
        else {
            panic!("{}", String::from_utf8_lossy(&out))
        };
        assert_eq!(consumed, out.len(), "nothing after the head");
        assert_eq!((value.status, value.reason), (204, "No Content"));
        assert_eq!(value.body, BodyKind::None);
        assert_eq!(value.keep_alive, keep_alive);
        let header = |name| {
            value
                .headers
                .iter()
                .find(|h| h.name == name)
                .map(|h| h.value)
        };
        assert_eq!(header("Allow"), Some(&b"GET, HEAD, OPTIONS"[..]));
        assert_eq!(header("Date"), Some(&b"Sun, 06 Nov 1994 08:49:37 GMT"[..]));
        assert_eq!(header("Content-Length"), None);
    }
}

#[test]
fn extra_request_fields_go_before_the_blank_line_and_unsafe_ones_are_left_out() {
    let u = ricochet_core::http::url::Url::parse("http://example.com/f").unwrap();
    let mut out = Vec::new();
    ricochet_core::http::write::write_request_head_with(
        &mut out,
        "GET",
        &u,
        "",
        false,
        &[
            ("Range", b"bytes=10-"),
            ("X-Bad", b"a\r\nInjected: 1"),
            ("If-Range", b"\"t\""),
        ],
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "GET /f HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nConnection: close\r\n\
         Range: bytes=10-\r\nIf-Range: \"t\"\r\n\r\n"
    );
}
