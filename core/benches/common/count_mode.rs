//! The benches' count mode, for `valgrind --tool=callgrind`: with `RICOCHET_BENCH_ONLY=NAME`
//! and `RICOCHET_BENCH_ITERS=N` a bench runs case NAME N times and nothing else (instructions
//! per case are the difference of two counts over N); without them criterion runs as usual.

/// The case and count asked for, or `None` once criterion's benches have run (`benches`).
pub fn asked(benches: fn()) -> Option<(String, u64)> {
    let (Ok(only), Ok(iters)) = (
        std::env::var("RICOCHET_BENCH_ONLY"),
        std::env::var("RICOCHET_BENCH_ITERS"),
    ) else {
        benches();
        criterion::Criterion::default()
            .configure_from_args()
            .final_summary();
        return None;
    };
    let iters = iters.parse().expect("RICOCHET_BENCH_ITERS: a count");
    Some((only, iters))
}
