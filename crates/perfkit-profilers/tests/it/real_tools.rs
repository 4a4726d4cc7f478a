//! Each adapter run for real on the workload program, asserting on what it is known to do.

use std::time::Duration;

use perfkit_profilers::{
    ExitKind,
    flamegraph::{FlamegraphOptions, render_flamegraph},
    ltrace::Ltrace,
    massif::Massif,
    perf::{
        CallGraph, CountUnit, EventChoice, FoldOptions, PerfEnvironment, Record, Stat, StatValue,
        fold_perf_data, perf_report, profile_section,
    },
    strace::{Strace, TraceMode},
};
use perfkit_testkit::{have, have_perf, workload};

fn record(
    args: &[&str],
    dir: &tempfile::TempDir,
) -> (perfkit_profilers::perf::RecordOutcome, PerfEnvironment) {
    let env = PerfEnvironment::detect().unwrap();
    let mut command = vec![workload().to_string_lossy().into_owned()];
    command.extend(args.iter().map(|s| (*s).to_owned()));
    let outcome = Record::command(command)
        .output(dir.path().join("perf.data"))
        .run(&env)
        .unwrap();
    (outcome, env)
}

#[test]
fn perf_record_finds_the_hot_function_and_draws_it() {
    if !have_perf() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (outcome, env) = record(&["cpu", "1500"], &dir);
    assert!(outcome.status.success());
    assert!(outcome.data_bytes > 0);
    if !env.hardware_events {
        assert!(outcome.event.name.starts_with("cpu-clock"));
        assert!(outcome.notes.iter().any(|n| n.contains("cpu-clock")));
    }
    let folded = fold_perf_data(&env.perf, &outcome.perf_data, &FoldOptions::default())
        .unwrap()
        .stacks;
    // ~1.5 s at 997 Hz: samples, not nanoseconds.
    assert!(
        folded.total() > 500 && folded.total() < 3000,
        "{}",
        folded.total()
    );
    let hot = folded.hot_functions(3);
    assert!(hot[0].name.ends_with("perfkit_hot_primes"), "{hot:?}");
    assert!(hot[0].self_percent > 50.0, "{hot:?}");
    assert!(
        hot.iter().any(|h| h.name.ends_with("perfkit_warm_mix")),
        "{hot:?}"
    );
    // DWARF unwinding gives complete stacks down to main without frame pointers.
    let burn = folded.inclusive_count("workload::burn");
    assert!(
        burn * 10 >= folded.total() * 9,
        "burn {burn} of {}",
        folded.total()
    );

    let mut svg = Vec::new();
    render_flamegraph(&folded, &FlamegraphOptions::default(), &mut svg).unwrap();
    let svg = String::from_utf8(svg).unwrap();
    assert!(svg.contains("perfkit_hot_primes"));

    let report = perf_report(&env.perf, &outcome.perf_data, &["--no-children"]).unwrap();
    assert!(report.contains("perfkit_hot_primes"), "{report:.500}");

    // Counting periods instead gives nanoseconds for cpu-clock: about 1 ms per sample.
    if outcome.event.name.starts_with("cpu-clock") {
        let options = FoldOptions {
            unit: CountUnit::Period,
            ..FoldOptions::default()
        };
        let timed = fold_perf_data(&env.perf, &outcome.perf_data, &options)
            .unwrap()
            .stacks;
        assert!(
            timed.total() > folded.total() * 500_000,
            "{}",
            timed.total()
        );
    }
}

#[test]
fn a_failing_or_panicking_program_still_yields_a_profile() {
    if !have_perf() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (outcome, env) = record(&["cpu", "300", "exit", "3"], &dir);
    assert_eq!(outcome.status, ExitKind::Exited { code: 3 });
    let folded = fold_perf_data(&env.perf, &outcome.perf_data, &FoldOptions::default())
        .unwrap()
        .stacks;
    assert!(folded.contains_function("perfkit_hot_primes"));

    let (outcome, env) = record(&["cpu", "300", "panic"], &dir);
    assert_eq!(outcome.status, ExitKind::Exited { code: 101 });
    let folded = fold_perf_data(&env.perf, &outcome.perf_data, &FoldOptions::default())
        .unwrap()
        .stacks;
    assert!(folded.contains_function("perfkit_hot_primes"));
}

#[test]
fn frame_pointer_call_graphs_and_pids_work_too() {
    if !have_perf() {
        return;
    }
    let env = PerfEnvironment::detect().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(workload())
        .args(["cpu", "3000"])
        .spawn()
        .unwrap();
    let outcome = Record::pids([child.id()], Duration::from_millis(800))
        .call_graph(CallGraph::FramePointer)
        .event(EventChoice::Named("cpu-clock".into()))
        .output(dir.path().join("pid.data"))
        .run(&env)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(!outcome.compressed);
    let folded = fold_perf_data(&env.perf, &outcome.perf_data, &FoldOptions::default())
        .unwrap()
        .stacks;
    assert!(
        folded.contains_function("perfkit_hot_primes"),
        "{}",
        folded.to_text()
    );
}

#[test]
fn perf_stat_keeps_unsupported_counters_apart_from_zero() {
    if !have_perf() {
        return;
    }
    let env = PerfEnvironment::detect().unwrap();
    let outcome = Stat::command([workload().to_str().unwrap(), "cpu", "100", "exit", "4"])
        .run(&env)
        .unwrap();
    assert_eq!(outcome.status, ExitKind::Exited { code: 4 });
    let clock = outcome.counter("task-clock").unwrap();
    // A count of CPU milliseconds (not "unsupported", not 0). The workload burns 100 ms of wall
    // time; on a loaded machine it gets less CPU than that, so no tighter bound.
    let ms = clock.count().unwrap();
    assert!(ms > 1.0, "{clock:?}");
    let cycles = outcome.counter("cycles").unwrap();
    if env.hardware_events {
        assert!(matches!(cycles.value, StatValue::Count(_)));
    } else {
        assert_eq!(cycles.value, StatValue::Unsupported);
    }
}

#[inline(never)]
fn section_busy_loop(n: u64) -> u64 {
    let mut x = 1u64;
    for i in 0..n {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(std::hint::black_box(i));
    }
    x
}

#[test]
fn profile_section_samples_only_the_closure() {
    if !have_perf() {
        return;
    }
    let (value, profile) = profile_section(|| {
        let deadline = std::time::Instant::now() + Duration::from_millis(700);
        let mut acc = 0;
        while std::time::Instant::now() < deadline {
            acc ^= section_busy_loop(200_000);
        }
        acc
    });
    std::hint::black_box(value);
    let profile = profile.unwrap();
    assert!(profile.wall >= Duration::from_millis(700));
    assert!(profile.folded.total() > 200, "{}", profile.folded.total());
    let busy = profile
        .folded
        .hot_functions(5)
        .into_iter()
        .find(|h| h.name.contains("section_busy_loop"))
        .unwrap_or_else(|| panic!("{}", profile.folded.to_text()));
    assert!(busy.self_percent > 50.0, "{busy:?}");
}

#[test]
fn massif_finds_the_known_allocation_at_the_peak() {
    if !have("valgrind") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("massif.out");
    let outcome = Massif::command([
        workload().to_str().unwrap(),
        "alloc",
        "10000000",
        "exit",
        "5",
    ])
    .keep_output(&kept)
    .run()
    .unwrap();
    assert_eq!(outcome.status, ExitKind::Exited { code: 5 });
    assert!(kept.is_file());
    let peak = outcome.profile.peak().unwrap();
    assert!(
        peak.heap >= 10_000_000 && peak.heap < 10_100_000,
        "{}",
        peak.heap
    );
    let top = &outcome.profile.top_sites(3)[0];
    assert_eq!(top.bytes, 10_000_000);
    assert!(top.site.contains("perfkit_big_allocation"), "{top:?}");
    assert!(
        top.call_path.iter().any(|f| f.contains("workload::main")),
        "{top:?}"
    );
    if have("ms_print") {
        let text = perfkit_profilers::massif::ms_print(&kept).unwrap();
        assert!(text.contains("perfkit_big_allocation"));
    }
}

#[test]
fn strace_counts_the_known_syscalls() {
    if !have("strace") {
        return;
    }
    let outcome = Strace::command([workload().to_str().unwrap(), "syscalls", "50", "stderr"])
        .run()
        .unwrap();
    assert!(outcome.status.success());
    let summary = outcome.summary.unwrap();
    assert_eq!(summary.calls("getcwd"), 50);
    assert!(summary.calls("openat") >= 50);
    assert!(summary.calls("write") >= 51);
}

#[test]
fn strace_latency_histograms_per_syscall() {
    if !have("strace") {
        return;
    }
    let outcome = Strace::command([workload().to_str().unwrap(), "syscalls", "30"])
        .mode(TraceMode::Latency)
        .run()
        .unwrap();
    let latencies = outcome.latencies.unwrap();
    let getcwd = latencies.get("getcwd").unwrap();
    assert_eq!(getcwd.calls, 30);
    let summary = getcwd.latency_ns.unwrap();
    assert!(summary.p50 > 0 && summary.p99 >= summary.p50);
}

#[test]
fn ltrace_sees_malloc_in_a_rust_binary_with_the_default_pattern() {
    if !have("ltrace") {
        return;
    }
    let outcome = Ltrace::command([workload().to_str().unwrap(), "small", "200"])
        .run()
        .unwrap();
    assert!(
        outcome.summary.calls("malloc") >= 200,
        "{:?}",
        outcome.summary
    );
    assert!(
        outcome.summary.calls("free") >= 200,
        "{:?}",
        outcome.summary
    );
}
