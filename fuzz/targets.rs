//! The fuzz targets: each takes arbitrary bytes and feeds them to one of perfkit's parsers.
//! A target passes when the parser returns (an error is fine) without panicking, within
//! bounded memory, and keeps the invariants asserted here. The same file is compiled by the
//! libFuzzer binaries in `fuzz_targets/` (cargo fuzz, nightly) and by the stable test
//! `crates/perfkit-cli/tests/fuzz_corpora.rs`, which replays every corpus in CI.

use perfkit_pool::Protocol;
use perfkit_pool::frame::fuzzing;
use perfkit_profilers::doctor::inspect_elf;
use perfkit_profilers::{
    FoldedStacks,
    ltrace::{LibcallSummary, LibcallTrace},
    massif::MassifProfile,
    perf::{CountUnit, FoldOptions, fold_perf_script, is_perf_script_header, parse_stat_csv},
    strace::{ProcessTrace, StraceFile, SyscallLatencies, SyscallSummary},
};
use perfkit_regress::{Baseline, criterion_benchmark, parse_hyperfine, parse_perfkit_bench};

/// Every target this file runs (the workload file's target lives in xtask: `workload_toml`).
#[allow(dead_code)]
pub(crate) const TARGETS: &[&str] = &[
    "perf_script",
    "folded",
    "perf_stat_csv",
    "massif",
    "strace_c",
    "strace_t",
    "strace_processes",
    "ltrace_c",
    "ltrace_trace",
    "criterion",
    "hyperfine",
    "perfkit_bench",
    "baseline",
    "rollback",
    "elf",
    "pool_frames",
];

/// Runs target `name` on `data`.
pub(crate) fn run(name: &str, data: &[u8]) {
    let text = || String::from_utf8_lossy(data);
    match name {
        "perf_script" => perf_script(data),
        "folded" => folded(data),
        "perf_stat_csv" => {
            let _ = parse_stat_csv(&text());
        }
        "massif" => massif(&text()),
        "strace_c" => {
            let _ = SyscallSummary::parse(&text());
            let _ = StraceFile::parse(&text());
        }
        "strace_t" => {
            let _ = SyscallLatencies::from_reader(data);
        }
        "strace_processes" => strace_processes(data),
        "ltrace_c" => {
            let _ = LibcallSummary::parse(&text());
        }
        "ltrace_trace" => {
            let _ = LibcallTrace::parse(data);
        }
        "criterion" => {
            // Up to three files separated by NUL bytes: benchmark.json, sample.json,
            // estimates.json.
            let parts: Vec<String> = data
                .splitn(3, |&b| b == 0)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            let get = |i: usize| parts.get(i).map_or("", String::as_str);
            let _ = criterion_benchmark(get(0), get(1), parts.get(2).map(String::as_str));
        }
        "hyperfine" => {
            let _ = parse_hyperfine(&text());
        }
        "perfkit_bench" => {
            let _ = parse_perfkit_bench(&text());
        }
        "baseline" => {
            if let Ok(baseline) = Baseline::from_json(&text()) {
                // What perfkit accepts it can write and read back.
                Baseline::from_json(&baseline.to_json()).expect("a saved baseline reads back");
            }
        }
        "rollback" => {
            let _ = perfkit_sys::tune::Rollback::from_json(&text());
        }
        "elf" => {
            let _ = inspect_elf(data);
        }
        "pool_frames" => {
            let _ = fuzzing::decode_results(Protocol::Framed, data);
            let _ = fuzzing::decode_results(Protocol::Lines, data);
            let _ = fuzzing::decode_tasks(data);
        }
        other => panic!("no fuzz target {other}"),
    }
}

fn perf_script(data: &[u8]) {
    let _ = is_perf_script_header(data);
    for unit in [CountUnit::Samples, CountUnit::Period] {
        let options = FoldOptions {
            unit,
            ..FoldOptions::default()
        };
        if let Ok(fold) = fold_perf_script(data, &options) {
            assert!(fold.stacks.iter().all(|(s, _)| !s.is_empty()));
        }
    }
}

fn strace_processes(data: &[u8]) {
    if let Ok(trace) = ProcessTrace::from_reader(data) {
        let share = trace.spawn_share();
        assert!((0.0..=1.0).contains(&share), "spawn share {share}");
        assert!(trace.programs.len() <= 5);
        assert!(
            trace.wrapper_spawn_ns <= trace.spawn_ns,
            "wrapper starts {} of {}",
            trace.wrapper_spawn_ns,
            trace.spawn_ns
        );
        if trace.command_chain.len() < 2 {
            assert_eq!(trace.wrapper_ns, 0);
        }
    }
}

fn folded(data: &[u8]) {
    if let Ok(folded) = FoldedStacks::from_reader(data) {
        // What perfkit reads it writes back the same.
        let again = FoldedStacks::parse(&folded.to_text()).expect("folded text reads back");
        assert_eq!(again, folded);
        let _ = folded.hot_functions(10);
    }
}

fn massif(text: &str) {
    if let Ok(profile) = MassifProfile::parse(text) {
        let _ = profile.peak();
        let sites = profile.top_sites(usize::MAX);
        let share: f64 = sites.iter().map(|s| s.percent).sum();
        assert!(share <= 100.0 + 1e-6, "sites add up to {share}%");
    }
}
