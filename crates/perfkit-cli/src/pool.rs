//! `perfkit pool`: standard input lines → a `perfkit_pool::ProcessPool` → standard output.

use std::io::{BufWriter, Read, Write};

use std::ops::ControlFlow;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use perfkit_pool::{PoolStats, ProcessPool, Protocol, TaskError};
use serde::Serialize;

use crate::cli::PoolArgs;
use crate::exit::Exit;
use crate::output::StdoutError;

/// Bytes of standard input read at a time.
const READ_BLOCK: usize = 1 << 20;

/// How long workers get to finish after the last result, before they are killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Runs the pool; returns whether any task failed.
pub(crate) fn run(args: &PoolArgs) -> Result<Exit> {
    let started = Instant::now();
    let Some((program, rest)) = args.command.split_first() else {
        bail!("no worker command: give it after --, e.g. perfkit pool -- python3 -u worker.py");
    };
    let mut command = Command::new(program);
    command.args(rest);
    if args.naive {
        return run_naive(args, &command, started).map(Exit::checked);
    }
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let protocol = if args.framed {
        Protocol::Framed
    } else {
        Protocol::Lines
    };
    let mut pool = build(args, &command, protocol)?;
    if let Some(addr) = &args.metrics_addr {
        serve_metrics(&pool, addr)?;
    }

    // Ctrl-C, SIGTERM and SIGHUP: stop reading, write the results already received, end
    // the workers, then end by the signal.
    let deferral = perfkit_sys::signals::Deferral::new();
    let stop = AtomicBool::new(false);
    let reading_done = AtomicBool::new(false);
    let (read_result, ended) = std::thread::scope(|scope| -> Result<(Result<()>, Ended)> {
        let reader = scope.spawn(|| {
            let result = feed(&pool, &stop);
            reading_done.store(true, Ordering::Release);
            result
        });
        let ended = write_results(&pool, &deferral, &stop, &reading_done)?;
        let read =
            (reader.join()).unwrap_or_else(|_| Err(anyhow::anyhow!("the input reader panicked")));
        Ok((read, ended))
    })?;
    finish(args, &mut pool, ended, read_result, started, protocol).map(Exit::checked)
}

/// Serves the pool's metrics at `addr` for as long as perfkit runs.
fn serve_metrics(pool: &ProcessPool, addr: &str) -> Result<()> {
    let local = pool.metrics().serve(addr).map_err(|e| match e {
        perfkit_pool::PoolError::Listen { source, .. } => anyhow::anyhow!(
            "cannot listen on {addr:?} for --metrics-addr ({}): use HOST:PORT, e.g. \
             127.0.0.1:9898; port 0 picks one",
            perfkit_sys::os_reason(&source)
        ),
        other => other.into(),
    })?;
    note!("perfkit pool: serving metrics at http://{local}/metrics");
    Ok(())
}

/// Writes each result to standard output as it arrives, until the input is done and every
/// task has its outcome, or a signal arrives (then the reader is stopped and the pool
/// closed). Failures are reported on standard error with their line.
fn write_results(
    pool: &ProcessPool,
    deferral: &perfkit_sys::signals::Deferral,
    stop: &AtomicBool,
    reading_done: &AtomicBool,
) -> Result<Ended> {
    let mut interrupted = None;
    let (mut written, mut failed) = (0u64, 0u64);
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut write_error = None;
    loop {
        if let Some(signal) = deferral.pending() {
            interrupted = Some(signal);
            stop.store(true, Ordering::Release);
            pool.close();
            break;
        }
        let finished_reading = reading_done.load(Ordering::Acquire);
        // Outputs are written straight from the blocks they arrived in.
        // Bounded waits, so that a signal is noticed while tasks are still running.
        let received = pool.recv_each_within(65_536, Duration::from_millis(100), |id, result| {
            if write_error.is_some() {
                return;
            }
            let counts = (&mut written, &mut failed);
            if let Err(e) = write_outcome(&mut out, counts, id, result) {
                write_error = Some(e);
            }
        });
        if let Some(e) = write_error.take() {
            return Err(StdoutError(e).into());
        }
        match received {
            Some(0) => {
                // Tasks are running and nothing came for a while: hand on what is written.
                out.flush().map_err(StdoutError)?;
            }
            Some(_) => {}
            None if finished_reading => break,
            None => {
                // Everything submitted so far is done; more input is on its way. Hand on
                // what is written before waiting: a reader that waits for these results
                // before it sends more input would otherwise wait forever.
                out.flush().map_err(StdoutError)?;
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }
    out.flush().map_err(StdoutError)?;
    Ok(Ended {
        interrupted,
        written,
        failed,
    })
}

/// Writes one outcome: its output and a newline, or (after handing on what is written) its
/// failure on standard error. Counts it as written or failed.
fn write_outcome(
    out: &mut impl Write,
    (written, failed): (&mut u64, &mut u64),
    id: u64,
    result: Result<&[u8], &TaskError>,
) -> std::io::Result<()> {
    match result {
        Ok(output) => {
            *written += 1;
            out.write_all(output).and_then(|()| out.write_all(b"\n"))
        }
        Err(error) => {
            *failed += 1;
            let flushed = out.flush();
            report_failure(id, error);
            flushed
        }
    }
}

/// How the main loop of the pool ended.
#[derive(Clone, Copy)]
struct Ended {
    interrupted: Option<i32>,
    written: u64,
    failed: u64,
}

/// Stops the workers and reports: by the signal that interrupted the pool, or with the
/// stats and whether anything failed.
fn finish(
    args: &PoolArgs,
    pool: &mut ProcessPool,
    ended: Ended,
    read_result: Result<()>,
    started: Instant,
    protocol: Protocol,
) -> Result<bool> {
    if let Some(signal) = ended.interrupted {
        pool.shutdown(Duration::ZERO);
        note!(
            "perfkit pool: interrupted by signal {signal}: {} results written, {} failures reported; the workers were stopped",
            ended.written,
            ended.failed
        );
        perfkit_sys::signals::die_of(signal);
    }
    pool.shutdown(SHUTDOWN_GRACE);
    read_result?;
    let stats = pool.stats();
    if args.stats {
        print_stats(args, &stats, started.elapsed(), protocol)?;
    }
    if stats.excess_answers > 0 {
        note!(
            "perfkit pool: error: a worker answered more lines than it was sent tasks, so answers it gave before may belong to other tasks (line mode matches answers to tasks in order); make the worker print exactly one line per task and flush it, or use --framed"
        );
        return Ok(true);
    }
    Ok(ended.failed > 0)
}

/// The pool the options describe, started.
fn build(args: &PoolArgs, command: &Command, protocol: Protocol) -> Result<ProcessPool> {
    let mut builder = ProcessPool::builder(command)
        .max_batch(args.batch)
        .queue_capacity(args.queue.max(1))
        .ordered(args.ordered)
        .protocol(protocol)
        .retries(args.retries)
        .quarantine_after(args.quarantine_after)
        .pin_workers(args.pin);
    if let Some(n) = args.workers {
        builder = builder.workers(n);
    }
    if let Some(timeout) = args.timeout {
        builder = builder.timeout(timeout);
    }
    if let Some(n) = args.max_tasks_per_worker {
        builder = builder.max_tasks_per_worker(n);
    }
    builder.build().with_context(|| {
        format!(
            "cannot start the pool for '{}'",
            command.get_program().display()
        )
    })
}

/// Reads standard input in blocks and submits its lines, a block at a time, until the input
/// ends or `stop` is set.
fn feed(pool: &ProcessPool, stop: &AtomicBool) -> Result<()> {
    let mut stdin = std::io::stdin().lock();
    let mut buf = vec![0u8; READ_BLOCK];
    let mut filled = 0usize;
    loop {
        if !wait_for_input(stop) {
            return Ok(());
        }
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = match stdin.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("cannot read tasks from standard input"),
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

/// Waits until standard input can be read (or has ended); `false` once `stop` is set.
fn wait_for_input(stop: &AtomicBool) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd as _;
    let stdin = std::io::stdin();
    loop {
        if stop.load(Ordering::Acquire) {
            return false;
        }
        let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(100u8)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => {}
            // Readable, ended, or an error the read itself will report.
            Ok(_) | Err(_) => return !stop.load(Ordering::Acquire),
        }
    }
}

fn report_failure(id: u64, error: &TaskError) {
    note!(
        "perfkit pool: task {} (line {}) failed: {error}",
        id,
        id + 1
    );
}

/// `--naive`: one process per task, the task as its last argument. Each result is written as
/// its process ends; a signal is passed on to the running task and stops the run, with every
/// result so far written.
/// All of standard input, without its last newline.
fn read_tasks() -> Result<Vec<u8>> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("cannot read tasks from standard input")?;
    if input.last() == Some(&b'\n') {
        input.pop();
    }
    Ok(input)
}

fn run_naive(args: &PoolArgs, command: &Command, started: Instant) -> Result<bool> {
    let input = read_tasks()?;
    let lines: Vec<&[u8]> = if input.is_empty() {
        Vec::new()
    } else {
        input.split(|&b| b == b'\n').collect()
    };
    let deferral = perfkit_sys::signals::Deferral::new();
    let _children = perfkit_sys::signals::signal_children();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let (mut written, mut failed) = (0u64, 0u64);
    let mut write_error = None;
    let stop = || deferral.pending().is_some();
    let jobs = naive_jobs(args.workers)?;
    let ran = perfkit_pool::run_naive_each(command, &lines, jobs, &stop, |outcome| {
        let result = match &outcome.result {
            Ok(output) => {
                written += 1;
                out.write_all(output.strip_suffix(b"\n").unwrap_or(output))
                    .and_then(|()| out.write_all(b"\n"))
            }
            Err(error) => {
                failed += 1;
                let flushed = out.flush();
                report_failure(outcome.id, error);
                flushed
            }
        };
        // Handed on at once: a process per task is slow, and a signal may end the run.
        match result.and_then(|()| out.flush()) {
            Err(e) => {
                write_error = Some(e);
                ControlFlow::Break(())
            }
            Ok(()) if deferral.pending().is_some() => ControlFlow::Break(()),
            Ok(()) => ControlFlow::Continue(()),
        }
    })
    .with_context(|| format!("cannot run {}", command.get_program().display()))?;
    if let Some(e) = write_error {
        return Err(StdoutError(e).into());
    }
    if let Some(signal) = deferral.pending() {
        note!(
            "perfkit pool --naive: interrupted by signal {signal}: {written} results written, {failed} failures reported"
        );
        perfkit_sys::signals::die_of(signal);
    }
    if args.stats {
        let elapsed = started.elapsed().as_secs_f64();
        let rate = ran as f64 / elapsed.max(1e-9);
        note!(
            "perfkit pool --naive: {ran} tasks in {elapsed:.3} s: {rate:.0} tasks/s, {failed} failed (one process per task, {jobs} at a time)"
        );
    }
    Ok(failed > 0)
}

/// Processes `--naive` runs at once: `-j`, else one per CPU, as the pool's workers, so that
/// the two compare fairly.
fn naive_jobs(workers: Option<usize>) -> Result<usize> {
    let jobs = workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    if !(1..=perfkit_pool::MAX_WORKERS).contains(&jobs) {
        bail!(
            "-j {jobs}: give 1 to {} processes at a time",
            perfkit_pool::MAX_WORKERS
        );
    }
    Ok(jobs)
}

/// `--stats --json` (schema in docs/formats.md).
#[derive(Debug, Serialize)]
struct StatsReport {
    protocol: Protocol,
    workers: usize,
    batch: usize,
    tasks: u64,
    ok: u64,
    failed: u64,
    wall_s: f64,
    tasks_per_sec: f64,
    latency_ns: Option<Latency>,
    spawned: u64,
    restarts: u64,
    resent: u64,
}

#[derive(Debug, Serialize)]
struct Latency {
    p50: u64,
    p99: u64,
    p999: u64,
    max: u64,
}

impl StatsReport {
    fn of(args: &PoolArgs, stats: &PoolStats, wall: Duration, protocol: Protocol) -> StatsReport {
        let latency =
            (stats.latency.quantiles([0.5, 0.99, 0.999])).map(|[p50, p99, p999]| Latency {
                p50,
                p99,
                p999,
                max: stats.latency.max().unwrap_or(0),
            });
        StatsReport {
            protocol,
            workers: args.workers.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
            }),
            batch: args.batch,
            tasks: stats.submitted,
            ok: stats.ok,
            failed: stats.failed,
            wall_s: wall.as_secs_f64(),
            tasks_per_sec: stats.finished as f64 / wall.as_secs_f64().max(1e-9),
            latency_ns: latency,
            spawned: stats.spawned,
            restarts: stats.restarts,
            resent: stats.resent,
        }
    }
}

fn print_stats(
    args: &PoolArgs,
    stats: &PoolStats,
    wall: Duration,
    protocol: Protocol,
) -> Result<()> {
    let report = StatsReport::of(args, stats, wall, protocol);
    if args.json {
        note!("{}", crate::document::to_json(None, &report)?.trim_end());
        return Ok(());
    }
    note!(
        "perfkit pool: {} tasks in {:.3} s: {:.0} tasks/s; {} ok, {} failed",
        report.tasks,
        report.wall_s,
        report.tasks_per_sec,
        report.ok,
        report.failed
    );
    if let Some(l) = &report.latency_ns {
        note!(
            "  latency (dispatch to result): p50 {}  p99 {}  p99.9 {}  max {}",
            human_ns(l.p50),
            human_ns(l.p99),
            human_ns(l.p999),
            human_ns(l.max)
        );
    }
    note!(
        "  workers: {} spawned, {} restarts; {} tasks sent again after a worker died",
        report.spawned,
        report.restarts,
        report.resent
    );
    Ok(())
}

fn human_ns(ns: u64) -> String {
    perfkit_metrics::format_duration(ns as f64)
}
