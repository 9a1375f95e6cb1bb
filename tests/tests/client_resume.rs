//! Our client resuming downloads (`-c/--continue`, `--retry`): from a partial file left by an
//! earlier run, after a connection cut mid-body, against servers with ranges (a small python
//! server, nginx) and without (python's http.server: it starts over). Never a splice of two
//! versions, never a partial file left without `--continue`.

use ricochet_tests::{
    bin, client, python, python_http_server, require, server, Reply, Spawned, TempDir, TestServer,
};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A file server with single open ranges (`bytes=N-`), a strong ETag and If-Range, that can
/// misbehave on purpose. Arguments: the file; the number of GETs to cut (each sends the head
/// and half the body, then closes); `change` to switch to other content (and another ETag)
/// after the first GET.
const RANGE_SERVER: &str = r#"
import socket, sys
path, cuts, change = sys.argv[1], int(sys.argv[2]), len(sys.argv) > 3
data = open(path, 'rb').read()
tag = '"v1"'
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', 0)); s.listen(8)
print('listening on http://127.0.0.1:%d' % s.getsockname()[1], flush=True)
gets = 0
while True:
    c, _ = s.accept()
    head = b''
    while b'\r\n\r\n' not in head:
        got = c.recv(65536)
        if not got: break
        head += got
    lines = head.decode('latin-1').split('\r\n')
    fields = {l.split(':', 1)[0].lower(): l.split(':', 1)[1].strip() for l in lines[1:] if ':' in l}
    gets += 1
    start = 0
    rng = fields.get('range', '')
    if rng.startswith('bytes=') and rng.endswith('-') and fields.get('if-range', tag) == tag:
        start = int(rng[6:-1])
    print('GET range=%r if-range=%r' % (rng, fields.get('if-range')), flush=True)
    if start >= len(data) and start > 0:
        out = 'HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */%d\r\nContent-Length: 0\r\nETag: %s\r\n\r\n' % (len(data), tag)
        body = b''
    elif start > 0:
        out = 'HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\nETag: %s\r\n\r\n' % (start, len(data) - 1, len(data), len(data) - start, tag)
        body = data[start:]
    else:
        out = 'HTTP/1.1 200 OK\r\nContent-Length: %d\r\nETag: %s\r\n\r\n' % (len(data), tag)
        body = data
    if gets <= cuts:
        body = body[:len(body) // 2]
    c.sendall(out.encode() + body)
    c.close()
    if change and gets == 1:
        data = bytes(reversed(data)) + b'tail of version 2'
        tag = '"v2"'
"#;

/// 1 MiB of bytes that differ at every offset modulo 251 (a splice shows).
fn sample(dir: &Path) -> Vec<u8> {
    let bytes: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("big.bin"), &bytes).unwrap();
    bytes
}

/// Waits for a client started in the background, at most `limit` (then kills it and fails).
fn finish_within(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let end = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            panic!("the client did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn hidden(dir: &TempDir) -> Vec<String> {
    dir.entries()
        .into_iter()
        .filter(|e| e.starts_with('.'))
        .collect()
}

#[test]
fn a_cut_download_is_resumed_with_range_and_if_range_by_retry() {
    let site = TempDir::new("resume-site");
    let bytes = sample(site.path());
    let file = site.path().join("big.bin");
    let srv = python(RANGE_SERVER, &[file.to_str().unwrap(), "1"]);
    let dir = TempDir::new("resume-retry");
    let ran = client(
        dir.path(),
        &["--retry", "2", &format!("{}/big.bin", srv.url)],
    );
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(
        std::fs::read(dir.path().join("big.bin")).unwrap() == bytes,
        "not byte-exact"
    );
    assert!(ran.stdout.contains("206 Partial Content"), "{}", ran.stdout);
    assert!(ran.stderr.contains("retry 1 of 2"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("resumed at byte 524288"),
        "{}",
        ran.stderr
    );
    // The server's lines arrive through a pipe read by another thread: wait for them.
    let log = srv.wait_for("GET range='bytes=524288-'", Duration::from_secs(10));
    assert!(
        log.contains("GET range='bytes=524288-' if-range='\"v1\"'"),
        "{log}"
    );
    assert_eq!(dir.entries(), vec!["big.bin".to_string()]);
}

#[test]
fn without_continue_a_cut_leaves_nothing_and_with_it_the_next_run_resumes() {
    let site = TempDir::new("resume-site2");
    let bytes = sample(site.path());
    let file = site.path().join("big.bin");
    let srv = python(RANGE_SERVER, &[file.to_str().unwrap(), "2"]);
    let url = format!("{}/big.bin", srv.url);
    let dir = TempDir::new("resume-continue");
    // Cut, no --continue: exit 8 and nothing left.
    let ran = client(dir.path(), &["-q", &url]);
    assert_eq!(ran.code(), 8, "{ran:?}");
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
    // Cut with --continue: exit 8, the partial file and its note stay.
    let ran = client(dir.path(), &["-q", "-c", &url]);
    assert_eq!(ran.code(), 8, "{ran:?}");
    assert_eq!(
        hidden(&dir),
        vec![
            ".big.bin.part".to_string(),
            ".big.bin.part.meta".to_string()
        ]
    );
    assert_eq!(
        std::fs::metadata(dir.path().join(".big.bin.part"))
            .unwrap()
            .len(),
        524_288
    );
    // The next run asks only for the rest.
    let ran = client(dir.path(), &["-c", &url]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(ran.stdout.contains("206 Partial Content"), "{}", ran.stdout);
    assert!(
        std::fs::read(dir.path().join("big.bin")).unwrap() == bytes,
        "not byte-exact"
    );
    assert_eq!(dir.entries(), vec!["big.bin".to_string()]);
    // Once more: the file is complete (416 for its length), exit 0, untouched.
    let ran = client(dir.path(), &["-c", &url]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(ran.stderr.contains("already complete"), "{}", ran.stderr);
    assert!(std::fs::read(dir.path().join("big.bin")).unwrap() == bytes);
}

#[test]
fn a_file_changed_between_attempts_is_downloaded_whole_never_spliced() {
    let site = TempDir::new("resume-site3");
    sample(site.path());
    let file = site.path().join("big.bin");
    let srv = python(RANGE_SERVER, &[file.to_str().unwrap(), "1", "change"]);
    let dir = TempDir::new("resume-changed");
    let ran = client(
        dir.path(),
        &["-q", "--retry", "1", &format!("{}/big.bin", srv.url)],
    );
    assert_eq!(ran.code(), 0, "{ran:?}");
    let mut second: Vec<u8> = std::fs::read(&file).unwrap();
    second.reverse();
    second.extend_from_slice(b"tail of version 2");
    let got = std::fs::read(dir.path().join("big.bin")).unwrap();
    assert_eq!(got.len(), second.len());
    assert!(got == second, "the saved file is not version 2 whole");
    // The resume asked with If-Range "v1" and got the whole of v2 (200).
    srv.wait_for("if-range='\"v1\"'", Duration::from_secs(10));
    assert!(ran.stdout.matches("200 OK").count() == 2, "{}", ran.stdout);
}

#[test]
fn a_partial_file_against_a_server_without_ranges_starts_over() {
    let site = TempDir::new("resume-py-site");
    let bytes = sample(site.path());
    let srv = python_http_server(site.path());
    let url = format!("{}/big.bin", srv.url);
    let dir = TempDir::new("resume-py");
    // What an earlier run would have left: a wrong prefix, with a note for this URL.
    std::fs::write(dir.path().join(".big.bin.part"), vec![0xAAu8; 1000]).unwrap();
    std::fs::write(
        dir.path().join(".big.bin.part.meta"),
        format!("ricochet-partial 1\nurl {url}\nlast-modified Sun, 01 Nov 2026 00:00:00 GMT\n"),
    )
    .unwrap();
    let ran = client(dir.path(), &["-q", "-c", &url]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(ran.stdout.contains("200 OK"), "{}", ran.stdout);
    assert!(
        std::fs::read(dir.path().join("big.bin")).unwrap() == bytes,
        "not byte-exact"
    );
    assert_eq!(dir.entries(), vec!["big.bin".to_string()]);
}

#[test]
fn a_note_for_another_url_is_not_used() {
    let site = TempDir::new("resume-url-site");
    let bytes = sample(site.path());
    let file = site.path().join("big.bin");
    let srv = python(RANGE_SERVER, &[file.to_str().unwrap(), "0"]);
    let dir = TempDir::new("resume-url");
    std::fs::write(dir.path().join(".big.bin.part"), &bytes[..1000]).unwrap();
    std::fs::write(
        dir.path().join(".big.bin.part.meta"),
        "ricochet-partial 1\nurl http://elsewhere.example/big.bin\netag \"v1\"\n",
    )
    .unwrap();
    let ran = client(dir.path(), &["-q", "-c", &format!("{}/big.bin", srv.url)]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    srv.wait_for("GET range=''", Duration::from_secs(10));
    assert!(std::fs::read(dir.path().join("big.bin")).unwrap() == bytes);
    assert_eq!(dir.entries(), vec!["big.bin".to_string()]);
}

/// nginx answers ranges: a partial file is completed with a 206, a complete one gets a 416.
#[test]
fn resumes_against_nginx() {
    if !require("nginx") {
        return;
    }
    let site = TempDir::new("resume-nginx-site");
    let bytes = sample(site.path());
    let run = TempDir::new("resume-nginx-run");
    let conf = |port: u16| {
        format!(
            "worker_processes 1; daemon off; pid {run}/nginx.pid; error_log {run}/error.log warn;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log off; client_body_temp_path {run}/tmp; proxy_temp_path {run}/tmp;\n\
             fastcgi_temp_path {run}/tmp; uwsgi_temp_path {run}/tmp; scgi_temp_path {run}/tmp;\n\
             default_type application/octet-stream;\n\
             server {{ listen 127.0.0.1:{port}; root {root}; }} }}\n",
            run = run.path().display(),
            root = site.path().display(),
        )
    };
    let nginx = ricochet_tests::start_nginx(run.path(), conf);
    let url = format!("http://127.0.0.1:{}/big.bin", nginx.port);
    let dir = TempDir::new("resume-nginx");
    // A first run to learn the validator nginx sends, cut short by hand: keep its first
    // 300000 bytes as the partial file.
    let ran = client(dir.path(), &["-q", &url]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    let etag = ran
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("ETag: "))
        .expect("nginx sends an ETag")
        .to_string();
    std::fs::remove_file(dir.path().join("big.bin")).unwrap();
    std::fs::write(dir.path().join(".big.bin.part"), &bytes[..300_000]).unwrap();
    std::fs::write(
        dir.path().join(".big.bin.part.meta"),
        format!("ricochet-partial 1\nurl {url}\netag {etag}\n"),
    )
    .unwrap();
    let ran = client(dir.path(), &["-c", &url]);
    drop(nginx);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(
        ran.stdout
            .contains("Content-Range: bytes 300000-1048575/1048576"),
        "{}",
        ran.stdout
    );
    assert!(
        std::fs::read(dir.path().join("big.bin")).unwrap() == bytes,
        "not byte-exact"
    );
    assert_eq!(dir.entries(), vec!["big.bin".to_string()]);
}

/// A partial file and its note, as an earlier `--continue` run against our server leaves them:
/// the next run gets a 206 for the rest.
#[test]
fn resumes_a_partial_file_against_our_server() {
    let site = TempDir::new("resume-ours-site");
    let bytes = sample(site.path());
    let srv = server(site.path(), &[]);
    let url = format!("{}/big.bin", srv.url);
    let dir = TempDir::new("resume-ours");
    let ran = client(dir.path(), &["-q", &url]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    let etag = ran
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("ETag: "))
        .expect("our server sends an ETag")
        .to_string();
    std::fs::remove_file(dir.path().join("big.bin")).unwrap();
    std::fs::write(dir.path().join(".big.bin.part"), &bytes[..123_457]).unwrap();
    std::fs::write(
        dir.path().join(".big.bin.part.meta"),
        format!("ricochet-partial 1\nurl {url}\netag {etag}\n"),
    )
    .unwrap();
    let ran = client(dir.path(), &["-c", &url]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(
        ran.stdout
            .contains("Content-Range: bytes 123457-1048575/1048576"),
        "{}",
        ran.stdout
    );
    assert!(
        std::fs::read(dir.path().join("big.bin")).unwrap() == bytes,
        "not byte-exact"
    );
    assert_eq!(dir.entries(), vec!["big.bin".to_string()]);
    let ran = client(dir.path(), &["-c", &url]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(ran.stdout.contains("416 "), "{}", ran.stdout);
    assert!(ran.stderr.contains("already complete"), "{}", ran.stderr);
    assert_eq!(dir.entries(), vec!["big.bin".to_string()]);
}

/// Two `--continue` runs for the same output at once (a cron job started again while the last
/// one still runs): the second stops at once with exit 7 and says why, the first goes on and
/// saves the file byte-exact, and nothing is left beside it. Without the lock the second
/// appended to the partial file the first was still writing.
#[test]
fn a_second_continue_run_for_the_same_output_stops_and_leaves_the_first_alone() {
    let site = TempDir::new("resume-lock-site");
    let bytes = sample(site.path());
    // 1 MiB at 500 kB/s: two seconds in which the partial file is being written.
    let srv = server(site.path(), &["--rate", "500000"]);
    let url = format!("{}/big.bin", srv.url);
    let dir = TempDir::new("resume-lock");
    let mut first = Command::new(bin("client"))
        .args(["-q", "-c", &url])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the client");
    let part = dir.path().join(".big.bin.part");
    let until = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&part).map_or(0, |m| m.len()) == 0 {
        assert!(Instant::now() < until, "the first download did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = client(dir.path(), &["-c", &url]);
    assert_eq!(second.code(), 7, "{second:?}");
    assert!(
        second
            .stderr
            .contains("another `client --continue` run is downloading to it"),
        "{}",
        second.stderr
    );
    let status = finish_within(&mut first, Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    assert!(
        std::fs::read(dir.path().join("big.bin")).unwrap() == bytes,
        "not byte-exact"
    );
    assert_eq!(dir.entries(), vec!["big.bin".to_string()]);
}

/// Three throttled servers sharing one directory behind a balancer probing often; the client
/// downloads through the balancer with `--retry 3`. Once some of the body has arrived, the
/// server it was sent to is killed and `between` runs; returns the client's run and the
/// output directory.
fn download_with_a_server_killed(
    site: &Path,
    between: impl FnOnce(),
) -> (ricochet_tests::Ran, TempDir) {
    let mut servers: Vec<Option<Spawned>> = (0..3)
        .map(|_| Some(server(site, &["--rate", "4000000"])))
        .collect();
    let mut cmd = Command::new(bin("balancer"));
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--probe-interval",
        "200ms",
        "--probe-timeout",
        "2s",
    ])
    .args(servers.iter().map(|s| s.as_ref().unwrap().addr.to_string()))
    .env("RICOCHET_LOG", "info");
    let balancer = Spawned::start(cmd);
    let dir = TempDir::new("resume-killed");
    let mut child = Command::new(bin("client"))
        .args(["--retry", "3", &format!("{}/big.bin", balancer.url)])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the client");
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(to) = line.strip_prefix("redirected to ") {
                let _ = tx.send(to.to_string());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let mut stderr = child.stderr.take().unwrap();
    let err = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut all);
        all
    });
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the client was redirected");
    // Wait (bounded) until a good part of the body is on disk, then kill that server.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let held = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .max()
            .unwrap_or(0);
        if held >= 1 << 20 {
            break;
        }
        assert!(Instant::now() < until, "the download did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let victim = servers
        .iter()
        .position(|s| s.as_ref().is_some_and(|s| first.starts_with(&s.url)))
        .expect("redirected to one of the servers");
    drop(servers[victim].take());
    between();
    let status = finish_within(&mut child, Duration::from_secs(30));
    let ran = ricochet_tests::Ran {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    (ran, dir)
}

/// 8 MiB: two seconds at the servers' rate, so there is time to kill one mid-body.
fn big_sample(dir: &Path) -> Vec<u8> {
    let bytes: Vec<u8> = (0..8u32 << 20).map(|i| (i % 253) as u8).collect();
    std::fs::write(dir.join("big.bin"), &bytes).unwrap();
    std::fs::write(dir.join("probe.bin"), vec![b'p'; 10_000]).unwrap();
    bytes
}

#[test]
fn a_server_killed_mid_download_behind_the_balancer_is_resumed_on_another() {
    let site = TempDir::new("resume-killed-site");
    let bytes = big_sample(site.path());
    let (ran, dir) = download_with_a_server_killed(site.path(), || {});
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(ran.stderr.contains("retry 1 of 3"), "{}", ran.stderr);
    assert!(ran.stdout.contains("206 Partial Content"), "{}", ran.stdout);
    assert!(ran.stderr.contains("resumed at byte"), "{}", ran.stderr);
    assert!(
        std::fs::read(dir.path().join("big.bin")).unwrap() == bytes,
        "not byte-exact"
    );
    assert_eq!(dir.entries(), vec!["big.bin".to_string()]);
}

#[test]
fn a_file_rewritten_while_its_server_died_is_downloaded_whole_from_another() {
    let site = TempDir::new("resume-rewritten-site");
    big_sample(site.path());
    let second: Vec<u8> = (0..(8u32 << 20) + 5).map(|i| (i % 241) as u8).collect();
    let root = site.path().to_path_buf();
    let new = second.clone();
    let (ran, dir) = download_with_a_server_killed(site.path(), move || {
        // A new version, by rename: a new size and modification time, so a new ETag on every
        // server.
        std::fs::write(root.join(".big.bin.new"), &new).unwrap();
        std::fs::rename(root.join(".big.bin.new"), root.join("big.bin")).unwrap();
    });
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(ran.stderr.contains("retry 1 of 3"), "{}", ran.stderr);
    assert!(
        !ran.stdout.contains("206 Partial Content"),
        "{}",
        ran.stdout
    );
    let got = std::fs::read(dir.path().join("big.bin")).unwrap();
    assert_eq!(got.len(), second.len());
    assert!(got == second, "not the new version whole");
}

#[test]
fn a_chunked_206_longer_than_its_range_is_never_saved_under_the_final_name() {
    let asked = std::sync::atomic::AtomicUsize::new(0);
    let srv = TestServer::start(move |_, _| {
        let first = asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0;
        Reply::Bytes(if first {
            // Cut after 4 of 10 bytes: the partial file stays for --continue.
            b"HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nContent-Length: 10\r\n\r\n0123".to_vec()
        } else {
            // Bytes 4-9 announced, eight sent: the file would be 12 bytes long.
            b"HTTP/1.1 206 Partial Content\r\nETag: \"v1\"\r\nContent-Range: bytes 4-9/10\r\n\
              Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n8\r\n456789XY\r\n0\r\n\r\n"
                .to_vec()
        })
    });
    let url = format!("{}/f.bin", srv.url);
    let dir = TempDir::new("resume-long-206");
    let ran = client(dir.path(), &["-q", "-c", &url]);
    assert_eq!(ran.code(), 8, "{ran:?}");
    let ran = client(dir.path(), &["-q", "-c", &url]);
    assert_ne!(ran.code(), 0, "{ran:?}");
    assert!(ran.stderr.contains("Content-Range"), "{}", ran.stderr);
    assert!(
        !dir.path().join("f.bin").exists(),
        "a {}-byte file under the final name",
        std::fs::metadata(dir.path().join("f.bin")).map_or(0, |m| m.len())
    );
}
