//! `--access-log` on server and balancer: one Combined Log Format line per request, checked
//! against the format's grammar and fed to GoAccess.

use ricochet_tests::{bin, raw_exchange, require, run, server, www, Spawned, TempDir, COMMAND};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(10);

/// One parsed Combined Log Format line, plus the fields after the standard ones.
#[derive(Debug)]
struct Line {
    host: String,
    date: String,
    request: String,
    status: u16,
    bytes: Option<u64>,
    referer: String,
    user_agent: String,
    extra: Vec<String>,
}

/// Read a quoted field (`"..."` with `\"`, `\\` and `\xHH` escapes) at the start of `s`;
/// returns it unescaped and what follows.
fn quoted(s: &str) -> (String, &str) {
    let rest = s
        .strip_prefix('"')
        .unwrap_or_else(|| panic!("no quote at {s:?}"));
    let mut out = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (out, &rest[i + 1..]),
            '\\' => match chars.next() {
                Some((_, 'x')) => {
                    let hex: String = chars.by_ref().take(2).map(|(_, c)| c).collect();
                    out.push(char::from(u8::from_str_radix(&hex, 16).unwrap()));
                }
                Some((_, c)) => out.push(c),
                None => panic!("dangling escape in {s:?}"),
            },
            c => {
                assert!(
                    (' '..='~').contains(&c),
                    "raw {c:?} in a quoted field: {s:?}"
                );
                out.push(c);
            }
        }
    }
    panic!("unterminated field: {s:?}")
}

/// `host ident authuser [date] "request" status bytes "referer" "user-agent" ["extra"...]`
fn parse(line: &str) -> Line {
    let mut parts = line.splitn(4, ' ');
    let host = parts.next().unwrap().to_string();
    assert_eq!(parts.next(), Some("-"), "ident: {line}");
    assert_eq!(parts.next(), Some("-"), "authuser: {line}");
    let rest = parts.next().unwrap();
    let rest = rest.strip_prefix('[').unwrap();
    let (date, rest) = rest.split_once("] ").unwrap();
    let (request, rest) = quoted(rest);
    let mut fields = rest.trim_start().splitn(3, ' ');
    let status = fields.next().unwrap().parse().unwrap();
    let bytes = match fields.next().unwrap() {
        "-" => None,
        n => Some(n.parse().unwrap()),
    };
    let (referer, rest) = quoted(fields.next().unwrap());
    let (user_agent, mut rest) = quoted(rest.trim_start());
    let mut extra = Vec::new();
    while !rest.is_empty() {
        let (field, after) = quoted(rest.strip_prefix(' ').unwrap());
        extra.push(field);
        rest = after;
    }
    Line {
        host,
        date: date.to_string(),
        request,
        status,
        bytes,
        referer,
        user_agent,
        extra,
    }
}

/// Wait (bounded) until `path` holds `n` lines; the writer flushes at least every second.
fn lines(path: &Path, n: usize) -> Vec<String> {
    let end = Instant::now() + DEADLINE;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() >= n || Instant::now() > end {
            assert!(text.is_empty() || text.ends_with('\n'), "{text:?}");
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn date_is_clf(date: &str) {
    // 30/Nov/2026:01:08:21 +0000
    let b = date.as_bytes();
    assert_eq!(date.len(), 26, "{date}");
    assert!(
        b[0..2].iter().all(u8::is_ascii_digit) && b[2] == b'/',
        "{date}"
    );
    assert!(
        b[3..6].iter().all(u8::is_ascii_alphabetic) && b[6] == b'/',
        "{date}"
    );
    assert!(date.ends_with(" +0000"), "{date}");
}

#[test]
fn the_server_logs_every_request_in_combined_format() {
    let dir = TempDir::new("access-server");
    let log = dir.path().join("access.log");
    let srv = server(&www(), &["--access-log", log.to_str().unwrap()]);
    let index = std::fs::metadata(www().join("index.html")).unwrap().len();
    let batch = "GET /index.html HTTP/1.1\r\nHost: x\r\nReferer: http://ref.example/\r\n\
                 User-Agent: agent \"quoted\"\r\n\r\n\
                 HEAD /style.css HTTP/1.1\r\nHost: x\r\n\r\n\
                 GET /missing HTTP/1.0\r\n\r\n";
    let raw = raw_exchange(srv.addr, batch.as_bytes(), DEADLINE);
    assert_eq!(ricochet_tests::statuses(&raw), vec![200, 200, 404]);
    let lines = lines(&log, 3);
    assert_eq!(lines.len(), 3, "{lines:?}");
    let parsed: Vec<Line> = lines.iter().map(|l| parse(l)).collect();
    let [get, head, missing] = &parsed[..] else {
        unreachable!()
    };
    assert_eq!(get.host, "127.0.0.1");
    date_is_clf(&get.date);
    assert_eq!(get.request, "GET /index.html HTTP/1.1");
    assert_eq!((get.status, get.bytes), (200, Some(index)));
    assert_eq!(get.referer, "http://ref.example/");
    assert_eq!(get.user_agent, "agent \"quoted\"");
    assert!(get.extra.is_empty(), "{get:?}");
    assert_eq!(head.request, "HEAD /style.css HTTP/1.1");
    assert_eq!((head.status, head.bytes), (200, None), "HEAD sends no body");
    assert_eq!(
        (head.referer.as_str(), head.user_agent.as_str()),
        ("-", "-")
    );
    assert_eq!(missing.request, "GET /missing HTTP/1.0");
    assert_eq!(missing.status, 404);
    assert!(missing.bytes.unwrap() > 0, "the error page");
}

/// A download its client cuts short still gets its line, with status 200 and the body bytes
/// actually sent (as nginx logs it), in the access log and in the server's log.
#[test]
fn a_download_cut_short_by_its_client_is_logged_with_the_bytes_sent() {
    use std::io::{Read, Write};
    let dir = TempDir::new("access-cut");
    let root = dir.path().join("www");
    std::fs::create_dir_all(&root).unwrap();
    let size: u64 = 8 * 1024 * 1024;
    std::fs::write(root.join("big.bin"), vec![b'x'; size as usize]).unwrap();
    let log = dir.path().join("access.log");
    let srv = server(
        &root,
        &["--access-log", log.to_str().unwrap(), "--rate", "1000000"],
    );
    let mut stream = std::net::TcpStream::connect(srv.addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = 0;
    let mut buf = [0u8; 16 * 1024];
    while got < 100_000 {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed early");
        got += n;
    }
    drop(stream);

    let lines = lines(&log, 1);
    assert_eq!(lines.len(), 1, "no access-log line for the cut download");
    let line = parse(&lines[0]);
    assert_eq!(line.request, "GET /big.bin HTTP/1.1");
    assert_eq!(line.status, 200, "{}", lines[0]);
    let bytes = line.bytes.expect("body bytes");
    assert!(bytes > 0 && bytes < size, "{bytes} of {size}: {}", lines[0]);
    srv.wait_for("GET /big.bin", DEADLINE);
    let logged = srv.log_messages();
    assert!(logged.contains("\"GET /big.bin\" 200 "), "{logged}");
}

#[test]
fn the_balancer_logs_the_server_it_redirected_to_and_goaccess_reads_it() {
    let servers: Vec<Spawned> = (0..2).map(|_| server(&www(), &[])).collect();
    let dir = TempDir::new("access-balancer");
    let log = dir.path().join("access.log");
    let mut cmd = Command::new(bin("balancer"));
    cmd.args(["--listen", "127.0.0.1:0", "--access-log"])
        .arg(&log)
        .args(servers.iter().map(|s| s.addr.to_string()))
        .env("RICOCHET_LOG", "info");
    let balancer = Spawned::start(cmd);
    let mut batch = String::new();
    for i in 0..10 {
        batch.push_str(&format!(
            "GET /docs/{i}.html?q=a%20b HTTP/1.1\r\nHost: b\r\nUser-Agent: test/{i}\r\n\r\n"
        ));
    }
    batch.push_str("POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let raw = raw_exchange(balancer.addr, batch.as_bytes(), DEADLINE);
    let mut expected = vec![301; 10];
    expected.push(405);
    assert_eq!(ricochet_tests::statuses(&raw), expected);

    let lines = lines(&log, 11);
    assert_eq!(lines.len(), 11, "{lines:?}");
    let addresses: Vec<String> = servers.iter().map(|s| s.addr.to_string()).collect();
    for (i, line) in lines[..10].iter().enumerate() {
        let l = parse(line);
        assert_eq!(l.request, format!("GET /docs/{i}.html?q=a%20b HTTP/1.1"));
        assert_eq!(l.status, 301);
        assert!(l.bytes.unwrap() > 0, "the redirect page: {line}");
        assert_eq!(l.user_agent, format!("test/{i}"));
        assert_eq!(l.extra.len(), 1, "{line}");
        assert!(addresses.contains(&l.extra[0]), "{line}");
    }
    let refused = parse(&lines[10]);
    assert_eq!(
        (refused.status, refused.extra.clone()),
        (405, vec!["-".to_string()])
    );

    if !require("goaccess") {
        return;
    }
    let report = dir.path().join("report.json");
    let ran = run(
        Command::new("goaccess")
            .arg(&log)
            .args(["--log-format=COMBINED", "--no-global-config", "-o"])
            .arg(&report),
        COMMAND,
    );
    assert_eq!(ran.code(), 0, "{ran:?}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let general = &v["general"];
    assert_eq!(general["total_requests"], 11, "{general}");
    assert_eq!(general["valid_requests"], 11, "{general}");
    assert_eq!(general["failed_requests"], 0, "{general}");
}
