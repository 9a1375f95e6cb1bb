//! Which server holds the current copy of which file: the file index and the per-request pick,
//! driven like the shell drives them, on a fake clock with a seeded RNG.

use rand::rngs::StdRng;
use rand::SeedableRng;
use ricochet_core::balance::file_check::{
    CheckFailure, CheckJob, CheckResult, FileHead, Presence, Target,
};
use ricochet_core::balance::file_index::{FileIndex, FileIndexConfig, MISSING_REPORT_PERIOD};
use ricochet_core::balance::file_pick::{PickRequest, PickStep, MAX_CHECKS_PER_REQUEST};
use ricochet_core::balance::pool::{Policy, Pool, Ranking, ServerAddr};
use ricochet_core::balance::verdict::Measurement;
use ricochet_core::http::status::Status;
use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A date as `Last-Modified` gives it.
fn date(n: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + secs(1_700_000_000 + n)
}

/// Servers `127.0.0.1:1..` with these transfer times, all live, ranked by rank: with times
/// 10, 20, 30 ms server 0 weighs 3, server 1 weighs 2, server 2 weighs 1.
fn ranking(times_ms: &[u64]) -> Ranking {
    let servers = (1..=times_ms.len())
        .map(|i| ServerAddr::parse(&format!("127.0.0.1:{i}")).unwrap())
        .collect();
    let mut pool = Pool::new(servers);
    for (i, &t) in times_ms.iter().enumerate() {
        pool.record(
            i,
            Measurement {
                elapsed: Duration::from_millis(t),
                bytes: 1000,
            },
        );
    }
    pool.ranking(Policy::Rank)
}

fn not_found() -> CheckResult {
    Ok(FileHead::with_status(Status::NOT_FOUND))
}

fn ok(length: u64, modified: u64) -> CheckResult {
    Ok(FileHead::ok(length, date(modified)))
}

/// The balancer's side: the index, the ranking, the clock and the generator.
struct Sim {
    index: FileIndex,
    ranking: Ranking,
    rng: StdRng,
    now: Instant,
    /// Every check handed out, in order.
    jobs: Vec<(Target, String)>,
}

impl Sim {
    fn new(config: FileIndexConfig, times_ms: &[u64]) -> Sim {
        Sim {
            index: FileIndex::new(config),
            ranking: ranking(times_ms),
            rng: StdRng::seed_from_u64(19),
            now: Instant::now(),
            jobs: Vec::new(),
        }
    }

    fn drain(&mut self) -> Vec<CheckJob> {
        let jobs: Vec<CheckJob> = std::iter::from_fn(|| self.index.poll_check(self.now)).collect();
        self.jobs
            .extend(jobs.iter().map(|j| (j.target(), j.path().to_string())));
        jobs
    }

    fn poll(&mut self, request: &mut PickRequest) -> PickStep {
        request.poll(&mut self.index, &self.ranking, &mut self.rng, self.now)
    }

    /// One request for `path`, avoiding `avoid`, every check answered at once by `answer`.
    fn request_avoiding(
        &mut self,
        path: &str,
        avoid: &[usize],
        answer: &dyn Fn(Target) -> CheckResult,
    ) -> PickStep {
        let mut request = PickRequest::new(path);
        for &a in avoid {
            request.avoid(a);
        }
        loop {
            let step = self.poll(&mut request);
            let jobs = self.drain();
            if step != PickStep::Wait {
                return step;
            }
            assert!(!jobs.is_empty(), "waits with no check to run");
            for job in jobs {
                assert!(self
                    .index
                    .handle_check(&job, answer(job.target()), self.now));
            }
        }
    }

    fn request(&mut self, path: &str, answer: &dyn Fn(Target) -> CheckResult) -> PickStep {
        self.request_avoiding(path, &[], answer)
    }
}

/// Observed count within 4 standard deviations of the binomial expectation.
fn assert_share(count: usize, n: usize, p: f64, what: &str) {
    let expected = n as f64 * p;
    let sigma = (n as f64 * p * (1.0 - p)).sqrt();
    assert!(
        (count as f64 - expected).abs() <= 4.0 * sigma,
        "{what}: {count} of {n}, expected {expected:.0} ± {:.0}",
        4.0 * sigma
    );
}

#[test]
fn the_weighted_pick_renormalises_over_the_servers_that_hold_the_file() {
    let mut sim = Sim::new(FileIndexConfig::default(), &[10, 20, 30]);
    let answer = |t: Target| match t {
        Target::Server(0) => not_found(),
        _ => ok(1000, 0),
    };
    let n = 30_000;
    let mut counts = [0usize; 3];
    for _ in 0..n {
        match sim.request("/new.bin", &answer) {
            PickStep::Redirect(i) => counts[i] += 1,
            other => panic!("expected a redirect, got {other:?}"),
        }
    }
    assert_eq!(counts[0], 0, "sent to the server that lacks the file");
    assert_share(counts[1], n, 2.0 / 3.0, "weight 2 of 3");
    assert_share(counts[2], n, 1.0 / 3.0, "weight 1 of 3");
    assert_eq!(sim.jobs.len(), 3, "one check per server: {:?}", sim.jobs);
    let c = sim.index.counters();
    assert_eq!((c.has, c.lacks, c.other_version, c.unknown), (2, 1, 0, 0));
    // A file every server holds keeps today's shares (3:2:1).
    let mut counts = [0usize; 3];
    for _ in 0..n {
        if let PickStep::Redirect(i) = sim.request("/all.bin", &|_| ok(5, 0)) {
            counts[i] += 1;
        }
    }
    assert_share(counts[0], n, 3.0 / 6.0, "weight 3 of 6");
    assert_share(counts[2], n, 1.0 / 6.0, "weight 1 of 6");
}

#[test]
fn another_version_by_length_or_by_date_beyond_the_slack_is_never_picked() {
    let config = FileIndexConfig {
        origin: true,
        ..FileIndexConfig::default()
    };
    let mut sim = Sim::new(config, &[10, 20, 30, 40]);
    let answer = |t: Target| match t {
        Target::Origin => ok(100, 1000),
        Target::Server(0) => ok(100, 1002), // within the 2 s slack: current
        Target::Server(1) => ok(99, 1000),  // another length
        Target::Server(2) => ok(100, 1003), // 3 s newer: another version
        _ => ok(100, 997),                  // 3 s older: another version
    };
    for _ in 0..2_000 {
        assert_eq!(sim.request("/app.bin", &answer), PickStep::Redirect(0));
    }
    let now = sim.now;
    assert_eq!(sim.index.presence(0, "/app.bin", now), Presence::Has);
    assert_eq!(
        sim.index.presence(1, "/app.bin", now),
        Presence::OtherVersion {
            length: Some(99),
            modified: Some(date(1000))
        }
    );
    assert!(sim.index.presence(2, "/app.bin", now).is_not_current());
    assert!(sim.index.presence(3, "/app.bin", now).is_not_current());
    let list = sim.index.mirror_list("/app.bin", &sim.ranking, 5, now);
    let origin = list.origin.expect("an origin is configured");
    assert_eq!(origin.presence, Presence::Has);
    assert_eq!(origin.head, ok(100, 1000).ok());
    let states: Vec<Presence> = list.servers.iter().map(|s| s.state.presence).collect();
    assert_eq!(states[0], Presence::Has);
    assert!(states[1..4].iter().all(|p| p.is_not_current()));
    assert_eq!(states[4], Presence::Unknown, "server 4 was never checked");
    assert!(!list.servers[4].live, "server 4 is not in the ranking");
    assert_eq!(list.servers[1].state.checked, Some(now));
    let c = sim.index.counters();
    assert_eq!((c.has, c.other_version, c.origin_checks), (1, 3, 1));
}

#[test]
fn a_failed_check_is_unknown_retried_and_does_not_exclude() {
    let mut sim = Sim::new(FileIndexConfig::default(), &[10]);
    let mut request = PickRequest::new("/f");
    assert_eq!(sim.poll(&mut request), PickStep::Wait);
    let jobs = sim.drain();
    assert_eq!(jobs.len(), 1);
    // The HEAD never answers: the index times it out by itself.
    let deadline = sim.index.poll_timeout().expect("a check is running");
    assert_eq!(deadline, sim.now + secs(2));
    sim.now = deadline;
    sim.index.handle_timeout(sim.now);
    assert_eq!(sim.index.poll_timeout(), None);
    assert!(
        !sim.index.handle_check(&jobs[0], ok(1, 0), sim.now),
        "a late answer is ignored"
    );
    assert_eq!(sim.poll(&mut request), PickStep::Unavailable, "not a 404");
    // An answer handed in at the deadline, before the timeout was handled, is a timeout too.
    let mut late = Sim::new(FileIndexConfig::default(), &[10]);
    assert_eq!(late.poll(&mut PickRequest::new("/f")), PickStep::Wait);
    let job = late.drain().pop().unwrap();
    assert!(late.index.handle_check(&job, ok(1, 0), late.now + secs(2)));
    assert_eq!(late.index.presence(0, "/f", late.now), Presence::Unknown);
    assert_eq!(sim.index.presence(0, "/f", sim.now), Presence::Unknown);
    assert_eq!(sim.index.counters().unknown, 1);
    // Within the retry delay nobody checks it again; after it, the next request does.
    assert_eq!(sim.request("/f", &|_| ok(1, 0)), PickStep::Unavailable);
    assert_eq!(sim.jobs.len(), 1);
    sim.now += secs(1);
    assert_eq!(sim.request("/f", &|_| ok(1, 0)), PickStep::Redirect(0));
    assert_eq!(sim.jobs.len(), 2);
    // A failure on one server sends the request to another, and leaves the first unknown.
    let mut sim = Sim::new(FileIndexConfig::default(), &[10, 20]);
    let answer = |t: Target| match t {
        Target::Server(0) => Err(CheckFailure::Error),
        _ => ok(1, 0),
    };
    for _ in 0..50 {
        assert_eq!(sim.request("/g", &answer), PickStep::Redirect(1));
    }
    assert_eq!(sim.index.presence(0, "/g", sim.now), Presence::Unknown);
    sim.now += secs(1);
    for _ in 0..50 {
        sim.request("/g", &|_| ok(1, 0));
    }
    assert_eq!(sim.index.presence(0, "/g", sim.now), Presence::Has);
}

#[test]
fn answers_expire_after_their_ttl() {
    let mut sim = Sim::new(FileIndexConfig::default(), &[10]);
    assert_eq!(sim.request("/a", &|_| ok(1, 0)), PickStep::Redirect(0));
    assert_eq!(sim.request("/b", &|_| not_found()), PickStep::NotFound);
    assert_eq!(sim.jobs.len(), 2);
    let start = sim.now;
    sim.now = start + secs(29);
    assert_eq!(sim.request("/b", &|_| ok(1, 0)), PickStep::NotFound);
    assert_eq!(sim.jobs.len(), 2, "a miss is remembered for 30 s");
    sim.now = start + secs(30);
    assert_eq!(sim.request("/b", &|_| ok(1, 0)), PickStep::Redirect(0));
    assert_eq!(sim.jobs.len(), 3);
    sim.now = start + secs(299);
    assert_eq!(sim.request("/a", &|_| not_found()), PickStep::Redirect(0));
    assert_eq!(sim.jobs.len(), 3, "a copy is remembered for 5 min");
    sim.now = start + secs(300);
    assert_eq!(sim.index.presence(0, "/a", sim.now), Presence::Unknown);
    assert_eq!(sim.request("/a", &|_| not_found()), PickStep::NotFound);
    assert_eq!(sim.jobs.len(), 4);
}

#[test]
fn memory_stays_within_the_capacity_and_evicts_the_least_recently_used() {
    fn run() -> (Vec<Presence>, u64, usize) {
        let config = FileIndexConfig {
            capacity: 1_000,
            ..FileIndexConfig::default()
        };
        let mut sim = Sim::new(config, &[10]);
        for i in 0..200_000u32 {
            let path = format!("/file/{i}");
            assert_eq!(sim.request(&path, &|_| ok(1, 0)), PickStep::Redirect(0));
            if i % 500 == 0 {
                sim.request("/kept", &|_| ok(1, 0));
            }
            assert!(sim.index.len() <= 1_000);
        }
        let now = sim.now;
        let sample = [0, 198_999, 199_001, 199_999]
            .iter()
            .map(|i| sim.index.presence(0, &format!("/file/{i}"), now))
            .chain([sim.index.presence(0, "/kept", now)])
            .collect();
        let c = sim.index.counters();
        assert_eq!(c.entries, sim.index.len());
        (sample, c.evictions, c.entries)
    }
    let (sample, evictions, entries) = run();
    assert_eq!(entries, 1_000);
    assert_eq!(evictions, 200_001 - 1_000);
    assert_eq!(
        sample,
        [
            Presence::Unknown,
            Presence::Unknown,
            Presence::Has,
            Presence::Has,
            Presence::Has
        ],
        "the last 999 paths and the path used every 500 stay"
    );
    assert_eq!(
        run(),
        (sample, evictions, entries),
        "eviction is deterministic"
    );
    // The documented size: an entry with 3 servers and a 40-byte path.
    let bytes = FileIndex::bytes_per_entry(3, true, 40);
    println!("bytes per entry, 3 servers and an origin, 40-byte path: {bytes}");
    assert!(bytes <= 600, "{bytes} bytes per entry");
}

#[test]
fn concurrent_requests_for_a_new_path_wait_on_one_check_per_server() {
    let config = FileIndexConfig {
        origin: true,
        ..FileIndexConfig::default()
    };
    let mut sim = Sim::new(config, &[10, 20, 30]);
    let mut requests: Vec<PickRequest> = (0..100).map(|_| PickRequest::new("/new.bin")).collect();
    for r in &mut requests {
        assert_eq!(sim.poll(r), PickStep::Wait);
    }
    let jobs = sim.drain();
    let targets: BTreeSet<Target> = jobs.iter().map(|j| j.target()).collect();
    assert_eq!(jobs.len(), 4, "{:?}", sim.jobs);
    assert_eq!(
        targets,
        [
            Target::Server(0),
            Target::Server(1),
            Target::Server(2),
            Target::Origin
        ]
        .into()
    );
    for r in &mut requests {
        assert_eq!(sim.poll(r), PickStep::Wait);
    }
    assert!(sim.drain().is_empty(), "a second check while one runs");
    assert!(sim.index.is_checking(Target::Server(1), "/new.bin"));
    assert!(!sim.index.handle_missing_report(1, "/new.bin", sim.now));
    sim.now += Duration::from_millis(30);
    for job in &jobs {
        assert!(sim.index.handle_check(job, ok(7, 0), sim.now));
    }
    for r in &mut requests {
        assert!(matches!(sim.poll(r), PickStep::Redirect(_)));
        assert!(r.checks() <= MAX_CHECKS_PER_REQUEST);
    }
    assert!(sim.drain().is_empty());
    assert_eq!(sim.index.counters().has, 3);
}

#[test]
fn missing_reports_make_one_recheck_per_period_and_are_not_believed() {
    let mut sim = Sim::new(FileIndexConfig::default(), &[10, 20]);
    for _ in 0..200 {
        sim.request("/r", &|_| ok(1, 0));
    }
    assert_eq!(sim.jobs.len(), 2);
    let start = sim.now;
    for _ in 0..100 {
        sim.index.handle_missing_report(0, "/r", sim.now);
        sim.now += Duration::from_millis(10);
    }
    let jobs = sim.drain();
    assert_eq!(jobs.len(), 1, "one re-check for 100 reports");
    assert_eq!(jobs[0].target(), Target::Server(0));
    // Not believed: other requests still go to server 0 until the re-check answers; the
    // reporting client's own request goes elsewhere.
    assert_eq!(sim.index.presence(0, "/r", sim.now), Presence::Has);
    let mut seen = [0; 2];
    for _ in 0..200 {
        if let PickStep::Redirect(i) = sim.request("/r", &|_| ok(1, 0)) {
            seen[i] += 1;
        }
    }
    assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
    for _ in 0..50 {
        assert_eq!(
            sim.request_avoiding("/r", &[0], &|_| ok(1, 0)),
            PickStep::Redirect(1)
        );
    }
    assert!(sim.index.handle_check(&jobs[0], not_found(), sim.now));
    assert_eq!(
        sim.index.presence(0, "/r", sim.now),
        Presence::Lacks(Status::NOT_FOUND)
    );
    // Within the period, more reports do nothing; after it, one more re-check.
    assert!(!sim.index.handle_missing_report(0, "/r", sim.now));
    assert!(
        sim.index.handle_missing_report(1, "/r", sim.now),
        "per server"
    );
    assert!(!sim.index.handle_missing_report(1, "/r", sim.now));
    assert_eq!(sim.drain().len(), 1);
    sim.now = start + MISSING_REPORT_PERIOD;
    assert!(sim.index.handle_missing_report(0, "/r", sim.now));
    assert!(!sim.index.handle_missing_report(0, "/r", sim.now));
    assert_eq!(sim.drain().len(), 1);
    assert_eq!(sim.index.counters().report_rechecks, 3);
}

#[test]
fn with_no_server_holding_the_file_the_answer_is_the_origin_or_404() {
    let with_origin = FileIndexConfig {
        origin: true,
        ..FileIndexConfig::default()
    };
    // Every server lacks it or holds another version: the origin.
    let mut sim = Sim::new(with_origin, &[10, 20]);
    let answer = |t: Target| match t {
        Target::Origin => ok(10, 0),
        Target::Server(0) => not_found(),
        _ => ok(11, 0),
    };
    assert_eq!(sim.request("/gone", &answer), PickStep::Origin);
    // The origin answers 404 itself: the origin, as soon as its answer is in.
    let mut sim = Sim::new(with_origin, &[10, 20]);
    let mut request = PickRequest::new("/nowhere");
    assert_eq!(sim.poll(&mut request), PickStep::Wait);
    let jobs = sim.drain();
    let origin_job = jobs.iter().find(|j| j.target() == Target::Origin).unwrap();
    assert!(sim.index.handle_check(origin_job, not_found(), sim.now));
    assert_eq!(sim.poll(&mut request), PickStep::Origin);
    // No origin: 404 when every live server is known to lack it.
    let mut sim = Sim::new(FileIndexConfig::default(), &[10, 20, 30]);
    assert_eq!(sim.request("/gone", &|_| not_found()), PickStep::NotFound);
    assert_eq!(sim.jobs.len(), 3);
    assert_eq!(sim.request("/gone", &|_| ok(1, 0)), PickStep::NotFound);
    assert_eq!(sim.jobs.len(), 3, "the misses are remembered");
    // No live server at all: 503, as without verification.
    let mut sim = Sim::new(FileIndexConfig::default(), &[]);
    assert_eq!(sim.request("/x", &|_| ok(1, 0)), PickStep::Unavailable);
}

#[test]
fn a_request_waits_on_at_most_a_few_checks() {
    // Six servers, none holds the file: the first request checks three and gives up (it does
    // not know the others lack it); the second checks the other three and answers 404.
    let mut sim = Sim::new(FileIndexConfig::default(), &[10, 20, 30, 40, 50, 60]);
    let mut request = PickRequest::new("/rare");
    let mut step = sim.poll(&mut request);
    while step == PickStep::Wait {
        for job in sim.drain() {
            sim.index.handle_check(&job, not_found(), sim.now);
        }
        step = sim.poll(&mut request);
    }
    assert_eq!(step, PickStep::Unavailable);
    assert_eq!(request.checks(), MAX_CHECKS_PER_REQUEST);
    assert_eq!(sim.jobs.len(), MAX_CHECKS_PER_REQUEST as usize);
    assert_eq!(sim.request("/rare", &|_| not_found()), PickStep::NotFound);
    let checked: BTreeSet<&(Target, String)> = sim.jobs.iter().collect();
    assert_eq!(sim.jobs.len(), 6, "{:?}", sim.jobs);
    assert_eq!(checked.len(), 6, "a server checked twice within the TTL");
}

/// A server reported unreachable is left out of this request's pick while another server
/// holding the file may be picked, as without file checks; when it alone holds the file it is
/// still picked (the report is verified by a probe, not believed), and other requests are not
/// affected at all.
#[test]
fn an_unreachable_report_is_avoided_for_this_request_only_and_never_believed() {
    let mut sim = Sim::new(FileIndexConfig::default(), &[10, 20]);
    let both = |_: Target| ok(1, 0);
    let unreachable = |sim: &mut Sim, path: &str, answer: &dyn Fn(Target) -> CheckResult| {
        let mut request = PickRequest::new(path);
        request.avoid_unless_alone(0);
        loop {
            let step = sim.poll(&mut request);
            let jobs = sim.drain();
            if step != PickStep::Wait {
                return step;
            }
            for job in jobs {
                assert!(sim.index.handle_check(&job, answer(job.target()), sim.now));
            }
        }
    };
    for _ in 0..50 {
        assert_eq!(unreachable(&mut sim, "/both", &both), PickStep::Redirect(1));
    }
    let mut seen = [0; 2];
    for _ in 0..200 {
        if let PickStep::Redirect(i) = sim.request("/both", &both) {
            seen[i] += 1;
        }
    }
    assert!(
        seen[0] > 0 && seen[1] > 0,
        "other requests unaffected: {seen:?}"
    );
    // Only server 0 holds /one: a request reporting it unreachable still goes there, never to
    // server 1 (which lacks it); a missing report leaves it no server at all (503: the one
    // holder is not believed gone, only avoided).
    let only_0 = |t: Target| match t {
        Target::Server(0) => ok(1, 0),
        _ => not_found(),
    };
    for _ in 0..20 {
        assert_eq!(
            unreachable(&mut sim, "/one", &only_0),
            PickStep::Redirect(0)
        );
    }
    assert_eq!(
        sim.request_avoiding("/one", &[0], &only_0),
        PickStep::Unavailable
    );
}

/// The digest a decided request carries is the origin's; an origin's 200 without one is asked
/// again in the background after `DIGEST_RETRY`, at most `DIGEST_TRIES` times in a row, and
/// requests never wait for it.
#[test]
fn the_origins_digest_is_learned_and_asked_again_while_missing() {
    use ricochet_core::balance::file_index::{DIGEST_RETRY, DIGEST_TRIES};
    use ricochet_core::http::digest::{Algorithm, Digest};
    let config = FileIndexConfig {
        origin: true,
        ..FileIndexConfig::default()
    };
    let mut sim = Sim::new(config, &[10, 20]);
    let digest = Digest::new(Algorithm::Sha256, &[7; 32]).unwrap();
    let with = |d: Option<Digest>| {
        move |_: Target| {
            let mut head = FileHead::ok(5, date(0));
            head.digest = d.map(Box::new);
            Ok(head)
        }
    };
    let decided = |sim: &mut Sim, answer: &dyn Fn(Target) -> CheckResult| {
        let mut request = PickRequest::new("/d");
        loop {
            let step = sim.poll(&mut request);
            let jobs = sim.drain();
            if step != PickStep::Wait {
                assert!(matches!(step, PickStep::Redirect(_)), "{step:?}");
                return (request.digest().copied(), jobs);
            }
            for job in jobs {
                assert!(sim.index.handle_check(&job, answer(job.target()), sim.now));
            }
        }
    };
    let (d, _) = decided(&mut sim, &with(None));
    assert_eq!(d, None);
    let origin_checks = |sim: &Sim| sim.jobs.iter().filter(|j| j.0 == Target::Origin).count();
    assert_eq!(origin_checks(&sim), 1);
    // Before DIGEST_RETRY: not asked again.
    let (_, jobs) = decided(&mut sim, &with(None));
    assert!(jobs.is_empty());
    for tries in 1..DIGEST_TRIES {
        sim.now += DIGEST_RETRY;
        let (d, jobs) = decided(&mut sim, &with(None));
        assert_eq!(d, None, "the request does not wait for it");
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].target(), Target::Origin);
        assert!(sim
            .index
            .handle_check(&jobs[0], with(None)(Target::Origin), sim.now));
        assert_eq!(origin_checks(&sim), 1 + tries as usize);
    }
    sim.now += DIGEST_RETRY;
    let (_, jobs) = decided(&mut sim, &with(None));
    assert!(
        jobs.is_empty(),
        "{DIGEST_TRIES} answers without one: no more tries"
    );
    // Once the origin's answer expires it is asked anew, and gives one this time; the servers'
    // own digests (none here) do not matter, the origin's is carried.
    sim.now += FileIndexConfig::default().file_ttl;
    let origin_has = |t: Target| match t {
        Target::Origin => with(Some(digest))(t),
        _ => with(None)(t),
    };
    let (d, _) = decided(&mut sim, &origin_has);
    assert_eq!(d, Some(digest));
    let (d, jobs) = decided(&mut sim, &origin_has);
    assert_eq!((d, jobs.len()), (Some(digest), 0));
}

#[test]
fn a_shared_answer_counts_as_a_check_of_this_process() {
    let mut sim = Sim::new(FileIndexConfig::default(), &[10, 20]);
    let start = sim.now;
    // Another process found server 0 lacks /a and server 1 holds it.
    let lacks = FileHead::with_status(Status::NOT_FOUND);
    assert!(sim
        .index
        .handle_shared(Target::Server(0), "/a", lacks, start));
    assert!(sim
        .index
        .handle_shared(Target::Server(1), "/a", FileHead::ok(1, date(0)), start));
    for _ in 0..20 {
        assert_eq!(sim.request("/a", &|_| ok(1, 0)), PickStep::Redirect(1));
    }
    assert!(sim.jobs.is_empty(), "no check of its own: {:?}", sim.jobs);
    assert_eq!(
        sim.index.counters().lacks,
        0,
        "not counted as its own check"
    );
    // An older answer does not replace a newer one.
    let old = FileHead::ok(1, date(0));
    assert!(!sim
        .index
        .handle_shared(Target::Server(0), "/a", old, start - secs(1)));
    // The miss expires after its TTL on this process's clock.
    sim.now = start + secs(30);
    assert_eq!(sim.index.presence(0, "/a", sim.now), Presence::Unknown);

    // A check queued here is dropped when the answer comes meanwhile: the requests that wait
    // read it.
    let mut request = PickRequest::new("/b");
    assert_eq!(sim.poll(&mut request), PickStep::Wait);
    assert!(sim.index.is_checking(Target::Server(0), "/b"));
    let at = sim.now;
    for server in 0..2 {
        let head = FileHead::ok(1, date(0));
        assert!(sim
            .index
            .handle_shared(Target::Server(server), "/b", head, at));
    }
    assert!(sim.drain().is_empty());
    assert!(matches!(sim.poll(&mut request), PickStep::Redirect(_)));

    // A report right after a shared answer makes no re-check: the answer is that fresh.
    assert!(!sim.index.handle_missing_report(1, "/b", sim.now + secs(1)));
    assert!(sim
        .index
        .handle_missing_report(1, "/b", sim.now + MISSING_REPORT_PERIOD));
    assert_eq!(sim.drain().len(), 1);

    // A client report's re-check is not dropped by an answer older than the report.
    sim.now += MISSING_REPORT_PERIOD;
    assert!(sim.index.handle_missing_report(0, "/b", sim.now));
    let head = FileHead::ok(1, date(0));
    sim.index
        .handle_shared(Target::Server(0), "/b", head, sim.now - secs(1));
    assert_eq!(sim.drain().len(), 1);
}

/// With a look-ahead, a request that had to wait for a check has, once redirected, the other
/// servers (up to the look-ahead, best ranked first) checked in the background: the next
/// request knows them all as holders (its `Link` headers and Metalink name them) without
/// waiting on any check, and checks nothing more. Without one, only the picked server is known.
#[test]
fn a_redirect_after_a_check_has_the_other_servers_checked_ahead() {
    for ahead in [0, 1, 2, 5] {
        let config = FileIndexConfig {
            look_ahead: ahead,
            ..FileIndexConfig::default()
        };
        let mut sim = Sim::new(config, &[10, 20, 30]);
        let mut first = PickRequest::new("/f.bin");
        let picked = loop {
            let step = sim.poll(&mut first);
            let jobs = sim.drain();
            if let PickStep::Redirect(picked) = step {
                // Checked ahead: the best ranked servers besides the one picked.
                let expected: Vec<Target> = (0..3)
                    .filter(|&i| i != picked)
                    .take(ahead)
                    .map(Target::Server)
                    .collect();
                let got: Vec<Target> = jobs.iter().map(|j| j.target()).collect();
                assert_eq!(got, expected, "look-ahead {ahead}, picked {picked}");
                for job in jobs {
                    assert!(sim.index.handle_check(&job, ok(1000, 0), sim.now));
                }
                break picked;
            }
            assert_eq!(step, PickStep::Wait);
            for job in jobs {
                assert!(sim.index.handle_check(&job, ok(1000, 0), sim.now));
            }
        };
        assert_eq!(first.checks(), 1, "the first request waited on one check");
        assert!(first.holds(picked));
        let checks_so_far = sim.jobs.len();
        assert_eq!(checks_so_far, 1 + ahead.min(2));

        sim.now += secs(1);
        let known = (0..3)
            .filter(|&i| sim.index.presence(i, "/f.bin", sim.now) == Presence::Has)
            .count();
        assert_eq!(known, 1 + ahead.min(2), "look-ahead {ahead}");
        if ahead >= 2 {
            let mut second = PickRequest::new("/f.bin");
            assert!(matches!(sim.poll(&mut second), PickStep::Redirect(_)));
            assert!(sim.drain().is_empty(), "a warm request checks nothing");
            assert!((0..3).all(|i| second.holds(i)), "every holder named");
        }
    }
}
