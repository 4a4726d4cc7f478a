//! Process pools and object pools against what a user would write instead.
//!
//! `pool_tiny_tasks`: echo-sized tasks (8 bytes) on 2 workers, in tasks per second:
//! `naive_spawn` (a new `echo` process per task, the task as its argument),
//! `perfkit_unbatched` (a `ProcessPool` sending one task per round trip), `perfkit_batched`
//! (binary frames, batches of 1,024, a `perfkit_pool::worker` echo worker), `perfkit_lines`
//! (line mode, batches of 1,024, `cat` as the worker). Pools are started once per contender,
//! with `pin_workers(true)` (the benchmark has the machine to itself);
//! each iteration runs a fixed number of tasks through `ProcessPool::map_each` (every result
//! checked).
//!
//! `object_pool`: two threads each borrow a 4 KiB buffer 10,000 times: `mutex_vecdeque` (the
//! usual locked `ObjectPool`), `perfkit` (`perfkit_pool::ObjectPool`, lock-free),
//! `fresh_alloc` (a new `Vec` every time).
//!
//! Run: `cargo bench -p perfkit-benches --bench pool`; results in `docs/benchmarks.md`.

use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use perfkit_benches::pool_work::{BUFFER, LockedObjectPool, use_buffer};
use perfkit_pool::{ObjectPool, ProcessPool, Protocol, run_naive};

const NAIVE_TASKS: usize = 50;
const UNBATCHED_TASKS: usize = 20_000;
const BATCHED_TASKS: usize = 1_000_000;

fn tiny_tasks(c: &mut Criterion) {
    let worker = env!("CARGO_BIN_EXE_pool-worker");
    let framed: Vec<[u8; 8]> = (0..BATCHED_TASKS as u64).map(u64::to_le_bytes).collect();
    let lines: Vec<String> = (0..BATCHED_TASKS).map(|i| format!("{i:08}")).collect();
    let mut group = c.benchmark_group("pool_tiny_tasks");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(6));

    group.throughput(Throughput::Elements(NAIVE_TASKS as u64));
    let echo = Command::new("echo");
    group.bench_function("naive_spawn", |b| {
        b.iter(|| {
            let outcomes = run_naive(&echo, &lines[..NAIVE_TASKS]).expect("naive");
            assert!(outcomes.iter().all(|o| o.result.is_ok()));
        });
    });

    let contenders = [
        ("perfkit_unbatched", 1, Protocol::Framed, UNBATCHED_TASKS),
        ("perfkit_batched", 1024, Protocol::Framed, BATCHED_TASKS),
        ("perfkit_lines", 1024, Protocol::Lines, BATCHED_TASKS),
    ];
    for (name, batch, protocol, tasks) in contenders {
        let command = match protocol {
            Protocol::Framed => Command::new(worker),
            Protocol::Lines => Command::new("cat"),
        };
        let pool = ProcessPool::builder(&command)
            .workers(2)
            .max_batch(batch)
            .protocol(protocol)
            .pin_workers(true)
            .build()
            .expect("pool");
        group.throughput(Throughput::Elements(tasks as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut answered = 0usize;
                let count = |_: usize, result: Result<&[u8], &perfkit_pool::TaskError>| {
                    answered += usize::from(result.is_ok_and(|output| output.len() == 8));
                };
                match protocol {
                    Protocol::Framed => pool.map_each(&framed[..tasks], count),
                    Protocol::Lines => pool.map_each(&lines[..tasks], count),
                }
                .expect("map_each");
                assert_eq!(answered, tasks);
            });
        });
    }
    group.finish();
}

const BORROWS: usize = 10_000;

fn object_pool(c: &mut Criterion) {
    let mut group = c.benchmark_group("object_pool");
    group.throughput(Throughput::Elements(2 * BORROWS as u64));
    let locked = LockedObjectPool::new(4, || Vec::<u8>::with_capacity(BUFFER));
    group.bench_function("mutex_vecdeque", |b| {
        b.iter(|| two_threads(|round| use_buffer(&mut locked.acquire(), round)));
    });
    let ours = ObjectPool::new(|| Vec::<u8>::with_capacity(BUFFER), 4);
    ours.prefill(4);
    group.bench_function("perfkit", |b| {
        b.iter(|| two_threads(|round| use_buffer(&mut ours.acquire(), round)));
    });
    group.bench_function("fresh_alloc", |b| {
        b.iter(|| two_threads(|round| use_buffer(&mut Vec::with_capacity(BUFFER), round)));
    });
    group.finish();
}

/// Runs `borrow` `BORROWS` times on each of two threads.
fn two_threads(borrow: impl Fn(u64) -> u64 + Sync) -> u64 {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    (0..BORROWS as u64)
                        .map(&borrow)
                        .fold(0u64, u64::wrapping_add)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .fold(0, u64::wrapping_add)
    })
}

criterion_group!(benches, tiny_tasks, object_pool);
criterion_main!(benches);
