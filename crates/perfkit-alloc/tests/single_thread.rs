//! A single-threaded program (no test harness threads): the peak is exact, and `reset_peak`
//! starts over.

use std::alloc::System;
use std::hint::black_box;

use perfkit_alloc::TrackingAllocator;

#[global_allocator]
static ALLOCATOR: TrackingAllocator<System> = TrackingAllocator::new(System);

fn main() {
    let base = perfkit_alloc::stats();
    let a = black_box(vec![0u8; 300_000]);
    let b = black_box(vec![0u8; 200_000]);
    drop(a);
    let c = black_box(vec![0u8; 100_000]);
    let stats = perfkit_alloc::stats();
    assert_eq!(stats.peak_bytes, base.current_bytes + 500_000, "{stats:?}");
    assert_eq!(stats.current_bytes, base.current_bytes + 300_000);
    assert_eq!(perfkit_alloc::slots_in_use(), (1, false));

    perfkit_alloc::reset_peak();
    assert_eq!(perfkit_alloc::stats().peak_bytes, stats.current_bytes);
    drop(b);
    let d = black_box(vec![0u8; 1000]);
    let after = perfkit_alloc::stats();
    assert_eq!(after.peak_bytes, stats.current_bytes, "{after:?}");
    // Growing past what was live at the reset sets a new peak.
    let grow = black_box(vec![0u8; 400_000]);
    let grown = perfkit_alloc::stats();
    assert_eq!(grown.current_bytes, after.current_bytes + 400_000);
    assert_eq!(grown.peak_bytes, grown.current_bytes, "{grown:?}");
    // Counting sizes routes every allocation through the cold path: the peak stays exact.
    perfkit_alloc::set_size_histogram(true);
    let counted = black_box(vec![0u8; 50_000]);
    perfkit_alloc::set_size_histogram(false);
    assert_eq!(
        perfkit_alloc::stats().peak_bytes,
        grown.current_bytes + 50_000
    );
    // A reset while the thread is below its old peak: a small rise and fall after it is the
    // new peak (the owner's fast path must notice the reset).
    drop(black_box(vec![0u8; 30_000]));
    perfkit_alloc::reset_peak();
    let at_reset = perfkit_alloc::stats().current_bytes;
    drop(black_box(vec![0u8; 1000]));
    assert_eq!(perfkit_alloc::stats().peak_bytes, at_reset + 1000);
    drop((c, d, grow, counted));
    println!("single-thread peak exact: ok");
}
