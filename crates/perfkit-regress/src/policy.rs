//! What counts as a regression: which metrics, which direction is worse, how much worse, and how
//! sure the test must be.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Misuse, RegressError};

/// A number a benchmark is judged by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Mean time per iteration.
    Mean,
    /// Median time per iteration.
    P50,
    /// 90th percentile time.
    P90,
    /// 99th percentile time.
    P99,
    /// 99.9th percentile time.
    P999,
    /// Iterations (or declared elements/bytes) per second at the median time: the typical rate,
    /// which a noisy neighbour's occasional slow runs do not move (1 / `mean` is the rate over
    /// all runs).
    Throughput,
    /// Peak resident set size per run (perfkit bench only), the median over runs.
    PeakRss,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Metric; 7] = [
        Metric::Mean,
        Metric::P50,
        Metric::P90,
        Metric::P99,
        Metric::P999,
        Metric::Throughput,
        Metric::PeakRss,
    ];

    /// The name used on the command line and in reports.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Metric::Mean => "mean",
            Metric::P50 => "p50",
            Metric::P90 => "p90",
            Metric::P99 => "p99",
            Metric::P999 => "p999",
            Metric::Throughput => "throughput",
            Metric::PeakRss => "peak_rss",
        }
    }

    /// Whether a larger value is better.
    #[must_use]
    pub fn higher_is_better(self) -> bool {
        self == Metric::Throughput
    }

    /// For a tail percentile, its quantile (0.9, 0.99, 0.999).
    #[must_use]
    pub fn tail_quantile(self) -> Option<f64> {
        match self {
            Metric::P90 => Some(0.9),
            Metric::P99 => Some(0.99),
            Metric::P999 => Some(0.999),
            _ => None,
        }
    }

    /// Samples per side needed before the metric can be judged: a tail percentile needs at
    /// least `1 / (1 - q)` samples (100 for p99) — below that it is just the maximum.
    #[must_use]
    pub fn samples_needed(self, min_samples: usize) -> usize {
        match self.tail_quantile() {
            Some(q) => min_samples.max((1.0 / (1.0 - q)).round() as usize),
            None => min_samples,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = RegressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace(['-', '.'], "_");
        let wanted = match wanted.as_str() {
            "median" => "p50",
            "p99_9" => "p999",
            "rss" | "peak_rss_bytes" | "memory" => "peak_rss",
            "thrpt" => "throughput",
            other => other,
        };
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == wanted)
            .ok_or_else(|| RegressError::Usage(Misuse::UnknownMetric(s.to_owned())))
    }
}

/// One metric's rule: how large a change in the worse direction counts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricRule {
    /// The metric.
    pub metric: Metric,
    /// The smallest relative change that counts, as a fraction (0.05 = 5%).
    pub threshold: f64,
}

impl MetricRule {
    /// Parses `p99` (with `default_threshold`) or `p99=10%` / `p99=10` (percent).
    pub fn parse(spec: &str, default_threshold: f64) -> Result<Self, RegressError> {
        let (metric, threshold) = Self::parse_spec(spec)?;
        Ok(Self {
            metric,
            threshold: threshold.unwrap_or(default_threshold),
        })
    }

    /// Parses `p99` or `p99=10%` into the metric and its own threshold, if it has one: for a
    /// rule whose default threshold is not known yet.
    pub fn parse_spec(spec: &str) -> Result<(Metric, Option<f64>), RegressError> {
        match spec.split_once('=') {
            Some((metric, threshold)) => Ok((metric.parse()?, Some(parse_percent(threshold)?))),
            None => Ok((spec.parse()?, None)),
        }
    }
}

/// Parses a percentage such as `5%`, `5` or `2.5%` into a fraction (0.05, 0.05, 0.025).
pub fn parse_percent(text: &str) -> Result<f64, RegressError> {
    let number = text.trim().trim_end_matches('%').trim();
    match number.parse::<f64>() {
        Ok(p) if p.is_finite() && (0.0..1000.0).contains(&p) => Ok(p / 100.0),
        _ => Err(RegressError::Usage(Misuse::Threshold(text.to_owned()))),
    }
}

/// The rules a check applies.
///
/// A metric **regresses** when both hold: the change in its worse direction is larger than its
/// threshold, and the statistical test on the raw samples is significant at `alpha` (twice the
/// one-sided p-value in the direction of the change, i.e. a two-sided test, below `alpha`).
/// Mann-Whitney U tests `mean`, `p50`, `throughput` and `peak_rss`; a tail percentile is tested
/// with both Mann-Whitney U and the tail test at its quantile (Bonferroni: the smaller p-value,
/// doubled), so a grown tail counts even when the bulk did not move. Fewer than `min_samples` samples on either side — or, for a
/// tail percentile, fewer than `1 / (1 - q)` — gives "inconclusive", never "unchanged".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// The metrics judged, each with its threshold.
    pub rules: Vec<MetricRule>,
    /// Significance level of the two-sided tests.
    pub alpha: f64,
    /// Fewest samples per side for a verdict.
    pub min_samples: usize,
    /// Bootstrap resamples for each finding's interval (0: no interval). The interval is
    /// reported, not used for the verdict.
    pub resamples: usize,
    /// Leave out a tail percentile that needs more samples than a side has (p99 needs 100)
    /// instead of reporting it inconclusive, and say so in the report's `skipped`, as long as
    /// another rule judges the benchmark. On for the default rules, off for metrics the user
    /// names.
    #[serde(default)]
    pub skip_unsupported_tails: bool,
}

/// The default threshold: 5%.
pub const DEFAULT_THRESHOLD: f64 = 0.05;
/// The default significance level.
pub const DEFAULT_ALPHA: f64 = 0.05;
/// The default fewest samples per side (google benchmark's compare.py warns below 9).
pub const DEFAULT_MIN_SAMPLES: usize = 8;

impl Default for Policy {
    /// The default rules — p99 latency (left out when the samples are too few for it) and
    /// throughput, 5% each — with the statistical test at alpha 0.05.
    fn default() -> Self {
        Self::with_threshold(DEFAULT_THRESHOLD)
    }
}

impl Policy {
    /// The default metrics (p99, throughput) at `threshold`.
    #[must_use]
    pub fn with_threshold(threshold: f64) -> Self {
        Self {
            rules: vec![
                MetricRule {
                    metric: Metric::P99,
                    threshold,
                },
                MetricRule {
                    metric: Metric::Throughput,
                    threshold,
                },
            ],
            alpha: DEFAULT_ALPHA,
            min_samples: DEFAULT_MIN_SAMPLES,
            resamples: 2000,
            skip_unsupported_tails: true,
        }
    }

    /// Checks the policy's numbers.
    pub fn validate(&self) -> Result<(), RegressError> {
        if self.rules.is_empty() {
            return Err(RegressError::Usage(Misuse::NoMetric));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(RegressError::Usage(Misuse::Alpha(self.alpha)));
        }
        if self.min_samples < 2 {
            return Err(RegressError::Usage(Misuse::MinSamples(self.min_samples)));
        }
        let mut seen = std::collections::HashSet::new();
        for r in &self.rules {
            if !seen.insert(r.metric) {
                return Err(RegressError::Usage(Misuse::RepeatedMetric(r.metric)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_that_cannot_work_says_which_setting() {
        let usage = |p: &Policy| match p.validate() {
            Err(RegressError::Usage(m)) => Some(m),
            _ => None,
        };
        let mut p = Policy::with_threshold(0.05);
        assert_eq!(usage(&p), None);
        p.alpha = 1.5;
        assert_eq!(usage(&p), Some(Misuse::Alpha(1.5)));
        p.alpha = 0.05;
        p.min_samples = 1;
        assert_eq!(usage(&p), Some(Misuse::MinSamples(1)));
        p.min_samples = 5;
        p.rules.push(p.rules[0]);
        assert_eq!(usage(&p), Some(Misuse::RepeatedMetric(p.rules[0].metric)));
        p.rules.clear();
        assert_eq!(usage(&p), Some(Misuse::NoMetric));
        assert!(matches!(
            parse_percent("lots"),
            Err(RegressError::Usage(Misuse::Threshold(t))) if t == "lots"
        ));
        assert!(matches!(
            "p98".parse::<Metric>(),
            Err(RegressError::Usage(Misuse::UnknownMetric(m))) if m == "p98"
        ));
    }

    #[test]
    fn metric_specs_parse() {
        assert_eq!(
            MetricRule::parse("p99=10%", 0.05).unwrap(),
            MetricRule {
                metric: Metric::P99,
                threshold: 0.1
            }
        );
        assert_eq!(
            MetricRule::parse("median", 0.05).unwrap().metric,
            Metric::P50
        );
        assert_eq!(
            MetricRule::parse("peak-rss=2", 0.05).unwrap().threshold,
            0.02
        );
        let err = MetricRule::parse("p98", 0.05).unwrap_err().to_string();
        assert!(
            err.contains("unknown metric 'p98'") && err.contains("p999"),
            "{err}"
        );
        assert!(parse_percent("five").is_err() && parse_percent("-1%").is_err());
    }

    #[test]
    fn tail_percentiles_need_enough_samples() {
        assert_eq!(Metric::P99.samples_needed(8), 100);
        assert_eq!(Metric::P999.samples_needed(8), 1000);
        assert_eq!(Metric::P90.samples_needed(8), 10);
        assert_eq!(Metric::P50.samples_needed(8), 8);
    }
}
