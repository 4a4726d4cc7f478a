//! Tracking allocators against the system allocator they wrap, called through
//! `GlobalAlloc::alloc/dealloc/realloc` on an instance (a process has one global allocator, so
//! the benchmark calls the wrappers directly).
//!
//! Contenders: `system` (no tracking), `global_seqcst` (the simplest tracker: one global
//! `AtomicUsize` with `SeqCst`, no `realloc` override), `stats_alloc` (the crate), `perfkit`
//! (`perfkit_alloc::TrackingAllocator`). Run: `cargo bench -p perfkit-benches --bench alloc`
//! (or `cargo bench -p perfkit-benches -- alloc_`); targets in `docs/benchmarks.md`.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use perfkit_benches::alloc_work::{
    BatchPlan, CONTENDERS, GLOBAL_SEQCST, PERFKIT, STATS_ALLOC, SYSTEM, on_two_threads, pair,
    realloc_growth,
};
use perfkit_benches::with_contender;

/// The four contenders of a group, timed by `$body` with `$alloc` bound to each.
macro_rules! contenders {
    ($group:expr, |$alloc:ident, $iters:ident| $body:expr) => {{
        for (which, name) in CONTENDERS.iter().enumerate() {
            $group.bench_function(*name, |b| {
                b.iter_custom(|$iters| with_contender!(which, |$alloc| $body))
            });
        }
    }};
}

/// Untimed work before the first group: the first seconds of a run on this VM measured
/// every contender up to 1.5× slower (CPU frequency and heap warm-up), which would bias
/// whichever contender comes first.
fn warm_up_machine() {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        pair(&SYSTEM, 100_000);
        pair(&PERFKIT, 100_000);
        pair(&GLOBAL_SEQCST, 100_000);
        pair(&STATS_ALLOC, 100_000);
    }
}

fn alloc_pair_1t(c: &mut Criterion) {
    warm_up_machine();
    let mut group = c.benchmark_group("alloc_pair_1t");
    contenders!(group, |alloc, iters| {
        let start = Instant::now();
        pair(alloc, iters);
        start.elapsed()
    });
    group.finish();
}

/// Two-thread groups: the host moves this VM's two vCPUs between sibling hyperthreads and
/// separate cores within a second or two (samples of the same contender differ by up to
/// 1.5×), so they take many short samples over a longer window, which spreads those phases
/// evenly over the contenders.
fn two_thread_sampling(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
) {
    group.sample_size(100);
    group.measurement_time(Duration::from_secs(10));
}

fn alloc_pair_2t(c: &mut Criterion) {
    let mut group = c.benchmark_group("alloc_pair_2t");
    two_thread_sampling(&mut group);
    contenders!(group, |alloc, iters| on_two_threads(iters, &|n| pair(
        alloc, n
    )));
    group.finish();
}

fn alloc_batch_2t(c: &mut Criterion) {
    let plan = BatchPlan::new();
    let mut group = c.benchmark_group("alloc_batch_2t");
    two_thread_sampling(&mut group);
    contenders!(group, |alloc, iters| on_two_threads(iters, &|n| plan
        .run(alloc, n)));
    group.finish();
}

fn alloc_realloc_1t(c: &mut Criterion) {
    let mut group = c.benchmark_group("alloc_realloc_1t");
    contenders!(group, |alloc, iters| {
        let start = Instant::now();
        realloc_growth(alloc, iters);
        start.elapsed()
    });
    group.finish();
}

criterion_group!(
    benches,
    alloc_pair_1t,
    alloc_pair_2t,
    alloc_batch_2t,
    alloc_realloc_1t
);
criterion_main!(benches);
