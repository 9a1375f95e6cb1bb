//! The download client's decisions: following redirects, stopping, naming the output file.

use ricochet_core::download::follow::{
    may_want_tls, output_name, Failover, FollowError, Follower, KeptHead, Next, Report,
    REDIRECT_ECHO_LIMIT,
};
use ricochet_core::download::resume::Validator;
use ricochet_core::http::body::BodyError;
use ricochet_core::http::exchange::{Event, ResponseReader};
use ricochet_core::http::url::{Url, UrlError};
use ricochet_core::http::write::write_request_head_with;
use ricochet_core::http::BodyKind;

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

#[test]
fn follows_every_redirect_status_resolving_relative_locations() {
    for status in [301, 302, 303, 307, 308] {
        let mut f = Follower::new(url("http://a:8080/dir/page?x"), 10);
        let next = f.handle_response(status, Some(b"../other?y=1")).unwrap();
        assert_eq!(
            next,
            Next::Redirect(url("http://a:8080/other?y=1")),
            "{status}"
        );
        assert_eq!(f.current(), &url("http://a:8080/other?y=1"));
        assert_eq!(f.redirects(), 1);
    }
}

#[test]
fn absolute_and_network_path_locations() {
    let mut f = Follower::new(url("http://balancer:12345/file.bin"), 10);
    assert_eq!(
        f.handle_response(301, Some(b"http://127.0.0.1:11111/file.bin"))
            .unwrap(),
        Next::Redirect(url("http://127.0.0.1:11111/file.bin"))
    );
    assert_eq!(
        f.handle_response(302, Some(b"//[::1]:22222/x")).unwrap(),
        Next::Redirect(url("http://[::1]:22222/x"))
    );
    assert_eq!(f.chain().len(), 3);
}

#[test]
fn other_statuses_are_final_and_only_2xx_is_saved() {
    let mut f = Follower::new(url("http://a/"), 10);
    for (status, next) in [
        (200, Next::Save),
        (204, Next::Save),
        (206, Next::Save),
        (299, Next::Save),
        (300, Next::Refused),
        (304, Next::Refused),
        (305, Next::Refused),
        (404, Next::Refused),
        (500, Next::Refused),
    ] {
        assert_eq!(
            f.handle_response(status, Some(b"/elsewhere")),
            Ok(next),
            "{status}"
        );
    }
    assert_eq!(f.current(), &url("http://a/"));
}

#[test]
fn missing_or_bad_location() {
    let mut f = Follower::new(url("http://a/"), 10);
    assert_eq!(
        f.handle_response(302, None),
        Err(FollowError::MissingLocation(302))
    );
    assert!(matches!(
        f.handle_response(301, Some(b"ftp://a/")),
        Err(FollowError::BadLocation(UrlError::UnsupportedScheme(_)))
    ));
    assert_eq!(
        f.current(),
        &url("http://a/"),
        "errors leave the chain alone"
    );
    assert_eq!(
        FollowError::MissingLocation(302).to_string(),
        "302 redirect without a Location header"
    );
}

#[test]
fn a_location_with_raw_spaces_or_non_ascii_is_encoded() {
    let mut f = Follower::new(url("http://a/"), 10);
    assert_eq!(
        f.handle_response(301, Some("/a b/é".as_bytes())).unwrap(),
        Next::Redirect(url("http://a/a%20b/%C3%A9"))
    );
}

#[test]
fn stops_after_max_redirects() {
    let mut f = Follower::new(url("http://a/0"), 3);
    for i in 1..=3 {
        let loc = format!("/{i}");
        assert!(matches!(
            f.handle_response(301, Some(loc.as_bytes())),
            Ok(Next::Redirect(_))
        ));
    }
    assert_eq!(
        f.handle_response(301, Some(b"/4")),
        Err(FollowError::TooManyRedirects(3))
    );
    let mut none = Follower::new(url("http://a/"), 0);
    assert_eq!(
        none.handle_response(307, Some(b"/x")),
        Err(FollowError::TooManyRedirects(0))
    );
    assert_eq!(none.handle_response(200, None), Ok(Next::Save));
}

#[test]
fn detects_loops() {
    let mut f = Follower::new(url("http://a/x"), 10);
    assert_eq!(
        f.handle_response(301, Some(b"/x")),
        Err(FollowError::Loop(url("http://a/x")))
    );
    let mut f = Follower::new(url("http://a/x"), 10);
    f.handle_response(302, Some(b"http://b/y")).unwrap();
    f.handle_response(302, Some(b"http://c/z")).unwrap();
    let err = f.handle_response(302, Some(b"http://b/y")).unwrap_err();
    assert_eq!(err, FollowError::Loop(url("http://b/y")));
    assert_eq!(
        err.to_string(),
        "redirect loop: http://b/y was already requested"
    );
    // Same path on another port is not a loop.
    let mut f = Follower::new(url("http://a/x"), 10);
    assert!(f.handle_response(301, Some(b"http://a:81/x")).is_ok());
}

#[test]
fn output_names() {
    let cases = [
        ("http://a/file.bin", "file.bin"),
        ("http://a/dir/page.html?x=1", "page.html"),
        ("http://a/", "index.html"),
        ("http://a", "index.html"),
        ("http://a/dir/", "index.html"),
        ("http://a/hello%20world.txt", "hello world.txt"),
        ("http://a/caf%C3%A9", "café"),
        ("http://a/x%2F..%2Fetc%2Fpasswd", "x_.._etc_passwd"),
        ("http://a/..%5C..%5Cevil", ".._.._evil"),
        ("http://a/a%00b%0Ac", "a_b_c"),
        ("http://a/%2e%2e", "index.html"),
        ("http://a/%2e", "index.html"),
        ("http://a/%ff.bin", "\u{fffd}.bin"),
    ];
    for (u, name) in cases {
        assert_eq!(output_name(&url(u)), name, "{u}");
    }
}

fn head(f: &Follower) -> String {
    let mut out = Vec::new();
    let fields: Vec<_> = f.report_field().into_iter().collect();
    write_request_head_with(&mut out, "GET", f.current(), "test", false, &fields);
    String::from_utf8(out).unwrap()
}

/// Client-assisted failover: an unreachable redirect target sends the client back to the URL
/// that redirected it, once per chain, with the target reported in the request.
#[test]
fn an_unreachable_target_is_reported_to_the_url_that_redirected_once() {
    let mut f = Follower::new(url("http://balancer:12345/f?x=1"), 5);
    assert_eq!(
        f.handle_unreachable(),
        None,
        "the first URL: nothing to go back to"
    );
    assert!(!head(&f).contains("Ricochet-Unreachable"));
    f.handle_response(301, Some(b"http://[::1]:8081/f?x=1"))
        .unwrap();
    assert_eq!(
        f.handle_unreachable(),
        Some(Failover {
            url: url("http://balancer:12345/f?x=1"),
            report: Report::Unreachable("[::1]:8081".into()),
        })
    );
    assert_eq!(f.current(), &url("http://balancer:12345/f?x=1"));
    assert_eq!(f.redirects(), 0, "the retry is no redirect");
    assert_eq!(
        head(&f),
        "GET /f?x=1 HTTP/1.1\r\nHost: balancer:12345\r\nUser-Agent: test\r\nAccept: */*\r\n\
         Connection: close\r\nRicochet-Unreachable: [::1]:8081\r\n\r\n"
    );
    // The balancer sends it elsewhere; the report is not repeated there.
    f.handle_response(301, Some(b"http://127.0.0.1:8082/f?x=1"))
        .unwrap();
    assert!(!head(&f).contains("Ricochet-Unreachable"), "{}", head(&f));
    // A second unreachable server in the same chain is final.
    assert_eq!(f.handle_unreachable(), None);
    assert_eq!(f.current(), &url("http://127.0.0.1:8082/f?x=1"));
}

#[test]
fn a_failover_sent_to_the_same_dead_server_again_is_no_loop_but_final() {
    let mut f = Follower::new(url("http://b/x"), 5);
    f.handle_response(302, Some(b"http://dead:1/x")).unwrap();
    assert!(f.handle_unreachable().is_some());
    assert_eq!(
        f.handle_response(302, Some(b"http://dead:1/x")),
        Ok(Next::Redirect(url("http://dead:1/x")))
    );
    assert_eq!(f.handle_unreachable(), None);
}

fn ask_again(to: &str, server: &str) -> Next {
    Next::AskAgain(Failover {
        url: url(to),
        report: Report::Missing(server.into()),
    })
}

/// A 404 or 410 from a server a redirect led to sends the client back to the URL that
/// redirected it, once per chain, with the server reported as missing the file.
#[test]
fn a_404_or_410_where_a_redirect_led_is_reported_to_the_url_that_redirected_once() {
    for status in [404, 410] {
        let mut f = Follower::new(url("http://balancer:12345/f?x=1"), 1);
        assert_eq!(
            f.handle_response(302, Some(b"http://[::1]:8081/f?x=1")),
            Ok(Next::Redirect(url("http://[::1]:8081/f?x=1")))
        );
        let expected = ask_again("http://balancer:12345/f?x=1", "[::1]:8081");
        assert_eq!(f.handle_response(status, None), Ok(expected), "{status}");
        assert_eq!(f.current(), &url("http://balancer:12345/f?x=1"));
        assert_eq!(f.redirects(), 0, "the retry is no redirect");
        assert_eq!(
            head(&f),
            "GET /f?x=1 HTTP/1.1\r\nHost: balancer:12345\r\nUser-Agent: test\r\nAccept: */*\r\n\
             Connection: close\r\nRicochet-Missing: [::1]:8081\r\n\r\n"
        );
        // Sent elsewhere (within the limit of one redirect): the report is not repeated there.
        assert_eq!(
            f.handle_response(302, Some(b"http://127.0.0.1:8082/f?x=1")),
            Ok(Next::Redirect(url("http://127.0.0.1:8082/f?x=1")))
        );
        assert!(!head(&f).contains("Ricochet-"), "{}", head(&f));
        assert_eq!(f.handle_response(200, None), Ok(Next::Save));
    }
}

#[test]
fn a_404_from_the_first_url_or_from_the_server_that_redirected_is_final() {
    let mut f = Follower::new(url("http://balancer/f"), 5);
    assert_eq!(f.handle_response(404, None), Ok(Next::Refused));
    assert!(!head(&f).contains("Ricochet-"), "{}", head(&f));
    // A redirect within one server: reporting it to itself would tell it nothing.
    let mut f = Follower::new(url("http://a:80/dir"), 5);
    f.handle_response(301, Some(b"/dir/")).unwrap();
    f.handle_response(302, Some(b"http://a/dir/file")).unwrap();
    assert_eq!(f.handle_response(410, None), Ok(Next::Refused));
    assert_eq!(f.current(), &url("http://a/dir/file"));
    // Other errors are no report of a missing file.
    for status in [400, 403, 500, 503] {
        let mut f = Follower::new(url("http://balancer/f"), 5);
        f.handle_response(302, Some(b"http://a/f")).unwrap();
        assert_eq!(f.handle_response(status, None), Ok(Next::Refused));
    }
}

/// Never a loop: after one report, the same server again, or another one without the file,
/// ends the chain with its 404.
#[test]
fn after_a_missing_report_the_next_404_is_final_wherever_it_comes_from() {
    let mut f = Follower::new(url("http://balancer/f"), 5);
    f.handle_response(302, Some(b"http://a:1/f")).unwrap();
    assert_eq!(
        f.handle_response(404, None),
        Ok(ask_again("http://balancer/f", "a:1"))
    );
    assert_eq!(
        f.handle_response(302, Some(b"http://a:1/f")),
        Ok(Next::Redirect(url("http://a:1/f"))),
        "the same server again is no redirect loop"
    );
    assert_eq!(f.handle_response(404, None), Ok(Next::Refused));
    assert_eq!(f.current(), &url("http://a:1/f"));

    let mut f = Follower::new(url("http://balancer/f"), 5);
    f.handle_response(302, Some(b"http://a:1/f")).unwrap();
    assert!(matches!(
        f.handle_response(404, None),
        Ok(Next::AskAgain(_))
    ));
    f.handle_response(302, Some(b"http://b:2/f")).unwrap();
    assert_eq!(f.handle_response(410, None), Ok(Next::Refused));
    assert_eq!(f.current(), &url("http://b:2/f"));
}

/// Another attempt (`--retry`) starts the chain afresh, but a server is reported missing at most
/// once per download; the unreachable failover has a budget of its own.
#[test]
fn a_restart_keeps_the_servers_reported_missing_and_resets_the_rest() {
    let mut f = Follower::new(url("http://balancer/f"), 5);
    f.handle_response(302, Some(b"http://dead:1/f")).unwrap();
    assert!(f.handle_unreachable().is_some());
    f.handle_response(302, Some(b"http://a:1/f")).unwrap();
    assert!(matches!(
        f.handle_response(404, None),
        Ok(Next::AskAgain(_))
    ));
    f.handle_response(302, Some(b"http://b:2/f")).unwrap();

    f.restart();
    assert_eq!(f.chain(), &[url("http://balancer/f")]);
    assert!(!head(&f).contains("Ricochet-"), "{}", head(&f));
    f.handle_response(302, Some(b"http://dead:1/f")).unwrap();
    assert!(
        f.handle_unreachable().is_some(),
        "a new attempt may fail over again"
    );
    f.handle_response(302, Some(b"http://a:1/f")).unwrap();
    assert_eq!(
        f.handle_response(404, None),
        Ok(Next::Refused),
        "a:1 was reported in this download already"
    );

    f.restart();
    f.handle_response(302, Some(b"http://b:2/f")).unwrap();
    assert_eq!(
        f.handle_response(404, None),
        Ok(ask_again("http://balancer/f", "b:2"))
    );
}

#[test]
fn https_to_http_is_refused_unless_allowed_and_http_to_https_is_followed() {
    let mut f = Follower::new(url("http://a/"), 10);
    assert_eq!(
        f.handle_response(301, Some(b"https://a/x")),
        Ok(Next::Redirect(url("https://a/x")))
    );
    // A relative Location keeps https.
    assert_eq!(
        f.handle_response(302, Some(b"/y")),
        Ok(Next::Redirect(url("https://a/y")))
    );
    let err = f.handle_response(301, Some(b"http://a/z")).unwrap_err();
    assert_eq!(err, FollowError::Downgrade(url("http://a/z")));
    assert!(err.to_string().contains("https to http://a/z"), "{err}");
    assert_eq!(
        f.current(),
        &url("https://a/y"),
        "unchanged after the refusal"
    );

    let mut allowed = Follower::new(url("https://a/"), 10).allow_downgrade(true);
    assert_eq!(
        allowed.handle_response(301, Some(b"http://a/z")),
        Ok(Next::Redirect(url("http://a/z")))
    );
}

#[test]
fn text_bodies_of_redirects_and_errors_are_printed_bounded_and_2xx_bodies_never() {
    use ricochet_core::download::follow::{echo_limit, REDIRECT_ECHO_LIMIT, REFUSED_ECHO_LIMIT};
    let html: Option<&[u8]> = Some(b"text/html; charset=utf-8");
    assert_eq!(echo_limit(301, html), Some(REDIRECT_ECHO_LIMIT));
    assert_eq!(
        echo_limit(308, Some(b"TEXT/plain")),
        Some(REDIRECT_ECHO_LIMIT)
    );
    assert_eq!(echo_limit(302, None), Some(REDIRECT_ECHO_LIMIT));
    assert_eq!(echo_limit(404, html), Some(REFUSED_ECHO_LIMIT));
    assert_eq!(echo_limit(503, None), Some(REFUSED_ECHO_LIMIT));
    assert_eq!(echo_limit(301, Some(b"application/octet-stream")), None);
    assert_eq!(echo_limit(500, Some(b"image/png")), None);
    assert_eq!(echo_limit(200, html), None);
    assert_eq!(echo_limit(206, None), None);
}

#[test]
fn the_kept_head_picks_the_fields_the_client_decides_on() {
    let raw = b"HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Type: text/plain\r\n\
                ETag: W/\"weak\"\r\nLast-Modified: Tue, 01 Oct 2024 10:00:00 GMT\r\n\
                Content-Length: 12\r\n\r\n";
    let mut reader = ResponseReader::new(false);
    let step = reader.read(raw).unwrap();
    let Some(Event::Head(response)) = step.event else {
        panic!("no head: {:?}", step.event);
    };
    let head = KeptHead::of(&response);
    assert_eq!(head.status, 302);
    assert_eq!(head.reason, "Found");
    assert_eq!(head.location.as_deref(), Some(&b"/next"[..]));
    assert_eq!(head.content_range, None);
    // A weak ETag cannot go into If-Range: the date is the version.
    assert_eq!(
        head.validator,
        Some(Validator::LastModified(
            "Tue, 01 Oct 2024 10:00:00 GMT".to_string()
        ))
    );
    assert_eq!(head.echo_limit(), Some(REDIRECT_ECHO_LIMIT));
    assert_eq!(head.announced_length(), Some(12));
}

#[test]
fn a_connection_broken_mid_body_is_a_truncation_whatever_the_framing() {
    for (body, expected) in [
        (BodyKind::Length(100), Some(100)),
        (BodyKind::Chunked, None),
        (BodyKind::CloseDelimited, None),
    ] {
        let head = KeptHead {
            status: 200,
            reason: "OK".into(),
            location: None,
            content_type: None,
            content_range: None,
            validator: None,
            body,
            keep_alive: true,
            digests: Vec::new(),
            duplicate_links: Vec::new(),
        };
        assert_eq!(
            head.broken_off(40),
            BodyError::Truncated {
                received: 40,
                expected
            },
            "{body:?}"
        );
    }
}

#[test]
fn plain_http_answered_like_a_tls_server_suggests_https() {
    let alert = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32];
    let handshake = [0x16, 0x03, 0x01, 0x00, 0x10];
    for bytes in [&alert[..], &handshake[..], &alert[..1]] {
        assert!(may_want_tls(&url("http://a:9000/"), bytes), "{bytes:?}");
        // Asked over TLS already: the bytes mean something else.
        assert!(!may_want_tls(&url("https://a:9000/"), bytes), "{bytes:?}");
    }
    assert!(!may_want_tls(&url("http://a:9000/"), b"HTTP/1.1 200"));
    assert!(!may_want_tls(&url("http://a:9000/"), &[0x16, 0x02]));
    // Nothing back: only a port TLS usually listens on hints at it.
    assert!(may_want_tls(&url("http://a:443/"), b""));
    assert!(may_want_tls(&url("http://a:8443/"), b""));
    assert!(!may_want_tls(&url("http://a:8080/"), b""));
    assert!(!may_want_tls(&url("https://a/"), b""));
}
