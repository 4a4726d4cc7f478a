//! `perfkit doctor` as a user runs it.

use perfkit_testkit::perfkit;
use predicates::prelude::*;

#[test]
fn doctor_prints_a_line_per_check_and_json() {
    let out = perfkit().arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("perf") && text.contains("other load"),
        "{text}"
    );
    // Exit 1 exactly when a line says PROBLEM.
    assert_eq!(
        out.status.code() == Some(1),
        text.contains("PROBLEM"),
        "{text}"
    );
    let out = perfkit()
        .args(["doctor", "--json", "--binary"])
        .arg(assert_cmd::cargo::cargo_bin("perfkit"))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["schema_version"], 1);
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.iter().any(|c| c["topic"] == "debug info"));
}

#[test]
fn doctor_on_a_missing_binary_is_a_problem() {
    perfkit()
        .args(["doctor", "--binary", "/nonexistent/app"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("cannot read it"));
}
