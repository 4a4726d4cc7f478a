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

/// `perfkit bench --runs 1 --output null --json ARGS`'s report.
fn report(args: &[&str]) -> Value {
    let out = perfkit()
        .args(["bench", "--runs", "1", "--output", "null", "--json"])
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

/// Each benchmark's argument vector in `report`.
fn argvs(report: &Value) -> Vec<Vec<String>> {
    report["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| serde_json::from_value(c["command"].clone()).unwrap())
        .collect()
}

#[test]
fn a_command_runs_through_a_shell_only_when_it_needs_one() {
    let auto = report(&["true", "echo x | cat", "exit 0"]);
    assert_eq!(
        argvs(&auto),
        [
            vec!["true"],
            vec!["sh", "-c", "echo x | cat"],
            vec!["sh", "-c", "exit 0"]
        ]
    );
    // hyperfine's --shell: always that shell; none (or -N) never.
    assert_eq!(
        argvs(&report(&["-S", "bash --norc", "true"])),
        [vec!["bash", "--norc", "-c", "true"]]
    );
    assert_eq!(
        argvs(&report(&["--shell=default", "true"])),
        [vec!["sh", "-c", "true"]]
    );
    for none in [&["-N"][..], &["--shell=none"][..]] {
        let out = perfkit()
            .args(["bench", "--runs", "1", "--output", "null", "--json"])
            .args(none)
            .arg("echo x | cat")
            .assert()
            .success()
            .stderr(predicate::str::contains("without a shell"))
            .get_output()
            .stdout
            .clone();
        let direct: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(argvs(&direct), [vec!["echo", "x", "|", "cat"]]);
    }
    perfkit()
        .args(["bench", "-S", " ", "true"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--shell needs a shell"));
    perfkit()
        .args(["bench", "-N", "-S", "bash", "true"])
        .assert()
        .code(2);
}

#[test]
fn one_command_after_a_double_dash_needs_no_quoting() {
    let dashed = report(&["--", "sh", "-c", "exit 0", "a b"]);
    assert_eq!(argvs(&dashed), [vec!["sh", "-c", "exit 0", "a b"]]);
    assert_eq!(dashed["commands"][0]["name"], "sh -c 'exit 0' 'a b'");
    perfkit()
        .args(["bench", "true", "--", "false"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("both as arguments"));
    perfkit()
        .args(["bench", "--runs", "1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("COMMAND"));
    // A program's words given as separate commands: the error says how to quote.
    perfkit()
        .args(["bench", "--runs", "1", "ls", "perfkit-no-such-dir"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("perfkit-no-such-dir").and(predicate::str::contains(
                "quote it, as in perfkit bench 'rg -F main f'",
            )),
        );
}

#[test]
fn failures_are_ignored_all_or_by_exit_code() {
    let exit3 = "sh -c 'exit 3'";
    let run = |mode: &[&str]| {
        perfkit()
            .args([
                "bench", "--runs", "2", "--warmup", "1", "--output", "null", "--json",
            ])
            .args(mode)
            .arg(exit3)
            .assert()
    };
    for mode in [
        &["-i"][..],
        &["--ignore-failure"][..],
        &["--ignore-failure=2,3"][..],
    ] {
        let out = run(mode).success().get_output().stdout.clone();
        let report: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(report["commands"][0]["failed_runs"], 2, "{mode:?}");
    }
    // Not among the codes, or not ignored at all: the benchmark stops with exit 1.
    run(&["--ignore-failure=1,2"])
        .code(1)
        .stderr(predicate::str::contains("exit code 3"));
    run(&[])
        .code(1)
        .stderr(predicate::str::contains("--ignore-failure"));
    run(&["--ignore-failure=sometimes"])
        .code(2)
        .stderr(predicate::str::contains("all-non-zero"));
}
