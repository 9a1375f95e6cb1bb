//! Whole-file digests on our server, end to end, as curl sees them: `Repr-Digest` for
//! `Want-Repr-Digest`, `Digest` for `Want-Digest`, on 200, HEAD and 206 (the whole file's),
//! equal to `sha256sum`'s; a changed file never gets its old digest; digests kept across a
//! restart in an extended attribute. Also the validators and the bandwidth cap users of several
//! servers rely on: the same ETag from two servers holding one file with its time (so `If-Range`
//! holds across them), and `--rate-total` shared by all connections. aria2c checks the
//! `Digest` we send: it accepts the right one and refuses a file whose digest is wrong.

use ricochet_core::http::base64;
use ricochet_tests::{require, run, server, Spawned, TempDir};
use std::fs;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// 5 MiB and a few bytes: several of the hasher's reads, more than one piece sent.
const SIZE: usize = 5 * 1024 * 1024 + 7;

/// How long a digest may take to appear (a few MiB hash in milliseconds; the machine is shared).
const HASHED_WITHIN: Duration = Duration::from_secs(20);

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

/// `sha256sum FILE` (or `sha512sum`), as the base64 both headers carry.
fn sum_base64(tool: &str, path: &Path) -> String {
    let ran = run(Command::new(tool).arg(path), Duration::from_secs(30));
    assert_eq!(ran.code(), 0, "{ran:?}");
    let hex = ran.stdout.split_whitespace().next().unwrap().to_string();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let mut out = Vec::new();
    base64::encode(&bytes, &mut out);
    String::from_utf8(out).unwrap()
}

/// What curl printed of a response: its head (`-D -`), the body discarded.
struct Head(String);

impl Head {
    fn status(&self) -> u16 {
        self.0
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// Every value of the field `name`.
    fn values(&self, name: &str) -> Vec<String> {
        self.0
            .lines()
            .filter_map(|line| line.split_once(':'))
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }
}

/// `curl -s -D - -o /dev/null` with the given extra arguments, for `path` on `srv`.
fn curl(srv: &Spawned, path: &str, args: &[&str]) -> Head {
    let url = format!("{}{path}", srv.url);
    let ran = run(
        Command::new("curl")
            .args(["-s", "-D", "-", "-o", "/dev/null"])
            .args(args)
            .arg(&url),
        Duration::from_secs(30),
    );
    assert_eq!(ran.code(), 0, "{ran:?}");
    Head(ran.stdout)
}

/// Ask until the response carries `field` (bounded by [`HASHED_WITHIN`]); every answer
/// before it must lack the field, never carry another value. Returns the answer with it.
fn until_field(srv: &Spawned, path: &str, args: &[&str], field: &str) -> Head {
    let end = Instant::now() + HASHED_WITHIN;
    loop {
        let head = curl(srv, path, args);
        if !head.values(field).is_empty() {
            return head;
        }
        assert!(
            Instant::now() < end,
            "no {field} within {HASHED_WITHIN:?}: {}",
            head.0
        );
        thread::sleep(Duration::from_millis(50));
    }
}

const WANT_REPR: &str = "Want-Repr-Digest: sha-256=1";
const WANT_DIGEST: &str = "Want-Digest: SHA-256";

#[test]
fn curl_gets_sha256sums_digest_once_hashed_on_get_head_and_ranges() {
    if !require("curl") || !require("sha256sum") {
        return;
    }
    let dir = TempDir::new("digest");
    let path = dir.path().join("big.bin");
    fs::write(&path, data(SIZE, 3)).unwrap();
    let expected = sum_base64("sha256sum", &path);
    let srv = server(dir.path(), &["--no-digest-xattr"]);

    // Not asked for: never sent.
    let plain = curl(&srv, "/big.bin", &[]);
    assert_eq!(plain.status(), 200);
    assert!(
        !plain.0.to_ascii_lowercase().contains("digest"),
        "{}",
        plain.0
    );

    // The first request that asks is not kept waiting for the hash: answered without it.
    let first = curl(&srv, "/big.bin", &["-H", WANT_REPR]);
    assert_eq!(first.status(), 200);
    assert!(first.values("Repr-Digest").is_empty(), "{}", first.0);
    let got = until_field(&srv, "/big.bin", &["-H", WANT_REPR], "Repr-Digest");
    assert_eq!(got.status(), 200);
    assert_eq!(got.values("Repr-Digest"), [format!("sha-256=:{expected}:")]);
    assert!(
        got.values("Digest").is_empty(),
        "only what was asked: {}",
        got.0
    );

    let got = curl(&srv, "/big.bin", &["-H", WANT_DIGEST]);
    assert_eq!(got.values("Digest"), [format!("SHA-256={expected}")]);
    assert!(got.values("Repr-Digest").is_empty(), "{}", got.0);

    // HEAD: the same head.
    let head = curl(
        &srv,
        "/big.bin",
        &["-I", "-H", WANT_REPR, "-H", WANT_DIGEST],
    );
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.values("Repr-Digest"),
        [format!("sha-256=:{expected}:")]
    );
    assert_eq!(head.values("Digest"), [format!("SHA-256={expected}")]);

    // A range carries the whole file's digest, not its own.
    let part = curl(&srv, "/big.bin", &["-r", "100-199", "-H", WANT_REPR]);
    assert_eq!(part.status(), 206);
    assert_eq!(part.values("Content-Length"), ["100"]);
    assert_eq!(
        part.values("Repr-Digest"),
        [format!("sha-256=:{expected}:")]
    );

    // SHA-512 when preferred: computed in turn, equal to sha512sum's.
    if require("sha512sum") {
        let expected = sum_base64("sha512sum", &path);
        let want = "Want-Repr-Digest: sha-256=1, sha-512=5";
        let end = Instant::now() + HASHED_WITHIN;
        let got = loop {
            let got = curl(&srv, "/big.bin", &["-H", want]);
            let value = got.values("Repr-Digest").join(",");
            if value.starts_with("sha-512=") {
                break got;
            }
            // Until then the known SHA-256 rather than nothing.
            assert!(value.starts_with("sha-256=:"), "{}", got.0);
            assert!(Instant::now() < end, "no SHA-512: {}", got.0);
            thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(got.values("Repr-Digest"), [format!("sha-512=:{expected}:")]);
    }
}

#[test]
fn a_changed_file_never_gets_its_old_digest() {
    if !require("curl") || !require("sha256sum") {
        return;
    }
    let dir = TempDir::new("digest-changed");
    let path = dir.path().join("f.bin");
    fs::write(&path, data(SIZE, 11)).unwrap();
    let old = sum_base64("sha256sum", &path);
    let srv = server(dir.path(), &["--no-digest-xattr"]);
    let got = until_field(&srv, "/f.bin", &["-H", WANT_DIGEST], "Digest");
    assert_eq!(got.values("Digest"), [format!("SHA-256={old}")]);

    for (how, seed) in [("rewritten in place", 12), ("replaced by a rename", 13)] {
        let new_bytes = data(SIZE, seed);
        if seed == 12 {
            fs::write(&path, &new_bytes).unwrap();
        } else {
            let staged = dir.path().join(".f.bin.new");
            fs::write(&staged, &new_bytes).unwrap();
            fs::rename(&staged, &path).unwrap();
        }
        // Same size; make sure the time differs too, as any rewrite a second later would.
        let later = SystemTime::now() + Duration::from_secs(seed);
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        let new = sum_base64("sha256sum", &path);
        assert_ne!(new, old);
        let end = Instant::now() + HASHED_WITHIN;
        loop {
            let got = curl(&srv, "/f.bin", &["-H", WANT_DIGEST]);
            let values = got.values("Digest");
            assert!(
                !values.contains(&format!("SHA-256={old}")),
                "{how}: the old digest was sent"
            );
            if !values.is_empty() {
                assert_eq!(values, [format!("SHA-256={new}")], "{how}");
                break;
            }
            assert!(Instant::now() < end, "{how}: no new digest");
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Whether the file system under `dir` takes user extended attributes (tmpfs before Linux 6.6
/// does not).
fn user_xattrs_work(dir: &Path) -> bool {
    let probe = dir.join(".xattr-probe");
    fs::write(&probe, b"x").unwrap();
    let script = "import os,sys\ntry:\n os.setxattr(sys.argv[1], 'user.probe', b'1')\nexcept OSError:\n sys.exit(3)";
    let ran = run(
        Command::new("python3").args(["-c", script]).arg(&probe),
        Duration::from_secs(10),
    );
    fs::remove_file(&probe).unwrap();
    ran.code() == 0
}

#[test]
fn digests_survive_a_restart_in_an_extended_attribute() {
    if !require("curl") || !require("sha256sum") || !require("python3") {
        return;
    }
    let dir = TempDir::new("digest-xattr");
    if !user_xattrs_work(dir.path()) {
        eprintln!(
            "skipped: {} has no user extended attributes",
            dir.path().display()
        );
        return;
    }
    let path = dir.path().join("kept.bin");
    fs::write(&path, data(SIZE, 21)).unwrap();
    let expected = format!("sha-256=:{}:", sum_base64("sha256sum", &path));
    {
        let srv = server(dir.path(), &[]);
        let got = until_field(&srv, "/kept.bin", &["-H", WANT_REPR], "Repr-Digest");
        assert_eq!(got.values("Repr-Digest"), std::slice::from_ref(&expected));
    }
    // The attribute is written just after the digest is remembered: give it a moment.
    let script = "import os,sys\nprint(os.getxattr(sys.argv[1], 'user.ricochet.sha256').decode())";
    let end = Instant::now() + HASHED_WITHIN;
    loop {
        let ran = run(
            Command::new("python3").args(["-c", script]).arg(&path),
            Duration::from_secs(10),
        );
        if ran.code() == 0 {
            assert!(
                ran.stdout.starts_with(&format!("{SIZE} ")),
                "{}",
                ran.stdout
            );
            break;
        }
        assert!(Instant::now() < end, "no attribute: {ran:?}");
        thread::sleep(Duration::from_millis(50));
    }
    // A new process answers the very first request with it, without hashing.
    let srv = server(dir.path(), &["--hash-threads", "1"]);
    let first = curl(&srv, "/kept.bin", &["-H", WANT_REPR]);
    assert_eq!(first.values("Repr-Digest"), std::slice::from_ref(&expected));
    // A touched file (new time): the stored digest no longer describes it.
    let later = SystemTime::now() + Duration::from_secs(5);
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(later)
        .unwrap();
    drop(srv);
    let srv = server(dir.path(), &[]);
    let got = curl(&srv, "/kept.bin", &["-H", WANT_REPR]);
    assert!(got.values("Repr-Digest").is_empty(), "{}", got.0);
    // Hashed again, the same bytes give the same digest.
    let got = until_field(&srv, "/kept.bin", &["-H", WANT_REPR], "Repr-Digest");
    assert_eq!(got.values("Repr-Digest"), [expected]);
}

#[test]
fn two_servers_holding_one_file_with_its_time_agree_on_its_etag() {
    if !require("curl") {
        return;
    }
    let (a, b) = (TempDir::new("etag-a"), TempDir::new("etag-b"));
    let bytes = data(SIZE, 31);
    let modified = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
    for dir in [&a, &b] {
        let path = dir.path().join("same.bin");
        fs::write(&path, &bytes).unwrap();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(modified)
            .unwrap();
    }
    let (srv_a, srv_b) = (server(a.path(), &[]), server(b.path(), &[]));
    let tag_a = curl(&srv_a, "/same.bin", &["-I"]).values("ETag");
    let tag_b = curl(&srv_b, "/same.bin", &["-I"]).values("ETag");
    assert_eq!(tag_a.len(), 1);
    assert_eq!(tag_a, tag_b, "different inodes, same tag");
    // A piece asked of B with A's tag is sent as a piece, not the whole file.
    let out = b.path().join("piece");
    let url = format!("{}/same.bin", srv_b.url);
    let if_range = format!("If-Range: {}", tag_a[0]);
    let ran = run(
        Command::new("curl")
            .args(["-s", "-D", "-", "-r", "1000-1999", "-H", &if_range, "-o"])
            .arg(&out)
            .arg(&url),
        Duration::from_secs(30),
    );
    assert!(Head(ran.stdout.clone()).status() == 206, "{}", ran.stdout);
    assert!(fs::read(&out).unwrap() == bytes[1000..2000]);
    // The same file with another time on B: the tag differs, and the resume gets it whole.
    let path_b = b.path().join("same.bin");
    fs::File::options()
        .write(true)
        .open(&path_b)
        .unwrap()
        .set_modified(modified + Duration::from_secs(1))
        .unwrap();
    let head = curl(&srv_b, "/same.bin", &["-r", "1000-1999", "-H", &if_range]);
    assert_eq!(head.status(), 200, "{}", head.0);
}

#[test]
fn more_connections_to_a_rate_total_server_do_not_get_more_bandwidth() {
    if !require("curl") {
        return;
    }
    // Two downloads of 600 kB at once from a server capped at 1 MB/s in total: together they
    // need 1.2 s (less the 50 ms burst). With only a per-response cap they would take 0.6 s.
    const RATE: u64 = 1_000_000;
    const LEN: usize = 600_000;
    let dir = TempDir::new("rate-total");
    let bytes = data(LEN, 41);
    fs::write(dir.path().join("f.bin"), &bytes).unwrap();
    let srv = server(dir.path(), &["--rate-total", &RATE.to_string()]);
    let url = format!("{}/f.bin", srv.url);
    let started = Instant::now();
    let downloads: Vec<_> = (0..2)
        .map(|i| {
            let url = url.clone();
            let out = dir.path().join(format!("got{i}"));
            thread::spawn(move || {
                let ran = run(
                    Command::new("curl").args(["-s", "-o"]).arg(&out).arg(&url),
                    Duration::from_secs(60),
                );
                (ran, out)
            })
        })
        .collect();
    for d in downloads {
        let (ran, out) = d.join().unwrap();
        assert_eq!(ran.code(), 0, "{ran:?}");
        assert!(fs::read(&out).unwrap() == bytes, "{}", out.display());
    }
    let took = started.elapsed();
    // The cap's time for both, less the burst and a margin for the clock: never faster.
    let floor =
        Duration::from_secs_f64(2.0 * LEN as f64 / RATE as f64) - Duration::from_millis(200);
    assert!(
        took >= floor,
        "two connections got {:.0} kB/s from a {} kB/s uplink",
        2.0 * LEN as f64 / took.as_secs_f64() / 1000.0,
        RATE / 1000
    );
}

/// `aria2c -x4 -s4` of `/file.bin` on `srv` into `out`, one try.
fn aria2c(srv: &Spawned, out: &Path) -> ricochet_tests::Ran {
    let args = [
        "--no-conf",
        "-q",
        "-x4",
        "-s4",
        "-k1M",
        "--max-tries=1",
        "-d",
    ];
    run(
        Command::new("aria2c")
            .args(args)
            .arg(out)
            .arg(format!("{}/file.bin", srv.url)),
        Duration::from_secs(60),
    )
}

#[test]
fn aria2c_verifies_our_digest_and_reports_a_wrong_one() {
    if !require("aria2c") || !require("python3") {
        return;
    }
    let dir = TempDir::new("digest-aria2c");
    let path = dir.path().join("file.bin");
    let bytes = data(SIZE, 51);
    fs::write(&path, &bytes).unwrap();
    let srv = server(dir.path(), &["--no-digest-xattr"]);
    // aria2c sends `Want-Digest: SHA-512;q=1, SHA-256;q=1, SHA;q=0.1`: hashed at its first
    // request; wait for it as aria2c would on a second download.
    until_field(&srv, "/file.bin", &["-H", WANT_DIGEST], "Digest");
    let good = TempDir::new("digest-aria2c-good");
    let ran = aria2c(&srv, good.path());
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(fs::read(good.path().join("file.bin")).unwrap() == bytes);
    drop(srv);

    // A wrong digest for this very version, planted where a restarted server reads it: aria2c
    // checks what we send and refuses the file (its exit 32: checksum validation failed).
    if !user_xattrs_work(dir.path()) {
        eprintln!("skipped the wrong digest: no user extended attributes");
        return;
    }
    let plant = "import os,sys\np=sys.argv[1]\nst=os.stat(p)\nns=st.st_mtime_ns\n\
        os.setxattr(p,'user.ricochet.sha256',f'{st.st_size} {ns//10**9}.{ns%10**9:09d} {\"A\"*43}='.encode())";
    let ran = run(
        Command::new("python3").args(["-c", plant]).arg(&path),
        Duration::from_secs(10),
    );
    assert_eq!(ran.code(), 0, "{ran:?}");
    let srv = server(dir.path(), &[]);
    let head = curl(&srv, "/file.bin", &["-I", "-H", WANT_DIGEST]);
    assert_eq!(
        head.values("Digest"),
        [format!("SHA-256={}=", "A".repeat(43))]
    );
    let bad = TempDir::new("digest-aria2c-bad");
    let ran = aria2c(&srv, bad.path());
    assert_eq!(
        ran.code(),
        32,
        "aria2c took a file whose digest is wrong: {ran:?}"
    );
}
