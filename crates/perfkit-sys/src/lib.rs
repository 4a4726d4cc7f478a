//! The operating-system side of perfkit (Linux first).
//!
//! - [`run`]: spawn a command and measure it — wall time, user/system CPU, peak RSS, page
//!   faults, context switches, I/O bytes and block-I/O delay (where the kernel provides it;
//!   `None` otherwise, never a made-up 0), exit status or signal, with an optional timeout.
//! - [`sample_process`]: CPU %, RSS and I/O wait of a running process over an interval.
//! - [`run_bench`]: benchmark commands (warm-up, prepare/setup/cleanup, interleaved or random
//!   order, automatic run count, relative speed with a confidence interval): the engine of
//!   `perfkit bench`.
//! - [`procfs`]: parsers for the `/proc` files above, usable on captured text.
//!
//! - [`tune`]: kernel parameters (sysctl) planned, applied with a rollback file, and rolled
//!   back; [`resource_limits`] and [`raise_nofile_limit`].
//! - [`OutputPath`]: output files that are safe to name as root (a device is written in place,
//!   a symlink's target replaced, a regular file replaced atomically), checked before the work.
//! - [`signals`]: Ctrl-C, `SIGTERM` and `SIGHUP` remove temporary files before the process
//!   dies of them, or wait while a command saves what it has.
//!
//! # Example
//!
//! ```
//! use std::process::Command;
//! use perfkit_sys::{run, RunOptions};
//!
//! let outcome = run(Command::new("sh").args(["-c", "exit 3"]), RunOptions::default()).unwrap();
//! assert_eq!(outcome.status.code(), Some(3));
//! println!("wall {:?}, user {:?}, peak RSS {} bytes", outcome.wall, outcome.user, outcome.max_rss_bytes);
//! ```

use std::path::PathBuf;

mod bench;
mod capture;
mod input;
pub mod launch;
mod limits;
mod output;
mod process;
pub mod procfs;
mod sample;
pub mod signals;
mod sink;
mod stdio;
pub mod stdout;
pub mod tune;

pub use bench::{
    BENCH_SCHEMA_VERSION, BenchObserver, BenchPlan, BenchReport, BenchTarget, BenchWarning,
    CommandReport, CommandSpec, CommandTexts, Execution, Executor, IgnoreFailure, Iteration,
    MAX_RUNS, NoObserver, Order, OutputProbe, Phase, ProcessExecutor, RelativeSpeed, Role,
    RunCount, affinity, export, metric, params, run_bench, run_bench_with, shell,
};
pub use capture::{Captured, MAX_CAPTURED, StderrCapture};
pub use input::{LineLimit, read_text_limited};
pub use limits::{LimitsReport, ResourceLimit, limits_text, raise_nofile_limit, resource_limits};
pub use output::{OutputPath, OutputWriter, describe_error, open_hint, os_reason, write_output};
pub use process::{ExitKind, RunOptions, RunOutcome, delay_accounting_enabled, run};
pub use procfs::IoCounters;
pub use sample::{ProcessSample, sample_process};
pub use sink::{
    ReportSink, check_named_outputs, check_outputs, refuse_overwriting_inputs,
    refuse_shared_destinations,
};
pub use stdio::{ProgramIo, ProgramOutput, STDIN_LIMIT, StdinChoice, StdinNote, StdinSource};

/// `argv` as one line a POSIX shell reads back as the same words (quoted where needed), for
/// echoing a command so that it can be pasted.
///
/// ```
/// assert_eq!(perfkit_sys::quote_command(&["grep".into(), "a b".into(), "f".into()]), "grep 'a b' f");
/// ```
#[must_use]
pub fn quote_command(argv: &[String]) -> String {
    shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
}

/// Finds `program` the way `execvp` would: a name containing `/` is taken as a path, anything
/// else is searched in `PATH`. Returns the path of an existing file with an execute bit, or
/// `None`.
///
/// ```
/// assert!(perfkit_sys::find_program("sh").is_some());
/// assert!(perfkit_sys::find_program("perfkit-no-such-tool").is_none());
/// ```
#[must_use]
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return find_program_on(program, std::ffi::OsStr::new(""));
    }
    // Without PATH, glibc's exec and spawn functions search its default path.
    let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    find_program_on(program, &path)
}

/// Where glibc looks for a program when `PATH` is unset (`confstr(_CS_PATH)`; musl's also
/// starts with `/usr/local/bin`).
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// [`find_program`] searching `search` (a `PATH` value) instead of this process's `PATH`, as
/// a process started with that `PATH` in its environment would.
///
/// ```
/// assert!(perfkit_sys::find_program_on("sh", "/nonexistent:/bin".as_ref()).is_some());
/// assert!(perfkit_sys::find_program_on("sh", "/nonexistent".as_ref()).is_none());
/// ```
#[must_use]
pub fn find_program_on(program: &str, search: &std::ffi::OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.is_empty() {
        return None;
    }
    if program.contains('/') {
        let path = PathBuf::from(program);
        return executable(&path).then_some(path);
    }
    // An empty entry is the working directory, as for execvp; `./` keeps the result a path.
    std::env::split_paths(search)
        .map(|dir| {
            if dir.as_os_str().is_empty() {
                PathBuf::from(".").join(program)
            } else {
                dir.join(program)
            }
        })
        .find(|candidate| executable(candidate))
}

/// [`find_program`] with the reason when it fails: [`SysError::EmptyCommand`],
/// [`SysError::IsADirectory`], [`SysError::NotExecutable`] (a path to a file without an
/// execute bit) or [`SysError::CommandNotFound`]. Use it to reject a command before anything runs.
///
/// ```
/// assert!(perfkit_sys::check_program("sh").is_ok());
/// assert!(perfkit_sys::check_program("perfkit-no-such-tool").is_err());
/// ```
pub fn check_program(program: &str) -> Result<PathBuf, SysError> {
    let search = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    check_program_with(program, find_program(program), &search)
}

/// [`check_program`] searching `search` (a `PATH` value), as [`find_program_on`] does.
///
/// # Errors
/// As [`check_program`].
pub fn check_program_on(program: &str, search: &std::ffi::OsStr) -> Result<PathBuf, SysError> {
    check_program_with(program, find_program_on(program, search), search)
}

fn check_program_with(
    program: &str,
    found: Option<PathBuf>,
    search: &std::ffi::OsStr,
) -> Result<PathBuf, SysError> {
    if program.is_empty() {
        return Err(SysError::EmptyCommand);
    }
    // A file of that name in the search without an execute bit is what execvp would have
    // refused with EACCES: say that rather than that nothing was found.
    let unexecutable = || {
        std::env::split_paths(search)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    };
    found.ok_or_else(|| {
        if program.contains('/') && std::path::Path::new(program).is_dir() {
            SysError::IsADirectory {
                program: program.to_owned(),
            }
        } else if program.contains('/') && std::path::Path::new(program).is_file() {
            SysError::NotExecutable {
                program: program.to_owned(),
            }
        } else if let Some(file) = unexecutable().filter(|_| !program.contains('/')) {
            SysError::NotExecutable {
                program: file.display().to_string(),
            }
        } else {
            SysError::CommandNotFound {
                program: program.to_owned(),
            }
        }
    })
}

/// The message of [`SysError::CommandNotFound`]: a path was looked for only where it points.
fn not_found(program: &str) -> String {
    if program.contains('/') {
        format!("no such program: {program} (check the path)")
    } else {
        format!("command not found: {program} (check the spelling and PATH)")
    }
}

/// Errors of this crate. Each message says what went wrong and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SysError {
    /// The program does not exist (not on `PATH`, or a wrong path).
    #[error("{}", not_found(program))]
    CommandNotFound {
        /// The program that was looked up.
        program: String,
    },
    /// The path names a directory, not a program.
    #[error("{program} is a directory, not a program")]
    IsADirectory {
        /// The path given.
        program: String,
    },
    /// The program exists but may not be executed.
    #[error(
        "permission denied running {program}: make it executable (chmod +x) or run it through an interpreter"
    )]
    NotExecutable {
        /// The program.
        program: String,
    },
    /// Spawning failed for another reason.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for a child failed.
    #[error("waiting for a child process failed: {source}")]
    Wait {
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Reading a `/proc` file failed.
    #[error("cannot read {path}: {source}")]
    Proc {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A `/proc` file did not have the expected format.
    #[error("unexpected format of {what}: {detail}")]
    Parse {
        /// Which file.
        what: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// No process has this PID.
    #[error("no process with PID {pid} (it may have exited)")]
    NoSuchProcess {
        /// The PID.
        pid: u32,
    },
    /// This platform cannot do it.
    #[error("{what} is not supported on this platform (perfkit-sys needs Linux)")]
    Unsupported {
        /// The operation.
        what: &'static str,
    },
    /// An empty command string.
    #[error("empty command: give a program to run, e.g. 'sleep 0.1'")]
    EmptyCommand,
    /// A command string with unbalanced quotes.
    #[error("cannot split {text:?} into arguments: unbalanced quotes")]
    BadQuoting {
        /// The command string.
        text: String,
    },
    /// The input file cannot be opened.
    #[error("cannot open input file {}: {source}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel refused to pin perfkit's thread to the CPUs of `--affinity`.
    #[error("cannot pin the run to CPUs {cpus}: {source}")]
    Affinity {
        /// The CPUs, as `taskset -c` writes them.
        cpus: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The benchmarked runs' standard output cannot be set up.
    #[error("cannot send the program's output to {what}: {source}")]
    Output {
        /// The `--output` destination.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// perfkit's own standard input cannot be handed to the runs.
    #[error("{detail}")]
    Stdin {
        /// What is wrong and what to do.
        detail: String,
    },
    /// An output named on the command line cannot be written (its message names it and why).
    #[error(transparent)]
    Unwritable(std::io::Error),
    /// An output named on the command line is one of the inputs.
    #[error(
        "refusing to write {}: it is the input {} (choose another output file)",
        output.display(),
        input.display()
    )]
    OutputIsInput {
        /// The output.
        output: PathBuf,
        /// The input it is.
        input: PathBuf,
    },
    /// Two outputs are one file.
    #[error(
        "{} and {} are the same file: give each output its own name",
        first.display(),
        second.display()
    )]
    SameOutput {
        /// One output.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// A list of helper commands fits neither one for all nor one per benchmark.
    #[error("{given} {role} commands given for {commands} benchmarks: give one for all, or one per benchmark", role = role.kind())]
    HelperCount {
        /// Which helper.
        role: Role,
        /// Helper commands given.
        given: usize,
        /// Benchmarked commands.
        commands: usize,
    },
    /// More names than commands, or with parameters neither one for all nor one per benchmark.
    #[error("{given} name{} given for {commands} benchmarks: give at most one name per command (with -P or -L: one for all, or one per benchmark)", if *given == 1 { "" } else { "s" })]
    NameCount {
        /// Names given.
        given: usize,
        /// Commands.
        commands: usize,
    },
    /// Benchmark parameters (`-P`, `-L`) that make no sense.
    #[error("invalid parameters: {detail}")]
    Parameter {
        /// What is wrong, and the fix.
        detail: String,
    },
    /// The benchmark settings contradict each other.
    #[error("invalid benchmark settings: {detail}")]
    InvalidPlan {
        /// What is wrong.
        detail: String,
    },
    /// A file named for the measured program's output cannot take it.
    #[error("invalid benchmark settings: output {}: {why}; name a regular file, or use null, pipe or inherit", path.display())]
    InvalidOutput {
        /// The file as named.
        path: PathBuf,
        /// Why it is refused.
        why: String,
    },
    /// A benchmarked or helper command failed.
    #[error("{role} '{name}' failed: {status}{}", if *run > 0 { format!(" (measured run {run})") } else { String::new() })]
    CommandFailed {
        /// The benchmark's name.
        name: String,
        /// Which command of the benchmark failed.
        role: Role,
        /// How it failed.
        status: ExitKind,
        /// The measured run number (1-based), 0 for helpers and warm-up.
        run: u64,
    },
    /// The signal handlers could not be installed.
    #[error("cannot install the handlers for Ctrl-C and SIGTERM: {source}")]
    Signals {
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A signal (Ctrl-C, `SIGTERM`, `SIGHUP`) asked perfkit to stop.
    #[error("interrupted by signal {signal}")]
    Interrupted {
        /// The signal number.
        signal: i32,
    },
    /// Every run of a command hit the timeout, so there is nothing to report.
    #[error("every run of '{name}' timed out: raise the timeout")]
    AllRunsTimedOut {
        /// The benchmark's name.
        name: String,
    },
}

impl SysError {
    /// `true` when a command ran and failed (as opposed to bad input or a command that could
    /// not start): the CLI exits 1 for these and 2 for the rest.
    #[must_use]
    pub fn is_command_failure(&self) -> bool {
        matches!(
            self,
            SysError::CommandFailed { .. } | SysError::AllRunsTimedOut { .. }
        )
    }
}
