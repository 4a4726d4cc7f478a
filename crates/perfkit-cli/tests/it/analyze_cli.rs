//! `perfkit analyze` as a user runs it: the demo, baselines, --open, bad input.

use perfkit_testkit::have;
use perfkit_testkit::perfkit;
use predicates::prelude::*;

#[test]
fn the_demo_names_spawn_heavy_recommends_the_pool_and_measures_it() {
    if !have("strace") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = perfkit()
        .args(["analyze", "--demo", "--demo-tasks", "40", "--runs", "3"])
        .args(["--no-profile", "--json", "-o"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(a["bottlenecks"][0]["kind"], "spawn_heavy", "{a:#}");
    // 40 tasks, one process each, plus the workload itself.
    assert_eq!(a["measurements"]["syscalls"]["execve"], 41.0, "{a:#}");
    assert!(
        a["recommendations"][0]["perfkit"]
            .as_str()
            .unwrap()
            .contains("perfkit pool")
    );
    // The expected gain is this run's measurement, not an estimate.
    let gain = a["recommendations"][0]["expected_gain"].as_str().unwrap();
    assert!(
        gain.starts_with("measured in this run: the same 40 tasks through perfkit pool"),
        "{gain}"
    );
    // Threads and failed lookups are not process starts: 40 tasks, 40 processes.
    assert_eq!(a["measurements"]["processes"]["processes"], 40, "{a:#}");
    let share = a["bottlenecks"][0]["share"].as_f64().unwrap();
    assert!(
        a["bottlenecks"][0]["evidence"][1]
            .as_str()
            .unwrap()
            .contains(&format!("({:.0}%)", share * 100.0)),
        "{a:#}"
    );
    let alt = &a["alternative"];
    assert!(
        alt["label"]
            .as_str()
            .unwrap()
            .contains("40 tasks through perfkit pool"),
        "{alt:#}"
    );
    assert!(alt["speedup"].as_f64().unwrap() > 0.0, "{alt:#}");
    assert_eq!(alt["latency"]["count"], 3);
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("<section id=\"alternative\">"));
    assert!(html.contains("spawn-heavy"));
}

/// The text a browser shows of an HTML file (Chromium, headless), and its DOM after loading.
fn rendered_in_chromium(page: &std::path::Path) -> (String, String) {
    // A copy of the page that stores its visible text in an attribute, so that the DOM dump
    // carries it out.
    let probe = page.with_file_name("probe.html");
    let mut html = std::fs::read_to_string(page).unwrap();
    html.push_str(
        "<script>document.documentElement.setAttribute('data-visible-text', document.body.innerText)</script>",
    );
    std::fs::write(&probe, html).unwrap();
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", probe.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let dom = String::from_utf8(out.stdout).unwrap();
    let start = dom.find("data-visible-text=\"").expect("the probe ran") + 19;
    let end = start + dom[start..].find('"').unwrap();
    let text = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    (text, dom)
}

#[test]
fn the_html_report_reads_right_in_a_browser() {
    if !have("strace") || !have("chromium") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    perfkit()
        .args([
            "analyze",
            "--demo",
            "--demo-tasks",
            "20",
            "--runs",
            "3",
            "-q",
            "-o",
        ])
        .arg(dir.path())
        .assert()
        .success();
    let (text, dom) = rendered_in_chromium(&dir.path().join("report.html"));
    assert!(
        !text.contains('`'),
        "Markdown backticks shown as text: {text}"
    );
    assert!(
        dom.contains("<code>perfkit pool -- WORKER</code>"),
        "{dom:.3000}"
    );
    for section in [
        "summary",
        "latency",
        "alternative",
        "resources",
        "bottlenecks",
    ] {
        assert!(
            dom.contains(&format!("<section id=\"{section}\">")),
            "{section}"
        );
    }
    // The histogram has labelled axes and counts.
    for label in [
        "wall time per run",
        "runs",
        "Expected gain: measured in this run",
    ] {
        assert!(text.contains(label), "{label}: {text}");
    }
    assert!(dom.contains("aria-label=\"histogram of wall time per run\""));
}

#[test]
fn the_demo_workload_does_the_same_work_both_ways() {
    let spawn = perfkit()
        .args(["demo-workload", "spawn", "25"])
        .output()
        .unwrap();
    let pool = perfkit()
        .args(["demo-workload", "pool", "25"])
        .output()
        .unwrap();
    assert!(spawn.status.success() && pool.status.success());
    let checksum = |out: &[u8]| {
        let text = String::from_utf8_lossy(out).into_owned();
        text.rsplit_once("checksum ").unwrap().1.trim().to_string()
    };
    assert_eq!(checksum(&spawn.stdout), checksum(&pool.stdout));
    perfkit()
        .args(["demo-workload", "task", "seven"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a number"));
}

#[test]
fn a_baseline_is_saved_then_a_slower_command_is_a_regression() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.json");
    let quick = [
        "analyze",
        "--runs",
        "10",
        "--warmup",
        "0",
        "--no-profile",
        "--no-syscalls",
        "-q",
    ];
    perfkit()
        .args(quick)
        .arg("-o")
        .arg(dir.path().join("r1"))
        .arg("--save-baseline")
        .arg(&base)
        .args(["--", "sleep", "0.01"])
        .assert()
        .success();
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
    assert_eq!(saved["benchmarks"].as_array().unwrap().len(), 1);

    // Five times the sleep: compared with the baseline's only benchmark despite the new name;
    // the failed check keeps the baseline it would overwrite.
    let before = std::fs::read(&base).unwrap();
    perfkit()
        .args(quick)
        .arg("-o")
        .arg(dir.path().join("r2"))
        .arg("--baseline")
        .arg(&base)
        .arg("--save-baseline")
        .arg(&base)
        .args(["--", "sleep", "0.05"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("REGRESSED"))
        .stderr(predicate::str::contains("kept the baseline"));
    assert_eq!(std::fs::read(&base).unwrap(), before);
    // The same command again (with a threshold no load from the tests running beside it can
    // cross): no regression. p99 cannot be judged from 10 runs: the default rules leave it out,
    // while a p99 asked for is inconclusive, which --strict counts as a failure.
    for (metric, strict, code) in [
        (None, false, 0),
        (None, true, 0),
        (Some("p99,throughput"), true, 1),
    ] {
        perfkit()
            .args(quick)
            .arg("-o")
            .arg(dir.path().join("r3"))
            .arg("--baseline")
            .arg(&base)
            .args(["--threshold", "60%"])
            .args(strict.then_some("--strict"))
            .args(metric.map(|m| ["--metric", m]).into_iter().flatten())
            .args(["--", "sleep", "0.01"])
            .assert()
            .code(code);
    }
    let report = std::fs::read_to_string(dir.path().join("r2/report.md")).unwrap();
    assert!(report.contains("## Baseline comparison"), "{report}");
    assert!(
        report.contains("Compared with the baseline's `sleep 0.01`"),
        "{report}"
    );
}

#[test]
fn bad_input_is_exit_2_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    perfkit()
        .args(["analyze", "--baseline"])
        .arg(dir.path().join("missing.json"))
        .args(["--", "true"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.json"));
    perfkit()
        .arg("analyze")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("COMMAND"));
    perfkit()
        .args(["analyze", "--demo", "--", "true"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be used with"));
    // A command that fails is exit 1, as in perfkit bench.
    perfkit()
        .args([
            "analyze",
            "-q",
            "--runs",
            "2",
            "--no-profile",
            "--no-syscalls",
            "-o",
        ])
        .arg(dir.path().join("r"))
        .args(["--", "false"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("'false' failed: exit code 1"));
    perfkit()
        .args(["analyze", "--runs", "1", "--", "true"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("at least 2 runs"));
}

#[test]
fn open_hands_the_report_to_the_browser_or_says_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let opened = dir.path().join("opened");
    let browser = dir.path().join("browser.sh");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\necho \"$1\" > {}\n", opened.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &browser,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let args = [
        "analyze",
        "--runs",
        "2",
        "--warmup",
        "0",
        "--no-profile",
        "--no-syscalls",
        "-q",
        "--open",
        "-o",
    ];
    perfkit()
        .args(args)
        .arg(dir.path().join("r"))
        .args(["--", "true"])
        .env("BROWSER", &browser)
        .assert()
        .success();
    // The browser runs on its own; give it a moment to write.
    for _ in 0..100 {
        if opened.is_file() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let said = std::fs::read_to_string(&opened).unwrap();
    assert!(said.trim().ends_with("r/report.html"), "{said}");
    perfkit()
        .args(args)
        .arg(dir.path().join("r"))
        .args(["--", "true"])
        .env("BROWSER", dir.path().join("no-such-browser"))
        .assert()
        .success()
        .stderr(predicate::str::contains("--open: cannot start $BROWSER"));
}

#[test]
fn measured_and_profiled_runs_all_read_the_same_stdin() {
    if !have("strace") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::write(&data, "z".repeat(70_000)).unwrap();
    let log = dir.path().join("log");
    let report = dir.path().join("report");
    // `analyze -- prog < file`: the warm-up, the measured runs and the strace runs read it.
    let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"))
        .args([
            "analyze",
            "-q",
            "-r",
            "2",
            "--no-profile",
            "--output=null",
            "-o",
        ])
        .arg(&report)
        .args(["--", "sh", "-c", &format!("wc -c >> {}", log.display())])
        .stdin(std::fs::File::open(&data).unwrap())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let runs: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    // Warm-up, two measured runs, strace -c and the process trace (sh starts wc).
    assert_eq!(runs.len(), 5, "{runs:?}");
    assert!(runs.iter().all(|r| r.trim() == "70000"), "{runs:?}");
}
