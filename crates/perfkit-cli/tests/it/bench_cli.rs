//! `perfkit bench` end to end, as a user runs it.

use perfkit_testkit::have;
use perfkit_testkit::perfkit;
use predicates::prelude::*;
use serde_json::Value;

/// Runs `perfkit <args>`, expects success, and parses its stdout as JSON.
fn json_run(args: &[&str]) -> Value {
    let out = perfkit()
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).expect("--json prints valid JSON")
}

#[test]
fn sleep_10ms_has_a_p50_between_10_and_20_ms() {
    let report = json_run(&["bench", "--runs", "20", "--json", "sleep 0.01"]);
    assert_eq!(report["schema_version"], 1);
    let command = &report["commands"][0];
    assert_eq!(command["runs"], 20);
    assert_eq!(command["samples"].as_array().unwrap().len(), 20);
    let p50 = command["wall"]["p50"].as_u64().unwrap();
    assert!((10_000_000..20_000_000).contains(&p50), "p50 = {p50} ns");
    assert!(command["histogram"]["count"].as_u64() == Some(20));
}

#[test]
fn a_100_mib_allocation_reports_peak_rss_of_at_least_100_mib() {
    let report = json_run(&[
        "bench",
        "--runs",
        "2",
        "--json",
        "perl -e '$x = q(a) x (100 * 1024 * 1024)'",
    ]);
    let peak = report["commands"][0]["peak_rss_bytes"].as_u64().unwrap();
    assert!(peak >= 100 << 20, "peak RSS {peak} bytes");
}

#[test]
fn a_missing_command_exits_2_with_a_clear_message() {
    perfkit()
        .args(["bench", "--runs", "3", "perfkit-no-such-command --flag"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "command not found: perfkit-no-such-command",
        ));
}

#[test]
fn a_failing_command_exits_1_unless_failures_are_ignored() {
    perfkit()
        .args(["bench", "--runs", "3", "false"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("'false' failed: exit code 1")
                .and(predicate::str::contains("--ignore-failure")),
        );
    let report = json_run(&[
        "bench",
        "--runs",
        "3",
        "--ignore-failure",
        "--json",
        "false",
    ]);
    assert_eq!(report["commands"][0]["failed_runs"], 3);
}

#[test]
fn a_run_past_the_timeout_fails() {
    perfkit()
        .args(["bench", "--runs", "1", "--timeout", "100ms", "sleep 30"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("timed out"));
}

#[test]
fn comparing_two_commands_reports_relative_speed() {
    let report = json_run(&[
        "bench",
        "--runs",
        "5",
        "--json",
        "--seed",
        "1",
        "true",
        "sleep 0.01",
    ]);
    assert_eq!(report["order"], "interleaved");
    let relative = report["relative"].as_array().unwrap();
    assert_eq!(relative[0]["fastest"], true);
    assert_eq!(relative[0]["ratio"], 1.0);
    assert!(relative[0]["interval"].is_null());
    let ratio = relative[1]["ratio"].as_f64().unwrap();
    let interval = &relative[1]["interval"];
    assert!(ratio > 1.0);
    assert!(
        interval["low"].as_f64().unwrap() <= ratio && ratio <= interval["high"].as_f64().unwrap()
    );
    // The report reads back.
    let back: perfkit_sys::BenchReport = serde_json::from_value(report.clone()).unwrap();
    assert_eq!(back.commands.len(), 2);

    perfkit()
        .args(["bench", "--runs", "3", "true", "sleep 0.01"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("Benchmark 2: sleep 0.01")
                .and(predicate::str::contains("p99.9"))
                .and(predicate::str::contains(
                    "times faster than 'sleep 0.01' (95% CI",
                )),
        );
}

#[test]
fn exports_are_written_atomically_and_parse() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("result.json");
    let md = dir.path().join("result.md");
    perfkit()
        .args(["bench", "--runs", "3", "--quiet", "true"])
        .arg("--export-json")
        .arg(&json)
        .arg("--export-markdown")
        .arg(&md)
        .assert()
        .success();
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["commands"][0]["name"], "true");
    let table = std::fs::read_to_string(&md).unwrap();
    assert!(table.starts_with("| Command | Mean ["), "{table}");
    assert!(table.contains("| `true` |"), "{table}");
    // Only the two exports: no temporary files left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn input_file_feeds_stdin_and_show_output_passes_it_through() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "hello from the input file\n").unwrap();
    perfkit()
        .args(["bench", "--runs", "1", "--show-output", "cat"])
        .arg("--input")
        .arg(&input)
        .assert()
        .success()
        .stdout(predicate::str::contains("hello from the input file"));
    perfkit()
        .args([
            "bench",
            "--runs",
            "1",
            "--input",
            "/nonexistent/in.txt",
            "cat",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot open input file /nonexistent/in.txt",
        ));
}

#[test]
fn shell_mode_runs_pipelines() {
    let report = json_run(&[
        "bench",
        "--runs",
        "2",
        "--shell=default",
        "--json",
        "echo a | wc -l > /dev/null",
    ]);
    assert_eq!(report["commands"][0]["command"][0], "sh");
}

#[test]
fn bad_arguments_exit_2() {
    perfkit()
        .args(["bench", "--duration", "soon", "true"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("500ms"));
    perfkit()
        .args([
            "bench",
            "--runs",
            "2",
            "--prepare",
            "true",
            "--prepare",
            "true",
            "--prepare",
            "true",
            "true",
            "true",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "give one for all, or one per benchmark",
        ));
    perfkit()
        .args(["bench", "--runs", "0", "true"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("at least 1"));
    perfkit()
        .args(["bench", "echo 'unbalanced"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unbalanced quotes"));
    perfkit()
        .args(["bench", "--runs", "2", "--min-runs", "3", "true"])
        .assert()
        .code(2);
    perfkit().arg("bench").assert().code(2);
}

#[test]
fn help_explains_and_completions_generate() {
    perfkit()
        .args(["bench", "--help"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("Examples:").and(predicate::str::contains("--ignore-failure")),
        );
    perfkit()
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("perfkit"));
}

/// Every run of `sh -c SCRIPT` appends one line to `log`; returns the lines.
pub(crate) fn logged_runs(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn every_run_reads_what_perfkits_own_stdin_holds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::write(&data, "x".repeat(100_000)).unwrap();
    let log = dir.path().join("log");
    let script = format!("wc -c >> {}", log.display());
    // A file on standard input: reopened for every run (warm-up and measured).
    let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"))
        .args([
            "bench",
            "-q",
            "--runs",
            "3",
            "--output=null",
            "--shell=default",
            &script,
        ])
        .stdin(std::fs::File::open(&data).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let runs = logged_runs(&log);
    assert_eq!(runs.len(), 4, "one warm-up and three runs: {runs:?}");
    assert!(runs.iter().all(|r| r.trim() == "100000"), "{runs:?}");
    // A pipe may be a loop's input (`... | while read f; do perfkit bench ...`): it is left
    // alone, the runs get /dev/null, and that is said.
    std::fs::remove_file(&log).unwrap();
    perfkit()
        .args([
            "bench",
            "--runs",
            "2",
            "--output=null",
            "--shell=default",
            &script,
        ])
        .write_stdin("y".repeat(5000))
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "the runs get /dev/null; --input -",
        ));
    let runs = logged_runs(&log);
    assert!(runs.iter().all(|r| r.trim() == "0"), "{runs:?}");
    // --input -: read to its end once, then replayed, and said so.
    std::fs::remove_file(&log).unwrap();
    perfkit()
        .args([
            "bench",
            "--runs",
            "2",
            "--output=null",
            "--input",
            "-",
            "--shell=default",
            &script,
        ])
        .write_stdin("y".repeat(5000))
        .assert()
        .success()
        .stderr(predicate::str::contains("every run's standard input"));
    let runs = logged_runs(&log);
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert!(runs.iter().all(|r| r.trim() == "5000"), "{runs:?}");
    // A file read part-way (a `while read` loop's list) is not consumed either.
    std::fs::remove_file(&log).unwrap();
    let list = dir.path().join("list");
    std::fs::write(&list, "first\nsecond\nthird\n").unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "read first; {} bench -q --runs 2 --output=null --shell=default '{script}' >/dev/null; cat",
            assert_cmd::cargo::cargo_bin("perfkit").display()
        ))
        .stdin(std::fs::File::open(&list).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "second\nthird\n");
    // A device that never ends is refused before anything runs.
    std::fs::remove_file(&log).unwrap();
    let refused = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"))
        .args(["bench", "--runs", "2", "--shell=default", &script])
        .stdin(std::fs::File::open("/dev/zero").unwrap())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--input FILE"));
    assert!(logged_runs(&log).is_empty());
}

#[test]
fn output_goes_where_asked_and_a_program_that_skips_work_into_dev_null_is_named() {
    if !have("grep") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let script = format!(
        "if [ -p /dev/stdout ]; then k=pipe; elif [ -c /dev/stdout ]; then k=device; else k=file; fi; echo $k >> {}",
        log.display()
    );
    for (output, seen) in [("pipe", "pipe"), ("null", "device")] {
        perfkit()
            .args([
                "bench",
                "-q",
                "--runs",
                "2",
                "--output",
                output,
                "--shell=default",
                &script,
            ])
            .assert()
            .success();
        let runs = logged_runs(&log);
        assert!(runs.iter().all(|r| r == seen), "{output}: {runs:?}");
        std::fs::remove_file(&log).unwrap();
    }
    let out = dir.path().join("out.txt");
    perfkit()
        .args(["bench", "-q", "--runs", "2", "--output"])
        .arg(&out)
        .arg("echo 'to the file'")
        .assert()
        .success();
    // Truncated before every run: one line, not three.
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "to the file\n");
    perfkit()
        .args([
            "bench",
            "--runs",
            "2",
            "--output",
            "/proc/sys/vm/swappiness",
            "true",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("kernel file"));

    // GNU grep stops at the first match when its output is /dev/null.
    let corpus = dir.path().join("corpus.txt");
    std::fs::write(&corpus, "a line that matches\n".repeat(400_000)).unwrap();
    let grep = format!("grep matches {}", corpus.display());
    let report = json_run(&["bench", "--runs", "2", "--json", &grep]);
    let probe = &report["commands"][0]["output_probe"];
    assert_eq!(probe["differs"], true, "{probe}");
    perfkit()
        .args(["bench", "--runs", "2", &grep])
        .assert()
        .success()
        .stderr(predicate::str::contains("--output=pipe"));
    // A program that reads its whole input either way is not named. The probe compares one
    // run of each, so a busy machine (other tests run beside this one) can slow the piped
    // run enough to look different once: three tries, one of which must be judged alike.
    let cat = format!("cat {}", corpus.display());
    let probes: Vec<serde_json::Value> = (0..3)
        .map(|_| {
            json_run(&["bench", "--runs", "2", "--json", &cat])["commands"][0]["output_probe"]
                .clone()
        })
        .take_while(|probe| probe["differs"] == true)
        .collect();
    assert!(probes.len() < 3, "cat named three times: {probes:?}");
    // Choosing the output turns the probe off.
    let report = json_run(&["bench", "--runs", "2", "--json", "--output=null", &grep]);
    assert!(report["commands"][0].get("output_probe").is_none());
}
