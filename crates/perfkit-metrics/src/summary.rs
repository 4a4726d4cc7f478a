//! Summary statistics of a set of values, from a histogram or exactly from a slice.

use serde::{Deserialize, Serialize};

use crate::histogram::{Histogram, rank};

/// Count, extremes, mean, standard deviation and the usual percentiles of a set of values.
///
/// Percentiles use the nearest-rank definition: `pX` is the value of rank `max(1, ceil(X/100·n))`
/// in ascending order, i.e. the smallest recorded value such that at least X% of the values are
/// less than or equal to it. It is always one of the recorded values (exact mode) or within the
/// histogram's relative error of one (histogram mode). `stddev` is the sample standard deviation
/// (divided by `n - 1`); it is 0 for a single value.
///
/// ```
/// use perfkit_metrics::Summary;
///
/// let s = Summary::exact(&[5, 1, 4, 2, 3]).unwrap();
/// assert_eq!((s.min, s.p50, s.max), (1, 3, 5));
/// assert_eq!(s.mean, 3.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of values.
    pub count: u64,
    /// Smallest value.
    pub min: u64,
    /// Largest value.
    pub max: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation.
    pub stddev: f64,
    /// Median (nearest rank).
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
}

impl Summary {
    /// Summarises a histogram. `None` when it is empty.
    #[must_use]
    pub fn from_histogram(h: &Histogram) -> Option<Self> {
        let [p50, p90, p99, p999] = h.quantiles([0.5, 0.9, 0.99, 0.999])?;
        Some(Self {
            count: h.count(),
            min: h.min()?,
            max: h.max()?,
            mean: h.mean()?,
            stddev: h.stddev()?,
            p50,
            p90,
            p99,
            p999,
        })
    }

    /// Summarises a slice exactly (it is copied and sorted: `O(n log n)`; use a [`Histogram`]
    /// for large or streaming data). `None` when the slice is empty.
    #[must_use]
    pub fn exact(values: &[u64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        let n = sorted.len() as u64;
        let at = |q: f64| sorted[(rank(q, n) - 1) as usize];
        let sum: u128 = sorted.iter().map(|&v| u128::from(v)).sum();
        let mean = sum as f64 / n as f64;
        let stddev = if n < 2 {
            0.0
        } else {
            let squares: f64 = sorted.iter().map(|&v| (v as f64 - mean).powi(2)).sum();
            (squares / (n - 1) as f64).sqrt()
        };
        Some(Self {
            count: n,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            mean,
            stddev,
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
        })
    }

    /// The exact summary of a slice of durations, in nanoseconds.
    #[must_use]
    pub fn exact_durations(values: &[std::time::Duration]) -> Option<Self> {
        let ns: Vec<u64> = values
            .iter()
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .collect();
        Self::exact(&ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_percentiles_use_nearest_rank() {
        let values: Vec<u64> = (1..=1000).collect();
        let s = Summary::exact(&values).unwrap();
        assert_eq!((s.p50, s.p90, s.p99, s.p999), (500, 900, 990, 999));
        assert_eq!(Summary::exact(&[]), None);
        let one = Summary::exact(&[7]).unwrap();
        assert_eq!((one.p50, one.p999, one.stddev), (7, 7, 0.0));
    }

    #[test]
    fn histogram_and_exact_agree_on_small_values() {
        let values: Vec<u64> = (0..2000).map(|i| (i * 7919) % 2000).collect();
        let mut h = Histogram::new();
        h.extend(&values);
        let a = Summary::from_histogram(&h).unwrap();
        let b = Summary::exact(&values).unwrap();
        // Values below 2048 are stored exactly with 3 digits.
        assert_eq!(
            (a.min, a.max, a.p50, a.p90, a.p99, a.p999),
            (b.min, b.max, b.p50, b.p90, b.p99, b.p999)
        );
        assert!((a.mean - b.mean).abs() < 1e-9);
        assert!((a.stddev - b.stddev).abs() / b.stddev < 1e-3);
    }
}
