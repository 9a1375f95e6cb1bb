//! Our server over raw TCP: pipelining, keep-alive rules, request bodies skipped, error
//! statuses, timeouts and the connection cap.

use ricochet_tests::{raw_exchange, read_until_close, server, status_of, statuses, www};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

/// Everything the server sends until it closes; `None` if it is still open after `limit`.
fn read_to_close(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let end = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return Some(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(got),
            Err(_) => return None,
        }
    }
}

fn file(name: &str) -> Vec<u8> {
    std::fs::read(www().join(name)).unwrap()
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let srv = server(&www(), &[]);
    let requests = b"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n\
        HEAD /logo.png HTTP/1.1\r\nHost: x\r\n\r\n\
        GET /missing HTTP/1.1\r\nHost: x\r\n\r\n\
        GET /photo.jpg HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let got = raw_exchange(srv.addr, requests, T);
    assert_eq!(statuses(&got), vec![200, 200, 404, 200]);
    // The last response carries the JPEG's exact bytes at the very end, and the server closed.
    assert!(got.ends_with(&file("photo.jpg")));
    // The CSS body sits right after the first head.
    let css = file("style.css");
    let text = String::from_utf8_lossy(&got);
    let first_body = text.find("\r\n\r\n").unwrap() + 4;
    assert_eq!(&got[first_body..first_body + css.len()], &css[..]);
}

#[test]
fn a_request_body_is_skipped_and_the_connection_stays_in_sync() {
    let srv = server(&www(), &[]);
    let requests = b"POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello worldGET /about.html HTTP/1.1\r\nHost: x\r\n\r\n\
        PUT /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n\
        GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let got = raw_exchange(srv.addr, requests, T);
    assert_eq!(
        statuses(&got),
        vec![405, 200, 405, 200],
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(String::from_utf8_lossy(&got).contains("Allow: GET, HEAD"));
    assert!(got.ends_with(&file("style.css")));
}

#[test]
fn http10_closes_unless_keep_alive_is_asked() {
    let srv = server(&www(), &[]);
    let started = Instant::now();
    let got = raw_exchange(srv.addr, b"GET /style.css HTTP/1.0\r\n\r\n", T);
    assert_eq!(status_of(&got), Some(200));
    assert!(got.ends_with(&file("style.css")));
    // Closed by the server right away, not after the 60 s idle timeout.
    assert!(started.elapsed() < Duration::from_secs(5));

    // With keep-alive the connection stays open for a second request.
    let mut stream = TcpStream::connect(srv.addr).unwrap();
    stream
        .write_all(b"GET /style.css HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    stream.set_read_timeout(Some(T)).unwrap();
    let mut got = Vec::new();
    while !got.ends_with(&file("style.css")) {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed after a keep-alive HTTP/1.0 request");
        got.extend_from_slice(&buf[..n]);
    }
    stream
        .write_all(b"GET /about.html HTTP/1.0\r\n\r\n")
        .unwrap();
    let rest = read_until_close(&mut stream, T);
    assert_eq!(status_of(&rest), Some(200));
    assert!(rest.ends_with(&file("about.html")));
}

#[test]
fn connection_close_is_honoured() {
    let srv = server(&www(), &[]);
    let started = Instant::now();
    let got = raw_exchange(
        srv.addr,
        b"GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /about.html HTTP/1.1\r\nHost: x\r\n\r\n",
        T,
    );
    assert_eq!(
        statuses(&got),
        vec![200],
        "only the first request is answered"
    );
    assert!(String::from_utf8_lossy(&got).contains("Connection: close"));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn malformed_requests_get_their_status_and_a_closed_connection() {
    let srv = server(&www(), &[]);
    // Past the 8 KiB request line and the 16 KiB head.
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(17000)
    );
    let cases: Vec<(&[u8], u16)> =
        vec![
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (long_target.as_bytes(), 414),
        (big_header.as_bytes(), 431),
        (b"BREW /pot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 501),
        (
            b"DELETE /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            405,
        ),
    ];
    for (request, status) in cases {
        let got = raw_exchange(srv.addr, request, T);
        let shown = String::from_utf8_lossy(&got);
        assert_eq!(
            status_of(&got),
            Some(status),
            "{}: {shown}",
            String::from_utf8_lossy(&request[..20])
        );
        assert!(shown.contains("Content-Type: text/html"), "{shown}");
        assert!(
            shown.contains(&format!("<h1>{status} ")),
            "error page body: {shown}"
        );
    }
}

/// Smoke test over a socket: when these deadlines run and from which byte is decided by the
/// core's connection machine and tested on a fake clock (core/tests/http_connection.rs).
#[test]
fn a_slow_head_gets_408_and_an_idle_connection_is_closed() {
    let srv = server(
        &www(),
        &["--header-timeout", "500ms", "--idle-timeout", "700ms"],
    );
    // Slowloris: a head that never completes.
    let mut stream = TcpStream::connect(srv.addr).unwrap();
    stream
        .write_all(b"GET /index.html HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let got = read_to_close(&mut stream, T).expect("closed after the 408");
    assert_eq!(
        status_of(&got),
        Some(408),
        "{}",
        String::from_utf8_lossy(&got)
    );

    // Idle keep-alive: after one answered request, silence closes the connection quietly.
    let mut stream = TcpStream::connect(srv.addr).unwrap();
    stream
        .write_all(b"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let got = read_to_close(&mut stream, T).expect("closed when idle");
    assert_eq!(statuses(&got), vec![200]);
    assert!(
        got.ends_with(&file("style.css")),
        "no second response, just the close"
    );
}

#[test]
fn the_connection_cap_holds_new_clients_until_a_slot_frees() {
    let srv = server(&www(), &["--max-connections", "1"]);
    let mut first = TcpStream::connect(srv.addr).unwrap();
    first
        .write_all(b"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    first.set_read_timeout(Some(T)).unwrap();
    assert!(first.read(&mut buf).unwrap() > 0);

    // The second client connects (kernel backlog) but is not served while the first is open.
    let mut second = TcpStream::connect(srv.addr).unwrap();
    second
        .write_all(b"GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    second
        .set_read_timeout(Some(Duration::from_millis(600)))
        .unwrap();
    let early = second.read(&mut buf);
    assert!(early.is_err(), "served beyond the cap: {early:?}");

    drop(first);
    let got = read_until_close(&mut second, T);
    assert_eq!(status_of(&got), Some(200));
}

#[test]
fn throttled_responses_take_their_time() {
    let srv = server(&www(), &["--rate", "262144", "--delay", "200"]);
    // probe.bin is 256 KiB: about one second at 256 KiB/s, plus the delay.
    let started = Instant::now();
    let got = raw_exchange(
        srv.addr,
        b"GET /probe.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(20),
    );
    let took = started.elapsed();
    assert!(got.ends_with(&file("probe.bin")));
    assert!(took >= Duration::from_millis(1100), "too fast: {took:?}");
    assert!(took < Duration::from_secs(6), "too slow: {took:?}");
}

#[test]
fn logs_one_line_per_request() {
    let srv = server(&www(), &[]);
    raw_exchange(
        srv.addr,
        b"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\nHEAD /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        T,
    );
    let size = file("style.css").len();
    let deadline = Instant::now() + T;
    loop {
        let log = srv.log_messages();
        let hits: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("\" 200 ") || l.contains("\" 404 "))
            .collect();
        if hits.len() == 2 {
            assert!(hits[0].contains("\"GET /style.css\" 200"), "{log}");
            assert!(hits[0].contains("ms"), "duration missing: {log}");
            // Bytes sent: the head plus the file.
            let bytes: usize = hits[0]
                .split("\" 200 ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(bytes > size, "{log}");
            assert!(hits[1].contains("\"HEAD /nothing\" 404"), "{log}");
            break;
        }
        assert!(Instant::now() < deadline, "log lines missing:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_logged_duration_excludes_keep_alive_idle_time() {
    let srv = server(&www(), &[]);
    let mut stream = TcpStream::connect(srv.addr).unwrap();
    stream.set_read_timeout(Some(T)).unwrap();
    let css = file("style.css");
    let mut buf = vec![0u8; 64 * 1024];
    for (i, path) in ["/style.css", "/style.css?again"].iter().enumerate() {
        if i == 1 {
            std::thread::sleep(Duration::from_millis(600));
        }
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut got = Vec::new();
        while !got.ends_with(&css) {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
    }
    let deadline = Instant::now() + T;
    let line = loop {
        if let Some(line) = srv
            .log_messages()
            .lines()
            .find(|l| l.contains("?again\" 200"))
        {
            break line.to_string();
        }
        assert!(Instant::now() < deadline, "no log line:\n{}", srv.output());
        std::thread::sleep(Duration::from_millis(20));
    };
    let ms: f64 = line
        .rsplit(' ')
        .next()
        .and_then(|d| d.strip_suffix("ms"))
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no duration in {line}"));
    assert!(
        ms < 400.0,
        "idle time counted in the request's duration: {line}"
    );
}

#[test]
fn an_oversized_request_body_is_answered_then_the_connection_closed() {
    let srv = server(&www(), &[]);
    let mut stream = TcpStream::connect(srv.addr).unwrap();
    // 100 MiB announced: the server must not read it all to stay in sync; it answers and closes.
    stream
        .write_all(b"POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n")
        .unwrap();
    stream.write_all(&[b'z'; 64 * 1024]).unwrap();
    let started = Instant::now();
    let got = read_until_close(&mut stream, T);
    let text = String::from_utf8_lossy(&got);
    assert_eq!(statuses(&got), vec![405], "{text}");
    assert!(text.contains("Connection: close"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_non_ascii_if_modified_since_is_ignored_not_fatal() {
    let srv = server(&www(), &[]);
    // 'é' (2 bytes) where "7 " stood: the right length for an IMF-fixdate, with a character
    // boundary off the expected offsets.
    let got = raw_exchange(
        srv.addr,
        b"GET /style.css HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:3\xC3\xA9GMT\r\nConnection: close\r\n\r\n",
        T,
    );
    assert_eq!(
        status_of(&got),
        Some(200),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(got.ends_with(&file("style.css")));
}

/// A client that connects and never sends a byte is not kept forever: the connection is
/// closed quietly (no 408). When is the machine's decision, tested on a fake clock.
#[test]
fn a_connection_that_sends_nothing_is_closed_quietly() {
    let srv = server(&www(), &["--header-timeout", "500ms"]);
    let mut stream = TcpStream::connect(srv.addr).unwrap();
    let got = read_to_close(&mut stream, T).expect("closed");
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    // The server is still there for the next client.
    let mut stream = TcpStream::connect(srv.addr).unwrap();
    stream
        .write_all(b"GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(statuses(&read_until_close(&mut stream, T)), vec![200]);
}
