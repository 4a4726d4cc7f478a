//! The analyser of `perfkit analyze`: what a program's measurements say about where its time
//! goes.
//!
//! - [`analyze`]: runs a command N times (perfkit-sys; interleaved with an
//!   [`AlternativeCommand`] doing the same work another way, when given), counts its system
//!   calls once with `strace -c -f`, records a CPU profile once with perf and, when asked,
//!   profiles its heap once with massif (each skipped with the reason when the tool is missing
//!   or not permitted), checks the runs against a baseline (perfkit-regress), then classifies.
//! - [`report`]: the analysis as a self-contained HTML page, Markdown and JSON.
//! - [`Measurements`]: what was measured per run (wall and CPU time, switches, I/O, memory) and,
//!   when the tools ran, the syscall mix and the hot functions.
//! - [`classify`]: the bottlenecks, strongest first, each with the numbers that triggered it
//!   and the share of the run it takes — CPU-bound, waiting, syscall-heavy, spawn-heavy,
//!   I/O-bound, fsync-bound, small I/O calls, memory-heavy.
//! - [`recommend`]: for each bottleneck what to do, fitted to what the program is
//!   ([`ProgramInfo`]: a build of this workspace, a system binary, an interpreter), the most
//!   removing it could gain, and the perfkit part that helps.
//!
//! # Example
//!
//! ```
//! use perfkit_analyze::{BottleneckKind, Measurements, classify, recommend};
//!
//! // A spawn-heavy program: each task starts a process, and starting them takes most of
//! // the run (from a process trace: fork to exit of each short-lived program).
//! let m = Measurements {
//!     runs: 10,
//!     wall_ns: 1.3e9,
//!     user_ns: 0.2e9,
//!     system_ns: 0.6e9,
//!     processes: Some(perfkit_profilers::strace::ProcessTrace {
//!         processes: 2_400,
//!         execs: 2_401,
//!         spawn_ns: 900_000_000,
//!         traced_ns: 1_400_000_000,
//!         ..Default::default()
//!     }),
//!     ..Measurements::default()
//! };
//! let found = classify(&m);
//! assert_eq!(found[0].kind, BottleneckKind::SpawnHeavy);
//! let advice = recommend(&found, &m);
//! assert!(advice[0].perfkit.contains("perfkit pool"));
//! ```
#![forbid(unsafe_code)]

mod classify;
mod pipeline;
mod program;
pub mod report;

pub use classify::{
    AllocationSite, Bottleneck, BottleneckKind, HotFunction, Measurements, Recommendation,
    SyscallCount, Syscalls, classify, recommend, with_measured_gain,
};
pub use pipeline::{
    ANALYSIS_SCHEMA_VERSION, Alternative, AlternativeCommand, Analysis, AnalyzeError,
    AnalyzeObserver, AnalyzeOptions, BaselineComparison, HeapMode, HeapProfile, Step, Unavailable,
    analyze,
};
pub use program::{ProgramInfo, ProgramKind, language_profiler};
