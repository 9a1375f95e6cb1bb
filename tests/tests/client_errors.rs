//! Our client when things go wrong: each failure is one line on stderr, a distinct exit code,
//! and never a file under the final name or a temporary file left behind.

use ricochet_tests::{client, closed_port, response, server, www, Reply, TempDir, TestServer};
use std::time::{Duration, Instant};

#[test]
fn a_download_cut_mid_stream_leaves_no_file_and_exits_8() {
    let srv = TestServer::start(|_, _| {
        let mut bytes =
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\nContent-Type: application/octet-stream\r\n\r\n"
                .to_vec();
        bytes.extend(std::iter::repeat_n(b'x', 1000));
        Reply::Bytes(bytes)
    });
    let dir = TempDir::new("cut");
    let ran = client(dir.path(), &["-q", &format!("{}/big.bin", srv.url)]);
    assert_eq!(ran.code(), 8, "{ran:?}");
    assert!(ran.stderr.contains("1000 of 1000000"), "{}", ran.stderr);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    assert!(dir.entries().is_empty(), "left behind: {:?}", dir.entries());
}

#[test]
fn a_chunked_body_cut_mid_chunk_leaves_no_file_and_exits_8() {
    let srv = TestServer::start(|_, _| {
        Reply::Bytes(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\nonly a few bytes"
                .to_vec(),
        )
    });
    let dir = TempDir::new("cutchunk");
    let out = dir.path().join("out.bin");
    let ran = client(
        dir.path(),
        &["-q", &format!("{}/x", srv.url), "-o", out.to_str().unwrap()],
    );
    assert_eq!(ran.code(), 8, "{ran:?}");
    assert!(dir.entries().is_empty(), "left behind: {:?}", dir.entries());
}

#[test]
fn an_existing_file_is_not_clobbered_by_a_failed_download() {
    let srv = TestServer::start(|_, _| {
        Reply::Bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort".to_vec())
    });
    let dir = TempDir::new("keep");
    let out = dir.path().join("precious.txt");
    std::fs::write(&out, "old contents").unwrap();
    let ran = client(
        dir.path(),
        &[
            "-q",
            &format!("{}/precious.txt", srv.url),
            "-o",
            "precious.txt",
        ],
    );
    assert_eq!(ran.code(), 8, "{ran:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old contents");
    assert_eq!(dir.entries(), vec!["precious.txt".to_string()]);
}

#[test]
fn a_refused_connection_exits_2() {
    let addr = closed_port();
    let dir = TempDir::new("refused");
    let ran = client(dir.path(), &["-q", &format!("http://{addr}/x")]);
    assert_eq!(ran.code(), 2, "{ran:?}");
    assert!(ran.stderr.contains("cannot connect"), "{}", ran.stderr);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    assert!(dir.entries().is_empty());
}

#[test]
fn bad_urls_and_bad_usage_exit_1() {
    let dir = TempDir::new("badurl");
    for url in [
        "gopher://127.0.0.1/",
        "ftp://127.0.0.1/x",
        "no scheme here",
        "http://",
    ] {
        let ran = client(dir.path(), &["-q", url]);
        assert_eq!(ran.code(), 1, "{url}: {ran:?}");
        assert_eq!(ran.stderr.lines().count(), 1, "{url}: {}", ran.stderr);
    }
    let ran = client(dir.path(), &["ftp://example.com/"]);
    assert!(
        ran.stderr.contains("only http:// and https://"),
        "{}",
        ran.stderr
    );
    // No URL at all is a usage error.
    let ran = client(dir.path(), &[]);
    assert_eq!(ran.code(), 1, "{ran:?}");
    assert!(dir.entries().is_empty());
}

#[test]
fn help_lists_every_flag_and_exit_code() {
    let dir = TempDir::new("help");
    let ran = client(dir.path(), &["--help"]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    for needle in [
        "--output",
        "--max-redirects",
        "--quiet",
        "--timeout",
        "--continue",
        "--retry",
        "default 10",
        "default 30s",
        "RICOCHET_LOG",
    ] {
        assert!(
            ran.stdout.contains(needle),
            "--help lacks {needle}:\n{}",
            ran.stdout
        );
    }
    for code in 1..=8 {
        assert!(
            ran.stdout.contains(&format!("\n  {code} ")),
            "--help lacks exit code {code}:\n{}",
            ran.stdout
        );
    }
}

#[test]
fn a_malformed_response_exits_4() {
    let srv = TestServer::start(|_, _| Reply::Bytes(b"SPDY/3 banana\r\n\r\n".to_vec()));
    let dir = TempDir::new("garbage");
    let ran = client(dir.path(), &["-q", &format!("{}/x", srv.url)]);
    assert_eq!(ran.code(), 4, "{ran:?}");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    assert!(dir.entries().is_empty());

    // A server that closes without answering is a protocol failure too.
    let srv = TestServer::start(|_, _| Reply::Bytes(Vec::new()));
    let ran = client(dir.path(), &["-q", &format!("{}/x", srv.url)]);
    assert_eq!(ran.code(), 4, "{ran:?}");
    assert!(ran.stderr.contains("without answering"), "{}", ran.stderr);
}

#[test]
fn a_silent_server_times_out_with_exit_3() {
    let srv = TestServer::start(|_, _| {
        Reply::Stall(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec(),
            Duration::from_secs(10),
        )
    });
    let dir = TempDir::new("timeout");
    let started = Instant::now();
    let ran = client(
        dir.path(),
        &["-q", "--timeout", "500ms", &format!("{}/slow.bin", srv.url)],
    );
    assert_eq!(ran.code(), 3, "{ran:?}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    assert!(ran.stderr.contains("timed out"), "{}", ran.stderr);
    assert!(dir.entries().is_empty(), "left behind: {:?}", dir.entries());
}

#[test]
fn a_non_2xx_text_body_is_printed_and_nothing_saved() {
    let srv = TestServer::start(|_, _| {
        Reply::Bytes(response(
            "503 Service Unavailable",
            &[("Content-Type", "text/plain")],
            b"come back later",
        ))
    });
    let dir = TempDir::new("503");
    let ran = client(dir.path(), &["-q", &format!("{}/x", srv.url)]);
    assert_eq!(ran.code(), 5, "{ran:?}");
    assert!(
        ran.stdout.contains("503 Service Unavailable"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("come back later"), "{}", ran.stdout);
    assert!(ran.stderr.contains("503"), "{}", ran.stderr);
    assert!(dir.entries().is_empty());
}

/// Ctrl-C (SIGINT) or `kill` (SIGTERM) in the middle of a download: the hidden temporary file
/// is removed too, nothing is left under any name, and the process still ends by that signal
/// (so a shell sees an interrupted command, not a success or an ordinary failure).
#[cfg(unix)]
#[test]
fn an_interrupted_download_leaves_no_temporary_file() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    let site = TempDir::new("interrupt-site");
    std::fs::write(site.path().join("big.bin"), vec![7u8; 1 << 20]).unwrap();
    // 20 kB/s: the 1 MiB download would take nearly a minute.
    let srv = ricochet_tests::server(site.path(), &["--rate", "20000"]);
    for (signal, number) in [("INT", 2), ("TERM", 15)] {
        let dir = TempDir::new("interrupt");
        let mut child = Command::new(ricochet_tests::bin("client"))
            .args(["-q", &format!("{}/big.bin", srv.url)])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let names = || -> Vec<String> {
            std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !names().iter().any(|n| n.ends_with(".part")) {
            assert!(Instant::now() < deadline, "no temporary file appeared");
            std::thread::sleep(Duration::from_millis(20));
        }
        let killed = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "client did not stop on SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.signal(), Some(number), "SIG{signal}: {status:?}");
        assert_eq!(
            names(),
            Vec::<String>::new(),
            "left behind after SIG{signal}"
        );
    }
}

#[test]
fn an_output_in_a_missing_directory_names_the_path_given() {
    let srv = server(&www(), &[]);
    let dir = TempDir::new("missing-dir");
    let url = format!("{}/index.html", srv.url);
    let ran = client(dir.path(), &["-q", "-o", "no/such/dir/x.html", &url]);
    assert_eq!(ran.code(), 7, "{ran:?}");
    assert!(
        ran.stderr
            .starts_with("client: cannot save no/such/dir/x.html: "),
        "{}",
        ran.stderr
    );
    // Not the hidden temporary file the user never named.
    assert!(!ran.stderr.contains(".part"), "{}", ran.stderr);
    assert_eq!(dir.entries(), Vec::<String>::new());
}

#[test]
fn plain_http_to_a_tls_port_suggests_https() {
    let dir = TempDir::new("http-to-tls");
    // Our server with TLS: it answers a plain request with an alert record, or just closes.
    let pki = ricochet_tests::tls::Pki::new("http-to-tls");
    let flags = pki.loopback("server").flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let tls = server(&www(), &flags);
    let url = format!("http://127.0.0.1:{}/index.html", tls.addr.port());
    // A bare TLS alert (handshake failure), as another TLS server may send.
    let alert = TestServer::start(|_, _| Reply::Bytes(vec![0x15, 3, 3, 0, 2, 2, 40]));
    for url in [url, format!("{}/index.html", alert.url)] {
        let ran = client(dir.path(), &["-q", "--retry", "1", &url]);
        assert_eq!(ran.code(), 4, "{url}: {ran:?}");
        assert_eq!(ran.stderr.lines().count(), 1, "{url}: {}", ran.stderr);
        assert!(
            ran.stderr.contains("may want https://"),
            "{url}: {}",
            ran.stderr
        );
    }
    assert!(dir.entries().is_empty());
}
