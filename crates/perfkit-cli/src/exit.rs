//! How a perfkit command ends: one type for every command, and the exit status it becomes.

use std::process::ExitCode;

use perfkit_sys::ExitKind;

/// Exit status when a benchmarked command, a check or a task fails.
pub(crate) const EXIT_FAILED: u8 = 1;
/// Exit status for bad arguments, bad input, an output that cannot be written, or a command
/// that cannot start.
pub(crate) const EXIT_USAGE: u8 = 2;

/// How a command that did not fail with an error ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// It did what was asked: status 0.
    Success,
    /// What it checked failed (a regression, a failed run, a failed task): status 1.
    Failed,
    /// It ran a program under a profiler and ends as the program did.
    Program(ExitKind),
}

impl Exit {
    /// [`Exit::Failed`] when `failed`, else [`Exit::Success`].
    pub(crate) fn checked(failed: bool) -> Exit {
        if failed { Exit::Failed } else { Exit::Success }
    }

    /// The process's exit status. A program killed by a signal has it re-raised, so that a
    /// shell reports "Segmentation fault" as it would without perfkit.
    pub(crate) fn code(self) -> ExitCode {
        match self {
            Exit::Success => ExitCode::SUCCESS,
            Exit::Failed | Exit::Program(ExitKind::TimedOut) => ExitCode::from(EXIT_FAILED),
            Exit::Program(ExitKind::Exited { code }) => {
                ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1))
            }
            Exit::Program(ExitKind::Signaled { signal, .. }) => {
                use std::io::Write;
                let _ = std::io::stdout().flush();
                perfkit_sys::signals::die_of(signal)
            }
        }
    }
}

/// The exit status of an error: 1 when a command ran and failed, 2 for everything else
/// (usage, input, cannot start, a failed write to standard output).
pub(crate) fn error_code(error: &anyhow::Error) -> u8 {
    match sys_error(error) {
        Some(e) if e.is_command_failure() => EXIT_FAILED,
        _ => EXIT_USAGE,
    }
}

/// The `perfkit_sys` error behind `error`, directly or inside a profiler's or analysis's
/// error, anywhere in its chain.
pub(crate) fn sys_error(error: &anyhow::Error) -> Option<&perfkit_sys::SysError> {
    use perfkit_analyze::AnalyzeError;
    use perfkit_profilers::ProfilerError;
    error.chain().find_map(|cause| {
        if let Some(e) = cause.downcast_ref::<perfkit_sys::SysError>() {
            return Some(e);
        }
        match (
            cause.downcast_ref::<ProfilerError>(),
            cause.downcast_ref::<AnalyzeError>(),
        ) {
            (Some(ProfilerError::Sys(e)), _) | (_, Some(AnalyzeError::Sys(e))) => Some(e),
            _ => None,
        }
    })
}
