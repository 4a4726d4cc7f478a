//! `perfkit`: the command-line face of the perfkit toolkit.
//!
//! This crate only parses arguments and prints; the work is done by the library crates
//! (`perfkit-sys` runs and measures commands, `perfkit-metrics` does the statistics).
//!
//! ```text
//! perfkit bench --warmup 3 'sleep 0.01' 'sleep 0.02'
//! perfkit bench --runs 20 --json 'gzip -k -f data.bin' > result.json
//! perfkit completions bash > /etc/bash_completion.d/perfkit
//! ```
//!
//! Exit codes: 0 success, 1 a check failed (a benchmarked command failed), 2 bad arguments or
//! input, or a command that cannot start.

mod bench;
mod cli;
mod output;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Commands};

/// Exit code when a benchmarked command or a check fails.
const EXIT_FAILED: u8 = 1;
/// Exit code for bad arguments, bad input, or a command that cannot start.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Commands::Bench(args) => bench::run(&args),
        Commands::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "perfkit",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            if let Some(hint) = hint(&error) {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(exit_code(&error))
        }
    }
}

/// 1 when a command ran and failed, 2 for everything else (usage, input, cannot start).
fn exit_code(error: &anyhow::Error) -> u8 {
    match error.downcast_ref::<perfkit_sys::SysError>() {
        Some(e) if e.is_command_failure() => EXIT_FAILED,
        _ => EXIT_USAGE,
    }
}

fn hint(error: &anyhow::Error) -> Option<&'static str> {
    match error.downcast_ref::<perfkit_sys::SysError>()? {
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
