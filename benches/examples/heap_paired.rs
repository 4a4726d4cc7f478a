//! Paired cost check of heap profiling: the workload of `heap_profile_overhead` run in short
//! turns, the contenders rotated inside one process, each turn's time divided by the system
//! allocator's in the same round (criterion measures each contender for seconds in a row,
//! and this VM's speed drifts between such windows).
//!
//! ```sh
//! cargo run --release -p perfkit-benches --example heap_paired          # 20 s
//! cargo run --release -p perfkit-benches --example heap_paired -- 60     # 60 s
//! ```

use std::time::{Duration, Instant};

use perfkit_benches::heap_work::{SYSTEM, Switch, TRACKING, timed};

#[global_allocator]
static GLOBAL: Switch = Switch;

/// Nanoseconds per workload run of `iters` runs: system (0), counters (1) or sampled (2).
fn turn(which: usize, iters: u64) -> f64 {
    let mode = if which == 0 { SYSTEM } else { TRACKING };
    timed(mode, which == 2, iters).as_secs_f64() * 1e9 / iters as f64
}

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20.0);
    let names = ["system", "perfkit_counters", "perfkit_sampled_512k"];
    let iters = 5;
    let mut ratios: [Vec<f64>; 3] = Default::default();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut round = 0usize;
    while Instant::now() < deadline {
        let mut times = [0f64; 3];
        for k in 0..3 {
            let which = (round + k) % 3;
            times[which] = turn(which, iters);
        }
        ratios[0].push(times[1] / times[0]);
        ratios[1].push(times[2] / times[0]);
        ratios[2].push(times[2] / times[1]);
        round += 1;
    }
    println!("heap_profile_overhead, paired ({round} rounds of {iters} runs per contender)");
    let labels = [
        format!("{} / {}", names[1], names[0]),
        format!("{} / {}", names[2], names[0]),
        format!("{} / {}", names[2], names[1]),
    ];
    for (label, r) in labels.iter().zip(ratios.iter_mut()) {
        r.sort_by(f64::total_cmp);
        let at = |p: f64| r[((r.len() - 1) as f64 * p).round() as usize];
        println!(
            "  {label:<42} median {:.4}  (p10 {:.4}, p90 {:.4})",
            at(0.5),
            at(0.1),
            at(0.9)
        );
    }
}
