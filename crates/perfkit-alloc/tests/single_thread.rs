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
    drop((c, d));
    println!("single-thread peak exact: ok");
}
