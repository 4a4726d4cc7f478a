//! Letting Ctrl-C reach the profiled program without killing the profiler first, and passing
//! `SIGTERM` and `SIGHUP` on to the tool.

use perfkit_sys::signals::Deferral;

/// `SIGINT`, the signal Ctrl-C sends.
const SIGINT: i32 = 2;

/// While alive, `SIGINT`, `SIGTERM` and `SIGHUP` do not terminate this process: they are
/// noted ([`InterruptGuard::interrupted`], [`InterruptGuard::terminated`]).
///
/// Ctrl-C in a terminal sends `SIGINT` to the whole foreground process group, so the profiled
/// program and the profiler (perf, strace, valgrind) receive it themselves: they stop and write
/// their data, and perfkit, still alive, turns what was recorded into a report. `SIGTERM` and
/// `SIGHUP` usually reach perfkit alone (`kill`, a closed terminal): a tool started with
/// [`perfkit_sys::RunOptions::forward_signals`] gets them passed on, so that it stops its
/// program and ends, and the caller then gives up ([`InterruptGuard::terminated`]) instead of
/// leaving the tool running without it.
///
/// The handling runs on perfkit-sys's signal thread ([`perfkit_sys::signals`]); children start
/// with the default dispositions.
#[derive(Debug)]
pub struct InterruptGuard {
    deferral: Deferral,
}

impl InterruptGuard {
    /// Starts deferring the signals. If the handlers cannot be installed the guard does
    /// nothing (the signals then act as usual).
    #[must_use]
    pub fn new() -> InterruptGuard {
        InterruptGuard {
            deferral: Deferral::new(),
        }
    }

    /// Whether `SIGINT` arrived since the guard was created.
    #[must_use]
    pub fn interrupted(&self) -> bool {
        self.deferral.pending() == Some(SIGINT)
    }

    /// The `SIGTERM` or `SIGHUP` that arrived since the guard was created, if one did.
    #[must_use]
    pub fn terminated(&self) -> Option<i32> {
        self.deferral.pending().filter(|&s| s != SIGINT)
    }

    /// An error for [`InterruptGuard::terminated`]: perfkit should clean up and end by that
    /// signal rather than report.
    pub(crate) fn check_terminated(&self) -> Result<(), crate::ProfilerError> {
        match self.terminated() {
            Some(signal) => Err(perfkit_sys::SysError::Interrupted { signal }.into()),
            None => Ok(()),
        }
    }
}

impl Default for InterruptGuard {
    fn default() -> Self {
        InterruptGuard::new()
    }
}
