//! Measurement math for perfkit: no I/O, no `unsafe`, no OS calls.
//!
//! - [`Histogram`]: HDR-style log-linear histogram of `u64` values (nanoseconds by default) with
//!   bounded relative error, `O(1)` recording that never fails, merging, several quantiles in one
//!   pass, coordinated-omission correction and a compact serde form.
//! - [`ConcurrentHistogram`]: several threads record without a lock; readers merge.
//! - [`Summary`]: count, min, max, mean, stddev, p50/p90/p99/p999 from a histogram or exactly
//!   from a slice.
//! - [`PerformanceMetrics`], [`PerformanceBaseline`], [`Acceptance`]: the classic
//!   metrics, with every violated limit listed with both numbers.
//! - [`Bench`]: a closure benchmark harness (warm-up, iterations or time budget).
//! - [`CpuProfiler`]: named sections, thread-safe, with per-section percentiles.
//! - [`IoMonitor`], [`MonitoredReader`], [`MonitoredWriter`]: bytes, calls and time of I/O.
//! - [`stats`]: bootstrap confidence intervals; [`format_duration`] and friends for output.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use perfkit_metrics::{Histogram, PerformanceBaseline, PerformanceMetrics, Summary};
//!
//! let mut latencies = Histogram::new();
//! for i in 1..=10_000u64 {
//!     latencies.record(50_000 + i * 10); // 50 µs .. 150 µs
//! }
//! let summary = Summary::from_histogram(&latencies).unwrap();
//! assert!(summary.p99 >= 149_000 && summary.p99 <= 149_150);
//!
//! let metrics = PerformanceMetrics::from_histogram(&latencies, Duration::from_secs(1));
//! let baseline = PerformanceBaseline {
//!     max_p99_latency: Some(Duration::from_micros(200)),
//!     min_throughput: Some(5_000.0),
//!     ..Default::default()
//! };
//! assert!(metrics.check(&baseline).is_acceptable());
//! ```
#![forbid(unsafe_code)]

mod bench;
mod concurrent;
mod format;
pub mod histogram;
mod io;
pub mod markdown;
mod performance;
mod profiler;
pub mod stats;
mod summary;

pub use bench::{Bench, BenchResult, Limit};
pub use concurrent::{ConcurrentHistogram, Recorder};
pub use format::{
    duration_unit, format_bytes, format_duration, format_duration_to, format_rate,
    format_std_duration, group_thousands, shorten_middle,
};
pub use histogram::{Bucket, DEFAULT_SIGNIFICANT_DIGITS, Histogram};
pub use io::{IoMonitor, IoStats, MonitoredReader, MonitoredWriter};
pub use performance::{
    Acceptance, Criterion, PerformanceBaseline, PerformanceMetrics, Violation, throughput,
};
pub use profiler::{CpuProfiler, ProfileReport, ScopeGuard, SectionReport};
pub use summary::Summary;

/// Errors of this crate.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricsError {
    /// A histogram precision outside 1..=5 significant digits.
    #[error(
        "histogram precision of {digits} significant digits is not supported: use 1 to 5 (3 gives 0.1% relative error)"
    )]
    InvalidPrecision {
        /// The rejected number of digits.
        digits: u8,
    },
}

/// Serde helpers: a `Duration` as whole nanoseconds (`u64`), so JSON stays readable.
pub mod serde_ns {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises a duration as nanoseconds, saturating at `u64::MAX`.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Reads nanoseconds into a duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_nanos)
    }

    /// The same for `Option<Duration>` (`null` for `None`).
    pub mod option {
        use std::time::Duration;

        use serde::{Deserialize, Deserializer, Serializer};

        /// Serialises an optional duration as nanoseconds or `null`.
        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        /// Reads optional nanoseconds.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            Option::<u64>::deserialize(d).map(|o| o.map(Duration::from_nanos))
        }
    }
}
