//! Parsers against real output of the real tools (made with the workload program; see
//! tests/data/README.md), and property tests: arbitrary or damaged input is an error value,
//! never a panic.

use perfkit_profilers::{
    FoldedStacks,
    ltrace::LibcallSummary,
    massif::MassifProfile,
    perf::{FoldOptions, fold_perf_script},
    strace::{SyscallLatencies, SyscallSummary},
};
use proptest::prelude::*;

fn data(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn perf_script_folds_into_samples_with_the_hot_function_on_top() {
    let text = data("perf-script.txt");
    let samples = text.lines().filter(|l| l.ends_with("cpu-clock: ")).count() as u64;
    assert!(samples > 150, "{samples}");
    let folded = fold_perf_script(text.as_bytes(), &FoldOptions::default())
        .unwrap()
        .stacks;
    assert_eq!(folded.total(), samples);
    let hot = folded.hot_functions(2);
    assert_eq!(hot[0].name, "workload::perfkit_hot_primes");
    assert!(hot[0].self_percent > 60.0, "{hot:?}");
    assert_eq!(hot[1].name, "workload::perfkit_warm_mix");
    // Folded text round-trips.
    assert_eq!(FoldedStacks::parse(&folded.to_text()).unwrap(), folded);
}

#[test]
fn default_perf_script_fields_count_samples_not_nanoseconds() {
    let text = data("perf-script-default-fields.txt");
    let samples = text.lines().filter(|l| l.contains("cpu-clock")).count() as u64;
    let folded = fold_perf_script(text.as_bytes(), &FoldOptions::default())
        .unwrap()
        .stacks;
    assert_eq!(folded.total(), samples);
}

#[test]
fn massif_fixture_has_the_ten_megabyte_block_at_the_peak() {
    let profile = MassifProfile::parse(&data("massif.out")).unwrap();
    assert_eq!(
        profile.time_unit,
        perfkit_profilers::massif::TimeUnit::Instructions
    );
    assert!(profile.cmd.contains("alloc 10000000"));
    let peak = profile.peak().unwrap();
    assert!(peak.heap >= 10_000_000);
    let top = &profile.top_sites(1)[0];
    assert_eq!(top.bytes, 10_000_000);
    assert!(
        top.site.starts_with("workload::perfkit_big_allocation"),
        "{top:?}"
    );
}

#[test]
fn strace_summaries_with_and_without_wall_clock() {
    for name in ["strace-c.txt", "strace-c-w.txt"] {
        let summary = SyscallSummary::parse(&data(name)).unwrap();
        assert_eq!(summary.calls("getcwd"), 50, "{name}");
        assert!(summary.calls("openat") >= 50, "{name}");
        let total = summary.tables[0].total.as_ref().unwrap();
        assert_eq!(total.calls, summary.total_calls(), "{name}");
        assert!(summary.errors("access") >= 1, "{name}");
    }
}

#[test]
fn strace_traces_with_forks_and_resumed_calls() {
    let single = SyscallLatencies::parse(&data("strace-T.txt")).unwrap();
    assert_eq!(single.get("getcwd").unwrap().calls, 20);
    let forked = SyscallLatencies::parse(&data("strace-T-fork.txt")).unwrap();
    assert!(forked.get("wait4").is_some() || forked.get("clone").is_some());
    assert!(forked.signals >= 1);
}

#[test]
fn ltrace_summary_of_malloc_and_free() {
    let summary = LibcallSummary::parse(&data("ltrace-c.txt")).unwrap();
    assert!(summary.calls("malloc") >= 200);
    assert!(summary.calls("free") >= 200);
    assert!(summary.total.is_some());
}

/// Damages a fixture: cuts it, drops a line, or flips a byte to another printable one.
fn damaged(text: &str, cut: usize, drop_line: usize, flip: usize, byte: u8) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    if !lines.is_empty() {
        let i = drop_line % lines.len();
        lines.remove(i);
    }
    let mut out = lines.join("\n").into_bytes();
    if !out.is_empty() {
        let i = flip % out.len();
        out[i] = byte;
        out.truncate(cut % (out.len() + 1));
    }
    String::from_utf8_lossy(&out).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_text_never_panics(text in "(?s).{0,400}") {
        let _ = FoldedStacks::parse(&text);
        let _ = fold_perf_script(text.as_bytes(), &FoldOptions::default());
        let _ = MassifProfile::parse(&text);
        let _ = SyscallSummary::parse(&text);
        let _ = SyscallLatencies::parse(&text);
        let _ = LibcallSummary::parse(&text);
    }

    #[test]
    fn damaged_fixtures_never_panic(
        cut in any::<usize>(),
        drop_line in any::<usize>(),
        flip in any::<usize>(),
        byte in 32u8..127,
    ) {
        let _ = fold_perf_script(damaged(&data("perf-script.txt"), cut, drop_line, flip, byte).as_bytes(), &FoldOptions::default());
        let _ = MassifProfile::parse(&damaged(&data("massif.out"), cut, drop_line, flip, byte));
        let _ = SyscallSummary::parse(&damaged(&data("strace-c.txt"), cut, drop_line, flip, byte));
        let _ = SyscallLatencies::parse(&damaged(&data("strace-T-fork.txt"), cut, drop_line, flip, byte));
        let _ = LibcallSummary::parse(&damaged(&data("ltrace-c.txt"), cut, drop_line, flip, byte));
    }

    #[test]
    fn folded_text_round_trips(stacks in proptest::collection::vec(("[a-z:<> ,]{1,12}(;[a-z:<> ,]{1,12}){0,4}", 1u64..1000), 0..20)) {
        let mut folded = FoldedStacks::new();
        for (stack, count) in &stacks {
            let stack = stack.trim();
            if stack.is_empty() || stack.split(';').any(|f| f.trim() != f || f.is_empty()) {
                continue;
            }
            folded.add(stack, *count);
        }
        let parsed = FoldedStacks::parse(&folded.to_text());
        prop_assume!(parsed.is_ok());
        prop_assert_eq!(parsed.unwrap(), folded);
    }
}
