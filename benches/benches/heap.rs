//! `heap_profile_overhead`: what heap profiling costs an allocation-heavy Rust workload
//! ([`perfkit_benches::heap_work::index_words`]), with the profiler installed as the global
//! allocator, as a user installs it.
//!
//! Contenders: `system` (the system allocator), `perfkit_counters` (perfkit-alloc's
//! `TrackingAllocator`, counting only), `perfkit_sampled_512k` (the same with sampled heap
//! profiling, one sample per 512 KiB on average) and `dhat` (dhat-rs's profiling allocator,
//! which records every allocation's call stack). One binary holds them all: its global
//! allocator hands each call to the contender being measured, and that hand-off is the same
//! for every contender. Each timed batch allocates and frees within itself, and everything
//! outside the batches goes to the system allocator.
//!
//! Run: `cargo bench -p perfkit-benches --bench heap`; targets in `benches/targets.toml`,
//! results in `docs/benchmarks.md`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use perfkit_alloc::TrackingAllocator;
use perfkit_alloc::sampling::{self, SamplingOptions};
use perfkit_benches::heap_work::index_words;

const SYSTEM: u8 = 0;
const TRACKING: u8 = 1;
const DHAT: u8 = 2;

/// Which allocator the global allocator calls.
static MODE: AtomicU8 = AtomicU8::new(SYSTEM);
static PERFKIT: TrackingAllocator<System> = TrackingAllocator::new(System);
static DHAT_ALLOC: dhat::Alloc = dhat::Alloc;

struct Switch;

// SAFETY: every call goes to one of three allocators that all hand out and take back the
// system allocator's blocks (perfkit's and dhat's wrap `System`), so a block allocated under
// one mode may be freed under another; each forwards the caller's arguments unchanged.
unsafe impl GlobalAlloc for Switch {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe {
            match MODE.load(Relaxed) {
                TRACKING => PERFKIT.alloc(layout),
                DHAT => DHAT_ALLOC.alloc(layout),
                _ => System.alloc(layout),
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe {
            match MODE.load(Relaxed) {
                TRACKING => PERFKIT.dealloc(ptr, layout),
                DHAT => DHAT_ALLOC.dealloc(ptr, layout),
                _ => System.dealloc(ptr, layout),
            }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `alloc`.
        unsafe {
            match MODE.load(Relaxed) {
                TRACKING => PERFKIT.realloc(ptr, layout, new_size),
                DHAT => DHAT_ALLOC.realloc(ptr, layout, new_size),
                _ => System.realloc(ptr, layout, new_size),
            }
        }
    }
}

#[global_allocator]
static GLOBAL: Switch = Switch;

/// The contenders: name, the allocator's mode, and whether perfkit samples.
const CONTENDERS: [(&str, u8, bool); 4] = [
    ("system", SYSTEM, false),
    ("perfkit_counters", TRACKING, false),
    ("perfkit_sampled_512k", TRACKING, true),
    ("dhat", DHAT, false),
];

/// `iters` runs of the workload under `mode`, timed.
fn timed(mode: u8, sampled: bool, iters: u64) -> Duration {
    if sampled {
        sampling::start(&SamplingOptions::default()).expect("a valid interval");
    } else {
        sampling::stop();
    }
    MODE.store(mode, Relaxed);
    let start = Instant::now();
    for i in 0..iters {
        std::hint::black_box(index_words(i));
    }
    let elapsed = start.elapsed();
    MODE.store(SYSTEM, Relaxed);
    sampling::stop();
    elapsed
}

fn heap_profile_overhead(c: &mut Criterion) {
    // dhat records only while a profiler lives; testing mode keeps it from writing a file.
    let _dhat = dhat::Profiler::builder().testing().build();
    // Untimed: the first seconds of a run are slower for everyone (CPU frequency, heap).
    let warm = Instant::now() + Duration::from_secs(2);
    while Instant::now() < warm {
        for (_, mode, sampled) in CONTENDERS {
            if mode != DHAT {
                timed(mode, sampled, 1);
            }
        }
    }
    let mut group = c.benchmark_group("heap_profile_overhead");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(10));
    for (name, mode, sampled) in CONTENDERS {
        group.bench_function(name, |b| b.iter_custom(|iters| timed(mode, sampled, iters)));
    }
    group.finish();
}

criterion_group!(benches, heap_profile_overhead);
criterion_main!(benches);
