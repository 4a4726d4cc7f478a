//! Exact process-wide totals after threads join. A binary of its own: no other test may
//! allocate while it measures the whole process.

use std::alloc::System;
use std::hint::black_box;

use perfkit_alloc::{Region, TrackingAllocator};

#[global_allocator]
static ALLOCATOR: TrackingAllocator<System> = TrackingAllocator::new(System);

/// Runs `threads` threads doing `work` and returns the process-wide change.
fn threads_change(threads: usize, work: fn(usize)) -> perfkit_alloc::AllocChange {
    let region = Region::new();
    let handles: Vec<_> = (0..threads)
        .map(|i| std::thread::spawn(move || work(i)))
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    region.change()
}

#[test]
fn totals_are_exact_after_threads_join() {
    // Spawning and joining allocates a little (thread handles); the same spawns with no work
    // measure that, so the difference is exactly the work's. This binary holds no other
    // test, so nothing else allocates meanwhile; the calibration runs before and after and
    // must agree.
    fn nothing(_: usize) {}
    fn work(i: usize) {
        let mut kept = Vec::new();
        for k in 0..100 {
            kept.push(black_box(vec![0u8; 1000 + i * 10 + k]));
        }
        drop(kept);
    }
    let expected_bytes: u64 = (0..8u64)
        .map(|i| (0..100u64).map(|k| 1000 + i * 10 + k).sum::<u64>())
        .sum();
    // The outer Vec grows by reallocs from 4 to 128 elements of 24 B (a Vec<u8>): 3072 B per
    // thread, accounted as growth.

    // The first spawns warm up lazily initialised runtime state.
    threads_change(8, nothing);
    let base = threads_change(8, nothing);
    let with = threads_change(8, work);
    let again = threads_change(8, nothing);
    assert_eq!(
        base, again,
        "spawning 8 threads allocated differently twice"
    );
    let allocs = with.allocs - base.allocs;
    let deallocs = with.deallocs - base.deallocs;
    assert_eq!(allocs, 8 * (100 + 1), "{with:?} vs {base:?}");
    assert_eq!(deallocs, allocs);
    let outer_vec_bytes = with.allocated_bytes - base.allocated_bytes - expected_bytes;
    assert_eq!(outer_vec_bytes, 8 * 128 * 24, "{with:?} vs {base:?}");
    assert_eq!(with.reallocs - base.reallocs, 8 * 5); // 4 → 8 → 16 → 32 → 64 → 128
    assert_eq!(with.net_bytes, base.net_bytes);
}
