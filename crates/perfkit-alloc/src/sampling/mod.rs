//! Sampled heap profiling: where the memory goes, by call stack, at a cost low enough to
//! leave on.
//!
//! Sampling is by bytes, as jemalloc and tcmalloc do it: every thread draws the number of
//! bytes until its next sample from an exponential distribution (mean [`SamplingOptions::
//! interval`], 512 KiB by default), so sample points fall on the bytes allocated as a Poisson
//! process. An allocation that holds a sample point records its call stack, its size and when
//! it was made; a block of `s` bytes is sampled with probability `p = 1 - exp(-s / interval)`
//! and stands for `1 / p` blocks. Most allocations only subtract their size from the
//! thread's countdown.
//!
//! The sampled block's address is its token: freeing it finds the record (a small counting
//! filter spares other frees the look), which then counts as freed, with its lifetime.
//! When the process's live bytes reach a new peak (the allocator's exact counters say when),
//! what the sampled blocks add up to per site is kept as the site's share of the peak.
//!
//! Nothing here allocates inside the allocator: call stacks are unwound into a buffer on the
//! stack (the unwinder reads the binary's unwind tables, so no frame pointers are needed),
//! and stacks and blocks go into tables reserved up front. A thread that is already inside the
//! sampler (the unwinder, or [`profile`] itself) is never sampled again. Frees and reallocs
//! of sampled blocks and new samples take one spin lock; `fork` takes it around the fork.
//!
//! ```
//! use std::alloc::System;
//! use perfkit_alloc::{TrackingAllocator, sampling};
//!
//! #[global_allocator]
//! static ALLOCATOR: TrackingAllocator<System> = TrackingAllocator::new(System);
//!
//! fn main() {
//!     sampling::start(&sampling::SamplingOptions::default()).unwrap();
//!     let kept: Vec<Vec<u8>> = (0..64).map(|_| vec![1u8; 64 * 1024]).collect();
//!     let profile = sampling::profile();
//!     for site in profile.top_by(|s| s.live_bytes, 3) {
//!         println!("{:>10.0} B live  {}", site.live_bytes, site.function());
//!     }
//!     drop(kept);
//!     sampling::stop();
//! }
//! ```

mod stack;
pub(crate) mod store;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};

use crate::profile::{HeapProfile, HeapSite};
use store::{Record, STORE};

/// The default mean sampling interval: 512 KiB allocated per sample.
pub const DEFAULT_INTERVAL: u64 = 512 * 1024;

/// How to sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamplingOptions {
    /// Mean bytes allocated between samples. 1 samples every allocation.
    pub interval: u64,
    /// Random seed of the intervals' draws: the same one gives the same samples for the same
    /// single-threaded run.
    pub seed: u64,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        SamplingOptions {
            interval: DEFAULT_INTERVAL,
            seed: 0x5eed,
        }
    }
}

/// Why sampling cannot start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SamplingError {
    /// An interval of 0 bytes.
    #[error("the sampling interval must be at least 1 byte")]
    ZeroInterval,
}

/// The running session's number (0: not sampling). Each `start` takes a new one, so that
/// threads re-seed their draws lazily.
static SESSION: AtomicU64 = AtomicU64::new(0);
static SESSIONS: AtomicU64 = AtomicU64::new(0);
static INTERVAL: AtomicU64 = AtomicU64::new(DEFAULT_INTERVAL);
static SEED: AtomicU64 = AtomicU64::new(0);
static SHARED_RNG: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds (monotonic clock) when the session started.
static STARTED_NS: AtomicU64 = AtomicU64::new(0);
/// Set when the process's live bytes reached a new peak since the sampler last looked.
static PEAK_PENDING: AtomicBool = AtomicBool::new(false);
static FORK_HANDLERS: std::sync::Once = std::sync::Once::new();

thread_local! {
    /// Set while this thread is inside the sampler: allocations it makes then are counted but
    /// never sampled.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// Starts sampling (again: a new session forgets the previous one's sites and samples).
///
/// # Errors
/// [`SamplingError::ZeroInterval`].
pub fn start(options: &SamplingOptions) -> Result<(), SamplingError> {
    if options.interval == 0 {
        return Err(SamplingError::ZeroInterval);
    }
    register_fork_handlers();
    let _inside = Inside::enter();
    {
        let mut store = STORE.lock();
        INTERVAL.store(options.interval, SeqCst);
        SEED.store(options.seed, SeqCst);
        SHARED_RNG.store(splitmix(options.seed ^ 0xfa11_bac4), SeqCst);
        STARTED_NS.store(now_ns(), SeqCst);
        PEAK_PENDING.store(false, SeqCst);
        PEAK_SEEN.store(i64::MIN, SeqCst);
        let session = SESSIONS.fetch_add(1, SeqCst) + 1;
        store.clear(options.interval, session);
        SESSION.store(session, SeqCst);
    }
    crate::slots::arm_sampling(true);
    Ok(())
}

/// Stops taking new samples. Sampled blocks freed later still count as freed, and
/// [`profile`] still answers.
pub fn stop() {
    SESSION.store(0, SeqCst);
    crate::slots::arm_sampling(false);
}

/// Whether sampling is on.
#[must_use]
pub fn is_sampling() -> bool {
    session() != 0
}

/// The current session, 0 when off.
#[inline]
pub(crate) fn session() -> u64 {
    SESSION.load(SeqCst)
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The random state of thread slot `index`: from the random seed alone, so that a
/// single-threaded program samples the same allocations each run.
pub(crate) fn seed_for(index: u64) -> u64 {
    splitmix(SEED.load(Relaxed) ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03)).max(1)
}

/// An exponential interval of mean [`INTERVAL`] from `state`; returns it and the next state.
pub(crate) fn draw(state: u64) -> (u64, u64) {
    // xorshift64*: fast and good enough for intervals.
    let mut x = state.max(1);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    let random = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
    (interval_from(random), x)
}

/// [`draw`] for threads sharing the fallback slot.
pub(crate) fn shared_draw() -> u64 {
    let random = splitmix(SHARED_RNG.fetch_add(0x9E37_79B9_7F4A_7C15, Relaxed));
    interval_from(random)
}

fn interval_from(random: u64) -> u64 {
    let interval = INTERVAL.load(Relaxed);
    if interval <= 1 {
        return 1;
    }
    // u in (0, 1]: 53 random bits, never 0, so the logarithm is finite.
    let u = ((random >> 11) + 1) as f64 / (1u64 << 53) as f64;
    let bytes = -u.ln() * interval as f64;
    (bytes.ceil() as u64).max(1)
}

fn now_ns() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec to write; the monotonic clock always exists.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
        (ts.tv_sec as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(ts.tv_nsec as u64)
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

/// Marks this thread as inside the sampler for as long as it lives; `None` when it already
/// was (or its thread-locals are gone), and the caller must then not sample.
struct Inside;

impl Inside {
    fn enter() -> Option<Inside> {
        INSIDE
            .try_with(|inside| (!inside.replace(true)).then_some(Inside))
            .ok()
            .flatten()
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        let _ = INSIDE.try_with(|inside| inside.set(false));
    }
}

/// The highest live bytes the counters have reported to the sampler this session.
static PEAK_SEEN: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(i64::MIN);
/// When the peak pending a snapshot came, in nanoseconds since the session started.
static PEAK_AT_NS: AtomicU64 = AtomicU64::new(0);

/// The process's live bytes reached `live`, a new peak for the counters (called from their
/// cold path). Only a value above every earlier one is the process's peak: `measure` and
/// `reset_peak` lower the counters' own peaks, and their new highs below it are not.
pub(crate) fn peak_moved(live: i64) {
    if session() == 0 || live <= PEAK_SEEN.load(Relaxed) {
        return;
    }
    if PEAK_SEEN.fetch_max(live, Relaxed) < live && !PEAK_PENDING.load(Relaxed) {
        // The first new high since the sampler last looked: its time stands for the peak's
        // (later highs before the next sampled event are within one sampling interval).
        PEAK_AT_NS.store(now_ns().saturating_sub(STARTED_NS.load(Relaxed)), Relaxed);
        PEAK_PENDING.store(true, Relaxed);
    }
}

/// [`crate::reset_peak`]: the heap profile's peak is measured afresh from now on.
pub(crate) fn peak_reset() {
    PEAK_SEEN.store(i64::MIN, Relaxed);
}

/// Before the sampled tables change: if a peak came since the last change, the live figures
/// now are those of the peak (nothing sampled has changed since).
fn settle_peak(store: &mut store::Store) {
    if PEAK_PENDING.swap(false, Relaxed) {
        let exact = PEAK_SEEN.load(Relaxed).max(0) as u64;
        store.snapshot_peak(exact, PEAK_AT_NS.load(Relaxed));
    }
}

/// An allocation of `size` bytes at `ptr` held a sample point. Never inlined: its frame is
/// where a sample's call stack is cut ([`stack::capture`]).
#[cold]
#[inline(never)]
pub(crate) fn sampled_alloc(ptr: *mut u8, size: u64) {
    let Some(_inside) = Inside::enter() else {
        return;
    };
    let mark = 0u8;
    let mut frames = [0usize; store::MAX_FRAMES];
    let depth = stack::capture(&mut frames, std::hint::black_box(&raw const mark) as usize);
    let now = now_ns();
    let mut store = STORE.lock();
    settle_peak(&mut store);
    store.insert(ptr as usize, size, &frames[..depth], now);
}

/// `ptr` is about to be freed.
#[inline]
pub(crate) fn freeing(ptr: *mut u8) {
    if store::may_be_sampled(ptr as usize) {
        forget(ptr as usize);
    }
}

#[cold]
#[inline(never)]
fn forget(ptr: usize) {
    let now = now_ns();
    let mut store = STORE.lock();
    if store.live_records() == 0 {
        return;
    }
    settle_peak(&mut store);
    if let Some(record) = store.take(ptr) {
        store.freed(&record, now);
    }
}

/// What a `realloc` carries from before the call to after it: the record of a sampled block,
/// out of the table while the block may be moved and its address reused.
#[derive(Debug)]
pub struct ReallocToken(Option<Record>);

/// `ptr` is about to be passed to `realloc`.
#[inline]
pub(crate) fn realloc_begin(ptr: *mut u8) -> ReallocToken {
    if store::may_be_sampled(ptr as usize) {
        take(ptr as usize)
    } else {
        ReallocToken(None)
    }
}

#[cold]
#[inline(never)]
fn take(ptr: usize) -> ReallocToken {
    let mut store = STORE.lock();
    settle_peak(&mut store);
    ReallocToken(store.take(ptr))
}

/// `realloc` returned `new` (null: failed, the block stayed where it was) for a block grown or
/// shrunk to `new_size` bytes; `sampled` says whether the new block held a sample point.
///
/// A `realloc` counts as a free of the old block and an allocation of the new one, as in
/// jemalloc: the new block is sampled with the chance its whole size gives, at the stack of the
/// `realloc`, so every site's figures stay unbiased.
pub(crate) fn realloc_end(token: ReallocToken, new: *mut u8, new_size: u64, sampled: bool) {
    if token.0.is_none() && !sampled {
        return;
    }
    realloc_cold(token, new, new_size, sampled);
}

#[cold]
#[inline(never)]
#[allow(clippy::needless_pass_by_value)] // The token is spent here, as its type says.
fn realloc_cold(token: ReallocToken, new: *mut u8, new_size: u64, sampled: bool) {
    if new.is_null() {
        if let Some(record) = token.0 {
            STORE.lock().put_back(record);
        }
        return;
    }
    if let Some(record) = token.0 {
        let now = now_ns();
        STORE.lock().freed(&record, now);
    }
    if sampled {
        sampled_alloc(new, new_size);
    }
}

/// The profile so far: each site's estimated figures, its call stack resolved to functions,
/// files and lines. Sampled blocks still live are the `live_*` figures (at exit: the leaks).
/// Allocates (outside the sampler: what it allocates is counted, never sampled).
#[must_use]
pub fn profile() -> HeapProfile {
    try_profile(u32::MAX).unwrap_or_default()
}

/// [`profile`], unless the sampler's lock stays taken for `tries` yields: at exit, from a
/// signal handler that interrupted the sampler itself, waiting would never end.
#[must_use]
pub fn try_profile(tries: u32) -> Option<HeapProfile> {
    // The counters before this function's own allocations.
    let totals = crate::stats();
    let inside = Inside::enter();
    let (sites, mut profile) = copy_out(totals, tries)?;
    let mut symbols = stack::Symbols::default();
    let mut merged: Vec<HeapSite> = Vec::new();
    let mut by_stack: std::collections::HashMap<Vec<crate::profile::HeapFrame>, usize> =
        std::collections::HashMap::new();
    for (stack, stats) in &sites {
        let site = stack::site(&mut symbols, stack, stats);
        if let Some(&at) = by_stack.get(&site.frames) {
            merged[at].absorb(&site);
        } else {
            by_stack.insert(site.frames.clone(), merged.len());
            merged.push(site);
        }
    }
    profile.sites = merged;
    drop(inside);
    Some(profile)
}

/// A site as the store holds it: return addresses and figures.
type RawSite = (Vec<usize>, store::SiteStats);

/// The sites (stacks and figures) and totals, copied out of the store without allocating
/// while it is locked.
fn copy_out(totals: crate::AllocStats, tries: u32) -> Option<(Vec<RawSite>, HeapProfile)> {
    loop {
        let count = STORE.try_lock(tries)?.site_count;
        let mut copied: Vec<store::Site> = Vec::with_capacity(count + 64);
        let mut store = STORE.try_lock(tries)?;
        if store.site_count > copied.capacity() {
            continue;
        }
        settle_peak(&mut store);
        copied.extend_from_slice(&store.sites[..store.site_count]);
        let now = now_ns();
        store.add_live_ages(&mut copied, now);
        let profile = HeapProfile {
            interval: store.interval,
            seed: SEED.load(Relaxed),
            samples: store.samples,
            dropped: store.dropped,
            duration_ns: now.saturating_sub(STARTED_NS.load(Relaxed)),
            totals,
            peak_bytes_estimate: store.peak_estimate.max(0.0),
            peak_bytes_exact: store.peak_exact,
            peak_at_ns: store.peak_at_ns,
            live_bytes_estimate: store.live_bytes.max(0.0),
            sites: Vec::new(),
            command: None,
            pid: Some(std::process::id()),
        };
        drop(store);
        let sites = copied
            .iter()
            .filter(|site| site.stats.samples > 0)
            .map(|site| (site.stack().to_vec(), site.stats))
            .collect();
        return Some((sites, profile));
    }
}

/// Holds the store's lock across `fork`, so that the child never inherits it held by a thread
/// that does not exist there.
fn register_fork_handlers() {
    #[cfg(target_os = "linux")]
    FORK_HANDLERS.call_once(|| {
        extern "C" fn prepare() {
            std::mem::forget(STORE.lock());
        }
        extern "C" fn release() {
            STORE.force_unlock();
        }
        // SAFETY: the handlers are plain functions that take or release a spin lock; they
        // allocate nothing and stay valid for the life of the process.
        unsafe {
            libc::pthread_atfork(Some(prepare), Some(release), Some(release));
        }
    });
}
