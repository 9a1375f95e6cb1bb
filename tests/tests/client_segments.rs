//! `client --segments N` and digest checks: three of our servers on 127.0.0.2, .3 and .4
//! behind our balancer, which names the others in `Link: rel=duplicate` headers. The client
//! fetches pieces from all three (each access log shows 206s) and saves the right bytes; a
//! server holding a corrupt copy (same length and date, other bytes) never makes it save a
//! wrong file; without `Link` headers it uses one server, as before. Scripted servers check
//! the digest rules: the redirect's digest is the reference, a mismatch exits 13 and saves
//! nothing, and with `--retry` the server is reported to the balancer.

use ricochet_tests::{bin, client, Reply, Spawned, TempDir, TestServer};
use ricochet_tests::{put_file as put, seeded_bytes as bytes};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

/// The access log reaches its file at least every second.
const LOG_FLUSH: Duration = Duration::from_millis(1300);
const LEN: usize = 3_000_000;

/// Three servers on 127.0.0.2..4, each sending a response at most `rate` bytes per second;
/// server `corrupt` (if any) holds another `f.bin` of the same length and date.
struct Three {
    dir: TempDir,
    servers: Vec<Spawned>,
    logs: Vec<PathBuf>,
}

impl Three {
    fn start(rate: &str, corrupt: Option<usize>) -> Three {
        let dir = TempDir::new("segments");
        let t = SystemTime::now() - Duration::from_secs(86_400);
        let mut servers = Vec::new();
        let mut logs = Vec::new();
        for i in 0..3 {
            let root = dir.path().join(format!("s{i}"));
            fs::create_dir(&root).unwrap();
            put(&root, "probe.bin", &bytes(16_384, 9), t);
            let seed = if corrupt == Some(i) { 2 } else { 1 };
            put(&root, "f.bin", &bytes(LEN, seed), t);
            let log = dir.path().join(format!("s{i}.log"));
            let mut cmd = Command::new(bin("server"));
            cmd.args(["--listen", &format!("127.0.0.{}:0", i + 2), "--root"])
                .arg(&root)
                .args(["--rate", rate, "--access-log"])
                .arg(&log)
                .env("RICOCHET_LOG", "warn");
            servers.push(Spawned::start(cmd));
            logs.push(log);
        }
        Three { dir, servers, logs }
    }

    fn balancer(&self, extra: &[&str]) -> Spawned {
        let mut cmd = Command::new(bin("balancer"));
        cmd.args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .args(self.servers.iter().map(|s| s.addr.to_string()))
            .env("RICOCHET_LOG", "info");
        let spawned = Spawned::start(cmd);
        spawned.wait_for("new ranking", Duration::from_secs(5));
        spawned
    }

    /// Statuses of server `i`'s answers to `GET /f.bin`.
    fn statuses(&self, i: usize) -> Vec<u16> {
        fs::read_to_string(&self.logs[i])
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"GET /f.bin HTTP/1.1\""))
            .filter_map(|l| l.split("\" ").nth(1)?.split(' ').next()?.parse().ok())
            .collect()
    }
}

#[test]
fn three_servers_each_send_a_part_and_the_bytes_match() {
    let three = Three::start("3000000", None);
    let balancer = three.balancer(&[]);
    let url = format!("{}/f.bin", balancer.url);
    let ran = client(three.dir.path(), &["-s", "3", &url, "-o", "got.bin"]);
    assert_eq!(ran.code(), 0, "{}\n{}", ran.stdout, ran.stderr);
    let got = fs::read(three.dir.path().join("got.bin")).unwrap();
    assert!(got == bytes(LEN, 1), "the saved bytes differ");
    assert!(ran.stdout.contains("from 3 sources"), "{}", ran.stdout);
    let sources = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with("source 127.0.0."));
    assert_eq!(sources.count(), 3, "{}", ran.stderr);
    std::thread::sleep(LOG_FLUSH);
    for i in 0..3 {
        let statuses = three.statuses(i);
        assert!(
            !statuses.is_empty() && statuses.iter().all(|&s| s == 206),
            "server {i}: {statuses:?}\n{}\n{}",
            ran.stdout,
            ran.stderr
        );
    }
}

#[test]
fn without_link_headers_one_server_sends_the_whole_file() {
    let three = Three::start("30000000", None);
    let balancer = three.balancer(&["--links", "0"]);
    let url = format!("{}/f.bin", balancer.url);
    let ran = client(three.dir.path(), &["-s", "3", &url, "-o", "got.bin"]);
    assert_eq!(ran.code(), 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(fs::read(three.dir.path().join("got.bin")).unwrap() == bytes(LEN, 1));
    std::thread::sleep(LOG_FLUSH);
    let all: Vec<Vec<u16>> = (0..3).map(|i| three.statuses(i)).collect();
    let used: Vec<&Vec<u16>> = all.iter().filter(|s| !s.is_empty()).collect();
    assert_eq!(used, [&vec![200]], "{all:?}");
}

/// Ask each server for `f.bin`'s digest until it has one (they are computed in the
/// background); whether every server gave one within the time.
fn warm_digests(three: &Three) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    'servers: for s in &three.servers {
        while std::time::Instant::now() < deadline {
            let response = ricochet_tests::raw_exchange(
                s.addr,
                b"HEAD /f.bin HTTP/1.1\r\nHost: t\r\nWant-Repr-Digest: sha-256=10\r\n\
                  Connection: close\r\n\r\n",
                Duration::from_secs(2),
            );
            if String::from_utf8_lossy(&response).contains("Repr-Digest:") {
                continue 'servers;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        return false;
    }
    true
}

#[test]
fn a_server_with_a_corrupt_copy_never_makes_the_client_save_a_wrong_file() {
    for corrupt in 0..3 {
        let three = Three::start("3000000", Some(corrupt));
        assert!(warm_digests(&three), "the servers never announced a digest");
        let balancer = three.balancer(&[]);
        let url = format!("{}/f.bin", balancer.url);
        let ran = client(three.dir.path(), &["-s", "3", &url, "-o", "got.bin"]);
        let saved = three.dir.path().join("got.bin");
        // Either the file completes from the other two, right, or nothing is saved.
        match ran.code() {
            0 => assert!(
                fs::read(&saved).unwrap() == bytes(LEN, 1),
                "wrong bytes saved"
            ),
            13 => assert!(!saved.exists(), "a file was saved after exit 13"),
            code => panic!("exit {code}\n{}\n{}", ran.stdout, ran.stderr),
        }
        assert_eq!(ran.code(), 0, "{}\n{}", ran.stdout, ran.stderr);
        let name = three.servers[corrupt].addr.to_string();
        assert!(
            ran.stdout.contains(&format!("{name}: its digest differs")),
            "corrupt {name} not dropped:\n{}",
            ran.stdout
        );
    }
}

/// A base64 SHA-256 of `data`, as `Repr-Digest` carries it (computed by Python's hashlib, an
/// implementation independent of ours).
fn sha256_base64(dir: &Path, data: &[u8]) -> String {
    let path = dir.join("digest-input");
    fs::write(&path, data).unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            "import base64,hashlib,sys;print(base64.b64encode(hashlib.sha256(open(sys.argv[1],'rb').read()).digest()).decode())",
        ])
        .arg(&path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn ok_with(body: &[u8], digest: &str) -> Reply {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nRepr-Digest: sha-256=:{digest}:\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    Reply::Bytes(out)
}

#[test]
fn a_body_that_does_not_match_its_digest_is_not_saved_and_exits_13() {
    let dir = TempDir::new("digest");
    let body = bytes(100_000, 5);
    let good = sha256_base64(dir.path(), &body);
    let wrong = sha256_base64(dir.path(), b"another file");
    let (b1, g) = (body.clone(), good.clone());
    let right = TestServer::start(move |_, _| ok_with(&b1, &g));
    let ran = client(dir.path(), &[&format!("{}/a.bin", right.url)]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr);
    assert!(ran.stderr.contains("sha-256 verified"), "{}", ran.stderr);
    let b2 = body.clone();
    let lying = TestServer::start(move |_, _| ok_with(&b2, &wrong));
    let ran = client(dir.path(), &[&format!("{}/b.bin", lying.url)]);
    assert_eq!(ran.code(), 13, "{}", ran.stderr);
    assert!(ran.stderr.contains("digest mismatch"), "{}", ran.stderr);
    assert!(!dir.path().join("b.bin").exists());
    let leftovers: Vec<String> = dir
        .entries()
        .into_iter()
        .filter(|n| n.contains("b.bin"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn the_redirects_digest_is_the_reference_and_a_mirror_that_differs_is_reported() {
    let dir = TempDir::new("reference");
    let body = bytes(50_000, 6);
    let good = sha256_base64(dir.path(), &body);
    let other = sha256_base64(dir.path(), b"the mirror's stale copy");
    // The mirror announces its own (other) digest and sends other bytes.
    let stale = b"the mirror's stale copy".to_vec();
    let mirror = TestServer::start(move |_, _| ok_with(&stale, &other));
    let b = body.clone();
    let g = good.clone();
    let honest = TestServer::start(move |_, _| ok_with(&b, &g));
    let (mirror_url, honest_url) = (mirror.url.clone(), honest.url.clone());
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = heads.clone();
    let balancer = TestServer::start_with_head(move |head, _| {
        seen.lock().unwrap().push(head.to_string());
        let to = if head.contains("Ricochet-Missing:") {
            &honest_url
        } else {
            &mirror_url
        };
        Reply::Bytes(
            format!(
                "HTTP/1.1 302 Found\r\nLocation: {to}/f.bin\r\nRepr-Digest: sha-256=:{good}:\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .into_bytes(),
        )
    });
    let url = format!("{}/f.bin", balancer.url);
    let ran = client(dir.path(), &[&url]);
    assert_eq!(ran.code(), 13, "{}\n{}", ran.stdout, ran.stderr);
    assert!(!dir.path().join("f.bin").exists());
    let ran = client(dir.path(), &["--retry", "1", &url]);
    assert_eq!(ran.code(), 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(fs::read(dir.path().join("f.bin")).unwrap() == body);
    let heads = heads.lock().unwrap();
    let mirror_name = mirror.addr.to_string();
    assert!(
        heads
            .iter()
            .any(|h| h.contains(&format!("Ricochet-Missing: {mirror_name}"))),
        "{heads:?}"
    );
    assert!(heads
        .iter()
        .all(|h| h.contains("Want-Repr-Digest: sha-256=10")));
    assert!(heads.iter().all(|h| h.contains("Want-Digest: SHA-256")));
}

#[test]
fn an_interrupted_multi_source_download_resumes_with_the_ranges_it_held() {
    let three = Three::start("1000000", None);
    let balancer = three.balancer(&[]);
    let url = format!("{}/f.bin", balancer.url);
    let mut child = Command::new(bin("client"))
        .args(["-c", "-q", "-s", "3", &url, "-o", "got.bin"])
        .current_dir(three.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let note = fs::read_to_string(three.dir.path().join(".got.bin.part.meta")).unwrap();
    assert!(note.contains("\nranges "), "{note}");
    assert!(!three.dir.path().join("got.bin").exists());
    let ran = client(three.dir.path(), &["-c", "-s", "3", &url, "-o", "got.bin"]);
    assert_eq!(ran.code(), 0, "{}\n{}", ran.stdout, ran.stderr);
    let held: u64 = ran
        .stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("resuming: ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no resume:\n{}", ran.stdout));
    assert!(held > 0);
    assert!(fs::read(three.dir.path().join("got.bin")).unwrap() == bytes(LEN, 1));
    // What was held was not fetched again: the servers sent less than the whole file.
    let received: u64 = ran
        .stderr
        .lines()
        .filter_map(|l| {
            l.strip_prefix("source ")?
                .split(": ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(
        received + held <= LEN as u64 + 300_000,
        "{received} + {held}\n{}",
        ran.stderr
    );
    assert!(received < LEN as u64, "{}", ran.stderr);
}
