//! The workload of `perfkit analyze --demo`, a case study of a common mistake: many
//! small tasks, each done by starting a process (`spawn`), against the same tasks sent to
//! persistent workers through perfkit-pool (`pool`). Both print the same checksum, so the
//! comparison is of the same work. The perfkit binary is its own task program and worker
//! (`perfkit demo-workload task N`, `perfkit demo-workload worker`): nothing else is needed.

use std::process::Command;

use anyhow::{Context, Result, bail};
use perfkit_pool::{ProcessPool, run_naive};

use crate::cli::{DemoMode, DemoWorkloadArgs};

/// The work of one task: the Collatz stopping times of the 200 numbers from `n` on, summed.
/// A few microseconds: far less than starting a process, as in the case study.
fn task(n: u64) -> u64 {
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

fn parse_task(input: &[u8]) -> Result<u64, String> {
    let text = std::str::from_utf8(input).map_err(|e| format!("task is not UTF-8: {e}"))?;
    text.trim()
        .parse()
        .map_err(|e| format!("task {text:?} is not a number: {e}"))
}

/// `perfkit demo-workload MODE [N]`.
pub(crate) fn run(args: &DemoWorkloadArgs) -> Result<()> {
    let value = args.value.as_deref();
    match args.mode {
        DemoMode::Task => {
            let input = value.context("demo-workload task needs the task's number")?;
            let n = parse_task(input.as_bytes()).map_err(anyhow::Error::msg)?;
            outln!("{}", task(n))?;
            Ok(())
        }
        DemoMode::Worker => perfkit_pool::worker::serve_into(|input, out| {
            let n = parse_task(input)?;
            out.extend_from_slice(task(n).to_string().as_bytes());
            Ok(())
        })
        .context("demo worker: the pool's pipes failed"),
        mode @ (DemoMode::Spawn | DemoMode::Pool) => {
            let tasks: u64 = value
                .unwrap_or("300")
                .parse()
                .context("demo-workload spawn|pool N: N is a number of tasks")?;
            let exe = std::env::current_exe().context("cannot find the perfkit executable")?;
            let inputs = (1..=tasks).map(|i| (i * 1000).to_string());
            let outcomes = if mode == DemoMode::Spawn {
                run_naive(Command::new(&exe).args(["demo-workload", "task"]), inputs)?
            } else {
                let mut pool =
                    ProcessPool::builder(Command::new(&exe).args(["demo-workload", "worker"]))
                        .build()?;
                let outcomes = pool.run(inputs)?;
                pool.shutdown(std::time::Duration::from_secs(1));
                outcomes
            };
            let mut checksum = 0u64;
            for outcome in &outcomes {
                let output = match &outcome.result {
                    Ok(output) => output,
                    Err(e) => bail!("demo task {} failed: {e}", outcome.id),
                };
                checksum = checksum.wrapping_add(
                    parse_task(output)
                        .map_err(|e| anyhow::anyhow!("demo task {}: {e}", outcome.id))?,
                );
            }
            let name = if mode == DemoMode::Spawn {
                "spawn"
            } else {
                "pool"
            };
            outln!("{tasks} tasks ({name}), checksum {checksum}")?;
            Ok(())
        }
    }
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
        assert_eq!(parse_task(b"42\n"), Ok(42));
        assert!(parse_task(b"x").unwrap_err().contains("not a number"));
    }
}
