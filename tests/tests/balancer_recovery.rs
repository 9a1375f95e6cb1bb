//! The balancer while servers fail and recover, and while its server list changes: a server
//! that dies and comes back (re-admitted with `--readmit --rise 2`, 503 meanwhile when none is
//! left), client-assisted failover (the client still gets the file; the dead server is removed
//! after a verification probe; forged reports against a live server cause no removal and only
//! a probe or two), and SIGHUP reloads (servers added and dropped, no request lost, a bad config
//! refused with the old list kept).

use ricochet_tests::{
    bin, client, closed_port, pipelined_gets, raw_exchange, redirect, server, statuses, www, Reply,
    Spawned, TempDir, TestServer,
};
use std::collections::HashMap;
use std::fs;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

fn balancer(extra: &[&str], servers: &[SocketAddr]) -> Spawned {
    let mut cmd = Command::new(bin("balancer"));
    cmd.args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .args(servers.iter().map(|s| s.to_string()))
        .env("RICOCHET_LOG", "info");
    let spawned = Spawned::start(cmd);
    spawned.wait_for("new ranking", WAIT);
    spawned
}

/// Our server on a given loopback address (to bring a killed one back on its port).
fn server_at(addr: SocketAddr) -> Spawned {
    let mut cmd = Command::new(bin("server"));
    cmd.args(["--listen", &addr.to_string(), "--root"])
        .arg(www())
        .env("RICOCHET_LOG", "info");
    Spawned::start(cmd)
}

/// `n` pipelined GETs on one connection, each with `extra` header lines; the raw responses.
fn pipelined(balancer: &Spawned, n: usize, extra: &str) -> String {
    pipelined_gets(
        balancer.addr,
        n,
        |i| format!("/index.html?n={i}"),
        extra,
        WAIT,
    )
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

/// Wait (bounded) until the output after byte `from` contains `needle`; returns where the
/// needle ends, to wait for what comes after it.
fn wait_after(spawned: &Spawned, from: usize, needle: &str) -> usize {
    let end = Instant::now() + WAIT;
    loop {
        let output = spawned.output();
        if let Some(at) = output.get(from..).and_then(|rest| rest.find(needle)) {
            return from + at + needle.len();
        }
        assert!(
            Instant::now() < end,
            "no `{needle}` after byte {from} within {WAIT:?}; output:\n{output}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Probe downloads a server logged (one access-log line each).
fn probes_seen_by(server: &Spawned) -> usize {
    server
        .log_messages()
        .lines()
        .filter(|l| l.contains("\"GET /probe.bin"))
        .count()
}

/// Wait (bounded) until a server has logged at least `n` probe downloads.
fn wait_for_probes(server: &Spawned, n: usize) {
    let end = Instant::now() + WAIT;
    while probes_seen_by(server) < n {
        assert!(
            Instant::now() < end,
            "fewer than {n} probes:\n{}",
            server.output()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_server_that_dies_and_comes_back_is_readmitted_after_rise_passes() {
    let a = server(&www(), &[]);
    let b = server(&www(), &[]);
    let (a_addr, b_addr) = (a.addr, b.addr);
    let balancer = balancer(
        &[
            "--readmit",
            "--rise",
            "2",
            "--probe-interval",
            "500ms",
            "--probe-timeout",
            "2s",
            "--retry-after",
            "3",
        ],
        &[a_addr, b_addr],
    );
    let counts = location_hosts(&pipelined(&balancer, 100, ""));
    assert!(counts.len() == 2, "{counts:?}");

    // A dies: removed, re-checked, and B gets every redirect.
    drop(a);
    let at = wait_after(&balancer, 0, &format!("removed {a_addr}: "));
    let at = wait_after(&balancer, at, "re-checking it");
    let at = wait_after(&balancer, at, "new ranking");
    let counts = location_hosts(&pipelined(&balancer, 100, ""));
    assert_eq!(counts.get(&b_addr.to_string()), Some(&100), "{counts:?}");
    let at = wait_after(
        &balancer,
        at,
        &format!("probe of {a_addr} failed (2 in a row)"),
    );

    // B dies too: 503 with Retry-After, and the balancer keeps running.
    drop(b);
    let at = wait_after(&balancer, at, &format!("removed {b_addr}: "));
    let at = wait_after(&balancer, at, "no live server");
    let got = pipelined(&balancer, 1, "");
    assert!(got.starts_with("HTTP/1.1 503 "), "{got}");
    assert!(got.contains("\r\nRetry-After: 3\r\n"), "{got}");

    // A comes back: two passes in a row, then it gets every redirect again.
    let _a = server_at(a_addr);
    let at = wait_after(
        &balancer,
        at,
        &format!("{a_addr} passed a re-check (1 of 2)"),
    );
    let at = wait_after(&balancer, at, &format!("{a_addr} is live"));
    wait_after(&balancer, at, "new ranking");
    let counts = location_hosts(&pipelined(&balancer, 50, ""));
    assert_eq!(counts.get(&a_addr.to_string()), Some(&50), "{counts:?}");
}

/// The client's side alone, against a stand-in for the balancer that sends the first request
/// to a dead server and the next ones to a live one: one download, two trips to the stand-in.
#[test]
fn the_client_asks_the_url_that_redirected_it_once_more_when_the_target_is_unreachable() {
    let alive = server(&www(), &[]);
    let dead = closed_port();
    let asked = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&asked);
    let alive_url = alive.url.clone();
    let stand_in = TestServer::start(move |_, _| {
        let target = if count.fetch_add(1, Ordering::SeqCst) == 0 {
            format!("http://{dead}/index.html")
        } else {
            format!("{alive_url}/index.html")
        };
        Reply::Bytes(redirect("302 Found", &target))
    });
    let dir = TempDir::new("failover-stand-in");
    let url = format!("{}/index.html", stand_in.url);
    let ran = client(dir.path(), &["-q", &url]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(
        ran.stdout.contains(&format!("cannot connect to {dead}: ")),
        "{ran:?}"
    );
    assert!(
        ran.stdout
            .contains(&format!("\nasking {url} for another server\n")),
        "{ran:?}"
    );
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    assert!(
        fs::read(dir.path().join("index.html")).unwrap()
            == fs::read(www().join("index.html")).unwrap()
    );
}

#[test]
fn with_a_dead_server_the_client_still_gets_the_file_and_the_server_is_removed() {
    let alive = server(&www(), &[]);
    // Real balancer: one live server and one that is dead before any client comes.
    let doomed = server(&www(), &[]);
    let doomed_addr = doomed.addr;
    let balancer = balancer(&["--probe-interval", "300s"], &[alive.addr, doomed_addr]);
    drop(doomed);
    let dir = TempDir::new("failover");
    let want = fs::read(www().join("index.html")).unwrap();
    // Each run is redirected to the dead server with probability 2/3 or 1/3 until the
    // balancer has verified and removed it; every run must get the file all the same.
    let mut failed_over = false;
    for run in 0..30 {
        let out = dir.path().join(format!("index-{run}.html"));
        let url = format!("{}/index.html", balancer.url);
        let ran = client(dir.path(), &["-q", &url, "-o", out.to_str().unwrap()]);
        assert_eq!(ran.code(), 0, "run {run}: {ran:?}");
        assert!(fs::read(&out).unwrap() == want, "run {run}: file differs");
        if ran
            .stdout
            .contains(&format!("cannot connect to {doomed_addr}"))
        {
            assert!(
                ran.stdout
                    .contains(&format!("\nasking {url} for another server\n")),
                "{}",
                ran.stdout
            );
            assert!(
                ran.stdout
                    .contains(&format!("Location: {}/index.html", alive.url)),
                "{}",
                ran.stdout
            );
            failed_over = true;
            break;
        }
    }
    assert!(failed_over, "no run was ever sent to the dead server");
    // The report made the balancer verify the server at once, and the probe removed it.
    let at = wait_after(
        &balancer,
        0,
        &format!("a client could not reach {doomed_addr}: probing it now"),
    );
    wait_after(
        &balancer,
        at,
        &format!("removed {doomed_addr}: cannot connect"),
    );
    let counts = location_hosts(&pipelined(&balancer, 50, ""));
    assert_eq!(counts.get(&alive.addr.to_string()), Some(&50), "{counts:?}");
}

#[test]
fn without_a_balancer_in_the_chain_an_unreachable_target_fails_as_before() {
    let dead = closed_port();
    let redirector = TestServer::start(move |_, _| {
        Reply::Bytes(redirect("302 Found", &format!("http://{dead}/x")))
    });
    let dir = TempDir::new("no-failover");
    let ran = client(dir.path(), &["-q", &format!("{}/x", redirector.url)]);
    // Asked once more (the redirector cannot tell), redirected to the same dead server again:
    // the second failure ends the download as it always did.
    assert_eq!(ran.code(), 2, "{ran:?}");
    assert!(
        ran.stderr.contains(&format!("cannot connect to {dead}")),
        "{ran:?}"
    );
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
}

#[test]
fn forged_reports_against_a_live_server_cause_a_probe_or_two_and_no_removal() {
    let a = server(&www(), &[]);
    let b = server(&www(), &[]);
    let balancer = balancer(&["--probe-interval", "300s"], &[a.addr, b.addr]);
    wait_for_probes(&a, 1);
    assert_eq!(probes_seen_by(&a), 1, "first round");
    let header = format!("Ricochet-Unreachable: {}\r\n", a.addr);
    // 1,000 reports over about a second: each is sent elsewhere, none is trusted.
    for _ in 0..5 {
        let got = pipelined(&balancer, 200, &header);
        assert_eq!(statuses(got.as_bytes()).len(), 200);
        let counts = location_hosts(&got);
        assert_eq!(counts.get(&b.addr.to_string()), Some(&200), "{counts:?}");
        thread::sleep(Duration::from_millis(200));
    }
    wait_after(
        &balancer,
        0,
        &format!("a client could not reach {}: probing it now", a.addr),
    );
    // The verification probe reaches the server and passes.
    wait_for_probes(&a, 2);
    thread::sleep(Duration::from_millis(500));
    let probes = probes_seen_by(&a) - 1;
    assert!(
        probes <= 2,
        "{probes} verification probes for 1,000 reports"
    );
    assert!(
        !balancer.output().contains(&format!("removed {}", a.addr)),
        "{}",
        balancer.output()
    );
    let counts = location_hosts(&pipelined(&balancer, 100, ""));
    assert!(counts.contains_key(&a.addr.to_string()), "{counts:?}");
}

/// Send SIGHUP (through the shell's `kill` builtin: no extra tool needed).
fn hangup(process: &Spawned) {
    let status = Command::new("sh")
        .args(["-c", &format!("kill -HUP {}", process.pid())])
        .status()
        .expect("run sh");
    assert!(status.success());
}

#[test]
fn sighup_reloads_the_config_and_a_bad_one_is_refused_whole() {
    let servers: Vec<Spawned> = (0..3).map(|_| server(&www(), &[])).collect();
    let [a, b, c] = [0, 1, 2].map(|i| servers[i].addr.to_string());
    let dir = TempDir::new("reload");
    let config = dir.path().join("servers.conf");
    fs::write(&config, format!("{a}\n{b}  # rack 2\n")).unwrap();
    let mut cmd = Command::new(bin("balancer"));
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--probe-interval",
        "300s",
        "--config",
    ])
    .arg(&config)
    .env("RICOCHET_LOG", "info");
    let mut balancer = Spawned::start(cmd);
    balancer.wait_for("new ranking", WAIT);
    let counts = location_hosts(&pipelined(&balancer, 100, ""));
    assert!(
        counts.contains_key(&a) && counts.contains_key(&b),
        "{counts:?}"
    );

    // Requests keep flowing during the reloads; every one must be answered.
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let addr = balancer.addr;
    let traffic = thread::spawn(move || {
        let mut answered = 0;
        while !flag.load(Ordering::Relaxed) {
            let mut request = String::new();
            for _ in 0..19 {
                request.push_str("GET / HTTP/1.1\r\nHost: b\r\n\r\n");
            }
            request.push_str("GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n");
            let got = raw_exchange(addr, request.as_bytes(), WAIT);
            let codes = statuses(&got);
            assert_eq!(codes, vec![301; 20], "{}", String::from_utf8_lossy(&got));
            answered += codes.len();
        }
        answered
    });

    // Drop A, add C.
    fs::write(&config, format!("{b}\n{c}\n")).unwrap();
    hangup(&balancer);
    let at = wait_after(
        &balancer,
        0,
        &format!("reloaded the server list: 1 kept, added [{c}], removed [{a}]"),
    );
    let at = wait_after(&balancer, at, &format!("{c} is live"));
    let at = wait_after(&balancer, at, "new ranking");
    let counts = location_hosts(&pipelined(&balancer, 100, ""));
    assert!(!counts.contains_key(&a), "{counts:?}");
    assert!(
        counts.contains_key(&b) && counts.contains_key(&c),
        "{counts:?}"
    );

    // A bad line: the whole file is refused, in one log line naming it.
    fs::write(&config, format!("{a}\nnot a server\n")).unwrap();
    hangup(&balancer);
    wait_after(&balancer, at, "reload refused");
    let refusals: Vec<String> = balancer
        .log_messages()
        .lines()
        .filter(|l| l.contains("reload refused"))
        .map(String::from)
        .collect();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(
        refusals[0].contains("servers.conf: line 2: bad server 'not a server'"),
        "{refusals:?}"
    );
    let counts = location_hosts(&pipelined(&balancer, 100, ""));
    assert!(!counts.contains_key(&a), "{counts:?}");
    assert!(
        counts.contains_key(&b) && counts.contains_key(&c),
        "{counts:?}"
    );

    stop.store(true, Ordering::Relaxed);
    let answered = traffic.join().expect("no request lost");
    assert!(answered > 0);
    assert!(balancer.is_running());
}
