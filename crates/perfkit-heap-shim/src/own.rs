//! The shim's own allocations (Rust's global allocator in the shim). Normally they go through
//! the shim's `malloc` like the program's. While the profile is written they come from memory
//! mapped for them instead: writing may happen in `_exit` called from a signal handler that
//! interrupted the program's allocator inside its lock, where calling it again would corrupt
//! its heap or wait for ever.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

/// Set for good once the profile is being written (the process is ending).
pub(crate) static WRITING: AtomicBool = AtomicBool::new(false);

/// The shim's global allocator.
pub(crate) struct OwnAllocator;

const CHUNK: usize = 64 << 20;

/// The current chunk's next free address and end (0: none yet).
static NEXT: AtomicUsize = AtomicUsize::new(0);
static END: AtomicUsize = AtomicUsize::new(0);
/// Lowest and highest address ever mapped for the arena, to recognise its blocks.
static LOW: AtomicUsize = AtomicUsize::new(usize::MAX);
static HIGH: AtomicUsize = AtomicUsize::new(0);

fn map(bytes: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping; nothing else refers to it.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return std::ptr::null_mut();
    }
    let start = ptr as usize;
    LOW.fetch_min(start, Relaxed);
    HIGH.fetch_max(start + bytes, Relaxed);
    ptr.cast()
}

/// A block from the arena (one writer at a time: the thread writing the profile).
fn arena_alloc(layout: Layout) -> *mut u8 {
    let align = layout.align().max(16);
    let size = layout.size().max(1);
    if size > CHUNK / 4 {
        return map(size.next_multiple_of(4096));
    }
    let mut next = NEXT.load(Relaxed).next_multiple_of(align);
    if next == 0 || next + size > END.load(Relaxed) {
        let chunk = map(CHUNK);
        if chunk.is_null() {
            return chunk;
        }
        next = chunk as usize;
        END.store(next + CHUNK, Relaxed);
    }
    NEXT.store(next + size, Relaxed);
    next as *mut u8
}

fn in_arena(ptr: *mut u8) -> bool {
    let address = ptr as usize;
    address >= LOW.load(Relaxed) && address < HIGH.load(Relaxed)
}

// SAFETY: blocks come from the system allocator (through the shim's `malloc`) or, while
// writing, from private mappings that are never unmapped; each block is freed or resized by
// the allocator that made it, and arena blocks are never freed (the process is ending).
unsafe impl GlobalAlloc for OwnAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WRITING.load(Relaxed) {
            return arena_alloc(layout);
        }
        // SAFETY: the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // While writing, even a block of the system allocator stays: freeing it would call it.
        if in_arena(ptr) || WRITING.load(Relaxed) {
            return;
        }
        // SAFETY: a block of the system allocator, with its layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !WRITING.load(Relaxed) && !in_arena(ptr) {
            // SAFETY: a block of the system allocator, with its layout.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        let new = arena_alloc(new_layout);
        if !new.is_null() {
            // SAFETY: both blocks hold at least the smaller size and do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        }
        new
    }
}
