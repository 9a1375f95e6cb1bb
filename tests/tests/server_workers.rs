//! `server --workers N`: N processes on one address, each with its own event loop, spreading
//! connections between them and stopping together.

#![cfg(target_os = "linux")]

use ricochet_tests::procfs::{children, established_on, holds};
use ricochet_tests::{server, status_of, www};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[test]
fn workers_share_the_address_and_stop_with_the_server() {
    let srv = server(&www(), &["--workers", "3"]);
    let mut workers = children(srv.pid());
    assert_eq!(
        workers.len(),
        2,
        "expected 2 worker processes besides the first"
    );
    workers.push(srv.pid());
    // 60 kept-alive connections, each answered once and left open: every connection is then
    // held by exactly one process, and SO_REUSEPORT spreads them by their addresses, so every
    // one of the three holds some (all missing one by chance: about 1 in 10^10).
    let expected = std::fs::read(www().join("style.css")).unwrap();
    let mut open = Vec::new();
    for _ in 0..60 {
        let mut stream = TcpStream::connect(srv.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.ends_with(&expected) {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(status_of(&got), Some(200));
        open.push(stream);
    }
    let inodes = established_on(srv.addr.port());
    let held: Vec<usize> = workers.iter().map(|&pid| holds(pid, &inodes)).collect();
    assert_eq!(held.iter().sum::<usize>(), 60, "connections held: {held:?}");
    assert!(
        held.iter().all(|&n| n > 0),
        "a worker got no connection: {held:?}"
    );
    drop(open);

    // Stopping the first process stops them all.
    let killed = std::process::Command::new("kill")
        .arg(srv.pid().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    for pid in &workers[..2] {
        while std::path::Path::new(&format!("/proc/{pid}/stat")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ")
        {
            assert!(
                Instant::now() < deadline,
                "worker {pid} outlived the server"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
