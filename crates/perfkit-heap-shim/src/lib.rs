//! `libperfkit_heap_shim.so`: perfkit's heap sampler for any dynamically linked program.
//!
//! `perfkit heap --sampled -- PROGRAM` starts `PROGRAM` with this library in `LD_PRELOAD`.
//! Its `malloc`, `calloc`, `realloc`, `reallocarray`, `free`, `posix_memalign`,
//! `aligned_alloc`, `memalign`, `valloc` and `pvalloc` come first in the symbol lookup, call
//! glibc's own allocator (`__libc_malloc` and its siblings) and count and sample around it with
//! perfkit-alloc's [`hooks`](perfkit_alloc::hooks). Sizes are what `malloc_usable_size` says a
//! block holds, so a free counts exactly what its allocation counted.
//!
//! Which process is profiled: the one whose parent is the `perfkit` that started it
//! (`PERFKIT_HEAP_PARENT`), so the command itself, also after it `exec`s another program.
//! Its forked children and anything they start only pass through (counted, never sampled or
//! written). At exit (`exit`, a return from `main`, or `_exit`) the profiled process writes its
//! [`HeapProfile`](perfkit_alloc::HeapProfile) as JSON to `PERFKIT_HEAP_OUT`; a process killed
//! by a signal writes nothing.
//!
//! Environment: `PERFKIT_HEAP_OUT` (the file), `PERFKIT_HEAP_PARENT` (a process ID),
//! `PERFKIT_HEAP_INTERVAL` (mean bytes between samples, 524288 by default),
//! `PERFKIT_HEAP_SEED` (the draws' seed).

#![cfg(target_os = "linux")]

use std::ffi::{CStr, c_int, c_void};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::Relaxed};

use perfkit_alloc::hooks;
use perfkit_alloc::sampling::{self, SamplingOptions};

unsafe extern "C" {
    fn __libc_malloc(size: usize) -> *mut c_void;
    fn __libc_calloc(count: usize, size: usize) -> *mut c_void;
    fn __libc_realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    fn __libc_free(ptr: *mut c_void);
    fn __libc_memalign(align: usize, size: usize) -> *mut c_void;
    fn __libc_valloc(size: usize) -> *mut c_void;
    fn __libc_pvalloc(size: usize) -> *mut c_void;
}

/// The profiled process's ID (0: this process only passes through).
static PROFILED: AtomicI32 = AtomicI32::new(0);

/// Whether a block's size can be read from glibc's chunk header, which `init` checks
/// against `malloc_usable_size` before trusting it.
static HEADER_SIZES: AtomicBool = AtomicBool::new(false);

/// The bytes the block at `ptr` (not null) holds: what `malloc_usable_size` says, read
/// straight from the chunk header in front of the block when `init` found that they agree
/// (the call costs as much as the rest of the shim's bookkeeping together).
#[inline]
fn usable(ptr: *mut c_void) -> usize {
    if HEADER_SIZES.load(Relaxed) {
        // SAFETY: `ptr` is a live block of glibc's allocator (every shim function passes only
        // those), so the word before it is its chunk's size field.
        let field = unsafe { ptr.cast::<usize>().sub(1).read() };
        header_usable(field)
    } else {
        // SAFETY: as above; glibc's own answer.
        unsafe { libc::malloc_usable_size(ptr) }
    }
}

/// The usable bytes of a glibc chunk from its size field: the chunk size less the header,
/// whose second word the next chunk's block may use unless the chunk is mapped on its own
/// (`IS_MMAPPED`).
#[inline]
fn header_usable(field: usize) -> usize {
    const IS_MMAPPED: usize = 0x2;
    let chunk = field & !0x7;
    let word = std::mem::size_of::<usize>();
    if field & IS_MMAPPED != 0 {
        chunk.saturating_sub(2 * word)
    } else {
        chunk.saturating_sub(word)
    }
}

/// Whether the chunk headers of blocks of several sizes (a mapped one among them) give what
/// `malloc_usable_size` says.
fn header_sizes_agree() -> bool {
    [1usize, 24, 100, 1000, 40_000, 300_000, 4 << 20]
        .iter()
        .all(|&size| {
            // SAFETY: glibc's own allocator, freed at once.
            unsafe {
                let ptr = __libc_malloc(size);
                if ptr.is_null() {
                    return false;
                }
                let field = ptr.cast::<usize>().sub(1).read();
                let agree = header_usable(field) == libc::malloc_usable_size(ptr);
                __libc_free(ptr);
                agree
            }
        })
}

#[inline]
fn counted(ptr: *mut c_void) -> *mut c_void {
    if !ptr.is_null() {
        hooks::allocated(ptr.cast(), usable(ptr));
    }
    ptr
}

/// `malloc`, counted.
///
/// # Safety
/// As C's `malloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    // SAFETY: glibc's own malloc, with the caller's argument.
    counted(unsafe { __libc_malloc(size) })
}

/// `calloc`, counted.
///
/// # Safety
/// As C's `calloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    // SAFETY: glibc's own calloc (which checks the product for overflow).
    counted(unsafe { __libc_calloc(count, size) })
}

/// `free`, counted.
///
/// # Safety
/// As C's `free`: `ptr` is null or a live block of this allocator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    hooks::freeing(ptr.cast(), usable(ptr));
    // SAFETY: the caller's live block, to glibc's own free.
    unsafe { __libc_free(ptr) }
}

/// `realloc`, counted: a block moved or resized keeps its sample.
///
/// # Safety
/// As C's `realloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    if ptr.is_null() {
        // SAFETY: realloc(NULL, n) is malloc(n).
        return unsafe { malloc(size) };
    }
    let old = usable(ptr);
    if size == 0 {
        // glibc frees the block and returns null.
        hooks::freeing(ptr.cast(), old);
        // SAFETY: the caller's live block.
        return counted(unsafe { __libc_realloc(ptr, 0) });
    }
    let token = hooks::realloc_begin(ptr.cast());
    // SAFETY: the caller's live block and size, to glibc's own realloc.
    let new = unsafe { __libc_realloc(ptr, size) };
    let new_size = if new.is_null() { old } else { usable(new) };
    hooks::realloc_end(token, ptr.cast(), new.cast(), old, new_size);
    new
}

/// `reallocarray`, counted.
///
/// # Safety
/// As C's `reallocarray`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reallocarray(ptr: *mut c_void, count: usize, size: usize) -> *mut c_void {
    let Some(bytes) = count.checked_mul(size) else {
        set_errno(libc::ENOMEM);
        return std::ptr::null_mut();
    };
    // SAFETY: as the caller's.
    unsafe { realloc(ptr, bytes) }
}

/// `memalign`, counted.
///
/// # Safety
/// As C's `memalign`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    // SAFETY: glibc's own memalign, with the caller's arguments.
    counted(unsafe { __libc_memalign(align, size) })
}

/// `aligned_alloc`, counted; an alignment that is not a power of two is refused (`EINVAL`).
///
/// # Safety
/// As C's `aligned_alloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    }
    // SAFETY: as memalign.
    unsafe { memalign(align, size) }
}

/// `posix_memalign`, counted: `EINVAL` for an alignment that is not a power of two multiple
/// of `sizeof(void *)`, `ENOMEM` when there is no memory.
///
/// # Safety
/// As C's `posix_memalign`: `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    if !align.is_power_of_two() || !align.is_multiple_of(std::mem::size_of::<*mut c_void>()) {
        return libc::EINVAL;
    }
    // SAFETY: glibc's own memalign.
    let ptr = counted(unsafe { __libc_memalign(align, size) });
    if ptr.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: the caller passes a writable pointer.
    unsafe { out.write(ptr) };
    0
}

/// `valloc`, counted.
///
/// # Safety
/// As C's `valloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    // SAFETY: glibc's own valloc.
    counted(unsafe { __libc_valloc(size) })
}

/// `pvalloc`, counted.
///
/// # Safety
/// As C's `pvalloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    // SAFETY: glibc's own pvalloc.
    counted(unsafe { __libc_pvalloc(size) })
}

fn set_errno(value: c_int) {
    // SAFETY: errno is this thread's; writing it is what C's allocators do on failure.
    unsafe { *libc::__errno_location() = value };
}

/// An environment variable, read without allocating (this runs before `main`).
fn env(name: &CStr) -> Option<&'static [u8]> {
    // SAFETY: getenv with a valid C string; the value lives as long as the environment, which
    // this library never changes.
    let value = unsafe { libc::getenv(name.as_ptr()) };
    if value.is_null() {
        return None;
    }
    // SAFETY: getenv returns a NUL-terminated string.
    Some(unsafe { CStr::from_ptr(value) }.to_bytes())
}

fn env_number(name: &CStr) -> Option<u64> {
    std::str::from_utf8(env(name)?).ok()?.trim().parse().ok()
}

/// The child side of `fork`: a forked child only passes through.
extern "C" fn forked_child() {
    sampling::stop();
    PROFILED.store(0, Relaxed);
}

/// Runs before `main` (from `.init_array`): starts sampling in the profiled process.
extern "C" fn init() {
    HEADER_SIZES.store(header_sizes_agree(), Relaxed);
    let Some(parent) = env_number(c"PERFKIT_HEAP_PARENT") else {
        return;
    };
    // SAFETY: getppid and getpid cannot fail.
    let (parent_now, pid) = unsafe { (libc::getppid(), libc::getpid()) };
    if u64::try_from(parent_now).ok() != Some(parent) || env(c"PERFKIT_HEAP_OUT").is_none() {
        return;
    }
    let options = SamplingOptions {
        interval: env_number(c"PERFKIT_HEAP_INTERVAL")
            .filter(|&n| n > 0)
            .unwrap_or(sampling::DEFAULT_INTERVAL),
        seed: env_number(c"PERFKIT_HEAP_SEED").unwrap_or(SamplingOptions::default().seed),
    };
    if sampling::start(&options).is_ok() {
        PROFILED.store(pid, Relaxed);
        // SAFETY: a plain function that stores atomics, valid for the life of the process.
        unsafe { libc::pthread_atfork(None, None, Some(forked_child)) };
    }
}

/// Runs at exit (from `.fini_array`, after the program's own destructors): writes the profile.
extern "C" fn fini() {
    write_profile();
}

/// `_exit`, which skips `.fini_array`: the profile is written first (a shell's `exit`
/// builtin and many programs end this way).
///
/// A program may call `_exit` from a signal handler that interrupted `malloc`, whose lock the
/// profile's own allocations would then wait for forever. A timer ends such a wait: after
/// [`EXIT_WRITE_LIMIT`] the process dies of `SIGALRM` instead of hanging.
///
/// # Safety
/// As C's `_exit`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _exit(status: c_int) -> ! {
    exit_now(status)
}

/// `_Exit`: as [`_exit`].
///
/// # Safety
/// As C's `_Exit`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _Exit(status: c_int) -> ! {
    exit_now(status)
}

/// What `_exit` and `_Exit` do: write the profile, then end the process.
fn exit_now(status: c_int) -> ! {
    if is_profiled() {
        arm_exit_watchdog();
        write_profile();
    }
    loop {
        // SAFETY: exit_group ends every thread of the process; it does not return.
        unsafe { libc::syscall(libc::SYS_exit_group, status) };
    }
}

/// How long `_exit` may spend writing the profile.
const EXIT_WRITE_LIMIT: libc::time_t = 30;

/// Whether this process is the one profiled (not a forked child).
fn is_profiled() -> bool {
    let profiled = PROFILED.load(Relaxed);
    // SAFETY: getpid cannot fail.
    profiled != 0 && profiled == unsafe { libc::getpid() }
}

/// A real-time timer that kills the process with `SIGALRM` (default action, unblocked) if
/// writing the profile at `_exit` takes longer than [`EXIT_WRITE_LIMIT`].
fn arm_exit_watchdog() {
    // SAFETY: plain system calls on this thread's signal state and the process's timer; the
    // process is exiting, so the program's own SIGALRM handler and timer are no longer needed.
    unsafe {
        libc::signal(libc::SIGALRM, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        libc::sigaddset(&raw mut set, libc::SIGALRM);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &raw const set, std::ptr::null_mut());
        let timer = libc::itimerval {
            it_interval: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            it_value: libc::timeval {
                tv_sec: EXIT_WRITE_LIMIT,
                tv_usec: 0,
            },
        };
        libc::setitimer(libc::ITIMER_REAL, &raw const timer, std::ptr::null_mut());
    }
}

/// Writes the profile to `PERFKIT_HEAP_OUT`, once, in the profiled process.
fn write_profile() {
    if !is_profiled() {
        return;
    }
    PROFILED.store(0, Relaxed);
    sampling::stop();
    let Some(out) = env(c"PERFKIT_HEAP_OUT") else {
        return;
    };
    let mut profile = sampling::profile();
    profile.command = std::fs::read("/proc/self/cmdline").ok().map(|line| {
        let words: Vec<String> = line
            .split(|&b| b == 0)
            .filter(|w| !w.is_empty())
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        words.join(" ")
    });
    let out =
        std::path::Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(out));
    let _ = write(out, &profile);
}

/// Writes the profile beside `out` and renames it into place, so that a reader never sees
/// half a file.
fn write(out: &std::path::Path, profile: &perfkit_alloc::HeapProfile) -> std::io::Result<()> {
    let mut partial = out.as_os_str().to_owned();
    partial.push(format!(".{}.partial", std::process::id()));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&partial)?);
    serde_json::to_writer(&mut file, profile)?;
    file.flush()?;
    std::fs::rename(&partial, out)
}

#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn() = init;

#[used]
#[unsafe(link_section = ".fini_array")]
static FINI: extern "C" fn() = fini;
