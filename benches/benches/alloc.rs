//! Tracking allocators against the system allocator they wrap, called through
//! `GlobalAlloc::alloc/dealloc/realloc` on an instance (a process has one global allocator, so
//! the benchmark calls the wrappers directly).
//!
//! Contenders: `system` (no tracking), `seed_seqcst` (the original text's tracker: one global
//! `AtomicUsize` with `SeqCst`, no `realloc` override), `stats_alloc` (the crate), `perfkit`
//! (`perfkit_alloc::TrackingAllocator`). Run: `cargo bench -p perfkit-benches --bench alloc`
//! (or `cargo bench -p perfkit-benches -- alloc_`); targets in `docs/benchmarks.md`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use perfkit_alloc::TrackingAllocator;
use stats_alloc::StatsAlloc;

/// The original text's `TrackingAllocator`, as written there.
struct SeedSeqCst;

static SEED_ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to `System` unchanged; the counter is an atomic.
unsafe impl GlobalAlloc for SeedSeqCst {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout guarantees are forwarded.
        let ret = unsafe { System.alloc(layout) };
        if !ret.is_null() {
            SEED_ALLOCATED.fetch_add(layout.size(), Ordering::SeqCst);
        }
        ret
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from `alloc` with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        SEED_ALLOCATED.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

static SYSTEM: System = System;
static SEED: SeedSeqCst = SeedSeqCst;
static STATS_ALLOC: StatsAlloc<System> = StatsAlloc::system();
static PERFKIT: TrackingAllocator<System> = TrackingAllocator::new(System);

const PAIR: Layout = match Layout::from_size_align(8, 8) {
    Ok(l) => l,
    Err(_) => panic!("valid layout"),
};

/// One `Box<u64>`-sized allocation and its free.
fn pair<A: GlobalAlloc>(alloc: &A, iters: u64) {
    for _ in 0..iters {
        // SAFETY: a valid non-zero layout; the pointer is freed with it at once.
        unsafe {
            let p = alloc.alloc(PAIR);
            black_box(p);
            alloc.dealloc(p, PAIR);
        }
    }
}

const BATCH: usize = 1000;

/// Sizes of 16–128 B and a free order that is not the allocation order (fixed seed).
fn batch_plan() -> (Vec<Layout>, Vec<usize>) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let layouts = (0..BATCH)
        .map(|_| Layout::from_size_align(16 + (next() % 113) as usize, 8).expect("valid layout"))
        .collect();
    let mut order: Vec<usize> = (0..BATCH).collect();
    for i in (1..BATCH).rev() {
        order.swap(i, (next() % (i as u64 + 1)) as usize);
    }
    (layouts, order)
}

/// 1,000 live blocks, then freed out of order.
fn batch<A: GlobalAlloc>(alloc: &A, iters: u64, layouts: &[Layout], order: &[usize]) {
    let mut blocks = vec![std::ptr::null_mut::<u8>(); BATCH];
    for _ in 0..iters {
        for (block, layout) in blocks.iter_mut().zip(layouts) {
            // SAFETY: valid layouts; each block is freed below with its own layout.
            *block = unsafe { alloc.alloc(*layout) };
        }
        for &i in order {
            // SAFETY: `blocks[i]` came from `alloc` with `layouts[i]`, freed once.
            unsafe { alloc.dealloc(blocks[i], layouts[i]) };
        }
    }
}

/// 16 B doubled by `realloc` up to 64 KiB, then freed.
fn realloc_growth<A: GlobalAlloc>(alloc: &A, iters: u64) {
    for _ in 0..iters {
        let mut layout = Layout::from_size_align(16, 8).expect("valid layout");
        // SAFETY: valid layouts; every realloc passes the block's current layout, and the
        // final block is freed with its final layout.
        unsafe {
            let mut p = alloc.alloc(layout);
            while layout.size() < 64 * 1024 {
                let new_size = layout.size() * 2;
                p = alloc.realloc(p, layout, new_size);
                layout = Layout::from_size_align(new_size, 8).expect("valid layout");
                black_box(p);
            }
            alloc.dealloc(p, layout);
        }
    }
}

/// Runs `work(iters)` on two threads at once and returns the slower thread's time.
fn on_two_threads(iters: u64, work: &(dyn Fn(u64) + Sync)) -> Duration {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let start = Instant::now();
                    work(iters);
                    start.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("benchmark thread"))
            .max()
            .unwrap_or_default()
    })
}

/// The four contenders of a group; `perfkit` right after `system`, so that slow drift of a
/// shared machine moves the two compared most closely as little as possible.
macro_rules! contenders {
    ($group:expr, |$alloc:ident, $iters:ident| $body:expr) => {{
        $group.bench_function("system", |b| {
            b.iter_custom(|$iters| {
                let $alloc = &SYSTEM;
                $body
            })
        });
        $group.bench_function("perfkit", |b| {
            b.iter_custom(|$iters| {
                let $alloc = &PERFKIT;
                $body
            })
        });
        $group.bench_function("seed_seqcst", |b| {
            b.iter_custom(|$iters| {
                let $alloc = &SEED;
                $body
            })
        });
        $group.bench_function("stats_alloc", |b| {
            b.iter_custom(|$iters| {
                let $alloc = &STATS_ALLOC;
                $body
            })
        });
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
        pair(&SEED, 100_000);
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
    let (layouts, order) = batch_plan();
    let mut group = c.benchmark_group("alloc_batch_2t");
    two_thread_sampling(&mut group);
    contenders!(group, |alloc, iters| on_two_threads(iters, &|n| batch(
        alloc, n, &layouts, &order
    )));
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
