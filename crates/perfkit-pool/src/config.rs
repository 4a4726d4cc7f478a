//! How a pool runs: its settings, checked once, and the worker command it starts each
//! process from. Above the task types and batches, below the shared state.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::{ConfigProblem, PoolError};
use crate::frame::Protocol;

/// The most workers a pool starts: each is a process and a dispatcher thread, and a typo such as
/// `-j 100000` must not fork that many.
pub const MAX_WORKERS: usize = 4096;

/// Where the workers' standard error goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StderrMode {
    /// Forwarded line by line to this process's standard error, each line prefixed with
    /// `[worker N pid P] `.
    #[default]
    Prefixed,
    /// Shared with this process, unchanged.
    Inherit,
    /// Kept: the last [`CAPTURED_LINES`] lines, read with [`ProcessPool::captured_stderr`](crate::ProcessPool::captured_stderr).
    Capture,
    /// Thrown away.
    Discard,
}

/// How many lines of workers' standard error [`StderrMode::Capture`] keeps.
pub const CAPTURED_LINES: usize = 1000;

/// How a [`ProcessPool`](crate::ProcessPool) runs. Build one with [`ProcessPool::builder`](crate::ProcessPool::builder).
#[derive(Clone, Debug)]
pub struct PoolConfig {
    pub(crate) worker: WorkerCommand,
    pub(crate) workers: usize,
    pub(crate) max_batch: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) ordered: bool,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retries: u32,
    pub(crate) quarantine_after: u32,
    pub(crate) max_tasks_per_worker: Option<u64>,
    pub(crate) protocol: Protocol,
    pub(crate) stderr: StderrMode,
    pub(crate) pipe_size: usize,
    pub(crate) pin: bool,
}

/// How many workers a pool starts unless told: one per CPU, or 2 when the count is unknown.
#[must_use]
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
}

impl PoolConfig {
    /// The defaults for workers running `command`.
    pub(crate) fn new(command: &Command) -> PoolConfig {
        PoolConfig {
            worker: WorkerCommand::of(command),
            workers: default_workers(),
            max_batch: 1024,
            queue_capacity: 65_536,
            ordered: false,
            timeout: None,
            retries: 0,
            quarantine_after: 2,
            max_tasks_per_worker: None,
            protocol: Protocol::Framed,
            stderr: StderrMode::Prefixed,
            pipe_size: 1 << 20,
            pin: false,
        }
    }

    /// Refuses a setting that cannot work.
    pub(crate) fn validate(&self) -> Result<(), PoolError> {
        let problem = if !(1..=MAX_WORKERS).contains(&self.workers) {
            ConfigProblem::Workers {
                given: self.workers,
                max: MAX_WORKERS,
            }
        } else if self.max_batch == 0 {
            ConfigProblem::ZeroBatch
        } else if self.queue_capacity == 0 {
            ConfigProblem::ZeroQueue
        } else if self.quarantine_after == 0 {
            ConfigProblem::ZeroQuarantine
        } else if self.max_tasks_per_worker == Some(0) {
            ConfigProblem::ZeroTasksPerWorker
        } else if self.timeout.is_some_and(|t| t.is_zero()) {
            ConfigProblem::ZeroTimeout
        } else {
            return Ok(());
        };
        Err(PoolError::Config(problem))
    }
}

/// What a `Command` runs (program, arguments, environment changes, directory), kept so that
/// a fresh `Command` can be made for every process: `Command` itself cannot be cloned.
#[derive(Clone, Debug)]
pub(crate) struct WorkerCommand {
    pub(crate) program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, Option<OsString>)>,
    current_dir: Option<PathBuf>,
}

impl WorkerCommand {
    pub(crate) fn of(command: &Command) -> WorkerCommand {
        WorkerCommand {
            program: command.get_program().to_os_string(),
            args: command.get_args().map(OsStr::to_os_string).collect(),
            envs: command
                .get_envs()
                .map(|(k, v)| (k.to_os_string(), v.map(OsStr::to_os_string)))
                .collect(),
            current_dir: command.get_current_dir().map(Path::to_path_buf),
        }
    }

    /// A new `Command` for it (stdio left to the caller).
    pub(crate) fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        for (key, value) in &self.envs {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        if let Some(dir) = &self.current_dir {
            cmd.current_dir(dir);
        }
        cmd
    }
}
