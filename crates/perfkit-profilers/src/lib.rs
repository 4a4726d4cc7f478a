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
//!   [`perf::profile_section`] (profile a closure of this process).
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
pub mod flamegraph;
pub mod folded;
mod interrupt;
pub mod llvm;
mod load;
pub mod ltrace;
pub mod massif;
pub mod perf;
mod render;
pub mod report;
mod runner;
pub mod strace;
mod tool;

pub use folded::{FoldedStacks, HotFunction};
pub use interrupt::InterruptGuard;
pub use load::load_profile;
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
    NotPermitted(String),
    /// The profile holds no samples.
    #[error("{0}")]
    NoSamples(String),
    /// A file or pipe could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
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
    /// An option or argument is invalid.
    #[error("{0}")]
    InvalidOption(String),
    /// Starting or waiting for a process failed.
    #[error(transparent)]
    Sys(#[from] perfkit_sys::SysError),
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
