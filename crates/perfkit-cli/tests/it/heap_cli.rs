//! `perfkit heap --sampled`: the preloaded sampler on C programs whose allocation sites and
//! sizes are known, against valgrind massif's exact figures, and its files read by the
//! programs they are for (go tool pprof, DHAT's viewer, perfkit flamegraph).

use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};

use perfkit_testkit::{c_program, have, perfkit};
use predicates::prelude::*;
use serde_json::Value;

const MIB: f64 = 1_048_576.0;

fn sites() -> Option<PathBuf> {
    c_program("heap_sites")
}

/// `perfkit heap ARGS -- heap_sites MODE` with `--json --report FILE`: the report.
fn report(dir: &Path, args: &[&str], program: &Path, mode: &str) -> Value {
    let file = dir.join(format!("{mode}-{}.json", args.len()));
    perfkit()
        .arg("heap")
        .args(args)
        .arg("--json")
        .arg("--report")
        .arg(&file)
        .arg("--")
        .arg(program)
        .arg(mode)
        .assert()
        .success();
    profile_report(&file)
}

/// The JSON report perfkit wrote to `file`, which must be of a profile the program wrote.
fn profile_report(file: &Path) -> Value {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(report.get("missing").is_none(), "{report}");
    report
}

/// The sampled report of `mode`, every `interval` bytes on average (small enough for the
/// program's sizes that 5% is several standard errors), with a fixed seed.
fn sampled(dir: &Path, program: &Path, mode: &str, interval: &str) -> Value {
    report(
        dir,
        &["--sampled", "--interval", interval, "--seed", "7"],
        program,
        mode,
    )
}

fn number(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{value} is not a number"))
}

fn within(what: &str, estimate: f64, truth: f64, tolerance: f64) {
    let error = (estimate - truth).abs() / truth;
    assert!(
        error <= tolerance,
        "{what}: {estimate:.0} against {truth:.0} ({:.2}% off, {:.0}% allowed)",
        error * 100.0,
        tolerance * 100.0
    );
    eprintln!(
        "{what}: {estimate:.0} against {truth:.0} ({:.2}% off)",
        error * 100.0
    );
}

#[test]
fn the_peak_and_its_site_match_massif_within_five_percent() {
    let Some(program) = sites() else { return };
    if !have("valgrind") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exact = report(dir.path(), &["--exact"], &program, "peak");
    let sampled = sampled(dir.path(), &program, "peak", "4K");
    let massif_peak = number(&exact["peak"]["heap_bytes"]);
    let massif_top = number(&exact["top_sites"][0]["bytes"]);
    assert!(
        exact["top_sites"][0]["site"]
            .as_str()
            .unwrap()
            .contains("hold_peak"),
        "{exact}"
    );
    within(
        "peak, estimated from samples",
        number(&sampled["peak_bytes_estimate"]),
        massif_peak,
        0.05,
    );
    within(
        "peak, counted",
        number(&sampled["peak_bytes"]),
        massif_peak,
        0.05,
    );
    let top = &sampled["top_at_peak"][0];
    assert_eq!(top["function"], "hold_peak", "{sampled}");
    within(
        "the top site's share of the peak",
        number(&top["share"]),
        massif_top / massif_peak,
        0.05,
    );
}

#[test]
fn the_leak_is_found_at_its_site_with_its_size() {
    let Some(program) = sites() else { return };
    if !have("valgrind") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exact = report(dir.path(), &["--exact"], &program, "leak");
    let sampled = sampled(dir.path(), &program, "leak", "1K");
    let leaked = &sampled["leaked"][0];
    assert_eq!(leaked["function"], "leak_three_mib", "{sampled}");
    within("leaked bytes", number(&leaked["bytes"]), 3.0 * MIB, 0.05);
    within("leaked blocks", number(&leaked["objects"]), 768.0, 0.05);
    // massif's peak is the leak: it is never freed.
    within(
        "leaked bytes against massif's peak",
        number(&leaked["bytes"]),
        number(&exact["peak"]["heap_bytes"]),
        0.05,
    );
    assert!(
        sampled["leaked"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["function"] != "hold_peak")
    );
}

#[test]
fn churn_shows_as_short_lived_blocks_counted_within_five_percent() {
    let Some(program) = sites() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sampled = sampled(dir.path(), &program, "churn", "1K");
    let short = &sampled["short_lived"][0];
    assert_eq!(short["function"], "churn", "{sampled}");
    within("blocks churned", number(&short["objects"]), 200_000.0, 0.05);
    assert!(number(&short["median_lifetime_ns"]) < 1e6, "{short}");
    // Nothing of it is live at the peak or at exit.
    assert!(
        number(&sampled["peak_bytes_estimate"]) < 64.0 * 1024.0,
        "{sampled}"
    );
    assert!(
        sampled["leaked"].as_array().unwrap().is_empty(),
        "{sampled}"
    );
    // The exact counters saw every call.
    assert!(number(&sampled["allocations"]) >= 200_000.0);
}

#[test]
fn sixteen_threads_a_fork_and_an_exit_from_a_thread_lose_no_free() {
    let Some(program) = sites() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Small intervals: many samples race for the lock, and many sampled blocks are freed.
    let stress = sampled(dir.path(), &program, "stress", "256");
    let allocations = number(&stress["allocations"]);
    let frees = number(&stress["frees"]);
    // 16 threads × 2,000 rounds × 8 blocks, all freed; a few blocks of libc's own (thread
    // bookkeeping, stdio) stay.
    assert!(allocations >= 16.0 * 2000.0 * 8.0, "{stress}");
    assert!(
        allocations - frees < 64.0,
        "{allocations} allocations, {frees} frees"
    );
    assert!(number(&stress["exit_bytes"]) < 256.0 * 1024.0, "{stress}");
    // Every sampled block of the threads was matched with its free.
    for line in stress["leaked"].as_array().unwrap() {
        assert_ne!(line["function"], "work", "{line}");
    }
    assert!(
        stress["top_allocated"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["function"] == "work"),
        "{stress}"
    );
    assert_eq!(stress["dropped"], 0);
}

/// Runs `heap_sites peak` sampled, writing every file into `dir`.
fn peak_with_files(dir: &Path) -> Option<()> {
    let program = sites()?;
    let file = |name: &str| dir.join(name);
    perfkit()
        .args(["heap", "--sampled", "--interval", "16K", "--pprof"])
        .arg(file("heap.pb.gz"))
        .arg("--dhat")
        .arg(file("dhat.json"))
        .arg("--folded")
        .arg(file("heap.folded"))
        .arg("-o")
        .arg(file("heap.svg"))
        .arg("--save")
        .arg(file("raw.json"))
        .arg("--")
        .arg(&program)
        .arg("peak")
        .assert()
        .success()
        .stderr(predicate::str::contains("Live at the peak, by site"))
        .stderr(predicate::str::contains("heap flamegraph written to"));
    Some(())
}

#[test]
fn go_tool_pprof_reads_the_heap_profile_with_all_its_sample_types() {
    if !have("go") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    if peak_with_files(dir.path()).is_none() {
        return;
    }
    for (index, first) in [("peak_space", "hold_peak"), ("alloc_space", "hold_peak")] {
        let out = std::process::Command::new("go")
            .args(["tool", "pprof", "-top", "-sample_index", index])
            .arg(dir.path().join("heap.pb.gz"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{out:?}");
        let row = text
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("flat"))
            .nth(1)
            .unwrap_or_default();
        assert!(row.ends_with(first), "{index}: {text}");
        assert!(text.contains(&format!("Type: {index}")), "{text}");
    }
    let raw = std::process::Command::new("go")
        .args(["tool", "pprof", "-raw"])
        .arg(dir.path().join("heap.pb.gz"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&raw.stdout);
    assert!(
        text.contains(
            "alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes"
        ),
        "{text}"
    );
}

#[test]
fn the_folded_stacks_the_flamegraph_and_the_saved_profile_agree() {
    let dir = tempfile::tempdir().unwrap();
    if peak_with_files(dir.path()).is_none() {
        return;
    }
    let folded = std::fs::read_to_string(dir.path().join("heap.folded")).unwrap();
    let top = folded
        .lines()
        .max_by_key(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .unwrap();
    assert!(top.contains(";main;hold_peak "), "{folded}");
    let svg = std::fs::read_to_string(dir.path().join("heap.svg")).unwrap();
    assert!(svg.contains("Heap at the peak") && svg.contains("hold_peak"));
    // perfkit flamegraph draws the folded file with the memory palette.
    perfkit()
        .arg("flamegraph")
        .arg(dir.path().join("heap.folded"))
        .args(["--palette", "mem", "-o"])
        .arg(dir.path().join("again.svg"))
        .assert()
        .success();
    assert!(
        std::fs::read_to_string(dir.path().join("again.svg"))
            .unwrap()
            .contains("hold_peak")
    );
    // The saved profile reads back into the same report.
    perfkit()
        .args(["heap", "--from"])
        .arg(dir.path().join("raw.json"))
        .assert()
        .success()
        .stderr(predicate::str::contains("Live at the peak, by site"))
        .stderr(predicate::str::contains("hold_peak"));
    // Also from a pipe, which can be read only once.
    perfkit()
        .args(["heap", "--from", "/dev/stdin"])
        .write_stdin(std::fs::read(dir.path().join("raw.json")).unwrap())
        .assert()
        .success()
        .stderr(predicate::str::contains("hold_peak"));
}

/// `perfkit heap --sampled ARGS -- PROGRAM...` in its own process group, as a foreground job
/// is; once the program has printed `ready`, Ctrl-C (SIGINT to the whole group). Its output,
/// and the JSON report.
fn interrupted(dir: &Path, program: &[&str]) -> (std::process::Output, Value) {
    use std::io::BufRead as _;
    use std::os::unix::process::CommandExt as _;
    let file = dir.join("interrupted.json");
    let mut child = std::process::Command::new(perfkit_testkit::perfkit_path())
        .args([
            "heap",
            "--sampled",
            "--interval",
            "4K",
            "--seed",
            "7",
            "--json",
        ])
        .arg("--report")
        .arg(&file)
        .arg("--")
        .args(program)
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pgid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    // A hang fails the test rather than the whole run: the group is killed after a minute.
    let (ended, watch) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if watch
            .recv_timeout(std::time::Duration::from_secs(60))
            .is_err()
        {
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        }
    });
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    while !printed.ends_with("ready\n") {
        assert!(
            stdout.read_line(&mut printed).unwrap() > 0,
            "the program ended before it was ready: {printed}"
        );
    }
    nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGINT).unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let mut output = child.wait_with_output().unwrap();
    let _ = ended.send(());
    output.stdout = format!("{printed}{rest}").into_bytes();
    let report = profile_report(&file);
    (output, report)
}

/// Ctrl-C ends a program that leaves `SIGINT` to its default action, which runs no exit code:
/// the shim still writes the profile, perfkit reports it and ends as the program did. Also
/// when the only thread that can take the signal has a small stack, too small to resolve
/// names on.
#[test]
fn a_program_ended_by_ctrl_c_still_has_its_profile() {
    let Some(program) = sites() else { return };
    for mode in ["wait", "wait-small-stack"] {
        let dir = tempfile::tempdir().unwrap();
        let (output, report) = interrupted(dir.path(), &[program.to_str().unwrap(), mode]);
        assert_eq!(output.status.signal(), Some(2), "{mode}: {output:?}");
        let leaked = &report["leaked"][0];
        assert_eq!(leaked["function"], "leak_three_mib", "{mode}: {report}");
        within(
            "bytes live at Ctrl-C",
            number(&leaked["bytes"]),
            3.0 * MIB,
            0.05,
        );
    }
}

/// A program that sends itself `SIGTERM` and returns from `main` at once is dead, under the
/// default action, before it returns. Under the shim the signal waits for its thread, and the
/// exit may write the profile first: the process must still end by the signal.
#[test]
fn a_signal_that_arrives_during_the_exit_still_ends_the_program() {
    let Some(program) = sites() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("signalled.json");
    for _ in 0..3 {
        let output = perfkit()
            .args(["heap", "--sampled", "--json", "--report"])
            .arg(&file)
            .arg("--")
            .arg(&program)
            .arg("killed-while-exiting")
            .output()
            .unwrap();
        assert_eq!(output.status.signal(), Some(15), "{output:?}");
        profile_report(&file);
    }
}

/// A program that writes into a closed pipe dies of `SIGPIPE`, as `yes | head -1` ends: its
/// profile is written all the same, and perfkit ends of the same signal.
#[test]
fn a_program_ended_by_sigpipe_still_has_its_profile() {
    use std::io::BufRead as _;
    if !have("yes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pipe.json");
    let mut child = std::process::Command::new(perfkit_testkit::perfkit_path())
        .args(["heap", "--sampled", "--json", "--report"])
        .arg(&file)
        .args(["--", "yes"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "y\n");
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.signal(),
        Some(nix::sys::signal::Signal::SIGPIPE as i32),
        "{output:?}"
    );
    let report = profile_report(&file);
    assert!(number(&report["allocations"]) > 0.0, "{report}");
}

/// The shim stands in for SIGINT's default action without the program seeing it: Python
/// still installs its own handler (it does only over `SIG_DFL`), sees SIGTERM at `SIG_DFL`, and
/// turns Ctrl-C into a `KeyboardInterrupt` that it catches and ends normally from.
#[test]
fn a_program_sees_its_signals_as_it_would_without_the_shim() {
    if !have("python3") {
        return;
    }
    let probe = "import signal, time\n\
                 print(signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))\n";
    let script = format!(
        "{probe}blocks = [bytearray(4096) for _ in range(1024)]\n\
         try:\n    print('ready', flush=True)\n    time.sleep(60)\n\
         except KeyboardInterrupt:\n    print('caught')\n"
    );
    let alone = std::process::Command::new("python3")
        .args(["-c", probe])
        .output()
        .unwrap();
    let handlers = String::from_utf8_lossy(&alone.stdout)
        .lines()
        .next()
        .unwrap()
        .to_owned();
    assert!(handlers.contains("default_int_handler"), "{handlers}");
    let dir = tempfile::tempdir().unwrap();
    let (output, report) = interrupted(dir.path(), &["python3", "-c", &script]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().next(), Some(handlers.as_str()), "{stdout}");
    assert!(stdout.contains("caught"), "{stdout}");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(number(&report["peak_bytes"]) > 4.0 * MIB, "{report}");
}

/// A C++ program's sites are named in C++, not mangled, and after the program's own method
/// rather than `operator new[]` or the `std::vector` code that grows its table.
#[test]
fn cpp_sites_are_demangled_and_named_after_the_program_s_method() {
    let Some(program) = c_program("heap_cpp") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sampled = report(
        dir.path(),
        &["--sampled", "--interval", "4K", "--seed", "7"],
        &program,
        "",
    );
    let top = &sampled["top_at_peak"][0];
    let function = top["function"].as_str().unwrap_or_default();
    assert!(
        function.starts_with("ledger::Book::grow("),
        "{function}: {sampled}"
    );
    assert!(number(&top["share"]) > 0.9, "{sampled}");
    for list in ["top_at_peak", "top_allocated"] {
        for line in sampled[list].as_array().unwrap() {
            let function = line["function"].as_str().unwrap_or_default();
            assert!(
                !function.starts_with("_Z")
                    && !function.contains("operator new")
                    && !function.contains("_M_realloc_insert"),
                "{list}: {line}"
            );
        }
    }
}

/// A DHAT file is JSON too, but not a profile perfkit reads back: one that valgrind's own DHAT
/// wrote is named as a DHAT file, with where to open it.
#[test]
fn a_dhat_file_from_valgrind_is_named_as_one() {
    let Some(program) = sites() else { return };
    if !have("valgrind") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dhat.out");
    let status = std::process::Command::new("valgrind")
        .arg("--tool=dhat")
        .arg(format!("--dhat-out-file={}", out.display()))
        .arg(&program)
        .arg("leak")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "valgrind --tool=dhat: {status}");
    perfkit()
        .args(["heap", "--from"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is a DHAT file"))
        .stderr(predicate::str::contains("dh_view.html"));
}

#[test]
fn dhat_s_own_viewer_opens_the_dhat_file() {
    let viewer = Path::new("/usr/libexec/valgrind/dh_view.js");
    if !have("chromium") || !have("valgrind") {
        return;
    }
    assert!(
        viewer.is_file(),
        "valgrind ships dh_view.js at {}",
        viewer.display()
    );
    let dir = tempfile::tempdir().unwrap();
    if peak_with_files(dir.path()).is_none() {
        return;
    }
    // dh_view.html loads a file the user picks; this page hands it the same JSON instead.
    let data = std::fs::read_to_string(dir.path().join("dhat.json")).unwrap();
    let page = dir.path().join("view.html");
    std::fs::write(
        &page,
        format!(
            "<!DOCTYPE html><html><head><meta charset=\"UTF-8\">\
             <script src=\"file://{}\"></script><script>const DATA = {data};</script></head>\
             <body onload=\"onLoad(); tryFunc(() => {{ gData = DATA; buildTree(); displayTree(); }}); \
             document.documentElement.setAttribute('data-visible-text', document.body.innerText)\">\
             </body></html>",
            viewer.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu"])
        .args(["--allow-file-access-from-files", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let start = dom.find("data-visible-text=\"").expect("the page ran") + 19;
    let text = &dom[start..start + dom[start..].find('"').unwrap()];
    assert!(
        text.contains("At t-gmax:") && text.contains("hold_peak"),
        "{text}"
    );
    assert!(
        !text.contains("Error") && !text.contains("missing a field"),
        "{text}"
    );
}

#[test]
fn a_program_s_exit_status_passes_through_and_a_killed_one_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    perfkit()
        .args(["heap", "--sampled", "--", "sh", "-c", "exit 7"])
        .current_dir(dir.path())
        .assert()
        .code(7);
    // No profile from a killed program, but its end all the same: perfkit dies of the same
    // signal.
    let output = perfkit()
        .args(["heap", "--sampled", "--", "sh", "-c", "kill -9 $$"])
        .output()
        .unwrap();
    assert_eq!(output.status.signal(), Some(9), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("wrote no heap profile") && stderr.contains("killed by a signal"),
        "{stderr}"
    );
}

/// bash defines its own `getenv` and `setenv`, which work only once its `main` has set up its
/// variables: the shim reads its settings and marks the profiled process without them.
#[test]
fn bash_is_profiled_despite_its_own_getenv() {
    if !have("bash") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bash.json");
    perfkit()
        .args(["heap", "--sampled", "--json", "--report"])
        .arg(&file)
        .args(["--", "bash", "-c", "exit 3"])
        .assert()
        .code(3);
    let report = profile_report(&file);
    assert!(number(&report["allocations"]) > 0.0, "{report}");
}

#[test]
fn a_static_program_is_refused_before_it_runs() {
    if !have("gcc") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("touch.c");
    let marker = dir.path().join("ran");
    std::fs::write(
        &source,
        format!(
            "#include <stdio.h>\nint main(void) {{ fclose(fopen(\"{}\", \"w\")); return 0; }}\n",
            marker.display()
        ),
    )
    .unwrap();
    let program = dir.path().join("touch");
    let built = std::process::Command::new("gcc")
        .arg("-static")
        .arg("-o")
        .arg(&program)
        .arg(&source)
        .status()
        .unwrap();
    assert!(built.success(), "gcc -static (libc6-dev has libc.a)");
    perfkit()
        .args(["heap", "--sampled", "--"])
        .arg(&program)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("statically linked"))
        .stderr(predicate::str::contains("perfkit heap --exact"));
    assert!(!marker.exists(), "the program ran");
}

#[test]
fn a_flamegraph_with_nothing_to_draw_is_left_out_and_the_rest_written() {
    let Some(program) = sites() else { return };
    let dir = tempfile::tempdir().unwrap();
    perfkit()
        .args(["heap", "--sampled", "--weigh", "leaked", "-o"])
        .arg(dir.path().join("leaks.svg"))
        .arg("--pprof")
        .arg(dir.path().join("heap.pb.gz"))
        .arg("--")
        .arg(&program)
        .arg("peak")
        .assert()
        .success()
        .stderr(predicate::str::contains("no flamegraph written"))
        .stderr(predicate::str::contains("pprof heap profile written to"));
    assert!(!dir.path().join("leaks.svg").exists());
    assert!(dir.path().join("heap.pb.gz").is_file());
    // The sampled mode's files without the sampled mode.
    perfkit()
        .args(["heap", "--pprof"])
        .arg(dir.path().join("x.pb.gz"))
        .args(["--", "true"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("add --sampled"));
}

#[test]
fn analyze_profiles_the_heap_with_the_sampler_unless_asked_for_massif() {
    let Some(program) = sites() else { return };
    let dir = tempfile::tempdir().unwrap();
    let output = perfkit()
        .args([
            "analyze",
            "--heap",
            "--no-profile",
            "--no-syscalls",
            "--runs",
            "2",
        ])
        .arg("--out")
        .arg(dir.path().join("report"))
        .arg("--json")
        .arg("--")
        .arg(&program)
        .arg("peak")
        .assert()
        .success()
        .get_output()
        .clone();
    let analysis: Value = serde_json::from_slice(&output.stdout).unwrap();
    let heap = &analysis["heap"];
    assert_eq!(heap["mode"], "sampled", "{heap}");
    assert!(
        heap["sites"][0]["site"]
            .as_str()
            .unwrap()
            .starts_with("hold_peak"),
        "{heap}"
    );
    within(
        "analyze's heap peak",
        number(&heap["peak_heap_bytes"]),
        24.0 * MIB,
        0.05,
    );
    perfkit()
        .args(["analyze", "--heap=massif", "--", "true"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("sampled").and(predicate::str::contains("exact")));
}

#[test]
fn a_program_linked_with_its_own_allocator_keeps_using_it() {
    if !have("gcc") {
        return;
    }
    let programs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../perfkit-testkit/programs");
    let dir = tempfile::tempdir().unwrap();
    let gcc = |args: &[&std::ffi::OsStr]| {
        let status = std::process::Command::new("gcc")
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "gcc {args:?}");
    };
    let lib = dir.path().join("libownalloc.so");
    let program = dir.path().join("uses_own_allocator");
    gcc(&[
        "-O1".as_ref(),
        "-shared".as_ref(),
        "-fPIC".as_ref(),
        "-o".as_ref(),
        lib.as_os_str(),
        programs.join("own_allocator.c").as_os_str(),
    ]);
    let rpath = format!("-Wl,-rpath,{}", dir.path().display());
    let libdir = format!("-L{}", dir.path().display());
    gcc(&[
        "-O1".as_ref(),
        "-fno-builtin-malloc".as_ref(),
        "-o".as_ref(),
        program.as_os_str(),
        programs.join("uses_own_allocator.c").as_os_str(),
        libdir.as_ref(),
        "-lownalloc".as_ref(),
        rpath.as_ref(),
    ]);
    // Its allocator aborts on a block it did not make: every call must reach it.
    let report = sampled(dir.path(), &program, "", "4K");
    assert_eq!(report["status"]["code"], 0, "{report}");
    assert_eq!(report["top_at_peak"][0]["function"], "main", "{report}");
    within(
        "the peak",
        number(&report["peak_bytes"]),
        1000.0 * 4096.0,
        0.05,
    );
}
