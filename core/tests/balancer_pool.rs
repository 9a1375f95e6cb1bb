//! Server lists, ranking and the weighted pick, with a seeded RNG.

use rand::rngs::StdRng;
use rand::SeedableRng;
use ricochet_core::balance::pool::{
    Policy, Pool, Ranking, ServerAddr, ServerAddrError, ServerList, ServerListError,
    ServerListErrorKind, Source,
};
use ricochet_core::balance::redirect::location;
use ricochet_core::balance::verdict::Measurement;
use ricochet_core::http::url::Scheme;
use std::time::Duration;

/// Feed a config file's text to `list` line by line, as the balancer does; stops at the first
/// bad line.
fn add_config(list: &mut ServerList, text: &str) -> Result<(), ServerListError> {
    for (i, line) in text.lines().enumerate() {
        list.add_config_line(i + 1, line)?;
    }
    Ok(())
}

fn addr(s: &str) -> ServerAddr {
    ServerAddr::parse(s).unwrap()
}

fn ms(n: u64) -> Measurement {
    Measurement {
        elapsed: Duration::from_millis(n),
        bytes: 300_000,
    }
}

/// A pool of servers `127.0.0.1:1..` with these transfer times (ms), all live.
fn pool(times_ms: &[u64]) -> Pool {
    let servers = (1..=times_ms.len())
        .map(|i| addr(&format!("127.0.0.1:{i}")))
        .collect();
    let mut pool = Pool::new(servers);
    for (i, &t) in times_ms.iter().enumerate() {
        assert!(pool.record(i, ms(t)));
    }
    pool
}

/// Pick `n` times with a seeded RNG; count per pool index.
fn counts(ranking: &Ranking, n: usize, seed: u64) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut counts = vec![0; 16];
    for _ in 0..n {
        counts[ranking.pick(&mut rng).unwrap().index] += 1;
    }
    counts
}

/// Observed count within 4 standard deviations of the binomial expectation.
fn assert_share(count: usize, n: usize, p: f64, what: &str) {
    let expected = n as f64 * p;
    let sigma = (n as f64 * p * (1.0 - p)).sqrt();
    assert!(
        (count as f64 - expected).abs() <= 4.0 * sigma,
        "{what}: {count} picks of {n}, expected {expected:.0} ± {:.0}",
        4.0 * sigma
    );
}

#[test]
fn server_addresses() {
    let a = addr(" 127.0.0.1:8080 ");
    assert_eq!(a.host(), "127.0.0.1");
    assert_eq!(a.port(), 8080);
    assert_eq!(a.as_str(), "127.0.0.1:8080");
    assert_eq!(a.base_url(), "http://127.0.0.1:8080");
    let v6 = addr("[::1]:11111");
    assert_eq!(v6.host(), "::1");
    assert_eq!(v6.to_string(), "[::1]:11111");
    assert_eq!(v6.base_url(), "http://[::1]:11111");
    assert_eq!(addr("LocalHost:80").as_str(), "localhost:80");
    assert_eq!(ServerAddr::parse("  "), Err(ServerAddrError::Empty));
    assert_eq!(ServerAddr::parse("h:80/x"), Err(ServerAddrError::HasPath));
    assert_eq!(ServerAddr::parse("h"), Err(ServerAddrError::MissingPort));
    assert_eq!(ServerAddr::parse("h:"), Err(ServerAddrError::MissingPort));
    assert_eq!(
        ServerAddr::parse("[::1]"),
        Err(ServerAddrError::MissingPort)
    );
    for bad in [
        "h:0", "h:70000", "h:x", "::1:80", "[::1:80", "a b:80", "u@h:80",
    ] {
        assert!(
            matches!(ServerAddr::parse(bad), Err(ServerAddrError::Invalid(_))),
            "{bad}"
        );
    }
}

#[test]
fn server_list_from_arguments_and_config() {
    let mut list = ServerList::new();
    list.add_argument("127.0.0.1:11111").unwrap();
    add_config(
        &mut list,
        "# the cluster\n\n127.0.0.1:22222\n  [::1]:33333   # v6 one\n\t\n# end\n",
    )
    .unwrap();
    assert!(!list.is_empty());
    let servers = list.into_servers();
    assert_eq!(servers.len(), 3);
    assert_eq!(servers[2], addr("[::1]:33333"));
}

#[test]
fn server_list_errors_name_the_line() {
    let mut list = ServerList::new();
    list.add_argument("127.0.0.1:1").unwrap();
    let err = add_config(&mut list, "127.0.0.1:2\n\n# ok\nnot a server\n").unwrap_err();
    assert_eq!(err.source, Source::Line(4));
    assert!(matches!(err.kind, ServerListErrorKind::Malformed(_)));
    assert_eq!(
        err.to_string(),
        "line 4: bad server 'not a server': malformed URL: invalid character in host"
    );

    let mut list = ServerList::new();
    list.add_argument("localhost:8080").unwrap();
    let err = add_config(&mut list, "a:1\nLOCALHOST:8080 # again\n").unwrap_err();
    assert_eq!(err.source, Source::Line(2));
    assert_eq!(
        err.kind,
        ServerListErrorKind::Duplicate(Source::Argument(1))
    );
    assert_eq!(
        err.to_string(),
        "line 2: duplicate server 'LOCALHOST:8080' (already given at argument 1)"
    );

    let mut list = ServerList::new();
    list.add_argument("a:1").unwrap();
    let err = list.add_argument("a:2x").unwrap_err();
    assert_eq!(err.source, Source::Argument(2));
    assert_eq!(
        err.to_string(),
        "argument 2: bad server 'a:2x': the port must be a number from 1 to 65535"
    );
}

#[test]
fn rank_weights_slowest_1_to_fastest_n() {
    let ranking = pool(&[30, 10, 20]).ranking(Policy::Rank);
    let table = ranking.table();
    // Fastest first.
    let order: Vec<usize> = table.iter().map(|r| r.index).collect();
    assert_eq!(order, [1, 2, 0]);
    let ranks: Vec<f64> = table.iter().map(|r| r.rank).collect();
    assert_eq!(ranks, [3.0, 2.0, 1.0]);
    let weights: Vec<f64> = table.iter().map(|r| r.weight).collect();
    assert_eq!(weights, [3.0, 2.0, 1.0]);
    let shares: Vec<f64> = table.iter().map(|r| r.share).collect();
    assert_eq!(shares, [3.0 / 6.0, 2.0 / 6.0, 1.0 / 6.0]);
}

#[test]
fn sixty_thousand_picks_match_one_two_three_sixths() {
    let ranking = pool(&[30, 20, 10]).ranking(Policy::Rank);
    let n = 60_000;
    for seed in [1, 2, 3] {
        let c = counts(&ranking, n, seed);
        assert_share(c[0], n, 1.0 / 6.0, "slowest");
        assert_share(c[1], n, 2.0 / 6.0, "middle");
        assert_share(c[2], n, 3.0 / 6.0, "fastest");
        assert!(c[0] < c[1] && c[1] < c[2], "{c:?}");
    }
}

#[test]
fn removal_reranks_the_rest() {
    let mut pool = pool(&[30, 20, 10]);
    assert!(pool.remove(2));
    assert!(!pool.remove(2), "already removed");
    let ranking = pool.ranking(Policy::Rank);
    let rows: Vec<(usize, f64)> = ranking.table().iter().map(|r| (r.index, r.rank)).collect();
    assert_eq!(rows, [(1, 2.0), (0, 1.0)]);
    let n = 60_000;
    let c = counts(&ranking, n, 7);
    assert_eq!(c[2], 0, "removed server never picked");
    assert_share(c[0], n, 1.0 / 3.0, "slower");
    assert_share(c[1], n, 2.0 / 3.0, "faster");
    // Coming back is the caller's decision: recording a measurement ranks it again.
    assert!(pool.record(2, ms(10)));
    assert_eq!(pool.ranking(Policy::Rank).len(), 3);
    assert!(!pool.record(3, ms(10)), "no such server");
}

/// A client reported the fastest server unreachable: the others keep their relative shares
/// and it is never picked, unless it is the only one.
#[test]
fn pick_avoiding_skips_one_server_and_keeps_the_others_shares() {
    let ranking = pool(&[30, 20, 10]).ranking(Policy::Rank);
    let n = 60_000;
    for (avoid, seed) in [(2, 3), (0, 4), (1, 5)] {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut c = [0usize; 3];
        for _ in 0..n {
            c[ranking.pick_avoiding(&mut rng, avoid).unwrap().index] += 1;
        }
        assert_eq!(c[avoid], 0, "avoided {avoid}: {c:?}");
        // Weights 1, 2, 3 for servers 0, 1, 2.
        let rest: f64 = [1.0, 2.0, 3.0]
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != avoid)
            .map(|(_, w)| w)
            .sum();
        for i in (0..3).filter(|&i| i != avoid) {
            assert_share(c[i], n, (i + 1) as f64 / rest, "other");
        }
    }
    // Not in the ranking: an ordinary pick. The only server: picked anyway.
    let mut rng = StdRng::seed_from_u64(6);
    assert!(ranking.pick_avoiding(&mut rng, 9).is_some());
    let single = pool(&[10]).ranking(Policy::Rank);
    assert_eq!(single.pick_avoiding(&mut rng, 0).unwrap().index, 0);
    assert!(Ranking::empty(Policy::Rank)
        .pick_avoiding(&mut rng, 0)
        .is_none());
    assert_eq!(ranking.find(&addr("127.0.0.1:9")), None);
}

#[test]
fn ties_get_equal_weight() {
    // Two fastest tied: positions 2 and 3 share rank 2.5.
    let ranking = pool(&[30, 10, 10]).ranking(Policy::Rank);
    let ranks: Vec<(usize, f64)> = ranking.table().iter().map(|r| (r.index, r.rank)).collect();
    assert_eq!(ranks, [(1, 2.5), (2, 2.5), (0, 1.0)]);
    let n = 60_000;
    let c = counts(&ranking, n, 11);
    assert_share(c[0], n, 1.0 / 6.0, "slowest");
    assert_share(c[1], n, 2.5 / 6.0, "tied 1");
    assert_share(c[2], n, 2.5 / 6.0, "tied 2");

    // All tied: equal shares.
    let ranking = pool(&[5, 5, 5, 5]).ranking(Policy::Rank);
    assert!(ranking
        .table()
        .iter()
        .all(|r| r.rank == 2.5 && r.share == 0.25));

    // Two slowest tied: 1.5, 1.5, 3.
    let ranking = pool(&[30, 30, 10]).ranking(Policy::Rank);
    let ranks: Vec<f64> = ranking.table().iter().map(|r| r.rank).collect();
    assert_eq!(ranks, [3.0, 1.5, 1.5]);
}

#[test]
fn pending_servers_are_not_picked() {
    let mut pool = Pool::new(vec![addr("a:1"), addr("b:2")]);
    assert!(pool.ranking(Policy::Rank).is_empty());
    pool.record(1, ms(10));
    let ranking = pool.ranking(Policy::Rank);
    assert_eq!(ranking.len(), 1);
    let mut rng = StdRng::seed_from_u64(0);
    for _ in 0..100 {
        assert_eq!(ranking.pick(&mut rng).unwrap().server, addr("b:2"));
    }
}

#[test]
fn empty_ranking_picks_nothing() {
    let mut rng = StdRng::seed_from_u64(0);
    assert!(Ranking::empty(Policy::Rank).pick(&mut rng).is_none());
    let mut pool = pool(&[10]);
    pool.remove(0);
    let ranking = pool.ranking(Policy::Throughput);
    assert!(ranking.pick(&mut rng).is_none());
    assert_eq!(ranking.to_string(), "no live server (policy throughput)");
}

#[test]
fn throughput_weighs_by_speed_with_a_floor() {
    // Same bytes: 10 ms is 2x as fast as 20 ms and 100x as fast as 1 s.
    let ranking = pool(&[10, 20, 1000]).ranking(Policy::Throughput);
    let weights: Vec<(usize, f64)> = ranking
        .table()
        .iter()
        .map(|r| (r.index, r.weight))
        .collect();
    assert_eq!(weights, [(0, 1.0), (1, 0.5), (2, 0.05)]);
    let total = 1.55;
    let n = 60_000;
    let c = counts(&ranking, n, 5);
    assert_share(c[0], n, 1.0 / total, "fastest");
    assert_share(c[1], n, 0.5 / total, "half speed");
    assert_share(c[2], n, 0.05 / total, "floored");
    assert!(c[2] > 0, "the floor keeps the slowest server reachable");
}

#[test]
fn throughput_with_zero_bytes_is_uniform() {
    let mut pool = pool(&[10, 20]);
    for i in 0..2 {
        pool.record(
            i,
            Measurement {
                elapsed: Duration::ZERO,
                bytes: 0,
            },
        );
    }
    let ranking = pool.ranking(Policy::Throughput);
    let shares: Vec<(usize, f64)> = ranking.table().iter().map(|r| (r.index, r.share)).collect();
    assert_eq!(shares, [(0, 0.5), (1, 0.5)]);
}

#[test]
fn policy_names() {
    assert_eq!("rank".parse::<Policy>(), Ok(Policy::Rank));
    assert_eq!("Throughput".parse::<Policy>(), Ok(Policy::Throughput));
    assert!("fastest".parse::<Policy>().is_err());
    assert_eq!(Policy::default(), Policy::Rank);
    assert_eq!(Policy::Throughput.to_string(), "throughput");
}

#[test]
fn table_display() {
    let mut p = Pool::new(vec![
        addr("127.0.0.1:11111"),
        addr("[::1]:22222"),
        addr("h:3"),
    ]);
    p.record(
        0,
        Measurement {
            elapsed: Duration::from_millis(300),
            bytes: 300_000,
        },
    );
    p.record(
        1,
        Measurement {
            elapsed: Duration::from_millis(100),
            bytes: 300_000,
        },
    );
    let text = p.ranking(Policy::Rank).to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for column in [
        "server",
        "time",
        "speed",
        "rank",
        "weight",
        "share",
        "policy rank",
    ] {
        assert!(lines[0].contains(column), "{text}");
    }
    assert!(lines[1].starts_with("[::1]:22222"), "{text}");
    assert!(
        lines[1].contains("100.0 ms") && lines[1].contains("3.0 MB/s"),
        "{text}"
    );
    assert!(lines[1].trim_end().ends_with("66.7%"), "{text}");
    assert!(lines[2].starts_with("127.0.0.1:11111"), "{text}");
    assert!(
        lines[2].contains("300.0 ms") && lines[2].contains("1.0 MB/s"),
        "{text}"
    );
    assert!(lines[2].trim_end().ends_with("33.3%"), "{text}");
}

#[test]
fn pick_is_logarithmic_in_practice() {
    // 10,000 servers with distinct times: every pick lands on a live row and the fastest is
    // picked most often in aggregate (top decile vs bottom decile).
    let times: Vec<u64> = (1..=10_000).collect();
    let ranking = pool(&times).ranking(Policy::Rank);
    let mut rng = StdRng::seed_from_u64(9);
    let (mut fast, mut slow) = (0, 0);
    for _ in 0..100_000 {
        let row = ranking.pick(&mut rng).unwrap();
        if row.index < 1000 {
            fast += 1;
        } else if row.index >= 9000 {
            slow += 1;
        }
    }
    // Expected shares: top decile ~19%, bottom decile ~1%.
    assert!(fast > 10 * slow, "fast {fast} slow {slow}");
}

#[test]
fn url_entries_carry_scheme_and_prefix_and_bad_ones_say_why() {
    let m = addr("https://Mirror.example:8443/pub/");
    assert_eq!(m.scheme(), Scheme::Https);
    assert_eq!((m.host(), m.port()), ("mirror.example", 8443));
    assert_eq!(m.authority(), "mirror.example:8443");
    assert_eq!(m.as_str(), "https://mirror.example:8443/pub/");
    assert_eq!(m.base_url(), "https://mirror.example:8443/pub");
    // The prefix is joined with one slash, with or without the trailing slash in the entry.
    assert_eq!(
        location(m.base_url(), "/f.iso", Some("x=1")),
        "https://mirror.example:8443/pub/f.iso?x=1"
    );
    assert_eq!(addr("https://m/pub").base_url(), "https://m:443/pub");
    assert_eq!(addr("https://m").base_url(), "https://m:443");
    assert_eq!(addr("https://[::1]:8443/").as_str(), "https://[::1]:8443/");
    // http://host:port/ is the plain entry, so the two are duplicates.
    assert_eq!(addr("http://h:8080/"), addr("h:8080"));
    assert_eq!(addr("http://h:8080/").as_str(), "h:8080");
    assert_eq!(addr("http://h/").authority(), "h:80");
    let mut list = ServerList::new();
    list.add_argument("h:8080").unwrap();
    assert!(list.add_argument("http://h:8080").is_err());

    assert_eq!(
        ServerAddr::parse("https://user@h/"),
        Err(ServerAddrError::HasUserInfo)
    );
    assert_eq!(
        ServerAddr::parse("https://h/pub/#top"),
        Err(ServerAddrError::HasQueryOrFragment)
    );
    assert_eq!(
        ServerAddr::parse("http://h/?a"),
        Err(ServerAddrError::HasQueryOrFragment)
    );
    assert_eq!(
        ServerAddr::parse("ftp://h/"),
        Err(ServerAddrError::UnsupportedScheme("ftp".into()))
    );
    let err = ServerList::new()
        .add_config_line(3, "gopher://h:70/")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 3: bad server 'gopher://h:70/': scheme 'gopher' is not supported, only http:// and https://"
    );
}
