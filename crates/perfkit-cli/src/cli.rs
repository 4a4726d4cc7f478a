//! The command line's surface: the clap definitions of every command and option; the flags
//! turned into the libraries' options, once, next to the flags they read; clap's own errors;
//! and the `hint:` lines that name the flag which addresses an error or a warning.

use std::path::{Path, PathBuf};
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
  A command with pipes, redirections or builtins runs through sh on its own:
    perfkit bench 'sort data.txt | uniq -c'
  Reset state before every run:
    perfkit bench --prepare 'rm -rf out' 'make -j2'
  One benchmark per value, {threads} replaced (hyperfine's -P and -L):
    perfkit bench -P threads 1 4 'make -j {threads}'
    perfkit bench -L compiler gcc,clang '{compiler} -O2 main.c'
  Save a baseline, later check against it (exit 1 on a regression; see perfkit check --help):
    perfkit bench -r 30 --save-baseline base.json './app input'
    perfkit bench -r 30 --baseline base.json './app input'

Durations accept 500ms, 2s, 1m30s, 1h (a bare number is seconds).
Exit codes: 0 success, 1 a benchmarked command failed or --baseline found a regression,
2 bad arguments or a command that cannot start.";

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
    /// Check results against a baseline: threshold plus statistical test; exit 1 on a regression
    #[command(after_help = CHECK_AFTER_HELP)]
    Check(Box<CheckArgs>),
    /// Save or show baselines (from perfkit bench, criterion or hyperfine results)
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// Measure, profile and explain a command: its bottleneck and what to do, as a report
    #[command(after_help = ANALYZE_AFTER_HELP)]
    Analyze(Box<AnalyzeArgs>),
    /// The workload of `perfkit analyze --demo`.
    #[cfg(target_os = "linux")]
    #[command(hide = true)]
    DemoWorkload(DemoWorkloadArgs),
    /// The launcher `perfkit stat` puts between perf and the program, to learn its status.
    #[cfg(target_os = "linux")]
    #[command(hide = true)]
    Launch(LaunchArgs),
    /// Is this machine ready for performance work? perf, tools, kernel settings, load; a binary's debug info
    #[command(after_help = DOCTOR_AFTER_HELP)]
    Doctor(DoctorArgs),
    /// Kernel parameters for performance work: plan, --apply with a rollback file, rollback
    #[cfg(target_os = "linux")]
    #[command(after_help = TUNE_AFTER_HELP, args_conflicts_with_subcommands = true)]
    Tune(Box<TuneArgs>),
    /// Profile a program with perf and draw a flamegraph (SVG); prints the hottest functions
    #[command(after_help = RECORD_AFTER_HELP)]
    Record(Box<RecordArgs>),
    /// Draw a flamegraph from perf.data, folded stacks or perf script text
    #[command(after_help = FLAMEGRAPH_AFTER_HELP)]
    Flamegraph(Box<FlamegraphArgs>),
    /// Differential flamegraph of two profiles: what got slower (red) or faster (blue)
    #[command(after_help = DIFF_AFTER_HELP)]
    Diff(Box<DiffArgs>),
    /// Convert a profile for other viewers: pprof (go tool pprof, Pyroscope, Parca),
    /// speedscope, folded stacks
    #[command(after_help = CONVERT_AFTER_HELP)]
    Convert(Box<ConvertArgs>),
    /// Count events with perf stat (task-clock, page faults, hardware counters where present)
    #[command(after_help = STAT_AFTER_HELP)]
    Stat(Box<StatArgs>),
    /// Heap profile: sampled at nearly full speed (--sampled), or every allocation under
    /// valgrind massif (the default, --exact): the peak and the sites behind it
    #[command(after_help = HEAP_AFTER_HELP)]
    Heap(Box<HeapArgs>),
    /// System calls with strace: counts, errors and time, or per-call latency percentiles
    #[command(after_help = SYSCALLS_AFTER_HELP)]
    Syscalls(Box<SyscallsArgs>),
    /// Library calls with ltrace (malloc/free/realloc/calloc by default)
    #[command(after_help = LIBCALLS_AFTER_HELP)]
    Libcalls(Box<LibcallsArgs>),
    /// Copy a file or stream with the fastest kernel method (`copy_file_range`, sendfile, splice)
    #[cfg(target_os = "linux")]
    #[command(after_help = COPY_AFTER_HELP)]
    Copy(Box<CopyArgs>),
    /// Run tasks (stdin lines) on a pool of persistent worker processes; results to stdout
    #[cfg(target_os = "linux")]
    #[command(after_help = POOL_AFTER_HELP)]
    Pool(Box<PoolArgs>),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(
        after_help = "Example:\n  perfkit completions bash > ~/.local/share/bash-completion/completions/perfkit"
    )]
    Completions {
        /// The shell to generate completions for.
        shell: clap_complete::Shell,
    },
}

const COPY_AFTER_HELP: &str = "\
Methods (auto picks per source and destination, and falls back when the kernel refuses):
  copy-file-range  file → file, inside the kernel (may share extents on the same filesystem)
  sendfile         file → anything (socket, pipe, device, file); auto uses it for remote
                   sockets and devices
  splice           anything → anything through a pipe; file → pipe is fastest after the
                   pipe is grown (auto grows a destination pipe to 1 MiB, see --pipe-size)
  mmap             map the source file and write from the mapping, 1 MiB per write; auto
                   uses it for a large file (1 MiB into TCP, 16 MiB into Unix sockets) into
                   a socket whose peer is on this host, where sendfile only moves the copy
                   to the reader
  read-write       read into a buffer and write it: works everywhere, copies twice

A destination file is written to a temporary file beside it and renamed into place when the
copy is complete: an error (disk full, a failing source), Ctrl-C, SIGTERM or SIGHUP leaves
no partial file under its name, no temporary file, and an existing file untouched. Pipes,
sockets and devices are written directly; a symlink's target is replaced, not the link.
A new file gets the source's permission bits without set-user-ID, set-group-ID and sticky,
less the umask (as cp without -p); a replaced file keeps its own owner and mode.

Examples:
  perfkit copy big.bin /backup/big.bin
  perfkit copy big.bin - | consumer          splice into consumer's pipe
  producer | perfkit copy - out.bin
  perfkit copy --method read-write --json big.bin copy.bin

With DST -, the report goes to standard error (standard output carries the data).
Exit codes: 0 copied, 2 bad arguments, unreadable source, unwritable destination, or a
failed copy.";

/// `perfkit copy` options.
#[cfg(target_os = "linux")]
#[derive(Debug, Args)]
pub(crate) struct CopyArgs {
    /// The file to copy, or - for standard input.
    #[arg(value_name = "SRC")]
    pub(crate) src: PathBuf,

    /// Where to copy to: a file (created or replaced atomically), an existing directory (the
    /// source's name inside it), a device or FIFO, or - for standard output.
    #[arg(value_name = "DST")]
    pub(crate) dst: PathBuf,

    /// The copy method; auto picks the fastest that works and falls back on refusal.
    #[arg(long, value_name = "METHOD", default_value = "auto", value_parser = parse_method)]
    pub(crate) method: MethodArg,

    /// Set the destination pipe (and the pipe splice uses between two non-pipes) to this
    /// capacity, e.g. 256K or 1M; capped at /proc/sys/fs/pipe-max-size. Default: auto grows a
    /// destination pipe to 1 MiB when it splices into it.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub(crate) pipe_size: Option<usize>,

    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

const POOL_AFTER_HELP: &str = "\
Every line of standard input is a task; each task's output is printed as one line on
standard output (in input order with --ordered, as they finish otherwise). A task that fails
is reported on standard error with its line number and why: the worker crashed (exit code or
signal), timed out (killed and replaced), reported an error, was quarantined after crashing
workers repeatedly, or was cancelled. A crashed worker is replaced at once and only the task
it was running is charged; the others are sent again.

Protocols:
  --lines   (default) any program that answers one line per line, e.g. python3 -u worker.py.
            It must flush every answer (python3 -u, stdbuf -oL) for timeouts and blame to be
            exact. Answers are matched to tasks in order, so perfkit can tell when a worker
            dies, hangs (--timeout) or answers more lines than it was sent tasks, also
            after its last answer until it closes its output (the run then fails: earlier
            answers may belong to other tasks). It cannot tell a worker
            that answers one task with two lines and another with none: those answers go to
            the wrong tasks. Use --framed for workers you do not trust to keep one line each.
  --framed  a worker written with perfkit_pool::worker::serve (binary frames, any bytes,
            worker-reported errors, blame through a shared progress page).

A task's --timeout starts when it is handed to a worker. Each worker runs in its own process
group: a timeout, a crash or the end of the pool kills what the worker started too.
Ctrl-C, SIGTERM or SIGHUP: perfkit stops reading, writes the results it has, stops the
workers and ends by the signal (exit 130 for Ctrl-C, 143 for SIGTERM).

Examples:
  seq 1000000 | perfkit pool --framed --stats -- ./target/release/square-worker > out.txt
  perfkit pool --ordered --timeout 5s --retries 2 -- python3 -u worker.py < tasks.txt
  perfkit pool --metrics-addr 127.0.0.1:9898 -- ./worker < tasks.txt   # GET /metrics
  perfkit pool --naive -- ./script.sh < tasks.txt     # one process per task, task as argument

Exit codes: 0 every task succeeded, 1 at least one task failed (or a line-mode worker gave
extra answers), 2 bad arguments or a worker that cannot start.";

/// `perfkit pool` options.
#[cfg(target_os = "linux")]
#[derive(Debug, Args)]
pub(crate) struct PoolArgs {
    /// Worker processes, 1 to 4096 [default: the number of CPUs].
    #[arg(short = 'j', long, value_name = "N", value_parser = parse_workers)]
    pub(crate) workers: Option<usize>,

    /// Most tasks sent to a worker in one write (1 = one task per round trip).
    #[arg(long, value_name = "B", default_value_t = 1024, value_parser = at_least_one::<usize>)]
    pub(crate) batch: usize,

    /// The worker speaks the line protocol: one line in, one line out (the default).
    #[arg(long, conflicts_with = "framed")]
    pub(crate) lines: bool,

    /// The worker uses `perfkit_pool::worker::serve` (length-prefixed binary frames).
    #[arg(long)]
    pub(crate) framed: bool,

    /// Print results in input order (default: as they finish).
    #[arg(long)]
    pub(crate) ordered: bool,

    /// Kill and replace a worker whose task runs longer than this (e.g. 500ms, 5s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) timeout: Option<Duration>,

    /// Run a task that crashed or timed out up to this many more times.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub(crate) retries: u32,

    /// Stop trying a task once it has crashed this many workers.
    #[arg(long, value_name = "K", default_value_t = 2)]
    pub(crate) quarantine_after: u32,

    /// Replace each worker after about this many tasks (±10%).
    #[arg(long, value_name = "N")]
    pub(crate) max_tasks_per_worker: Option<u64>,

    /// Pin each worker and its dispatcher thread to one CPU (faster when the pool has the
    /// machine to itself; leave off when other work competes for the CPUs).
    #[arg(long)]
    pub(crate) pin: bool,

    /// Most tasks read ahead of the workers (backpressure on standard input).
    #[arg(long, value_name = "N", default_value_t = 65_536)]
    pub(crate) queue: usize,

    /// Serve Prometheus metrics at `http://ADDR/metrics` while the pool runs (port 0 picks a
    /// free port; the address is printed on standard error).
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics_addr: Option<String>,

    /// Print tasks/s, latency percentiles and restarts on standard error at the end.
    #[arg(long)]
    pub(crate) stats: bool,

    /// With --stats: print them as JSON.
    #[arg(long, requires = "stats")]
    pub(crate) json: bool,

    /// For comparison: one new process per task instead of a pool, the task as its last
    /// argument, -j processes at a time (as xargs -P), results in input order.
    #[arg(long)]
    pub(crate) naive: bool,

    /// The worker command and its arguments (after --).
    #[arg(last = true, required = true, value_name = "WORKER_CMD")]
    pub(crate) command: Vec<String>,
}

/// `--method`: `auto` or one forced method.
#[cfg(target_os = "linux")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MethodArg {
    Auto,
    Forced(perfkit_zerocopy::Method),
}

#[cfg(target_os = "linux")]
/// A metric to judge, with its own threshold if it has one; `None` for an empty item of a
/// comma list (`--metric p99,`).
pub(crate) type MetricSpec = Option<(perfkit_regress::Metric, Option<f64>)>;

fn parse_metric(text: &str) -> Result<MetricSpec, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    perfkit_regress::MetricRule::parse_spec(text)
        .map(Some)
        .map_err(|e| e.to_string())
}

fn parse_threshold(text: &str) -> Result<f64, String> {
    perfkit_regress::parse_percent(text).map_err(|e| e.to_string())
}

/// A count that must be at least 1.
fn at_least_one<T: std::str::FromStr + PartialOrd + From<u8>>(text: &str) -> Result<T, String> {
    match text.parse::<T>() {
        Ok(n) if n >= T::from(1) => Ok(n),
        Ok(_) => Err("must be at least 1".into()),
        Err(_) => Err("give a whole number, at least 1".into()),
    }
}

/// A number of workers or processes at a time, 1 to what a pool starts.
#[cfg(target_os = "linux")]
fn parse_workers(text: &str) -> Result<usize, String> {
    let n = at_least_one(text)?;
    if n > perfkit_pool::MAX_WORKERS {
        return Err(format!(
            "give at most {}, the most a pool starts (each is a process)",
            perfkit_pool::MAX_WORKERS
        ));
    }
    Ok(n)
}

fn parse_call_graph(text: &str) -> Result<perfkit_profilers::perf::CallGraph, String> {
    perfkit_profilers::perf::CallGraph::parse(text).map_err(|e| e.to_string())
}

fn parse_min_width(text: &str) -> Result<f64, String> {
    let pixels = text
        .parse::<f64>()
        .map_err(|_| "give pixels ≥ 0 (default 0.1)")?;
    perfkit_profilers::flamegraph::FlamegraphOptions::checked_min_width(pixels)
        .map_err(|e| e.to_string())
}

fn parse_palette(text: &str) -> Result<perfkit_profilers::flamegraph::Palette, String> {
    perfkit_profilers::flamegraph::Palette::parse(text).map_err(|e| e.to_string())
}

#[cfg(target_os = "linux")]
fn parse_profile(text: &str) -> Result<&'static perfkit_sys::tune::Profile, String> {
    perfkit_sys::tune::profile(text).map_err(|e| e.to_string())
}

fn parse_method(text: &str) -> Result<MethodArg, String> {
    if text.eq_ignore_ascii_case("auto") {
        return Ok(MethodArg::Auto);
    }
    text.parse()
        .map(MethodArg::Forced)
        .map_err(|e: perfkit_zerocopy::UnknownMethod| format!("{e}, or auto"))
}

/// A sampling interval: a byte count of at least 1.
fn parse_interval(text: &str) -> Result<usize, String> {
    let digits: String = text
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    if !digits.is_empty() && digits.bytes().all(|b| b == b'0') {
        return Err(
            "the sampling interval must be at least 1 byte (512K is the default)".to_owned(),
        );
    }
    parse_bytes(text)
}

/// A byte count: a number with an optional K, M or G suffix (powers of 1024; KiB etc. too).
pub(crate) fn parse_bytes(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits_end);
    let number: usize = number
        .parse()
        .map_err(|_| format!("{text:?} is not a byte count (try 65536, 256K or 1M)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use K, M or G, e.g. 256K)"
            ));
        }
    };
    let bytes = number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if bytes == 0 {
        return Err("a pipe size must be more than 0 bytes".to_string());
    }
    Ok(bytes)
}

/// What `perfkit diff` draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum CompareArg {
    /// Stacks, or functions when the stacks barely overlap
    Auto,
    /// Call paths
    Stacks,
    /// Functions by self time
    Functions,
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

/// `--input` of `perfkit bench`: a file, or hyperfine's `null` for `/dev/null` (a file named
/// null is `./null`).
#[allow(
    clippy::unnecessary_wraps,
    reason = "clap's value parsers return a Result"
)]
fn parse_input(text: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(if text == "null" {
        "/dev/null"
    } else {
        text
    }))
}

/// `--time-unit` values, as hyperfine 1.21 spells them (singular, plural and short).
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum TimeUnitArg {
    #[value(alias = "microseconds", alias = "us", alias = "µs")]
    Microsecond,
    #[value(alias = "milliseconds", alias = "ms")]
    Millisecond,
    #[value(alias = "seconds", alias = "s")]
    Second,
    #[value(alias = "minutes", alias = "min")]
    Minute,
    #[value(alias = "hours", alias = "h")]
    Hour,
}

/// `--style` values, as hyperfine spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum StyleArg {
    Auto,
    Basic,
    Full,
    Nocolor,
    Color,
    None,
}

/// `--sort` values, as hyperfine spells them.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum SortArg {
    Auto,
    Command,
    MeanTime,
}

/// `--export-layout` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum LayoutArg {
    Hyperfine1,
    Hyperfine2,
}

/// `perfkit bench` options.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Commands to benchmark, each one quoted argument ('rg -F main f'): split into words as
    /// a shell would and started directly, or run through sh when they need a shell (see
    /// --shell).
    #[arg(value_name = "COMMAND", required_unless_present = "argv")]
    pub(crate) commands: Vec<String>,

    /// One command, after --, word by word as for every other perfkit command:
    /// `perfkit bench -r 5 -- rg -F main f`.
    #[arg(last = true, value_name = "PROGRAM ARGS")]
    pub(crate) argv: Vec<String>,

    /// Run each command exactly this many times (overrides --min-runs, --max-runs, --duration).
    #[arg(short = 'r', long, value_name = "N", conflicts_with_all = ["min_runs", "max_runs", "duration"])]
    pub(crate) runs: Option<u64>,

    /// Run each command at least this many times [default: 10, or --max-runs when lower].
    #[arg(short = 'm', long, value_name = "N")]
    pub(crate) min_runs: Option<u64>,

    /// Run each command at most this many times.
    #[arg(short = 'M', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_runs: Option<u64>,

    /// Time budget per command when the run count is automatic.
    #[arg(short = 'd', long, alias = "min-benchmarking-time", value_name = "DURATION", default_value = "3s", value_parser = parse_duration)]
    pub(crate) duration: Duration,

    /// Untimed runs of each command before measuring (fills caches). The automatic run count
    /// is planned from the last one. Default 1, where hyperfine's is 0: a cold first run
    /// would otherwise both set the run count and skew the mean.
    #[arg(short = 'w', long, value_name = "N", default_value_t = 1)]
    pub(crate) warmup: u64,

    /// Command to run before every run, untimed. Give it once for all commands or once per
    /// command.
    #[arg(short = 'p', long, value_name = "CMD")]
    pub(crate) prepare: Vec<String>,

    /// Command to run after every run, untimed (also after a failed run): e.g. to stop a
    /// server --prepare started. Once for all commands, or once per command.
    #[arg(short = 'C', long, value_name = "CMD")]
    pub(crate) conclude: Vec<String>,

    /// Benchmark every value from MIN to MAX (whole numbers, step 1 or --parameter-step-size),
    /// with each `{VAR}` in the commands, their names and helpers replaced by it:
    /// `-P threads 1 8 'make -j {threads}'`.
    #[arg(
        short = 'P',
        long,
        action = clap::ArgAction::Set,
        num_args = 3,
        value_names = ["VAR", "MIN", "MAX"],
        allow_hyphen_values = true,
        help_heading = "Parameters"
    )]
    pub(crate) parameter_scan: Vec<String>,

    /// The step of --parameter-scan; needed when a bound has decimals: `-P delay 0.3 0.7 -D
    /// 0.2 'sleep {delay}'` runs 0.3, 0.5 and 0.7.
    #[arg(
        short = 'D',
        long,
        value_name = "DELTA",
        requires = "parameter_scan",
        allow_hyphen_values = true,
        help_heading = "Parameters"
    )]
    pub(crate) parameter_step_size: Option<String>,

    /// Benchmark every value of the comma-separated VALUES (`\,` is a comma inside a value),
    /// with each `{VAR}` replaced by it: `-L compiler gcc,clang '{compiler} -O2 main.c'`.
    /// Several lists run every combination.
    #[arg(
        short = 'L',
        long,
        num_args = 2,
        value_names = ["VAR", "VALUES"],
        allow_hyphen_values = true,
        conflicts_with_all = ["parameter_scan", "parameter_step_size"],
        help_heading = "Parameters"
    )]
    pub(crate) parameter_list: Vec<String>,

    /// Command to run once before a command's first run. Once for all, or once per command.
    #[arg(short = 's', long, value_name = "CMD")]
    pub(crate) setup: Vec<String>,

    /// Command to run once after a command's last run (also after a failure). Once for all,
    /// or once per command.
    #[arg(short = 'c', long, value_name = "CMD")]
    pub(crate) cleanup: Vec<String>,

    /// Benchmark CMD first and compare the others with it, not with the fastest. With -P or
    /// -L, the full name of one of the benchmarks instead ('sleep 0.2'), as in hyperfine 1.21.
    #[arg(long, value_name = "CMD")]
    pub(crate) reference: Option<String>,

    /// The name of the --reference command.
    #[arg(long, value_name = "NAME", requires = "reference")]
    pub(crate) reference_name: Option<String>,

    /// Name of a command in the output (once per command, in order; fewer names leave the
    /// rest named by their command). With parameters: once for all or once per benchmark,
    /// `{VAR}` replaced.
    #[arg(short = 'n', long = "command-name", value_name = "NAME")]
    pub(crate) names: Vec<String>,

    /// Kill a run that takes longer than this; it counts as failed.
    #[arg(short = 't', long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) timeout: Option<Duration>,

    /// Feed this file to every run's standard input (null: /dev/null, as in hyperfine); `-`
    /// reads perfkit's own standard input once and gives it to every run. Without it, a file
    /// perfkit's standard input is redirected from is given to every run; a terminal or a
    /// pipe gives /dev/null (said).
    #[arg(long, value_name = "FILE", value_parser = parse_input)]
    pub(crate) input: Option<PathBuf>,

    /// Where the commands' standard output goes, their helpers' too (as in hyperfine): null
    /// (/dev/null), pipe (read and discarded by perfkit, as in a pipeline), inherit (this
    /// terminal), or a FILE (truncated before every run, a helper's included, so it ends
    /// with what the last one wrote); once for all, or once per benchmark. Without it: null, plus one probe run
    /// into a pipe that warns when the command does less into /dev/null (GNU grep stops at
    /// the first match there).
    #[arg(long, value_name = "WHERE", conflicts_with = "show_output")]
    pub(crate) output: Vec<String>,

    /// Show the commands' output instead of discarding it (--output=inherit).
    #[arg(long)]
    pub(crate) show_output: bool,

    /// Keep benchmarking when a command fails (failed runs are included): every failure, or
    /// with =CODES only those exit codes (--ignore-failure=1,2).
    #[arg(
        short = 'i',
        long,
        value_name = "MODE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "all-non-zero"
    )]
    pub(crate) ignore_failure: Option<String>,

    /// Order of the measured runs [default: interleaved].
    #[arg(long, value_enum, value_name = "ORDER")]
    pub(crate) order: Option<OrderArg>,

    /// hyperfine's order: all runs of one command, then the next (--order sequential).
    #[arg(long, conflicts_with = "order")]
    pub(crate) no_interleave: bool,

    /// Pin the benchmarked commands (not their helpers) to these CPUs: 0-3,6.
    #[arg(long, value_name = "CPUS")]
    pub(crate) affinity: Option<String>,

    /// Output: auto, full or nocolor show progress; basic and color do not; none prints no
    /// results either (only the exports and --json). perfkit prints no colours.
    #[arg(long, value_enum, value_name = "TYPE")]
    pub(crate) style: Option<StyleArg>,

    /// Seed for --order random, the environment offsets and the bootstrap intervals
    /// (default: from the clock; printed in the JSON).
    #[arg(long, value_name = "N")]
    pub(crate) seed: Option<u64>,

    /// The shell that runs every command and helper: a name (bash), a path, a command line
    /// ("bash --norc"), default (sh) or none. Without it, a command runs through sh only when
    /// it needs a shell (pipes, redirections, $VARS, globs, builtins) and is started directly
    /// otherwise, so no shell start-up is in its time. (hyperfine's meaning; before, perfkit's
    /// --shell took no value.)
    #[arg(long, value_name = "SHELL")]
    pub(crate) shell: Option<String>,

    /// --shell=default (sh), as in hyperfine 2. hyperfine 1's -S SHELL also works: when the
    /// first command names a shell (bash, /bin/zsh, "bash --norc") and more follow, it is
    /// taken as the shell (said on standard error).
    #[arg(short = 'S', conflicts_with = "shell")]
    pub(crate) default_shell: bool,

    /// Start every command directly, never through a shell (--shell=none); helpers still run
    /// through sh, as in hyperfine 2.
    #[arg(short = 'N', conflicts_with_all = ["shell", "default_shell"])]
    pub(crate) no_shell: bool,

    /// Set variables for the commands and their helpers: NAME=VALUE pairs with shell quoting
    /// and no expansion, `{VAR}` replaced: `--env 'OMP_NUM_THREADS={threads}'`. Once for all,
    /// or once per benchmark.
    #[arg(long, value_name = "ASSIGNMENTS")]
    pub(crate) env: Vec<String>,

    /// Print the full result as JSON on stdout instead of the human summary.
    #[arg(long)]
    pub(crate) json: bool,

    /// Also write the JSON result to FILE, with hyperfine's `results` beside perfkit's fields
    /// (hyperfine's scripts read it). Every export is written atomically; `-` is standard
    /// output, as in hyperfine.
    #[arg(long, value_name = "FILE", value_parser = parse_export, help_heading = "Exports")]
    pub(crate) export_json: Option<PathBuf>,

    /// Also write hyperfine's CSV (seconds) to FILE, perfkit's columns last.
    #[arg(long, value_name = "FILE", value_parser = parse_export, help_heading = "Exports")]
    pub(crate) export_csv: Option<PathBuf>,

    /// Also write hyperfine's Markdown table to FILE, perfkit's columns last.
    #[arg(long, value_name = "FILE", value_parser = parse_export, help_heading = "Exports")]
    pub(crate) export_markdown: Option<PathBuf>,

    /// Also write hyperfine's asciidoc table to FILE, perfkit's columns last.
    #[arg(long, value_name = "FILE", value_parser = parse_export, help_heading = "Exports")]
    pub(crate) export_asciidoc: Option<PathBuf>,

    /// Also write hyperfine's Emacs Org table to FILE, perfkit's columns last.
    #[arg(long, value_name = "FILE", value_parser = parse_export, help_heading = "Exports")]
    pub(crate) export_orgmode: Option<PathBuf>,

    /// Also draw the results as a self-contained SVG in FILE: each command's distribution
    /// (p50, p99), a box plot across commands, the times run by run, and for a parameter scan
    /// the time against the parameter.
    #[arg(long, value_name = "FILE", value_parser = parse_export, help_heading = "Exports")]
    pub(crate) export_svg: Option<PathBuf>,

    /// Print each command's distribution as a terminal histogram after the results.
    #[arg(long, help_heading = "Exports")]
    pub(crate) plot: bool,

    /// hyperfine 2's metrics, in order: a preset (default: wall time and peak memory; time;
    /// all) or METRIC[:UNIT],… of `time_wall_clock`, `time_cpu`, `time_user`, `time_system`,
    /// `memory_peak_resident`. The text shows these; the first is the JSON's `primary_metric`
    /// and the tables' (its time unit, in hyperfine 1's); hyperfine 2's CSV has columns for
    /// each. The summary compares wall times. Hardware counters are perfkit stat's.
    #[arg(
        id = "hyperfine_metrics",
        long = "metrics",
        value_name = "PRESET|METRIC[:UNIT],…",
        default_value = "default",
        help_heading = "Exports"
    )]
    pub(crate) hyperfine_metrics: String,

    /// Whose files the exports copy where hyperfine 1 and 2 differ. hyperfine1: `command` is
    /// the name, `parameters` are strings, tables have Min, Max and Relative. hyperfine2:
    /// `command` is the command run, `parameters` are {"value": …}, tables have Change and
    /// Factor for the first --metrics metric, and CSV has columns for every one. Without it,
    /// the environment variable `PERFKIT_EXPORT_LAYOUT`, else hyperfine1.
    #[arg(long, value_enum, value_name = "LAYOUT", help_heading = "Exports")]
    pub(crate) export_layout: Option<LayoutArg>,

    /// The time unit of the text and tables: microsecond (us), millisecond (ms), second (s),
    /// minute (min), hour (h) [default: from the first command's mean].
    #[arg(
        short = 'u',
        long,
        value_enum,
        value_name = "UNIT",
        help_heading = "Exports"
    )]
    pub(crate) time_unit: Option<TimeUnitArg>,

    /// Row order: auto (tables by command, the summary fastest first), command, mean-time.
    #[arg(
        long,
        value_enum,
        value_name = "METHOD",
        default_value = "auto",
        help_heading = "Exports"
    )]
    pub(crate) sort: SortArg,

    /// No progress bar and no warnings.
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,

    /// Check the results against this baseline (or perfkit bench / hyperfine JSON) by command
    /// name, print the findings, and exit 1 on a regression. With --json the check report is
    /// added to the output as "check".
    #[arg(long, value_name = "FILE", help_heading = "Regression check")]
    pub(crate) baseline: Option<PathBuf>,

    /// Save the results as a baseline file (atomically). When it is the --baseline file and the
    /// check finds a regression, the old baseline is kept.
    #[arg(long, value_name = "FILE", help_heading = "Regression check")]
    pub(crate) save_baseline: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) policy: PolicyArgs,
}

/// The rule of a regression check, shared by `check` and `bench --baseline`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Regression check")]
pub(crate) struct PolicyArgs {
    /// Smallest change that counts, in percent (e.g. 5%, 2.5); applies to every --metric
    /// without its own.
    #[arg(long, value_name = "PCT", default_value = "5%", value_parser = parse_threshold)]
    pub(crate) threshold: f64,

    /// Significance level of the two-sided test on the raw samples.
    #[arg(long, value_name = "P", default_value_t = perfkit_regress::DEFAULT_ALPHA)]
    pub(crate) alpha: f64,

    /// Metric to judge, optionally with its own threshold: p99, p99=10%, throughput, mean,
    /// p50, p90, p999, peak_rss. Repeat or separate with commas [default: p99,throughput].
    #[allow(clippy::doc_markdown)] // clap prints this text: no backticks.
    #[arg(long = "metric", value_name = "SPEC", value_delimiter = ',', value_parser = parse_metric)]
    pub(crate) metrics: Vec<MetricSpec>,

    /// Fewest samples per side for a verdict; fewer give "inconclusive".
    #[arg(long, value_name = "N", default_value_t = perfkit_regress::DEFAULT_MIN_SAMPLES)]
    pub(crate) min_samples: usize,

    /// Count "inconclusive" findings as failures (exit 1), e.g. to insist that p99 is judged.
    #[arg(long)]
    pub(crate) strict: bool,
}

const CHECK_AFTER_HELP: &str = "\
A metric regresses only when both hold: it is worse by more than its threshold, and a
statistical test on the raw samples says the difference is not noise (two-sided p below
--alpha: Mann-Whitney U; for p90/p99/p999 also a test of the tail at that quantile). Too few
samples give \"inconclusive\", not \"ok\": p99 needs 100 samples per side, since below that it
is the maximum. Throughput is the rate at the median time, which a noisy neighbour's slow runs
do not move. In simulations of this noise (30 samples per side), the default rule flags 0-0.1%
of identical runs and catches over 99% of real 10% slow-downs (see docs/regression.md).

Inputs (told apart by content): a baseline file (perfkit baseline save, perfkit bench
--save-baseline), perfkit bench --json output, hyperfine --export-json output, or with
--criterion a criterion directory and two of its saved baselines.

Examples:
  perfkit bench -r 30 --save-baseline base.json './app-v1 input'
  perfkit bench -r 30 --export-json now.json './app-v2 input'
  perfkit check --baseline base.json --current now.json
  perfkit check --baseline before.json --current after.json --metric p50=3%,peak_rss=10%
  cargo bench -- --save-baseline main; git switch pr; cargo bench -- --save-baseline pr
  perfkit check --criterion target/criterion --base main --new pr --format markdown > comment.md

Exit codes: 0 no regression, 1 a regression (or, with --strict, an inconclusive finding),
2 bad arguments or unreadable input.";

/// `perfkit check` options.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The reference: a baseline file, perfkit bench JSON or hyperfine JSON.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "criterion",
        conflicts_with = "criterion"
    )]
    pub(crate) baseline: Option<PathBuf>,

    /// The results to check: a baseline file, perfkit bench JSON or hyperfine JSON.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "criterion",
        conflicts_with = "criterion"
    )]
    pub(crate) current: Option<PathBuf>,

    /// A criterion results directory (target/criterion, or a project holding it); compare
    /// its saved baselines --base and --new.
    #[arg(long, value_name = "DIR")]
    pub(crate) criterion: Option<PathBuf>,

    /// The criterion baseline to compare against (a --save-baseline name, or base).
    #[arg(
        long,
        value_name = "NAME",
        requires = "criterion",
        default_value = "base"
    )]
    pub(crate) base: String,

    /// The criterion baseline under test (new is criterion's latest run).
    #[arg(
        long,
        value_name = "NAME",
        requires = "criterion",
        default_value = "new"
    )]
    pub(crate) new: String,

    #[command(flatten)]
    pub(crate) policy: PolicyArgs,

    /// Output format.
    #[arg(long, value_enum, default_value = "human", help_heading = "Output")]
    pub(crate) format: ReportFormat,

    /// Same as --format json.
    #[arg(long, conflicts_with = "format", help_heading = "Output")]
    pub(crate) json: bool,

    /// No warnings on standard error (with --format json or markdown).
    #[arg(short = 'q', long, help_heading = "Output")]
    pub(crate) quiet: bool,
}

/// How `perfkit check` prints its report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    /// A table for the terminal.
    Human,
    /// The full report as JSON.
    Json,
    /// Markdown for a pull-request comment.
    Markdown,
}

const BASELINE_AFTER_HELP: &str = "\
A baseline file is JSON (docs/formats.md): when and where it was made (host, CPU, kernel,
rustc, git commit), and per benchmark a summary, a histogram and up to 10,000 raw samples,
which the statistical test of perfkit check needs.

Examples:
  perfkit baseline save base.json --from result.json               perfkit bench --json output
  perfkit baseline save base.json --from hyperfine.json            hyperfine --export-json output
  perfkit baseline save base.json --from target/criterion --criterion-baseline main
  perfkit baseline show base.json

Exit codes: 0 success, 2 bad arguments or unreadable input.";

/// `perfkit baseline` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum BaselineCommand {
    /// Save results as a baseline file (written atomically)
    #[command(after_help = BASELINE_AFTER_HELP)]
    Save(BaselineSaveArgs),
    /// Show what a baseline (or any input perfkit check reads) holds
    #[command(after_help = BASELINE_AFTER_HELP)]
    Show(BaselineShowArgs),
}

/// `perfkit baseline save` options.
#[derive(Debug, Args)]
pub(crate) struct BaselineSaveArgs {
    /// The baseline file to write.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,

    /// The results: perfkit bench JSON, hyperfine --export-json output, a criterion directory,
    /// or another baseline.
    #[arg(long, value_name = "SOURCE")]
    pub(crate) from: PathBuf,

    /// Which criterion baseline to read from a criterion directory (new is the latest run).
    #[arg(long, value_name = "NAME")]
    pub(crate) criterion_baseline: Option<String>,

    /// Print what was saved as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `perfkit baseline show` options.
#[derive(Debug, Args)]
pub(crate) struct BaselineShowArgs {
    /// A baseline file (or perfkit bench / hyperfine JSON, or a criterion directory).
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,

    /// Which criterion baseline to read when FILE is a criterion directory.
    #[arg(long, value_name = "NAME")]
    pub(crate) criterion_baseline: Option<String>,

    /// Print the whole baseline as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

const ANALYZE_AFTER_HELP: &str = "\
Runs the command --runs times (latency percentiles, throughput, CPU, memory, page faults, I/O,
context switches), once under strace -c -f (system calls, process starts), once under perf
(hot functions, flamegraph) and with --heap once with perfkit's heap sampler (--heap=exact:
valgrind massif) for the peak heap and its allocation sites; a missing tool is noted, not
fatal. Names the bottleneck with the numbers that show it
(spawn-heavy, syscall-heavy, I/O-bound, waiting, memory-heavy, CPU-bound) and recommends a
change with its expected gain and the perfkit part that helps. With --baseline, the runs are
checked against a saved baseline like perfkit check does (threshold plus a test on the raw
samples).

Writes DIR/report.html (self-contained: open it in a browser), report.md, report.json and
flamegraph.svg.

--demo analyses a bundled case study: 300 small tasks
done by starting a process each, measured against the same tasks through perfkit pool's
persistent workers. The report names the spawn-heavy bottleneck and shows the speed-up.

Examples:
  perfkit analyze --demo
  perfkit analyze -- ./target/release/my-app input.txt
  perfkit analyze --heap --runs 30 --out report -- ./target/release/my-app input.txt
  perfkit analyze --save-baseline base.json -- ./target/release/my-app input.txt
  perfkit analyze --baseline base.json -- ./target/release/my-app input.txt

Exit codes: 0 success, 1 the command failed or --baseline found a regression, 2 bad arguments
or a command that cannot start.";

/// `perfkit analyze` options.
#[derive(Debug, Args)]
pub(crate) struct AnalyzeArgs {
    /// Measured runs.
    #[arg(short = 'r', long, value_name = "N", default_value_t = 10)]
    pub(crate) runs: u64,

    /// Untimed runs first.
    #[arg(short = 'w', long, value_name = "N", default_value_t = 1)]
    pub(crate) warmup: u64,

    /// Analyse the bundled case study (tasks that each start a process, against the same tasks
    /// through perfkit pool) instead of a command.
    #[arg(long, conflicts_with = "command")]
    pub(crate) demo: bool,

    /// Tasks per run of --demo.
    #[arg(long, value_name = "N", default_value_t = 300, requires = "demo", value_parser = at_least_one::<u32>)]
    pub(crate) demo_tasks: u32,

    /// Feed this file to the command's standard input in every run (measured and profiled);
    /// `-` reads perfkit's own standard input once and gives it to every run. Without it, a
    /// file perfkit's standard input is redirected from is given to every run; a terminal or a
    /// pipe gives /dev/null (said).
    #[arg(long, value_name = "FILE", conflicts_with = "demo")]
    pub(crate) input: Option<PathBuf>,

    /// Where the command's standard output goes: null (/dev/null), pipe (read and discarded
    /// by perfkit), or a FILE (truncated before every run). Without it: null, plus one probe
    /// run into a pipe that warns when the command does less into /dev/null (GNU grep stops
    /// at the first match there).
    #[arg(long, value_name = "WHERE")]
    pub(crate) output: Option<String>,

    /// Skip the perf CPU profile.
    #[arg(long)]
    pub(crate) no_profile: bool,

    /// Skip the strace syscall count.
    #[arg(long)]
    pub(crate) no_syscalls: bool,

    /// Also profile the heap, in one more run: `--heap` (or `--heap=sampled`) with perfkit's
    /// heap sampler at nearly full speed, `--heap=exact` with valgrind massif (5-50x slower).
    #[arg(
        long,
        value_name = "MODE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "sampled"
    )]
    pub(crate) heap: Option<HeapModeArg>,

    /// Directory for the report files.
    #[arg(
        short = 'o',
        long,
        value_name = "DIR",
        default_value = "perfkit-report"
    )]
    pub(crate) out: PathBuf,

    /// Open the HTML report in a browser when done ($BROWSER, else xdg-open).
    #[arg(long)]
    pub(crate) open: bool,

    /// Print the analysis as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,

    /// No progress indicator.
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,

    /// Check the runs against this baseline (a baseline file, perfkit bench or hyperfine JSON)
    /// and exit 1 on a regression. A baseline of one benchmark is compared whatever its name.
    #[arg(long, value_name = "FILE", help_heading = "Regression check")]
    pub(crate) baseline: Option<PathBuf>,

    /// Save the runs as a baseline file (atomically). When it is the --baseline file and the
    /// check finds a regression, the old baseline is kept.
    #[arg(long, value_name = "FILE", help_heading = "Regression check")]
    pub(crate) save_baseline: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) policy: PolicyArgs,

    /// The command and its arguments.
    #[arg(last = true, required_unless_present = "demo", value_name = "COMMAND")]
    pub(crate) command: Vec<String>,
}

/// `perfkit demo-workload`: the workload behind `perfkit analyze --demo` (hidden).
/// `perfkit launch` options (see `perfkit_sys::launch`).
#[cfg(target_os = "linux")]
#[derive(Debug, Args)]
pub(crate) struct LaunchArgs {
    /// Where to report the program's status.
    #[arg(long, value_name = "FD")]
    pub(crate) status_fd: i32,
    /// Where the go-ahead comes from.
    #[arg(long, value_name = "FD")]
    pub(crate) go_fd: i32,
    /// The program's standard error.
    #[arg(long, value_name = "FD")]
    pub(crate) stderr_fd: Option<i32>,
    /// The program and its arguments.
    #[arg(last = true, required = true)]
    pub(crate) command: Vec<std::ffi::OsString>,
}

/// What `perfkit demo-workload` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum DemoMode {
    /// A new process per task.
    Spawn,
    /// The tasks through a pool of workers.
    Pool,
    /// One task.
    Task,
    /// Serve tasks as a pool worker.
    Worker,
}

#[derive(Debug, Args)]
pub(crate) struct DemoWorkloadArgs {
    /// spawn: a new process per task (the case study's slow version); pool: the same tasks
    /// through persistent workers; task: one task (its input as argument); worker: serve tasks.
    pub(crate) mode: DemoMode,

    /// Tasks (spawn, pool), or the task's input (task).
    #[arg(value_name = "N")]
    pub(crate) value: Option<String>,
}

const DOCTOR_AFTER_HELP: &str = "\
Checks perf (present, working, version), kernel.perf_event_paranoid, kernel.kptr_restrict,
hardware counters, strace, ltrace, valgrind, an llvm-profdata matching rustc's LLVM, the CPU
governor and turbo, virtualization, other load right now (sampled for 200 ms), transparent
huge pages; with --binary, debug info and frame pointers of an ELF binary. Every line that is
not ok says how to fix it.

Examples:
  perfkit doctor
  perfkit doctor --binary target/release/my-app
  perfkit doctor --json

Exit codes: 0 ready (notes and warnings allowed), 1 a problem (something perfkit needs is
missing or forbidden), 2 bad arguments.";

/// `perfkit doctor` options.
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// Also check this binary for debug info and frame pointers.
    #[arg(long, value_name = "PATH")]
    pub(crate) binary: Option<PathBuf>,

    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

const TUNE_AFTER_HELP: &str = "\
Profiles:
  server     (default) the classic four parameters (fs.file-max, tcp_fin_timeout,
             tcp_tw_reuse, pid_max) and fs.nr_open, somaxconn, ip_local_port_range,
             vm.max_map_count, fs.pipe-max-size, netdev_max_backlog
  minimal    exactly the classic four
  profiling  kernel.perf_event_paranoid 1, kernel.kptr_restrict 0

Every value is read first. A limit is never lowered (the classic fs.file-max = 1000000
would lower today's default of 9223372036854775807) unless --allow-lower; what is
already good is kept. Without --apply nothing is written. With --apply, the previous values go
to a rollback file (JSON, written before the first change), each write is read back, and
`perfkit tune rollback FILE` restores exactly those values. Without root, with a read-only
/proc/sys (containers) or a value that cannot be restored, nothing is changed.

Examples:
  perfkit tune                         show the plan for this machine
  sudo perfkit tune --apply            apply it; prints the rollback file
  sudo perfkit tune rollback perfkit-rollback-1796050125.json
  perfkit tune --profile profiling
  perfkit tune --rlimits               RLIMIT_NOFILE/NPROC/CORE

Exit codes: 0 success, 2 unknown profile, a parameter that cannot be written (nothing changed,
or what was changed is named with the rollback command), a bad rollback file.";

/// `perfkit tune` options.
#[cfg(target_os = "linux")]
#[derive(Debug, Args)]
pub(crate) struct TuneArgs {
    #[command(subcommand)]
    pub(crate) command: Option<TuneCommand>,

    /// The profile: server, minimal or profiling.
    #[arg(long, value_name = "NAME", default_value = "server", value_parser = parse_profile)]
    pub(crate) profile: &'static perfkit_sys::tune::Profile,

    /// Write the changes (needs root); without it, only the plan is shown.
    #[arg(long)]
    pub(crate) apply: bool,

    /// Allow targets below the current value of a limit (normally kept).
    #[arg(long)]
    pub(crate) allow_lower: bool,

    /// Where --apply saves the previous values [default: ./perfkit-rollback-<time>.json].
    #[arg(long, value_name = "FILE")]
    pub(crate) rollback_file: Option<PathBuf>,

    /// Show the resource limits (open files, processes, core size) instead.
    #[arg(long)]
    pub(crate) rlimits: bool,

    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,

    /// The sysctl tree to work on (for tests and chroots).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/proc/sys",
        hide = true,
        global = true
    )]
    pub(crate) sysctl_root: PathBuf,
}

/// `perfkit tune` subcommands.
#[cfg(target_os = "linux")]
#[derive(Debug, Subcommand)]
pub(crate) enum TuneCommand {
    /// Restore the values saved by `perfkit tune --apply`
    Rollback {
        /// The rollback file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The exit-status paragraph of every command that runs a program.
macro_rules! pass_through {
    () => {
        "The program's standard output and standard error are its own: perfkit's report (human,
or JSON with --json) goes to standard error, or to --report FILE. So
`perfkit record -- gzip -c f > f.gz` leaves f.gz exactly as gzip wrote it.
perfkit exits with the profiled program's exit code (or re-raises the signal that ended
it), so a failing program fails your script; perfkit's own errors exit 2. Ctrl-C stops the
program and keeps what was recorded; SIGTERM and SIGHUP are passed on to the profiler, and
perfkit then removes its temporary files and ends by the same signal."
    };
}

const RECORD_AFTER_HELP: &str = concat!(
    "\
Examples:
  perfkit record -- ./target/release/my-app --input big.txt
  perfkit record -o before.svg --folded before.folded -- ./my-app
  perfkit record --pid 4242 --duration 30s -o server.svg
  perfkit record --call-graph fp -F 1999 -- ./built-with-frame-pointers

Call graphs: `dwarf` (default, 16 KiB of stack per sample, compressed with -z when perf can)
gives complete stacks for release builds, which have no frame pointers; `fp` is far smaller
but needs RUSTFLAGS='-C force-frame-pointers=yes'. Counts are samples unless --period.
Without hardware counters (most VMs) perfkit samples the cpu-clock timer and says so.

",
    pass_through!()
);

const FLAMEGRAPH_AFTER_HELP: &str = "\
INPUT is detected by content: a perf.data file, folded stacks (`a;b;c 12` lines), or perf
script text; `-` reads standard input.

Examples:
  perfkit flamegraph perf.data -o flame.svg
  perf script | perfkit flamegraph - -o flame.svg --title 'my run'
  perfkit flamegraph app.folded --inverted -o icicle.svg
  perfkit flamegraph perf.data --pprof cpu.pb.gz --speedscope cpu.json";

const CONVERT_AFTER_HELP: &str = "\
INPUT is detected by content, as for perfkit flamegraph: perf.data, folded stacks or perf
script text; `-` reads standard input. The format of OUT follows its extension (.pb.gz,
.pprof or .pb: pprof; .json: speedscope; .folded, .collapsed or .txt: folded stacks) unless
--format names it. pprof files are gzipped profile.proto with one location per frame and the
sample type of the input (samples, or CPU nanoseconds and event counts with --period).

Examples:
  perfkit convert perf.data -o cpu.pb.gz && go tool pprof -top cpu.pb.gz
  perfkit convert app.folded -o app.speedscope.json     # open in speedscope.app
  perf script | perfkit convert - --format folded -o app.folded";

const DIFF_AFTER_HELP: &str = "\
BEFORE and AFTER are each perf.data, folded stacks or perf script text. The graph has the
shape of AFTER; red frames grew, blue frames shrank. Counts are normalised so that a longer
run does not look uniformly worse (--no-normalize to compare raw counts).

Example:
  perfkit record --folded before.folded -o before.svg -- ./old-app
  perfkit record --folded after.folded -o after.svg -- ./new-app
  perfkit diff before.folded after.folded -o diff.svg
  perfkit diff before.folded after.folded --pprof base.pb.gz new.pb.gz
  go tool pprof -top -diff_base base.pb.gz new.pb.gz";

const STAT_AFTER_HELP: &str = concat!(
    "\
Examples:
  perfkit stat -- ./target/release/my-app
  perfkit stat -r 5 -e task-clock,page-faults,cycles -- ./my-app
  perfkit stat --pid 4242 --duration 10s

Counters the machine lacks (hardware counters in VMs) show as `not supported`, never 0.
perf stat hides a signal that killed its program (it exits 0), so perfkit starts the program
through a small launcher of its own (perf 5.10 or newer, one run): the counters start when the
launcher is ready, the program's status is exact, and perf's messages stay off the program's
standard error. perf's \"CPUs utilized\" then counts the launcher's start-up as elapsed time.
With -r N the status is perf's (the last run's exit code; a signal reads as 0).

",
    pass_through!()
);

const HEAP_AFTER_HELP: &str = concat!(
    "\
Examples:
  perfkit heap --sampled -- ./target/release/my-app
  perfkit heap --sampled --interval 64K --pprof heap.pb.gz -o heap.svg -- ./my-app input
  perfkit heap -- ./target/release/my-app
  perfkit heap --massif-out app.massif --top 10 -- ./my-app
  perfkit heap --pages-as-heap -- ./app-with-jemalloc

--sampled preloads perfkit's malloc shim (libperfkit_heap_shim.so, built beside perfkit; or
PERFKIT_HEAP_SHIM) into any dynamically linked program and samples one allocation per
--interval bytes on average, recording its call stack: the program runs at nearly full speed.
It prints the sites behind the peak, the most allocated, the leaked (live at exit) and the
short-lived, as estimates whose error shrinks as a site's bytes grow past the interval
(docs/heap.md); the totals and the peak are counted exactly. The command's own process is
profiled, also after it execs; the processes it forks are not. The profile is written when the
program exits, or when Ctrl-C, SIGTERM, SIGHUP or SIGPIPE ends it; any other signal leaves none.

--exact (the default) runs the program under valgrind massif, ~5-50x slower: every allocation
at each snapshot. Programs with their own allocator (jemalloc, mimalloc) need --pages-as-heap.

",
    pass_through!()
);

const SYSCALLS_AFTER_HELP: &str = concat!(
    "\
Examples:
  perfkit syscalls -- ./my-app            counts, errors and time per syscall (strace -c)
  perfkit syscalls --trace -- ./my-app    latency p50/p99 per syscall (strace -T)
  perfkit syscalls -w -e %file -- ./my-app   wall-clock time, file syscalls only
  perfkit syscalls --pid 4242 --duration 5s

The program's own stderr never mixes with strace's output.

",
    pass_through!()
);

const LIBCALLS_AFTER_HELP: &str = concat!(
    "\
Rust binaries call libc through the GOT, not the PLT, so plain ltrace sees almost nothing.
perfkit passes `-x malloc+free+realloc+calloc@libc.so*` unless you give your own -x patterns.
ltrace adds tens of microseconds per traced call.

Examples:
  perfkit libcalls -- ./my-app
  perfkit libcalls -x 'memcpy+memmove@libc.so*' -x 'deflate*@libz.so*' -- ./my-app

",
    pass_through!()
);

/// What to profile: a command, or running processes for a while.
/// Where a command that runs a program puts its own report.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// Write perfkit's report (the summary, or JSON with --json) to FILE instead of standard
    /// error. The program's standard output and standard error stay its own.
    #[arg(long, value_name = "FILE")]
    pub(crate) report: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct TargetArgs {
    /// The program and its arguments, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub(crate) command: Vec<std::ffi::OsString>,

    /// Attach to running processes instead (comma-separated or repeated).
    #[arg(
        long,
        value_name = "PID",
        value_delimiter = ',',
        conflicts_with = "command"
    )]
    pub(crate) pid: Vec<u32>,

    /// How long to watch --pid processes.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration, requires = "pid")]
    pub(crate) duration: Duration,
}

/// Flamegraph drawing options.
#[derive(Debug, Args)]
pub(crate) struct FlameArgs {
    /// Title of the graph.
    #[arg(long, value_name = "TEXT")]
    pub(crate) title: Option<String>,

    /// Second line under the title (default: what was profiled).
    #[arg(long, value_name = "TEXT")]
    pub(crate) subtitle: Option<String>,

    /// Colour palette: rust, hot, mem, io, java, js, perl, python, red, green, blue, aqua,
    /// yellow, purple, orange, wakeup.
    #[arg(long, value_name = "NAME", default_value = "rust", value_parser = parse_palette)]
    pub(crate) palette: perfkit_profilers::flamegraph::Palette,

    /// Leave out frames narrower than this many pixels.
    #[arg(long, value_name = "PIXELS", default_value_t = 0.1, value_parser = parse_min_width)]
    pub(crate) min_width: f64,

    /// Icicle graph: roots at the top.
    #[arg(long, visible_alias = "icicle")]
    pub(crate) inverted: bool,

    /// Flame chart: x is time order instead of merged alphabetically.
    #[arg(long)]
    pub(crate) flame_chart: bool,

    /// Reverse stacks (leaf at the root): who calls the hot functions.
    #[arg(long)]
    pub(crate) reverse: bool,

    /// Image width in pixels (default 1200; the SVG scales in a browser anyway).
    #[arg(long, value_name = "PIXELS", value_parser = at_least_one::<usize>)]
    pub(crate) width: Option<usize>,

    /// What one count is, shown in tooltips and reports (default: samples; with --period, ns
    /// for clock events and events for counters).
    #[arg(long, value_name = "NAME")]
    pub(crate) count_name: Option<String>,
}

/// How samples are folded.
#[derive(Debug, Args)]
pub(crate) struct FoldArgs {
    /// Resolve inlined functions into frames (perf script runs addr2line: several times slower).
    #[arg(long)]
    pub(crate) inline: bool,

    /// Sum sample periods instead of counting samples: nanoseconds for cpu-clock and
    /// task-clock, events for counters such as cycles or page-faults.
    #[arg(long)]
    pub(crate) period: bool,

    /// Keep threads apart: the root frame is `comm-PID/TID` (perf input).
    #[arg(long)]
    pub(crate) tid: bool,

    /// Mark kernel frames with `_[k]` (perf input).
    #[arg(long)]
    pub(crate) kernel: bool,

    /// Mark frames of JIT-compiled code (`/tmp/perf-PID.map`, `jitted-*.so`) with `_[j]`
    /// (perf input).
    #[arg(long)]
    pub(crate) jit: bool,

    /// Name unresolved frames by module and address, `[libfoo.so <7f12ab>]` (perf input).
    #[arg(long)]
    pub(crate) addrs: bool,
}

/// How samples of perf input are folded, for commands where `--pid` names no process.
#[derive(Debug, Args)]
pub(crate) struct PerfInputArgs {
    /// Keep processes apart: the root frame is `comm-PID` (perf input).
    #[arg(long)]
    pub(crate) pid: bool,
}

/// `perfkit record` options.
#[derive(Debug, Args)]
pub(crate) struct RecordArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,

    /// Where to write the flamegraph; a name ending in .pb.gz, .json or .folded writes the
    /// profile in that format (pprof, speedscope, folded stacks) instead of the SVG.
    #[arg(
        short = 'o',
        long,
        value_name = "FILE.svg",
        default_value = "flame.svg"
    )]
    pub(crate) output: PathBuf,

    /// Also keep the folded stacks here.
    #[arg(long, value_name = "FILE")]
    pub(crate) folded: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) export: ExportArgs,

    /// Keep perf.data here (default: a temporary file, deleted).
    #[arg(long, value_name = "FILE")]
    pub(crate) perf_data: Option<PathBuf>,

    /// Also write `perf report --stdio` text here.
    #[arg(long, value_name = "FILE")]
    pub(crate) perf_report: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) report: ReportArgs,

    /// Samples per second.
    #[arg(short = 'F', long, value_name = "HZ", default_value_t = 997)]
    pub(crate) frequency: u32,

    /// perf event to sample (default: cycles, or cpu-clock without hardware counters).
    #[arg(short = 'e', long, value_name = "EVENT")]
    pub(crate) event: Option<String>,

    /// Call-graph mode: dwarf[,BYTES] (default dwarf,16384), fp, lbr or none.
    #[arg(short = 'g', long, value_name = "MODE", value_parser = parse_call_graph)]
    pub(crate) call_graph: Option<perfkit_profilers::perf::CallGraph>,

    /// Do not compress perf.data (compression is on for dwarf when perf supports it).
    #[arg(long)]
    pub(crate) no_compress: bool,

    /// Record BPF program events (off by default: perf then waits up to 1 s at exit, and they
    /// matter only when profiling eBPF programs).
    #[arg(long)]
    pub(crate) bpf_events: bool,

    #[command(flatten)]
    pub(crate) fold: FoldArgs,

    /// Keep processes apart: the root frame is `comm-PID` (`--pid` of the other profile
    /// commands; here `--pid` attaches to a process).
    #[arg(long)]
    pub(crate) per_pid: bool,

    #[command(flatten)]
    pub(crate) flame: FlameArgs,

    /// How many of the hottest functions to print.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub(crate) top: usize,

    /// Print the report as JSON: into --report FILE, or on standard error, which then holds
    /// only the JSON (no notes; the program's standard error goes into it as `program_stderr`).
    #[arg(long)]
    pub(crate) json: bool,

    /// No progress and no notes.
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
}

/// `perfkit flamegraph` options.
#[derive(Debug, Args)]
pub(crate) struct FlamegraphArgs {
    /// perf.data, folded stacks, perf script text, or `-` for standard input.
    #[arg(value_name = "INPUT")]
    pub(crate) input: PathBuf,

    /// Where to write the flamegraph; a name ending in .pb.gz, .json or .folded writes the
    /// profile in that format (pprof, speedscope, folded stacks) instead of the SVG.
    #[arg(
        short = 'o',
        long,
        value_name = "FILE.svg",
        default_value = "flame.svg"
    )]
    pub(crate) output: PathBuf,

    /// Also write the folded stacks here.
    #[arg(long, value_name = "FILE")]
    pub(crate) folded: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) export: ExportArgs,

    #[command(flatten)]
    pub(crate) fold: FoldArgs,

    #[command(flatten)]
    pub(crate) perf_input: PerfInputArgs,

    #[command(flatten)]
    pub(crate) flame: FlameArgs,

    /// How many of the hottest functions to print.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub(crate) top: usize,

    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,

    /// No progress.
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
}

/// The profile for other viewers, written beside the flamegraph.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Also write the profile for go tool pprof, Pyroscope or Parca (gzipped profile.proto).
    #[arg(long, value_name = "FILE.pb.gz")]
    pub(crate) pprof: Option<PathBuf>,

    /// Also write the profile for speedscope or the Firefox Profiler (speedscope's JSON).
    #[arg(long, value_name = "FILE.json")]
    pub(crate) speedscope: Option<PathBuf>,
}

impl ExportArgs {
    /// The flamegraph at `svg` with `folded` stacks and these files beside it.
    pub(crate) fn paths<'a>(
        &'a self,
        svg: &'a Path,
        folded: Option<&'a Path>,
    ) -> perfkit_profilers::drawing::FlamePaths<'a> {
        perfkit_profilers::drawing::FlamePaths {
            svg,
            folded,
            pprof: self.pprof.as_deref(),
            speedscope: self.speedscope.as_deref(),
        }
    }
}

impl DiffArgs {
    /// The pprof pair, before and after, when asked for.
    pub(crate) fn pprof_pair(&self) -> Option<(&Path, &Path)> {
        match &self.pprof[..] {
            [before, after] => Some((before, after)),
            _ => None,
        }
    }
}

/// `perfkit convert` options.
#[derive(Debug, Args)]
pub(crate) struct ConvertArgs {
    /// perf.data, folded stacks, perf script text, or `-` for standard input.
    #[arg(value_name = "INPUT")]
    pub(crate) input: PathBuf,

    /// Where to write the profile; its extension chooses the format unless --format does.
    #[arg(short = 'o', long, value_name = "OUT")]
    pub(crate) output: PathBuf,

    /// The format to write, whatever OUT's extension.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub(crate) format: Option<ConvertFormat>,

    #[command(flatten)]
    pub(crate) fold: FoldArgs,

    #[command(flatten)]
    pub(crate) perf_input: PerfInputArgs,

    /// Print what was written as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,

    /// No progress.
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
}

/// A format `perfkit convert` writes.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ConvertFormat {
    /// pprof's gzipped profile.proto.
    Pprof,
    /// speedscope's JSON file format.
    Speedscope,
    /// Folded stacks, a line per stack.
    Folded,
}

impl From<ConvertFormat> for perfkit_profilers::export::Format {
    fn from(format: ConvertFormat) -> Self {
        match format {
            ConvertFormat::Pprof => Self::Pprof,
            ConvertFormat::Speedscope => Self::Speedscope,
            ConvertFormat::Folded => Self::Folded,
        }
    }
}

impl ConvertArgs {
    /// The format to write: --format, else OUT's extension.
    pub(crate) fn format(&self) -> anyhow::Result<perfkit_profilers::export::Format> {
        use perfkit_profilers::export::Format;
        match self.format {
            Some(format) => Ok(format.into()),
            None => Format::from_path(&self.output).ok_or_else(|| {
                anyhow::anyhow!(
                    "cannot tell the format of {} from its name: end it in .pb.gz, .json or .folded, or give --format pprof|speedscope|folded",
                    self.output.display()
                )
            }),
        }
    }
}

/// `perfkit diff` options.
#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// The baseline profile (perf.data, folded, or perf script text).
    #[arg(value_name = "BEFORE")]
    pub(crate) before: PathBuf,

    /// The new profile.
    #[arg(value_name = "AFTER")]
    pub(crate) after: PathBuf,

    /// Where to write the differential flamegraph.
    #[arg(short = 'o', long, value_name = "FILE.svg", default_value = "diff.svg")]
    pub(crate) output: PathBuf,

    /// Also write each side as a pprof file, for `go tool pprof -diff_base BEFORE AFTER`.
    #[arg(long, num_args = 2, value_names = ["BEFORE.pb.gz", "AFTER.pb.gz"], action = clap::ArgAction::Set)]
    pub(crate) pprof: Vec<PathBuf>,

    /// Compare raw counts instead of scaling BEFORE to AFTER's total.
    #[arg(long)]
    pub(crate) no_normalize: bool,

    /// What the picture compares: stacks (call paths, the classic differential flamegraph),
    /// functions (self time, whatever called them: what the table ranks), or auto: stacks,
    /// unless the two profiles share under a quarter of their stacks while their functions
    /// match far better (work moved between threads or call paths).
    #[arg(long, value_enum, value_name = "WHAT", default_value = "auto")]
    pub(crate) compare: CompareArg,

    #[command(flatten)]
    pub(crate) fold: FoldArgs,

    #[command(flatten)]
    pub(crate) perf_input: PerfInputArgs,

    #[command(flatten)]
    pub(crate) flame: FlameArgs,

    /// How many of the biggest changes to print.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub(crate) top: usize,

    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,

    /// No progress.
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
}

/// `perfkit stat` options.
#[derive(Debug, Args)]
pub(crate) struct StatArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,

    /// Events to count (comma-separated or repeated; default: perf's set).
    #[arg(short = 'e', long, value_name = "EVENT", value_delimiter = ',')]
    pub(crate) event: Vec<String>,

    /// Run the program N times; values are means, with their variation.
    #[arg(short = 'r', long, value_name = "N", default_value_t = 1, value_parser = at_least_one::<u32>)]
    pub(crate) repeat: u32,

    #[command(flatten)]
    pub(crate) report: ReportArgs,

    /// Print the report as JSON: into --report FILE, or on standard error, which then holds
    /// only the JSON (no notes; the program's standard error goes into it as `program_stderr`).
    #[arg(long)]
    pub(crate) json: bool,

    /// No notes.
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
}

/// `perfkit analyze --heap=MODE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum HeapModeArg {
    /// perfkit's preloaded heap sampler.
    Sampled,
    /// valgrind massif.
    Exact,
}

/// The flags of `perfkit heap`'s exact (massif) mode, which the sampled mode's files
/// conflict with.
const MASSIF_ONLY: [&str; 3] = ["exact", "ms_print", "massif_out"];

/// What a heap flamegraph weighs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum HeapWeigh {
    /// Bytes live at the peak.
    Peak,
    /// Bytes allocated in all.
    Allocated,
    /// Bytes live at exit.
    Leaked,
    /// Blocks allocated in all.
    Blocks,
}

impl HeapWeigh {
    pub(crate) fn metric(self) -> perfkit_profilers::heap::HeapMetric {
        use perfkit_profilers::heap::HeapMetric;
        match self {
            HeapWeigh::Peak => HeapMetric::PeakBytes,
            HeapWeigh::Allocated => HeapMetric::AllocBytes,
            HeapWeigh::Leaked => HeapMetric::LiveBytes,
            HeapWeigh::Blocks => HeapMetric::AllocObjects,
        }
    }
}

/// `perfkit heap` options.
#[derive(Debug, Args)]
pub(crate) struct HeapArgs {
    /// The program and its arguments, after `--`.
    #[arg(last = true, required_unless_present = "from", value_name = "COMMAND")]
    pub(crate) command: Vec<std::ffi::OsString>,

    /// Analyse a profile recorded elsewhere (a production host, a CI job) instead of running a
    /// command: a massif.out file, or the JSON profile perfkit's heap shim writes.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["command", "pages_as_heap", "stacks", "threshold", "depth", "massif_out", "trace_children"]
    )]
    pub(crate) from: Option<PathBuf>,

    /// Sample allocations with perfkit's preloaded malloc shim instead of running valgrind: at
    /// nearly full speed, estimates per call stack (see below).
    #[arg(
        long,
        conflicts_with_all = ["exact", "pages_as_heap", "stacks", "threshold", "depth", "massif_out", "trace_children", "ms_print"]
    )]
    pub(crate) sampled: bool,

    /// Every allocation, under valgrind massif (the default).
    #[arg(long)]
    pub(crate) exact: bool,

    /// With --sampled: mean bytes allocated between samples (512K by default; smaller is more
    /// precise and costs more; 1 records every allocation).
    #[arg(long, value_name = "BYTES", requires = "sampled", conflicts_with = "from", value_parser = parse_interval)]
    pub(crate) interval: Option<usize>,

    /// With --sampled: the random seed of the sampler's intervals (the same one samples the
    /// same allocations of a single-threaded program).
    #[arg(long, value_name = "N", requires = "sampled", conflicts_with = "from")]
    pub(crate) seed: Option<u64>,

    /// With --sampled (or a sampled --from): write the profile for `go tool pprof` (gzipped
    /// profile.proto with Go's four heap sample types, allocated and in use, objects and space,
    /// then the peak's, which it opens on).
    #[arg(long, value_name = "FILE", conflicts_with_all = MASSIF_ONLY)]
    pub(crate) pprof: Option<PathBuf>,

    /// With --sampled: write DHAT's JSON, which DHAT's viewer (valgrind's `dh_view.html`)
    /// opens.
    #[arg(long, value_name = "FILE", conflicts_with_all = MASSIF_ONLY)]
    pub(crate) dhat: Option<PathBuf>,

    /// With --sampled: write folded stacks weighed by --weigh (`perfkit flamegraph FILE
    /// --palette mem` draws them).
    #[arg(long, value_name = "FILE", conflicts_with_all = MASSIF_ONLY)]
    pub(crate) folded: Option<PathBuf>,

    /// With --sampled: draw a heap flamegraph (SVG) weighed by --weigh.
    #[arg(short = 'o', long = "flamegraph", value_name = "FILE.svg", conflicts_with_all = MASSIF_ONLY)]
    pub(crate) flamegraph: Option<PathBuf>,

    /// With --sampled: what the flamegraph and folded stacks weigh: peak (bytes live at the
    /// peak), allocated (bytes allocated), leaked (bytes live at exit), blocks (blocks
    /// allocated).
    #[arg(long, value_name = "WHAT", default_value = "peak")]
    pub(crate) weigh: HeapWeigh,

    /// With --sampled: write the shim's raw profile (JSON) here, for `perfkit heap --from`.
    #[arg(long, value_name = "FILE", conflicts_with_all = MASSIF_ONLY)]
    pub(crate) save: Option<PathBuf>,

    /// Count mapped pages (mmap/brk) instead of malloc'd blocks (custom allocators).
    #[arg(long)]
    pub(crate) pages_as_heap: bool,

    /// Follow exec and child processes, and report the command's own process: for a wrapper
    /// that execs the real program (a pyenv or rbenv shim, env, a script ending in exec),
    /// which massif otherwise loses (it then writes no profile).
    #[arg(long)]
    pub(crate) trace_children: bool,

    /// Also measure stacks (slow).
    #[arg(long)]
    pub(crate) stacks: bool,

    /// Merge sites below this percentage of the heap (massif's default 1.0).
    #[arg(long, value_name = "PERCENT")]
    pub(crate) threshold: Option<f64>,

    /// Maximum call-path depth (massif's default 30).
    #[arg(long, value_name = "N")]
    pub(crate) depth: Option<u32>,

    /// Keep massif.out here (for `ms_print` or massif-visualizer).
    #[arg(long, value_name = "FILE")]
    pub(crate) massif_out: Option<PathBuf>,

    /// Print `ms_print`'s text report (with its ASCII graph) instead of perfkit's summary.
    #[arg(long, conflicts_with = "json")]
    pub(crate) ms_print: bool,

    /// How many allocation sites to print.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub(crate) top: usize,

    #[command(flatten)]
    pub(crate) report: ReportArgs,

    /// Print the report as JSON: into --report FILE, or on standard error, which then holds
    /// only the JSON (no notes; the program's standard error goes into it as `program_stderr`).
    #[arg(long)]
    pub(crate) json: bool,

    /// No notes.
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
}

/// `perfkit syscalls` options.
#[derive(Debug, Args)]
pub(crate) struct SyscallsArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,

    /// Analyse strace output recorded elsewhere instead of tracing: an `strace -c [-w]` table
    /// or an `strace [-f] [-tt] -T` trace (the kind is detected).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["command", "pid", "trace", "wall_clock", "filter"]
    )]
    pub(crate) from: Option<PathBuf>,

    /// Trace every call with its duration and report latency percentiles per syscall.
    #[arg(long)]
    pub(crate) trace: bool,

    /// Time syscalls by wall clock (includes time blocked) instead of system CPU time.
    #[arg(short = 'w', long, conflicts_with = "trace")]
    pub(crate) wall_clock: bool,

    /// Only these syscalls (strace -e trace= syntax: `openat,read`, `%file`, `%network`).
    #[arg(short = 'e', long, value_name = "EXPR")]
    pub(crate) filter: Option<String>,

    /// How many syscalls to print (0: all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub(crate) top: usize,

    #[command(flatten)]
    pub(crate) report: ReportArgs,

    /// Print the report as JSON: into --report FILE, or on standard error, which then holds
    /// only the JSON (no notes; the program's standard error goes into it as `program_stderr`).
    #[arg(long)]
    pub(crate) json: bool,

    /// No notes.
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
}

/// `perfkit libcalls` options.
#[derive(Debug, Args)]
pub(crate) struct LibcallsArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,

    /// ltrace -x symbol pattern (repeatable), e.g. `malloc+free@libc.so*` or `*@libz.so*`.
    #[arg(short = 'x', long = "pattern", value_name = "PATTERN")]
    pub(crate) patterns: Vec<String>,

    /// Trace only the -x symbols, not calls through PLT stubs.
    #[arg(long)]
    pub(crate) no_plt: bool,

    /// How many functions to print (0: all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub(crate) top: usize,

    #[command(flatten)]
    pub(crate) report: ReportArgs,

    /// Print the report as JSON: into --report FILE, or on standard error, which then holds
    /// only the JSON (no notes; the program's standard error goes into it as `program_stderr`).
    #[arg(long)]
    pub(crate) json: bool,

    /// No notes.
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

/// `PERFKIT_EXPORT_LAYOUT`, for scripts that only swap the word hyperfine: unset or empty is
/// hyperfine1.
fn layout_from_environment() -> Result<LayoutArg, perfkit_sys::SysError> {
    let value = std::env::var_os("PERFKIT_EXPORT_LAYOUT").unwrap_or_default();
    match value.to_str() {
        Some("" | "hyperfine1") => Ok(LayoutArg::Hyperfine1),
        Some("hyperfine2") => Ok(LayoutArg::Hyperfine2),
        _ => Err(perfkit_sys::SysError::InvalidPlan {
            detail: format!(
                "PERFKIT_EXPORT_LAYOUT={} is not a layout: set it to hyperfine1 or hyperfine2, or unset it",
                value.to_string_lossy()
            ),
        }),
    }
}

/// An export's file, where `-` is standard output as in hyperfine.
#[allow(clippy::unnecessary_wraps)] // clap takes a value parser that returns a Result.
fn parse_export(text: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(if text == "-" {
        "/dev/stdout"
    } else {
        text
    }))
}

impl Cli {
    /// The command line with what its flags imply settled. A JSON report on standard error
    /// carries nothing else there, so perfkit's notes are left out (the program's own
    /// messages go into the document).
    pub(crate) fn settled(mut self) -> Cli {
        let (quiet, json, report) = match &mut self.command {
            Commands::Record(a) => (&mut a.quiet, a.json, &a.report),
            Commands::Stat(a) => (&mut a.quiet, a.json, &a.report),
            Commands::Heap(a) => (&mut a.quiet, a.json, &a.report),
            Commands::Syscalls(a) => (&mut a.quiet, a.json, &a.report),
            Commands::Libcalls(a) => (&mut a.quiet, a.json, &a.report),
            _ => return self,
        };
        *quiet |= json && report.report.is_none();
        self
    }
}

impl Commands {
    /// What the command line says about a program that turns out to be missing.
    pub(crate) fn not_found_hint(&self) -> NotFoundHint {
        match self {
            Commands::Bench(a) => NotFoundHint::Bench {
                env_sets_path: a.env.iter().any(|e| {
                    e.split_whitespace()
                        .any(|w| w.trim_start_matches(['\'', '"']).starts_with("PATH="))
                }),
                words: if a.commands.len() > 1 {
                    (a.commands.iter())
                        .filter(|c| !c.contains(char::is_whitespace))
                        .cloned()
                        .collect()
                } else {
                    Vec::new()
                },
            },
            _ => NotFoundHint::Shell,
        }
    }
}

/// Why a program may be missing, from the command line: see [`NotFoundHint::for_program`].
pub(crate) enum NotFoundHint {
    /// A profiler's `-- COMMAND`, where shell syntax is the likely cause.
    Shell,
    /// `perfkit bench`'s commands.
    Bench {
        /// `--env` sets `PATH`, which is where the programs are looked for.
        env_sets_path: bool,
        /// With several commands, those that are a single word: a command split by missing
        /// quotes looks like that.
        words: Vec<String>,
    },
}

impl NotFoundHint {
    /// What to say when `program` was not found.
    fn for_program(&self, program: &str) -> Option<&'static str> {
        match self {
            NotFoundHint::Shell => Some(
                "pipes, redirections and shell builtins need a shell: give sh -c '...' as the command",
            ),
            // A path was never looked up in PATH, and was not split from anything.
            NotFoundHint::Bench { .. } if program.contains('/') => None,
            NotFoundHint::Bench {
                env_sets_path: true,
                ..
            } => Some("--env sets PATH, and the commands are looked for there"),
            NotFoundHint::Bench { words, .. } if words.iter().any(|w| w == program) => {
                Some("each command is one argument: quote it, as in perfkit bench 'rg -F main f'")
            }
            NotFoundHint::Bench { .. } => None,
        }
    }
}

// From flags to the libraries' options: each conversion once, next to the flags it reads.

impl TargetArgs {
    /// The library target of `--pid`/`--duration` or `-- COMMAND`, and how to name it in
    /// messages. `command` and `verb` fill the error for neither (`record`, "profile").
    pub(crate) fn target(
        &self,
        command: &str,
        verb: &str,
    ) -> anyhow::Result<(perfkit_profilers::Target, String)> {
        use perfkit_profilers::Target;
        let target = match (self.pid.is_empty(), self.command.is_empty()) {
            (false, _) => Target::pids(self.pid.iter().copied(), self.duration),
            (true, false) => Target::command(self.command.iter().cloned()),
            (true, true) => anyhow::bail!(
                "nothing to {verb}: give a command after `--` (perfkit {command} -- ./my-app) or --pid PID"
            ),
        };
        let what = target.describe();
        Ok((target, what))
    }
}

impl FoldArgs {
    /// How to fold perf's samples; `per_process` from the command's own flag.
    pub(crate) fn options(&self, per_process: bool) -> perfkit_profilers::perf::FoldOptions {
        use perfkit_profilers::perf::CountUnit;
        perfkit_profilers::perf::FoldOptions {
            inline: self.inline,
            unit: if self.period {
                CountUnit::Period
            } else {
                CountUnit::Samples
            },
            per_process,
            per_thread: self.tid,
            annotate_kernel: self.kernel,
            annotate_jit: self.jit,
            include_addrs: self.addrs,
        }
    }
}

impl FlameArgs {
    /// How to draw the flamegraph.
    pub(crate) fn options(&self) -> perfkit_profilers::flamegraph::FlamegraphOptions {
        let defaults = perfkit_profilers::flamegraph::FlamegraphOptions::default();
        perfkit_profilers::flamegraph::FlamegraphOptions {
            title: self.title.clone().unwrap_or(defaults.title),
            subtitle: self.subtitle.clone(),
            palette: self.palette.clone(),
            min_width: self.min_width,
            inverted: self.inverted,
            flame_chart: self.flame_chart,
            reverse: self.reverse,
            count_name: self.count_name.clone().unwrap_or(defaults.count_name),
            width: self.width,
        }
    }
}

impl CheckArgs {
    /// The report's format: `--json` is `--format json`.
    pub(crate) fn report_format(&self) -> ReportFormat {
        if self.json {
            ReportFormat::Json
        } else {
            self.format
        }
    }
}

impl PolicyArgs {
    /// The regression policy, checked.
    pub(crate) fn policy(&self) -> Result<perfkit_regress::Policy, perfkit_regress::RegressError> {
        let mut policy = perfkit_regress::Policy::with_threshold(self.threshold);
        if !self.metrics.is_empty() {
            // The metrics the user names are judged as named.
            policy.skip_unsupported_tails = false;
            policy.rules = (self.metrics.iter().flatten())
                .map(|&(metric, own)| perfkit_regress::MetricRule {
                    metric,
                    threshold: own.unwrap_or(self.threshold),
                })
                .collect();
        }
        policy.alpha = self.alpha;
        policy.min_samples = self.min_samples;
        policy.validate()?;
        Ok(policy)
    }
}

impl BenchArgs {
    /// The commands as texts: those given, or the one after `--` with its words quoted back
    /// (so that it splits into the same words).
    pub(crate) fn command_texts(&self) -> anyhow::Result<Vec<String>> {
        // hyperfine 1's `-S SHELL`: the shell is not a command.
        let commands = &self.commands[usize::from(self.shell_after_s().is_some())..];
        match (commands.is_empty(), self.argv.is_empty()) {
            (true, true) => anyhow::bail!(
                "no command to benchmark: give one or more quoted commands, or one after --"
            ),
            (_, true) => Ok(commands.to_vec()),
            (true, false) => Ok(vec![
                perfkit_sys::CommandSpec::from_argv(self.argv.clone())?.to_string(),
            ]),
            (false, false) => anyhow::bail!(
                "commands given both as arguments ({}) and after --: give quoted commands, or one command after --",
                commands.join(", ")
            ),
        }
    }

    /// Refuses a second export to standard output (`-`), or one beside `--json`'s document
    /// or the commands' own output: one export at most goes there, alone, so that it can be
    /// read as it is (the text report then goes to standard error). `on_stdout` tells, by
    /// the export's index in [`BenchArgs::exports`] and its path, whether it writes there:
    /// asked by name first, for a message that names `-`, then by descriptor, for /dev/fd/1.
    pub(crate) fn check_stdout_exports(
        &self,
        on_stdout: impl Fn(usize, &Path) -> bool,
    ) -> anyhow::Result<()> {
        let flags = [
            "--export-json",
            "--export-csv",
            "--export-markdown",
            "--export-asciidoc",
            "--export-orgmode",
            "--export-svg",
        ];
        let on_stdout: Vec<&str> = (flags.iter().zip(self.exports()).enumerate())
            .filter(|(i, (_, (path, _)))| path.is_some_and(|p| on_stdout(*i, p)))
            .map(|(_, (flag, _))| *flag)
            .collect();
        if on_stdout.len() > 1 {
            anyhow::bail!(
                "{} all write to standard output (-), where one export goes alone: send the others to files",
                on_stdout.join(" and ")
            );
        }
        if let (true, Some(flag)) = (self.json, on_stdout.first()) {
            anyhow::bail!(
                "--json prints its document on standard output, where {flag} - would write too: send that export to a file"
            );
        }
        let shown =
            self.show_output || (self.output.iter()).any(|o| o == "inherit" || o == "/dev/stdout");
        if let (true, Some(flag)) = (shown, on_stdout.first()) {
            anyhow::bail!(
                "the commands' output goes to standard output (--show-output, --output=inherit), where {flag} - would write too: send that export to a file"
            );
        }
        Ok(())
    }

    /// The exports asked for, each with its format, in a fixed order.
    pub(crate) fn exports(
        &self,
    ) -> [(Option<&std::path::Path>, perfkit_sys::export::ExportFormat); 6] {
        use perfkit_sys::export::{ExportFormat, Markup};
        [
            (self.export_json.as_deref(), ExportFormat::Json),
            (self.export_csv.as_deref(), ExportFormat::Csv),
            (
                self.export_markdown.as_deref(),
                ExportFormat::Markup(Markup::Markdown),
            ),
            (
                self.export_asciidoc.as_deref(),
                ExportFormat::Markup(Markup::Asciidoc),
            ),
            (
                self.export_orgmode.as_deref(),
                ExportFormat::Markup(Markup::Orgmode),
            ),
            (self.export_svg.as_deref(), ExportFormat::Svg),
        ]
    }

    /// The tables' unit and order, and the metric hyperfine 2's scripts take first.
    pub(crate) fn table_style(&self) -> Result<perfkit_sys::export::Style, perfkit_sys::SysError> {
        use perfkit_sys::export::{SortOrder, Style, TimeUnit};
        let unit = self.time_unit.map(|u| match u {
            TimeUnitArg::Microsecond => TimeUnit::Microsecond,
            TimeUnitArg::Millisecond => TimeUnit::Millisecond,
            TimeUnitArg::Second => TimeUnit::Second,
            TimeUnitArg::Minute => TimeUnit::Minute,
            TimeUnitArg::Hour => TimeUnit::Hour,
        });
        let sort = match self.sort {
            SortArg::Auto => SortOrder::Auto,
            SortArg::Command => SortOrder::Command,
            SortArg::MeanTime => SortOrder::MeanTime,
        };
        let layout = match self.export_layout {
            Some(layout) => layout,
            None => layout_from_environment()?,
        };
        let layout = match layout {
            LayoutArg::Hyperfine1 => perfkit_sys::export::Layout::Hyperfine1,
            LayoutArg::Hyperfine2 => perfkit_sys::export::Layout::Hyperfine2,
        };
        Style {
            unit,
            sort,
            layout,
            ..Style::default()
        }
        .with_metrics(&self.hyperfine_metrics)
    }

    /// Whether the progress bar shows, and whether the results are printed, by --style and
    /// --quiet.
    pub(crate) fn shows(&self) -> (bool, bool) {
        let style = self.style.unwrap_or(StyleArg::Auto);
        let progress =
            !self.quiet && matches!(style, StyleArg::Auto | StyleArg::Full | StyleArg::Nocolor);
        (progress, style != StyleArg::None || self.json)
    }

    /// The shell hyperfine 1's `-S SHELL` named: with -S, a first command that names a shell
    /// while more commands follow.
    fn shell_after_s(&self) -> Option<&str> {
        let first = self.commands.first()?;
        let more = self.commands.len() > 1 || !self.argv.is_empty();
        (self.default_shell && more && perfkit_sys::shell::names_a_shell(first))
            .then_some(first.as_str())
    }

    /// Which commands run through a shell, by --shell and -N.
    pub(crate) fn shell(&self) -> Result<perfkit_sys::shell::Shell, perfkit_sys::SysError> {
        use perfkit_sys::shell::Shell;
        let named = match self.shell_after_s() {
            Some(shell) => {
                note!(
                    "perfkit: -S {shell}: '{shell}' is taken as the shell (hyperfine 1's -S SHELL); hyperfine 2's -S takes no value"
                );
                Some(shell)
            }
            None => self.default_shell.then_some("default"),
        };
        match (self.shell.as_deref().or(named), self.no_shell) {
            (_, true) => Ok(Shell::None),
            (Some(value), false) => Shell::parse(value),
            (None, false) => Ok(Shell::Auto),
        }
    }

    /// The commands (`commands`, from [`BenchArgs::command_texts`]) and their helpers as
    /// given, over `parameters`, run as `shell` says.
    pub(crate) fn texts<'a>(
        &'a self,
        commands: &'a [String],
        parameters: &'a perfkit_sys::params::Parameters,
        shell: &'a perfkit_sys::shell::Shell,
    ) -> perfkit_sys::CommandTexts<'a> {
        perfkit_sys::CommandTexts {
            commands,
            names: &self.names,
            prepare: &self.prepare,
            conclude: &self.conclude,
            setup: &self.setup,
            cleanup: &self.cleanup,
            shell,
            parameters: (*parameters != perfkit_sys::params::Parameters::None)
                .then_some(parameters),
            reference: (self.reference.as_deref())
                .map(|command| (command, self.reference_name.as_deref())),
            env: &self.env,
        }
    }

    /// The parameters of --parameter-scan or --parameter-list.
    pub(crate) fn parameters(&self) -> perfkit_sys::params::Parameters {
        use perfkit_sys::params::Parameters;
        if let [name, min, max] = &self.parameter_scan[..] {
            return Parameters::Scan {
                name: name.clone(),
                min: min.clone(),
                max: max.clone(),
                step: self.parameter_step_size.clone(),
            };
        }
        if self.parameter_list.is_empty() {
            return Parameters::None;
        }
        Parameters::Lists(
            self.parameter_list
                .chunks_exact(2)
                .map(|pair| (pair[0].clone(), Parameters::split_list(&pair[1])))
                .collect(),
        )
    }

    /// Sets how many runs, in which order, with which limits.
    pub(crate) fn schedule(
        &self,
        plan: &mut perfkit_sys::BenchPlan,
    ) -> Result<(), perfkit_sys::SysError> {
        use perfkit_sys::{Order, RunCount};
        plan.runs = match self.runs {
            Some(n) => RunCount::Exact(n),
            None => RunCount::Auto {
                // hyperfine lowers the implicit minimum to a lower --max-runs.
                min: (self.min_runs).unwrap_or_else(|| self.max_runs.map_or(10, |m| m.min(10))),
                max: self.max_runs,
                duration: self.duration,
            },
        };
        plan.warmup = self.warmup;
        plan.timeout = self.timeout;
        plan.ignore_failure = match &self.ignore_failure {
            Some(mode) => perfkit_sys::IgnoreFailure::parse(mode)?,
            None => perfkit_sys::IgnoreFailure::None,
        };
        plan.affinity = (self.affinity.as_deref())
            .map(perfkit_sys::affinity::CpuSet::parse)
            .transpose()?;
        // Setup and cleanup run around each command's runs, as hyperfine runs them: the runs
        // of one command must then come together.
        let around = !self.setup.is_empty() || !self.cleanup.is_empty();
        plan.order = match self.order {
            _ if self.no_interleave => Order::Sequential,
            None if around => Order::Sequential,
            Some(OrderArg::Interleaved | OrderArg::Random) if around => {
                return Err(perfkit_sys::SysError::InvalidPlan {
                    detail: "--setup and --cleanup run around each command's runs, which interleaved or random runs cannot keep: leave --order out, and the runs go command by command".into(),
                });
            }
            None | Some(OrderArg::Interleaved) => Order::Interleaved,
            Some(OrderArg::Sequential) => Order::Sequential,
            Some(OrderArg::Random) => Order::Random,
        };
        plan.seed = self.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
        Ok(())
    }
}

impl RecordArgs {
    /// What to sample, by the flags.
    pub(crate) fn event_choice(&self) -> perfkit_profilers::perf::EventChoice {
        use perfkit_profilers::perf::EventChoice;
        (self.event.clone()).map_or(EventChoice::Auto, EventChoice::Named)
    }

    /// The recording the flags ask for, of `target`, into `data`.
    pub(crate) fn record(
        &self,
        target: perfkit_profilers::Target,
        data: &std::path::Path,
    ) -> perfkit_profilers::perf::Record {
        let record = perfkit_profilers::perf::Record::new(target)
            .frequency(self.frequency)
            .event(self.event_choice())
            .call_graph(self.call_graph())
            .bpf_events(self.bpf_events)
            .output(data);
        if self.no_compress {
            record.compress(false)
        } else {
            record
        }
    }

    /// The call-graph mode, by the flags.
    pub(crate) fn call_graph(&self) -> perfkit_profilers::perf::CallGraph {
        (self.call_graph).unwrap_or(perfkit_profilers::perf::CallGraph::DEFAULT)
    }
}

impl HeapArgs {
    /// The sampled run the flags ask for.
    pub(crate) fn sampled_heap(&self) -> perfkit_profilers::heap::SampledHeap {
        let mut heap = perfkit_profilers::heap::SampledHeap::command(self.command.iter().cloned());
        if let Some(interval) = self.interval {
            heap = heap.interval(interval as u64);
        }
        if let Some(seed) = self.seed {
            heap = heap.seed(seed);
        }
        heap
    }

    /// The massif run the flags ask for.
    pub(crate) fn massif(&self) -> perfkit_profilers::massif::Massif {
        let mut massif = perfkit_profilers::massif::Massif::command(self.command.iter().cloned())
            .pages_as_heap(self.pages_as_heap)
            .follow_exec(self.trace_children)
            .stacks(self.stacks);
        if let Some(t) = self.threshold {
            massif = massif.threshold(t);
        }
        if let Some(d) = self.depth {
            massif = massif.depth(d);
        }
        massif
    }
}

impl SyscallsArgs {
    /// The strace run the flags ask for, of `target`.
    pub(crate) fn strace(
        &self,
        target: perfkit_profilers::Target,
    ) -> perfkit_profilers::strace::Strace {
        use perfkit_profilers::strace::{Strace, TraceMode};
        let mode = if self.trace {
            TraceMode::Latency
        } else {
            TraceMode::Summary
        };
        let strace = Strace::new(target).mode(mode).wall_clock(self.wall_clock);
        match &self.filter {
            Some(filter) => strace.filter(filter.clone()),
            None => strace,
        }
    }
}

impl BenchArgs {
    /// Where the measured runs' output goes, and whether to probe `/dev/null`.
    /// Sets where each benchmark's output goes: one `--output` for all, or one per benchmark
    /// (as hyperfine takes them), and whether to probe `/dev/null`.
    pub(crate) fn program_outputs(&self, plan: &mut perfkit_sys::BenchPlan) -> anyhow::Result<()> {
        if let [_, _, ..] = &self.output[..] {
            if self.output.len() != plan.targets.len() {
                anyhow::bail!(
                    "{} --output given for {} benchmarks: give one for all, or one per benchmark",
                    self.output.len(),
                    plan.targets.len()
                );
            }
            for (target, text) in plan.targets.iter_mut().zip(&self.output) {
                target.output = Some(program_output(Some(text), false, self.json)?.0);
            }
            plan.probe_output = false;
            return Ok(());
        }
        let first = self.output.first().map(String::as_str);
        (plan.output, plan.probe_output) = program_output(first, self.show_output, self.json)?;
        Ok(())
    }
}

/// Where the measured runs' standard output goes, and whether to probe for programs that do
/// less into `/dev/null` (only when the user did not choose).
fn program_output(
    output: Option<&str>,
    show_output: bool,
    json: bool,
) -> anyhow::Result<(perfkit_sys::ProgramOutput, bool)> {
    use perfkit_sys::ProgramOutput;
    let chosen = match (output, show_output) {
        (Some(text), _) => Some(ProgramOutput::parse(text).resolved(None)?),
        (None, true) => Some(ProgramOutput::Inherit),
        (None, false) => None,
    };
    if json && chosen == Some(ProgramOutput::Inherit) {
        anyhow::bail!(
            "--json prints only JSON on standard output, so the program's output cannot go there: use --output=pipe or --output=FILE"
        );
    }
    let probe = chosen.is_none();
    Ok((chosen.unwrap_or_default(), probe))
}

impl AnalyzeArgs {
    /// The analysis the flags ask for. The baseline, the command to compare with and the
    /// runs' standard input are the caller's to set.
    pub(crate) fn options(&self) -> anyhow::Result<perfkit_analyze::AnalyzeOptions> {
        let policy = self.policy.policy()?;
        let (output, probe_output) = self.program_output()?;
        Ok(perfkit_analyze::AnalyzeOptions {
            runs: self.runs,
            warmup: self.warmup,
            profile: !self.no_profile,
            syscalls: !self.no_syscalls,
            heap: self.heap.is_some(),
            heap_mode: match self.heap {
                Some(HeapModeArg::Exact) => perfkit_analyze::HeapMode::Exact,
                _ => perfkit_analyze::HeapMode::Sampled,
            },
            baseline: None,
            policy,
            io: perfkit_sys::ProgramIo {
                input: None,
                output,
            },
            probe_output,
            alternative: None,
        })
    }

    /// Where the analysed runs' output goes: a file or a pipe, never perfkit's own output,
    /// where it would mix with the report; and whether to probe `/dev/null`.
    pub(crate) fn program_output(&self) -> anyhow::Result<(perfkit_sys::ProgramOutput, bool)> {
        let (output, probe) = program_output(self.output.as_deref(), false, self.json)?;
        if output == perfkit_sys::ProgramOutput::Inherit {
            anyhow::bail!(
                "--output inherit would mix the program's output with perfkit's report: use pipe or a FILE"
            );
        }
        Ok((output, probe))
    }
}

impl From<CompareArg> for perfkit_profilers::folded::CompareMode {
    fn from(arg: CompareArg) -> Self {
        match arg {
            CompareArg::Functions => Self::Functions,
            CompareArg::Stacks => Self::Stacks,
            CompareArg::Auto => Self::Auto,
        }
    }
}

#[cfg(target_os = "linux")]
impl PoolArgs {
    /// How tasks and results are framed.
    pub(crate) fn protocol(&self) -> perfkit_pool::Protocol {
        if self.framed {
            perfkit_pool::Protocol::Framed
        } else {
            perfkit_pool::Protocol::Lines
        }
    }

    /// The pool the options describe, for `command`.
    pub(crate) fn builder(&self, command: &std::process::Command) -> perfkit_pool::PoolBuilder {
        let mut builder = perfkit_pool::ProcessPool::builder(command)
            .max_batch(self.batch)
            .queue_capacity(self.queue.max(1))
            .ordered(self.ordered)
            .protocol(self.protocol())
            .retries(self.retries)
            .quarantine_after(self.quarantine_after)
            .pin_workers(self.pin);
        if let Some(n) = self.workers {
            builder = builder.workers(n);
        }
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        if let Some(n) = self.max_tasks_per_worker {
            builder = builder.max_tasks_per_worker(n);
        }
        builder
    }
}

#[cfg(target_os = "linux")]
impl CopyArgs {
    /// How to move the bytes.
    pub(crate) fn transfer_options(&self) -> perfkit_zerocopy::TransferOptions {
        perfkit_zerocopy::TransferOptions {
            method: match self.method {
                MethodArg::Auto => None,
                MethodArg::Forced(method) => Some(method),
            },
            pipe_size: (self.pipe_size).map_or(
                perfkit_zerocopy::PipeSize::Auto,
                perfkit_zerocopy::PipeSize::Bytes,
            ),
        }
    }
}

// The command line's own messages: clap's, and the `hint:` lines that name the flags which
// address an error or a warning.

/// Prints clap's help, version or usage error, and exits as clap would (0 for help and
/// version, 2 for a usage error); a failed write of help to standard output is an error.
pub(crate) fn clap_exit(error: &clap::Error) -> std::process::ExitCode {
    use crate::exit::EXIT_USAGE;
    use clap::error::ErrorKind;
    use std::io::IsTerminal as _;
    use std::process::ExitCode;
    let to_stdout = matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    );
    // Colours only for a terminal: escape codes in a pipe or a file are noise.
    let terminal = if to_stdout {
        std::io::stdout().is_terminal()
    } else {
        std::io::stderr().is_terminal()
    };
    let styled = error.render();
    let text = if terminal && std::env::var_os("NO_COLOR").is_none() {
        styled.ansi().to_string()
    } else {
        styled.to_string()
    };
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => match crate::output::print(&text) {
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

/// The options that address an error, for the `hint:` line: libraries say what is wrong
/// without naming perfkit's flags.
pub(crate) fn hint(error: &anyhow::Error, not_found: &NotFoundHint) -> Option<&'static str> {
    flag_hint(error).or_else(|| sys_hint(error, not_found))
}

fn flag_hint(error: &anyhow::Error) -> Option<&'static str> {
    use perfkit_profilers::{Empty, ProfilerError};
    use perfkit_regress::{Misuse, RegressError};
    error.chain().find_map(|cause| {
        if let Some(e) = cause.downcast_ref::<perfkit_sys::SysError>() {
            return match e {
                perfkit_sys::SysError::Stdin { .. } => {
                    Some("--input FILE gives every run the same input")
                }
                perfkit_sys::SysError::HelperCount { .. } => Some(
                    "give --prepare, --conclude, --setup and --cleanup once, or once per command",
                ),
                perfkit_sys::SysError::NameCount { .. } => {
                    Some("give --command-name once per command, in the commands' order")
                }
                perfkit_sys::SysError::Parameter { .. } => Some(
                    "-P VAR MIN MAX [-D STEP] scans numbers; -L VAR a,b,c lists values; `{VAR}` in a command takes each",
                ),
                perfkit_sys::SysError::InvalidOutput { .. } => {
                    Some("--output null|pipe|inherit|FILE chooses where the program's output goes")
                }
                _ => None,
            };
        }
        match cause.downcast_ref::<RegressError>() {
            Some(RegressError::NothingInCommon { .. } | RegressError::DuplicateName { .. }) => {
                return Some("perfkit bench and hyperfine name each command with --command-name");
            }
            Some(RegressError::Usage(Misuse::Alpha(_))) => {
                return Some("--alpha sets the significance level");
            }
            Some(RegressError::Usage(Misuse::MinSamples(_))) => {
                return Some("--min-samples sets the fewest runs a verdict needs");
            }
            _ => {}
        }
        #[cfg(target_os = "linux")]
        if let Some(perfkit_pool::PoolError::Listen { .. }) = cause.downcast_ref() {
            return Some("--metrics-addr takes HOST:PORT, e.g. 127.0.0.1:9898; port 0 picks one");
        }
        if let Some(perfkit_analyze::AnalyzeError::TooFewRuns(_)) = cause.downcast_ref() {
            return Some("--runs sets how many times the command is measured");
        }
        match cause.downcast_ref::<ProfilerError>() {
            Some(ProfilerError::NoMassifProfile {
                followed_exec: false,
                ..
            }) => Some("perfkit heap --trace-children follows exec"),
            Some(ProfilerError::CannotPreload { .. }) => {
                Some("perfkit heap --exact -- CMD runs it under valgrind massif")
            }
            Some(ProfilerError::InvalidSetting(setting)) => setting_hint(setting),
            Some(ProfilerError::PeriodOverflow) => Some("without --period the counts are samples"),
            Some(ProfilerError::NoSamples(Empty::Recording(_))) => {
                Some("-F/--frequency HZ samples more often")
            }
            _ => None,
        }
    })
}

/// The option that sets what a library found out of range.
fn setting_hint(setting: &perfkit_profilers::Setting) -> Option<&'static str> {
    use perfkit_profilers::Setting;
    Some(match setting {
        Setting::Frequency(_) => "-F/--frequency sets the sampling frequency",
        Setting::Compression(_) => "--no-compress records without compression",
        Setting::MassifThreshold(_) => "--threshold sets massif's threshold",
        Setting::MassifDepth => "--depth sets massif's call-path depth",
        Setting::LtracePattern(_) => "-x/--pattern gives ltrace a pattern",
        Setting::ZeroDuration => "--duration sets how long to stay attached",
        Setting::RepeatAttached => "--repeat works with a command, not with --pid",
        _ => return None,
    })
}

fn sys_hint(error: &anyhow::Error, not_found: &NotFoundHint) -> Option<&'static str> {
    // perfkit analyze has neither --ignore-failure nor --show-output, and names its own fixes.
    if error
        .chain()
        .any(|c| c.downcast_ref::<perfkit_analyze::AnalyzeError>().is_some())
    {
        return None;
    }
    match crate::exit::sys_error(error)? {
        perfkit_sys::SysError::CommandNotFound { program } => not_found.for_program(program),
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

/// A warning with the options that address it.
pub(crate) fn warning_with_hint(warning: &perfkit_sys::BenchWarning) -> String {
    let hint = match warning {
        perfkit_sys::BenchWarning::FailedRuns { .. } => " (--ignore-failure)",
        perfkit_sys::BenchWarning::LessWorkIntoNull { .. } => {
            " (--output=pipe measures the real work; --output=null keeps /dev/null)"
        }
        perfkit_sys::BenchWarning::SlowFirstRun { .. } => ": consider --warmup 3 or --prepare",
        perfkit_sys::BenchWarning::TimedOutRuns { .. } => "",
    };
    format!("{warning}{hint}")
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
