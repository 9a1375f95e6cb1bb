//! Whole-file hashing throughput on one core, as the server's background hasher does it:
//! `cargo bench -p ricochet --bench hash`.
//!
//! `memory`: SHA-256 and SHA-512 of a 64 MiB buffer through aws-lc-rs (the CPU's SHA extensions
//! where it has them). `file`: `hash_file` on a 64 MiB file in the page cache (1 MiB positioned
//! reads), what a request for a digest of a cached file costs. Criterion reports bytes/s.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ricochet::server::hasher::{hash_bytes, hash_file};
use ricochet_core::http::digest::Algorithm;
use std::hint::black_box;

const LEN: usize = 64 << 20;

fn bench(c: &mut Criterion) {
    let data: Vec<u8> = (0..LEN)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761) as u8)
        .collect();
    let path = std::env::temp_dir().join(format!("ricochet-hash-bench-{}", std::process::id()));
    std::fs::write(&path, &data).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut group = c.benchmark_group("hash_64MiB");
    group.throughput(Throughput::Bytes(LEN as u64));
    group.sample_size(20);
    for algorithm in Algorithm::ALL {
        let name = algorithm.rfc9530_name();
        assert_eq!(
            hash_file(&file, algorithm, &mut buf).unwrap(),
            hash_bytes(algorithm, &data)
        );
        group.bench_function(format!("memory_{name}"), |b| {
            b.iter(|| hash_bytes(algorithm, black_box(&data)))
        });
        group.bench_function(format!("file_{name}"), |b| {
            b.iter(|| hash_file(&file, algorithm, &mut buf).unwrap())
        });
    }
    group.finish();
    std::fs::remove_file(&path).unwrap();
}

criterion_group!(benches, bench);
criterion_main!(benches);
