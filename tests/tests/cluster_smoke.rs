//! The demo cluster (on free ports instead of 11111/22222/33333/12345/12346): it ranks its
//! three servers fastest first, prints how to try it and its admin URL, and a download through
//! it arrives intact. Its second server lacks `release.bin` and its third holds an older
//! `data.bin`: the balancer never sends a client to either for that file, and the mirror list
//! says why. A root without the probe file, or a wrong count of `--server-port`, stops it at
//! once with the table's exit code.

use ricochet_tests::{
    bin, client, cluster_command, raw_exchange, run, status_of, www, Spawned, TempDir, COMMAND,
};
use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

/// The servers' `host:port`, in the order the cluster started them (fastest first).
fn servers(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix("server http://"))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect()
}

/// Stop the cluster as Ctrl-C does, and check it removed the copies of the root its second
/// and third servers served (their directory is in its `server` lines).
fn stop(mut cluster: Spawned, output: &str) {
    let www = fs::canonicalize(www()).unwrap();
    let copies: Vec<&str> = output
        .lines()
        .filter(|l| l.starts_with("server http://"))
        .filter_map(|l| l.split(' ').nth(3))
        .filter(|root| Path::new(root) != www)
        .collect();
    assert_eq!(copies.len(), 2, "{output}");
    for root in &copies {
        assert!(Path::new(root).join("index.html").is_file(), "{root}");
    }
    cluster.signal("INT");
    assert_eq!(cluster.wait_exit(Duration::from_secs(10)).code(), Some(0));
    for root in &copies {
        assert!(!Path::new(root).exists(), "{root} left behind");
    }
}

/// `n` pipelined GETs of `path` through the balancer: each answer's status and the
/// `host:port` its `Location` points to.
fn redirects(cluster: &Spawned, path: &str, n: usize) -> Vec<(u16, String)> {
    let mut request = String::new();
    for i in 0..n {
        let close = if i + 1 == n {
            "Connection: close\r\n"
        } else {
            ""
        };
        request.push_str(&format!("GET {path} HTTP/1.1\r\nHost: c\r\n{close}\r\n"));
    }
    let got = raw_exchange(cluster.addr, request.as_bytes(), Duration::from_secs(20));
    let mut out: Vec<(u16, String)> = Vec::new();
    for line in String::from_utf8_lossy(&got).lines() {
        if let Some(rest) = line.strip_prefix("HTTP/1.1 ") {
            out.push((rest[..3].parse().unwrap(), String::new()));
        } else if let Some(url) = line.strip_prefix("Location: ") {
            let host = url.trim().trim_start_matches("http://");
            out.last_mut().expect("a status line first").1 =
                host.split('/').next().unwrap().to_string();
        }
    }
    out
}

/// The mirror list of `path` as JSON, as `server -> state`.
fn states(cluster: &Spawned, path: &str) -> HashMap<String, String> {
    let request = format!(
        "GET {path}?mirrorlist HTTP/1.1\r\nHost: c\r\nAccept: application/json\r\n\
         Connection: close\r\n\r\n"
    );
    let got = raw_exchange(cluster.addr, request.as_bytes(), Duration::from_secs(5));
    let got = String::from_utf8_lossy(&got);
    let (head, body) = got.split_once("\r\n\r\n").expect("a whole response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
    json["servers"]
        .as_array()
        .unwrap_or_else(|| panic!("no servers: {body}"))
        .iter()
        .map(|s| {
            let field = |name: &str| s[name].as_str().unwrap().to_string();
            (field("server"), field("state"))
        })
        .collect()
}

#[test]
fn cluster_ranks_its_servers_and_serves_through_the_balancer() {
    let cmd = cluster_command(&["--admin", "127.0.0.1:0"]);
    let cluster = Spawned::start(cmd);
    let output = cluster.wait_for("stop with Ctrl-C", std::time::Duration::from_secs(5));

    // The servers, in the order they were started (fastest first)...
    let servers = servers(&output);
    assert_eq!(servers.len(), 3, "{output}");
    // ... appear in the printed ranking in that order, with ranks 3, 2, 1.
    let rows: Vec<&str> = servers
        .iter()
        .map(|s| {
            output
                .lines()
                .find(|l| l.starts_with(s.as_str()))
                .unwrap_or_else(|| panic!("{s} missing from the table:\n{output}"))
        })
        .collect();
    for (row, rank) in rows.iter().zip(["3", "2", "1"]) {
        let columns: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(columns[columns.len() - 3], rank, "{row}\n{output}");
    }
    assert!(
        output.contains(&format!(
            "cargo run --release -p ricochet --bin client -- {}/index.html",
            cluster.url
        )),
        "{output}"
    );

    // The admin listener's URL, to open in a browser.
    let admin = output
        .lines()
        .find_map(|l| l.strip_prefix("admin on http://"))
        .unwrap_or_else(|| panic!("no admin URL:\n{output}"));
    let status = raw_exchange(
        admin.parse().unwrap(),
        b"GET /status.json HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        std::time::Duration::from_secs(10),
    );
    assert_eq!(status_of(&status), Some(200));

    let dir = TempDir::new("cluster");
    let ran = client(dir.path(), &["-q", &format!("{}/index.html", cluster.url)]);
    assert_eq!(ran.code(), 0, "{ran:?}");
    assert!(ran.stdout.starts_with("HTTP/1.1 301 "), "{}", ran.stdout);
    assert!(
        fs::read(dir.path().join("index.html")).unwrap()
            == fs::read(www().join("index.html")).unwrap()
    );
    stop(cluster, &output);
}

#[test]
fn no_client_is_sent_to_a_server_without_the_current_copy() {
    let cluster = Spawned::start(cluster_command(&["--admin", "127.0.0.1:0"]));
    let output = cluster.wait_for("stop with Ctrl-C", Duration::from_secs(5));
    let servers = servers(&output);
    assert_eq!(servers.len(), 3, "{output}");
    for file in ["release.bin", "data.bin"] {
        let line = format!("mirror list: {}/{file}?mirrorlist", cluster.url);
        assert!(output.contains(&line), "{output}");
    }

    // The second server lacks release.bin, the third holds an older data.bin.
    for (path, without) in [("/release.bin", &servers[1]), ("/data.bin", &servers[2])] {
        let got = redirects(&cluster, path, 100);
        assert_eq!(got.len(), 100, "{got:?}");
        for (status, to) in &got {
            assert_eq!(*status, 301, "{got:?}");
            assert!(servers.contains(to), "{to} is not a server: {got:?}");
            assert_ne!(to, without, "{path} sent to the server without it: {got:?}");
        }
    }

    let release = states(&cluster, "/release.bin");
    assert_eq!(release[&servers[0]], "has", "{release:?}");
    assert_eq!(release[&servers[1]], "lacks", "{release:?}");
    let data = states(&cluster, "/data.bin");
    assert_eq!(data[&servers[0]], "has", "{data:?}");
    assert_eq!(data[&servers[2]], "other_version", "{data:?}");

    // Downloads through it save the origin's bytes.
    let dir = TempDir::new("cluster-mirrors");
    for file in ["release.bin", "data.bin"] {
        let ran = client(dir.path(), &["-q", &format!("{}/{file}", cluster.url)]);
        assert_eq!(ran.code(), 0, "{ran:?}");
        assert!(fs::read(dir.path().join(file)).unwrap() == fs::read(www().join(file)).unwrap());
    }
    stop(cluster, &output);
}

#[test]
fn a_root_without_the_probe_file_exits_7_and_a_wrong_port_count_1() {
    let dir = TempDir::new("cluster-no-probe");
    fs::write(dir.path().join("index.html"), "hello\n").unwrap();
    let ran = run(
        std::process::Command::new(bin("cluster"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--admin",
                "127.0.0.1:0",
                "--root",
            ])
            .arg(dir.path()),
        COMMAND,
    );
    assert_eq!(ran.code(), 7, "{ran:?}");
    assert!(ran.stderr.contains("probe.bin is missing"), "{ran:?}");

    let ran = run(
        std::process::Command::new(bin("cluster")).args(["--server-port", "0"]),
        COMMAND,
    );
    assert_eq!(ran.code(), 1, "{ran:?}");
    assert!(ran.stderr.contains("--server-port 3 times"), "{ran:?}");
}
