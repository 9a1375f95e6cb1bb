//! `balancer --verify-files` in front of three of our servers and an origin, each serving its
//! own root on its own loopback address: server B lacks `/new.bin`, server C holds another
//! version of `/app.bin` (same length, other bytes, an hour older). Redirects never go to a
//! server without the current copy, downloads save the origin's bytes, a file no server holds
//! goes to the origin (or is 404 without one), a client's missing report makes one re-check,
//! concurrent first requests share one HEAD per server, and `?mirrorlist` shows it all.

use ricochet_tests::{
    bin, chromium_dom, client, heads_logged, pipelined_gets, raw_exchange, require, run, Spawned,
    TempDir, COMMAND,
};
use ricochet_tests::{put_file as put, seeded_bytes as bytes};
use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

const APP_LEN: usize = 300_000;
const NEW_LEN: usize = 70_000;
/// The access log reaches its file at least every second.
const LOG_FLUSH: Duration = Duration::from_millis(1300);

/// Servers A, B, C (indices 0, 1, 2) and the origin (3), with their roots and access logs.
struct Mirrors {
    _dirs: TempDir,
    servers: Vec<Spawned>,
    logs: Vec<PathBuf>,
    origin_root: PathBuf,
}

impl Mirrors {
    fn start() -> Mirrors {
        let dirs = TempDir::new("mirrors");
        let t = SystemTime::now() - Duration::from_secs(86_400);
        let app = bytes(APP_LEN, 1);
        let new = bytes(NEW_LEN, 2);
        let mut servers = Vec::new();
        let mut logs = Vec::new();
        for (i, name) in ["a", "b", "c", "origin"].into_iter().enumerate() {
            let root = dirs.path().join(name);
            fs::create_dir(&root).unwrap();
            put(&root, "probe.bin", &bytes(16_384, 9), t);
            match name {
                "c" => put(
                    &root,
                    "app.bin",
                    &bytes(APP_LEN, 3),
                    t - Duration::from_secs(3600),
                ),
                _ => put(&root, "app.bin", &app, t),
            }
            if name != "b" {
                put(&root, "new.bin", &new, t);
            }
            put(&root, "burst.bin", b"burst", t);
            if name == "origin" {
                put(&root, "only.bin", b"only on the origin", t);
            }
            if name == "a" || name == "origin" {
                put(&root, "one.bin", b"on A and the origin", t);
            }
            let log = dirs.path().join(format!("{name}.log"));
            let mut cmd = Command::new(bin("server"));
            cmd.args(["--listen", &format!("127.0.0.{}:0", i + 2), "--root"])
                .arg(&root)
                .arg("--access-log")
                .arg(&log)
                .env("RICOCHET_LOG", "warn");
            servers.push(Spawned::start(cmd));
            logs.push(log);
        }
        Mirrors {
            origin_root: dirs.path().join("origin"),
            _dirs: dirs,
            servers,
            logs,
        }
    }

    /// `host:port` of server `i`.
    fn name(&self, i: usize) -> String {
        self.servers[i].addr.to_string()
    }

    /// A balancer over A, B and C with `extra` flags (`--origin` is added with `origin`).
    fn balancer(&self, extra: &[&str], origin: bool) -> Spawned {
        let mut cmd = Command::new(bin("balancer"));
        cmd.args(["--listen", "127.0.0.1:0"]).args(extra);
        if origin {
            cmd.args(["--origin", &self.servers[3].url]);
        }
        cmd.args((0..3).map(|i| self.name(i)))
            .env("RICOCHET_LOG", "info");
        let spawned = Spawned::start(cmd);
        spawned.wait_for("new ranking", Duration::from_secs(5));
        spawned
    }

    /// `HEAD path` lines in server `i`'s access log so far.
    fn heads(&self, i: usize, path: &str) -> usize {
        heads_logged(&self.logs[i], path)
    }

    fn origin_copy(&self, name: &str) -> Vec<u8> {
        fs::read(self.origin_root.join(name)).unwrap()
    }
}

/// `n` pipelined requests for `path` on one connection, with `extra` header lines; the raw
/// responses.
fn pipelined(balancer: &Spawned, n: usize, path: &str, extra: &str) -> String {
    pipelined_gets(
        balancer.addr,
        n,
        |_| path.to_string(),
        extra,
        Duration::from_secs(10),
    )
}

/// The status of each response and the `host:port` of its `Location`, if any.
fn answers(responses: &str) -> Vec<(u16, Option<String>)> {
    let mut out: Vec<(u16, Option<String>)> = Vec::new();
    for line in responses.lines() {
        if let Some(rest) = line.strip_prefix("HTTP/1.1 ") {
            out.push((rest[..3].parse().unwrap(), None));
        } else if let Some(url) = line.strip_prefix("Location: ") {
            let host = url.trim().trim_start_matches("http://");
            let host = host.split('/').next().unwrap().to_string();
            out.last_mut().expect("a status line first").1 = Some(host);
        }
    }
    out
}

/// The mirror list of `path` as JSON, as `server -> state`.
fn states(balancer: &Spawned, path: &str) -> HashMap<String, String> {
    let request = format!(
        "GET {path}?mirrorlist HTTP/1.1\r\nHost: b\r\nAccept: application/json\r\n\
         Connection: close\r\n\r\n"
    );
    let got = raw_exchange(balancer.addr, request.as_bytes(), Duration::from_secs(5));
    let got = String::from_utf8_lossy(&got);
    let (head, body) = got.split_once("\r\n\r\n").expect("a whole response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("Content-Type: application/json"), "{head}");
    let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
    let mut states: HashMap<String, String> = json["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["server"].as_str().unwrap().into(),
                s["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    if let Some(origin) = json["origin"].as_object() {
        states.insert("origin".into(), origin["state"].as_str().unwrap().into());
    }
    states
}

/// Send requests for `path` until every server's state is known (not unknown): bounded.
fn learn(balancer: &Spawned, mirrors: &Mirrors, path: &str) -> HashMap<String, String> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        pipelined(balancer, 20, path, "");
        let states = states(balancer, path);
        let known = (0..3).all(|i| {
            let state = &states[&mirrors.name(i)];
            state != "unknown" && state != "checking"
        });
        if known {
            return states;
        }
        assert!(Instant::now() < end, "never learned {path}: {states:?}");
    }
}

#[test]
fn a_thousand_redirects_reach_only_servers_with_the_current_copy() {
    let mirrors = Mirrors::start();
    let balancer = mirrors.balancer(&["--verify-files"], true);
    let (a, b, c) = (mirrors.name(0), mirrors.name(1), mirrors.name(2));
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for round in 0..10 {
        for (path, allowed) in [("/app.bin", [&a, &b]), ("/new.bin", [&a, &c])] {
            let responses = pipelined(&balancer, 50, path, "");
            let got = answers(&responses);
            assert_eq!(got.len(), 50, "round {round} {path}: {responses}");
            for (status, host) in got {
                assert_eq!(status, 301, "{path}");
                let host = host.expect("a Location");
                assert!(allowed.contains(&&host), "{path} went to {host}");
                *seen.entry((path.to_string(), host)).or_default() += 1;
            }
        }
    }
    // Both holders of each file get their share.
    assert_eq!(seen.len(), 4, "{seen:?}");
    // One check per server and path, whatever the number of requests (the TTL is 5 min).
    thread::sleep(LOG_FLUSH);
    for i in 0..4 {
        assert!(mirrors.heads(i, "/app.bin") <= 1, "server {i}");
        assert!(mirrors.heads(i, "/new.bin") <= 1, "server {i}");
    }
    assert_eq!(mirrors.heads(3, "/app.bin"), 1, "the origin is asked once");
}

#[test]
fn our_client_curl_and_wget_save_the_current_copy() {
    let mirrors = Mirrors::start();
    let balancer = mirrors.balancer(&["--verify-files"], true);
    let dir = TempDir::new("files-downloads");
    let tools = require("curl") && require("wget");
    for name in ["app.bin", "new.bin"] {
        let want = mirrors.origin_copy(name);
        let url = format!("{}/{name}", balancer.url);
        for round in 0..4 {
            let out = format!("client-{round}-{name}");
            let ran = client(dir.path(), &["-o", &out, &url]);
            assert_eq!(ran.code(), 0, "{ran:?}");
            assert!(
                fs::read(dir.path().join(&out)).unwrap() == want,
                "client {name}"
            );
            if !tools {
                continue;
            }
            let out = dir.path().join(format!("curl-{round}-{name}"));
            let ran = run(
                Command::new("curl")
                    .args(["-sSfL", "-o"])
                    .arg(&out)
                    .arg(&url),
                COMMAND,
            );
            assert_eq!(ran.code(), 0, "{ran:?}");
            assert!(fs::read(&out).unwrap() == want, "curl {name}");
            let out = dir.path().join(format!("wget-{round}-{name}"));
            let ran = run(
                Command::new("wget").args(["-q", "-O"]).arg(&out).arg(&url),
                COMMAND,
            );
            assert_eq!(ran.code(), 0, "{ran:?}");
            assert!(fs::read(&out).unwrap() == want, "wget {name}");
        }
    }
}

#[test]
fn a_file_no_server_holds_goes_to_the_origin_or_is_404() {
    let mirrors = Mirrors::start();
    let with_origin = mirrors.balancer(&["--verify-files"], true);
    let got = answers(&pipelined(&with_origin, 3, "/only.bin", ""));
    let origin = mirrors.servers[3].addr.to_string();
    assert_eq!(got, vec![(301, Some(origin)); 3]);
    let dir = TempDir::new("files-origin");
    let url = format!("{}/only.bin", with_origin.url);
    let ran = client(dir.path(), &["-o", "only.bin", &url]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert_eq!(
        fs::read(dir.path().join("only.bin")).unwrap(),
        b"only on the origin"
    );

    let without = mirrors.balancer(&["--verify-files"], false);
    let responses = pipelined(&without, 3, "/only.bin", "");
    assert_eq!(answers(&responses), vec![(404, None); 3], "{responses}");
    assert!(responses.contains("<h1>404 Not Found</h1>"), "{responses}");
    // Without an origin, a 200 with a length is the current copy: C's app.bin counts.
    let states = learn(&without, &mirrors, "/app.bin");
    assert!(
        (0..3).all(|i| states[&mirrors.name(i)] == "has"),
        "{states:?}"
    );
}

#[test]
fn missing_reports_make_one_recheck_and_are_not_believed() {
    let mirrors = Mirrors::start();
    let balancer = mirrors.balancer(&["--verify-files"], true);
    let a = mirrors.name(0);
    learn(&balancer, &mirrors, "/app.bin");
    thread::sleep(LOG_FLUSH);
    let before = mirrors.heads(0, "/app.bin");
    assert_eq!(before, 1);
    let report = format!("Ricochet-Missing: {a}\r\n");
    for _ in 0..4 {
        for (status, host) in answers(&pipelined(&balancer, 10, "/app.bin", &report)) {
            assert_eq!(status, 301);
            assert_ne!(
                host.as_deref(),
                Some(a.as_str()),
                "a reported server is avoided"
            );
        }
    }
    thread::sleep(LOG_FLUSH);
    assert_eq!(
        mirrors.heads(0, "/app.bin"),
        before + 1,
        "40 reports, one re-check"
    );
    // A holds it: the re-check says so, and it gets redirects again.
    assert_eq!(states(&balancer, "/app.bin")[&a], "has");
    balancer.wait_for("re-checking", Duration::from_secs(1));
}

/// As without `--verify-files`: a server reported unreachable is avoided by that request while
/// another holds the file, still chosen when it alone does (not the origin), and verified by a
/// probe rather than believed.
#[test]
fn unreachable_reports_avoid_the_server_for_that_request_only() {
    let mirrors = Mirrors::start();
    let balancer = mirrors.balancer(&["--verify-files"], true);
    let a = mirrors.name(0);
    learn(&balancer, &mirrors, "/app.bin");
    learn(&balancer, &mirrors, "/one.bin");
    let report = format!("Ricochet-Unreachable: {a}\r\n");
    for (status, host) in answers(&pipelined(&balancer, 20, "/app.bin", &report)) {
        assert_eq!(status, 301);
        assert_eq!(host, Some(mirrors.name(1)), "B, the other holder");
    }
    for (status, host) in answers(&pipelined(&balancer, 20, "/one.bin", &report)) {
        assert_eq!(status, 301);
        assert_eq!(host, Some(a.clone()), "A alone holds it: not the origin");
    }
    balancer.wait_for(
        &format!("a client could not reach {a}: probing it now"),
        Duration::from_secs(5),
    );
    // Not believed: requests without a report still go to A.
    let hosts = answers(&pipelined(&balancer, 40, "/app.bin", ""));
    assert!(
        hosts.iter().any(|(_, h)| h.as_deref() == Some(a.as_str())),
        "{hosts:?}"
    );
}

#[test]
fn concurrent_first_requests_share_one_head_per_server() {
    let mirrors = Mirrors::start();
    let balancer = mirrors.balancer(&["--verify-files"], true);
    let start = Arc::new(Barrier::new(100));
    let addr = balancer.addr;
    let threads: Vec<_> = (0..100)
        .map(|_| {
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                let request = b"GET /burst.bin HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";
                String::from_utf8_lossy(&raw_exchange(addr, request, Duration::from_secs(10)))
                    .into_owned()
            })
        })
        .collect();
    for thread in threads {
        let got = answers(&thread.join().unwrap());
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, 301);
    }
    thread::sleep(LOG_FLUSH);
    let heads: Vec<usize> = (0..4).map(|i| mirrors.heads(i, "/burst.bin")).collect();
    assert!(heads.iter().all(|&n| n <= 1), "{heads:?}");
    assert_eq!(heads[3], 1, "the origin once: {heads:?}");
    assert!(heads[..3].iter().sum::<usize>() >= 1, "{heads:?}");
}

#[test]
fn the_mirror_list_shows_each_servers_state() {
    let mirrors = Mirrors::start();
    let balancer = mirrors.balancer(&["--verify-files"], true);
    let (a, b, c) = (mirrors.name(0), mirrors.name(1), mirrors.name(2));
    let app = learn(&balancer, &mirrors, "/app.bin");
    assert_eq!(app[&a], "has");
    assert_eq!(app[&b], "has");
    assert_eq!(app[&c], "other_version");
    assert_eq!(app["origin"], "has");
    let new = learn(&balancer, &mirrors, "/new.bin");
    assert_eq!((new[&a].as_str(), new[&b].as_str()), ("has", "lacks"));

    let request = b"GET /new.bin?mirrorlist HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";
    let html = raw_exchange(balancer.addr, request, Duration::from_secs(5));
    let html = String::from_utf8_lossy(&html);
    assert!(html.contains("Content-Type: text/html"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    assert!(html.contains("lacks it (404 Not Found)"), "{html}");
    assert!(
        html.contains(&format!("<td>{a}</td><td>has it</td>")),
        "{html}"
    );
    let request = b"GET /app.bin?mirrorlist HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";
    let html = raw_exchange(balancer.addr, request, Duration::from_secs(5));
    let html = String::from_utf8_lossy(&html);
    assert!(
        html.contains(&format!("other version ({APP_LEN} bytes")),
        "{html}"
    );

    // Without --verify-files nothing is checked, and the list says so.
    let plain = mirrors.balancer(&[], false);
    let states = states(&plain, "/app.bin");
    assert!(
        (0..3).all(|i| states[&mirrors.name(i)] == "not_checked"),
        "{states:?}"
    );
    thread::sleep(LOG_FLUSH);
    assert!((0..3).all(|i| mirrors.heads(i, "/app.bin") <= 1));
}

#[test]
fn chromium_shows_the_mirror_list() {
    if !require("chromium") {
        return;
    }
    let mirrors = Mirrors::start();
    let balancer = mirrors.balancer(&["--verify-files"], true);
    learn(&balancer, &mirrors, "/new.bin");
    let dom = chromium_dom(&format!("{}/new.bin?mirrorlist", balancer.url));
    assert!(dom.contains("<h1>Mirrors of /new.bin</h1>"), "{dom}");
    let row = |i: usize| {
        let name = format!("<td>{}</td>", mirrors.name(i));
        dom.lines()
            .find(|l| l.contains(&name))
            .unwrap_or_else(|| panic!("no row for server {i}: {dom}"))
            .to_string()
    };
    assert!(row(0).contains("<td>has it</td>"), "{}", row(0));
    assert!(row(1).contains("lacks it (404 Not Found)"), "{}", row(1));
    assert!(row(2).contains("<td>has it</td>"), "{}", row(2));
    assert!(dom.contains("origin: "), "{dom}");
}

#[test]
fn https_servers_with_a_prefix_are_checked_over_tls() {
    let pki = ricochet_tests::tls::Pki::new("files-https");
    let dirs = TempDir::new("files-https");
    let t = SystemTime::now() - Duration::from_secs(86_400);
    let app = bytes(APP_LEN, 1);
    let spawn = |name: &str, holds: bool| {
        let root = dirs.path().join(name);
        fs::create_dir_all(root.join("pub")).unwrap();
        put(&root.join("pub"), "probe.bin", &bytes(16_384, 9), t);
        if holds {
            put(&root.join("pub"), "app.bin", &app, t);
        }
        let mut cmd = Command::new(bin("server"));
        cmd.args(["--listen", "127.0.0.1:0", "--root"])
            .arg(&root)
            .args(pki.loopback(name).flags())
            .env("RICOCHET_LOG", "warn");
        Spawned::start(cmd)
    };
    let (holder, lacker, origin) = (spawn("s0", true), spawn("s1", false), spawn("o", true));
    let url = |s: &Spawned| format!("https://localhost:{}/pub/", s.addr.port());
    let mut cmd = Command::new(bin("balancer"));
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--verify-files",
        "--probe-cacert",
    ])
    .arg(&pki.ca_file)
    .args(["--origin", &url(&origin), &url(&holder), &url(&lacker)])
    .env("RICOCHET_LOG", "info");
    let balancer = Spawned::start(cmd);
    balancer.wait_for("new ranking", Duration::from_secs(5));
    let responses = pipelined(&balancer, 30, "/app.bin", "");
    let want = format!("Location: {}app.bin\r\n", url(&holder));
    assert_eq!(responses.matches(&want).count(), 30, "{responses}");
    let states = states(&balancer, "/app.bin");
    assert_eq!(states["origin"], "has", "{states:?}");
}

#[test]
fn bad_file_flags_are_named_in_one_line_and_exit_1() {
    for args in [
        &["--verify-files", "--file-cache", "0"][..],
        &["--verify-files", "--origin", "ftp://origin.example/"],
        &["--verify-files", "--origin", "origin.example:80"],
        &["--verify-files", "--mtime-slack", "soon"],
        &["--verify-files", "--verify-timeout", "0s"],
        &["--file-ttl", "1m"],
        &["--origin", "http://origin.example/"],
    ] {
        let ran = run(
            Command::new(bin("balancer"))
                .args(["--listen", "127.0.0.1:0"])
                .args(args)
                .arg("127.0.0.1:1"),
            COMMAND,
        );
        assert_eq!(ran.code(), 1, "{args:?}: {ran:?}");
        // One line says what is wrong, naming the flag (argh adds a pointer to --help).
        let first = ran.stderr.lines().next().unwrap_or_default();
        let flag = args
            .iter()
            .find(|a| a.starts_with("--") && **a != "--verify-files");
        assert!(first.contains(flag.unwrap()), "{args:?}: {ran:?}");
    }
    let ran = run(Command::new(bin("balancer")).arg("--help"), COMMAND);
    for flag in [
        "--verify-files",
        "--origin",
        "--mtime-slack",
        "(default 2s)",
        "--file-ttl",
        "(default 5m)",
        "--miss-ttl",
        "(default 30s)",
        "--verify-timeout",
        "--file-cache",
        "(default 100000)",
        "?mirrorlist",
    ] {
        assert!(ran.stdout.contains(flag), "--help lacks {flag}");
    }
}

/// One `GET path` to the balancer on its own connection: the raw answer.
fn get(balancer: &Spawned, target: &str) -> String {
    let request = format!("GET {target} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n");
    let got = raw_exchange(balancer.addr, request.as_bytes(), Duration::from_secs(5));
    String::from_utf8_lossy(&got).into_owned()
}

/// The balancer learns a file's digest from the origin's `HEAD` (our server hashes it in the
/// background after the first that asks; the balancer asks again 2 s later), then sends it
/// with every redirect (`Repr-Digest`, `Digest`, and a `Link` to the other server holding the
/// current copy), answers `?sha256` as `sha256sum -c` reads it and `?meta4` with the servers
/// holding the file, and the mirror list shows it.
#[test]
fn the_origins_digest_goes_with_redirects_sha256_and_meta4() {
    require("sha256sum");
    let mirrors = Mirrors::start();
    let balancer = mirrors.balancer(&["--verify-files"], true);
    let dir = TempDir::new("digest");
    fs::write(dir.path().join("app.bin"), mirrors.origin_copy("app.bin")).unwrap();
    let ran = run(
        Command::new("sha256sum")
            .arg("app.bin")
            .current_dir(dir.path()),
        Duration::from_secs(10),
    );
    let hex = ran
        .stdout
        .split_whitespace()
        .next()
        .expect("a hash")
        .to_string();
    let end = Instant::now() + Duration::from_secs(15);
    let redirect = loop {
        let got = get(&balancer, "/app.bin");
        if got.contains("\r\nRepr-Digest: ") {
            break got;
        }
        assert!(Instant::now() < end, "no digest learned: {got}");
        thread::sleep(Duration::from_millis(300));
    };
    let (head, _) = redirect.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 301"), "{head}");
    let field = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {head}"))
            .to_string()
    };
    let repr = field("Repr-Digest: sha-256=:");
    let old = field("Digest: SHA-256=");
    assert_eq!(repr.trim_end_matches(':'), old, "{head}");
    // ?sha256, checked by sha256sum itself.
    let got = get(&balancer, "/app.bin?sha256");
    let (head, body) = got.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, format!("{hex}  app.bin\n"));
    fs::write(dir.path().join("app.bin.sha256"), body).unwrap();
    let ran = run(
        Command::new("sha256sum")
            .args(["-c", "app.bin.sha256"])
            .current_dir(dir.path()),
        Duration::from_secs(10),
    );
    assert!(ran.stdout.contains("app.bin: OK"), "{ran:?}");
    // ?meta4: A and B hold the current copy, C another version.
    learn(&balancer, &mirrors, "/app.bin");
    let got = get(&balancer, "/app.bin?meta4");
    let (head, xml) = got.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("Content-Type: application/metalink4+xml"),
        "{head}"
    );
    assert!(xml.contains("<file name=\"app.bin\">"), "{xml}");
    assert!(xml.contains(&format!("<size>{APP_LEN}</size>")), "{xml}");
    assert!(
        xml.contains(&format!("<hash type=\"sha-256\">{hex}</hash>")),
        "{xml}"
    );
    for (i, listed) in [(0, true), (1, true), (2, false)] {
        let url = format!("http://{}/app.bin</url>", mirrors.name(i));
        assert_eq!(xml.contains(&url), listed, "server {i}: {xml}");
    }
    // Each redirect names the other holder in a Link header, never C.
    for _ in 0..10 {
        let got = get(&balancer, "/app.bin");
        let duplicates: Vec<&str> = got
            .lines()
            .filter(|l| l.starts_with("Link: ") && l.contains("rel=duplicate"))
            .collect();
        assert_eq!(duplicates.len(), 1, "{got}");
        assert!(!duplicates[0].contains(&mirrors.name(2)), "{got}");
    }
    // The mirror list shows it.
    let request = b"GET /app.bin?mirrorlist HTTP/1.1\r\nHost: b\r\nAccept: application/json\r\n\
                    Connection: close\r\n\r\n";
    let got = raw_exchange(balancer.addr, request, Duration::from_secs(5));
    let got = String::from_utf8_lossy(&got);
    let json: serde_json::Value =
        serde_json::from_str(got.split_once("\r\n\r\n").unwrap().1).expect("JSON");
    assert_eq!(json["sha256"], hex.as_str(), "{json}");
    assert_eq!(json["origin"]["sha256"], hex.as_str(), "{json}");
}

#[test]
fn link_headers_name_only_servers_known_to_hold_the_current_copy() {
    let mirrors = Mirrors::start();
    let balancer = mirrors.balancer(&["--verify-files"], true);
    let (a, b, c) = (mirrors.name(0), mirrors.name(1), mirrors.name(2));
    // B lacks /new.bin; C holds another version of /app.bin.
    for (path, holders) in [("/new.bin", [&a, &c]), ("/app.bin", [&a, &b])] {
        learn(&balancer, &mirrors, path);
        let responses = pipelined(&balancer, 50, path, "");
        let mut named = 0;
        for response in responses.split("HTTP/1.1 ").skip(1) {
            let location = response
                .lines()
                .find_map(|l| l.strip_prefix("Location: http://"))
                .expect("a Location");
            let to = location.split('/').next().unwrap().to_string();
            assert!(holders.contains(&&to), "{path} went to {to}");
            for link in response.lines().filter(|l| l.starts_with("Link: <http")) {
                if !link.contains("rel=duplicate") {
                    continue;
                }
                let host = link["Link: <http://".len()..].split('/').next().unwrap();
                assert!(holders.contains(&&host.to_string()), "{path}: {link}");
                assert_ne!(host, to, "{path}: the Location again: {link}");
                named += 1;
            }
        }
        // Each redirect names the other holder.
        assert_eq!(named, 50, "{path}:\n{responses}");
    }
}

/// One redirect of a path never asked for before has the other servers checked in the
/// background (up to `--links`, 5 by default): soon after it the mirror list knows every
/// server's copy with no other request for the file, each server got one `HEAD` for it, and the
/// next redirect's `Link` header names the other server holding the current copy (A and B
/// hold it, C another version).
#[test]
fn one_redirect_has_the_other_servers_checked_ahead() {
    let mirrors = Mirrors::start();
    let balancer = mirrors.balancer(&["--verify-files"], true);
    let got = get(&balancer, "/app.bin");
    assert!(got.starts_with("HTTP/1.1 301"), "{got}");
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let states = states(&balancer, "/app.bin");
        let known = (0..3).all(|i| {
            let state = &states[&mirrors.name(i)];
            state != "unknown" && state != "checking"
        });
        let logged = (0..3).all(|i| mirrors.heads(i, "/app.bin") > 0);
        if known && logged {
            break;
        }
        assert!(
            Instant::now() < end,
            "the other servers were not checked ahead: {states:?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
    for i in 0..3 {
        assert_eq!(mirrors.heads(i, "/app.bin"), 1, "HEADs on server {i}");
    }
    let got = get(&balancer, "/app.bin");
    let (head, _) = got.split_once("\r\n\r\n").unwrap();
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("Location: "))
        .expect("a Location");
    let duplicates: Vec<&str> = head
        .lines()
        .filter(|l| l.starts_with("Link: ") && l.contains("rel=duplicate"))
        .collect();
    assert_eq!(duplicates.len(), 1, "{head}");
    let (a, b, c) = (mirrors.name(0), mirrors.name(1), mirrors.name(2));
    let other = if location.contains(&a) { &b } else { &a };
    assert!(duplicates[0].contains(other.as_str()), "{head}");
    assert!(!head.contains(&c), "{head}");
}
