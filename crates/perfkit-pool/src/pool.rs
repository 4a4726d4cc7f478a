//! `ProcessPool` and its builder: the public API, the top of the pool's module order. The
//! workers are driven by one dispatcher thread each (`dispatch.rs`); the queue and results they
//! share with this handle are in `shared.rs`.

use std::collections::VecDeque;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use perfkit_metrics::Histogram;

use crate::batch::{Block, Chunk, Inputs, Ready};
use crate::config::{PoolConfig, StderrMode};
use crate::dispatch::Dispatcher;
use crate::error::{PoolError, TaskError};
use crate::frame::Protocol;
use crate::metrics::PoolMetrics;
use crate::shared::{Queue, Results, Shared, Tally, depth};
use crate::task::{Meta, Outcome, TaskId};

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
    /// hand batches over on one core, which raises the batched throughput (docs/benchmarks.md,
    /// "Process pools"). Use it when the pool has the machine to itself; leave it off when
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
        self.config.validate()?;
        let shared = Arc::new(Shared::new(self.config, self.metrics.unwrap_or_default()));
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
        PoolBuilder {
            config: PoolConfig::new(command),
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

/// How long a receiver waiting for several outcomes sleeps before it looks again.
const RECHECK: Duration = Duration::from_millis(5);
