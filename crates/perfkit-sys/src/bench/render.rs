//! A benchmark report for people: the terminal summary, a Markdown table, and the warnings
//! about what the numbers mean.

use std::fmt::{self, Write as _};

use perfkit_metrics::{format_bytes, format_duration};

use super::export::{SortOrder, TimeUnit};
use super::{BenchReport, CommandReport};

/// Something the user should know about a benchmark's numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BenchWarning {
    /// Runs failed and are in the statistics, since failures were ignored.
    FailedRuns {
        /// The command's name.
        command: String,
        /// Runs that failed.
        failed: u64,
        /// Runs in the statistics.
        runs: u64,
    },
    /// Runs timed out and are left out of the statistics.
    TimedOutRuns {
        /// The command's name.
        command: String,
        /// Runs that timed out.
        timed_out: u64,
    },
    /// The command does less when its output is discarded (see [`super::OutputProbe`]).
    LessWorkIntoNull {
        /// The probe's explanation.
        message: String,
    },
    /// The first measured run took more than twice the median of the others: caches were
    /// cold, and warm-up runs or a prepare command would even the runs out.
    SlowFirstRun {
        /// The command's name.
        command: String,
    },
}

impl fmt::Display for BenchWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchWarning::FailedRuns {
                command,
                failed,
                runs,
            } => write!(
                f,
                "'{command}': {failed} of {runs} runs failed (non-zero exit or signal); they are included because failures are ignored"
            ),
            BenchWarning::TimedOutRuns { command, timed_out } => write!(
                f,
                "'{command}': {timed_out} runs timed out and are not included in the statistics"
            ),
            BenchWarning::LessWorkIntoNull { message } => f.write_str(message),
            BenchWarning::SlowFirstRun { command } => write!(
                f,
                "'{command}': the first run was much slower than the rest (cold caches?)"
            ),
        }
    }
}

/// Whether the first measured run took more than twice the median of the others (with at
/// least four others to judge by).
fn slow_first_run(c: &CommandReport) -> bool {
    let mut rest: Vec<u128> = c
        .samples
        .iter()
        .skip(1)
        .map(|s| s.wall.as_nanos())
        .collect();
    if rest.len() < 4 {
        return false;
    }
    rest.sort_unstable();
    let median = rest[rest.len() / 2];
    c.samples[0].wall.as_nanos() > 2 * median
}

impl BenchReport {
    /// What the user should know about the numbers, command by command.
    #[must_use]
    pub fn warnings(&self) -> Vec<BenchWarning> {
        let mut out = Vec::new();
        for c in &self.commands {
            if c.failed_runs > 0 {
                out.push(BenchWarning::FailedRuns {
                    command: c.name.clone(),
                    failed: c.failed_runs,
                    runs: c.runs,
                });
            }
            if c.timed_out_runs > 0 {
                out.push(BenchWarning::TimedOutRuns {
                    command: c.name.clone(),
                    timed_out: c.timed_out_runs,
                });
            }
            if let Some(message) = c.output_probe.as_ref().and_then(|p| p.warning(&c.name)) {
                out.push(BenchWarning::LessWorkIntoNull { message });
            }
            if slow_first_run(c) {
                out.push(BenchWarning::SlowFirstRun {
                    command: c.name.clone(),
                });
            }
        }
        out
    }

    /// The terminal summary, in hyperfine's layout with percentiles and peak RSS added, and
    /// each command's speed relative to the fastest with its confidence interval.
    #[must_use]
    pub fn to_text(&self) -> String {
        self.to_text_in(None, SortOrder::Auto)
    }

    /// [`BenchReport::to_text`] with every time in `unit` (each in its own without one), and
    /// the summary in the commands' order for [`SortOrder::Command`], fastest first otherwise.
    #[must_use]
    pub fn to_text_in(&self, unit: Option<TimeUnit>, sort: SortOrder) -> String {
        let format_duration = |ns: f64| match unit {
            Some(unit) => format!("{} {}", unit.format(ns * 1e-9), unit.symbol()),
            None => format_duration(ns),
        };
        let mut out = String::new();
        for (i, c) in self.commands.iter().enumerate() {
            let w = &c.wall;
            let _ = writeln!(out, "Benchmark {}: {}", i + 1, c.name);
            let _ = writeln!(
                out,
                "  Time (mean ± σ):     {} ± {}    [User: {}, System: {}]",
                format_duration(w.mean),
                format_duration(w.stddev),
                format_duration(c.user_mean_ns),
                format_duration(c.system_mean_ns)
            );
            let _ = writeln!(
                out,
                "  Percentiles:         p50 {}, p90 {}, p99 {}, p99.9 {}",
                format_duration(w.p50 as f64),
                format_duration(w.p90 as f64),
                format_duration(w.p99 as f64),
                format_duration(w.p999 as f64)
            );
            let _ = writeln!(
                out,
                "  Range (min … max):   {} … {}    {} run{}",
                format_duration(w.min as f64),
                format_duration(w.max as f64),
                c.runs,
                if c.runs == 1 { "" } else { "s" }
            );
            let _ = match c.rss_floor_bytes {
                Some(floor) if c.peak_rss_bytes <= floor => writeln!(
                    out,
                    "  Peak RSS:            ≤ {} (perfkit's own size: the kernel counts the spawner's memory)",
                    format_bytes(c.peak_rss_bytes)
                ),
                _ => writeln!(
                    out,
                    "  Peak RSS:            {}",
                    format_bytes(c.peak_rss_bytes)
                ),
            };
            out.push('\n');
        }
        // Compared with the reference when there is one, else with the fastest.
        let base = (self.relative.iter().find(|r| r.reference))
            .or_else(|| self.relative.iter().find(|r| r.fastest));
        if let Some(base) = base {
            let _ = writeln!(out, "Summary\n  '{}' ran", base.name);
            let mut others: Vec<_> = self
                .relative
                .iter()
                .filter(|r| !std::ptr::eq(*r, base))
                .collect();
            if sort != SortOrder::Command {
                others.sort_by(|a, b| a.ratio.total_cmp(&b.ratio));
            }
            for r in others {
                // A command faster than the reference: the reference was slower.
                let (ratio, ci, than) = if r.ratio >= 1.0 {
                    (r.ratio, r.interval.map(|ci| (ci.low, ci.high)), "faster")
                } else {
                    (
                        1.0 / r.ratio,
                        r.interval.map(|ci| (1.0 / ci.high, 1.0 / ci.low)),
                        "slower",
                    )
                };
                let ci = ci
                    .map(|(low, high)| format!(" (95% CI {low:.2}–{high:.2})"))
                    .unwrap_or_default();
                let _ = writeln!(out, "    {ratio:.2} times {than} than '{}'{ci}", r.name);
            }
        }
        out
    }
}
