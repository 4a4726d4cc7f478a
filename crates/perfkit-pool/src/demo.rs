//! A workload that shows what a pool is for: many small tasks, each done by starting a
//! process ([`run_spawn`]), against the same tasks sent to persistent workers
//! ([`run_pooled`]). Both return the same checksum, so a comparison is of the same work. One
//! program plays every part: the caller passes the command that runs one task
//! ([`task_output`]) and the command of a worker ([`serve_worker`]).

use std::process::Command;
use std::time::Duration;

use crate::error::PoolError;
use crate::naive::run_naive;
use crate::pool::ProcessPool;
use crate::task::Outcome;

/// Why the demo's tasks could not be run or checked.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The pool or a process could not start.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// A task failed.
    #[error("demo task {id} failed: {error}")]
    Failed {
        /// The task.
        id: u64,
        /// How it failed.
        error: crate::error::TaskError,
    },
    /// A task answered something that is not a number.
    #[error("demo task {id}: {problem}")]
    NotANumber {
        /// The task.
        id: u64,
        /// What the answer is, for a message.
        problem: String,
    },
}

/// The work of one task: the Collatz stopping times of the 200 numbers from `n` on, summed.
/// A few microseconds: far less than starting a process.
#[must_use]
pub fn task(n: u64) -> u64 {
    (n..n + 200).map(stopping_time).sum()
}

/// Steps of `x → x/2 or 3x+1` to reach 1.
fn stopping_time(mut x: u64) -> u64 {
    let mut steps = 0;
    while x > 1 {
        x = if x.is_multiple_of(2) {
            x / 2
        } else {
            3 * x + 1
        };
        steps += 1;
    }
    steps
}

/// A task's number from its input or a result's number from its output.
///
/// # Errors
/// What is wrong with `input`, for a message.
pub fn parse_number(input: &[u8]) -> Result<u64, String> {
    let text = std::str::from_utf8(input).map_err(|e| format!("task is not UTF-8: {e}"))?;
    text.trim()
        .parse()
        .map_err(|e| format!("task {text:?} is not a number: {e}"))
}

/// What the program run per task prints for the task `input`.
///
/// # Errors
/// When `input` is not a number.
pub fn task_output(input: &[u8]) -> Result<String, String> {
    parse_number(input).map(|n| task(n).to_string())
}

/// Serves tasks on standard input as a pool worker, until it closes.
///
/// # Errors
/// When the pool's pipes fail.
pub fn serve_worker() -> std::io::Result<()> {
    crate::worker::serve_into(|input, out| {
        out.extend_from_slice(task(parse_number(input)?).to_string().as_bytes());
        Ok(())
    })
}

/// The inputs of `tasks` tasks.
fn inputs(tasks: u64) -> impl Iterator<Item = String> {
    (1..=tasks).map(|i| (i * 1000).to_string())
}

/// Runs `tasks` tasks, a process of `one_task` (given the task as its last argument) each,
/// and returns their checksum.
///
/// # Errors
/// [`DemoError`] when the program cannot start or a task fails.
pub fn run_spawn(one_task: &Command, tasks: u64) -> Result<u64, DemoError> {
    checksum(&run_naive(one_task, inputs(tasks))?)
}

/// Runs `tasks` tasks through a pool of `worker` processes and returns their checksum.
///
/// # Errors
/// [`DemoError`] when the pool cannot start or a task fails.
pub fn run_pooled(worker: &Command, tasks: u64) -> Result<u64, DemoError> {
    let mut pool = ProcessPool::builder(worker).build()?;
    let outcomes = pool.run(inputs(tasks))?;
    pool.shutdown(Duration::from_secs(1));
    checksum(&outcomes)
}

fn checksum(outcomes: &[Outcome]) -> Result<u64, DemoError> {
    let mut sum = 0u64;
    for outcome in outcomes {
        let id = outcome.id;
        let output = (outcome.result.as_ref()).map_err(|e| DemoError::Failed {
            id,
            error: e.clone(),
        })?;
        let n = parse_number(output).map_err(|problem| DemoError::NotANumber { id, problem })?;
        sum = sum.wrapping_add(n);
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_sums_collatz_stopping_times() {
        assert_eq!(
            [1, 2, 3, 27].map(stopping_time),
            [0, 1, 7, 111],
            "known stopping times"
        );
        assert_eq!(task(1), (1..201).map(stopping_time).sum::<u64>());
        assert_eq!(parse_number(b"42\n"), Ok(42));
        assert!(parse_number(b"x").unwrap_err().contains("not a number"));
    }

    #[test]
    fn spawned_and_pooled_tasks_agree() {
        let mut one_task = Command::new("sh");
        one_task.args(["-c", "echo $1", "sh"]);
        // Each process echoes its input: the checksum is the sum of the inputs.
        let expected: u64 = (1..=5).map(|i| i * 1000).sum();
        assert_eq!(run_spawn(&one_task, 5).expect("spawn"), expected);
        let mut failing = Command::new("sh");
        failing.args(["-c", "exit 3"]);
        assert!(matches!(
            run_spawn(&failing, 1),
            Err(DemoError::Failed { id: 0, .. })
        ));
    }
}
