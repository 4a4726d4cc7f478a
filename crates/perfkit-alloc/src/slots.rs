//! The counters: one padded slot per thread, written only by its owner; a shared fallback.
//!
//! Nothing here allocates, locks or panics: it runs inside `GlobalAlloc`.

use std::cell::Cell;

#[cfg(feature = "shuttle")]
use shuttle::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize,
    Ordering::{Relaxed, SeqCst},
};
#[cfg(not(feature = "shuttle"))]
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize,
    Ordering::{Relaxed, SeqCst},
};

/// Thread slots. Threads beyond this many live ones share the fallback slot.
pub(crate) const SLOTS: usize = 256;
/// A thread's pending (unflushed) change of live bytes is added to the global figure once it
/// reaches ± this many bytes; the global peak is exact to within one flush per thread.
pub(crate) const FLUSH_BYTES: i64 = 64 * 1024;
/// log2 size classes of the allocation-size histogram.
pub(crate) const SIZE_CLASSES: usize = 65;

/// One thread's counters, on cache lines of their own (aligned to 128 bytes: x86's
/// adjacent-line prefetcher pairs lines). The hot counters come first; the size histogram
/// (touched only when enabled) follows.
///
/// The owner's fast path touches few words: an `alloc` its two counters, `freed` (for the
/// live bytes) and the threshold `hi`; a `dealloc` its two counters and `free_limit`.
/// Everything rarer (a new peak, a flush to the global figure, the size histogram) happens on
/// a cold path that the thresholds route to.
#[repr(C, align(128))]
pub(crate) struct Slot {
    pub(crate) allocated: AtomicU64,
    pub(crate) freed: AtomicU64,
    pub(crate) allocs: AtomicU64,
    pub(crate) deallocs: AtomicU64,
    pub(crate) reallocs: AtomicU64,
    /// Growth past this many live bytes takes the cold path: the lower of `peak` and
    /// `flushed + FLUSH_BYTES - 1`, or `i64::MIN` while sizes are counted or after another
    /// thread reset the peak.
    hi: AtomicI64,
    /// Freeing until `freed` reaches this takes the cold path: the `freed` total at which the
    /// live bytes would be `flushed - FLUSH_BYTES` if nothing were allocated meanwhile. A
    /// bound on `freed` alone spares the fast path a load of `allocated`; allocations
    /// meanwhile only make the cold path come early (it then just re-arms).
    free_limit: AtomicU64,
    /// The owner's byte clock (`allocated`) at which its next heap sample falls: `u64::MAX`
    /// once a thread has seen sampling off, 0 before its first allocation and when a session
    /// starts. Written by the owner on the cold path (and by a `realloc`), and by
    /// `sampling::start`/`stop` (see [`Slot::sample_point`] for the race).
    #[cfg(feature = "sampling")]
    pub(crate) next_sample: AtomicU64,
    /// Highest `allocated - freed` of this slot since the last `reset_peak` (exact process peak
    /// when only one thread ever allocated). Written by the owner, and by `reset_peak`
    /// (`i64::MIN`, followed by `hi = i64::MIN` so that the owner's next growth records a new
    /// peak; see [`Slot::rearm`] for the race).
    pub(crate) peak: AtomicI64,
    /// `allocated - freed` as last added to [`GLOBAL_NET`].
    flushed: AtomicI64,
    /// Thread ID of the owner (0: never used).
    owner: AtomicU32,
    /// Whether allocation sizes are counted (set in every slot by `set_size_histogram`).
    pub(crate) sizes_on: AtomicBool,
    /// The sampling session this slot's random state belongs to (owner only).
    #[cfg(feature = "sampling")]
    sample_session: AtomicU64,
    /// The owner's random state for drawing sample intervals (owner only).
    #[cfg(feature = "sampling")]
    rng: AtomicU64,
    pub(crate) sizes: [AtomicU64; SIZE_CLASSES],
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            allocated: AtomicU64::new(0),
            freed: AtomicU64::new(0),
            allocs: AtomicU64::new(0),
            deallocs: AtomicU64::new(0),
            reallocs: AtomicU64::new(0),
            // All zero, so that the table lives in .bss: the first call of each direction
            // takes the cold path, which sets the real thresholds.
            hi: AtomicI64::new(0),
            free_limit: AtomicU64::new(0),
            #[cfg(feature = "sampling")]
            next_sample: AtomicU64::new(0),
            peak: AtomicI64::new(0),
            flushed: AtomicI64::new(0),
            owner: AtomicU32::new(0),
            sizes_on: AtomicBool::new(false),
            #[cfg(feature = "sampling")]
            sample_session: AtomicU64::new(0),
            #[cfg(feature = "sampling")]
            rng: AtomicU64::new(0),
            sizes: [const { AtomicU64::new(0) }; SIZE_CLASSES],
        }
    }
}

pub(crate) static TABLE: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];
/// Shared by threads that found no free slot, and by code running after a thread's
/// thread-locals are gone. Updated with read-modify-write atomics.
pub(crate) static FALLBACK: Slot = Slot::new();
/// One past the highest slot ever claimed: readers sum `TABLE[..HIGH_WATER]`.
pub(crate) static HIGH_WATER: AtomicUsize = AtomicUsize::new(0);
/// Live bytes as flushed by the threads (lags the truth by < `FLUSH_BYTES` per thread).
pub(crate) static GLOBAL_NET: AtomicI64 = AtomicI64::new(0);
/// Highest `GLOBAL_NET` seen.
pub(crate) static GLOBAL_PEAK: AtomicI64 = AtomicI64::new(0);
/// Bumped by `reset_peak` (lets `measure` notice a reset during its closure).
pub(crate) static PEAK_EPOCH: AtomicU64 = AtomicU64::new(0);
/// Live bytes when `reset_peak` was called: the peak since then is at least this.
pub(crate) static RESET_NET: AtomicI64 = AtomicI64::new(0);

thread_local! {
    /// This thread's slot. Const-initialised and without `Drop`: no destructor is registered,
    /// so it is usable until the thread is gone, also from other destructors.
    static SLOT: Cell<Option<&'static Slot>> = const { Cell::new(None) };
}

/// Owner-only increment: a relaxed load and store, no locked instruction.
#[inline]
fn bump(counter: &AtomicU64, by: u64) -> u64 {
    let value = counter.load(Relaxed).wrapping_add(by);
    counter.store(value, Relaxed);
    value
}

/// The calling thread's slot (claimed on first use), or the shared fallback.
#[inline]
pub(crate) fn current_slot() -> &'static Slot {
    SLOT.try_with(|cell| {
        if let Some(slot) = cell.get() {
            return slot;
        }
        let slot = TABLE.get(claim()).unwrap_or(&FALLBACK);
        cell.set(Some(slot));
        slot
    })
    .unwrap_or(&FALLBACK)
}

/// The calling thread's own slot, `None` when it uses the shared fallback.
pub(crate) fn own_slot() -> Option<&'static Slot> {
    let slot = current_slot();
    (!slot.is_fallback()).then_some(slot)
}

/// Finds a slot for this thread; an index past the table means "use the fallback".
#[cold]
#[inline(never)]
fn claim() -> usize {
    let tid = current_thread_id();
    let mut free = None;
    for (index, slot) in TABLE.iter().enumerate() {
        let owner = slot.owner.load(Relaxed);
        if owner == tid {
            // Thread IDs are unique among live threads: the slot's previous owner with our ID
            // has exited. Its counts stay in the slot and keep adding up.
            return taken(index);
        }
        if owner == 0 && free.is_none() {
            free = Some(index);
        }
    }
    if let Some(start) = free {
        for (index, slot) in TABLE.iter().enumerate().skip(start) {
            if slot
                .owner
                .compare_exchange(0, tid, Relaxed, Relaxed)
                .is_ok()
            {
                return taken(index);
            }
        }
    }
    // Every slot has been used: take over one whose thread has exited.
    for (index, slot) in TABLE.iter().enumerate() {
        let owner = slot.owner.load(Relaxed);
        if owner != 0
            && !thread_alive(owner)
            && slot
                .owner
                .compare_exchange(owner, tid, Relaxed, Relaxed)
                .is_ok()
        {
            return taken(index);
        }
    }
    SLOTS
}

fn taken(index: usize) -> usize {
    HIGH_WATER.fetch_max(index + 1, Relaxed);
    index
}

#[cfg(target_os = "linux")]
fn current_thread_id() -> u32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    u32::try_from(tid).unwrap_or(u32::MAX).max(1)
}

#[cfg(target_os = "linux")]
fn thread_alive(tid: u32) -> bool {
    let Ok(tid) = libc::pid_t::try_from(tid) else {
        return true;
    };
    // This runs inside `malloc` and `free`, which must leave errno as they found it.
    // SAFETY: errno is this thread's.
    let saved = unsafe { *libc::__errno_location() };
    // SAFETY: signal 0 only checks that the thread exists; getpid cannot fail.
    let result = unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, 0) };
    let alive = result == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH);
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved };
    alive
}

#[cfg(not(target_os = "linux"))]
fn current_thread_id() -> u32 {
    // Without cheap thread IDs and liveness checks, slots are never reused.
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Relaxed).max(1)
}

#[cfg(not(target_os = "linux"))]
fn thread_alive(_: u32) -> bool {
    true
}

impl Slot {
    /// Whether this is the shared fallback (an address comparison: no load on the fast path).
    #[inline]
    fn is_fallback(&self) -> bool {
        std::ptr::eq(self, &raw const FALLBACK)
    }

    /// This slot's live bytes, `allocated - freed`.
    #[inline]
    pub(crate) fn net(&self) -> i64 {
        self.allocated
            .load(Relaxed)
            .wrapping_sub(self.freed.load(Relaxed))
            .cast_signed()
    }

    /// Recomputes the thresholds after the cold path (owner only).
    ///
    /// Another thread may store `peak = i64::MIN` (`reset_peak`) or `sizes_on = true` and
    /// then `hi = i64::MIN`, while the owner is here. All five accesses involved are `SeqCst`
    /// (this is the cold path): either the owner's re-read below sees the other thread's
    /// change and lowers `hi` itself, or the other thread's `hi` store comes after the
    /// owner's in the total order and wins. Either way the owner's next growth takes the
    /// cold path.
    fn rearm(&self) {
        let peak = self.peak.load(SeqCst);
        let flushed = self.flushed.load(Relaxed);
        let hi = if self.sizes_on.load(SeqCst) {
            i64::MIN
        } else {
            peak.min(flushed.saturating_add(FLUSH_BYTES - 1))
        };
        let freed = self.freed.load(Relaxed);
        let net = self
            .allocated
            .load(Relaxed)
            .wrapping_sub(freed)
            .cast_signed();
        // net > flushed - FLUSH_BYTES here (a shrink that far has just been flushed), so the
        // limit lies ahead of `freed`.
        let room = net.wrapping_sub(flushed).wrapping_add(FLUSH_BYTES);
        self.free_limit
            .store(freed.wrapping_add(room.cast_unsigned()), Relaxed);
        self.hi.store(hi, SeqCst);
        if self.sizes_on.load(SeqCst) || self.peak.load(SeqCst) != peak {
            self.hi.store(i64::MIN, SeqCst);
        }
    }

    /// Growth past `hi`: a new peak, a flush, or a size to count.
    #[cold]
    #[inline(never)]
    fn grown(&self, net: i64, size: Option<u64>) {
        if let Some(size) = size
            && self.sizes_on.load(Relaxed)
        {
            bump(&self.sizes[size_class(size)], 1);
        }
        if net > self.peak.load(Relaxed) {
            self.peak.store(net, Relaxed);
            // (The model tests run without it: shuttle's atomics cannot be statics.)
            #[cfg(all(feature = "sampling", not(feature = "shuttle")))]
            if !self.is_fallback() && HIGH_WATER.load(Relaxed) == 1 {
                // The process's only allocating thread: its live bytes are the process's.
                crate::sampling::peak_moved(net);
            }
        }
        if net.wrapping_sub(self.flushed.load(Relaxed)) >= FLUSH_BYTES {
            self.flush(net);
        }
        self.rearm();
    }

    /// `freed` reached `free_limit`: a flush if the live bytes really fell that far.
    #[cold]
    #[inline(never)]
    fn shrunk(&self) {
        let net = self.net();
        if net.wrapping_sub(self.flushed.load(Relaxed)) <= -FLUSH_BYTES {
            self.flush(net);
        }
        self.rearm();
    }

    fn flush(&self, net: i64) {
        let delta = net.wrapping_sub(self.flushed.load(Relaxed));
        self.flushed.store(net, Relaxed);
        add_to_global(delta);
    }

    /// Sets the slot's peak (owner only), e.g. to its current value to start a measurement.
    pub(crate) fn set_peak(&self, peak: i64) {
        self.peak.store(peak, SeqCst);
        self.rearm();
    }

    /// Forgets the peak (any thread): the owner's next growth records a new one.
    fn clear_peak(&self) {
        self.peak.store(i64::MIN, SeqCst);
        self.hi.store(i64::MIN, SeqCst);
    }

    #[inline]
    fn owner_alloc(&self, size: u64, ptr: *mut u8) {
        let allocated = bump(&self.allocated, size);
        // The sample is recorded before the peak logic below, so that a peak this allocation
        // makes includes it (`sampling::peak_moved`).
        #[cfg(feature = "sampling")]
        if allocated >= self.next_sample.load(Relaxed)
            && self.sample_point(allocated.wrapping_sub(size), allocated)
        {
            crate::sampling::sampled_alloc(ptr, size);
        }
        #[cfg(not(feature = "sampling"))]
        let _ = ptr;
        bump(&self.allocs, 1);
        let net = allocated
            .wrapping_sub(self.freed.load(Relaxed))
            .cast_signed();
        if net > self.hi.load(Relaxed) {
            self.grown(net, Some(size));
        }
    }

    #[inline]
    fn owner_dealloc(&self, size: u64) {
        let freed = bump(&self.freed, size);
        bump(&self.deallocs, 1);
        if freed >= self.free_limit.load(Relaxed) {
            self.shrunk();
        }
    }

    #[inline]
    fn owner_realloc(&self, old: u64, new: u64) {
        bump(&self.reallocs, 1);
        if new >= old {
            bump(&self.allocated, new - old);
            let net = self.net();
            if net > self.hi.load(Relaxed) {
                self.grown(net, None);
            }
        } else if bump(&self.freed, old - new) >= self.free_limit.load(Relaxed) {
            self.shrunk();
        }
    }

    fn shared_alloc(&self, size: u64, ptr: *mut u8) {
        let before = self.allocated.fetch_add(size, Relaxed);
        #[cfg(feature = "sampling")]
        if self.shared_sample_point(before, before.wrapping_add(size)) {
            crate::sampling::sampled_alloc(ptr, size);
        }
        #[cfg(not(feature = "sampling"))]
        let _ = (before, ptr);
        self.allocs.fetch_add(1, Relaxed);
        if self.sizes_on.load(Relaxed) {
            self.sizes[size_class(size)].fetch_add(1, Relaxed);
        }
        add_to_global(size.cast_signed());
    }

    fn shared_dealloc(&self, size: u64) {
        self.freed.fetch_add(size, Relaxed);
        self.deallocs.fetch_add(1, Relaxed);
        add_to_global(-size.cast_signed());
    }

    fn shared_realloc(&self, old: u64, new: u64) {
        self.reallocs.fetch_add(1, Relaxed);
        if new >= old {
            self.allocated.fetch_add(new - old, Relaxed);
            add_to_global((new - old).cast_signed());
        } else {
            self.freed.fetch_add(old - new, Relaxed);
            add_to_global(-(old - new).cast_signed());
        }
    }
}

#[cfg(feature = "sampling")]
impl Slot {
    /// Whether the owner's byte clock, moving from `before` to `after`, passed its next sample
    /// point; if so the next one is drawn. Cold: reached only when `after >= next_sample`.
    ///
    /// `sampling::stop` stores `u64::MAX` and `start` stores 0 into `next_sample` from another
    /// thread, after changing the session (all `SeqCst`). An owner that stores its own value
    /// over `stop`'s takes one more trip here, sees sampling off and stores `u64::MAX`; an
    /// owner that stores `u64::MAX` over `start`'s 0 re-reads the session afterwards and
    /// stores 0 again.
    #[cold]
    #[inline(never)]
    fn sample_point(&self, before: u64, after: u64) -> bool {
        let session = crate::sampling::session();
        if session == 0 {
            self.next_sample.store(u64::MAX, SeqCst);
            if crate::sampling::session() != 0 {
                self.next_sample.store(0, SeqCst);
            }
            return false;
        }
        // `start` stores 0: a new session, even if this owner already took the new session's
        // number from an event between `start`'s two stores.
        if self.sample_session.load(Relaxed) != session || self.next_sample.load(SeqCst) == 0 {
            // The first event of a session: the clock starts at `before`.
            self.sample_session.store(session, Relaxed);
            // The slot's index in the table, not its address: the same thread order gives
            // the same draws, wherever the table was mapped.
            let offset = std::ptr::from_ref(self) as usize - TABLE.as_ptr() as usize;
            let index = offset / std::mem::size_of::<Slot>();
            self.rng
                .store(crate::sampling::seed_for(index as u64), Relaxed);
            let next = before.saturating_add(self.draw());
            self.next_sample.store(next, SeqCst);
            if after < next {
                return false;
            }
        }
        // Memoryless: the distance from the end of this event to the next point is again
        // exponential, whatever fell inside the event.
        let next = after.saturating_add(self.draw());
        self.next_sample.store(next, SeqCst);
        true
    }

    /// The next interval, from the owner's random state.
    fn draw(&self) -> u64 {
        let (interval, state) = crate::sampling::draw(self.rng.load(Relaxed));
        self.rng.store(state, Relaxed);
        interval
    }

    /// [`Slot::sample_point`] for the shared fallback slot: threads race for the point, and
    /// the one whose compare-and-swap moves it takes the sample.
    fn shared_sample_point(&self, before: u64, after: u64) -> bool {
        let next = self.next_sample.load(Relaxed);
        if after < next || crate::sampling::session() == 0 {
            return false;
        }
        if next == 0 {
            // The session has just started: its clock starts at `before`.
            let first = before.saturating_add(crate::sampling::shared_draw());
            let sampled = after >= first;
            let new = if sampled {
                after.saturating_add(crate::sampling::shared_draw())
            } else {
                first
            };
            return self
                .next_sample
                .compare_exchange(0, new, Relaxed, Relaxed)
                .is_ok()
                && sampled;
        }
        // Only the event whose stretch holds the point takes it; an event past it leaves it
        // to that one.
        if next < before {
            return false;
        }
        let new = after.saturating_add(crate::sampling::shared_draw());
        self.next_sample
            .compare_exchange(next, new, Relaxed, Relaxed)
            .is_ok()
    }
}

/// Starts (`on`) or stops sampling in every slot (see [`Slot::sample_point`]).
#[cfg(feature = "sampling")]
pub(crate) fn arm_sampling(on: bool) {
    let value = if on { 0 } else { u64::MAX };
    for slot in TABLE.iter().chain(std::iter::once(&FALLBACK)) {
        slot.next_sample.store(value, SeqCst);
    }
}

/// Adds a change of live bytes to the global figure (a slot's flush, or each call of the
/// fallback) and raises the global peak. Only growth can set a new peak; a plain load first
/// spares the locked `fetch_max` when a thread swings back and forth across the flush
/// threshold below the peak.
fn add_to_global(delta: i64) {
    let now = GLOBAL_NET.fetch_add(delta, Relaxed).wrapping_add(delta);
    if delta > 0 && now > GLOBAL_PEAK.load(Relaxed) {
        GLOBAL_PEAK.fetch_max(now, Relaxed);
        #[cfg(feature = "sampling")]
        if HIGH_WATER.load(Relaxed) > 1 || FALLBACK.allocs.load(Relaxed) != 0 {
            crate::sampling::peak_moved(now);
        }
    }
}

#[inline]
pub(crate) fn size_class(size: u64) -> usize {
    (u64::BITS - size.leading_zeros()) as usize
}

/// Counts an allocation of `size` bytes at `ptr` (and records it when a sample point falls
/// in it).
#[inline]
pub(crate) fn on_alloc(size: usize, ptr: *mut u8) {
    let slot = current_slot();
    if slot.is_fallback() {
        slot.shared_alloc(size as u64, ptr);
    } else {
        slot.owner_alloc(size as u64, ptr);
    }
}

/// Counts a `realloc` from `old` to `new` bytes, first telling `sampled` whether the new
/// block held a heap sample point, so that the sampler records it before the peak logic runs.
/// One look-up of the thread's slot for both.
///
/// For sampling a `realloc` is a new block of `new` bytes (the sampler counts the old one as
/// freed): it takes `new` bytes of the countdown to the next sample point, while the counters
/// add only the growth to `allocated`. The difference comes off `next_sample`, which stays
/// measured on `allocated`.
#[cfg(feature = "sampling")]
#[inline]
pub(crate) fn on_realloc_with(old: usize, new: usize, sampled: impl FnOnce(bool)) {
    let slot = current_slot();
    let (old, new) = (old as u64, new as u64);
    let growth = new.saturating_sub(old);
    // The bytes of the countdown the new block takes beyond the growth.
    let extra = new - growth;
    let before = slot.allocated.load(Relaxed);
    let end = before.wrapping_add(new);
    let point = if slot.is_fallback() {
        let point = slot.shared_sample_point(before, end);
        let _ = slot.next_sample.fetch_update(Relaxed, Relaxed, |next| {
            (next != u64::MAX).then(|| next.saturating_sub(extra))
        });
        point
    } else {
        let point = end >= slot.next_sample.load(Relaxed) && slot.sample_point(before, end);
        let next = slot.next_sample.load(Relaxed);
        if next != u64::MAX && extra > 0 {
            slot.next_sample.store(next.saturating_sub(extra), Relaxed);
        }
        point
    };
    sampled(point);
    if slot.is_fallback() {
        slot.shared_realloc(old, new);
    } else {
        slot.owner_realloc(old, new);
    }
}

#[inline]
pub(crate) fn on_dealloc(size: usize) {
    let slot = current_slot();
    if slot.is_fallback() {
        slot.shared_dealloc(size as u64);
    } else {
        slot.owner_dealloc(size as u64);
    }
}

#[cfg(not(feature = "sampling"))]
#[inline]
pub(crate) fn on_realloc(old: usize, new: usize) {
    let slot = current_slot();
    if slot.is_fallback() {
        slot.shared_realloc(old as u64, new as u64);
    } else {
        slot.owner_realloc(old as u64, new as u64);
    }
}

/// Turns size counting on or off in every slot (when on, every allocation of an owned slot
/// takes the cold path, where sizes are counted).
pub(crate) fn set_size_histogram(enabled: bool) {
    for slot in TABLE.iter().chain(std::iter::once(&FALLBACK)) {
        slot.sizes_on.store(enabled, SeqCst);
        slot.hi.store(i64::MIN, SeqCst);
    }
}

/// Plain values of one slot (or a sum of slots).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) allocated: u64,
    pub(crate) freed: u64,
    pub(crate) allocs: u64,
    pub(crate) deallocs: u64,
    pub(crate) reallocs: u64,
}

impl Counts {
    pub(crate) fn of(slot: &Slot) -> Counts {
        Counts {
            allocated: slot.allocated.load(Relaxed),
            freed: slot.freed.load(Relaxed),
            allocs: slot.allocs.load(Relaxed),
            deallocs: slot.deallocs.load(Relaxed),
            reallocs: slot.reallocs.load(Relaxed),
        }
    }

    pub(crate) fn add(&mut self, other: Counts) {
        self.allocated = self.allocated.wrapping_add(other.allocated);
        self.freed = self.freed.wrapping_add(other.freed);
        self.allocs = self.allocs.wrapping_add(other.allocs);
        self.deallocs = self.deallocs.wrapping_add(other.deallocs);
        self.reallocs = self.reallocs.wrapping_add(other.reallocs);
    }

    /// Counts of every slot and the fallback.
    pub(crate) fn total() -> Counts {
        let mut sum = Counts::of(&FALLBACK);
        for slot in &TABLE[..HIGH_WATER.load(Relaxed).min(SLOTS)] {
            sum.add(Counts::of(slot));
        }
        sum
    }

    pub(crate) fn net(&self) -> i64 {
        self.allocated.wrapping_sub(self.freed).cast_signed()
    }
}

/// The exact peak when the process has only ever had one allocating thread, else `None`.
pub(crate) fn single_thread_peak() -> Option<i64> {
    if HIGH_WATER.load(Relaxed) != 1 || FALLBACK.allocs.load(Relaxed) != 0 {
        return None;
    }
    // After a reset the slot's peak is i64::MIN until the next allocation; the peak is then
    // what was live at the reset.
    Some(TABLE[0].peak.load(Relaxed).max(RESET_NET.load(Relaxed)))
}

/// The number of slots in use (threads that have allocated, including exited ones whose slot
/// has not been reused) and whether the fallback was used.
pub(crate) fn slots_in_use() -> (usize, bool) {
    let used = TABLE[..HIGH_WATER.load(Relaxed).min(SLOTS)]
        .iter()
        .filter(|s| s.owner.load(Relaxed) != 0)
        .count();
    (used, FALLBACK.allocs.load(Relaxed) != 0)
}

/// Forgets every slot's peak (see [`Slot::peak`]).
pub(crate) fn clear_slot_peaks() {
    for slot in TABLE.iter().chain(std::iter::once(&FALLBACK)) {
        slot.clear_peak();
    }
}

/// Model tests of the races between a slot's owner and other threads, run under shuttle's
/// scheduler over every interleaving. Shuttle runs atomics sequentially consistent, so they
/// check the protocol (which store wins, which re-check catches it), not weak-memory effects;
/// the races they cover use `SeqCst` throughout.
#[cfg(all(test, feature = "shuttle"))]
mod model {
    use std::sync::Arc;

    use super::*;

    /// An owner that has grown to a peak, and then shrinks.
    fn owner_work(slot: &Slot) {
        slot.owner_alloc(100, std::ptr::null_mut());
        slot.owner_alloc(10, std::ptr::null_mut());
        slot.owner_dealloc(50);
    }

    /// Runs [`owner_work`] on one thread and `other` on another, over many interleavings;
    /// after both, `then` runs as the owner and checks the slot.
    fn race(other: fn(&Slot), then: fn(&Slot)) {
        shuttle::check_pct(
            move || {
                let slot = Arc::new(Slot::new());
                let owner = {
                    let slot = Arc::clone(&slot);
                    shuttle::thread::spawn(move || owner_work(&slot))
                };
                let racer = {
                    let slot = Arc::clone(&slot);
                    shuttle::thread::spawn(move || other(&slot))
                };
                owner.join().unwrap();
                racer.join().unwrap();
                then(&slot);
            },
            10_000,
            3,
        );
    }

    #[test]
    fn a_reset_peak_is_never_lost_to_the_owners_rearm() {
        race(Slot::clear_peak, |slot| {
            // The owner's next growth, below the old peak, must record the new peak.
            slot.owner_alloc(1, std::ptr::null_mut());
            assert!(
                slot.peak.load(SeqCst) >= slot.net(),
                "peak {} below live bytes {}: the reset was lost",
                slot.peak.load(SeqCst),
                slot.net()
            );
        });
    }

    #[test]
    fn size_counting_switched_on_mid_flight_sees_the_next_allocation() {
        let switch_on = |slot: &Slot| {
            slot.sizes_on.store(true, SeqCst);
            slot.hi.store(i64::MIN, SeqCst);
        };
        race(switch_on, |slot| {
            // 3 bytes: a size class the owner's work did not use.
            slot.owner_alloc(3, std::ptr::null_mut());
            assert_eq!(
                slot.sizes[size_class(3)].load(SeqCst),
                1,
                "the size went uncounted"
            );
        });
    }
}
