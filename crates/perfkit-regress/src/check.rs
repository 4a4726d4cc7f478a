//! Comparing a current run with a baseline: one [`Finding`] per benchmark and metric.

use perfkit_metrics::stats::{Interval, bootstrap_ratio_with, quantile_unsorted};
use serde::{Deserialize, Serialize};

use crate::RegressError;
use crate::baseline::{Baseline, Benchmark, Source, Work};
use crate::environment::Environment;
use crate::policy::{Metric, Policy};
use crate::stats::{mann_whitney, tail_test};

/// Version of the check report format.
pub const CHECK_SCHEMA_VERSION: u32 = 1;

/// What a check concluded about one metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Worse by more than the threshold, and significant.
    Regressed,
    /// Better by more than the threshold, and significant.
    Improved,
    /// Within the threshold, or not significant.
    Unchanged,
    /// Not enough data to tell (too few samples, metric not measured).
    Inconclusive,
}

impl Verdict {
    /// Lower-case name, as in JSON.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Regressed => "regressed",
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// The unit of a finding's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Nanoseconds per iteration.
    Nanoseconds,
    /// Iterations per second.
    IterationsPerSecond,
    /// Elements per second.
    ElementsPerSecond,
    /// Bytes per second.
    BytesPerSecond,
    /// Bytes.
    Bytes,
}

/// One metric of one benchmark, baseline against current.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Benchmark name.
    pub benchmark: String,
    /// The metric.
    pub metric: Metric,
    /// Threshold applied, as a fraction.
    pub threshold: f64,
    /// Unit of `baseline` and `current`.
    pub unit: Unit,
    /// The metric in the baseline (`None`: not measured).
    pub baseline: Option<f64>,
    /// The metric now.
    pub current: Option<f64>,
    /// `current / baseline - 1` (positive: larger now, which is worse for times and memory and
    /// better for throughput).
    pub change: Option<f64>,
    /// Bootstrap confidence interval (level `1 - alpha`) of `current / baseline`.
    pub interval: Option<Interval>,
    /// Two-sided p-value of the change in the direction it went (twice the one-sided p-value;
    /// see [`Policy`]).
    pub p_value: Option<f64>,
    /// Which test gave `p_value`: `mann-whitney` or `tail`.
    pub test: Option<String>,
    /// Samples in the baseline.
    pub baseline_samples: usize,
    /// Samples now.
    pub current_samples: usize,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in words.
    pub reason: String,
}

/// One side of a comparison: where its results came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Side {
    /// The file or directory it was read from (`None`: results of this run).
    pub file: Option<String>,
    /// Where its results came from.
    pub source: Source,
    /// When its baseline was written (or imported).
    pub created_unix_s: u64,
    /// Where it was measured.
    pub environment: Environment,
}

impl Side {
    fn of(b: &Baseline) -> Self {
        Self {
            file: b.loaded_from.as_ref().map(|p| p.display().to_string()),
            source: b.source.clone(),
            created_unix_s: b.created_unix_s,
            environment: b.environment.clone(),
        }
    }
}

/// Counts of verdicts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Findings that regressed.
    pub regressed: usize,
    /// Findings that improved.
    pub improved: usize,
    /// Findings that did not change.
    pub unchanged: usize,
    /// Findings that could not be judged.
    pub inconclusive: usize,
}

/// The result of [`check`]; serialised as `perfkit check --format json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    /// Format version, [`CHECK_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The reference.
    pub baseline: Side,
    /// The run under test.
    pub current: Side,
    /// The rules applied.
    pub policy: Policy,
    /// Ways the two environments differ (machine, kernel, CPUs, compiler): comparing across
    /// them measures the machines as much as the code.
    pub environment_differences: Vec<String>,
    /// One finding per benchmark present on both sides and metric, in baseline order.
    pub findings: Vec<Finding>,
    /// Benchmarks in the baseline but not in the current results.
    pub missing: Vec<String>,
    /// Benchmarks in the current results but not in the baseline.
    pub added: Vec<String>,
    /// Verdict counts.
    pub tally: Tally,
    /// What makes either side's results less trustworthy (e.g. runs that failed), each
    /// prefixed with `baseline:` or `current:`.
    #[serde(default)]
    pub source_warnings: Vec<String>,
    /// How percentiles (and the median, p50) are defined: [`PERCENTILE_DEFINITION`].
    #[serde(default = "percentile_definition")]
    pub percentile_definition: String,
    /// Default rules left out because the samples are too few for them
    /// ([`Policy::skip_unsupported_tails`]), each with the counts.
    #[serde(default)]
    pub skipped: Vec<String>,
}

/// perfkit's percentile definition, named in check reports: the `q`-quantile of `n` samples is
/// the value of rank `max(1, ceil(q·n))` (nearest rank). For an even count the median is the
/// lower of the two middle values, where hyperfine and criterion report their average.
pub const PERCENTILE_DEFINITION: &str = "nearest_rank";

fn percentile_definition() -> String {
    PERCENTILE_DEFINITION.to_owned()
}

impl CheckReport {
    /// Whether any finding regressed (the CLI's exit code 1).
    #[must_use]
    pub fn has_regression(&self) -> bool {
        self.tally.regressed > 0
    }

    /// Whether the check fails: a regression, or with `strict` an inconclusive finding too.
    #[must_use]
    pub fn fails(&self, strict: bool) -> bool {
        self.has_regression() || (strict && self.tally.inconclusive > 0)
    }

    /// The findings that regressed.
    pub fn regressions(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.verdict == Verdict::Regressed)
    }
}

/// Checks `current` against `baseline` under `policy`. Benchmarks are matched by name; it is
/// an error when no name appears on both sides.
///
/// ```
/// use perfkit_regress::{Baseline, Benchmark, Policy, Source, SourceKind, Verdict, check};
///
/// let source = Source { kind: SourceKind::PerfkitBench, path: None, criterion_baseline: None };
/// let times = |scale: f64| (0..30).map(|i| scale * (1000.0 + f64::from(i % 10))).collect();
/// let before = Baseline::new(source.clone(), vec![Benchmark::from_samples("parse", times(1.0), None, vec![])?])?;
/// let after = Baseline::new(source, vec![Benchmark::from_samples("parse", times(1.2), None, vec![])?])?;
///
/// let report = check(&before, &after, &Policy::default())?;
/// assert!(report.has_regression());
/// let throughput = report.findings.iter().find(|f| f.metric.name() == "throughput").unwrap();
/// assert_eq!(throughput.verdict, Verdict::Regressed);
/// // p99 of 30 samples is just their maximum: the default rules leave it out, and say so.
/// assert!(report.findings.iter().all(|f| f.metric.name() != "p99"));
/// assert!(report.skipped[0].starts_with("p99 of 'parse': not judged"));
/// # Ok::<(), perfkit_regress::RegressError>(())
/// ```
pub fn check(
    baseline: &Baseline,
    current: &Baseline,
    policy: &Policy,
) -> Result<CheckReport, RegressError> {
    policy.validate()?;
    let mut findings = Vec::new();
    let mut missing = Vec::new();
    let mut skipped = Vec::new();
    for b in &baseline.benchmarks {
        match current.get(&b.name) {
            Some(c) => {
                for metric in skipped_rules(b, c, policy) {
                    skipped.push(format!(
                        "{metric} of '{}': not judged, it needs {} samples per side and there are {} and {} (ask for {metric} by name to see it judged inconclusive)",
                        b.name,
                        metric.samples_needed(policy.min_samples),
                        samples(b, metric).len(),
                        samples(c, metric).len()
                    ));
                }
                findings.extend(compare(b, c, policy));
            }
            None => missing.push(b.name.clone()),
        }
    }
    if findings.is_empty() {
        let names = |b: &Baseline| b.benchmarks.iter().map(|x| x.name.clone()).collect();
        return Err(RegressError::NothingInCommon {
            baseline: names(baseline),
            current: names(current),
        });
    }
    let added = current
        .benchmarks
        .iter()
        .filter(|c| baseline.get(&c.name).is_none())
        .map(|c| c.name.clone())
        .collect();
    let mut tally = Tally::default();
    for f in &findings {
        match f.verdict {
            Verdict::Regressed => tally.regressed += 1,
            Verdict::Improved => tally.improved += 1,
            Verdict::Unchanged => tally.unchanged += 1,
            Verdict::Inconclusive => tally.inconclusive += 1,
        }
    }
    Ok(CheckReport {
        schema_version: CHECK_SCHEMA_VERSION,
        baseline: Side::of(baseline),
        current: Side::of(current),
        policy: policy.clone(),
        environment_differences: baseline.environment.differences(&current.environment),
        findings,
        missing,
        added,
        tally,
        source_warnings: baseline
            .warnings()
            .into_iter()
            .map(|w| format!("baseline: {w}"))
            .chain(
                current
                    .warnings()
                    .into_iter()
                    .map(|w| format!("current: {w}")),
            )
            .collect(),
        percentile_definition: percentile_definition(),
        skipped,
    })
}

/// The findings for one benchmark under every rule of `policy` (which must be valid).
#[must_use]
pub fn compare(baseline: &Benchmark, current: &Benchmark, policy: &Policy) -> Vec<Finding> {
    let skipped = skipped_rules(baseline, current, policy);
    policy
        .rules
        .iter()
        .filter(|rule| !skipped.contains(&rule.metric))
        .map(|rule| judge(baseline, current, rule.metric, rule.threshold, policy))
        .collect()
}

/// The tail percentiles the samples cannot support, left out under
/// [`Policy::skip_unsupported_tails`] (when another rule remains to judge the benchmark): a
/// p99 of 30 samples is their maximum, not a tail estimate, and would only ever be
/// inconclusive.
fn skipped_rules(baseline: &Benchmark, current: &Benchmark, policy: &Policy) -> Vec<Metric> {
    if !policy.skip_unsupported_tails {
        return Vec::new();
    }
    let skipped: Vec<Metric> = policy
        .rules
        .iter()
        .map(|rule| rule.metric)
        .filter(|&metric| {
            let n = samples(baseline, metric)
                .len()
                .min(samples(current, metric).len());
            metric.tail_quantile().is_some()
                && n >= policy.min_samples
                && n < metric.samples_needed(policy.min_samples)
        })
        .collect();
    if skipped.len() == policy.rules.len() {
        return Vec::new();
    }
    skipped
}

/// The samples a metric is tested on: times, or peak RSS per run.
fn samples(b: &Benchmark, metric: Metric) -> Vec<f64> {
    if metric == Metric::PeakRss {
        b.rss_bytes.iter().map(|&v| v as f64).collect()
    } else {
        b.samples_ns.clone()
    }
}

fn median(values: &mut [f64]) -> f64 {
    quantile_unsorted(values, 0.5).unwrap_or(f64::NAN)
}

/// The metric's value and unit for a benchmark (`None`: not measured or undefined).
fn value(b: &Benchmark, metric: Metric) -> (Option<f64>, Unit) {
    let s = &b.summary;
    match metric {
        Metric::Mean => (Some(s.mean), Unit::Nanoseconds),
        Metric::P50 => (Some(s.p50), Unit::Nanoseconds),
        Metric::P90 => (Some(s.p90), Unit::Nanoseconds),
        Metric::P99 => (Some(s.p99), Unit::Nanoseconds),
        Metric::P999 => (Some(s.p999), Unit::Nanoseconds),
        Metric::Throughput => {
            let (work, unit) = match b.work {
                None => (1.0, Unit::IterationsPerSecond),
                Some(Work::Elements(n)) => (n, Unit::ElementsPerSecond),
                Some(Work::Bytes(n)) => (n, Unit::BytesPerSecond),
            };
            let rate = (s.p50 > 0.0).then(|| work * 1e9 / s.p50);
            (rate, unit)
        }
        Metric::PeakRss => {
            let mut rss = samples(b, metric);
            ((!rss.is_empty()).then(|| median(&mut rss)), Unit::Bytes)
        }
    }
}

fn judge(
    baseline: &Benchmark,
    current: &Benchmark,
    metric: Metric,
    threshold: f64,
    policy: &Policy,
) -> Finding {
    let (base_value, unit) = value(baseline, metric);
    let (cur_value, _) = value(current, metric);
    let a = samples(baseline, metric);
    let b = samples(current, metric);
    let mut finding = Finding {
        benchmark: baseline.name.clone(),
        metric,
        threshold,
        unit,
        baseline: base_value,
        current: cur_value,
        change: None,
        interval: None,
        p_value: None,
        test: None,
        baseline_samples: a.len(),
        current_samples: b.len(),
        verdict: Verdict::Inconclusive,
        reason: String::new(),
    };
    let (Some(base_value), Some(cur_value)) = (base_value, cur_value) else {
        let side = if base_value.is_none() {
            "the baseline"
        } else {
            "the current results"
        };
        finding.reason = format!("{metric} was not measured in {side}");
        return finding;
    };
    let needed = metric.samples_needed(policy.min_samples);
    if a.len() < needed || b.len() < needed {
        finding.reason = if metric.tail_quantile().is_some() && needed > policy.min_samples {
            format!(
                "{metric} needs at least {needed} samples per side (below that it is the maximum); have {} and {}",
                a.len(),
                b.len()
            )
        } else {
            format!(
                "too few samples: {} and {}, at least {needed} per side needed",
                a.len(),
                b.len()
            )
        };
        return finding;
    }
    if !(base_value.is_finite() && base_value > 0.0) {
        finding.reason = format!("the baseline's {metric} is {base_value}: no ratio to compare");
        return finding;
    }
    let change = cur_value / base_value - 1.0;
    finding.change = Some(change);
    let evidence = significance(&a, &b, metric);
    let (verdict, p, test, reason) = decide(change, &evidence, metric, threshold, policy.alpha);
    (finding.verdict, finding.reason) = (verdict, reason);
    finding.p_value = Some(p);
    finding.test = Some(test.to_string());
    if policy.resamples > 0 {
        finding.interval = interval(&a, &b, metric, policy, &baseline.name);
    }
    finding
}

/// The verdict on a metric's `change` given the evidence, and why. The change's direction
/// picks the one-sided p-value; doubled, it is the two-sided p-value compared with `alpha`.
fn decide(
    change: f64,
    evidence: &Evidence,
    metric: Metric,
    threshold: f64,
    alpha: f64,
) -> (Verdict, f64, &'static str, String) {
    let worse_change = if metric.higher_is_better() {
        -change
    } else {
        change
    };
    let worse = worse_change > 0.0;
    let (one_sided, test) = if worse {
        evidence.worse
    } else {
        evidence.better
    };
    let p = (2.0 * one_sided).min(1.0);
    let shown = format_p(p);
    let change = format!("{:+.1}%", change * 100.0);
    let limit = format!("{:.1}%", threshold * 100.0);
    let (verdict, reason) = if worse_change.abs() <= threshold {
        (
            Verdict::Unchanged,
            format!("{change} is within the {limit} threshold"),
        )
    } else if p >= alpha {
        (
            Verdict::Unchanged,
            format!("{change} could be noise: not significant (p {shown}, alpha {alpha})"),
        )
    } else if worse {
        (
            Verdict::Regressed,
            format!("{change} is worse than the {limit} threshold and significant (p {shown})"),
        )
    } else {
        (
            Verdict::Improved,
            format!("{change} is better than the {limit} threshold and significant (p {shown})"),
        )
    };
    (verdict, p, test, reason)
}

/// One-sided p-values of a metric's test: for "the samples grew" (worse: times and bytes grow
/// when any metric gets worse, throughput included) and "the samples shrank", each with the test
/// that gave it.
struct Evidence {
    worse: (f64, &'static str),
    better: (f64, &'static str),
}

/// Mann-Whitney U; for a tail percentile also the tail test at its quantile, combined per
/// direction by Bonferroni (the smaller one-sided p-value, doubled).
fn significance(a: &[f64], b: &[f64], metric: Metric) -> Evidence {
    let mw = mann_whitney(a, b);
    let mw_worse = (mw.map_or(1.0, |t| t.p_greater), "mann-whitney");
    let mw_better = (mw.map_or(1.0, |t| t.p_less), "mann-whitney");
    let Some(q) = metric.tail_quantile() else {
        return Evidence {
            worse: mw_worse,
            better: mw_better,
        };
    };
    let tail = tail_test(a, b, q);
    let combine = |mw: (f64, &'static str), tail: f64| {
        let (p, name) = if tail < mw.0 { (tail, "tail") } else { mw };
        ((2.0 * p).min(1.0), name)
    };
    Evidence {
        worse: combine(mw_worse, tail.map_or(1.0, |t| t.p_greater)),
        better: combine(mw_better, tail.map_or(1.0, |t| t.p_less)),
    }
}

/// Bootstrap interval of `current / baseline` for the metric's statistic.
fn interval(a: &[f64], b: &[f64], metric: Metric, policy: &Policy, name: &str) -> Option<Interval> {
    let seed = name
        .bytes()
        .chain(metric.name().bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, c| {
            (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3)
        });
    let confidence = 1.0 - policy.alpha;
    let q = match metric {
        Metric::Mean => None,
        other => Some(other.tail_quantile().unwrap_or(0.5)),
    };
    let statistic = |v: &mut [f64]| match q {
        None => v.iter().sum::<f64>() / v.len() as f64,
        Some(q) => quantile_unsorted(v, q).unwrap_or(f64::NAN),
    };
    let times = bootstrap_ratio_with(b, a, statistic, confidence, policy.resamples, seed)?;
    if metric == Metric::Throughput {
        // Throughput is the inverse of the median time.
        Some(Interval {
            estimate: 1.0 / times.estimate,
            low: 1.0 / times.high,
            high: 1.0 / times.low,
            confidence,
        })
    } else {
        Some(times)
    }
}

/// A p-value for people: 4 decimals, `< 0.0001` below that.
#[must_use]
pub fn format_p(p: f64) -> String {
    if p < 1e-4 {
        "< 0.0001".to_string()
    } else {
        format!("{p:.4}")
    }
}
