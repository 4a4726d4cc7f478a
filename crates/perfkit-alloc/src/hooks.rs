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
#[allow(clippy::needless_pass_by_value)] // The token is spent here, as its type says.
pub fn realloc_end(
    token: ReallocToken,
    old: *mut u8,
    new: *mut u8,
    old_size: usize,
    new_size: usize,
) {
    let _ = old;
    if new.is_null() {
        #[cfg(feature = "sampling")]
        sampling::realloc_end(token.sample, new, 0, false);
        #[cfg(not(feature = "sampling"))]
        let _ = token;
        return;
    }
    #[cfg(feature = "sampling")]
    slots::on_realloc_with(old_size, new_size, |sampled| {
        sampling::realloc_end(token.sample, new, new_size as u64, sampled);
    });
    #[cfg(not(feature = "sampling"))]
    {
        let _ = token;
        slots::on_realloc(old_size, new_size);
    }
}
