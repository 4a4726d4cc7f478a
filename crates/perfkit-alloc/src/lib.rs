//! A tracking global allocator cheap enough to leave on in production.
//!
//! [`TrackingAllocator`] wraps any [`GlobalAlloc`] (the system allocator by default, or
//! jemalloc, mimalloc, …) and counts what passes through it: bytes live now and at the peak,
//! bytes allocated and freed in total, and the number of `alloc`, `dealloc` and `realloc` calls.
//!
//! # Install it
//!
//! ```
//! use std::alloc::System;
//! use perfkit_alloc::TrackingAllocator;
//!
//! #[global_allocator]
//! static ALLOCATOR: TrackingAllocator<System> = TrackingAllocator::new(System);
//!
//! fn main() {
//!     let data = vec![0u8; 1 << 20];
//!     let stats = perfkit_alloc::stats();
//!     assert!(stats.current_bytes >= 1 << 20);
//!     println!("live {} B, peak {} B, {} allocations", stats.current_bytes,
//!              stats.peak_bytes, stats.allocs);
//!     drop(data);
//!
//!     // What one piece of code allocated, on this thread:
//!     let (text, used) = perfkit_alloc::measure(|| "x".repeat(1000));
//!     assert_eq!(used.allocated_bytes, 1000);
//!     assert_eq!(used.current_bytes, 1000); // still alive in `text`
//!     drop(text);
//! }
//! ```
//!
//! # Why it is cheap
//!
//! A naive tracker adds to one global `AtomicUsize` with `SeqCst` on every call: every
//! thread fights over one cache line, which costs many times the allocation itself from two
//! threads on (docs/benchmarks.md, "Tracking allocators").
//! Here every thread owns a slot of counters on cache lines of its own and updates them with
//! a plain relaxed load and store (no locked instruction); readers sum the slots. Slots of
//! exited threads are reused (their counts stay); threads beyond the table (256 live ones) and
//! code running after a thread's thread-locals are gone share one fallback slot updated with
//! atomic read-modify-writes. `realloc` is forwarded to the inner allocator (no alloc + copy +
//! free) and accounted once, `new − old`, only on success; a failed allocation counts nothing.
//! Nothing inside the allocator allocates, locks or panics.
//!
//! # What a reading guarantees
//!
//! [`stats`] sums relaxed per-thread counters: it is not an atomic snapshot. Each counter is
//! exact and monotonic, but while other threads allocate, the sum mixes moments (a free on
//! another thread can be seen before its allocation); `current_bytes` is clamped at 0. Once
//! the threads that allocated are quiet (joined, or between phases), the sums are exact.
//!
//! # What it costs
//!
//! It is compared with the system allocator it wraps and with the single-counter trackers
//! (`stats_alloc`, one global `SeqCst` counter) on small allocations, out-of-order frees and
//! `realloc` growth, from one and two threads: `benches/benches/alloc.rs` and
//! `cargo run --release -p perfkit-benches --example alloc_paired`, whose figures are in
//! docs/benchmarks.md ("Tracking allocators").
//!
//! Single-threaded, an uncontended locked add to a static is nearly free, so the
//! single-counter trackers cost a little less than perfkit's thread-local slot; from two
//! threads on, the shared counter's cache line moves between cores on every call, and they
//! cost several times what perfkit does.
//!
//! # The peak
//!
//! The **peak** is exact when only one thread has ever allocated. With several threads each
//! thread's change of live bytes reaches a global figure in steps of 64 KiB, so the reported
//! peak is within `threads × 64 KiB` of the true one. An exact global peak would need one
//! shared read-modify-write per call, which from two threads on costs many times the
//! allocation and defeats the purpose; it is not offered.

//!
//! # Where the memory goes
//!
//! With the `sampling` feature (on by default), [`sampling::start`] also samples allocations
//! by bytes and records the call stacks of the sampled ones: per call stack, estimated bytes
//! and blocks allocated, freed, live now and at the peak, and how long blocks lived
//! ([`HeapProfile`]). Allocations that hold no sample point cost one more compare. The
//! [`hooks`] are the same counting and sampling for allocators that are not a `GlobalAlloc`
//! wrapper (perfkit's preloaded `malloc` shim).

use std::alloc::{GlobalAlloc, Layout, System};

use serde::{Deserialize, Serialize};

pub mod hooks;
pub mod profile;
#[cfg(feature = "sampling")]
pub mod sampling;
mod slots;

pub use profile::{HeapFrame, HeapProfile, HeapSite};

use slots::Counts;

/// A global allocator that counts what passes through it to `inner`.
///
/// The counters are process-wide (there is one global allocator per process): every instance
/// adds to the same figures.
#[derive(Debug, Default)]
pub struct TrackingAllocator<A = System> {
    inner: A,
}

impl<A> TrackingAllocator<A> {
    /// Wraps `inner`. `const`, so it can initialise a `#[global_allocator] static`.
    pub const fn new(inner: A) -> Self {
        TrackingAllocator { inner }
    }

    /// The wrapped allocator.
    pub const fn inner(&self) -> &A {
        &self.inner
    }
}

// SAFETY: every method forwards to `inner` with the caller's arguments unchanged and returns
// its result unchanged; the counting (and sampling) around it touches only atomics,
// const thread-locals and tables reserved up front, and cannot allocate, unwind or fail.
unsafe impl<A: GlobalAlloc> GlobalAlloc for TrackingAllocator<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees (non-zero size layout).
        let ptr = unsafe { self.inner.alloc(layout) };
        if !ptr.is_null() {
            hooks::allocated(ptr, layout.size());
        }
        ptr
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { self.inner.alloc_zeroed(layout) };
        if !ptr.is_null() {
            hooks::allocated(ptr, layout.size());
        }
        ptr
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        hooks::freeing(ptr, layout.size());
        // SAFETY: the caller guarantees `ptr` came from this allocator with `layout`.
        unsafe { self.inner.dealloc(ptr, layout) };
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let token = hooks::realloc_begin(ptr);
        // SAFETY: forwarded with the caller's guarantees about `ptr`, `layout`, `new_size`.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        hooks::realloc_end(token, ptr, new, layout.size(), new_size);
        new
    }
}

/// What the allocator has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocStats {
    /// Bytes allocated and not yet freed (requested sizes, not the allocator's overhead).
    pub current_bytes: u64,
    /// The most `current_bytes` has been since start or [`reset_peak`] (see the crate docs for
    /// its precision with several threads).
    pub peak_bytes: u64,
    /// Bytes allocated in total (`alloc`, `alloc_zeroed`, and the growth of `realloc`).
    pub allocated_bytes: u64,
    /// Bytes freed in total (`dealloc`, and the shrinking of `realloc`).
    pub freed_bytes: u64,
    /// Successful `alloc` and `alloc_zeroed` calls.
    pub allocs: u64,
    /// `dealloc` calls.
    pub deallocs: u64,
    /// Successful `realloc` calls.
    pub reallocs: u64,
}

impl AllocStats {
    /// `allocated_bytes − freed_bytes`, which may be negative for a region or thread that
    /// freed more than it allocated.
    #[must_use]
    pub fn net_bytes(&self) -> i64 {
        self.allocated_bytes
            .wrapping_sub(self.freed_bytes)
            .cast_signed()
    }
}

/// The whole process's counts (the sum of every thread's slot; see the crate docs for what a
/// sum of relaxed counters guarantees). All zero when no [`TrackingAllocator`] is installed.
#[must_use]
pub fn stats() -> AllocStats {
    let counts = Counts::total();
    let current = counts.net().max(0);
    let peak = slots::single_thread_peak().unwrap_or_else(|| {
        slots::GLOBAL_PEAK
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(current)
    });
    to_stats(counts, current, peak.max(current))
}

fn to_stats(counts: Counts, current: i64, peak: i64) -> AllocStats {
    AllocStats {
        current_bytes: current.max(0) as u64,
        peak_bytes: peak.max(0) as u64,
        allocated_bytes: counts.allocated,
        freed_bytes: counts.freed,
        allocs: counts.allocs,
        deallocs: counts.deallocs,
        reallocs: counts.reallocs,
    }
}

/// Bytes allocated and not yet freed, process-wide.
#[must_use]
pub fn current_memory_usage() -> usize {
    usize::try_from(stats().current_bytes).unwrap_or(usize::MAX)
}

/// Starts a new peak measurement: from now on `peak_bytes` is the most that is live at once
/// after this call.
pub fn reset_peak() {
    use std::sync::atomic::Ordering::Relaxed;
    slots::RESET_NET.store(Counts::total().net(), Relaxed);
    slots::PEAK_EPOCH.fetch_add(1, Relaxed);
    slots::clear_slot_peaks();
    slots::GLOBAL_PEAK.store(slots::GLOBAL_NET.load(Relaxed), Relaxed);
    #[cfg(feature = "sampling")]
    sampling::peak_reset();
}

/// How many thread slots hold counts (threads that allocated; slots of exited threads count
/// until reused), and whether any thread had to use the shared fallback.
#[must_use]
pub fn slots_in_use() -> (usize, bool) {
    slots::slots_in_use()
}

/// The change between two readings of the whole process: start one with [`Region::new`].
///
/// ```
/// let region = perfkit_alloc::Region::new();
/// let v: Vec<u64> = Vec::with_capacity(100);
/// let change = region.change();
/// // Without the allocator installed as #[global_allocator] everything is 0.
/// assert!(change.allocated_bytes == 0 || change.allocated_bytes >= 800);
/// drop(v);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Region {
    start: Counts,
}

/// What happened between [`Region::new`] and [`Region::change`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocChange {
    /// Bytes allocated in between.
    pub allocated_bytes: u64,
    /// Bytes freed in between.
    pub freed_bytes: u64,
    /// `allocated_bytes − freed_bytes`: how much more is live now.
    pub net_bytes: i64,
    /// `alloc`/`alloc_zeroed` calls.
    pub allocs: u64,
    /// `dealloc` calls.
    pub deallocs: u64,
    /// `realloc` calls.
    pub reallocs: u64,
}

impl Region {
    /// Starts a region (reads the process's counts).
    #[must_use]
    pub fn new() -> Region {
        Region {
            start: Counts::total(),
        }
    }

    /// The change since [`Region::new`], for the whole process.
    #[must_use]
    pub fn change(&self) -> AllocChange {
        let now = Counts::total();
        change(self.start, now)
    }
}

impl Default for Region {
    fn default() -> Self {
        Region::new()
    }
}

fn change(start: Counts, end: Counts) -> AllocChange {
    let allocated = end.allocated.wrapping_sub(start.allocated);
    let freed = end.freed.wrapping_sub(start.freed);
    AllocChange {
        allocated_bytes: allocated,
        freed_bytes: freed,
        net_bytes: allocated.wrapping_sub(freed).cast_signed(),
        allocs: end.allocs.wrapping_sub(start.allocs),
        deallocs: end.deallocs.wrapping_sub(start.deallocs),
        reallocs: end.reallocs.wrapping_sub(start.reallocs),
    }
}

/// Runs `f` and returns what it allocated **on the calling thread**: totals and counts,
/// `current_bytes` = bytes it left live (`net_bytes` clamped at 0) and `peak_bytes` = the most
/// it had live at once. Allocations of other threads are not included. Exact while the thread
/// owns a slot (the first 256 live threads); beyond that it falls back to process-wide counts.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, AllocStats) {
    use std::sync::atomic::Ordering::Relaxed;
    let Some(slot) = slots::own_slot() else {
        let start = Counts::total();
        let value = f();
        let c = change(start, Counts::total());
        let live = c.net_bytes.max(0);
        return (value, to_change_stats(c, live, live));
    };
    let start = Counts::of(slot);
    // The slot's peak is this thread's: borrow it for the closure and restore it afterwards
    // (unless `reset_peak` ran meanwhile).
    let saved_peak = slot.peak.load(Relaxed);
    let saved_epoch = slots::PEAK_EPOCH.load(Relaxed);
    let start_net = slot.net();
    slot.set_peak(start_net);
    let value = f();
    let end = Counts::of(slot);
    let closure_peak = slot.peak.load(Relaxed).wrapping_sub(start_net);
    if slots::PEAK_EPOCH.load(Relaxed) == saved_epoch {
        slot.set_peak(saved_peak.max(slot.peak.load(Relaxed)));
    }
    let c = change(start, end);
    (value, to_change_stats(c, c.net_bytes.max(0), closure_peak))
}

fn to_change_stats(c: AllocChange, current: i64, peak: i64) -> AllocStats {
    AllocStats {
        current_bytes: current.max(0) as u64,
        peak_bytes: peak.max(current).max(0) as u64,
        allocated_bytes: c.allocated_bytes,
        freed_bytes: c.freed_bytes,
        allocs: c.allocs,
        deallocs: c.deallocs,
        reallocs: c.reallocs,
    }
}

/// Allocation sizes in log2 classes: `counts[k]` is the number of allocations (and
/// `alloc_zeroed`s) of a size in `[2^(k-1), 2^k)`; `counts[0]` is size 0. Counted only while
/// enabled with [`set_size_histogram`] (off by default; costs one more counter per allocation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeHistogram {
    /// Allocations per class (65 classes).
    pub counts: Vec<u64>,
}

impl SizeHistogram {
    /// The class of an allocation of `size` bytes.
    ///
    /// ```
    /// use perfkit_alloc::SizeHistogram;
    /// assert_eq!(SizeHistogram::class_of(0), 0);
    /// assert_eq!(SizeHistogram::class_of(1), 1);
    /// assert_eq!(SizeHistogram::class_of(8), 4);
    /// assert_eq!(SizeHistogram::class_of(4096), 13);
    /// ```
    #[must_use]
    pub fn class_of(size: u64) -> usize {
        slots::size_class(size)
    }

    /// The smallest size of class `k`.
    #[must_use]
    pub fn class_start(k: usize) -> u64 {
        if k == 0 { 0 } else { 1u64 << (k - 1).min(63) }
    }
}

/// Turns the allocation-size histogram on or off (process-wide).
pub fn set_size_histogram(enabled: bool) {
    slots::set_size_histogram(enabled);
}

/// The process's allocation-size histogram (all zero unless [`set_size_histogram`] was on).
#[must_use]
pub fn size_histogram() -> SizeHistogram {
    use std::sync::atomic::Ordering::Relaxed;
    let mut counts = vec![0u64; slots::SIZE_CLASSES];
    let high = slots::HIGH_WATER.load(Relaxed).min(slots::SLOTS);
    for slot in slots::TABLE[..high]
        .iter()
        .chain(std::iter::once(&slots::FALLBACK))
    {
        for (sum, c) in counts.iter_mut().zip(&slot.sizes) {
            *sum += c.load(Relaxed);
        }
    }
    SizeHistogram { counts }
}
