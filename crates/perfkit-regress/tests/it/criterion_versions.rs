//! criterion's results directories as every criterion release from 0.2.11 to 0.8 writes them
//! (tests/data/criterion-versions/, and tests/data/criterion/ for 0.8).

use std::path::{Path, PathBuf};

use perfkit_regress::{Policy, Work, check, load_criterion};

fn versions() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/criterion-versions");
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "src"))
        .collect();
    out.sort();
    out
}

#[test]
fn every_release_is_read_with_its_estimates_and_throughput() {
    let versions = versions();
    assert!(versions.len() >= 7, "{versions:?}");
    for dir in versions {
        let version = dir.file_name().unwrap().to_string_lossy().into_owned();
        for name in ["new", "base"] {
            let baseline = load_criterion(&dir, name).unwrap_or_else(|e| panic!("{version}: {e}"));
            let fib = baseline
                .get("fib 15")
                .unwrap_or_else(|| panic!("{version}"));
            // fib(15) takes about 2 µs per iteration here, not a sample's total.
            assert!(
                (300.0..50_000.0).contains(&fib.summary.p50),
                "{version}: {:?}",
                fib.summary
            );
            let estimate = fib.tool_estimate.as_ref().unwrap();
            assert_eq!(estimate.statistic, "slope", "{version}");
            assert!(estimate.low_ns <= estimate.ns && estimate.ns <= estimate.high_ns);
            let sum = baseline
                .get("sum/100")
                .unwrap_or_else(|| panic!("{version}"));
            if version != "0.2.11" {
                assert_eq!(sum.work, Some(Work::Elements(100.0)), "{version}");
            }
            if let Some(flat) = baseline.get("flat/copy") {
                // Flat sampling has no slope: criterion's mean is its headline.
                assert_eq!(flat.tool_estimate.as_ref().unwrap().statistic, "mean");
            }
        }
        let report = check(
            &load_criterion(&dir, "base").unwrap(),
            &load_criterion(&dir, "new").unwrap(),
            &Policy::default(),
        )
        .unwrap();
        assert!(!report.findings.is_empty(), "{version}");
    }
}

#[test]
fn a_format_it_cannot_read_names_the_releases_it_can() {
    let dir = tempfile::tempdir().unwrap();
    let bench = dir.path().join("x/new");
    std::fs::create_dir_all(&bench).unwrap();
    std::fs::write(bench.join("benchmark.json"), r#"{"full_id": "x"}"#).unwrap();
    std::fs::write(bench.join("sample.json"), r#"{"samples": [1, 2]}"#).unwrap();
    let err = load_criterion(dir.path(), "new").unwrap_err().to_string();
    assert!(
        err.contains("sample.json") && err.contains("0.2.11 to 0.8"),
        "{err}"
    );
}
