//! What the pool's handle and its dispatcher threads share: the queue of tasks, the results
//! waiting for receivers, the counters and metrics. Above the settings and batches, below the
//! dispatcher and the public pool.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use perfkit_metrics::Histogram;
use prometheus::IntCounter;

use crate::batch::{Block, Chunk, Ready};
use crate::config::PoolConfig;
use crate::error::{FailureKind, PerKind};
use crate::metrics::PoolMetrics;
use crate::task::{Outcome, TaskId};

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
    pub(crate) failed: PerKind<u64>,
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
                            tally.failed[FailureKind::Error] += 1;
                        }
                    }
                }
                Block::One(Some(Outcome { result, .. })) => match result {
                    Ok(_) => tally.ok += 1,
                    Err(e) => tally.failed[e.kind()] += 1,
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
    pub(crate) fn new(config: PoolConfig, metrics: PoolMetrics) -> Shared {
        Shared {
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
        }
    }

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
        let failed: u64 = tally.failed.iter().map(|(_, &n)| n).sum();
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
        for (kind, &count) in tally.failed.iter() {
            if count > 0 {
                counters.failed[kind].inc_by(count);
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

/// A queue length as the gauge's value.
pub(crate) fn depth(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

/// The `pool_tasks_total` counters: `ok`, and one per kind of failure.
#[derive(Debug)]
struct OutcomeCounters {
    ok: IntCounter,
    failed: PerKind<IntCounter>,
}

impl OutcomeCounters {
    fn of(metrics: &PoolMetrics) -> OutcomeCounters {
        let counter = |label: &str| metrics.tasks_total.with_label_values(&[label]);
        OutcomeCounters {
            ok: counter("ok"),
            failed: PerKind::from_fn(|kind| counter(kind.label())),
        }
    }
}
