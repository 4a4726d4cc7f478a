//! The profile of a program that a signal ends.
//!
//! `SIGINT` (Ctrl-C), `SIGTERM`, `SIGHUP` and `SIGPIPE` end a process that leaves them at their
//! default action without running its exit code, so the profile would never be written: the
//! common end of a server or of anything stopped by hand. In the profiled process the shim
//! therefore stands in for the default action of these four signals: its handler writes the
//! profile, restores the default and raises the signal again, so the process still ends by it.
//!
//! The program should not notice: its `sigaction`, `signal`, `bsd_signal` and `sysv_signal`
//! calls go through the shim, which reports the stand-in as `SIG_DFL` and installs it where the
//! program asks for `SIG_DFL`. A program that handles or ignores a signal gets exactly that
//! (Python's `KeyboardInterrupt`, Rust's ignored `SIGPIPE`). The stand-in is only ever installed
//! over `SIG_DFL`, so a signal ignored when the program started stays ignored. What it can
//! notice is listed in `docs/heap.md`: other threads run on while the profile is written, and a
//! handler of its own installed to run once (`SA_RESETHAND`) is followed by the real default.

use std::ffi::c_int;
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicUsize,
    Ordering::{Relaxed, SeqCst},
};

use crate::set_errno;

/// The signals whose default action the shim stands in for.
const CAUGHT: [c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE];

/// The highest signal number (Linux has 64, real-time ones included).
const MAX_SIGNAL: c_int = 64;

/// Whether the stand-in is in use: set in the profiled process at start, and inherited by
/// its forks (whose handler then only ends them).
static ACTIVE: AtomicBool = AtomicBool::new(false);

type SigactionFn =
    unsafe extern "C" fn(c_int, *const libc::sigaction, *mut libc::sigaction) -> c_int;
type SignalFn = unsafe extern "C" fn(c_int, libc::sighandler_t) -> libc::sighandler_t;

static NEXT_SIGACTION: AtomicUsize = AtomicUsize::new(0);
static NEXT_SIGNAL: AtomicUsize = AtomicUsize::new(0);

/// The next definition of `name` after the shim's (libc's), looked up once into `slot`.
fn next_symbol(slot: &AtomicUsize, name: &std::ffi::CStr) -> usize {
    let mut found = slot.load(Relaxed);
    if found == 0 {
        found = crate::next::symbol(name).unwrap_or(0);
        slot.store(found, Relaxed);
    }
    found
}

fn next_sigaction() -> Option<SigactionFn> {
    let found = next_symbol(&NEXT_SIGACTION, c"sigaction");
    // SAFETY: a non-null address dlsym gave for `sigaction`, which has this type.
    (found != 0).then(|| unsafe { std::mem::transmute::<usize, SigactionFn>(found) })
}

fn next_signal() -> Option<SignalFn> {
    let found = next_symbol(&NEXT_SIGNAL, c"signal");
    // SAFETY: a non-null address dlsym gave for `signal`, which has this type.
    (found != 0).then(|| unsafe { std::mem::transmute::<usize, SignalFn>(found) })
}

/// Looks up libc's `sigaction` and `signal`, so that neither is looked up inside a signal
/// handler (`dlsym` is not safe there).
pub(crate) fn resolve() {
    next_sigaction();
    next_signal();
}

/// Restores the default action of `signal`, past the program's view of it.
pub(crate) fn restore_default(signal: c_int) {
    // SAFETY: an all-zero sigaction is SIG_DFL with an empty mask and no flags.
    let default: libc::sigaction = unsafe { std::mem::zeroed() };
    if let Some(next) = next_sigaction() {
        // SAFETY: libc's sigaction with a valid action; async-signal-safe.
        unsafe { next(signal, &raw const default, std::ptr::null_mut()) };
    }
}

/// Blocks the caught signals in this thread; the mask before.
pub(crate) fn block_caught() -> libc::sigset_t {
    // SAFETY: valid sigset_t values owned here; pthread_sigmask acts on this thread only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut before: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        for signal in CAUGHT {
            libc::sigaddset(&raw mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, &raw mut before);
        before
    }
}

/// Sets this thread's signal mask back to `mask`.
pub(crate) fn set_mask(mask: &libc::sigset_t) {
    // SAFETY: a valid mask; pthread_sigmask acts on this thread only.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, mask, std::ptr::null_mut()) };
}

/// The stand-in's action: the handler, with every caught signal blocked while it runs (a
/// second one would end the process in the middle of the write).
fn stand_in() -> libc::sigaction {
    // SAFETY: an all-zero sigaction is a valid value (SIG_DFL, no flags); the mask is then
    // set through the libc calls made for it.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_signal as extern "C" fn(c_int) as libc::sighandler_t;
    // SAFETY: a valid sigset_t owned here.
    unsafe {
        libc::sigemptyset(&raw mut action.sa_mask);
        for signal in CAUGHT {
            libc::sigaddset(&raw mut action.sa_mask, signal);
        }
    }
    action
}

fn is_stand_in(handler: libc::sighandler_t) -> bool {
    handler == on_signal as extern "C" fn(c_int) as libc::sighandler_t
}

/// Installs the stand-in for each caught signal left at `SIG_DFL`: called once, at start, in
/// the profiled process.
pub(crate) fn install() {
    let Some(next) = next_sigaction() else {
        return;
    };
    ACTIVE.store(true, Relaxed);
    let action = stand_in();
    for signal in CAUGHT {
        // SAFETY: an all-zero sigaction is a valid value for the kernel to overwrite.
        let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: libc's sigaction with valid pointers.
        let queried = unsafe { next(signal, std::ptr::null(), &raw mut current) } == 0;
        if queried && current.sa_sigaction == libc::SIG_DFL {
            // SAFETY: as above; the handler is a plain function that lives as long as the
            // process.
            unsafe { next(signal, &raw const action, std::ptr::null_mut()) };
        }
    }
}

/// The first caught signal whose stand-in ran (0: none yet). Under the real default action the
/// process would already be dead: an exit that writes the profile meanwhile ends the process
/// by this signal, not with its exit status.
static ENDING: AtomicI32 = AtomicI32::new(0);

/// Ends the process by the signal a stand-in is handling, if one is.
pub(crate) fn end_if_signalled() {
    let signal = ENDING.load(SeqCst);
    if signal != 0 {
        die_of(signal);
    }
}

/// The stand-in: writes the profile in the profiled process (or lets the thread writing it
/// finish), then ends the process by `signal` as its default action would have.
extern "C" fn on_signal(signal: c_int) {
    let _ = ENDING.compare_exchange(0, signal, SeqCst, SeqCst);
    if crate::is_profiled() {
        crate::arm_exit_watchdog();
        crate::write_profile();
    } else {
        crate::wait_for_writer();
    }
    die_of(signal);
}

/// Ends the process by `signal`'s default action: restored, unblocked in this thread, raised.
fn die_of(signal: c_int) -> ! {
    restore_default(signal);
    // SAFETY: valid sigset_t values owned here; the calls are async-signal-safe and act on
    // this thread only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        libc::sigaddset(&raw mut set, signal);
        // The signal is blocked while its handler runs: unblocked, the raised one is
        // delivered at once and ends the process.
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &raw const set, std::ptr::null_mut());
        libc::raise(signal);
    }
    // Not reached: the default action of each caught signal ends the process.
    loop {
        // SAFETY: exit_group ends every thread of the process; it does not return.
        unsafe { libc::syscall(libc::SYS_exit_group, 128 + signal) };
    }
}

/// `sigaction`, as libc's, except that for the caught signals the stand-in reads as
/// `SIG_DFL` and `SIG_DFL` installs the stand-in.
///
/// # Safety
/// As C's `sigaction`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigaction(
    signal: c_int,
    action: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> c_int {
    let Some(next) = next_sigaction() else {
        set_errno(libc::ENOSYS);
        return -1;
    };
    if !ACTIVE.load(Relaxed) || !CAUGHT.contains(&signal) {
        // SAFETY: the caller's arguments, as it gave them.
        return unsafe { next(signal, action, old) };
    }
    let replacement = stand_in();
    // SAFETY: the caller promises `action` is null or valid.
    let action = match unsafe { action.as_ref() } {
        Some(asked) if asked.sa_sigaction == libc::SIG_DFL => &raw const replacement,
        _ => action,
    };
    // SAFETY: `action` is the caller's or the stand-in, `old` the caller's.
    let result = unsafe { next(signal, action, old) };
    // SAFETY: the caller promises `old` is null or valid; libc filled it on success.
    let old = unsafe { old.as_mut() };
    if result == 0
        && let Some(old) = old
        && is_stand_in(old.sa_sigaction)
    {
        // SAFETY: an all-zero sigaction is SIG_DFL with an empty mask and no flags.
        *old = unsafe { std::mem::zeroed() };
    }
    result
}

/// `signal`, as libc's (BSD semantics: the signal blocked while its handler runs, system
/// calls restarted), except that for the caught signals it goes through [`sigaction`] above.
///
/// # Safety
/// As C's `signal`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn signal(signal: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    if !ACTIVE.load(Relaxed) || !CAUGHT.contains(&signal) {
        return match next_signal() {
            // SAFETY: the caller's arguments, as it gave them.
            Some(next) => unsafe { next(signal, handler) },
            None => libc::SIG_ERR,
        };
    }
    // SAFETY: the caller's arguments; BSD semantics as glibc's `signal` has them.
    unsafe { install_handler(signal, handler, libc::SA_RESTART, true) }
}

/// `bsd_signal`: libc's other name for [`signal`].
///
/// # Safety
/// As C's `bsd_signal`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bsd_signal(
    signal: c_int,
    handler: libc::sighandler_t,
) -> libc::sighandler_t {
    // SAFETY: the caller's arguments.
    unsafe { self::signal(signal, handler) }
}

/// `sysv_signal`: a handler that runs once, with the signal not blocked while it runs, as
/// libc's; through [`sigaction`] above.
///
/// # Safety
/// As C's `sysv_signal`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysv_signal(
    signal: c_int,
    handler: libc::sighandler_t,
) -> libc::sighandler_t {
    // SAFETY: the caller's arguments; System V semantics as glibc's `sysv_signal` has them.
    unsafe {
        install_handler(
            signal,
            handler,
            libc::SA_RESETHAND | libc::SA_NODEFER,
            false,
        )
    }
}

/// `__sysv_signal`: what strict ISO C builds (`-std=c11`) call for `signal`; as
/// [`sysv_signal`].
///
/// # Safety
/// As C's `signal` in such a build.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __sysv_signal(
    signal: c_int,
    handler: libc::sighandler_t,
) -> libc::sighandler_t {
    // SAFETY: the caller's arguments.
    unsafe { sysv_signal(signal, handler) }
}

/// Installs `handler` for `signal` with `flags` (and the signal itself blocked while it runs
/// when `block_itself`) through [`sigaction`] above; the previous handler, or `SIG_ERR` with
/// errno set, as the `signal` family returns.
///
/// # Safety
/// `handler` is `SIG_DFL`, `SIG_IGN` or a function the signal may call.
unsafe fn install_handler(
    signal: c_int,
    handler: libc::sighandler_t,
    flags: c_int,
    block_itself: bool,
) -> libc::sighandler_t {
    if handler == libc::SIG_ERR || !(1..=MAX_SIGNAL).contains(&signal) {
        set_errno(libc::EINVAL);
        return libc::SIG_ERR;
    }
    // SAFETY: all-zero sigactions are valid values; the mask is set through libc.
    let (mut action, mut old): (libc::sigaction, libc::sigaction) =
        unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
    action.sa_sigaction = handler;
    action.sa_flags = flags;
    // SAFETY: valid pointers to values owned here.
    unsafe {
        libc::sigemptyset(&raw mut action.sa_mask);
        if block_itself {
            libc::sigaddset(&raw mut action.sa_mask, signal);
        }
        if sigaction(signal, &raw const action, &raw mut old) != 0 {
            return libc::SIG_ERR;
        }
    }
    old.sa_sigaction
}
