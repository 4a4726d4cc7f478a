//! Importers: perfkit bench JSON, hyperfine `--export-json`, criterion's results directory, and
//! baseline files, told apart by their content.

use perfkit_sys::{BENCH_SCHEMA_VERSION, BenchReport, ExitKind};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::RegressError;
use crate::baseline::{Baseline, Benchmark, Source, SourceKind, ToolEstimate, Work};

/// Reads `path` as whatever it is: a baseline file, perfkit bench JSON, hyperfine JSON, or a
/// criterion directory (`target/criterion`, or a directory holding `target/criterion` or
/// `criterion`). Imported results become a [`Baseline`] stamped with this machine's
/// environment. `criterion_baseline` names the criterion baseline to read (default `new`, the
/// latest run); it is an error for anything but a criterion directory.
pub fn load_any(path: &Path, criterion_baseline: Option<&str>) -> Result<Baseline, RegressError> {
    let mut baseline = read_any(path, criterion_baseline)?;
    // A criterion directory names its resolved root itself.
    baseline
        .loaded_from
        .get_or_insert_with(|| path.to_path_buf());
    Ok(baseline)
}

fn read_any(path: &Path, criterion_baseline: Option<&str>) -> Result<Baseline, RegressError> {
    if path.is_dir() {
        return load_criterion(path, criterion_baseline.unwrap_or("new"));
    }
    let text = perfkit_sys::read_text_limited(path, crate::MAX_INPUT_BYTES).map_err(|source| {
        RegressError::Read {
            path: path.to_path_buf(),
            source,
        }
    })?;
    let kind = detect(&text).map_err(|e| e.at(path))?;
    if let Some(name) = criterion_baseline {
        return Err(RegressError::Usage(crate::Misuse::CriterionNameForFile {
            name: name.to_owned(),
            path: path.to_path_buf(),
            kind: match kind {
                FileKind::Baseline => "a baseline file".to_string(),
                FileKind::Import(k) => format!("{k} output"),
            },
        }));
    }
    let source = |kind| Source {
        kind,
        path: Some(path.display().to_string()),
        criterion_baseline: None,
    };
    let (kind, benchmarks) = match kind {
        FileKind::Baseline => return Baseline::from_json(&text).map_err(|e| e.at(path)),
        FileKind::Import(k @ SourceKind::Hyperfine) => (k, parse_hyperfine(&text)),
        FileKind::Import(k) => (k, parse_perfkit_bench(&text)),
    };
    let mut baseline =
        Baseline::new(source(kind), benchmarks.map_err(|e| e.at(path))?).map_err(|e| e.at(path))?;
    // When the results were measured: the bench report says; hyperfine's file was written then.
    let measured = match kind {
        SourceKind::PerfkitBench => serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("created_unix_s").and_then(Value::as_u64)),
        _ => modified_unix_s(path),
    };
    if let Some(t) = measured {
        baseline.created_unix_s = t;
    }
    Ok(baseline)
}

/// A file's modification time in seconds since the Unix epoch.
fn modified_unix_s(path: &Path) -> Option<u64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    modified
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// What a JSON file holds.
#[derive(Clone, Copy)]
enum FileKind {
    Baseline,
    Import(SourceKind),
}

/// Which reader a JSON text needs.
fn detect(text: &str) -> Result<FileKind, RegressError> {
    if text.trim().is_empty() {
        return Err(RegressError::UnknownFormat {
            path: PathBuf::new(),
            problem: "the file is empty".into(),
        });
    }
    let value: Value = serde_json::from_str(text).map_err(|e| RegressError::corrupt_json(&e))?;
    let has = |key: &str| value.get(key).is_some();
    if has("benchmarks") && has("environment") {
        Ok(FileKind::Baseline)
    } else if has("commands") && has("perfkit_version") {
        Ok(FileKind::Import(SourceKind::PerfkitBench))
    } else if value.get("results").is_some_and(Value::is_array) {
        Ok(FileKind::Import(SourceKind::Hyperfine))
    } else {
        Err(RegressError::UnknownFormat {
            path: PathBuf::new(),
            problem: "JSON that is neither a perfkit baseline, perfkit bench --json output, nor hyperfine --export-json output".into(),
        })
    }
}

/// The fields of a `perfkit bench --json` file a baseline needs. Only these are read, so
/// that reports written by earlier perfkit versions of the same schema, which lack fields
/// added since, still load; the run's status is perfkit-sys's own type.
#[derive(Deserialize)]
struct BenchFile {
    commands: Vec<BenchFileCommand>,
}

#[derive(Deserialize)]
struct BenchFileCommand {
    name: String,
    samples: Vec<BenchFileRun>,
}

#[derive(Deserialize)]
struct BenchFileRun {
    status: ExitKind,
    wall_ns: u64,
    max_rss_bytes: u64,
}

/// A baseline of results this process just measured (no file behind it: `source.path` is
/// `None`, the time is now): one benchmark per command, its runs' wall times and peak RSS
/// (runs killed at the timeout are left out, as the report's statistics leave them out).
pub fn perfkit_bench_baseline(report: &BenchReport) -> Result<Baseline, RegressError> {
    let runs = (report.commands.iter()).map(|c| {
        let runs = c
            .samples
            .iter()
            .map(|r| (r.status, r.wall.as_nanos() as u64, r.max_rss_bytes));
        (c.name.clone(), runs.collect())
    });
    Baseline::new(
        Source {
            kind: SourceKind::PerfkitBench,
            path: None,
            criterion_baseline: None,
        },
        bench_benchmarks(runs)?,
    )
}

/// One benchmark per command from its runs' status, wall time and peak RSS.
fn bench_benchmarks(
    commands: impl Iterator<Item = (String, Vec<(ExitKind, u64, u64)>)>,
) -> Result<Vec<Benchmark>, RegressError> {
    let mut out = Vec::new();
    for (name, runs) in commands {
        let kept: Vec<_> = (runs.into_iter())
            .filter(|(status, ..)| *status != ExitKind::TimedOut)
            .collect();
        let times = kept.iter().map(|&(_, wall, _)| wall as f64).collect();
        let rss = kept.iter().map(|&(.., rss)| rss).collect();
        let mut benchmark = Benchmark::from_samples(name, times, None, rss)?;
        benchmark.failed_runs = kept.iter().filter(|(s, ..)| !s.success()).count() as u64;
        out.push(benchmark);
    }
    nonempty(out, SourceKind::PerfkitBench)
}

/// Benchmarks from `perfkit bench --json` text: one per command, its runs' wall times and peak
/// RSS (runs killed at the timeout are left out, as the report's statistics leave them out).
pub fn parse_perfkit_bench(text: &str) -> Result<Vec<Benchmark>, RegressError> {
    let kind = SourceKind::PerfkitBench;
    let version = serde_json::from_str::<Value>(text)
        .map_err(|e| RegressError::import(kind, e.to_string()))?
        .get("schema_version")
        .and_then(Value::as_u64);
    if let Some(v) = version
        && v > u64::from(BENCH_SCHEMA_VERSION)
    {
        return Err(RegressError::import(
            kind,
            format!(
                "schema_version {v} is newer than the {BENCH_SCHEMA_VERSION} this perfkit reads: upgrade perfkit"
            ),
        ));
    }
    let report: BenchFile =
        serde_json::from_str(text).map_err(|e| RegressError::import(kind, e.to_string()))?;
    bench_benchmarks(report.commands.into_iter().map(|c| {
        let runs = c
            .samples
            .iter()
            .map(|r| (r.status, r.wall_ns, r.max_rss_bytes));
        (c.name, runs.collect())
    }))
}

#[derive(Deserialize)]
struct HyperfineExport {
    /// 2 for hyperfine 2's files; absent in hyperfine 1's.
    schema_version: Option<u64>,
    results: Vec<HyperfineResult>,
}

/// The newest hyperfine JSON schema perfkit reads.
const HYPERFINE_SCHEMA: u64 = 2;

#[derive(Deserialize)]
struct HyperfineResult {
    /// The name (hyperfine 1), or the command run (hyperfine 2).
    command: String,
    /// hyperfine 2's `--command-name`.
    name: Option<String>,
    times: Option<Vec<f64>>,
    /// Per run, since hyperfine 1.20.
    memory_usage_byte: Option<Vec<u64>>,
    /// Per run, since hyperfine 1.12 (`null` for a run ended by a signal).
    exit_codes: Option<Vec<Option<i32>>>,
    /// hyperfine 2's runs, instead of `times`, `memory_usage_byte` and `exit_codes`.
    measurements: Option<Vec<HyperfineMeasurement>>,
}

/// One run in hyperfine 2's `measurements`.
#[derive(Deserialize)]
struct HyperfineMeasurement {
    time_wall_clock: HyperfineQuantity,
    memory_peak_resident: Option<HyperfineQuantity>,
    exit_code: Option<i32>,
}

/// A value in hyperfine 2's base units (`second`, `byte`).
#[derive(Deserialize)]
struct HyperfineQuantity {
    value: f64,
    unit: Option<String>,
}

impl HyperfineResult {
    /// hyperfine 2's runs in hyperfine 1's keys, when the file has no `times`.
    fn with_runs_as_times(mut self) -> Result<HyperfineResult, RegressError> {
        let Some(runs) = self.measurements.take().filter(|_| self.times.is_none()) else {
            return Ok(self);
        };
        let kind = SourceKind::Hyperfine;
        for (quantity, unit) in runs.iter().flat_map(|r| {
            [
                (Some(&r.time_wall_clock), "second"),
                (r.memory_peak_resident.as_ref(), "byte"),
            ]
        }) {
            if let Some(found) = quantity.and_then(|q| q.unit.as_deref())
                && found != unit
            {
                return Err(RegressError::import(
                    kind,
                    format!(
                        "'{}' has a run measured in '{found}', not '{unit}'",
                        self.command
                    ),
                ));
            }
        }
        self.times = Some(runs.iter().map(|r| r.time_wall_clock.value).collect());
        let mut memory = Vec::with_capacity(runs.len());
        for quantity in runs.iter().filter_map(|r| r.memory_peak_resident.as_ref()) {
            // u64 holds every byte count a machine can have; past it, or below 0, the file
            // was not written by hyperfine.
            if !(0.0..1.8e19).contains(&quantity.value) {
                return Err(RegressError::import(
                    kind,
                    format!(
                        "'{}' has a run with {} bytes of peak memory, which is not a byte count",
                        self.command, quantity.value
                    ),
                ));
            }
            memory.push(quantity.value as u64);
        }
        // Memory for some runs only cannot be matched to their times.
        self.memory_usage_byte = (memory.len() == runs.len()).then_some(memory);
        self.exit_codes = Some(runs.iter().map(|r| r.exit_code).collect());
        Ok(self)
    }
}

/// Benchmarks from `hyperfine --export-json` text: one per command (`--command-name` sets the
/// name), `results[].times` in seconds, `memory_usage_byte` (hyperfine 1.20 and newer) as
/// each run's peak RSS, and runs with a non-zero or missing exit code (`--ignore-failure`)
/// counted in [`Benchmark::failed_runs`]. hyperfine 2's files, which hold the runs in
/// `measurements` instead, are read the same way.
pub fn parse_hyperfine(text: &str) -> Result<Vec<Benchmark>, RegressError> {
    let kind = SourceKind::Hyperfine;
    let export: HyperfineExport =
        serde_json::from_str(text).map_err(|e| RegressError::import(kind, e.to_string()))?;
    if let Some(v) = export.schema_version.filter(|&v| v > HYPERFINE_SCHEMA) {
        return Err(RegressError::import(
            kind,
            format!(
                "schema_version {v} is newer than the {HYPERFINE_SCHEMA} this perfkit reads: upgrade perfkit"
            ),
        ));
    }
    let mut out = Vec::with_capacity(export.results.len());
    for r in export.results {
        let mut r = r.with_runs_as_times()?;
        if let Some(name) = r.name.take() {
            r.command = name;
        }
        let times = r.times.ok_or_else(|| {
            RegressError::import(
                kind,
                format!(
                    "'{}' has neither \"times\" (hyperfine 1.7 or newer) nor \"measurements\" (hyperfine 2): export it again with hyperfine",
                    r.command
                ),
            )
        })?;
        // hyperfine measures whole nanoseconds; rounding drops the float noise of seconds * 1e9.
        let ns: Vec<f64> = times.iter().map(|s| (s * 1e9).round()).collect();
        let rss = r.memory_usage_byte.unwrap_or_default();
        if !rss.is_empty() && rss.len() != ns.len() {
            return Err(RegressError::import(
                kind,
                format!(
                    "'{}' has {} times but {} memory_usage_byte values",
                    r.command,
                    ns.len(),
                    rss.len()
                ),
            ));
        }
        let failed = r
            .exit_codes
            .iter()
            .flatten()
            .filter(|c| **c != Some(0))
            .count() as u64;
        let mut benchmark = Benchmark::from_samples(r.command, ns, None, rss)?;
        benchmark.failed_runs = failed;
        out.push(benchmark);
    }
    nonempty(out, kind)
}

fn nonempty(out: Vec<Benchmark>, kind: SourceKind) -> Result<Vec<Benchmark>, RegressError> {
    if out.is_empty() {
        return Err(RegressError::import(kind, "it holds no benchmarks".into()));
    }
    let mut names = std::collections::HashSet::new();
    if let Some(dup) = out.iter().find(|b| !names.insert(b.name.as_str())) {
        return Err(RegressError::DuplicateName {
            path: None,
            kind,
            name: dup.name.clone(),
        });
    }
    Ok(out)
}

#[derive(Deserialize)]
struct CriterionBenchmark {
    full_id: String,
    throughput: Option<Value>,
}

/// `sample.json` since criterion 0.3.2; before, it was a pair of arrays `[iters, times]`.
#[derive(Deserialize)]
struct CriterionSample {
    iters: Vec<f64>,
    times: Vec<f64>,
}

/// The iteration counts and times of a `sample.json` in either format.
fn criterion_sample(text: &str) -> Result<(Vec<f64>, Vec<f64>), RegressError> {
    let value: Value = parse_json("sample.json", text)?;
    let parsed = if value.is_array() {
        serde_json::from_value::<(Vec<f64>, Vec<f64>)>(value)
    } else {
        serde_json::from_value::<CriterionSample>(value).map(|s| (s.iters, s.times))
    };
    parsed.map_err(|e| {
        RegressError::import(
            SourceKind::Criterion,
            format!("sample.json: {e}; perfkit reads the files of criterion {CRITERION_VERSIONS}"),
        )
    })
}

/// Reads criterion's saved baseline `name` (`new` is the latest run, `base` the previous one,
/// anything else a `--save-baseline` name) from a results directory: every
/// `<benchmark>/<name>/` holding `benchmark.json` and `sample.json`, in the format of any
/// criterion from [`CRITERION_VERSIONS`]. A sample's time per iteration is
/// `times[i] / iters[i]`; criterion's own estimate (`estimates.json`) is kept as
/// [`Benchmark::tool_estimate`].
pub fn load_criterion(dir: &Path, name: &str) -> Result<Baseline, RegressError> {
    let root = criterion_root(dir);
    let mut found = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    walk(&root, name, &mut found, &mut names, 0)?;
    if found.is_empty() {
        let problem = if names.is_empty() {
            "no criterion results here: run `cargo bench` first, and pass target/criterion".into()
        } else {
            format!(
                "no criterion baseline named '{name}' here; saved baselines: {}",
                names.into_iter().collect::<Vec<_>>().join(", ")
            )
        };
        return Err(RegressError::Import {
            path: Some(root),
            kind: SourceKind::Criterion,
            problem,
        });
    }
    found.sort();
    let mut benchmarks = Vec::with_capacity(found.len());
    for dir in &found {
        benchmarks.push(read_criterion_benchmark(dir).map_err(|e| e.at(dir))?);
    }
    let measured = found
        .iter()
        .filter_map(|dir| modified_unix_s(&dir.join("sample.json")))
        .max();
    let mut baseline = Baseline::new(
        Source {
            kind: SourceKind::Criterion,
            path: Some(root.display().to_string()),
            criterion_baseline: Some(name.to_string()),
        },
        benchmarks,
    )
    .map_err(|e| e.at(&root))?;
    if let Some(t) = measured {
        baseline.created_unix_s = t;
    }
    baseline.loaded_from = Some(root);
    Ok(baseline)
}

/// `dir` itself, or the criterion directory under it (`target/criterion`, `criterion`).
fn criterion_root(dir: &Path) -> PathBuf {
    for sub in ["target/criterion", "criterion"] {
        let candidate = dir.join(sub);
        if candidate.is_dir() {
            return candidate;
        }
    }
    dir.to_path_buf()
}

fn walk(
    dir: &Path,
    name: &str,
    found: &mut Vec<PathBuf>,
    names: &mut std::collections::BTreeSet<String>,
    depth: usize,
) -> Result<(), RegressError> {
    // criterion nests group/function/parameter: 8 levels is plenty and stops symlink loops.
    if depth > 8 {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|source| RegressError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() || path.file_name().is_some_and(|n| n == "report") {
            continue;
        }
        if path.join("sample.json").exists() && path.join("benchmark.json").exists() {
            if let Some(n) = path.file_name().and_then(|n| n.to_str()) {
                names.insert(n.to_string());
                if n == name {
                    found.push(path.clone());
                }
            }
            continue;
        }
        walk(&path, name, found, names, depth + 1)?;
    }
    Ok(())
}

/// The text of one of criterion's files; an empty file is an error that says why criterion
/// leaves them empty.
fn read_criterion_file(path: &Path) -> Result<String, RegressError> {
    let text = perfkit_sys::read_text_limited(path, crate::MAX_INPUT_BYTES).map_err(|source| {
        RegressError::Read {
            path: path.to_path_buf(),
            source,
        }
    })?;
    let file = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    if text.is_empty() {
        return Err(RegressError::import(
            SourceKind::Criterion,
            format!(
                "{file} is empty (criterion empties its files when a run is saved with --save-baseline under the name of the directory it reads from, e.g. `new`): re-run the benchmark and save it under another name"
            ),
        ));
    }
    Ok(text)
}

fn parse_json<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T, RegressError> {
    serde_json::from_str(text).map_err(|e| {
        RegressError::import(
            SourceKind::Criterion,
            format!(
                "{file}: {e}; perfkit reads the files of criterion {CRITERION_VERSIONS} (a \
                 newer criterion may have changed them: please report it)"
            ),
        )
    })
}

/// The criterion releases whose results directories perfkit reads (tested with real files of
/// each format: tests/data/criterion-versions/).
pub const CRITERION_VERSIONS: &str = "0.2.11 to 0.8";

fn read_criterion_benchmark(dir: &Path) -> Result<Benchmark, RegressError> {
    let meta = read_criterion_file(&dir.join("benchmark.json"))?;
    let sample = read_criterion_file(&dir.join("sample.json"))?;
    let estimates = dir.join("estimates.json");
    let estimates = if estimates.exists() {
        Some(read_criterion_file(&estimates)?)
    } else {
        None
    };
    criterion_benchmark(&meta, &sample, estimates.as_deref())
}

/// One criterion benchmark from the text of its `benchmark.json`, `sample.json` and, when
/// there is one, `estimates.json`, in the format of any release from [`CRITERION_VERSIONS`].
pub fn criterion_benchmark(
    benchmark_json: &str,
    sample_json: &str,
    estimates_json: Option<&str>,
) -> Result<Benchmark, RegressError> {
    let meta: CriterionBenchmark = parse_json("benchmark.json", benchmark_json)?;
    let (iters, times) = criterion_sample(sample_json)?;
    if iters.len() != times.len() {
        return Err(RegressError::import(
            SourceKind::Criterion,
            format!(
                "sample.json has {} iteration counts but {} times",
                iters.len(),
                times.len()
            ),
        ));
    }
    let mut per_iteration = Vec::with_capacity(times.len());
    for (&iters, &time) in iters.iter().zip(&times) {
        if !(iters.is_finite() && iters >= 1.0) {
            return Err(RegressError::import(
                SourceKind::Criterion,
                format!("sample.json has an iteration count of {iters}"),
            ));
        }
        per_iteration.push(time / iters);
    }
    let mut benchmark = Benchmark::from_samples(
        meta.full_id,
        per_iteration,
        meta.throughput.as_ref().and_then(criterion_work),
        Vec::new(),
    )?;
    if let Some(text) = estimates_json {
        benchmark.tool_estimate = Some(criterion_estimate(&parse_json("estimates.json", text)?)?);
    }
    Ok(benchmark)
}

#[derive(Deserialize)]
struct CriterionEstimates {
    #[serde(alias = "Mean")]
    mean: CriterionEstimate,
    #[serde(alias = "Slope")]
    slope: Option<CriterionEstimate>,
}

#[derive(Deserialize)]
struct CriterionEstimate {
    confidence_interval: CriterionInterval,
    point_estimate: f64,
}

#[derive(Deserialize)]
struct CriterionInterval {
    lower_bound: f64,
    upper_bound: f64,
}

/// criterion's headline from `estimates.json`: the slope, or the mean when it has none (flat
/// sampling).
fn criterion_estimate(e: &CriterionEstimates) -> Result<ToolEstimate, RegressError> {
    let (statistic, est) = match &e.slope {
        Some(slope) => ("slope", slope),
        None => ("mean", &e.mean),
    };
    let values = [
        est.point_estimate,
        est.confidence_interval.lower_bound,
        est.confidence_interval.upper_bound,
    ];
    if !values.iter().all(|v| v.is_finite()) {
        return Err(RegressError::import(
            SourceKind::Criterion,
            format!("estimates.json: the {statistic} is not a number"),
        ));
    }
    Ok(ToolEstimate {
        statistic: statistic.to_string(),
        ns: est.point_estimate,
        low_ns: est.confidence_interval.lower_bound,
        high_ns: est.confidence_interval.upper_bound,
    })
}

/// criterion's `Throughput` as serialised in `benchmark.json`: `{"Elements": n}`,
/// `{"Bytes": n}`, `{"BytesDecimal": n}` or `{"ElementsAndBytes": {"elements": n, "bytes": m}}`.
fn criterion_work(value: &Value) -> Option<Work> {
    let number = |key: &str| value.get(key).and_then(Value::as_f64);
    if let Some(n) = number("Elements") {
        Some(Work::Elements(n))
    } else if let Some(n) = number("Bytes").or_else(|| number("BytesDecimal")) {
        Some(Work::Bytes(n))
    } else {
        value
            .get("ElementsAndBytes")
            .and_then(|v| v.get("elements"))
            .and_then(Value::as_f64)
            .map(Work::Elements)
    }
    .filter(|w| matches!(w, Work::Elements(n) | Work::Bytes(n) if *n > 0.0))
}
