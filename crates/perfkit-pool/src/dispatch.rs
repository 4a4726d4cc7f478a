//! One dispatcher thread per worker slot: it spawns the worker, sends it batches of tasks,
//! reads the results, and when the worker dies, hangs or talks garbage, charges exactly the
//! task that was running, sends the others again, and starts a new worker.
//!
//! The dispatcher writes and reads the worker's pipes without blocking, in one `poll` loop, so
//! a batch larger than the pipes can never deadlock (the worker blocked writing results while
//! the dispatcher is blocked writing tasks).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::batch::{Block, Chunk, Span};
use crate::config::{CAPTURED_LINES, StderrMode};
use crate::error::{PoolError, TaskError};
use crate::frame::{Decoded, Protocol};
use crate::progress::{PROGRESS_FD, PROGRESS_FD_ENV, Progress};
use crate::shared::{Shared, Tally, depth};
use crate::task::{Loss, Outcome, RetryPolicy, TaskId, charge, describe};

/// The environment variable that tells a worker its slot number (0-based).
pub const WORKER_INDEX_ENV: &str = "PERFKIT_POOL_WORKER";

/// The longest a dispatcher sleeps in `poll` or waiting for tasks before it looks at the
/// clock (shutdown deadline, timeouts).
const TICK: Duration = Duration::from_millis(50);

/// Bytes read from a worker at a time.
const READ_CHUNK: usize = 256 << 10;

/// How long a retiring worker (recycled, or at shutdown) gets to exit after its input closes.
const RETIRE_GRACE: Duration = Duration::from_secs(2);

/// How long a worker that closed its output gets to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_millis(200);

/// After this many failed restarts in a row, the dispatcher fails tasks instead of waiting.
const MAX_SPAWN_FAILURES: u32 = 3;

#[derive(Debug)]
struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    pid: u32,
}

/// Tasks sent together to the current worker.
#[derive(Debug)]
struct Sent {
    chunk: Chunk,
    /// The position of its first task among the tasks sent to the current worker.
    first_seq: u64,
    /// Of its tasks, how many have their result.
    done: usize,
    at: Instant,
}

impl Sent {
    /// The position of its first unanswered task.
    fn next_seq(&self) -> u64 {
        self.first_seq + self.done as u64
    }
}

/// Why a worker is being replaced.
#[derive(Debug)]
enum Failure {
    /// Its output ended or its input broke: it exited or closed them.
    Died,
    /// It wrote something that is not a result.
    Protocol(String),
    /// Task `seq` ran past the timeout.
    Timeout { seq: u64, ran: Duration },
}

#[derive(Debug)]
pub(crate) struct Dispatcher {
    index: usize,
    shared: Arc<Shared>,
    progress: Option<Progress>,
    worker: Option<Worker>,
    inflight: VecDeque<Sent>,
    /// Tasks in `inflight` still without a result.
    inflight_tasks: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    /// Bytes read from the worker and not yet made into outcomes (reused; its capacity stays).
    rbuf: Vec<u8>,
    /// Tasks sent to, and results received from, the current worker.
    sent: u64,
    received: u64,
    /// Send no more tasks to the current worker after this many (recycling).
    recycle_at: Option<u64>,
    /// The progress counter's last value, and when it was first seen.
    last_progress: (u64, Instant),
    last_result_at: Instant,
    /// Finished blocks not yet handed over, what they hold, and their latencies.
    blocks: Vec<Block>,
    latencies: Vec<(u64, u64)>,
    spawn_failures: u32,
    /// The CPU this slot's dispatcher and worker are pinned to (`pin_workers`).
    cpu: Option<usize>,
}

impl Dispatcher {
    /// A dispatcher for slot `index`, with its first worker started.
    pub(crate) fn new(index: usize, shared: Arc<Shared>) -> Result<Dispatcher, PoolError> {
        let progress = if shared.config.protocol == Protocol::Framed {
            Some(Progress::create().map_err(|source| PoolError::Setup {
                what: "progress page",
                source,
            })?)
        } else {
            None
        };
        let now = Instant::now();
        let mut dispatcher = Dispatcher {
            index,
            shared,
            progress,
            worker: None,
            inflight: VecDeque::new(),
            inflight_tasks: 0,
            wbuf: Vec::new(),
            wpos: 0,
            rbuf: Vec::with_capacity(READ_CHUNK),
            sent: 0,
            received: 0,
            recycle_at: None,
            last_progress: (0, now),
            last_result_at: now,
            blocks: Vec::new(),
            latencies: Vec::new(),
            spawn_failures: 0,
            cpu: None,
        };
        if dispatcher.shared.config.pin {
            dispatcher.cpu = pin_cpu(index);
        }
        dispatcher.spawn()?;
        Ok(dispatcher)
    }

    /// The dispatcher's loop, until shutdown.
    pub(crate) fn run(mut self) {
        // A write to a dead worker's pipe raises SIGPIPE in the writing thread, and the
        // default action kills the process. Blocked here, the write fails with EPIPE instead,
        // whatever the program's disposition (the perfkit CLI restores the default one).
        let _ = nix::sys::signal::pthread_sigmask(
            nix::sys::signal::SigmaskHow::SIG_BLOCK,
            Some(&nix::sys::signal::SigSet::from(
                nix::sys::signal::Signal::SIGPIPE,
            )),
            None,
        );
        if let Some(cpu) = self.cpu {
            // Best effort: a refusal leaves the thread where the scheduler puts it.
            let _ = pin(nix::unistd::Pid::from_raw(0), cpu);
        }
        loop {
            let stop_at = self.shared.stop_at();
            if stop_at.is_some_and(|at| Instant::now() >= at) {
                self.cancel_inflight();
                self.retire(Duration::ZERO);
                return;
            }
            if self.worker.is_none() {
                if self.inflight.is_empty() && self.wpos == self.wbuf.len() {
                    let queue = self.shared.lock_queue();
                    if queue.closed && queue.queued == 0 {
                        return;
                    }
                }
                if !self.restart() {
                    continue;
                }
            }
            if self.wpos == self.wbuf.len() && !self.top_up() {
                // Closed, nothing queued, nothing in flight.
                self.retire(RETIRE_GRACE);
                return;
            }
            if self.inflight.is_empty() {
                if self.recycle_due() {
                    self.recycle();
                }
                continue;
            }
            if let Err(failure) = self.exchange() {
                self.replace(&failure);
                continue;
            }
            if let Some(failure) = self.check_timeout() {
                self.replace(&failure);
                continue;
            }
            if self.inflight.is_empty() && self.recycle_due() {
                self.recycle();
            }
        }
    }

    /// Starts a worker, after a failure; on repeated spawn failures fails a batch of tasks
    /// so that nothing waits forever. Returns whether a worker runs.
    fn restart(&mut self) -> bool {
        match self.spawn() {
            Ok(()) => {
                self.spawn_failures = 0;
                true
            }
            Err(e) => {
                self.spawn_failures += 1;
                if self.spawn_failures >= MAX_SPAWN_FAILURES {
                    let chunks = self.take_chunks(self.shared.config.max_batch, false);
                    let status = format!("no worker could be started: {e}");
                    for chunk in chunks {
                        for id in chunk.ids() {
                            self.fail(
                                id,
                                TaskError::Crashed {
                                    pid: 0,
                                    status: status.clone(),
                                },
                            );
                        }
                    }
                    self.flush_blocks();
                }
                std::thread::sleep(TICK);
                false
            }
        }
    }

    /// The worker's command: the user's, with the pool's pipes, environment and (framed
    /// protocol) progress page as descriptor 3.
    fn command(&self) -> Command {
        let config = &self.shared.config;
        let mut cmd = config.worker.command();
        // Its own process group, so that killing a worker (timeout, garbage, shutdown) kills
        // what it started too: a script's `sleep` must not outlive it.
        cmd.process_group(0);
        cmd.env(WORKER_INDEX_ENV, self.index.to_string());
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        cmd.stderr(match config.stderr {
            StderrMode::Inherit => Stdio::inherit(),
            StderrMode::Discard => Stdio::null(),
            StderrMode::Prefixed | StderrMode::Capture => Stdio::piped(),
        });
        if let Some(fd) = self.progress.as_ref().and_then(Progress::raw_fd) {
            cmd.env(PROGRESS_FD_ENV, PROGRESS_FD.to_string());
            // SAFETY: runs in the child between fork and exec, where only async-signal-safe
            // calls are allowed: dup2 and fcntl are, and nothing here allocates.
            unsafe {
                cmd.pre_exec(move || {
                    let ok = if fd == PROGRESS_FD {
                        libc::fcntl(fd, libc::F_SETFD, 0) >= 0
                    } else {
                        libc::dup2(fd, PROGRESS_FD) >= 0
                    };
                    if ok {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        cmd
    }

    fn spawn(&mut self) -> Result<(), PoolError> {
        let mut cmd = self.command();
        let config = &self.shared.config;
        if let Some(progress) = &self.progress {
            progress.reset();
        }
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|source| PoolError::Spawn {
            program: config.worker.program.to_string_lossy().into_owned(),
            source,
        })?;
        self.shared.metrics.process.record_spawn(started.elapsed());
        self.shared.counters.spawned.fetch_add(1, Ordering::Relaxed);
        let pid = child.id();
        if let Some(cpu) = self.cpu {
            let _ = pin(
                nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(0)),
                cpu,
            );
        }
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            self.shared.metrics.process.record_exit();
            return Err(PoolError::Setup {
                what: "pipes",
                source: std::io::Error::other("the child has no piped stdin/stdout"),
            });
        };
        let setup = |what: &'static str| {
            move |e: Errno| PoolError::Setup {
                what,
                source: e.into(),
            }
        };
        if config.pipe_size > 0 {
            // A refusal (over the per-user pipe quota) leaves the default size: not fatal.
            let size = i32::try_from(config.pipe_size).unwrap_or(i32::MAX);
            let _ = fcntl(stdin.as_fd(), FcntlArg::F_SETPIPE_SZ(size));
            let _ = fcntl(stdout.as_fd(), FcntlArg::F_SETPIPE_SZ(size));
        }
        set_nonblocking(stdin.as_fd()).map_err(setup("non-blocking stdin"))?;
        set_nonblocking(stdout.as_fd()).map_err(setup("non-blocking stdout"))?;
        if let Some(stderr) = child.stderr.take() {
            let shared = Arc::clone(&self.shared);
            let index = self.index;
            let forward = std::thread::Builder::new()
                .name(format!("perfkit-pool-{index}-stderr"))
                .spawn(move || forward_stderr(stderr, index, pid, &shared));
            // Without the thread the pipe fills and the worker blocks: better to say so now.
            forward.map_err(|source| PoolError::Setup {
                what: "stderr thread",
                source,
            })?;
        }
        self.worker = Some(Worker {
            child,
            stdin: Some(stdin),
            stdout,
            pid,
        });
        self.sent = 0;
        self.received = 0;
        self.wbuf.clear();
        self.wpos = 0;
        self.rbuf.clear();
        let now = Instant::now();
        self.last_progress = (0, now);
        self.last_result_at = now;
        self.recycle_at = config.max_tasks_per_worker.map(|n| {
            let spread = (n / 10).max(1);
            fastrand::u64(n.saturating_sub(spread).max(1)..=n.saturating_add(spread))
        });
        Ok(())
    }

    /// Takes tasks for the worker and encodes them. Returns false when the pool is closed
    /// and nothing is left to do.
    fn top_up(&mut self) -> bool {
        let config = &self.shared.config;
        // Two batches in flight keep the worker busy while results come back; with batches
        // of one, a single task: one task per round trip, as asked.
        let window = if config.max_batch == 1 {
            1
        } else {
            config.max_batch.saturating_mul(2)
        };
        if self.inflight_tasks >= window {
            return true;
        }
        let mut want = config.max_batch.min(window - self.inflight_tasks);
        if let Some(at) = self.recycle_at {
            let left = at.saturating_sub(self.sent);
            want = want.min(usize::try_from(left).unwrap_or(usize::MAX));
            if want == 0 {
                return true;
            }
        }
        let block = self.inflight.is_empty();
        let chunks = self.take_chunks(want, block);
        if chunks.is_empty() {
            return !(block && self.shared.lock_queue().closed && self.inflight.is_empty());
        }
        self.wbuf.clear();
        self.wpos = 0;
        let now = Instant::now();
        let protocol = config.protocol;
        for chunk in chunks {
            for i in chunk.range.clone() {
                protocol.encode_task(chunk.inputs.get(i), &mut self.wbuf);
            }
            let n = chunk.len();
            self.inflight.push_back(Sent {
                chunk,
                first_seq: self.sent,
                done: 0,
                at: now,
            });
            self.sent += n as u64;
            self.inflight_tasks += n;
        }
        true
    }

    /// Up to `want` tasks from the queue, no more than a fair share when several workers
    /// wait; waits up to one tick for some when `block`. A task sent before to a worker that
    /// died goes alone, and only when nothing else is in flight.
    fn take_chunks(&self, want: usize, block: bool) -> Vec<Chunk> {
        let shared = &self.shared;
        let mut queue = shared.lock_queue();
        if block && queue.queued == 0 && !queue.closed {
            queue.task_waiters += 1;
            queue = shared
                .tasks_ready
                .wait_timeout(queue, TICK)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            queue.task_waiters -= 1;
        }
        let mut chunks = Vec::new();
        if queue.chunks.front().is_some_and(|c| c.meta.resent) && !self.inflight.is_empty() {
            return chunks;
        }
        let fair = queue.queued.div_ceil(shared.config.workers).max(1);
        let n = queue.take(want.min(fair), &mut chunks);
        shared.metrics.queue_depth.set(depth(queue.queued));
        let someone_waits = queue.space_waiters > 0;
        drop(queue);
        if n > 0 && someone_waits {
            shared.space.notify_all();
        }
        chunks
    }

    /// One round of non-blocking I/O with the worker: write what is pending, read what is
    /// there, hand over the finished outcomes.
    fn exchange(&mut self) -> Result<(), Failure> {
        // First without waiting: a batch usually fits in the pipe, and results may be there
        // already. Only when nothing moved, wait in poll (one system call fewer per round).
        let (wpos, received) = (self.wpos, self.received);
        self.try_io()?;
        if self.wpos != wpos || self.received != received || self.inflight.is_empty() {
            return Ok(());
        }
        let Some(worker) = self.worker.as_ref() else {
            return Err(Failure::Died);
        };
        let timeout = self.poll_timeout();
        let mut fds = vec![PollFd::new(worker.stdout.as_fd(), PollFlags::POLLIN)];
        if self.wpos < self.wbuf.len()
            && let Some(stdin) = worker.stdin.as_ref()
        {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLOUT));
        }
        match poll(&mut fds, timeout) {
            Ok(0) | Err(Errno::EINTR) => Ok(()),
            Ok(_) => {
                drop(fds);
                self.try_io()
            }
            Err(e) => Err(Failure::Protocol(format!("poll failed: {e}"))),
        }
    }

    /// Writes what it can and reads what is there, without blocking.
    fn try_io(&mut self) -> Result<(), Failure> {
        if self.wpos < self.wbuf.len()
            && let Err(failure) = self.write_pending()
        {
            // The worker is gone: collect the results it wrote before it went.
            let _ = self.read_results();
            return Err(failure);
        }
        self.read_results()
    }

    fn poll_timeout(&self) -> PollTimeout {
        let mut wait = TICK;
        if let Some(timeout) = self.shared.config.timeout {
            wait = wait.min((timeout / 8).max(Duration::from_millis(1)));
        }
        PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX)
    }

    fn write_pending(&mut self) -> Result<(), Failure> {
        let Some(stdin) = self.worker.as_ref().and_then(|w| w.stdin.as_ref()) else {
            return Err(Failure::Died);
        };
        while self.wpos < self.wbuf.len() {
            match nix::unistd::write(stdin, &self.wbuf[self.wpos..]) {
                Ok(n) => self.wpos += n,
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => break,
                Err(_) => return Err(Failure::Died),
            }
        }
        Ok(())
    }

    fn read_results(&mut self) -> Result<(), Failure> {
        let Some(worker) = self.worker.as_ref() else {
            return Err(Failure::Died);
        };
        let fd = worker.stdout.as_raw_fd();
        let mut ended = false;
        loop {
            if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
                self.rbuf.reserve(READ_CHUNK);
            }
            let spare = self.rbuf.spare_capacity_mut();
            let room = spare.len();
            // SAFETY: read(2) writes at most `room` bytes into the spare capacity, which is
            // valid, writable memory owned by `rbuf`.
            let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), room) };
            if n > 0 {
                let n = n.cast_unsigned();
                // SAFETY: the kernel initialised exactly `n` bytes after the current length.
                unsafe { self.rbuf.set_len(self.rbuf.len() + n) };
                if n < room {
                    break;
                }
                continue;
            }
            if n == 0 {
                ended = true;
                break;
            }
            match Errno::last() {
                Errno::EINTR => {}
                Errno::EAGAIN => break,
                _ => {
                    ended = true;
                    break;
                }
            }
        }
        self.decode()?;
        if ended { Err(Failure::Died) } else { Ok(()) }
    }

    /// Turns the complete results in `rbuf` into blocks of outcomes.
    fn decode(&mut self) -> Result<(), Failure> {
        let protocol = self.shared.config.protocol;
        let mut pos = 0usize;
        let mut spans: Vec<Span> = Vec::new();
        let mut garbage = None;
        loop {
            match protocol.decode_result(&self.rbuf[pos..]) {
                Decoded::Incomplete => break,
                Decoded::Garbage(reason) => {
                    garbage = Some(reason);
                    break;
                }
                Decoded::Result {
                    ok,
                    payload,
                    consumed,
                } => {
                    if spans.len() >= self.inflight_tasks {
                        // In order-matched protocols this also means that answers already
                        // handed over may belong to other tasks: count it for the caller.
                        self.shared
                            .counters
                            .excess_answers
                            .fetch_add(1, Ordering::Relaxed);
                        garbage = Some(format!(
                            "more results than tasks sent ({} in flight): earlier answers of \
                             this worker may have been matched to the wrong tasks",
                            self.inflight_tasks
                        ));
                        break;
                    }
                    spans.push(Span {
                        start: (payload.start + pos) as u32,
                        end: (payload.end + pos) as u32,
                        ok,
                    });
                    pos += consumed;
                }
            }
        }
        if !spans.is_empty() {
            // One allocation per block of results, sized to it; the read buffer is kept.
            let data = Bytes::copy_from_slice(&self.rbuf[..pos]);
            self.rbuf.drain(..pos);
            let now = Instant::now();
            let mut rest = spans;
            while !rest.is_empty() {
                let Some(front) = self.inflight.front_mut() else {
                    break;
                };
                let n = (front.chunk.len() - front.done).min(rest.len());
                // Usually one block takes the whole read: hand it the vector as it is.
                let block_spans = if n == rest.len() {
                    std::mem::take(&mut rest)
                } else {
                    let tail = rest.split_off(n);
                    std::mem::replace(&mut rest, tail)
                };
                let ns = u64::try_from((now - front.at).as_nanos()).unwrap_or(u64::MAX);
                self.latencies.push((ns, n as u64));
                self.blocks.push(Block::Results {
                    first_id: front.chunk.first_id + front.done as u64,
                    data: data.clone(),
                    spans: block_spans,
                    next: 0,
                });
                front.done += n;
                self.received += n as u64;
                self.inflight_tasks -= n;
                if front.done == front.chunk.len() {
                    self.inflight.pop_front();
                }
            }
            self.last_result_at = now;
            self.flush_blocks();
        }
        match garbage {
            Some(reason) => Err(Failure::Protocol(reason)),
            None => Ok(()),
        }
    }

    /// A failed task's outcome, to be handed over with the next flush.
    fn fail(&mut self, id: TaskId, error: TaskError) {
        self.blocks.push(Block::One(Some(Outcome {
            id,
            result: Err(error),
        })));
    }

    /// Hands over the blocks built since the last flush, with their latencies.
    fn flush_blocks(&mut self) {
        let tally = Tally::of(&self.blocks);
        self.shared.record_latencies(&self.latencies);
        self.latencies.clear();
        self.shared.finish(&mut self.blocks, &tally);
        self.blocks.clear();
    }

    /// A task that has run longer than the timeout, if any.
    fn check_timeout(&mut self) -> Option<Failure> {
        let timeout = self.shared.config.timeout?;
        let front = self.inflight.front()?;
        let front_seq = front.next_seq();
        let now = Instant::now();
        let (seq, since) = match &self.progress {
            Some(progress) => {
                let p = progress.get();
                if p != self.last_progress.0 {
                    self.last_progress = (p, now);
                }
                // The task's clock starts when it is handed over: a worker that never starts
                // it (never reads it) times out like one that never finishes it.
                match progress.running() {
                    Some(running) if running >= self.received => {
                        (running, self.last_progress.1.max(front.at))
                    }
                    _ => (
                        front_seq,
                        self.last_progress.1.max(self.last_result_at).max(front.at),
                    ),
                }
            }
            None => (front_seq, self.last_result_at.max(front.at)),
        };
        let ran = now.saturating_duration_since(since);
        (ran > timeout).then_some(Failure::Timeout { seq, ran })
    }

    /// Replaces the worker after `failure`: charges the task that was running, sends the
    /// others again, records the restart.
    fn replace(&mut self, failure: &Failure) {
        let Some(mut worker) = self.worker.take() else {
            return;
        };
        let (status, reason) = match failure {
            Failure::Died => (describe(reap(&mut worker, EXIT_GRACE)), "crash"),
            Failure::Protocol(why) => {
                let _ = reap(&mut worker, Duration::ZERO);
                (format!("protocol error: {why}"), "protocol")
            }
            Failure::Timeout { .. } => {
                let _ = reap(&mut worker, Duration::ZERO);
                ("killed after the timeout".to_string(), "timeout")
            }
        };
        self.shared.metrics.process.record_exit();
        self.shared
            .metrics
            .worker_restarts_total
            .with_label_values(&[reason])
            .inc();
        self.shared
            .counters
            .restarts
            .fetch_add(1, Ordering::Relaxed);
        let culprit = match failure {
            Failure::Timeout { seq, .. } => Some(*seq),
            Failure::Protocol(_) => self.inflight.front().map(Sent::next_seq),
            // Died inside a task: that one. Between tasks: nobody. A worker that never
            // reported progress (a program that does not use the page, or one that exits at
            // start) is judged as in line mode, by the oldest unanswered task: otherwise it
            // would be restarted for the same tasks forever.
            Failure::Died => match &self.progress {
                Some(progress) if progress.get() > 0 => {
                    progress.running().filter(|&seq| seq >= self.received)
                }
                _ => self.inflight.front().map(Sent::next_seq),
            },
        };
        self.settle_inflight(failure, culprit, worker.pid, &status);
        self.wbuf.clear();
        self.wpos = 0;
        self.rbuf.clear();
    }

    /// After a worker was lost: charges the `culprit` task (its outcome, or a retry at the
    /// back of the queue) and sends every other unanswered task again, alone, at the front.
    fn settle_inflight(&mut self, failure: &Failure, culprit: Option<u64>, pid: u32, status: &str) {
        let policy = RetryPolicy {
            retries: self.shared.config.retries,
            quarantine_after: self.shared.config.quarantine_after,
        };
        let mut again = Vec::new();
        let mut retry = Vec::new();
        let mut failed = Vec::new();
        let inflight: Vec<Sent> = self.inflight.drain(..).collect();
        self.inflight_tasks = 0;
        for sent in inflight {
            let first_seq = sent.first_seq;
            let done = sent.done;
            for (k, mut task) in sent.chunk.split().enumerate() {
                if k < done {
                    continue;
                }
                task.meta.resent = true;
                if Some(first_seq + k as u64) != culprit {
                    again.push(task);
                    continue;
                }
                let loss = match failure {
                    Failure::Timeout { ran, .. } => Loss::TimedOut { ran: *ran },
                    Failure::Died | Failure::Protocol(_) => Loss::Crashed { pid, status },
                };
                let verdict = charge(&mut task.meta, loss, policy);
                match verdict {
                    Some(error) => failed.push((task.first_id, error)),
                    None => retry.push(task),
                }
            }
        }
        for (id, error) in failed {
            self.fail(id, error);
        }
        self.flush_blocks();
        if !again.is_empty() || !retry.is_empty() {
            self.shared
                .counters
                .resent
                .fetch_add((again.len() + retry.len()) as u64, Ordering::Relaxed);
            // The innocent go first; a charged task waits at the back, so that it does not
            // meet the same fate at the same place in the next worker's sequence.
            let mut queue = self.shared.lock_queue();
            for task in again.into_iter().rev() {
                queue.push_front(task);
            }
            for task in retry {
                queue.push_back(task);
            }
            self.shared.metrics.queue_depth.set(depth(queue.queued));
            drop(queue);
            self.shared.tasks_ready.notify_all();
        }
    }

    fn recycle_due(&self) -> bool {
        self.recycle_at.is_some_and(|at| self.sent >= at)
    }

    /// Retires the worker after its quota of tasks; the next loop starts a new one.
    fn recycle(&mut self) {
        self.retire(RETIRE_GRACE);
        self.shared
            .metrics
            .worker_restarts_total
            .with_label_values(&["recycle"])
            .inc();
        self.shared
            .counters
            .restarts
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Closes the worker's input, gives it `grace` to exit, kills it after, reaps it. Output
    /// it writes after its last answer (an extra line for the last task) is read until it
    /// closes its output, within the grace, and counted as excess answers: it would otherwise
    /// go unseen whenever it arrives after the answer it follows.
    fn retire(&mut self, grace: Duration) {
        if let Some(mut worker) = self.worker.take() {
            drop(worker.stdin.take());
            let deadline = Instant::now() + grace;
            let extra =
                !self.rbuf.is_empty() || (!grace.is_zero() && writes_more(&worker, deadline));
            self.rbuf.clear();
            if extra {
                self.shared
                    .counters
                    .excess_answers
                    .fetch_add(1, Ordering::Relaxed);
            }
            let _ = reap(
                &mut worker,
                deadline.saturating_duration_since(Instant::now()),
            );
            self.shared.metrics.process.record_exit();
        }
    }

    fn cancel_inflight(&mut self) {
        let inflight: Vec<Sent> = self.inflight.drain(..).collect();
        self.inflight_tasks = 0;
        for sent in inflight {
            let ids = sent.chunk.ids();
            for id in ids.skip(sent.done) {
                self.fail(id, TaskError::Cancelled);
            }
        }
        self.flush_blocks();
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        // A dispatcher that ends any way other than `run` returning still reaps its worker.
        if let Some(mut worker) = self.worker.take() {
            let _ = reap(&mut worker, Duration::ZERO);
            self.shared.metrics.process.record_exit();
        }
    }
}

/// The CPU for slot `index`: the `index`-th (modulo their number) of the CPUs this process
/// may run on, or `None` if they cannot be read.
fn pin_cpu(index: usize) -> Option<usize> {
    let allowed = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).ok()?;
    let cpus: Vec<usize> = (0..nix::sched::CpuSet::count())
        .filter(|&cpu| allowed.is_set(cpu).unwrap_or(false))
        .collect();
    cpus.get(index % cpus.len().max(1)).copied()
}

/// Restricts thread or process `pid` (0: the calling thread) to `cpu`.
fn pin(pid: nix::unistd::Pid, cpu: usize) -> nix::Result<()> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu)?;
    nix::sched::sched_setaffinity(pid, &set)
}

/// Whether a worker whose input is closed writes anything more before it closes its output
/// (or `deadline` passes).
fn writes_more(worker: &Worker, deadline: Instant) -> bool {
    let fd = worker.stdout.as_fd();
    let mut buf = [0u8; 4096];
    loop {
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return false;
                }
                let wait = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
                let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
                if let Err(e) = poll(&mut fds, wait)
                    && e != Errno::EINTR
                {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
}

/// Waits up to `grace` for the worker to exit, then kills it; always reaps it. Whatever is
/// left of its process group (children it started) is killed before the worker is reaped,
/// while its pid, which is also the group's id, cannot have been reused.
fn reap(worker: &mut Worker, grace: Duration) -> Option<ExitStatus> {
    use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
    let pid = nix::unistd::Pid::from_raw(i32::try_from(worker.pid).unwrap_or(0));
    let deadline = Instant::now() + grace;
    loop {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT | WaitPidFlag::WNOHANG;
        match waitid(Id::Pid(pid), flags) {
            Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(Errno::EINTR) => {}
            // Past the grace; or exited (not reaped yet); or already reaped by someone else.
            Ok(_) | Err(_) => break,
        }
    }
    if pid.as_raw() > 0 {
        let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
    }
    let _ = worker.child.kill();
    worker.child.wait().ok()
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Reads a worker's standard error line by line until it closes.
fn forward_stderr(stderr: std::process::ChildStderr, index: usize, pid: u32, shared: &Shared) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        match shared.config.stderr {
            StderrMode::Capture => {
                let mut captured = shared
                    .captured
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if captured.len() == CAPTURED_LINES {
                    captured.pop_front();
                }
                captured.push_back(format!("[worker {index} pid {pid}] {text}"));
            }
            _ => eprintln!("[worker {index} pid {pid}] {text}"),
        }
    }
}
