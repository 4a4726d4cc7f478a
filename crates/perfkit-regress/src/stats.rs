//! The statistical tests behind a verdict: Mann-Whitney U (exact for small samples without
//! ties, normal approximation with tie and continuity correction otherwise) and a tail test
//! that compares how many values of each sample lie above a pooled quantile (Fisher's exact
//! test on the counts).
//!
//! Both are rank tests: they assume nothing about the shape of the distribution, which for
//! benchmark timings is skewed and often bimodal (a noisy neighbour slows some runs).

use serde::{Deserialize, Serialize};

/// Largest pooled sample size for which the exact distribution of U is used (without ties):
/// the number of arrangements, `C(120, 60)` ≈ 1e35, still fits an `i128`.
pub const EXACT_MAX_N: usize = 120;

/// Result of a two-sample test of `current` against `baseline`.
///
/// `p_greater` is the one-sided p-value for "current tends to be larger", `p_less` for "current
/// tends to be smaller", `p_two_sided = min(1, 2 · min(p_greater, p_less))`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    /// The test statistic: U of `current` for Mann-Whitney (pairs where current > baseline,
    /// ties counting one half); the number of current values above the pooled quantile for
    /// the tail test.
    pub statistic: f64,
    /// One-sided p-value for "current is larger".
    pub p_greater: f64,
    /// One-sided p-value for "current is smaller".
    pub p_less: f64,
    /// Two-sided p-value.
    pub p_two_sided: f64,
    /// Whether the p-values are exact (no approximation).
    pub exact: bool,
}

impl TestResult {
    fn new(statistic: f64, p_greater: f64, p_less: f64, exact: bool) -> Self {
        let p_greater = p_greater.clamp(0.0, 1.0);
        let p_less = p_less.clamp(0.0, 1.0);
        Self {
            statistic,
            p_greater,
            p_less,
            p_two_sided: (2.0 * p_greater.min(p_less)).min(1.0),
            exact,
        }
    }

    /// No evidence either way (e.g. every value equal).
    fn null(statistic: f64) -> Self {
        Self::new(statistic, 1.0, 1.0, true)
    }
}

/// Mann-Whitney U test of `current` against `baseline`.
///
/// Returns `None` when a sample is empty or holds a value that is not finite. The p-values are
/// exact when the pooled size is at most [`EXACT_MAX_N`] and there are no ties; otherwise they
/// come from the normal approximation with the tie-corrected variance and a continuity
/// correction. When every value is equal the test has no information and both one-sided
/// p-values are 1.
///
/// ```
/// use perfkit_regress::stats::mann_whitney;
///
/// let baseline = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0];
/// let current = [16.0, 17.0, 18.0, 19.0, 20.0, 21.0];
/// let t = mann_whitney(&baseline, &current).unwrap();
/// assert_eq!(t.statistic, 36.0); // every current value beats every baseline value
/// assert!(t.exact && t.p_greater < 0.01 && t.p_less == 1.0);
/// ```
#[must_use]
pub fn mann_whitney(baseline: &[f64], current: &[f64]) -> Option<TestResult> {
    if baseline.is_empty()
        || current.is_empty()
        || !baseline.iter().chain(current).all(|v| v.is_finite())
    {
        return None;
    }
    let (na, nb) = (baseline.len(), current.len());
    let n = na + nb;
    // Pool with group tags, sort, and give ties their average rank.
    let mut pooled: Vec<(f64, bool)> = baseline
        .iter()
        .map(|&v| (v, false))
        .chain(current.iter().map(|&v| (v, true)))
        .collect();
    pooled.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum_current = 0.0;
    let mut tie_term = 0.0; // Σ (t³ - t) over groups of ties
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && pooled[j].0 == pooled[i].0 {
            j += 1;
        }
        let t = (j - i) as f64;
        let average_rank = (i + 1 + j) as f64 / 2.0; // ranks i+1 ..= j
        let in_current = pooled[i..j].iter().filter(|p| p.1).count() as f64;
        rank_sum_current += average_rank * in_current;
        tie_term += t * t * t - t;
        i = j;
    }
    let (fa, fb, fn_) = (na as f64, nb as f64, n as f64);
    let u = rank_sum_current - fb * (fb + 1.0) / 2.0;
    if tie_term == 0.0 && n <= EXACT_MAX_N {
        let dist = exact_u_distribution(na, nb);
        // U is an integer without ties.
        let k = u.round() as usize;
        let total: i128 = dist.iter().sum();
        let upper: i128 = dist[k..].iter().sum();
        let lower: i128 = dist[..=k].iter().sum();
        return Some(TestResult::new(
            u,
            upper as f64 / total as f64,
            lower as f64 / total as f64,
            true,
        ));
    }
    let mean = fa * fb / 2.0;
    let variance = fa * fb / 12.0 * ((fn_ + 1.0) - tie_term / (fn_ * (fn_ - 1.0)));
    if variance <= 0.0 {
        return Some(TestResult::null(u));
    }
    let sd = variance.sqrt();
    let p_greater = normal_sf((u - mean - 0.5) / sd);
    let p_less = normal_sf((mean - u - 0.5) / sd);
    Some(TestResult::new(u, p_greater, p_less, false))
}

/// Number of arrangements giving each value of U for samples of sizes `a` and `b` without
/// ties: the coefficients of the Gaussian binomial `[a+b choose a]_q`, built as
/// `∏_{i=1..m} (1 - q^(M+i)) / (1 - q^i)` with `m = min(a, b)`, `M = max(a, b)`. Exact in
/// `i128` for `a + b <= EXACT_MAX_N`.
fn exact_u_distribution(first: usize, second: usize) -> Vec<i128> {
    let (small, big) = (first.min(second), first.max(second));
    let mut coef = vec![0i128; small * big + small + 1];
    coef[0] = 1;
    let mut degree = 0;
    for i in 1..=small {
        // Multiply by (1 - q^(big+i)), then divide by (1 - q^i) (exact: the quotient is the
        // next Gaussian binomial, with non-negative coefficients).
        let step = big + i;
        let widened = degree + step;
        for j in (step..=widened).rev() {
            coef[j] -= coef[j - step];
        }
        for j in i..=widened {
            coef[j] += coef[j - i];
        }
        degree = widened - i;
    }
    coef.truncate(small * big + 1);
    coef
}

/// Tail test: do more `current` than `baseline` values lie above the pooled `q`-quantile?
///
/// The pooled sample's nearest-rank `q`-quantile is the cut; under the null hypothesis (same
/// distribution) the number of current values above it follows a hypergeometric distribution
/// given the total above, so the p-values are exact (Fisher's exact test, a generalisation of
/// Mood's median test to any quantile). Sensitive to a grown tail that leaves the bulk of the
/// distribution, and so Mann-Whitney U, unmoved. `None` for an empty sample, a value that is not
/// finite, or `q` outside `(0, 1)`.
///
/// ```
/// use perfkit_regress::stats::tail_test;
///
/// // The same bulk, but a tenth of the current runs are three times slower.
/// let baseline: Vec<f64> = (0..200).map(|i| 100.0 + f64::from(i % 20)).collect();
/// let current: Vec<f64> = (0..200)
///     .map(|i| if i % 10 == 0 { 300.0 } else { 100.0 + f64::from(i % 20) })
///     .collect();
/// let t = tail_test(&baseline, &current, 0.9).unwrap();
/// assert!(t.p_greater < 0.001);
/// ```
#[must_use]
pub fn tail_test(baseline: &[f64], current: &[f64], q: f64) -> Option<TestResult> {
    if baseline.is_empty()
        || current.is_empty()
        || !baseline.iter().chain(current).all(|v| v.is_finite())
        || !(q > 0.0 && q < 1.0)
    {
        return None;
    }
    let mut pooled: Vec<f64> = baseline.iter().chain(current).copied().collect();
    pooled.sort_unstable_by(f64::total_cmp);
    let cut = perfkit_metrics::stats::quantile_sorted(&pooled, q)?;
    let above_current = current.iter().filter(|&&v| v > cut).count();
    let above = pooled.iter().filter(|&&v| v > cut).count();
    if above == 0 || above == pooled.len() {
        return Some(TestResult::null(above_current as f64));
    }
    let h = Hypergeometric::new(pooled.len(), above, current.len());
    Some(TestResult::new(
        above_current as f64,
        h.upper_tail(above_current),
        h.lower_tail(above_current),
        true,
    ))
}

/// The number of marked items in `draws` draws without replacement from `population` items of
/// which `marked` are marked.
struct Hypergeometric {
    ln_factorial: Vec<f64>,
    population: usize,
    marked: usize,
    draws: usize,
}

impl Hypergeometric {
    fn new(population: usize, marked: usize, draws: usize) -> Self {
        let mut ln_factorial = Vec::with_capacity(population + 1);
        let mut acc = 0.0;
        ln_factorial.push(0.0);
        for k in 1..=population {
            acc += (k as f64).ln();
            ln_factorial.push(acc);
        }
        Self {
            ln_factorial,
            population,
            marked,
            draws,
        }
    }

    fn ln_choose(&self, n: usize, k: usize) -> f64 {
        self.ln_factorial[n] - self.ln_factorial[k] - self.ln_factorial[n - k]
    }

    fn support(&self) -> (usize, usize) {
        let low = (self.draws + self.marked).saturating_sub(self.population);
        (low, self.marked.min(self.draws))
    }

    fn pmf(&self, k: usize) -> f64 {
        let (low, high) = self.support();
        if k < low || k > high {
            return 0.0;
        }
        (self.ln_choose(self.marked, k)
            + self.ln_choose(self.population - self.marked, self.draws - k)
            - self.ln_choose(self.population, self.draws))
        .exp()
    }

    fn upper_tail(&self, k: usize) -> f64 {
        let (_, high) = self.support();
        (k..=high).map(|j| self.pmf(j)).sum()
    }

    fn lower_tail(&self, k: usize) -> f64 {
        let (low, _) = self.support();
        (low..=k).map(|j| self.pmf(j)).sum()
    }
}

/// `P(Z > z)` for a standard normal `Z`, via the complementary error function (relative error
/// below 1.2e-7, Numerical Recipes' Chebyshev fit).
#[must_use]
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_distribution_sums_to_the_binomial_coefficient() {
        let d = exact_u_distribution(3, 4);
        assert_eq!(d.iter().sum::<i128>(), 35);
        assert_eq!(d, vec![1, 1, 2, 3, 4, 4, 5, 4, 4, 3, 2, 1, 1]);
        let big = exact_u_distribution(60, 60);
        let total: i128 = big.iter().sum();
        // C(120, 60)
        assert_eq!(total, 96_614_908_840_363_322_603_893_139_521_372_656);
        assert!(big.iter().all(|&c| c > 0));
    }

    #[test]
    fn known_p_values() {
        // scipy.stats.mannwhitneyu([1,2,3,4,5], [6,7,8,9,10], alternative="less") = 1/252
        let t = mann_whitney(&[6.0, 7.0, 8.0, 9.0, 10.0], &[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert!((t.p_less - 1.0 / 252.0).abs() < 1e-12);
        assert!((t.p_two_sided - 2.0 / 252.0).abs() < 1e-12);
        // With ties: normal approximation (scipy, method="asymptotic": U 58.5, p 0.005470...).
        let a = [1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0, 4.0];
        let b = [3.0, 4.0, 4.0, 5.0, 5.0, 6.0, 6.0, 7.0];
        let t = mann_whitney(&a, &b).unwrap();
        assert!(!t.exact);
        assert_eq!(t.statistic, 58.5);
        assert!((t.p_two_sided - 0.005_470_64).abs() < 1e-6, "{t:?}");
    }

    #[test]
    fn normal_tail_matches_tables() {
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_sf(1.959_964) - 0.025).abs() < 1e-7);
        assert!((normal_sf(-1.644_854) - 0.95).abs() < 1e-7);
    }

    #[test]
    fn hypergeometric_tails_cover_everything() {
        let h = Hypergeometric::new(20, 7, 9);
        let (low, high) = h.support();
        let total: f64 = (low..=high).map(|k| h.pmf(k)).sum();
        assert!((total - 1.0).abs() < 1e-12);
        assert!((h.upper_tail(low) - 1.0).abs() < 1e-12);
        assert!((h.lower_tail(high) - 1.0).abs() < 1e-12);
    }
}
