//! Letting Ctrl-C reach the profiled program without killing the profiler first.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// While alive, `SIGINT` does not terminate this process: it is only noted (see
/// [`InterruptGuard::interrupted`]).
///
/// Ctrl-C in a terminal sends `SIGINT` to the whole foreground process group, so the profiled
/// program and the profiler (perf, strace, valgrind) receive it themselves: they stop and write
/// their data, and perfkit, still alive, turns what was recorded into a report. A handler (not
/// `SIG_IGN`) is installed so that children do not inherit an ignored `SIGINT` across `exec`.
///
/// Guards are meant to be used one at a time from the thread that runs the tool; dropping a
/// guard restores the previous disposition.
#[derive(Debug)]
pub struct InterruptGuard {
    #[cfg(target_os = "linux")]
    previous: Option<nix::sys::signal::SigAction>,
}

#[cfg(target_os = "linux")]
extern "C" fn note_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

impl InterruptGuard {
    /// Installs the handler. If it cannot be installed the guard does nothing (Ctrl-C then
    /// behaves as usual).
    #[must_use]
    pub fn new() -> InterruptGuard {
        INTERRUPTED.store(false, Ordering::Relaxed);
        #[cfg(target_os = "linux")]
        {
            use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
            let action = SigAction::new(
                SigHandler::Handler(note_interrupt),
                SaFlags::SA_RESTART,
                SigSet::empty(),
            );
            // SAFETY: the handler only stores to an atomic, which is async-signal-safe; the
            // previous action is restored in `drop`.
            let previous = unsafe { sigaction(Signal::SIGINT, &action) }.ok();
            InterruptGuard { previous }
        }
        #[cfg(not(target_os = "linux"))]
        InterruptGuard {}
    }

    /// Whether `SIGINT` arrived since the guard was created.
    #[must_use]
    pub fn interrupted(&self) -> bool {
        INTERRUPTED.load(Ordering::Relaxed)
    }
}

impl Default for InterruptGuard {
    fn default() -> Self {
        InterruptGuard::new()
    }
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(previous) = self.previous.take() {
            use nix::sys::signal::{Signal, sigaction};
            // SAFETY: restores the disposition that was in place before `new`.
            let _ = unsafe { sigaction(Signal::SIGINT, &previous) };
        }
    }
}
