//! The balancer's admin application: a parsed request in, a complete response out.
//!
//! It serves an operator's listener, kept apart from the redirect port:
//! - `GET /`: an HTML status page (no external assets, no JavaScript, refreshes itself), with
//!   small inline SVG charts ([`crate::balance::charts`]) of each server's shares and probe times;
//! - `GET /status.json`: the same facts as JSON;
//! - `GET /metrics`: Prometheus text exposition format 0.0.4;
//! - `POST /reload`: asks the balancer to re-read its server list.
//!
//! HEAD works like GET without the body; another method on one of these paths gets 405 with
//! `Allow`, any other path 404. What the application needs from the running balancer goes
//! through [`Control`]: a [`StatusReport`] snapshot, and the reload hook.
//! [`StatusReport::from_snapshot`] builds it from the core balancer's own
//! [`balancer::Snapshot`]; the shell adds its counters.

use crate::balance::balancer;
use crate::balance::charts;
use crate::balance::mirror_list::FileCounters;
use crate::balance::pool::{format_duration, format_number, format_speed, Policy, Ranking};
use crate::balance::redirect::{escape, html_escape};
use crate::balance::verdict::Measurement;
use crate::http::request::Request;
use crate::http::write::ResponseHead;
use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use crate::balance::probe::{Health, PROBE_HISTORY};

/// A server's latest judged probe.
#[derive(Debug, Clone, PartialEq)]
pub struct LastProbe {
    /// When its result came in (wall clock).
    pub at: SystemTime,
    /// What it measured, or why it failed (the failure's text).
    pub result: Result<Measurement, String>,
}

/// One configured server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerStatus {
    /// Its index in the pool (what the shell's counters are kept by).
    pub index: usize,
    /// `host:port` (IPv6 bracketed).
    pub address: String,
    /// Live, removed, re-checking or pending.
    pub health: Health,
    /// The latest judged probe, if any.
    pub last_probe: Option<LastProbe>,
    /// Its recent judged probes, oldest first (at most
    /// [`crate::balance::probe::PROBE_HISTORY`]; the last is `last_probe`).
    pub probe_history: Vec<LastProbe>,
    /// The measurement the server is ranked by, if it is in the ranking in force.
    pub measurement: Option<Measurement>,
    /// Rank by transfer time (1 slowest, N fastest), if in the ranking.
    pub rank: Option<f64>,
    /// Weight under the policy, if in the ranking.
    pub weight: Option<f64>,
    /// Expected share of the redirects (0 to 1), if in the ranking.
    pub share: Option<f64>,
    /// Redirects sent to it since start.
    pub redirects: u64,
    /// Failed probes since start.
    pub probe_failures: u64,
}

/// Everything the admin endpoints show, taken at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusReport {
    /// The balancer's version.
    pub version: String,
    /// When the snapshot was taken (wall clock).
    pub time: SystemTime,
    /// Time since the balancer started.
    pub uptime: Duration,
    /// How live servers are weighted.
    pub policy: Policy,
    /// Path downloaded by every probe.
    pub probe_path: String,
    /// Time between two probes of a server.
    pub probe_interval: Duration,
    /// Time until the next probe starts; `None` when nothing is left to probe.
    pub next_probe: Option<Duration>,
    /// Every configured server, in configuration order.
    pub servers: Vec<ServerStatus>,
    /// Requests answered on the redirect port, by status code, ascending.
    pub requests: Vec<(u16, u64)>,
    /// The file checks of `--verify-files` (`None` when it is off).
    pub files: Option<FileCounters>,
    /// Who probes for the balancers sharing one state (`--workers`, `--state`); `None` for
    /// a balancer on its own.
    pub prober: Option<ProberInfo>,
}

/// The balancer process that probes for others sharing its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProberInfo {
    /// Its name: host name and process id.
    pub instance: String,
    /// It is this balancer.
    pub this: bool,
}

impl StatusReport {
    /// The admin view of the balancer's `snapshot` ([`balancer::Balancer::snapshot`]) taken
    /// at or before `now` (`wall` on the wall clock), with `ranking` the ranking in force (the
    /// one redirects are drawn from). Counters (`redirects`, `requests`) start at zero: the
    /// shell, which counts them, fills them in by pool index.
    pub fn from_snapshot(
        snapshot: &balancer::Snapshot,
        ranking: &Ranking,
        started: Instant,
        now: Instant,
        wall: SystemTime,
        version: &str,
    ) -> StatusReport {
        let servers = snapshot
            .servers
            .iter()
            .map(|s| {
                let row = ranking.table().iter().find(|r| r.index == s.index);
                let judged = |p: &crate::balance::probe::LastProbe| LastProbe {
                    at: wall
                        .checked_sub(now.saturating_duration_since(p.finished))
                        .unwrap_or(UNIX_EPOCH),
                    result: p.result.clone().map_err(|e| e.to_string()),
                };
                ServerStatus {
                    index: s.index,
                    address: s.server.as_str().to_string(),
                    health: s.probe.health,
                    last_probe: s.probe.last.as_ref().map(judged),
                    probe_history: s.probe.recent.iter().map(judged).collect(),
                    measurement: row.map(|r| r.measurement),
                    rank: row.map(|r| r.rank),
                    weight: row.map(|r| r.weight),
                    share: row.map(|r| r.share),
                    redirects: 0,
                    probe_failures: s.probe.failures_total,
                }
            })
            .collect();
        StatusReport {
            version: version.to_string(),
            time: wall,
            uptime: now.saturating_duration_since(started),
            policy: snapshot.policy,
            probe_path: snapshot.probe_path.clone(),
            probe_interval: snapshot.interval,
            next_probe: snapshot
                .next_probe
                .map(|due| due.saturating_duration_since(now)),
            servers,
            requests: Vec::new(),
            files: None,
            prober: None,
        }
    }
}

/// What became of a reload request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The balancer will re-read its server list (202).
    Accepted,
    /// It cannot (409), and why.
    Refused(String),
}

/// What the admin application asks of the running balancer.
pub trait Control {
    /// A snapshot, taken now. Called once per GET or HEAD of a status endpoint.
    fn report(&mut self) -> StatusReport;
    /// Re-read the server list, as on SIGHUP. Called once per `POST /reload`.
    fn reload(&mut self) -> Reload;
}

/// What the admin application answered, for the shell and its logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The status written.
    pub status: u16,
    /// Whether the connection may carry another request; when false the response says
    /// `Connection: close` and the shell closes after writing it.
    pub keep_alive: bool,
}

/// The paths the admin application serves, and the methods each takes.
const ENDPOINTS: [(&str, &str); 4] = [
    ("/", "GET, HEAD"),
    ("/status.json", "GET, HEAD"),
    ("/metrics", "GET, HEAD"),
    ("/reload", "POST"),
];

/// Content type of the metrics, as Prometheus expects it for the text format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Answer `request` completely into `out`; `keep_alive` is what the connection machine expects
/// (it reads and drops any request body itself).
pub fn answer(
    request: &Request<'_>,
    keep_alive: bool,
    control: &mut dyn Control,
    now: SystemTime,
    out: &mut Vec<u8>,
) -> Answer {
    let path = request.path();
    // A HEAD answer never has a body, whatever the status (RFC 9110 section 9.3.2).
    let head_only = request.method == "HEAD";
    let text = "text/plain; charset=utf-8";
    let mut extra = Vec::new();
    let (status, content_type, body) = match ENDPOINTS.iter().find(|(p, _)| *p == path) {
        None => (404, text, format!("no such page: {}\n", printable(path))),
        Some(&(_, allow)) if !allow.split(", ").any(|m| m == request.method) => {
            extra.push(("Allow", allow.to_string()));
            (405, text, format!("{path} takes {allow}\n"))
        }
        Some(_) => match path {
            "/reload" => match control.reload() {
                Reload::Accepted => (202, text, "reload requested\n".to_string()),
                Reload::Refused(why) => (409, text, format!("cannot reload: {why}\n")),
            },
            "/status.json" => (
                200,
                "application/json",
                status_json(&control.report()) + "\n",
            ),
            "/metrics" => (200, METRICS_CONTENT_TYPE, metrics(&control.report())),
            _ => (
                200,
                "text/html; charset=utf-8",
                status_page(&control.report()),
            ),
        },
    };
    respond(
        status,
        content_type,
        &extra,
        &body,
        head_only,
        keep_alive,
        now,
        out,
    )
}

/// The path as text safe to echo (it is percent-encoded already; cap its length).
fn printable(path: &str) -> &str {
    let mut end = path.len().min(200);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

#[allow(clippy::too_many_arguments)]
fn respond(
    status: u16,
    content_type: &'static str,
    extra: &[(&'static str, String)],
    body: &str,
    head_only: bool,
    keep_alive: bool,
    now: SystemTime,
    out: &mut Vec<u8>,
) -> Answer {
    let mut head = ResponseHead::new(status)
        .header("Date", crate::http::date::http_date(now))
        .header("Content-Type", content_type)
        .header("Content-Length", body.len().to_string())
        .header("Cache-Control", "no-store");
    for (name, value) in extra {
        head = head.header(name, value.clone());
    }
    let connection = if keep_alive { "keep-alive" } else { "close" };
    head = head.header("Connection", connection);
    // Every value is fixed text or digits here: writing cannot fail.
    let written = head.write(out);
    debug_assert!(written.is_ok());
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    Answer { status, keep_alive }
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `2h 03m 04s`, `3m 04s`, `4.2s`: short and exact enough for a status page.
fn format_span(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 86_400 {
        format!("{}d {:02}h {:02}m", s / 86_400, s / 3600 % 24, s / 60 % 60)
    } else if s >= 3600 {
        format!("{}h {:02}m {:02}s", s / 3600, s / 60 % 60, s % 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// `HH:MM:SS UTC` of `t`.
fn clock_time(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

/// The HTML status page: a self-refreshing table, readable without JavaScript or any other
/// request.
pub fn status_page(status: &StatusReport) -> String {
    let mut page = String::with_capacity(4096);
    page.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"refresh\" content=\"5\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Ricochet balancer</title>\n<style>\n\
         body { font-family: sans-serif; margin: 2em; color: #222; }\n\
         table { border-collapse: collapse; }\n\
         th, td { padding: 0.3em 0.6em; border-bottom: 1px solid #ccc; text-align: left; }\n\
         td.n { text-align: right; font-variant-numeric: tabular-nums; }\n\
         .live { color: #070; } .removed { color: #b00; } .re-checking { color: #a60; }\n\
         dt { font-weight: bold; float: left; clear: left; width: 11em; }\n\
         dd { margin-left: 12em; }\n\
         h2 { font-size: 1.2em; margin-top: 1.5em; }\n\
         div.chart { display: flex; align-items: center; gap: 0.6em; white-space: nowrap; }\n\
         div.chart span { font-size: 0.9em; font-variant-numeric: tabular-nums; }\n\
         .key { display: inline-block; width: 0.8em; height: 0.8em; }\n",
    );
    let _ = writeln!(
        page,
        ".key.expected {{ background: {}; }} .key.actual {{ background: {}; }}",
        charts::EXPECTED,
        charts::ACTUAL
    );
    page.push_str("</style>\n</head>\n<body>\n<h1>Ricochet balancer</h1>\n<dl>\n");
    let next = match status.next_probe {
        Some(d) => format!("in {}", format_span(d)),
        None => "none (no server left to probe)".to_string(),
    };
    let facts = [
        ("Version", html_escape(&status.version)),
        ("Uptime", format_span(status.uptime)),
        ("Policy", status.policy.to_string()),
        ("Probe", html_escape(&status.probe_path)),
        ("Probe interval", format_span(status.probe_interval)),
        ("Next probe round", next),
    ];
    for (name, value) in facts {
        let _ = writeln!(page, "<dt>{name}</dt><dd>{value}</dd>");
    }
    if let Some(prober) = &status.prober {
        let whose = if prober.this {
            "this balancer"
        } else {
            "another balancer; this one follows it"
        };
        let _ = writeln!(
            page,
            "<dt>Prober</dt><dd>{} ({whose})</dd>",
            html_escape(&prober.instance)
        );
    }
    let requests = if status.requests.is_empty() {
        "none yet".to_string()
    } else {
        let parts: Vec<String> = status
            .requests
            .iter()
            .map(|(code, n)| format!("{n} &times; {code}"))
            .collect();
        parts.join(", ")
    };
    let _ = writeln!(page, "<dt>Requests</dt><dd>{requests}</dd>");
    if let Some(files) = &status.files {
        file_facts(&mut page, files);
    }
    page.push_str("</dl>\n");
    chart_table(&mut page, status);
    page.push_str(
        "<h2>Servers</h2>\n<table>\n<thead><tr><th>Server</th><th>State</th><th>Last probe</th><th>Time</th>\
         <th>Speed</th><th>Rank</th><th>Weight</th><th>Share</th><th>Redirects</th>\
         <th>Failed probes</th></tr></thead>\n<tbody>\n",
    );
    let dash = || "&ndash;".to_string();
    for s in &status.servers {
        let last = match &s.last_probe {
            None => "never".to_string(),
            Some(p) => {
                let ago = status.time.duration_since(p.at).unwrap_or_default();
                let when = format!("{} ({} ago)", clock_time(p.at), format_span(ago));
                match &p.result {
                    Ok(_) => format!("{when}: ok"),
                    Err(why) => format!("{when}: {}", html_escape(why)),
                }
            }
        };
        let (time, speed) = match &s.measurement {
            Some(m) => (
                format_duration(m.elapsed),
                format_speed(m.bytes_per_second()),
            ),
            None => (dash(), dash()),
        };
        let _ = writeln!(
            page,
            "<tr class=\"server\"><td>{}</td><td class=\"{state}\">{state}</td><td>{last}</td>\
             <td class=\"n\">{time}</td><td class=\"n\">{speed}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td></tr>",
            html_escape(&s.address),
            s.rank.map_or_else(dash, format_number),
            s.weight.map_or_else(dash, format_number),
            s.share.map_or_else(dash, |x| format!("{:.1}%", x * 100.0)),
            s.redirects,
            s.probe_failures,
            state = s.health.as_str(),
        );
    }
    page.push_str(
        "</tbody>\n</table>\n<p>Also: <a href=\"/status.json\">status.json</a>, \
                   <a href=\"/metrics\">metrics</a>. This page refreshes every 5 seconds.</p>\n\
                   </body>\n</html>\n",
    );
    page
}

/// The charts, one row per server: its expected share of the redirects beside the share it
/// got (both as bars on one scale, and in figures), and its recent probe times.
fn chart_table(page: &mut String, status: &StatusReport) {
    let _ = writeln!(
        page,
        "<h2>Shares and probe times</h2>\n<table class=\"charts\">\n<thead><tr><th>Server</th>\
         <th>Share of redirects: expected <span class=\"key expected\"></span> \
         got <span class=\"key actual\"></span></th>\
         <th>Last {PROBE_HISTORY} probes: higher is slower, red failed</th></tr></thead>\n\
         <tbody>"
    );
    let total: u64 = status.servers.iter().map(|s| s.redirects).sum();
    let percent =
        |x: Option<f64>| x.map_or("&ndash;".to_string(), |x| format!("{:.1}%", x * 100.0));
    for s in &status.servers {
        let got = (total > 0).then(|| s.redirects as f64 / total as f64);
        let times = probe_times(&s.probe_history);
        let (sparkline, range) = match charts::probe_sparkline(&times, PROBE_HISTORY) {
            None => (String::new(), "no probe yet".to_string()),
            Some(svg) => (svg, probe_range(&times)),
        };
        let _ = writeln!(
            page,
            "<tr class=\"chart\"><td>{}</td><td><div class=\"chart\">{}<span>{} / {}</span>\
             </div></td><td><div class=\"chart\">{sparkline}<span>{range}</span></div></td></tr>",
            html_escape(&s.address),
            charts::share_bars(s.share, got),
            percent(s.share),
            percent(got),
        );
    }
    page.push_str("</tbody>\n</table>\n");
}

/// `4.1&ndash;6.3 ms, 2 failed`: the figures beside a sparkline.
fn probe_range(times: &[Option<Duration>]) -> String {
    let ok = || times.iter().flatten();
    let failed = times.iter().filter(|t| t.is_none()).count();
    let mut text = match (ok().min(), ok().max()) {
        (Some(min), Some(max)) if min == max => format_duration(*min),
        (Some(min), Some(max)) => format!(
            "{} &ndash; {}",
            format_duration(*min),
            format_duration(*max)
        ),
        _ => String::new(),
    };
    if failed > 0 {
        if !text.is_empty() {
            text.push_str(", ");
        }
        let _ = write!(text, "{failed} failed");
    }
    text
}

/// Each probe's time, `None` for a failed one: what the sparkline draws.
fn probe_times(history: &[LastProbe]) -> Vec<Option<Duration>> {
    history
        .iter()
        .map(|p| p.result.as_ref().ok().map(|m| m.elapsed))
        .collect()
}

/// The `--verify-files` counters, as more facts of the page's list.
fn file_facts(page: &mut String, f: &FileCounters) {
    let facts = [
        (
            "File checks",
            format!(
                "{} has it, {} lacks it, {} other version, {} unknown",
                f.has, f.lacks, f.other_version, f.unknown
            ),
        ),
        (
            "Origin checks",
            format!(
                "{}; {} re-checks after client reports",
                f.origin_checks, f.report_rechecks
            ),
        ),
        (
            "File cache",
            format!(
                "{} paths, {} evicted, {} checks in flight",
                f.entries, f.evictions, f.in_flight
            ),
        ),
        (
            "Answers not shared",
            format!("{} (a link to another process was full)", f.news_dropped),
        ),
    ];
    for (name, value) in facts {
        let _ = writeln!(page, "<dt>{name}</dt><dd>{value}</dd>");
    }
}

/// The status as JSON (fields documented in the README's operators section).
pub fn status_json(status: &StatusReport) -> String {
    use serde_json::{json, Map, Value};
    let servers: Vec<Value> = status
        .servers
        .iter()
        .map(|s| {
            let last_probe = s.last_probe.as_ref().map(|p| {
                let (ok, error) = match &p.result {
                    Ok(_) => (true, Value::Null),
                    Err(why) => (false, Value::from(why.as_str())),
                };
                json!({
                    "unix_time": unix_seconds(p.at),
                    "ok": ok,
                    "error": error,
                })
            });
            let history: Vec<Value> = s
                .probe_history
                .iter()
                .map(|p| {
                    json!({
                        "unix_time": unix_seconds(p.at),
                        "seconds": p.result.as_ref().ok().map(|m| m.elapsed.as_secs_f64()),
                        "error": p.result.as_ref().err(),
                    })
                })
                .collect();
            json!({
                "address": s.address,
                "state": s.health.as_str(),
                "last_probe": last_probe,
                "probe_history": history,
                "probe_seconds": s.measurement.map(|m| m.elapsed.as_secs_f64()),
                "probe_bytes": s.measurement.map(|m| m.bytes),
                "bytes_per_second": s.measurement.map(|m| m.bytes_per_second()),
                "rank": s.rank,
                "weight": s.weight,
                "share": s.share,
                "redirects": s.redirects,
                "probe_failures": s.probe_failures,
            })
        })
        .collect();
    let requests: Map<String, Value> = status
        .requests
        .iter()
        .map(|(code, n)| (code.to_string(), Value::from(*n)))
        .collect();
    json!({
        "version": status.version,
        "unix_time": unix_seconds(status.time),
        "uptime_seconds": status.uptime.as_secs_f64(),
        "policy": status.policy.to_string(),
        "probe_path": status.probe_path,
        "probe_interval_seconds": status.probe_interval.as_secs_f64(),
        "next_probe_seconds": status.next_probe.map(|d| d.as_secs_f64()),
        "requests": requests,
        "servers": servers,
        "prober": status.prober.as_ref().map(|p| json!({
            "instance": p.instance,
            "this": p.this,
        })),
        "files": status.files.map(|f| json!({
            "checks": {
                "has": f.has,
                "lacks": f.lacks,
                "other_version": f.other_version,
                "unknown": f.unknown,
            },
            "origin_checks": f.origin_checks,
            "report_rechecks": f.report_rechecks,
            "cache_entries": f.entries,
            "cache_evictions": f.evictions,
            "in_flight": f.in_flight,
            "news_dropped": f.news_dropped,
        })),
    })
    .to_string()
}

/// Escape a label value for the text exposition format: `\`, `"` and newline.
fn label(value: &str) -> String {
    escape(value, |c| match c {
        '\\' => Some("\\\\"),
        '"' => Some("\\\""),
        '\n' => Some("\\n"),
        _ => None,
    })
}

/// A float as Prometheus reads it (`+Inf`, `NaN` spelled its way).
fn sample(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{x}")
    }
}

/// The metrics in Prometheus text exposition format 0.0.4, every family with HELP and TYPE.
/// Per-server families carry a `server="host:port"` label; a family whose value does not
/// exist for a server (the probe time of a removed one) leaves that server out.
pub fn metrics(status: &StatusReport) -> String {
    let mut out = String::with_capacity(2048);
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {value}");
            } else {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        }
    };
    let per_server = |f: &dyn Fn(&ServerStatus) -> Option<String>| -> Vec<(String, String)> {
        status
            .servers
            .iter()
            .filter_map(|s| Some((format!("server=\"{}\"", label(&s.address)), f(s)?)))
            .collect()
    };
    family(
        "ricochet_build_info",
        "gauge",
        "Always 1; the version label says which build runs.",
        vec![(
            format!("version=\"{}\"", label(&status.version)),
            "1".into(),
        )],
    );
    if let Some(prober) = &status.prober {
        family(
            "ricochet_prober_info",
            "gauge",
            "Always 1; the instance label names the balancer that probes for those sharing \
             its state, this=\"1\" when it is this one.",
            vec![(
                format!(
                    "instance=\"{}\",this=\"{}\"",
                    label(&prober.instance),
                    u8::from(prober.this)
                ),
                "1".into(),
            )],
        );
    }
    family(
        "ricochet_uptime_seconds",
        "gauge",
        "Seconds since the balancer started.",
        vec![(String::new(), sample(status.uptime.as_secs_f64()))],
    );
    family(
        "ricochet_requests_total",
        "counter",
        "Requests answered on the redirect port, by status code.",
        status
            .requests
            .iter()
            .map(|(code, n)| (format!("code=\"{code}\""), n.to_string()))
            .collect(),
    );
    family(
        "ricochet_redirects_total",
        "counter",
        "Redirects sent to each server.",
        per_server(&|s| Some(s.redirects.to_string())),
    );
    family(
        "ricochet_probe_duration_seconds",
        "gauge",
        "Duration of the latest successful probe download of each live server.",
        per_server(&|s| Some(sample(s.measurement?.elapsed.as_secs_f64()))),
    );
    family(
        "ricochet_probe_throughput_bytes_per_second",
        "gauge",
        "Throughput of the latest successful probe download of each live server.",
        per_server(&|s| Some(sample(s.measurement?.bytes_per_second()))),
    );
    family(
        "ricochet_probe_last_timestamp_seconds",
        "gauge",
        "Unix time at which the latest probe of each server was judged.",
        per_server(&|s| Some(sample(unix_seconds(s.last_probe.as_ref()?.at)))),
    );
    family(
        "ricochet_probe_failures_total",
        "counter",
        "Failed probes of each server.",
        per_server(&|s| Some(s.probe_failures.to_string())),
    );
    family(
        "ricochet_server_up",
        "gauge",
        "1 if the server is live (in the ranking), 0 if not.",
        per_server(&|s| Some(u8::from(s.health == Health::Live).to_string())),
    );
    family(
        "ricochet_server_weight",
        "gauge",
        "Weight of each server in the ranking in force (0 when out of it).",
        per_server(&|s| Some(sample(s.weight.unwrap_or(0.0)))),
    );
    family(
        "ricochet_server_share_ratio",
        "gauge",
        "Expected share of the redirects for each server, 0 to 1.",
        per_server(&|s| Some(sample(s.share.unwrap_or(0.0)))),
    );
    family(
        "ricochet_next_probe_seconds",
        "gauge",
        "Seconds until the next probe starts (absent when nothing is left to probe).",
        status
            .next_probe
            .map(|d| (String::new(), sample(d.as_secs_f64())))
            .into_iter()
            .collect(),
    );
    if let Some(f) = &status.files {
        file_metrics(&mut family, f);
    }
    out
}

/// A metric family's samples: label text (without braces) and value.
type Samples = Vec<(String, String)>;

/// The `--verify-files` families, written through `family` (name, type, help, samples).
fn file_metrics(family: &mut dyn FnMut(&str, &str, &str, Samples), f: &FileCounters) {
    let one = |value: String| vec![(String::new(), value)];
    family(
        "ricochet_file_checks_total",
        "counter",
        "HEAD checks of a path on a server, by what they showed.",
        [
            ("has", f.has),
            ("lacks", f.lacks),
            ("other_version", f.other_version),
            ("unknown", f.unknown),
        ]
        .iter()
        .map(|(outcome, n)| (format!("outcome=\"{outcome}\""), n.to_string()))
        .collect(),
    );
    family(
        "ricochet_file_origin_checks_total",
        "counter",
        "HEAD checks of a path on the origin.",
        one(f.origin_checks.to_string()),
    );
    family(
        "ricochet_file_report_rechecks_total",
        "counter",
        "Re-checks made due by client reports of a missing file.",
        one(f.report_rechecks.to_string()),
    );
    family(
        "ricochet_file_checks_in_flight",
        "gauge",
        "File checks handed out and not answered yet.",
        one(f.in_flight.to_string()),
    );
    family(
        "ricochet_file_cache_entries",
        "gauge",
        "Paths the file cache remembers now.",
        one(f.entries.to_string()),
    );
    family(
        "ricochet_file_cache_evictions_total",
        "counter",
        "Paths forgotten to keep the file cache within its capacity.",
        one(f.evictions.to_string()),
    );
    family(
        "ricochet_file_news_dropped_total",
        "counter",
        "Check answers not shared with the other processes: a link's queue was full.",
        one(f.news_dropped.to_string()),
    );
}
