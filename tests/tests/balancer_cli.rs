//! The balancer's command line: bad server lists and dead servers at start are clear errors with
//! the exit codes of the one table (1 usage, 7 a local file, 10 no server passed); `--help` documents flags, defaults and exit codes; the throughput policy
//! and another redirect status work.

use ricochet_tests::{bin, closed_port, raw_exchange, run, server, www, Spawned, TempDir};
use std::fs;
use std::process::Command;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(15);

fn balancer(args: &[&str]) -> ricochet_tests::Ran {
    let mut cmd = Command::new(bin("balancer"));
    cmd.args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env("RICOCHET_LOG", "warn");
    run(&mut cmd, DEADLINE)
}

#[test]
fn a_bad_server_list_is_named_and_exits_1_and_an_unreadable_one_7() {
    let dir = TempDir::new("config");
    let path = dir.path().join("servers.txt");
    fs::write(
        &path,
        "# our servers\n127.0.0.1:8081\n\n127.0.0.1:8082  # rack 2\nftp://127.0.0.1:8083\n",
    )
    .unwrap();
    let ran = balancer(&["--config", path.to_str().unwrap()]);
    assert_eq!(ran.code(), 1, "{ran:?}");
    assert!(ran.stderr.contains("line 5"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("ftp://127.0.0.1:8083"),
        "{}",
        ran.stderr
    );

    fs::write(&path, "127.0.0.1:8081\n[::1]:8081\n127.0.0.1:8081\n").unwrap();
    let ran = balancer(&["--config", path.to_str().unwrap()]);
    assert_eq!(ran.code(), 1, "{ran:?}");
    assert!(
        ran.stderr.contains("line 3") && ran.stderr.contains("duplicate"),
        "{}",
        ran.stderr
    );

    let ran = balancer(&["127.0.0.1:8081", "127.0.0.1"]);
    assert_eq!(ran.code(), 1, "{ran:?}");
    assert!(
        ran.stderr.contains("argument 2") && ran.stderr.contains("port"),
        "{}",
        ran.stderr
    );

    let ran = balancer(&["--config", dir.path().join("missing").to_str().unwrap()]);
    assert_eq!(ran.code(), 7, "{ran:?}");
    assert!(ran.stderr.contains("cannot read"), "{}", ran.stderr);

    let ran = balancer(&[]);
    assert_eq!(ran.code(), 1, "{ran:?}");
    assert!(ran.stderr.contains("no server given"), "{}", ran.stderr);
}

#[test]
fn an_access_log_that_cannot_be_opened_exits_7_as_on_the_server() {
    let server = closed_port().to_string();
    let ran = balancer(&["--access-log", "/no/such/dir/access.log", &server]);
    assert_eq!(ran.code(), 7, "{ran:?}");
    assert!(
        ran.stderr
            .contains("cannot open the access log /no/such/dir/access.log"),
        "{}",
        ran.stderr
    );
}

#[test]
fn no_live_server_at_start_exits_10_with_a_clear_message() {
    let dead = closed_port().to_string();
    let ran = balancer(&[&dead]);
    assert_eq!(ran.code(), 10, "{ran:?}");
    assert!(
        ran.stderr.contains("no server passed the first probe"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stdout.contains("listening on"), "{}", ran.stdout);

    // A server that answers, but not 200 for the probe path, does not pass either.
    let srv = server(&www(), &[]);
    let ran = balancer(&["--probe-path", "/missing.bin", &srv.addr.to_string()]);
    assert_eq!(ran.code(), 10, "{ran:?}");
    assert!(
        ran.stderr.contains("answered 404 Not Found instead of 200"),
        "the removal names the status: {ran:?}"
    );
}

#[test]
fn usage_errors_exit_1_and_help_documents_flags_and_exit_codes() {
    let ran = balancer(&["--redirect", "200", "127.0.0.1:8081"]);
    assert_eq!(ran.code(), 1, "{ran:?}");
    assert!(ran.stderr.contains("not a redirect status"), "{ran:?}");
    let ran = balancer(&["--policy", "fastest", "127.0.0.1:8081"]);
    assert_eq!(ran.code(), 1, "{ran:?}");
    let ran = balancer(&["--probe-path", "probe.bin", "127.0.0.1:8081"]);
    assert_eq!(ran.code(), 1, "{ran:?}");
    assert!(ran.stderr.contains("probe path"), "{ran:?}");

    let ran = run(Command::new(bin("balancer")).arg("--help"), DEADLINE);
    assert_eq!(ran.code(), 0, "{ran:?}");
    for needle in [
        "--listen",
        "(default 127.0.0.1:12345)",
        "--config",
        "--probe-path",
        "(default /probe.bin)",
        "--probe-interval",
        "(default 300s)",
        "--probe-timeout",
        "(default 10s)",
        "--policy",
        "(default rank)",
        "--redirect",
        "(default 301)",
        "--threads",
        "(default 1, or",
        "--max-request-line",
        "(default 8192)",
        "--max-head",
        "(default 16384)",
        "RICOCHET_LOG",
        "1 usage error",
        "7 the --config or --access-log file cannot be read or opened",
        "10 no server passed",
    ] {
        assert!(ran.stdout.contains(needle), "--help lacks {needle:?}");
    }
}

#[test]
fn throughput_policy_and_307_redirects() {
    let fast = server(&www(), &["--rate", "4000000"]);
    let slow = server(&www(), &["--rate", "500000"]);
    let mut cmd = Command::new(bin("balancer"));
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--policy",
        "throughput",
        "--redirect",
        "307",
    ])
    .arg(fast.addr.to_string())
    .arg(slow.addr.to_string())
    .env("RICOCHET_LOG", "info");
    let balancer = Spawned::start(cmd);
    balancer.wait_for("(policy throughput)", Duration::from_secs(5));
    let mut request = String::new();
    for _ in 0..199 {
        request.push_str("GET /x HTTP/1.1\r\nHost: b\r\n\r\n");
    }
    request.push_str("GET /x HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n");
    let got = raw_exchange(balancer.addr, request.as_bytes(), Duration::from_secs(10));
    let text = String::from_utf8_lossy(&got);
    assert_eq!(
        text.matches("HTTP/1.1 307 Temporary Redirect\r\n").count(),
        200
    );
    let to_fast = text
        .matches(&format!("Location: http://{}/x\r\n", fast.addr))
        .count();
    let to_slow = text
        .matches(&format!("Location: http://{}/x\r\n", slow.addr))
        .count();
    assert_eq!(to_fast + to_slow, 200);
    // Weights about 1 : 0.125, so the slow one expects about 22 of 200 (σ ≈ 4.4).
    assert!(
        to_slow > 0 && to_slow < 50,
        "fast {to_fast}, slow {to_slow}"
    );
}

#[test]
fn servers_from_a_config_file_and_arguments_ipv6_included() {
    let mut cmd = Command::new(bin("server"));
    cmd.args(["--listen", "[::1]:0", "--root"])
        .arg(www())
        .env("RICOCHET_LOG", "warn");
    let v6 = Spawned::start(cmd);
    let v4 = server(&www(), &[]);
    let dir = TempDir::new("config-ok");
    let path = dir.path().join("servers.txt");
    let v6_entry = v6.url.trim_start_matches("http://").to_string();
    fs::write(&path, format!("# the v6 one\n\n  {v6_entry}   # ::1\n")).unwrap();
    // On [::] (which takes IPv4 clients too, as Linux does by default): each client is sent to
    // the server that passed over its own family, so both entries get clients.
    let mut cmd = Command::new(bin("balancer"));
    cmd.args(["--listen", "[::]:0", "--config"])
        .arg(&path)
        .arg(v4.addr.to_string())
        .env("RICOCHET_LOG", "warn");
    let balancer = Spawned::start(cmd);
    let mut request = String::new();
    for _ in 0..99 {
        request.push_str("GET /about.html HTTP/1.1\r\nHost: b\r\n\r\n");
    }
    request.push_str("GET /about.html HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n");
    let port = balancer.addr.port();
    for (client, to) in [
        (format!("127.0.0.1:{port}"), v4.addr.to_string()),
        (format!("[::1]:{port}"), v6_entry.clone()),
    ] {
        let got = raw_exchange(
            client.parse().unwrap(),
            request.as_bytes(),
            Duration::from_secs(10),
        );
        let text = String::from_utf8_lossy(&got);
        let sent = text
            .matches(&format!("Location: http://{to}/about.html\r\n"))
            .count();
        assert_eq!(sent, 100, "from {client}: {text}");
    }
}

#[test]
fn probe_verdicts_chunked_passes_short_body_and_stall_are_removed() {
    use ricochet_tests::{Reply, TestServer};
    let chunked = TestServer::start(|_, _| {
        Reply::Bytes(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
              5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                .to_vec(),
        )
    });
    let short = TestServer::start(|_, _| {
        Reply::Bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly ten b".to_vec())
    });
    let stall = TestServer::start(|_, _| {
        Reply::Stall(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec(),
            Duration::from_secs(5),
        )
    });
    let mut cmd = Command::new(bin("balancer"));
    cmd.args(["--listen", "127.0.0.1:0", "--probe-timeout", "500ms"])
        .arg(chunked.addr.to_string())
        .arg(short.addr.to_string())
        .arg(stall.addr.to_string())
        .env("RICOCHET_LOG", "info");
    let balancer = Spawned::start(cmd);
    // Logged before `listening on`, but read from stderr by another thread: wait for them.
    balancer.wait_for(
        &format!(
            "removed {}: received 10 bytes, Content-Length announced 1000",
            short.addr
        ),
        Duration::from_secs(5),
    );
    balancer.wait_for(
        &format!("removed {}: probe timed out", stall.addr),
        Duration::from_secs(5),
    );
    let got = raw_exchange(
        balancer.addr,
        b"GET /x HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains(&format!("Location: http://{}/x\r\n", chunked.addr)),
        "{text}"
    );
}
