//! The allocation-heavy workload of `heap_profile_overhead`: what a text-processing program
//! does to its heap, on an input fixed by a seed.
//!
//! One call builds an index of words (a `HashMap<String, Vec<u32>>` of positions), sorts the
//! distinct words into a `Vec<String>`, joins them into one `String`, and keeps records of
//! mixed sizes (16 B to 4 KiB) in a `BTreeMap` while dropping older ones: short-lived and
//! long-lived blocks, `realloc` growth, and about 2 MB allocated. Everything is freed before
//! it returns. [`Switch`] and [`timed`] run it under each contender.
//!
//! ```
//! let a = perfkit_benches::heap_work::index_words(7);
//! let b = perfkit_benches::heap_work::index_words(7);
//! assert_eq!(a, b);
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::time::{Duration, Instant};

use perfkit_alloc::TrackingAllocator;
use perfkit_alloc::sampling::{self, SamplingOptions};

/// Words of the input.
pub const WORDS: usize = 20_000;

/// Runs the workload once; returns a checksum of what it built.
#[must_use]
pub fn index_words(seed: u64) -> u64 {
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let mut index: HashMap<String, Vec<u32>> = HashMap::new();
    let mut records: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    for position in 0..WORDS as u32 {
        let len = 3 + (next() % 10) as usize;
        let word: String = (0..len)
            .map(|_| char::from(b'a' + (next() % 6) as u8))
            .collect();
        index.entry(word).or_default().push(position);
        let key = next();
        let size = 16usize << (next() % 9);
        records.insert(key, vec![position as u8; size]);
        if records.len() > 256 {
            records.pop_first();
        }
    }
    let mut words: Vec<String> = index.keys().cloned().collect();
    words.sort_unstable();
    let joined = words.join(" ");
    let checksum = joined.len() as u64
        + index.values().map(|v| v.len() as u64).sum::<u64>()
        + records.values().map(|r| r.len() as u64).sum::<u64>();
    black_box(checksum)
}

/// The system allocator.
pub const SYSTEM: u8 = 0;
/// perfkit-alloc's `TrackingAllocator` (sampling or not, as `sampling::start` left it).
pub const TRACKING: u8 = 1;
/// dhat-rs's profiling allocator (it records only while a `dhat::Profiler` lives).
pub const DHAT: u8 = 2;

/// Which allocator [`Switch`] calls.
static MODE: AtomicU8 = AtomicU8::new(SYSTEM);
static PERFKIT: TrackingAllocator<System> = TrackingAllocator::new(System);
static DHAT_ALLOC: dhat::Alloc = dhat::Alloc;

/// A global allocator that hands each call to the contender being measured, for the heap
/// benchmarks: install it with `#[global_allocator]`. The hand-off is the same for every
/// contender.
#[derive(Debug)]
pub struct Switch;

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

/// `iters` runs of [`index_words`] with [`Switch`] on `mode`, perfkit sampling every 512 KiB
/// when `sampled`, timed; the allocator is back on the system's before and after, so nothing
/// outside the runs (criterion's own bookkeeping) goes to a profiler.
///
/// # Panics
/// Never: the default sampling options are valid.
#[must_use]
pub fn timed(mode: u8, sampled: bool, iters: u64) -> Duration {
    if sampled {
        sampling::start(&SamplingOptions::default()).expect("a valid interval");
    } else {
        sampling::stop();
    }
    MODE.store(mode, Relaxed);
    let start = Instant::now();
    for i in 0..iters {
        black_box(index_words(i));
    }
    let elapsed = start.elapsed();
    MODE.store(SYSTEM, Relaxed);
    sampling::stop();
    elapsed
}
