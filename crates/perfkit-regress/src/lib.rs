//! Regression checks that catch real slow-downs and ignore noise.
//!
//! - [`Baseline`]: a saved set of results (JSON with `schema_version`, environment, and per
//!   benchmark a summary, a histogram and the raw samples), written atomically, checked when
//!   read.
//! - [`load_any`]: reads a baseline file or imports perfkit bench JSON, a criterion results
//!   directory (any two of its saved baselines) or hyperfine `--export-json` output.
//! - [`check`] under a [`Policy`]: per metric a threshold and direction, and a statistical test
//!   on the raw samples ([`stats::mann_whitney`] with tie correction, plus
//!   [`stats::tail_test`] for tail percentiles). A regression needs **both**: a change larger
//!   than the threshold and significance at `alpha`. Too few samples give "inconclusive".
//! - [`report`]: terminal table and Markdown; the [`CheckReport`] itself serialises to JSON.
//! - [`simulate`]: the policy's error rates on synthetic noise.
//!
//! # Example
//!
//! ```
//! use perfkit_regress::{Baseline, Benchmark, Policy, Source, SourceKind, check, report};
//!
//! let source = Source { kind: SourceKind::Hyperfine, path: None, criterion_baseline: None };
//! // 30 runs of about 10 ms each, then the same with a 15% slow-down.
//! let runs = |scale: f64| (0..30).map(|i| scale * 1e7 * (1.0 + f64::from(i % 7) / 100.0)).collect();
//! let before = Baseline::new(source.clone(), vec![Benchmark::from_samples("app", runs(1.0), None, vec![])?])?;
//! let after = Baseline::new(source, vec![Benchmark::from_samples("app", runs(1.15), None, vec![])?])?;
//!
//! let result = check(&before, &after, &Policy::default())?;
//! assert!(result.has_regression());
//! println!("{}", report::human(&result));
//! # Ok::<(), perfkit_regress::RegressError>(())
//! ```
//!
//! # Error rates of the default policy
//!
//! The default policy checks p99 latency and throughput, each worse by more
//! than 5%, here also significant at alpha 0.05. Its error rates are measured by the tests in
//! `tests/error_rates.rs` (1,000 seeded pairs each) on two noise models shaped after runs on a
//! 2-vCPU cloud VM: log-normal with sigma 0.05, and a shared machine where 25% of the runs are
//! 1.25× slower ([`simulate::Noise::SHARED_MACHINE`]).
//!
#![doc = include_str!("../ERROR_RATES.md")]
#![forbid(unsafe_code)]

mod baseline;
mod check;
mod environment;
mod import;
mod policy;
pub mod report;
pub mod simulate;
pub mod stats;

use std::path::{Path, PathBuf};

/// The largest baseline, hyperfine or criterion file read: far above any real one, so that a
/// device or runaway pipe given by mistake is an error instead of filling memory.
pub const MAX_INPUT_BYTES: u64 = 256 << 20;

pub use baseline::{
    BASELINE_SCHEMA_VERSION, Baseline, Benchmark, MAX_SAMPLES, Source, SourceKind, TimeSummary,
    ToolEstimate, Work,
};
pub use check::{
    CHECK_SCHEMA_VERSION, CheckReport, Finding, PERCENTILE_DEFINITION, Side, Tally, Unit, Verdict,
    check, compare, format_p,
};
pub use environment::Environment;
pub use import::{
    CRITERION_VERSIONS, criterion_benchmark, load_any, load_criterion, parse_hyperfine,
    parse_perfkit_bench, perfkit_bench_baseline,
};
pub use perfkit_metrics::stats::Interval;
pub use policy::{
    DEFAULT_ALPHA, DEFAULT_MIN_SAMPLES, DEFAULT_THRESHOLD, Metric, MetricRule, Policy,
    parse_percent,
};

/// Errors of this crate. Each says what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegressError {
    /// A file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A baseline could not be written.
    #[error("{source} (the previous file, if any, is unchanged)")]
    Write {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An output the user named could not be written; the error names it.
    #[error(transparent)]
    Output(std::io::Error),
    /// A baseline file is not valid JSON of the baseline format (truncated, edited, ...).
    #[error("{}is not a valid perfkit baseline: {problem}; re-create it with `perfkit baseline save`", where_(path.as_deref()))]
    Corrupt {
        /// The file, when known.
        path: Option<PathBuf>,
        /// What is wrong.
        problem: String,
    },
    /// A baseline written by a newer perfkit.
    #[error("{}has baseline schema_version {found}, newer than the {supported} this perfkit reads: upgrade perfkit", where_(path.as_deref()))]
    NewerSchema {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The version in the file.
        found: u64,
        /// The newest version this crate reads.
        supported: u32,
    },
    /// Output of another tool that does not have the expected shape.
    #[error("{}is not valid {kind} output: {problem}", where_(path.as_deref()))]
    Import {
        /// The file or directory, when known.
        path: Option<PathBuf>,
        /// What it was read as.
        kind: SourceKind,
        /// What is wrong.
        problem: String,
    },
    /// Output of another tool with two benchmarks of one name; a baseline keeps one per name.
    #[error("{}is not valid {kind} output: two benchmarks are called '{name}': give them distinct names", where_(path.as_deref()))]
    DuplicateName {
        /// The file or directory, when known.
        path: Option<PathBuf>,
        /// What it was read as.
        kind: SourceKind,
        /// The name.
        name: String,
    },
    /// A file that no importer recognises.
    #[error("{}: {problem}; perfkit reads baselines, perfkit bench --json output, hyperfine --export-json output and criterion directories (target/criterion)", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// What it looks like.
        problem: String,
    },
    /// A benchmark whose data cannot be used.
    #[error("benchmark '{benchmark}': {problem}")]
    Invalid {
        /// The benchmark.
        benchmark: String,
        /// What is wrong.
        problem: String,
    },
    /// The two sides share no benchmark name, so nothing can be compared.
    #[error(
        "no benchmark appears on both sides: the baseline has {}; the current results have {}. Benchmarks are matched by name: give them the same names on both sides",
        list(baseline),
        list(current)
    )]
    NothingInCommon {
        /// Names in the baseline.
        baseline: Vec<String>,
        /// Names in the current results.
        current: Vec<String>,
    },
    /// A policy or argument that cannot work.
    #[error("{0}")]
    Usage(Misuse),
}

/// A policy or argument that cannot work.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Misuse {
    /// A metric name perfkit does not know.
    UnknownMetric(String),
    /// A threshold that is not a percentage from 0 to 1000.
    Threshold(String),
    /// A policy without a metric.
    NoMetric,
    /// A significance level outside (0, 1).
    Alpha(f64),
    /// Fewer than 2 samples asked for.
    MinSamples(usize),
    /// A metric given twice.
    RepeatedMetric(Metric),
    /// A criterion baseline name given with a file that is not a criterion directory.
    CriterionNameForFile {
        /// The name.
        name: String,
        /// The file.
        path: PathBuf,
        /// What the file is.
        kind: String,
    },
}

impl std::fmt::Display for Misuse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Misuse::UnknownMetric(name) => write!(
                f,
                "unknown metric '{name}': use one of {}",
                Metric::ALL.map(Metric::name).join(", ")
            ),
            Misuse::Threshold(text) => write!(
                f,
                "threshold '{text}' is not a percentage: write e.g. 5% (0 to 1000)"
            ),
            Misuse::NoMetric => f.write_str("no metric to check"),
            Misuse::Alpha(alpha) => write!(
                f,
                "alpha {alpha} is not a significance level: use a number between 0 and 1, e.g. 0.05"
            ),
            Misuse::MinSamples(n) => write!(f, "min_samples must be at least 2, not {n}"),
            Misuse::RepeatedMetric(m) => write!(f, "metric {m} is given twice"),
            Misuse::CriterionNameForFile { name, path, kind } => write!(
                f,
                "the criterion baseline name {name:?} applies only to a criterion directory, but {} is {kind}",
                path.display()
            ),
        }
    }
}

/// Up to five names, quoted.
fn list(names: &[String]) -> String {
    if names.is_empty() {
        return "no benchmarks".to_owned();
    }
    let mut out: Vec<String> = names.iter().take(5).map(|n| format!("'{n}'")).collect();
    if names.len() > 5 {
        out.push(format!("and {} more", names.len() - 5));
    }
    out.join(", ")
}

fn where_(path: Option<&Path>) -> String {
    path.map(|p| format!("{} ", p.display()))
        .unwrap_or_default()
}

impl RegressError {
    fn invalid(benchmark: &str, problem: String) -> Self {
        RegressError::Invalid {
            benchmark: benchmark.to_string(),
            problem,
        }
    }

    fn import(kind: SourceKind, problem: String) -> Self {
        RegressError::Import {
            path: None,
            kind,
            problem,
        }
    }

    /// A JSON syntax error, told apart from a file cut short.
    fn corrupt_json(e: &serde_json::Error) -> Self {
        let problem = if e.is_eof() {
            format!("the JSON ends early ({e}): the file is truncated")
        } else {
            format!("not JSON ({e})")
        };
        RegressError::Corrupt {
            path: None,
            problem,
        }
    }

    /// Attaches `path` to an error that does not name its file yet.
    #[must_use]
    fn at(self, path: &Path) -> Self {
        let p = Some(path.to_path_buf());
        match self {
            RegressError::Corrupt {
                path: None,
                problem,
            } => RegressError::Corrupt { path: p, problem },
            RegressError::NewerSchema {
                path: None,
                found,
                supported,
            } => RegressError::NewerSchema {
                path: p,
                found,
                supported,
            },
            RegressError::Import {
                path: None,
                kind,
                problem,
            } => RegressError::Import {
                path: p,
                kind,
                problem,
            },
            RegressError::DuplicateName {
                path: None,
                kind,
                name,
            } => RegressError::DuplicateName {
                path: p,
                kind,
                name,
            },
            RegressError::UnknownFormat { path: q, problem } if q.as_os_str().is_empty() => {
                RegressError::UnknownFormat {
                    path: path.to_path_buf(),
                    problem,
                }
            }
            RegressError::Invalid { benchmark, problem } => RegressError::Invalid {
                benchmark,
                problem: format!("{problem} (in {})", path.display()),
            },
            other => other,
        }
    }
}
