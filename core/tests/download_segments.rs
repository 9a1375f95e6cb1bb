//! The multi-source piece scheduler (`download::segments`) on a fake clock: shares by speed,
//! the end game, dropped, failed and corrupt sources, ranges held from a note.

use ricochet_core::download::segments::*;
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;

/// Sources with fixed speeds (bytes per 10 ms tick) on a fake clock, each a chunk per tick;
/// returns the bytes each fetched and the ticks it took; checks every byte is written once.
fn simulate(total: u64, speeds: &[u64], config: SegmentConfig) -> (Vec<u64>, u32, Segments) {
    let start = Instant::now();
    let mut segments = Segments::new(total, speeds.len(), &[], config);
    let mut got = vec![0u64; speeds.len()];
    let mut file = vec![false; total as usize];
    let mut tick = 0;
    while !segments.is_complete() {
        tick += 1;
        assert!(tick < 100_000, "never completes");
        let now = start + Duration::from_millis(10 * u64::from(tick));
        for (i, &speed) in speeds.iter().enumerate() {
            match segments.poll_assign(i, now) {
                Assign::Fetch(span) => {
                    let n = speed.min(span.len());
                    if n == 0 {
                        continue;
                    }
                    let w = segments.handle_data(i, n, now);
                    assert_eq!(w.offset, span.start);
                    for b in w.offset..w.offset + w.keep {
                        assert!(!file[b as usize], "byte {b} written twice");
                        file[b as usize] = true;
                    }
                    got[i] += w.keep;
                }
                Assign::Wait | Assign::Complete | Assign::Dropped => {}
            }
        }
    }
    assert!(file.iter().all(|&b| b));
    (got, tick, segments)
}

#[test]
fn faster_sources_fetch_more_and_every_byte_once() {
    let total = 16 * MIB;
    let (got, _, segments) = simulate(total, &[100_000, 50_000, 10_000], Default::default());
    assert_eq!(got.iter().sum::<u64>(), total);
    assert!(got[0] > got[1] && got[1] > got[2], "{got:?}");
    // Roughly in proportion to speed: the slow one gets well under a third.
    assert!(got[2] < total / 6, "{got:?}");
    assert_eq!(
        segments.done(),
        &[Span {
            start: 0,
            end: total
        }]
    );
}

#[test]
fn the_end_game_keeps_a_slow_source_from_holding_up_the_finish() {
    let total = 8 * MIB;
    // Alone, the fast source needs 8 MiB / 100 kB per tick = 84 ticks.
    let (_, ticks, _) = simulate(total, &[100_000, 1_000], Default::default());
    assert!(ticks < 100, "took {ticks} ticks");
}

#[test]
fn a_source_twenty_times_slower_than_the_fastest_is_dropped() {
    // 10 ms ticks: pieces of 100 ms, a file of 3 s for the fast source alone.
    let config = SegmentConfig {
        target: Duration::from_millis(100),
        ..SegmentConfig::default()
    };
    let total = 30 * MIB;
    let (got, _, segments) = simulate(total, &[100_000, 4_000], config);
    assert_eq!(segments.dropped(1), Some(Dropped::Slow), "{got:?}");
    assert_eq!(segments.dropped(0), None);
    // Eight times slower is not dropped: it still helps.
    let (got, _, segments) = simulate(total, &[100_000, 12_500], config);
    assert_eq!(segments.dropped(1), None, "{got:?}");
    assert!(got[1] > total / 20, "{got:?}");
}

#[test]
fn a_failed_source_gives_its_range_back_and_is_dropped_after_max_failures() {
    let now = Instant::now();
    let mut segments = Segments::new(4 * MIB, 2, &[], SegmentConfig::default());
    let Assign::Fetch(a) = segments.poll_assign(0, now) else {
        panic!()
    };
    segments.handle_data(0, 1000, now);
    segments.handle_failed(0, Failure::Transient, now);
    // The rest of its range is the first handed out again.
    let Assign::Fetch(b) = segments.poll_assign(1, now) else {
        panic!()
    };
    assert_eq!(b.start, a.start + 1000);
    for _ in 0..2 {
        segments.poll_assign(0, now);
        segments.handle_failed(0, Failure::Transient, now);
    }
    assert_eq!(segments.poll_assign(0, now), Assign::Dropped);
    assert_eq!(segments.dropped(0), Some(Dropped::Failing));
    assert!(!segments.all_dropped());
}

#[test]
fn a_corrupt_source_loses_everything_it_wrote() {
    let now = Instant::now();
    let mut segments = Segments::new(4 * MIB, 2, &[], SegmentConfig::default());
    let Assign::Fetch(a) = segments.poll_assign(0, now) else {
        panic!()
    };
    let w = segments.handle_data(0, a.len(), now);
    assert!(w.complete);
    assert_eq!(segments.held(), a.len());
    segments.handle_failed(0, Failure::Corrupt, now);
    assert_eq!(segments.held(), 0);
    assert_eq!(segments.poll_assign(0, now), Assign::Dropped);
    let Assign::Fetch(b) = segments.poll_assign(1, now) else {
        panic!()
    };
    assert_eq!(b.start, 0);
}

#[test]
fn a_steal_cuts_the_victims_range_short() {
    let start = Instant::now();
    let config = SegmentConfig {
        min_piece: MIB,
        ..SegmentConfig::default()
    };
    let mut segments = Segments::new(MIB, 2, &[], config);
    // The first source takes it all (a remainder under two pieces is handed out whole).
    let Assign::Fetch(a) = segments.poll_assign(0, start) else {
        panic!()
    };
    assert_eq!(a, Span { start: 0, end: MIB });
    let later = start + Duration::from_secs(1);
    segments.handle_data(0, 1000, later);
    let Assign::Fetch(b) = segments.poll_assign(1, later) else {
        panic!()
    };
    assert_eq!(b.end, MIB);
    assert!(b.start > 1000);
    // The victim may write up to the stolen part only, then it is done.
    let w = segments.handle_data(0, MIB, later);
    assert_eq!((w.offset, w.keep, w.complete), (1000, b.start - 1000, true));
    segments.handle_data(1, b.len(), later);
    assert!(segments.is_complete());
    assert_eq!(segments.poll_assign(0, later), Assign::Complete);
}

#[test]
fn held_ranges_from_a_note_are_not_fetched_again() {
    let now = Instant::now();
    let held = [Span { start: 0, end: MIB }];
    let mut segments = Segments::new(2 * MIB, 1, &held, SegmentConfig::default());
    let Assign::Fetch(a) = segments.poll_assign(0, now) else {
        panic!()
    };
    assert_eq!(a.start, MIB);
    assert_eq!(a.range_value(), format!("bytes=1048576-{}", a.end - 1));
}
