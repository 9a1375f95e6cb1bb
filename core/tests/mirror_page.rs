//! `GET /PATH?mirrorlist`: the page and the JSON show each server's state for the file, its
//! weight and share and when it was checked, from a balancer and a file index driven on a fake
//! clock.

use rand::rngs::StdRng;
use rand::SeedableRng;
use ricochet_core::balance::balancer::{Balancer, Event, ProbeConfig};
use ricochet_core::balance::file_check::{CheckFailure, FileHead, Target};
use ricochet_core::balance::file_index::{FileIndex, FileIndexConfig};
use ricochet_core::balance::file_pick::{PickRequest, PickStep};
use ricochet_core::balance::mirror_page::{Format, MirrorPage};
use ricochet_core::balance::pool::{Policy, Ranking, ServerAddr};
use ricochet_core::balance::verdict::{Measurement, ProbeFailure};
use ricochet_core::http::status::Status;
use std::time::{Duration, Instant, SystemTime};

const PATH: &str = "/r<1>.iso";

fn date(n: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + n)
}

/// Four servers: 0 and 1 live, 2 removed (its probe failed), 3 live; the ranking in force.
fn balancer(now: Instant) -> (Balancer, Ranking) {
    let servers = (1..=4)
        .map(|i| ServerAddr::parse(&format!("127.0.0.{i}:80")).unwrap())
        .collect();
    let config = ProbeConfig {
        path: "/probe.bin".into(),
        interval: Duration::from_secs(300),
        timeout: Duration::from_secs(10),
        readmit: None,
    };
    let mut balancer = Balancer::new(servers, &config, Policy::Rank, now).unwrap();
    while let Some(job) = balancer.poll_probe(now) {
        let result = match job.index {
            2 => Err(ProbeFailure::Refused),
            i => Ok(Measurement {
                elapsed: Duration::from_millis(10 * (i as u64 + 1)),
                bytes: 1000,
            }),
        };
        balancer.handle_probe_result(job.index, job.family, now, result);
    }
    let mut ranking = None;
    while let Some(event) = balancer.poll_event() {
        if let Event::Ranking(r) = event {
            ranking = Some(r.all().clone());
        }
    }
    (balancer, ranking.expect("a ranking"))
}

#[test]
fn the_list_shows_every_servers_state_weight_share_and_check_time() {
    let start = Instant::now();
    let (balancer, ranking) = balancer(start);
    let mut index = FileIndex::new(FileIndexConfig {
        origin: true,
        ..FileIndexConfig::default()
    });
    let mut rng = StdRng::seed_from_u64(19);
    // Ask until servers 0, 1 and 3 have been checked: 0 has it, 1 lacks it, 3 times out.
    let later = start + Duration::from_secs(1);
    for _ in 0..50 {
        let mut pick = PickRequest::new(PATH);
        let mut step = pick.poll(&mut index, &ranking, &mut rng, later);
        while step == PickStep::Wait {
            while let Some(job) = index.poll_check(later) {
                let result = match job.target() {
                    Target::Origin | Target::Server(0) => Ok(FileHead::ok(4096, date(0))),
                    Target::Server(1) => Ok(FileHead::with_status(Status::NOT_FOUND)),
                    Target::Server(_) => Err(CheckFailure::Timeout),
                };
                index.handle_check(&job, result, later);
            }
            step = pick.poll(&mut index, &ranking, &mut rng, later);
        }
        assert_eq!(step, PickStep::Redirect(0));
    }
    let now = start + Duration::from_secs(10);
    let wall = date(100);
    let list = index.mirror_list(PATH, &ranking, 4, now);
    let snapshot = balancer.snapshot();
    let origin = ServerAddr::parse("https://origin.example/").unwrap();
    let page = MirrorPage {
        path: PATH,
        snapshot: &snapshot,
        ranking: &ranking,
        list: Some(&list),
        origin: Some(&origin),
        now,
        wall,
    };

    let json = page.json();
    assert_eq!(json["path"], PATH);
    assert_eq!(json["verify_files"], true);
    assert_eq!(json["origin"]["state"], "has");
    let servers = json["servers"].as_array().unwrap();
    let states: Vec<&str> = servers
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["has", "lacks", "removed", "unknown"]);
    assert_eq!(servers[0]["length"], 4096);
    assert_eq!(servers[0]["last_modified"], 1_700_000_000);
    // Checked 9 s before the page's wall-clock time.
    assert_eq!(servers[0]["checked"], 1_700_000_091);
    assert_eq!(servers[1]["status"], 404);
    // A 404's length is its error page's, not the file's: not shown.
    assert!(servers[1]["length"].is_null(), "{}", servers[1]);
    assert_eq!(servers[3]["label"], "unknown (check timed out)");
    assert!(servers[2]["weight"].is_null() && servers[2]["share"].is_null());
    let shares: f64 = servers.iter().filter_map(|s| s["share"].as_f64()).sum();
    assert!((shares - 1.0).abs() < 1e-9, "{shares}");
    // The share of this file's redirects: none to the server that lacks it, the rest
    // renormalised over the others, as the pick does.
    assert_eq!(servers[1]["share"], 0.0, "{}", servers[1]);
    let (w0, w3) = (
        servers[0]["weight"].as_f64().unwrap(),
        servers[3]["weight"].as_f64().unwrap(),
    );
    let share0 = servers[0]["share"].as_f64().unwrap();
    assert!((share0 - w0 / (w0 + w3)).abs() < 1e-9, "{share0}");

    let html = page.html();
    assert!(!html.contains("<script"), "no script");
    assert!(
        html.contains("Mirrors of /r&lt;1&gt;.iso"),
        "the path is escaped"
    );
    assert!(html.contains("<td>has it</td>"), "{html}");
    assert!(html.contains("lacks it (404 Not Found)"), "{html}");
    assert!(html.contains("removed (failed its probe)"), "{html}");
    assert!(html.contains("(9 s ago)"), "{html}");

    let mut out = Vec::new();
    let answer = page.answer(Format::Json, false, true, &mut out);
    assert_eq!(answer.status, 200);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        text.contains("\r\nContent-Type: application/json\r\n"),
        "{text}"
    );
    let mut out = Vec::new();
    page.answer(Format::Html, true, true, &mut out);
    assert!(
        String::from_utf8(out).unwrap().ends_with("\r\n\r\n"),
        "HEAD: no body"
    );
}

#[test]
fn without_verify_files_every_live_server_is_not_checked() {
    let now = Instant::now();
    let (balancer, ranking) = balancer(now);
    let snapshot = balancer.snapshot();
    let page = MirrorPage {
        path: "/a.bin",
        snapshot: &snapshot,
        ranking: &ranking,
        list: None,
        origin: None,
        now,
        wall: date(0),
    };
    let json = page.json();
    assert_eq!(json["verify_files"], false);
    assert!(json["origin"].is_null());
    let states: Vec<&str> = json["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["not_checked", "not_checked", "removed", "not_checked"]
    );
    assert!(page.html().contains("no --verify-files"));
}
