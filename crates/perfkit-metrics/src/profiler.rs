//! Named-section CPU profiler: time the sections of a program by name, from any thread.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::format::format_duration;
use crate::histogram::Histogram;

/// Times named sections of code, thread-safe.
///
/// Each section keeps a histogram of its durations, so the report has counts, means and tail
/// percentiles, not only totals. Shares in the report are of the *sum of all section times*
/// (the usual definition); nested or concurrent sections make that sum exceed wall time, so
/// the report also gives the wall time since the profiler was created.
///
/// ```
/// use perfkit_metrics::CpuProfiler;
///
/// let profiler = CpuProfiler::new();
/// let total = profiler.profile("compute", || (0..10_000u64).sum::<u64>());
/// {
///     let _guard = profiler.scope("wait");
///     std::thread::sleep(std::time::Duration::from_millis(2));
/// }
/// let report = profiler.report();
/// assert_eq!(report.sections[0].name, "wait"); // sorted by total time
/// assert_eq!(report.sections.len(), 2);
/// println!("{report}");
/// # let _ = total;
/// ```
#[derive(Debug)]
pub struct CpuProfiler {
    created: Instant,
    sections: Mutex<HashMap<String, Histogram>>,
}

impl Default for CpuProfiler {
    fn default() -> Self {
        Self::new()
    }
}

/// Records the time from its creation to its drop under a section name.
#[derive(Debug)]
#[must_use = "the section is timed until the guard is dropped"]
pub struct ScopeGuard<'a> {
    profiler: &'a CpuProfiler,
    name: &'a str,
    start: Instant,
}

impl Drop for ScopeGuard<'_> {
    fn drop(&mut self) {
        self.profiler.record(self.name, self.start.elapsed());
    }
}

impl CpuProfiler {
    /// An empty profiler; its wall clock starts now.
    #[must_use]
    pub fn new() -> Self {
        Self {
            created: Instant::now(),
            sections: Mutex::new(HashMap::new()),
        }
    }

    /// Times the section `name` until the returned guard is dropped.
    pub fn scope<'a>(&'a self, name: &'a str) -> ScopeGuard<'a> {
        ScopeGuard {
            profiler: self,
            name,
            start: Instant::now(),
        }
    }

    /// Runs `f`, timing it under `name`, and returns its result. If `f` panics, nothing is
    /// recorded and the panic continues.
    pub fn profile<R>(&self, name: &str, f: impl FnOnce() -> R) -> R {
        let start = Instant::now();
        let result = f();
        self.record(name, start.elapsed());
        result
    }

    /// Adds one timing of `name` measured elsewhere.
    pub fn record(&self, name: &str, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let mut sections = self.sections.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(h) = sections.get_mut(name) {
            h.record(ns);
        } else {
            let mut h = Histogram::new();
            h.record(ns);
            sections.insert(name.to_string(), h);
        }
    }

    /// Removes every section and restarts the wall clock.
    pub fn reset(&mut self) {
        self.sections
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.created = Instant::now();
    }

    /// Every section, sorted by total time (largest first), with share, count, mean and p99.
    #[must_use]
    pub fn report(&self) -> ProfileReport {
        let sections = self.sections.lock().unwrap_or_else(PoisonError::into_inner);
        let grand: u128 = sections.values().map(Histogram::sum).sum();
        let mut rows: Vec<SectionReport> = sections
            .iter()
            .map(|(name, h)| {
                let total = h.sum();
                let [p50, p99] = h.quantiles([0.5, 0.99]).unwrap_or([0; 2]);
                SectionReport {
                    name: name.clone(),
                    total: Duration::from_nanos(u64::try_from(total).unwrap_or(u64::MAX)),
                    percent: if grand > 0 {
                        total as f64 / grand as f64 * 100.0
                    } else {
                        0.0
                    },
                    count: h.count(),
                    mean: Duration::from_nanos(h.mean().unwrap_or(0.0) as u64),
                    p50: Duration::from_nanos(p50),
                    p99: Duration::from_nanos(p99),
                    max: Duration::from_nanos(h.max().unwrap_or(0)),
                }
            })
            .collect();
        rows.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.name.cmp(&b.name)));
        ProfileReport {
            wall: self.created.elapsed(),
            sections: rows,
        }
    }
}

/// One section of a [`ProfileReport`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SectionReport {
    /// Section name.
    pub name: String,
    /// Sum of all timings.
    #[serde(rename = "total_ns", with = "crate::serde_ns")]
    pub total: Duration,
    /// Share of the sum of every section's total, in percent.
    pub percent: f64,
    /// Number of timings.
    pub count: u64,
    /// Mean timing.
    #[serde(rename = "mean_ns", with = "crate::serde_ns")]
    pub mean: Duration,
    /// Median timing.
    #[serde(rename = "p50_ns", with = "crate::serde_ns")]
    pub p50: Duration,
    /// 99th percentile timing.
    #[serde(rename = "p99_ns", with = "crate::serde_ns")]
    pub p99: Duration,
    /// Longest timing.
    #[serde(rename = "max_ns", with = "crate::serde_ns")]
    pub max: Duration,
}

/// The result of [`CpuProfiler::report`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileReport {
    /// Wall time since the profiler was created or reset.
    #[serde(rename = "wall_ns", with = "crate::serde_ns")]
    pub wall: Duration,
    /// Sections, largest total first.
    pub sections: Vec<SectionReport>,
}

impl fmt::Display for ProfileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .sections
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(7)
            // A longer name overflows its column; a width past u16::MAX would not format.
            .clamp(7, 100);
        writeln!(
            f,
            "{:<width$}  {:>10}  {:>6}  {:>8}  {:>10}  {:>10}",
            "section", "total", "share", "count", "mean", "p99"
        )?;
        let d = |d: Duration| format_duration(d.as_nanos() as f64);
        for s in &self.sections {
            writeln!(
                f,
                "{:<width$}  {:>10}  {:>5.1}%  {:>8}  {:>10}  {:>10}",
                s.name,
                d(s.total),
                s.percent,
                s.count,
                d(s.mean),
                d(s.p99)
            )?;
        }
        write!(f, "wall time: {}", d(self.wall))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_from_several_threads_are_counted() {
        let p = CpuProfiler::new();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..100 {
                        p.record("a", Duration::from_micros(10));
                    }
                    p.record("b", Duration::from_millis(5));
                });
            }
        });
        let r = p.report();
        assert_eq!(r.sections[0].name, "b");
        assert_eq!(r.sections[0].count, 4);
        assert_eq!(r.sections[1].count, 400);
        assert_eq!(r.sections[1].total, Duration::from_millis(4));
        let share: f64 = r.sections.iter().map(|s| s.percent).sum();
        assert!((share - 100.0).abs() < 1e-9);
        assert!((r.sections[0].percent - 83.333).abs() < 0.01);
    }

    #[test]
    fn empty_report() {
        let r = CpuProfiler::new().report();
        assert!(r.sections.is_empty());
        assert!(r.to_string().contains("wall time"));
    }
}
