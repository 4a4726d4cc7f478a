//! `perfkit`: the command-line face of the perfkit toolkit.
//!
//! This crate only parses arguments and prints; the work is done by the library crates
//! (`perfkit-sys` runs and measures commands, `perfkit-metrics` does the statistics,
//! `perfkit-regress` keeps baselines and checks for regressions,
//! `perfkit-profilers` drives perf, inferno, valgrind, strace and ltrace, `perfkit-zerocopy`
//! copies, `perfkit-pool` runs worker processes).
//!
//! ```text
//! perfkit bench --warmup 3 'sleep 0.01' 'sleep 0.02'
//! perfkit bench --runs 20 --json 'gzip -k -f data.bin' > result.json
//! perfkit bench --runs 30 --baseline base.json './target/release/my-app'
//! perfkit check --baseline base.json --current result.json --format markdown
//! perfkit record -o flame.svg -- ./target/release/my-app
//! perfkit diff before.folded after.folded -o diff.svg
//! perfkit heap -- ./target/release/my-app
//! perfkit copy big.bin - | consumer
//! seq 1000 | perfkit pool --ordered -- python3 -u worker.py
//! perfkit completions bash > /etc/bash_completion.d/perfkit
//! ```
//!
//! Exit codes: 0 success, 1 a check failed (a regression, a benchmarked command failed), 2 bad arguments or
//! input, or a command that cannot start. Commands that run one program under a profiler
//! (`record`, `stat`, `heap`, `syscalls`, `libcalls`) exit with that program's status.

#[macro_use]
mod output;
mod analyze;
mod bench;
mod cli;
#[cfg(target_os = "linux")]
mod copy;
#[cfg(target_os = "linux")]
mod demo;
mod document;
mod exit;
mod heap;
#[cfg(target_os = "linux")]
mod pool;
mod profile;
mod regress;
mod trace;
#[cfg(target_os = "linux")]
mod tune;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Commands};
use crate::exit::Exit;

fn main() -> ExitCode {
    die_quietly_on_closed_stdout();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli.settled(),
        Err(e) => return cli::clap_exit(&e),
    };
    // Ctrl-C, SIGTERM and SIGHUP remove temporary files before perfkit dies of them. The
    // demo's task and worker processes write no files, and a thread of their own would show
    // in the demo's count of clone calls.
    #[cfg(target_os = "linux")]
    let needs_handler = !matches!(cli.command, Commands::DemoWorkload(_));
    #[cfg(not(target_os = "linux"))]
    let needs_handler = true;
    if needs_handler && let Err(e) = perfkit_sys::signals::install() {
        note!("perfkit: {}", describe(&anyhow::Error::from(e)));
    }
    let not_found = cli.command.not_found_hint();
    #[cfg(target_os = "linux")]
    if let Commands::Launch(args) = &cli.command {
        let code = perfkit_sys::launch::run_launcher(
            args.status_fd,
            args.go_fd,
            args.stderr_fd,
            &args.command,
        );
        return ExitCode::from(u8::try_from(code & 0xff).unwrap_or(125));
    }
    let result = dispatch(cli.command);
    // A signal being handled on its thread ends perfkit by that signal, not by this result.
    perfkit_sys::signals::wait_if_dying();
    match result {
        Ok(exit) => exit.code(),
        Err(error) => {
            if let Some(signal) = interrupted_by(&error) {
                perfkit_sys::signals::die_of(signal);
            }
            note!("error: {}", describe(&error));
            if let Some(hint) = cli::hint(&error, &not_found) {
                note!("hint: {hint}");
            }
            ExitCode::from(exit::error_code(&error))
        }
    }
}

/// Runs the command.
fn dispatch(command: Commands) -> anyhow::Result<Exit> {
    match command {
        Commands::Bench(args) => bench::run(&args),
        Commands::Check(args) => regress::run_check(&args),
        Commands::Baseline(command) => regress::run_baseline(&command),
        #[cfg(target_os = "linux")]
        Commands::Tune(args) => tune::run(&args),
        Commands::Doctor(args) => doctor(&args),
        Commands::Analyze(args) => analyze::run(&args),
        #[cfg(target_os = "linux")]
        Commands::DemoWorkload(args) => demo::run(&args).map(|()| Exit::Success),
        // Handled in main: the launcher ends as its program did, with nothing after it.
        #[cfg(target_os = "linux")]
        Commands::Launch(_) => Ok(Exit::Success),
        Commands::Record(args) => profile::record(&args),
        Commands::Flamegraph(args) => profile::flamegraph(&args),
        Commands::Diff(args) => profile::diff(&args),
        Commands::Convert(args) => profile::convert(&args),
        Commands::Stat(args) => profile::stat(&args),
        Commands::Heap(args) => trace::heap(&args),
        Commands::Syscalls(args) => trace::syscalls(&args),
        Commands::Libcalls(args) => trace::libcalls(&args),
        #[cfg(target_os = "linux")]
        Commands::Copy(args) => copy::run(&args),
        #[cfg(target_os = "linux")]
        Commands::Pool(args) => pool::run(&args),
        Commands::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "perfkit", &mut script);
            output::print(script)?;
            Ok(Exit::Success)
        }
    }
}

fn describe(error: &anyhow::Error) -> String {
    perfkit_sys::describe_error(error.as_ref())
}

/// The signal that interrupted the command, when that is why it failed.
fn interrupted_by(error: &anyhow::Error) -> Option<i32> {
    match exit::sys_error(error) {
        Some(perfkit_sys::SysError::Interrupted { signal }) => Some(*signal),
        _ => None,
    }
}

/// `perfkit doctor`: the checks, a line each; [`Exit::Failed`] when one found a problem.
fn doctor(args: &cli::DoctorArgs) -> anyhow::Result<Exit> {
    use perfkit_profilers::doctor::{Status, diagnose};
    let report = diagnose(args.binary.as_deref());
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        out!("{}", report.to_text())?;
    }
    Ok(Exit::checked(report.worst() == Status::Problem))
}

/// `perfkit … | head` must end quietly when `head` exits, like any Unix filter, not panic in
/// `println!`: restore the default `SIGPIPE` action that the Rust runtime replaces with
/// "ignore". Programs perfkit spawns get the default action anyway.
fn die_quietly_on_closed_stdout() {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::signal::{SigHandler, Signal, signal};
        // SAFETY: installs the default disposition, no handler code runs in this process.
        let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
    }
}
