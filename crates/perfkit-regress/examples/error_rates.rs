//! Prints the error rates of regression policies on simulated benchmark noise as Markdown
//! (the tables in the crate docs, `ERROR_RATES.md`).
//!
//! ```sh
//! cargo run --release -p perfkit-regress --example error_rates [PAIRS]   # default 1000
//! ```

use perfkit_metrics::markdown::{Align, MarkdownTable};
use perfkit_regress::simulate::{Noise, regression_rate};
use perfkit_regress::{Metric, MetricRule, Policy};

const SEED: u64 = 2026;

fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

fn main() {
    let pairs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let base = Policy {
        resamples: 0,
        ..Policy::default()
    };
    let models: [(&str, Noise); 5] = [
        (
            "log-normal σ 0.015 (CPU-bound run)",
            Noise::LogNormal { sigma: 0.015 },
        ),
        (
            "log-normal σ 0.05 (5 ms sleep)",
            Noise::LogNormal { sigma: 0.05 },
        ),
        ("log-normal σ 0.08", Noise::LogNormal { sigma: 0.08 }),
        ("log-normal σ 0.10", Noise::LogNormal { sigma: 0.10 }),
        (
            "shared machine (25% of runs 1.25× slower)",
            Noise::SHARED_MACHINE,
        ),
    ];
    let rate = |noise, slowdown, n, policy: &Policy| {
        percent(regression_rate(noise, slowdown, n, policy, pairs, SEED).fraction())
    };

    println!(
        "Measured with `cargo run --release -p perfkit-regress --example error_rates` ({pairs} seeded pairs per cell).\n"
    );
    println!(
        "**Default policy, 30 samples per side.** A/A: both sides from the same distribution (every flag is a false positive). A/B: the current side 10% slower (every flag is a detection). For comparison, the A/A rate of a plain fixed 5% threshold without a test, and of the test without a threshold.\n"
    );
    let mut table = noise_table(&[
        "A/A flagged",
        "A/B 10% detected",
        "A/A, threshold alone",
        "A/A, test alone",
    ]);
    let threshold_alone = Policy {
        alpha: 1.0 - 1e-12,
        ..base.clone()
    };
    let test_alone = Policy::with_threshold(0.0);
    let test_alone = Policy {
        resamples: 0,
        ..test_alone
    };
    for (name, noise) in models {
        table.row([
            name.to_owned(),
            rate(noise, 1.0, 30, &base),
            rate(noise, 1.1, 30, &base),
            rate(noise, 1.0, 30, &threshold_alone),
            rate(noise, 1.0, 30, &test_alone),
        ]);
    }
    print!("{table}");

    println!(
        "\n**Samples per side** (default policy; from 100 samples p99 is judged too, below it is inconclusive).\n"
    );
    let mut table = noise_table(&["n", "A/A flagged", "A/B 10% detected"]);
    for (name, noise) in [models[1], models[2], models[4]] {
        for n in [10, 20, 30, 50, 100, 200] {
            table.row([
                name.to_owned(),
                n.to_string(),
                rate(noise, 1.0, n, &base),
                rate(noise, 1.1, n, &base),
            ]);
        }
    }
    print!("{table}");

    println!("\n**Threshold** (30 samples per side).\n");
    let mut table = noise_table(&["threshold", "A/A flagged", "A/B 10% detected"]);
    for (name, noise) in [models[1], models[2], models[4]] {
        for threshold in [0.02, 0.05, 0.08] {
            let policy = Policy {
                resamples: 0,
                ..Policy::with_threshold(threshold)
            };
            table.row([
                name.to_owned(),
                percent(threshold),
                rate(noise, 1.0, 30, &policy),
                rate(noise, 1.1, 30, &policy),
            ]);
        }
    }
    print!("{table}");

    mean_table(&models, &base, pairs);
}

/// Why `throughput` uses the median: the same rates with the mean.
fn mean_table(models: &[(&str, Noise); 5], base: &Policy, pairs: usize) {
    let rate = |noise, slowdown, policy: &Policy| {
        percent(regression_rate(noise, slowdown, 30, policy, pairs, SEED).fraction())
    };
    println!(
        "\n**Throughput from the mean instead of the median** (metric `mean`, 5%, 30 samples): why `throughput` uses the median.\n"
    );
    let mut table = noise_table(&["A/A flagged", "A/B 10% detected"]);
    let mean_policy = Policy {
        rules: vec![MetricRule {
            metric: Metric::Mean,
            threshold: 0.05,
        }],
        ..base.clone()
    };
    for (name, noise) in [models[1], models[3], models[4]] {
        table.row([
            name.to_owned(),
            rate(noise, 1.0, &mean_policy),
            rate(noise, 1.1, &mean_policy),
        ]);
    }
    print!("{table}");
}

/// A table of a noise model per row and these columns of figures.
fn noise_table(figures: &[&str]) -> MarkdownTable {
    MarkdownTable::new(
        std::iter::once(("Noise", Align::Left)).chain(figures.iter().map(|f| (*f, Align::Right))),
    )
}
