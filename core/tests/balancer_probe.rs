//! Probe scheduling and judging with a fake clock, and the Balancer core driven like the
//! native shell drives it.

use ricochet_core::balance::balancer::{Balancer, Event, ProbeConfig};
use ricochet_core::balance::family::Family;
use ricochet_core::balance::pool::{Policy, ServerAddr};
use ricochet_core::balance::probe::{Health, ProbeSchedule, Verdict};
use ricochet_core::balance::verdict::{judge, Measurement, ProbeFailure};
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_secs(300);
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

fn drain(s: &mut ProbeSchedule, now: Instant) -> Vec<usize> {
    std::iter::from_fn(|| s.poll_probe(now)).collect()
}

#[test]
fn judge_a_probe() {
    let t = Duration::from_millis(42);
    assert_eq!(
        judge(200, Some(1000), 1000, t),
        Ok(Measurement {
            elapsed: t,
            bytes: 1000
        })
    );
    assert_eq!(
        judge(200, None, 77, t).unwrap().bytes,
        77,
        "chunked: no length to check"
    );
    assert_eq!(judge(404, Some(10), 10, t), Err(ProbeFailure::Status(404)));
    assert_eq!(judge(301, None, 0, t), Err(ProbeFailure::Status(301)));
    assert_eq!(
        judge(200, Some(1000), 999, t),
        Err(ProbeFailure::WrongLength {
            expected: 1000,
            received: 999
        })
    );
    assert_eq!(
        ProbeFailure::Status(404).to_string(),
        "answered 404 Not Found instead of 200"
    );
    assert_eq!(
        ProbeFailure::WrongLength {
            expected: 1000,
            received: 999
        }
        .to_string(),
        "received 999 bytes, Content-Length announced 1000"
    );
    assert_eq!(
        ProbeFailure::Refused.to_string(),
        "cannot connect: connection refused"
    );
}

#[test]
fn first_round_all_at_once_then_every_interval() {
    let t0 = Instant::now();
    let mut s = ProbeSchedule::new(3, INTERVAL, TIMEOUT, None, t0);
    assert_eq!(s.poll_timeout(), Some(t0));
    assert!(!s.first_round_complete());
    assert_eq!(drain(&mut s, t0), [0, 1, 2]);
    assert_eq!(s.in_flight(), 3);
    // While all are in flight the next thing due is the first deadline.
    assert_eq!(s.poll_timeout(), Some(t0 + TIMEOUT));
    for (i, ms) in [(0, 30), (1, 20), (2, 10)] {
        let done = t0 + Duration::from_millis(ms);
        assert_eq!(
            s.handle_result(i, done, ok(ms)),
            Some(Verdict::Admitted(ok(ms).unwrap()))
        );
        assert_eq!(s.first_round_complete(), i == 2);
    }
    // Nothing due before the interval.
    assert_eq!(s.poll_timeout(), Some(t0 + INTERVAL));
    assert!(drain(&mut s, t0 + INTERVAL - secs(1)).is_empty());
    s.handle_timeout(t0 + secs(1)); // spurious: harmless
    assert_eq!(s.in_flight(), 0);
    // Second round at exactly start + interval, all three.
    assert_eq!(drain(&mut s, t0 + INTERVAL), [0, 1, 2]);
    for i in 0..3 {
        s.handle_result(i, t0 + INTERVAL + secs(2), ok(5));
    }
    // Third round aligned on start + 2 * interval, not on when the results came in.
    assert_eq!(s.poll_timeout(), Some(t0 + 2 * INTERVAL));
    assert!(s.first_round_complete(), "stays true");
}

#[test]
fn timeout_removes_and_removed_server_is_never_probed_again() {
    let t0 = Instant::now();
    let mut s = ProbeSchedule::new(2, INTERVAL, TIMEOUT, None, t0);
    assert_eq!(drain(&mut s, t0), [0, 1]);
    assert_eq!(s.deadline(1), Some(t0 + TIMEOUT));
    s.handle_result(0, t0 + secs(1), ok(1000));
    // Early and spurious timeouts are harmless.
    assert!(s
        .handle_timeout(t0 + TIMEOUT - Duration::from_millis(1))
        .is_empty());
    assert!(!s.first_round_complete());
    assert_eq!(
        s.handle_timeout(t0 + TIMEOUT),
        [(1, Verdict::Removed(ProbeFailure::Timeout))]
    );
    assert!(s.handle_timeout(t0 + TIMEOUT).is_empty(), "only once");
    assert_eq!(s.health(1), Some(Health::Removed));
    assert!(s.first_round_complete());
    // The late result of the timed-out probe is ignored.
    assert_eq!(s.handle_result(1, t0 + secs(11), ok(11_000)), None);
    assert_eq!(s.health(1), Some(Health::Removed));
    // Many intervals later only server 0 is ever probed.
    for round in 1..5 {
        let now = t0 + INTERVAL * round;
        assert_eq!(drain(&mut s, now), [0], "round {round}");
        s.handle_result(0, now + secs(1), ok(1000));
    }
}

#[test]
fn failed_probe_removes_for_good() {
    let t0 = Instant::now();
    let mut s = ProbeSchedule::new(2, INTERVAL, TIMEOUT, None, t0);
    drain(&mut s, t0);
    assert_eq!(
        s.handle_result(1, t0 + secs(1), Err(ProbeFailure::Status(500))),
        Some(Verdict::Removed(ProbeFailure::Status(500)))
    );
    s.handle_result(0, t0 + secs(1), ok(1000));
    assert_eq!(drain(&mut s, t0 + INTERVAL), [0]);
    // A duplicate or unknown result changes nothing.
    assert_eq!(s.handle_result(1, t0 + INTERVAL, ok(1)), None);
    assert_eq!(s.handle_result(99, t0 + INTERVAL, ok(1)), None);
}

#[test]
fn result_at_or_after_the_deadline_is_a_timeout() {
    let t0 = Instant::now();
    let mut s = ProbeSchedule::new(1, INTERVAL, TIMEOUT, None, t0);
    drain(&mut s, t0);
    assert_eq!(
        s.handle_result(0, t0 + TIMEOUT, ok(10_000)),
        Some(Verdict::Removed(ProbeFailure::Timeout))
    );
    assert_eq!(s.health(0), Some(Health::Removed));
    assert_eq!(s.poll_timeout(), None, "nothing left to do");
    assert!(drain(&mut s, t0 + INTERVAL * 10).is_empty());
}

#[test]
fn a_slow_probe_delays_the_next_one_instead_of_overlapping() {
    let t0 = Instant::now();
    let interval = secs(1);
    let timeout = secs(5);
    let mut s = ProbeSchedule::new(1, interval, timeout, None, t0);
    assert_eq!(drain(&mut s, t0), [0]);
    // Due again at t0+1s, but still running: nothing new starts.
    assert!(drain(&mut s, t0 + secs(2)).is_empty());
    s.handle_result(0, t0 + secs(3), ok(3000));
    // Overdue: starts right away, and the one after is an interval later.
    assert_eq!(drain(&mut s, t0 + secs(3)), [0]);
    s.handle_result(0, t0 + secs(3) + Duration::from_millis(10), ok(10));
    assert_eq!(s.poll_timeout(), Some(t0 + secs(4)));
}

#[test]
fn zero_interval_and_timeout_are_raised() {
    let t0 = Instant::now();
    let s = ProbeSchedule::new(1, Duration::ZERO, Duration::ZERO, None, t0);
    assert!(s.interval() > Duration::ZERO && s.timeout() > Duration::ZERO);
    let empty = ProbeSchedule::new(0, INTERVAL, TIMEOUT, None, t0);
    assert!(empty.first_round_complete());
    assert_eq!(empty.poll_timeout(), None);
}

fn servers(n: usize) -> Vec<ServerAddr> {
    (1..=n)
        .map(|i| ServerAddr::parse(&format!("127.0.0.1:{}", 11110 + i)).unwrap())
        .collect()
}

fn config() -> ProbeConfig {
    ProbeConfig {
        path: "/probe.bin".into(),
        interval: Duration::from_millis(500),
        timeout: Duration::from_millis(200),
        readmit: None,
    }
}

fn events(b: &mut Balancer) -> Vec<Event> {
    std::iter::from_fn(|| b.poll_event()).collect()
}

#[test]
fn balancer_first_round_publishes_one_ranking() {
    let t0 = Instant::now();
    let mut b = Balancer::new(servers(3), &config(), Policy::Rank, t0).unwrap();
    let jobs: Vec<_> = std::iter::from_fn(|| b.poll_probe(t0)).collect();
    assert_eq!(jobs.len(), 3);
    assert_eq!(jobs[1].url.to_string(), "http://127.0.0.1:11112/probe.bin");
    assert_eq!(jobs[1].url.socket_addr(), "127.0.0.1:11112");
    assert_eq!(jobs[1].deadline, t0 + Duration::from_millis(200));
    b.handle_probe_result(0, Family::V4, t0 + Duration::from_millis(90), ok(90));
    b.handle_probe_result(1, Family::V4, t0 + Duration::from_millis(60), ok(60));
    assert!(
        events(&mut b).is_empty(),
        "no ranking before the first round ends"
    );
    assert!(!b.first_round_complete());
    b.handle_probe_result(2, Family::V4, t0 + Duration::from_millis(30), ok(30));
    assert!(b.first_round_complete());
    let ev = events(&mut b);
    assert_eq!(ev.len(), 1);
    let Event::Ranking(ranking) = &ev[0] else {
        panic!("{ev:?}")
    };
    let order: Vec<(usize, f64)> = ranking
        .all()
        .table()
        .iter()
        .map(|r| (r.index, r.share))
        .collect();
    assert_eq!(order, [(2, 0.5), (1, 2.0 / 6.0), (0, 1.0 / 6.0)]);
    assert_eq!(b.poll_timeout(), Some(t0 + Duration::from_millis(500)));
}

#[test]
fn balancer_removes_a_dead_server_at_the_next_probe() {
    let t0 = Instant::now();
    let mut b = Balancer::new(servers(3), &config(), Policy::Rank, t0).unwrap();
    while let Some(job) = b.poll_probe(t0) {
        b.handle_probe_result(
            job.index,
            job.family,
            t0 + Duration::from_millis(10),
            ok(10 * (job.index as u64 + 1)),
        );
    }
    assert_eq!(events(&mut b).len(), 1);
    // Next round: server 1 refuses connections, server 2 hangs.
    let t1 = b.poll_timeout().unwrap();
    b.handle_timeout(t1);
    let jobs: Vec<_> = std::iter::from_fn(|| b.poll_probe(t1)).collect();
    assert_eq!(jobs.len(), 3);
    b.handle_probe_result(0, Family::V4, t1 + Duration::from_millis(5), ok(5));
    b.handle_probe_result(
        1,
        Family::V4,
        t1 + Duration::from_millis(1),
        Err(ProbeFailure::Refused),
    );
    let ev = events(&mut b);
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert!(matches!(
        &ev[0],
        Event::Removed {
            index: 1,
            failure: ProbeFailure::Refused,
            rechecking: false,
            ..
        }
    ));
    let Event::Ranking(r) = &ev[1] else { panic!() };
    assert_eq!(
        r.all().len(),
        2,
        "published at once, without the dead server"
    );
    // Server 2's probe times out.
    assert_eq!(b.poll_timeout(), Some(t1 + Duration::from_millis(200)));
    b.handle_timeout(t1 + Duration::from_millis(200));
    let ev = events(&mut b);
    assert!(matches!(
        &ev[0],
        Event::Removed {
            index: 2,
            failure: ProbeFailure::Timeout,
            ..
        }
    ));
    let Event::Ranking(r) = &ev[1] else { panic!() };
    assert_eq!(r.all().table().len(), 1);
    assert_eq!(r.all().table()[0].index, 0);
    let snapshot = b.snapshot();
    assert_eq!(snapshot.servers[2].probe.health, Health::Removed);
    assert_eq!(
        snapshot.servers[2].probe.last.as_ref().unwrap().result,
        Err(ProbeFailure::Timeout)
    );
    assert_eq!(snapshot.servers[2].probe.next_probe, None);
    // Later rounds probe only server 0.
    let t2 = b.poll_timeout().unwrap();
    let jobs: Vec<usize> = std::iter::from_fn(|| b.poll_probe(t2))
        .map(|j| j.index)
        .collect();
    assert_eq!(jobs, [0]);
    // Its result re-publishes the ranking at the end of the round.
    b.handle_probe_result(0, Family::V4, t2 + Duration::from_millis(3), ok(3));
    let ev = events(&mut b);
    assert!(
        matches!(&ev[..], [Event::Ranking(r)] if r.all().len() == 1),
        "{ev:?}"
    );
}

#[test]
fn balancer_all_fail_in_first_round_publishes_an_empty_ranking() {
    let t0 = Instant::now();
    let mut b = Balancer::new(servers(2), &config(), Policy::Throughput, t0).unwrap();
    while b.poll_probe(t0).is_some() {}
    b.handle_probe_result(0, Family::V4, t0, Err(ProbeFailure::Status(404)));
    b.handle_timeout(t0 + Duration::from_millis(200));
    assert!(b.first_round_complete());
    let ev = events(&mut b);
    assert_eq!(ev.len(), 3, "{ev:?}");
    assert!(matches!(&ev[2], Event::Ranking(r) if r.is_empty()));
    assert_eq!(b.poll_timeout(), None);
}

#[test]
fn balancer_rejects_a_bad_probe_path() {
    let mut c = config();
    c.path = "probe.bin".into();
    assert!(Balancer::new(servers(1), &c, Policy::Rank, Instant::now()).is_err());
    c.path = "/a b?x=é".into();
    let mut b = Balancer::new(servers(1), &c, Policy::Rank, Instant::now()).unwrap();
    let job = b.poll_probe(Instant::now()).unwrap();
    assert_eq!(job.url.path_and_query(), "/a%20b?x=%C3%A9");
}

/// A slow server whose probe lasts longer than the interval is probed again as soon as its
/// result is in, so the servers are never all idle at once. The first round must still end,
/// and later rankings must still be published (once every live server has reported), or the
/// balancer would never start with `--probe-interval 500ms` and a 0.5 s probe.
#[test]
fn balancer_publishes_when_probes_overlap() {
    let t0 = Instant::now();
    let config = ProbeConfig {
        path: "/probe.bin".into(),
        interval: Duration::from_millis(500),
        timeout: Duration::from_secs(10),
        readmit: None,
    };
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut b = Balancer::new(servers(2), &config, Policy::Rank, t0).unwrap();
    assert_eq!(std::iter::from_fn(|| b.poll_probe(t0)).count(), 2);
    // The fast server reports at 60 ms and is due again at 500 ms, before the slow one (520 ms).
    b.handle_probe_result(0, Family::V4, ms(60), ok(60));
    assert_eq!(b.poll_probe(ms(500)).map(|j| j.index), Some(0));
    b.handle_probe_result(1, Family::V4, ms(520), ok(520));
    assert!(b.first_round_complete(), "both servers have reported once");
    let ev = events(&mut b);
    assert!(
        matches!(&ev[..], [Event::Ranking(r)] if r.all().len() == 2),
        "{ev:?}"
    );
    // The slow one starts again at once; the fast one reports: both reported since the last
    // ranking? Only the fast one, so no new ranking yet.
    assert_eq!(b.poll_probe(ms(520)).map(|j| j.index), Some(1));
    b.handle_probe_result(0, Family::V4, ms(560), ok(60));
    assert!(events(&mut b).is_empty());
    // Then the fast one is probed again while the slow one reports: a new ranking, although a
    // probe is still in flight.
    assert_eq!(b.poll_probe(ms(1000)).map(|j| j.index), Some(0));
    b.handle_probe_result(1, Family::V4, ms(1040), ok(520));
    let ev = events(&mut b);
    assert!(
        matches!(&ev[..], [Event::Ranking(r)] if r.all().len() == 2),
        "{ev:?}"
    );
}
