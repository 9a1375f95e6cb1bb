//! Our server never serves anything outside its root, however the path is spelled.

use ricochet_tests::{raw_exchange, server, status_of, TempDir};
use std::time::Duration;

const SECRET: &str = "TOP-SECRET-do-not-serve";

/// A root with an index, a sibling secret outside it, and symlinks in and out of it.
fn site() -> TempDir {
    let dir = TempDir::new("traversal");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("index.html"), "<p>inside</p>").unwrap();
    std::fs::write(root.join("sub/page.txt"), "inside sub").unwrap();
    std::fs::write(dir.path().join("secret.txt"), SECRET).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink(dir.path().join("secret.txt"), root.join("leak.txt")).unwrap();
        symlink(dir.path(), root.join("up")).unwrap();
        symlink(root.join("sub/page.txt"), root.join("alias.txt")).unwrap();
        // Relative links: the server's one-call open (openat2 beneath the root) decides these
        // itself, where absolute ones go through the component-by-component check.
        symlink("../secret.txt", root.join("rel-leak.txt")).unwrap();
        symlink("../../secret.txt", root.join("sub/rel-up.txt")).unwrap();
        symlink("sub/page.txt", root.join("rel-alias.txt")).unwrap();
    }
    dir
}

fn get(addr: std::net::SocketAddr, target: &str) -> (Option<u16>, String) {
    let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let got = raw_exchange(addr, request.as_bytes(), Duration::from_secs(10));
    (status_of(&got), String::from_utf8_lossy(&got).into_owned())
}

#[test]
fn dot_dot_in_every_spelling_is_refused() {
    let dir = site();
    let srv = server(&dir.path().join("root"), &[]);
    let attempts = [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/.%2e/secret.txt",
        "/%2e./secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/sub/..%2f..%2fsecret.txt",
        "/..\\secret.txt",
        "/%5c..%5csecret.txt",
        "/sub%2f..%2f..%2fsecret.txt",
        "/..%252fsecret.txt",
        "/%00/../secret.txt",
        "/index.html%00.txt",
        "/../../../../../../etc/passwd",
        "http://x/../secret.txt",
    ];
    for target in attempts {
        let (status, text) = get(srv.addr, target);
        assert!(
            matches!(status, Some(400 | 403 | 404)),
            "{target}: {status:?}\n{text}"
        );
        assert!(!text.contains(SECRET), "{target} leaked the secret");
        assert!(!text.contains("root:"), "{target} leaked /etc/passwd");
    }
    // The plain `..` forms are traversal attempts, and say so.
    for target in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/sub/../../secret.txt",
    ] {
        let (status, _) = get(srv.addr, target);
        assert!(matches!(status, Some(400 | 403)), "{target}: {status:?}");
    }
    // The server is still fine afterwards.
    let (status, text) = get(srv.addr, "/sub/page.txt");
    assert_eq!(status, Some(200));
    assert!(text.ends_with("inside sub"));
}

#[cfg(unix)]
#[test]
fn symlinks_leading_out_of_the_root_are_refused() {
    let dir = site();
    let srv = server(&dir.path().join("root"), &[]);
    for target in [
        "/leak.txt",
        "/up/secret.txt",
        "/rel-leak.txt",
        "/sub/rel-up.txt",
    ] {
        let (status, text) = get(srv.addr, target);
        assert_eq!(status, Some(403), "{target}: {text}");
        assert!(!text.contains(SECRET), "{target} leaked the secret");
    }
    // Symlinks that stay inside the root are fine, even through a detour outside it.
    let (status, text) = get(srv.addr, "/up/root/index.html");
    assert_eq!(status, Some(200), "{text}");
    for target in ["/alias.txt", "/rel-alias.txt"] {
        let (status, text) = get(srv.addr, target);
        assert_eq!(status, Some(200), "{target}: {text}");
        assert!(text.ends_with("inside sub"), "{target}: {text}");
    }
}

/// A FIFO under the root is not a file to serve: 404, at once (opening it must not wait for a
/// writer), and the server goes on answering.
#[cfg(unix)]
#[test]
fn a_fifo_under_the_root_is_not_served_and_does_not_hang_the_server() {
    let dir = site();
    let root = dir.path().join("root");
    let made = std::process::Command::new("mkfifo")
        .arg(root.join("pipe"))
        .status()
        .expect("run mkfifo");
    assert!(made.success());
    let srv = server(&root, &[]);
    let (status, text) = get(srv.addr, "/pipe");
    assert_eq!(status, Some(404), "{text}");
    let (status, _) = get(srv.addr, "/index.html");
    assert_eq!(status, Some(200));
}

#[test]
fn absolute_form_host_is_not_used_for_routing() {
    let dir = site();
    let srv = server(&dir.path().join("root"), &[]);
    let (status, text) = get(srv.addr, "http://evil.example/index.html");
    assert_eq!(status, Some(200), "{text}");
    assert!(text.ends_with("<p>inside</p>"));
}
