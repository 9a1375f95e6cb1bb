//! SIGTERM and SIGINT stop `server`, `balancer` and `cluster` gracefully: no new connection is
//! accepted, a download in flight completes byte-exact, idle kept-alive connections are closed,
//! and the process exits 0; past `--shutdown-timeout` (or on a second signal) what is left is
//! cut and the exit status is 12 (the exit table's "forced").

#[cfg(target_os = "linux")]
use ricochet_tests::procfs::children;
use ricochet_tests::{bin, www, Spawned, TempDir};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The exit status of a stop that had to cut connections.
const EXIT_FORCED: i32 = 12;
/// The exit status when a worker process failed.
const EXIT_WORKER_FAILED: i32 = 11;
/// Bound on every wait for a process to end.
const EXIT: Duration = Duration::from_secs(20);

fn server(extra: &[&str]) -> Spawned {
    ricochet_tests::server(&www(), extra)
}

/// A GET on a new connection, reading until the response head and some body arrived: the
/// stream, and the bytes read so far.
fn start_download(addr: SocketAddr, path: &str, connection: &str) -> (TcpStream, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: {connection}\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while find_body(&got).is_none_or(|at| got.len() == at) {
        let n = stream.read(&mut buf).expect("read the response's start");
        assert!(n > 0, "closed before the body started");
        got.extend_from_slice(&buf[..n]);
    }
    (stream, got)
}

/// Where the body starts, once the head is complete.
fn find_body(response: &[u8]) -> Option<usize> {
    response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// Read until the peer closes (bounded); what arrived, and whether it ended in an error (a
/// reset) rather than a clean close.
fn read_rest(stream: &mut TcpStream, got: &mut Vec<u8>) {
    let end = Instant::now() + Duration::from_secs(30);
    let mut buf = [0u8; 16 * 1024];
    loop {
        assert!(Instant::now() < end, "the connection stayed open");
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Whether `addr` refuses new connections, tried for at most 5 s.
fn refuses(addr: SocketAddr) -> bool {
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return true,
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    false
}

/// An idle kept-alive connection: one request answered, then left open.
fn kept_alive(addr: SocketAddr, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("read the answer");
        assert!(n > 0, "closed after the first answer");
        got.extend_from_slice(&buf[..n]);
        if let Some(at) = find_body(&got) {
            let head = String::from_utf8_lossy(&got[..at]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            if got.len() >= at + length {
                return stream;
            }
        }
    }
}

/// Whether the peer closes `stream` within 5 s without sending anything more.
fn closed_promptly(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

/// Size of every file in `dir`.
fn sizes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

#[test]
fn sigterm_mid_download_lets_it_finish_byte_exact_refuses_new_connections_and_exits_0() {
    // 256 KiB at 100 kB/s: about 2.6 s.
    let logs = TempDir::new("graceful-log");
    let access_log = logs.path().join("access.log");
    let mut srv = server(&[
        "--rate",
        "100000",
        "--access-log",
        access_log.to_str().unwrap(),
    ]);
    let dir = TempDir::new("graceful");
    let mut client = Command::new(bin("client"))
        .arg(format!("{}/probe.bin", srv.url))
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn client");
    // The download is under way once bytes reach the client's file.
    let end = Instant::now() + Duration::from_secs(10);
    while sizes(dir.path()) == 0 {
        assert!(Instant::now() < end, "the download never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    srv.signal("TERM");
    srv.wait_for("1 connection open, draining", Duration::from_secs(5));

    assert!(
        refuses(srv.addr),
        "a new connection after SIGTERM is refused"
    );
    assert!(srv.is_running(), "the download was still in flight");

    let status = srv.wait_exit(EXIT);
    assert_eq!(status.code(), Some(0), "{}", srv.output());
    let client_end = Instant::now() + EXIT;
    let client_status = loop {
        if let Some(status) = client.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < client_end, "the client never finished");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(client_status.success(), "client: {client_status}");
    let got = std::fs::read(dir.path().join("probe.bin")).expect("the downloaded file");
    assert!(
        got == std::fs::read(www().join("probe.bin")).unwrap(),
        "the file is byte-exact"
    );
    // The access log has the download's line, written out before the exit.
    let lines = std::fs::read_to_string(&access_log).unwrap();
    assert!(
        lines.contains("\"GET /probe.bin HTTP/1.1\" 200 262144"),
        "{lines}"
    );
    let log = srv.log_messages();
    assert!(log.contains("SIGTERM: stopping"), "{log}");
    assert!(log.contains("drained: every connection closed"), "{log}");
}

#[test]
fn sigterm_closes_an_idle_kept_alive_connection_promptly_and_exits_0() {
    let mut srv = server(&[]);
    let mut idle = kept_alive(srv.addr, "/index.html");
    srv.signal("TERM");
    assert!(closed_promptly(&mut idle), "the idle connection is closed");
    assert_eq!(srv.wait_exit(EXIT).code(), Some(0), "{}", srv.output());
}

#[test]
fn a_download_outlasting_the_shutdown_timeout_is_cut_with_exit_status_12() {
    // 256 KiB at 20 kB/s: 13 s, far past the 1 s allowed.
    let mut srv = server(&["--rate", "20000", "--shutdown-timeout", "1s"]);
    let (mut stream, mut got) = start_download(srv.addr, "/probe.bin", "close");
    srv.signal("TERM");
    let status = srv.wait_exit(EXIT);
    assert_eq!(status.code(), Some(EXIT_FORCED), "{}", srv.output());
    read_rest(&mut stream, &mut got);
    let body = got.len() - find_body(&got).unwrap();
    assert!(body < 256 * 1024, "the download was cut ({body} bytes)");
    assert!(
        srv.log_messages().contains("shutdown timeout (1s) passed"),
        "{}",
        srv.output()
    );
}

#[test]
fn a_second_signal_during_the_drain_ends_at_once_with_exit_status_12() {
    let mut srv = server(&["--rate", "20000"]);
    let (_stream, _) = start_download(srv.addr, "/probe.bin", "close");
    srv.signal("TERM");
    srv.wait_for("1 connection open, draining", Duration::from_secs(5));
    srv.signal("INT");
    assert_eq!(
        srv.wait_exit(EXIT).code(),
        Some(EXIT_FORCED),
        "{}",
        srv.output()
    );
}

#[test]
fn balancer_sigterm_closes_a_kept_alive_client_and_exits_0() {
    let backend = server(&[]);
    let mut cmd = Command::new(bin("balancer"));
    cmd.args(["--listen", "127.0.0.1:0", &backend.addr.to_string()])
        .env("RICOCHET_LOG", "info");
    let mut balancer = Spawned::start(cmd);
    let mut client = kept_alive(balancer.addr, "/index.html");
    balancer.signal("TERM");
    assert!(
        closed_promptly(&mut client),
        "the kept-alive client is closed"
    );
    assert_eq!(
        balancer.wait_exit(EXIT).code(),
        Some(0),
        "{}",
        balancer.output()
    );
    let log = balancer.log_messages();
    assert!(log.contains("1 connection open, draining"), "{log}");
}

#[cfg(target_os = "linux")]
#[test]
fn workers_drain_their_downloads_and_all_end_with_exit_0_on_sigterm() {
    let mut srv = server(&["--workers", "3", "--rate", "100000"]);
    let workers = children(srv.pid());
    assert_eq!(workers.len(), 2, "two workers besides the first process");
    // Several downloads, so that more than one process has one in flight.
    let mut downloads: Vec<_> = (0..6)
        .map(|_| start_download(srv.addr, "/probe.bin", "close"))
        .collect();
    srv.signal("TERM");
    let expected = std::fs::read(www().join("probe.bin")).unwrap();
    for (stream, got) in &mut downloads {
        read_rest(stream, got);
        let body = &got[find_body(got).unwrap()..];
        assert!(
            body == expected,
            "a download in flight completes byte-exact"
        );
    }
    assert_eq!(srv.wait_exit(EXIT).code(), Some(0), "{}", srv.output());
    for worker in workers {
        let end = Instant::now() + Duration::from_secs(5);
        while Path::new(&format!("/proc/{worker}")).exists() {
            assert!(Instant::now() < end, "worker {worker} still running");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn cluster_stops_on_ctrl_c_with_exit_0() {
    let mut cluster = Spawned::start(ricochet_tests::cluster_command(&[]));
    cluster.wait_for("stop with Ctrl-C", Duration::from_secs(5));
    let mut idle = kept_alive(cluster.addr, "/index.html");
    cluster.signal("INT");
    assert!(
        closed_promptly(&mut idle),
        "the kept-alive client is closed"
    );
    assert_eq!(
        cluster.wait_exit(EXIT).code(),
        Some(0),
        "{}",
        cluster.output()
    );
    let log = cluster.log_messages();
    assert!(log.contains("SIGINT: stopping"), "{log}");
}

#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_to_the_whole_process_group_of_workers_still_drains_and_exits_0() {
    // A terminal's Ctrl-C sends SIGINT to every process of the foreground group at once: each
    // worker gets it from the terminal and again from the first process, which is no reason to
    // cut anything. One `kill` with every PID does the same.
    let mut srv = server(&["--workers", "2", "--rate", "100000"]);
    let mut pids = children(srv.pid());
    pids.push(srv.pid());
    let (mut stream, mut got) = start_download(srv.addr, "/probe.bin", "close");
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    let status = Command::new("sh")
        .args(["-c", &format!("kill -INT {}", list.join(" "))])
        .status()
        .expect("run sh");
    assert!(status.success());
    read_rest(&mut stream, &mut got);
    let expected = std::fs::read(www().join("probe.bin")).unwrap();
    assert!(
        got[find_body(&got).unwrap()..] == expected[..],
        "byte-exact"
    );
    assert_eq!(srv.wait_exit(EXIT).code(), Some(0), "{}", srv.output());
}

#[cfg(target_os = "linux")]
#[test]
fn sigterm_to_one_worker_stops_the_whole_server_with_exit_0_and_a_killed_one_with_11() {
    let mut srv = server(&["--workers", "2"]);
    let worker = children(srv.pid())[0];
    let status = Command::new("sh")
        .args(["-c", &format!("kill -TERM {worker}")])
        .status()
        .expect("run sh");
    assert!(status.success());
    assert_eq!(srv.wait_exit(EXIT).code(), Some(0), "{}", srv.output());

    let mut srv = server(&["--workers", "2"]);
    let worker = children(srv.pid())[0];
    let status = Command::new("sh")
        .args(["-c", &format!("kill -KILL {worker}")])
        .status()
        .expect("run sh");
    assert!(status.success());
    assert_eq!(
        srv.wait_exit(EXIT).code(),
        Some(EXIT_WORKER_FAILED),
        "{}",
        srv.output()
    );
}
