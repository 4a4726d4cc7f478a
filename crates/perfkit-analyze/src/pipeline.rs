//! Measure a command, profile it with the tools that are there, and classify.

use perfkit_metrics::Summary;
use perfkit_profilers::{
    FlamegraphOptions, FoldOptions, PerfEnvironment, Record, Strace, fold_perf_data,
    render_flamegraph,
};
use perfkit_sys::{BenchObserver, BenchPlan, BenchReport, BenchTarget, CommandSpec, RunCount};
use serde::{Deserialize, Serialize};

use crate::classify::{
    Bottleneck, HotFunction, Measurements, Recommendation, Syscalls, classify, recommend,
};

/// Version of the analysis report format.
pub const ANALYSIS_SCHEMA_VERSION: u32 = 1;

/// Errors of the analyser.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalyzeError {
    /// The command could not be run or measured.
    #[error(transparent)]
    Sys(#[from] perfkit_sys::SysError),
    /// Bad options.
    #[error("{0}")]
    Usage(String),
}

/// What `analyze` does.
#[derive(Clone, Debug)]
pub struct AnalyzeOptions {
    /// Measured runs.
    pub runs: u64,
    /// Untimed runs first.
    pub warmup: u64,
    /// Record a CPU profile with perf (once).
    pub profile: bool,
    /// Count system calls with `strace -c -f` (once).
    pub syscalls: bool,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        Self {
            runs: 10,
            warmup: 1,
            profile: true,
            syscalls: true,
        }
    }
}

/// Everything the analysis found.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Analysis {
    /// Format version, [`ANALYSIS_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The command analysed.
    pub command: Vec<String>,
    /// Wall time per run, nanoseconds.
    pub latency: Summary,
    /// Runs per second (1 / mean wall time).
    pub throughput_per_s: f64,
    /// The per-run averages the bottlenecks come from.
    pub measurements: Measurements,
    /// Strongest first.
    pub bottlenecks: Vec<Bottleneck>,
    /// One per bottleneck.
    pub recommendations: Vec<Recommendation>,
    /// Profiles that could not be taken, with the reason and the fix.
    pub unavailable: Vec<String>,
    /// The flamegraph of the CPU profile (SVG), when perf ran.
    #[serde(skip)]
    pub flamegraph_svg: Option<String>,
    /// The benchmark report of the measured runs (for baselines).
    #[serde(skip)]
    pub bench: Option<BenchReport>,
}

/// Measures `argv` `runs` times, profiles it once with perf and once with strace (each
/// skipped, with a note, when the tool is missing or not permitted), and classifies.
pub fn analyze(
    argv: &[String],
    options: &AnalyzeOptions,
    observer: &mut dyn BenchObserver,
) -> Result<Analysis, AnalyzeError> {
    if options.runs < 2 {
        return Err(AnalyzeError::Usage(format!(
            "--runs {}: at least 2 runs are needed for percentiles",
            options.runs
        )));
    }
    let command = CommandSpec::from_argv(argv.to_vec())?;
    let mut plan = BenchPlan::new(vec![BenchTarget::new(command)]);
    plan.runs = RunCount::Exact(options.runs);
    plan.warmup = options.warmup;
    let report = perfkit_sys::run_bench(&plan, observer)?;
    let c = &report.commands[0];
    let runs = c.samples.len().max(1) as f64;
    let mean = |f: &dyn Fn(&perfkit_sys::RunOutcome) -> Option<f64>| -> Option<f64> {
        let values: Option<Vec<f64>> = c.samples.iter().map(f).collect();
        values.map(|v| v.iter().sum::<f64>() / runs)
    };
    let mut measurements = Measurements {
        runs: c.runs,
        wall_ns: c.wall.mean,
        user_ns: c.user_mean_ns,
        system_ns: c.system_mean_ns,
        voluntary_switches: mean(&|o| Some(o.voluntary_switches as f64)).unwrap_or(0.0),
        involuntary_switches: mean(&|o| Some(o.involuntary_switches as f64)).unwrap_or(0.0),
        io_bytes: mean(&|o| o.io.map(|io| (io.rchar + io.wchar) as f64)),
        io_wait_ns: mean(&|o| o.block_io_delay.map(|d| d.as_nanos() as f64)),
        peak_rss_bytes: c.peak_rss_bytes,
        heap_peak_bytes: None,
        syscalls: None,
        hot_functions: Vec::new(),
        cpus: std::thread::available_parallelism()
            .ok()
            .and_then(|n| u32::try_from(n.get()).ok())
            .unwrap_or(1),
    };
    let mut unavailable = Vec::new();
    if options.syscalls {
        match Strace::command(argv).run() {
            Ok(outcome) => {
                if let Some(summary) = outcome.summary {
                    measurements.syscalls = Some(syscalls(&summary));
                }
            }
            Err(e) => unavailable.push(format!("system calls (strace): not available: {e}")),
        }
    }
    let mut flamegraph_svg = None;
    if options.profile {
        match cpu_profile(argv) {
            Ok((hot, svg)) => {
                measurements.hot_functions = hot;
                flamegraph_svg = Some(svg);
            }
            Err(e) => unavailable.push(format!("CPU profile (perf): not available: {e}")),
        }
    }
    let bottlenecks = classify(&measurements);
    let recommendations = recommend(&bottlenecks);
    Ok(Analysis {
        schema_version: ANALYSIS_SCHEMA_VERSION,
        command: argv.to_vec(),
        latency: c.wall,
        throughput_per_s: if c.wall.mean > 0.0 {
            1e9 / c.wall.mean
        } else {
            0.0
        },
        measurements,
        bottlenecks,
        recommendations,
        unavailable,
        flamegraph_svg,
        bench: Some(report),
    })
}

fn syscalls(summary: &perfkit_profilers::SyscallSummary) -> Syscalls {
    let calls = |names: &[&str]| names.iter().map(|n| summary.calls(n) as f64).sum::<f64>();
    let total_time: f64 = summary.rows().map(|r| r.seconds).sum();
    let mut top: Vec<(String, f64, f64)> = summary
        .rows()
        .map(|r| {
            let share = if total_time > 0.0 {
                r.seconds / total_time
            } else {
                0.0
            };
            (r.syscall.clone(), r.calls as f64, share)
        })
        .collect();
    top.sort_by(|a, b| b.2.total_cmp(&a.2).then(b.1.total_cmp(&a.1)));
    top.truncate(5);
    Syscalls {
        calls: summary.total_calls() as f64,
        execve: calls(&["execve", "execveat"]),
        forks: calls(&["clone", "clone3", "fork", "vfork"]),
        top,
    }
}

/// One perf recording: the ten hottest functions and the flamegraph.
fn cpu_profile(
    argv: &[String],
) -> Result<(Vec<HotFunction>, String), perfkit_profilers::ProfilerError> {
    let env = PerfEnvironment::detect()?;
    env.check_record()?;
    let dir = tempfile::tempdir().map_err(|e| perfkit_profilers::ProfilerError::Io {
        context: "cannot create a temporary directory for perf.data".into(),
        source: e,
    })?;
    let outcome = Record::command(argv)
        .output(dir.path().join("perf.data"))
        .run(&env)?;
    let folded = fold_perf_data(&env.perf, &outcome.perf_data, &FoldOptions::default())?;
    let hot = folded
        .hot_functions(10)
        .into_iter()
        .map(|h| HotFunction {
            name: h.name,
            self_percent: h.self_percent,
            total_percent: h.inclusive_percent,
        })
        .collect();
    let mut svg = Vec::new();
    let options = FlamegraphOptions {
        title: "CPU profile".into(),
        subtitle: Some(argv.join(" ")),
        ..FlamegraphOptions::default()
    };
    render_flamegraph(&folded, &options, &mut svg)?;
    Ok((hot, String::from_utf8_lossy(&svg).into_owned()))
}
