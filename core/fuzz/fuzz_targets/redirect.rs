//! The balancer's redirect builder never panics, and whatever path and query it is given, its
//! answer is exactly one well-formed response whose `Location` is printable ASCII, points at the
//! pool's server (never elsewhere: no open redirect), and whose body is as long as announced;
//! a path that holds a NUL gets 400 instead.
//!
//! The input is a request-target (fed to the real request parser, then to `Redirect::answer`)
//! and, split at the first 0xFF, any text for `Redirect::write` directly; the first byte picks
//! the status, HEAD, keep-alive and whether a query is passed.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rand::RngCore;
use ricochet_core::balance::pool::{Policy, Pool, ServerAddr};
use ricochet_core::balance::redirect::{location, Redirect};
use ricochet_core::balance::verdict::Measurement;
use ricochet_core::http::request::RequestParser;
use ricochet_core::http::response::ResponseParser;
use ricochet_core::http::url::{path_is_malformed, Url};
use ricochet_core::http::{BodyKind, Parsed};
use std::time::{Duration, SystemTime};

const SERVER: &str = "127.0.0.1:8080";

/// Deterministic randomness: the pool has one server, so any value picks it.
struct Zero;

impl RngCore for Zero {
    fn next_u32(&mut self) -> u32 {
        0
    }
    fn next_u64(&mut self) -> u64 {
        0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(0);
    }
}

/// `out` is one complete response: the status, its Location (checked), nothing after the body.
fn check(out: &[u8], status: u16, head_only: bool, expected_location: Option<&str>) {
    let parsed = ResponseParser::default().parse(out, head_only);
    let Ok(Parsed::Complete { value, consumed }) = parsed else {
        panic!(
            "not one response: {parsed:?}\n{}",
            String::from_utf8_lossy(out)
        );
    };
    assert_eq!(value.status, status);
    let locations: Vec<&[u8]> = value
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("location"))
        .map(|h| h.value)
        .collect();
    assert_eq!(locations.len(), 1, "{}", String::from_utf8_lossy(out));
    let loc = locations[0];
    assert!(loc.iter().all(u8::is_ascii_graphic), "{loc:?}");
    let loc = std::str::from_utf8(loc).unwrap();
    if let Some(expected) = expected_location {
        assert_eq!(loc, expected);
    }
    let url = Url::parse(loc).unwrap_or_else(|e| panic!("{loc:?}: {e}"));
    assert_eq!(url.authority(), SERVER, "{loc}");
    let body = &out[consumed..];
    match value.body {
        BodyKind::Length(n) if !head_only => assert_eq!(n, body.len() as u64),
        BodyKind::None if head_only => assert!(body.is_empty()),
        _ if head_only => assert!(body.is_empty()),
        other => panic!("unexpected framing {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let status = [301, 302, 303, 307, 308][usize::from(flags & 7) % 5];
    let head_only = flags & 8 != 0;
    let keep_alive = flags & 16 != 0;
    let with_query = flags & 32 != 0;
    let redirect = Redirect::new(status).unwrap();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(flags) * 1_000_003);
    let (target, free) = match rest.iter().position(|&b| b == 0xff) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };

    // Through the parser and the whole decision, as the balancer runs it.
    let mut pool = Pool::new(vec![ServerAddr::parse(SERVER).unwrap()]);
    let measured = Measurement {
        elapsed: Duration::from_millis(10),
        bytes: 1000,
    };
    pool.record(0, measured);
    let ranking = pool.ranking(Policy::Rank);
    let method = if head_only { "HEAD" } else { "GET" };
    let mut head = format!("{method} ").into_bytes();
    head.extend_from_slice(target);
    head.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    if let Ok(Parsed::Complete { value, .. }) = RequestParser::default().parse(&head) {
        let mut out = Vec::new();
        let answer = redirect.answer(&value, keep_alive, &ranking, &mut Zero, now, &mut out);
        if path_is_malformed(value.path()) {
            // Malformed, as on the file server: 400 and no Location.
            assert_eq!((answer.status, answer.server), (400, None));
            assert!(out.starts_with(b"HTTP/1.1 400 "));
            assert!(!out
                .windows(10)
                .any(|w| w.eq_ignore_ascii_case(b"\nlocation:")));
        } else {
            assert_eq!(answer.server, Some(0));
            let expected = location(&format!("http://{SERVER}"), value.path(), value.query());
            check(&out, status, head_only, Some(&expected));
        }
    }

    // Straight into the writer, with any text as path and query.
    let text = String::from_utf8_lossy(free);
    let (path, query) = match text.split_once('\u{fffd}') {
        Some((p, q)) if with_query => (p, Some(q)),
        _ => (&*text, None),
    };
    let mut out = Vec::new();
    redirect.write(
        &format!("http://{SERVER}"),
        path,
        query,
        head_only,
        keep_alive,
        now,
        &mut out,
    );
    check(&out, status, head_only, None);
});
