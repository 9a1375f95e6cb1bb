//! A follower's view of the prober's board (`balance::shared`): rankings rebuilt from a board
//! that went through the wire equal the prober's, before and after a reload.

use ricochet_core::balance::balancer::{Balancer, ProbeConfig};
use ricochet_core::balance::pool::{Policy, ServerAddr};
use ricochet_core::balance::probe::Health;
use ricochet_core::balance::shared::{Board, Message};
use ricochet_core::balance::verdict::{Measurement, ProbeFailure};
use std::time::{Duration, Instant};

fn addr(s: &str) -> ServerAddr {
    ServerAddr::parse(s).unwrap()
}

fn ms(n: u64) -> Measurement {
    Measurement {
        elapsed: Duration::from_millis(n),
        bytes: 1000,
    }
}

#[test]
fn a_follower_ranks_as_the_prober_does() {
    let servers = vec![
        addr("127.0.0.1:1"),
        addr("127.0.0.1:2"),
        addr("127.0.0.1:3"),
    ];
    let config = ProbeConfig {
        path: "/probe.bin".into(),
        interval: Duration::from_secs(30),
        timeout: Duration::from_secs(5),
        readmit: None,
    };
    let now = Instant::now();
    let mut prober = Balancer::new(servers, &config, Policy::Rank, now).unwrap();
    let mut jobs = Vec::new();
    while let Some(job) = prober.poll_probe(now) {
        jobs.push(job);
    }
    for (i, job) in jobs.iter().enumerate() {
        let result = match i {
            1 => Err(ProbeFailure::Refused),
            _ => Ok(ms(10 * (i as u64 + 1))),
        };
        prober.handle_probe_result(job.index, job.family, now, result);
    }
    let rankings = prober.rankings();
    let board = Board::from_prober(&prober.snapshot(), &rankings);
    // Through the wire and back.
    let Ok((Message::Board(board), _)) = Message::decode(&Message::Board(board).encode("p")) else {
        panic!("not a board");
    };
    assert_eq!(board.rankings(Policy::Rank), rankings);
    assert_eq!(board.servers[1].families[0].1, Health::Removed);
    let snapshot = board.snapshot(&prober.snapshot(), now);
    let healths: Vec<Health> = snapshot.servers.iter().map(|s| s.probe.health).collect();
    assert_eq!(healths, [Health::Live, Health::Removed, Health::Live]);
    assert_eq!(snapshot.probe_path, "/probe.bin");

    // A reload drops the first server: the others keep their indices on both sides.
    let kept = vec![addr("127.0.0.1:2"), addr("127.0.0.1:3")];
    prober.reload(kept, now).unwrap();
    let rankings = prober.rankings();
    let board = Board::from_prober(&prober.snapshot(), &rankings);
    assert_eq!(board.servers[0].index, 1);
    assert_eq!(board.server(2), Some(&addr("127.0.0.1:3")));
    assert_eq!(board.server(0), None);
    assert_eq!(board.rankings(Policy::Rank), rankings);
}
