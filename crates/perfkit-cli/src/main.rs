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
#[cfg(target_os = "linux")]
mod pool;
mod profile;
mod regress;
mod trace;
#[cfg(target_os = "linux")]
mod tune;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use perfkit_profilers::ExitKind;

use crate::cli::{Cli, Commands};
use crate::output::StdoutError;

/// Exit code when a benchmarked command or a check fails.
const EXIT_FAILED: u8 = 1;
/// Exit code for bad arguments, bad input, or a command that cannot start.
const EXIT_USAGE: u8 = 2;

/// Whether a command's JSON report goes to standard error, which then carries nothing else:
/// perfkit's notes are left out and the program's messages go into the document.
fn json_on_stderr(json: bool, report: &cli::ReportArgs) -> bool {
    json && report.report.is_none()
}

fn main() -> ExitCode {
    die_quietly_on_closed_stdout();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e),
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
    let shell_hint = match &cli.command {
        Commands::Bench(_) => "pipes, redirections and shell builtins need a shell: add --shell",
        _ => "pipes, redirections and shell builtins need a shell: give sh -c '...' as the command",
    };
    let result = match cli.command {
        Commands::Bench(args) => bench::run(&args).map(check_failed),
        Commands::Check(args) => regress::run_check(&args).map(check_failed),
        Commands::Baseline(command) => regress::run_baseline(&command).map(|()| None),
        #[cfg(target_os = "linux")]
        Commands::Tune(args) => tune::run(&args).map(|()| None),
        Commands::Doctor(args) => doctor(&args).map(check_failed),
        Commands::Analyze(args) => analyze::run(&args).map(check_failed),
        #[cfg(target_os = "linux")]
        Commands::DemoWorkload(args) => demo::run(&args).map(|()| None),
        #[cfg(target_os = "linux")]
        Commands::Launch(args) => {
            let code = perfkit_sys::launch::run_launcher(
                args.status_fd,
                args.go_fd,
                args.stderr_fd,
                &args.command,
            );
            return ExitCode::from(u8::try_from(code & 0xff).unwrap_or(125));
        }
        Commands::Record(mut args) => {
            args.quiet |= json_on_stderr(args.json, &args.report);
            profile::record(&args).map(Some)
        }
        Commands::Flamegraph(args) => profile::flamegraph(&args).map(|()| None),
        Commands::Diff(args) => profile::diff(&args).map(|()| None),
        Commands::Stat(mut args) => {
            args.quiet |= json_on_stderr(args.json, &args.report);
            profile::stat(&args).map(Some)
        }
        Commands::Heap(mut args) => {
            args.quiet |= json_on_stderr(args.json, &args.report);
            trace::heap(&args).map(Some)
        }
        Commands::Syscalls(mut args) => {
            args.quiet |= json_on_stderr(args.json, &args.report);
            trace::syscalls(&args).map(Some)
        }
        Commands::Libcalls(mut args) => {
            args.quiet |= json_on_stderr(args.json, &args.report);
            trace::libcalls(&args).map(Some)
        }
        #[cfg(target_os = "linux")]
        Commands::Copy(args) => copy::run(&args).map(|()| None),
        #[cfg(target_os = "linux")]
        Commands::Pool(args) => pool::run(&args).map(check_failed),
        Commands::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "perfkit", &mut script);
            output::print(script)
                .map_err(anyhow::Error::from)
                .map(|()| None)
        }
    };
    // A signal being handled on its thread ends perfkit by that signal, not by this result.
    perfkit_sys::signals::wait_if_dying();
    match result {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some(status)) => pass_through(status),
        Err(error) => {
            if let Some(signal) = interrupted_by(&error) {
                perfkit_sys::signals::die_of(signal);
            }
            note!("error: {}", describe(&error));
            if let Some(hint) = hint(&error, shell_hint) {
                note!("hint: {hint}");
            }
            ExitCode::from(exit_code(&error))
        }
    }
}

/// Prints clap's help, version or usage error, and exits as clap would (0 for help and
/// version, 2 for a usage error); a failed write of help to standard output is an error.
fn clap_exit(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let text = error.render().ansi().to_string();
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => match output::print(&text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                note!("error: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        },
        _ => {
            use std::io::Write as _;
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// The error and its causes on one line, each said once: a library error that already
/// quotes the OS's reason is not followed by the same reason again, and Rust's
/// "(os error N)" is left out.
fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = match cause.downcast_ref::<std::io::Error>() {
            Some(io) => perfkit_sys::os_reason(io),
            None => strip_os_error(&cause.to_string()),
        };
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// `text` without the " (os error N)" Rust appends to OS errors.
fn strip_os_error(text: &str) -> String {
    let mut out = text.to_owned();
    while let Some(start) = out.find(" (os error ") {
        let Some(len) = out[start..].find(')') else {
            break;
        };
        out.replace_range(start..=start + len, "");
    }
    out
}

/// The signal that interrupted the command, when that is why it failed.
fn interrupted_by(error: &anyhow::Error) -> Option<i32> {
    error.chain().find_map(|cause| {
        let sys = cause.downcast_ref::<perfkit_sys::SysError>().or_else(|| {
            match cause.downcast_ref::<perfkit_profilers::ProfilerError>() {
                Some(perfkit_profilers::ProfilerError::Sys(e)) => Some(e),
                _ => None,
            }
        });
        match sys {
            Some(perfkit_sys::SysError::Interrupted { signal }) => Some(*signal),
            _ => None,
        }
    })
}

/// `perfkit doctor`: the checks, a line each; `Ok(true)` when one found a problem.
fn doctor(args: &cli::DoctorArgs) -> anyhow::Result<bool> {
    use perfkit_profilers::doctor::{Status, diagnose};
    let report = diagnose(args.binary.as_deref());
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        let width = report
            .checks
            .iter()
            .map(|c| c.topic.chars().count())
            .max()
            .unwrap_or(0)
            .min(output::NAME_COLUMN_MAX);
        for c in &report.checks {
            let mark = match c.status {
                Status::Ok => "ok     ",
                Status::Note => "note   ",
                Status::Warn => "WARN   ",
                Status::Problem => "PROBLEM",
            };
            outln!("{mark}  {:width$}  {}", c.topic, c.finding)?;
            if let Some(fix) = &c.fix {
                outln!("{:7}  {:width$}  fix: {fix}", "", "")?;
            }
        }
    }
    Ok(report.worst() == Status::Problem)
}

/// Exit 1 when a check failed.
fn check_failed(failed: bool) -> Option<ExitKind> {
    failed.then_some(ExitKind::Exited {
        code: i32::from(EXIT_FAILED),
    })
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

/// 1 when a command ran and failed, 2 for everything else (usage, input, cannot start, a
/// failed write to standard output).
fn exit_code(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<StdoutError>().is_some() {
        return EXIT_USAGE;
    }
    let sys = error
        .downcast_ref::<perfkit_sys::SysError>()
        .or_else(
            || match error.downcast_ref::<perfkit_profilers::ProfilerError>() {
                Some(perfkit_profilers::ProfilerError::Sys(e)) => Some(e),
                _ => None,
            },
        )
        .or_else(
            || match error.downcast_ref::<perfkit_analyze::AnalyzeError>() {
                Some(perfkit_analyze::AnalyzeError::Sys(e)) => Some(e),
                _ => None,
            },
        );
    match sys {
        Some(e) if e.is_command_failure() => EXIT_FAILED,
        _ => EXIT_USAGE,
    }
}

/// Ends perfkit the way the profiled program ended: its exit code, or its signal re-raised
/// (so a shell reports "Segmentation fault" as it would without perfkit).
fn pass_through(status: ExitKind) -> ExitCode {
    match status {
        ExitKind::Exited { code } => ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1)),
        ExitKind::Signaled { signal, .. } => {
            use std::io::Write;
            let _ = std::io::stdout().flush();
            #[cfg(target_os = "linux")]
            {
                use nix::sys::signal::{SigHandler, Signal, raise, signal as set_handler};
                if let Ok(sig) = Signal::try_from(signal) {
                    // SAFETY: restoring the default disposition installs no handler code.
                    let _ = unsafe { set_handler(sig, SigHandler::SigDfl) };
                    let _ = raise(sig);
                }
            }
            ExitCode::from(u8::try_from((128 + signal) & 0xff).unwrap_or(1))
        }
        ExitKind::TimedOut => ExitCode::from(EXIT_FAILED),
    }
}

fn hint(error: &anyhow::Error, shell_hint: &'static str) -> Option<&'static str> {
    let sys = error.chain().find_map(|cause| {
        cause.downcast_ref::<perfkit_sys::SysError>().or_else(|| {
            match cause.downcast_ref::<perfkit_profilers::ProfilerError>() {
                Some(perfkit_profilers::ProfilerError::Sys(e)) => Some(e),
                _ => None,
            }
        })
    })?;
    match sys {
        perfkit_sys::SysError::CommandNotFound { .. } => Some(shell_hint),
        perfkit_sys::SysError::CommandFailed {
            role: perfkit_sys::Role::Benchmark | perfkit_sys::Role::Warmup,
            ..
        } => Some(
            "use --ignore-failure (-i) to benchmark a command that exits non-zero; --show-output shows its output",
        ),
        perfkit_sys::SysError::CommandFailed { .. } => {
            Some("--show-output shows the helper command's output")
        }
        _ => None,
    }
}
