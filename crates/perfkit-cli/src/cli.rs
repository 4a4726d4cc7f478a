//! Command-line definitions (clap).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "perfkit: find, fix and prove speed-ups";

const LONG_ABOUT: &str = "\
perfkit: find, fix and prove speed-ups.

Measure commands with exact percentiles and resource use, compare them with confidence
intervals, and get JSON that the rest of the toolkit (and your CI) can read.";

const BENCH_AFTER_HELP: &str = "\
Examples:
  Compare two commands (runs are interleaved A B A B … so drift hits both alike):
    perfkit bench --warmup 3 'gzip -1 -c data.bin' 'gzip -9 -c data.bin'
  Exactly 20 runs, machine-readable output:
    perfkit bench --runs 20 --json 'sleep 0.01' > result.json
  Pipelines and builtins need a shell:
    perfkit bench --shell 'sort data.txt | uniq -c'
  Reset state before every run:
    perfkit bench --prepare 'rm -rf out' 'make -j2'

Durations accept 500ms, 2s, 1m30s, 1h (a bare number is seconds).
Exit codes: 0 success, 1 a benchmarked command failed, 2 bad arguments or a command that
cannot start.";

/// The `perfkit` command line.
#[derive(Debug, Parser)]
#[command(name = "perfkit", version, about = ABOUT, long_about = LONG_ABOUT, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Commands,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Commands {
    /// Benchmark commands: mean ± σ, p50/p90/p99/p99.9, CPU, peak RSS, relative speed
    #[command(after_help = BENCH_AFTER_HELP)]
    Bench(Box<BenchArgs>),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(
        after_help = "Example:\n  perfkit completions bash > ~/.local/share/bash-completion/completions/perfkit"
    )]
    Completions {
        /// The shell to generate completions for.
        shell: clap_complete::Shell,
    },
}

/// Order of measured runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum OrderArg {
    /// A B A B …: slow drift affects every command alike (default)
    Interleaved,
    /// All runs of A, then all runs of B
    Sequential,
    /// Every command equally often, shuffled (see --seed)
    Random,
}

/// `perfkit bench` options.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Commands to benchmark. Each is one string, split into arguments like a shell would
    /// (quotes work) but run without a shell unless --shell is given.
    #[arg(required = true, value_name = "COMMAND")]
    pub(crate) commands: Vec<String>,

    /// Run each command exactly this many times (overrides --min-runs, --max-runs, --duration).
    #[arg(short = 'r', long, value_name = "N", conflicts_with_all = ["min_runs", "max_runs", "duration"])]
    pub(crate) runs: Option<u64>,

    /// Run each command at least this many times.
    #[arg(short = 'm', long, value_name = "N", default_value_t = 10)]
    pub(crate) min_runs: u64,

    /// Run each command at most this many times.
    #[arg(short = 'M', long, value_name = "N")]
    pub(crate) max_runs: Option<u64>,

    /// Time budget per command when the run count is automatic.
    #[arg(short = 'd', long, value_name = "DURATION", default_value = "3s", value_parser = parse_duration)]
    pub(crate) duration: Duration,

    /// Untimed runs of each command before measuring (fills caches).
    #[arg(short = 'w', long, value_name = "N", default_value_t = 0)]
    pub(crate) warmup: u64,

    /// Command to run before every run, untimed. Give it once for all commands or once per
    /// command.
    #[arg(short = 'p', long, value_name = "CMD")]
    pub(crate) prepare: Vec<String>,

    /// Command to run once before a command's first run. Once for all, or once per command.
    #[arg(short = 's', long, value_name = "CMD")]
    pub(crate) setup: Vec<String>,

    /// Command to run once after a command's last run (also after a failure). Once for all,
    /// or once per command.
    #[arg(short = 'c', long, value_name = "CMD")]
    pub(crate) cleanup: Vec<String>,

    /// Name of a command in the output (once per command, in order).
    #[arg(short = 'n', long = "command-name", value_name = "NAME")]
    pub(crate) names: Vec<String>,

    /// Kill a run that takes longer than this; it counts as failed.
    #[arg(short = 't', long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) timeout: Option<Duration>,

    /// Feed this file to every run's standard input (default: /dev/null).
    #[arg(long, value_name = "FILE")]
    pub(crate) input: Option<PathBuf>,

    /// Show the commands' output instead of discarding it.
    #[arg(long)]
    pub(crate) show_output: bool,

    /// Keep benchmarking when a command exits non-zero (failed runs are included).
    #[arg(short = 'i', long)]
    pub(crate) ignore_failure: bool,

    /// Order of the measured runs [default: interleaved].
    #[arg(long, value_enum, value_name = "ORDER")]
    pub(crate) order: Option<OrderArg>,

    /// Seed for --order random and the bootstrap intervals (default: from the clock; printed
    /// in the JSON).
    #[arg(long, value_name = "N")]
    pub(crate) seed: Option<u64>,

    /// Run each command (and helper) with `sh -c`, so pipes, redirections and builtins work.
    #[arg(long)]
    pub(crate) shell: bool,

    /// Print the full result as JSON on stdout instead of the human summary.
    #[arg(long)]
    pub(crate) json: bool,

    /// Also write the JSON result to FILE (atomically).
    #[arg(long, value_name = "FILE")]
    pub(crate) export_json: Option<PathBuf>,

    /// Also write a Markdown table to FILE (atomically).
    #[arg(long, value_name = "FILE")]
    pub(crate) export_markdown: Option<PathBuf>,

    /// No progress bar and no warnings.
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
}

/// Parses `500ms`, `2s`, `1m30s`, `1h`, or a bare number of seconds (`2.5`).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).map_err(|_| {
            format!("'{text}' is not a valid duration: it must be a non-negative number of seconds")
        });
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("'{text}' is not a valid duration ({e}); use e.g. 500ms, 2s, 1m"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").unwrap_err().contains("500ms"));
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
