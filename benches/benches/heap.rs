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

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use perfkit_benches::heap_work::{DHAT, SYSTEM, Switch, TRACKING, timed};

#[global_allocator]
static GLOBAL: Switch = Switch;

/// The contenders: name, the allocator's mode, and whether perfkit samples.
const CONTENDERS: [(&str, u8, bool); 4] = [
    ("system", SYSTEM, false),
    ("perfkit_counters", TRACKING, false),
    ("perfkit_sampled_512k", TRACKING, true),
    ("dhat", DHAT, false),
];

fn heap_profile_overhead(c: &mut Criterion) {
    // dhat records only while a profiler lives; testing mode keeps it from writing a file.
    let _dhat = dhat::Profiler::builder().testing().build();
    // Untimed: the first seconds of a run are slower for everyone (CPU frequency, heap).
    let warm = Instant::now() + Duration::from_secs(2);
    while Instant::now() < warm {
        for (_, mode, sampled) in CONTENDERS {
            if mode != DHAT {
                let _ = timed(mode, sampled, 1);
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
