//! criterion's `--profile-time` with perfkit's `SamplingProfiler`: a flamegraph and a pprof
//! file in each benchmark's profile directory, readable by `go tool pprof`.

use std::hint::black_box;
use std::process::Command;
use std::time::Duration;

use criterion::Criterion;
use perfkit_profilers::sampler::SamplingProfiler;
use perfkit_testkit::have;

#[inline(never)]
fn profiled_spin(rounds: u64) -> u64 {
    let mut x = black_box(7u64);
    for i in 0..rounds {
        x = x.rotate_left(3) ^ i;
    }
    x
}

#[test]
fn profile_time_writes_a_flamegraph_and_a_pprof_file_per_benchmark() {
    let dir = tempfile::tempdir().unwrap();
    let mut criterion = Criterion::default()
        .output_directory(dir.path())
        .profile_time(Some(Duration::from_millis(800)))
        .with_profiler(SamplingProfiler::new(997));
    criterion.bench_function("spin", |b| b.iter(|| profiled_spin(black_box(100_000))));
    let profile = dir.path().join("spin/profile");
    let svg = std::fs::read_to_string(profile.join("flamegraph.svg")).unwrap();
    assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("profiled_spin"), "the hot function is drawn");
    let pprof = profile.join("profile.pb.gz");
    assert_eq!(std::fs::read(&pprof).unwrap()[..2], [0x1f, 0x8b]);
    if !have("go") {
        return;
    }
    let top = Command::new("go")
        .args(["tool", "pprof", "-top", "-symbolize=none"])
        .arg(&pprof)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&top.stdout);
    assert!(
        top.status.success(),
        "{}",
        String::from_utf8_lossy(&top.stderr)
    );
    assert!(text.contains("profiled_spin"), "{text}");
}
