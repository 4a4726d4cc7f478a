//! Measure a command, profile it with the tools that are there, and classify.

use perfkit_metrics::Summary;
use perfkit_profilers::{
    flamegraph::{FlamegraphOptions, render_flamegraph},
    massif::Massif,
    perf::{FoldOptions, PerfEnvironment, Record, fold_perf_data},
    strace::{Strace, TraceMode},
};
use perfkit_regress::{Baseline, CheckReport, Policy};
use perfkit_sys::{
    BenchObserver, BenchPlan, BenchReport, BenchTarget, CommandSpec, ProgramIo, RunCount,
};
use serde::{Deserialize, Serialize};

use crate::classify::{
    AllocationSite, Bottleneck, BottleneckKind, HotFunction, Measurements, Recommendation,
    SyscallCount, Syscalls, classify, recommend, with_measured_gain,
};

/// Version of the analysis report format.
pub const ANALYSIS_SCHEMA_VERSION: u32 = 3;

/// Errors of the analyser.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalyzeError {
    /// The command could not be run or measured.
    #[error(transparent)]
    Sys(#[from] perfkit_sys::SysError),
    /// Fewer than 2 measured runs asked for.
    #[error("{0} runs are too few: percentiles need at least 2 runs")]
    TooFewRuns(u64),
    /// An analysis read back from JSON has no measured runs to make a baseline of.
    #[error("this analysis has no measured runs to save as a baseline")]
    NoRuns,
    /// The baseline comparison failed (no benchmark in common, bad policy).
    #[error(transparent)]
    Regress(#[from] perfkit_regress::RegressError),
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
    /// Profile the heap (once): with perfkit's sampler by default, or with valgrind massif,
    /// under which the program runs several times slower.
    pub heap: bool,
    /// Which heap profiler `heap` runs.
    pub heap_mode: HeapMode,
    /// Compare the measured runs with this baseline (perfkit-regress).
    pub baseline: Option<Baseline>,
    /// The regression rules of the comparison.
    pub policy: Policy,
    /// The program's standard input and output, in the measured runs and the profiled ones.
    pub io: ProgramIo,
    /// With the output on `/dev/null`, run the command once into a pipe too and warn when it
    /// does less into `/dev/null`.
    pub probe_output: bool,
    /// Measure this other way of doing the same work too, interleaved with the command
    /// (`--demo`: the same tasks through a process pool), and report the speed-up.
    pub alternative: Option<AlternativeCommand>,
}

/// Another command that does the same work, to measure beside the analysed one.
#[derive(Clone, Debug)]
pub struct AlternativeCommand {
    /// What it changes, in a few words ("the same tasks through `perfkit pool`").
    pub label: String,
    /// The command.
    pub argv: Vec<String>,
    /// The bottleneck it removes: its recommendation then cites the speed-up measured here.
    pub fixes: Option<BottleneckKind>,
}

impl AlternativeCommand {
    /// `argv` runs the same `tasks` as the analysed command, which starts a process per task,
    /// through a pool of `workers`: the fix of the spawn-heavy bottleneck, measured beside it.
    #[must_use]
    pub fn pooled(argv: Vec<String>, tasks: u32, workers: usize) -> AlternativeCommand {
        let s = if workers == 1 { "" } else { "s" };
        AlternativeCommand {
            label: format!(
                "the same {tasks} tasks through perfkit pool ({workers} persistent worker{s})"
            ),
            argv,
            fixes: Some(BottleneckKind::SpawnHeavy),
        }
    }
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        Self {
            runs: 10,
            warmup: 1,
            profile: true,
            syscalls: true,
            heap: false,
            heap_mode: HeapMode::Sampled,
            baseline: None,
            policy: Policy::default(),
            io: ProgramIo::default(),
            probe_output: false,
            alternative: None,
        }
    }
}

/// Follows an analysis: the measured runs (as [`BenchObserver`]) and each profiling step.
pub trait AnalyzeObserver: BenchObserver {
    /// A profiling step starts, e.g. "counting system calls (strace -c -f)".
    fn step(&mut self, _what: &str) {}
}

impl AnalyzeObserver for perfkit_sys::NoObserver {}

/// Which heap profiler runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeapMode {
    /// perfkit's preloaded sampler: nearly full speed, sites estimated from samples.
    #[default]
    Sampled,
    /// valgrind massif: every allocation, several times slower.
    Exact,
}

impl HeapMode {
    /// The profiler, as the report names it.
    #[must_use]
    pub fn profiler(self) -> &'static str {
        match self {
            HeapMode::Sampled => "perfkit's heap sampler",
            HeapMode::Exact => "valgrind massif",
        }
    }
}

/// The heap at its peak.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeapProfile {
    /// Which profiler measured it (older reports: massif).
    #[serde(default = "exact")]
    pub mode: HeapMode,
    /// Useful heap bytes at the peak.
    pub peak_heap_bytes: u64,
    /// Heap plus allocator overhead at the peak (the sampler counts the blocks' usable sizes,
    /// so it gives the same figure twice).
    pub peak_total_bytes: u64,
    /// The largest allocation sites at the peak, largest first (estimated when sampled).
    pub sites: Vec<AllocationSite>,
}

fn exact() -> HeapMode {
    HeapMode::Exact
}

/// A measurement or profile of the analysis that could not be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Block-I/O wait per run (the kernel's delay accounting).
    BlockIoWait,
    /// The system-call count (`strace -c`).
    Syscalls,
    /// The trace of process starts (`strace -e trace=%process`).
    ProcessStarts,
    /// The CPU profile (perf).
    CpuProfile,
    /// The heap profile (valgrind massif).
    Heap,
}

impl Step {
    /// What the step is, for people.
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Step::BlockIoWait => "block-I/O wait",
            Step::Syscalls => "system calls (strace)",
            Step::ProcessStarts => "process starts (strace -e trace=%process)",
            Step::CpuProfile => "CPU profile (perf)",
            Step::Heap => "heap profile",
        }
    }
}

/// A step that could not be taken, and why (with the fix when there is one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unavailable {
    /// The step.
    pub step: Step,
    /// Why, and what to do.
    pub reason: String,
}

impl Unavailable {
    fn new(step: Step, reason: impl Into<String>) -> Unavailable {
        Unavailable {
            step,
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.step.title(), self.reason)
    }
}

/// The alternative command, measured in the same runs (interleaved with the analysed one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alternative {
    /// What it changes.
    pub label: String,
    /// The command.
    pub command: Vec<String>,
    /// Its wall time per run, nanoseconds.
    pub latency: Summary,
    /// How many times faster it is than the analysed command (ratio of mean wall times;
    /// below 1 when it is slower).
    pub speedup: f64,
    /// 95% bootstrap interval of the speed-up.
    pub interval: Option<perfkit_regress::Interval>,
}

/// The measured runs compared with a baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineComparison {
    /// The baseline file, as given.
    pub path: Option<String>,
    /// The baseline's benchmark the command was compared with, when its name differs from
    /// the command (a baseline of one benchmark is compared whatever its name).
    pub compared_with: Option<String>,
    /// The check (perfkit-regress): findings per metric, verdicts, p-values.
    pub check: CheckReport,
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
    pub unavailable: Vec<Unavailable>,
    /// What may make the numbers or the verdict wrong (a program that does less into
    /// `/dev/null`, a wrapper script), shown before them.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// CPU samples in the perf profile (one run), when perf ran.
    #[serde(default)]
    pub cpu_samples: Option<u64>,
    /// The heap profile, with `heap`.
    #[serde(default)]
    pub heap: Option<HeapProfile>,
    /// The comparison with the baseline, when one was given.
    #[serde(default)]
    pub baseline: Option<BaselineComparison>,
    /// The same work done another way, measured in the same session (`--demo`: through a
    /// process pool instead of a process per task).
    #[serde(default)]
    pub alternative: Option<Alternative>,
    /// The flamegraph of the CPU profile (SVG), when perf ran.
    #[serde(skip)]
    pub flamegraph_svg: Option<String>,
    /// The benchmark report of the measured runs (for baselines).
    #[serde(skip)]
    pub bench: Option<BenchReport>,
}

/// Measures `argv` `runs` times (interleaved with the alternative, when there is one),
/// profiles it once with each tool asked for (each skipped, with a note, when the tool is
/// missing or not permitted), compares with the baseline, and classifies.
pub fn analyze(
    argv: &[String],
    options: &AnalyzeOptions,
    observer: &mut dyn AnalyzeObserver,
) -> Result<Analysis, AnalyzeError> {
    if options.runs < 2 {
        return Err(AnalyzeError::TooFewRuns(options.runs));
    }
    options.policy.validate()?;
    let report = measure(argv, options, observer)?;
    let warnings: Vec<String> = report.commands[..1]
        .iter()
        .filter_map(|c| c.output_probe.as_ref()?.warning(&c.name))
        // The report advises perfkit's own options, as its recommendations do.
        .map(|w| {
            format!("{w} (--output=pipe measures the real work; --output=null keeps /dev/null)")
        })
        .collect();
    let c = &report.commands[0];
    let mut measurements = measurements(c);
    let mut unavailable: Vec<Unavailable> = unmeasured_io_wait(&measurements).into_iter().collect();
    if options.syscalls {
        trace_syscalls(argv, options, observer, &mut measurements, &mut unavailable);
    }
    let mut flamegraph_svg = None;
    let mut cpu_samples = None;
    if options.profile {
        observer.step("recording a CPU profile (perf, one run)");
        match cpu_profile(argv, &options.io) {
            Ok((hot, svg, samples)) => {
                measurements.hot_functions = hot;
                flamegraph_svg = Some(svg);
                cpu_samples = Some(samples);
            }
            Err(e) => unavailable.push(Unavailable::new(
                Step::CpuProfile,
                format!("not available: {e}"),
            )),
        }
    }
    let heap = if options.heap {
        observer.step(match options.heap_mode {
            HeapMode::Sampled => "profiling the heap (perfkit's heap sampler, one run)",
            HeapMode::Exact => "profiling the heap (valgrind massif, one run)",
        });
        heap_step(argv, options, &mut measurements, &mut unavailable)
    } else {
        None
    };
    let program = measurements
        .processes
        .as_ref()
        .and_then(|p| p.command_chain.last().cloned())
        .unwrap_or_else(|| argv[0].clone());
    measurements.program =
        crate::program::ProgramInfo::detect(&program, &measurements.hot_functions);
    let mut warnings = warnings;
    if let Some(warning) = wrapper_warning(argv, &measurements) {
        warnings.push(warning);
    }
    if let Some(warning) = heap.as_ref().and_then(|h| unseen_memory(h, &measurements)) {
        warnings.push(warning);
    }
    let alternative = options
        .alternative
        .as_ref()
        .and_then(|alt| alternative(alt, &report));
    let bottlenecks = classify(&measurements);
    let mut recommendations = recommend(&bottlenecks, &measurements);
    if let (Some(alt), Some(kind)) = (
        &alternative,
        options.alternative.as_ref().and_then(|a| a.fixes),
    ) {
        let measured = format!("{}, {}", alt.label, crate::report::speedup_text(alt));
        with_measured_gain(&mut recommendations, kind, &measured);
    }
    let mut analysis = Analysis {
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
        warnings,
        cpu_samples,
        heap,
        baseline: None,
        alternative,
        flamegraph_svg,
        bench: Some(report),
    };
    if let Some(baseline) = &options.baseline {
        analysis.baseline = Some(compare(&analysis, baseline, &options.policy)?);
    }
    Ok(analysis)
}

/// The measured runs: the command, interleaved with the alternative when there is one.
fn measure(
    argv: &[String],
    options: &AnalyzeOptions,
    observer: &mut dyn AnalyzeObserver,
) -> Result<BenchReport, AnalyzeError> {
    let mut targets = vec![BenchTarget::new(CommandSpec::from_argv(argv.to_vec())?)];
    if let Some(alt) = &options.alternative {
        targets.push(BenchTarget::new(CommandSpec::from_argv(alt.argv.clone())?));
    }
    let mut plan = BenchPlan::new(targets);
    plan.runs = RunCount::Exact(options.runs);
    plan.warmup = options.warmup;
    plan.input.clone_from(&options.io.input);
    plan.output = options.io.output.clone();
    plan.probe_output = options.probe_output;
    Ok(perfkit_sys::run_bench(&plan, observer)?)
}

impl Analysis {
    /// The measured runs of the analysed command as a baseline (for `--save-baseline`).
    ///
    /// # Errors
    ///
    /// [`AnalyzeError::NoRuns`] for an analysis read back from JSON (it has no samples), or
    /// what perfkit-regress finds wrong with the samples.
    pub fn to_baseline(&self) -> Result<Baseline, AnalyzeError> {
        let Some(report) = &self.bench else {
            return Err(AnalyzeError::NoRuns);
        };
        let mut baseline = perfkit_regress::perfkit_bench_baseline(report)?;
        // Only the analysed command, not the alternative measured beside it.
        let name = &report.commands[0].name;
        baseline.benchmarks.retain(|b| &b.name == name);
        Ok(baseline)
    }

    /// Whether the baseline comparison found a regression.
    #[must_use]
    pub fn regressed(&self) -> bool {
        self.baseline
            .as_ref()
            .is_some_and(|b| b.check.has_regression())
    }
}

/// Checks the analysed command against `baseline`. A baseline of one benchmark is compared
/// with the command whatever its name (`analyze -- ./new` against a baseline of `./old`).
fn compare(
    analysis: &Analysis,
    baseline: &Baseline,
    policy: &Policy,
) -> Result<BaselineComparison, AnalyzeError> {
    let mut current = analysis.to_baseline()?;
    let mut compared_with = None;
    if let ([only], [mine]) = (
        baseline.benchmarks.as_slice(),
        current.benchmarks.as_mut_slice(),
    ) && only.name != mine.name
    {
        compared_with = Some(only.name.clone());
        mine.name.clone_from(&only.name);
    }
    Ok(BaselineComparison {
        path: baseline
            .loaded_from
            .as_ref()
            .map(|p| p.display().to_string()),
        compared_with,
        check: perfkit_regress::check(baseline, &current, policy)?,
    })
}

/// Per-run means of what perfkit-sys measured for one command.
fn measurements(c: &perfkit_sys::CommandReport) -> Measurements {
    let runs = c.samples.len().max(1) as f64;
    let mean = |f: &dyn Fn(&perfkit_sys::RunOutcome) -> Option<f64>| -> Option<f64> {
        let values: Option<Vec<f64>> = c.samples.iter().map(f).collect();
        values.map(|v| v.iter().sum::<f64>() / runs)
    };
    Measurements {
        runs: c.runs,
        wall_ns: c.wall.mean,
        user_ns: c.user_mean_ns,
        system_ns: c.system_mean_ns,
        voluntary_switches: mean(&|o| Some(o.voluntary_switches as f64)).unwrap_or(0.0),
        involuntary_switches: mean(&|o| Some(o.involuntary_switches as f64)).unwrap_or(0.0),
        io_bytes: mean(&|o| o.io.map(|io| (io.rchar + io.wchar) as f64)),
        // Over the runs that have it: perfkit-sys drops a delay the kernel got wrong.
        io_wait_ns: {
            let known: Vec<f64> = c
                .samples
                .iter()
                .filter_map(|o| o.block_io_delay.map(|d| d.as_nanos() as f64))
                .collect();
            (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64)
        },
        peak_rss_bytes: c.peak_rss_bytes,
        minor_faults: mean(&|o| Some(o.minor_faults as f64)).unwrap_or(0.0),
        major_faults: mean(&|o| Some(o.major_faults as f64)).unwrap_or(0.0),
        heap_peak_bytes: None,
        heap_sites: Vec::new(),
        syscalls: None,
        processes: None,
        program: None,
        hot_functions: Vec::new(),
        cpus: std::thread::available_parallelism()
            .ok()
            .and_then(|n| u32::try_from(n.get()).ok())
            .unwrap_or(1),
    }
}

/// The alternative's latency and its speed-up over the analysed command, from the bench
/// report's relative speeds (mean wall times, bootstrap interval).
fn alternative(alt: &AlternativeCommand, report: &BenchReport) -> Option<Alternative> {
    let other = report.commands.get(1)?;
    let (mine, theirs) = (report.relative.first()?, report.relative.get(1)?);
    // `ratio` is each command's mean over the fastest one's: the slower one carries the
    // ratio and its interval.
    let (speedup, interval) = if theirs.fastest {
        (mine.ratio, mine.interval)
    } else {
        (
            1.0 / theirs.ratio,
            theirs.interval.map(|i| perfkit_regress::Interval {
                estimate: 1.0 / i.estimate,
                low: 1.0 / i.high,
                high: 1.0 / i.low,
                confidence: i.confidence,
            }),
        )
    };
    Some(Alternative {
        label: alt.label.clone(),
        command: alt.argv.clone(),
        latency: other.wall,
        speedup,
        interval,
    })
}

/// One run under `strace -c -w -f` for the syscall mix and, when the command starts
/// processes or threads, one under a process trace to tell them apart and time the starts.
fn trace_syscalls(
    argv: &[String],
    options: &AnalyzeOptions,
    observer: &mut dyn AnalyzeObserver,
    measurements: &mut Measurements,
    unavailable: &mut Vec<Unavailable>,
) {
    observer.step("counting system calls (strace -c -w -f, one run)");
    let outcome = match Strace::command(argv)
        .wall_clock(true)
        .program_io(options.io.clone())
        .run()
    {
        Ok(outcome) => outcome,
        Err(e) => {
            unavailable.push(Unavailable::new(
                Step::Syscalls,
                format!("not available: {e}"),
            ));
            return;
        }
    };
    let Some(summary) = outcome.summary else {
        return;
    };
    let counted = syscalls(&summary, outcome.wall);
    let starts = counted.forks > 0.0 || counted.execve > 1.0;
    measurements.syscalls = Some(counted);
    if !starts {
        return;
    }
    observer.step("tracing process starts (strace -f -e trace=%process, one run)");
    match Strace::command(argv)
        .mode(TraceMode::Processes)
        .program_io(options.io.clone())
        .run()
    {
        Ok(outcome) => measurements.processes = outcome.processes,
        Err(e) => unavailable.push(Unavailable::new(
            Step::ProcessStarts,
            format!("not available, so process starts are not weighed: {e}"),
        )),
    }
}

/// Block-I/O wait is measured only with the kernel's delay accounting on.
fn unmeasured_io_wait(measurements: &Measurements) -> Option<Unavailable> {
    measurements.io_wait_ns.is_none().then(|| {
        Unavailable::new(
            Step::BlockIoWait,
            "not measured: the kernel's delay accounting is off (sudo sysctl kernel.task_delayacct=1); waits for storage count as waiting",
        )
    })
}

/// One massif run, following exec when the process trace showed a wrapper.
fn heap_step(
    argv: &[String],
    options: &AnalyzeOptions,
    measurements: &mut Measurements,
    unavailable: &mut Vec<Unavailable>,
) -> Option<HeapProfile> {
    let wrapper = measurements
        .processes
        .as_ref()
        .is_some_and(|p| p.final_program().is_some());
    let profiled = match options.heap_mode {
        HeapMode::Sampled => sampled_heap_profile(argv, &options.io),
        HeapMode::Exact => heap_profile(argv, &options.io, wrapper).map_err(|e| e.to_string()),
    };
    match profiled {
        Ok(h) => {
            measurements.heap_peak_bytes = Some(h.peak_heap_bytes);
            measurements.heap_sites.clone_from(&h.sites);
            Some(h)
        }
        Err(e) => {
            unavailable.push(Unavailable::new(Step::Heap, format!("not available: {e}")));
            None
        }
    }
}

/// Says when the resident memory is far above the heap the profiler saw: memory mapped
/// directly or handed out by an allocator whose calls the `malloc` hooks do not see
/// (jemalloc, mimalloc, an arena), which massif's `--pages-as-heap` counts.
fn unseen_memory(heap: &HeapProfile, m: &Measurements) -> Option<String> {
    let seen = heap.peak_total_bytes;
    let rss = m.peak_rss_bytes;
    (rss >= seen.saturating_mul(4) && rss - seen >= 64 << 20).then(|| {
        format!(
            "peak RSS {} is far above the heap {} saw ({}): the rest is mapped directly or comes from an allocator that does not call malloc (jemalloc, mimalloc, arenas); `perfkit heap --exact --pages-as-heap -- CMD` counts mapped pages instead",
            perfkit_metrics::format_bytes(rss),
            heap.mode.profiler(),
            perfkit_metrics::format_bytes(seen)
        )
    })
}

/// Says when the command is a wrapper that runs another program (a shim, `env`, a script
/// that `exec`s), what it costs, and that the profiles see the program it runs.
fn wrapper_warning(argv: &[String], m: &Measurements) -> Option<String> {
    let trace = m.processes.as_ref()?;
    let last = trace.final_program()?;
    Some(format!(
        "{} is a wrapper: it runs {last} ({}), which took {} of the traced run's {} to start ({:.0}%); the CPU and heap profiles follow it to {last}, and `perfkit analyze -- {last} ...` measures the program alone",
        perfkit_sys::quote_command(&argv[..1]),
        trace.command_chain.join(" → "),
        perfkit_metrics::format_duration(trace.wrapper_ns as f64),
        perfkit_metrics::format_duration(trace.traced_ns as f64),
        100.0 * trace.wrapper_ns as f64 / (trace.traced_ns as f64).max(1.0)
    ))
}

fn syscalls(
    summary: &perfkit_profilers::strace::SyscallSummary,
    wall: std::time::Duration,
) -> Syscalls {
    let mut by_name: std::collections::BTreeMap<String, SyscallCount> =
        std::collections::BTreeMap::new();
    for r in summary.rows() {
        let entry = by_name.entry(r.syscall.clone()).or_default();
        entry.name.clone_from(&r.syscall);
        entry.calls += r.calls as f64;
        entry.errors += r.errors as f64;
        entry.ns += r.seconds * 1e9;
    }
    let total_ns: f64 = by_name.values().map(|c| c.ns).sum();
    let mut top: Vec<SyscallCount> = by_name
        .into_values()
        .map(|mut c| {
            c.share = if total_ns > 0.0 { c.ns / total_ns } else { 0.0 };
            c
        })
        .collect();
    top.sort_by(|a, b| b.ns.total_cmp(&a.ns).then(b.calls.total_cmp(&a.calls)));
    let of = |names: &[&str]| {
        top.iter()
            .filter(|c| names.contains(&c.name.as_str()))
            .fold((0.0, 0.0), |(calls, errors), c| {
                (calls + c.calls, errors + c.errors)
            })
    };
    let (execs, failed) = of(&["execve", "execveat"]);
    Syscalls {
        calls: summary.total_calls() as f64,
        execve: execs - failed,
        failed_execve: failed,
        forks: of(&["clone", "clone3", "fork", "vfork"]).0,
        traced_wall_ns: wall.as_nanos() as f64,
        top,
    }
}

/// One perf recording: the ten hottest functions, the flamegraph and the number of samples.
fn cpu_profile(
    argv: &[String],
    io: &ProgramIo,
) -> Result<(Vec<HotFunction>, String, u64), perfkit_profilers::ProfilerError> {
    let env = PerfEnvironment::detect()?;
    env.check_record()?;
    let dir = perfkit_sys::signals::PrivateDir::new("perfkit-analyze-").map_err(|e| {
        perfkit_profilers::ProfilerError::Io {
            context: "cannot create a temporary directory for perf.data".into(),
            source: e,
        }
    })?;
    let outcome = Record::command(argv)
        .output(dir.path().join("perf.data"))
        .program_io(io.clone())
        .run(&env)?;
    let folded = fold_perf_data(&env.perf, &outcome.perf_data, &FoldOptions::default())?.stacks;
    let hot = folded.hot_functions(10);
    let mut svg = Vec::new();
    let options = FlamegraphOptions {
        title: "CPU profile".into(),
        subtitle: Some(perfkit_sys::quote_command(argv)),
        ..FlamegraphOptions::default()
    };
    render_flamegraph(&folded, &options, &mut svg)?;
    Ok((
        hot,
        String::from_utf8_lossy(&svg).into_owned(),
        folded.total(),
    ))
}

/// One massif run: the heap at its peak and its five largest allocation sites.
fn heap_profile(
    argv: &[String],
    io: &ProgramIo,
    wrapper: bool,
) -> Result<HeapProfile, perfkit_profilers::ProfilerError> {
    let outcome = Massif::command(argv)
        .program_io(io.clone())
        .follow_exec(wrapper)
        .run()?;
    let profile = &outcome.profile;
    let peak = profile.peak();
    Ok(HeapProfile {
        mode: HeapMode::Exact,
        peak_heap_bytes: peak.map_or(0, |p| p.heap),
        peak_total_bytes: peak.map_or(0, perfkit_profilers::massif::MassifSnapshot::total),
        sites: profile.top_sites(5),
    })
}

/// One run with perfkit's heap sampler (every 512 KiB on average): the peak as the shim
/// counted it and the five sites with the most bytes live at the peak.
fn sampled_heap_profile(argv: &[String], io: &ProgramIo) -> Result<HeapProfile, String> {
    use perfkit_profilers::heap::HeapFrame;
    let outcome = perfkit_profilers::heap::SampledHeap::command(argv)
        .program_io(io.clone())
        .run()
        .map_err(|e| e.to_string())?;
    let Some(profile) = &outcome.profile else {
        return Err(format!(
            "the program wrote no heap profile ({}): {}",
            outcome.status,
            outcome.missing.as_deref().unwrap_or("no reason known")
        ));
    };
    let sites = profile
        .top_by(|s| s.peak_bytes, 5)
        .into_iter()
        .map(|site| AllocationSite {
            bytes: site.peak_bytes.round() as u64,
            percent: if profile.peak_bytes_estimate > 0.0 {
                site.peak_bytes / profile.peak_bytes_estimate * 100.0
            } else {
                0.0
            },
            site: site
                .named_frame()
                .map_or_else(|| "[unknown]".to_owned(), HeapFrame::describe),
            call_path: site.frames.iter().map(HeapFrame::describe).collect(),
        })
        .collect();
    Ok(HeapProfile {
        mode: HeapMode::Sampled,
        peak_heap_bytes: profile.totals.peak_bytes,
        peak_total_bytes: profile.totals.peak_bytes,
        sites,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pooled_alternative_fixes_spawning_and_names_its_workers() {
        let one = AlternativeCommand::pooled(vec!["w".into()], 7, 1);
        assert_eq!(one.argv, ["w"]);
        assert_eq!(one.fixes, Some(BottleneckKind::SpawnHeavy));
        let label = &one.label;
        assert!(
            label.ends_with("7 tasks through perfkit pool (1 persistent worker)"),
            "{label}"
        );
        let two = AlternativeCommand::pooled(vec!["w".into()], 7, 2);
        assert!(
            two.label.ends_with("(2 persistent workers)"),
            "{}",
            two.label
        );
    }

    #[test]
    fn resident_memory_far_above_the_heap_points_at_pages_as_heap() {
        let heap = |bytes: u64| HeapProfile {
            mode: HeapMode::Exact,
            peak_heap_bytes: bytes,
            peak_total_bytes: bytes,
            sites: vec![],
        };
        let rss = |bytes: u64| Measurements {
            peak_rss_bytes: bytes,
            ..Measurements::default()
        };
        // jemalloc's arenas: 800 MiB resident, 2 MiB seen by massif.
        let warning = unseen_memory(&heap(2 << 20), &rss(800 << 20)).unwrap();
        assert!(warning.contains("--pages-as-heap"), "{warning}");
        // The heap is most of the memory; a small program's libraries are not worth a word.
        assert!(unseen_memory(&heap(300 << 20), &rss(613 << 20)).is_none());
        assert!(unseen_memory(&heap(100 << 10), &rss(6 << 20)).is_none());
    }
}
