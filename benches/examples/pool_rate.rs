//! Tasks per second of each `pool_tiny_tasks` contender, outside criterion (quick look):
//! `cargo run --release -p perfkit-benches --example pool_rate [-- TASKS [FILTER]]`.

use std::process::Command;
use std::time::Instant;

use perfkit_pool::{ProcessPool, Protocol};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let only = std::env::args().nth(2).unwrap_or_default();
    let worker = std::env::current_exe()
        .expect("own path")
        .parent()
        .and_then(|p| p.parent())
        .map(|dir| dir.join("pool-worker"))
        .expect("target dir");
    let inputs: Vec<[u8; 8]> = (0..n as u64).map(u64::to_le_bytes).collect();
    for (name, batch, protocol, cmd) in [
        (
            "perfkit_unbatched",
            1,
            Protocol::Framed,
            Command::new(&worker),
        ),
        (
            "perfkit_batched",
            1024,
            Protocol::Framed,
            Command::new(&worker),
        ),
        ("perfkit_lines", 1024, Protocol::Lines, Command::new("cat")),
    ] {
        if !name.contains(&only) {
            continue;
        }
        let pool = ProcessPool::builder(&cmd)
            .workers(2)
            .max_batch(batch)
            .protocol(protocol)
            .build()
            .expect("pool");
        let count = if batch == 1 { n / 20 } else { n };
        let lines: Vec<String> = if protocol == Protocol::Lines {
            (0..count).map(|i| format!("{i:08}")).collect()
        } else {
            Vec::new()
        };
        let started = Instant::now();
        let outcomes = if protocol == Protocol::Lines {
            pool.run(&lines)
        } else {
            pool.run(&inputs[..count])
        }
        .expect("run");
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(outcomes.len(), count);
        println!(
            "{name:<18} {:>12.0} tasks/s ({count} tasks, run)",
            count as f64 / secs
        );
        let started = Instant::now();
        let mut bytes = 0usize;
        let visit = |_: usize, result: Result<&[u8], &perfkit_pool::TaskError>| {
            bytes += result.map_or(0, <[u8]>::len);
        };
        if protocol == Protocol::Lines {
            pool.map_each(&lines, visit)
        } else {
            pool.map_each(&inputs[..count], visit)
        }
        .expect("map_each");
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(bytes, 8 * count);
        println!(
            "{name:<18} {:>12.0} tasks/s ({count} tasks, map_each)",
            count as f64 / secs
        );
    }
}
