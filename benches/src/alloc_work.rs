//! The allocator workloads, shared by the criterion benchmark (`benches/alloc.rs`) and the
//! paired check (`examples/alloc_paired.rs`). Each takes the allocator as a `GlobalAlloc`
//! instance: a process has one global allocator, so the contenders are called directly.

use std::alloc::{GlobalAlloc, Layout, System};

use perfkit_alloc::TrackingAllocator;
use stats_alloc::StatsAlloc;
use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The simplest tracking allocator: one global counter, `SeqCst`,
/// no `realloc` override (so a growing block is alloc + copy + free).
#[derive(Debug)]
pub struct GlobalSeqCst;

static SEED_ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to `System` unchanged; the counter is an atomic.
unsafe impl GlobalAlloc for GlobalSeqCst {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout guarantees are forwarded.
        let ret = unsafe { System.alloc(layout) };
        if !ret.is_null() {
            SEED_ALLOCATED.fetch_add(layout.size(), Ordering::SeqCst);
        }
        ret
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from `alloc` with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        SEED_ALLOCATED.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

/// The system allocator (no tracking): the baseline of every ratio.
pub static SYSTEM: System = System;
/// `perfkit_alloc::TrackingAllocator` over the system allocator.
pub static PERFKIT: TrackingAllocator<System> = TrackingAllocator::new(System);
/// The simplest tracker.
pub static GLOBAL_SEQCST: GlobalSeqCst = GlobalSeqCst;
/// The `stats_alloc` crate over the system allocator.
pub static STATS_ALLOC: StatsAlloc<System> = StatsAlloc::system();

/// The contenders' names, in the order [`with_contender!`](crate::with_contender) numbers
/// them (and criterion runs them: `perfkit` right after `system`, so that slow drift of a
/// shared machine moves the two compared most closely as little as possible).
pub const CONTENDERS: [&str; 4] = ["system", "perfkit", "global_seqcst", "stats_alloc"];

/// Runs `$body` with `$alloc` bound to contender number `$which` of [`CONTENDERS`]
/// (monomorphised per contender: no dynamic dispatch in the measured loop).
#[macro_export]
macro_rules! with_contender {
    ($which:expr, |$alloc:ident| $body:expr) => {
        match $which {
            0 => {
                let $alloc = &$crate::alloc_work::SYSTEM;
                $body
            }
            1 => {
                let $alloc = &$crate::alloc_work::PERFKIT;
                $body
            }
            2 => {
                let $alloc = &$crate::alloc_work::GLOBAL_SEQCST;
                $body
            }
            _ => {
                let $alloc = &$crate::alloc_work::STATS_ALLOC;
                $body
            }
        }
    };
}

const PAIR: Layout = match Layout::from_size_align(8, 8) {
    Ok(l) => l,
    Err(_) => panic!("valid layout"),
};

/// `iters` times one `Box<u64>`-sized allocation and its free.
pub fn pair<A: GlobalAlloc>(alloc: &A, iters: u64) {
    for _ in 0..iters {
        // SAFETY: a valid non-zero layout; the pointer is freed with it at once.
        unsafe {
            let p = alloc.alloc(PAIR);
            black_box(p);
            alloc.dealloc(p, PAIR);
        }
    }
}

/// Live blocks per `batch` iteration.
pub const BATCH: usize = 1000;

/// The `batch` workload's input: sizes of 16–128 B and a free order that is not the
/// allocation order (fixed seed).
#[derive(Debug)]
pub struct BatchPlan {
    layouts: Vec<Layout>,
    order: Vec<usize>,
}

impl BatchPlan {
    /// The fixed plan every contender runs.
    ///
    /// # Panics
    ///
    /// Never: every size in the plan is a valid layout.
    #[must_use]
    pub fn new() -> BatchPlan {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let layouts = (0..BATCH)
            .map(|_| {
                Layout::from_size_align(16 + (next() % 113) as usize, 8).expect("valid layout")
            })
            .collect();
        let mut order: Vec<usize> = (0..BATCH).collect();
        for i in (1..BATCH).rev() {
            order.swap(i, (next() % (i as u64 + 1)) as usize);
        }
        BatchPlan { layouts, order }
    }

    /// `iters` times: 1,000 live blocks, then freed out of order.
    pub fn run<A: GlobalAlloc>(&self, alloc: &A, iters: u64) {
        let mut blocks = vec![std::ptr::null_mut::<u8>(); BATCH];
        for _ in 0..iters {
            for (block, layout) in blocks.iter_mut().zip(&self.layouts) {
                // SAFETY: valid layouts; each block is freed below with its own layout.
                *block = unsafe { alloc.alloc(*layout) };
            }
            for &i in &self.order {
                // SAFETY: `blocks[i]` came from `alloc` with `layouts[i]`, freed once.
                unsafe { alloc.dealloc(blocks[i], self.layouts[i]) };
            }
        }
    }
}

impl Default for BatchPlan {
    fn default() -> Self {
        BatchPlan::new()
    }
}

/// `iters` times: 16 B doubled by `realloc` up to 64 KiB, then freed.
///
/// # Panics
///
/// Never: every size is a valid layout.
pub fn realloc_growth<A: GlobalAlloc>(alloc: &A, iters: u64) {
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

/// Runs `work(iters)` on two threads at once (released by a barrier) and returns the slower
/// thread's time.
///
/// # Panics
///
/// If `work` panics on either thread.
pub fn on_two_threads(iters: u64, work: &(dyn Fn(u64) + Sync)) -> Duration {
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
