//! The balancer's answers as bytes: redirects, 503, 405/501, parse errors. Requests come from
//! the real request parser; responses are checked with the real response parser, so a header
//! split would show.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use ricochet_core::balance::pool::{Policy, Pool, Ranking, ServerAddr};
use ricochet_core::balance::redirect::{
    html_escape, location, Answer, NotARedirect, Redirect, DEFAULT_RETRY_AFTER,
};
use ricochet_core::balance::verdict::Measurement;
use ricochet_core::http::error_page::{self, Reply};
use ricochet_core::http::request::{Request, RequestParser};
use ricochet_core::http::response::ResponseParser;
use ricochet_core::http::status::Status;
use ricochet_core::http::{BodyKind, Parsed};
use std::time::{Duration, SystemTime};

const NOW: u64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(NOW)
}

fn ranking(servers: &[&str]) -> Ranking {
    let mut pool = Pool::new(
        servers
            .iter()
            .map(|s| ServerAddr::parse(s).unwrap())
            .collect(),
    );
    for i in 0..servers.len() {
        pool.record(
            i,
            Measurement {
                elapsed: Duration::from_millis(10 * (i as u64 + 1)),
                bytes: 1000,
            },
        );
    }
    pool.ranking(Policy::Rank)
}

fn parse_request(raw: &[u8]) -> Request<'_> {
    match RequestParser::default().parse(raw) {
        Ok(Parsed::Complete { value, .. }) => value,
        other => panic!("{other:?}"),
    }
}

/// Answer `raw` with `redirect` against `ranking`; returns the answer and the bytes.
fn answer(redirect: &Redirect, raw: &str, ranking: &Ranking) -> (Answer, Vec<u8>) {
    let request = parse_request(raw.as_bytes());
    let mut rng = StdRng::seed_from_u64(1);
    let mut out = Vec::new();
    let keep_alive = request.keep_alive;
    let a = redirect.answer(&request, keep_alive, ranking, &mut rng, now(), &mut out);
    (a, out)
}

struct Parsed2 {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    body_kind: BodyKind,
}

impl Parsed2 {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn parse_response(bytes: &[u8], head_request: bool) -> Parsed2 {
    let mut parser = ResponseParser::new(64 * 1024);
    match parser.parse(bytes, head_request) {
        Ok(Parsed::Complete { value, consumed }) => Parsed2 {
            status: value.status,
            headers: value
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8(h.value.to_vec()).unwrap(),
                    )
                })
                .collect(),
            body: bytes[consumed..].to_vec(),
            body_kind: value.body,
        },
        other => panic!("{other:?}: {}", String::from_utf8_lossy(bytes)),
    }
}

const GET: &str = "GET /www/file.bin?x=1 HTTP/1.1\r\nHost: balancer:12345\r\n\r\n";

#[test]
fn redirect_response_is_complete() {
    let r = ranking(&["127.0.0.1:11111"]);
    let (a, bytes) = answer(&Redirect::default(), GET, &r);
    assert_eq!(
        a,
        Answer {
            status: 301,
            keep_alive: true,
            server: Some(0),
            unreachable: None,
            body_bytes: a.body_bytes,
        }
    );
    assert!(bytes.starts_with(b"HTTP/1.1 301 Moved Permanently\r\n"));
    let p = parse_response(&bytes, false);
    assert_eq!(
        a.body_bytes,
        p.body.len() as u64,
        "the body the access log counts"
    );
    assert_eq!(p.status, 301);
    assert_eq!(
        p.header("Location"),
        Some("http://127.0.0.1:11111/www/file.bin?x=1")
    );
    assert_eq!(p.header("Cache-Control"), Some("no-store"));
    assert_eq!(p.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(p.header("Date"), Some("Sun, 06 Nov 1994 08:49:37 GMT"));
    assert_eq!(p.body_kind, BodyKind::Length(p.body.len() as u64));
    assert_eq!(p.header("Connection"), Some("keep-alive"));
    let body = String::from_utf8(p.body).unwrap();
    assert!(
        body.contains("<a href=\"http://127.0.0.1:11111/www/file.bin?x=1\">"),
        "{body}"
    );
}

#[test]
fn every_redirect_status_and_only_those() {
    let r = ranking(&["[::1]:22222"]);
    for (status, line) in [
        (301, "HTTP/1.1 301 Moved Permanently\r\n"),
        (302, "HTTP/1.1 302 Found\r\n"),
        (303, "HTTP/1.1 303 See Other\r\n"),
        (307, "HTTP/1.1 307 Temporary Redirect\r\n"),
        (308, "HTTP/1.1 308 Permanent Redirect\r\n"),
    ] {
        let redirect = Redirect::new(status).unwrap();
        assert_eq!(redirect.status(), status);
        let (a, bytes) = answer(&redirect, GET, &r);
        assert_eq!(a.status, status);
        assert!(bytes.starts_with(line.as_bytes()));
        assert_eq!(
            parse_response(&bytes, false).header("Location"),
            Some("http://[::1]:22222/www/file.bin?x=1")
        );
    }
    for bad in [200, 300, 304, 305, 306, 309, 404, 0] {
        assert_eq!(Redirect::new(bad), Err(NotARedirect(bad)));
    }
    assert_eq!(
        NotARedirect(200).to_string(),
        "200 is not a redirect status: use 301, 302, 303, 307 or 308"
    );
}

#[test]
fn the_target_host_never_comes_from_the_request() {
    let r = ranking(&["127.0.0.1:11111"]);
    let raw = "GET http://evil.example/steal?q HTTP/1.1\r\nHost: evil.example\r\n\r\n";
    let (_, bytes) = answer(&Redirect::default(), raw, &r);
    let p = parse_response(&bytes, false);
    assert_eq!(p.header("Location"), Some("http://127.0.0.1:11111/steal?q"));
    let raw = "GET //evil.example/x HTTP/1.1\r\nHost: b\r\n\r\n";
    let (_, bytes) = answer(&Redirect::default(), raw, &r);
    // A network-path-looking path stays a path on the pool's server.
    assert_eq!(
        parse_response(&bytes, false).header("Location"),
        Some("http://127.0.0.1:11111//evil.example/x")
    );
}

#[test]
fn location_encoding() {
    let base = "http://127.0.0.1:11111";
    let cases: [(&str, Option<&str>, &str); 9] = [
        ("/a b", None, "http://127.0.0.1:11111/a%20b"),
        (
            "/x\r\nSet-Cookie: evil=1",
            None,
            "http://127.0.0.1:11111/x%0D%0ASet-Cookie:%20evil=1",
        ),
        ("/100%", None, "http://127.0.0.1:11111/100%25"),
        ("/%41%zz", None, "http://127.0.0.1:11111/%41%25zz"),
        ("/café", None, "http://127.0.0.1:11111/caf%C3%A9"),
        (
            "/s",
            Some("q=a b&r=é#frag"),
            "http://127.0.0.1:11111/s?q=a%20b&r=%C3%A9%23frag",
        ),
        ("/s", Some(""), "http://127.0.0.1:11111/s?"),
        (
            "/<script>\"x\"",
            None,
            "http://127.0.0.1:11111/%3Cscript%3E%22x%22",
        ),
        ("", None, "http://127.0.0.1:11111/"),
    ];
    for (path, query, expected) in cases {
        assert_eq!(location(base, path, query), expected, "{path:?} {query:?}");
    }
}

#[test]
fn injected_crlf_cannot_split_the_head() {
    let redirect = Redirect::default();
    let mut out = Vec::new();
    redirect.write(
        "http://127.0.0.1:11111",
        "/x\r\nSet-Cookie: a=b\r\n\r\n<html>",
        Some("y\nz"),
        false,
        true,
        now(),
        &mut out,
    );
    let p = parse_response(&out, false);
    assert!(p.header("Set-Cookie").is_none());
    assert_eq!(
        p.header("Location"),
        Some("http://127.0.0.1:11111/x%0D%0ASet-Cookie:%20a=b%0D%0A%0D%0A%3Chtml%3E?y%0Az")
    );
    let body = String::from_utf8(p.body).unwrap();
    assert!(!body.contains("<html>\""), "{body}");
}

#[test]
fn a_nul_or_a_broken_escape_in_the_path_is_a_bad_request_as_on_the_file_server() {
    let r = ranking(&["127.0.0.1:11111"]);
    for (method, path) in [
        ("GET", "/path%00.html"),
        ("HEAD", "/path%00.html"),
        ("GET", "/a/%00"),
        ("GET", "http://x/b%00"),
        // A `%` that starts no escape: redirected as `%25` it would name another path.
        ("GET", "/100%"),
        ("GET", "/%41%zz"),
        ("HEAD", "/a%g1/b"),
    ] {
        let raw = format!("{method} {path}?q=1 HTTP/1.1\r\nHost: b\r\n\r\n");
        let (a, bytes) = answer(&Redirect::default(), &raw, &r);
        let p = parse_response(&bytes, method == "HEAD");
        let expected = Answer {
            status: 400,
            keep_alive: false,
            server: None,
            unreachable: None,
            body_bytes: p.body.len() as u64,
        };
        assert_eq!(a, expected, "{raw}");
        assert_eq!(p.status, 400, "{raw}");
        assert_eq!(p.header("Location"), None, "{raw}");
        assert_eq!(p.header("Connection"), Some("close"), "{raw}");
        assert_eq!(p.body.is_empty(), method == "HEAD", "{raw}");
    }
    // `%2500` is the text `%00`, and a NUL in the query names no path: both are redirected.
    for target in ["/path%2500.html", "/path?q=%00"] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: b\r\n\r\n");
        let (a, bytes) = answer(&Redirect::default(), &raw, &r);
        assert_eq!((a.status, a.server), (301, Some(0)), "{raw}");
        let location = format!("http://127.0.0.1:11111{target}");
        let p = parse_response(&bytes, false);
        assert_eq!(p.header("Location"), Some(location.as_str()));
    }
}

#[test]
fn html_in_the_body_is_escaped() {
    assert_eq!(html_escape("a&b<c>\"d'e"), "a&amp;b&lt;c&gt;&quot;d&#39;e");
    let r = ranking(&["127.0.0.1:11111"]);
    let raw = "GET /a?x=1&y='2' HTTP/1.1\r\nHost: b\r\n\r\n";
    let (_, bytes) = answer(&Redirect::default(), raw, &r);
    let body = String::from_utf8(parse_response(&bytes, false).body).unwrap();
    assert!(
        body.contains("href=\"http://127.0.0.1:11111/a?x=1&amp;y=&#39;2&#39;\""),
        "{body}"
    );
}

#[test]
fn head_gets_the_same_head_and_no_body() {
    let r = ranking(&["127.0.0.1:11111"]);
    let (_, get) = answer(&Redirect::default(), GET, &r);
    let head_raw = GET.replacen("GET", "HEAD", 1);
    let (a, head) = answer(&Redirect::default(), &head_raw, &r);
    assert_eq!(a.status, 301);
    let g = parse_response(&get, false);
    let h = parse_response(&head, true);
    assert!(h.body.is_empty(), "HEAD: no body");
    assert_eq!(g.headers, h.headers, "same head");
    assert!(
        h.header("Content-Length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 0
    );
}

#[test]
fn unavailable_when_no_server_is_live() {
    let empty = Ranking::empty(Policy::Rank);
    let (a, bytes) = answer(&Redirect::default(), GET, &empty);
    assert_eq!(
        a,
        Answer {
            status: 503,
            keep_alive: true,
            server: None,
            unreachable: None,
            body_bytes: a.body_bytes,
        }
    );
    let p = parse_response(&bytes, false);
    assert_eq!(
        a.body_bytes,
        p.body.len() as u64,
        "the body the access log counts"
    );
    assert_eq!(p.status, 503);
    assert_eq!(
        p.header("Retry-After"),
        Some(DEFAULT_RETRY_AFTER.to_string().as_str())
    );
    assert_eq!(p.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert!(p.header("Location").is_none());
    let body = String::from_utf8(p.body).unwrap();
    assert!(body.contains("<h1>503 Service Unavailable</h1>"), "{body}");

    let redirect = Redirect::new(307).unwrap().with_retry_after(5);
    let head_raw = GET.replacen("GET", "HEAD", 1);
    let (_, bytes) = answer(&redirect, &head_raw, &empty);
    let p = parse_response(&bytes, true);
    assert_eq!(p.header("Retry-After"), Some("5"));
    assert!(p.body.is_empty());
}

#[test]
fn other_methods() {
    let r = ranking(&["127.0.0.1:11111"]);
    for m in ["POST", "PUT", "DELETE", "PATCH", "TRACE"] {
        let raw = format!("{m} / HTTP/1.1\r\nHost: b\r\n\r\n");
        let (a, bytes) = answer(&Redirect::default(), &raw, &r);
        assert_eq!(a.status, 405, "{m}");
        assert_eq!(a.server, None);
        let p = parse_response(&bytes, false);
        assert_eq!(p.header("Allow"), Some("GET, HEAD, OPTIONS"));
        assert!(p.header("Location").is_none());
    }
    // OPTIONS, for the whole server or one path: 204 listing the methods, no body, no redirect.
    for raw in [
        "OPTIONS * HTTP/1.1\r\nHost: b\r\n\r\n",
        "OPTIONS /a?b HTTP/1.1\r\nHost: b\r\n\r\n",
    ] {
        let (a, bytes) = answer(&Redirect::default(), raw, &r);
        assert_eq!(
            (a.status, a.server, a.keep_alive),
            (204, None, true),
            "{raw}"
        );
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 204 No Content\r\n"), "{text}");
        assert!(text.contains("\r\nAllow: GET, HEAD, OPTIONS\r\n"), "{text}");
        assert!(!text.contains("Content-Length"), "{text}");
        assert!(!text.contains("Location"), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "no body: {text}");
    }
    let (a, bytes) = answer(
        &Redirect::default(),
        "BREW /pot HTTP/1.1\r\nHost: b\r\n\r\n",
        &r,
    );
    assert_eq!(a.status, 501);
    assert!(bytes.starts_with(b"HTTP/1.1 501 Not Implemented\r\n"));
}

#[test]
fn connection_handling() {
    let r = ranking(&["127.0.0.1:11111"]);
    let cases = [
        ("GET / HTTP/1.1\r\nHost: b\r\n\r\n", true),
        (
            "GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n",
            false,
        ),
        ("GET / HTTP/1.0\r\n\r\n", false),
        ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        // A body is the connection machine's business (it skips a small one): the answer
        // says what the request asked for.
        (
            "POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\n\r\n",
            true,
        ),
        (
            "POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 0\r\n\r\n",
            true,
        ),
    ];
    for (raw, keep) in cases {
        let (a, bytes) = answer(&Redirect::default(), raw, &r);
        assert_eq!(a.keep_alive, keep, "{raw:?}");
        let p = parse_response(&bytes, false);
        let expected = if keep { "keep-alive" } else { "close" };
        assert_eq!(p.header("Connection"), Some(expected), "{raw:?}");
    }
}

#[test]
fn parse_errors_and_timeouts_close() {
    let mut parser = RequestParser::default();
    let err = parser
        .parse(b"GET / HTTP/2.0\r\nHost: b\r\n\r\n")
        .unwrap_err();
    let mut out = Vec::new();
    // The shell would keep the connection: the page closes it anyway.
    let open = Reply {
        keep_alive: true,
        head_only: false,
    };
    assert!(!error_page::write(err.status(), open, now(), &[], &mut out).keep_alive);
    let p = parse_response(&out, false);
    assert_eq!(p.status, 505);
    assert_eq!(p.header("Connection"), Some("close"));

    let mut out = Vec::new();
    let keep_alive =
        error_page::write(Status::REQUEST_TIMEOUT, open, now(), &[], &mut out).keep_alive;
    assert!(!keep_alive, "408 always closes");
    assert!(out.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"));
}

#[test]
fn picks_follow_the_ranking() {
    // 3 servers: the redirect targets follow the 1:2:3 shares.
    let r = ranking(&["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]);
    let request = parse_request(GET.as_bytes());
    let mut rng = StdRng::seed_from_u64(42);
    let mut counts = [0usize; 3];
    let mut out = Vec::new();
    for _ in 0..6000 {
        out.clear();
        let a = Redirect::default().answer(&request, true, &r, &mut rng, now(), &mut out);
        counts[a.server.unwrap()] += 1;
        let loc = parse_response(&out, false)
            .header("Location")
            .unwrap()
            .to_string();
        assert_eq!(
            loc,
            format!(
                "http://127.0.0.1:{}/www/file.bin?x=1",
                a.server.unwrap() + 1
            )
        );
    }
    // Server 0 is fastest (10 ms) here.
    assert!(counts[0] > counts[1] && counts[1] > counts[2], "{counts:?}");
}

/// A client that could not reach a server names it in `Ricochet-Unreachable`: it is sent
/// elsewhere while another server is live, and the answer names the reported server for a
/// verification probe. Names that are not live servers change nothing.
#[test]
fn an_unreachable_report_sends_the_client_to_another_server() {
    let servers = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"];
    let r = ranking(&servers);
    let raw = "GET /f HTTP/1.1\r\nHost: b\r\nricochet-unreachable:  127.0.0.1:1 \r\n\r\n";
    let request = parse_request(raw.as_bytes());
    let mut rng = StdRng::seed_from_u64(9);
    let mut out = Vec::new();
    let mut counts = [0usize; 3];
    for _ in 0..3000 {
        out.clear();
        let a = Redirect::default().answer(&request, true, &r, &mut rng, now(), &mut out);
        assert_eq!(a.unreachable, Some(0));
        counts[a.server.unwrap()] += 1;
        let response = parse_response(&out, false);
        assert_eq!(response.status, 301);
        assert!(!response
            .header("Location")
            .unwrap()
            .starts_with("http://127.0.0.1:1/"));
    }
    assert_eq!(counts[0], 0, "{counts:?}");
    assert!(counts[1] > counts[2], "shares kept: {counts:?}");

    // Unknown, malformed or removed servers: an ordinary answer, nothing to verify.
    for value in [
        "127.0.0.1:9",
        "nonsense",
        "http://127.0.0.1:1/",
        "",
        "127.0.0.1:1:1",
    ] {
        let raw = format!("GET /f HTTP/1.1\r\nHost: b\r\nRicochet-Unreachable: {value}\r\n\r\n");
        let (a, _) = answer(&Redirect::default(), &raw, &r);
        assert_eq!(a.unreachable, None, "{value}");
        assert!(a.server.is_some());
    }
    // The only live server: nowhere else to go, so the client gets it again.
    let single = ranking(&["127.0.0.1:1"]);
    let (a, _) = answer(
        &Redirect::default(),
        "GET / HTTP/1.1\r\nHost: b\r\nRicochet-Unreachable: 127.0.0.1:1\r\n\r\n",
        &single,
    );
    assert_eq!((a.server, a.unreachable), (Some(0), Some(0)));
    // No server: 503 as usual.
    let (a, out) = answer(
        &Redirect::default(),
        "GET / HTTP/1.1\r\nHost: b\r\nRicochet-Unreachable: 127.0.0.1:1\r\n\r\n",
        &Ranking::empty(Policy::Rank),
    );
    assert_eq!((a.status, a.unreachable), (503, None));
    assert_eq!(parse_response(&out, false).status, 503);
    // Without the header, nothing is reported.
    let (a, _) = answer(&Redirect::default(), GET, &r);
    assert_eq!(a.unreachable, None);

    // A server given as a URL is reported by its host:port, like any other.
    let urls = ranking(&["https://127.0.0.1:1/pub/", "https://127.0.0.1:2/pub/"]);
    let (a, out) = answer(
        &Redirect::default(),
        "GET /f HTTP/1.1\r\nHost: b\r\nRicochet-Unreachable: 127.0.0.1:1\r\n\r\n",
        &urls,
    );
    assert_eq!((a.server, a.unreachable), (Some(1), Some(0)));
    let response = parse_response(&out, false);
    assert_eq!(
        response.header("Location").unwrap(),
        "https://127.0.0.1:2/pub/f"
    );
}

proptest! {
    #[test]
    fn any_path_gives_one_clean_location(path in proptest::collection::vec(any::<u8>(), 0..40),
                                          query in proptest::option::of("\\PC{0,20}")) {
        let path = String::from_utf8_lossy(&path).into_owned();
        let mut out = Vec::new();
        Redirect::default().write("http://[::1]:8080", &path, query.as_deref(), false, false, now(), &mut out);
        let p = parse_response(&out, false);
        let loc = p.header("Location").unwrap();
        prop_assert!(loc.starts_with("http://[::1]:8080/"));
        prop_assert!(loc.bytes().all(|b| b.is_ascii_graphic()));
        prop_assert!(!loc.contains('#'));
        prop_assert_eq!(p.headers.len(), 6);
        prop_assert_eq!(p.body_kind, BodyKind::Length(p.body.len() as u64));
    }
}
