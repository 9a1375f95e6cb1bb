//! Byte ranges and validators on our server, end to end: 206/416 byte-exact, If-Range, ETags
//! across a restart and a rewrite, 304, several ranges, HEAD with Range; and the resumers users
//! have: `curl -C -`, `wget -c`, `aria2c -x4 -s4`, and `curl -L -r` through the balancer.

use ricochet_tests::{
    bin, raw_exchange, require, run, server, status_of, Spawned, TempDir, COMMAND,
};
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// 3 MiB and a few bytes: more than one 256 KiB piece, not a multiple of it.
const SIZE: usize = 3 * 1024 * 1024 + 13;

/// Deterministic incompressible-looking bytes (xorshift64).
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A temporary root holding `big.bin` (SIZE bytes) and its content.
fn site() -> (TempDir, Vec<u8>) {
    let dir = TempDir::new("ranges");
    let bytes = data(SIZE, 7);
    fs::write(dir.path().join("big.bin"), &bytes).unwrap();
    (dir, bytes)
}

/// A response: status, head text (lower-cased names kept as sent), body bytes.
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Send one request (`Connection: close`) and read the whole response.
fn exchange(srv: &Spawned, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let raw = raw_exchange(srv.addr, request.as_bytes(), Duration::from_secs(20));
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head")
        + 4;
    Response {
        status: status_of(&raw).expect("a status line"),
        head: String::from_utf8_lossy(&raw[..end]).into_owned(),
        body: raw[end..].to_vec(),
    }
}

fn get(srv: &Spawned, headers: &[(&str, &str)]) -> Response {
    exchange(srv, "GET", "/big.bin", headers)
}

#[test]
fn single_suffix_and_open_ranges_are_byte_exact() {
    let (dir, bytes) = site();
    let srv = server(dir.path(), &[]);
    let cases = [
        // Small, inside the first piece.
        ("bytes=100-199", 100, 200),
        ("bytes=0-0", 0, 1),
        // Larger than the single-write size and crossing 256 KiB pieces, from an odd offset.
        ("bytes=1000-700000", 1000, 700_001),
        // Open: to the end, across pieces.
        ("bytes=1048577-", 1_048_577, SIZE),
        // Suffix.
        ("bytes=-5000", SIZE - 5000, SIZE),
        // Last position past the end: cut at the end.
        ("bytes=3145000-99999999999", 3_145_000, SIZE),
        // Suffix longer than the file: all of it, as a 206.
        ("bytes=-99999999", 0, SIZE),
    ];
    for (range, start, end) in cases {
        let r = get(&srv, &[("Range", range)]);
        assert_eq!(r.status, 206, "{range}: {}", r.head);
        assert_eq!(
            r.header("Content-Range"),
            Some(format!("bytes {start}-{}/{SIZE}", end - 1)),
            "{range}"
        );
        assert_eq!(r.header("Content-Length"), Some((end - start).to_string()));
        assert!(r.body == bytes[start..end], "{range}: body differs");
        assert_eq!(r.header("Accept-Ranges").as_deref(), Some("bytes"));
    }
}

#[test]
fn a_throttled_server_sends_ranges_byte_exact() {
    let (dir, bytes) = site();
    let srv = server(dir.path(), &["--rate", "8000000"]);
    for (range, start, end) in [
        ("bytes=5-9", 5, 10),
        ("bytes=300000-900000", 300_000, 900_001),
    ] {
        let r = get(&srv, &[("Range", range)]);
        assert_eq!(r.status, 206, "{range}");
        assert!(r.body == bytes[start..end], "{range}: body differs");
    }
}

#[test]
fn unsatisfiable_range_is_416_with_the_length() {
    let (dir, _) = site();
    let srv = server(dir.path(), &[]);
    for range in [format!("bytes={SIZE}-"), "bytes=-0".to_string()] {
        let r = get(&srv, &[("Range", &range)]);
        assert_eq!(r.status, 416, "{range}: {}", r.head);
        assert_eq!(r.header("Content-Range"), Some(format!("bytes */{SIZE}")));
        assert_eq!(
            r.header("Content-Length"),
            Some(r.body.len().to_string()),
            "a short page, not the file"
        );
    }
    // An invalid Range is ignored: the whole file.
    let r = get(&srv, &[("Range", "bytes=9-1")]);
    assert_eq!((r.status, r.body.len()), (200, SIZE));
}

#[test]
fn if_range_match_sends_the_range_and_mismatch_the_whole_file() {
    let (dir, bytes) = site();
    let srv = server(dir.path(), &[]);
    let first = get(&srv, &[]);
    let etag = first.header("ETag").expect("ETag");
    let last_modified = first.header("Last-Modified").expect("Last-Modified");
    let r = get(&srv, &[("Range", "bytes=10-19"), ("If-Range", &etag)]);
    assert_eq!(r.status, 206);
    assert!(r.body == bytes[10..20]);
    for stale in ["\"not-the-tag\"", "Sat, 01 Jan 2000 00:00:00 GMT"] {
        let r = get(&srv, &[("Range", "bytes=10-19"), ("If-Range", stale)]);
        assert_eq!(r.status, 200, "{stale}");
        assert!(r.body == bytes, "{stale}: the whole file");
    }
    // A Last-Modified date matches once the file is more than a second old.
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(dir.path().join("big.bin"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let dated = get(&srv, &[]).header("Last-Modified").unwrap();
    assert_ne!(dated, last_modified);
    let r = get(&srv, &[("Range", "bytes=10-19"), ("If-Range", &dated)]);
    assert_eq!(r.status, 206, "{}", r.head);
}

#[test]
fn etag_survives_a_restart_and_changes_when_the_file_is_rewritten() {
    let (dir, _) = site();
    let path = dir.path().join("big.bin");
    let etag = |srv: &Spawned| get(srv, &[]).header("ETag").expect("ETag");
    let before = {
        let srv = server(dir.path(), &[]);
        etag(&srv)
    };
    assert!(
        before.starts_with('"') && !before.starts_with("W/"),
        "strong: {before}"
    );
    let srv = server(dir.path(), &[]);
    assert_eq!(etag(&srv), before, "same file, new server process");
    let r = get(&srv, &[("If-None-Match", &before)]);
    assert_eq!((r.status, r.body.len()), (304, 0));
    assert_eq!(r.header("ETag"), Some(before.clone()));
    assert!(r.header("Last-Modified").is_some());

    // Rewritten in place with new content.
    fs::write(&path, data(SIZE + 1, 8)).unwrap();
    let rewritten = etag(&srv);
    assert_ne!(rewritten, before);
    assert_eq!(get(&srv, &[("If-None-Match", &before)]).status, 200);
    // Replaced by a file of the same size (as deploy tools do with a rename): a new
    // modification time, so a new tag.
    let staged = dir.path().join("staged.tmp");
    fs::write(&staged, data(SIZE + 1, 9)).unwrap();
    fs::rename(&staged, &path).unwrap();
    let replaced = etag(&srv);
    assert_ne!(replaced, rewritten);
    let r = get(&srv, &[("Range", "bytes=0-9"), ("If-Range", &rewritten)]);
    assert_eq!(
        r.status, 200,
        "a resume against the old version gets the new file whole"
    );
    assert!(r.body == data(SIZE + 1, 9));
}

#[test]
fn if_none_match_answers_304() {
    let (dir, _) = site();
    let srv = server(dir.path(), &[]);
    let etag = get(&srv, &[]).header("ETag").unwrap();
    for value in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"a\", {etag}"),
        "*".into(),
    ] {
        let r = get(&srv, &[("If-None-Match", &value)]);
        assert_eq!(r.status, 304, "{value}");
        assert!(r.body.is_empty());
    }
    assert_eq!(get(&srv, &[("If-Match", "\"other\"")]).status, 412);
    assert_eq!(get(&srv, &[("If-Match", &etag)]).status, 200);
}

#[test]
fn several_ranges_get_the_whole_file() {
    let (dir, bytes) = site();
    let srv = server(dir.path(), &[]);
    for range in ["bytes=0-9,20-29", "bytes=0-,0-,0-,0-"] {
        let r = get(&srv, &[("Range", range)]);
        assert_eq!(r.status, 200, "{range}");
        assert_eq!(r.header("Content-Range"), None);
        assert!(r.body == bytes, "{range}: the whole file, once");
    }
}

#[test]
fn head_ignores_range() {
    let (dir, _) = site();
    let srv = server(dir.path(), &[]);
    let r = exchange(&srv, "HEAD", "/big.bin", &[("Range", "bytes=0-9")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some(SIZE.to_string()));
    assert_eq!(r.header("Content-Range"), None);
    assert!(r.body.is_empty());
}

/// A partial copy of the file in a fresh directory, as an interrupted download leaves it.
fn partial(bytes: &[u8], name: &str, len: usize) -> TempDir {
    let dir = TempDir::new("resume");
    fs::write(dir.path().join(name), &bytes[..len]).unwrap();
    dir
}

fn assert_same_file(path: &Path, bytes: &[u8]) {
    let got = fs::read(path).unwrap();
    assert_eq!(got.len(), bytes.len(), "{}", path.display());
    assert!(got == bytes, "{} differs", path.display());
}

#[test]
fn curl_continue_resumes_byte_exact() {
    if !require("curl") {
        return;
    }
    let (dir, bytes) = site();
    let srv = server(dir.path(), &[]);
    let out = partial(&bytes, "big.bin", 1_000_003);
    let target = out.path().join("big.bin");
    let ran = run(
        Command::new("curl")
            .args(["-sS", "-f", "--max-time", "20", "-C", "-", "-o"])
            .arg(&target)
            .arg(format!("{}/big.bin", srv.url)),
        COMMAND,
    );
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert_same_file(&target, &bytes);
    logged(&srv, "\"GET /big.bin\" 206 ");
}

#[test]
fn wget_continue_resumes_byte_exact() {
    if !require("wget") {
        return;
    }
    let (dir, bytes) = site();
    let srv = server(dir.path(), &[]);
    let out = partial(&bytes, "big.bin", 2_000_001);
    let ran = run(
        Command::new("wget")
            .args(["-q", "-c", "--tries=1", "--timeout=20"])
            .arg(format!("{}/big.bin", srv.url))
            .current_dir(out.path()),
        COMMAND,
    );
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert_eq!(out.entries(), ["big.bin"], "resumed in place, no big.bin.1");
    assert_same_file(&out.path().join("big.bin"), &bytes);
    logged(&srv, "\"GET /big.bin\" 206 ");
    // Already complete: wget sees the 416 and leaves the file alone.
    let ran = run(
        Command::new("wget")
            .args(["-q", "-c", "--tries=1", "--timeout=20"])
            .arg(format!("{}/big.bin", srv.url))
            .current_dir(out.path()),
        COMMAND,
    );
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert_same_file(&out.path().join("big.bin"), &bytes);
    logged(&srv, "\"GET /big.bin\" 416 ");
}

#[test]
fn aria2c_downloads_in_four_ranged_parts() {
    if !require("aria2c") {
        return;
    }
    let dir = TempDir::new("aria2");
    // 8 MiB and a few bytes: four parts of at least aria2c's smallest split size (1 MiB).
    let size = 8 * 1024 * 1024 + 5;
    let bytes = data(size, 11);
    fs::write(dir.path().join("big.bin"), &bytes).unwrap();
    // Throttled (per connection) so the first part is still coming when aria2c opens the
    // others; unthrottled, loopback can finish the file before aria2c splits it.
    let srv = server(dir.path(), &["--rate", "4000000"]);
    let out = TempDir::new("aria2-out");
    let log = out.path().join("aria2.log");
    let ran = run(
        Command::new("aria2c")
            .args([
                "-q",
                "-x4",
                "-s4",
                "-k1M",
                "--file-allocation=none",
                "--max-tries=1",
                "--timeout=20",
                "--log-level=debug",
                "-d",
            ])
            .arg(out.path())
            .arg(format!("--log={}", log.display()))
            .args(["-o", "got.bin"])
            .arg(format!("{}/big.bin", srv.url)),
        COMMAND,
    );
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert_same_file(&out.path().join("got.bin"), &bytes);
    // aria2c's own log of what it was answered (the server logs no response a client cut
    // short): the first connection's plain GET carries the first part, and every other part
    // came as a 206 with its own Content-Range.
    let log = fs::read_to_string(&log).unwrap();
    let partial = log.matches("HTTP/1.1 206 Partial Content").count();
    assert!(partial >= 3, "{partial} ranged answers:\n{log}");
    let ranges: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("Content-Range: "))
        .collect();
    assert_eq!(ranges.len(), partial, "{log}");
    for line in ranges {
        assert!(line.ends_with(&format!("/{size}")), "{line}");
    }
}

/// Wait (bounded) until the server has logged `needle`.
fn logged(srv: &Spawned, needle: &str) {
    let end = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let log = srv.log_messages();
        if log.contains(needle) {
            return;
        }
        assert!(std::time::Instant::now() < end, "no `{needle}`:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn curl_range_through_the_balancer_reaches_the_server() {
    if !require("curl") {
        return;
    }
    let (dir, bytes) = site();
    let srv = server(dir.path(), &[]);
    let mut cmd = Command::new(bin("balancer"));
    cmd.args(["--listen", "127.0.0.1:0", "--probe-path", "/big.bin"])
        .arg(srv.addr.to_string())
        .env("RICOCHET_LOG", "info");
    let balancer = Spawned::start(cmd);
    let out = TempDir::new("balancer-range");
    let target = out.path().join("part");
    let ran = run(
        Command::new("curl")
            .args([
                "-sS",
                "-f",
                "-L",
                "--max-time",
                "20",
                "-r",
                "1000-1999",
                "-o",
            ])
            .arg(&target)
            .arg(format!("{}/big.bin", balancer.url)),
        COMMAND,
    );
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert_same_file(&target, &bytes[1000..2000]);
    logged(&srv, "\"GET /big.bin\" 206 ");
}
