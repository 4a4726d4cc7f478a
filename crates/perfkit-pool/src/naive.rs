//! The simplest way to run tasks in processes, for comparison: one new process per task, the
//! task passed as its last argument, the output read from its standard output. Correct, and
//! about 500 to 100,000 times slower than a [`ProcessPool`](crate::ProcessPool)
//! (docs/benchmarks.md).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::ops::ControlFlow;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use bytes::Bytes;

use crate::dispatch::describe;
use crate::error::{PoolError, TaskError};
use crate::pool::{CommandSpec, Outcome};

/// Runs `command` once per input, with the input as an extra last argument, one after another.
/// A non-zero exit or a signal is that task's [`TaskError::Crashed`]; the output is the
/// process's standard output.
///
/// # Errors
///
/// [`PoolError::Spawn`] when the program cannot be started at all (checked on the first task).
pub fn run_naive<I>(command: &Command, inputs: I) -> Result<Vec<Outcome>, PoolError>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let inputs: Vec<Vec<u8>> = inputs.into_iter().map(|i| i.as_ref().to_vec()).collect();
    let mut outcomes = Vec::new();
    run_naive_each(command, &inputs, 1, &|| false, |outcome| {
        outcomes.push(outcome);
        ControlFlow::Continue(())
    })?;
    Ok(outcomes)
}

/// [`run_naive`] with up to `jobs` processes at once (as `xargs -P`), handing each outcome to
/// `f` in input order as soon as it and every earlier one have ended; `f` stops the run by
/// returning [`ControlFlow::Break`]. `stop` is asked before each task starts and again once
/// its process exists (a process started as `stop` turned true is killed), so that a signal
/// noted meanwhile ends the run. Returns how many tasks ran.
///
/// # Errors
///
/// [`PoolError::Spawn`] when the program cannot be started at all (checked on the first task).
pub fn run_naive_each<T: AsRef<[u8]> + Sync>(
    command: &Command,
    inputs: &[T],
    jobs: usize,
    stop: &(dyn Fn() -> bool + Sync),
    mut f: impl FnMut(Outcome) -> ControlFlow<()>,
) -> Result<usize, PoolError> {
    let spec = CommandSpec::of(command);
    let next = AtomicUsize::new(0);
    // Set when `f` stops the run or the program cannot start: no new task is started.
    let halted = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, std::io::Result<std::process::Output>)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, inputs.len().max(1)) {
            let tx = tx.clone();
            let (spec, next, halted) = (&spec, &next, &halted);
            scope.spawn(move || {
                loop {
                    if halted.load(Ordering::SeqCst) || stop() {
                        break;
                    }
                    let id = next.fetch_add(1, Ordering::SeqCst);
                    let Some(input) = inputs.get(id) else { break };
                    let output = run_one(spec, input.as_ref(), stop);
                    if tx.send((id, output)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Results arrive in the order processes end; they are handed on in input order.
        let mut waiting: BTreeMap<usize, std::io::Result<std::process::Output>> = BTreeMap::new();
        let mut ran = 0;
        let mut failure = None;
        for (id, output) in rx {
            waiting.insert(id, output);
            while let Some(output) = waiting.remove(&ran) {
                if halted.load(Ordering::SeqCst) {
                    break;
                }
                let result = match output {
                    Ok(output) if output.status.success() => Ok(Bytes::from(output.stdout)),
                    Ok(output) => Err(TaskError::Crashed {
                        pid: 0,
                        status: describe(Some(output.status)),
                    }),
                    Err(source) if ran == 0 => {
                        halted.store(true, Ordering::SeqCst);
                        failure = Some(PoolError::Spawn {
                            program: command.get_program().to_string_lossy().into_owned(),
                            source,
                        });
                        break;
                    }
                    Err(e) => Err(TaskError::Crashed {
                        pid: 0,
                        status: format!("cannot start: {e}"),
                    }),
                };
                let id = ran;
                ran += 1;
                if f(Outcome {
                    id: id as u64,
                    result,
                })
                .is_break()
                {
                    halted.store(true, Ordering::SeqCst);
                }
            }
        }
        failure.map_or(Ok(ran), Err)
    })
}

/// One task: its process, run to its end.
fn run_one(
    spec: &CommandSpec,
    input: &[u8],
    stop: &(dyn Fn() -> bool + Sync),
) -> std::io::Result<std::process::Output> {
    let mut cmd = spec.command();
    cmd.arg(OsStr::from_bytes(input))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd.spawn().and_then(|mut child| {
        if stop() {
            // Started after the signal was passed on: it would run to its end.
            let _ = child.kill();
        }
        child.wait_with_output()
    })
}
