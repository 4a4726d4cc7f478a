//! The counting and sampling of [`TrackingAllocator`](crate::TrackingAllocator), for
//! allocators that cannot be a `GlobalAlloc` wrapper: a preloaded `malloc` shim calls these
//! around the real `malloc`, `free` and `realloc`, and its calls then add to the same
//! counters and heap profile.
//!
//! None of them allocates, and none reads or writes through the pointers it is given: they are
//! the blocks' names.

#[cfg(feature = "sampling")]
use crate::sampling;
use crate::slots;

/// `size` bytes were allocated at `ptr` (not null).
#[inline]
pub fn allocated(ptr: *mut u8, size: usize) {
    slots::on_alloc(size, ptr);
}

/// `ptr`, a block of `size` bytes, is about to be freed. Call it before the block goes back
/// to the allocator, which may hand its address out again at once.
#[inline]
pub fn freeing(ptr: *mut u8, size: usize) {
    #[cfg(feature = "sampling")]
    sampling::freeing(ptr);
    #[cfg(not(feature = "sampling"))]
    let _ = ptr;
    slots::on_dealloc(size);
}

/// What [`realloc_begin`] hands to [`realloc_end`].
#[derive(Debug)]
pub struct ReallocToken {
    #[cfg(feature = "sampling")]
    sample: sampling::ReallocToken,
}

/// `ptr` is about to be passed to `realloc`.
#[inline]
#[must_use]
pub fn realloc_begin(ptr: *mut u8) -> ReallocToken {
    #[cfg(not(feature = "sampling"))]
    let _ = ptr;
    ReallocToken {
        #[cfg(feature = "sampling")]
        sample: sampling::realloc_begin(ptr),
    }
}

/// `realloc` of `old` (a block of `old_size` bytes) to `new_size` bytes returned `new`; null
/// when it failed and the block stayed at `old`.
#[inline]
pub fn realloc_end(
    token: ReallocToken,
    old: *mut u8,
    new: *mut u8,
    old_size: usize,
    new_size: usize,
) {
    if new.is_null() {
        #[cfg(feature = "sampling")]
        sampling::realloc_end(
            token.sample,
            old,
            new,
            old_size as u64,
            old_size as u64,
            false,
        );
        #[cfg(not(feature = "sampling"))]
        let _ = (token, old);
        return;
    }
    #[cfg(feature = "sampling")]
    slots::on_realloc_with(old_size, new_size, |sampled| {
        sampling::realloc_end(
            token.sample,
            old,
            new,
            old_size as u64,
            new_size as u64,
            sampled,
        );
    });
    #[cfg(not(feature = "sampling"))]
    {
        let _ = (token, old);
        slots::on_realloc(old_size, new_size);
    }
}
