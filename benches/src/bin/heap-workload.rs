//! `heap_profile_overhead`'s workload as a program of its own, with the system allocator, for
//! `benches/heap_vs_tools.sh` to run under each heap profiler: `heap-workload [RUNS]`.

fn main() {
    let runs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let sum: u64 = (0..runs).map(perfkit_benches::heap_work::index_words).sum();
    println!("{sum}");
}
