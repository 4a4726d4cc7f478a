//! A benchmark harness for closures: warm-up, then a fixed number of iterations or a time
//! budget, each iteration timed into a [`Histogram`].

use std::fmt;
use std::hint::black_box;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::format::format_duration;
use crate::histogram::Histogram;
use crate::performance::{PerformanceMetrics, throughput};
use crate::summary::Summary;

/// When a measurement stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// Exactly this many samples.
    Iterations(u64),
    /// Samples until this much wall time has passed (at least one sample).
    Time(#[serde(with = "crate::serde_ns")] Duration),
}

/// Benchmarks a closure, with warm-up, a time budget and a
/// histogram instead of a sorted vector.
///
/// Each sample times `batch` consecutive calls (1 by default) with one clock read between
/// samples, and records the mean time per call. Reading the clock costs about 20–30 ns, so for
/// closures faster than about a microsecond use [`Bench::batch`] to amortise it.
///
/// ```
/// use std::time::Duration;
/// use perfkit_metrics::Bench;
///
/// let result = Bench::new("sum")
///     .warmup(Duration::from_millis(5))
///     .iterations(1_000)
///     .run(|| (0..1_000u64).sum::<u64>());
/// assert_eq!(result.histogram.count(), 1_000);
/// assert!(result.metrics.throughput > 0.0);
/// println!("{result}");
/// ```
#[derive(Clone, Debug)]
pub struct Bench {
    name: String,
    warmup: Duration,
    limit: Limit,
    batch: u64,
}

/// What [`Bench::run`] measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchResult {
    /// The benchmark's name.
    pub name: String,
    /// Time per call of each sample, in nanoseconds.
    pub histogram: Histogram,
    /// Number of calls made in the measurement (samples × batch).
    pub calls: u64,
    /// Wall time of the measurement (warm-up excluded).
    #[serde(rename = "elapsed_ns", with = "crate::serde_ns")]
    pub elapsed: Duration,
    /// Percentiles and throughput (calls per second).
    pub metrics: PerformanceMetrics,
}

impl BenchResult {
    /// Count, mean, standard deviation and percentiles of the time per call (ns).
    #[must_use]
    pub fn summary(&self) -> Option<Summary> {
        Summary::from_histogram(&self.histogram)
    }
}

impl fmt::Display for BenchResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(s) = self.summary() else {
            return write!(f, "{}: no samples", self.name);
        };
        write!(
            f,
            "{}: {} calls in {}, mean {} ± {}, p50 {}, p99 {}, p99.9 {}, {:.1} calls/s",
            self.name,
            self.calls,
            format_duration(self.elapsed.as_nanos() as f64),
            format_duration(s.mean),
            format_duration(s.stddev),
            format_duration(s.p50 as f64),
            format_duration(s.p99 as f64),
            format_duration(s.p999 as f64),
            self.metrics.throughput
        )
    }
}

impl Bench {
    /// A benchmark with 100 ms of warm-up and a 1 s time budget.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            warmup: Duration::from_millis(100),
            limit: Limit::Time(Duration::from_secs(1)),
            batch: 1,
        }
    }

    /// Runs the closure untimed for this long first (0 to skip).
    #[must_use]
    pub fn warmup(mut self, warmup: Duration) -> Self {
        self.warmup = warmup;
        self
    }

    /// Takes exactly `samples` samples.
    #[must_use]
    pub fn iterations(mut self, samples: u64) -> Self {
        self.limit = Limit::Iterations(samples);
        self
    }

    /// Takes samples until `budget` of wall time has passed.
    #[must_use]
    pub fn time_budget(mut self, budget: Duration) -> Self {
        self.limit = Limit::Time(budget);
        self
    }

    /// Times `calls` consecutive calls per sample (at least 1) and records the mean per call.
    #[must_use]
    pub fn batch(mut self, calls: u64) -> Self {
        self.batch = calls.max(1);
        self
    }

    /// Runs the benchmark. The closure's result is passed through [`black_box`] so the work is
    /// not optimised away.
    pub fn run<R, F: FnMut() -> R>(&self, mut f: F) -> BenchResult {
        let warm_start = Instant::now();
        while warm_start.elapsed() < self.warmup {
            black_box(f());
        }
        let mut histogram = Histogram::new();
        let mut samples = 0u64;
        let start = Instant::now();
        let mut previous = start;
        loop {
            for _ in 0..self.batch {
                black_box(f());
            }
            let now = Instant::now();
            let per_call = (now - previous).as_nanos() / u128::from(self.batch);
            histogram.record(u64::try_from(per_call).unwrap_or(u64::MAX));
            previous = now;
            samples += 1;
            let done = match self.limit {
                Limit::Iterations(n) => samples >= n,
                Limit::Time(budget) => now - start >= budget,
            };
            if done {
                break;
            }
        }
        let elapsed = previous - start;
        let calls = samples * self.batch;
        let mut metrics = PerformanceMetrics::from_histogram(&histogram, elapsed);
        metrics.throughput = throughput(calls, elapsed);
        BenchResult {
            name: self.name.clone(),
            histogram,
            calls,
            elapsed,
            metrics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterations_are_exact_and_elapsed_is_the_sum_of_samples() {
        let r = Bench::new("sleep")
            .warmup(Duration::ZERO)
            .iterations(5)
            .run(|| {
                std::thread::sleep(Duration::from_millis(1));
            });
        assert_eq!(r.histogram.count(), 5);
        assert_eq!(r.calls, 5);
        assert!(r.histogram.min().unwrap() >= 1_000_000);
        let sum = r.histogram.sum() as f64;
        // Histogram sum is exact; elapsed covers the same span.
        assert!((sum - r.elapsed.as_nanos() as f64).abs() < 1.0);
    }

    #[test]
    fn time_budget_takes_at_least_one_sample() {
        let r = Bench::new("budget")
            .warmup(Duration::ZERO)
            .time_budget(Duration::ZERO)
            .batch(3)
            .run(|| 1);
        assert_eq!(r.histogram.count(), 1);
        assert_eq!(r.calls, 3);
    }
}
