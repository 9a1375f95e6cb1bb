//! Strict framing as RFC 9112 words it, over raw TCP against `server` and `balancer`: long
//! request lines, empty Host, Transfer-Encoding whose final coding is not chunked, chunk-line
//! grammar, NUL/CR/LF in the path, empty lines before a request, Expect and 100 Continue (raw and
//! with curl), OPTIONS, request bodies read alike by both.
//!
//! Every refusal must also end the connection: each bad request is followed by a valid one on
//! the same connection, which must never be answered.

use ricochet_tests::{
    bin, raw_exchange, read_until_close, require, run, server, statuses, www, Spawned, TempDir,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

/// A valid request pipelined after each bad one; answering it would mean the stream stayed open.
const NEXT: &str = "GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n";

/// Our server and a balancer in front of it, once the balancer has ranked the server.
struct Pair {
    server: Spawned,
    balancer: Spawned,
}

impl Pair {
    fn start() -> Pair {
        let server = server(&www(), &[]);
        let mut cmd = Command::new(bin("balancer"));
        cmd.args(["--listen", "127.0.0.1:0"])
            .arg(server.addr.to_string())
            .env("RICOCHET_LOG", "info");
        let balancer = Spawned::start(cmd);
        balancer.wait_for("new ranking", Duration::from_secs(5));
        Pair { server, balancer }
    }

    fn both(&self) -> [(&'static str, &Spawned); 2] {
        [("server", &self.server), ("balancer", &self.balancer)]
    }
}

/// Send `request` then [`NEXT`]; the statuses answered and whether the peer closed in time.
fn exchange(peer: &Spawned, request: &[u8]) -> (Vec<u16>, String) {
    let mut bytes = request.to_vec();
    bytes.extend_from_slice(NEXT.as_bytes());
    let started = Instant::now();
    let got = raw_exchange(peer.addr, &bytes, T);
    assert!(started.elapsed() < T, "the connection was left open");
    (statuses(&got), String::from_utf8_lossy(&got).into_owned())
}

/// `request` is answered `status` and nothing else: the connection closes after it.
fn refused(name: &str, peer: &Spawned, request: &[u8], status: u16) {
    let (got, text) = exchange(peer, request);
    assert_eq!(
        got,
        vec![status],
        "{name}: {:?}\n{text}",
        String::from_utf8_lossy(&request[..request.len().min(60)])
    );
}

/// The status of `request` sent alone with `Connection: close` semantics left to the caller.
fn status(peer: &Spawned, request: &[u8]) -> Vec<u16> {
    statuses(&raw_exchange(peer.addr, request, T))
}

/// What each peer answers a well-formed GET: the server the file, the balancer a redirect.
fn ok_status(name: &str) -> u16 {
    if name == "server" {
        200
    } else {
        301
    }
}

#[test]
fn request_lines_up_to_8_kib_are_served_and_longer_ones_are_414_or_400() {
    let pair = Pair::start();
    // An 8,000-octet request line: the target names no file, but it is read (404), or
    // redirected by the balancer (301), never 414.
    let target = format!("/{}", "a".repeat(8000 - "GET  HTTP/1.1".len() - 1));
    let line = format!("GET {target} HTTP/1.1");
    assert_eq!(line.len(), 8000);
    let accepted = format!("{line}\r\nHost: x\r\nConnection: close\r\n\r\n");
    for (name, peer) in pair.both() {
        let expected = if name == "server" { 404 } else { 301 };
        assert_eq!(status(peer, accepted.as_bytes()), vec![expected], "{name}");
        let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
        refused(name, peer, long_target.as_bytes(), 414);
        let long_method = format!("{} / HTTP/1.1\r\nHost: x\r\n\r\n", "G".repeat(9000));
        refused(name, peer, long_method.as_bytes(), 400);
        // 431 only for the header fields: past the 16 KiB head.
        let big_field = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "b".repeat(17000)
        );
        refused(name, peer, big_field.as_bytes(), 431);
        // A long line still leaves room for ordinary fields.
        let long_and_fields = format!(
            "{line}\r\nHost: x\r\nUser-Agent: {}\r\nConnection: close\r\n\r\n",
            "u".repeat(4000)
        );
        assert_eq!(
            status(peer, long_and_fields.as_bytes()),
            vec![expected],
            "{name}"
        );
    }
}

#[test]
fn the_line_and_head_limits_are_flags() {
    let limits = ["--max-request-line", "100", "--max-head", "300"];
    let server = server(&www(), &limits);
    let mut cmd = Command::new(bin("balancer"));
    cmd.args(["--listen", "127.0.0.1:0"])
        .args(limits)
        .arg(server.addr.to_string());
    let balancer = Spawned::start(cmd);
    balancer.wait_for("new ranking", Duration::from_secs(5));
    for (name, peer) in [("server", &server), ("balancer", &balancer)] {
        let fits = format!(
            "GET /{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "a".repeat(80)
        );
        let expected = if name == "server" { 404 } else { 301 };
        assert_eq!(status(peer, fits.as_bytes()), vec![expected], "{name}");
        let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(100));
        refused(name, peer, long.as_bytes(), 414);
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
            "b".repeat(300)
        );
        refused(name, peer, big.as_bytes(), 431);
    }
}

#[test]
fn empty_host_is_400_and_a_second_host_too() {
    let pair = Pair::start();
    for (name, peer) in pair.both() {
        refused(name, peer, b"GET / HTTP/1.1\r\nHost:\r\n\r\n", 400);
        refused(name, peer, b"GET / HTTP/1.1\r\nHost: \r\n\r\n", 400);
        refused(
            name,
            peer,
            b"GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n",
            400,
        );
    }
}

#[test]
fn transfer_encoding_not_ending_in_chunked_is_400_and_an_unknown_coding_before_it_501() {
    let pair = Pair::start();
    for (name, peer) in pair.both() {
        for request in [
            &b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\
              Transfer-Encoding: gzip\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\
              Content-Length: 5\r\n\r\nhello",
        ] {
            refused(name, peer, request, 400);
        }
        refused(
            name,
            peer,
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            501,
        );
    }
}

#[test]
fn malformed_chunk_lines_are_400_and_close() {
    let pair = Pair::start();
    let big_extension = format!("5;a={}\r\nhello\r\n0\r\n\r\n", "v".repeat(64 * 1024));
    let bodies: Vec<&[u8]> = vec![
        b"5;\r\nhello\r\n0\r\n\r\n",
        b"5; =x\r\nhello\r\n0\r\n\r\n",
        b"5;a@b\r\nhello\r\n0\r\n\r\n",
        b"5 \r\nhello\r\n0\r\n\r\n",
        b" 5\r\nhello\r\n0\r\n\r\n",
        b"+5\r\nhello\r\n0\r\n\r\n",
        b"0x5\r\nhello\r\n0\r\n\r\n",
        b"1_0\r\nhello\r\n0\r\n\r\n",
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"5\rhello\r\n0\r\n\r\n",
        b"5\0\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhello world\r\n0\r\n\r\n",
    ];
    for (name, peer) in pair.both() {
        for body in &bodies {
            let mut request =
                b"POST /index.html HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    .to_vec();
            request.extend_from_slice(body);
            refused(name, peer, &request, 400);
        }
        // Well-formed extensions are skipped and the stream stays in sync.
        let (got, text) = exchange(
            peer,
            b"POST /index.html HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
              5 ; a = \"b c\" ;d\r\nhello\r\n0\r\n\r\nGET /about.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(got, vec![405, ok_status(name)], "{name}: {text}");
    }
    // The balancer answers from the head: a body that spans reads fails after its answer (405)
    // went out, and then the connection just closes: one request, one answer.
    let mut request =
        b"POST /index.html HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    request.extend_from_slice(big_extension.as_bytes());
    refused("server", &pair.server, &request, 400);
    refused("balancer", &pair.balancer, &request, 405);
}

#[test]
fn nul_cr_or_lf_in_the_decoded_path_is_400() {
    let srv = server(&www(), &[]);
    for path in [
        "/%00",
        "/index.html%00.txt",
        "/a/%00/../index.html",
        "/a%0d%0aSet-Cookie:%20x",
        "/a%0A",
        // Not NUL/CR/LF, but the same route-level 400, which must close as well.
        "/%zz",
    ] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        refused("server", &srv, request.as_bytes(), 400);
    }
}

#[test]
fn a_few_empty_lines_before_a_request_are_skipped_more_are_400() {
    let pair = Pair::start();
    for (name, peer) in pair.both() {
        let four =
            b"\r\n\r\n\r\n\r\nGET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        assert_eq!(status(peer, four), vec![ok_status(name)], "{name}");
        refused(
            name,
            peer,
            b"\r\n\r\n\r\n\r\n\r\nGET /style.css HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        );
        // Between pipelined requests too.
        let pipelined = b"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n\r\n\r\n\
            GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        assert_eq!(
            status(peer, pipelined),
            vec![ok_status(name), ok_status(name)],
            "{name}"
        );
    }
}

#[test]
fn an_expectation_other_than_100_continue_is_417() {
    let pair = Pair::start();
    for (name, peer) in pair.both() {
        refused(
            name,
            peer,
            b"GET / HTTP/1.1\r\nHost: x\r\nExpect: the-unexpected\r\n\r\n",
            417,
        );
        refused(
            name,
            peer,
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue, x\r\nContent-Length: 1\r\n\r\nx",
            417,
        );
        // 100-continue on a GET without a body: nothing to wait for, the answer comes at once.
        let got = status(
            peer,
            b"GET /style.css HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(got, vec![ok_status(name)], "{name}");
    }
}

#[test]
fn options_gets_204_with_the_allowed_methods_and_the_connection_goes_on() {
    let pair = Pair::start();
    for (name, peer) in pair.both() {
        let got = raw_exchange(
            peer.addr,
            b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n\
              OPTIONS /no/such/page HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            T,
        );
        assert_eq!(statuses(&got), vec![204, 204, ok_status(name)], "{name}");
        let text = String::from_utf8_lossy(&got);
        let first = &text[..text.find("\r\n\r\n").unwrap() + 4];
        assert!(
            first.contains("\r\nAllow: GET, HEAD, OPTIONS\r\n"),
            "{name}: {first}"
        );
        assert!(!first.contains("Content-Length"), "{name}: {first}");
        // Another method RFC 9110 defines: 405, listing the same methods.
        let got = raw_exchange(
            peer.addr,
            b"DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            T,
        );
        let text = String::from_utf8_lossy(&got);
        assert_eq!(statuses(&got), vec![405], "{name}: {text}");
        assert!(
            text.contains("\r\nAllow: GET, HEAD, OPTIONS\r\n"),
            "{name}: {text}"
        );
    }
}

#[test]
fn curl_options_sees_204_and_allow() {
    if !require("curl") {
        return;
    }
    let pair = Pair::start();
    for (name, peer) in pair.both() {
        let url = format!("{}/docs/", peer.url);
        let ran = run(
            Command::new("curl").args(["-sS", "-i", "--max-time", "10", "-X", "OPTIONS", &url]),
            T,
        );
        assert_eq!(ran.code(), 0, "{name}: {}", ran.stderr);
        assert!(
            ran.stdout.starts_with("HTTP/1.1 204 No Content\r\n"),
            "{name}: {}",
            ran.stdout
        );
        assert!(
            ran.stdout.contains("\r\nAllow: GET, HEAD, OPTIONS\r\n"),
            "{name}: {}",
            ran.stdout
        );
    }
}

/// Read from `stream` until `what` has arrived (bounded by [`T`]); everything read.
fn read_until(stream: &mut TcpStream, what: &[u8]) -> Vec<u8> {
    let end = Instant::now() + T;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(what.len()).any(|w| w == what) {
        let left = end.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out: {}",
            String::from_utf8_lossy(&got)
        );
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

#[test]
fn expect_100_continue_gets_100_before_a_body_we_read_and_the_final_status_at_once_otherwise() {
    let pair = Pair::start();
    for (name, peer) in pair.both() {
        // A small body on a GET, which is served: 100 Continue comes before the body is sent,
        // then the answer, and the connection goes on.
        let mut stream = TcpStream::connect(peer.addr).unwrap();
        stream
            .write_all(
                b"GET /style.css HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
            )
            .unwrap();
        let interim = read_until(&mut stream, b"\r\n\r\n");
        assert!(
            interim.starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"),
            "{name}: {}",
            String::from_utf8_lossy(&interim)
        );
        stream
            .write_all(b"helloGET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut got = interim;
        got.extend_from_slice(&read_until_close(&mut stream, T));
        assert_eq!(
            statuses(&got),
            vec![100, ok_status(name), ok_status(name)],
            "{name}"
        );

        // A small body for a refused method: the 405 at once, without 100, then the
        // connection closes (the client may or may not send the body).
        let started = Instant::now();
        let got = raw_exchange(
            peer.addr,
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
            T,
        );
        assert_eq!(statuses(&got), vec![405], "{name}");
        assert!(
            started.elapsed() < T,
            "{name}: the connection was left open"
        );

        // A body too large to read: the final status at once, without 100, then the
        // connection closes although the body never came.
        let started = Instant::now();
        let got = raw_exchange(
            peer.addr,
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10000000\r\n\r\n",
            T,
        );
        assert_eq!(statuses(&got), vec![405], "{name}");
        assert!(
            started.elapsed() < T,
            "{name}: the connection was left open"
        );

        // HTTP/1.0 knows no 100: the body is read without it.
        let got = raw_exchange(
            peer.addr,
            b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
            T,
        );
        assert_eq!(statuses(&got), vec![405], "{name}");
    }
}

/// Run curl's POST of `size` bytes with `Expect: 100-continue` and a 100 timeout far longer than
/// its `--max-time`: a server that neither sends 100 nor answers at once makes it time out.
fn curl_post_expecting_100(url: &str, size: usize) -> ricochet_tests::Ran {
    let dir = TempDir::new("expect");
    let file = dir.path().join("body");
    std::fs::write(&file, vec![b'x'; size]).unwrap();
    run(
        Command::new("curl").args([
            "-sS",
            "-v",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
            "--expect100-timeout",
            "60",
            "-H",
            "Expect: 100-continue",
            "-X",
            "POST",
            "--data-binary",
            &format!("@{}", file.display()),
            url,
        ]),
        T * 2,
    )
}

#[test]
fn curl_posting_with_expect_never_waits_for_its_100_timeout() {
    if !require("curl") {
        return;
    }
    let pair = Pair::start();
    for (name, peer) in pair.both() {
        // POST is refused whatever its body: the 405 at once, no 100, no wait.
        let ran = curl_post_expecting_100(&peer.url, 100_000);
        assert_eq!(
            (ran.code(), ran.stdout.as_str()),
            (0, "405"),
            "{name}: {}",
            ran.stderr
        );
        assert!(
            !ran.stderr.contains("100 Continue"),
            "{name}: {}",
            ran.stderr
        );
        // Too large to read: the 405 at once, no 100.
        let ran = curl_post_expecting_100(&peer.url, 3_000_000);
        assert_eq!(ran.stdout, "405", "{name}: {}", ran.stderr);
        assert_ne!(ran.code(), 28, "{name}: curl timed out: {}", ran.stderr);
        assert!(
            !ran.stderr.contains("100 Continue"),
            "{name}: {}",
            ran.stderr
        );
    }
}

#[test]
fn request_bodies_are_read_alike_by_server_and_balancer() {
    let pair = Pair::start();
    for (name, peer) in pair.both() {
        // Malformed chunked bodies: 400 (not the 405 the method would get), then close.
        refused(
            name,
            peer,
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n",
            400,
        );
        refused(
            name,
            peer,
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
            400,
        );
        // Well-formed bodies: read and dropped, the method's answer, the connection goes on.
        let got = raw_exchange(
            peer.addr,
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\n\r\n\
              BREW / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\
              GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            T,
        );
        assert_eq!(statuses(&got), vec![405, 501, ok_status(name)], "{name}");
        // A body too large to skip: answered, then the connection closes (the request after
        // it is never answered).
        refused(
            name,
            peer,
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\nhello",
            405,
        );
    }
}
