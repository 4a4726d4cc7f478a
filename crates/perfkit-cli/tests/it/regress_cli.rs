//! `perfkit check`, `perfkit baseline` and `perfkit bench --baseline` end to end, on real
//! output of perfkit bench, hyperfine and criterion (the fixtures of perfkit-regress).

use std::path::PathBuf;

use perfkit_testkit::perfkit;
use predicates::prelude::*;
use serde_json::Value;

fn data(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../perfkit-regress/tests/data")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn check_finds_the_regression_in_perfkit_bench_output() {
    perfkit()
        .args(["check", "--baseline", &data("bench_before.json")])
        .args(["--current", &data("bench_after.json")])
        .assert()
        .code(1)
        .stdout(predicate::str::is_match(r"parse\s+throughput\s.*-1\d\.\d%.*REGRESSED").unwrap())
        .stdout(predicate::str::contains(
            "Skipped:  p99 of 'parse': not judged, it needs 100 samples per side and there are 30 and 30",
        ))
        .stdout(predicate::str::contains("Result: 1 regression"));
    // Named, p99 is judged and says why it cannot decide.
    perfkit()
        .args([
            "check",
            "--metric",
            "p99",
            "--baseline",
            &data("bench_before.json"),
        ])
        .args(["--current", &data("bench_after.json")])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "p99 needs at least 100 samples per side",
        ));
    // The same file on both sides: nothing regresses.
    perfkit()
        .args(["check", "--baseline", &data("bench_before.json")])
        .args(["--current", &data("bench_before.json")])
        .assert()
        .success()
        .stdout(predicate::str::contains("Result: no regression"));
}

#[test]
fn check_reads_hyperfine_exports_and_prints_json() {
    let out = perfkit()
        .args(["check", "--json", "--metric", "p50,mean=10%"])
        .args(["--baseline", &data("hyperfine_before.json")])
        .args(["--current", &data("hyperfine_after.json")])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["baseline"]["source"]["kind"], "hyperfine");
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 4);
    let parse_mean = findings
        .iter()
        .find(|f| f["benchmark"] == "parse" && f["metric"] == "mean")
        .unwrap();
    assert_eq!(parse_mean["verdict"], "regressed");
    assert_eq!(parse_mean["threshold"], 0.1);
    assert!(parse_mean["p_value"].as_f64().unwrap() < 0.001);
    assert!(parse_mean["interval"]["low"].as_f64().unwrap() > 1.1);
}

#[test]
fn check_compares_two_criterion_baselines() {
    perfkit()
        .args(["check", "--criterion", &data("criterion")])
        .args(["--base", "before", "--new", "after", "--format", "markdown"])
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with(
            "### ❌ perfkit check: 1 regression",
        ))
        .stdout(predicate::str::contains("| `sum_squares` | throughput |"));
    perfkit()
        .args(["check", "--criterion", &data("criterion")])
        .args(["--base", "after", "--new", "new"])
        .assert()
        .success();
    perfkit()
        .args(["check", "--criterion", &data("criterion"), "--base", "main"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no criterion baseline named 'main'",
        ))
        .stderr(predicate::str::contains("after, before, new"));
}

#[test]
fn strict_fails_on_inconclusive_findings() {
    // 30 samples cannot judge p99, when it is asked for.
    perfkit()
        .args([
            "check",
            "--strict",
            "--metric",
            "p99,throughput",
            "--baseline",
            &data("bench_before.json"),
        ])
        .args(["--current", &data("bench_before.json")])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("inconclusive"));
    // The default rules judge what 30 samples support, and name what they left out.
    perfkit()
        .args([
            "check",
            "--strict",
            "--baseline",
            &data("bench_before.json"),
        ])
        .args(["--current", &data("bench_before.json")])
        .assert()
        .success()
        .stdout(predicate::str::contains("Skipped:"));
}

#[test]
fn bad_input_exits_2_and_says_why() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["--current", "/nonexistent.json"],
            "cannot read /nonexistent.json",
        ),
        (
            &["--current", "{CUR}", "--metric", "p98"],
            "unknown metric 'p98'",
        ),
        (
            &["--current", "{CUR}", "--threshold", "lots"],
            "is not a percentage",
        ),
        (
            &["--current", "{CUR}", "--alpha", "2"],
            "is not a significance level",
        ),
        (
            &["--current", &data("criterion")],
            "no benchmark appears on both sides",
        ),
    ];
    for (args, message) in cases {
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("{CUR}", &data("bench_after.json")))
            .collect();
        perfkit()
            .args(["check", "--baseline", &data("bench_before.json")])
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.json");
    let text = std::fs::read_to_string(data("bench_before.json")).unwrap();
    std::fs::write(&cut, &text[..text.len() / 3]).unwrap();
    perfkit()
        .args(["baseline", "show", cut.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("truncated"));
}

#[test]
fn baseline_save_and_show() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("base.json");
    let file = file.to_str().unwrap();
    perfkit()
        .args(["baseline", "save", file, "--from", &data("criterion")])
        .args(["--criterion-baseline", "before"])
        .assert()
        .success()
        .stdout(predicate::str::contains("criterion baseline 'before'"))
        .stdout(predicate::str::contains("saved 3 benchmarks"));
    perfkit()
        .args(["baseline", "show", file])
        .assert()
        .success()
        .stdout(predicate::str::contains("sum_squares"))
        .stdout(predicate::str::contains("environment:"));
    let out = perfkit()
        .args(["baseline", "show", "--json", file])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let baseline: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(baseline["schema_version"], 1);
    assert_eq!(baseline["benchmarks"].as_array().unwrap().len(), 3);
    // The saved file checks like the directory it came from.
    perfkit()
        .args(["check", "--baseline", file, "--current", &data("criterion")])
        .assert()
        .code(1);
}

#[test]
fn bench_checks_against_a_saved_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.json");
    let base = base.to_str().unwrap();
    perfkit()
        .args([
            "bench",
            "-q",
            "-r",
            "12",
            "-n",
            "task",
            "--save-baseline",
            base,
        ])
        .arg("sleep 0.005")
        .assert()
        .success();
    // The same name, now four times slower.
    perfkit()
        .args(["bench", "-q", "-r", "12", "-n", "task", "--baseline", base])
        .arg("sleep 0.02")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("Regression check against"))
        .stdout(predicate::str::is_match(r"task\s+throughput.*REGRESSED").unwrap());
    // --json carries the check; saving over the baseline after a regression keeps it.
    let before = std::fs::read(base).unwrap();
    let out = perfkit()
        .args(["bench", "-q", "-r", "12", "-n", "task", "--json"])
        .args(["--baseline", base, "--save-baseline", base])
        .arg("sleep 0.02")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("kept the baseline"))
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["commands"][0]["name"], "task");
    assert_eq!(report["check"]["tally"]["regressed"], 1);
    assert_eq!(std::fs::read(base).unwrap(), before);
    // An unreadable baseline fails before measuring anything.
    perfkit()
        .args([
            "bench",
            "-r",
            "1",
            "--baseline",
            "/nonexistent.json",
            "sleep 5",
        ])
        .timeout(std::time::Duration::from_secs(3))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read /nonexistent.json"));
}

#[test]
fn a_baseline_whose_samples_contradict_its_summary_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.json");
    perfkit()
        .args(["bench", "-q", "-r", "12", "--save-baseline"])
        .arg(&good)
        .arg("true")
        .assert()
        .success();
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&good).expect("read")).expect("json");
    // Triple every raw sample, keep the summary: the test would see a slow-down, the report
    // a change of +0.0%.
    for v in value["benchmarks"][0]["samples_ns"]
        .as_array_mut()
        .expect("samples")
    {
        *v = serde_json::json!(v.as_f64().expect("number") * 3.0);
    }
    let edited = dir.path().join("edited.json");
    std::fs::write(&edited, value.to_string()).expect("write");
    let out = perfkit()
        .arg("check")
        .arg("--baseline")
        .arg(&edited)
        .arg("--current")
        .arg(&good)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let first = String::from_utf8_lossy(&out.stderr)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(
        first.starts_with(&format!(
            "error: {} is not a valid perfkit baseline: benchmark 'true': its raw samples contradict its summary (mean: ",
            edited.display()
        )),
        "{first}"
    );
    assert!(out.stdout.is_empty());
}
