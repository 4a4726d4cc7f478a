//! The multi-thread peak: a thread that freed what it had must not leave its bytes counted
//! while another thread allocates. A binary of its own: it reads the process-wide peak.

use std::alloc::System;
use std::hint::black_box;
use std::sync::mpsc;

use perfkit_alloc::TrackingAllocator;

#[global_allocator]
static ALLOCATOR: TrackingAllocator<System> = TrackingAllocator::new(System);

const BIG: u64 = 8 << 20;

#[test]
fn bytes_freed_on_one_thread_do_not_inflate_the_peak_of_another() {
    let (freed_tx, freed_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let first = std::thread::spawn(move || {
        drop(black_box(vec![0u8; BIG as usize]));
        freed_tx.send(()).unwrap();
        // Stay alive (and quiet) while the other thread allocates.
        done_rx.recv().unwrap();
    });
    freed_rx.recv().unwrap();
    let base = perfkit_alloc::stats().current_bytes;
    perfkit_alloc::reset_peak();
    std::thread::spawn(|| drop(black_box(vec![0u8; BIG as usize])))
        .join()
        .unwrap();
    let peak = perfkit_alloc::stats().peak_bytes;
    done_tx.send(()).unwrap();
    first.join().unwrap();
    // Within the documented bound (64 KiB per thread) plus the spawn's own allocations.
    let slack = 1 << 20;
    assert!(peak <= base + BIG + slack, "peak {peak}, base {base}");
    assert!(
        peak + 4 * 64 * 1024 >= base + BIG,
        "peak {peak}, base {base}"
    );
}
