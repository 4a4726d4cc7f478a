//! `ProcessPool`: the queue, the results, and the public API. The workers are driven by one
//! dispatcher thread each (`dispatch.rs`).

use std::collections::{BTreeMap, VecDeque};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use perfkit_metrics::Histogram;
use prometheus::IntCounter;

use crate::batch::{Block, Chunk, Inputs, Meta, Ready};
use crate::dispatch::Dispatcher;
use crate::error::{PoolError, TaskError};
use crate::frame::Protocol;
use crate::metrics::PoolMetrics;

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

/// Where the workers' standard error goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StderrMode {
    /// Forwarded line by line to this process's standard error, each line prefixed with
    /// `[worker N pid P] `.
    #[default]
    Prefixed,
    /// Shared with this process, unchanged.
    Inherit,
    /// Kept: the last [`CAPTURED_LINES`] lines, read with [`ProcessPool::captured_stderr`].
    Capture,
    /// Thrown away.
    Discard,
}

/// How many lines of workers' standard error [`StderrMode::Capture`] keeps.
pub const CAPTURED_LINES: usize = 1000;

/// How a [`ProcessPool`] runs. Build one with [`ProcessPool::builder`].
#[derive(Clone, Debug)]
pub struct PoolConfig {
    pub(crate) worker: CommandSpec,
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

/// What a `Command` runs (program, arguments, environment changes, directory), kept so that
/// a fresh `Command` can be made for every process: `Command` itself cannot be cloned.
#[derive(Clone, Debug)]
pub(crate) struct CommandSpec {
    pub(crate) program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, Option<OsString>)>,
    current_dir: Option<PathBuf>,
}

impl CommandSpec {
    pub(crate) fn of(command: &Command) -> CommandSpec {
        CommandSpec {
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

/// Builds a [`ProcessPool`].
#[derive(Debug)]
pub struct PoolBuilder {
    config: PoolConfig,
    metrics: Option<PoolMetrics>,
}

impl PoolBuilder {
    /// Worker processes (default: the number of CPUs).
    #[must_use]
    pub fn workers(mut self, n: usize) -> Self {
        self.config.workers = n;
        self
    }

    /// Most tasks sent to a worker in one write (default 1,024). 1 means one task per round
    /// trip.
    #[must_use]
    pub fn max_batch(mut self, n: usize) -> Self {
        self.config.max_batch = n;
        self
    }

    /// Most tasks waiting to be sent (default 65,536): [`ProcessPool::submit`] blocks and
    /// [`ProcessPool::try_submit`] returns [`PoolError::Full`] beyond it.
    #[must_use]
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.config.queue_capacity = n;
        self
    }

    /// Deliver outcomes in submission order (default: as they finish).
    #[must_use]
    pub fn ordered(mut self, ordered: bool) -> Self {
        self.config.ordered = ordered;
        self
    }

    /// Stop a task that runs longer than this: its worker is killed and replaced, the task
    /// ends in [`TaskError::TimedOut`] (or is retried).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = Some(timeout);
        self
    }

    /// Run a task that crashed or timed out up to this many more times (default 0).
    #[must_use]
    pub fn retries(mut self, n: u32) -> Self {
        self.config.retries = n;
        self
    }

    /// A task that has crashed this many workers is not tried again: it ends in
    /// [`TaskError::Quarantined`] (default 2).
    #[must_use]
    pub fn quarantine_after(mut self, crashes: u32) -> Self {
        self.config.quarantine_after = crashes;
        self
    }

    /// Replace a worker after about this many tasks (±10%, so that workers do not all restart
    /// at once).
    #[must_use]
    pub fn max_tasks_per_worker(mut self, n: u64) -> Self {
        self.config.max_tasks_per_worker = Some(n);
        self
    }

    /// The wire protocol (default [`Protocol::Framed`]).
    #[must_use]
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.config.protocol = protocol;
        self
    }

    /// Where workers' standard error goes (default [`StderrMode::Prefixed`]).
    #[must_use]
    pub fn stderr(mut self, mode: StderrMode) -> Self {
        self.config.stderr = mode;
        self
    }

    /// The capacity the pipes to and from each worker are given (default 1 MiB; capped by
    /// `/proc/sys/fs/pipe-max-size`; 0 leaves the kernel's default).
    #[must_use]
    pub fn pipe_size(mut self, bytes: usize) -> Self {
        self.config.pipe_size = bytes;
        self
    }

    /// Pin worker `i` and its dispatcher thread to one CPU: the `i`-th (modulo their number)
    /// of the CPUs this process may run on (default: off). A worker and its dispatcher then
    /// hand batches over on one core, which measured 1.4× the batched throughput on two vCPUs
    /// (docs/benchmarks.md). Use it when the pool has the machine to itself; leave it off when
    /// other work competes for the CPUs, since pinned threads cannot move away from it.
    #[must_use]
    pub fn pin_workers(mut self, pin: bool) -> Self {
        self.config.pin = pin;
        self
    }

    /// Report into these metrics (default: metrics of its own, see
    /// [`ProcessPool::metrics`]).
    #[must_use]
    pub fn metrics(mut self, metrics: PoolMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Starts the workers.
    ///
    /// # Errors
    ///
    /// [`PoolError::Config`] for a setting that cannot work, [`PoolError::Spawn`] when the
    /// first worker cannot be started.
    pub fn build(self) -> Result<ProcessPool, PoolError> {
        let config = self.config;
        if config.workers == 0 {
            return Err(PoolError::Config("workers must be at least 1".into()));
        }
        if config.workers > MAX_WORKERS {
            return Err(PoolError::Config(format!(
                "{} workers is more than the {MAX_WORKERS} a pool starts (each is a process and a thread)",
                config.workers
            )));
        }
        if config.max_batch == 0 {
            return Err(PoolError::Config("max_batch must be at least 1".into()));
        }
        if config.queue_capacity == 0 {
            return Err(PoolError::Config(
                "queue_capacity must be at least 1".into(),
            ));
        }
        if config.quarantine_after == 0 {
            return Err(PoolError::Config(
                "quarantine_after must be at least 1 crash".into(),
            ));
        }
        if config.max_tasks_per_worker == Some(0) {
            return Err(PoolError::Config(
                "max_tasks_per_worker must be at least 1".into(),
            ));
        }
        if config.timeout.is_some_and(|t| t.is_zero()) {
            return Err(PoolError::Config("a timeout must be longer than 0".into()));
        }
        let metrics = self.metrics.unwrap_or_default();
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            tasks_ready: Condvar::new(),
            space: Condvar::new(),
            results: Mutex::new(Results::default()),
            outcome_ready: Condvar::new(),
            outcome_counters: OutcomeCounters::of(&metrics),
            metrics,
            latency: Mutex::new(Histogram::new()),
            counters: Counters::default(),
            stop_at: Mutex::new(None),
            captured: Mutex::new(VecDeque::new()),
            config,
        });
        let mut dispatchers = Vec::with_capacity(shared.config.workers);
        for index in 0..shared.config.workers {
            // The first worker of each slot starts here, so a bad command fails `build`.
            let dispatcher = match Dispatcher::new(index, Arc::clone(&shared)) {
                Ok(d) => d,
                Err(e) => {
                    shut_down(&shared, &mut dispatchers, Duration::ZERO);
                    return Err(e);
                }
            };
            let handle = std::thread::Builder::new()
                .name(format!("perfkit-pool-{index}"))
                .spawn(move || dispatcher.run())
                .map_err(|source| PoolError::Setup {
                    what: "dispatcher thread",
                    source,
                });
            match handle {
                Ok(h) => dispatchers.push(h),
                Err(e) => {
                    shut_down(&shared, &mut dispatchers, Duration::ZERO);
                    return Err(e);
                }
            }
        }
        Ok(ProcessPool {
            shared,
            dispatchers,
        })
    }
}

/// A pool of persistent worker processes fed over pipes. Every submitted task ends in
/// exactly one [`Outcome`]. See the [crate docs](crate).
#[derive(Debug)]
pub struct ProcessPool {
    shared: Arc<Shared>,
    dispatchers: Vec<JoinHandle<()>>,
}

/// Counts over the pool's life.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolStats {
    /// Tasks submitted.
    pub submitted: u64,
    /// Outcomes produced (delivered or waiting in [`ProcessPool::recv`]).
    pub finished: u64,
    /// Outcomes that were `Ok`.
    pub ok: u64,
    /// Outcomes that were a [`TaskError`].
    pub failed: u64,
    /// Tasks sent again after a worker died under them (charged or not).
    pub resent: u64,
    /// Worker processes started (including the first ones).
    pub spawned: u64,
    /// Workers replaced after a crash, timeout, protocol error or recycling.
    pub restarts: u64,
    /// Times a worker answered more results than it had been sent tasks. With the line
    /// protocol this means some answers it gave before were matched to the wrong tasks
    /// (answers are matched to tasks in order), and nothing can tell which: treat the
    /// run's results as unreliable.
    pub excess_answers: u64,
    /// Time from dispatch to outcome, per task, in nanoseconds.
    pub latency: Histogram,
}

impl ProcessPool {
    /// A builder for a pool whose workers run `command` (program, arguments, environment and
    /// directory are taken from it; its stdio settings are replaced by the pool's pipes).
    #[must_use]
    pub fn builder(command: &Command) -> PoolBuilder {
        let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        PoolBuilder {
            config: PoolConfig {
                worker: CommandSpec::of(command),
                workers,
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
            },
            metrics: None,
        }
    }

    /// Queues a task, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// [`PoolError::Closed`] after shutdown; [`PoolError::InvalidTask`] for a task the
    /// protocol cannot carry.
    pub fn submit(&self, input: impl Into<Bytes>) -> Result<TaskId, PoolError> {
        let input = input.into();
        self.check(&input)?;
        let mut queue = self.wait_for_room()?;
        Ok(self.push_one(&mut queue, input))
    }

    /// Queues a task if there is room.
    ///
    /// # Errors
    ///
    /// [`PoolError::Full`] (with the input) when the queue is full, and as
    /// [`submit`](ProcessPool::submit).
    pub fn try_submit(&self, input: impl Into<Bytes>) -> Result<TaskId, PoolError> {
        let input = input.into();
        self.check(&input)?;
        let mut queue = self.shared.lock_queue();
        if queue.closed {
            return Err(PoolError::Closed);
        }
        if queue.queued >= self.shared.config.queue_capacity {
            return Err(PoolError::Full {
                capacity: self.shared.config.queue_capacity,
                input: input.to_vec(),
            });
        }
        Ok(self.push_one(&mut queue, input))
    }

    /// Queues many tasks with one lock per batch (their bytes are packed into shared buffers
    /// of 1,024 tasks: no allocation per task), waiting for room as needed. The tasks get
    /// consecutive ids unless another thread submits at the same time; returns the first and
    /// one past the last.
    ///
    /// # Errors
    ///
    /// As [`submit`](ProcessPool::submit); a task the protocol cannot carry stops the call
    /// before anything is queued.
    pub fn submit_many<I>(&self, inputs: I) -> Result<std::ops::Range<TaskId>, PoolError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let mut packed = pack(inputs, |input| self.check(input))?;
        let mut first = None;
        let mut last = 0;
        while !packed.is_empty() {
            let mut queue = self.wait_for_room()?;
            let room = self.shared.config.queue_capacity - queue.queued;
            let (id, n) = self.push_packed(&mut queue, &mut packed, room);
            drop(queue);
            self.shared.tasks_ready.notify_all();
            first.get_or_insert(id);
            last = id + n as u64;
        }
        let first = first.unwrap_or_else(|| self.shared.lock_queue().next_id);
        Ok(first..last.max(first))
    }

    /// Submits `inputs`, waits for their outcomes and returns them in submission order (the
    /// outcomes of other tasks that finish meanwhile are kept for [`recv`](Self::recv)).
    /// Works with any queue capacity: it takes outcomes while it waits for room.
    ///
    /// # Errors
    ///
    /// As [`submit_many`](ProcessPool::submit_many).
    pub fn run<I>(&self, inputs: I) -> Result<Vec<Outcome>, PoolError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let packed = pack(inputs, |input| self.check(input))?;
        let mut slots: Vec<Option<Outcome>> = Vec::new();
        slots.resize_with(packed.len(), || None);
        self.drive(packed, &mut |ready, accept| {
            let mut batch = Vec::new();
            ready.drain_into(usize::MAX, &mut batch);
            let mut others = Vec::new();
            for outcome in batch {
                match accept.index(outcome.id) {
                    Some(index) => slots[index] = Some(outcome),
                    None => others.push(outcome),
                }
            }
            others
        })?;
        Ok(slots.into_iter().flatten().collect())
    }

    /// Submits `inputs` and calls `f(index, result)` for each as it finishes, with its
    /// position in `inputs` and its output (or error) borrowed from the block it arrived in:
    /// no allocation and no `Outcome` per task, the fastest way through the pool. Returns
    /// when every input has had its call. Outcomes of other tasks are kept for
    /// [`recv`](Self::recv).
    ///
    /// # Errors
    ///
    /// As [`submit_many`](ProcessPool::submit_many).
    pub fn map_each<I, F>(&self, inputs: I, mut f: F) -> Result<(), PoolError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
        F: FnMut(usize, Result<&[u8], &TaskError>),
    {
        let packed = pack(inputs, |input| self.check(input))?;
        self.drive(packed, &mut |ready, accept| {
            let mut others = Vec::new();
            ready.visit(usize::MAX, &mut |id, result| match accept.index(id) {
                Some(index) => f(index, result),
                None => others.push(Outcome {
                    id,
                    result: result.map(Bytes::copy_from_slice).map_err(Clone::clone),
                }),
            });
            others
        })
    }

    /// Submits `packed` while taking their outcomes: `take(ready, accept)` with the ready
    /// blocks whenever enough have finished; `accept(id)` gives a task's index in the inputs
    /// if it is one of them. `take` returns the outcomes that were not (they go back to the
    /// results).
    fn drive(&self, mut packed: Packed, take: &mut Taker<'_>) -> Result<(), PoolError> {
        let total = packed.len();
        // The ids this call got: (first id, count, index of the first) per locked push;
        // another thread may submit in between, so they need not be one range.
        let mut ranges: Vec<(TaskId, u64, usize)> = Vec::new();
        let mut index = 0usize;
        let mut received = 0usize;
        let mut others = Vec::new();
        while received < total {
            if index < total {
                let mut queue = self.shared.lock_queue();
                if queue.closed {
                    return Err(PoolError::Closed);
                }
                let room = self
                    .shared
                    .config
                    .queue_capacity
                    .saturating_sub(queue.queued);
                if room > 0 {
                    let (id, n) = self.push_packed(&mut queue, &mut packed, room);
                    ranges.push((id, n as u64, index));
                    index += n;
                    drop(queue);
                    self.shared.tasks_ready.notify_all();
                }
            }
            // Wake for a good share of what is outstanding, not for every block of results:
            // all of it once everything is queued, half the queue while more is to come.
            let outstanding = index - received;
            let want = if index == total {
                outstanding
            } else {
                outstanding.min(self.shared.config.queue_capacity / 2)
            };
            let mut results =
                self.wait_for_outcomes(want.max(1), index == total || received < index);
            let before = results.ready.tasks;
            let accept = IdMap {
                ranges: &ranges,
                last: std::cell::Cell::new(0),
            };
            let rest = take(&mut results.ready, &accept);
            let taken = before - results.ready.tasks;
            results.delivered += taken as u64;
            received += taken - rest.len();
            drop(results);
            others.extend(rest);
        }
        if !others.is_empty() {
            let mut results = self.shared.lock_results();
            results.delivered -= others.len() as u64;
            for outcome in others.into_iter().rev() {
                results.ready.tasks += 1;
                results.ready.blocks.push_front(Block::One(Some(outcome)));
            }
            drop(results);
            self.shared.outcome_ready.notify_all();
        }
        Ok(())
    }

    /// The next outcome, waiting for one; `None` when no submitted task is left without an
    /// outcome (all were delivered).
    #[must_use]
    pub fn recv(&self) -> Option<Outcome> {
        let mut out = Vec::with_capacity(1);
        (self.recv_many(&mut out, 1) == 1)
            .then(|| out.pop())
            .flatten()
    }

    /// The next outcome if one is ready.
    #[must_use]
    pub fn try_recv(&self) -> Option<Outcome> {
        let mut results = self.shared.lock_results();
        let mut out = Vec::with_capacity(1);
        let n = results.ready.drain_into(1, &mut out);
        results.delivered += n as u64;
        out.pop()
    }

    /// Moves up to `max` ready outcomes into `out` with one lock, waiting for at least one
    /// (unless no task is left without an outcome). Returns how many it moved.
    pub fn recv_many(&self, out: &mut Vec<Outcome>, max: usize) -> usize {
        let mut results = self.wait_for_outcomes(1, true);
        let n = results.ready.drain_into(max, out);
        results.delivered += n as u64;
        n
    }

    /// Calls `f(id, result)` for up to `max` ready outcomes, waiting for at least one (unless
    /// no task is left without an outcome), with each output borrowed from the block it
    /// arrived in (no `Outcome` built). Returns how many. `f` runs with the results locked:
    /// keep it short (copy or write the bytes), and do not call the pool from it.
    pub fn recv_each(
        &self,
        max: usize,
        mut f: impl FnMut(TaskId, Result<&[u8], &TaskError>),
    ) -> usize {
        let mut results = self.wait_for_outcomes(1, true);
        let n = results.ready.visit(max, &mut f);
        results.delivered += n as u64;
        n
    }

    /// [`recv_each`](Self::recv_each), waiting at most `wait` for an outcome, so that the
    /// caller can do something else meanwhile (notice Ctrl-C). Returns `None` when every task
    /// submitted so far has had its outcome delivered, else how many were delivered now
    /// (`Some(0)` when `wait` passed first).
    pub fn recv_each_within(
        &self,
        max: usize,
        wait: Duration,
        mut f: impl FnMut(TaskId, Result<&[u8], &TaskError>),
    ) -> Option<usize> {
        let mut results = self.wait_for_outcomes_until(1, true, Some(Instant::now() + wait));
        let n = results.ready.visit(max, &mut f);
        results.delivered += n as u64;
        let outstanding =
            self.shared.counters.submitted.load(Ordering::Acquire) - results.delivered;
        (n > 0 || outstanding > 0).then_some(n)
    }

    /// The results, once `want` outcomes are ready, or fewer after a few milliseconds of
    /// waiting, or none when nothing is outstanding (or `block` is false).
    fn wait_for_outcomes(&self, want: usize, block: bool) -> MutexGuard<'_, Results> {
        self.wait_for_outcomes_until(want, block, None)
    }

    /// [`wait_for_outcomes`](Self::wait_for_outcomes), giving up at `deadline`.
    fn wait_for_outcomes_until(
        &self,
        want: usize,
        block: bool,
        deadline: Option<Instant>,
    ) -> MutexGuard<'_, Results> {
        let mut results = self.shared.lock_results();
        let mut waited = false;
        loop {
            let ready = results.ready.tasks;
            let expired = deadline.is_some_and(|d| Instant::now() >= d);
            if ready >= want || (waited && ready > 0) || !block || expired {
                results.notify_at = 1;
                return results;
            }
            let outstanding =
                self.shared.counters.submitted.load(Ordering::Acquire) - results.delivered;
            if outstanding == ready as u64 {
                // Everything that can come is here (possibly nothing).
                results.notify_at = 1;
                return results;
            }
            results.notify_at = want;
            let (guard, timeout) = self
                .shared
                .outcome_ready
                .wait_timeout(results, RECHECK)
                .unwrap_or_else(PoisonError::into_inner);
            results = guard;
            waited = timeout.timed_out() || results.ready.tasks >= want;
        }
    }

    /// Counts and latencies so far.
    #[must_use]
    pub fn stats(&self) -> PoolStats {
        let c = &self.shared.counters;
        PoolStats {
            submitted: c.submitted.load(Ordering::Relaxed),
            finished: c.finished.load(Ordering::Relaxed),
            ok: c.ok.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            resent: c.resent.load(Ordering::Relaxed),
            spawned: c.spawned.load(Ordering::Relaxed),
            restarts: c.restarts.load(Ordering::Relaxed),
            excess_answers: c.excess_answers.load(Ordering::Relaxed),
            latency: self
                .shared
                .latency
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    /// The pool's Prometheus metrics.
    #[must_use]
    pub fn metrics(&self) -> &PoolMetrics {
        &self.shared.metrics
    }

    /// The last lines the workers wrote to standard error, with their prefix
    /// ([`StderrMode::Capture`] only; empty otherwise).
    #[must_use]
    pub fn captured_stderr(&self) -> Vec<String> {
        self.shared
            .captured
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// The pool's configuration.
    #[must_use]
    pub fn config(&self) -> &PoolConfig {
        &self.shared.config
    }

    /// Takes no more tasks: submitters waiting for room, and later submissions, get
    /// [`PoolError::Closed`]. Tasks already queued still run; call
    /// [`shutdown`](Self::shutdown) to end the workers. Lets another thread stop a submitter
    /// blocked on a full queue (for example on Ctrl-C).
    pub fn close(&self) {
        let mut queue = self.shared.lock_queue();
        queue.closed = true;
        drop(queue);
        self.shared.space.notify_all();
        self.shared.tasks_ready.notify_all();
    }

    /// Takes no more tasks, lets the workers finish what is queued for up to `grace`, then
    /// kills them; tasks left unfinished end in [`TaskError::Cancelled`]. Waits for the
    /// workers to be reaped. Outcomes stay available to [`recv`](Self::recv).
    pub fn shutdown(&mut self, grace: Duration) {
        shut_down(&self.shared, &mut self.dispatchers, grace);
    }

    #[inline]
    fn check(&self, input: &[u8]) -> Result<(), PoolError> {
        match self.shared.config.protocol.check_task(input) {
            Some(reason) => Err(PoolError::InvalidTask(reason)),
            None => Ok(()),
        }
    }

    /// The queue, once it has room (or an error once the pool is closed).
    fn wait_for_room(&self) -> Result<MutexGuard<'_, Queue>, PoolError> {
        let mut queue = self.shared.lock_queue();
        loop {
            if queue.closed {
                return Err(PoolError::Closed);
            }
            if queue.queued < self.shared.config.queue_capacity {
                return Ok(queue);
            }
            queue.space_waiters += 1;
            queue = self
                .shared
                .space
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
            queue.space_waiters -= 1;
        }
    }

    fn push_one(&self, queue: &mut MutexGuard<'_, Queue>, input: Bytes) -> TaskId {
        let id = queue.next_id;
        queue.next_id += 1;
        queue.push_back(Chunk {
            first_id: id,
            inputs: Inputs::single(input),
            range: 0..1,
            meta: Meta::default(),
        });
        self.count_submitted(queue, 1);
        if queue.task_waiters > 0 {
            self.shared.tasks_ready.notify_one();
        }
        id
    }

    /// Queues up to `room` tasks from `packed`; returns the first id and how many.
    fn push_packed(
        &self,
        queue: &mut MutexGuard<'_, Queue>,
        packed: &mut Packed,
        room: usize,
    ) -> (TaskId, usize) {
        let first = queue.next_id;
        let mut pushed = 0;
        while pushed < room {
            let Some(mut chunk) = packed.next_chunk(room - pushed) else {
                break;
            };
            chunk.first_id = queue.next_id;
            queue.next_id += chunk.len() as u64;
            pushed += chunk.len();
            queue.push_back(chunk);
        }
        self.count_submitted(queue, pushed);
        (first, pushed)
    }

    /// Counts `n` tasks just queued (with the queue locked, so that no outcome of theirs can
    /// be delivered before they are counted).
    fn count_submitted(&self, queue: &MutexGuard<'_, Queue>, n: usize) {
        self.shared
            .counters
            .submitted
            .fetch_add(n as u64, Ordering::Release);
        self.shared.metrics.queue_depth.set(depth(queue.queued));
    }
}

impl Drop for ProcessPool {
    fn drop(&mut self) {
        shut_down(&self.shared, &mut self.dispatchers, Duration::ZERO);
    }
}

fn shut_down(shared: &Arc<Shared>, dispatchers: &mut Vec<JoinHandle<()>>, grace: Duration) {
    {
        let mut queue = shared.lock_queue();
        queue.closed = true;
        let mut stop_at = shared
            .stop_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let at = Instant::now() + grace;
        if stop_at.is_none_or(|s| at < s) {
            *stop_at = Some(at);
        }
    }
    shared.tasks_ready.notify_all();
    shared.space.notify_all();
    for handle in dispatchers.drain(..) {
        let _ = handle.join();
    }
    // Whatever no dispatcher took is cancelled.
    let left: Vec<Chunk> = {
        let mut queue = shared.lock_queue();
        queue.queued = 0;
        queue.chunks.drain(..).collect()
    };
    shared.metrics.queue_depth.set(0);
    let mut blocks: Vec<Block> = left
        .into_iter()
        .flat_map(Chunk::split)
        .map(|c| {
            Block::One(Some(Outcome {
                id: c.first_id,
                result: Err(TaskError::Cancelled),
            }))
        })
        .collect();
    let tally = Tally::of(&blocks);
    shared.finish(&mut blocks, &tally);
}

/// Tasks packed this many to a shared buffer: one buffer for a whole `run` would put every
/// task's reference count on one cache line, which the submitting thread and every dispatcher
/// would fight over.
const PACK_CHUNK: usize = 1024;

/// Inputs packed into buffers of [`PACK_CHUNK`] tasks, handed out as chunks in order.
struct Packed {
    chunks: VecDeque<Chunk>,
    len: usize,
}

impl Packed {
    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The next up to `max` tasks, as one chunk (ids to be set by the queue).
    fn next_chunk(&mut self, max: usize) -> Option<Chunk> {
        let front = self.chunks.front_mut()?;
        if front.len() <= max {
            return self.chunks.pop_front();
        }
        Some(front.take_front(max))
    }
}

/// Packs inputs into shared buffers (checking each).
fn pack<I>(inputs: I, check: impl Fn(&[u8]) -> Result<(), PoolError>) -> Result<Packed, PoolError>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let mut chunks = VecDeque::new();
    let mut data = Vec::new();
    let mut ends: Vec<u32> = Vec::with_capacity(PACK_CHUNK);
    let mut len = 0;
    let mut seal = |data: &mut Vec<u8>, ends: &mut Vec<u32>| {
        let n = ends.len();
        chunks.push_back(Chunk {
            first_id: 0,
            inputs: Inputs {
                data: Bytes::from(std::mem::take(data)),
                ends: Arc::new(std::mem::replace(ends, Vec::with_capacity(PACK_CHUNK))),
            },
            range: 0..n,
            meta: Meta::default(),
        });
    };
    for input in inputs {
        let input = input.as_ref();
        check(input)?;
        // Offsets are u32: a buffer is sealed before it would pass 4 GiB (a task is at most
        // 1 GiB, so it always fits in an empty one).
        if !ends.is_empty() && data.len() + input.len() > u32::MAX as usize {
            seal(&mut data, &mut ends);
        }
        if ends.is_empty() {
            // Room for a chunk of inputs of this size at once, instead of doubling up to it.
            data.reserve(input.len().saturating_mul(PACK_CHUNK).min(1 << 20));
        }
        data.extend_from_slice(input);
        ends.push(data.len() as u32);
        len += 1;
        if ends.len() == PACK_CHUNK {
            seal(&mut data, &mut ends);
        }
    }
    if !ends.is_empty() {
        seal(&mut data, &mut ends);
    }
    Ok(Packed { chunks, len })
}

#[derive(Debug, Default)]
pub(crate) struct Queue {
    pub(crate) chunks: VecDeque<Chunk>,
    /// Tasks in `chunks`.
    pub(crate) queued: usize,
    pub(crate) next_id: TaskId,
    pub(crate) closed: bool,
    /// Submitters waiting for room (so that taking tasks signals `space` only when someone
    /// listens: a notification is a system call).
    pub(crate) space_waiters: usize,
    /// Dispatchers waiting for tasks.
    pub(crate) task_waiters: usize,
}

impl Queue {
    pub(crate) fn push_back(&mut self, chunk: Chunk) {
        self.queued += chunk.len();
        self.chunks.push_back(chunk);
    }

    pub(crate) fn push_front(&mut self, chunk: Chunk) {
        self.queued += chunk.len();
        self.chunks.push_front(chunk);
    }

    /// Up to `n` tasks from the front, as chunks, stopping before a re-sent task (which goes
    /// alone: taken only as the first, and then by itself).
    pub(crate) fn take(&mut self, n: usize, out: &mut Vec<Chunk>) -> usize {
        let mut taken = 0;
        while taken < n {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            if front.meta.resent {
                if taken == 0 {
                    let mut chunk = self.chunks.pop_front().unwrap_or_else(|| unreachable!());
                    chunk.meta.resent = false;
                    self.queued -= chunk.len();
                    taken += chunk.len();
                    out.push(chunk);
                }
                break;
            }
            let chunk = if front.len() <= n - taken {
                self.chunks.pop_front().unwrap_or_else(|| unreachable!())
            } else {
                front.take_front(n - taken)
            };
            self.queued -= chunk.len();
            taken += chunk.len();
            out.push(chunk);
        }
        taken
    }
}

#[derive(Debug)]
pub(crate) struct Results {
    /// Outcomes ready for receivers.
    pub(crate) ready: Ready,
    /// Ordered mode: blocks that wait for an earlier one, by their first id.
    pub(crate) waiting: BTreeMap<TaskId, Block>,
    pub(crate) next: TaskId,
    /// Outcomes handed to the user.
    pub(crate) delivered: u64,
    /// Wake a waiting receiver once this many outcomes are ready (1 for `recv`; `run` waits
    /// for a larger share of its tasks, so that it is not woken for every block of results).
    pub(crate) notify_at: usize,
}

impl Default for Results {
    fn default() -> Self {
        Results {
            ready: Ready::default(),
            waiting: BTreeMap::new(),
            next: 0,
            delivered: 0,
            notify_at: 1,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) submitted: AtomicU64,
    pub(crate) finished: AtomicU64,
    pub(crate) ok: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) resent: AtomicU64,
    pub(crate) spawned: AtomicU64,
    pub(crate) restarts: AtomicU64,
    pub(crate) excess_answers: AtomicU64,
}

/// What a set of blocks holds, by outcome (for the counters and metrics).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tally {
    pub(crate) ok: u64,
    /// By [`LABELS`] index.
    pub(crate) failed: [u64; 5],
}

impl Tally {
    pub(crate) fn of(blocks: &[Block]) -> Tally {
        let mut tally = Tally::default();
        for block in blocks {
            match block {
                Block::Results { spans, next, .. } => {
                    for span in &spans[*next..] {
                        if span.ok {
                            tally.ok += 1;
                        } else {
                            tally.failed[2] += 1;
                        }
                    }
                }
                Block::One(Some(Outcome { result, .. })) => match result {
                    Ok(_) => tally.ok += 1,
                    Err(e) => tally.failed[label_index(e)] += 1,
                },
                Block::One(None) => {}
            }
        }
        tally
    }
}

/// What the pool's handle and its dispatchers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: PoolConfig,
    pub(crate) queue: Mutex<Queue>,
    /// Signalled when tasks are queued or the pool closes.
    pub(crate) tasks_ready: Condvar,
    /// Signalled when tasks leave the queue or the pool closes.
    pub(crate) space: Condvar,
    pub(crate) results: Mutex<Results>,
    pub(crate) outcome_ready: Condvar,
    pub(crate) metrics: PoolMetrics,
    /// `pool_tasks_total` per outcome, looked up once (not per block of results).
    outcome_counters: OutcomeCounters,
    pub(crate) latency: Mutex<Histogram>,
    pub(crate) counters: Counters,
    /// When the dispatchers must stop (set by shutdown).
    pub(crate) stop_at: Mutex<Option<Instant>>,
    pub(crate) captured: Mutex<VecDeque<String>>,
}

impl Shared {
    pub(crate) fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn lock_results(&self) -> MutexGuard<'_, Results> {
        self.results.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The shutdown deadline, if shutdown was asked for.
    pub(crate) fn stop_at(&self) -> Option<Instant> {
        *self.stop_at.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records task latencies, `(nanoseconds, tasks)` pairs, in the pool's histogram and the
    /// metrics.
    pub(crate) fn record_latencies(&self, samples: &[(u64, u64)]) {
        if samples.is_empty() {
            return;
        }
        let mut hist = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
        for &(ns, count) in samples {
            hist.record_n(ns, count);
        }
        drop(hist);
        for &(ns, count) in samples {
            self.metrics
                .task_duration
                .observe_n(Duration::from_nanos(ns), count);
        }
    }

    /// Hands finished blocks to the results (one lock); `tally` says what they hold.
    pub(crate) fn finish(&self, blocks: &mut Vec<Block>, tally: &Tally) {
        if blocks.is_empty() {
            return;
        }
        let failed: u64 = tally.failed.iter().sum();
        // Counters and metrics first: whoever receives the outcomes sees them counted.
        self.counters
            .finished
            .fetch_add(tally.ok + failed, Ordering::Relaxed);
        self.counters.ok.fetch_add(tally.ok, Ordering::Relaxed);
        self.counters.failed.fetch_add(failed, Ordering::Relaxed);
        let counters = &self.outcome_counters;
        if tally.ok > 0 {
            counters.ok.inc_by(tally.ok);
        }
        for (counter, &count) in counters.failed.iter().zip(&tally.failed) {
            if count > 0 {
                counter.inc_by(count);
            }
        }
        let mut results = self.lock_results();
        if self.config.ordered {
            for block in blocks.drain(..) {
                results.waiting.insert(block.first_id(), block);
            }
            loop {
                let next = results.next;
                let Some(block) = results.waiting.remove(&next) else {
                    break;
                };
                results.next += block.len() as u64;
                results.ready.push(block);
            }
        } else {
            for block in blocks.drain(..) {
                results.ready.push(block);
            }
        }
        let wake = results.ready.tasks >= results.notify_at;
        drop(results);
        if wake {
            self.outcome_ready.notify_all();
        }
    }
}

/// What `drive` hands the ready blocks to, with the lookup of a task's input index; it
/// returns the outcomes that are not the caller's.
type Taker<'f> = dyn FnMut(&mut Ready, &IdMap<'_>) -> Vec<Outcome> + 'f;

/// Which of a call's inputs a task is: `(first id, count, index of the first)` per locked
/// push (another thread may submit in between, so a call's ids need not be one range).
struct IdMap<'a> {
    ranges: &'a [(TaskId, u64, usize)],
    /// The range of the last hit: outcomes come in runs of consecutive ids.
    last: std::cell::Cell<usize>,
}

impl IdMap<'_> {
    /// The input index of task `id`, if it is one of the call's.
    #[inline]
    fn index(&self, id: TaskId) -> Option<usize> {
        let hit = |at: usize| {
            let (first, n, start) = *self.ranges.get(at)?;
            (id >= first && id - first < n).then(|| start + (id - first) as usize)
        };
        if let Some(index) = hit(self.last.get()) {
            return Some(index);
        }
        let at = self
            .ranges
            .partition_point(|&(first, _, _)| first <= id)
            .checked_sub(1)?;
        self.last.set(at);
        hit(at)
    }
}

/// The most workers a pool starts: each is a process and a dispatcher thread, and a typo such as
/// `-j 100000` must not fork that many.
pub const MAX_WORKERS: usize = 4096;

/// How long a receiver waiting for several outcomes sleeps before it looks again.
const RECHECK: Duration = Duration::from_millis(5);

/// A queue length as the gauge's value.
pub(crate) fn depth(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

const LABELS: [&str; 5] = ["crashed", "timed_out", "error", "quarantined", "cancelled"];

/// The `pool_tasks_total` counters: `ok`, and each failure in [`LABELS`] order.
#[derive(Debug)]
struct OutcomeCounters {
    ok: IntCounter,
    failed: [IntCounter; 5],
}

impl OutcomeCounters {
    fn of(metrics: &PoolMetrics) -> OutcomeCounters {
        let counter = |label: &str| metrics.tasks_total.with_label_values(&[label]);
        OutcomeCounters {
            ok: counter("ok"),
            failed: LABELS.map(counter),
        }
    }
}

fn label_index(e: &TaskError) -> usize {
    match e {
        TaskError::Crashed { .. } => 0,
        TaskError::TimedOut { .. } => 1,
        TaskError::Worker(_) => 2,
        TaskError::Quarantined { .. } => 3,
        TaskError::Cancelled => 4,
    }
}
