//! Property tests of the histogram against exact answers.

use perfkit_metrics::{Histogram, Summary};
use proptest::prelude::*;

/// Values spread over many orders of magnitude (log-uniform), plus some exact small ones.
fn values() -> impl Strategy<Value = Vec<u64>> {
    let log_uniform = (0u32..64, any::<u64>()).prop_map(|(bits, r)| {
        if bits == 0 {
            0
        } else {
            (r >> (64 - bits)) | (1u64 << (bits - 1))
        }
    });
    prop::collection::vec(prop_oneof![4 => log_uniform, 1 => 0u64..5000], 1..2000)
}

fn exact_quantile(sorted: &[u64], q: f64) -> u64 {
    // Nearest rank, same definition as the histogram.
    let n = sorted.len() as u64;
    let r = ((q * n as f64) - (q * n as f64) * 4.0 * f64::EPSILON).ceil() as u64;
    sorted[(r.clamp(1, n) - 1) as usize]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn quantiles_are_within_relative_error(values in values(), digits in 1u8..=5, qs in prop::collection::vec(0.0f64..=1.0, 1..8)) {
        let mut h = Histogram::with_precision(digits).unwrap();
        h.extend(&values);
        let mut sorted = values.clone();
        sorted.sort_unstable();
        let bound = h.relative_error();
        for &q in qs.iter().chain(&[0.0, 0.5, 0.9, 0.99, 0.999, 1.0]) {
            let got = h.quantile(q).unwrap();
            let want = exact_quantile(&sorted, q);
            prop_assert!(got >= want, "q={q} got {got} < exact {want}");
            let err = (got - want) as f64 / want.max(1) as f64;
            prop_assert!(err <= bound, "q={q} got {got} exact {want} err {err} > {bound}");
        }
        prop_assert_eq!(h.count(), values.len() as u64);
        prop_assert_eq!(h.min(), sorted.first().copied());
        prop_assert_eq!(h.max(), sorted.last().copied());
        prop_assert_eq!(h.sum(), values.iter().map(|&v| u128::from(v)).sum::<u128>());
    }

    #[test]
    fn multi_quantile_pass_equals_single_queries(values in values(), qs in prop::array::uniform5(0.0f64..=1.0)) {
        let mut h = Histogram::new();
        h.extend(&values);
        let many = h.quantiles(qs).unwrap();
        for (q, got) in qs.iter().zip(many) {
            prop_assert_eq!(h.quantile(*q).unwrap(), got);
        }
    }

    #[test]
    fn summary_from_histogram_is_close_to_exact(values in values()) {
        let mut h = Histogram::new();
        h.extend(&values);
        let a = Summary::from_histogram(&h).unwrap();
        let b = Summary::exact(&values).unwrap();
        prop_assert_eq!((a.count, a.min, a.max), (b.count, b.min, b.max));
        prop_assert!((a.mean - b.mean).abs() <= b.mean * 1e-12 + 1e-9);
        for (x, y) in [(a.p50, b.p50), (a.p90, b.p90), (a.p99, b.p99), (a.p999, b.p999)] {
            prop_assert!(x >= y && (x - y) as f64 <= y as f64 * 1e-3);
        }
    }

}

// Histograms of 5 significant digits over the whole u64 range hold millions of slots: fewer cases.
proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn merge_of_parts_equals_one_histogram(values in values(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..5), digits in 1u8..=5) {
        let mut whole = Histogram::with_precision(digits).unwrap();
        whole.extend(&values);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(values.len() + 1)).collect();
        points.push(0);
        points.push(values.len());
        points.sort_unstable();
        let mut merged = Histogram::with_precision(digits).unwrap();
        for w in points.windows(2) {
            let mut part = Histogram::with_precision(digits).unwrap();
            part.extend(&values[w[0]..w[1]]);
            merged.merge(&part);
        }
        prop_assert_eq!(merged, whole);
    }

    #[test]
    fn record_n_equals_repeated_record(value in any::<u64>(), n in 0u64..50) {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        a.record_n(value, n);
        (0..n).for_each(|_| b.record(value));
        prop_assert_eq!(a, b);
    }

    #[test]
    fn serde_round_trip(values in values(), digits in 1u8..=5) {
        let mut h = Histogram::with_precision(digits).unwrap();
        h.extend(&values);
        let text = serde_json::to_string(&h).unwrap();
        let back: Histogram = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &h);
        prop_assert_eq!(back.quantile(0.99), h.quantile(0.99));
    }

    #[test]
    fn corrupt_serialised_histograms_are_errors_not_panics(values in values(), edit in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut h = Histogram::new();
        h.extend(&values);
        let mut text = serde_json::to_vec(&h).unwrap();
        let i = edit.index(text.len());
        text[i] = byte;
        // Either a valid histogram or an error; never a panic.
        if let Ok(back) = serde_json::from_slice::<Histogram>(&text) {
            let _ = back.quantiles([0.5, 0.99]);
            let _ = Summary::from_histogram(&back);
        }
        // Truncation is always an error.
        prop_assert!(serde_json::from_slice::<Histogram>(&text[..i]).is_err());
    }
}

#[test]
fn serialised_form_is_sparse() {
    let mut h = Histogram::new();
    h.record(1);
    h.record(1_000_000_000);
    let text = serde_json::to_string(&h).unwrap();
    assert!(text.len() < 200, "{text}");
    assert!(text.contains("\"counts\":[-1,1,"), "{text}");
}

#[test]
fn serialised_form_is_the_documented_one() {
    let mut h = Histogram::new();
    h.record(3);
    h.record(3);
    h.record(5);
    let text = serde_json::to_string(&h).unwrap();
    // The form docs/formats.md describes, written by perfkit before the reader and the writer
    // shared one struct.
    assert_eq!(
        text,
        r#"{"version":1,"significant_digits":3,"count":3,"min":3,"max":5,"sum":11,"counts":[-3,2,-1,1]}"#
    );
    let back: Histogram = serde_json::from_str(&text).unwrap();
    assert_eq!(back, h);
    let extra = text.replacen('{', "{\"unknown\":1,", 1);
    assert!(
        serde_json::from_str::<Histogram>(&extra).is_err(),
        "{extra}"
    );
}
