//! Whole-file hashing throughput on one core, as the server's background hasher does it:
//! `cargo bench -p ricochet --bench hash`.
//!
//! `memory`: SHA-256 and SHA-512 of a 64 MiB buffer through aws-lc-rs (the CPU's SHA extensions
//! where it has them). `file`: `hash_file` on a 64 MiB file in the page cache (1 MiB positioned
//! reads), what a request for a digest of a cached file costs. Criterion reports bytes/s of
//! wall time; on a shared machine that depends on the neighbours, so the bench first prints
//! bytes per second of the hashing thread's own CPU time (`cpu_...` lines), which does not.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ricochet::server::hasher::{hash_bytes, hash_file};
use ricochet_core::http::digest::Algorithm;
use std::hint::black_box;

const LEN: usize = 64 << 20;

/// This thread's CPU time so far.
fn thread_cpu() -> std::time::Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to the pointer given, which is valid.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(r, 0);
    std::time::Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Bytes per second of CPU time over `rounds` runs of `f` on `len` bytes each.
fn cpu_rate(rounds: u32, len: usize, mut f: impl FnMut()) -> f64 {
    f();
    let start = thread_cpu();
    for _ in 0..rounds {
        f();
    }
    f64::from(rounds) * len as f64 / (thread_cpu() - start).as_secs_f64()
}

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
        let memory = cpu_rate(10, LEN, || {
            black_box(hash_bytes(algorithm, black_box(&data)));
        });
        println!(
            "cpu_{name}: memory {:.2} GB/s of one core's CPU time",
            memory / 1e9
        );
        for kib in [64, 128, 256, 1024] {
            let from_file = cpu_rate(10, LEN, || {
                black_box(hash_file(&file, algorithm, &mut buf[..kib << 10]).unwrap());
            });
            println!(
                "cpu_{name}: file, {kib} KiB reads, {:.2} GB/s of one core's CPU time",
                from_file / 1e9
            );
        }
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
