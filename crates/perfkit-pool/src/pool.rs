//! `ProcessPool`: the queue, the results, and the public API. The workers are driven by one
//! dispatcher thread each (`dispatch.rs`).

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use perfkit_metrics::Histogram;

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

/// How long a receiver waiting for several outcomes sleeps before it looks again.
const RECHECK: Duration = Duration::from_millis(5);

/// How many lines of workers' standard error [`StderrMode::Capture`] keeps.
pub const CAPTURED_LINES: usize = 1000;

/// How a [`ProcessPool`] runs. Build one with [`ProcessPool::builder`].
#[derive(Clone, Debug)]
pub struct PoolConfig {
    pub(crate) program: OsString,
    pub(crate) args: Vec<OsString>,
    pub(crate) envs: Vec<(OsString, Option<OsString>)>,
    pub(crate) current_dir: Option<PathBuf>,
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
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            tasks_ready: Condvar::new(),
            space: Condvar::new(),
            results: Mutex::new(Results::default()),
            outcome_ready: Condvar::new(),
            metrics: self.metrics.unwrap_or_default(),
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
                program: command.get_program().to_os_string(),
                args: command.get_args().map(OsStr::to_os_string).collect(),
                envs: command
                    .get_envs()
                    .map(|(k, v)| (k.to_os_string(), v.map(OsStr::to_os_string)))
                    .collect(),
                current_dir: command.get_current_dir().map(Path::to_path_buf),
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
        let mut queue = self.shared.lock_queue();
        loop {
            if queue.closed {
                return Err(PoolError::Closed);
            }
            if queue.tasks.len() < self.shared.config.queue_capacity {
                break;
            }
            queue = self
                .shared
                .space
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
        Ok(self.push(&mut queue, input))
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
        if queue.tasks.len() >= self.shared.config.queue_capacity {
            return Err(PoolError::Full {
                capacity: self.shared.config.queue_capacity,
                input: input.to_vec(),
            });
        }
        Ok(self.push(&mut queue, input))
    }

    /// Queues many tasks with one lock per batch (their bytes are packed into one shared
    /// buffer: no allocation per task), waiting for room as needed. Returns the first id;
    /// the tasks get consecutive ids.
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
        let total = packed.len();
        let mut first = None;
        let mut last = 0;
        let mut index = 0usize;
        while index < total {
            let mut queue = self.shared.lock_queue();
            loop {
                if queue.closed {
                    return Err(PoolError::Closed);
                }
                if queue.tasks.len() < self.shared.config.queue_capacity {
                    break;
                }
                queue = self
                    .shared
                    .space
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            let room = self.shared.config.queue_capacity - queue.tasks.len();
            let take = room.min(total - index);
            for input in packed.by_ref().take(take) {
                let id = Self::push_quiet(&mut queue, input);
                first.get_or_insert(id);
                last = id + 1;
            }
            self.count_submitted(take);
            index += take;
            self.shared
                .metrics
                .queue_depth
                .set(depth(queue.tasks.len()));
            drop(queue);
            self.shared.tasks_ready.notify_all();
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
        let mut packed = pack(inputs, |input| self.check(input))?;
        let total = packed.len();
        // The ids this call got: (first id, count) per locked push; another thread may submit
        // in between, so they need not be one range.
        let mut ranges: Vec<(TaskId, u64)> = Vec::new();
        let mut mine = Vec::with_capacity(total);
        let mut others = Vec::new();
        let mut index = 0usize;
        let mut batch = Vec::new();
        while mine.len() < total {
            if index < total {
                let mut queue = self.shared.lock_queue();
                if queue.closed {
                    return Err(PoolError::Closed);
                }
                let room = self
                    .shared
                    .config
                    .queue_capacity
                    .saturating_sub(queue.tasks.len());
                let take = room.min(total - index);
                if take > 0 {
                    ranges.push((queue.next_id, take as u64));
                    for input in packed.by_ref().take(take) {
                        Self::push_quiet(&mut queue, input);
                    }
                    self.count_submitted(take);
                }
                index += take;
                self.shared
                    .metrics
                    .queue_depth
                    .set(depth(queue.tasks.len()));
                drop(queue);
                if take > 0 {
                    self.shared.tasks_ready.notify_all();
                }
            }
            batch.clear();
            let received = mine.len();
            let block = index == total || received < index;
            // Wake for a good share of what is outstanding, not for every block of results:
            // all of it once everything is queued, half the queue while more is to come.
            let outstanding = index - received;
            let want = if index == total {
                outstanding
            } else {
                outstanding.min(self.shared.config.queue_capacity / 2)
            };
            self.recv_at_least(&mut batch, usize::MAX, block, want.max(1));
            for outcome in batch.drain(..) {
                let at = ranges.partition_point(|&(first, _)| first <= outcome.id);
                let ours = at > 0 && outcome.id - ranges[at - 1].0 < ranges[at - 1].1;
                if ours {
                    mine.push(outcome);
                } else {
                    others.push(outcome);
                }
            }
        }
        if !others.is_empty() {
            let mut results = self.shared.lock_results();
            for outcome in others.into_iter().rev() {
                results.ready.push_front(outcome);
            }
            drop(results);
            self.shared.outcome_ready.notify_all();
        }
        // Ids grow in submission order; outcomes arrive nearly in order (runs per worker).
        mine.sort_by_key(|o| o.id);
        Ok(mine)
    }

    /// The next outcome, waiting for one; `None` when no submitted task is left without an
    /// outcome (all were delivered).
    pub fn recv(&self) -> Option<Outcome> {
        let mut results = self.shared.lock_results();
        loop {
            if let Some(outcome) = results.ready.pop_front() {
                results.delivered += 1;
                return Some(outcome);
            }
            if self.shared.counters.submitted.load(Ordering::Acquire) == results.delivered {
                return None;
            }
            results = self
                .shared
                .outcome_ready
                .wait(results)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The next outcome if one is ready.
    #[must_use]
    pub fn try_recv(&self) -> Option<Outcome> {
        let mut results = self.shared.lock_results();
        let outcome = results.ready.pop_front()?;
        results.delivered += 1;
        Some(outcome)
    }

    /// Moves up to `max` ready outcomes into `out` with one lock, waiting for at least one
    /// (unless no task is left without an outcome). Returns how many it moved.
    pub fn recv_many(&self, out: &mut Vec<Outcome>, max: usize) -> usize {
        self.recv_into(out, max, true)
    }

    fn recv_into(&self, out: &mut Vec<Outcome>, max: usize, block: bool) -> usize {
        self.recv_at_least(out, max, block, 1)
    }

    /// As `recv_into`, but a blocked caller is woken only once `want` outcomes are ready (or
    /// after a few milliseconds, in case fewer will ever come).
    fn recv_at_least(&self, out: &mut Vec<Outcome>, max: usize, block: bool, want: usize) -> usize {
        let mut results = self.shared.lock_results();
        let mut waited = false;
        loop {
            if results.ready.len() >= want || (waited && !results.ready.is_empty()) {
                let n = results.ready.len().min(max);
                out.extend(results.ready.drain(..n));
                results.delivered += n as u64;
                results.notify_at = 1;
                return n;
            }
            if !block || self.shared.counters.submitted.load(Ordering::Acquire) == results.delivered
            {
                if results.ready.is_empty() {
                    return 0;
                }
                waited = true;
                continue;
            }
            results.notify_at = want.max(1);
            let (guard, timeout) = self
                .shared
                .outcome_ready
                .wait_timeout(results, RECHECK)
                .unwrap_or_else(PoisonError::into_inner);
            results = guard;
            waited = timeout.timed_out() || results.ready.len() >= want;
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

    /// Takes no more tasks, lets the workers finish what is queued for up to `grace`, then
    /// kills them; tasks left unfinished end in [`TaskError::Cancelled`]. Waits for the
    /// workers to be reaped. Outcomes stay available to [`recv`](Self::recv).
    pub fn shutdown(&mut self, grace: Duration) {
        shut_down(&self.shared, &mut self.dispatchers, grace);
    }

    fn check(&self, input: &[u8]) -> Result<(), PoolError> {
        match self.shared.config.protocol.check_task(input) {
            Some(reason) => Err(PoolError::InvalidTask(reason)),
            None => Ok(()),
        }
    }

    fn push(&self, queue: &mut MutexGuard<'_, Queue>, input: Bytes) -> TaskId {
        let id = Self::push_quiet(queue, input);
        self.count_submitted(1);
        self.shared
            .metrics
            .queue_depth
            .set(depth(queue.tasks.len()));
        self.shared.tasks_ready.notify_one();
        id
    }

    fn push_quiet(queue: &mut MutexGuard<'_, Queue>, input: Bytes) -> TaskId {
        let id = queue.next_id;
        queue.next_id += 1;
        queue.tasks.push_back(Task {
            id,
            input,
            crashes: 0,
            tries: 0,
            resent: false,
        });
        id
    }

    /// Counts `n` tasks just queued (while the queue is still locked, so that no outcome of
    /// theirs can be delivered before they are counted).
    fn count_submitted(&self, n: usize) {
        self.shared
            .counters
            .submitted
            .fetch_add(n as u64, Ordering::Release);
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
    let left: Vec<Task> = shared.lock_queue().tasks.drain(..).collect();
    shared.metrics.queue_depth.set(0);
    let mut outcomes: Vec<Outcome> = left
        .into_iter()
        .map(|t| Outcome {
            id: t.id,
            result: Err(TaskError::Cancelled),
        })
        .collect();
    shared.finish(&mut outcomes, &[]);
}

/// Tasks packed this many to a shared buffer: one buffer for a whole `run` would put every
/// task's reference count on one cache line, which the submitting thread and every dispatcher
/// would fight over.
const PACK_CHUNK: usize = 1024;

/// Inputs packed into buffers of [`PACK_CHUNK`] tasks, handed out as slices in order.
struct Packed {
    chunks: std::vec::IntoIter<(Bytes, Vec<usize>)>,
    current: Option<(Bytes, Vec<usize>)>,
    index: usize,
    len: usize,
}

impl Packed {
    fn len(&self) -> usize {
        self.len
    }
}

impl Iterator for Packed {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some((data, ends)) = &self.current
                && self.index < ends.len()
            {
                let start = if self.index == 0 {
                    0
                } else {
                    ends[self.index - 1]
                };
                let slice = data.slice(start..ends[self.index]);
                self.index += 1;
                return Some(slice);
            }
            self.current = Some(self.chunks.next()?);
            self.index = 0;
        }
    }
}

/// Packs inputs into shared buffers (checking each).
fn pack<I>(inputs: I, check: impl Fn(&[u8]) -> Result<(), PoolError>) -> Result<Packed, PoolError>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let mut chunks = Vec::new();
    let mut data = Vec::new();
    let mut ends = Vec::with_capacity(PACK_CHUNK);
    let mut len = 0;
    for input in inputs {
        let input = input.as_ref();
        check(input)?;
        data.extend_from_slice(input);
        ends.push(data.len());
        len += 1;
        if ends.len() == PACK_CHUNK {
            chunks.push((
                Bytes::from(std::mem::take(&mut data)),
                std::mem::replace(&mut ends, Vec::with_capacity(PACK_CHUNK)),
            ));
        }
    }
    if !ends.is_empty() {
        chunks.push((Bytes::from(data), ends));
    }
    Ok(Packed {
        chunks: chunks.into_iter(),
        current: None,
        index: 0,
        len,
    })
}

/// A task waiting or running.
#[derive(Debug)]
pub(crate) struct Task {
    pub(crate) id: TaskId,
    pub(crate) input: Bytes,
    /// Workers it crashed so far.
    pub(crate) crashes: u32,
    /// Times it was charged with a crash or timeout.
    pub(crate) tries: u32,
    /// Sent before to a worker that died: the next dispatch sends it alone and waits for its
    /// result, so that results a dying worker had not written back are not lost again.
    pub(crate) resent: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Queue {
    pub(crate) tasks: VecDeque<Task>,
    pub(crate) next_id: TaskId,
    pub(crate) closed: bool,
}

#[derive(Debug)]
pub(crate) struct Results {
    /// Outcomes ready for `recv`.
    pub(crate) ready: VecDeque<Outcome>,
    /// Ordered mode: outcomes that wait for an earlier one; slot `i` is task `next + i`.
    pub(crate) waiting: VecDeque<Option<Outcome>>,
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
            ready: VecDeque::new(),
            waiting: VecDeque::new(),
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

    /// Hands finished outcomes to the results (one lock), with their latencies in ns.
    pub(crate) fn finish(&self, outcomes: &mut Vec<Outcome>, latencies_ns: &[u64]) {
        if outcomes.is_empty() {
            return;
        }
        let mut ok = 0u64;
        let mut by_label: [u64; 5] = [0; 5];
        for outcome in outcomes.iter() {
            match &outcome.result {
                Ok(_) => ok += 1,
                Err(e) => by_label[label_index(e)] += 1,
            }
        }
        let failed: u64 = by_label.iter().sum();
        let n = outcomes.len() as u64;
        // Counters and metrics first: whoever receives the outcomes sees them counted.
        self.counters.finished.fetch_add(n, Ordering::Relaxed);
        self.counters.ok.fetch_add(ok, Ordering::Relaxed);
        self.counters.failed.fetch_add(failed, Ordering::Relaxed);
        let m = &self.metrics;
        if ok > 0 {
            m.tasks_total.with_label_values(&["ok"]).inc_by(ok);
        }
        for (i, &count) in by_label.iter().enumerate() {
            if count > 0 {
                m.tasks_total.with_label_values(&[LABELS[i]]).inc_by(count);
            }
        }
        if !latencies_ns.is_empty() {
            let local = m.task_duration.local();
            let mut hist = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
            for &ns in latencies_ns {
                hist.record(ns);
                local.observe(ns as f64 * 1e-9);
            }
            drop(hist);
            local.flush();
        }
        let mut results = self.lock_results();
        if self.config.ordered {
            for outcome in outcomes.drain(..) {
                let Some(offset) = outcome.id.checked_sub(results.next) else {
                    continue;
                };
                let offset = offset as usize;
                if results.waiting.len() <= offset {
                    results.waiting.resize_with(offset + 1, || None);
                }
                results.waiting[offset] = Some(outcome);
            }
            while let Some(Some(_)) = results.waiting.front() {
                if let Some(Some(outcome)) = results.waiting.pop_front() {
                    results.ready.push_back(outcome);
                    results.next += 1;
                }
            }
        } else {
            results.ready.extend(outcomes.drain(..));
        }
        let wake = results.ready.len() >= results.notify_at;
        drop(results);
        if wake {
            self.outcome_ready.notify_all();
        }
    }
}

/// A queue length as the gauge's value.
pub(crate) fn depth(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

const LABELS: [&str; 5] = ["crashed", "timed_out", "error", "quarantined", "cancelled"];

fn label_index(e: &TaskError) -> usize {
    match e {
        TaskError::Crashed { .. } => 0,
        TaskError::TimedOut { .. } => 1,
        TaskError::Worker(_) => 2,
        TaskError::Quarantined { .. } => 3,
        TaskError::Cancelled => 4,
    }
}
