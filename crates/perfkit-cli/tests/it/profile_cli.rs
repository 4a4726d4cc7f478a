//! `perfkit record | flamegraph | diff | stat | heap | syscalls | libcalls` end to end, on the
//! workload program, as a user runs them.

use std::fmt::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use perfkit_testkit::perfkit;
use perfkit_testkit::{have, have_perf, survivors, workload};
use predicates::prelude::*;
use serde_json::Value;

fn w() -> &'static str {
    workload().to_str().expect("UTF-8 path")
}

fn json_of(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "--json prints valid JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// The JSON report a command wrote into its `--report FILE`.
fn report_file(path: &str) -> Value {
    let text = std::fs::read_to_string(path).expect("the --report file was written");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("--report holds only JSON ({e}): {text}"))
}

fn path(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path().join(name).to_string_lossy().into_owned()
}

#[test]
fn record_draws_the_hot_function_and_keeps_folded_stacks() {
    if !have_perf() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (svg, folded) = (path(&dir, "flame.svg"), path(&dir, "app.folded"));
    let json = path(&dir, "record.json");
    let (pprof, speedscope) = (path(&dir, "cpu.pb.gz"), path(&dir, "cpu.json"));
    perfkit()
        .args([
            "record",
            "--json",
            "--report",
            &json,
            "-o",
            &svg,
            "--folded",
            &folded,
            "--pprof",
            &pprof,
            "--speedscope",
            &speedscope,
            "--",
            w(),
            "cpu",
            "800",
        ])
        .assert()
        .success()
        .stdout("");
    let report = report_file(&json);
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["status"]["kind"], "exited");
    let top = &report["top_functions"][0];
    assert!(
        top["name"]
            .as_str()
            .unwrap()
            .ends_with("perfkit_hot_primes"),
        "{report:#}"
    );
    assert!(top["self_percent"].as_f64().unwrap() > 50.0);
    // 800 ms of wall time at 997 Hz: at most ~800 samples, fewer when other processes take the
    // CPU (cpu-clock counts on-CPU time); nanoseconds would be ~10^9.
    let total = report["total"].as_u64().unwrap();
    assert!((20..2000).contains(&total), "samples, not ns: {total}");
    assert!(
        std::fs::read_to_string(&svg)
            .unwrap()
            .contains("perfkit_hot_primes")
    );
    assert!(
        std::fs::read_to_string(&folded)
            .unwrap()
            .contains("workload::perfkit_hot_primes")
    );
    // The same profile for pprof and speedscope, named in the report.
    assert_eq!(
        (report["pprof"].as_str(), report["speedscope"].as_str()),
        (Some(&*pprof), Some(&*speedscope))
    );
    assert_eq!(&std::fs::read(&pprof).unwrap()[..2], [0x1f, 0x8b]);
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&speedscope).unwrap()).unwrap();
    assert_eq!(file["profiles"][0]["endValue"].as_u64(), Some(total));
}

#[test]
fn record_without_call_graphs_draws_one_frame_per_sample() {
    if !have_perf() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (svg, folded, json) = (
        path(&dir, "flame.svg"),
        path(&dir, "app.folded"),
        path(&dir, "r.json"),
    );
    perfkit()
        .args([
            "record",
            "-g",
            "none",
            "--period",
            "--per-pid",
            "--json",
            "--report",
            &json,
        ])
        .args(["-o", &svg, "--folded", &folded, "--", w(), "cpu", "300"])
        .assert()
        .success();
    let report = report_file(&json);
    // cpu-clock periods are nanoseconds: 300 ms of work is far more than a sample count.
    assert_eq!(report["count_name"], "ns", "{report:#}");
    assert!(report["total"].as_u64().unwrap() > 10_000_000, "{report:#}");
    let text = std::fs::read_to_string(&folded).unwrap();
    for line in text.lines() {
        let (stack, _) = line.rsplit_once(' ').unwrap();
        let frames: Vec<&str> = stack.split(';').collect();
        assert_eq!(frames.len(), 2, "comm-PID and one frame: {line}");
        assert!(frames[0].starts_with("workload-"), "{line}");
    }
    assert!(text.contains("perfkit_hot_primes"), "{text}");
    // A name given with --count-name is the one printed.
    perfkit()
        .args([
            "record",
            "-g",
            "none",
            "--count-name",
            "ticks",
            "-o",
            &svg,
            "--",
        ])
        .args([w(), "cpu", "100"])
        .assert()
        .success()
        .stderr(predicate::str::contains(" ticks ("));
}

/// Real perf script text of other programs, as the library's compatibility test reads it.
fn perf_script_fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../perfkit-profilers/tests/data/perf-script")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn flamegraph_reads_perf_script_of_other_programs_with_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let (svg, folded) = (path(&dir, "f.svg"), path(&dir, "f.folded"));
    // Thread names cut inside a UTF-8 character; --tid keeps the threads apart.
    let output = perfkit()
        .args([
            "flamegraph",
            "--json",
            "--tid",
            "-o",
            &svg,
            "--folded",
            &folded,
        ])
        .arg(perf_script_fixture("c-threads-names.txt"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let report = json_of(&output);
    assert_eq!(report["event"], "cpu-clock");
    assert_eq!(report["count_name"], "samples");
    let text = std::fs::read_to_string(&folded).unwrap();
    assert!(text.contains("V8_WorkerThread-17151/17154;"), "{text}");
    assert!(text.contains("ab数据处理\u{fffd}-17151/17153;"), "{text}");
    // Kernel frames marked, and a counter's periods are events, not nanoseconds.
    perfkit()
        .args(["flamegraph", "--kernel", "-o", &svg, "--folded", &folded])
        .arg(perf_script_fixture("kernel-dd.txt"))
        .assert()
        .success();
    assert!(
        std::fs::read_to_string(&folded)
            .unwrap()
            .contains("read_zero_[k]")
    );
    perfkit()
        .args(["flamegraph", "--period", "-o", &svg])
        .arg(perf_script_fixture("cpp-page-faults.txt"))
        .assert()
        .success()
        .stdout(predicate::str::contains(" events in "));
    // JIT frames from a perf map, and unresolved frames by address.
    perfkit()
        .args([
            "flamegraph",
            "--jit",
            "--addrs",
            "-o",
            &svg,
            "--folded",
            &folded,
        ])
        .arg(perf_script_fixture("java-no-map.txt"))
        .assert()
        .success();
    let text = std::fs::read_to_string(&folded).unwrap();
    assert!(
        text.contains("_[j]") && text.contains(".map <"),
        "{text:.2000}"
    );
}

#[test]
fn folded_stacks_of_other_profilers_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let input = path(&dir, "austin.folded");
    std::fs::write(
        &input,
        "# austin 3.6.0\n# mode: wall\nP1;T1;main (app.py:3);work (app.py:9) 31.0\nP1;T1; ;idle 5\n",
    )
    .unwrap();
    perfkit()
        .args(["flamegraph", "-o", &path(&dir, "a.svg"), &input])
        .assert()
        .success()
        .stdout(predicate::str::contains("36 samples in 2 distinct stacks"));
    std::fs::write(&input, "main;work 0.5\n").unwrap();
    perfkit()
        .args(["flamegraph", "-o", &path(&dir, "a.svg"), &input])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("folded stacks, line 1")
                .and(predicate::str::contains("fraction")),
        );
}

fn profilers_data(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../perfkit-profilers/tests/data")
        .join(path)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn heap_reads_a_massif_file_recorded_elsewhere() {
    let output = perfkit()
        .args(["heap", "--json", "--from"])
        .arg(profilers_data("massif/massif-grow-later-larger.out"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stderr).unwrap();
    // The largest snapshot, not the one massif marked.
    assert!(
        report["peak"]["heap_bytes"].as_u64().unwrap() > 80 << 20,
        "{report:#}"
    );
    assert!(report["status"].is_null());
    let site = report["top_sites"][0]["site"].as_str().unwrap();
    assert!(site.starts_with("grow_table"), "{report:#}");
    perfkit()
        .args(["heap", "--from"])
        .arg(profilers_data("massif/massif-cpp-pages-as-heap.out"))
        .assert()
        .success()
        .stderr(
            predicate::str::contains("main (tmpl.cpp:")
                .and(predicate::str::contains("%  mmap").not()),
        );
    // From a pipe, which can be read only once: standard input here, `<(zcat …)` in a shell.
    perfkit()
        .args(["heap", "--from", "/dev/stdin"])
        .write_stdin(std::fs::read(profilers_data("massif/massif-cpp-pages-as-heap.out")).unwrap())
        .assert()
        .success()
        .stderr(predicate::str::contains("main (tmpl.cpp:"));
    // Not a massif file: the error names it and the problem.
    perfkit()
        .args(["heap", "--from"])
        .arg(profilers_data("strace-c.txt"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("as a massif.out file"));
    perfkit()
        .args(["heap", "--from", "x", "--", "true"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be used with"));
}

#[test]
fn syscalls_reads_strace_output_recorded_elsewhere() {
    for (file, kind, syscall) in [
        ("strace-c.txt", "an strace -c table", "openat"),
        ("strace/strace-C-both.txt", "an strace -c table", "wait4"),
        (
            "strace/strace-T-ttt-y.txt",
            "an strace trace",
            "clock_nanosleep",
        ),
        ("strace/strace-T-r-s0.txt", "an strace trace", "getdents64"),
        ("strace/strace-T-stderr-pid.txt", "an strace trace", "clone"),
        ("strace/strace-T-X-verbose.txt", "an strace trace", "wait4"),
    ] {
        perfkit()
            .args(["syscalls", "-q", "--top", "0", "--from"])
            .arg(profilers_data(file))
            .assert()
            .success()
            .stderr(predicate::str::contains(kind).and(predicate::str::contains(syscall)));
    }
    let output = perfkit()
        .args(["syscalls", "--json", "--from"])
        .arg(profilers_data("strace/strace-T-file-class.txt"))
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stderr).unwrap();
    assert!(
        report["result"]["latencies"]["syscalls"]
            .as_array()
            .unwrap()
            .len()
            > 2,
        "{report:#}"
    );
}

/// `perfkit ARGS` with at most `limit` bytes of address space, `stdin` written to its
/// standard input: input that made memory grow with the square of its size could not fit.
fn perfkit_within(
    limit: u64,
    args: &[&str],
    stdin: impl FnOnce(&mut dyn std::io::Write) + Send + 'static,
) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"));
    command
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // SAFETY: between fork and exec only setrlimit runs, which is async-signal-safe and
    // touches no memory of the parent.
    unsafe {
        command.pre_exec(move || {
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_AS, limit, limit)
                .map_err(std::io::Error::from)
        });
    }
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin(&mut input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

#[test]
fn deep_stacks_and_endless_lines_take_bounded_memory() {
    const GIB: u64 = 1 << 30;
    let dir = tempfile::tempdir().unwrap();
    // Two samples of a 100,000-frame stack, as perf script prints them.
    let mut text = String::new();
    for time in ["1.0", "1.1"] {
        let _ = writeln!(text, "app 1/1 {time}: 1 cpu-clock: ");
        for i in 0..100_000 {
            let _ = writeln!(text, "\t {:x} f{i} (/app)", i + 4096);
        }
        text.push('\n');
    }
    let (input, folded) = (path(&dir, "deep.txt"), path(&dir, "deep.folded"));
    std::fs::write(&input, text).unwrap();
    let svg = path(&dir, "deep.svg");
    let output = perfkit_within(
        GIB,
        &["flamegraph", "-q", "-o", &svg, "--folded", &folded, &input],
        |_| {},
    );
    assert!(output.status.success(), "{output:?}");
    let line = std::fs::read_to_string(&folded).unwrap();
    assert_eq!(line.matches(';').count(), 100_000, "comm and every frame");
    assert!(line.ends_with(" 2\n"));
    // The same stack as folded input.
    let output = perfkit_within(GIB, &["flamegraph", "-q", "-o", &svg, &folded], |_| {});
    assert!(output.status.success(), "{output:?}");
    // A line with no end (300 MiB of it) is refused at perfkit's line limit.
    let output = perfkit_within(GIB, &["flamegraph", "-q", "-o", &svg, "-"], |w| {
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..300 {
            if w.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("a line is longer than 256 MiB"));
}

#[test]
fn record_passes_the_exit_code_through_and_still_draws() {
    if !have_perf() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let svg = path(&dir, "exit.svg");
    perfkit()
        .args([
            "record",
            "-q",
            "-o",
            &svg,
            "--",
            w(),
            "cpu",
            "300",
            "exit",
            "3",
        ])
        .assert()
        .code(3)
        .stdout("")
        .stderr(predicate::str::contains("perfkit_hot_primes"));
    assert!(Path::new(&svg).is_file());

    let svg = path(&dir, "panic.svg");
    perfkit()
        .args(["record", "-q", "-o", &svg, "--", w(), "cpu", "300", "panic"])
        .assert()
        .code(101)
        .stderr(predicate::str::contains("panics on purpose"));
    assert!(Path::new(&svg).is_file());

    let svg = path(&dir, "abort.svg");
    let output = perfkit()
        .args(["record", "-q", "-o", &svg, "--", w(), "cpu", "300", "abort"])
        .output()
        .unwrap();
    assert_eq!(output.status.signal(), Some(6), "{:?}", output.status);
    assert!(Path::new(&svg).is_file());
}

#[test]
fn ctrl_c_stops_the_program_and_keeps_the_profile() {
    use std::os::unix::process::CommandExt;
    if !have_perf() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let svg = path(&dir, "interrupted.svg");
    let bin = assert_cmd::cargo::cargo_bin("perfkit");
    // Its own process group, like a foreground job; Ctrl-C signals the whole group.
    let child = std::process::Command::new(bin)
        .args(["record", "-o", &svg, "--", w(), "cpu", "20000"])
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let pgid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGINT).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("perfkit_hot_primes"), "{stderr}");
    assert!(
        std::fs::read_to_string(&svg)
            .unwrap()
            .contains("perfkit_hot_primes")
    );
    // The program died of SIGINT, and so does perfkit.
    assert_eq!(output.status.signal(), Some(2), "{:?}", output.status);
}

#[test]
fn flamegraph_and_diff_from_folded_files_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let before = path(&dir, "before.folded");
    let after = path(&dir, "after.folded");
    std::fs::write(&before, "app;main;parse 80\napp;main;render 20\n").unwrap();
    std::fs::write(
        &after,
        "app;main;parse 20\napp;main;render 30\napp;main;cache 50\n",
    )
    .unwrap();

    let svg = path(&dir, "flame.svg");
    perfkit()
        .args([
            "flamegraph",
            &before,
            "-o",
            &svg,
            "--title",
            "Before",
            "--icicle",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("parse"));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("Before") && text.contains("parse"));

    let svg = path(&dir, "stdin.svg");
    perfkit()
        .args(["flamegraph", "-", "-o", &svg, "--json"])
        .write_stdin("app;main;parse 80\n")
        .assert()
        .success()
        .stdout(predicate::str::contains("\"total\": 80"));

    let diff_svg = path(&dir, "diff.svg");
    let output = perfkit()
        .args(["diff", &before, &after, "-o", &diff_svg, "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let report = json_of(&output);
    assert_eq!(report["normalized"], true);
    let first = &report["top_changes"][0];
    assert_eq!(first["function"], "parse");
    assert!((first["delta_points"].as_f64().unwrap() + 60.0).abs() < 1e-9);
    assert!(
        std::fs::read_to_string(&diff_svg)
            .unwrap()
            .contains("cache")
    );
}

#[test]
fn diff_of_work_moved_to_another_thread_compares_functions_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    // The same work, run by a worker thread after the change: no stack in common, while
    // `work` shrank from 60% to 45% of the samples, and `io`, now polled, grew.
    let before = path(&dir, "before.folded");
    let after = path(&dir, "after.folded");
    std::fs::write(&before, "app;main;work 60\napp;main;io 40\n").unwrap();
    std::fs::write(
        &after,
        "app;clone3;start_thread;worker;work 45\napp;main;poll;io 50\napp;main;log 5\n",
    )
    .unwrap();
    let svg = path(&dir, "diff.svg");
    let output = perfkit()
        .args(["diff", &before, &after, "-o", &svg, "--json"])
        .assert()
        .success()
        .stderr(predicate::str::contains("share 0.0% of their stacks"))
        .get_output()
        .clone();
    let report = json_of(&output);
    assert_eq!(report["compared"], "functions", "{report:#}");
    assert_eq!(report["top_changes"][0]["function"], "work");
    // The picture is drawn by function: `work` is a single frame, shrunk (blue), as in the
    // table; drawn by stacks, the worker's `work` would be all new (red).
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(!text.contains("start_thread"), "drawn by stacks");
    assert!(text.contains("functions by self time"));
    perfkit()
        .args(["diff", &before, &after, "-o", &svg, "--compare", "stacks"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "BEFORE 100 samples → AFTER 100 samples",
        ))
        .stderr(predicate::str::contains("--compare functions"));
    assert!(
        std::fs::read_to_string(&svg)
            .unwrap()
            .contains("start_thread")
    );
}

/// A stack 150,000 frames deep (deep recursion, an interpreter) folds and draws with every
/// frame counted once. The ranking was quadratic in depth; `deep_stack_fold` in benches/
/// measures that time per frame does not grow with depth.
#[test]
fn a_deep_stack_folds_and_draws_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let folded = path(&dir, "deep.folded");
    let frames: Vec<String> = (0..150_000).map(|i| format!("f{i}")).collect();
    std::fs::write(&folded, format!("{} 7\nf0;g 3\n", frames.join(";"))).unwrap();
    let svg = path(&dir, "deep.svg");
    let output = perfkit()
        .args(["flamegraph", &folded, "-o", &svg, "--json", "--top", "2"])
        .timeout(std::time::Duration::from_secs(600))
        .assert()
        .success()
        .get_output()
        .clone();
    let report = json_of(&output);
    assert_eq!(report["total"], 10);
    assert_eq!(report["distinct_stacks"], 2);
    let top = report["top_functions"].as_array().expect("top_functions");
    let names: Vec<&str> = top.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["f149999", "g"], "{report}");
    assert_eq!(top[0]["inclusive_count"], 7);
    assert_eq!(top[1]["self_count"], 3);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("<title>f149999 (7 samples") && text.contains("<title>g (3 samples"));
}

#[test]
fn flamegraph_and_diff_from_perf_data() {
    if !have_perf() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = path(&dir, "run.data");
    perfkit()
        .args([
            "record",
            "-q",
            "--perf-data",
            &data,
            "-o",
            &path(&dir, "r.svg"),
            "--",
            w(),
            "cpu",
            "400",
        ])
        .assert()
        .success();
    let svg = path(&dir, "again.svg");
    perfkit()
        .args(["flamegraph", &data, "-o", &svg])
        .assert()
        .success()
        .stdout(predicate::str::contains("perfkit_hot_primes"));
    let folded = path(&dir, "x.folded");
    std::fs::write(&folded, "workload;main;other 10\n").unwrap();
    perfkit()
        .args(["diff", &folded, &data, "-o", &path(&dir, "d.svg")])
        .assert()
        .success()
        .stdout(predicate::str::contains("perfkit_hot_primes"));
}

#[test]
fn bad_profiles_are_clear_errors_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = path(&dir, "garbage.txt");
    std::fs::write(&garbage, "this is not a profile\nat all\n").unwrap();
    perfkit()
        .args(["flamegraph", &garbage, "-o", &path(&dir, "x.svg")])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read"));
    perfkit()
        .args(["flamegraph", &path(&dir, "missing.folded")])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "No such file or directory (check the path)",
        ));
    perfkit()
        .args([
            "flamegraph",
            &garbage,
            "-o",
            &path(&dir, "no/such/dir/x.svg"),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does not exist"));
    perfkit()
        .args(["flamegraph", "-", "--palette", "rainbow"])
        .write_stdin("a;b 1\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown palette"));
    perfkit()
        .args(["record", "-o", &path(&dir, "x.svg")])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nothing to profile"));
    perfkit()
        .args(["record", "-g", "dwarf,99999999", "--", "true"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid call graph"));
}

/// A directory holding only `name` (a link to the real program), for a PATH without tools.
fn path_with_only(dir: &tempfile::TempDir, names: &[&str]) -> String {
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for name in names {
        if let Some(real) = std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|c| c.is_file())
        }) {
            std::os::unix::fs::symlink(real, bin.join(name)).unwrap();
        }
    }
    bin.to_string_lossy().into_owned()
}

#[test]
fn missing_tools_say_how_to_install_them() {
    let dir = tempfile::tempdir().unwrap();
    let path_var = path_with_only(&dir, &["true"]);
    for (args, hint) in [
        (vec!["record", "--", "true"], "apt-get install linux-perf"),
        (vec!["stat", "--", "true"], "apt-get install linux-perf"),
        (vec!["heap", "--", "true"], "apt-get install valgrind"),
        (vec!["syscalls", "--", "true"], "apt-get install strace"),
        (vec!["libcalls", "--", "true"], "apt-get install ltrace"),
    ] {
        perfkit()
            .env("PATH", &path_var)
            .env_remove("PERF")
            .current_dir(dir.path())
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(hint).and(predicate::str::contains("dnf install")));
    }
}

#[test]
fn a_perf_that_does_not_run_is_reported_as_broken() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("perf");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'WARNING: perf not found for kernel 6.8.0-1015' >&2\nexit 2\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    perfkit()
        .env("PERF", &fake)
        .current_dir(dir.path())
        .args(["record", "--", "true"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("does not work")
                .and(predicate::str::contains("perf not found for kernel")),
        );
}

#[test]
fn stat_keeps_unsupported_counters_apart() {
    if !have_perf() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = path(&dir, "stat.json");
    perfkit()
        .args([
            "stat",
            "--json",
            "--report",
            &json,
            "--",
            w(),
            "cpu",
            "100",
            "exit",
            "4",
        ])
        .assert()
        .code(4)
        .stdout("");
    let report = report_file(&json);
    let counters = report["result"]["counters"].as_array().unwrap();
    let clock = counters
        .iter()
        .find(|c| c["event"] == "task-clock")
        .unwrap();
    assert_eq!(clock["value"]["kind"], "count");
    if report["hardware_events"] == false {
        let cycles = counters.iter().find(|c| c["event"] == "cycles").unwrap();
        assert_eq!(cycles["value"]["kind"], "unsupported");
    }
    perfkit()
        .args(["stat", "--", w(), "cpu", "50"])
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains("task-clock"));
}

#[test]
fn stat_repeats_give_the_time_of_one_run_with_its_spread() {
    if !have_perf() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = path(&dir, "stat.json");
    perfkit()
        .args([
            "stat", "-r", "4", "--json", "--report", &json, "--", "sleep", "0.02",
        ])
        .assert()
        .success();
    let report = report_file(&json);
    let result = &report["result"];
    let per_run = result["per_run"]["mean_ns"].as_f64().unwrap();
    let all = result["wall_ns"].as_f64().unwrap();
    // One run of four, not all four: a quarter of the total or less (perf's own start-up is
    // in the total only), and at least the sleep.
    assert!(per_run >= 20e6 && per_run <= all / 4.0, "{result:#}");
    assert!(result["per_run"]["variance_percent"].as_f64().is_some());
    // perf's default events are still counted.
    let counters = result["counters"].as_array().unwrap();
    assert!(counters.iter().any(|c| c["event"] == "task-clock"));
    perfkit()
        .args(["stat", "-r", "3", "--", "sleep", "0.01"])
        .assert()
        .success()
        .stderr(
            predicate::str::contains(" per run ± ").and(predicate::str::contains("for all 3 runs")),
        );
    // A running process cannot be started again, so it is counted once or not at all.
    perfkit()
        .args(["stat", "-r", "2", "--pid", &std::process::id().to_string()])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("counted once").and(predicate::str::contains(
                "hint: --repeat works with a command",
            )),
        );
}

#[test]
fn heap_finds_the_ten_megabyte_allocation() {
    if !have("valgrind") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kept = path(&dir, "app.massif");
    let json = path(&dir, "heap.json");
    let output = perfkit()
        .args([
            "heap",
            "--json",
            "--report",
            &json,
            "--massif-out",
            &kept,
            "--",
            w(),
            "alloc",
            "10000000",
            "stderr",
        ])
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains("workload: a line on stderr"))
        .get_output()
        .clone();
    let report = report_file(&json);
    assert_eq!(report["top_sites"][0]["bytes"], 10_000_000);
    assert!(
        report["top_sites"][0]["site"]
            .as_str()
            .unwrap()
            .contains("perfkit_big_allocation")
    );
    assert!(report["peak"]["heap_bytes"].as_u64().unwrap() >= 10_000_000);
    // valgrind's own messages are not mixed into the program's stderr.
    assert!(!String::from_utf8_lossy(&output.stderr).contains("=="));
    assert!(Path::new(&kept).is_file());
    perfkit()
        .args(["heap", "--", w(), "alloc", "1000000"])
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains("perfkit_big_allocation"));
}

#[test]
fn heap_follows_a_wrapper_that_execs_the_program_when_asked() {
    if !have("valgrind") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = path(&dir, "heap.json");
    // A shell that replaces itself with the program, as version-manager shims do.
    let script = format!("exec {} alloc 10000000", w());
    perfkit()
        .args(["heap", "--", "sh", "-c", &script])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--trace-children"));
    perfkit()
        .args(["heap", "--trace-children", "--json", "--report", &json])
        .args(["--", "sh", "-c", &script])
        .assert()
        .success();
    let report = report_file(&json);
    assert_eq!(report["top_sites"][0]["bytes"], 10_000_000, "{report:#}");
}

#[test]
fn syscalls_counts_and_latencies() {
    if !have("strace") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = path(&dir, "syscalls.json");
    perfkit()
        .args([
            "syscalls",
            "--json",
            "--report",
            &json,
            "--",
            w(),
            "syscalls",
            "40",
            "stderr",
        ])
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains("workload: a line on stderr"));
    let report = report_file(&json);
    let rows = report["result"]["summary"]["tables"][0]["rows"]
        .as_array()
        .unwrap();
    let getcwd = rows.iter().find(|r| r["syscall"] == "getcwd").unwrap();
    assert_eq!(getcwd["calls"], 40);

    perfkit()
        .args([
            "syscalls",
            "--trace",
            "--json",
            "--report",
            &json,
            "--",
            w(),
            "syscalls",
            "25",
            "exit",
            "7",
        ])
        .assert()
        .code(7);
    let report = report_file(&json);
    let list = report["result"]["latencies"]["syscalls"]
        .as_array()
        .unwrap();
    let getcwd = list.iter().find(|r| r["syscall"] == "getcwd").unwrap();
    assert_eq!(getcwd["calls"], 25);
    assert!(getcwd["latency_ns"]["p99"].as_u64().unwrap() > 0);
    perfkit()
        .args(["syscalls", "--trace", "--", w(), "syscalls", "5"])
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains("p99"));
}

#[test]
fn libcalls_sees_malloc_by_default_and_says_why() {
    if !have("ltrace") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = path(&dir, "libcalls.json");
    perfkit()
        .args([
            "libcalls",
            "--json",
            "--report",
            &json,
            "--",
            w(),
            "small",
            "150",
        ])
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains("GOT"));
    let report = report_file(&json);
    let rows = report["result"]["summary"]["rows"].as_array().unwrap();
    let malloc = rows.iter().find(|r| r["function"] == "malloc").unwrap();
    assert!(malloc["calls"].as_u64().unwrap() >= 150);
}

#[test]
fn sigterm_stops_the_profiler_and_its_program_and_leaves_nothing() {
    use std::os::unix::process::ExitStatusExt;
    let mut cases: Vec<(&str, Vec<&str>)> = Vec::new();
    if have_perf() {
        cases.push(("record", vec!["record", "-q", "-o", "flame.svg"]));
        cases.push(("stat", vec!["stat", "-q"]));
    }
    if have("strace") {
        cases.push(("syscalls", vec!["syscalls", "-q"]));
    }
    if have("valgrind") {
        cases.push(("heap", vec!["heap", "-q"]));
    }
    for (i, (name, args)) in cases.into_iter().enumerate() {
        let signals: &[nix::sys::signal::Signal] = if name == "record" {
            &[
                nix::sys::signal::Signal::SIGTERM,
                nix::sys::signal::Signal::SIGHUP,
            ]
        } else {
            &[nix::sys::signal::Signal::SIGTERM]
        };
        for &signal in signals {
            let dir = tempfile::tempdir().unwrap();
            let tmp = dir.path().join("tmp");
            std::fs::create_dir(&tmp).unwrap();
            // A number no other test uses, to find the program and the tool in /proc.
            let marker = format!("{}", 987_000 + i * 10 + signal as usize);
            let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"))
                .args(&args)
                .args(["--", w(), "cpu", &marker])
                .current_dir(dir.path())
                .env("TMPDIR", &tmp)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            // Wait until the program runs under the tool.
            for _ in 0..500 {
                if running_with(&marker) >= 3 {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
            nix::sys::signal::kill(pid, signal).unwrap();
            let status = child.wait().unwrap();
            assert_eq!(
                status.signal(),
                Some(signal as i32),
                "{name} {signal:?}: {status:?}"
            );
            let left = survivors(&marker);
            assert!(left.is_empty(), "{name} {signal:?} left {left:?}");
            let leftovers: Vec<_> = std::fs::read_dir(&tmp).unwrap().flatten().collect();
            assert!(leftovers.is_empty(), "{name} {signal:?} left {leftovers:?}");
            let others: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .flatten()
                .map(|e| e.file_name())
                .filter(|n| n != "tmp")
                .collect();
            assert!(others.is_empty(), "{name} {signal:?} wrote {others:?}");
        }
    }
}

#[test]
fn stat_passes_a_signal_through_and_keeps_perfs_messages_off_stderr() {
    use std::os::unix::process::ExitStatusExt;
    if !have_perf() {
        return;
    }
    // perf stat itself exits 0 when its program dies of a signal.
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"))
        .args(["stat", "-q", "--", "sh", "-c", "kill -SEGV $$"])
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(11), "{:?}", out.status);
    let dir = tempfile::tempdir().unwrap();
    let json = path(&dir, "stat.json");
    let out = perfkit()
        .args(["stat", "--json", "--report", &json, "--"])
        .args(["sh", "-c", "echo from-the-program >&2; exit 7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
    // The program's standard error is its own: no "Events disabled" from perf's control mode.
    assert_eq!(String::from_utf8_lossy(&out.stderr), "from-the-program\n");
    let report = report_file(&json);
    assert_eq!(report["result"]["status"]["code"], 7);
    let counters = report["result"]["counters"].as_array().unwrap();
    assert!(counters.iter().any(|c| c["event"] == "task-clock"));
}

/// How many processes have `marker` in their command line now.
fn running_with(marker: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| {
            String::from_utf8_lossy(c)
                .replace('\0', " ")
                .contains(marker)
        })
        .count()
}

#[test]
fn every_profiler_passes_the_programs_status_through() {
    use std::os::unix::process::ExitStatusExt;
    let mut commands: Vec<Vec<&str>> = Vec::new();
    if have_perf() {
        commands.push(vec!["record", "-q", "-o", "/dev/null"]);
        commands.push(vec!["stat", "-q"]);
    }
    if have("valgrind") {
        commands.push(vec!["heap", "-q"]);
    }
    if have("strace") {
        commands.push(vec!["syscalls", "-q"]);
    }
    if have("ltrace") {
        commands.push(vec!["libcalls", "-q"]);
    }
    for command in commands {
        // Too short for perf to sample: the status still comes through, not "no samples".
        for (script, code, signal) in [("exit 7", Some(7), None), ("kill -SEGV $$", None, Some(11))]
        {
            let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"))
                .args(&command)
                .args(["--", "sh", "-c", script])
                .output()
                .unwrap();
            assert_eq!(
                (out.status.code(), out.status.signal()),
                (code, signal),
                "{command:?} {script}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn convert_writes_the_format_its_extension_names() {
    let dir = tempfile::tempdir().unwrap();
    let input = path(&dir, "app.folded");
    std::fs::write(&input, "main;work;hash 30\nmain;io 12\n").unwrap();
    let pb = path(&dir, "cpu.pb.gz");
    let out = perfkit()
        .args(["convert", &input, "-o", &pb, "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let report = json_of(&out);
    assert_eq!(report["command"], "convert");
    assert_eq!(
        (report["format"].as_str(), report["total"].as_u64()),
        (Some("pprof"), Some(42))
    );
    assert_eq!(&std::fs::read(&pb).unwrap()[..2], [0x1f, 0x8b]);
    let speedscope = path(&dir, "app.speedscope.json");
    perfkit()
        .args(["convert", &input, "-o", &speedscope])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "speedscope profile of 42 samples in 2 distinct stacks",
        ));
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&speedscope).unwrap()).unwrap();
    assert_eq!(file["profiles"][0]["endValue"], 42);
    // --format wins over the extension; standard input is read with `-`.
    let folded = path(&dir, "again.json");
    perfkit()
        .args(["convert", "-", "--format", "folded", "-o", &folded])
        .write_stdin("main;work;hash 30\nmain;io 12\n")
        .assert()
        .success();
    // Folded stacks come out sorted.
    assert_eq!(
        std::fs::read_to_string(&folded).unwrap(),
        "main;io 12\nmain;work;hash 30\n"
    );
    // Standard output as OUT gets the profile alone; the report goes to standard error.
    let out = perfkit()
        .args([
            "convert",
            &input,
            "--format",
            "folded",
            "-o",
            "/dev/stdout",
            "--json",
        ])
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "main;io 12\nmain;work;hash 30\n"
    );
    let report: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(report["output"], "/dev/stdout");
    // An unknown extension, the input as output, an input that is no profile: exit 2.
    for (args, says) in [
        (
            vec![input.clone(), "-o".into(), path(&dir, "x.svg")],
            "give --format",
        ),
        (
            vec![
                input.clone(),
                "-o".into(),
                input.clone(),
                "--format".into(),
                "folded".into(),
            ],
            "it is the input",
        ),
        (
            vec![speedscope.clone(), "-o".into(), path(&dir, "y.folded")],
            speedscope.as_str(),
        ),
    ] {
        perfkit()
            .arg("convert")
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
    }
    assert!(!Path::new(&path(&dir, "x.svg")).exists());
}

#[test]
fn flamegraph_writes_the_profile_for_other_viewers_beside_the_svg() {
    let dir = tempfile::tempdir().unwrap();
    let input = path(&dir, "app.folded");
    std::fs::write(&input, "main;work;hash 30\nmain;io 12\n").unwrap();
    // Beside the SVG; a file that is another output is refused.
    let (svg, beside) = (path(&dir, "f.svg"), path(&dir, "f.speedscope.json"));
    let report = json_of(
        &perfkit()
            .args([
                "flamegraph",
                &input,
                "-o",
                &svg,
                "--speedscope",
                &beside,
                "--json",
            ])
            .assert()
            .success()
            .get_output()
            .clone(),
    );
    assert_eq!(report["speedscope"].as_str(), Some(&*beside));
    assert!(report.get("pprof").is_none(), "{report:#}");
    assert!(
        std::fs::read_to_string(&beside)
            .unwrap()
            .contains("\"sampled\"")
    );
    perfkit()
        .args(["flamegraph", &input, "-o", &svg, "--pprof", &svg])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the same file"));
    // record checks its files as one set: the profile may not be where perf.data goes.
    let same = path(&dir, "same.bin");
    perfkit()
        .args([
            "record",
            "-o",
            &svg,
            "--pprof",
            &same,
            "--perf-data",
            &same,
            "--",
            "true",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the same file"));
    // Counts pprof cannot hold are refused before any file is written.
    let huge = path(&dir, "huge.folded");
    std::fs::write(&huge, "main;a 9223372036854775807\nmain;b 9\n").unwrap();
    let (svg2, pb) = (path(&dir, "g.svg"), path(&dir, "g.pb.gz"));
    perfkit()
        .args(["flamegraph", &huge, "-o", &svg2, "--pprof", &pb])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("more than a pprof file holds"));
    assert!(!Path::new(&svg2).exists() && !Path::new(&pb).exists());
}

#[test]
fn diff_writes_a_pprof_pair_that_go_tool_pprof_compares() {
    let dir = tempfile::tempdir().unwrap();
    let (before, after) = (path(&dir, "before.folded"), path(&dir, "after.folded"));
    std::fs::write(&before, "main;steady 10\nmain;grew 10\n").unwrap();
    std::fs::write(&after, "main;steady 10\nmain;grew 30\n").unwrap();
    let (base, new) = (path(&dir, "base.pb.gz"), path(&dir, "new.pb.gz"));
    let svg = path(&dir, "diff.svg");
    perfkit()
        .args(["diff", &before, &after, "-o", &svg, "--pprof", &base, &new])
        .assert()
        .success();
    // The pair is given once; one of it may not be the input.
    perfkit()
        .args([
            "diff", &before, &after, "--pprof", &base, &new, "--pprof", &base, &new,
        ])
        .assert()
        .code(2);
    perfkit()
        .args([
            "diff", &before, &after, "-o", &svg, "--pprof", &base, &after,
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("it is the input"));
    if !have("go") {
        return;
    }
    let out = std::process::Command::new("go")
        .args(["tool", "pprof", "-top", "-diff_base", &base, &new])
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let top = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Only `grew` changed, by 20 samples.
    let grew = top
        .lines()
        .find(|l| l.ends_with(" grew"))
        .unwrap_or_default();
    assert_eq!(grew.split_whitespace().next(), Some("20"), "{top}");
    assert!(
        !top.lines()
            .any(|l| l.ends_with(" steady") && !l.trim_start().starts_with('0')),
        "{top}"
    );
}

#[test]
fn an_output_named_for_another_format_is_written_in_it_instead_of_an_svg() {
    let dir = tempfile::tempdir().unwrap();
    let input = path(&dir, "in.folded");
    std::fs::write(&input, "app;main;parse 80\napp;main;render 20\n").unwrap();
    let pprof = path(&dir, "cpu.pb.gz");
    let output = perfkit()
        .args(["flamegraph", &input, "-o", &pprof, "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let report = json_of(&output);
    assert_eq!(report["svg"], Value::Null, "{report:#}");
    assert_eq!(report["pprof"].as_str(), Some(&*pprof));
    assert_eq!(&std::fs::read(&pprof).unwrap()[..2], [0x1f, 0x8b]);
    // Text names the file written.
    let speedscope = path(&dir, "cpu.json");
    perfkit()
        .args(["flamegraph", &input, "-o", &speedscope])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(format!(
            "{speedscope}: 100 samples"
        )));
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&speedscope).unwrap()).unwrap();
    assert_eq!(file["profiles"][0]["endValue"].as_u64(), Some(100));
    // The same format named twice is refused before anything is written.
    let other = path(&dir, "other.pb.gz");
    perfkit()
        .args(["flamegraph", &input, "-o", &other, "--pprof", &pprof])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("name the pprof file once"));
    assert!(!Path::new(&other).exists());
}
