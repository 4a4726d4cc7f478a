//! More live threads than slots: the threads beyond the table share the fallback slot and
//! nothing is lost. A binary of its own: it checks process-wide totals.

use std::alloc::System;
use std::hint::black_box;
use std::sync::{Arc, Barrier};

use perfkit_alloc::{Region, TrackingAllocator};

#[global_allocator]
static ALLOCATOR: TrackingAllocator<System> = TrackingAllocator::new(System);

const THREADS: usize = 300;

#[test]
fn threads_beyond_the_table_share_the_fallback_and_lose_nothing() {
    // All threads are spawned and alive before the measurement starts and stay alive until it
    // ends, so the region sees exactly their work (spawning and exiting allocate a varying
    // amount, which must stay outside).
    let started = Arc::new(Barrier::new(THREADS + 1));
    let measuring = Arc::new(Barrier::new(THREADS + 1));
    let worked = Arc::new(Barrier::new(THREADS + 1));
    let measured = Arc::new(Barrier::new(THREADS + 1));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let (started, measuring, worked, measured) = (
                Arc::clone(&started),
                Arc::clone(&measuring),
                Arc::clone(&worked),
                Arc::clone(&measured),
            );
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    started.wait();
                    measuring.wait();
                    let mut v = black_box(Vec::<u8>::with_capacity(100 + i));
                    v.reserve_exact(1000 + i); // a growing realloc
                    drop(black_box(v));
                    worked.wait();
                    // Exiting frees the thread's own state: not before the reading.
                    measured.wait();
                })
                .unwrap()
        })
        .collect();
    started.wait();
    let region = Region::new();
    measuring.wait();
    worked.wait();
    let change = region.change();
    let (used, fallback) = perfkit_alloc::slots_in_use();
    measured.wait();
    for h in handles {
        h.join().unwrap();
    }

    let threads = THREADS as u64;
    assert_eq!(change.allocs, threads, "{change:?}");
    assert_eq!(change.deallocs, threads, "{change:?}");
    assert_eq!(change.reallocs, threads, "{change:?}");
    let grown: u64 = (0..threads).map(|i| 1000 + i).sum();
    assert_eq!(change.allocated_bytes, grown, "{change:?}");
    assert_eq!(change.freed_bytes, grown, "{change:?}");
    assert_eq!(used, 256, "every slot is taken");
    assert!(
        fallback,
        "{THREADS} live threads must have used the shared fallback"
    );
}
