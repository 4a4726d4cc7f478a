//! `perfkit bench` with hyperfine's command line: scenarios written for hyperfine, checked by
//! what a user can observe (the order of side effects, exit codes, exports).

use crate::bench_cli::logged_runs as lines;
use perfkit_testkit::perfkit;
use predicates::prelude::*;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt as _;

/// The JSON a successful `perfkit` run printed on standard output.
fn json_of(assert: assert_cmd::assert::Assert) -> Value {
    serde_json::from_slice(&assert.success().get_output().stdout).unwrap()
}

/// Each benchmark's name in a report.
fn names(report: &Value) -> Vec<&str> {
    report["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

/// A command that appends `text` (after the shell's expansion) to `log`.
fn append(text: &str, log: &std::path::Path) -> String {
    format!("sh -c 'echo {text} >> {}'", log.display())
}

/// Checks that perfkit refuses `args` as bad input (exit 2), saying `says`.
fn refused(args: &[&str], says: &str) {
    perfkit()
        .args(args)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(says));
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
        .args([
            "--prepare",
            &append("prepare-{n}-$HYPERFINE_ITERATION", &log),
        ])
        .args([
            "--conclude",
            &append("conclude-{n}-$PERFKIT_ITERATION", &log),
        ])
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
            expected.push(format!("prepare-{n}-{iteration}"));
            expected.push(format!("run-{n}-{iteration}-{iteration}"));
            expected.push(format!("conclude-{n}-{iteration}"));
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
    let report = json_of(
        perfkit()
            .args(["bench", "--runs", "1", "--output", "null", "--json"])
            .args(["-L", "unused", "p,q", "true"])
            .assert(),
    );
    let names = names(&report);
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
    refused(&["bench", "--shell", " ", "true"], "--shell needs a shell");
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
    refused(&["bench", "true", "--", "false"], "both as arguments");
    refused(&["bench", "--runs", "1"], "COMMAND");
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

/// A directory holding the program `perfkit-only-here` (a script), its path, and the
/// `--env` assignment that puts the directory on PATH.
fn tool_on_path() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let tool = dir.path().join("perfkit-only-here");
    std::fs::write(&tool, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("PATH={}", dir.path().display());
    (dir, tool, path)
}

/// `perfkit bench -N` of `program` with `--env path` (`PATH=…`).
fn bench_on_path(path: &str, program: &str) -> assert_cmd::assert::Assert {
    perfkit()
        .args(["bench", "--runs", "1", "-N", "--env", path, program])
        .assert()
}

#[test]
fn a_program_that_cannot_start_is_told_apart_from_a_missing_one() {
    let (_dir, tool, path) = tool_on_path();
    // A file there without an execute bit is said to be one, as execvp's EACCES says; a
    // script whose interpreter is missing is not "not found".
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o644)).unwrap();
    bench_on_path(&path, "perfkit-only-here")
        .code(2)
        .stderr(predicate::str::contains("permission denied"));
    std::fs::write(&tool, "#!/perfkit-no-such-interpreter\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    perfkit()
        .args(["bench", "--runs", "1", "-N"])
        .arg(&tool)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the interpreter its #! line names",
        ));
    // The same found through perfkit's own PATH, by a bare name.
    let search = format!(
        "{}:{}",
        tool.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    perfkit()
        .env("PATH", &search)
        .args(["bench", "--runs", "1", "-N", "perfkit-only-here"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the interpreter its #! line names",
        ));
    // Without #!, perfkit's own PATH gives posix_spawn's ENOEXEC, said as such; an --env
    // PATH leaves the file to execvp, which runs it through sh.
    std::fs::write(&tool, "exit 0\n").unwrap();
    perfkit()
        .env("PATH", &search)
        .args(["bench", "--runs", "1", "-N", "perfkit-only-here"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("add #!/bin/sh"));
    bench_on_path(&path, "perfkit-only-here").success();
}

#[test]
fn a_path_set_with_env_is_where_programs_are_found() {
    // A PATH set with --env is where the program is looked for, as it will be at the run.
    let (dir, tool, path) = tool_on_path();
    bench_on_path(&path, "perfkit-only-here").success();
    // Found there, the program starts by posix_spawn (a vfork-like clone) rather than a
    // fork, whose time grows with perfkit's memory, and still sees its name as argv[0].
    let cmdline = dir.path().join("cmdline");
    perfkit()
        .args([
            "bench",
            "--runs",
            "1",
            "-w",
            "0",
            "-N",
            "--env",
            "PATH=/usr/bin:/bin",
        ])
        .arg(format!("--output={}", cmdline.display()))
        .arg("cat /proc/self/cmdline")
        .assert()
        .success();
    assert_eq!(
        std::fs::read(&cmdline).unwrap(),
        b"cat\0/proc/self/cmdline\0"
    );
    if perfkit_testkit::have("strace") {
        let trace = dir.path().join("trace");
        let out = std::process::Command::new("strace")
            .args(["-f", "-qq", "-e", "trace=clone,clone3,fork,vfork", "-o"])
            .arg(&trace)
            .arg(perfkit_testkit::perfkit_path())
            .args(["bench", "--runs", "2", "--output", "null", "-N"])
            .args(["--env", "PATH=/usr/bin:/bin", "--style", "none", "true"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let trace = std::fs::read_to_string(&trace).unwrap();
        let starts: Vec<&str> = (trace.lines())
            .filter(|l| l.contains("clone") && l.contains("SIGCHLD"))
            .collect();
        assert!(!starts.is_empty(), "{trace}");
        assert!(
            starts.iter().all(|l| l.contains("CLONE_VFORK")),
            "a run was forked:\n{trace}"
        );
    }
    // An empty entry is the working directory, and a script without #! runs through sh, as
    // execvp runs both.
    std::fs::write(&tool, "exit 0\n").unwrap();
    perfkit()
        .current_dir(dir.path())
        .args(["bench", "--runs", "1", "-N", "--output", "null"])
        .args(["--env", "PATH=:/nonexistent", "perfkit-only-here"])
        .assert()
        .success();
    // Without PATH at all, programs are looked for where the C library looks: /bin:/usr/bin.
    perfkit()
        .args(["bench", "--runs", "1", "-N", "true"])
        .env_remove("PATH")
        .assert()
        .success();
    bench_on_path("PATH=/nonexistent", "true").code(2).stderr(
        predicate::str::contains("command not found: true")
            .and(predicate::str::contains("--env sets PATH")),
    );
}

#[test]
fn helpers_read_the_input_and_show_their_output_as_hyperfine_does() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::write(&input, "IN1\nIN2\n").unwrap();
    let log = dir.path().join("log");
    let read = format!("head -1 >> {}", log.display());
    let out = perfkit()
        .args(["bench", "--runs", "1", "--warmup", "0", "--show-output"])
        .args([
            "-s",
            "echo SETUP-OUT",
            "-p",
            "echo PREP-OUT",
            "-C",
            "echo CONC-OUT",
        ])
        .args(["-c", "echo CLEAN-OUT", "echo CMD-OUT"])
        .assert()
        .success();
    let shown = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let order: Vec<&str> = (shown.lines())
        .filter(|l| l.ends_with("-OUT") && !l.contains(' '))
        .collect();
    assert_eq!(
        order,
        ["SETUP-OUT", "PREP-OUT", "CMD-OUT", "CONC-OUT", "CLEAN-OUT"],
        "{shown}"
    );
    perfkit()
        .args(["bench", "--runs", "1", "--warmup", "0", "--output", "null"])
        .arg("--input")
        .arg(&input)
        .args(["-p", &read, &format!("sh -c '{read}'")])
        .assert()
        .success();
    assert_eq!(lines(&log), ["IN1", "IN1"]);
}

#[test]
fn a_fifo_as_input_is_read_once_and_given_to_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // The writer blocks until perfkit opens the FIFO, and writes once.
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, "abc\n").unwrap())
    };
    perfkit()
        .args([
            "bench", "--runs", "3", "--warmup", "1", "--output", "null", "--input",
        ])
        .arg(&fifo)
        .arg("sh -c 'test \"$(cat)\" = abc'")
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success()
        .stderr(predicate::str::contains("read from the FIFO"));
    writer.join().unwrap();
    // A command that cannot start is refused before the FIFO is opened: nothing waits for a
    // writer, and a writer's data would not be used up.
    perfkit()
        .args(["bench", "--runs", "1", "--input"])
        .arg(&fifo)
        .arg("perfkit-no-such-program")
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("command not found"));
}

#[test]
fn every_run_gets_a_randomly_long_variable_as_in_hyperfine() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let run = || {
        std::fs::remove_file(&log).ok();
        perfkit()
            .args(["bench", "--runs", "20", "--warmup", "0", "--output", "null"])
            .args(["--seed", "7"])
            .arg(format!(
                "sh -c 'echo ${{#HYPERFINE_RANDOMIZED_ENVIRONMENT_OFFSET}} >> {}'",
                log.display()
            ))
            .assert()
            .success();
        lines(&log)
    };
    let first = run();
    // The lengths come from --seed, so a seed repeats them.
    assert_eq!(run(), first);
    let lengths: std::collections::BTreeSet<usize> =
        first.iter().map(|l| l.parse().unwrap()).collect();
    // Twenty draws from 4096 lengths repeat one value with a chance far below 1e-40.
    assert!(lengths.len() > 1, "{lengths:?}");
    assert!(lengths.iter().all(|&n| n < 4096), "{lengths:?}");
    // With a random order, the order's draws must not decide the lengths: every command
    // gets short and long ones, seed 0 included.
    std::fs::remove_file(&log).ok();
    let each = |name: &str| {
        format!(
            "sh -c 'echo {name} ${{#HYPERFINE_RANDOMIZED_ENVIRONMENT_OFFSET}} >> {}'",
            log.display()
        )
    };
    perfkit()
        .args(["bench", "--runs", "40", "--warmup", "0", "--output", "null"])
        .args(["--order", "random", "--seed", "0", &each("a"), &each("b")])
        .assert()
        .success();
    for name in ["a", "b"] {
        let lengths: Vec<usize> = (lines(&log).iter())
            .filter_map(|l| l.strip_prefix(&format!("{name} ")))
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(lengths.len(), 40);
        let short = lengths.iter().filter(|&&n| n < 2048).count();
        // Fair draws give about half; draws in step with the order gave one command
        // mostly short lengths and the other mostly long ones.
        assert!((10..=30).contains(&short), "{name}: {lengths:?}");
    }
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

/// A Python that imports `modules`: the one on `PATH`, or the system's (Debian's packages
/// install for it alone). `None`, after [`perfkit_testkit::skip`], when there is none.
fn python_with(modules: &str) -> Option<String> {
    if !perfkit_testkit::have("python3") {
        return None;
    }
    let found = ["python3", "/usr/bin/python3"].into_iter().find(|python| {
        std::process::Command::new(python)
            .args(["-c", &format!("import {modules}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        perfkit_testkit::skip(format!(
            "no python3 imports {modules} (Debian: apt-get install python3-numpy python3-matplotlib)"
        ));
    }
    found.map(str::to_owned)
}

/// The JSON export of `sleep 0.01` and `sleep 0.02` as a `-L` list, `runs` runs each, into
/// `name` in `dir`.
fn sleep_scan_json(
    dir: &std::path::Path,
    name: &str,
    runs: &str,
    extra: &[&str],
) -> std::path::PathBuf {
    let json = dir.join(name);
    perfkit()
        .args(["bench", "--runs", runs, "--warmup", "0", "--output", "null"])
        .args(["-L", "t", "0.01,0.02", "sleep {t}", "--export-json"])
        .arg(&json)
        .args(extra)
        .assert()
        .success();
    json
}

#[test]
fn hyperfines_own_scripts_read_perfkits_json() {
    let Some(python) = python_with("numpy, matplotlib") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let json = sleep_scan_json(dir.path(), "results.json", "5", &[]);
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    // Every key hyperfine writes, perfkit's own report beside them.
    for key in [
        "command",
        "mean",
        "stddev",
        "median",
        "user",
        "system",
        "min",
        "max",
        "times",
        "exit_codes",
        "parameters",
        "memory_usage_byte",
    ] {
        assert!(results[0].get(key).is_some(), "results[].{key} missing");
    }
    assert_eq!(results[1]["parameters"], serde_json::json!({"t": "0.02"}));
    assert_eq!(results[0]["times"].as_array().unwrap().len(), 5);
    assert!(report["commands"].is_array());
    // hyperfine 2's keys too: its scripts read `summary`, `measurements` and `name`.
    assert_eq!(report["primary_metric"], "time_wall_clock");
    assert_eq!(results[0]["summary"]["time_wall_clock"]["count"], 5);
    assert_eq!(results[0]["measurements"].as_array().unwrap().len(), 5);
    assert_eq!(results[0]["measurements"][0]["exit_code"], 0);
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hyperfine");
    for version in ["v1", "v2"] {
        let scripts = data.join(version);
        let run = |script: &str, args: &[&std::ffi::OsStr]| {
            let out = std::process::Command::new(&python)
                .arg(scripts.join(script))
                .args(args)
                .env("MPLBACKEND", "Agg")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{version}/{script}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        let stats = run("advanced_statistics.py", &[json.as_os_str()]);
        for r in results {
            let command = r["command"].as_str().unwrap();
            let mean = r["mean"].as_f64().unwrap();
            let block = stats
                .split("Command '")
                .find(|b| b.starts_with(&format!("{command}'")))
                .unwrap_or_else(|| panic!("{command} not in:\n{stats}"));
            // hyperfine 1 and 2 print the mean each in their own layout.
            let line = if version == "v1" {
                format!("mean:   {mean:8.3} s")
            } else {
                format!("{:<8}{:>8}", "mean:", format!("{mean:.3} s"))
            };
            assert!(block.contains("runs:          5"), "{block}");
            assert!(block.contains(&line), "{version}: {line:?} not in {block}");
        }
        for script in ["plot_whisker.py", "plot_histogram.py"] {
            let png = dir.path().join(format!("{version}-{script}.png"));
            run(script, &[json.as_os_str(), "-o".as_ref(), png.as_os_str()]);
            let bytes = std::fs::read(&png).unwrap();
            assert!(
                bytes.starts_with(b"\x89PNG"),
                "{version}/{script} wrote no PNG"
            );
        }
    }
    // hyperfine 2's scripts take any metric perfkit measures.
    let out = std::process::Command::new(&python)
        .arg(data.join("v2/advanced_statistics.py"))
        .args(["--metric", "memory_peak_resident"])
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Peak resident memory"));
}

#[test]
fn hyperfines_parameter_plots_read_their_own_layout() {
    // The two versions read `parameters` differently: hyperfine 1's plot_parametrized.py
    // takes strings, hyperfine 2's `{"value": …}`, which --export-layout hyperfine2 writes.
    let Some(python) = python_with("numpy, matplotlib") else {
        return;
    };
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hyperfine");
    let dir = tempfile::tempdir().unwrap();
    let json = sleep_scan_json(dir.path(), "results.json", "3", &[]);
    let layout = ["--export-layout", "hyperfine2"];
    let json2 = sleep_scan_json(dir.path(), "results2.json", "3", &layout);
    let v2: Value = serde_json::from_slice(&std::fs::read(&json2).unwrap()).unwrap();
    assert_eq!(
        v2["results"][1]["parameters"],
        serde_json::json!({"t": {"value": "0.02"}})
    );
    assert_eq!(v2["results"][1]["command"], "sleep 0.02");
    for (version, file) in [("v1", &json), ("v2", &json2)] {
        let png = dir.path().join(format!("{version}-parametrized.png"));
        let out = std::process::Command::new(&python)
            .arg(data.join(version).join("plot_parametrized.py"))
            .arg(file)
            .arg("-o")
            .arg(&png)
            .env("MPLBACKEND", "Agg")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{version}/plot_parametrized.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    }
}

#[test]
fn an_export_to_standard_output_goes_there_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name);
    // `-` is standard output, as in hyperfine; no file of that name appears.
    let out = perfkit()
        .current_dir(dir.path())
        .args([
            "bench", "--runs", "1", "--output", "null", "--style", "none",
        ])
        .args(["--export-csv", "-", "true"])
        .assert()
        .success();
    assert!(out.get_output().stdout.starts_with(b"command,mean,"));
    assert!(!file("-").exists());
    // Standard output by another name is standard output too, and when it is redirected
    // into the commands' --output file, that file is the export's.
    refused(
        &[
            "bench",
            "--runs",
            "1",
            "--json",
            "--export-csv",
            "/dev/fd/1",
            "true",
        ],
        "standard output",
    );
    let shared = file("shared.out");
    let status = std::process::Command::new(perfkit_testkit::perfkit_path())
        .args(["bench", "--runs", "1", "--export-csv", "-"])
        .arg(format!("--output={}", shared.display()))
        .arg("echo hi")
        .stdout(std::fs::File::create(&shared).unwrap())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}

#[test]
fn every_export_is_written_with_hyperfines_columns_first() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name);
    perfkit()
        .args([
            "bench",
            "--runs",
            "3",
            "--output",
            "null",
            "-u",
            "millisecond",
        ])
        .args(["--sort", "mean-time", "-P", "n", "1", "2", "sleep 0.0{n}"])
        .arg("--export-csv")
        .arg(file("r.csv"))
        .arg("--export-markdown")
        .arg(file("r.md"))
        .arg("--export-asciidoc")
        .arg(file("r.adoc"))
        .arg("--export-orgmode")
        .arg(file("r.org"))
        .assert()
        .success();
    let read = |name: &str| std::fs::read_to_string(file(name)).unwrap();
    let csv = read("r.csv");
    assert!(
        csv.starts_with(
            "command,mean,stddev,median,user,system,min,max,parameter_n,p50,p90,p99,peak_memory_byte\nsleep 0.01,"
        ),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 3);
    let md = read("r.md");
    assert!(
        md.starts_with("| Command | Mean [ms] | Min [ms] | Max [ms] | Relative | p50 [ms] |"),
        "{md}"
    );
    assert!(
        md.lines().nth(2).unwrap().starts_with("| `sleep 0.01` | "),
        "{md}"
    );
    assert!(read("r.adoc").starts_with("[cols=\"<,>,>,>,>,>,>,>\"]\n|===\n| Command \n"));
    assert!(read("r.org").starts_with("| Command  |  Mean [ms] |"));
    // One export alone goes there: not two, and not beside --json's document.
    for extra in [
        &["--export-markdown", "-"][..],
        &["--json"],
        &["--show-output"],
        &["--output=inherit"],
    ] {
        perfkit()
            .args(["bench", "--runs", "1", "--export-csv", "-", "true"])
            .args(extra)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("standard output"));
    }
    // hyperfine 1.21's units and spellings: minutes and hours, plural and short names.
    for (unit, header) in [
        ("min", "Mean [min]"),
        ("hours", "Mean [h]"),
        ("us", "Mean [µs]"),
    ] {
        perfkit()
            .args([
                "bench", "--runs", "1", "--output", "null", "-u", unit, "true",
            ])
            .arg("--export-markdown")
            .arg(file("u.md"))
            .assert()
            .success();
        assert!(read("u.md").contains(header), "{unit}: {}", read("u.md"));
    }
    // The same file named twice is refused before anything runs.
    perfkit()
        .args(["bench", "--runs", "1", "true", "--export-csv"])
        .arg(file("same"))
        .arg("--export-markdown")
        .arg(file("same"))
        .assert()
        .code(2);
}

#[test]
fn a_reference_command_runs_first_and_the_others_are_compared_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let out = perfkit()
        .args([
            "bench",
            "--runs",
            "3",
            "--warmup",
            "0",
            "--order",
            "sequential",
        ])
        .args(["--output", "null", "--json", "--reference", "sleep 0.02"])
        .args(["--reference-name", "base"])
        // Helpers count the reference: one each for the reference and the two commands.
        .args(["--prepare", &append("ref", &log)])
        .args(["--prepare", &append("fast", &log)])
        .args(["--prepare", &append("slow", &log)])
        .args(["sleep 0.01", "sleep 0.04"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&out).unwrap();
    let names = names(&report);
    assert_eq!(names, ["base", "sleep 0.01", "sleep 0.04"]);
    assert_eq!(lines(&log)[..3], ["ref", "ref", "ref"]);
    assert_eq!(lines(&log)[3], "fast");
    let relative = report["relative"].as_array().unwrap();
    assert_eq!(relative[0]["reference"], true);
    assert_eq!(relative[0]["ratio"], 1.0);
    let (fast, slow) = (
        relative[1]["ratio"].as_f64().unwrap(),
        relative[2]["ratio"].as_f64().unwrap(),
    );
    assert!(fast < 1.0 && slow > 1.0, "{relative:?}");
    assert_eq!(relative[1]["fastest"], true);
    let text = perfkit()
        .args([
            "bench",
            "--runs",
            "2",
            "--output",
            "null",
            "--reference",
            "sleep 0.02",
        ])
        .args(["sleep 0.01", "sleep 0.04"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("'sleep 0.02' ran"), "{text}");
    assert!(text.contains("times slower than 'sleep 0.01'"), "{text}");
    assert!(text.contains("times faster than 'sleep 0.04'"), "{text}");
    refused(&["bench", "--reference-name", "x", "true"], "--reference");
}

#[test]
fn with_parameters_a_reference_is_one_of_the_benchmarks() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    // With parameters, --reference picks a benchmark by its full name (hyperfine 1.21): no
    // run of its own, and the table says which rows are faster or slower than it.
    let md = dir.path().join("r.md");
    std::fs::remove_file(&log).ok();
    let scan = |reference: &str| {
        let mut command = perfkit();
        command
            .args(["bench", "--runs", "2", "--warmup", "0", "--output", "null"])
            .args([
                "-P",
                "x",
                "1",
                "3",
                "-n",
                "case-{x}",
                "--reference",
                reference,
            ])
            .arg(format!(
                "sh -c 'sleep 0.0{{x}}; echo {{x}} >> {}'",
                log.display()
            ))
            .arg("--export-markdown")
            .arg(&md);
        command.assert()
    };
    scan("case-2").success();
    assert_eq!(lines(&log).len(), 6, "{:?}", lines(&log));
    let table = std::fs::read_to_string(&md).unwrap();
    let rows: Vec<&str> = table.lines().skip(2).collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(rows[0].contains(" (faster) |"), "{table}");
    assert!(rows[1].contains("| 1.00 (reference) |"), "{table}");
    assert!(rows[2].contains(" (slower) |"), "{table}");
    scan("case-4")
        .code(2)
        .stderr(predicate::str::contains("'case-1', 'case-2', 'case-3'"));
    // A reference alone is still marked as one.
    perfkit()
        .args([
            "bench", "--runs", "1", "--output", "null", "-P", "x", "1", "1",
        ])
        .args(["-n", "case-{x}", "--reference", "case-1", "sleep 0.0{x}"])
        .arg("--export-markdown")
        .arg(&md)
        .assert()
        .success();
    let table = std::fs::read_to_string(&md).unwrap();
    assert!(table.contains("| 1.00 (reference) |"), "{table}");
}

#[test]
fn run_order_style_input_and_affinity_take_hyperfines_flags() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let bench = |extra: &[&str]| {
        std::fs::remove_file(&log).ok();
        perfkit()
            .args(["bench", "--runs", "2", "--warmup", "0", "--output", "null"])
            .args(extra)
            .args([append("a", &log), append("b", &log)])
            .assert()
            .success()
    };
    // hyperfine's order is one command's runs, then the next; perfkit's own interleaves.
    bench(&["--no-interleave"]);
    assert_eq!(lines(&log), ["a", "a", "b", "b"]);
    bench(&[]);
    assert_eq!(lines(&log), ["a", "b", "a", "b"]);
    // --style none prints no results, yet writes the exports.
    let csv = dir.path().join("r.csv");
    let quiet = bench(&["--style", "none", "--export-csv", csv.to_str().unwrap()]);
    assert!(quiet.get_output().stdout.is_empty());
    assert!(
        std::fs::read_to_string(&csv)
            .unwrap()
            .starts_with("command,mean")
    );
    let basic = bench(&["--style", "basic"]);
    assert!(String::from_utf8_lossy(&basic.get_output().stdout).contains("Summary"));
    // --input null is /dev/null; hyperfine's hidden --min-benchmarking-time is --duration.
    let out = perfkit()
        .args(["bench", "--min-runs", "2", "--max-runs", "3"])
        .args([
            "--min-benchmarking-time",
            "0.01",
            "--input",
            "null",
            "--json",
        ])
        .arg("sh -c 'test \"$(wc -c)\" = 0'")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&out).unwrap();
    let runs = report["commands"][0]["runs"].as_u64().unwrap();
    assert!((2..=3).contains(&runs), "{runs}");
    // --affinity pins the benchmarked command, not its helpers, and a helper after a pinned
    // run runs anywhere again.
    std::fs::remove_file(&log).ok();
    let out = perfkit()
        .args(["bench", "--runs", "2", "--warmup", "0", "--output", "null"])
        .args([
            "--affinity",
            "0",
            "--prepare",
            &append(
                "prepare-$(grep Cpus_allowed_list /proc/self/status | cut -f2)",
                &log,
            ),
        ])
        .arg(append(
            "run-$(grep Cpus_allowed_list /proc/self/status | cut -f2)",
            &log,
        ))
        .assert()
        .success();
    drop(out);
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim();
    let helper = format!("prepare-{allowed}");
    assert_eq!(lines(&log), [helper.as_str(), "run-0", &helper, "run-0"]);
    refused(
        &["bench", "--runs", "1", "--affinity", "1023", "true"],
        "CPU 1023 is not available",
    );
    refused(
        &["bench", "--runs", "1", "--affinity", "3-1", "true"],
        "runs backwards",
    );
}

/// Every element of `svg` closes and every attribute parses; returns the texts it shows.
fn svg_texts(svg: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(svg);
    let (mut depth, mut texts, mut roots) = (0i32, Vec::new(), 0);
    loop {
        match reader.read_event().expect("well-formed SVG") {
            Event::Start(e) => {
                if depth == 0 {
                    assert_eq!(e.name().as_ref(), b"svg");
                    roots += 1;
                }
                for a in e.attributes() {
                    a.expect("a well-formed attribute");
                }
                depth += 1;
            }
            Event::Empty(e) => {
                for a in e.attributes() {
                    a.expect("a well-formed attribute");
                }
            }
            Event::End(_) => depth -= 1,
            Event::Text(t) => texts.push(t.decode().unwrap().into_owned()),
            Event::GeneralRef(r) => texts.push(format!("&{};", String::from_utf8_lossy(&r))),
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!((depth, roots), (0, 1));
    texts
}

#[test]
fn the_svg_draws_distributions_comparisons_runs_and_a_parameter_scan() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("plot.svg");
    let out = perfkit()
        .args([
            "bench", "--runs", "5", "--warmup", "0", "--output", "null", "--plot",
        ])
        .args([
            "-P",
            "t",
            "1",
            "3",
            "sleep 0.00{t}",
            "sh -c 'sleep 0.00{t}' # <&>",
        ])
        .arg("--export-svg")
        .arg(&svg)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("(| median, ! p99)"), "{text}");
    let svg = std::fs::read_to_string(&svg).unwrap();
    let texts = svg_texts(&svg).join("\n");
    for panel in [
        "Distribution of times",
        "Across commands",
        "Run by run",
        "Mean time against t",
        "sleep 0.00{t}",
    ] {
        assert!(texts.contains(panel), "{panel} missing:\n{texts}");
    }
    // Self-contained: nothing fetched, nothing run.
    for outside in ["<script", "href=", "url(", "<image"] {
        assert!(!svg.contains(outside), "{outside}");
    }
    // One command without parameters: no scan panel, and still well-formed with a single run.
    let single = dir.path().join("one.svg");
    perfkit()
        .args([
            "bench", "--runs", "1", "--warmup", "0", "--output", "null", "true",
        ])
        .arg("--export-svg")
        .arg(&single)
        .assert()
        .success();
    let texts = svg_texts(&std::fs::read_to_string(&single).unwrap()).join("\n");
    assert!(texts.contains("Run by run") && !texts.contains("Mean time against"));
}

#[test]
fn hyperfine_2s_flags_env_and_a_bare_s_work_as_there() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    // --env sets variables for the command and its helpers, `{VAR}` replaced; -N still runs
    // helpers through sh.
    perfkit()
        .args([
            "bench", "--runs", "1", "--warmup", "0", "--output", "null", "-N",
        ])
        .args([
            "-P",
            "threads",
            "1",
            "2",
            "--env",
            "OMP_NUM_THREADS={threads} GREETING='a b'",
        ])
        .args([
            "--prepare",
            &format!("echo prepare-$OMP_NUM_THREADS >> {}", log.display()),
        ])
        .arg(append("run-$OMP_NUM_THREADS-$GREETING", &log))
        .assert()
        .success();
    assert_eq!(
        lines(&log),
        ["prepare-1", "run-1-a b", "prepare-2", "run-2-a b"]
    );
    refused(
        &["bench", "--runs", "1", "--env", "1X=2", "true"],
        "variable name",
    );
    perfkit()
        .args([
            "bench", "--runs", "1", "--env", "A=1", "--env", "B=2", "--env", "C=3",
        ])
        .args(["true", "true"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "one for all, or one per benchmark",
        ));
    // hyperfine 2's -S takes no value: the word after it is the first command.
    let report = report(&["-S", "echo $0 >/dev/null", "true"]);
    assert_eq!(
        argvs(&report),
        [
            vec!["sh", "-c", "echo $0 >/dev/null"],
            vec!["sh", "-c", "true"]
        ]
    );
}

#[test]
fn env_values_take_parameters_whole_and_name_the_benchmark() {
    let report = json_of(
        perfkit()
            .args(["bench", "--runs", "1", "--output", "null", "--json"])
            .args(["-L", "v", "a b,it's", "--env", "X={v} Y=1"])
            .arg("sh -c 'test -n \"$X\"'")
            .assert(),
    );
    let names = names(&report);
    // Named as hyperfine 2 names them; `v` is used (in --env), so no "(v = …)".
    assert_eq!(
        names,
        [
            "X='a b' Y=1 sh -c 'test -n \"$X\"'",
            "X=\"it's\" Y=1 sh -c 'test -n \"$X\"'"
        ]
    );
}

#[test]
fn setup_runs_around_each_benchmark_so_its_runs_come_together() {
    let dir = tempfile::tempdir().unwrap();
    let (log, state) = (dir.path().join("log"), dir.path().join("state"));
    // hyperfine's own example of --setup: build each variant, then measure it. Each
    // benchmark must see its own setup's state, so the runs go command by command.
    perfkit()
        .args(["bench", "--runs", "2", "--warmup", "0", "--output", "null"])
        .args(["-L", "v", "a,b"])
        .args(["--setup", &format!("echo {{v}} > {}", state.display())])
        .arg(format!(
            "sh -c 'cat {} >> {}'",
            state.display(),
            log.display()
        ))
        .assert()
        .success();
    assert_eq!(lines(&log), ["a", "a", "b", "b"]);
    perfkit()
        .args([
            "bench",
            "--runs",
            "1",
            "--order",
            "interleaved",
            "--setup",
            "true",
        ])
        .args(["true", "false"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("command by command"));
}

#[test]
fn hyperfine_1s_s_with_a_shell_still_names_the_shell() {
    // hyperfine 1's -S SHELL: a first command that names a shell, with more after it.
    let out = perfkit()
        .args(["bench", "--runs", "1", "--output", "null", "--json"])
        .args(["-S", "bash --norc", "true"])
        .assert()
        .success()
        .stderr(predicate::str::contains("taken as the shell"))
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(argvs(&report), [vec!["bash", "--norc", "-c", "true"]]);
}

#[test]
fn run_bounds_scans_and_failures_follow_hyperfines_small_rules() {
    // -M below the default minimum lowers it, as in hyperfine.
    let report = json_of(
        perfkit()
            .args(["bench", "-M", "3", "--output", "null", "--json", "true"])
            .assert(),
    );
    assert!(report["commands"][0]["runs"].as_u64().unwrap() <= 3);
    // -M 0 is refused as such, not as a minimum it lowered to 0.
    refused(&["bench", "-M", "0", "true"], "--max-runs");
    // A second -P is refused, not ignored.
    perfkit()
        .args([
            "bench", "-P", "a", "1", "2", "-P", "b", "1", "2", "echo {a}",
        ])
        .assert()
        .code(2);
    // An empty --ignore-failure= is every failure, as in hyperfine.
    perfkit()
        .args([
            "bench",
            "--runs",
            "1",
            "--output",
            "null",
            "--ignore-failure=",
        ])
        .arg("sh -c 'exit 4'")
        .assert()
        .success();
}

#[test]
fn hyperfine_2s_metrics_choose_the_primary_metric_and_counters_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (json, md) = (dir.path().join("r.json"), dir.path().join("r.md"));
    perfkit()
        .args(["bench", "--runs", "2", "--output", "null"])
        .args([
            "--metrics",
            "time_wall_clock:us,memory_peak_resident",
            "true",
        ])
        .arg("--export-json")
        .arg(&json)
        .arg("--export-markdown")
        .arg(&md)
        .assert()
        .success();
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["primary_metric"], "time_wall_clock");
    assert!(std::fs::read_to_string(&md).unwrap().contains("Mean [µs]"));
    // The text shows the metrics named, in their order and unit, and no others.
    let out = perfkit()
        .args(["bench", "--runs", "1", "--output", "null", "--export-json"])
        .arg(&json)
        .args(["--metrics", "memory_peak_resident:MiB,time_cpu:ms", "true"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].starts_with("  Peak RSS:"), "{text}");
    assert!(lines[1].contains(" MiB"), "{text}");
    assert!(lines[2].starts_with("  CPU time (mean ± σ): "), "{text}");
    assert!(lines[2].contains(" ms"), "{text}");
    assert!(!text.contains("Time (mean"), "{text}");
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["primary_metric"], "memory_peak_resident");
    let text = perfkit()
        .args([
            "bench",
            "--runs",
            "2",
            "--output",
            "null",
            "--metrics",
            "time",
            "true",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8_lossy(&text);
    for label in ["Time (mean", "CPU time", "User time", "System time"] {
        assert!(text.contains(label), "{label}: {text}");
    }
    assert!(!text.contains("Peak RSS"), "{text}");
    // hyperfine 2's tables and CSV, chosen by flag or by the environment.
    let csv = dir.path().join("r.csv");
    perfkit()
        .args(["bench", "--runs", "2", "--output", "null", "true", "false"])
        .args(["-n", "yes", "--env", "A=1", "--env", "B=2"])
        .args(["--metrics", "time_user,time_system", "--export-csv"])
        .arg(&csv)
        .arg("--export-json")
        .arg(&json)
        .arg("--export-markdown")
        .arg(&md)
        .arg("-i")
        .env("PERFKIT_EXPORT_LAYOUT", "hyperfine2")
        .assert()
        .success();
    let table = std::fs::read_to_string(&md).unwrap();
    assert!(table.starts_with("| Command | Mean User time ["), "{table}");
    assert!(table.contains("| Change | Factor |"), "{table}");
    let header = std::fs::read_to_string(&csv).unwrap();
    assert!(
        header.starts_with("command,time_user_unit,time_user_mean,"),
        "{header}"
    );
    assert!(header.contains(",time_system_max,"), "{header}");
    // Its CSV names each benchmark as its tables do: the name given, or the variables and
    // the command.
    let names: Vec<&str> = (header.lines().skip(1))
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(names, ["yes", "B=2 false"], "{header}");
    // A bad layout in the environment is named as such.
    perfkit()
        .args(["bench", "--runs", "1", "true"])
        .env("PERFKIT_EXPORT_LAYOUT", "hyperfine3")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("PERFKIT_EXPORT_LAYOUT=hyperfine3"));
    // Its JSON says which variables each benchmark had.
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(
        report["results"][1]["environment"],
        serde_json::json!({"B": "2"})
    );
    assert_eq!(report["results"][1]["command"], "false");
    for (metrics, says) in [("instructions", "perfkit stat"), ("wall", "unknown metric")] {
        perfkit()
            .args(["bench", "--runs", "1", "--metrics", metrics, "true"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
    }
}

#[test]
fn output_is_given_once_for_all_or_once_per_benchmark() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.out"), dir.path().join("b.out"));
    perfkit()
        .args([
            "bench", "--runs", "2", "--warmup", "0", "echo one", "echo two",
        ])
        .arg(format!("--output={}", a.display()))
        .arg(format!("--output={}", b.display()))
        .assert()
        .success();
    // Each file holds its own command's output (truncated before every run).
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "one\n");
    assert_eq!(std::fs::read_to_string(&b).unwrap(), "two\n");
    perfkit()
        .args([
            "bench",
            "--runs",
            "1",
            "--output=null",
            "--output=pipe",
            "--output=null",
        ])
        .args(["true", "true"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "one for all, or one per benchmark",
        ));
    // No export may be a file a command writes to, even one that does not exist yet, and
    // nothing runs when one is.
    perfkit()
        .args(["bench", "--runs", "1", "true", "true", "--output=null"])
        .arg(format!("--output={}", a.display()))
        .arg("--export-csv")
        .arg(&a)
        .assert()
        .code(2);
    let new = dir.path().join("new.out");
    perfkit()
        .current_dir(dir.path())
        .args([
            "bench",
            "--runs",
            "1",
            "--output=new.out",
            "--save-baseline",
        ])
        .arg(&new)
        .arg("echo hi")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("are the same file"));
    assert!(!new.exists());
    // Devices take both.
    perfkit()
        .args([
            "bench",
            "--runs",
            "1",
            "--output=/dev/null",
            "--style",
            "none",
        ])
        .args(["--export-csv", "/dev/null", "true"])
        .assert()
        .success();
}
