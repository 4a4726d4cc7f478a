//! `perfkit pool`: standard input lines → a `perfkit_pool::ProcessPool` → standard output.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use perfkit_pool::{
    NaiveSummary, ProcessPool, RunSummary, StreamEnd, StreamError, TaskError, stream_lines,
    stream_naive,
};

use crate::cli::PoolArgs;
use crate::exit::Exit;
use crate::output::StdoutError;

/// How long workers get to finish after the last result, before they are killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Runs the pool; [`Exit::Failed`] when any task failed.
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
    let mut pool = args.builder(&command).build().with_context(|| {
        format!(
            "cannot start the pool for '{}'",
            command.get_program().display()
        )
    })?;
    if let Some(addr) = &args.metrics_addr {
        serve_metrics(&pool, addr)?;
    }
    // Ctrl-C, SIGTERM and SIGHUP: stop reading, write the results already received, end
    // the workers, then end by the signal.
    let deferral = perfkit_sys::signals::Deferral::new();
    let interrupted = || deferral.pending();
    let streamed = stream_lines(
        &pool,
        std::io::stdin(),
        std::io::stdout().lock(),
        &interrupted,
        report_failure,
    );
    shut_down(&mut pool, streamed.as_ref().ok());
    let ended = streamed.map_err(stream_error)?;
    let stats = pool.stats();
    if args.stats {
        let summary = RunSummary::of(&stats, pool.config(), started.elapsed());
        print_summary(args.json, "perfkit pool", &summary, RunSummary::to_text)?;
    }
    if stats.excess_answers > 0 {
        note!(
            "perfkit pool: error: a worker answered more lines than it was sent tasks, so answers it gave before may belong to other tasks (line mode matches answers to tasks in order); make the worker print exactly one line per task and flush it, or use --framed"
        );
        return Ok(Exit::Failed);
    }
    Ok(Exit::checked(ended.failed > 0))
}

/// Ends the workers: at once, then perfkit by the signal, when one interrupted the stream;
/// else after a grace period for what they are finishing.
fn shut_down(pool: &mut ProcessPool, end: Option<&StreamEnd>) {
    if let Some(end) = end {
        die_if_interrupted("perfkit pool", end, "; the workers were stopped", || {
            pool.shutdown(Duration::ZERO);
        });
    }
    pool.shutdown(SHUTDOWN_GRACE);
}

/// When a signal interrupted the stream: `stop` what runs, say what was done, and end perfkit
/// by that signal.
fn die_if_interrupted(who: &str, end: &StreamEnd, stopped: &str, stop: impl FnOnce()) {
    if let Some(signal) = end.interrupted {
        stop();
        note!(
            "{who}: interrupted by signal {signal}: {} results written, {} failures reported{stopped}",
            end.written,
            end.failed
        );
        perfkit_sys::signals::die_of(signal);
    }
}

/// The error of a stream, with a failed write to standard output reported as one.
fn stream_error(error: StreamError) -> anyhow::Error {
    match error {
        StreamError::Output(e) => StdoutError(e).into(),
        StreamError::Input(e) => {
            anyhow::Error::new(e).context("cannot read tasks from standard input")
        }
        StreamError::Pool(e) => e.into(),
    }
}

/// Serves the pool's metrics at `addr` for as long as perfkit runs.
fn serve_metrics(pool: &ProcessPool, addr: &str) -> Result<()> {
    let local = pool.metrics().serve(addr)?;
    note!("perfkit pool: serving metrics at http://{local}/metrics");
    Ok(())
}

fn report_failure(id: u64, error: &TaskError) {
    note!(
        "perfkit pool: task {} (line {}) failed: {error}",
        id,
        id + 1
    );
}

/// `--naive`: one process per task, the task as its last argument, as many at a time as the
/// pool would have workers, so that the two compare fairly. A signal is passed on to the
/// running tasks and stops the run, with every result so far written.
fn run_naive(args: &PoolArgs, command: &Command, started: Instant) -> Result<bool> {
    // All the input first, while a signal still ends perfkit at once: signals are deferred
    // only while tasks run, so that each is passed on to them and the results so far written.
    let mut input = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut input)
        .context("cannot read tasks from standard input")?;
    let deferral = perfkit_sys::signals::Deferral::new();
    let _children = perfkit_sys::signals::signal_children();
    let interrupted = || deferral.pending();
    let jobs = (args.workers).unwrap_or_else(perfkit_pool::default_workers);
    let (end, ran) = stream_naive(
        command,
        &input,
        std::io::stdout().lock(),
        jobs,
        &interrupted,
        report_failure,
    )
    .map_err(stream_error)?;
    die_if_interrupted("perfkit pool --naive", &end, "", || {});
    if args.stats {
        let summary = NaiveSummary::of(ran, &end, jobs, started.elapsed());
        print_summary(
            args.json,
            "perfkit pool --naive",
            &summary,
            NaiveSummary::to_text,
        )?;
    }
    Ok(end.failed > 0)
}

/// `--stats`: the summary on standard error, as text after `who` or (`--json`) JSON.
fn print_summary<T: serde::Serialize>(
    json: bool,
    who: &str,
    summary: &T,
    text: fn(&T) -> String,
) -> Result<()> {
    let text = crate::document::json_or(json, None, summary, text)?;
    let who = if json {
        String::new()
    } else {
        format!("{who}: ")
    };
    note!("{who}{}", text.trim_end());
    Ok(())
}
