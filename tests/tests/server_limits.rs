//! Our server under resource pressure and its command line: accept errors (EMFILE) are logged
//! and survived, `--help` documents every flag, a bad root or a busy address is refused.

use ricochet_tests::{bin, raw_exchange, require, run, status_of, www, Spawned, COMMAND};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn running_out_of_file_descriptors_is_logged_and_survived() {
    if !require("sh") {
        return;
    }
    // A tiny descriptor limit: a few dozen clients exhaust it, and accept fails with EMFILE.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -n 24 && exec \"$0\" --listen 127.0.0.1:0 --root \"$1\"")
        .arg(bin("server"))
        .arg(www())
        .env("RICOCHET_LOG", "warn");
    let mut srv = Spawned::start(cmd);
    let clients: Vec<TcpStream> = (0..40)
        .filter_map(|_| TcpStream::connect(srv.addr).ok())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !srv.output().contains("accept failed") {
        assert!(
            Instant::now() < deadline,
            "no accept error logged:\n{}",
            srv.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(clients);
    // Once descriptors free up, the server answers again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = raw_exchange(
            srv.addr,
            b"GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            Duration::from_secs(3),
        );
        if status_of(&got) == Some(200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "server did not recover:\n{}",
            srv.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(srv.is_running(), "server died:\n{}", srv.output());
}

#[test]
fn help_documents_every_flag_with_its_default() {
    let ran = run(Command::new(bin("server")).arg("--help"), COMMAND);
    assert_eq!(ran.code(), 0, "{ran:?}");
    for needle in [
        "--listen",
        "default 127.0.0.1:8080",
        "--root",
        "--rate",
        "--rate-total",
        "--hash-threads",
        "--no-digest-xattr",
        "--delay",
        "--max-connections",
        "default 1024",
        "--max-request-line",
        "default 8192",
        "--max-head",
        "default 16384",
        "--header-timeout",
        "default 10s",
        "--idle-timeout",
        "default 60s",
        "--threads",
        "default 1",
        "--workers",
        "RICOCHET_LOG",
    ] {
        assert!(
            ran.stdout.contains(needle),
            "--help lacks {needle}:\n{}",
            ran.stdout
        );
    }
}

#[test]
fn a_root_that_is_not_a_directory_is_refused_at_startup_with_exit_7() {
    let ran = run(
        Command::new(bin("server"))
            .args(["--listen", "127.0.0.1:0", "--root"])
            .arg(www().join("index.html")),
        COMMAND,
    );
    assert_eq!(ran.code(), 7, "{ran:?}");
    assert!(ran.stderr.contains("not a directory"), "{}", ran.stderr);
    let ran = run(
        Command::new(bin("server")).args(["--listen", "127.0.0.1:0", "--root", "/no/such/dir"]),
        COMMAND,
    );
    assert_eq!(ran.code(), 7, "{ran:?}");
    assert!(ran.stderr.contains("/no/such/dir"), "{}", ran.stderr);
}

#[test]
fn an_access_log_that_cannot_be_opened_is_refused_at_startup_with_exit_7() {
    let ran = run(
        Command::new(bin("server"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--access-log",
                "/no/such/dir/access.log",
            ])
            .arg("--root")
            .arg(www()),
        COMMAND,
    );
    assert_eq!(ran.code(), 7, "{ran:?}");
    assert!(
        ran.stderr
            .starts_with("server: cannot open the access log /no/such/dir/access.log"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_busy_listen_address_exits_2_with_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let ran = run(
        Command::new(bin("server"))
            .args(["--listen", &addr, "--root"])
            .arg(www()),
        COMMAND,
    );
    assert_eq!(ran.code(), 2, "{ran:?}");
    assert!(
        ran.stderr
            .starts_with(&format!("server: cannot listen on {addr}: ")),
        "{}",
        ran.stderr
    );
    assert!(!ran.stdout.contains("listening on"), "{}", ran.stdout);
}
