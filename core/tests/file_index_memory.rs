//! The heap one file-index entry takes, counted by a global allocator: what the balancer's
//! resident set per entry (tests/tests/balancer_memory.rs, `bytes_per_entry_as_seen`) is made
//! of. `cargo test -p ricochet-core --test file_index_memory -- --nocapture` prints it.

use rand::rngs::StdRng;
use rand::SeedableRng;
use ricochet_core::balance::file_check::FileHead;
use ricochet_core::balance::file_index::{FileIndex, FileIndexConfig};
use ricochet_core::balance::file_pick::{PickRequest, PickStep};
use ricochet_core::balance::pool::{Policy, Pool, ServerAddr};
use ricochet_core::balance::verdict::Measurement;
use ricochet_core::http::status::Status;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Bytes asked for and not freed, and the same rounded up to glibc's chunks (8 bytes of header,
/// multiples of 16, at least 32).
struct Counting;
static ASKED: AtomicUsize = AtomicUsize::new(0);
static CHUNKS: AtomicUsize = AtomicUsize::new(0);

fn chunk(size: usize) -> usize {
    (size + 8).div_ceil(16).max(2) * 16
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ASKED.fetch_add(layout.size(), Ordering::Relaxed);
        CHUNKS.fetch_add(chunk(layout.size()), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ASKED.fetch_sub(layout.size(), Ordering::Relaxed);
        CHUNKS.fetch_sub(chunk(layout.size()), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// As the memory test: one server, every path answered 404, paths `/p/N`.
#[test]
fn heap_per_entry() {
    let server = ServerAddr::parse("127.0.0.2:8000").unwrap();
    let mut pool = Pool::new(vec![server]);
    let elapsed = Duration::from_millis(1);
    pool.record(0, Measurement { elapsed, bytes: 1 });
    let ranking = pool.ranking(Policy::Rank);
    let mut index = FileIndex::new(FileIndexConfig::default());
    let mut rng = StdRng::seed_from_u64(19);
    let now = Instant::now();
    let mut add = |index: &mut FileIndex, n: usize| {
        let path = format!("/p/{n}");
        let mut pick = PickRequest::new(&path);
        assert_eq!(pick.poll(index, &ranking, &mut rng, now), PickStep::Wait);
        let job = index.poll_check(now).expect("a check");
        let head = Ok(FileHead::with_status(Status::NOT_FOUND));
        assert!(index.handle_check(&job, head, now));
        assert_eq!(
            pick.poll(index, &ranking, &mut rng, now),
            PickStep::NotFound
        );
    };
    let (first, entries) = (800, 48_000);
    for n in 0..first {
        add(&mut index, n);
    }
    let (asked, chunks) = (
        ASKED.load(Ordering::Relaxed),
        CHUNKS.load(Ordering::Relaxed),
    );
    for n in first..first + entries {
        add(&mut index, n);
    }
    let asked = (ASKED.load(Ordering::Relaxed) - asked) / entries;
    let chunks = (CHUNKS.load(Ordering::Relaxed) - chunks) / entries;
    let estimate = FileIndex::bytes_per_entry(1, false, 7);
    eprintln!(
        "{entries} entries: {asked} bytes asked per entry, {chunks} in glibc's chunks; \
         the estimate from the types' sizes: {estimate}"
    );
    assert_eq!(index.len(), first + entries);
    // The structures' own sizes, plus the spare room of the slab and the hash table (both grow
    // by doubling: 28 bytes more per entry at this count). It was 548 while a server's answers
    // were kept in a vector with room for 4.
    assert!(
        asked >= estimate && asked <= estimate * 3 / 2,
        "{asked} vs {estimate}"
    );
}
