//! Our client downloading from our server: every kind of file arrives byte for byte, under the
//! right name, with the response head printed.

use ricochet_tests::{client, server, www, TempDir};
use std::fs;

#[test]
fn html_images_and_binaries_arrive_byte_for_byte() {
    let srv = server(&www(), &[]);
    let dir = TempDir::new("dl");
    for name in [
        "index.html",
        "about.html",
        "style.css",
        "logo.png",
        "photo.jpg",
        "data.bin",
        "probe.bin",
    ] {
        let out = dir.path().join(name);
        let ran = client(
            dir.path(),
            &[
                "-q",
                &format!("{}/{name}", srv.url),
                "-o",
                out.to_str().unwrap(),
            ],
        );
        assert_eq!(ran.code(), 0, "{name}: {ran:?}");
        assert!(
            ran.stdout.starts_with("HTTP/1.1 200 OK\n"),
            "{name}: {}",
            ran.stdout
        );
        let want = fs::read(www().join(name)).unwrap();
        let got = fs::read(&out).unwrap();
        assert!(
            got == want,
            "{name}: downloaded bytes differ from the original"
        );
    }
    // Nothing but the downloads: no temporary file left behind.
    assert_eq!(dir.entries().len(), 7, "{:?}", dir.entries());
}

#[test]
fn prints_the_head_and_picks_the_name_from_the_url() {
    let srv = server(&www(), &[]);
    let dir = TempDir::new("names");
    let ran = client(dir.path(), &["-q", &format!("{}/logo.png", srv.url)]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(
        ran.stdout.contains("Content-Type: image/png\n"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("Content-Length: 23695\n"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("Last-Modified: "), "{}", ran.stdout);
    assert_eq!(
        fs::read(dir.path().join("logo.png")).unwrap(),
        fs::read(www().join("logo.png")).unwrap()
    );

    // A trailing slash saves the directory's index page as index.html.
    let ran = client(dir.path(), &["-q", &format!("{}/docs/", srv.url)]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert_eq!(
        fs::read(dir.path().join("index.html")).unwrap(),
        fs::read(www().join("docs/index.html")).unwrap()
    );

    // -o naming an existing directory saves inside it under the URL's name.
    let sub = dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    let ran = client(
        dir.path(),
        &["-q", &format!("{}/photo.jpg", srv.url), "-o", "sub"],
    );
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert_eq!(
        fs::read(sub.join("photo.jpg")).unwrap(),
        fs::read(www().join("photo.jpg")).unwrap()
    );
}

#[test]
fn a_404_saves_nothing_and_exits_5() {
    let srv = server(&www(), &[]);
    let dir = TempDir::new("404");
    let ran = client(dir.path(), &["-q", &format!("{}/missing.html", srv.url)]);
    assert_eq!(ran.code(), 5, "{ran:?}");
    assert!(
        ran.stdout.starts_with("HTTP/1.1 404 Not Found\n"),
        "{}",
        ran.stdout
    );
    // The error page is text, so it is shown.
    assert!(ran.stdout.contains("404"), "{}", ran.stdout);
    assert_eq!(
        ran.stderr.lines().count(),
        1,
        "one line on stderr: {}",
        ran.stderr
    );
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
}

#[test]
fn works_over_ipv6_loopback() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipping: no IPv6 loopback here");
        return;
    }
    let mut cmd = std::process::Command::new(ricochet_tests::bin("server"));
    cmd.args(["--listen", "[::1]:0", "--root"]).arg(www());
    let srv = ricochet_tests::Spawned::start(cmd);
    assert!(srv.url.starts_with("http://[::1]:"), "{}", srv.url);
    let dir = TempDir::new("v6");
    let ran = client(dir.path(), &["-q", &format!("{}/data.bin", srv.url)]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(
        fs::read(dir.path().join("data.bin")).unwrap() == fs::read(www().join("data.bin")).unwrap()
    );
}

#[test]
fn stderr_shows_a_progress_bar_only_on_a_terminal() {
    let srv = server(&www(), &[]);
    let dir = TempDir::new("progress");
    let url = format!("{}/probe.bin", srv.url);

    // Not a terminal: stderr is just the closing summary.
    let ran = client(dir.path(), &[&url, "-o", "plain.bin"]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    // One line: the summary, which names the digest checked when the server had one to give
    // (it may, from an earlier run's extended attribute on www/probe.bin).
    assert!(
        ran.stderr == "saved 262144 bytes to plain.bin\n"
            || ran.stderr == "saved 262144 bytes to plain.bin, sha-256 verified\n",
        "{:?}",
        ran.stderr
    );

    // On a terminal (util-linux `script` provides one), the bar is drawn; -q silences it.
    if !ricochet_tests::require("script") {
        return;
    }
    let client_bin = ricochet_tests::bin("client");
    let on_tty = |extra: &str| {
        let line = format!("{} {extra} {url} -o tty.bin", client_bin.display());
        ricochet_tests::run(
            std::process::Command::new("script")
                .args(["-qec", &line, "/dev/null"])
                .current_dir(dir.path()),
            ricochet_tests::COMMAND,
        )
    };
    let ran = on_tty("");
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(
        ran.stdout.contains("256.00 KiB/256.00 KiB"),
        "no progress bar: {:?}",
        ran.stdout
    );
    let ran = on_tty("-q");
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(
        !ran.stdout.contains("KiB/"),
        "progress bar despite -q: {:?}",
        ran.stdout
    );
    assert!(
        !ran.stdout.contains("saved "),
        "summary despite -q: {:?}",
        ran.stdout
    );
}

#[cfg(unix)]
#[test]
fn a_device_or_fifo_output_is_written_through_not_replaced() {
    use std::os::unix::fs::FileTypeExt;
    if !ricochet_tests::require("mkfifo") {
        return;
    }
    let srv = server(&www(), &[]);
    let dir = TempDir::new("fifo");
    let fifo = dir.path().join("pipe");
    let made = ricochet_tests::run(
        std::process::Command::new("mkfifo").arg(&fifo),
        ricochet_tests::COMMAND,
    );
    assert_eq!(made.code(), 0, "{made:?}");
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read(fifo).unwrap())
    };
    let ran = client(
        dir.path(),
        &["-q", &format!("{}/data.bin", srv.url), "-o", "pipe"],
    );
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(reader.join().unwrap() == fs::read(www().join("data.bin")).unwrap());
    // Still a FIFO, and no temporary file beside it.
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(dir.entries(), vec!["pipe".to_string()]);
}

#[cfg(target_os = "linux")]
#[test]
fn an_output_link_to_a_pipe_like_dev_stdout_is_written_through() {
    // Like `-o /dev/stdout`: a symlink to /proc/self/fd/1, which is the client's stdout pipe
    // here. It must be written through, never renamed over.
    let srv = server(&www(), &[]);
    let dir = TempDir::new("stdout");
    std::os::unix::fs::symlink("/proc/self/fd/1", dir.path().join("out")).unwrap();
    let ran = client(
        dir.path(),
        &["-q", &format!("{}/style.css", srv.url), "-o", "out"],
    );
    assert_eq!(ran.code(), 0, "{ran:?}");
    let css = fs::read_to_string(www().join("style.css")).unwrap();
    assert!(ran.stdout.ends_with(&css), "{}", ran.stdout);
    let link = fs::symlink_metadata(dir.path().join("out")).unwrap();
    assert!(link.file_type().is_symlink());
    assert_eq!(dir.entries(), vec!["out".to_string()]);
}

#[cfg(unix)]
#[test]
fn a_symlink_output_replaces_its_target_and_stays_a_link() {
    let srv = server(&www(), &[]);
    let dir = TempDir::new("link");
    fs::create_dir(dir.path().join("real")).unwrap();
    fs::write(dir.path().join("real/file.css"), "old").unwrap();
    std::os::unix::fs::symlink("real/file.css", dir.path().join("link.css")).unwrap();
    let ran = client(
        dir.path(),
        &["-q", &format!("{}/style.css", srv.url), "-o", "link.css"],
    );
    assert_eq!(ran.code(), 0, "{ran:?}");
    let link = fs::symlink_metadata(dir.path().join("link.css")).unwrap();
    assert!(
        link.file_type().is_symlink(),
        "the link was replaced by a file"
    );
    assert_eq!(
        fs::read(dir.path().join("real/file.css")).unwrap(),
        fs::read(www().join("style.css")).unwrap()
    );
    assert_eq!(
        dir.entries(),
        vec!["link.css".to_string(), "real".to_string()]
    );
}

#[test]
fn the_progress_line_fits_the_terminal_width() {
    if !ricochet_tests::require("script") {
        return;
    }
    let srv = server(&www(), &[]);
    let dir = TempDir::new("progress-width");
    let url = format!("{}/probe.bin", srv.url);
    let client_bin = ricochet_tests::bin("client");
    for cols in [80, 60] {
        let line = format!(
            "stty rows 24 cols {cols}; {} {url} -o tty.bin",
            client_bin.display()
        );
        let ran = ricochet_tests::run(
            std::process::Command::new("script")
                .args(["-qec", &line, "/dev/null"])
                .current_dir(dir.path()),
            ricochet_tests::COMMAND,
        );
        assert_eq!(ran.code(), 0, "{ran:?}");
        // Each drawing of the bar starts after a carriage return; indicatif pads it to a
        // whole number of terminal rows, so a line that wraps shows as a longer one.
        let drawn: Vec<String> = without_escapes(&ran.stdout)
            .split(['\r', '\n'])
            .filter(|l| l.contains("KiB/"))
            .map(|l| l.split("saved ").next().unwrap_or(l).to_string())
            .collect();
        assert!(!drawn.is_empty(), "no progress bar: {:?}", ran.stdout);
        for l in drawn {
            assert!(
                l.chars().count() <= cols,
                "{} characters on a {cols}-column terminal: {l:?}",
                l.chars().count()
            );
        }
    }
}

/// `text` without its ANSI escape sequences (`ESC [ ... letter`).
fn without_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        }
    }
    out
}
