//! Shared inputs for perfkit's workspace benchmarks (see `benches/`).
//!
//! Every benchmark group runs the perfkit part and the peer a user would pick instead, on the
//! same input in the same run, so their time ratio is meaningful on a noisy machine.
//!
//! ```
//! let values = perfkit_benches::log_distributed_values(1000, 7);
//! assert_eq!(values.len(), 1000);
//! assert!(values.iter().all(|&v| (1..=3_600_000_000_000).contains(&v)));
//! ```

pub mod alloc_work;
pub mod copy_work;
pub mod heap_work;
pub mod pool_work;
pub mod sampler_work;

/// One hour in nanoseconds: the top of the benchmark value range.
pub const HOUR_NS: u64 = 3_600_000_000_000;

/// `n` values log-uniformly distributed between 1 ns and 1 hour (in ns), from a fixed seed.
///
/// Log-uniform values exercise every bucket of a latency histogram, which is the hard case for
/// its cache footprint.
#[must_use]
pub fn log_distributed_values(n: usize, seed: u64) -> Vec<u64> {
    let mut state = seed;
    let max_log = (HOUR_NS as f64).ln();
    (0..n)
        .map(|_| {
            // SplitMix64: a fixed, dependency-free generator so every contender sees the same input.
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
            ((unit * max_log).exp() as u64).clamp(1, HOUR_NS)
        })
        .collect()
}
