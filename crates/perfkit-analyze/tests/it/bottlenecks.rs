//! Real runs of small programs with one known bottleneck each: the analysis names it first.

use perfkit_analyze::{AnalyzeOptions, BottleneckKind, HeapMode, analyze};
use perfkit_sys::NoObserver;
use perfkit_testkit::have;

fn argv(parts: &[&str]) -> Vec<String> {
    parts.iter().map(ToString::to_string).collect()
}

/// strace only (perf adds nothing to these verdicts and is tested in perfkit-profilers).
fn options() -> AnalyzeOptions {
    AnalyzeOptions {
        runs: 3,
        warmup: 0,
        profile: false,
        syscalls: true,
        ..AnalyzeOptions::default()
    }
}

fn first(command: &[&str], opts: &AnalyzeOptions) -> (BottleneckKind, perfkit_analyze::Analysis) {
    let a = analyze(&argv(command), opts, &mut NoObserver).unwrap();
    let kind = a
        .bottlenecks
        .first()
        .unwrap_or_else(|| panic!("nothing named for {command:?}: {:#?}", a.measurements))
        .kind;
    (kind, a)
}

#[test]
fn a_spawn_storm_is_spawn_heavy() {
    if !have("strace") {
        return;
    }
    let (kind, a) = first(
        &["sh", "-c", "for i in $(seq 150); do /bin/true; done"],
        &options(),
    );
    assert_eq!(kind, BottleneckKind::SpawnHeavy, "{:#?}", a.bottlenecks);
    assert!(a.recommendations[0].perfkit.contains("perfkit pool"));
}

#[test]
fn a_sleep_is_waiting() {
    if !have("strace") {
        return;
    }
    let (kind, a) = first(&["sleep", "0.2"], &options());
    assert_eq!(kind, BottleneckKind::Waiting, "{:#?}", a.bottlenecks);
}

#[test]
fn a_syscall_storm_is_syscall_heavy() {
    if !have("strace") {
        return;
    }
    // 30,000 × (open, write one byte, close, getcwd): calls that move no data to speak of.
    let workload = perfkit_testkit::workload().to_string_lossy().into_owned();
    let (kind, a) = first(&[&workload, "syscalls", "30000"], &options());
    assert_eq!(kind, BottleneckKind::SyscallHeavy, "{:#?}", a.bottlenecks);
    let s = a.measurements.syscalls.as_ref().unwrap();
    assert!(s.calls >= 120_000.0, "{s:?}");
}

#[test]
fn one_byte_reads_and_writes_are_small_io_calls() {
    if !have("strace") {
        return;
    }
    // One byte per read and per write: 100,000 system calls that move 100 KB. The writes go
    // to a file, as a program's would: into /dev/null they cost the kernel so little that on
    // some machines the user side of the loop outweighs them and the run reads as CPU-bound.
    let dir = tempfile::tempdir().unwrap();
    let of = format!("of={}", dir.path().join("out").display());
    let (kind, a) = first(
        &[
            "dd",
            "if=/dev/zero",
            &of,
            "bs=1",
            "count=50000",
            "status=none",
        ],
        &options(),
    );
    assert_eq!(kind, BottleneckKind::SmallIo, "{:#?}", a.bottlenecks);
    assert!(
        a.bottlenecks[0].evidence[0].contains("1 B per call"),
        "{:#?}",
        a.bottlenecks
    );
    assert!(a.recommendations[0].action.contains("larger blocks"));
    // The kernel time is those calls: not named twice.
    assert!(
        !a.bottlenecks
            .iter()
            .any(|b| b.kind == BottleneckKind::SyscallHeavy)
    );
}

#[test]
fn a_cpu_loop_is_cpu_bound() {
    // awk computing in a loop: user time, almost no system calls.
    let (kind, a) = first(
        &[
            "awk",
            "BEGIN { s = 0; for (i = 0; i < 3000000; i++) s += i * i; print s }",
        ],
        &AnalyzeOptions {
            syscalls: false,
            ..options()
        },
    );
    assert_eq!(kind, BottleneckKind::CpuBound, "{:#?}", a.bottlenecks);
}

/// mawk doubling a string to 268 MB: about 100,000 first touches of new pages, a few dozen
/// system calls.
const BIG_ALLOCATION: &str =
    "BEGIN { s = \"xxxxxxxxxxxxxxxx\"; while (length(s) < 200000000) s = s s; print length(s) }";

#[test]
fn a_big_allocation_is_memory_heavy() {
    if !have("strace") {
        return;
    }
    let (kind, a) = first(&["awk", BIG_ALLOCATION], &options());
    assert_eq!(
        kind,
        BottleneckKind::MemoryHeavy,
        "{:#?}\n{:#?}",
        a.bottlenecks,
        a.measurements
    );
    assert!(
        a.measurements.peak_rss_bytes >= 268_435_456,
        "{:#?}",
        a.measurements
    );
    assert!(a.recommendations[0].perfkit.contains("perfkit heap"));
}

/// The awk program's peak and its site, under the heap profiler `mode`.
fn heap_peak_and_site(mode: HeapMode) {
    // A smaller string (33 MB) keeps the run under valgrind short.
    let program = BIG_ALLOCATION.replace("200000000", "20000000");
    let a = analyze(
        &argv(&["awk", &program]),
        &AnalyzeOptions {
            syscalls: false,
            heap: true,
            heap_mode: mode,
            ..options()
        },
        &mut NoObserver,
    )
    .unwrap();
    let heap = a
        .heap
        .as_ref()
        .unwrap_or_else(|| panic!("{:?}", a.unavailable));
    assert_eq!(heap.mode, mode);
    // The last doubling holds the 16 MB and the 33 MB strings at once.
    assert!(heap.peak_heap_bytes >= 33_554_432, "{heap:#?}");
    assert_eq!(a.measurements.heap_peak_bytes, Some(heap.peak_heap_bytes));
    let top = heap.sites.first().expect("no allocation site");
    assert!(top.bytes >= 33_554_432 && top.percent > 50.0, "{heap:#?}");
}

#[test]
fn the_heap_profile_finds_the_peak_and_its_site() {
    if !have("valgrind") {
        return;
    }
    heap_peak_and_site(HeapMode::Exact);
}

#[test]
fn the_sampled_heap_profile_finds_the_peak_and_its_site() {
    heap_peak_and_site(HeapMode::Sampled);
}
