#[macro_use]
extern crate criterion;
use criterion::{black_box, Criterion};
use std::time::Duration;
fn fib(n: u64) -> u64 { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } }
fn benches(c: &mut Criterion) {
    c.bench_function("fib 15", |b| b.iter(|| fib(black_box(15))));
    c.bench_function_over_inputs("sum", |b, &&n| b.iter(|| (0..n).sum::<u64>()), &[100u64, 1000]);
}
criterion_group! { name = g; config = Criterion::default().sample_size(10).warm_up_time(Duration::from_millis(100)).measurement_time(Duration::from_millis(300)); targets = benches }
criterion_main!(g);
