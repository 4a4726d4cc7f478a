//! The default policy's measured error rates (seeded simulations: statistics, not timings).
//! See `ERROR_RATES.md` for the full tables (`--example error_rates`).

use perfkit_regress::Policy;
use perfkit_regress::simulate::{Noise, regression_rate};

const PAIRS: usize = 1000;
const SAMPLES: usize = 30;
const SEED: u64 = 2026;

fn policy() -> Policy {
    // The interval is reported, never used for a verdict: skip it to keep the test fast.
    Policy {
        resamples: 0,
        ..Policy::default()
    }
}

fn check_rates(noise: Noise) {
    let aa = regression_rate(noise, 1.0, SAMPLES, &policy(), PAIRS, SEED);
    let ab = regression_rate(noise, 1.1, SAMPLES, &policy(), PAIRS, SEED + 1);
    println!(
        "{noise:?}: A/A flagged {:.1}%, A/B 10% detected {:.1}%",
        aa.fraction() * 100.0,
        ab.fraction() * 100.0
    );
    assert!(
        aa.flagged <= PAIRS / 100,
        "false positives {aa:?} for {noise:?}"
    );
    assert!(
        ab.flagged >= PAIRS * 95 / 100,
        "detections {ab:?} for {noise:?}"
    );
}

#[test]
fn log_normal_noise() {
    check_rates(Noise::LogNormal { sigma: 0.05 });
}

#[test]
fn shared_machine_noise() {
    check_rates(Noise::SHARED_MACHINE);
}

#[test]
fn without_the_threshold_false_positives_rise_to_the_tests_level() {
    // The guard the threshold adds: the test alone flags about alpha/2 of identical pairs.
    let test_alone = Policy {
        resamples: 0,
        ..Policy::with_threshold(0.0)
    };
    let aa = regression_rate(
        Noise::LogNormal { sigma: 0.05 },
        1.0,
        SAMPLES,
        &test_alone,
        PAIRS,
        SEED,
    );
    assert!(aa.flagged > PAIRS / 100, "{aa:?}");
}
