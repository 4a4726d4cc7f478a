//! `perfkit demo-workload`: the workload of `perfkit analyze --demo`, from
//! `perfkit_pool::demo`. The perfkit binary is its own task program and worker, so that
//! nothing else is needed.

use std::process::Command;

use anyhow::{Context, Result};
use perfkit_pool::demo;

use crate::cli::{DemoMode, DemoWorkloadArgs};

/// `perfkit demo-workload MODE [N]`.
pub(crate) fn run(args: &DemoWorkloadArgs) -> Result<()> {
    let value = args.value.as_deref();
    let exe = || std::env::current_exe().context("cannot find the perfkit executable");
    let tasks = || -> Result<u64> {
        (value.unwrap_or("300").parse())
            .context("demo-workload spawn|pool N: N is a number of tasks")
    };
    match args.mode {
        DemoMode::Task => {
            let input = value.context("demo-workload task needs the task's number")?;
            outln!(
                "{}",
                demo::task_output(input.as_bytes()).map_err(anyhow::Error::msg)?
            )?;
        }
        DemoMode::Worker => demo::serve_worker().context("demo worker: the pool's pipes failed")?,
        DemoMode::Spawn => {
            let (tasks, exe) = (tasks()?, exe()?);
            let checksum =
                demo::run_spawn(Command::new(exe).args(["demo-workload", "task"]), tasks)?;
            outln!("{tasks} tasks (spawn), checksum {checksum}")?;
        }
        DemoMode::Pool => {
            let (tasks, exe) = (tasks()?, exe()?);
            let checksum =
                demo::run_pooled(Command::new(exe).args(["demo-workload", "worker"]), tasks)?;
            outln!("{tasks} tasks (pool), checksum {checksum}")?;
        }
    }
    Ok(())
}
