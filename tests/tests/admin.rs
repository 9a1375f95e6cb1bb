//! The balancer's admin listener (`--admin`): status.json, metrics checked by `promtool` (the
//! file-check families too), reload, refusals, and the status page as headless Chromium renders
//! it; plus Chromium following the balancer's redirect to a server's index page.

use ricochet_tests::{
    bin, chromium_dom, closed_port, raw_exchange, require, run, server, www, Spawned, TempDir,
    COMMAND,
};
use serde_json::Value;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(10);

/// A balancer with its admin listener in front of two live servers and a dead one.
struct Setup {
    servers: Vec<Spawned>,
    dead: SocketAddr,
    balancer: Spawned,
    admin: SocketAddr,
}

fn setup() -> Setup {
    let servers: Vec<Spawned> = (0..2).map(|_| server(&www(), &[])).collect();
    let dead = closed_port();
    let mut cmd = Command::new(bin("balancer"));
    cmd.args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .args(servers.iter().map(|s| s.addr.to_string()))
        .arg(dead.to_string())
        .env("RICOCHET_LOG", "info");
    let balancer = Spawned::start(cmd);
    // Printed before `listening on`, on the same stream.
    let output = balancer.wait_for("admin on http://", DEADLINE);
    let admin = output
        .lines()
        .find_map(|l| l.strip_prefix("admin on http://"))
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or_else(|| panic!("no admin address:\n{output}"));
    Setup {
        servers,
        dead,
        balancer,
        admin,
    }
}

struct Response {
    status: u16,
    head: String,
    body: String,
}

fn request(addr: SocketAddr, method: &str, path: &str) -> Response {
    let raw = raw_exchange(
        addr,
        format!("{method} {path} HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .as_bytes(),
        DEADLINE,
    );
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete head: {text:?}"));
    Response {
        status: head[9..12].parse().unwrap(),
        head: head.to_string(),
        body: body.to_string(),
    }
}

fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path)
}

/// Send `n` GETs to the balancer's redirect port on one connection; all must be redirects.
fn redirects(balancer: SocketAddr, n: usize) {
    let mut batch = String::new();
    for i in 0..n {
        let close = if i + 1 == n {
            "Connection: close\r\n"
        } else {
            ""
        };
        batch.push_str(&format!(
            "GET /index.html HTTP/1.1\r\nHost: b\r\n{close}\r\n"
        ));
    }
    let raw = raw_exchange(balancer, batch.as_bytes(), DEADLINE);
    let codes = ricochet_tests::statuses(&raw);
    assert_eq!(codes, vec![301; n]);
}

fn status_json(admin: SocketAddr) -> Value {
    let r = get(admin, "/status.json");
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(
        r.head.contains("Content-Type: application/json"),
        "{}",
        r.head
    );
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
}

#[test]
fn status_json_shows_every_server_with_its_state_and_redirect_count() {
    let s = setup();
    redirects(s.balancer.addr, 12);
    let v = status_json(s.admin);
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["policy"], "rank");
    assert_eq!(v["probe_path"], "/probe.bin");
    assert_eq!(v["probe_interval_seconds"], 300.0);
    assert!(v["uptime_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(v["requests"]["301"], 12);
    let servers = v["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 3, "{v}");
    let mut total = 0;
    for (entry, live) in servers.iter().zip(&s.servers) {
        assert_eq!(entry["address"], live.addr.to_string());
        assert_eq!(entry["state"], "live", "{entry}");
        assert_eq!(entry["last_probe"]["ok"], true, "{entry}");
        assert_eq!(entry["probe_bytes"], 262_144, "{entry}");
        assert!(entry["share"].as_f64().unwrap() > 0.0, "{entry}");
        let history = entry["probe_history"].as_array().unwrap();
        assert_eq!(history.len(), 1, "one probe so far: {entry}");
        assert!(history[0]["seconds"].as_f64().unwrap() > 0.0, "{entry}");
        total += entry["redirects"].as_u64().unwrap();
    }
    assert_eq!(total, 12);
    let dead = &servers[2];
    assert_eq!(dead["address"], s.dead.to_string());
    assert_eq!(dead["state"], "removed");
    assert_eq!(dead["redirects"], 0);
    assert_eq!(dead["probe_failures"], 1);
    assert_eq!(dead["rank"], Value::Null);
    assert_eq!(dead["probe_history"][0]["seconds"], Value::Null, "{dead}");
    assert!(dead["probe_history"][0]["error"].is_string(), "{dead}");
    assert!(
        dead["last_probe"]["error"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{dead}"
    );
}

/// The value of the sample `name{labels}` in a metrics text.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        .parse()
        .unwrap()
}

/// promtool reads the metrics on stdin and lints them (naming, HELP, TYPE, _total...): no
/// complaint at all.
fn promtool_check(metrics: &str) {
    let dir = TempDir::new("metrics");
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, metrics).unwrap();
    let ran = run(
        Command::new("sh")
            .arg("-c")
            .arg("promtool check metrics < \"$0\"")
            .arg(&file),
        COMMAND,
    );
    assert_eq!(ran.code(), 0, "{ran:?}\n{metrics}");
    assert!(
        ran.stdout.trim().is_empty() && ran.stderr.trim().is_empty(),
        "{ran:?}\n{metrics}"
    );
}

/// The families of `--verify-files` pass promtool too. The balancer does not fill them in
/// yet, so they are made here from a report with file counters, beside the live ones.
#[test]
fn file_check_metrics_pass_promtool() {
    use ricochet_core::balance::admin::{self, StatusReport};
    use ricochet_core::balance::mirror_list::FileCounters;
    use ricochet_core::balance::pool::Policy;
    if !require("promtool") {
        return;
    }
    let report = StatusReport {
        version: "0.0.0".into(),
        time: std::time::SystemTime::now(),
        uptime: Duration::from_secs(5),
        policy: Policy::Rank,
        probe_path: "/probe.bin".into(),
        probe_interval: Duration::from_secs(300),
        next_probe: None,
        servers: Vec::new(),
        requests: vec![(301, 9), (404, 1)],
        prober: None,
        files: Some(FileCounters {
            has: 7,
            lacks: 1,
            other_version: 1,
            unknown: 1,
            origin_checks: 3,
            report_rechecks: 1,
            entries: 4,
            evictions: 2,
            in_flight: 1,
            news_dropped: 0,
        }),
    };
    let text = admin::metrics(&report);
    assert!(
        text.contains("ricochet_file_checks_total{outcome=\"has\"} 7"),
        "{text}"
    );
    assert!(text.contains("ricochet_file_cache_entries 4"), "{text}");
    assert!(
        text.contains("ricochet_file_cache_evictions_total 2"),
        "{text}"
    );
    promtool_check(&text);
}

#[test]
fn metrics_pass_promtool_and_the_counters_follow_the_redirects() {
    if !require("promtool") {
        return;
    }
    let s = setup();
    let before = get(s.admin, "/metrics");
    assert_eq!(before.status, 200);
    assert!(
        before
            .head
            .contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
        "{}",
        before.head
    );
    redirects(s.balancer.addr, 7);
    let after = get(s.admin, "/metrics").body;

    promtool_check(&after);

    let code = "ricochet_requests_total{code=\"301\"}";
    let requests_before = before
        .body
        .lines()
        .find_map(|l| l.strip_prefix(code)?.strip_prefix(' '))
        .map_or(0.0, |v| v.parse().unwrap());
    assert_eq!(sample(&after, code) - requests_before, 7.0);
    let redirects: f64 = s
        .servers
        .iter()
        .map(|srv| {
            sample(
                &after,
                &format!("ricochet_redirects_total{{server=\"{}\"}}", srv.addr),
            )
        })
        .sum();
    assert_eq!(redirects, 7.0);
    let dead = format!("{{server=\"{}\"}}", s.dead);
    assert_eq!(sample(&after, &format!("ricochet_server_up{dead}")), 0.0);
    assert_eq!(
        sample(&after, &format!("ricochet_probe_failures_total{dead}")),
        1.0
    );
    assert_eq!(
        sample(&after, &format!("ricochet_server_weight{dead}")),
        0.0
    );
    for srv in &s.servers {
        let live = format!("{{server=\"{}\"}}", srv.addr);
        assert_eq!(sample(&after, &format!("ricochet_server_up{live}")), 1.0);
        assert!(sample(&after, &format!("ricochet_server_weight{live}")) >= 1.0);
        assert!(sample(&after, &format!("ricochet_probe_duration_seconds{live}")) > 0.0);
    }
}

#[test]
fn reload_is_answered_and_wrong_requests_are_refused() {
    let s = setup();
    let r = request(s.admin, "POST", "/reload");
    assert_eq!(
        (r.status, r.body.as_str()),
        (202, "reload requested\n"),
        "{}",
        r.head
    );
    // Same as SIGHUP: the prober re-reads the list (here the arguments) and says so; the
    // server removed for good is probed afresh.
    let output = s.balancer.wait_for("reloaded the server list", DEADLINE);
    assert!(
        output.contains(&format!(
            "2 kept, added [], removed [], probed again [{}]",
            s.dead
        )),
        "{output}"
    );
    let r = get(s.admin, "/reload");
    assert_eq!(r.status, 405);
    assert!(r.head.contains("\r\nAllow: POST"), "{}", r.head);
    for path in ["/", "/status.json", "/metrics"] {
        let r = request(s.admin, "DELETE", path);
        assert_eq!(r.status, 405, "{path}");
        assert!(r.head.contains("\r\nAllow: GET, HEAD"), "{}", r.head);
    }
    assert_eq!(get(s.admin, "/nope").status, 404);
    // HEAD: the GET's head, no body.
    let head = request(s.admin, "HEAD", "/");
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    assert!(
        head.head.contains("Content-Type: text/html"),
        "{}",
        head.head
    );
    // The admin paths are not served on the redirect port: it redirects them like any path.
    assert_eq!(get(s.balancer.addr, "/metrics").status, 301);
}

#[test]
fn chromium_shows_the_status_page_with_one_row_per_server() {
    if !require("chromium") {
        return;
    }
    let s = setup();
    redirects(s.balancer.addr, 3);
    let dom = chromium_dom(&format!("http://{}/", s.admin));
    assert!(dom.contains("<h1>Ricochet balancer</h1>"), "{dom}");
    let rows: Vec<&str> = dom
        .lines()
        .filter(|l| l.contains("<tr class=\"server\">"))
        .collect();
    assert_eq!(rows.len(), 3, "{dom}");
    for (row, srv) in rows.iter().zip(&s.servers) {
        assert!(row.contains(&format!("<td>{}</td>", srv.addr)), "{row}");
        assert!(row.contains(">live<"), "{row}");
    }
    assert!(
        rows[2].contains(&format!("<td>{}</td>", s.dead)),
        "{}",
        rows[2]
    );
    assert!(rows[2].contains(">removed<"), "{}", rows[2]);
    assert!(dom.contains("3 × 301"), "{dom}");

    // The charts: one row per server, each with its share bars and its probe sparkline, parsed
    // by Chromium as SVG elements (the serialised DOM closes each of them).
    let charts: Vec<&str> = dom
        .lines()
        .filter(|l| l.contains("<tr class=\"chart\">"))
        .collect();
    assert_eq!(charts.len(), 3, "{dom}");
    for (i, row) in charts.iter().enumerate() {
        let address = s.servers.get(i).map_or(s.dead, |srv| srv.addr);
        assert!(row.contains(&format!("<td>{address}</td>")), "{row}");
        assert_eq!(row.matches("<svg class=\"shares\"").count(), 1, "{row}");
        assert_eq!(row.matches("<svg class=\"probes\"").count(), 1, "{row}");
        assert!(row.contains("<title>expected share "), "{row}");
        assert!(
            row.contains("<polyline") && row.contains("</polyline>"),
            "{row}"
        );
        assert!(row.contains("</rect>"), "{row}");
    }
    // Both live servers have an expected share and a probe time.
    for row in &charts[..2] {
        assert!(row.contains("<rect class=\"expected\""), "{row}");
        assert!(row.contains("<circle class=\"latest\""), "{row}");
    }
    // The dead one failed its one probe: marked in red, no expected share.
    assert!(
        !charts[2].contains("<rect class=\"expected\""),
        "{}",
        charts[2]
    );
    assert_eq!(charts[2].matches("<circle class=\"failed\"").count(), 1);
    assert!(charts[2].contains("1 failed"), "{}", charts[2]);
    assert!(!dom.contains("<script"), "{dom}");
}

#[test]
fn chromium_follows_the_balancer_to_a_servers_index_page() {
    if !require("chromium") {
        return;
    }
    let s = setup();
    // What Chromium will be sent after the redirect: an HTML page, or it downloads the bytes
    // (and --dump-dom waits forever). Checked first for a clear failure message.
    let target = get(s.servers[0].addr, "/");
    assert_eq!(target.status, 200);
    assert!(
        target.head.contains("Content-Type: text/html"),
        "the server sends its index page at / as something other than HTML:\n{}",
        target.head
    );
    let dom = chromium_dom(&format!("{}/", s.balancer.url));
    // The DOM of www/index.html, rendered as HTML (not offered as a download).
    let index = std::fs::read_to_string(www().join("index.html")).unwrap();
    let title = index
        .split("<title>")
        .nth(1)
        .and_then(|t| t.split("</title>").next())
        .expect("www/index.html has a title");
    assert!(dom.contains(&format!("<title>{title}</title>")), "{dom}");
    assert!(dom.contains("<body"), "{dom}");
}

/// Poll `/status.json` (bounded) until `server`'s state is `state`; returns that entry.
fn wait_for_state(admin: SocketAddr, server: SocketAddr, state: &str) -> Value {
    let end = std::time::Instant::now() + DEADLINE;
    loop {
        let v = status_json(admin);
        let entry = v["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["address"] == server.to_string())
            .cloned()
            .unwrap_or_else(|| panic!("{server} missing: {v}"));
        if entry["state"] == state {
            return v;
        }
        assert!(
            std::time::Instant::now() < end,
            "{server} never became {state}: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn status_and_metrics_follow_a_server_that_dies_and_comes_back() {
    let a = server(&www(), &[]);
    let b = server(&www(), &[]);
    let a_addr = a.addr;
    let mut cmd = Command::new(bin("balancer"));
    cmd.args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .args(["--readmit", "--rise", "2", "--probe-interval", "500ms"])
        .args(["--probe-timeout", "2s"])
        .args([a.addr.to_string(), b.addr.to_string()])
        .env("RICOCHET_LOG", "info");
    let balancer = Spawned::start(cmd);
    let output = balancer.wait_for("admin on http://", DEADLINE);
    let admin: SocketAddr = output
        .lines()
        .find_map(|l| l.strip_prefix("admin on http://"))
        .and_then(|a| a.trim().parse().ok())
        .unwrap();
    wait_for_state(admin, a_addr, "live");

    // A dies: re-checked, out of the ranking, its failures counted; B takes every share.
    drop(a);
    let v = wait_for_state(admin, a_addr, "re-checking");
    let servers = v["servers"].as_array().unwrap();
    assert_eq!(servers[0]["rank"], Value::Null, "{v}");
    assert!(servers[0]["probe_failures"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(servers[0]["last_probe"]["ok"], false, "{v}");
    assert_eq!(servers[1]["state"], "live", "{v}");
    assert_eq!(servers[1]["share"], 1.0, "{v}");
    let metrics = get(admin, "/metrics").body;
    let a_label = format!("{{server=\"{a_addr}\"}}");
    assert_eq!(
        sample(&metrics, &format!("ricochet_server_up{a_label}")),
        0.0
    );
    let failures = sample(&metrics, &format!("ricochet_probe_failures_total{a_label}"));
    assert!(failures >= 1.0, "{metrics}");
    let page = get(admin, "/").body;
    assert!(
        page.contains("<td class=\"re-checking\">re-checking</td>"),
        "{page}"
    );

    // A comes back on its port: live again after two passes, its failures still counted.
    let mut cmd = Command::new(bin("server"));
    cmd.args(["--listen", &a_addr.to_string(), "--root"])
        .arg(www())
        .env("RICOCHET_LOG", "info");
    let _a = Spawned::start(cmd);
    let v = wait_for_state(admin, a_addr, "live");
    let servers = v["servers"].as_array().unwrap();
    assert!(servers[0]["share"].as_f64().unwrap() > 0.0, "{v}");
    assert_eq!(servers[0]["last_probe"]["ok"], true, "{v}");
    let metrics = get(admin, "/metrics").body;
    assert_eq!(
        sample(&metrics, &format!("ricochet_server_up{a_label}")),
        1.0
    );
    assert!(sample(&metrics, &format!("ricochet_probe_failures_total{a_label}")) >= failures);
}
