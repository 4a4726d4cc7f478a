//! `libperfkit_heap_shim.so`: perfkit's heap sampler for any dynamically linked program.
//!
//! `perfkit heap --sampled -- PROGRAM` starts `PROGRAM` with this library in `LD_PRELOAD`.
//! Its `malloc`, `calloc`, `realloc`, `reallocarray`, `free`, `posix_memalign`,
//! `aligned_alloc`, `memalign`, `valloc` and `pvalloc` come first in the symbol lookup, call
//! the allocator the program would have called without it ([`next`]: glibc's, or jemalloc's,
//! tcmalloc's…) and count and sample around it with perfkit-alloc's
//! [`hooks`](perfkit_alloc::hooks). Sizes are what that allocator's `malloc_usable_size` says a
//! block holds, so a free counts exactly what its allocation counted.
//!
//! Which process is profiled: the child of the `perfkit` that started it
//! (`PERFKIT_HEAP_PARENT`), which marks itself in `PERFKIT_HEAP_PID`, so the command itself,
//! also after it `exec`s another program. Its forked children and anything they start only
//! pass through (counted, never sampled or written). At exit (`exit`, a return from `main`, or
//! `_exit`) the profiled process writes its [`HeapProfile`](perfkit_alloc::HeapProfile) as
//! JSON to `PERFKIT_HEAP_OUT` (an absolute path, read at start). So does a profiled process
//! that `SIGINT`, `SIGTERM`, `SIGHUP` or `SIGPIPE` ends by its default action ([`signals`]);
//! one killed by any other signal writes nothing.
//!
//! Environment: `PERFKIT_HEAP_OUT` (the file), `PERFKIT_HEAP_PARENT` (a process ID),
//! `PERFKIT_HEAP_INTERVAL` (mean bytes between samples, 524288 by default),
//! `PERFKIT_HEAP_SEED` (the draws' random seed); `PERFKIT_HEAP_PID`, set by the shim.

#![cfg(target_os = "linux")]

mod next;
mod own;
pub mod signals;

#[global_allocator]
static OWN: own::OwnAllocator = own::OwnAllocator;

use std::ffi::{CStr, c_char, c_int, c_void};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{
    AtomicBool, AtomicI32,
    Ordering::{Relaxed, SeqCst},
};

use perfkit_alloc::hooks;
use perfkit_alloc::sampling::{self, SamplingOptions};

use next::{bootstrap, next};

/// The profiled process's ID (0: this process only passes through, or its profile is written);
/// while the profile is being written, minus the writing thread's ID. One atomic, so that the
/// write is claimed and seen as under way in one step.
static PROFILED: AtomicI32 = AtomicI32::new(0);
/// Where the profile goes and the perfkit that waits for it, read once at start: the
/// program's own changes to its environment cannot move the file.
static OUT: OnceLock<(PathBuf, libc::pid_t)> = OnceLock::new();

/// Whether a block's size can be read from glibc's chunk header, which `init` checks
/// against `malloc_usable_size` before trusting it.
static HEADER_SIZES: AtomicBool = AtomicBool::new(false);

/// The bytes the block at `ptr` (not null) holds: what the allocator's `malloc_usable_size`
/// says, read straight from the chunk header in front of the block when the allocator is
/// glibc's and `init` found that the two agree (the call costs as much as the rest of the
/// shim's bookkeeping together). 0 for an allocator without `malloc_usable_size`: its calls are
/// counted, its bytes are not.
#[inline]
fn usable(ptr: *mut c_void) -> usize {
    if HEADER_SIZES.load(Relaxed) {
        // SAFETY: `ptr` is a live block of glibc's allocator (every shim function passes only
        // those), so the word before it is its chunk's size field.
        let field = unsafe { ptr.cast::<usize>().sub(1).read() };
        if let Some(size) = header_usable(field) {
            return size;
        }
    }
    match next().and_then(|n| n.usable_size) {
        // SAFETY: a live block of the allocator whose function this is.
        Some(usable_size) => unsafe { usable_size(ptr) },
        None => 0,
    }
}

/// The usable bytes of a glibc chunk from its size field: the chunk size less the header,
/// whose second word the next chunk's block may use. `None` for a chunk mapped on its own
/// (`IS_MMAPPED`), which glibc's function is asked about instead: they are few and large.
#[inline]
fn header_usable(field: usize) -> Option<usize> {
    const IS_MMAPPED: usize = 0x2;
    if field & IS_MMAPPED != 0 {
        return None;
    }
    Some((field & !0x7).saturating_sub(std::mem::size_of::<usize>()))
}

/// Whether the chunk headers of blocks of several sizes give what glibc's
/// `malloc_usable_size` says. The sizes stay below glibc's mmap threshold: freeing a mapped
/// chunk would raise the threshold for the rest of the program.
fn header_sizes_agree() -> bool {
    let Some(next) = next().filter(|n| n.is_glibc) else {
        return false;
    };
    let Some(usable_size) = next.usable_size else {
        return false;
    };
    [1usize, 24, 100, 1000, 40_000, 100_000]
        .iter()
        .all(|&size| {
            // SAFETY: glibc's own allocator, freed at once.
            unsafe {
                let ptr = (next.malloc)(size);
                if ptr.is_null() {
                    return false;
                }
                let field = ptr.cast::<usize>().sub(1).read();
                let agree = header_usable(field) == Some(usable_size(ptr));
                (next.free)(ptr);
                agree
            }
        })
}

#[inline]
fn counted(ptr: *mut c_void) -> *mut c_void {
    if !ptr.is_null() && !bootstrap::owns(ptr) {
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
    let Some(next) = next() else {
        return bootstrap::alloc(size);
    };
    // SAFETY: the next allocator's malloc, with the caller's argument.
    counted(unsafe { (next.malloc)(size) })
}

/// `calloc`, counted.
///
/// # Safety
/// As C's `calloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    let Some(next) = next() else {
        return count
            .checked_mul(size)
            .map_or(std::ptr::null_mut(), bootstrap::alloc);
    };
    // SAFETY: the next allocator's calloc (which checks the product for overflow).
    counted(unsafe { (next.calloc)(count, size) })
}

/// `free`, counted.
///
/// # Safety
/// As C's `free`: `ptr` is null or a live block of this allocator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(ptr: *mut c_void) {
    if ptr.is_null() || bootstrap::owns(ptr) {
        return;
    }
    let Some(next) = next() else {
        return;
    };
    hooks::freeing(ptr.cast(), usable(ptr));
    // SAFETY: the caller's live block, to the allocator that made it.
    unsafe { (next.free)(ptr) }
}

/// `realloc`, counted: the old block counts as freed and the new one as allocated.
///
/// # Safety
/// As C's `realloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    if ptr.is_null() {
        // SAFETY: realloc(NULL, n) is malloc(n).
        return unsafe { malloc(size) };
    }
    if bootstrap::owns(ptr) {
        // SAFETY: a new block, then as much of the arena block as fits (an arena block's
        // size is not kept; the arena's bytes past it are readable).
        unsafe {
            let new = malloc(size);
            if !new.is_null() {
                let room = bootstrap::room_after(ptr).min(size);
                std::ptr::copy_nonoverlapping(ptr.cast::<u8>(), new.cast::<u8>(), room);
            }
            return new;
        }
    }
    let Some(next) = next() else {
        return std::ptr::null_mut();
    };
    let old = usable(ptr);
    if size == 0 {
        // glibc frees the block and returns null (other allocators may return a block).
        hooks::freeing(ptr.cast(), old);
        // SAFETY: the caller's live block.
        return counted(unsafe { (next.realloc)(ptr, 0) });
    }
    let token = hooks::realloc_begin(ptr.cast());
    // SAFETY: the caller's live block and size, to the allocator that made it.
    let new = unsafe { (next.realloc)(ptr, size) };
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

/// An aligned allocation through the next allocator's `function`, counted; `ENOMEM` when the
/// allocator has no such function (as the program would have found none).
fn aligned(
    function: impl FnOnce(&next::Next) -> Option<*mut c_void>,
    align: usize,
    size: usize,
) -> *mut c_void {
    let Some(next) = next() else {
        // While the allocator is looked up: the arena's blocks are 16-aligned.
        return if align <= 16 {
            bootstrap::alloc(size)
        } else {
            std::ptr::null_mut()
        };
    };
    if let Some(ptr) = function(next) {
        return counted(ptr);
    }
    set_errno(libc::ENOMEM);
    std::ptr::null_mut()
}

/// `memalign`, counted.
///
/// # Safety
/// As C's `memalign`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    // SAFETY: the next allocator's memalign, with the caller's arguments.
    aligned(
        |n| n.memalign.map(|f| unsafe { f(align, size) }),
        align,
        size,
    )
}

/// `aligned_alloc`, counted.
///
/// # Safety
/// As C's `aligned_alloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    // SAFETY: the next allocator's aligned_alloc, with the caller's arguments.
    aligned(
        |n| n.aligned_alloc.map(|f| unsafe { f(align, size) }),
        align,
        size,
    )
}

/// `valloc`, counted.
///
/// # Safety
/// As C's `valloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    // SAFETY: the next allocator's valloc.
    aligned(|n| n.valloc.map(|f| unsafe { f(size) }), 4096, size)
}

/// `pvalloc`, counted.
///
/// # Safety
/// As C's `pvalloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    // SAFETY: the next allocator's pvalloc.
    aligned(|n| n.pvalloc.map(|f| unsafe { f(size) }), 4096, size)
}

/// `posix_memalign`, counted; its errors are the next allocator's.
///
/// # Safety
/// As C's `posix_memalign`: `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    let Some(next) = next() else {
        // While the allocator is looked up: the arena's blocks are 16-aligned.
        let ptr = if align <= 16 {
            bootstrap::alloc(size)
        } else {
            std::ptr::null_mut()
        };
        if ptr.is_null() {
            return libc::ENOMEM;
        }
        // SAFETY: the caller passes a writable pointer.
        unsafe { out.write(ptr) };
        return 0;
    };
    let Some(function) = next.posix_memalign else {
        return libc::ENOMEM;
    };
    // SAFETY: the next allocator's posix_memalign with the caller's arguments.
    let result = unsafe { function(out, align, size) };
    if result == 0 {
        // SAFETY: on success the allocator wrote the block to `out`.
        counted(unsafe { out.read() });
    }
    result
}

fn set_errno(value: c_int) {
    // SAFETY: errno is this thread's; writing it is what C's allocators do on failure.
    unsafe { *libc::__errno_location() = value };
}

unsafe extern "C" {
    /// The process's environment, as the loader set it up (`setenv` may replace it).
    static mut environ: *const *const c_char;
}

/// An environment variable, read without allocating (this runs before `main`) and straight
/// from `environ`: a program may define its own `getenv`, which then comes first and may not
/// work before its `main` (bash's does not).
fn env(name: &CStr) -> Option<&'static [u8]> {
    let name = name.to_bytes();
    // SAFETY: `environ` is a null-terminated array of NUL-terminated strings, which `setenv`
    // never frees. This runs only in the shim's constructor, before `main`: a constructor of
    // the program's own libraries that started a thread changing the environment could race
    // with it, and none is known to. The values are copied before `main`.
    unsafe {
        let mut entry = (&raw const environ).read();
        if entry.is_null() {
            return None;
        }
        while !(*entry).is_null() {
            let text = CStr::from_ptr(*entry).to_bytes();
            if let Some(value) = text
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(b"="))
            {
                return Some(value);
            }
            entry = entry.add(1);
        }
    }
    None
}

fn env_number(name: &CStr) -> Option<u64> {
    std::str::from_utf8(env(name)?).ok()?.trim().parse().ok()
}

/// The child side of `fork`: a forked child only passes through.
extern "C" fn forked_child() {
    sampling::stop();
    PROFILED.store(0, SeqCst);
}

/// Whether this process is the one to profile: the one `PERFKIT_HEAP_PID` names once it is
/// set, else the child of the perfkit in `PERFKIT_HEAP_PARENT`, which then sets
/// `PERFKIT_HEAP_PID` for the programs it `exec`s (same process, same ID) and its children
/// (another ID: they pass through, also when they outlive it and move to another parent).
fn chosen(pid: libc::pid_t) -> Option<libc::pid_t> {
    let parent = env_number(c"PERFKIT_HEAP_PARENT")?;
    if let Some(named) = env_number(c"PERFKIT_HEAP_PID") {
        return (u64::try_from(pid).ok() == Some(named))
            .then_some(libc::pid_t::try_from(parent).ok()?);
    }
    // SAFETY: getppid cannot fail.
    let parent_now = unsafe { libc::getppid() };
    if u64::try_from(parent_now).ok() != Some(parent) {
        return None;
    }
    let value = std::ffi::CString::new(pid.to_string()).ok()?;
    // libc's `setenv`, found after this library: a program's own would come first, and may
    // not work before its `main` (bash's does not).
    let setenv = next::symbol(c"setenv")?;
    // SAFETY: the address of libc's `setenv`, which has this type.
    let setenv: unsafe extern "C" fn(*const c_char, *const c_char, c_int) -> c_int =
        unsafe { std::mem::transmute::<usize, _>(setenv) };
    // SAFETY: valid C strings; this runs in the shim's constructor, before `main`, where
    // nothing else is known to touch the environment (see `env`).
    unsafe { setenv(c"PERFKIT_HEAP_PID".as_ptr(), value.as_ptr(), 1) };
    Some(parent_now)
}

/// Runs before `main` (from `.init_array`): starts sampling in the profiled process.
extern "C" fn init() {
    HEADER_SIZES.store(header_sizes_agree(), Relaxed);
    // In every process, so that no signal handler ever has to look them up.
    signals::resolve();
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() };
    let Some(parent) = chosen(pid) else {
        return;
    };
    let Some(out) = env(c"PERFKIT_HEAP_OUT") else {
        return;
    };
    let out = PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(out));
    if !out.is_absolute() || OUT.set((out, parent)).is_err() {
        return;
    }
    let options = SamplingOptions {
        interval: env_number(c"PERFKIT_HEAP_INTERVAL")
            .filter(|&n| n > 0)
            .unwrap_or(sampling::DEFAULT_INTERVAL),
        seed: env_number(c"PERFKIT_HEAP_SEED").unwrap_or(SamplingOptions::default().seed),
    };
    if sampling::start(&options).is_ok() {
        PROFILED.store(pid, SeqCst);
        // SAFETY: a plain function that stores atomics, valid for the life of the process.
        unsafe { libc::pthread_atfork(None, None, Some(forked_child)) };
        signals::install();
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

/// What `_exit` and `_Exit` do: write the profile (or let the thread writing it finish), then
/// end the process.
fn exit_now(status: c_int) -> ! {
    if is_profiled() {
        arm_exit_watchdog();
        write_profile();
    } else {
        wait_for_writer();
    }
    loop {
        // SAFETY: exit_group ends every thread of the process; it does not return.
        unsafe { libc::syscall(libc::SYS_exit_group, status) };
    }
}

/// How many yields the profile waits for the sampler's lock at exit (a few milliseconds:
/// another thread holds it only for a table update).
const EXIT_LOCK_TRIES: u32 = 10_000;

/// How long `_exit` or a signal may spend writing the profile, and how long another thread's
/// exit or signal waits for that write.
const EXIT_WRITE_LIMIT: libc::time_t = 30;

/// Whether this process is the one profiled (not a forked child) and its profile is not yet
/// being written.
fn is_profiled() -> bool {
    let profiled = PROFILED.load(SeqCst);
    // SAFETY: getpid cannot fail.
    profiled > 0 && profiled == unsafe { libc::getpid() }
}

/// This thread's ID.
fn thread_id() -> libc::pid_t {
    // SAFETY: gettid cannot fail.
    unsafe { libc::gettid() }
}

/// Waits while another thread of this process writes the profile, at most
/// [`EXIT_WRITE_LIMIT`]: an exit or a signal on one thread would otherwise end the process in
/// the middle of the write on another.
fn wait_for_writer() {
    let me = thread_id();
    let started = std::time::Instant::now();
    let limit = std::time::Duration::from_secs(EXIT_WRITE_LIMIT.unsigned_abs());
    loop {
        let state = PROFILED.load(SeqCst);
        if state >= 0 || state == -me || started.elapsed() > limit {
            return;
        }
        let pause = libc::timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000,
        };
        // SAFETY: nanosleep with a valid duration; an interruption only shortens the pause.
        unsafe { libc::nanosleep(&raw const pause, std::ptr::null_mut()) };
    }
}

/// A real-time timer that kills the process with `SIGALRM` (default action, unblocked) if
/// writing the profile at `_exit` or for a signal takes longer than [`EXIT_WRITE_LIMIT`].
fn arm_exit_watchdog() {
    signals::restore_default(libc::SIGALRM);
    // SAFETY: plain system calls on this thread's signal state and the process's timer; the
    // process is exiting, so the program's own SIGALRM handler and timer are no longer needed.
    unsafe {
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

/// Writes the profile where `PERFKIT_HEAP_OUT` said at start, once, in the profiled process
/// (`exit` on one thread and `_exit` or a signal on another all get here; the others wait for
/// the first), and only while the perfkit that waits for it is still its parent: a perfkit
/// killed meanwhile left nobody to read it.
///
/// The writing thread blocks the signals the shim catches and keeps them blocked: the process
/// ends right after, and such a signal on this thread would otherwise wait for this very write.
fn write_profile() {
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() };
    let before = signals::block_caught();
    // Compare-and-swap, not swap: a vfork child shares this memory and must not clear it.
    if PROFILED
        .compare_exchange(pid, -thread_id(), SeqCst, SeqCst)
        .is_err()
    {
        signals::set_mask(&before);
        wait_for_writer();
        return;
    }
    own::WRITING.store(true, SeqCst);
    sampling::stop();
    on_write_stack(write_claimed);
    PROFILED.store(0, SeqCst);
    // A signal that arrived meanwhile would have ended the process already without the
    // shim: it ends it now, not the exit under way.
    signals::end_if_signalled();
}

/// The size of the stack the profile is written on.
const WRITE_STACK: usize = 16 << 20;

/// Runs `job` on a stack of its own. Writing resolves names through deep calls, and the thread
/// that writes may have little room: a signal may have interrupted a thread made with a small
/// stack, or run on a language runtime's small signal stack (Go's). Runs `job` where it is
/// when no stack can be had.
fn on_write_stack(job: extern "C" fn()) {
    // SAFETY: a fresh private mapping (reserved, not committed, until touched); mmap is
    // async-signal-safe.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            WRITE_STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        job();
        return;
    }
    // SAFETY: the mapping is this function's; its lowest page becomes a guard, so that an
    // overflow faults instead of writing below it. The contexts are plain values that
    // getcontext fills; makecontext gets a stack that outlives the switch, and uc_link brings
    // the thread back to `back` when `job` returns.
    unsafe {
        let page = usize::try_from(libc::sysconf(libc::_SC_PAGESIZE)).unwrap_or(4096);
        libc::mprotect(stack, page, libc::PROT_NONE);
        let mut back: libc::ucontext_t = std::mem::zeroed();
        let mut writer: libc::ucontext_t = std::mem::zeroed();
        if libc::getcontext(&raw mut writer) == 0 {
            writer.uc_stack.ss_sp = stack;
            writer.uc_stack.ss_size = WRITE_STACK;
            writer.uc_link = &raw mut back;
            libc::makecontext(&raw mut writer, job, 0);
            if libc::swapcontext(&raw mut back, &raw const writer) != 0 {
                job();
            }
        } else {
            job();
        }
        libc::munmap(stack, WRITE_STACK);
    }
}

/// What [`write_profile`] does once this thread has claimed the write.
extern "C" fn write_claimed() {
    let Some((out, parent)) = OUT.get() else {
        return;
    };
    // SAFETY: getppid cannot fail.
    if unsafe { libc::getppid() } != *parent {
        return;
    }
    // A signal handler calling `_exit` may have interrupted this very thread inside the
    // sampler: give up on the profile rather than wait for a lock it holds.
    let Some(mut profile) = sampling::try_profile(EXIT_LOCK_TRIES) else {
        return;
    };
    profile.command = std::fs::read("/proc/self/cmdline").ok().map(|line| {
        let words: Vec<String> = line
            .split(|&b| b == 0)
            .filter(|w| !w.is_empty())
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        words.join(" ")
    });
    let _ = write(out, &profile);
}

/// Writes the profile into a new file beside `out` and renames it into place, so that a
/// reader never sees half a file; nothing is written when `out` exists and is not a regular
/// file, or when the new file's name is taken.
fn write(out: &std::path::Path, profile: &perfkit_alloc::HeapProfile) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Ok(meta) = std::fs::symlink_metadata(out)
        && !meta.file_type().is_file()
    {
        return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
    }
    let mut partial = out.as_os_str().to_owned();
    partial.push(format!(".{}.partial", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&partial)?;
    let mut file = std::io::BufWriter::new(file);
    serde_json::to_writer(&mut file, profile)?;
    file.flush()?;
    std::fs::rename(&partial, out)
}

/// Bytes perfkit looks for in a file before it preloads it as this shim.
#[used]
static MARKER: [u8; 26] = *b"perfkit-heap-shim/marker/1";

#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn() = init;

#[used]
#[unsafe(link_section = ".fini_array")]
static FINI: extern "C" fn() = fini;
