//! Typed adapters around real profilers, and flamegraphs.
//!
//! perfkit drives the tools Linux performance engineers already trust and turns their output
//! into typed values. Each tool has a module; the names every module shares are at the root:
//!
//! - [`Tool::locate`]: find `perf`, `valgrind`, `ms_print`, `strace`, `ltrace` (environment
//!   override first, then `PATH`), prove they run, read their versions; a missing tool is an
//!   error that says how to install it.
//! - [`Target`]: what an adapter that runs a program watches, a command it starts or running
//!   PIDs for a while. The adapters share its builder methods (`command`, `pids`,
//!   `discard_stdout`, `program_io`, `extra_args`) and one runner, and differ only in their
//!   tool's arguments and parser.
//! - [`perf`]: the environment check ([`perf::PerfEnvironment`]), [`perf::Record`],
//!   [`perf::fold_perf_data`] (`perf script` streamed through inferno's folder, samples by
//!   default), [`perf::Stat`] (`<not supported>` kept as such), [`perf::perf_report`] and
//!   [`perf::profile_section`] (profile a closure of this process with perf).
//! - [`sampler`]: a CPU sampler inside the program that needs neither perf nor privileges
//!   ([`sampler::Sampler`], [`sampler::profile_section`]), for tests, benchmarks and services.
//! - [`FoldedStacks`]: the folded-stacks format, totals and [`HotFunction`]s; [`folded`] also
//!   compares two profiles. [`load_profile`] reads any of perf.data, perf script or folded.
//! - [`flamegraph`]: SVG flamegraphs through inferno, also differential.
//! - [`massif`]: valgrind massif run and parsed natively (snapshots, peak, top allocation
//!   sites with call paths); `ms_print` text.
//! - [`strace`]: `strace -c` summaries and `-T` traces turned into per-syscall latency
//!   histograms; the processes a program starts.
//! - [`ltrace`]: `ltrace -c` summaries with a default `-x` pattern that sees what Rust
//!   binaries call.
//!
//! # Example
//!
//! Fold a profile and render a flamegraph (here from folded text; [`perf::Record`] and
//! [`perf::fold_perf_data`] produce the same from a real program):
//!
//! ```
//! use perfkit_profilers::{FoldedStacks, flamegraph::{FlamegraphOptions, render_flamegraph}};
//!
//! let folded = FoldedStacks::parse("app;main;parse 70\napp;main;render 30\n")?;
//! assert_eq!(folded.hot_functions(1)[0].name, "parse");
//!
//! let mut svg = Vec::new();
//! render_flamegraph(&folded, &FlamegraphOptions::default(), &mut svg)?;
//! assert!(String::from_utf8_lossy(&svg).contains("parse"));
//! # Ok::<(), perfkit_profilers::ProfilerError>(())
//! ```

use std::path::PathBuf;

pub mod doctor;
pub mod drawing;
pub mod export;
pub mod flamegraph;
pub mod folded;
pub mod heap;
mod interrupt;
pub mod llvm;
mod load;
pub mod ltrace;
pub mod massif;
pub mod perf;
pub mod pprof;
mod render;
pub mod report;
mod runner;
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
pub mod sampler;
pub mod speedscope;
pub mod strace;
mod tool;

pub use folded::{FoldedStacks, HotFunction};
pub use interrupt::InterruptGuard;
pub use load::{input_name, load_pair, load_profile};
pub use runner::Target;
pub use tool::{Tool, ToolInfo, Version};

/// The most bytes of a profile file recorded elsewhere (massif.out, strace output) read from
/// disk.
pub const MAX_PROFILE_FILE_BYTES: u64 = 256 << 20;

// The crate's own modules name each other's items from the root.
pub(crate) use ltrace::LibcallSummary;
pub(crate) use massif::{AllocationSite, MassifProfile, is_library_frame};
pub(crate) use perf::{
    FoldOptions, PerfFold, StatOutcome, StatValue, fold_perf_data, fold_perf_script,
    is_perf_script_header,
};
pub(crate) use strace::{SyscallLatencies, SyscallSummary};

pub use perfkit_sys::ExitKind;

/// Errors of this crate. Each message says what went wrong and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfilerError {
    /// The tool is not installed (or the override points nowhere).
    #[error(
        "{tool} not found (searched {searched}): {hint}; or set {env} to its path",
        hint = tool.install_hint(),
        env = tool.env_override()
    )]
    ToolNotFound {
        /// The tool.
        tool: Tool,
        /// Where we looked (`PATH` or the override variable and its value).
        searched: String,
    },
    /// The program exists but does not work.
    #[error("{tool} at {} does not work: {detail}; {hint}", path.display(), hint = tool.install_hint())]
    ToolBroken {
        /// The tool.
        tool: Tool,
        /// The program that was tried.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The tool ran and failed.
    #[error("{tool} failed: {detail}")]
    ToolFailed {
        /// The tool.
        tool: Tool,
        /// What it said (the relevant lines of its stderr) and its exit status.
        detail: String,
    },
    /// The kernel does not allow what was asked.
    #[error("{0}")]
    NotPermitted(Denial),
    /// A profile holds no samples.
    #[error("{0}")]
    NoSamples(Empty),
    /// inferno refused to draw the profile.
    #[error("inferno could not draw the profile: {detail}")]
    Render {
        /// What inferno said.
        detail: String,
    },
    /// A file or pipe could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The sample periods add up to more than a count holds, so they cannot be the counts.
    #[error(
        "the sample periods in the perf script output add up to more than {}, the most a count can hold; count samples instead",
        u64::MAX
    )]
    PeriodOverflow,
    /// The input is gzip-compressed: a pprof profile, or compressed text.
    #[error(
        "{what} is gzip-compressed (a pprof profile, or compressed text): profiles are read from perf.data, perf script text and folded stacks; give text uncompressed, e.g. through gunzip -c"
    )]
    Compressed {
        /// The input, as messages name it.
        what: String,
    },
    /// The counts add up to more than a file format's numbers hold.
    #[error(
        "the profile's counts add up to {total}, more than a {format} file holds ({}); count samples instead of periods",
        i64::MAX
    )]
    TooLarge {
        /// The format.
        format: &'static str,
        /// The counts summed.
        total: u64,
    },
    /// massif wrote no profile. Unless it followed exec, a command that replaced itself (a
    /// wrapper script, a shell's `exec`) is the likely cause.
    #[error("valgrind failed: massif wrote no profile ({status}){}: {log}", exec_hint(*.followed_exec))]
    NoMassifProfile {
        /// How the program ended.
        status: ExitKind,
        /// Whether massif followed exec.
        followed_exec: bool,
        /// The end of valgrind's log.
        log: String,
    },
    /// perfkit's heap shim was not found.
    #[error(
        "perfkit's heap shim ({name}) was not found (searched {searched}): build it with `cargo build --release -p perfkit-heap-shim` and keep it beside perfkit, or set {env} to its path",
        name = heap::SHIM_NAME,
        env = heap::SHIM_ENV
    )]
    ShimNotFound {
        /// Where perfkit looked.
        searched: String,
    },
    /// The shim's path cannot go into `LD_PRELOAD`, which splits on colons and spaces.
    #[error("the heap shim's path {} holds a colon or a space, which LD_PRELOAD cannot carry: move it, or point {} at a copy elsewhere", path.display(), heap::SHIM_ENV)]
    ShimPath {
        /// The path.
        path: PathBuf,
    },
    /// The sampled heap profiler cannot reach a program.
    #[error("cannot preload the heap sampler into {}: {why}; valgrind massif (the exact heap profiler) runs it", program.display())]
    CannotPreload {
        /// The program.
        program: PathBuf,
        /// Why.
        why: &'static str,
    },
    /// One side of a comparison could not be read.
    #[error("{side} ({})", path.display())]
    Side {
        /// `BEFORE` or `AFTER`.
        side: &'static str,
        /// Its path.
        path: PathBuf,
        /// Why: a `ProfilerError`, boxed as a plain error so that walking the chain of
        /// sources finds it (a `Box<ProfilerError>` would hand on only its own source).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file the user named could not be written; the error names it.
    #[error(transparent)]
    Output(std::io::Error),
    /// A tool's output (or a file given as input) is not in the expected format.
    #[error("cannot parse {what}, line {line}: {message}")]
    Parse {
        /// The format.
        what: &'static str,
        /// The 1-based line number (0 when not line-based).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A setting is out of range or malformed.
    #[error("{0}")]
    InvalidSetting(Setting),
    /// The tool cannot attach to a running process.
    #[error("{tool} cannot attach to a running process: start the program under it instead")]
    CannotAttach {
        /// The tool.
        tool: Tool,
    },
    /// An input path is a directory.
    #[error("{} is a directory: give a perf.data, folded or perf script file", path.display())]
    InputIsDirectory {
        /// The path.
        path: PathBuf,
    },
    /// An input file cannot be opened.
    #[error(
        "cannot open {}: {}{}",
        path.display(),
        perfkit_sys::os_reason(source),
        perfkit_sys::open_hint(source)
    )]
    Open {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An input file does not exist.
    #[error("{} does not exist or is not a file", path.display())]
    MissingInput {
        /// The path.
        path: PathBuf,
    },
    /// A DHAT file was given where a heap profile that perfkit saved was expected.
    #[error(
        "{} is a DHAT file (from valgrind's DHAT, dhat-rs or perfkit's --dhat), which perfkit does not read back: open it in DHAT's viewer, dh_view.html, or give the JSON that `perfkit heap --sampled --save` wrote",
        path.display()
    )]
    DhatFile {
        /// The file, as the user named it.
        path: PathBuf,
    },
    /// An input is not a profile perfkit reads.
    #[error("cannot read {what} as a profile: {source}")]
    NotAProfile {
        /// The input, as the user named it.
        what: String,
        /// Why it could not be read: a `ProfilerError`, boxed as a plain error so that
        /// walking the chain of sources finds it.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Starting or waiting for a process failed.
    #[error(transparent)]
    Sys(#[from] perfkit_sys::SysError),
    /// The in-process sampler cannot start or answer.
    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    #[error(transparent)]
    Sampler(#[from] sampler::SamplerError),
    /// No LLVM tool of rustc's LLVM major was found.
    #[error(
        "rustc uses LLVM {major}, and {tool} must match it: {found}. Install a matching one: \
         `apt-get install llvm-{major}` (Debian/Ubuntu, with apt.llvm.org for new majors) or \
         `rustup component add llvm-tools`, or point {env_var} at one"
    )]
    NoMatchingLlvmTool {
        /// The tool.
        tool: String,
        /// rustc's LLVM major.
        major: u32,
        /// What was found instead.
        found: String,
        /// The variable that overrides the search.
        env_var: String,
    },
}

/// A setting that is out of range or malformed, with the value given.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Setting {
    /// A sampling frequency outside 1..=100000 Hz.
    Frequency(u32),
    /// A call-graph mode that is none of fp, dwarf, dwarf,SIZE, lbr, none.
    CallGraph(String),
    /// Compression asked of a perf that cannot compress (its version).
    Compression(String),
    /// A flamegraph palette inferno does not know.
    Palette(String),
    /// A minimum frame width that is negative or not a number.
    MinWidth(f64),
    /// A massif threshold outside 0–100 percent.
    MassifThreshold(f64),
    /// A massif depth of 0.
    MassifDepth,
    /// Running processes given to the sampled heap profiler.
    HeapAttach,
    /// A sampling interval of 0 bytes.
    HeapInterval,
    /// An empty ltrace pattern.
    LtracePattern(String),
    /// No PID to attach to.
    NoPids,
    /// A zero duration to stay attached.
    ZeroDuration,
    /// Repeated counting of processes perf attaches to, which it cannot start again.
    RepeatAttached,
    /// The flamegraph's output is named for a format (its name) that is also named apart.
    NamedTwice(&'static str),
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Setting::Frequency(hz) => write!(
                f,
                "frequency {hz} Hz is out of range: use 1..=100000 (997 is a good default)"
            ),
            Setting::CallGraph(text) => write!(
                f,
                "invalid call graph {text:?}: use fp, dwarf, dwarf,SIZE (bytes, 8..=65528), lbr or none"
            ),
            Setting::Compression(version) => write!(
                f,
                "this perf ({version}) cannot compress records (needs perf ≥ 5.5 built with zstd): \
                 record without compression"
            ),
            Setting::Palette(name) => write!(
                f,
                "unknown palette {name:?}: use one of {}",
                flamegraph::Palette::NAMES.join(", ")
            ),
            Setting::MinWidth(w) => write!(
                f,
                "minimum frame width {w} is invalid: give pixels ≥ 0 (default 0.1)"
            ),
            Setting::MassifThreshold(t) => {
                write!(f, "massif threshold {t} is not a percentage (0–100)")
            }
            Setting::MassifDepth => f.write_str("massif depth must be at least 1"),
            Setting::HeapAttach => f.write_str(
                "the sampled heap profiler preloads itself when the program starts: give a command, not PIDs",
            ),
            Setting::HeapInterval => {
                f.write_str("the sampling interval must be at least 1 byte (512KiB is the default)")
            }
            Setting::LtracePattern(p) => write!(
                f,
                "empty ltrace pattern {p:?}: use e.g. `malloc+free@libc.so*`"
            ),
            Setting::NoPids => f.write_str("no process to attach to: give at least one PID"),
            Setting::ZeroDuration => f.write_str("the duration must be more than 0 s"),
            Setting::NamedTwice(format) => write!(
                f,
                "the flamegraph's output is named as a {format} file, and another {format} file is named too: name the {format} file once, or give the flamegraph a .svg name"
            ),
            Setting::RepeatAttached => f.write_str(
                "repeated counting needs a command to start again; running processes are counted once",
            ),
        }
    }
}

/// What the kernel does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Denial {
    /// `kernel.perf_event_paranoid` forbids profiling for a normal user.
    PerfParanoid {
        /// The level.
        level: i32,
    },
    /// The process belongs to another user.
    OtherUser {
        /// The process.
        pid: u32,
        /// Its user.
        owner: u32,
        /// perfkit's user.
        me: u32,
    },
    /// Yama lets a normal user trace only its own children.
    PtraceScope {
        /// The tracer.
        tool: Tool,
        /// The process.
        pid: u32,
        /// `kernel.yama.ptrace_scope`.
        scope: u32,
    },
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denial::PerfParanoid { level } => write!(
                f,
                "kernel.perf_event_paranoid is {level}: perf may not profile anything as a normal \
                 user. Fix: `sudo sysctl kernel.perf_event_paranoid=1` (or run as root)"
            ),
            Denial::OtherUser { pid, owner, me } => write!(
                f,
                "cannot attach to PID {pid}: it runs as user {owner} and perfkit as user {me}; \
                 run perfkit as root (sudo) or as that user"
            ),
            Denial::PtraceScope { tool, pid, scope } => write!(
                f,
                "{tool} cannot attach to PID {pid}: kernel.yama.ptrace_scope is {scope}, which \
                 lets a normal user trace only its own children; run perfkit as root (sudo), or \
                 `sudo sysctl kernel.yama.ptrace_scope=0`"
            ),
        }
    }
}

/// What holds no samples.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Empty {
    /// A profile to draw.
    Profile,
    /// One side of a comparison (`true`: the before side).
    Side {
        /// Whether it is the before side.
        before: bool,
    },
    /// Both sides of a comparison, once compared.
    Comparison,
    /// A perf recording: the program ran too briefly for the sampling frequency, or perf
    /// could not sample it.
    Recording(PathBuf),
    /// An input file, as the user named it.
    Input(String),
    /// A profiled section, with how long it ran.
    Section(std::time::Duration),
}

impl std::fmt::Display for Empty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Empty::Profile => f.write_str("the profile has no stacks to draw"),
            Empty::Side { before } => write!(
                f,
                "the {} profile has no stacks to compare",
                if *before { "before" } else { "after" }
            ),
            Empty::Comparison => f.write_str("the profiles have no stacks to compare"),
            Empty::Recording(data) => write!(
                f,
                "{} holds no samples: the program ran too briefly for the sampling frequency, or \
                 perf could not sample it; run it longer or raise the frequency",
                data.display()
            ),
            Empty::Input(what) => write!(
                f,
                "{what} holds no samples: give perf.data, folded stacks or perf script output"
            ),
            Empty::Section(wall) => write!(
                f,
                "no samples in the profiled section ({wall:?}): it ran too briefly for 997 Hz \
                 sampling; profile more work"
            ),
        }
    }
}

/// Why massif may have written no profile, when it did not follow exec.
fn exec_hint(followed_exec: bool) -> &'static str {
    if followed_exec {
        ""
    } else {
        " (a command that replaces itself with exec, as a wrapper script or a shell's `exec` does, leaves massif behind: it does not follow exec unless told to; profile the program itself, or have massif follow exec)"
    }
}

impl ProfilerError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> ProfilerError {
        ProfilerError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn parse(what: &'static str, line: usize, message: impl Into<String>) -> Self {
        ProfilerError::Parse {
            what,
            line,
            message: message.into(),
        }
    }

    /// Whether this error is about the user's input or environment (a missing tool, a bad file,
    /// an invalid option) rather than a failure of the measured program.
    #[must_use]
    pub fn is_usage(&self) -> bool {
        !matches!(self, ProfilerError::Sys(e) if e.is_command_failure())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hints and exit codes look for the typed error anywhere in the chain of sources.
    #[test]
    fn a_wrapped_error_stays_in_the_chain_of_sources() {
        let inner = || ProfilerError::NoSamples(Empty::Profile);
        let wrapped = [
            ProfilerError::Side {
                side: "BEFORE",
                path: "b.folded".into(),
                source: Box::new(inner()),
            },
            ProfilerError::NotAProfile {
                what: "b.folded".into(),
                source: Box::new(inner()),
            },
        ];
        for e in &wrapped {
            let found = std::error::Error::source(e)
                .and_then(|s| s.downcast_ref::<ProfilerError>())
                .is_some_and(|s| matches!(s, ProfilerError::NoSamples(Empty::Profile)));
            assert!(found, "{e:?}");
        }
    }
}
