//! curl and wget against our server: GET, HEAD, 304, 404, keep-alive reuse.

use ricochet_tests::{require, run, server, www, TempDir, COMMAND};
use std::fs;
use std::process::Command;

fn curl(args: &[&str]) -> ricochet_tests::Ran {
    run(
        Command::new("curl").args(["--max-time", "20"]).args(args),
        COMMAND,
    )
}

#[test]
fn curl_get_downloads_identical_bytes() {
    if !require("curl") {
        return;
    }
    let srv = server(&www(), &[]);
    let dir = TempDir::new("curlget");
    for name in [
        "index.html",
        "logo.png",
        "photo.jpg",
        "data.bin",
        "probe.bin",
    ] {
        let out = dir.path().join(name);
        let ran = curl(&[
            "-sS",
            "-f",
            "-o",
            out.to_str().unwrap(),
            &format!("{}/{name}", srv.url),
        ]);
        assert_eq!(ran.code(), 0, "{name}: {ran:?}");
        assert!(
            fs::read(&out).unwrap() == fs::read(www().join(name)).unwrap(),
            "{name} differs"
        );
    }
}

#[test]
fn curl_head_gets_headers_and_no_body() {
    if !require("curl") {
        return;
    }
    let srv = server(&www(), &[]);
    let ran = curl(&["-sS", "-I", &format!("{}/data.bin", srv.url)]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    let head = ran.stdout.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{}", ran.stdout);
    assert!(head.contains("content-length: 65536\r\n"), "{}", ran.stdout);
    assert!(
        head.contains("content-type: application/octet-stream\r\n"),
        "{}",
        ran.stdout
    );
    assert!(head.contains("last-modified: "), "{}", ran.stdout);
    // The head ends the output: no body bytes after the blank line.
    assert!(ran.stdout.ends_with("\r\n\r\n"), "{:?}", ran.stdout);

    for (name, mime) in [
        ("index.html", "text/html"),
        ("style.css", "text/css"),
        ("logo.png", "image/png"),
        ("photo.jpg", "image/jpeg"),
    ] {
        let ran = curl(&["-sS", "-I", &format!("{}/{name}", srv.url)]);
        let head = ran.stdout.to_ascii_lowercase();
        assert!(
            head.contains(&format!("content-type: {mime}")),
            "{name}: {}",
            ran.stdout
        );
    }
}

#[test]
fn if_modified_since_answers_304() {
    if !require("curl") {
        return;
    }
    let srv = server(&www(), &[]);
    let url = format!("{}/style.css", srv.url);
    let head = curl(&["-sS", "-I", &url]);
    let last_modified = head
        .stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("Last-Modified: ")
                .or_else(|| l.strip_prefix("last-modified: "))
        })
        .expect("Last-Modified present")
        .trim()
        .to_string();
    let ran = curl(&[
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{size_download}",
        "-H",
        &format!("If-Modified-Since: {last_modified}"),
        &url,
    ]);
    assert_eq!(ran.stdout, "304 0", "{ran:?}");
    // An older date gets the file.
    let ran = curl(&[
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT",
        &url,
    ]);
    assert_eq!(ran.stdout, "200", "{ran:?}");
    // curl's own -z does the same.
    let ran = curl(&[
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-z",
        &last_modified,
        &url,
    ]);
    assert_eq!(ran.stdout, "304", "{ran:?}");
}

#[test]
fn missing_file_is_404_with_an_html_page() {
    if !require("curl") {
        return;
    }
    let srv = server(&www(), &[]);
    let ran = curl(&[
        "-sS",
        "-w",
        "\n%{http_code} %{content_type}",
        &format!("{}/no/such/file.html", srv.url),
    ]);
    assert!(
        ran.stdout.ends_with("\n404 text/html; charset=utf-8"),
        "{ran:?}"
    );
    assert!(ran.stdout.contains("404 Not Found"), "{ran:?}");
}

#[test]
fn curl_reuses_one_connection_for_two_urls() {
    if !require("curl") {
        return;
    }
    let srv = server(&www(), &[]);
    let ran = curl(&[
        "-sS",
        "-v",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        &format!("{}/index.html", srv.url),
        &format!("{}/logo.png", srv.url),
    ]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(
        ran.stderr.contains("Re-using existing connection"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        ran.stderr.matches("Connected to").count(),
        1,
        "{}",
        ran.stderr
    );
}

#[test]
fn wget_downloads_and_reports_404() {
    if !require("wget") {
        return;
    }
    let srv = server(&www(), &[]);
    let dir = TempDir::new("wget");
    let out = dir.path().join("probe.bin");
    let ran = run(
        Command::new("wget")
            .args(["-q", "--tries=1", "--timeout=20", "-O"])
            .arg(&out)
            .arg(format!("{}/probe.bin", srv.url)),
        COMMAND,
    );
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(fs::read(&out).unwrap() == fs::read(www().join("probe.bin")).unwrap());

    // Two URLs in one wget run share the connection (wget's -d says so on stderr).
    let ran = run(
        Command::new("wget")
            .args(["-d", "--tries=1", "--timeout=20", "-P"])
            .arg(dir.path())
            .arg(format!("{}/about.html", srv.url))
            .arg(format!("{}/style.css", srv.url)),
        COMMAND,
    );
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(
        ran.stderr.contains("Reusing existing connection"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        fs::read(dir.path().join("style.css")).unwrap(),
        fs::read(www().join("style.css")).unwrap()
    );

    // wget exits 8 on a server error response.
    let ran = run(
        Command::new("wget")
            .args(["-q", "--tries=1", "--timeout=20", "-O", "/dev/null"])
            .arg(format!("{}/missing", srv.url)),
        COMMAND,
    );
    assert_eq!(ran.code(), 8, "{ran:?}");
}

#[test]
fn a_directory_without_its_slash_redirects_and_curl_follows_to_its_index() {
    if !require("curl") {
        return;
    }
    let srv = server(&www(), &[]);
    let ran = curl(&["-sS", "-I", &format!("{}/docs", srv.url)]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(
        ran.stdout.starts_with("HTTP/1.1 301 Moved Permanently\r\n"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("\r\nLocation: /docs/\r\n"),
        "{}",
        ran.stdout
    );
    let ran = curl(&["-sS", "-f", "-L", &format!("{}/docs", srv.url)]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert_eq!(
        ran.stdout,
        fs::read_to_string(www().join("docs/index.html")).unwrap()
    );
}
