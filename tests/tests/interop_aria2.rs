//! Other clients through our balancer, in front of three of our servers on 127.0.0.2, .3 and
//! .4 (aria2c counts connections per host name): aria2c reads the redirect's `Link:
//! rel=duplicate` headers, downloads pieces from every server (each access log shows 206s)
//! and verifies the file against our `Digest`; with a server holding a corrupt copy behind a
//! `--verify-files` balancer it never gets a byte of that copy; `curl -L` and `wget` are
//! unaffected by the new headers.

use ricochet_tests::{bin, raw_exchange, require, run, Spawned, TempDir, COMMAND};
use ricochet_tests::{put_file as put, seeded_bytes as bytes};
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

const LOG_FLUSH: Duration = Duration::from_millis(1300);
const LEN: usize = 4_000_000;

struct Setup {
    dir: TempDir,
    servers: Vec<Spawned>,
    logs: Vec<PathBuf>,
    balancer: Spawned,
}

/// Three servers (server `corrupt` with other bytes of the same length and date), their
/// digests of `f.bin` computed, and a balancer in front.
fn setup(corrupt: Option<usize>) -> Setup {
    setup_with(corrupt, &[])
}

/// [`setup`], the balancer given `balancer_args` too; `{origin}` in them stands for server 0's
/// URL.
fn setup_with(corrupt: Option<usize>, balancer_args: &[&str]) -> Setup {
    let dir = TempDir::new("aria2");
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
            .args(["--rate", "4000000", "--access-log"])
            .arg(&log)
            .env("RICOCHET_LOG", "warn");
        servers.push(Spawned::start(cmd));
        logs.push(log);
    }
    // Digests are computed in the background: wait until each server announces one.
    let deadline = Instant::now() + Duration::from_secs(10);
    for s in &servers {
        loop {
            let response = raw_exchange(
                s.addr,
                b"HEAD /f.bin HTTP/1.1\r\nHost: t\r\nWant-Digest: SHA-256\r\n\
                  Connection: close\r\n\r\n",
                Duration::from_secs(2),
            );
            if String::from_utf8_lossy(&response).contains("\r\nDigest: SHA-256=") {
                break;
            }
            assert!(Instant::now() < deadline, "no digest from {}", s.addr);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let mut cmd = Command::new(bin("balancer"));
    cmd.args(["--listen", "127.0.0.1:0"])
        .args(servers.iter().map(|s| s.addr.to_string()))
        .args(
            balancer_args
                .iter()
                .map(|a| a.replace("{origin}", &servers[0].url)),
        )
        .env("RICOCHET_LOG", "info");
    let balancer = Spawned::start(cmd);
    balancer.wait_for("new ranking", Duration::from_secs(5));
    Setup {
        dir,
        servers,
        logs,
        balancer,
    }
}

impl Setup {
    fn statuses(&self, i: usize) -> Vec<u16> {
        fs::read_to_string(&self.logs[i])
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"GET /f.bin HTTP/1.1\""))
            .filter_map(|l| l.split("\" ").nth(1)?.split(' ').next()?.parse().ok())
            .collect()
    }

    fn aria2c(&self, out: &str) -> ricochet_tests::Ran {
        let url = format!("{}/f.bin", self.balancer.url);
        let log = self.dir.path().join(format!("{out}.aria2.log"));
        run(
            Command::new("aria2c")
                .args([
                    "-s3",
                    "-x1",
                    "-k1M",
                    "--min-split-size=1M",
                    "--log-level=notice",
                ])
                .args(["--allow-overwrite=true", "--auto-file-renaming=false"])
                .arg("-d")
                .arg(self.dir.path())
                .args(["-o", out, "-l"])
                .arg(&log)
                .arg(&url),
            COMMAND,
        )
    }
}

#[test]
fn aria2c_fetches_from_every_server_and_verifies_our_digest() {
    if !require("aria2c") {
        return;
    }
    let setup = setup(None);
    let ran = setup.aria2c("got.bin");
    assert_eq!(ran.code(), 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(fs::read(setup.dir.path().join("got.bin")).unwrap() == bytes(LEN, 1));
    let log = fs::read_to_string(setup.dir.path().join("got.bin.aria2.log")).unwrap();
    assert!(
        log.contains("Verification finished successfully"),
        "aria2c did not verify the digest:\n{log}"
    );
    std::thread::sleep(LOG_FLUSH);
    for i in 0..3 {
        let statuses = setup.statuses(i);
        assert!(statuses.contains(&206), "server {i}: {statuses:?}\n{log}");
    }
    let _ = &setup.servers;
}

/// aria2c takes the digest of the first response that carries one and drops every server
/// announcing another: sent to a corrupt copy first, it would download that copy whole and
/// "verify" it. With `--verify-files` and an origin the balancer compares every server's digest
/// with the origin's before it names the server: the corrupt copy (same length and date, other
/// bytes) is never the `Location` nor a `Link`, the redirect carries the origin's digest, and
/// aria2c finishes with the right bytes from the other two without touching the corrupt one.
#[test]
fn aria2c_never_gets_a_corrupt_copy_from_a_verifying_balancer() {
    if !require("aria2c") {
        return;
    }
    let setup = setup_with(Some(1), &["--verify-files", "--origin", "{origin}"]);
    for round in 0..3 {
        let out = format!("got{round}.bin");
        let ran = setup.aria2c(&out);
        assert_eq!(ran.code(), 0, "{}\n{}", ran.stdout, ran.stderr);
        let log = fs::read_to_string(setup.dir.path().join(format!("{out}.aria2.log"))).unwrap();
        assert!(
            fs::read(setup.dir.path().join(&out)).unwrap() == bytes(LEN, 1),
            "aria2c saved wrong bytes:\n{log}"
        );
        assert!(
            log.contains("Verification finished successfully"),
            "aria2c did not verify the digest:\n{log}"
        );
    }
    std::thread::sleep(LOG_FLUSH);
    assert_eq!(
        setup.statuses(1),
        Vec::<u16>::new(),
        "the corrupt copy was served"
    );
    assert!(!setup.statuses(2).is_empty(), "server 2 got nothing");
}

/// `aria2c -M` takes our Metalink: `GET /f.bin?meta4` from a `--verify-files` balancer (once
/// it has seen the servers holding the current copy), saved to a file, gives aria2c the size,
/// the SHA-256 and one URL per server; it downloads from several of them and verifies the hash.
#[test]
fn aria2c_accepts_our_metalink() {
    if !require("aria2c") {
        return;
    }
    let setup = setup_with(None, &["--verify-files", "--origin", "{origin}"]);
    let ask = |target: &str| {
        let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let answer = raw_exchange(
            setup.balancer.addr,
            request.as_bytes(),
            Duration::from_secs(5),
        );
        String::from_utf8_lossy(&answer).into_owned()
    };
    // Redirects make the balancer check the servers it picks; the Metalink names those seen
    // holding the current copy, with the origin's digest once learned.
    let deadline = Instant::now() + Duration::from_secs(20);
    let xml = loop {
        ask("/f.bin");
        let got = ask("/f.bin?meta4");
        if let Some((head, xml)) = got.split_once("\r\n\r\n") {
            let urls = xml.matches("<url ").count();
            if head.starts_with("HTTP/1.1 200") && xml.contains("<hash ") && urls >= 2 {
                break xml.to_string();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no Metalink with two URLs: {got}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let meta4 = setup.dir.path().join("f.meta4");
    fs::write(&meta4, &xml).unwrap();
    let log = setup.dir.path().join("meta4.aria2.log");
    let ran = run(
        Command::new("aria2c")
            .args(["-x1", "-k1M", "--min-split-size=1M", "--log-level=notice"])
            .args(["--allow-overwrite=true", "--auto-file-renaming=false"])
            .arg("-d")
            .arg(setup.dir.path().join("out"))
            .arg("-l")
            .arg(&log)
            .arg("-M")
            .arg(&meta4),
        COMMAND,
    );
    let log = fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        ran.code(),
        0,
        "{}\n{}\n{log}\n{xml}",
        ran.stdout,
        ran.stderr
    );
    let saved = fs::read(setup.dir.path().join("out").join("f.bin")).unwrap();
    assert!(saved == bytes(LEN, 1), "aria2c saved wrong bytes");
    assert!(
        log.contains("Verification finished successfully"),
        "aria2c did not verify the Metalink's hash:\n{log}"
    );
    std::thread::sleep(LOG_FLUSH);
    let serving = (0..3).filter(|&i| !setup.statuses(i).is_empty()).count();
    assert!(serving >= 2, "aria2c used {serving} server(s):\n{log}");
}

#[test]
fn curl_and_wget_follow_the_redirect_as_before() {
    if !require("curl") || !require("wget") {
        return;
    }
    let setup = setup(None);
    let url = format!("{}/f.bin", setup.balancer.url);
    let curl_out = setup.dir.path().join("curl.bin");
    let ran = run(
        Command::new("curl")
            .args(["-sS", "-L", "-o"])
            .arg(&curl_out)
            .arg(&url),
        COMMAND,
    );
    assert_eq!(ran.code(), 0, "{}", ran.stderr);
    assert!(fs::read(&curl_out).unwrap() == bytes(LEN, 1));
    let wget_out = setup.dir.path().join("wget.bin");
    let ran = run(
        Command::new("wget")
            .args(["-q", "-O"])
            .arg(&wget_out)
            .arg(&url),
        COMMAND,
    );
    assert_eq!(ran.code(), 0, "{}", ran.stderr);
    assert!(fs::read(&wget_out).unwrap() == bytes(LEN, 1));
}
