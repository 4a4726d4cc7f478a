//! The original text's version, for comparison: one new process per task, the task passed as
//! its last argument, the output read from its standard output. Correct, and about 500 to
//! 100,000 times slower than a [`ProcessPool`](crate::ProcessPool) (docs/benchmarks.md).

use std::ffi::OsStr;
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
    let spec = CommandSpec::of(command);
    let mut outcomes = Vec::new();
    for (id, input) in inputs.into_iter().enumerate() {
        let mut cmd = spec.command();
        cmd.arg(OsStr::from_bytes(input.as_ref()))
            .stdin(Stdio::null())
            .stderr(Stdio::inherit());
        let output = match cmd.output() {
            Ok(output) => output,
            Err(source) if outcomes.is_empty() => {
                return Err(PoolError::Spawn {
                    program: command.get_program().to_string_lossy().into_owned(),
                    source,
                });
            }
            Err(e) => {
                outcomes.push(Outcome {
                    id: id as u64,
                    result: Err(TaskError::Crashed {
                        pid: 0,
                        status: format!("cannot start: {e}"),
                    }),
                });
                continue;
            }
        };
        let result = if output.status.success() {
            Ok(Bytes::from(output.stdout))
        } else {
            Err(TaskError::Crashed {
                pid: 0,
                status: describe(Some(output.status)),
            })
        };
        outcomes.push(Outcome {
            id: id as u64,
            result,
        });
    }
    Ok(outcomes)
}
