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
//! hand each output to a closure straight from its block (the fastest way through: about
//! 25 million echo tasks per second on two workers and two vCPUs, see docs/benchmarks.md);
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

mod batch;
mod dispatch;
mod error;
pub mod frame;
mod metrics;
mod naive;
mod object;
mod pool;
mod progress;
pub mod worker;

pub use bytes::Bytes;
pub use dispatch::WORKER_INDEX_ENV;
pub use error::{PoolError, TaskError};
pub use frame::{MAX_FRAME, Protocol};
pub use metrics::{PoolMetrics, ProcessMetrics, TaskDurations};
pub use naive::{run_naive, run_naive_each};
pub use object::{ObjectPool, ObjectPoolStats, Pooled};
pub use pool::{
    CAPTURED_LINES, MAX_WORKERS, Outcome, PoolBuilder, PoolConfig, PoolStats, ProcessPool,
    StderrMode, TaskId,
};
pub use progress::PROGRESS_FD_ENV;
