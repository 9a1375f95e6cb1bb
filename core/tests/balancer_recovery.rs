//! Servers that fail and recover (readmit, rise, fall), client reports of unreachable servers,
//! and reloads of the server list, on a fake clock.

use ricochet_core::balance::balancer::{Balancer, Event, ProbeConfig, Reloaded};
use ricochet_core::balance::family::Family;
use ricochet_core::balance::pool::{Policy, ServerAddr};
use ricochet_core::balance::probe::{Health, ProbeSchedule, Readmit, Verdict, REPORT_PERIOD};
use ricochet_core::balance::verdict::{Measurement, ProbeFailure};
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_secs(30);
const TIMEOUT: Duration = Duration::from_secs(10);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ok(ms: u64) -> Result<Measurement, ProbeFailure> {
    Ok(Measurement {
        elapsed: Duration::from_millis(ms),
        bytes: 1000,
    })
}

fn refused() -> Result<Measurement, ProbeFailure> {
    Err(ProbeFailure::Refused)
}

fn addr(port: u16) -> ServerAddr {
    ServerAddr::parse(&format!("127.0.0.1:{port}")).unwrap()
}

fn config(readmit: Option<Readmit>) -> ProbeConfig {
    ProbeConfig {
        path: "/probe.bin".into(),
        interval: INTERVAL,
        timeout: TIMEOUT,
        readmit,
    }
}

fn events(b: &mut Balancer) -> Vec<Event> {
    std::iter::from_fn(|| b.poll_event()).collect()
}

fn jobs(b: &mut Balancer, now: Instant) -> Vec<usize> {
    std::iter::from_fn(|| b.poll_probe(now))
        .map(|j| j.index)
        .collect()
}

/// The live servers of the last ranking among `events`, by port.
fn last_ranking(events: &[Event]) -> Option<Vec<u16>> {
    events.iter().rev().find_map(|e| match e {
        Event::Ranking(r) => Some(
            r.all()
                .table()
                .iter()
                .map(|row| row.server.port())
                .collect(),
        ),
        _ => None,
    })
}

/// A balancer over ports 1..=n whose first round passed (server i took 10 * (i + 1) ms).
fn started(n: u16, readmit: Option<Readmit>, t0: Instant) -> Balancer {
    let mut b = Balancer::new(
        (1..=n).map(addr).collect(),
        &config(readmit),
        Policy::Rank,
        t0,
    )
    .unwrap();
    for i in jobs(&mut b, t0) {
        b.handle_probe_result(i, Family::V4, t0, ok(10 * (i as u64 + 1)));
    }
    assert_eq!(last_ranking(&events(&mut b)).unwrap().len(), n as usize);
    b
}

#[test]
fn without_readmit_a_failed_server_is_never_probed_again() {
    let t0 = Instant::now();
    let mut b = started(2, None, t0);
    let t1 = t0 + INTERVAL;
    assert_eq!(jobs(&mut b, t1), [0, 1]);
    b.handle_probe_result(0, Family::V4, t1, refused());
    b.handle_probe_result(1, Family::V4, t1, ok(5));
    let ev = events(&mut b);
    assert!(matches!(
        ev[0],
        Event::Removed {
            index: 0,
            rechecking: false,
            ..
        }
    ));
    for k in 2..50 {
        let now = t0 + INTERVAL * k;
        assert_eq!(jobs(&mut b, now), [1], "round {k}");
        b.handle_probe_result(1, Family::V4, now, ok(5));
    }
    assert_eq!(b.snapshot().servers[0].probe.health, Health::Removed);
}

#[test]
fn a_removed_server_is_rechecked_with_backoff_and_readmitted_after_rise_passes() {
    let t0 = Instant::now();
    let mut b = started(2, Some(Readmit { rise: 2, fall: 1 }), t0);
    let t1 = t0 + INTERVAL;
    assert_eq!(jobs(&mut b, t1), [0, 1]);
    b.handle_probe_result(1, Family::V4, t1, ok(20));
    b.handle_probe_result(0, Family::V4, t1, refused());
    let ev = events(&mut b);
    assert!(
        matches!(
            ev[0],
            Event::Removed {
                index: 0,
                rechecking: true,
                ..
            }
        ),
        "{ev:?}"
    );
    assert_eq!(last_ranking(&ev), Some(vec![2]), "gone at once");
    assert_eq!(b.snapshot().servers[0].probe.health, Health::Rechecking);

    // Re-checks 1 s, 2 s, 4 s, 8 s, 16 s apart, then capped at the interval (30 s).
    let mut now = t1;
    for gap in [1, 2, 4, 8, 16, 30, 30] {
        assert_eq!(
            b.snapshot().servers[0].probe.next_probe,
            Some(now + secs(gap))
        );
        let early = now + secs(gap) - Duration::from_millis(1);
        let due = jobs(&mut b, early);
        assert!(!due.contains(&0), "gap {gap}: {due:?}");
        for i in due {
            b.handle_probe_result(i, Family::V4, early, ok(20));
        }
        now += secs(gap);
        // Server 1's regular probes come along; answer them so they stay out of the way.
        let due = jobs(&mut b, now);
        assert!(due.contains(&0), "gap {gap}: {due:?}");
        for i in due {
            b.handle_probe_result(i, Family::V4, now, if i == 0 { refused() } else { ok(20) });
        }
        let ev = events(&mut b);
        assert!(
            ev.iter()
                .any(|e| matches!(e, Event::Failed { index: 0, .. })),
            "{ev:?}"
        );
        assert!(!ev.iter().any(|e| matches!(e, Event::Removed { .. })));
    }

    // It comes back: one pass is not enough; the next re-check comes 1 s later.
    let next = b.snapshot().servers[0].probe.next_probe.unwrap();
    let due = jobs(&mut b, next);
    assert!(due.contains(&0), "{due:?}");
    b.handle_probe_result(0, Family::V4, next, ok(5));
    let ev = events(&mut b);
    for i in due.into_iter().filter(|&i| i != 0) {
        b.handle_probe_result(i, Family::V4, next, ok(20));
    }
    events(&mut b);
    assert!(
        matches!(
            ev[..],
            [Event::Passed {
                index: 0,
                passes: 1,
                rise: 2,
                ..
            }]
        ),
        "{ev:?}"
    );
    assert_eq!(b.ranking().len(), 1, "not yet");
    assert_eq!(
        b.snapshot().servers[0].probe.next_probe,
        Some(next + secs(1))
    );
    assert_eq!(jobs(&mut b, next + secs(1)), [0]);
    b.handle_probe_result(0, Family::V4, next + secs(1), ok(5));
    let ev = events(&mut b);
    assert!(matches!(ev[0], Event::Admitted { index: 0, .. }), "{ev:?}");
    assert_eq!(last_ranking(&ev), Some(vec![1, 2]), "ranked again at once");
    let s = &b.snapshot().servers[0].probe;
    assert_eq!((s.health, s.passes, s.failures), (Health::Live, 2, 0));
    assert_eq!(s.failures_total, 8, "every failed probe counted");
    // Back on the regular interval.
    assert_eq!(s.next_probe, Some(next + secs(1) + INTERVAL));
}

#[test]
fn a_failure_while_rising_starts_the_count_again() {
    let t0 = Instant::now();
    let mut s = ProbeSchedule::new(1, INTERVAL, TIMEOUT, Some(Readmit::default()), t0);
    assert_eq!(s.poll_probe(t0), Some(0));
    assert_eq!(
        s.handle_result(0, t0, refused()),
        Some(Verdict::Removed(ProbeFailure::Refused))
    );
    let t = t0 + secs(1);
    assert_eq!(s.poll_timeout(), Some(t));
    assert_eq!(s.poll_probe(t), Some(0));
    assert!(matches!(
        s.handle_result(0, t, ok(1)),
        Some(Verdict::Rising { passes: 1, .. })
    ));
    let t = t + secs(1);
    assert_eq!(s.poll_probe(t), Some(0));
    assert!(matches!(
        s.handle_result(0, t, refused()),
        Some(Verdict::Failed { failures: 1, .. })
    ));
    // Backoff doubled; then two passes in a row are needed again.
    let t = t + secs(2);
    assert_eq!(s.poll_timeout(), Some(t));
    assert_eq!(s.poll_probe(t), Some(0));
    assert!(matches!(
        s.handle_result(0, t, ok(1)),
        Some(Verdict::Rising { passes: 1, .. })
    ));
    let t = t + secs(1);
    assert_eq!(s.poll_probe(t), Some(0));
    assert!(matches!(
        s.handle_result(0, t, ok(1)),
        Some(Verdict::Admitted(_))
    ));
    assert_eq!(s.health(0), Some(Health::Live));
}

#[test]
fn a_timed_out_recheck_counts_as_a_failure() {
    let t0 = Instant::now();
    let mut s = ProbeSchedule::new(1, INTERVAL, TIMEOUT, Some(Readmit::default()), t0);
    s.poll_probe(t0);
    assert_eq!(
        s.handle_timeout(t0 + TIMEOUT),
        [(0, Verdict::Removed(ProbeFailure::Timeout))]
    );
    let t = t0 + TIMEOUT + secs(1);
    assert_eq!(s.poll_probe(t), Some(0));
    assert_eq!(
        s.handle_timeout(t + TIMEOUT),
        [(
            0,
            Verdict::Failed {
                failure: ProbeFailure::Timeout,
                failures: 2
            }
        )]
    );
    assert_eq!(s.poll_timeout(), Some(t + TIMEOUT + secs(2)));
}

#[test]
fn fall_failures_in_a_row_remove_a_live_server_and_a_pass_resets_the_count() {
    let t0 = Instant::now();
    let mut b = started(2, Some(Readmit { rise: 1, fall: 3 }), t0);
    let t1 = t0 + INTERVAL;
    assert_eq!(jobs(&mut b, t1), [0, 1]);
    b.handle_probe_result(1, Family::V4, t1, ok(20));
    b.handle_probe_result(0, Family::V4, t1, refused());
    let ev = events(&mut b);
    assert!(
        matches!(
            ev[0],
            Event::Failed {
                index: 0,
                failures: 1,
                ..
            }
        ),
        "{ev:?}"
    );
    assert_eq!(b.ranking().len(), 2, "still live after one failure");
    // Checked again 1 s later; a pass resets the count.
    assert_eq!(jobs(&mut b, t1 + secs(1)), [0]);
    b.handle_probe_result(0, Family::V4, t1 + secs(1), ok(10));
    assert_eq!(b.snapshot().servers[0].probe.failures, 0);
    // Three failures in a row remove it.
    let mut now = b.snapshot().servers[0].probe.next_probe.unwrap();
    for n in 1..=3 {
        let due = jobs(&mut b, now);
        assert!(due.contains(&0), "{n}: {due:?}");
        for i in due {
            b.handle_probe_result(i, Family::V4, now, if i == 0 { refused() } else { ok(20) });
        }
        let ev = events(&mut b);
        if n < 3 {
            assert_eq!(b.ranking().len(), 2, "{n}: {ev:?}");
            now += secs(1);
        } else {
            assert!(
                ev.iter()
                    .any(|e| matches!(e, Event::Removed { index: 0, .. })),
                "{ev:?}"
            );
            assert_eq!(last_ranking(&ev), Some(vec![2]));
        }
    }
    // rise 1: one pass brings it back.
    now += secs(1);
    assert_eq!(jobs(&mut b, now), [0]);
    b.handle_probe_result(0, Family::V4, now, ok(10));
    assert_eq!(last_ranking(&events(&mut b)), Some(vec![1, 2]));
}

#[test]
fn with_every_server_removed_the_balancer_keeps_rechecking_and_recovers() {
    let t0 = Instant::now();
    let mut b = started(2, Some(Readmit { rise: 1, fall: 1 }), t0);
    let t1 = t0 + INTERVAL;
    for i in jobs(&mut b, t1) {
        b.handle_probe_result(i, Family::V4, t1, refused());
    }
    assert_eq!(last_ranking(&events(&mut b)), Some(vec![]));
    assert_eq!(
        b.poll_timeout(),
        Some(t1 + secs(1)),
        "still something to do"
    );
    let mut now = t1;
    for gap in [1, 2, 4] {
        now += secs(gap);
        for i in jobs(&mut b, now) {
            b.handle_probe_result(i, Family::V4, now, refused());
        }
    }
    now += secs(8);
    assert_eq!(jobs(&mut b, now), [0, 1]);
    b.handle_probe_result(1, Family::V4, now, ok(10));
    let ev = events(&mut b);
    assert_eq!(last_ranking(&ev), Some(vec![2]), "recovered: {ev:?}");
}

#[test]
fn a_report_starts_one_verification_probe_per_period_whatever_the_number() {
    let t0 = Instant::now();
    let mut b = started(2, None, t0);
    let t1 = t0 + secs(3);
    // A thousand forged reports against a healthy server in the same instant: one probe.
    let started_probes = (0..1000).filter(|_| b.handle_unreachable(0, t1)).count();
    assert_eq!(started_probes, 1);
    assert_eq!(b.poll_timeout(), Some(t1), "due now");
    assert_eq!(jobs(&mut b, t1), [0]);
    // More reports while it runs and within the period: nothing.
    assert!(!b.handle_unreachable(0, t1 + secs(1)));
    b.handle_probe_result(0, Family::V4, t1 + secs(1), ok(10));
    assert!(!b.handle_unreachable(0, t1 + REPORT_PERIOD - Duration::from_millis(1)));
    assert!(jobs(&mut b, t1 + REPORT_PERIOD - Duration::from_millis(1)).is_empty());
    // It passed: still live, and its regular probe stays where it was.
    assert_eq!(b.ranking().len(), 2);
    assert_eq!(
        b.snapshot().servers[0].probe.next_probe,
        Some(t0 + INTERVAL)
    );
    // A period later, one more.
    assert!(b.handle_unreachable(0, t1 + REPORT_PERIOD));
    assert!(!b.handle_unreachable(0, t1 + REPORT_PERIOD));
    // Reports of other servers are limited separately; unknown indices are ignored.
    assert!(b.handle_unreachable(1, t1 + REPORT_PERIOD));
    assert!(!b.handle_unreachable(7, t1));
    assert_eq!(jobs(&mut b, t1 + REPORT_PERIOD), [0, 1]);
}

#[test]
fn a_verified_report_removes_the_server_at_once() {
    let t0 = Instant::now();
    let mut b = started(3, None, t0);
    let t1 = t0 + secs(2);
    assert!(b.handle_unreachable(2, t1));
    assert_eq!(jobs(&mut b, t1), [2]);
    b.handle_probe_result(2, Family::V4, t1 + Duration::from_millis(3), refused());
    let ev = events(&mut b);
    assert!(matches!(ev[0], Event::Removed { index: 2, .. }), "{ev:?}");
    assert_eq!(last_ranking(&ev), Some(vec![1, 2]));
    // A removed server is not verified again.
    assert!(!b.handle_unreachable(2, t1 + secs(60)));
}

#[test]
fn a_reload_adds_removes_and_keeps_servers() {
    let t0 = Instant::now();
    let mut b = started(3, None, t0);
    let t1 = t0 + secs(5);
    // Keep 1 and 3, drop 2, add 4.
    let reloaded = b.reload(vec![addr(3), addr(1), addr(4)], t1).unwrap();
    assert_eq!(
        reloaded,
        Reloaded {
            added: vec![addr(4)],
            removed: vec![addr(2)],
            restarted: vec![],
            kept: 2,
        }
    );
    let ev = events(&mut b);
    assert_eq!(last_ranking(&ev), Some(vec![1, 3]), "2 is gone at once");
    // The kept servers keep their measurements (10 and 30 ms: weights 2 and 1).
    let ranking = b.ranking();
    let rows: Vec<(u16, Duration)> = ranking
        .table()
        .iter()
        .map(|r| (r.server.port(), r.measurement.elapsed))
        .collect();
    assert_eq!(
        rows,
        [
            (1, Duration::from_millis(10)),
            (3, Duration::from_millis(30))
        ]
    );
    // The new one is probed now, and redirected to only once it passed.
    assert_eq!(jobs(&mut b, t1), [3]);
    assert_eq!(b.snapshot().servers.len(), 3);
    assert_eq!(b.snapshot().servers[2].server, addr(4));
    assert_eq!(b.snapshot().servers[2].probe.health, Health::Pending);
    assert_eq!(b.ranking().len(), 2);
    b.handle_probe_result(3, Family::V4, t1 + Duration::from_millis(5), ok(5));
    let ev = events(&mut b);
    assert!(matches!(ev[0], Event::Admitted { index: 3, .. }), "{ev:?}");
    assert_eq!(last_ranking(&ev), Some(vec![4, 1, 3]));
    // The dropped server is never probed again.
    for k in 1..4 {
        let now = t0 + INTERVAL * k;
        let due = jobs(&mut b, now);
        assert!(!due.contains(&1), "{due:?}");
        for i in due {
            b.handle_probe_result(i, Family::V4, now, ok(10));
        }
    }
}

#[test]
fn a_reload_ignores_the_late_result_of_a_dropped_server_and_can_bring_it_back() {
    let t0 = Instant::now();
    let mut b = started(2, None, t0);
    let t1 = t0 + INTERVAL;
    assert_eq!(jobs(&mut b, t1), [0, 1]);
    b.reload(vec![addr(1)], t1).unwrap();
    events(&mut b);
    // Server 2's probe, started before the reload, ends: ignored.
    b.handle_probe_result(1, Family::V4, t1 + secs(1), ok(1));
    b.handle_probe_result(0, Family::V4, t1 + secs(1), ok(10));
    let ev = events(&mut b);
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::Ranking(r) if r.all().len() != 1)),
        "{ev:?}"
    );
    assert_eq!(b.snapshot().servers.len(), 1);
    // Listed again: probed afresh, as a new server.
    let reloaded = b.reload(vec![addr(1), addr(2)], t1 + secs(2)).unwrap();
    assert_eq!(reloaded.added, [addr(2)]);
    assert_eq!(jobs(&mut b, t1 + secs(2)), [1]);
    b.handle_probe_result(1, Family::V4, t1 + secs(3), ok(1));
    assert_eq!(last_ranking(&events(&mut b)), Some(vec![2, 1]));
}

#[test]
fn a_reload_probes_again_a_server_removed_for_good() {
    let t0 = Instant::now();
    let mut b = started(2, None, t0);
    let t1 = t0 + INTERVAL;
    jobs(&mut b, t1);
    b.handle_probe_result(0, Family::V4, t1, refused());
    b.handle_probe_result(1, Family::V4, t1, ok(20));
    events(&mut b);
    let reloaded = b.reload(vec![addr(1), addr(2)], t1 + secs(1)).unwrap();
    assert_eq!((reloaded.restarted, reloaded.kept), (vec![addr(1)], 1));
    assert_eq!(b.snapshot().servers[0].probe.health, Health::Pending);
    assert_eq!(jobs(&mut b, t1 + secs(1)), [0]);
    b.handle_probe_result(0, Family::V4, t1 + secs(2), ok(10));
    assert_eq!(last_ranking(&events(&mut b)), Some(vec![1, 2]));
}

#[test]
fn a_reload_to_an_empty_list_answers_503_until_servers_come_back() {
    let t0 = Instant::now();
    let mut b = started(1, None, t0);
    b.reload(vec![], t0 + secs(1)).unwrap();
    assert_eq!(last_ranking(&events(&mut b)), Some(vec![]));
    assert_eq!(b.poll_timeout(), None);
    b.reload(vec![addr(1), addr(1)], t0 + secs(2)).unwrap();
    assert_eq!(jobs(&mut b, t0 + secs(2)), [0], "a duplicate counts once");
}

#[test]
fn the_status_snapshot_tells_how_each_server_stands() {
    let t0 = Instant::now();
    let mut b = started(2, Some(Readmit::default()), t0);
    let snapshot = b.snapshot();
    assert_eq!(snapshot.interval, INTERVAL);
    assert_eq!(snapshot.timeout, TIMEOUT);
    assert_eq!(snapshot.readmit, Some(Readmit { rise: 2, fall: 1 }));
    assert_eq!(snapshot.probe_path, "/probe.bin");
    assert_eq!(snapshot.next_probe, Some(t0 + INTERVAL));
    let s = &snapshot.servers[1];
    assert_eq!((s.index, s.server.port()), (1, 2));
    assert_eq!(s.probe.health, Health::Live);
    assert_eq!(s.probe.last.as_ref().unwrap().finished, t0);
    assert_eq!(s.probe.last.as_ref().unwrap().result, ok(20));
    assert_eq!((s.probe.passes, s.probe.failures), (1, 0));
    assert!(!s.probe.probing);
    let t1 = t0 + INTERVAL;
    jobs(&mut b, t1);
    assert!(b.snapshot().servers[0].probe.probing);
    assert_eq!(b.snapshot().servers[0].probe.next_probe, None);
    b.handle_probe_result(0, Family::V4, t1, refused());
    let s = &b.snapshot().servers[0].probe;
    assert_eq!(s.health, Health::Rechecking);
    assert_eq!(s.health.to_string(), "re-checking");
    assert_eq!((s.failures, s.failures_total), (1, 1));
    assert_eq!(s.next_probe, Some(t1 + secs(1)));
    assert_eq!(s.last.as_ref().unwrap().result, refused());
}
