//! The simplest way to run tasks in processes, for comparison: one new process per task, the
//! task passed as its last argument, the output read from its standard output. Correct, and
//! about 500 to 100,000 times slower than a [`ProcessPool`](crate::ProcessPool)
//! (docs/benchmarks.md).

use std::ffi::OsStr;
use std::ops::ControlFlow;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};

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
    let mut outcomes = Vec::new();
    run_naive_each(command, inputs, &|| false, |outcome| {
        outcomes.push(outcome);
        ControlFlow::Continue(())
    })?;
    Ok(outcomes)
}

/// [`run_naive`], handing each outcome to `f` as soon as its process has ended; `f` stops the
/// run by returning [`ControlFlow::Break`]. `stop` is asked before each task starts and
/// again once its process exists (a process started as `stop` turned true is killed), so that
/// a signal noted meanwhile ends the run. Returns how many tasks ran.
///
/// # Errors
///
/// [`PoolError::Spawn`] when the program cannot be started at all (checked on the first task).
pub fn run_naive_each<I>(
    command: &Command,
    inputs: I,
    stop: &dyn Fn() -> bool,
    mut f: impl FnMut(Outcome) -> ControlFlow<()>,
) -> Result<usize, PoolError>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let spec = CommandSpec::of(command);
    let mut ran = 0;
    for (id, input) in inputs.into_iter().enumerate() {
        if stop() {
            break;
        }
        let mut cmd = spec.command();
        cmd.arg(OsStr::from_bytes(input.as_ref()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let output = cmd.spawn().and_then(|mut child| {
            if stop() {
                // Started after the signal was passed on: it would run to its end.
                let _ = child.kill();
            }
            child.wait_with_output()
        });
        let result = match output {
            Ok(output) if output.status.success() => Ok(Bytes::from(output.stdout)),
            Ok(output) => Err(TaskError::Crashed {
                pid: 0,
                status: describe(Some(output.status)),
            }),
            Err(source) if ran == 0 => {
                return Err(PoolError::Spawn {
                    program: command.get_program().to_string_lossy().into_owned(),
                    source,
                });
            }
            Err(e) => Err(TaskError::Crashed {
                pid: 0,
                status: format!("cannot start: {e}"),
            }),
        };
        ran += 1;
        if f(Outcome {
            id: id as u64,
            result,
        })
        .is_break()
        {
            break;
        }
    }
    Ok(ran)
}
