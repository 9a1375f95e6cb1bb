//! `server --workers N`: N processes on one address, each with its own event loop, spreading
//! connections between them and stopping together.

#![cfg(target_os = "linux")]

use ricochet_tests::{raw_exchange, server, status_of, www};
use std::time::{Duration, Instant};

/// The PIDs of the processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ')'.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            found.push(child);
        }
    }
    found
}

/// Bytes a process has written (sockets included), from /proc/PID/io.
fn written(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

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
    let before: Vec<u64> = workers.iter().map(|&p| written(p)).collect();

    let expected = std::fs::read(www().join("style.css")).unwrap();
    for _ in 0..60 {
        let got = raw_exchange(
            srv.addr,
            b"GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            Duration::from_secs(10),
        );
        assert_eq!(status_of(&got), Some(200));
        assert!(got.ends_with(&expected), "body differs");
    }
    // SO_REUSEPORT spreads connections by their addresses: with 60 of them, every one of the
    // three processes serves some (all missing one by chance: about 1 in 10^10).
    for (pid, before) in workers.iter().zip(before) {
        let after = written(*pid);
        assert!(
            after > before + expected.len() as u64,
            "worker {pid} served nothing ({before} -> {after} bytes written)"
        );
    }

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
