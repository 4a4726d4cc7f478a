//! Paired overhead check of the in-process sampler: the workloads of `benches/sampler.rs`, but
//! the contenders (`none`, `perfkit`, `pprof_rs`) take short turns, rotated, in one process,
//! and each round's times are divided by the same round's `none` and `pprof_rs` times.
//!
//! Criterion times each contender for seconds in a row, and this machine's speed drifts by a
//! few percent between such windows, more than the 1% the 99 Hz target allows. Turns of half a
//! second, in every order, cancel the drift: the printed ratio is the median over rounds, with
//! the 10th and 90th percentiles.
//!
//! ```sh
//! cargo run --release -p perfkit-benches --example sampler_paired              # 60 s a case
//! cargo run --release -p perfkit-benches --example sampler_paired -- 60 cpu    # 60 s, cpu only
//! ```

use std::time::{Duration, Instant};

use perfkit_benches::sampler_work::{Job, Workers};
use perfkit_metrics::stats::quantile_sorted;
use perfkit_profilers::sampler::{Sampler, SamplerOptions};

const CONTENDERS: [&str; 3] = ["none", "perfkit", "pprof_rs"];

/// Rounds of the workers per turn: about half a second, so that a turn holds the sampler's
/// periodic listing of threads (every 200 ms) as well as its drains.
const ROUNDS_PER_TURN: usize = 40;

/// Every order of the three contenders, taken in turn, so that none always follows another.
const ORDERS: [[usize; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
];

/// Times one turn of `job` under contender `which` sampling at `hz`; the profiler starts
/// before the clock and stops after it.
fn turn(workers: &Workers, job: Job, which: usize, hz: i32) -> Duration {
    let run = || {
        let start = Instant::now();
        for _ in 0..ROUNDS_PER_TURN {
            workers.round(job);
        }
        start.elapsed()
    };
    match which {
        1 => {
            let sampler = Sampler::start(SamplerOptions {
                frequency: hz.unsigned_abs(),
                ..SamplerOptions::default()
            })
            .expect("perfkit's sampler starts");
            let took = run();
            drop(sampler.stop());
            took
        }
        2 => {
            let guard = pprof::ProfilerGuardBuilder::default()
                .frequency(hz)
                .blocklist(&["libc", "libgcc", "pthread", "vdso"])
                .build()
                .expect("pprof-rs starts");
            let took = run();
            drop(guard);
            took
        }
        _ => run(),
    }
}

/// Runs rounds for `seconds` and prints perfkit's ratios to `none` and to `pprof_rs`.
fn case(workers: &Workers, name: &str, job: Job, hz: i32, seconds: f64) {
    let mut to_none = Vec::new();
    let mut to_pprof = Vec::new();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut round = 0;
    while Instant::now() < deadline {
        let mut times = [0.0; CONTENDERS.len()];
        for which in ORDERS[round % ORDERS.len()] {
            times[which] = turn(workers, job, which, hz).as_secs_f64();
        }
        to_none.push(times[1] / times[0]);
        to_pprof.push(times[1] / times[2]);
        round += 1;
    }
    if round == 0 {
        println!("{name}_{hz}hz: no round fit in {seconds} s");
        return;
    }
    to_none.sort_by(f64::total_cmp);
    to_pprof.sort_by(f64::total_cmp);
    // Rounds ran, so every quantile exists.
    let q = |sorted: &[f64], p| quantile_sorted(sorted, p).unwrap_or(f64::NAN);
    println!(
        "{name}_{hz}hz ({round} rounds): perfkit/none {:.4} (p10 {:.4}, p90 {:.4}); perfkit/pprof_rs {:.4} (p10 {:.4}, p90 {:.4})",
        q(&to_none, 0.5),
        q(&to_none, 0.1),
        q(&to_none, 0.9),
        q(&to_pprof, 0.5),
        q(&to_pprof, 0.1),
        q(&to_pprof, 0.9),
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = match args.next().map(|s| s.parse()) {
        None => 60.0,
        Some(Ok(s)) if s > 0.0 => s,
        Some(_) => {
            eprintln!("usage: sampler_paired [SECONDS_PER_CASE] [WORKLOAD_FILTER]");
            std::process::exit(2);
        }
    };
    let filter = args.next().unwrap_or_default();
    let workers = Workers::new();
    for (name, job) in [("cpu", Job::Cpu), ("alloc", Job::Alloc)] {
        if !name.contains(&filter) {
            continue;
        }
        for hz in [99, 999] {
            case(&workers, name, job, hz, seconds);
        }
    }
}
