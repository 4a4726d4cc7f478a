//! Timing two builds of a binary against each other on the evaluation workloads.

use std::path::Path;

use anyhow::Result;
use perfkit_metrics::stats::Statistic;
use serde::Serialize;

use crate::workload::{Places, Workload, run};

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

/// Runs every evaluation workload once with each binary (untimed warm-up), then `rounds`
/// rounds alternating which binary goes first, and compares.
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
    for w in evals {
        run(base, w, places, &[])?;
        run(candidate, w, places, &[])?;
    }
    let mut a = Vec::with_capacity(rounds);
    let mut b = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let order: [(&Path, &mut Vec<f64>); 2] = if round % 2 == 0 {
            [(base, &mut a), (candidate, &mut b)]
        } else {
            [(candidate, &mut b), (base, &mut a)]
        };
        for (binary, samples) in order {
            let mut total = 0.0;
            for w in evals {
                total += run(binary, w, places, &[])?.as_nanos() as f64;
            }
            samples.push(total);
        }
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprint!("\rxtask: timing round {}/{rounds}", round + 1);
        }
    }
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!();
    }
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
