//! A pool of persistent worker processes fed over pipes, in which every submitted task ends
//! in exactly one outcome; a lock-free object pool; Prometheus metrics.
//!
//! ```no_run
//! use std::process::Command;
//! use std::time::Duration;
//! use perfkit_pool::ProcessPool;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // `square-worker` calls `perfkit_pool::worker::serve(...)` (see the `worker` module).
//! let mut pool = ProcessPool::builder(&Command::new("square-worker"))
//!     .workers(2)
//!     .timeout(Duration::from_secs(5))
//!     .retries(1)
//!     .build()?;
//! let outcomes = pool.run((1..=1000).map(|n: u64| n.to_string()))?;
//! for outcome in &outcomes {
//!     match &outcome.result {
//!         Ok(output) => println!("{}: {}", outcome.id, String::from_utf8_lossy(output)),
//!         Err(error) => eprintln!("task {} failed: {error}", outcome.id),
//!     }
//! }
//! pool.shutdown(Duration::from_secs(1));
//! # Ok(()) }
//! ```
//!
//! # How it works, and what it guarantees
//!
//! Each worker slot has a dispatcher thread that sends the worker batches of tasks (up to
//! [`PoolBuilder::max_batch`] per write, two batches in flight) and reads results back in
//! large blocks, writing and reading without blocking in one `poll` loop. Tasks travel as runs
//! of consecutive tasks packed in shared buffers, and results as blocks (one buffer, one span
//! per task), so the hot path does its bookkeeping per batch: no allocation, reference count
//! or channel operation per task. [`ProcessPool::map_each`] and [`ProcessPool::recv_each`]
//! hand each output to a closure straight from its block, the fastest way through
//! (docs/benchmarks.md has the figures);
//! [`ProcessPool::run`] and [`ProcessPool::recv`] build an [`Outcome`] per task.
//!
//! - **Exactly one outcome per task**: `Ok(output)` or a [`TaskError`]: the worker crashed
//!   (with its pid and exit code or signal), the task timed out (the worker is killed and
//!   replaced), the worker function returned an error, the task was quarantined after
//!   crashing [`PoolBuilder::quarantine_after`] workers, or it was cancelled by shutdown.
//! - **Precise blame**: a framed worker publishes the number of the task it is running in a
//!   page of shared memory (one atomic store per task). When it dies or hangs, only that task
//!   is charged; the tasks after it in the batch, and those it finished but had not written
//!   back yet, are sent again to a fresh worker, uncharged. (So a task can run more than once
//!   when its worker dies; its outcome is still delivered once.) Line-mode workers are blamed
//!   by the first unanswered line, which is exact when the program flushes every answer.
//! - **Garbage is a crash**: output that is not a result (a stray print, a wrong header, more
//!   results than tasks) gets the worker killed and replaced like a crash.
//! - **Nothing leaks**: every worker is reaped (no zombies), its pipes are closed.
//! - **Backpressure**: the queue is bounded; [`ProcessPool::submit`] blocks,
//!   [`ProcessPool::try_submit`] returns [`PoolError::Full`].
//!
//! A pool is one stream of outcomes: [`ProcessPool::recv`] returns them to whoever asks,
//! in submission order with [`PoolBuilder::ordered`]. [`ProcessPool::run`] submits a list and
//! collects exactly its outcomes.
//!
//! Workers are Rust programs that call [`worker::serve`], or with [`Protocol::Lines`] any
//! program that answers one line per line. [`run_naive`] (and [`run_naive_each`]) start
//! a process per task, for comparison. [`ObjectPool`] reuses objects behind an RAII
//! guard. [`PoolMetrics`] holds the Prometheus metrics (the usual
//! `process_spawned_total`, `process_active`, `process_spawn_duration_seconds`, and
//! `pool_tasks_total{outcome}`, `pool_task_duration_seconds`, `pool_queue_depth`,
//! `pool_worker_restarts_total{reason}`).
//!
//! A pool writes to pipes whose reader may die; its dispatcher threads block `SIGPIPE`, so a
//! dead worker is an `EPIPE` error and never kills the process, whatever its disposition.

// The modules form a one-way order; each uses only those above it in this list (the test
// below holds it):
// - error, frame, progress, metrics: leaves;
// - task: a task, its outcome and the retry and quarantine rule;
// - batch: runs of tasks and blocks of results;
// - config: the settings and the worker command;
// - shared: the queue, results and counters the handle and dispatchers share;
// - dispatch: one thread per worker slot;
// - pool: the public ProcessPool and its builder;
// - naive: a process per task, beside the dispatcher and the pool rather than on them;
// - stream: lines from a reader through a pool or naive to a writer;
// - demo: a workload of many small tasks, spawned or pooled.
// object and worker stand beside them.
mod batch;
mod config;
pub mod demo;
mod dispatch;
mod error;
pub mod frame;
mod metrics;
mod naive;
mod object;
mod pool;
mod progress;
mod shared;
mod stream;
mod task;
pub mod worker;

pub use bytes::Bytes;
pub use config::{CAPTURED_LINES, MAX_WORKERS, PoolConfig, StderrMode, default_workers};
pub use dispatch::WORKER_INDEX_ENV;
pub use error::{ConfigProblem, FailureKind, PoolError, TaskError, TaskProblem};
pub use frame::{MAX_FRAME, Protocol};
pub use metrics::{PoolMetrics, ProcessMetrics, TaskDurations};
pub use naive::{run_naive, run_naive_each};
pub use object::{ObjectPool, ObjectPoolStats, Pooled};
pub use pool::{PoolBuilder, PoolStats, ProcessPool};
pub use progress::PROGRESS_FD_ENV;
pub use stream::{
    Latency, NaiveSummary, RunSummary, StreamEnd, StreamError, stream_lines, stream_naive,
};
pub use task::{Outcome, TaskId};

#[cfg(test)]
mod module_order {
    /// The pool's modules from the bottom up, with their source.
    const ORDER: [(&str, &str); 13] = [
        ("error", include_str!("error.rs")),
        ("frame", include_str!("frame.rs")),
        ("progress", include_str!("progress.rs")),
        ("metrics", include_str!("metrics.rs")),
        ("task", include_str!("task.rs")),
        ("batch", include_str!("batch.rs")),
        ("config", include_str!("config.rs")),
        ("shared", include_str!("shared.rs")),
        ("dispatch", include_str!("dispatch.rs")),
        ("pool", include_str!("pool.rs")),
        ("naive", include_str!("naive.rs")),
        ("stream", include_str!("stream.rs")),
        ("demo", include_str!("demo.rs")),
    ];

    #[test]
    fn no_module_uses_one_above_it() {
        for (at, (name, source)) in ORDER.iter().enumerate() {
            for line in source.lines() {
                let Some(path) = line.trim().strip_prefix("use crate::") else {
                    continue;
                };
                let used = path.split([':', ';']).next().unwrap_or_default();
                let Some(rank) = ORDER.iter().position(|(n, _)| *n == used) else {
                    continue;
                };
                let allowed = match *name {
                    // naive stands beside the dispatcher and the pool, not on them.
                    "naive" => rank < 8,
                    // The leaves may use one another.
                    _ if at < 4 => rank < 4,
                    _ => rank < at,
                };
                assert!(
                    allowed,
                    "{name}.rs uses {used}, which stands above it: {line}"
                );
            }
        }
    }
}
