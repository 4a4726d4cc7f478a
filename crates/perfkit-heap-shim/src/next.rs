//! The allocator the program would have called without the shim: the next definition of each
//! function after the shim's own (`dlsym(RTLD_NEXT, …)`), glibc's or one the program brings
//! (jemalloc, tcmalloc, glibc's malloc debugging library). Every block the shim hands out
//! comes from it and goes back to it, so the program keeps its allocator.
//!
//! The functions are looked up on the first call. `dlsym` itself may allocate; calls made
//! while the look-up runs are served from a small static arena, and their blocks are never
//! freed (`free` recognises them and does nothing).

use std::cell::UnsafeCell;
use std::ffi::{CStr, c_int, c_void};
use std::sync::atomic::{
    AtomicU8, AtomicUsize, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};

/// The next allocator's functions.
pub(crate) struct Next {
    pub(crate) malloc: unsafe extern "C" fn(usize) -> *mut c_void,
    pub(crate) calloc: unsafe extern "C" fn(usize, usize) -> *mut c_void,
    pub(crate) realloc: unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void,
    pub(crate) free: unsafe extern "C" fn(*mut c_void),
    pub(crate) memalign: Option<unsafe extern "C" fn(usize, usize) -> *mut c_void>,
    pub(crate) posix_memalign:
        Option<unsafe extern "C" fn(*mut *mut c_void, usize, usize) -> c_int>,
    pub(crate) aligned_alloc: Option<unsafe extern "C" fn(usize, usize) -> *mut c_void>,
    pub(crate) valloc: Option<unsafe extern "C" fn(usize) -> *mut c_void>,
    pub(crate) pvalloc: Option<unsafe extern "C" fn(usize) -> *mut c_void>,
    pub(crate) usable_size: Option<unsafe extern "C" fn(*mut c_void) -> usize>,
    /// Whether `malloc` is glibc's own, whose chunk headers the shim may read.
    pub(crate) is_glibc: bool,
}

const UNRESOLVED: u8 = 0;
const RESOLVING: u8 = 1;
const READY: u8 = 2;
/// The look-up could not find `malloc` (no dynamic loader): nothing works, abort.
const FAILED: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNRESOLVED);
static NEXT: Found = Found(UnsafeCell::new(None));

/// The looked-up functions: written once by the thread that looks them up, read by all after.
struct Found(UnsafeCell<Option<Next>>);

// SAFETY: written once, before `STATE` becomes READY (release); read only after READY is seen
// (acquire).
unsafe impl Sync for Found {}

impl Found {
    /// The functions, once READY.
    fn get(&self) -> Option<&Next> {
        // SAFETY: called only after READY was seen; nothing writes after that.
        unsafe { (*self.0.get()).as_ref() }
    }
}

unsafe extern "C" {
    fn __libc_malloc(size: usize) -> *mut c_void;
}

/// The next allocator, looked up on first use; `None` while the look-up runs (the caller
/// then uses the [bootstrap arena](bootstrap)).
#[inline]
pub(crate) fn next() -> Option<&'static Next> {
    if STATE.load(Acquire) == READY {
        return NEXT.get();
    }
    resolve()
}

#[cold]
#[inline(never)]
fn resolve() -> Option<&'static Next> {
    match STATE.compare_exchange(UNRESOLVED, RESOLVING, Acquire, Acquire) {
        Ok(_) => {}
        Err(READY) => return NEXT.get(),
        // This thread is inside the look-up (dlsym allocating), or another thread is: the
        // program is still starting, with one thread; the arena serves it.
        Err(RESOLVING) => return None,
        Err(_) => std::process::abort(),
    }
    let found = look_up();
    let Some(found) = found else {
        STATE.store(FAILED, Release);
        std::process::abort();
    };
    // SAFETY: only the thread that moved STATE to RESOLVING writes NEXT, once, before READY;
    // no one reads it before READY.
    unsafe { *NEXT.0.get() = Some(found) };
    STATE.store(READY, Release);
    NEXT.get()
}

/// The address of the next definition of `name` after this library's (libc's, or one the
/// program brings), if there is one.
pub(crate) fn symbol(name: &CStr) -> Option<usize> {
    // SAFETY: dlsym with RTLD_NEXT and a valid C string; it returns null when absent.
    let address = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    (!address.is_null()).then_some(address as usize)
}

fn look_up() -> Option<Next> {
    /// `address` as a function pointer of type `F`.
    ///
    /// # Safety
    /// `address` is the function named, whose C signature `F` is.
    unsafe fn as_fn<F: Copy>(address: usize) -> F {
        // SAFETY: a function pointer is a pointer-sized address; the caller names its type.
        unsafe { std::mem::transmute_copy(&address) }
    }
    let malloc = symbol(c"malloc")?;
    // SAFETY: each address is the next definition of the C function named, whose standard
    // signature the field's type is.
    unsafe {
        Some(Next {
            malloc: as_fn(malloc),
            calloc: as_fn(symbol(c"calloc")?),
            realloc: as_fn(symbol(c"realloc")?),
            free: as_fn(symbol(c"free")?),
            memalign: symbol(c"memalign").map(|a| as_fn(a)),
            posix_memalign: symbol(c"posix_memalign").map(|a| as_fn(a)),
            aligned_alloc: symbol(c"aligned_alloc").map(|a| as_fn(a)),
            valloc: symbol(c"valloc").map(|a| as_fn(a)),
            pvalloc: symbol(c"pvalloc").map(|a| as_fn(a)),
            usable_size: symbol(c"malloc_usable_size").map(|a| as_fn(a)),
            is_glibc: malloc == __libc_malloc as *const () as usize,
        })
    }
}

/// The arena that serves allocations made while the next allocator is looked up.
pub(crate) mod bootstrap {
    use super::{AtomicUsize, Relaxed};
    use std::ffi::c_void;

    const SIZE: usize = 64 * 1024;

    #[repr(C, align(16))]
    struct Arena([u8; SIZE]);

    static mut ARENA: Arena = Arena([0; SIZE]);
    static USED: AtomicUsize = AtomicUsize::new(0);

    /// `size` bytes from the arena (zeroed, 16-aligned), null when it is used up.
    pub(crate) fn alloc(size: usize) -> *mut c_void {
        let rounded = size.max(1).div_ceil(16) * 16;
        let start = USED.fetch_add(rounded, Relaxed);
        if start.saturating_add(rounded) > SIZE {
            return std::ptr::null_mut();
        }
        // SAFETY: `start..start + rounded` is within the arena and handed out once.
        unsafe { (&raw mut ARENA.0).cast::<u8>().add(start).cast() }
    }

    /// The arena's bytes from `ptr` (one of its blocks) to its end.
    pub(crate) fn room_after(ptr: *mut c_void) -> usize {
        let base = (&raw const ARENA) as usize;
        (base + SIZE).saturating_sub(ptr as usize)
    }

    /// Whether `ptr` is a block of the arena.
    pub(crate) fn owns(ptr: *mut c_void) -> bool {
        let base = (&raw const ARENA) as usize;
        (base..base + SIZE).contains(&(ptr as usize))
    }
}
