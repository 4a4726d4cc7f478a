//! A benchmark report for people: the terminal summary, a Markdown table, and the warnings
//! about what the numbers mean.

use std::fmt::{self, Write as _};

use perfkit_metrics::{format_bytes, format_duration};

use super::export::{MetricSummary, SortOrder, Style};
use super::metric::{Metric, MetricSelection};
use super::{BenchReport, CommandReport};
use crate::process::ExitKind;

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
        self.to_text_in(&Style::default())
    }

    /// [`BenchReport::to_text`] with every time in `style`'s unit (each in its own without
    /// one), the summary in the commands' order for [`SortOrder::Command`] (fastest first
    /// otherwise), and, for `--metrics` other than the default, a line for each metric named,
    /// in its order and unit. The summary always compares wall times.
    #[must_use]
    pub fn to_text_in(&self, style: &Style) -> String {
        let sort = style.sort;
        let mut out = String::new();
        for (i, c) in self.commands.iter().enumerate() {
            let _ = writeln!(out, "Benchmark {}: {}", i + 1, c.name);
            if style.metrics.is_default {
                let auto = |metric| MetricSelection { metric, unit: None };
                for metric in [Metric::WallClock, Metric::PeakMemory] {
                    metric_lines(&mut out, c, auto(metric), style);
                }
            } else {
                for &selection in style.metrics.selected() {
                    metric_lines(&mut out, c, selection, style);
                }
            }
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

/// Formats `seconds` in the unit asked for the metric, else in `style`'s time unit, else in
/// a unit of its own.
fn time_in(selection: MetricSelection, style: &Style, seconds: f64) -> String {
    if let Some(unit) = selection.unit {
        return format!("{} {}", unit.format_value(seconds), unit.symbol);
    }
    match style.unit {
        Some(unit) => format!("{} {}", unit.format(seconds), unit.symbol()),
        None => format_duration(seconds * 1e9),
    }
}

/// The lines of one metric of `c`: wall time as hyperfine's mean, range and perfkit's
/// percentiles; CPU times as mean and range; peak memory as perfkit's peak RSS.
fn metric_lines(out: &mut String, c: &CommandReport, selection: MetricSelection, style: &Style) {
    let time = |seconds: f64| time_in(selection, style, seconds);
    let ns = |v: f64| time(v * 1e-9);
    match selection.metric {
        Metric::WallClock => {
            let w = &c.wall;
            let _ = writeln!(
                out,
                "  Time (mean ± σ):     {} ± {}    [User: {}, System: {}]",
                ns(w.mean),
                ns(w.stddev),
                ns(c.user_mean_ns),
                ns(c.system_mean_ns)
            );
            let _ = writeln!(
                out,
                "  Percentiles:         p50 {}, p90 {}, p99 {}, p99.9 {}",
                ns(w.p50 as f64),
                ns(w.p90 as f64),
                ns(w.p99 as f64),
                ns(w.p999 as f64)
            );
            let _ = writeln!(
                out,
                "  Range (min … max):   {} … {}    {} run{}",
                ns(w.min as f64),
                ns(w.max as f64),
                c.runs,
                if c.runs == 1 { "" } else { "s" }
            );
        }
        Metric::PeakMemory => {
            let peak = match selection.unit {
                Some(unit) => format!(
                    "{} {}",
                    unit.format_value(c.peak_rss_bytes as f64),
                    unit.symbol
                ),
                None => format_bytes(c.peak_rss_bytes),
            };
            let _ = match c.rss_floor_bytes {
                Some(floor) if c.peak_rss_bytes <= floor => writeln!(
                    out,
                    "  Peak RSS:            ≤ {peak} (perfkit's own size: the kernel counts the spawner's memory)"
                ),
                _ => writeln!(out, "  Peak RSS:            {peak}"),
            };
        }
        metric => {
            let values: Vec<f64> = c
                .samples
                .iter()
                .filter(|s| s.status != ExitKind::TimedOut)
                .map(|s| metric.value(s))
                .collect();
            let stats = MetricSummary::of(&values, metric.json_unit());
            let label = format!("{} (mean ± σ):", metric.label());
            let _ = writeln!(
                out,
                "  {label:<20} {} ± {}    (min … max: {} … {})",
                time(stats.mean),
                time(stats.stddev.unwrap_or(0.0)),
                time(stats.min),
                time(stats.max)
            );
        }
    }
}
