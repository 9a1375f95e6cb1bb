//! Our server over HTTPS: unusable certificate files stop it at start (exit 4) naming the file,
//! plaintext and a stalled handshake end only their own connection, `--workers` serves TLS, and
//! a repeat client resumes its session, the server ending with TLS's close_notify.

use ricochet_tests::tls::Pki;
use ricochet_tests::{bin, client, require, run, server, www, TempDir, COMMAND};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

fn server_exit(cert: &str, key: &str) -> ricochet_tests::Ran {
    run(
        Command::new(bin("server"))
            .args(["--listen", "127.0.0.1:0", "--root"])
            .arg(www())
            .args(["--tls-cert", cert, "--tls-key", key]),
        COMMAND,
    )
}

#[test]
fn unusable_certificate_files_stop_the_server_with_exit_7_naming_the_file() {
    let pki = Pki::new("server-files");
    let a = pki.loopback("a");
    let b = pki.loopback("b");
    let cert = a.cert.display().to_string();
    let key = a.key.display().to_string();
    let other_key = b.key.display().to_string();
    let missing = pki.dir().join("missing.pem").display().to_string();
    for (cert, key, names) in [
        (&missing, &key, &missing),
        (&cert, &missing, &missing),
        (&key, &key, &key),              // no certificate in it
        (&cert, &cert, &cert),           // no key in it
        (&cert, &other_key, &other_key), // the key of another certificate
    ] {
        let ran = server_exit(cert, key);
        assert_eq!(ran.code(), 7, "{cert} {key}: {}", ran.stderr);
        let line = ran.stderr.trim();
        assert!(!line.contains('\n'), "one line: {line}");
        assert!(line.contains(names.as_str()), "{names} not named: {line}");
        assert!(!ran.stdout.contains("listening"), "{}", ran.stdout);
    }
    // One flag without the other is a usage error.
    let ran = run(
        Command::new(bin("server")).args(["--listen", "127.0.0.1:0", "--tls-cert", &cert]),
        COMMAND,
    );
    assert_eq!(ran.code(), 1, "{}", ran.stderr);
}

/// Whether the server closed `stream` within `limit` (EOF or reset), without sending an HTTP
/// response.
fn closed_without_http(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => break,
        }
        if started.elapsed() > limit {
            return false;
        }
    }
    !got.starts_with(b"HTTP/")
}

#[test]
fn plaintext_and_a_stalled_handshake_do_not_disturb_a_good_client() {
    let pki = Pki::new("server-bad-peers");
    let cert = pki.loopback("server");
    let mut flags = cert.flags();
    flags.extend(["--header-timeout".to_string(), "2s".to_string()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = server(&www(), &flags);

    // Connected, sending nothing: the handshake stalls.
    let mut stalled = TcpStream::connect(server.addr).unwrap();
    // Plaintext HTTP to the TLS port.
    let mut plain = TcpStream::connect(server.addr).unwrap();
    plain
        .write_all(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();

    // Meanwhile a good client downloads.
    let dir = TempDir::new("tls-good-neighbour");
    let url = format!("https://localhost:{}/probe.bin", server.addr.port());
    let ca = pki.ca_file.display().to_string();
    let ran = client(dir.path(), &["--cacert", &ca, "-q", &url]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr);
    assert_eq!(
        std::fs::read(dir.path().join("probe.bin")).unwrap(),
        std::fs::read(www().join("probe.bin")).unwrap()
    );

    assert!(
        closed_without_http(&mut plain, Duration::from_secs(5)),
        "the plaintext connection was not closed"
    );
    // Cut by the 2 s header timeout (plus up to a second of deferred accept).
    assert!(
        closed_without_http(&mut stalled, Duration::from_secs(10)),
        "the stalled handshake was not cut off"
    );
    // Still serving.
    let ran = client(dir.path(), &["--cacert", &ca, "-q", "-o", "again", &url]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr);
}

#[cfg(target_os = "linux")]
#[test]
fn workers_serve_https() {
    if !require("curl") {
        return;
    }
    let pki = Pki::new("server-workers");
    let cert = pki.loopback("server");
    let mut flags = cert.flags();
    flags.extend(["--workers".to_string(), "2".to_string()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = server(&www(), &flags);
    let url = format!("https://localhost:{}/index.html", server.addr.port());
    let want = std::fs::read(www().join("index.html")).unwrap();
    for _ in 0..8 {
        let ran = run(
            Command::new("curl")
                .args(["-sS", "--fail", "--cacert"])
                .arg(&pki.ca_file)
                .arg(&url),
            COMMAND,
        );
        assert_eq!(ran.code(), 0, "{}", ran.stderr);
        assert_eq!(ran.stdout.as_bytes(), &want[..]);
    }
}

#[test]
fn a_repeat_client_resumes_its_session() {
    if !require("openssl") {
        return;
    }
    let pki = Pki::new("server-resume");
    let cert = pki.loopback("server");
    let flags = cert.flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = server(&www(), &flags);
    let connect = format!("127.0.0.1:{}", server.addr.port());
    let session = pki.dir().join("session.pem");
    for version in ["-tls1_2", "-tls1_3"] {
        let _ = std::fs::remove_file(&session);
        let s_client = |save: bool| {
            let mut cmd = Command::new("openssl");
            cmd.args(["s_client", version, "-connect", &connect, "-CAfile"])
                .arg(&pki.ca_file)
                .arg("-ign_eof")
                .arg(if save { "-sess_out" } else { "-sess_in" })
                .arg(&session);
            // Send a request so the TLS 1.3 ticket, sent after the handshake, is read too.
            let mut child = cmd
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("openssl");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let deadline = Instant::now() + COMMAND;
            while child.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "openssl s_client hung");
                std::thread::sleep(Duration::from_millis(20));
            }
            let (mut out, mut err) = (String::new(), String::new());
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            // The server ends the connection with close_notify: OpenSSL reports a cut otherwise.
            assert!(
                !err.contains("unexpected eof"),
                "{version}: closed without close_notify: {err}"
            );
            out
        };
        let first = s_client(true);
        assert!(first.contains("New, TLS"), "{version}: {first}");
        assert!(first.contains("HTTP/1.1 200 OK"), "{version}: {first}");
        let second = s_client(false);
        assert!(second.contains("Reused, TLS"), "{version}: {second}");
    }
}
