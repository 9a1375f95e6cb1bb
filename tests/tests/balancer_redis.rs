//! `balancer --state redis://...`: balancers sharing one prober through a `redis-server` the
//! tests start on a free loopback port. Three instances probe as one (the servers' access
//! logs show one probe per interval), a dead server is dropped by all within a probe period,
//! the lease holder SIGKILLed is replaced within the lease, and with Redis killed during a load
//! of redirects none fails: each instance probes on its own, then one prober again once Redis
//! is back.

use ricochet_tests::{
    bin, free_port_outside_ephemeral_range, raw_exchange, require, server, status_of, www,
    HasAndLacks, Spawned, TempDir,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);
const INTERVAL_MS: u64 = 250;
const LEASE_MS: u64 = 1000;

/// A `redis-server` on 127.0.0.1:`port`, without persistence; killed when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let redis = Redis { child, port };
        let end = Instant::now() + WAIT;
        loop {
            let got = TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|s| raw_exchange(s.peer_addr().unwrap(), b"PING\r\nQUIT\r\n", WAIT));
            if got.is_some_and(|g| g.starts_with(b"+PONG")) {
                return redis;
            }
            assert!(
                Instant::now() < end,
                "redis-server did not answer on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn balancer(redis: &str, servers: &[SocketAddr]) -> Spawned {
    let mut cmd = Command::new(bin("balancer"));
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--state",
        redis,
    ])
    .args(["--lease", &format!("{LEASE_MS}ms")])
    .args(["--probe-interval", &format!("{INTERVAL_MS}ms")])
    .args(servers.iter().map(|s| s.to_string()))
    .env("RICOCHET_LOG", "info");
    Spawned::start(cmd)
}

/// The `prober` of an instance's `/status.json`: `(instance, this)`.
fn prober(balancer: &Spawned) -> (String, bool) {
    let output = balancer.wait_for("admin on http://", WAIT);
    let admin: SocketAddr = output
        .lines()
        .find_map(|l| l.strip_prefix("admin on http://"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let got = raw_exchange(
        admin,
        b"GET /status.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        WAIT,
    );
    let text = String::from_utf8_lossy(&got).into_owned();
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    let prober = &json["prober"];
    (
        prober["instance"].as_str().unwrap_or_default().to_string(),
        prober["this"].as_bool().unwrap_or(false),
    )
}

/// Probe requests in a server's access log so far.
fn probes(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("/probe.bin"))
        .count()
}

/// Probes of the server logging to `log` during `intervals` probe intervals from now.
fn probes_during(log: &Path, intervals: u64) -> usize {
    let before = probes(log);
    std::thread::sleep(Duration::from_millis(INTERVAL_MS * intervals));
    probes(log) - before
}

/// One GET on a new connection: its status and the `host:port` of its `Location`.
fn get(addr: SocketAddr) -> (Option<u16>, String) {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return (None, String::new());
    };
    let _ = stream.set_read_timeout(Some(WAIT));
    if stream
        .write_all(b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return (None, String::new());
    }
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got).into_owned();
    let location = text
        .split("\r\n")
        .find_map(|l| l.strip_prefix("Location: http://"))
        .map(|l| l.split('/').next().unwrap_or("").to_string())
        .unwrap_or_default();
    (status_of(&got), location)
}

/// The instance that logged taking the lease last, by position.
fn holders(instances: &[Spawned]) -> Vec<usize> {
    (0..instances.len())
        .filter(|&i| {
            let out = instances[i].output();
            let took = out.rfind("holds the probing lease");
            let left = [out.rfind("follows "), out.rfind("probes on its own")]
                .into_iter()
                .flatten()
                .max();
            took.is_some() && took > left
        })
        .collect()
}

#[test]
fn three_balancers_probe_as_one_and_a_dead_holder_is_replaced_within_the_lease() {
    if !require("redis-server") {
        return;
    }
    let redis = Redis::start(free_port_outside_ephemeral_range());
    let dir = TempDir::new("balancer-redis");
    let logs = [dir.path().join("s1.log"), dir.path().join("s2.log")];
    let s1 = server(&www(), &["--access-log", logs[0].to_str().unwrap()]);
    let s2 = server(&www(), &["--access-log", logs[1].to_str().unwrap()]);
    let servers = [s1.addr, s2.addr];
    let mut instances: Vec<Spawned> = (0..3).map(|_| balancer(&redis.url(), &servers)).collect();
    assert_eq!(holders(&instances).len(), 1, "not one lease holder");
    for b in &instances {
        b.wait_for("new ranking", WAIT);
    }

    // One prober: 10 probes of a server in 10 intervals (give or take), not 30.
    let probed = probes_during(&logs[0], 10);
    assert!(
        (5..=13).contains(&probed),
        "{probed} probes in 10 intervals"
    );

    // Every status page names the same prober, and only the holder's names itself.
    let probers: Vec<(String, bool)> = instances.iter().map(prober).collect();
    let holder = holders(&instances)[0];
    assert!(
        probers.iter().all(|(name, _)| *name == probers[holder].0),
        "{probers:?}"
    );
    assert!(probers[holder]
        .0
        .ends_with(&format!(":{}", instances[holder].pid())));
    let this: Vec<bool> = probers.iter().map(|(_, this)| *this).collect();
    assert_eq!(this.iter().filter(|&&t| t).count(), 1, "{probers:?}");
    assert!(this[holder]);

    // Every instance redirects, to the servers.
    for b in &instances {
        for _ in 0..5 {
            let (status, location) = get(b.addr);
            assert_eq!(status, Some(301));
            assert!(location == s1.addr.to_string() || location == s2.addr.to_string());
        }
    }

    // A dead server is dropped by every instance within a probe period or so.
    let dead = s2.addr.to_string();
    drop(s2);
    instances[holder].wait_for(&format!("removed {dead}"), WAIT);
    std::thread::sleep(Duration::from_millis(INTERVAL_MS * 2));
    for b in &instances {
        for _ in 0..10 {
            assert_eq!(get(b.addr), (Some(301), s1.addr.to_string()));
        }
    }

    // The holder SIGKILLed: another takes the lease and probes, within the lease (and the
    // sixth of it between two attempts).
    let killed = Command::new("kill")
        .args(["-KILL", &instances[holder].pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let at = Instant::now();
    let mut rest: Vec<Spawned> = Vec::new();
    for (i, b) in instances.drain(..).enumerate() {
        if i != holder {
            rest.push(b);
        }
    }
    let end = at + WAIT;
    while holders(&rest).is_empty() {
        assert!(Instant::now() < end, "nobody took the lease");
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = at.elapsed();
    assert!(
        took <= Duration::from_millis(LEASE_MS * 2),
        "the lease was taken over after {took:?} (lease {LEASE_MS} ms)"
    );
    assert_eq!(holders(&rest).len(), 1);
    // And it probes: the live server is probed again, by one instance.
    let probed = probes_during(&logs[0], 10);
    assert!(
        (5..=13).contains(&probed),
        "{probed} probes in 10 intervals after the takeover"
    );
}

#[test]
fn with_redis_killed_during_a_load_no_redirect_fails_and_one_prober_returns() {
    if !require("redis-server") {
        return;
    }
    let port = free_port_outside_ephemeral_range();
    let redis = Redis::start(port);
    let dir = TempDir::new("balancer-redis-down");
    let log = dir.path().join("s1.log");
    let s1 = server(&www(), &["--access-log", log.to_str().unwrap()]);
    let s2 = server(&www(), &[]);
    let servers = [s1.addr, s2.addr];
    let instances: Vec<Spawned> = (0..2).map(|_| balancer(&redis.url(), &servers)).collect();
    for b in &instances {
        b.wait_for("new ranking", WAIT);
    }

    // A load of redirects on both instances, bounded in count and time.
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let loads: Vec<_> = instances
        .iter()
        .map(|b| {
            let (addr, stop, failed, done) = (b.addr, stop.clone(), failed.clone(), done.clone());
            std::thread::spawn(move || {
                let end = Instant::now() + Duration::from_secs(30);
                for _ in 0..20_000 {
                    if stop.load(Ordering::Relaxed) || Instant::now() > end {
                        break;
                    }
                    if get(addr).0 != Some(301) {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(300));
    drop(redis);
    // Each instance notices, says so once, and probes on its own.
    for b in &instances {
        b.wait_for("probes on its own", WAIT);
    }
    let probed = probes_during(&log, 10);
    assert!(
        (14..=26).contains(&probed),
        "{probed} probes in 10 intervals with two instances probing on their own"
    );
    let redis = Redis::start(port);
    for b in &instances {
        b.wait_for("answers again", WAIT);
    }
    // One prober again.
    std::thread::sleep(Duration::from_millis(LEASE_MS));
    assert_eq!(holders(&instances).len(), 1, "not one lease holder");
    let probed = probes_during(&log, 10);
    assert!(
        (5..=13).contains(&probed),
        "{probed} probes in 10 intervals after Redis returned"
    );
    stop.store(true, Ordering::Relaxed);
    for load in loads {
        load.join().unwrap();
    }
    assert!(done.load(Ordering::Relaxed) > 100, "too few requests");
    assert_eq!(failed.load(Ordering::Relaxed), 0, "failed redirects");
    for b in &instances {
        assert_eq!(
            b.output().matches("is unreachable").count(),
            1,
            "the outage is logged once"
        );
    }
    drop(redis);
}

#[test]
fn with_redis_unreachable_at_start_a_balancer_probes_on_its_own_and_a_bad_url_is_refused() {
    let s1 = server(&www(), &[]);
    // Nothing listens on a closed port: the balancer says so once and serves anyway.
    let closed = ricochet_tests::closed_port();
    let b = balancer(&format!("redis://{closed}/0"), &[s1.addr]);
    b.wait_for("is unreachable", WAIT);
    assert_eq!(get(b.addr), (Some(301), s1.addr.to_string()));
    for bad in ["http://127.0.0.1:6379/0", "redis://"] {
        let out = Command::new(bin("balancer"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--state",
                bad,
                &s1.addr.to_string(),
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("balancer: --state: "), "{stderr}");
    }
    let out = Command::new(bin("balancer"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--lease",
            "5s",
            &s1.addr.to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "balancer: --lease needs --state\n"
    );
}

#[test]
fn a_reload_on_a_follower_reaches_all_and_a_holder_stopping_hands_the_lease_on() {
    if !require("redis-server") {
        return;
    }
    let redis = Redis::start(free_port_outside_ephemeral_range());
    let dir = TempDir::new("balancer-redis-reload");
    let s1 = server(&www(), &[]);
    let s2 = server(&www(), &[]);
    let config = dir.path().join("servers.conf");
    std::fs::write(&config, format!("{}\n", s1.addr)).unwrap();
    let start = || {
        let mut cmd = Command::new(bin("balancer"));
        cmd.args(["--listen", "127.0.0.1:0", "--state", &redis.url()])
            // A long lease: a takeover before it runs out shows the holder gave it up.
            .args(["--lease", "12s"])
            .args(["--config", config.to_str().unwrap()])
            .env("RICOCHET_LOG", "info");
        Spawned::start(cmd)
    };
    let instances = [start(), start()];
    let holder = holders(&instances)[0];
    let follower = &instances[1 - holder];
    follower.wait_for("new ranking from the prober", WAIT);
    std::fs::write(&config, format!("{}\n{}\n", s1.addr, s2.addr)).unwrap();
    follower.signal("HUP");
    let at = Instant::now();
    instances[holder].wait_for(
        &format!("received the server list: 1 kept, added [{}]", s2.addr),
        WAIT,
    );
    // Both instances then send clients to the new server (a few milliseconds later here; the
    // bound is the tests' usual one, not a timing target).
    for b in &instances {
        let mut seen = false;
        while !seen {
            assert!(
                at.elapsed() < Duration::from_secs(1),
                "{} never sent to {}",
                b.addr,
                s2.addr
            );
            seen = get(b.addr).1 == s2.addr.to_string();
        }
    }

    // SIGTERM to the holder: it gives the lease up and the other takes it, long before the
    // 12 s lease would have run out.
    let mut instances = instances;
    instances[holder].signal("TERM");
    let at = Instant::now();
    instances[1 - holder].wait_for("holds the probing lease", WAIT);
    assert!(at.elapsed() < Duration::from_secs(12));
    assert!(instances[holder].wait_exit(WAIT).success());
    assert!(instances[holder]
        .output()
        .contains("gave up the probing lease"));
}

#[test]
fn verify_files_checks_are_shared_through_redis_one_head_per_server_and_path() {
    if !require("redis-server") {
        return;
    }
    let redis = Redis::start(free_port_outside_ephemeral_range());
    let dir = TempDir::new("balancer-redis-files");
    let pair = HasAndLacks::start(dir.path());
    let addrs = pair.addrs();
    let start = |addrs: &[SocketAddr]| {
        let mut cmd = Command::new(bin("balancer"));
        cmd.args(["--listen", "127.0.0.1:0", "--verify-files"])
            .args(["--state", &redis.url()])
            .args(["--lease", &format!("{LEASE_MS}ms")])
            .args(["--probe-interval", &format!("{INTERVAL_MS}ms")])
            .args(addrs.iter().map(|s| s.to_string()))
            .env("RICOCHET_LOG", "info");
        Spawned::start(cmd)
    };
    let instances = [start(&addrs), start(&addrs)];
    // One holds the lease, the other follows it.
    let end = Instant::now() + WAIT;
    while holders(&instances).len() != 1
        || !instances.iter().any(|b| b.output().contains("follows "))
    {
        assert!(Instant::now() < end, "no holder and follower");
        std::thread::sleep(Duration::from_millis(50));
    }
    for b in &instances {
        b.wait_for("new ranking", WAIT);
    }

    // Requests alternate between the instances, a little apart (so an answer one learnt
    // reaches the other through Redis before the next request).
    for i in 0..60 {
        let mut stream = TcpStream::connect(instances[i % 2].addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream
            .write_all(b"GET /new.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        let _ = stream.read_to_end(&mut got);
        let text = String::from_utf8_lossy(&got).into_owned();
        assert!(matches!(status_of(&got), Some(301 | 302 | 307)), "{text}");
        let to = format!("Location: http://{}/new.bin", addrs[0]);
        assert!(
            text.contains(&to),
            "not sent to the server holding it:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let counts = pair.heads("/new.bin");
    // Without sharing: [2, 2].
    assert_eq!(
        counts,
        [1, 1],
        "HEADs per server:\n{}\n{}",
        instances[0].output(),
        instances[1].output()
    );
}
