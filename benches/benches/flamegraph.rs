//! Folding and drawing one very deep stack: the time per frame must not grow with depth
//! (a quadratic step once made a 150,000-frame stack take seconds to tens of seconds).
//!
//! Run: `cargo bench -p perfkit-benches --bench flamegraph`; add `-- --profile-time 5` for a
//! flamegraph and a pprof file of each benchmark under `target/criterion/*/*/profile/`. The group `deep_stack_fold`
//! declares frames as its throughput, so `cargo xtask bench` compares frames per second at
//! 150,000 and at 50,000 frames (`benches/targets.toml`).

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use perfkit_profilers::sampler::SamplingProfiler;
use perfkit_profilers::{
    flamegraph::{FlamegraphOptions, render_flamegraph},
    perf::{FoldOptions, fold_perf_script},
};

/// `perf script` text of one sample whose call stack is `depth` frames deep.
fn deep_sample(depth: usize) -> String {
    let mut text = String::from("app 4242 100.000001: 1 cpu-clock:\n");
    for i in 0..depth {
        let _ = writeln!(
            text,
            "\t{:x} frame_{}+0x1 (/usr/bin/app)",
            0x1000 + i,
            depth - 1 - i
        );
    }
    text.push('\n');
    text
}

/// perf script text → folded stacks → hot functions → SVG, as `perfkit flamegraph` does.
fn fold_and_draw(text: &str) -> usize {
    let folded = fold_perf_script(text.as_bytes(), &FoldOptions::default())
        .expect("folds")
        .stacks;
    let hot = folded.hot_functions(10);
    let mut svg = Vec::new();
    render_flamegraph(&folded, &FlamegraphOptions::default(), &mut svg).expect("draws");
    hot.len() + svg.len()
}

fn deep_stack_fold(c: &mut Criterion) {
    let mut group = c.benchmark_group("deep_stack_fold");
    group.sample_size(10);
    for (name, depth) in [("50k", 50_000usize), ("150k", 150_000)] {
        let text = deep_sample(depth);
        group.throughput(Throughput::Elements(depth as u64));
        group.bench_function(name, |b| b.iter(|| black_box(fold_and_draw(&text))));
    }
    group.finish();
}

criterion_group!(
    name = benches;
    // `-- --profile-time 5` writes a flamegraph and a pprof file per benchmark.
    config = Criterion::default().with_profiler(SamplingProfiler::new(997));
    targets = deep_stack_fold
);
criterion_main!(benches);
