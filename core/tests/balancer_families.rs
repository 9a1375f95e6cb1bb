//! Which servers a request may be sent to: over HTTPS only `https://` servers while any is live,
//! and servers that passed over the client's address family while any did; probes per family.

use rand::rngs::StdRng;
use rand::SeedableRng;
use ricochet_core::balance::balancer::{Balancer, Event, ProbeConfig};
use ricochet_core::balance::family::Family;
use ricochet_core::balance::pool::{Policy, Pool, Ranking, ServerAddr};
use ricochet_core::balance::probe::Health;
use ricochet_core::balance::rankings::Rankings;
use ricochet_core::balance::verdict::{Measurement, ProbeFailure};
use ricochet_core::http::url::Scheme;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

fn m(ms: u64) -> Measurement {
    Measurement {
        elapsed: Duration::from_millis(ms),
        bytes: 1000,
    }
}

fn addr(s: &str) -> ServerAddr {
    ServerAddr::parse(s).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The servers 2,000 seeded picks reach, by how they are named.
fn reached(ranking: &Ranking) -> BTreeSet<String> {
    let mut rng = StdRng::seed_from_u64(19);
    (0..2000)
        .filter_map(|_| ranking.pick(&mut rng))
        .map(|row| row.server.as_str().to_string())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Pools over IPv4 and IPv6 of `servers`, each live over the families listed with it.
fn pools(servers: &[(&str, &[Family])]) -> (Pool, Pool) {
    let list: Vec<ServerAddr> = servers.iter().map(|(s, _)| addr(s)).collect();
    let (mut v4, mut v6) = (Pool::new(list.clone()), Pool::new(list));
    for (i, (_, families)) in servers.iter().enumerate() {
        for family in *families {
            let pool = if *family == Family::V4 {
                &mut v4
            } else {
                &mut v6
            };
            pool.record(i, m(10 + i as u64));
        }
    }
    (v4, v6)
}

const V4: &[Family] = &[Family::V4];
const V6: &[Family] = &[Family::V6];
const BOTH: &[Family] = &[Family::V4, Family::V6];
const NONE: &[Family] = &[];

#[test]
fn https_clients_go_to_https_servers_only_while_one_is_live() {
    let plain = "127.0.0.1:8081";
    let secure = "https://127.0.0.1:8443/";
    let (v4, v6) = pools(&[(plain, V4), (secure, V4)]);
    let r = Rankings::new(&v4, &v6, Policy::Rank);
    let client = ip("127.0.0.1");
    assert_eq!(
        reached(r.for_request(Scheme::Https, client)),
        set(&[secure])
    );
    assert_eq!(
        reached(r.for_request(Scheme::Http, client)),
        set(&[plain, secure])
    );
    assert!(!r.https_falls_back());
    // The only https server is down: HTTPS clients are sent to the plain one, not answered 503.
    let (v4, v6) = pools(&[(plain, V4), (secure, NONE)]);
    let r = Rankings::new(&v4, &v6, Policy::Rank);
    assert_eq!(reached(r.for_request(Scheme::Https, client)), set(&[plain]));
    assert!(r.https_falls_back());
    // Nothing live: empty for everyone.
    let (v4, v6) = pools(&[(plain, NONE), (secure, NONE)]);
    let r = Rankings::new(&v4, &v6, Policy::Rank);
    assert!(r.for_request(Scheme::Https, client).is_empty());
    assert!(r.is_empty() && !r.https_falls_back());
}

#[test]
fn clients_go_to_servers_live_over_their_family_and_else_over_the_other() {
    let (a, b, name) = ("127.0.0.1:8081", "[::1]:8082", "mirror.test:8083");
    let (v4, v6) = pools(&[(a, V4), (b, V6), (name, V4)]);
    let r = Rankings::new(&v4, &v6, Policy::Rank);
    assert_eq!(
        reached(r.for_request(Scheme::Http, ip("127.0.0.1"))),
        set(&[a, name])
    );
    // A dual-stack listener sees IPv4 clients as IPv4-mapped IPv6 addresses.
    assert_eq!(
        reached(r.for_request(Scheme::Http, ip("::ffff:127.0.0.1"))),
        set(&[a, name])
    );
    assert_eq!(reached(r.for_request(Scheme::Http, ip("::1"))), set(&[b]));
    assert_eq!(reached(r.all()), set(&[a, b, name]));
    // Nothing passed over IPv6: IPv6 clients are sent to the IPv4 servers.
    let (v4, v6) = pools(&[(a, V4), (b, NONE), (name, V4)]);
    let r = Rankings::new(&v4, &v6, Policy::Rank);
    assert_eq!(
        reached(r.for_request(Scheme::Http, ip("::1"))),
        set(&[a, name])
    );
    // A name live over both is in both, ranked by each family's own measurement.
    let (v4, v6) = pools(&[(a, V4), (b, V6), (name, BOTH)]);
    let r = Rankings::new(&v4, &v6, Policy::Rank);
    assert_eq!(reached(r.over(Family::V6)), set(&[b, name]));
    assert_eq!(reached(r.over(Family::V4)), set(&[a, name]));
}

#[test]
fn the_scheme_comes_before_the_family() {
    let (plain6, secure4) = ("[::1]:8081", "https://127.0.0.1:8443/");
    let (v4, v6) = pools(&[(plain6, V6), (secure4, V4)]);
    let r = Rankings::new(&v4, &v6, Policy::Rank);
    // An HTTPS client over IPv6 goes to the https server live over IPv4, not the http one.
    assert_eq!(
        reached(r.for_request(Scheme::Https, ip("::1"))),
        set(&[secure4])
    );
    // A plain client over IPv6 stays on its family.
    assert_eq!(
        reached(r.for_request(Scheme::Http, ip("::1"))),
        set(&[plain6])
    );
}

#[test]
fn a_name_is_probed_over_both_families_and_ranked_over_those_it_passed() {
    let t0 = Instant::now();
    let config = ProbeConfig {
        path: "/probe.bin".into(),
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(1),
        readmit: None,
    };
    let servers = vec![
        addr("127.0.0.1:8081"),
        addr("[::1]:8082"),
        addr("localhost:8083"),
    ];
    let mut b = Balancer::new(servers, &config, Policy::Rank, t0).unwrap();
    let mut jobs: Vec<(usize, Family)> = std::iter::from_fn(|| b.poll_probe(t0))
        .map(|job| (job.index, job.family))
        .collect();
    jobs.sort();
    assert_eq!(
        jobs,
        [
            (0, Family::V4),
            (1, Family::V6),
            (2, Family::V4),
            (2, Family::V6)
        ]
    );
    let at = t0 + Duration::from_millis(50);
    b.handle_probe_result(0, Family::V4, at, Ok(m(10)));
    b.handle_probe_result(1, Family::V6, at, Ok(m(20)));
    b.handle_probe_result(2, Family::V4, at, Ok(m(30)));
    assert!(
        !b.first_round_complete(),
        "localhost over IPv6 not judged yet"
    );
    b.handle_probe_result(2, Family::V6, at, Err(ProbeFailure::Refused));
    assert!(b.first_round_complete());
    let events: Vec<Event> = std::iter::from_fn(|| b.poll_event()).collect();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Removed {
                index: 2,
                family: Family::V6,
                ..
            }
        )),
        "{events:?}"
    );
    let Some(Event::Ranking(r)) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(
        reached(r.for_request(Scheme::Http, ip("127.0.0.1"))),
        set(&["127.0.0.1:8081", "localhost:8083"])
    );
    assert_eq!(
        reached(r.for_request(Scheme::Http, ip("::1"))),
        set(&["[::1]:8082"])
    );
    // The snapshot shows the name live (over IPv4) and each family's own state.
    let snapshot = b.snapshot();
    let name = &snapshot.servers[2];
    assert_eq!(name.probe.health, Health::Live);
    let by_family: Vec<(Family, Health)> =
        name.families.iter().map(|(f, s)| (*f, s.health)).collect();
    assert_eq!(
        by_family,
        [(Family::V4, Health::Live), (Family::V6, Health::Removed)]
    );
    assert_eq!(snapshot.servers[0].families.len(), 1);
    // Without readmit the name is never probed over IPv6 again; over IPv4 it is.
    let t1 = t0 + Duration::from_secs(10);
    let mut later: Vec<(usize, Family)> = std::iter::from_fn(|| b.poll_probe(t1))
        .map(|job| (job.index, job.family))
        .collect();
    later.sort();
    assert_eq!(later, [(0, Family::V4), (1, Family::V6), (2, Family::V4)]);
}

#[test]
fn a_reload_probes_a_name_again_only_over_the_family_it_was_removed_over() {
    let t0 = Instant::now();
    let config = ProbeConfig {
        path: "/probe.bin".into(),
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(1),
        readmit: None,
    };
    let servers = vec![addr("localhost:8083")];
    let mut b = Balancer::new(servers.clone(), &config, Policy::Rank, t0).unwrap();
    while b.poll_probe(t0).is_some() {}
    b.handle_probe_result(0, Family::V4, t0, Ok(m(30)));
    b.handle_probe_result(0, Family::V6, t0, Err(ProbeFailure::Refused));
    let t1 = t0 + Duration::from_secs(1);
    let reloaded = b.reload(servers, t1).unwrap();
    assert_eq!(reloaded.restarted, [addr("localhost:8083")]);
    let jobs: Vec<(usize, Family)> = std::iter::from_fn(|| b.poll_probe(t1))
        .map(|job| (job.index, job.family))
        .collect();
    assert_eq!(jobs, [(0, Family::V6)]);
    // Still live over IPv4 meanwhile, with its measurement.
    let r = b.rankings();
    assert_eq!(r.over(Family::V4).table()[0].measurement, m(30));
    assert!(r.over(Family::V6).is_empty());
}
