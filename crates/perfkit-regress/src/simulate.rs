//! Measuring the error rates of a [`Policy`] on synthetic benchmark noise: how often identical
//! runs are flagged (false positives, "A/A") and how often a real slow-down is caught
//! ("A/B"). Everything is seeded, so a figure is reproducible to the last digit.
//!
//! The noise models are shaped after runs measured with `perfkit bench` on a 2-vCPU cloud VM
//! (see the crate docs for the figures and `examples/error_rates.rs` for the tables).

use crate::baseline::Benchmark;
use crate::check::{Verdict, compare};
use crate::policy::Policy;

/// How a benchmark's times scatter around their typical value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Noise {
    /// `exp(N(0, sigma²))`: right-skewed, the usual shape of timings. `sigma` 0.05 matches a
    /// 5 ms sleep on the VM (measured 0.049), 0.015 a 20 ms CPU-bound run.
    LogNormal {
        /// Standard deviation of the log of the times (≈ the coefficient of variation).
        sigma: f64,
    },
    /// A shared machine: most runs log-normal around 1, a share of them slowed by a noisy
    /// neighbour. Measured on the VM with a neighbour burning both vCPUs on and off: 75% of
    /// runs within a few percent (sigma 0.025), 25% about 1.25× slower.
    Bimodal {
        /// Share of slowed runs.
        slow_share: f64,
        /// How much slower they are.
        slowdown: f64,
        /// Log-sigma of the normal runs.
        sigma_fast: f64,
        /// Log-sigma of the slowed runs.
        sigma_slow: f64,
    },
}

impl Noise {
    /// The shared-machine model measured on the VM.
    pub const SHARED_MACHINE: Noise = Noise::Bimodal {
        slow_share: 0.25,
        slowdown: 1.25,
        sigma_fast: 0.025,
        sigma_slow: 0.04,
    };

    /// `n` samples with typical value `scale`.
    pub fn sample(self, rng: &mut fastrand::Rng, n: usize, scale: f64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                let factor = match self {
                    Noise::LogNormal { sigma } => (sigma * normal(rng)).exp(),
                    Noise::Bimodal {
                        slow_share,
                        slowdown,
                        sigma_fast,
                        sigma_slow,
                    } => {
                        if rng.f64() < slow_share {
                            slowdown * (sigma_slow * normal(rng)).exp()
                        } else {
                            (sigma_fast * normal(rng)).exp()
                        }
                    }
                };
                scale * factor
            })
            .collect()
    }
}

/// A standard normal variate (Box-Muller).
fn normal(rng: &mut fastrand::Rng) -> f64 {
    let u1 = 1.0 - rng.f64(); // (0, 1]
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// How often a policy flagged a regression over many simulated pairs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Pairs compared.
    pub pairs: usize,
    /// Pairs with at least one regressed finding.
    pub flagged: usize,
}

impl Rate {
    /// `flagged / pairs`.
    #[must_use]
    pub fn fraction(&self) -> f64 {
        self.flagged as f64 / self.pairs.max(1) as f64
    }
}

/// Compares `pairs` baseline/current pairs of `n` samples each, drawn from `noise`, the current
/// one slowed by `slowdown` (1.0: identical distributions, so every flag is a false positive;
/// 1.1: a true 10% slow-down, so every flag is a detection), and counts the pairs `policy`
/// flags. The bootstrap interval does not enter verdicts, so pass a policy with `resamples: 0`
/// to make this fast.
///
/// ```
/// use perfkit_regress::Policy;
/// use perfkit_regress::simulate::{Noise, regression_rate};
///
/// let policy = Policy { resamples: 0, ..Policy::default() };
/// let aa = regression_rate(Noise::LogNormal { sigma: 0.05 }, 1.0, 30, &policy, 200, 7);
/// let ab = regression_rate(Noise::LogNormal { sigma: 0.05 }, 1.1, 30, &policy, 200, 7);
/// assert!(aa.fraction() < 0.05 && ab.fraction() > 0.9);
/// ```
#[must_use]
pub fn regression_rate(
    noise: Noise,
    slowdown: f64,
    n: usize,
    policy: &Policy,
    pairs: usize,
    seed: u64,
) -> Rate {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut flagged = 0;
    for _ in 0..pairs {
        let make = |rng: &mut fastrand::Rng, scale| {
            Benchmark::from_samples("sim", noise.sample(rng, n, scale), None, Vec::new())
        };
        let (Ok(a), Ok(b)) = (make(&mut rng, 1e6), make(&mut rng, 1e6 * slowdown)) else {
            continue;
        };
        if compare(&a, &b, policy)
            .iter()
            .any(|f| f.verdict == Verdict::Regressed)
        {
            flagged += 1;
        }
    }
    Rate { pairs, flagged }
}
