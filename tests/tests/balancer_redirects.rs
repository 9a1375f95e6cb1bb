//! The balancer in front of three of our servers throttled to clearly different speeds: downloads
//! through it arrive intact (our client, curl -L, wget), redirects favour the faster servers in
//! rank order, a server killed between probes stops getting redirects, and with every server gone
//! the balancer answers 503.

use ricochet_tests::{
    bin, client, pipelined_gets, raw_exchange, require, run, server, statuses, www, Spawned,
    TempDir, COMMAND,
};
use std::collections::HashMap;
use std::fs;
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// Send rates, fastest first: the 256 KiB probe file takes about 65 ms, 200 ms and 520 ms.
const RATES: [&str; 3] = ["4000000", "1300000", "500000"];

/// Three throttled servers (fastest first) and a balancer in front of them.
struct Setup {
    servers: Vec<Option<Spawned>>,
    /// `host:port` of each server, fastest first.
    names: Vec<String>,
    balancer: Spawned,
}

impl Setup {
    fn start(extra: &[&str]) -> Setup {
        let servers: Vec<Spawned> = RATES
            .iter()
            .map(|rate| server(&www(), &["--rate", rate]))
            .collect();
        let names: Vec<String> = servers.iter().map(|s| s.addr.to_string()).collect();
        let balancer = balancer(extra, &names);
        Setup {
            servers: servers.into_iter().map(Some).collect(),
            names,
            balancer,
        }
    }

    /// Kill server `i` (0 is the fastest).
    fn kill(&mut self, i: usize) {
        drop(self.servers[i].take());
    }
}

fn balancer(extra: &[&str], servers: &[String]) -> Spawned {
    let mut cmd = Command::new(bin("balancer"));
    cmd.args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .args(servers)
        .env("RICOCHET_LOG", "info");
    let spawned = Spawned::start(cmd);
    // The first ranking is logged (on stderr) before `listening on` (on stdout); wait until the
    // harness has read it too.
    spawned.wait_for("new ranking", Duration::from_secs(5));
    spawned
}

/// `n` pipelined GETs on one connection (the last one closing it); the raw responses.
fn pipelined(balancer: &Spawned, n: usize, path: &str) -> String {
    let target = |i| format!("{path}?n={i}");
    pipelined_gets(balancer.addr, n, target, "", Duration::from_secs(10))
}

/// The `host:port` of every `Location` in a stream of responses, counted.
fn location_hosts(responses: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for line in responses.split("\r\n") {
        if let Some(url) = line.strip_prefix("Location: http://") {
            let host = url.split('/').next().unwrap_or("").to_string();
            *counts.entry(host).or_insert(0) += 1;
        }
    }
    counts
}

/// Wait (bounded) until the balancer's output contains `needle`.
fn wait_for_output(spawned: &Spawned, needle: &str, limit: Duration) {
    spawned.wait_for(needle, limit);
}

#[test]
fn downloads_through_the_balancer_are_byte_identical() {
    let setup = Setup::start(&[]);
    let dir = TempDir::new("via-balancer");
    for name in ["index.html", "data.bin", "logo.png"] {
        let out = dir.path().join(name);
        let url = format!("{}/{name}", setup.balancer.url);
        let ran = client(dir.path(), &["-q", &url, "-o", out.to_str().unwrap()]);
        assert_eq!(ran.code(), 0, "{name}: {ran:?}");
        assert!(
            ran.stdout.starts_with("HTTP/1.1 301 Moved Permanently\n"),
            "{name}: the client did not show the 301 first:\n{}",
            ran.stdout
        );
        assert!(
            ran.stdout.contains("\nHTTP/1.1 200 OK\n"),
            "{name}: {}",
            ran.stdout
        );
        let redirected_to_a_server = setup.names.iter().any(|s| {
            ran.stdout
                .contains(&format!("Location: http://{s}/{name}\n"))
        });
        assert!(redirected_to_a_server, "{name}: {}", ran.stdout);
        assert!(
            fs::read(&out).unwrap() == fs::read(www().join(name)).unwrap(),
            "{name}: the download differs from the original"
        );
    }
}

#[test]
fn redirect_shares_favour_faster_servers_in_rank_order() {
    let setup = Setup::start(&[]);
    let table = setup.balancer.output();
    // The logged table lists the fastest first.
    let rows: Vec<usize> = setup
        .names
        .iter()
        .map(|n| table.find(n.as_str()).expect("every server in the table"))
        .collect();
    assert!(rows[0] < rows[1] && rows[1] < rows[2], "table:\n{table}");

    let responses = pipelined(&setup.balancer, 600, "/index.html");
    assert_eq!(statuses(responses.as_bytes()).len(), 600);
    let counts = location_hosts(&responses);
    let [fast, middle, slow] = [0, 1, 2].map(|i| counts.get(&setup.names[i]).copied().unwrap_or(0));
    assert_eq!(fast + middle + slow, 600, "{counts:?}");
    // Expected 300, 200, 100; each standard deviation is at most 12.3, so ±60 is over 4.8σ.
    assert!(fast > middle && middle > slow, "{counts:?}");
    for (got, want) in [(fast, 300), (middle, 200), (slow, 100)] {
        assert!(got.abs_diff(want) <= 60, "{counts:?}");
    }
}

#[test]
fn a_server_killed_between_probes_is_removed_and_gets_no_more_redirects() {
    let mut setup = Setup::start(&["--probe-interval", "500ms"]);
    let fastest = setup.names[0].clone();
    let before = location_hosts(&pipelined(&setup.balancer, 60, "/"));
    assert!(before.get(&fastest).copied().unwrap_or(0) > 0, "{before:?}");

    setup.kill(0);
    let removal = format!("removed {fastest}:");
    let output = setup.balancer.wait_for(&removal, Duration::from_secs(5));
    // The ranking without it is logged once it is live.
    let after_removal = output.find(&removal).unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    while !setup.balancer.output()[after_removal..].contains("new ranking") {
        assert!(Instant::now() < end, "{}", setup.balancer.output());
        thread::sleep(Duration::from_millis(20));
    }
    let after = location_hosts(&pipelined(&setup.balancer, 200, "/"));
    assert_eq!(after.get(&fastest), None, "{after:?}");
    assert_eq!(after.values().sum::<usize>(), 200, "{after:?}");
    // The others keep being probed and redirected to.
    assert!(setup.balancer.output().contains("new ranking"));
}

#[test]
fn with_every_server_gone_the_balancer_answers_503() {
    let mut setup = Setup::start(&["--probe-interval", "500ms", "--retry-after", "7"]);
    for i in 0..3 {
        setup.kill(i);
    }
    for name in setup.names.clone() {
        wait_for_output(
            &setup.balancer,
            &format!("removed {name}:"),
            Duration::from_secs(5),
        );
    }
    thread::sleep(Duration::from_millis(100));
    let got = raw_exchange(
        setup.balancer.addr,
        b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{text}"
    );
    assert!(text.contains("\r\nRetry-After: 7\r\n"), "{text}");
    assert!(!text.contains("Location:"), "{text}");
    assert!(text.contains("<html>"), "{text}");
    // Still alive and answering.
    assert!(setup.balancer.is_running());
    let ran = client(TempDir::new("gone").path(), &["-q", &setup.balancer.url]);
    assert_ne!(ran.code(), 0);
    assert!(ran.stdout.contains("503"), "{ran:?}");
}

#[test]
fn curl_and_wget_follow_the_redirect_and_get_the_file() {
    if !require("curl") || !require("wget") {
        return;
    }
    let setup = Setup::start(&[]);
    let dir = TempDir::new("curl-wget");
    let want = fs::read(www().join("data.bin")).unwrap();
    let url = format!("{}/data.bin", setup.balancer.url);

    let out = dir.path().join("curl.bin");
    let ran = run(
        Command::new("curl")
            .args(["-sS", "-L", "-o"])
            .arg(&out)
            .args(["-w", "%{num_redirects} %{http_code}", &url]),
        COMMAND,
    );
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert_eq!(ran.stdout, "1 200", "{ran:?}");
    assert!(fs::read(&out).unwrap() == want, "curl's copy differs");

    let out = dir.path().join("wget.bin");
    let ran = run(
        Command::new("wget")
            .args(["-q", "--tries=1", "-O"])
            .arg(&out)
            .arg(&url),
        COMMAND,
    );
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(fs::read(&out).unwrap() == want, "wget's copy differs");
}

#[test]
fn head_gets_the_redirect_without_a_body() {
    let setup = Setup::start(&[]);
    let got = raw_exchange(
        setup.balancer.addr,
        b"HEAD /about.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 301 "), "{text}");
    assert!(text.contains("\r\nLocation: http://"), "{text}");
    assert!(text.contains("\r\nCache-Control: no-store\r\n"), "{text}");
    assert!(
        text.ends_with("\r\n\r\n"),
        "HEAD answer carries a body: {text}"
    );
}

#[test]
fn an_encoded_crlf_in_the_path_never_splits_the_location() {
    let setup = Setup::start(&[]);
    let got = raw_exchange(
        setup.balancer.addr,
        b"GET /a%0d%0aSet-Cookie:%20evil=1/b%20c?q=%0D%0AX:%201 HTTP/1.1\r\nHost: evil.example\r\n\
          Connection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    let text = String::from_utf8_lossy(&got);
    let head = text.split("\r\n\r\n").next().unwrap();
    let location = head
        .split("\r\n")
        .find_map(|l| l.strip_prefix("Location: "))
        .unwrap_or_else(|| panic!("no Location: {text}"));
    assert!(
        !location.contains(['\r', '\n', ' ']),
        "Location: {location:?}"
    );
    assert!(
        location.ends_with("/a%0d%0aSet-Cookie:%20evil=1/b%20c?q=%0D%0AX:%201"),
        "{location}"
    );
    assert!(
        setup
            .names
            .iter()
            .any(|s| location.starts_with(&format!("http://{s}/"))),
        "the target must come from the pool, not the Host header: {location}"
    );
    assert!(
        !head
            .split("\r\n")
            .any(|l| l.starts_with("Set-Cookie") || l.starts_with("X:")),
        "a header was injected:\n{head}"
    );
}

#[test]
fn an_encoded_nul_in_the_path_gets_400_from_the_balancer_as_from_the_server() {
    let server = server(&www(), &[]);
    let balancer = balancer(&[], &[server.addr.to_string()]);
    let request = b"GET /index%00.html HTTP/1.1\r\nHost: x\r\n\r\n";
    for (who, addr) in [("server", server.addr), ("balancer", balancer.addr)] {
        let got = raw_exchange(addr, request, Duration::from_secs(5));
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{who}: {text}"
        );
        assert!(text.contains("\r\nConnection: close\r\n"), "{who}: {text}");
        assert!(!text.contains("Location:"), "{who}: {text}");
    }
}

#[test]
fn keep_alive_pipelining_methods_and_header_timeout() {
    let setup = Setup::start(&["--header-timeout", "300ms"]);
    // Pipelined requests in one write: answers in order, on one connection; a POST is refused
    // with 405, its body read and dropped like the server does, and the next request follows.
    let got = raw_exchange(
        setup.balancer.addr,
        b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: x\r\n\r\n\
          POST /3 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi\
          GET /4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(statuses(&got), vec![301, 301, 405, 301]);
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("\r\nAllow: GET, HEAD, OPTIONS\r\n"), "{text}");

    // A malformed body is 400, not the 405 its method would get.
    let got = raw_exchange(
        setup.balancer.addr,
        b"POST /5 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(statuses(&got), vec![400]);

    // An unknown method: 501. A malformed request: 400.
    let got = raw_exchange(
        setup.balancer.addr,
        b"BREW /pot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(statuses(&got), vec![501]);
    let got = raw_exchange(
        setup.balancer.addr,
        b"GET /x HTTP/1.1\r\nHost x\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(statuses(&got), vec![400]);

    // A head that never completes: 408 after the header timeout.
    let started = Instant::now();
    let got = raw_exchange(
        setup.balancer.addr,
        b"GET /slow HTTP/1.1\r\nHost: x\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(statuses(&got), vec![408]);
    assert!(started.elapsed() < Duration::from_secs(3));

    // A kept-alive connection serves requests sent one after the other.
    let mut stream = TcpStream::connect(setup.balancer.addr).unwrap();
    for _ in 0..3 {
        use std::io::{Read, Write};
        stream
            .write_all(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).unwrap();
        assert_eq!(statuses(&buf[..n]), vec![301]);
    }
}
