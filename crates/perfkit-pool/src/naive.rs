//! The simplest way to run tasks in processes, for comparison: one new process per task, the
//! task passed as its last argument, the output read from its standard output. Correct, and
//! about 500 to 100,000 times slower than a [`ProcessPool`](crate::ProcessPool)
//! (docs/benchmarks.md).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::io::Read as _;
use std::ops::ControlFlow;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use bytes::Bytes;

use crate::config::WorkerCommand;
use crate::error::{PoolError, TaskError};
use crate::task::{Outcome, describe};

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
/// returning [`ControlFlow::Break`]. `stop` is asked before each task starts and after each
/// task ends, so that a signal noted meanwhile ends the run. When the run stops, the processes
/// still running are killed. No task starts more than `2 × jobs` ahead of the oldest one not
/// yet handed on, which bounds the results held back. Returns how many tasks ran.
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
    let spec = WorkerCommand::of(command);
    let jobs = jobs.clamp(1, inputs.len().max(1));
    let next = AtomicUsize::new(0);
    // Results handed on so far: workers keep within 2 × jobs of it.
    let handed = AtomicUsize::new(0);
    // Set when `f` stops the run or the program cannot start: no new task is started, and
    // the running ones are killed.
    let halted = AtomicBool::new(false);
    let running: Running = Mutex::new(HashMap::new());
    let (tx, rx) = mpsc::channel::<(usize, std::io::Result<std::process::Output>)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (spec, next, handed, halted, running) = (&spec, &next, &handed, &halted, &running);
            scope.spawn(move || {
                let done = || halted.load(Ordering::SeqCst) || stop();
                loop {
                    // Wait while too far ahead of the results handed on.
                    while !done()
                        && next.load(Ordering::SeqCst) >= handed.load(Ordering::SeqCst) + 2 * jobs
                    {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    if done() {
                        break;
                    }
                    let id = next.fetch_add(1, Ordering::SeqCst);
                    let Some(input) = inputs.get(id) else { break };
                    let output = run_one(spec, id, input.as_ref(), running, &done);
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
                handed.store(ran, Ordering::SeqCst);
                if f(Outcome {
                    id: id as u64,
                    result,
                })
                .is_break()
                {
                    halted.store(true, Ordering::SeqCst);
                }
            }
            if halted.load(Ordering::SeqCst) || stop() {
                kill_running(&running);
            }
        }
        failure.map_or(Ok(ran), Err)
    })
}

/// The processes the workers are running, by task: killed when the run stops. A worker
/// removes its process before reaping it, so a PID here is never one the system reused.
type Running = Mutex<HashMap<usize, i32>>;

/// Kills every process still running.
fn kill_running(running: &Running) {
    let running = running
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for &pid in running.values() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
    }
}

/// One task: its process, run to its end (or until [`kill_running`] stops it).
fn run_one(
    spec: &WorkerCommand,
    id: usize,
    input: &[u8],
    running: &Running,
    done: &dyn Fn() -> bool,
) -> std::io::Result<std::process::Output> {
    use nix::sys::wait::{Id, WaitPidFlag, waitid};
    let mut cmd = spec.command();
    cmd.arg(OsStr::from_bytes(input))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn()?;
    let pid = i32::try_from(child.id()).map_err(std::io::Error::other)?;
    running
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(id, pid);
    if done() {
        // Started as the run stopped: it would otherwise run to its end.
        let _ = child.kill();
    }
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stdout.read_to_end(&mut bytes).map(|_| bytes)
    });
    // Wait for the end without reaping, so that the PID stays this process's until it is out
    // of `running`.
    while let Err(nix::errno::Errno::EINTR) = waitid(
        Id::Pid(nix::unistd::Pid::from_raw(pid)),
        WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
    ) {}
    running
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&id);
    let status = child.wait()?;
    // A descendant that keeps the pipe open holds the reader; the task itself has ended.
    let stdout = reader
        .join()
        .map_err(|_| std::io::Error::other("the output reader panicked"))??;
    Ok(std::process::Output {
        status,
        stdout,
        stderr: Vec::new(),
    })
}
