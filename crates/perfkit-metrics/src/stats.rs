//! Small statistics helpers: nearest-rank quantiles of samples and bootstrap confidence
//! intervals of ratios.

use serde::{Deserialize, Serialize};

use crate::histogram::rank;

/// A point estimate with a two-sided confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The statistic computed on the full samples.
    pub estimate: f64,
    /// Lower bound of the interval.
    pub low: f64,
    /// Upper bound of the interval.
    pub high: f64,
    /// Confidence level of the interval, e.g. `0.95`.
    pub confidence: f64,
}

/// Which location statistic a bootstrap compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    /// Arithmetic mean.
    Mean,
    /// Median (average of the two middle values for an even count).
    Median,
}

impl Statistic {
    /// The statistic of `values` (reordered in place); `None` when there are none.
    ///
    /// ```
    /// use perfkit_metrics::stats::Statistic;
    ///
    /// assert_eq!(Statistic::Median.of(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
    /// assert_eq!(Statistic::Mean.of(&mut []), None);
    /// ```
    #[must_use]
    pub fn of(self, values: &mut [f64]) -> Option<f64> {
        (!values.is_empty()).then(|| self.compute(values))
    }

    /// Computes the statistic of a non-empty slice; `scratch` is reordered.
    fn compute(self, scratch: &mut [f64]) -> f64 {
        match self {
            Statistic::Mean => scratch.iter().sum::<f64>() / scratch.len() as f64,
            Statistic::Median => {
                let n = scratch.len();
                let (_, &mut upper, _) = scratch.select_nth_unstable_by(n / 2, f64::total_cmp);
                if n % 2 == 1 {
                    upper
                } else {
                    let lower = scratch[..n / 2]
                        .iter()
                        .copied()
                        .fold(f64::NEG_INFINITY, f64::max);
                    f64::midpoint(lower, upper)
                }
            }
        }
    }
}

/// The nearest-rank `q`-quantile of an ascending slice: the value of rank `max(1, ceil(q·n))`,
/// the same definition as [`crate::Summary`]. `None` for an empty slice or `q` outside `[0, 1]`.
///
/// ```
/// use perfkit_metrics::stats::quantile_sorted;
///
/// let v: Vec<f64> = (1..=100).map(f64::from).collect();
/// assert_eq!(quantile_sorted(&v, 0.99), Some(99.0));
/// assert_eq!(quantile_sorted(&v, 0.0), Some(1.0));
/// ```
#[must_use]
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    Some(sorted[(rank(q, sorted.len() as u64) - 1) as usize])
}

/// [`quantile_sorted`] of values in any order, in `O(n)`: `values` is partly reordered.
///
/// ```
/// use perfkit_metrics::stats::quantile_unsorted;
///
/// let mut v = vec![5.0, 1.0, 4.0, 2.0, 3.0];
/// assert_eq!(quantile_unsorted(&mut v, 0.5), Some(3.0));
/// ```
#[must_use]
pub fn quantile_unsorted(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let index = (rank(q, values.len() as u64) - 1) as usize;
    let (_, value, _) = values.select_nth_unstable_by(index, f64::total_cmp);
    Some(*value)
}

/// Percentile-bootstrap confidence interval of `statistic(numerator) / statistic(denominator)`.
///
/// Each resample draws both samples with replacement (independently) and computes the ratio;
/// the interval is the central `confidence` share of the resampled ratios. The generator is
/// seeded, so the result is reproducible. Returns `None` when a sample is empty, a value is not
/// finite, or the denominator's statistic is not positive.
///
/// ```
/// use perfkit_metrics::stats::{bootstrap_ratio, Statistic};
///
/// let slow = [20.0, 21.0, 19.0, 20.5, 19.5];
/// let fast = [10.0, 10.5, 9.5, 10.2, 9.8];
/// let r = bootstrap_ratio(&slow, &fast, Statistic::Mean, 0.95, 2000, 42).unwrap();
/// assert!((r.estimate - 2.0).abs() < 0.01);
/// assert!(r.low <= r.estimate && r.estimate <= r.high);
/// ```
#[must_use]
pub fn bootstrap_ratio(
    numerator: &[f64],
    denominator: &[f64],
    statistic: Statistic,
    confidence: f64,
    resamples: usize,
    seed: u64,
) -> Option<Interval> {
    bootstrap_ratio_with(
        numerator,
        denominator,
        |values| statistic.compute(values),
        confidence,
        resamples,
        seed,
    )
}

/// [`bootstrap_ratio`] for any statistic: `statistic` receives a resample it may reorder (e.g.
/// sort) and returns its value.
///
/// ```
/// use perfkit_metrics::stats::{bootstrap_ratio_with, quantile_unsorted};
///
/// let p90 = |v: &mut [f64]| quantile_unsorted(v, 0.9).unwrap_or(f64::NAN);
/// let before: Vec<f64> = (1..=50).map(f64::from).collect();
/// let after: Vec<f64> = before.iter().map(|v| v * 1.5).collect();
/// let r = bootstrap_ratio_with(&after, &before, p90, 0.95, 500, 1).unwrap();
/// assert_eq!(r.estimate, 1.5);
/// ```
#[must_use]
pub fn bootstrap_ratio_with(
    numerator: &[f64],
    denominator: &[f64],
    mut statistic: impl FnMut(&mut [f64]) -> f64,
    confidence: f64,
    resamples: usize,
    seed: u64,
) -> Option<Interval> {
    if numerator.is_empty()
        || denominator.is_empty()
        || !numerator.iter().chain(denominator).all(|v| v.is_finite())
        || !(0.0..1.0).contains(&confidence)
    {
        return None;
    }
    let estimate = statistic(&mut numerator.to_vec()) / {
        let d = statistic(&mut denominator.to_vec());
        if d.is_nan() || d <= 0.0 {
            return None;
        }
        d
    };
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut a = vec![0.0; numerator.len()];
    let mut b = vec![0.0; denominator.len()];
    let mut ratios = Vec::with_capacity(resamples.max(1));
    for _ in 0..resamples.max(1) {
        for x in &mut a {
            *x = numerator[rng.usize(..numerator.len())];
        }
        for x in &mut b {
            *x = denominator[rng.usize(..denominator.len())];
        }
        let d = statistic(&mut b);
        if d > 0.0 {
            let r = statistic(&mut a) / d;
            if r.is_finite() {
                ratios.push(r);
            }
        }
    }
    if ratios.is_empty() || !estimate.is_finite() {
        return None;
    }
    ratios.sort_unstable_by(f64::total_cmp);
    let tail = (1.0 - confidence) / 2.0;
    let at =
        |p: f64| ratios[((p * (ratios.len() - 1) as f64).round() as usize).min(ratios.len() - 1)];
    Some(Interval {
        estimate,
        low: at(tail).min(estimate),
        high: at(1.0 - tail).max(estimate),
        confidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(Statistic::Median.compute(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(Statistic::Median.compute(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn degenerate_inputs_give_none() {
        assert!(bootstrap_ratio(&[], &[1.0], Statistic::Mean, 0.95, 10, 1).is_none());
        assert!(bootstrap_ratio(&[1.0], &[0.0], Statistic::Mean, 0.95, 10, 1).is_none());
        assert!(bootstrap_ratio(&[f64::NAN], &[1.0], Statistic::Mean, 0.95, 10, 1).is_none());
    }

    #[test]
    fn identical_samples_give_a_tight_interval_around_one() {
        let a: Vec<f64> = (0..50).map(|i| 100.0 + f64::from(i % 7)).collect();
        let r = bootstrap_ratio(&a, &a, Statistic::Median, 0.95, 1000, 7).unwrap();
        assert_eq!(r.estimate, 1.0);
        assert!(r.low > 0.95 && r.high < 1.05, "{r:?}");
    }
}
