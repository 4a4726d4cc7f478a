//! A task and its outcome, and the rule that decides what happens to a task whose worker was
//! lost while running it. The bottom of the pool's module order: it knows no other module of
//! the pool but the errors.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use bytes::Bytes;

use crate::error::TaskError;

/// A task's number: 0, 1, 2, ... in submission order.
pub type TaskId = u64;

/// The one outcome of a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The task.
    pub id: TaskId,
    /// Its output, or why there is none.
    pub result: Result<Bytes, TaskError>,
}

/// What the pool remembers about a task that went wrong before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Meta {
    /// Workers it crashed so far.
    pub(crate) crashes: u32,
    /// Times it was charged with a crash or timeout.
    pub(crate) tries: u32,
    /// Sent before to a worker that died: the next dispatch sends it alone and waits for its
    /// result, so that results a dying worker had not written back are not lost again.
    pub(crate) resent: bool,
}

/// How often a task may fail its worker before it gets an error as its outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Charges after the first that are tried again.
    pub(crate) retries: u32,
    /// Crashes after which the task is quarantined, whatever retries are left.
    pub(crate) quarantine_after: u32,
}

/// How the worker running a task was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Loss<'a> {
    /// It died or broke the protocol: `status` says how.
    Crashed {
        /// The worker's process id.
        pid: u32,
        /// `exit code 3`, `killed by signal 11 (SIGSEGV)`, or the protocol error.
        status: &'a str,
    },
    /// The task ran past the timeout and the worker was killed.
    TimedOut {
        /// How long the task had run.
        ran: Duration,
    },
}

/// Charges a task with the loss of its worker: updates what is remembered of it and returns
/// its outcome, an error, or `None` when it is to be tried again. A crash counts towards
/// quarantine, which comes first; a timeout only uses up a retry.
pub(crate) fn charge(meta: &mut Meta, loss: Loss<'_>, policy: RetryPolicy) -> Option<TaskError> {
    meta.tries += 1;
    match loss {
        Loss::TimedOut { ran } => {
            (meta.tries > policy.retries).then_some(TaskError::TimedOut { after: ran })
        }
        Loss::Crashed { pid, status } => {
            meta.crashes += 1;
            if meta.crashes >= policy.quarantine_after {
                Some(TaskError::Quarantined {
                    crashes: meta.crashes,
                })
            } else if meta.tries > policy.retries {
                Some(TaskError::Crashed {
                    pid,
                    status: status.to_string(),
                })
            } else {
                None
            }
        }
    }
}

/// `exit code 3`, `killed by signal 11 (SIGSEGV)`: how a worker ended, in a task's error.
pub(crate) fn describe(status: Option<ExitStatus>) -> String {
    match status {
        None => "exit status unknown".to_string(),
        Some(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => match nix::sys::signal::Signal::try_from(signal) {
                Ok(name) => format!("killed by signal {signal} ({name})"),
                Err(_) => format!("killed by signal {signal}"),
            },
            (None, None) => format!("{status}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRASH: Loss<'static> = Loss::Crashed {
        pid: 7,
        status: "killed by signal 11 (SIGSEGV)",
    };

    fn outcomes(losses: &[Loss<'_>], policy: RetryPolicy) -> Vec<Option<TaskError>> {
        let mut meta = Meta::default();
        losses
            .iter()
            .map(|&l| charge(&mut meta, l, policy))
            .collect()
    }

    #[test]
    fn without_retries_a_crash_is_the_outcome() {
        let policy = RetryPolicy {
            retries: 0,
            quarantine_after: 2,
        };
        let got = outcomes(&[CRASH], policy);
        assert_eq!(
            got,
            [Some(TaskError::Crashed {
                pid: 7,
                status: "killed by signal 11 (SIGSEGV)".into()
            })]
        );
    }

    #[test]
    fn quarantine_comes_before_the_retries_run_out() {
        let policy = RetryPolicy {
            retries: 5,
            quarantine_after: 2,
        };
        let got = outcomes(&[CRASH, CRASH], policy);
        assert_eq!(got, [None, Some(TaskError::Quarantined { crashes: 2 })]);
    }

    #[test]
    fn timeouts_use_retries_but_never_quarantine() {
        let policy = RetryPolicy {
            retries: 2,
            quarantine_after: 1,
        };
        let ran = Duration::from_millis(1500);
        let timeout = Loss::TimedOut { ran };
        let got = outcomes(&[timeout, timeout, timeout], policy);
        assert_eq!(got, [None, None, Some(TaskError::TimedOut { after: ran })]);
    }

    #[test]
    fn a_timeout_then_a_crash_share_the_retries() {
        let policy = RetryPolicy {
            retries: 1,
            quarantine_after: 3,
        };
        let timeout = Loss::TimedOut {
            ran: Duration::from_secs(1),
        };
        let mut meta = Meta::default();
        assert_eq!(charge(&mut meta, timeout, policy), None);
        let last = charge(&mut meta, CRASH, policy);
        assert!(
            matches!(last, Some(TaskError::Crashed { pid: 7, .. })),
            "{last:?}"
        );
        assert_eq!((meta.tries, meta.crashes), (2, 1));
    }

    #[test]
    fn exit_statuses_read_as_words() {
        assert_eq!(describe(None), "exit status unknown");
        assert_eq!(describe(Some(ExitStatus::from_raw(3 << 8))), "exit code 3");
        assert_eq!(
            describe(Some(ExitStatus::from_raw(11))),
            "killed by signal 11 (SIGSEGV)"
        );
    }
}
