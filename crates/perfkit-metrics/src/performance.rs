//! `PerformanceMetrics`, a baseline of limits, and acceptance checks that say
//! which limits were violated and by how much.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::format::{format_bytes, format_duration};
use crate::histogram::Histogram;

/// Latency percentiles, throughput and resource use of one measurement.
///
/// Resource fields are `None` when they were not measured (a closure benchmark knows nothing of
/// CPU or I/O wait); a baseline limit on an unmeasured field is reported as a violation, never
/// passed silently.
///
/// Throughput is `operations / elapsed wall time`. (A common version computes
/// `1000 / sum(latencies)`, which is only right for exactly 1000 sequential operations.)
///
/// ```
/// use std::time::Duration;
/// use perfkit_metrics::{Histogram, PerformanceBaseline, PerformanceMetrics};
///
/// let mut h = Histogram::new();
/// for _ in 0..100 { h.record(2_000_000); } // 100 ops of 2 ms
/// let m = PerformanceMetrics::from_histogram(&h, Duration::from_millis(200));
/// assert_eq!(m.throughput, 500.0);
///
/// let baseline = PerformanceBaseline::new(Duration::from_millis(1), 1000.0, 80.0);
/// let verdict = m.check(&baseline);
/// assert!(!verdict.is_acceptable());
/// assert_eq!(verdict.violations.len(), 3); // p99 too high, throughput too low, CPU unmeasured
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PerformanceMetrics {
    /// Median latency.
    #[serde(rename = "p50_latency_ns", with = "crate::serde_ns")]
    pub p50_latency: Duration,
    /// 99th percentile latency.
    #[serde(rename = "p99_latency_ns", with = "crate::serde_ns")]
    pub p99_latency: Duration,
    /// 99.9th percentile latency.
    #[serde(rename = "p999_latency_ns", with = "crate::serde_ns")]
    pub p999_latency: Duration,
    /// Completed operations per second of wall time.
    pub throughput: f64,
    /// CPU time as a percentage of wall time (100% = one core busy the whole time).
    pub cpu_usage: Option<f64>,
    /// Memory in bytes (peak resident set size where measured).
    pub memory_usage: Option<u64>,
    /// Share of wall time spent waiting for block I/O, in percent.
    pub io_wait: Option<f64>,
}

impl PerformanceMetrics {
    /// Latency percentiles from a histogram of nanoseconds, and the throughput of
    /// `histogram.count()` operations completed in `elapsed`. Resource fields are left `None`.
    #[must_use]
    pub fn from_histogram(histogram: &Histogram, elapsed: Duration) -> Self {
        let [p50, p99, p999] = histogram.quantiles([0.5, 0.99, 0.999]).unwrap_or([0; 3]);
        Self {
            p50_latency: Duration::from_nanos(p50),
            p99_latency: Duration::from_nanos(p99),
            p999_latency: Duration::from_nanos(p999),
            throughput: throughput(histogram.count(), elapsed),
            cpu_usage: None,
            memory_usage: None,
            io_wait: None,
        }
    }

    /// Queries per second: the throughput rounded to a whole number.
    #[must_use]
    pub fn qps(&self) -> u64 {
        self.throughput.round() as u64
    }

    /// Checks every limit of `baseline` and lists the ones violated.
    #[must_use]
    pub fn check(&self, baseline: &PerformanceBaseline) -> Acceptance {
        let mut violations = Vec::new();
        let mut upper = |criterion: Criterion, limit: Option<f64>, actual: Option<f64>| {
            if let Some(limit) = limit {
                match actual {
                    Some(a) if a <= limit => {}
                    _ => violations.push(Violation {
                        criterion,
                        limit,
                        actual,
                    }),
                }
            }
        };
        let ns = |d: Duration| d.as_nanos() as f64;
        upper(
            Criterion::P50Latency,
            baseline.max_p50_latency.map(ns),
            Some(ns(self.p50_latency)),
        );
        upper(
            Criterion::P99Latency,
            baseline.max_p99_latency.map(ns),
            Some(ns(self.p99_latency)),
        );
        upper(
            Criterion::P999Latency,
            baseline.max_p999_latency.map(ns),
            Some(ns(self.p999_latency)),
        );
        upper(Criterion::CpuUsage, baseline.max_cpu_usage, self.cpu_usage);
        upper(
            Criterion::MemoryUsage,
            baseline.max_memory_usage.map(|b| b as f64),
            self.memory_usage.map(|b| b as f64),
        );
        upper(Criterion::IoWait, baseline.max_io_wait, self.io_wait);
        if let Some(limit) = baseline.min_throughput
            && self.throughput < limit
        {
            violations.push(Violation {
                criterion: Criterion::Throughput,
                limit,
                actual: Some(self.throughput),
            });
        }
        Acceptance { violations }
    }

    /// The plain check: `true` when no limit of `baseline` is violated.
    #[must_use]
    pub fn is_acceptable(&self, baseline: &PerformanceBaseline) -> bool {
        self.check(baseline).is_acceptable()
    }
}

/// Operations per second; 0 when no time elapsed (never a division by zero).
#[must_use]
pub fn throughput(operations: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        operations as f64 / secs
    } else {
        0.0
    }
}

/// Limits a measurement must meet. Every limit is optional; unset limits are not checked.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PerformanceBaseline {
    /// Highest acceptable median latency.
    #[serde(
        default,
        rename = "max_p50_latency_ns",
        with = "crate::serde_ns::option"
    )]
    pub max_p50_latency: Option<Duration>,
    /// Highest acceptable p99 latency.
    #[serde(
        default,
        rename = "max_p99_latency_ns",
        with = "crate::serde_ns::option"
    )]
    pub max_p99_latency: Option<Duration>,
    /// Highest acceptable p99.9 latency.
    #[serde(
        default,
        rename = "max_p999_latency_ns",
        with = "crate::serde_ns::option"
    )]
    pub max_p999_latency: Option<Duration>,
    /// Lowest acceptable throughput (operations per second).
    #[serde(default)]
    pub min_throughput: Option<f64>,
    /// Highest acceptable CPU usage in percent.
    #[serde(default)]
    pub max_cpu_usage: Option<f64>,
    /// Highest acceptable memory use in bytes.
    #[serde(default)]
    pub max_memory_usage: Option<u64>,
    /// Highest acceptable I/O wait in percent.
    #[serde(default)]
    pub max_io_wait: Option<f64>,
}

impl PerformanceBaseline {
    /// The three classic limits: p99 latency, throughput and CPU usage.
    #[must_use]
    pub fn new(max_p99_latency: Duration, min_throughput: f64, max_cpu_usage: f64) -> Self {
        Self {
            max_p99_latency: Some(max_p99_latency),
            min_throughput: Some(min_throughput),
            max_cpu_usage: Some(max_cpu_usage),
            ..Self::default()
        }
    }
}

/// A metric a baseline limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// Median latency (nanoseconds).
    P50Latency,
    /// p99 latency (nanoseconds).
    P99Latency,
    /// p99.9 latency (nanoseconds).
    P999Latency,
    /// Throughput (operations per second); a lower bound.
    Throughput,
    /// CPU usage (percent).
    CpuUsage,
    /// Memory usage (bytes).
    MemoryUsage,
    /// I/O wait (percent).
    IoWait,
}

impl Criterion {
    fn name(self) -> &'static str {
        match self {
            Self::P50Latency => "p50 latency",
            Self::P99Latency => "p99 latency",
            Self::P999Latency => "p99.9 latency",
            Self::Throughput => "throughput",
            Self::CpuUsage => "CPU usage",
            Self::MemoryUsage => "memory usage",
            Self::IoWait => "I/O wait",
        }
    }

    fn format(self, value: f64) -> String {
        match self {
            Self::P50Latency | Self::P99Latency | Self::P999Latency => format_duration(value),
            Self::Throughput => format!("{value:.1} ops/s"),
            Self::CpuUsage | Self::IoWait => format!("{value:.1}%"),
            Self::MemoryUsage => format_bytes(value as u64),
        }
    }
}

/// One violated limit, with both numbers (in the criterion's unit: ns, ops/s, %, bytes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// Which limit.
    pub criterion: Criterion,
    /// The limit from the baseline.
    pub limit: f64,
    /// The measured value; `None` when the metric was not measured.
    pub actual: Option<f64>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.criterion.name();
        let limit = self.criterion.format(self.limit);
        match self.actual {
            None => write!(f, "{name} was not measured (limit {limit})"),
            Some(a) if self.criterion == Criterion::Throughput => {
                write!(
                    f,
                    "{name} {} is below the minimum {limit}",
                    self.criterion.format(a)
                )
            }
            Some(a) => write!(
                f,
                "{name} {} exceeds the limit {limit}",
                self.criterion.format(a)
            ),
        }
    }
}

/// The result of checking metrics against a baseline.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Acceptance {
    /// Every violated limit, in a fixed order (latencies, CPU, memory, I/O wait, throughput).
    pub violations: Vec<Violation>,
}

impl Acceptance {
    /// `true` when no limit was violated.
    #[must_use]
    pub fn is_acceptable(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for Acceptance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.violations.is_empty() {
            return f.write_str("acceptable: every limit met");
        }
        writeln!(
            f,
            "not acceptable: {} limit(s) violated",
            self.violations.len()
        )?;
        for v in &self.violations {
            writeln!(f, "  - {v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_is_operations_over_elapsed() {
        assert_eq!(throughput(10, Duration::from_secs(2)), 5.0);
        assert_eq!(throughput(10, Duration::ZERO), 0.0);
    }

    #[test]
    fn every_violation_is_listed_with_both_numbers() {
        let m = PerformanceMetrics {
            p50_latency: Duration::from_millis(1),
            p99_latency: Duration::from_millis(20),
            p999_latency: Duration::from_millis(30),
            throughput: 50.0,
            cpu_usage: Some(95.0),
            memory_usage: Some(10 << 20),
            io_wait: None,
        };
        let b = PerformanceBaseline {
            max_p99_latency: Some(Duration::from_millis(10)),
            min_throughput: Some(100.0),
            max_cpu_usage: Some(90.0),
            max_memory_usage: Some(20 << 20),
            max_io_wait: Some(5.0),
            ..PerformanceBaseline::default()
        };
        let a = m.check(&b);
        let kinds: Vec<_> = a.violations.iter().map(|v| v.criterion).collect();
        assert_eq!(
            kinds,
            [
                Criterion::P99Latency,
                Criterion::CpuUsage,
                Criterion::IoWait,
                Criterion::Throughput
            ]
        );
        assert_eq!(a.violations[0].limit, 10e6);
        assert_eq!(a.violations[0].actual, Some(20e6));
        let text = a.to_string();
        assert!(
            text.contains("p99 latency 20.00 ms exceeds the limit 10.00 ms"),
            "{text}"
        );
        assert!(text.contains("I/O wait was not measured"), "{text}");
        assert!(!m.is_acceptable(&b));
        assert!(m.is_acceptable(&PerformanceBaseline::default()));
    }

    #[test]
    fn serde_round_trip() {
        let b = PerformanceBaseline::new(Duration::from_micros(1500), 10.0, 50.0);
        let text = serde_json::to_string(&b).unwrap();
        assert!(text.contains("\"max_p99_latency_ns\":1500000"), "{text}");
        assert_eq!(
            serde_json::from_str::<PerformanceBaseline>(&text).unwrap(),
            b
        );
        let partial: PerformanceBaseline =
            serde_json::from_str(r#"{"min_throughput": 3.5}"#).unwrap();
        assert_eq!(partial.min_throughput, Some(3.5));
    }
}
