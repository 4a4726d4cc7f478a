//! Errors of the pool (`PoolError`) and of single tasks (`TaskError`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// An error of the pool itself: it could not start, or refused a submission.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// A worker could not be started.
    #[error("cannot start worker {program:?}: {source} (check the path and that it is executable)")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// Setting up a worker's pipes or progress page failed.
    #[error("cannot set up worker {what}: {source}")]
    Setup {
        /// What was being set up.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The queue is full (from `try_submit`): the input is handed back.
    #[error(
        "the pool's queue is full ({capacity} tasks waiting): wait for results or use submit, which blocks"
    )]
    Full {
        /// The queue capacity.
        capacity: usize,
        /// The task that was not queued.
        input: Vec<u8>,
    },
    /// The pool is shutting down and takes no more tasks.
    #[error("the pool is shut down and takes no more tasks")]
    Closed,
    /// A task this protocol cannot carry.
    #[error("invalid task: {0}")]
    InvalidTask(TaskProblem),
    /// A configuration value that cannot work.
    #[error("invalid pool configuration: {0}")]
    Config(ConfigProblem),
    /// The metrics endpoint cannot listen on the address asked for.
    #[error("cannot listen on {addr:?} for metrics: {source}")]
    Listen {
        /// The address, as given.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Why a task has no output. Every submitted task ends in exactly one `Ok(output)` or one of
/// these.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskError {
    /// The worker died while running this task (and the retries, if any, were used up).
    #[error("worker {pid} crashed running this task: {status}")]
    Crashed {
        /// The worker's process id.
        pid: u32,
        /// How it ended: `exit code N`, `killed by signal N (SIGSEGV)`, or a protocol error.
        status: String,
    },
    /// The task ran longer than the timeout; its worker was killed and replaced.
    #[error("timed out after {:.3} s (the worker was killed and replaced)", after.as_secs_f64())]
    TimedOut {
        /// How long it had run when it was stopped.
        after: Duration,
    },
    /// The worker function returned an error for this task.
    #[error("the worker reported an error: {0}")]
    Worker(String),
    /// The task crashed a worker this many times and is not tried again.
    #[error("quarantined: the task crashed a worker {crashes} times")]
    Quarantined {
        /// Workers it crashed.
        crashes: u32,
    },
    /// The pool was shut down before the task could run.
    #[error("cancelled: the pool shut down before the task finished")]
    Cancelled,
}

impl TaskError {
    /// Which kind of failure this is.
    #[must_use]
    pub fn kind(&self) -> FailureKind {
        match self {
            TaskError::Crashed { .. } => FailureKind::Crashed,
            TaskError::TimedOut { .. } => FailureKind::TimedOut,
            TaskError::Worker(_) => FailureKind::Error,
            TaskError::Quarantined { .. } => FailureKind::Quarantined,
            TaskError::Cancelled => FailureKind::Cancelled,
        }
    }

    /// The label of this outcome in metrics and reports: `crashed`, `timed_out`, `error`,
    /// `quarantined`, `cancelled`.
    #[must_use]
    pub fn label(&self) -> &'static str {
        self.kind().label()
    }
}

/// The kinds of [`TaskError`], without their details: what counters and metrics are kept by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureKind {
    /// [`TaskError::Crashed`].
    Crashed,
    /// [`TaskError::TimedOut`].
    TimedOut,
    /// [`TaskError::Worker`].
    Error,
    /// [`TaskError::Quarantined`].
    Quarantined,
    /// [`TaskError::Cancelled`].
    Cancelled,
}

impl FailureKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [FailureKind; 5] = [
        FailureKind::Crashed,
        FailureKind::TimedOut,
        FailureKind::Error,
        FailureKind::Quarantined,
        FailureKind::Cancelled,
    ];

    /// The kind's label in metrics (`pool_tasks_total{outcome=...}`) and reports.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::Crashed => "crashed",
            FailureKind::TimedOut => "timed_out",
            FailureKind::Error => "error",
            FailureKind::Quarantined => "quarantined",
            FailureKind::Cancelled => "cancelled",
        }
    }
}

/// One value per [`FailureKind`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PerKind<T>([T; 5]);

impl<T> PerKind<T> {
    /// A value for each kind, made by `f`.
    pub(crate) fn from_fn(mut f: impl FnMut(FailureKind) -> T) -> PerKind<T> {
        PerKind(FailureKind::ALL.map(&mut f))
    }

    /// The kinds with their values, in [`FailureKind::ALL`] order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (FailureKind, &T)> {
        FailureKind::ALL.into_iter().zip(&self.0)
    }
}

impl<T> std::ops::Index<FailureKind> for PerKind<T> {
    type Output = T;

    fn index(&self, kind: FailureKind) -> &T {
        &self.0[kind as usize]
    }
}

impl<T> std::ops::IndexMut<FailureKind> for PerKind<T> {
    fn index_mut(&mut self, kind: FailureKind) -> &mut T {
        &mut self.0[kind as usize]
    }
}

/// Why a task cannot be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskProblem {
    /// Over [`MAX_FRAME`](crate::MAX_FRAME) bytes.
    TooLarge {
        /// The task's size.
        bytes: usize,
    },
    /// A newline in a task for a line-mode worker.
    Newline,
}

impl std::fmt::Display for TaskProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaskProblem::TooLarge { bytes } => write!(
                f,
                "a task of {bytes} bytes is over the {} byte limit",
                crate::frame::MAX_FRAME
            ),
            TaskProblem::Newline => f.write_str(
                "a task for a line-mode worker contains a newline (use the framed protocol for \
                 arbitrary bytes)",
            ),
        }
    }
}

/// A pool setting that cannot work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigProblem {
    /// Workers (or processes at a time) outside 1 to `max` ([`MAX_WORKERS`](crate::MAX_WORKERS)).
    Workers {
        /// The number given.
        given: usize,
        /// The most a pool starts.
        max: usize,
    },
    /// A batch of 0 tasks.
    ZeroBatch,
    /// A queue of 0 tasks.
    ZeroQueue,
    /// Quarantine after 0 crashes.
    ZeroQuarantine,
    /// Recycle a worker after 0 tasks.
    ZeroTasksPerWorker,
    /// A timeout of 0.
    ZeroTimeout,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigProblem::Workers { given: 0, .. } => f.write_str("workers must be at least 1"),
            ConfigProblem::Workers { given, max } => write!(
                f,
                "{given} workers is more than the {max} a pool starts (each is a process and a thread)"
            ),
            ConfigProblem::ZeroBatch => f.write_str("max_batch must be at least 1"),
            ConfigProblem::ZeroQueue => f.write_str("queue_capacity must be at least 1"),
            ConfigProblem::ZeroQuarantine => {
                f.write_str("quarantine_after must be at least 1 crash")
            }
            ConfigProblem::ZeroTasksPerWorker => {
                f.write_str("max_tasks_per_worker must be at least 1")
            }
            ConfigProblem::ZeroTimeout => f.write_str("a timeout must be longer than 0"),
        }
    }
}
