//! The admin application: the status snapshot built from a Balancer on a fake clock, and the
//! answers of every endpoint, parsed back like a client would.

use ricochet_core::balance::admin::{self, Control, Health, Reload, StatusReport};
use ricochet_core::balance::balancer::{Balancer, ProbeConfig};
use ricochet_core::balance::charts;
use ricochet_core::balance::family::Family;
use ricochet_core::balance::mirror_list::FileCounters;
use ricochet_core::balance::pool::{Policy, ServerAddr};
use ricochet_core::balance::probe::{Readmit, PROBE_HISTORY};
use ricochet_core::balance::verdict::{Measurement, ProbeFailure};
use ricochet_core::http::request::{Limits, RequestParser};
use ricochet_core::http::response::ResponseParser;
use ricochet_core::http::{find_header, BodyKind, Parsed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ok(ms: u64) -> Result<Measurement, ProbeFailure> {
    Ok(Measurement {
        elapsed: Duration::from_millis(ms),
        bytes: 262_144,
    })
}

/// Three servers probed at t0: A takes 100 ms, B 300 ms, C refuses the connection.
fn balancer(t0: Instant) -> Balancer {
    let servers = ["127.0.0.1:8081", "127.0.0.1:8082", "[::1]:8083"]
        .iter()
        .map(|s| ServerAddr::parse(s).unwrap())
        .collect();
    let config = ProbeConfig {
        path: "/probe.bin".into(),
        interval: secs(30),
        timeout: secs(10),
        readmit: None,
    };
    let mut b = Balancer::new(servers, &config, Policy::Rank, t0).unwrap();
    while b.poll_probe(t0).is_some() {}
    b.handle_probe_result(0, Family::V4, t0 + Duration::from_millis(100), ok(100));
    b.handle_probe_result(1, Family::V4, t0 + Duration::from_millis(300), ok(300));
    b.handle_probe_result(
        2,
        Family::V6,
        t0 + Duration::from_millis(5),
        Err(ProbeFailure::Refused),
    );
    b
}

/// Wall clock at the fake `t0 + 12 s`: 2026-11-29 01:20:12 UTC.
fn wall() -> SystemTime {
    UNIX_EPOCH + secs(1_795_915_212)
}

fn status() -> StatusReport {
    let t0 = Instant::now();
    let b = balancer(t0);
    let mut s = StatusReport::from_snapshot(
        &b.snapshot(),
        &b.ranking(),
        t0,
        t0 + secs(12),
        wall(),
        "1.2.3",
    );
    s.servers[0].redirects = 20;
    s.servers[1].redirects = 10;
    s.requests = vec![(301, 30), (503, 2)];
    s
}

#[test]
fn the_snapshot_says_how_each_server_stands() {
    let s = status();
    assert_eq!(s.uptime, secs(12));
    assert_eq!(s.probe_interval, secs(30));
    assert_eq!(s.probe_path, "/probe.bin");
    // Rounds stay aligned on t0: the next is due at t0 + 30 s, 18 s after t0 + 12 s.
    assert_eq!(s.next_probe, Some(secs(18)));
    let [a, b, c] = &s.servers[..] else {
        panic!("{s:?}")
    };
    assert_eq!(a.address, "127.0.0.1:8081");
    assert_eq!(
        (a.health, b.health, c.health),
        (Health::Live, Health::Live, Health::Removed)
    );
    assert_eq!((a.rank, a.weight), (Some(2.0), Some(2.0)));
    assert_eq!(b.rank, Some(1.0));
    assert!((a.share.unwrap() - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!((c.rank, c.share, c.measurement), (None, None, None));
    assert_eq!((a.probe_failures, c.probe_failures), (0, 1));
    // A's result came in at t0 + 100 ms, 11.9 s before the snapshot.
    let at = a.last_probe.as_ref().unwrap().at;
    assert_eq!(
        wall().duration_since(at).unwrap(),
        Duration::from_millis(11_900)
    );
    assert_eq!(
        c.last_probe.as_ref().unwrap().result,
        Err("cannot connect: connection refused".to_string())
    );
}

#[test]
fn a_timeout_counts_as_a_failed_probe() {
    let t0 = Instant::now();
    let servers = vec![ServerAddr::parse("127.0.0.1:1").unwrap()];
    let config = ProbeConfig {
        path: "/p".into(),
        interval: secs(30),
        timeout: secs(10),
        readmit: None,
    };
    let mut b = Balancer::new(servers, &config, Policy::Rank, t0).unwrap();
    assert!(b.poll_probe(t0).is_some());
    b.handle_timeout(t0 + secs(10));
    let s =
        StatusReport::from_snapshot(&b.snapshot(), &b.ranking(), t0, t0 + secs(11), wall(), "x");
    assert_eq!(s.servers[0].probe_failures, 1);
    assert_eq!(s.servers[0].health, Health::Removed);
    assert_eq!(s.next_probe, None, "nothing left to probe");
}

#[test]
fn a_removed_server_being_rechecked_shows_as_such_with_its_failures_counted() {
    let t0 = Instant::now();
    let servers = vec![ServerAddr::parse("127.0.0.1:1").unwrap()];
    let config = ProbeConfig {
        path: "/p".into(),
        interval: secs(30),
        timeout: secs(10),
        readmit: Some(Readmit { rise: 2, fall: 1 }),
    };
    let mut b = Balancer::new(servers, &config, Policy::Rank, t0).unwrap();
    assert!(b.poll_probe(t0).is_some());
    b.handle_probe_result(0, Family::V4, t0 + secs(1), ok(100));
    // Due again at t0 + 30 s; it fails, then its first re-check a second later fails too.
    let mut now = t0 + secs(30);
    for _ in 0..2 {
        assert!(b.poll_probe(now).is_some(), "a probe is due at {now:?}");
        b.handle_probe_result(0, Family::V4, now, Err(ProbeFailure::Status(500)));
        now = b.poll_timeout().unwrap();
    }
    let s = StatusReport::from_snapshot(&b.snapshot(), &b.ranking(), t0, now, wall(), "x");
    assert_eq!(s.servers[0].health, Health::Rechecking);
    assert_eq!(s.servers[0].probe_failures, 2);
    assert_eq!(s.servers[0].rank, None);
    let page = admin::status_page(&s);
    assert!(
        page.contains("<td class=\"re-checking\">re-checking</td>"),
        "{page}"
    );
    let metrics = admin::metrics(&s);
    assert!(metrics.contains("ricochet_probe_failures_total{server=\"127.0.0.1:1\"} 2"));
    assert!(metrics.contains("ricochet_server_up{server=\"127.0.0.1:1\"} 0"));
}

struct Fake {
    status: StatusReport,
    reload: Reload,
    reloads: usize,
    snapshots: usize,
}

impl Control for Fake {
    fn report(&mut self) -> StatusReport {
        self.snapshots += 1;
        self.status.clone()
    }
    fn reload(&mut self) -> Reload {
        self.reloads += 1;
        self.reload.clone()
    }
}

fn fake() -> Fake {
    Fake {
        status: status(),
        reload: Reload::Accepted,
        reloads: 0,
        snapshots: 0,
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    keep_alive: bool,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn ask(control: &mut Fake, request: &str) -> Response {
    let mut parser = RequestParser::new(Limits::default());
    let Ok(Parsed::Complete { value, .. }) = parser.parse(request.as_bytes()) else {
        panic!("bad test request {request:?}")
    };
    let mut out = Vec::new();
    let keep_alive = value.keep_alive && value.body == BodyKind::None;
    let answer = admin::answer(&value, keep_alive, control, wall(), &mut out);
    let head_only = value.method == "HEAD";
    let Ok(Parsed::Complete {
        value: head,
        consumed,
    }) = ResponseParser::new(64 * 1024).parse(&out, head_only)
    else {
        panic!("unparsable answer: {}", String::from_utf8_lossy(&out))
    };
    assert_eq!(head.status, answer.status);
    let headers = head
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect::<Vec<_>>();
    let body = String::from_utf8(out[consumed..].to_vec()).unwrap();
    if !head_only {
        assert_eq!(head.body, BodyKind::Length(body.len() as u64));
    }
    let keep_alive = find_header(&head.headers, "connection") != Some(b"close");
    assert_eq!(keep_alive, answer.keep_alive);
    Response {
        status: head.status,
        headers,
        body,
        keep_alive,
    }
}

#[test]
fn the_status_page_is_self_contained_html_with_one_row_per_server() {
    let mut c = fake();
    let r = ask(&mut c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.keep_alive);
    let page = &r.body;
    assert!(page.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
    assert!(!page.contains("<script"), "readable without JavaScript");
    assert!(!page.contains("src="), "no external assets");
    assert_eq!(page.matches("<tr class=\"server\">").count(), 3);
    let row = |addr: &str| {
        page.lines()
            .find(|l| l.starts_with(&format!("<tr class=\"server\"><td>{addr}</td>")))
            .unwrap_or_else(|| panic!("no row for {addr}:\n{page}"))
    };
    let a = row("127.0.0.1:8081");
    assert!(
        a.contains(">live<") && a.contains(">66.7%<") && a.contains(">20<"),
        "{a}"
    );
    assert!(a.contains("100.0 ms") && a.contains("2.6 MB/s"), "{a}");
    assert!(a.contains("01:20:00 UTC (11.9s ago)"), "{a}");
    let c3 = row("[::1]:8083");
    assert!(
        c3.contains(">removed<") && c3.contains("connection refused"),
        "{c3}"
    );
    for fact in [
        "1.2.3",
        "rank",
        "in 18.0s",
        "30.0s",
        "/probe.bin",
        "30 &times; 301",
    ] {
        assert!(page.contains(fact), "{fact} missing:\n{page}");
    }
}

#[test]
fn head_gets_the_get_head_without_a_body() {
    let mut c = fake();
    let get = ask(&mut c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let head = ask(&mut c, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length"),
        Some(get.body.len().to_string().as_str())
    );
}

#[test]
fn head_of_an_unknown_page_gets_the_404_without_a_body() {
    // A body after a HEAD answer would be read as the next response on a kept-alive connection.
    let mut c = fake();
    let r = ask(&mut c, "HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 404);
    assert!(r.body.is_empty(), "{:?}", r.body);
    assert!(r.keep_alive);
}

#[test]
fn status_json_carries_the_same_facts() {
    let mut c = fake();
    let r = ask(&mut c, "GET /status.json HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["version"], "1.2.3");
    assert_eq!(v["policy"], "rank");
    assert_eq!(v["probe_interval_seconds"], 30.0);
    assert_eq!(v["next_probe_seconds"], 18.0);
    assert_eq!(v["uptime_seconds"], 12.0);
    assert_eq!(v["requests"]["301"], 30);
    let servers = v["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 3);
    assert_eq!(servers[0]["address"], "127.0.0.1:8081");
    assert_eq!(servers[0]["state"], "live");
    assert_eq!(servers[0]["rank"], 2.0);
    assert_eq!(servers[0]["redirects"], 20);
    assert_eq!(servers[0]["probe_seconds"], 0.1);
    assert_eq!(servers[0]["last_probe"]["ok"], true);
    assert_eq!(servers[2]["state"], "removed");
    assert_eq!(servers[2]["rank"], serde_json::Value::Null);
    assert_eq!(servers[2]["probe_failures"], 1);
    assert_eq!(servers[2]["last_probe"]["ok"], false);
    assert_eq!(
        servers[2]["last_probe"]["error"],
        "cannot connect: connection refused"
    );
}

#[test]
fn metrics_follow_the_text_exposition_format() {
    let mut c = fake();
    let r = ask(&mut c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = &r.body;
    for line in [
        "ricochet_redirects_total{server=\"127.0.0.1:8081\"} 20",
        "ricochet_redirects_total{server=\"[::1]:8083\"} 0",
        "ricochet_requests_total{code=\"301\"} 30",
        "ricochet_requests_total{code=\"503\"} 2",
        "ricochet_probe_duration_seconds{server=\"127.0.0.1:8082\"} 0.3",
        "ricochet_probe_failures_total{server=\"[::1]:8083\"} 1",
        "ricochet_server_up{server=\"127.0.0.1:8081\"} 1",
        "ricochet_server_up{server=\"[::1]:8083\"} 0",
        "ricochet_server_weight{server=\"127.0.0.1:8081\"} 2",
        "ricochet_server_weight{server=\"[::1]:8083\"} 0",
        "# TYPE ricochet_redirects_total counter",
        "# TYPE ricochet_server_up gauge",
        "ricochet_build_info{version=\"1.2.3\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
    // No probe time for the removed server.
    assert!(!text.contains("ricochet_probe_duration_seconds{server=\"[::1]:8083\"}"));
    // Every sample's family was introduced by HELP and TYPE; counters end in _total.
    let mut declared = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
            declared.push(name.to_string());
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(declared.last() == Some(&name.to_string()), "{line}");
        }
    }
}

#[test]
fn label_values_are_escaped() {
    let mut s = status();
    s.version = "a\"b\\c\nd".into();
    let text = admin::metrics(&s);
    assert!(
        text.contains("ricochet_build_info{version=\"a\\\"b\\\\c\\nd\"} 1"),
        "{text}"
    );
}

#[test]
fn reload_calls_the_hook_once_and_says_so() {
    let mut c = fake();
    let r = ask(
        &mut c,
        "POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!((r.status, c.reloads), (202, 1));
    assert_eq!(r.body, "reload requested\n");
    c.reload = Reload::Refused("no --config given".into());
    let r = ask(
        &mut c,
        "POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!((r.status, c.reloads), (409, 2));
    assert!(r.body.contains("no --config given"));
    c.reload = Reload::Accepted;
    // The machine's expectation decides (here: close after a request with a body).
    let r = ask(
        &mut c,
        "POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
    );
    assert_eq!(r.status, 202);
    assert!(!r.keep_alive);
}

#[test]
fn wrong_methods_get_405_with_allow_and_unknown_paths_404() {
    let mut c = fake();
    let r = ask(&mut c, "GET /reload HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    for path in ["/", "/status.json", "/metrics"] {
        for method in ["POST", "PUT", "DELETE", "BREW"] {
            let r = ask(
                &mut c,
                &format!("{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n"),
            );
            assert_eq!(
                (r.status, r.header("allow")),
                (405, Some("GET, HEAD")),
                "{method} {path}"
            );
        }
    }
    let r = ask(&mut c, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 404);
    let r = ask(&mut c, "GET /metrics/ HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 404);
    assert_eq!(
        (c.reloads, c.snapshots),
        (0, 0),
        "refusals take no snapshot"
    );
    // A query string does not change the page.
    let r = ask(&mut c, "GET /status.json?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
}

fn with_files() -> StatusReport {
    let mut s = status();
    s.files = Some(FileCounters {
        has: 40,
        lacks: 3,
        other_version: 2,
        unknown: 1,
        origin_checks: 12,
        report_rechecks: 4,
        entries: 17,
        evictions: 5,
        in_flight: 2,
        news_dropped: 6,
    });
    s
}

#[test]
fn file_checks_show_on_every_endpoint_when_files_are_verified() {
    let s = with_files();
    let page = admin::status_page(&s);
    for fact in [
        "<dt>File checks</dt><dd>40 has it, 3 lacks it, 2 other version, 1 unknown</dd>",
        "<dt>Origin checks</dt><dd>12; 4 re-checks after client reports</dd>",
        "<dt>File cache</dt><dd>17 paths, 5 evicted, 2 checks in flight</dd>",
    ] {
        assert!(page.contains(fact), "{fact} missing:\n{page}");
    }
    let v: serde_json::Value = serde_json::from_str(&admin::status_json(&s)).unwrap();
    let files = &v["files"];
    assert_eq!(files["checks"]["has"], 40, "{v}");
    assert_eq!(files["checks"]["lacks"], 3);
    assert_eq!(files["checks"]["other_version"], 2);
    assert_eq!(files["checks"]["unknown"], 1);
    assert_eq!(files["origin_checks"], 12);
    assert_eq!(files["report_rechecks"], 4);
    assert_eq!(files["cache_entries"], 17);
    assert_eq!(files["cache_evictions"], 5);
    assert_eq!(files["in_flight"], 2);
    assert_eq!(files["news_dropped"], 6);
    let text = admin::metrics(&s);
    for line in [
        "# TYPE ricochet_file_checks_total counter",
        "ricochet_file_checks_total{outcome=\"has\"} 40",
        "ricochet_file_checks_total{outcome=\"lacks\"} 3",
        "ricochet_file_checks_total{outcome=\"other_version\"} 2",
        "ricochet_file_checks_total{outcome=\"unknown\"} 1",
        "ricochet_file_origin_checks_total 12",
        "ricochet_file_report_rechecks_total 4",
        "ricochet_file_checks_in_flight 2",
        "# TYPE ricochet_file_cache_entries gauge",
        "ricochet_file_cache_entries 17",
        "ricochet_file_cache_evictions_total 5",
        "# TYPE ricochet_file_news_dropped_total counter",
        "ricochet_file_news_dropped_total 6",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
}

#[test]
fn without_file_checks_nothing_about_files_shows() {
    let s = status();
    assert!(!admin::status_page(&s).contains("File checks"));
    assert!(!admin::metrics(&s).contains("ricochet_file_"));
    let v: serde_json::Value = serde_json::from_str(&admin::status_json(&s)).unwrap();
    assert_eq!(v["files"], serde_json::Value::Null);
}

/// One server probed `n` times, 30 s apart: probe `i` takes `10 + i` ms, except the ones in
/// `failing`, refused (three failures in a row would remove it).
fn probed(n: u64, failing: &[u64]) -> (Instant, Balancer, Instant) {
    let t0 = Instant::now();
    let servers = vec![ServerAddr::parse("127.0.0.1:8081").unwrap()];
    let config = ProbeConfig {
        path: "/p".into(),
        interval: secs(30),
        timeout: secs(10),
        readmit: Some(Readmit { rise: 1, fall: 3 }),
    };
    let mut b = Balancer::new(servers, &config, Policy::Rank, t0).unwrap();
    let mut now = t0;
    for i in 0..n {
        let job = b.poll_probe(now);
        assert!(job.is_some(), "probe {i} is due at {now:?}");
        let family = job.unwrap().family;
        let result = if failing.contains(&i) {
            Err(ProbeFailure::Refused)
        } else {
            ok(10 + i)
        };
        b.handle_probe_result(0, family, now + Duration::from_millis(10 + i), result);
        now = b.poll_timeout().unwrap();
    }
    (t0, b, now)
}

#[test]
fn the_probe_history_keeps_the_last_twenty_probes_oldest_first() {
    let (t0, b, now) = probed(25, &[22]);
    let s = StatusReport::from_snapshot(&b.snapshot(), &b.ranking(), t0, now, wall(), "x");
    let history = &s.servers[0].probe_history;
    assert_eq!(history.len(), PROBE_HISTORY);
    assert_eq!(PROBE_HISTORY, 20);
    // Probes 5 to 24 are kept: 15 ms to 34 ms, the 23rd refused.
    let times: Vec<Option<u64>> = history
        .iter()
        .map(|p| p.result.as_ref().ok().map(|m| m.elapsed.as_millis() as u64))
        .collect();
    let expected: Vec<Option<u64>> = (5..25).map(|i| (i != 22).then_some(10 + i)).collect();
    assert_eq!(times, expected);
    assert!(
        history.windows(2).all(|w| w[0].at < w[1].at),
        "oldest first"
    );
    assert_eq!(history.last(), s.servers[0].last_probe.as_ref());
    let v: serde_json::Value = serde_json::from_str(&admin::status_json(&s)).unwrap();
    let json = v["servers"][0]["probe_history"].as_array().unwrap();
    assert_eq!(json.len(), 20);
    assert_eq!(json[0]["seconds"], 0.015);
    assert_eq!(json[17]["seconds"], serde_json::Value::Null);
    assert_eq!(json[17]["error"], "cannot connect: connection refused");
    assert_eq!(json[19]["error"], serde_json::Value::Null);
}

#[test]
fn a_server_never_probed_has_an_empty_history() {
    let t0 = Instant::now();
    let servers = vec![ServerAddr::parse("127.0.0.1:8081").unwrap()];
    let config = ProbeConfig {
        path: "/p".into(),
        interval: secs(30),
        timeout: secs(10),
        readmit: None,
    };
    let b = Balancer::new(servers, &config, Policy::Rank, t0).unwrap();
    let s = StatusReport::from_snapshot(&b.snapshot(), &b.ranking(), t0, t0, wall(), "x");
    assert!(s.servers[0].probe_history.is_empty());
    assert_eq!(s.servers[0].health, Health::Pending);
}

/// The `width` of the first `<rect class="{class}"` in `svg`, if any.
fn bar_width(svg: &str, class: &str) -> Option<f64> {
    let rect = svg.split(&format!("<rect class=\"{class}\"")).nth(1)?;
    let width = rect.split("width=\"").nth(1)?.split('"').next()?;
    Some(width.parse().unwrap())
}

/// The inline SVG elements of class `class` in `page`, in order.
fn svgs<'a>(page: &'a str, class: &str) -> Vec<&'a str> {
    page.split(&format!("<svg class=\"{class}\""))
        .skip(1)
        .map(|rest| rest.split("</svg>").next().unwrap())
        .collect()
}

#[test]
fn the_page_draws_expected_and_got_shares_as_bars_in_proportion() {
    let mut s = status();
    s.servers[0].redirects = 10;
    s.servers[1].redirects = 30;
    let page = admin::status_page(&s);
    let bars = svgs(&page, "shares");
    assert_eq!(bars.len(), 3, "one pair per server:\n{page}");
    // A is expected to get 2/3 and got 1/4; B 1/3 and 3/4; C, removed, none and none.
    let expected = [Some(2.0 / 3.0), Some(1.0 / 3.0), None];
    let got = [Some(0.25), Some(0.75), Some(0.0)];
    for ((svg, expected), got) in bars.iter().zip(expected).zip(got) {
        for (class, share) in [("expected", expected), ("actual", got)] {
            let width = bar_width(svg, class);
            match share {
                None => assert_eq!(width, None, "{svg}"),
                Some(share) => {
                    let width = width.unwrap_or_else(|| panic!("no {class} bar: {svg}"));
                    assert!((width / charts::WIDTH - share).abs() < 0.001, "{svg}");
                }
            }
        }
        assert!(svg.contains("<title>expected share "), "{svg}");
    }
    assert!(bars[0].contains("<title>expected share 66.7%, got 25.0% of the redirects</title>"));
    assert!(page.contains("<span>66.7% / 25.0%</span>"), "{page}");
    // No redirect yet: no bar for the share got either.
    for server in &mut s.servers {
        server.redirects = 0;
    }
    let page = admin::status_page(&s);
    assert!(svgs(&page, "shares")
        .iter()
        .all(|svg| bar_width(svg, "actual").is_none()));
}

#[test]
fn the_page_draws_one_sparkline_point_per_recorded_probe() {
    let (t0, b, now) = probed(25, &[22]);
    let s = StatusReport::from_snapshot(&b.snapshot(), &b.ranking(), t0, now, wall(), "x");
    let page = admin::status_page(&s);
    assert!(!page.contains("<script"), "no script:\n{page}");
    let lines = svgs(&page, "probes");
    assert_eq!(lines.len(), 1, "{page}");
    let svg = lines[0];
    let points: Vec<(f64, f64)> = svg
        .split("points=\"")
        .nth(1)
        .and_then(|p| p.split('"').next())
        .unwrap()
        .split(' ')
        .map(|xy| {
            let (x, y) = xy.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect();
    assert_eq!(points.len(), PROBE_HISTORY, "{svg}");
    assert!(
        points.windows(2).all(|w| w[0].0 < w[1].0),
        "left to right: {svg}"
    );
    // The one failure is marked, at the top, with the slowest probes.
    assert_eq!(svg.matches("<circle class=\"failed\"").count(), 1, "{svg}");
    assert_eq!(points[17].1, 2.0, "{svg}");
    // Slower is higher (a smaller y): probe times grow, apart from the failure.
    assert!(points[0].1 > points[16].1, "{svg}");
    assert!(
        svg.contains("<title>last 20 probes: 15.0 ms to 34.0 ms, latest 34.0 ms; 1 failed</title>"),
        "{svg}"
    );
    assert!(
        page.contains("<span>15.0 ms &ndash; 34.0 ms, 1 failed</span>"),
        "{page}"
    );
    // Fewer probes so far: fewer points, the newest still at the right edge.
    let (t0, b, now) = probed(3, &[]);
    let s = StatusReport::from_snapshot(&b.snapshot(), &b.ranking(), t0, now, wall(), "x");
    let page = admin::status_page(&s);
    let svg = svgs(&page, "probes")[0];
    let points = svg
        .split("points=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(points.split(' ').count(), 3, "{svg}");
    assert!(
        points.ends_with(&format!("{:.1},2.0", charts::WIDTH - 2.0)),
        "{svg}"
    );
}
