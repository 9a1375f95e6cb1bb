//! The demo cluster (on free ports instead of 11111/22222/33333/12345/12346): it ranks its
//! three servers fastest first, prints how to try it and its admin URL, and a download through
//! it arrives intact. A root without the probe file, or a wrong count of `--server-port`, stops
//! it at once with the table's exit code.

use ricochet_tests::{
    bin, client, cluster_command, raw_exchange, run, status_of, www, Spawned, TempDir, COMMAND,
};
use std::fs;

#[test]
fn cluster_ranks_its_servers_and_serves_through_the_balancer() {
    let cmd = cluster_command(&["--admin", "127.0.0.1:0"]);
    let cluster = Spawned::start(cmd);
    let output = cluster.wait_for("stop with Ctrl-C", std::time::Duration::from_secs(5));

    // The servers, in the order they were started (fastest first)...
    let servers: Vec<String> = output
        .lines()
        .filter_map(|l| l.strip_prefix("server http://"))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
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
