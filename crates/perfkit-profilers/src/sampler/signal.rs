//! What runs inside the `SIGPROF` handler, and the memory it writes to.
//!
//! The handler may interrupt any code of the program, `malloc` and locks held included, so it
//! only reads registers, walks frame pointers inside memory known to be mapped, and copies the
//! addresses into a slot of a queue allocated before the first timer was armed. It takes no
//! lock and allocates nothing; its only system calls ask the kernel whether a page of the stack
//! can be read before it reads it, one call per page, and it restores `errno` afterwards.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence};

/// The most frames one sample holds, the interrupted instruction included.
pub(super) const MAX_DEPTH: usize = 128;

/// The most the main thread's stack may span, from its top, and still be taken as the main
/// stack below the range last read: its size limit, capped here.
pub(super) const MAX_MAIN_STACK_GROWTH: usize = 256 << 20;

/// How the frame-pointer walk of one sample ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Walk {
    /// It reached a frame that links to no caller: the stack is complete.
    Root,
    /// A frame pointer pointed outside the thread's stack: code without frame pointers, or the
    /// start of the thread in a library built without them.
    LeftStack,
    /// The stack holds more than [`MAX_DEPTH`] frames; the outermost ones are cut.
    TooDeep,
    /// The stack pointer was in no memory the sampler knows (the map is refreshed as threads
    /// appear): only the interrupted function is known.
    UnknownStack,
}

/// One sample as the handler writes it.
#[derive(Clone, Copy)]
pub(super) struct RawSample {
    /// The sampler's number for the interrupted thread.
    pub(super) thread: u32,
    /// How many sampling periods this sample stands for: 1, plus the expiries the timer
    /// counted while its signal was still pending.
    pub(super) weight: u32,
    /// How many entries of `frames` are set.
    pub(super) depth: u32,
    /// How the walk ended.
    pub(super) walk: Walk,
    /// The interrupted instruction, then return addresses, innermost first.
    pub(super) frames: [usize; MAX_DEPTH],
}

impl RawSample {
    pub(super) const EMPTY: RawSample = RawSample {
        thread: 0,
        weight: 0,
        depth: 0,
        walk: Walk::Root,
        frames: [0; MAX_DEPTH],
    };
}

struct Slot {
    /// The slot's sequence number (a bounded multi-producer queue after Dmitry Vyukov's):
    /// equal to a writer's position when free for it, one past when written.
    seq: AtomicUsize,
    sample: UnsafeCell<RawSample>,
}

/// The queue between the signal handler (any thread, many at once) and the sampler's thread
/// (one reader at a time, through [`Reader`]).
pub(super) struct Queue {
    slots: Box<[Slot]>,
    mask: usize,
    head: AtomicUsize,
    /// Samples lost because the queue was full.
    pub(super) dropped: AtomicU64,
}

// SAFETY: a slot's sample is written only by the handler that won its position through the
// compare-exchange on `head`, and read only by the single `Reader` after the writer's release
// store of `seq`; the sequence numbers order every access to a slot.
unsafe impl Sync for Queue {}

impl Queue {
    /// The most samples a queue holds.
    pub(super) const MAX_CAPACITY: usize = 1 << 16;

    /// A queue of at least `capacity` samples (rounded up to a power of two), at least 2 and
    /// at most [`Queue::MAX_CAPACITY`].
    pub(super) fn new(capacity: usize) -> Queue {
        let capacity = capacity.clamp(2, Self::MAX_CAPACITY).next_power_of_two();
        let slots = (0..capacity)
            .map(|i| Slot {
                seq: AtomicUsize::new(i),
                sample: UnsafeCell::new(RawSample::EMPTY),
            })
            .collect();
        Queue {
            slots,
            mask: capacity - 1,
            head: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Claims a slot and lets `fill` write it; counts a drop when the queue is full.
    /// Lock-free: a failed compare-exchange means another writer advanced.
    fn push(&self, fill: impl FnOnce(&mut RawSample)) {
        let mut pos = self.head.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[pos & self.mask];
            let seq = slot.seq.load(Ordering::Acquire);
            match seq.wrapping_sub(pos).cast_signed() {
                0 => match self.head.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: winning the position makes this the only writer of the slot
                        // until the release store below; the reader waits for that store.
                        fill(unsafe { &mut *slot.sample.get() });
                        slot.seq.store(pos.wrapping_add(1), Ordering::Release);
                        return;
                    }
                    Err(now) => pos = now,
                },
                d if d < 0 => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                _ => pos = self.head.load(Ordering::Relaxed),
            }
        }
    }
}

/// The one reader of a [`Queue`]; whoever holds it drains.
#[derive(Debug, Default)]
pub(super) struct Reader {
    tail: usize,
}

impl Reader {
    /// Copies the oldest written sample into `out`; false when there is none.
    pub(super) fn pop(&mut self, queue: &Queue, out: &mut RawSample) -> bool {
        let slot = &queue.slots[self.tail & queue.mask];
        if slot.seq.load(Ordering::Acquire) != self.tail.wrapping_add(1) {
            return false;
        }
        // SAFETY: the writer published this slot with a release store of `tail + 1`, seen
        // above, and no writer touches it again until the store below frees it.
        *out = unsafe { *slot.sample.get() };
        slot.seq.store(
            self.tail.wrapping_add(queue.mask).wrapping_add(1),
            Ordering::Release,
        );
        self.tail = self.tail.wrapping_add(1);
        true
    }
}

/// The readable, writable memory of the process as address ranges, published by the
/// sampler's thread and read by the handler to bound frame-pointer walks. Two tables: the
/// writer fills the one readers are not using and then switches, so a handler meets a table
/// being written only when two publications (20 ms apart at least) overlap its read.
pub(super) struct StackMap {
    active: AtomicUsize,
    tables: [Table; 2],
    /// How far the main thread's stack may have grown below its range.
    growth: usize,
}

impl StackMap {
    pub(super) fn new(capacity: usize, growth: usize) -> StackMap {
        StackMap {
            active: AtomicUsize::new(0),
            tables: [Table::new(capacity), Table::new(capacity)],
            growth,
        }
    }

    /// Replaces the ranges (sorted, not overlapping); ranges past the capacity are left out.
    /// One writer at a time (the sampler's thread).
    pub(super) fn publish(&self, ranges: &[(usize, usize)], main: Option<usize>) {
        let next = 1 - self.active.load(Ordering::Relaxed);
        self.tables[next].publish(ranges, main);
        self.active.store(next, Ordering::Release);
    }

    /// The end of the mapped memory that holds `sp`: every byte from `sp` up to it can be read.
    /// `main` says the stack is the main thread's, which may have grown below the range read.
    fn end_above(&self, sp: usize, main: bool) -> Option<usize> {
        let table = &self.tables[self.active.load(Ordering::Acquire)];
        let growth = if main { self.growth } else { 0 };
        (0..2)
            .find_map(|_| table.try_end_above(sp, growth).ok())
            .flatten()
    }
}

/// One table of ranges, behind a sequence lock: the writer makes the generation odd while it
/// writes, and a reader that sees an odd or changed generation tries again, then gives up on
/// the walk instead of waiting.
struct Table {
    generation: AtomicU64,
    len: AtomicUsize,
    starts: Box<[AtomicUsize]>,
    ends: Box<[AtomicUsize]>,
    /// The index of the main thread's stack, which grows downwards; `usize::MAX` if unknown.
    main: AtomicUsize,
}

impl Table {
    fn new(capacity: usize) -> Table {
        let zeros = || (0..capacity).map(|_| AtomicUsize::new(0)).collect();
        Table {
            generation: AtomicU64::new(0),
            len: AtomicUsize::new(0),
            starts: zeros(),
            ends: zeros(),
            main: AtomicUsize::new(usize::MAX),
        }
    }

    /// Replaces the ranges, as [`StackMap::publish`].
    fn publish(&self, ranges: &[(usize, usize)], main: Option<usize>) {
        let generation = self.generation.load(Ordering::Relaxed);
        self.generation
            .store(generation.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        let n = ranges.len().min(self.starts.len());
        for (i, &(start, end)) in ranges.iter().take(n).enumerate() {
            self.starts[i].store(start, Ordering::Relaxed);
            self.ends[i].store(end, Ordering::Relaxed);
        }
        self.len.store(n, Ordering::Relaxed);
        self.main.store(
            main.filter(|&m| m < n).unwrap_or(usize::MAX),
            Ordering::Relaxed,
        );
        self.generation
            .store(generation.wrapping_add(2), Ordering::Release);
    }

    /// [`StackMap::end_above`] in this table, with the main stack's `growth` (0 for other
    /// threads): an error when a publication overlapped the read.
    fn try_end_above(&self, sp: usize, growth: usize) -> Result<Option<usize>, ()> {
        let generation = self.generation.load(Ordering::Acquire);
        if generation % 2 == 1 {
            return Err(());
        }
        let n = self.len.load(Ordering::Relaxed).min(self.starts.len());
        // The first range that starts above `sp`.
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.starts[mid].load(Ordering::Relaxed) <= sp {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut end = None;
        if lo > 0 && sp < self.ends[lo - 1].load(Ordering::Relaxed) {
            end = Some(self.ends[lo - 1].load(Ordering::Relaxed));
        } else if lo < n
            && self.main.load(Ordering::Relaxed) == lo
            // The kernel bounds the main stack's size, measured from its top. Wrapping: a
            // publication may have moved the range meanwhile (checked below).
            && self.ends[lo].load(Ordering::Relaxed).wrapping_sub(sp) <= growth
        {
            // Below the main stack as last read, above whatever lies under it: the stack grew.
            end = Some(self.ends[lo].load(Ordering::Relaxed));
        }
        fence(Ordering::Acquire);
        if self.generation.load(Ordering::Relaxed) == generation {
            Ok(end)
        } else {
            Err(())
        }
    }
}

/// What the handler needs: the queue and the memory map.
pub(super) struct Shared {
    pub(super) queue: Queue,
    pub(super) stacks: StackMap,
    /// This sampler's number among the samplers this process started: a signal of an earlier
    /// sampler's timer, still queued when it stopped, carries another and is ignored.
    pub(super) epoch: u32,
}

/// The running sampler's memory, or null. Set before the first timer is armed and cleared
/// after the last is deleted.
pub(super) static ACTIVE: AtomicPtr<Shared> = AtomicPtr::new(std::ptr::null_mut());

/// How many handlers are running now: the memory behind [`ACTIVE`] is freed only once this is
/// back to zero after clearing it.
pub(super) static IN_HANDLER: AtomicUsize = AtomicUsize::new(0);

/// The start of the kernel's `siginfo_t` for a POSIX timer's signal (`_sigfault` and the other
/// union members are not needed).
#[repr(C)]
struct TimerInfo {
    signo: libc::c_int,
    errno: libc::c_int,
    code: libc::c_int,
    /// The union that follows is aligned to its pointer-sized member.
    _pad: libc::c_int,
    tid: libc::c_int,
    overrun: libc::c_int,
    value: usize,
}

/// `si_code` of a signal sent by a POSIX timer.
const SI_TIMER: libc::c_int = -2;

/// The `SIGPROF` handler. Signals that no timer of the running sampler sent are ignored.
pub(super) extern "C" fn on_sigprof(
    _signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    IN_HANDLER.fetch_add(1, Ordering::SeqCst);
    let shared = ACTIVE.load(Ordering::SeqCst);
    if !shared.is_null() && !info.is_null() && !context.is_null() {
        // SAFETY: the kernel passes a valid `siginfo_t` and `ucontext_t` to an `SA_SIGINFO`
        // handler; `shared` stays allocated while `IN_HANDLER` is above zero.
        unsafe {
            let info = &*info.cast::<TimerInfo>();
            if info.code == SI_TIMER {
                // The page checks' system calls set `errno`; the interrupted code must find
                // its own.
                let errno = libc::__errno_location();
                let saved = *errno;
                record(&*shared, info, context.cast());
                *errno = saved;
            }
        }
    }
    IN_HANDLER.fetch_sub(1, Ordering::SeqCst);
}

/// Writes one sample of the interrupted context.
///
/// # Safety
/// `context` is the `ucontext_t` the kernel passed to the handler.
unsafe fn record(shared: &Shared, info: &TimerInfo, context: *const libc::ucontext_t) {
    // SAFETY: the caller's guarantee.
    let (pc, fp, sp) = unsafe { registers(context) };
    let (thread, main, epoch) = thread_of(info.value);
    if epoch != shared.epoch {
        return;
    }
    let weight = u32::try_from(info.overrun).unwrap_or(0).saturating_add(1);
    let end = shared.stacks.end_above(sp, main);
    shared.queue.push(|sample| {
        sample.thread = thread;
        sample.weight = weight;
        // SAFETY: `readable` asks the kernel about every page; the pages a walk reads are
        // this thread's stack, which it cannot unmap while it runs, or memory a wrong frame
        // pointer points at, which another thread would have to unmap within microseconds.
        let (depth, walk) = unsafe { walk_frames(pc, fp, sp, end, &mut sample.frames, readable) };
        sample.depth = depth as u32;
        sample.walk = walk;
    });
}

/// The value a thread's timer sends: the sampler's epoch (high 32 bits), the thread's number,
/// and whether it is the main thread (the lowest bit).
pub(super) fn timer_value(epoch: u32, number: u32, main: bool) -> usize {
    (usize::from(epoch as u16) << 32) | ((number as usize) << 1) | usize::from(main)
}

/// The thread's number, whether it is the main thread and the sampler's epoch, from a timer's
/// value.
fn thread_of(value: usize) -> (u32, bool, u32) {
    (
        ((value >> 1) & 0x7fff_ffff) as u32,
        value & 1 == 1,
        ((value >> 32) & 0xffff) as u32,
    )
}

/// Reads the interrupted instruction, frame pointer and stack pointer.
///
/// # Safety
/// `context` points to a valid `ucontext_t`.
#[cfg(target_arch = "x86_64")]
unsafe fn registers(context: *const libc::ucontext_t) -> (usize, usize, usize) {
    // SAFETY: the caller's guarantee.
    let regs = unsafe { &(*context).uc_mcontext.gregs };
    (
        regs[libc::REG_RIP as usize] as usize,
        regs[libc::REG_RBP as usize] as usize,
        regs[libc::REG_RSP as usize] as usize,
    )
}

/// Reads the interrupted instruction, frame pointer (x29) and stack pointer.
///
/// # Safety
/// `context` points to a valid `ucontext_t`.
#[cfg(target_arch = "aarch64")]
unsafe fn registers(context: *const libc::ucontext_t) -> (usize, usize, usize) {
    // SAFETY: the caller's guarantee.
    let m = unsafe { &(*context).uc_mcontext };
    (m.pc as usize, m.regs[29] as usize, m.sp as usize)
}

/// The granularity at which memory is mapped and protected: the smallest page any supported
/// kernel uses, so a check of one such page never vouches for a neighbour.
const PAGE: usize = 4096;

/// Follows the chain of frame records (the caller's frame pointer, then the return address)
/// from `fp`, reading only inside `[sp, end)`. Each record must lie above the previous one.
///
/// A page is read only after `readable` has said it can be read now, once per page and walk:
/// the range around `sp` comes from a memory map that may be a second old, and a frame pointer
/// that is not one may point at memory unmapped since. Even the page of `sp` is checked: a
/// stack pointer just moved to a fresh stack may point at the end of its memory.
///
/// # Safety
/// `readable(page)` returns true only if the page starting at `page` can be read, and the
/// program does not unmap it before the walk, a few microseconds later, reads it.
pub(super) unsafe fn walk_frames(
    pc: usize,
    fp: usize,
    sp: usize,
    end: Option<usize>,
    frames: &mut [usize; MAX_DEPTH],
    mut readable: impl FnMut(usize) -> bool,
) -> (usize, Walk) {
    const WORD: usize = std::mem::size_of::<usize>();
    frames[0] = pc;
    let Some(end) = end else {
        return (1, Walk::UnknownStack);
    };
    let mut depth = 1;
    let mut low = sp;
    let mut fp = fp;
    // The pages known to be readable, `[start, end)`: none at first.
    let mut known = (0, 0);
    loop {
        if fp == 0 {
            return (depth, Walk::Root);
        }
        if fp < low || fp > end.saturating_sub(2 * WORD) || !fp.is_multiple_of(WORD) {
            return (depth, Walk::LeftStack);
        }
        if depth == MAX_DEPTH {
            return (depth, Walk::TooDeep);
        }
        let last = fp + 2 * WORD - 1;
        if last >= known.1 {
            // Records only climb: pages below the known ones are never needed again.
            let first = (fp & !(PAGE - 1)).max(known.1);
            let mut page = first;
            while page <= last {
                if !readable(page) {
                    return (depth, Walk::LeftStack);
                }
                match page.checked_add(PAGE) {
                    Some(next) => page = next,
                    None => break,
                }
            }
            let start = if first == known.1 { known.0 } else { first };
            known = (start, (last & !(PAGE - 1)).saturating_add(PAGE));
        }
        // SAFETY: `[fp, fp + 2 words)` lies in pages `readable` has just vouched for.
        // Volatile: these are bytes the compiler never saw written.
        let (next, ret) = unsafe {
            (
                std::ptr::read_volatile(fp as *const usize),
                std::ptr::read_volatile((fp + WORD) as *const usize),
            )
        };
        if ret == 0 {
            return (depth, Walk::Root);
        }
        frames[depth] = ret;
        depth += 1;
        low = fp + 2 * WORD;
        fp = next;
    }
}

/// Whether the 8 bytes at `address` can be read now, asked of the kernel so that an unmapped
/// or unreadable page fails the call instead of faulting the program. Async-signal-safe; sets
/// `errno`.
///
/// `rt_sigprocmask` with an invalid `how` copies the new mask from `address` first (EFAULT if
/// it cannot be read) and only then refuses the `how` (EINVAL), changing nothing. The C library
/// itself needs this call, so no sandbox refuses it, and it needs no descriptor the program
/// might close.
pub(super) fn readable(address: usize) -> bool {
    // The kernel's signal set: one bit per signal, 64 signals.
    const SIGSET_BYTES: libc::c_long = 8;
    // SAFETY: the kernel reads `SIGSET_BYTES` from `address` inside a fault-checked copy and
    // changes no state of the process: with `how` invalid, the call can only fail.
    let result = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            -1 as libc::c_int,
            address as *const libc::c_void,
            std::ptr::null_mut::<libc::c_void>(),
            SIGSET_BYTES,
        )
    };
    // SAFETY: `__errno_location` returns this thread's `errno`, always valid.
    result == -1 && unsafe { *libc::__errno_location() } == libc::EINVAL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_keeps_order_and_counts_drops() {
        let queue = Queue::new(4);
        let mut reader = Reader::default();
        for i in 0..6 {
            queue.push(|s| s.thread = i);
        }
        assert_eq!(queue.dropped.load(Ordering::Relaxed), 2);
        let mut out = RawSample::EMPTY;
        let mut seen = Vec::new();
        while reader.pop(&queue, &mut out) {
            seen.push(out.thread);
        }
        assert_eq!(seen, [0, 1, 2, 3]);
        // Freed slots are reused, in order.
        queue.push(|s| s.thread = 9);
        assert!(reader.pop(&queue, &mut out));
        assert_eq!(out.thread, 9);
        assert!(!reader.pop(&queue, &mut out));
    }

    #[test]
    fn queue_loses_nothing_between_many_writers_and_one_reader() {
        let queue = std::sync::Arc::new(Queue::new(64));
        let writers: Vec<_> = (0..4u32)
            .map(|w| {
                let queue = queue.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u32 {
                        queue.push(|s| {
                            s.thread = w;
                            s.weight = i;
                        });
                    }
                })
            })
            .collect();
        let mut reader = Reader::default();
        let mut out = RawSample::EMPTY;
        let mut last = [None::<u32>; 4];
        let mut read = 0u64;
        let mut drain = |reader: &mut Reader| {
            while reader.pop(&queue, &mut out) {
                let prev = &mut last[out.thread as usize];
                // Each writer's samples come out in the order it wrote them.
                assert!(prev.is_none_or(|p| p < out.weight));
                *prev = Some(out.weight);
                read += 1;
            }
        };
        while !writers.iter().all(std::thread::JoinHandle::is_finished) {
            drain(&mut reader);
        }
        for w in writers {
            w.join().unwrap();
        }
        // Joined: every write is visible now.
        drain(&mut reader);
        assert_eq!(read + queue.dropped.load(Ordering::Relaxed), 40_000);
    }

    #[test]
    fn stack_map_finds_the_range_and_the_grown_main_stack() {
        let map = StackMap::new(8, 0x8000);
        map.publish(&[(0x1000, 0x2000), (0x5000, 0x9000)], Some(1));
        assert_eq!(map.end_above(0x1000, false), Some(0x2000));
        assert_eq!(map.end_above(0x1fff, false), Some(0x2000));
        assert_eq!(map.end_above(0x8000, false), Some(0x9000));
        // Between the two: below the main stack's recorded start, for the main thread only.
        assert_eq!(map.end_above(0x3000, true), Some(0x9000));
        assert_eq!(map.end_above(0x3000, false), None);
        assert_eq!(map.end_above(0x9000, true), None);
        assert_eq!(map.end_above(0x10, false), None);
        map.publish(&[(0x1000, 0x2000), (0x5000, 0x9000)], None);
        assert_eq!(map.end_above(0x3000, true), None);
        // No further below than the main stack may grow.
        let tight = StackMap::new(8, 0x5000);
        tight.publish(&[(0x1000, 0x2000), (0x5000, 0x9000)], Some(1));
        assert_eq!(tight.end_above(0x4800, true), Some(0x9000));
        assert_eq!(tight.end_above(0x3000, true), None);
        // More ranges than room: the rest are left out.
        let many: Vec<_> = (0..20).map(|i| (i * 0x100, i * 0x100 + 0x80)).collect();
        map.publish(&many, None);
        assert_eq!(map.end_above(0x700, false), Some(0x780));
        assert_eq!(map.end_above(0x900, false), None);
        // The timer's value carries the number and the main thread's mark.
        assert_eq!(thread_of(timer_value(3, 5, true)), (5, true, 3));
        assert_eq!(thread_of(timer_value(0, 0, false)), (0, false, 0));
        assert_eq!(
            thread_of(timer_value(0xffff, 0x7fff_ffff, true)),
            (0x7fff_ffff, true, 0xffff)
        );
    }

    #[test]
    fn walk_follows_frame_records_and_stops_at_the_edges() {
        // A fake stack: three frame records, each [caller's fp, return address].
        let mut stack = [0usize; 16];
        let base = stack.as_ptr() as usize;
        let at = |i: usize| base + i * std::mem::size_of::<usize>();
        stack[2] = at(6);
        stack[3] = 0xaaa;
        stack[6] = at(10);
        stack[7] = 0xbbb;
        stack[10] = 0;
        stack[11] = 0xccc;
        // The walk reads through addresses, which the compiler cannot see: keep the writes.
        std::hint::black_box(&mut stack);
        let end = Some(at(16));
        let mut frames = [0; MAX_DEPTH];
        // SAFETY: `[base, end)` is the array above, all readable.
        let (depth, walk) = unsafe { walk_frames(0x111, at(2), base, end, &mut frames, |_| true) };
        assert_eq!((depth, walk), (4, Walk::Root));
        assert_eq!(frames[..4], [0x111, 0xaaa, 0xbbb, 0xccc]);
        // A record pointing below the previous one ends the walk.
        stack[6] = at(2);
        std::hint::black_box(&mut stack);
        // SAFETY: as above.
        let (depth, walk) = unsafe { walk_frames(0x111, at(2), base, end, &mut frames, |_| true) };
        assert_eq!((depth, walk), (3, Walk::LeftStack));
        // A frame pointer past the end, or misaligned, is not followed.
        // SAFETY: as above.
        let (depth, walk) = unsafe { walk_frames(0x111, at(15), base, end, &mut frames, |_| true) };
        assert_eq!((depth, walk), (1, Walk::LeftStack));
        // SAFETY: as above.
        let (depth, walk) =
            unsafe { walk_frames(0x111, at(2) + 1, base, end, &mut frames, |_| true) };
        assert_eq!((depth, walk), (1, Walk::LeftStack));
        // SAFETY: no memory is read without an end.
        let (depth, walk) = unsafe { walk_frames(0x111, at(2), base, None, &mut frames, |_| true) };
        assert_eq!((depth, walk), (1, Walk::UnknownStack));
    }

    #[test]
    fn walk_checks_each_page_once_before_reading_it() {
        const WORDS: usize = PAGE / std::mem::size_of::<usize>();
        let mut stack = vec![0usize; 6 * WORDS];
        // Start the walk a page in, so that the pages it uses are whole pages of the vector.
        let first = stack.as_ptr() as usize / PAGE * PAGE + PAGE;
        let origin = stack.as_ptr() as usize;
        let index = |address: usize| (address - origin) / std::mem::size_of::<usize>();
        let sp = first + 64;
        // Records: two in the first page, two in the next, one two pages further on, and one
        // that straddles the boundary of the page after that.
        let records = [
            sp + 16,
            sp + 512,
            first + PAGE + 8,
            first + PAGE + 800,
            first + 3 * PAGE + 16,
            first + 4 * PAGE - 8,
        ];
        for (i, &record) in records.iter().enumerate() {
            stack[index(record)] = records.get(i + 1).copied().unwrap_or(0);
            stack[index(record) + 1] = 0x100 + i;
        }
        std::hint::black_box(&mut stack);
        let end = Some(first + 5 * PAGE);
        let mut frames = [0; MAX_DEPTH];
        let mut asked = Vec::new();
        // SAFETY: every page from `first` to `end` is part of the vector.
        let (depth, walk) = unsafe {
            walk_frames(0x1, records[0], sp, end, &mut frames, |page| {
                asked.push(page);
                true
            })
        };
        assert_eq!((depth, walk), (7, Walk::Root));
        assert_eq!(frames[..7], [0x1, 0x100, 0x101, 0x102, 0x103, 0x104, 0x105]);
        let pages = [0, 1, 3, 4].map(|i| first + i * PAGE);
        assert_eq!(asked, pages);
        // A page the kernel refuses ends the walk before anything in it is read, the page of
        // the stack pointer included.
        for (refused, depth) in [(pages[0], 1), (pages[1], 3), (pages[2], 5), (pages[3], 6)] {
            // SAFETY: as above.
            let walked = unsafe {
                walk_frames(0x1, records[0], sp, end, &mut frames, |page| {
                    page != refused
                })
            };
            assert_eq!(walked, (depth, Walk::LeftStack), "{refused:#x}");
        }
    }

    /// Two pages, the first readable and the second not (`PROT_NONE`, as a page unmapped or
    /// protected since the map was read); `free_pages` gives them back.
    fn readable_then_not() -> usize {
        // SAFETY: a fresh anonymous mapping that nothing else refers to; `mprotect` changes
        // only its own second page.
        unsafe {
            let base = libc::mmap(
                std::ptr::null_mut(),
                2 * PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(base, libc::MAP_FAILED);
            let base = base as usize;
            assert_eq!(
                libc::mprotect((base + PAGE) as *mut _, PAGE, libc::PROT_NONE),
                0
            );
            base
        }
    }

    fn free_pages(base: usize) {
        // SAFETY: the two pages `readable_then_not` mapped; nothing refers to them any more.
        unsafe { libc::munmap(base as *mut _, 2 * PAGE) };
    }

    #[test]
    fn the_kernel_tells_readable_pages_from_the_rest_and_changes_nothing() {
        let base = readable_then_not();
        // SAFETY: `sigprocmask` with no new set only reads this thread's mask.
        let mask_before = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &raw mut set);
            set
        };
        // A page full of ones: were the call to take it as a mask, every signal would block.
        // SAFETY: the first page is readable and writable.
        unsafe { std::ptr::write_bytes(base as *mut u8, 0xff, PAGE) };
        assert!(readable(base));
        assert!(readable(base + PAGE - 8));
        assert!(!readable(base + PAGE));
        assert!(!readable(0));
        // Above the user half of the address space.
        assert!(!readable(usize::MAX - PAGE + 1));
        // SAFETY: as above.
        let mask_after = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &raw mut set);
            set
        };
        for signal in 1..32 {
            // SAFETY: `sigismember` reads the sets above.
            unsafe {
                assert_eq!(
                    libc::sigismember(&raw const mask_before, signal),
                    libc::sigismember(&raw const mask_after, signal),
                    "signal {signal}"
                );
            }
        }
        free_pages(base);
    }

    #[test]
    fn a_frame_pointer_into_memory_unreadable_since_the_map_was_read_is_not_followed() {
        // The map read earlier says both pages are one writable range; since then the second
        // became unreadable. The first holds a record that points into it.
        let base = readable_then_not();
        let mut frames = [0; MAX_DEPTH];
        let record = base as *mut usize;
        // SAFETY: the first page is readable and writable.
        unsafe {
            record.write(base + PAGE + 16);
            record.add(1).write(0xaaa);
        }
        // SAFETY: `readable` asks the kernel about each page.
        let walked = unsafe {
            walk_frames(
                0x1,
                base,
                base,
                Some(base + 2 * PAGE),
                &mut frames,
                readable,
            )
        };
        assert_eq!(walked, (2, Walk::LeftStack));
        assert_eq!(frames[..2], [0x1, 0xaaa]);
        free_pages(base);
    }
}
