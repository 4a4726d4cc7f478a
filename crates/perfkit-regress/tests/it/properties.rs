//! Property tests: the statistics behave like statistics, and no input makes a reader panic.

use perfkit_regress::stats::{mann_whitney, tail_test};
use perfkit_regress::{
    Baseline, Benchmark, Metric, MetricRule, Policy, Source, SourceKind, Verdict, compare,
    parse_hyperfine, parse_perfkit_bench,
};
use proptest::prelude::*;

fn samples() -> impl Strategy<Value = Vec<f64>> {
    // Coarse values so ties happen, both for the exact and the approximate path.
    prop::collection::vec((1u32..200).prop_map(|v| f64::from(v) * 10.0), 1..80)
}

/// A valid baseline's JSON (made once: `Baseline::new` runs git and rustc).
fn small_baseline() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        let source = Source {
            kind: SourceKind::Hyperfine,
            path: None,
            criterion_baseline: None,
        };
        let b = Benchmark::from_samples("x", vec![1.0, 2.0, 3.0, 4.0], None, vec![]).unwrap();
        Baseline::new(source, vec![b]).unwrap().to_json()
    })
}

proptest! {
    #[test]
    fn u_is_symmetric_and_p_values_are_probabilities(a in samples(), b in samples()) {
        let ab = mann_whitney(&a, &b).unwrap();
        let ba = mann_whitney(&b, &a).unwrap();
        let pairs = (a.len() * b.len()) as f64;
        prop_assert!((ab.statistic + ba.statistic - pairs).abs() < 1e-9);
        prop_assert!((ab.p_greater - ba.p_less).abs() < 1e-9);
        prop_assert!((ab.p_two_sided - ba.p_two_sided).abs() < 1e-9);
        for p in [ab.p_greater, ab.p_less, ab.p_two_sided] {
            prop_assert!((0.0..=1.0).contains(&p), "{ab:?}");
        }
        // One-sided p-values of a discrete statistic overlap at the observed value.
        prop_assert!(ab.p_greater + ab.p_less >= 1.0 - 1e-9);
    }

    #[test]
    fn tail_test_p_values_are_probabilities(a in samples(), b in samples(), q in 0.5f64..0.999) {
        let t = tail_test(&a, &b, q).unwrap();
        for p in [t.p_greater, t.p_less, t.p_two_sided] {
            prop_assert!((0.0..=1.0).contains(&p), "{t:?}");
        }
        let u = tail_test(&b, &a, q).unwrap();
        prop_assert!((t.p_two_sided - u.p_two_sided).abs() < 1e-9);
    }

    #[test]
    fn identical_samples_never_regress(values in prop::collection::vec(1.0f64..1e9, 1..300)) {
        let b = Benchmark::from_samples("x", values.clone(), None, values.iter().map(|v| *v as u64).collect()).unwrap();
        let policy = Policy {
            rules: Metric::ALL.iter().map(|&metric| MetricRule { metric, threshold: 0.0 }).collect(),
            resamples: 50,
            ..Policy::default()
        };
        for f in &compare(&b, &b, &policy) {
            prop_assert!(matches!(f.verdict, Verdict::Unchanged | Verdict::Inconclusive), "{f:?}");
        }
    }

    #[test]
    fn baseline_reader_never_panics(text in ".{0,400}") {
        let _ = Baseline::from_json(&text);
        let _ = parse_hyperfine(&text);
        let _ = parse_perfkit_bench(&text);
    }

    #[test]
    fn mutated_baselines_are_errors_or_valid(cut in 0usize..4000, byte in any::<u8>()) {
        let mut bytes = small_baseline().as_bytes().to_vec();
        let at = cut % bytes.len();
        bytes[at] = byte;
        if let Ok(s) = String::from_utf8(bytes.clone()) {
            let _ = Baseline::from_json(&s);
            if let Some(prefix) = s.get(..at) {
                let _ = Baseline::from_json(prefix);
            }
        }
    }
}
