//! A worker for trying a `ProcessPool` out, benchmarking it, and testing what it does when
//! workers misbehave. It serves the framed protocol (`perfkit_pool::worker::serve`).
//!
//! ```text
//! perfkit-pool-worker [--square] [--exit-after N]
//! ```
//!
//! By default each task's output is its input (echo); with `--square`, a task is a decimal
//! integer and the output its square. `--exit-after N` makes the worker exit (code 0) after
//! N tasks, in the middle of a batch. Tasks that start with `!` misbehave on purpose:
//!
//! | Task | What the worker does |
//! |---|---|
//! | `!segv` | dies of `SIGSEGV` |
//! | `!exit N` | exits with code N |
//! | `!hang` | sleeps forever |
//! | `!sleep MS` | sleeps MS milliseconds, then answers `slept` |
//! | `!err TEXT` | reports the error TEXT |
//! | `!panic` | panics (reported as the task's error) |
//! | `!stderr TEXT` | writes TEXT to standard error, answers `ok` |
//! | `!print` | `println!`s (which `serve` sends to standard error), answers `ok` |
//! | `!cpus` | answers the CPUs it may run on (`Cpus_allowed_list` of `/proc/self/status`) |

use std::time::Duration;

fn main() {
    let mut square = false;
    let mut exit_after: Option<u64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--square" => square = true,
            "--exit-after" => exit_after = args.next().and_then(|n| n.parse().ok()),
            "--help" | "-h" => {
                println!("perfkit-pool-worker [--square] [--exit-after N]: see the crate docs");
                return;
            }
            other => {
                eprintln!("perfkit-pool-worker: unknown argument {other:?} (try --help)");
                std::process::exit(2);
            }
        }
    }
    let mut done = 0u64;
    let served = perfkit_pool::worker::serve_into(|input, out| {
        if exit_after.is_some_and(|n| done >= n) {
            std::process::exit(0);
        }
        done += 1;
        if let Some(command) = input.strip_prefix(b"!") {
            return misbehave(command, out);
        }
        if square {
            let text = std::str::from_utf8(input).map_err(|e| e.to_string())?;
            let n: i64 = text
                .trim()
                .parse()
                .map_err(|e| format!("not an integer: {text:?}: {e}"))?;
            let squared = n
                .checked_mul(n)
                .ok_or_else(|| format!("{n} squared overflows"))?;
            out.extend_from_slice(squared.to_string().as_bytes());
        } else {
            out.extend_from_slice(input);
        }
        Ok(())
    });
    if let Err(e) = served {
        eprintln!("perfkit-pool-worker: {e}");
        std::process::exit(1);
    }
}

fn misbehave(command: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let command = String::from_utf8_lossy(command);
    let (verb, rest) = command.split_once(' ').unwrap_or((&command, ""));
    match verb {
        "segv" => {
            use nix::sys::signal::{SigHandler, Signal, raise, signal};
            // SAFETY: restores the default action (std installs a handler for stack
            // overflows, which would otherwise swallow a raised SIGSEGV).
            let _ = unsafe { signal(Signal::SIGSEGV, SigHandler::SigDfl) };
            let _ = raise(Signal::SIGSEGV);
            Err("SIGSEGV did not kill the worker".to_string())
        }
        "exit" => std::process::exit(rest.trim().parse().unwrap_or(1)),
        "hang" => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        "sleep" => {
            let ms: u64 = rest.trim().parse().map_err(|e| format!("!sleep MS: {e}"))?;
            std::thread::sleep(Duration::from_millis(ms));
            out.extend_from_slice(b"slept");
            Ok(())
        }
        "err" => Err(rest.to_string()),
        "panic" => panic!("asked to panic"),
        "stderr" => {
            eprintln!("{rest}");
            out.extend_from_slice(b"ok");
            Ok(())
        }
        "print" => {
            println!("a stray print that must not reach the pool");
            out.extend_from_slice(b"ok");
            Ok(())
        }
        "cpus" => {
            let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
            let cpus = status
                .lines()
                .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
                .ok_or("no Cpus_allowed_list in /proc/self/status")?;
            out.extend_from_slice(cpus.trim().as_bytes());
            Ok(())
        }
        other => Err(format!("unknown command !{other}")),
    }
}
