//! Paired cost check of the tracking allocators: the same workloads as the criterion
//! benchmark (`benches/alloc.rs`), but every contender runs in short turns, rotated, inside
//! one process, and each round's times are divided by the system allocator's time of the
//! same round.
//!
//! Criterion measures each contender for seconds in a row; on a shared VM whose speed drifts
//! by 1.5× between such windows, its ratios move by ±0.2 from run to run. Paired turns cancel
//! that drift: the printed ratio is the median over rounds, with the 10th–90th percentile.
//!
//! ```sh
//! cargo run --release -p perfkit-benches --example alloc_paired            # 8 s per group
//! cargo run --release -p perfkit-benches --example alloc_paired -- 20 batch   # 20 s, one group
//! ```

use std::time::{Duration, Instant};

use perfkit_benches::alloc_work::{BatchPlan, CONTENDERS, on_two_threads, pair, realloc_growth};
use perfkit_benches::with_contender;

/// Times `iters` iterations of a group's workload with contender `which`.
type Work<'a> = &'a dyn Fn(usize, u64) -> Duration;

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

/// Runs rounds for `seconds` and prints each contender's ratio to `system`.
fn group(name: &str, seconds: f64, work: Work<'_>) {
    // Calibrate: about 10 ms per turn for the system allocator.
    let mut iters = 1u64;
    while work(0, iters) < Duration::from_millis(10) {
        iters *= 2;
    }
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); CONTENDERS.len()];
    let mut per_iter: Vec<Vec<f64>> = vec![Vec::new(); CONTENDERS.len()];
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut round = 0usize;
    while Instant::now() < deadline {
        let mut times = [0f64; CONTENDERS.len()];
        for k in 0..CONTENDERS.len() {
            let which = (round + k) % CONTENDERS.len();
            times[which] = work(which, iters).as_secs_f64() * 1e9 / iters as f64;
        }
        for (which, &t) in times.iter().enumerate() {
            ratios[which].push(t / times[0]);
            per_iter[which].push(t);
        }
        round += 1;
    }
    println!("{name} ({round} rounds of {iters} iterations per contender)");
    for (which, contender) in CONTENDERS.iter().enumerate().skip(1) {
        let mut r = ratios[which].clone();
        r.sort_by(f64::total_cmp);
        let mut t = per_iter[which].clone();
        t.sort_by(f64::total_cmp);
        println!(
            "  {contender:<12} {:>10.2} ns/iter   /system {:>6.3}  (p10 {:.3}, p90 {:.3})",
            percentile(&t, 0.5),
            percentile(&r, 0.5),
            percentile(&r, 0.1),
            percentile(&r, 0.9),
        );
    }
    let mut t = per_iter[0].clone();
    t.sort_by(f64::total_cmp);
    println!("  {:<12} {:>10.2} ns/iter", "system", percentile(&t, 0.5));
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = match args.next().map(|s| s.parse()) {
        None => 8.0,
        Some(Ok(s)) if s > 0.0 => s,
        Some(_) => {
            eprintln!("usage: alloc_paired [SECONDS_PER_GROUP] [GROUP_FILTER]");
            std::process::exit(2);
        }
    };
    let filter = args.next().unwrap_or_default();
    let plan = BatchPlan::new();
    let pair_1t = |which: usize, iters: u64| with_contender!(which, |a| timed(|| pair(a, iters)));
    let pair_2t = |which: usize, iters: u64| {
        with_contender!(which, |a| on_two_threads(iters, &|n| pair(a, n)))
    };
    let batch_2t = |which: usize, iters: u64| {
        with_contender!(which, |a| on_two_threads(iters, &|n| plan.run(a, n)))
    };
    let realloc_1t =
        |which: usize, iters: u64| with_contender!(which, |a| timed(|| realloc_growth(a, iters)));
    let groups: [(&str, Work<'_>); 4] = [
        ("alloc_pair_1t", &pair_1t),
        ("alloc_pair_2t", &pair_2t),
        ("alloc_batch_2t", &batch_2t),
        ("alloc_realloc_1t", &realloc_1t),
    ];
    for (name, work) in groups {
        if name.contains(&filter) {
            group(name, seconds, work);
        }
    }
}
