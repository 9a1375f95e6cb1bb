//! The balancer's own work per redirect, without the sockets: today's answer
//! (`Redirect::answer`) beside the `--verify-files` answer on a warm file index (the index's
//! lock, the clock read, `file_request`, one `PickRequest` poll, `answer_pick`, and the
//! digest fields), over three servers and an origin, for what wrk sends.
//!
//! `cargo bench -p ricochet-core --bench redirect` times them. On a shared machine the times
//! move with its load; instructions do not: with `RICOCHET_BENCH_ONLY=plain` (or
//! `verify_files_warm`) and `RICOCHET_BENCH_ITERS=N` the bench binary runs that one N times and
//! nothing else, for `valgrind --tool=callgrind` at two values of N (the difference of the
//! counts over the difference of N is the count per redirect).

use criterion::{black_box, criterion_group, Criterion};
use rand::rngs::StdRng;
use rand::SeedableRng;
use ricochet_core::balance::file_check::FileHead;
use ricochet_core::balance::file_index::{FileIndex, FileIndexConfig};
use ricochet_core::balance::file_pick::{PickRequest, PickStep};
use ricochet_core::balance::mirror_meta::{self, insert_digest_fields};
use ricochet_core::balance::pool::{Policy, Pool, Ranking, ServerAddr};
use ricochet_core::balance::redirect::Redirect;
use ricochet_core::balance::verdict::Measurement;
use ricochet_core::http::digest::{Algorithm, Digest};
use ricochet_core::http::request::{Request, RequestParser};
use ricochet_core::http::Parsed;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

const WRK: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

struct State {
    ranking: Ranking,
    origin: ServerAddr,
    index: Mutex<FileIndex>,
    rng: StdRng,
    redirect: Redirect,
    out: Vec<u8>,
}

impl State {
    fn new() -> State {
        let servers = ["127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003"]
            .map(|s| ServerAddr::parse(s).unwrap())
            .to_vec();
        let mut pool = Pool::new(servers);
        for i in 0..3 {
            let elapsed = Duration::from_millis(10 + i as u64);
            pool.record(i, Measurement { elapsed, bytes: 1 });
        }
        let ranking = pool.ranking(Policy::Rank);
        let config = FileIndexConfig {
            origin: true,
            ..FileIndexConfig::default()
        };
        let mut index = FileIndex::new(config);
        let mut rng = StdRng::seed_from_u64(19);
        let mut head = FileHead::ok(6, SystemTime::UNIX_EPOCH);
        head.digest = Some(Box::new(Digest::new(Algorithm::Sha256, &[7; 32]).unwrap()));
        // Warm: every server and the origin answered.
        for _ in 0..20 {
            let now = Instant::now();
            let mut pick = PickRequest::new("/index.html");
            pick.poll(&mut index, &ranking, &mut rng, now);
            while let Some(job) = index.poll_check(now) {
                index.handle_check(&job, Ok(head.clone()), now);
            }
        }
        State {
            ranking,
            origin: ServerAddr::parse("127.0.0.1:8001").unwrap(),
            index: Mutex::new(index),
            rng,
            redirect: Redirect::default(),
            out: Vec::with_capacity(1024),
        }
    }

    fn plain(&mut self, request: &Request<'_>) -> u16 {
        self.out.clear();
        let now = SystemTime::now();
        assert!(mirror_meta::asked(black_box(request)).is_none());
        let (ranking, rng, out) = (&self.ranking, &mut self.rng, &mut self.out);
        let answer = self.redirect.answer(request, true, ranking, rng, now, out);
        answer.status
    }

    fn verify_files_warm(&mut self, request: &Request<'_>) -> u16 {
        self.out.clear();
        let now = SystemTime::now();
        assert!(mirror_meta::asked(black_box(request)).is_none());
        let (ranking, rng, out) = (&self.ranking, &mut self.rng, &mut self.out);
        let Ok(file_request) = self.redirect.file_request(request, true, ranking, now, out) else {
            unreachable!()
        };
        let mut pick = file_request.pick();
        let step = {
            let mut index = self.index.lock().unwrap();
            let step = pick.poll(&mut index, ranking, rng, Instant::now());
            assert!(index.poll_check(Instant::now()).is_none());
            step
        };
        assert!(matches!(step, PickStep::Redirect(_)));
        let origin = Some(&self.origin);
        let answer =
            self.redirect
                .answer_pick(step, &file_request, ranking, origin, true, now, out);
        if let Some(digest) = pick.digest() {
            insert_digest_fields(out, 0, digest);
        }
        answer.status
    }
}

fn request() -> Request<'static> {
    let mut parser = RequestParser::default();
    let Ok(Parsed::Complete { value, .. }) = parser.parse(WRK) else {
        panic!("wrk's head does not parse");
    };
    value
}

fn bench(c: &mut Criterion) {
    let mut state = State::new();
    let request = request();
    let mut group = c.benchmark_group("redirect");
    group.bench_function("plain", |b| b.iter(|| black_box(state.plain(&request))));
    group.bench_function("verify_files_warm", |b| {
        b.iter(|| black_box(state.verify_files_warm(&request)))
    });
    group.finish();
}

#[path = "common/count_mode.rs"]
mod count_mode;

criterion_group!(benches, bench);

fn main() {
    let Some((only, iters)) = count_mode::asked(benches) else {
        return;
    };
    let mut state = State::new();
    let request = request();
    for _ in 0..iters {
        let status = match only.as_str() {
            "plain" => state.plain(&request),
            "verify_files_warm" => state.verify_files_warm(&request),
            other => panic!("RICOCHET_BENCH_ONLY: plain or verify_files_warm, not {other}"),
        };
        assert_eq!(black_box(status), 301);
    }
}
