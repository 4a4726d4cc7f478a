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
//! - [`classify`]: the bottlenecks, strongest first, each with the numbers that triggered it —
//!   CPU-bound, waiting, syscall-heavy, spawn-heavy, I/O-bound, memory-heavy.
//! - [`recommend`]: for each bottleneck what to do, the gain usually expected from that
//!   kind of change, and the perfkit part that helps.
//!
//! # Example
//!
//! ```
//! use perfkit_analyze::{BottleneckKind, Measurements, Syscalls, classify, recommend};
//!
//! // A spawn-heavy program: each task starts a process.
//! let m = Measurements {
//!     runs: 10,
//!     wall_ns: 1.3e9,
//!     user_ns: 0.2e9,
//!     system_ns: 0.6e9,
//!     syscalls: Some(Syscalls { calls: 90_000.0, execve: 2_400.0, forks: 2_400.0, top: vec![] }),
//!     ..Measurements::default()
//! };
//! let found = classify(&m);
//! assert_eq!(found[0].kind, BottleneckKind::SpawnHeavy);
//! let advice = recommend(&found);
//! assert!(advice[0].perfkit.contains("perfkit pool"));
//! ```
#![forbid(unsafe_code)]

mod classify;
mod pipeline;
pub mod report;

pub use classify::{
    Bottleneck, BottleneckKind, HeapSite, HotFunction, Measurements, Recommendation, Syscalls,
    classify, recommend, with_measured_gain,
};
pub use pipeline::{
    ANALYSIS_SCHEMA_VERSION, Alternative, AlternativeCommand, Analysis, AnalyzeError,
    AnalyzeObserver, AnalyzeOptions, BaselineComparison, HeapProfile, analyze,
};
