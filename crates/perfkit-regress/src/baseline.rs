//! The baseline file: what was measured, where, and the raw samples to test against.

use std::path::Path;

use perfkit_metrics::Histogram;
use perfkit_metrics::stats::quantile_sorted;
use serde::{Deserialize, Serialize};

use crate::RegressError;
use crate::environment::Environment;

/// Version of the baseline format this crate writes and the newest it reads.
pub const BASELINE_SCHEMA_VERSION: u32 = 1;

/// Most raw samples kept per benchmark. Beyond it an evenly spaced subset is kept (the
/// statistical tests lose nothing measurable at this size), while the summary and the histogram
/// still describe every sample and `samples_total` says how many there were.
pub const MAX_SAMPLES: usize = 10_000;

/// A saved set of benchmark results: the reference a later run is checked against.
///
/// Serialised as JSON (`docs/formats.md`, "Baseline"); [`Baseline::load`] rejects a corrupt,
/// truncated or newer-schema file with an error that says which.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Format version, [`BASELINE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Version of the perfkit that wrote the file.
    pub perfkit_version: String,
    /// When the results were measured (for imports: the bench report's time, or the time the
    /// other tool wrote its files), in seconds since the Unix epoch.
    pub created_unix_s: u64,
    /// Where the results came from.
    pub source: Source,
    /// The machine and code that produced the results (as seen when the file was written).
    pub environment: Environment,
    /// One entry per benchmark, names unique.
    pub benchmarks: Vec<Benchmark>,
    /// The file or directory this was read from (not stored in the file).
    #[serde(skip)]
    pub loaded_from: Option<std::path::PathBuf>,
}

/// Where a baseline's results came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The kind of input.
    pub kind: SourceKind,
    /// The file or directory read, as given.
    pub path: Option<String>,
    /// For criterion: which of its saved baselines (`new`, `base`, or a `--save-baseline` name).
    pub criterion_baseline: Option<String>,
}

/// The kinds of input a baseline can be made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// `perfkit bench --json` / `--export-json`.
    PerfkitBench,
    /// A criterion results directory (`target/criterion`).
    Criterion,
    /// `hyperfine --export-json`.
    Hyperfine,
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourceKind::PerfkitBench => "perfkit bench",
            SourceKind::Criterion => "criterion",
            SourceKind::Hyperfine => "hyperfine",
        })
    }
}

/// What one iteration of a benchmark processes, for throughput in elements or bytes per second.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Work {
    /// Elements (items, requests, ...) per iteration.
    Elements(f64),
    /// Bytes per iteration.
    Bytes(f64),
}

/// Exact statistics of a benchmark's time per iteration, in nanoseconds (fractions allowed:
/// criterion measures sub-nanosecond iterations).
///
/// Percentiles use the nearest-rank definition of [`perfkit_metrics::Summary`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimeSummary {
    /// Number of samples.
    pub count: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one sample).
    pub stddev: f64,
    /// Smallest sample.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
}

impl TimeSummary {
    /// Summarises samples exactly. `None` when there are none.
    #[must_use]
    pub fn of(samples: &[f64]) -> Option<Self> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable_by(f64::total_cmp);
        let n = sorted.len();
        let mean = sorted.iter().sum::<f64>() / n as f64;
        let stddev = if n < 2 {
            0.0
        } else {
            (sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        };
        Some(Self {
            count: n as u64,
            mean,
            stddev,
            min: *sorted.first()?,
            p50: quantile_sorted(&sorted, 0.5)?,
            p90: quantile_sorted(&sorted, 0.9)?,
            p99: quantile_sorted(&sorted, 0.99)?,
            p999: quantile_sorted(&sorted, 0.999)?,
            max: *sorted.last()?,
        })
    }
}

/// One benchmark's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Benchmark {
    /// Name, unique within the baseline (the command for perfkit bench and hyperfine, the full
    /// id such as `group/function/param` for criterion).
    pub name: String,
    /// Statistics of every sample's time per iteration.
    pub summary: TimeSummary,
    /// Number of samples measured; `samples_ns` holds at most [`MAX_SAMPLES`] of them.
    pub samples_total: u64,
    /// Raw samples of time per iteration in nanoseconds, in the order measured (an evenly
    /// spaced subset when there were more than [`MAX_SAMPLES`]).
    pub samples_ns: Vec<f64>,
    /// Every sample's time per iteration in **picoseconds** (criterion's iterations can be
    /// shorter than a nanosecond), 3 significant digits.
    pub histogram_ps: Histogram,
    /// Work per iteration, when the source declares it (criterion's `Throughput`).
    pub work: Option<Work>,
    /// Peak resident set size of each run in bytes, when measured (perfkit bench); empty
    /// otherwise. Capped like `samples_ns`.
    pub rss_bytes: Vec<u64>,
    /// The source tool's own headline estimate (criterion's `estimates.json`), for reference:
    /// checks use the samples.
    #[serde(default)]
    pub tool_estimate: Option<ToolEstimate>,
    /// Runs that ended with a non-zero exit status or a signal (hyperfine's
    /// `--ignore-failure`, perfkit bench's failed runs); their times are among the samples.
    #[serde(default)]
    pub failed_runs: u64,
}

/// A tool's own estimate of the time per iteration with its confidence interval, in
/// nanoseconds: criterion's slope (its headline with linear sampling), or its mean when there
/// is no slope.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolEstimate {
    /// Which estimate: `slope` or `mean`.
    pub statistic: String,
    /// The point estimate.
    pub ns: f64,
    /// Lower bound of its confidence interval.
    pub low_ns: f64,
    /// Upper bound of its confidence interval.
    pub high_ns: f64,
}

impl Benchmark {
    /// Builds a benchmark from its samples of time per iteration (nanoseconds). Errors when
    /// there are none or one is negative or not finite.
    pub fn from_samples(
        name: impl Into<String>,
        samples_ns: Vec<f64>,
        work: Option<Work>,
        rss_bytes: Vec<u64>,
    ) -> Result<Self, RegressError> {
        let name = name.into();
        if let Some(bad) = samples_ns.iter().find(|v| !v.is_finite() || **v < 0.0) {
            return Err(RegressError::invalid(
                &name,
                format!("sample {bad} is not a time (negative or not finite)"),
            ));
        }
        let summary = TimeSummary::of(&samples_ns)
            .ok_or_else(|| RegressError::invalid(&name, "no samples".to_string()))?;
        let mut histogram_ps = Histogram::new();
        for v in &samples_ns {
            histogram_ps.record((v * 1000.0).round() as u64);
        }
        Ok(Self {
            name,
            summary,
            samples_total: samples_ns.len() as u64,
            samples_ns: cap(samples_ns),
            histogram_ps,
            work,
            rss_bytes: cap(rss_bytes),
            tool_estimate: None,
            failed_runs: 0,
        })
    }

    fn validate(&self) -> Result<(), String> {
        if self.samples_ns.is_empty() {
            return Err("no samples".into());
        }
        if self.samples_ns.len() > MAX_SAMPLES {
            return Err(format!(
                "{} samples, more than the {MAX_SAMPLES} a baseline keeps",
                self.samples_ns.len()
            ));
        }
        if (self.samples_ns.len() as u64) > self.samples_total
            || self.summary.count != self.samples_total
        {
            return Err(format!(
                "samples_total {} disagrees with {} samples and a summary of {}",
                self.samples_total,
                self.samples_ns.len(),
                self.summary.count
            ));
        }
        if let Some(bad) = self.samples_ns.iter().find(|v| !v.is_finite() || **v < 0.0) {
            return Err(format!("sample {bad} is negative or not finite"));
        }
        let s = &self.summary;
        let ordered = [s.min, s.p50, s.p90, s.p99, s.p999, s.max]
            .windows(2)
            .all(|w| w[0] <= w[1]);
        if !ordered || !s.mean.is_finite() || !s.stddev.is_finite() {
            return Err("summary is inconsistent (percentiles out of order)".into());
        }
        self.check_samples_agree()?;
        if let Some(e) = &self.tool_estimate
            && ![e.ns, e.low_ns, e.high_ns].iter().all(|v| v.is_finite())
        {
            return Err(format!("tool estimate {e:?} is not finite"));
        }
        match self.work {
            Some(Work::Elements(w) | Work::Bytes(w)) if !(w.is_finite() && w > 0.0) => {
                Err(format!("work per iteration {w} is not a positive number"))
            }
            _ => Ok(()),
        }
    }
}

impl Benchmark {
    /// The raw samples (which the statistical tests read) and the summary and histogram
    /// (which the reports print) must describe the same run: a file edited by hand, or put
    /// together from two runs, would otherwise give a change of "+0.0%" next to a significant
    /// test. With every sample kept, the summary must be theirs; with a subset, every sample
    /// must lie within the summary's range. The histogram must count every sample.
    fn check_samples_agree(&self) -> Result<(), String> {
        let s = &self.summary;
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 + 1e-6 * a.abs().max(b.abs());
        let contradiction = |what: &str, samples: f64, summary: f64| {
            Err(format!(
                "its raw samples contradict its summary ({what}: {samples} ns from the samples, \
                 {summary} ns in the summary); it was edited or assembled from different runs"
            ))
        };
        if self.histogram_ps.count() != self.samples_total {
            return Err(format!(
                "its histogram counts {} samples but samples_total is {}",
                self.histogram_ps.count(),
                self.samples_total
            ));
        }
        if self.samples_ns.len() as u64 == self.samples_total {
            let Some(own) = TimeSummary::of(&self.samples_ns) else {
                return Ok(());
            };
            for (what, a, b) in [
                ("mean", own.mean, s.mean),
                ("min", own.min, s.min),
                ("median", own.p50, s.p50),
                ("p90", own.p90, s.p90),
                ("p99", own.p99, s.p99),
                ("p99.9", own.p999, s.p999),
                ("max", own.max, s.max),
            ] {
                if !close(a, b) {
                    return contradiction(what, a, b);
                }
            }
            return Ok(());
        }
        let low = self
            .samples_ns
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        let high = self.samples_ns.iter().copied().fold(0.0, f64::max);
        if low < s.min && !close(low, s.min) {
            return contradiction("min", low, s.min);
        }
        if high > s.max && !close(high, s.max) {
            return contradiction("max", high, s.max);
        }
        Ok(())
    }
}

/// At most [`MAX_SAMPLES`] values, evenly spaced over the run so drift stays represented.
fn cap<T: Copy>(values: Vec<T>) -> Vec<T> {
    if values.len() <= MAX_SAMPLES {
        return values;
    }
    let step = values.len() as f64 / MAX_SAMPLES as f64;
    (0..MAX_SAMPLES)
        .map(|i| values[((i as f64 * step) as usize).min(values.len() - 1)])
        .collect()
}

impl Baseline {
    /// A baseline of `benchmarks` from `source`, stamped with the current time, perfkit version
    /// and [`Environment::capture`]. Errors when two benchmarks share a name.
    pub fn new(source: Source, benchmarks: Vec<Benchmark>) -> Result<Self, RegressError> {
        let baseline = Self {
            schema_version: BASELINE_SCHEMA_VERSION,
            perfkit_version: env!("CARGO_PKG_VERSION").to_string(),
            created_unix_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            source,
            environment: Environment::capture(),
            benchmarks,
            loaded_from: None,
        };
        baseline
            .validate()
            .map_err(|(name, problem)| RegressError::invalid(&name, problem))?;
        Ok(baseline)
    }

    /// What makes these results less trustworthy, in words: benchmarks whose runs failed.
    #[must_use]
    pub fn warnings(&self) -> Vec<String> {
        self.benchmarks
            .iter()
            .filter(|b| b.failed_runs > 0)
            .map(|b| {
                format!(
                    "'{}': {} of {} runs ended with a non-zero exit status or a signal; their \
                     times are included and may measure an error path",
                    b.name, b.failed_runs, b.samples_total
                )
            })
            .collect()
    }

    /// The benchmark called `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Benchmark> {
        self.benchmarks.iter().find(|b| b.name == name)
    }

    /// Reads and checks a baseline file.
    pub fn load(path: &Path) -> Result<Self, RegressError> {
        let text =
            perfkit_sys::read_text_limited(path, crate::MAX_INPUT_BYTES).map_err(|source| {
                RegressError::Read {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
        let mut baseline = Self::from_json(&text).map_err(|e| e.at(path))?;
        baseline.loaded_from = Some(path.to_path_buf());
        Ok(baseline)
    }

    /// Parses and checks baseline JSON.
    pub fn from_json(text: &str) -> Result<Self, RegressError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| RegressError::corrupt_json(&e))?;
        match value
            .get("schema_version")
            .and_then(serde_json::Value::as_u64)
        {
            Some(v) if v > u64::from(BASELINE_SCHEMA_VERSION) => {
                return Err(RegressError::NewerSchema {
                    path: None,
                    found: v,
                    supported: BASELINE_SCHEMA_VERSION,
                });
            }
            Some(_) => {}
            None => {
                return Err(RegressError::Corrupt {
                    path: None,
                    problem: "no \"schema_version\": this is not a perfkit baseline".into(),
                });
            }
        }
        let baseline: Baseline =
            serde_json::from_value(value).map_err(|e| RegressError::Corrupt {
                path: None,
                problem: e.to_string(),
            })?;
        baseline
            .validate()
            .map_err(|(name, problem)| RegressError::Corrupt {
                path: None,
                problem: if name.is_empty() {
                    problem
                } else {
                    format!("benchmark '{name}': {problem}")
                },
            })?;
        Ok(baseline)
    }

    fn validate(&self) -> Result<(), (String, String)> {
        if self.benchmarks.is_empty() {
            return Err((String::new(), "it holds no benchmarks".into()));
        }
        let mut names = std::collections::HashSet::new();
        for b in &self.benchmarks {
            if !names.insert(b.name.as_str()) {
                return Err((b.name.clone(), "the name appears twice".into()));
            }
            b.validate().map_err(|problem| (b.name.clone(), problem))?;
        }
        Ok(())
    }

    /// The JSON text of the file (pretty-printed, trailing newline).
    #[must_use]
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Saves the baseline to `out` after a check against the file `checked_against`, except
    /// when the check `failed` and `out` is that file: saving would make the regression the
    /// new reference. `Ok(false)` when it was kept for that reason.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn save_after_check(
        &self,
        out: &perfkit_sys::OutputPath,
        checked_against: Option<&Path>,
        failed: bool,
    ) -> Result<bool, RegressError> {
        // The baseline was read, so it is a file that `is_same_file` finds through any link.
        if failed && checked_against.is_some_and(|b| out.is_same_file(b)) {
            return Ok(false);
        }
        out.write(self.to_json().as_bytes())
            .map_err(RegressError::Output)?;
        Ok(true)
    }

    /// Writes the baseline through [`perfkit_sys::OutputPath`]: a regular file is replaced
    /// atomically (a crash never leaves a half-written baseline), a device or descriptor such
    /// as `/dev/stdout` is written in place.
    pub fn save(&self, path: &Path) -> Result<(), RegressError> {
        perfkit_sys::write_output(path, self.to_json().as_bytes()).map_err(|source| {
            RegressError::Write {
                path: path.to_path_buf(),
                source,
            }
        })
    }
}
