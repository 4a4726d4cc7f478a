//! Histogram benchmarks: perfkit-metrics against the `hdrhistogram` crate and the plain
//! approach (push every sample into a Vec, sort, index the percentiles).
//!
//! Run: `cargo bench -p perfkit-benches --bench histogram`. Compare the contenders of each group
//! as a ratio of their times; targets are in `docs/benchmarks.md`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use perfkit_benches::{HOUR_NS, log_distributed_values};
use perfkit_metrics::{ConcurrentHistogram, Histogram};

const RECORD_N: usize = 1_000_000;
const QUANTILE_N: usize = 10_000_000;
const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

fn histogram_record(c: &mut Criterion) {
    let values = log_distributed_values(RECORD_N, 1);
    let mut group = c.benchmark_group("histogram_record");
    group.throughput(Throughput::Elements(RECORD_N as u64));
    group.sample_size(20);
    group.bench_function("perfkit", |b| {
        b.iter(|| {
            let mut h = Histogram::with_max(HOUR_NS, 3).expect("valid precision");
            for &v in &values {
                h.record(v);
            }
            black_box(h.quantiles(QUANTILES))
        });
    });
    group.bench_function("hdrhistogram", |b| {
        b.iter(|| {
            let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, HOUR_NS, 3)
                .expect("valid bounds");
            for &v in &values {
                h.record(v).expect("value in range");
            }
            black_box(QUANTILES.map(|q| h.value_at_quantile(q)))
        });
    });
    group.bench_function("sorted_vec", |b| {
        b.iter(|| {
            // What most code does: collect Durations, sort, index.
            let mut samples: Vec<Duration> = Vec::new();
            for &v in &values {
                samples.push(Duration::from_nanos(v));
            }
            samples.sort();
            let len = samples.len();
            black_box([
                samples[len / 2],
                samples[len * 9 / 10],
                samples[len * 99 / 100],
                samples[len * 999 / 1000],
            ])
        });
    });
    group.finish();
}

fn histogram_quantiles(c: &mut Criterion) {
    let values = log_distributed_values(QUANTILE_N, 2);
    let mut ours = Histogram::with_max(HOUR_NS, 3).expect("valid precision");
    let mut theirs =
        hdrhistogram::Histogram::<u64>::new_with_bounds(1, HOUR_NS, 3).expect("valid bounds");
    for &v in &values {
        ours.record(v);
        theirs.record(v).expect("value in range");
    }
    drop(values);
    let mut group = c.benchmark_group("histogram_quantiles");
    group.bench_function("perfkit", |b| {
        b.iter(|| black_box(&ours).quantiles(QUANTILES));
    });
    group.bench_function("hdrhistogram", |b| {
        b.iter(|| {
            let h = black_box(&theirs);
            QUANTILES.map(|q| h.value_at_quantile(q))
        });
    });
    group.finish();
}

fn histogram_concurrent_2t(c: &mut Criterion) {
    const PER_THREAD: usize = RECORD_N / 2;
    let values = log_distributed_values(RECORD_N, 3);
    let (left, right) = values.split_at(PER_THREAD);
    let mut group = c.benchmark_group("histogram_concurrent_2t");
    group.throughput(Throughput::Elements(RECORD_N as u64));
    group.sample_size(20);
    group.bench_function("perfkit", |b| {
        b.iter_batched(
            ConcurrentHistogram::new,
            |shared| {
                std::thread::scope(|s| {
                    for part in [left, right] {
                        let mut recorder = shared.recorder();
                        s.spawn(move || {
                            for &v in part {
                                recorder.record(v);
                            }
                        });
                    }
                });
                black_box(shared.snapshot().quantiles(QUANTILES))
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_function("hdrhistogram", |b| {
        b.iter_batched(
            || {
                hdrhistogram::Histogram::<u64>::new_with_bounds(1, HOUR_NS, 3)
                    .expect("valid bounds")
                    .into_sync()
            },
            |mut shared| {
                std::thread::scope(|s| {
                    for part in [left, right] {
                        let mut recorder = shared.recorder();
                        s.spawn(move || {
                            for &v in part {
                                recorder.record(v).expect("value in range");
                            }
                        });
                    }
                });
                shared.refresh();
                black_box(QUANTILES.map(|q| shared.value_at_quantile(q)))
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    targets = histogram_record, histogram_quantiles, histogram_concurrent_2t
);
criterion_main!(benches);
