//! Our client following redirects: relative and absolute Locations, every redirect status, the
//! ways a chain can go wrong (loops, too many, no Location), and asking the balancer again when
//! the server it sent the client to lacks the file (`Ricochet-Missing`).

use ricochet_tests::{
    client, redirect, response, server, www, Reply, Spawned, TempDir, TestServer,
};
use std::sync::{Arc, Mutex};

#[test]
fn follows_a_chain_of_relative_and_absolute_redirects() {
    let srv = TestServer::start(|path, base| {
        Reply::Bytes(match path {
            "/start" => redirect("301 Moved Permanently", "/dir/two"),
            "/dir/two" => redirect("302 Found", &format!("{base}/dir/three")),
            "/dir/three" => redirect("303 See Other", "four"),
            "/dir/four" => redirect("307 Temporary Redirect", "../final.txt?v=1"),
            "/final.txt?v=1" => redirect("308 Permanent Redirect", "/final.txt"),
            "/final.txt" => response("200 OK", &[("Content-Type", "text/plain")], b"arrived\n"),
            _ => response("404 Not Found", &[], b""),
        })
    });
    let dir = TempDir::new("chain");
    let ran = client(dir.path(), &["-q", &format!("{}/start", srv.url)]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    let hops: Vec<&str> = ran
        .stdout
        .lines()
        .filter(|l| l.starts_with("redirected to "))
        .collect();
    assert_eq!(
        hops,
        vec![
            format!("redirected to {}/dir/two", srv.url),
            format!("redirected to {}/dir/three", srv.url),
            format!("redirected to {}/dir/four", srv.url),
            format!("redirected to {}/final.txt?v=1", srv.url),
            format!("redirected to {}/final.txt", srv.url),
        ]
    );
    // Each redirect's head is printed too.
    for status in ["301", "302", "303", "307", "308", "200"] {
        assert!(
            ran.stdout.contains(&format!("HTTP/1.1 {status} ")),
            "{status} missing:\n{}",
            ran.stdout
        );
    }
    // Saved under the name of the URL given, not the final one: a server does not choose the
    // local file name (a redirect to `/.bashrc` must not write `./.bashrc`).
    assert_eq!(dir.entries(), vec!["start".to_string()]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("start")).unwrap(),
        "arrived\n"
    );
}

#[test]
fn a_redirect_to_our_server_downloads_the_file() {
    let files = server(&www(), &[]);
    let target = format!("{}/probe.bin", files.url);
    let bouncer =
        TestServer::start(move |_, _| Reply::Bytes(redirect("301 Moved Permanently", &target)));
    let dir = TempDir::new("bounce");
    let ran = client(dir.path(), &["-q", &format!("{}/probe.bin", bouncer.url)]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(
        std::fs::read(dir.path().join("probe.bin")).unwrap()
            == std::fs::read(www().join("probe.bin")).unwrap(),
        "probe.bin differs after a redirect"
    );
}

#[test]
fn a_redirect_loop_is_detected_and_exits_6() {
    let srv = TestServer::start(|path, _| {
        Reply::Bytes(match path {
            "/a" => redirect("302 Found", "/b"),
            "/b" => redirect("302 Found", "/c"),
            _ => redirect("302 Found", "/a"),
        })
    });
    let dir = TempDir::new("loop");
    let ran = client(dir.path(), &["-q", &format!("{}/a", srv.url)]);
    assert_eq!(ran.code(), 6, "{ran:?}");
    assert!(ran.stderr.contains("loop"), "{}", ran.stderr);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    assert_eq!(
        ran.stdout.matches("redirected to").count(),
        2,
        "{}",
        ran.stdout
    );
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
}

#[test]
fn too_many_redirects_stop_at_the_limit_with_exit_6() {
    let srv = TestServer::start(|path, _| {
        let n: u32 = path.trim_start_matches("/hop/").parse().unwrap_or(0);
        Reply::Bytes(redirect(
            "307 Temporary Redirect",
            &format!("/hop/{}", n + 1),
        ))
    });
    let dir = TempDir::new("many");
    let ran = client(
        dir.path(),
        &["-q", "--max-redirects", "3", &format!("{}/hop/0", srv.url)],
    );
    assert_eq!(ran.code(), 6, "{ran:?}");
    assert_eq!(
        ran.stdout.matches("redirected to").count(),
        3,
        "{}",
        ran.stdout
    );
    assert!(ran.stderr.contains("3 redirects"), "{}", ran.stderr);
    assert!(dir.entries().is_empty());
}

#[test]
fn a_redirect_without_location_exits_6() {
    let srv = TestServer::start(|_, _| Reply::Bytes(response("302 Found", &[], b"")));
    let dir = TempDir::new("noloc");
    let ran = client(dir.path(), &["-q", &format!("{}/x", srv.url)]);
    assert_eq!(ran.code(), 6, "{ran:?}");
    assert!(ran.stderr.contains("Location"), "{}", ran.stderr);
    assert!(dir.entries().is_empty());
}

/// A redirect is printed like any other message: status line, headers, then its (text) body,
/// and only then "redirected to"; the body never reaches the saved file.
#[test]
fn a_redirect_body_is_printed_before_following_and_never_saved() {
    let srv = TestServer::start(|path, _| {
        Reply::Bytes(match path {
            "/old" => response(
                "301 Moved Permanently",
                &[
                    ("Location", "/new"),
                    ("Content-Type", "text/html; charset=utf-8"),
                ],
                b"<html><body>Moved to <a href=\"/new\">/new</a></body></html>\n",
            ),
            "/new" => response("200 OK", &[("Content-Type", "text/plain")], b"arrived\n"),
            _ => response("404 Not Found", &[], b""),
        })
    });
    let dir = TempDir::new("redirect-body");
    let ran = client(dir.path(), &["-q", &format!("{}/old", srv.url)]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    let head = ran.stdout.find("HTTP/1.1 301 ").expect("301 head printed");
    let body = ran
        .stdout
        .find("<html><body>Moved to <a href=\"/new\">/new</a></body></html>")
        .unwrap_or_else(|| panic!("redirect body not printed:\n{}", ran.stdout));
    let hop = ran.stdout.find("redirected to ").expect("hop printed");
    assert!(head < body && body < hop, "out of order:\n{}", ran.stdout);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("old")).unwrap(),
        "arrived\n"
    );
}

/// A long text redirect body is cut at 4 KiB with a note; a binary one is not printed at all.
#[test]
fn a_long_redirect_body_is_cut_and_a_binary_one_not_printed() {
    let srv = TestServer::start(|path, _| {
        Reply::Bytes(match path {
            "/long" => response(
                "302 Found",
                &[("Location", "/binary"), ("Content-Type", "text/plain")],
                &[b'x'; 10_000],
            ),
            "/binary" => response(
                "307 Temporary Redirect",
                &[
                    ("Location", "/end"),
                    ("Content-Type", "application/octet-stream"),
                ],
                b"\x00\x01BINARY-REDIRECT-BODY\xff",
            ),
            "/end" => response("200 OK", &[], b"done"),
            _ => response("404 Not Found", &[], b""),
        })
    });
    let dir = TempDir::new("redirect-long");
    let ran = client(dir.path(), &["-q", &format!("{}/long", srv.url)]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    let run_of_x = ran
        .stdout
        .lines()
        .find(|l| l.starts_with('x'))
        .unwrap_or_else(|| panic!("long body not printed:\n{}", ran.stdout));
    assert_eq!(run_of_x, "x".repeat(4096), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("truncated"),
        "no truncation note:\n{}",
        ran.stdout
    );
    assert!(
        !ran.stdout.contains("BINARY-REDIRECT-BODY"),
        "{}",
        ran.stdout
    );
    assert_eq!(std::fs::read(dir.path().join("long")).unwrap(), b"done");
}

/// A stand-in for a balancer: it redirects a request to `/data.bin` on `a`, unless it carries
/// `Ricochet-Missing: A`, then to `b`. It records every `Ricochet-Missing` value it sees.
fn fake_balancer(a: &Spawned, b: &Spawned) -> (TestServer, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let (a_addr, a_url, b_url) = (a.addr.to_string(), a.url.clone(), b.url.clone());
    let balancer = TestServer::start_with_head(move |head, _| {
        let missing: Vec<String> = head
            .split("\r\n")
            .filter_map(|line| line.split_once(':'))
            .filter(|(name, _)| name.eq_ignore_ascii_case("ricochet-missing"))
            .map(|(_, value)| value.trim().to_string())
            .collect();
        let target = if missing.contains(&a_addr) {
            &b_url
        } else {
            &a_url
        };
        record.lock().unwrap().extend(missing);
        Reply::Bytes(redirect("302 Found", &format!("{target}/data.bin")))
    });
    (balancer, seen)
}

/// A server with nothing to serve.
fn empty_server() -> (Spawned, TempDir) {
    let root = TempDir::new("missing-root");
    (server(root.path(), &[]), root)
}

#[test]
fn a_404_from_the_server_redirected_to_is_reported_and_the_file_comes_from_another() {
    let (a, _root) = empty_server();
    let b = server(&www(), &[]);
    let (balancer, seen) = fake_balancer(&a, &b);
    let dir = TempDir::new("missing-failover");
    let url = format!("{}/data.bin", balancer.url);
    let ran = client(dir.path(), &["-q", &url]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(
        ran.stdout.contains(&format!(
            "\n{} answered 404 Not Found; asking {url} for another server\n",
            a.addr
        )),
        "{}",
        ran.stdout
    );
    assert!(
        std::fs::read(dir.path().join("data.bin")).unwrap()
            == std::fs::read(www().join("data.bin")).unwrap(),
        "data.bin differs"
    );
    assert_eq!(dir.entries(), vec!["data.bin".to_string()]);
    assert_eq!(*seen.lock().unwrap(), vec![a.addr.to_string()]);
}

#[test]
fn when_the_other_server_lacks_the_file_too_the_client_exits_5_after_one_report() {
    let (a, _root_a) = empty_server();
    let (b, _root_b) = empty_server();
    let (balancer, seen) = fake_balancer(&a, &b);
    let dir = TempDir::new("missing-everywhere");
    let ran = client(
        dir.path(),
        &["-q", "--retry", "2", &format!("{}/data.bin", balancer.url)],
    );
    assert_eq!(ran.code(), 5, "{ran:?}");
    assert!(ran.stderr.contains("404 Not Found"), "{}", ran.stderr);
    assert_eq!(dir.entries(), Vec::<String>::new());
    assert_eq!(*seen.lock().unwrap(), vec![a.addr.to_string()]);
}

/// `-c`: the resumed request (`Range`, `If-Range`) is asked again the same way, and the other
/// server's 206 completes the partial file.
#[test]
fn a_resumed_download_is_reported_and_completed_by_the_other_server() {
    let (a, _root) = empty_server();
    let b = server(&www(), &[]);
    let (balancer, seen) = fake_balancer(&a, &b);
    let dir = TempDir::new("missing-resume");
    let direct = client(dir.path(), &["-q", &format!("{}/data.bin", b.url)]);
    assert_eq!(direct.code(), 0, "{direct:?}");
    let etag = direct
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("ETag: "))
        .expect("our server sends an ETag")
        .to_string();
    let bytes = std::fs::read(www().join("data.bin")).unwrap();
    std::fs::remove_file(dir.path().join("data.bin")).unwrap();
    std::fs::write(dir.path().join(".data.bin.part"), &bytes[..10_000]).unwrap();
    let url = format!("{}/data.bin", balancer.url);
    std::fs::write(
        dir.path().join(".data.bin.part.meta"),
        format!("ricochet-partial 1\nurl {url}\netag {etag}\n"),
    )
    .unwrap();
    let ran = client(dir.path(), &["-q", "-c", "--retry", "2", &url]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(
        ran.stdout.contains(&format!(
            "{} answered 404 Not Found; asking {url} for another server",
            a.addr
        )),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("Content-Range: bytes 10000-65535/65536"),
        "{}",
        ran.stdout
    );
    assert!(
        std::fs::read(dir.path().join("data.bin")).unwrap() == bytes,
        "not byte-exact"
    );
    assert_eq!(dir.entries(), vec!["data.bin".to_string()]);
    assert_eq!(*seen.lock().unwrap(), vec![a.addr.to_string()]);
}
