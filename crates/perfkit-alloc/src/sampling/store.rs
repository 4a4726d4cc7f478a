//! The sampler's storage: call stacks with their figures, and the live sampled blocks.
//!
//! Everything is allocated up front (static, zero-initialised, so only touched pages cost
//! memory) and reached under one spin lock: the sampler runs inside `malloc`, where it may
//! neither allocate nor block on a lock that `malloc` itself could be waiting for.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use crate::profile::LIFETIME_CLASSES;

/// The most frames a sampled call stack keeps (the allocator's own frames included).
pub(crate) const MAX_FRAMES: usize = 64;
/// The most distinct call stacks; later ones are added to the overflow site, index 0.
pub(crate) const SITE_CAPACITY: usize = 1 << 13;
const SITE_INDEX: usize = SITE_CAPACITY * 2;
/// The most live sampled blocks (kept below three quarters full).
const RECORD_CAPACITY: usize = 1 << 17;
const RECORD_LIMIT: usize = RECORD_CAPACITY / 4 * 3;
/// Buckets of the filter that spares most frees a look at the table: 64 KiB, small enough to
/// stay in cache; with `n` live sampled blocks a fraction `1 - exp(-n / FILTER)` of frees
/// still looks (under 10% up to 6,900 live samples, about 3.4 GiB live at 512 KiB).
const FILTER: usize = 1 << 16;

/// Figures of one call stack (estimates: every sampled block counts `weight` times).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SiteStats {
    pub(crate) samples: u64,
    pub(crate) alloc_bytes: f64,
    pub(crate) alloc_objects: f64,
    pub(crate) freed_bytes: f64,
    pub(crate) freed_objects: f64,
    pub(crate) live_bytes: f64,
    pub(crate) live_objects: f64,
    pub(crate) peak_bytes: f64,
    pub(crate) peak_objects: f64,
    pub(crate) max_bytes: f64,
    pub(crate) max_objects: f64,
    pub(crate) lifetime_ns: f64,
    pub(crate) lifetimes: [f64; LIFETIME_CLASSES],
}

impl SiteStats {
    const EMPTY: SiteStats = SiteStats {
        samples: 0,
        alloc_bytes: 0.0,
        alloc_objects: 0.0,
        freed_bytes: 0.0,
        freed_objects: 0.0,
        live_bytes: 0.0,
        live_objects: 0.0,
        peak_bytes: 0.0,
        peak_objects: 0.0,
        max_bytes: 0.0,
        max_objects: 0.0,
        lifetime_ns: 0.0,
        lifetimes: [0.0; LIFETIME_CLASSES],
    };

    fn add_live(&mut self, bytes: f64, objects: f64) {
        self.live_bytes += bytes;
        self.live_objects += objects;
        self.max_bytes = self.max_bytes.max(self.live_bytes);
        self.max_objects = self.max_objects.max(self.live_objects);
    }
}

/// A call stack (return addresses, innermost first) and its figures.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Site {
    hash: u64,
    pub(crate) depth: usize,
    pub(crate) frames: [usize; MAX_FRAMES],
    pub(crate) stats: SiteStats,
}

impl Site {
    const EMPTY: Site = Site {
        hash: 0,
        depth: 0,
        frames: [0; MAX_FRAMES],
        stats: SiteStats::EMPTY,
    };

    /// The return addresses, innermost first.
    pub(crate) fn stack(&self) -> &[usize] {
        &self.frames[..self.depth.min(MAX_FRAMES)]
    }
}

/// A live sampled block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Record {
    /// The block's address (0: an empty entry of the table).
    ptr: usize,
    /// Its size.
    size: u64,
    /// `1 / p(size)`, its chance of being sampled.
    weight: f64,
    site: u32,
    born_ns: u64,
    /// The sampling session it was recorded in: a record carried across `start` by a
    /// `realloc` belongs to a table that no longer exists.
    session: u64,
}

impl Record {
    const EMPTY: Record = Record {
        ptr: 0,
        size: 0,
        weight: 0.0,
        site: 0,
        born_ns: 0,
        session: 0,
    };
}

/// Everything the lock guards.
pub(crate) struct Store {
    pub(crate) sites: [Site; SITE_CAPACITY],
    pub(crate) site_count: usize,
    site_index: [u32; SITE_INDEX],
    records: [Record; RECORD_CAPACITY],
    record_count: usize,
    /// Estimated live bytes, all sites.
    pub(crate) live_bytes: f64,
    pub(crate) peak_estimate: f64,
    pub(crate) peak_exact: u64,
    pub(crate) peak_at_ns: u64,
    pub(crate) samples: u64,
    pub(crate) dropped: u64,
    pub(crate) interval: u64,
    /// The session the tables belong to.
    pub(crate) session: u64,
}

/// The lock and what it guards.
pub(crate) struct Locked {
    held: AtomicBool,
    store: UnsafeCell<Store>,
}

// SAFETY: the store is reached only through `Locked::lock`, which hands out one guard at a
// time.
unsafe impl Sync for Locked {}

pub(crate) static STORE: Locked = Locked {
    held: AtomicBool::new(false),
    store: UnsafeCell::new(Store {
        sites: [Site::EMPTY; SITE_CAPACITY],
        site_count: 0,
        site_index: [0; SITE_INDEX],
        records: [Record::EMPTY; RECORD_CAPACITY],
        record_count: 0,
        live_bytes: 0.0,
        peak_estimate: 0.0,
        peak_exact: 0,
        peak_at_ns: 0,
        samples: 0,
        dropped: 0,
        interval: 0,
        session: 0,
    }),
};

/// Counting filter over the addresses of live sampled blocks: a free whose bucket is 0
/// cannot be of a sampled block. A bucket that reaches 255 stays there (it then only costs
/// its frees a look at the table).
static FILTER_COUNTS: [AtomicU8; FILTER] = [const { AtomicU8::new(0) }; FILTER];

fn filter_bucket(ptr: usize) -> usize {
    (((ptr >> 4) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - FILTER.trailing_zeros()))
        as usize
}

/// Whether `ptr` may be a live sampled block (no false negatives).
#[inline]
pub(crate) fn may_be_sampled(ptr: usize) -> bool {
    FILTER_COUNTS[filter_bucket(ptr)].load(Ordering::Relaxed) != 0
}

/// The store, locked; unlocked when dropped.
pub(crate) struct Guard {
    store: &'static mut Store,
}

impl Locked {
    /// Spins (yielding the CPU after a while) until the lock is free.
    pub(crate) fn lock(&'static self) -> Guard {
        let mut spins = 0u32;
        while self
            .held
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spins = spins.saturating_add(1);
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                yield_now();
            }
        }
        // SAFETY: the flag was false and is now ours: no other guard exists until ours drops.
        let store = unsafe { &mut *self.store.get() };
        Guard { store }
    }

    /// The store, if the lock comes free within `spins` tries (yielding between them).
    pub(crate) fn try_lock(&'static self, spins: u32) -> Option<Guard> {
        for _ in 0..spins {
            if self
                .held
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                // SAFETY: the flag was false and is now ours: no other guard exists until ours
                // drops.
                let store = unsafe { &mut *self.store.get() };
                return Some(Guard { store });
            }
            yield_now();
        }
        None
    }

    /// Releases a lock taken by [`Locked::lock`] whose guard was forgotten (the parent and
    /// child sides of `fork`).
    pub(crate) fn force_unlock(&self) {
        self.held.store(false, Ordering::Release);
    }
}

fn yield_now() {
    #[cfg(target_os = "linux")]
    // SAFETY: sched_yield takes no arguments and cannot fail in a harmful way.
    unsafe {
        libc::sched_yield();
    }
    #[cfg(not(target_os = "linux"))]
    std::hint::spin_loop();
}

impl Drop for Guard {
    fn drop(&mut self) {
        STORE.held.store(false, Ordering::Release);
    }
}

impl std::ops::Deref for Guard {
    type Target = Store;
    fn deref(&self) -> &Store {
        self.store
    }
}

impl std::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut Store {
        self.store
    }
}

/// `1 / p`, where `p = 1 - exp(-bytes / interval)` is the chance that a stretch of `bytes`
/// of the byte clock holds a sample point.
pub(crate) fn weight(bytes: u64, interval: u64) -> f64 {
    if interval <= 1 {
        return 1.0;
    }
    let p = -(-(bytes as f64) / interval as f64).exp_m1();
    if p > 0.0 { 1.0 / p } else { 1.0 }
}

fn lifetime_class(ns: u64) -> usize {
    (ns.max(1).ilog2() as usize).min(LIFETIME_CLASSES - 1)
}

fn stack_hash(stack: &[usize]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for &address in stack {
        hash = (hash ^ address as u64).wrapping_mul(0x0000_0100_0000_01b3);
        hash ^= hash >> 29;
    }
    hash | 1
}

fn record_slot(ptr: usize) -> usize {
    (((ptr >> 4) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        >> (64 - RECORD_CAPACITY.trailing_zeros())) as usize
}

impl Store {
    /// Forgets everything (a new session).
    pub(crate) fn clear(&mut self, interval: u64, session: u64) {
        self.session = session;
        // Only what was used is written: the tables stay untouched (and unmapped) otherwise.
        if self.record_count > 0 {
            for record in &mut self.records {
                if record.ptr != 0 {
                    filter_remove(record.ptr);
                    *record = Record::EMPTY;
                }
            }
        }
        let used = self.site_count.max(1);
        for site in &mut self.sites[..used] {
            *site = Site::EMPTY;
        }
        self.site_index.fill(0);
        self.record_count = 0;
        self.site_count = 1; // Site 0 collects stacks beyond the table.
        self.live_bytes = 0.0;
        self.peak_estimate = 0.0;
        self.peak_exact = 0;
        self.peak_at_ns = 0;
        self.samples = 0;
        self.dropped = 0;
        self.interval = interval;
    }

    /// The index of the site of `stack`, added if new.
    fn site_of(&mut self, stack: &[usize]) -> u32 {
        let hash = stack_hash(stack);
        let mask = SITE_INDEX - 1;
        let mut at = (hash as usize) & mask;
        loop {
            let index = self.site_index[at] as usize;
            if index == 0 {
                break;
            }
            let site = &self.sites[index];
            if site.hash == hash && site.stack() == stack {
                return index as u32;
            }
            at = (at + 1) & mask;
        }
        if self.site_count >= SITE_CAPACITY {
            return 0;
        }
        let index = self.site_count;
        self.site_count += 1;
        let site = &mut self.sites[index];
        site.hash = hash;
        site.depth = stack.len().min(MAX_FRAMES);
        site.frames[..site.depth].copy_from_slice(&stack[..site.depth]);
        self.site_index[at] = index as u32;
        index as u32
    }

    /// Records a sampled block allocated at `ptr` with `size` bytes, by `stack`.
    pub(crate) fn insert(&mut self, ptr: usize, size: u64, stack: &[usize], now_ns: u64) {
        let index = self.site_of(stack);
        let weight = weight(size, self.interval);
        self.samples += 1;
        let stats = &mut self.sites[index as usize].stats;
        stats.samples += 1;
        stats.alloc_bytes += size as f64 * weight;
        stats.alloc_objects += weight;
        let record = Record {
            ptr,
            size,
            weight,
            site: index,
            born_ns: now_ns,
            session: self.session,
        };
        self.add_record(record);
    }

    /// Puts back a record that [`Store::take`] took out for a `realloc` that failed; one from
    /// an earlier session is dropped.
    pub(crate) fn put_back(&mut self, record: Record) {
        if record.session == self.session {
            self.add_record(record);
        }
    }

    fn add_record(&mut self, record: Record) {
        if self.record_count >= RECORD_LIMIT || record.ptr == 0 {
            self.dropped += 1;
            return;
        }
        let live = record.size as f64 * record.weight;
        self.live_bytes += live;
        self.sites[record.site as usize]
            .stats
            .add_live(live, record.weight);
        let mask = RECORD_CAPACITY - 1;
        let mut at = record_slot(record.ptr);
        while self.records[at].ptr != 0 && self.records[at].ptr != record.ptr {
            at = (at + 1) & mask;
        }
        if self.records[at].ptr == 0 {
            self.record_count += 1;
            filter_add(record.ptr);
        }
        self.records[at] = record;
    }

    /// Takes the record of `ptr` out of the table, if `ptr` is a live sampled block; its
    /// site's live figures drop with it.
    pub(crate) fn take(&mut self, ptr: usize) -> Option<Record> {
        let mask = RECORD_CAPACITY - 1;
        let mut at = record_slot(ptr);
        loop {
            let found = self.records[at].ptr;
            if found == 0 {
                return None;
            }
            if found == ptr {
                break;
            }
            at = (at + 1) & mask;
        }
        let record = self.records[at];
        // Backward-shift deletion: later entries of the probe chain move into the gap, so
        // lookups never need tombstones.
        let mut gap = at;
        let mut next = (gap + 1) & mask;
        while self.records[next].ptr != 0 {
            let home = record_slot(self.records[next].ptr);
            let distance_next = next.wrapping_sub(home) & mask;
            let distance_gap = gap.wrapping_sub(home) & mask;
            if distance_gap <= distance_next {
                self.records[gap] = self.records[next];
                gap = next;
            }
            next = (next + 1) & mask;
        }
        self.records[gap] = Record::EMPTY;
        self.record_count -= 1;
        filter_remove(ptr);
        if record.session != self.session {
            return Some(record);
        }
        let live = record.size as f64 * record.weight;
        self.live_bytes -= live;
        self.sites[record.site as usize]
            .stats
            .add_live(-live, -record.weight);
        Some(record)
    }

    /// A sampled block was freed (also by a `realloc`, which counts as a free and a new
    /// allocation). A record of an earlier session counts nowhere.
    pub(crate) fn freed(&mut self, record: &Record, now_ns: u64) {
        if record.session != self.session {
            return;
        }
        let stats = &mut self.sites[record.site as usize].stats;
        stats.freed_bytes += record.size as f64 * record.weight;
        stats.freed_objects += record.weight;
        let lifetime = now_ns.saturating_sub(record.born_ns);
        stats.lifetime_ns += lifetime as f64 * record.weight;
        stats.lifetimes[lifetime_class(lifetime)] += record.weight;
    }

    /// Keeps what is live now as what was live at the peak: `exact` bytes by the counters,
    /// reached at `at_ns`.
    pub(crate) fn snapshot_peak(&mut self, exact: u64, at_ns: u64) {
        self.peak_at_ns = at_ns;
        for site in &mut self.sites[..self.site_count] {
            site.stats.peak_bytes = site.stats.live_bytes;
            site.stats.peak_objects = site.stats.live_objects;
        }
        self.peak_estimate = self.live_bytes;
        self.peak_exact = exact;
    }

    /// The number of live sampled blocks.
    pub(crate) fn live_records(&self) -> usize {
        self.record_count
    }

    /// Adds the lives so far of the live sampled blocks to `sites` (copies of this store's
    /// sites, in its order).
    pub(crate) fn add_live_ages(&self, sites: &mut [Site], now_ns: u64) {
        for record in self.records.iter().filter(|r| r.ptr != 0) {
            if let Some(site) = sites.get_mut(record.site as usize) {
                site.stats.lifetime_ns +=
                    now_ns.saturating_sub(record.born_ns) as f64 * record.weight;
            }
        }
    }
}

fn filter_add(ptr: usize) {
    let bucket = &FILTER_COUNTS[filter_bucket(ptr)];
    let count = bucket.load(Ordering::Relaxed);
    if count < u8::MAX {
        bucket.store(count + 1, Ordering::Relaxed);
    }
}

fn filter_remove(ptr: usize) {
    let bucket = &FILTER_COUNTS[filter_bucket(ptr)];
    let count = bucket.load(Ordering::Relaxed);
    if count > 0 && count < u8::MAX {
        bucket.store(count - 1, Ordering::Relaxed);
    }
}
