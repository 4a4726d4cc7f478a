//! Timing two builds of a binary against each other on the evaluation workloads.

use std::path::Path;

use anyhow::Result;
use perfkit_metrics::stats::Statistic;
use serde::Serialize;

use perfkit_sys::{
    BenchObserver, BenchPlan, BenchTarget, CommandSpec, Execution, Executor, ExitKind, Order,
    RunCount, RunOutcome, SysError, run_bench_with,
};

use crate::workload::{self, Places, Workload};

/// A verification that ran and failed (exit code 1, not 2).
#[derive(Debug)]
pub(crate) struct CheckFailed(pub(crate) String);

impl std::fmt::Display for CheckFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CheckFailed {}

/// Timings of one binary: one sample per round, the sum of the evaluation workloads.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Timings {
    /// The binary.
    pub(crate) binary: String,
    /// Median of the samples, in nanoseconds.
    pub(crate) median_ns: f64,
    /// Smallest sample.
    pub(crate) min_ns: f64,
    /// Every sample, in order.
    pub(crate) samples_ns: Vec<f64>,
}

/// Two binaries on the same workloads, interleaved.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Comparison {
    /// The workloads timed.
    pub(crate) workloads: Vec<String>,
    /// Rounds (samples per binary).
    pub(crate) rounds: usize,
    /// The reference build.
    pub(crate) base: Timings,
    /// The optimised build.
    pub(crate) candidate: Timings,
    /// `base median / candidate median`: above 1 the candidate is faster.
    pub(crate) speedup_median: f64,
    /// `base min / candidate min`.
    pub(crate) speedup_min: f64,
    /// Two-sided Mann-Whitney U p-value of the difference.
    pub(crate) p_value: f64,
}

impl Comparison {
    /// Whether the candidate is slower beyond noise (significant at 0.05 and a median ratio
    /// below 1).
    pub(crate) fn significantly_slower(&self) -> bool {
        self.p_value < 0.05 && self.speedup_median < 1.0
    }
}

fn timings(binary: &Path, samples: Vec<f64>) -> Timings {
    Timings {
        binary: binary.display().to_string(),
        median_ns: Statistic::Median
            .of(&mut samples.clone())
            .unwrap_or(f64::NAN),
        min_ns: samples.iter().copied().fold(f64::INFINITY, f64::min),
        samples_ns: samples,
    }
}

/// Runs of perfkit bench's schedule where one run of a binary is every evaluation workload
/// in turn, timed as their sum.
struct Workloads<'a> {
    evals: &'a [Workload],
    places: &'a Places,
    /// The first error of a workload, kept for the caller (the engine's errors are its own).
    failed: Option<anyhow::Error>,
}

impl Executor for Workloads<'_> {
    fn execute(&mut self, run: &Execution<'_>) -> Result<RunOutcome, SysError> {
        let binary = Path::new(&run.command.argv()[0]);
        let mut total = std::time::Duration::ZERO;
        for w in self.evals {
            match workload::run(binary, w, self.places, &[]) {
                Ok(wall) => total += wall,
                Err(e) => {
                    self.failed.get_or_insert(e);
                    return Ok(RunOutcome::timed(ExitKind::Exited { code: 1 }, total));
                }
            }
        }
        Ok(RunOutcome::timed(ExitKind::Exited { code: 0 }, total))
    }
}

/// Runs every evaluation workload once with each binary (untimed warm-up), then `rounds`
/// runs of each in perfkit bench's random interleaved order, and compares.
pub(crate) fn compare(
    base: &Path,
    candidate: &Path,
    evals: &[Workload],
    places: &Places,
    rounds: usize,
) -> Result<Comparison> {
    if rounds < 3 {
        anyhow::bail!("--rounds {rounds}: at least 3 rounds are needed to compare (15 by default)");
    }
    if rounds < 10 {
        eprintln!("xtask: warning: {rounds} rounds give a weak comparison; use 10 or more");
    }
    let target = |binary: &Path| -> Result<BenchTarget> {
        let argv = vec![binary.display().to_string()];
        Ok(BenchTarget::new(CommandSpec::from_argv(argv)?))
    };
    let mut plan = BenchPlan::new(vec![target(base)?, target(candidate)?]);
    plan.runs = RunCount::Exact(rounds as u64);
    plan.warmup = 1;
    // Random interleaving: neither build runs first more often on average, so an order
    // effect (caches, frequency) cannot favour one. A fixed draw makes a comparison repeatable.
    plan.order = Order::Random;
    plan.seed = 0x5eed;
    let mut executor = Workloads {
        evals,
        places,
        failed: None,
    };
    let report = run_bench_with(&plan, &mut Progress(rounds as u64 * 2), &mut executor);
    if let Some(e) = executor.failed {
        return Err(e);
    }
    let report = report?;
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!();
    }
    let walls = |i: usize| -> Vec<f64> {
        (report.commands[i].samples.iter())
            .map(|r| r.wall.as_nanos() as f64)
            .collect()
    };
    let (a, b) = (walls(0), walls(1));
    let p_value = perfkit_regress::stats::mann_whitney(&a, &b).map_or(1.0, |t| t.p_two_sided);
    let base = timings(base, a);
    let candidate = timings(candidate, b);
    Ok(Comparison {
        workloads: evals.iter().map(|w| w.name.clone()).collect(),
        rounds,
        speedup_median: base.median_ns / candidate.median_ns,
        speedup_min: base.min_ns / candidate.min_ns,
        base,
        candidate,
        p_value,
    })
}

/// The rounds counted on a terminal.
struct Progress(u64);

impl BenchObserver for Progress {
    fn measured(&mut self, _target: usize, _outcome: &RunOutcome) {
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            self.0 = self.0.saturating_sub(1);
            eprint!("\rxtask: timing, {} runs to go   ", self.0);
        }
    }
}

/// A one-line summary: `1.052× faster by the median (min 1.048×), p = 0.0001, 15 rounds`.
pub(crate) fn summary(c: &Comparison) -> String {
    format!(
        "{:.3}× by the median ({:.1} ms → {:.1} ms), {:.3}× by the minimum, p = {:.4}, {} interleaved rounds",
        c.speedup_median,
        c.base.median_ns / 1e6,
        c.candidate.median_ns / 1e6,
        c.speedup_min,
        c.p_value,
        c.rounds
    )
}
