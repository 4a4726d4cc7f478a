use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;
fn fib(n: u64) -> u64 { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } }
fn benches(c: &mut Criterion) {
    c.bench_function("fib 15", |b| b.iter(|| fib(black_box(15))));
    let mut group = c.benchmark_group("sum");
    for n in [100u64, 1000].iter() {
        group.throughput(Throughput::Elements(*n));
        group.bench_with_input(BenchmarkId::from_parameter(n), n, |b, &n| b.iter(|| (0..n).sum::<u64>()));
    }
    group.finish();
    let mut flat = c.benchmark_group("flat");
    flat.sampling_mode(criterion::SamplingMode::Flat);
    flat.bench_function("copy", |b| b.iter(|| vec![1u8; 4096]));
    flat.finish();
}
criterion_group! { name = g; config = Criterion::default().sample_size(10).warm_up_time(Duration::from_millis(100)).measurement_time(Duration::from_millis(300)); targets = benches }
criterion_main!(g);
