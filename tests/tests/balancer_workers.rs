//! `balancer --workers N`: N processes on one address, one of them probing for all (the
//! servers' access logs show one probe per interval whatever N), every worker answering from
//! its rankings, the admin listener counting for all, reloads sent to any worker applied, and
//! SIGTERM draining all; a worker that dies ends the balancer with exit 11.

#![cfg(target_os = "linux")]

use ricochet_tests::procfs::{children, established_on, holds};
use ricochet_tests::{bin, raw_exchange, server, status_of, www, HasAndLacks, Spawned, TempDir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);
const INTERVAL_MS: u64 = 250;

/// Probe requests in a server's access log so far.
fn probes(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("/probe.bin"))
        .count()
}

fn balancer(extra: &[&str], servers: &[SocketAddr]) -> Spawned {
    let mut cmd = Command::new(bin("balancer"));
    cmd.args(["--listen", "127.0.0.1:0", "--workers", "2"])
        .args(["--probe-interval", &format!("{INTERVAL_MS}ms")])
        .args(extra)
        .args(servers.iter().map(|s| s.to_string()))
        .env("RICOCHET_LOG", "info");
    Spawned::start(cmd)
}

/// One GET on a new kept-alive connection; the connection (left open) and the `Location`.
fn get(addr: SocketAddr) -> (TcpStream, String) {
    let (stream, status, text) = get_file(addr, "/index.html");
    assert_eq!(status, Some(301), "{text}");
    let location = text
        .split("\r\n")
        .find_map(|l| l.strip_prefix("Location: http://"))
        .map(|l| l.split('/').next().unwrap_or("").to_string())
        .unwrap_or_default();
    (stream, location)
}

/// The admin listener's address from its `admin on http://ADDR` line.
fn admin_addr(balancer: &Spawned) -> SocketAddr {
    let output = balancer.wait_for("admin on http://", WAIT);
    let line = output
        .lines()
        .find_map(|l| l.strip_prefix("admin on http://"))
        .unwrap();
    line.trim().parse().unwrap()
}

fn metrics(admin: SocketAddr) -> String {
    let got = raw_exchange(
        admin,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        WAIT,
    );
    String::from_utf8_lossy(&got).into_owned()
}

fn gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.contains(") Z "))
        .unwrap_or(true)
}

#[test]
fn two_workers_probe_once_answer_from_one_ranking_and_drain_together() {
    let dir = TempDir::new("balancer-workers");
    let logs = [dir.path().join("s1.log"), dir.path().join("s2.log")];
    let s1 = server(&www(), &["--access-log", logs[0].to_str().unwrap()]);
    let s2 = server(&www(), &["--access-log", logs[1].to_str().unwrap()]);
    let mut b = balancer(&["--admin", "127.0.0.1:0"], &[s1.addr, s2.addr]);
    let admin = admin_addr(&b);
    let workers = children(b.pid());
    assert_eq!(workers.len(), 1, "expected one worker besides the first");
    let worker = workers[0];
    b.wait_for("new ranking from the prober", WAIT);

    // Probe load: one prober, whatever the number of workers.
    let window = Duration::from_millis(INTERVAL_MS * 10);
    let before = [probes(&logs[0]), probes(&logs[1])];
    std::thread::sleep(window);
    for (log, before) in logs.iter().zip(before) {
        let probed = probes(log) - before;
        // One prober: 10 in the window (give or take one); two would make about 20.
        assert!(
            (5..=13).contains(&probed),
            "{probed} probes of one server in {window:?} at a {INTERVAL_MS} ms interval"
        );
    }

    // Both processes answer, from the same servers.
    let mut open = Vec::new();
    for _ in 0..40 {
        let (stream, location) = get(b.addr);
        assert!(
            [s1.addr.to_string(), s2.addr.to_string()].contains(&location),
            "redirected to {location}"
        );
        open.push(stream);
    }
    let inodes = established_on(b.addr.port());
    let held = [holds(b.pid(), &inodes), holds(worker, &inodes)];
    assert_eq!(held.iter().sum::<usize>(), 40, "connections held: {held:?}");
    assert!(
        held.iter().all(|&n| n > 0),
        "a process got no connection: {held:?}"
    );
    drop(open);

    // The admin listener counts the worker's answers too (sent every second).
    let end = Instant::now() + WAIT;
    loop {
        let m = metrics(admin);
        if m.contains("ricochet_requests_total{code=\"301\"} 40") {
            break;
        }
        assert!(Instant::now() < end, "no total of 40 redirects:\n{m}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // A server that dies is dropped by both processes as soon as the prober sees it.
    let dead = s2.addr.to_string();
    drop(s2);
    b.wait_for(&format!("removed {dead}"), WAIT);
    std::thread::sleep(Duration::from_millis(100));
    let mut open = Vec::new();
    for _ in 0..40 {
        let (stream, location) = get(b.addr);
        assert_eq!(location, s1.addr.to_string());
        open.push(stream);
    }
    let inodes = established_on(b.addr.port());
    assert!(holds(worker, &inodes) > 0, "the worker got no connection");
    drop(open);

    // SIGTERM to the first process drains both.
    b.signal("TERM");
    let status = b.wait_exit(WAIT);
    assert!(status.success(), "{status:?}\n{}", b.output());
    let end = Instant::now() + WAIT;
    while !gone(worker) {
        assert!(Instant::now() < end, "the worker outlived the balancer");
        std::thread::sleep(Duration::from_millis(20));
    }
    let drained = b.output().matches("drained").count();
    assert_eq!(drained, 2, "{}", b.output());
}

#[test]
fn a_reload_sent_to_a_worker_is_applied_by_the_prober() {
    let dir = TempDir::new("balancer-workers-reload");
    let s1 = server(&www(), &[]);
    let s2 = server(&www(), &[]);
    let config = dir.path().join("servers.conf");
    std::fs::write(&config, format!("{}\n", s1.addr)).unwrap();
    let b = balancer(&["--config", config.to_str().unwrap()], &[]);
    let worker = children(b.pid())[0];
    b.wait_for("new ranking from the prober", WAIT);
    std::fs::write(&config, format!("{}\n{}\n", s1.addr, s2.addr)).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &worker.to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    b.wait_for(
        &format!("received the server list: 1 kept, added [{}]", s2.addr),
        WAIT,
    );
    // Then both processes redirect to the new server.
    let end = Instant::now() + WAIT;
    let mut seen = 0;
    while seen < 5 {
        assert!(Instant::now() < end, "no redirect to {}", s2.addr);
        if get(b.addr).1 == s2.addr.to_string() {
            seen += 1;
        }
    }
}

#[test]
fn a_worker_that_dies_ends_the_balancer_with_exit_11() {
    let s1 = server(&www(), &[]);
    let mut b = balancer(&[], &[s1.addr]);
    let worker = children(b.pid())[0];
    let killed = Command::new("kill")
        .args(["-KILL", &worker.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = b.wait_exit(WAIT);
    assert_eq!(status.code(), Some(11), "{}", b.output());
    assert!(b
        .output()
        .contains(&format!("worker process {worker} ended")));
}

/// One `GET path` on a new connection, left open; its status and `Location` header line.
fn get_file(addr: SocketAddr, path: &str) -> (TcpStream, Option<u16>, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    (stream, status_of(&got), text)
}

#[test]
fn verify_files_checks_are_shared_one_head_per_server_and_path_for_both_workers() {
    let dir = TempDir::new("balancer-workers-files");
    let pair = HasAndLacks::start(dir.path());
    let addrs = pair.addrs();
    let b = balancer(&["--verify-files"], &addrs);
    let worker = children(b.pid())[0];
    b.wait_for("new ranking from the prober", WAIT);

    // Many requests, each on a new connection (so both processes answer), a little apart (so
    // an answer learnt by one reaches the other before the next request).
    let mut open = Vec::new();
    for _ in 0..60 {
        let (stream, status, text) = get_file(b.addr, "/new.bin");
        assert!(matches!(status, Some(301 | 302 | 307)), "{text}");
        let to = format!("Location: http://{}/new.bin", addrs[0]);
        assert!(
            text.contains(&to),
            "not sent to the server holding it:\n{text}"
        );
        open.push(stream);
        std::thread::sleep(Duration::from_millis(20));
    }
    let inodes = established_on(b.addr.port());
    let held = [holds(b.pid(), &inodes), holds(worker, &inodes)];
    assert!(
        held.iter().all(|&n| n > 0),
        "a process got no request: {held:?}"
    );
    drop(open);

    // One HEAD per server for the path, not one per process (access logs are written as
    // requests end; give them a moment).
    std::thread::sleep(Duration::from_millis(300));
    let counts = pair.heads("/new.bin");
    // Without sharing: [2, 2]. The one lacking it is picked (and checked) at least once
    // before it is known to lack it, by one process only.
    assert_eq!(counts, [1, 1], "HEADs per server:\n{}", b.output());
}
