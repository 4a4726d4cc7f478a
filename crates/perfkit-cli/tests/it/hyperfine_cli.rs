//! `perfkit bench` with hyperfine's command line: scenarios written for hyperfine, checked by
//! what a user can observe (the order of side effects, exit codes, exports).

use perfkit_testkit::perfkit;
use predicates::prelude::*;
use serde_json::Value;

/// The lines `log` holds.
fn lines(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// A command that appends `text` (after the shell's expansion) to `log`.
fn append(text: &str, log: &std::path::Path) -> String {
    format!("sh -c 'echo {text} >> {}'", log.display())
}

#[test]
fn helpers_run_around_every_run_for_every_parameter_value() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let json = dir.path().join("out.json");
    perfkit()
        .args([
            "bench",
            "--warmup",
            "1",
            "--runs",
            "2",
            "--order",
            "sequential",
        ])
        .args(["--output", "null", "--export-json"])
        .arg(&json)
        .args(["--setup", &append("setup-{n}", &log)])
        .args(["--prepare", &append("prepare-{n}", &log)])
        .args(["--conclude", &append("conclude-{n}", &log)])
        .args(["--cleanup", &append("cleanup-{n}", &log)])
        .args(["--parameter-scan", "n", "1", "2"])
        .arg(append(
            "run-{n}-$HYPERFINE_ITERATION-$PERFKIT_ITERATION",
            &log,
        ))
        .assert()
        .success();
    let mut expected = Vec::new();
    for n in 1..=2 {
        expected.push(format!("setup-{n}"));
        for iteration in ["warmup-0", "0", "1"] {
            expected.push(format!("prepare-{n}"));
            expected.push(format!("run-{n}-{iteration}-{iteration}"));
            expected.push(format!("conclude-{n}"));
        }
        expected.push(format!("cleanup-{n}"));
    }
    assert_eq!(lines(&log), expected);
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let parameters: Vec<&Value> = report["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["parameters"])
        .collect();
    assert_eq!(
        parameters,
        [
            &serde_json::json!([{"name": "n", "value": "1"}]),
            &serde_json::json!([{"name": "n", "value": "2"}])
        ]
    );
}

#[test]
fn parameter_lists_run_every_combination_with_the_first_list_fastest() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let out = perfkit()
        .args([
            "bench",
            "--warmup",
            "0",
            "--runs",
            "1",
            "--order",
            "sequential",
        ])
        .args(["--output", "null", "--json"])
        .args(["-L", "a", "1,2", "-L", "b", r"x\,y,z"])
        .arg(append("{a}{b}", &log))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(lines(&log), ["1x,y", "2x,y", "1z", "2z"]);
    let report: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["commands"].as_array().unwrap().len(), 4);
    // A list the command does not use still makes benchmarks, named apart.
    let out = perfkit()
        .args(["bench", "--runs", "1", "--output", "null", "--json"])
        .args(["-L", "unused", "p,q", "true"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&out).unwrap();
    let names: Vec<&str> = report["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["true (unused = p)", "true (unused = q)"]);
}

#[test]
fn parameters_that_make_no_benchmark_are_refused_before_anything_runs() {
    for (args, says) in [
        (&["-P", "n", "3", "1"][..], "is empty"),
        (&["-P", "n", "0.1", "1"][..], "needs a step"),
        (&["-P", "n", "1", "3", "-D", "0"][..], "above zero"),
        (&["-P", "n", "1", "x"][..], "not a number"),
        (&["-L", "a", "1", "-L", "a", "2"][..], "twice"),
        (
            &["-P", "n", "1", "3", "-L", "a", "1"][..],
            "cannot be used with",
        ),
        (&["-D", "2"][..], "--parameter-scan"),
    ] {
        perfkit()
            .arg("bench")
            .args(args)
            .arg("true")
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
    }
}
