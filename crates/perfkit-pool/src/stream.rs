//! Streams of lines through a pool: input read in blocks and submitted a block at a time,
//! each result written as soon as it arrives, failures handed to the caller with their task.
//! `perfkit pool` is this module with standard input and output; a caller can give any
//! readable descriptor and any writer.

use std::io::{BufWriter, Read, Write};
use std::ops::ControlFlow;
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::error::{ConfigProblem, PoolError, TaskError};
use crate::frame::Protocol;
use crate::naive::run_naive_each;
use crate::pool::{PoolStats, ProcessPool};
use crate::task::TaskId;

/// Bytes of input read at a time.
const READ_BLOCK: usize = 1 << 20;

/// How long the writer waits for results before it looks for a signal again.
const POLL: Duration = Duration::from_millis(100);

/// Why a stream stopped early.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The input could not be read.
    #[error("cannot read tasks: {0}")]
    Input(#[source] std::io::Error),
    /// The output could not be written (a full disk, a closed pipe).
    #[error("cannot write results: {0}")]
    Output(#[source] std::io::Error),
    /// The pool refused a task or could not start.
    #[error(transparent)]
    Pool(#[from] PoolError),
}

/// How a stream ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamEnd {
    /// The signal `interrupted` reported, when one stopped the stream before its end.
    pub interrupted: Option<i32>,
    /// Results written.
    pub written: u64,
    /// Failures handed to the caller.
    pub failed: u64,
}

/// Submits every line of `input` to `pool` and writes each result to `output` followed by a
/// newline, in the order the pool delivers them, until the input ends and every task has its
/// outcome. A failed task goes to `on_failure` (after what was written is flushed, so that
/// its message follows the results before it). `interrupted` is asked between waits: when it
/// names a signal, reading stops, the pool is closed and the stream ends with what it has.
///
/// The input is waited on through its descriptor, so give it unbuffered (a `File`, `Stdin`,
/// a pipe): bytes already held in a reader's own buffer would not wake the wait.
///
/// # Errors
///
/// [`StreamError`] when the input cannot be read, the output cannot be written or the pool
/// refuses a task.
pub fn stream_lines<R: Read + AsFd + Send>(
    pool: &ProcessPool,
    input: R,
    output: impl Write,
    interrupted: &(dyn Fn() -> Option<i32> + Sync),
    on_failure: impl FnMut(TaskId, &TaskError),
) -> Result<StreamEnd, StreamError> {
    let stop = AtomicBool::new(false);
    let reading_done = AtomicBool::new(false);
    let (read, written) = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let result = feed(pool, input, &stop);
            reading_done.store(true, Ordering::Release);
            result
        });
        let mut writer = Writer::new(output, on_failure);
        let written = writer.drain(pool, interrupted, &stop, &reading_done);
        if written.is_err() {
            // The reader must not wait for input that no longer matters.
            stop.store(true, Ordering::Release);
            pool.close();
        }
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(StreamError::Input(std::io::Error::other("reader panicked"))));
        (read, written)
    });
    let end = written?;
    if end.interrupted.is_none() {
        read?;
    }
    Ok(end)
}

/// Results written as they arrive, with their counts.
struct Writer<W: Write, F> {
    out: BufWriter<W>,
    on_failure: F,
    end: StreamEnd,
}

impl<W: Write, F: FnMut(TaskId, &TaskError)> Writer<W, F> {
    fn new(output: W, on_failure: F) -> Self {
        Writer {
            out: BufWriter::with_capacity(1 << 20, output),
            on_failure,
            end: StreamEnd::default(),
        }
    }

    /// Writes results until the input is done and every task has its outcome, or a signal
    /// arrives.
    fn drain(
        &mut self,
        pool: &ProcessPool,
        interrupted: &(dyn Fn() -> Option<i32> + Sync),
        stop: &AtomicBool,
        reading_done: &AtomicBool,
    ) -> Result<StreamEnd, StreamError> {
        let mut error = None;
        loop {
            if let Some(signal) = interrupted() {
                self.end.interrupted = Some(signal);
                stop.store(true, Ordering::Release);
                pool.close();
                break;
            }
            let finished_reading = reading_done.load(Ordering::Acquire);
            // Outputs are written straight from the blocks they arrived in, with bounded
            // waits so that a signal is noticed while tasks are still running.
            let received = pool.recv_each_within(65_536, POLL, |id, result| {
                if error.is_none() {
                    error = self.write(id, result).err();
                }
            });
            if let Some(e) = error.take() {
                return Err(StreamError::Output(e));
            }
            match received {
                Some(0) => self.flush()?,
                Some(_) => {}
                None if finished_reading => break,
                None => {
                    // Everything submitted so far is done and more input is on its way: a
                    // reader that waits for these results before it sends more would
                    // otherwise wait forever.
                    self.flush()?;
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
        self.flush()?;
        Ok(self.end)
    }

    /// Writes one outcome: its output and a newline, or its failure.
    fn write(&mut self, id: TaskId, result: Result<&[u8], &TaskError>) -> std::io::Result<()> {
        match result {
            Ok(output) => {
                self.end.written += 1;
                self.out
                    .write_all(output)
                    .and_then(|()| self.out.write_all(b"\n"))
            }
            Err(error) => {
                self.end.failed += 1;
                let flushed = self.out.flush();
                (self.on_failure)(id, error);
                flushed
            }
        }
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        self.out.flush().map_err(StreamError::Output)
    }
}

/// Reads `input` in blocks and submits its lines, a block at a time, until the input ends or
/// `stop` is set.
fn feed(
    pool: &ProcessPool,
    mut input: impl Read + AsFd,
    stop: &AtomicBool,
) -> Result<(), StreamError> {
    let mut buf = vec![0u8; READ_BLOCK];
    let mut filled = 0usize;
    loop {
        if !wait_for_input(&input, stop) {
            return Ok(());
        }
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = match input.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(StreamError::Input(e)),
        };
        if n == 0 {
            if filled > 0 {
                pool.submit_many([&buf[..filled]])?;
            }
            return Ok(());
        }
        filled += n;
        let Some(last) = memchr::memrchr(b'\n', &buf[..filled]) else {
            continue;
        };
        pool.submit_many(buf[..last].split(|&b| b == b'\n'))?;
        buf.copy_within(last + 1..filled, 0);
        filled -= last + 1;
    }
}

/// Waits until `input` can be read (or has ended); `false` once `stop` is set.
fn wait_for_input(input: &impl AsFd, stop: &AtomicBool) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    loop {
        if stop.load(Ordering::Acquire) {
            return false;
        }
        let mut fds = [PollFd::new(input.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(100u8)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => {}
            // Readable, ended, or an error the read itself will report.
            Ok(_) | Err(_) => return !stop.load(Ordering::Acquire),
        }
    }
}

/// [`stream_lines`] without a pool: one process of `command` per line of `input` (all of the
/// input, read by the caller: a signal is best left to end a program still reading), the line
/// as its last argument, `jobs` at a time (1 to [`MAX_WORKERS`](crate::MAX_WORKERS)). Each result is
/// written and flushed as its process ends (a process per task is slow, and a signal may end
/// the run), without the program's last newline. When `interrupted` names a signal, the
/// running processes are stopped and the stream ends with what it has.
///
/// # Errors
///
/// [`StreamError`] as for [`stream_lines`]; [`PoolError::Config`] for `jobs` out of range and
/// [`PoolError::Spawn`] when the program cannot start.
pub fn stream_naive(
    command: &Command,
    input: &[u8],
    output: impl Write,
    jobs: usize,
    interrupted: &(dyn Fn() -> Option<i32> + Sync),
    on_failure: impl FnMut(TaskId, &TaskError),
) -> Result<(StreamEnd, usize), StreamError> {
    if !(1..=crate::MAX_WORKERS).contains(&jobs) {
        return Err(PoolError::Config(ConfigProblem::Workers {
            given: jobs,
            max: crate::MAX_WORKERS,
        })
        .into());
    }
    let input = input.strip_suffix(b"\n").unwrap_or(input);
    let lines: Vec<&[u8]> = if input.is_empty() {
        Vec::new()
    } else {
        input.split(|&b| b == b'\n').collect()
    };
    let mut writer = Writer::new(output, on_failure);
    let mut error = None;
    let stop = || interrupted().is_some();
    let ran = run_naive_each(command, &lines, jobs, &stop, |outcome| {
        let output = outcome
            .result
            .as_deref()
            .map(|o| o.strip_suffix(b"\n").unwrap_or(o));
        match writer
            .write(outcome.id, output)
            .and_then(|()| writer.out.flush())
        {
            Err(e) => {
                error = Some(e);
                ControlFlow::Break(())
            }
            Ok(()) if interrupted().is_some() => ControlFlow::Break(()),
            Ok(()) => ControlFlow::Continue(()),
        }
    })?;
    if let Some(e) = error {
        return Err(StreamError::Output(e));
    }
    writer.end.interrupted = interrupted();
    Ok((writer.end, ran))
}

/// A summary of a [`stream_naive`] run, a process per task, for people (`to_text`) and
/// programs (serialised).
#[derive(Clone, Debug, Serialize)]
pub struct NaiveSummary {
    /// Tasks run.
    pub tasks: u64,
    /// Tasks that failed.
    pub failed: u64,
    /// Processes run at a time, at most.
    pub jobs: usize,
    /// Wall time of the whole run, in seconds.
    pub wall_s: f64,
    /// Tasks per second of wall time.
    pub tasks_per_sec: f64,
}

impl NaiveSummary {
    /// The summary of a run of `wall` that ran `tasks` tasks, `jobs` at a time, and ended as
    /// `end` says.
    #[must_use]
    pub fn of(tasks: usize, end: &StreamEnd, jobs: usize, wall: Duration) -> NaiveSummary {
        let wall_s = wall.as_secs_f64();
        NaiveSummary {
            tasks: tasks as u64,
            failed: end.failed,
            jobs,
            wall_s,
            tasks_per_sec: tasks as f64 / wall_s.max(1e-9),
        }
    }

    /// The summary as a line for a terminal.
    #[must_use]
    pub fn to_text(&self) -> String {
        format!(
            "{} tasks in {:.3} s: {:.0} tasks/s, {} failed (one process per task, {} at a time)\n",
            self.tasks, self.wall_s, self.tasks_per_sec, self.failed, self.jobs
        )
    }
}

/// A summary of a pool's run, for people (`to_text`) and programs (serialised).
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// How tasks and results were framed.
    pub protocol: Protocol,
    /// Worker processes.
    pub workers: usize,
    /// Tasks sent to a worker at a time, at most.
    pub batch: usize,
    /// Tasks submitted.
    pub tasks: u64,
    /// Tasks that succeeded.
    pub ok: u64,
    /// Tasks that failed.
    pub failed: u64,
    /// Wall time of the whole run, in seconds.
    pub wall_s: f64,
    /// Outcomes per second of wall time.
    pub tasks_per_sec: f64,
    /// Dispatch-to-result latency, when any task finished.
    pub latency_ns: Option<Latency>,
    /// Worker processes started.
    pub spawned: u64,
    /// Workers replaced.
    pub restarts: u64,
    /// Tasks sent again after a worker died.
    pub resent: u64,
}

/// Latency quantiles, in nanoseconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Slowest.
    pub max: u64,
}

impl RunSummary {
    /// The summary of a run of `wall` by a pool with this `config`, which ended with `stats`.
    #[must_use]
    pub fn of(stats: &PoolStats, config: &crate::PoolConfig, wall: Duration) -> RunSummary {
        let (protocol, workers, batch) = (config.protocol, config.workers, config.max_batch);
        let latency_ns =
            (stats.latency.quantiles([0.5, 0.99, 0.999])).map(|[p50, p99, p999]| Latency {
                p50,
                p99,
                p999,
                max: stats.latency.max().unwrap_or(0),
            });
        RunSummary {
            protocol,
            workers,
            batch,
            tasks: stats.submitted,
            ok: stats.ok,
            failed: stats.failed,
            wall_s: wall.as_secs_f64(),
            tasks_per_sec: stats.finished as f64 / wall.as_secs_f64().max(1e-9),
            latency_ns,
            spawned: stats.spawned,
            restarts: stats.restarts,
            resent: stats.resent,
        }
    }

    /// The summary as lines for a terminal.
    #[must_use]
    pub fn to_text(&self) -> String {
        use perfkit_metrics::format_duration;
        use std::fmt::Write as _;
        let ns = |n: u64| format_duration(n as f64);
        let mut text = format!(
            "{} tasks in {:.3} s: {:.0} tasks/s; {} ok, {} failed\n",
            self.tasks, self.wall_s, self.tasks_per_sec, self.ok, self.failed
        );
        if let Some(l) = &self.latency_ns {
            let _ = writeln!(
                text,
                "  latency (dispatch to result): p50 {}  p99 {}  p99.9 {}  max {}",
                ns(l.p50),
                ns(l.p99),
                ns(l.p999),
                ns(l.max)
            );
        }
        let _ = writeln!(
            text,
            "  workers: {} spawned, {} restarts; {} tasks sent again after a worker died",
            self.spawned, self.restarts, self.resent
        );
        text
    }
}
