//! A benchmark report in hyperfine's export formats: JSON `results`, CSV, Markdown, `AsciiDoc`
//! and Org tables, with hyperfine's columns first and perfkit's after them, so that scripts
//! written for hyperfine's files read perfkit's.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::{BenchReport, CommandReport};
use crate::SysError;
use crate::process::ExitKind;

/// One benchmark as hyperfine's `--export-json` writes it (`results[]`), times in seconds:
/// hyperfine 1's keys (`mean`, `times`, …) and hyperfine 2's (`name`, `measurements`,
/// `summary`) side by side, so that the scripts of either read it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HyperfineResult {
    /// The name, without the parameters the command does not mention.
    pub command: String,
    /// The same name, where hyperfine 2 looks for it.
    pub name: String,
    /// The name as the tables show it, with those parameters.
    #[serde(skip)]
    pub command_with_unused_parameters: String,
    /// Mean wall time.
    pub mean: f64,
    /// Sample standard deviation of the wall times; `None` for a single run.
    pub stddev: Option<f64>,
    /// Median wall time (the mean of the two middle runs for an even count).
    pub median: f64,
    /// Mean user CPU time.
    pub user: f64,
    /// Mean system CPU time.
    pub system: f64,
    /// Shortest run.
    pub min: f64,
    /// Longest run.
    pub max: f64,
    /// Every run's wall time, in the order they ran.
    pub times: Vec<f64>,
    /// Every run's peak resident memory, in bytes.
    pub memory_usage_byte: Vec<u64>,
    /// Every run's exit code; `None` for a run a signal ended.
    pub exit_codes: Vec<Option<i32>>,
    /// The benchmark's parameter values.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// hyperfine 2's runs: every run's metrics.
    pub measurements: Vec<BTreeMap<&'static str, Measured>>,
    /// hyperfine 2's statistics of every metric over the runs.
    pub summary: BTreeMap<&'static str, MetricSummary>,
    /// perfkit's additions, beside hyperfine's keys: percentiles in seconds.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
}

const NS: f64 = 1e-9;

/// One run's value of a metric (hyperfine 2's `measurements[][metric]`), or its exit code.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Measured {
    /// A measured quantity and its unit (`second`, `byte`).
    Value {
        /// The value.
        value: f64,
        /// Its unit.
        unit: &'static str,
    },
    /// The run's exit code (`null` for a signal).
    ExitCode(Option<i32>),
}

/// The statistics of one metric over the runs (hyperfine 2's `summary[metric]`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricSummary {
    /// `second` or `byte`.
    pub unit: &'static str,
    /// Runs.
    pub count: usize,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation; `None` for one run.
    pub stddev: Option<f64>,
    /// Median (the mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl MetricSummary {
    fn of(values: &[f64], unit: &'static str) -> MetricSummary {
        use perfkit_metrics::stats::Statistic;
        let n = values.len();
        let mut scratch = values.to_vec();
        let mean = Statistic::Mean.of(&mut scratch).unwrap_or(0.0);
        MetricSummary {
            unit,
            count: n,
            mean,
            stddev: (n > 1).then(|| {
                let squares: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
                (squares / (n - 1) as f64).sqrt()
            }),
            // The mean of the two middle values for an even count, as hyperfine's median.
            median: Statistic::Median.of(&mut scratch).unwrap_or(0.0),
            min: values.iter().copied().reduce(f64::min).unwrap_or(0.0),
            max: values.iter().copied().reduce(f64::max).unwrap_or(0.0),
        }
    }
}

impl HyperfineResult {
    /// One result per command of `report`, from the runs its statistics include (runs that
    /// timed out are left out, as they are from perfkit's own numbers).
    #[must_use]
    pub fn from_report(report: &BenchReport) -> Vec<HyperfineResult> {
        report.commands.iter().map(Self::from_command).collect()
    }

    fn from_command(c: &CommandReport) -> HyperfineResult {
        let runs: Vec<_> = c
            .samples
            .iter()
            .filter(|s| s.status != ExitKind::TimedOut)
            .collect();
        let times: Vec<f64> = runs.iter().map(|r| r.wall.as_secs_f64()).collect();
        let metric = |f: &dyn Fn(&crate::RunOutcome) -> f64| -> Vec<f64> {
            runs.iter().map(|r| f(r)).collect()
        };
        let user = metric(&|r| r.user.as_secs_f64());
        let system = metric(&|r| r.system.as_secs_f64());
        let cpu: Vec<f64> = user.iter().zip(&system).map(|(u, s)| u + s).collect();
        let memory = metric(&|r| r.max_rss_bytes as f64);
        let exit_codes: Vec<Option<i32>> = runs
            .iter()
            .map(|r| match r.status {
                ExitKind::Exited { code } => Some(code),
                _ => None,
            })
            .collect();
        let columns: [(&'static str, &[f64], &'static str); 5] = [
            ("time_wall_clock", &times, "second"),
            ("time_cpu", &cpu, "second"),
            ("time_user", &user, "second"),
            ("time_system", &system, "second"),
            ("memory_peak_resident", &memory, "byte"),
        ];
        let measurements = (0..runs.len())
            .map(|i| {
                let mut run: BTreeMap<&'static str, Measured> = columns
                    .iter()
                    .map(|&(key, values, unit)| {
                        (
                            key,
                            Measured::Value {
                                value: values[i],
                                unit,
                            },
                        )
                    })
                    .collect();
                run.insert("exit_code", Measured::ExitCode(exit_codes[i]));
                run
            })
            .collect();
        let summary = columns
            .iter()
            .map(|&(key, values, unit)| (key, MetricSummary::of(values, unit)))
            .collect();
        let wall = MetricSummary::of(&times, "second");
        let name = c.base_name.clone().unwrap_or_else(|| c.name.clone());
        HyperfineResult {
            command: name.clone(),
            name,
            command_with_unused_parameters: c.name.clone(),
            mean: wall.mean,
            stddev: wall.stddev,
            median: wall.median,
            user: c.user_mean_ns * NS,
            system: c.system_mean_ns * NS,
            min: wall.min,
            max: wall.max,
            times,
            memory_usage_byte: runs.iter().map(|r| r.max_rss_bytes).collect(),
            exit_codes,
            measurements,
            summary,
            parameters: c
                .parameters
                .iter()
                .map(|p| (p.name.clone(), p.value.clone()))
                .collect(),
            p50: c.wall.p50 as f64 * NS,
            p90: c.wall.p90 as f64 * NS,
            p99: c.wall.p99 as f64 * NS,
        }
    }
}

/// The unit of a table's times (hyperfine's `--time-unit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    /// `s`, three decimals.
    Second,
    /// `ms`, one decimal.
    Millisecond,
    /// `µs`, one decimal.
    Microsecond,
}

impl TimeUnit {
    /// The unit hyperfine picks for `seconds`: µs below 1 ms, ms below 1 s, else s.
    #[must_use]
    pub fn for_seconds(seconds: f64) -> TimeUnit {
        if seconds < 0.001 {
            TimeUnit::Microsecond
        } else if seconds < 1.0 {
            TimeUnit::Millisecond
        } else {
            TimeUnit::Second
        }
    }

    /// The unit's symbol.
    #[must_use]
    pub fn symbol(self) -> &'static str {
        match self {
            TimeUnit::Second => "s",
            TimeUnit::Millisecond => "ms",
            TimeUnit::Microsecond => "µs",
        }
    }

    /// `seconds` in this unit, with hyperfine's decimals.
    #[must_use]
    pub fn format(self, seconds: f64) -> String {
        match self {
            TimeUnit::Second => format!("{seconds:.3}"),
            TimeUnit::Millisecond => format!("{:.1}", seconds * 1e3),
            TimeUnit::Microsecond => format!("{:.1}", seconds * 1e6),
        }
    }
}

/// The order of the tables' rows (hyperfine's `--sort`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortOrder {
    /// Tables in the commands' order, the summary by mean time.
    #[default]
    Auto,
    /// The commands' order everywhere.
    Command,
    /// Fastest first everywhere.
    MeanTime,
}

/// How the exports and the text present the numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    /// The tables' time unit; chosen from the first result without one.
    pub unit: Option<TimeUnit>,
    /// The rows' order.
    pub sort: SortOrder,
    /// The metric hyperfine 2's scripts take by default (`primary_metric` in the JSON).
    pub primary_metric: &'static str,
}

impl Default for Style {
    fn default() -> Style {
        Style {
            unit: None,
            sort: SortOrder::Auto,
            primary_metric: "time_wall_clock",
        }
    }
}

/// The metrics perfkit bench measures, in hyperfine 2's names.
const TIME_METRICS: [&str; 4] = ["time_wall_clock", "time_cpu", "time_user", "time_system"];

/// hyperfine 2's hardware counters, which `perfkit stat` counts and `perfkit bench` does not.
const COUNTERS: [&str; 5] = [
    "cpu_cycles",
    "instructions",
    "cache_references",
    "cache_misses",
    "branch_misses",
];

impl Style {
    /// hyperfine 2's `--metrics PRESET|METRIC[:UNIT],…`: the first metric becomes the JSON's
    /// `primary_metric`, and its time unit (`us`, `ms`, `s`) the tables'. perfkit measures
    /// and shows every time and the peak memory whatever the list says.
    ///
    /// # Errors
    /// [`SysError::InvalidPlan`] for an unknown metric or unit, or a hardware counter.
    pub fn with_metrics(mut self, text: &str) -> Result<Style, SysError> {
        let invalid = |why: String| SysError::InvalidPlan {
            detail: format!("--metrics {text}: {why}"),
        };
        if matches!(text.trim(), "default" | "time" | "all") {
            return Ok(self);
        }
        for (i, item) in text.split(',').enumerate() {
            let (name, unit) = item.trim().split_once(':').unwrap_or((item.trim(), ""));
            let metric = TIME_METRICS
                .iter()
                .chain(["memory_peak_resident"].iter())
                .find(|m| **m == name)
                .copied();
            let Some(metric) = metric else {
                return Err(invalid(if COUNTERS.contains(&name) {
                    format!(
                        "perfkit bench does not count {name}; perfkit stat counts hardware events"
                    )
                } else {
                    format!(
                        "unknown metric '{name}'; perfkit bench measures {}, memory_peak_resident (or the presets default, time, all)",
                        TIME_METRICS.join(", ")
                    )
                }));
            };
            let time = metric.starts_with("time_");
            let known = if time {
                matches!(unit, "" | "ns" | "us" | "µs" | "ms" | "s" | "min" | "h")
            } else {
                matches!(
                    unit,
                    "" | "B" | "kB" | "MB" | "GB" | "TB" | "KiB" | "MiB" | "GiB" | "TiB"
                )
            };
            if !known {
                return Err(invalid(format!("'{unit}' is not a unit of {metric}")));
            }
            if i == 0 {
                self.primary_metric = metric;
                self.unit = self.unit.or(match unit {
                    "us" | "µs" => Some(TimeUnit::Microsecond),
                    "ms" => Some(TimeUnit::Millisecond),
                    "s" => Some(TimeUnit::Second),
                    _ => None,
                });
            }
        }
        Ok(self)
    }
}

/// A table format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Markup {
    /// `--export-markdown`.
    Markdown,
    /// `--export-asciidoc`.
    Asciidoc,
    /// `--export-orgmode`.
    Orgmode,
}

/// Each result's speed relative to the fastest, and its standard deviation (the two means'
/// relative deviations combined, as hyperfine does), in the order `sort` gives for tables.
fn relative(
    results: &[HyperfineResult],
    sort: SortOrder,
) -> Vec<(&HyperfineResult, f64, Option<f64>, bool)> {
    let Some(fastest) = results.iter().min_by(|a, b| a.mean.total_cmp(&b.mean)) else {
        return Vec::new();
    };
    let mut rows: Vec<_> = results
        .iter()
        .map(|r| {
            let is_fastest = std::ptr::eq(r, fastest);
            if r.mean == 0.0 || fastest.mean == 0.0 {
                let ratio = if is_fastest { 1.0 } else { f64::INFINITY };
                return (r, ratio, None, is_fastest);
            }
            let ratio = r.mean / fastest.mean;
            let stddev = match (r.stddev, fastest.stddev) {
                (Some(a), Some(b)) => {
                    Some(ratio * ((a / r.mean).powi(2) + (b / fastest.mean).powi(2)).sqrt())
                }
                _ => None,
            };
            (r, ratio, stddev, is_fastest)
        })
        .collect();
    if sort == SortOrder::MeanTime {
        rows.sort_by(|a, b| a.0.mean.total_cmp(&b.0.mean));
    }
    rows
}

/// A table of `results` in `markup`: hyperfine's columns (command, mean ± σ, min, max,
/// relative) in `unit` (hyperfine's choice from the first result without one), then
/// perfkit's (p50, p99, peak memory).
#[must_use]
pub fn markup_table(
    results: &[HyperfineResult],
    markup: Markup,
    unit: Option<TimeUnit>,
    sort: SortOrder,
) -> String {
    let unit = unit.unwrap_or_else(|| {
        results
            .first()
            .map_or(TimeUnit::Second, |r| TimeUnit::for_seconds(r.mean))
    });
    let u = unit.symbol();
    let header = [
        "Command".to_owned(),
        format!("Mean [{u}]"),
        format!("Min [{u}]"),
        format!("Max [{u}]"),
        "Relative".to_owned(),
        format!("p50 [{u}]"),
        format!("p99 [{u}]"),
        "Peak memory".to_owned(),
    ];
    let mut rows = vec![header.to_vec()];
    for (r, ratio, stddev, is_fastest) in relative(results, sort) {
        let mean = match r.stddev {
            Some(s) => format!("{} ± {}", unit.format(r.mean), unit.format(s)),
            None => unit.format(r.mean),
        };
        let relative = match stddev {
            Some(s) if !is_fastest => format!("{ratio:.2} ± {s:.2}"),
            _ => format!("{ratio:.2}"),
        };
        let command = r.command_with_unused_parameters.replace('|', "\\|");
        let command = match markup {
            Markup::Markdown | Markup::Asciidoc => format!("`{command}`"),
            Markup::Orgmode => format!("={command}="),
        };
        rows.push(vec![
            command,
            mean,
            unit.format(r.min),
            unit.format(r.max),
            relative,
            unit.format(r.p50),
            unit.format(r.p99),
            r.memory_usage_byte
                .iter()
                .max()
                .map_or_else(String::new, |&b| perfkit_metrics::format_bytes(b)),
        ]);
    }
    let columns = rows[0].len();
    let mut out = String::new();
    match markup {
        Markup::Markdown => {
            for (i, row) in rows.iter().enumerate() {
                let _ = writeln!(out, "| {} |", row.join(" | "));
                if i == 0 {
                    let _ = writeln!(out, "|:---|{}", "---:|".repeat(columns - 1));
                }
            }
        }
        Markup::Asciidoc => {
            let _ = write!(out, "[cols=\"<{}\"]\n|===", ",>".repeat(columns - 1));
            for row in &rows {
                let _ = write!(out, "\n| {} \n", row.join(" \n| "));
            }
            out.push_str("|===\n");
        }
        Markup::Orgmode => {
            for (i, row) in rows.iter().enumerate() {
                let _ = writeln!(out, "| {}  |  {} |", row[0], row[1..].join(" |  "));
                if i == 0 {
                    let _ = writeln!(out, "|{}--|", "--+".repeat(columns - 1));
                }
            }
        }
    }
    out
}

/// A file `perfkit bench` exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// perfkit's report with hyperfine's `results` beside it (`--export-json`).
    Json,
    /// `--export-csv`.
    Csv,
    /// `--export-markdown`, `--export-asciidoc`, `--export-orgmode`.
    Markup(Markup),
    /// `--export-svg`: the pictures of [`BenchReport::to_svg`].
    Svg,
}

/// perfkit's report, and hyperfine's `results` beside its fields.
#[derive(Serialize)]
struct JsonExport<'a> {
    #[serde(flatten)]
    report: &'a BenchReport,
    /// hyperfine 2's choice of metric for scripts that take the file's own.
    primary_metric: &'static str,
    results: Vec<HyperfineResult>,
}

impl BenchReport {
    /// The report in `format`, tables in `style`'s unit and order.
    ///
    /// # Errors
    /// A report that JSON cannot hold (never, for a report perfkit measured).
    pub fn export(&self, format: ExportFormat, style: Style) -> Result<String, serde_json::Error> {
        let results = HyperfineResult::from_report(self);
        Ok(match format {
            ExportFormat::Json => {
                serde_json::to_string_pretty(&JsonExport {
                    report: self,
                    primary_metric: style.primary_metric,
                    results,
                })? + "\n"
            }
            ExportFormat::Csv => csv(&results),
            ExportFormat::Markup(markup) => markup_table(&results, markup, style.unit, style.sort),
            ExportFormat::Svg => self.to_svg(),
        })
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// hyperfine's CSV (times in seconds, whatever the time unit): `command,mean,stddev,median,
/// user,system,min,max`, a `parameter_NAME` column per parameter, then perfkit's `p50,p90,p99,
/// peak_memory_byte`.
#[must_use]
pub fn csv(results: &[HyperfineResult]) -> String {
    let parameters: Vec<&String> = results
        .first()
        .map(|r| r.parameters.keys().collect())
        .unwrap_or_default();
    let mut header: Vec<String> = [
        "command", "mean", "stddev", "median", "user", "system", "min", "max",
    ]
    .map(str::to_owned)
    .to_vec();
    header.extend(
        parameters
            .iter()
            .map(|p| csv_field(&format!("parameter_{p}"))),
    );
    header.extend(["p50", "p90", "p99", "peak_memory_byte"].map(str::to_owned));
    let mut out = header.join(",") + "\n";
    for r in results {
        let mut row = vec![csv_field(&r.command)];
        row.extend(
            [
                r.mean,
                r.stddev.unwrap_or(0.0),
                r.median,
                r.user,
                r.system,
                r.min,
                r.max,
            ]
            .map(|v| v.to_string()),
        );
        row.extend(
            parameters
                .iter()
                .map(|p| csv_field(r.parameters.get(*p).map_or("", String::as_str))),
        );
        row.extend([r.p50, r.p90, r.p99].map(|v| v.to_string()));
        row.push(
            r.memory_usage_byte
                .iter()
                .max()
                .map_or_else(String::new, ToString::to_string),
        );
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// hyperfine's own test results (src/export/tests.rs), with perfkit's extra fields.
    fn results() -> Vec<HyperfineResult> {
        let result = |command: &str, mean, stddev, min, max| HyperfineResult {
            command: command.into(),
            name: command.into(),
            measurements: Vec::new(),
            summary: BTreeMap::new(),
            command_with_unused_parameters: command.into(),
            mean,
            stddev: Some(stddev),
            median: mean,
            user: 0.0009,
            system: 0.0011,
            min,
            max,
            times: vec![mean; 3],
            memory_usage_byte: vec![1 << 20; 3],
            exit_codes: vec![Some(0); 3],
            parameters: BTreeMap::new(),
            p50: mean,
            p90: max,
            p99: max,
        };
        vec![
            result("sleep 0.1", 0.1057, 0.0016, 0.1023, 0.1080),
            result("sleep 2", 2.0050, 0.0020, 2.0020, 2.0080),
        ]
    }

    /// A Markdown table without its last `n` columns (perfkit's), as hyperfine writes it.
    fn without_last_columns(table: &str, n: usize) -> String {
        table
            .lines()
            .map(|line| {
                if line.starts_with("|:") {
                    let cells = line.matches('|').count() - 1;
                    return format!("|:---|{}", "---:|".repeat(cells - 1 - n));
                }
                let inner = &line[2..line.len() - 2];
                let cells: Vec<&str> = inner.split(" | ").collect();
                format!("| {} |", cells[..cells.len() - n].join(" | "))
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    }

    #[test]
    fn markdown_matches_hyperfines_own_expected_table() {
        let table = markup_table(&results(), Markup::Markdown, None, SortOrder::Command);
        // hyperfine's snapshot for these results (test_markup_export_auto_ms).
        assert_eq!(
            without_last_columns(&table, 3),
            "| Command | Mean [ms] | Min [ms] | Max [ms] | Relative |\n\
             |:---|---:|---:|---:|---:|\n\
             | `sleep 0.1` | 105.7 ± 1.6 | 102.3 | 108.0 | 1.00 |\n\
             | `sleep 2` | 2005.0 ± 2.0 | 2002.0 | 2008.0 | 18.97 ± 0.29 |\n"
        );
        assert!(table.starts_with(
            "| Command | Mean [ms] | Min [ms] | Max [ms] | Relative | p50 [ms] | p99 [ms] | Peak memory |\n"
        ));
        let seconds = markup_table(
            &results(),
            Markup::Markdown,
            Some(TimeUnit::Second),
            SortOrder::MeanTime,
        );
        assert!(seconds.contains("| `sleep 0.1` | 0.106 ± 0.002 | 0.102 | 0.108 | 1.00 |"));
        // By mean time, the fastest first, whatever the commands' order.
        let mut reversed = results();
        reversed.reverse();
        let by_time = markup_table(&reversed, Markup::Markdown, None, SortOrder::MeanTime);
        let by_command = markup_table(&reversed, Markup::Markdown, None, SortOrder::Command);
        assert!(by_time.lines().nth(2).unwrap().starts_with("| `sleep 0.1`"));
        assert!(
            by_command
                .lines()
                .nth(2)
                .unwrap()
                .starts_with("| `sleep 2`")
        );
    }

    #[test]
    fn asciidoc_and_org_match_hyperfines_layout() {
        let adoc = markup_table(&results(), Markup::Asciidoc, None, SortOrder::Command);
        assert!(adoc.starts_with("[cols=\"<,>,>,>,>,>,>,>\"]\n|===\n| Command \n| Mean [ms] \n"));
        assert!(
            adoc.contains(
                "\n| `sleep 2` \n| 2005.0 ± 2.0 \n| 2002.0 \n| 2008.0 \n| 18.97 ± 0.29 \n"
            )
        );
        assert!(adoc.ends_with("|===\n"));
        let org = markup_table(&results(), Markup::Orgmode, None, SortOrder::Command);
        let lines: Vec<&str> = org.lines().collect();
        assert!(
            lines[0].starts_with("| Command  |  Mean [ms] |  Min [ms] |  Max [ms] |  Relative |")
        );
        assert_eq!(lines[1], "|--+--+--+--+--+--+--+--|");
        assert!(
            lines[3]
                .starts_with("| =sleep 2=  |  2005.0 ± 2.0 |  2002.0 |  2008.0 |  18.97 ± 0.29 |")
        );
    }

    #[test]
    fn csv_has_hyperfines_columns_then_perfkits() {
        let mut rows = results();
        rows[0].parameters.insert("size".into(), "1,5".into());
        rows[1].parameters.insert("size".into(), "2".into());
        rows[1].command = "say \"hi\"".into();
        let text = csv(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "command,mean,stddev,median,user,system,min,max,parameter_size,p50,p90,p99,peak_memory_byte"
        );
        assert_eq!(
            lines[1],
            "sleep 0.1,0.1057,0.0016,0.1057,0.0009,0.0011,0.1023,0.108,\"1,5\",0.1057,0.108,0.108,1048576"
        );
        assert!(lines[2].starts_with("\"say \"\"hi\"\"\",2.005,"));
    }

    #[test]
    fn metrics_read_as_hyperfine_2_writes_them() {
        let style = Style::default();
        assert_eq!(style.with_metrics("time").unwrap(), style);
        let memory = style
            .with_metrics("memory_peak_resident:MiB,time_wall_clock:ms")
            .unwrap();
        assert_eq!(
            (memory.primary_metric, memory.unit),
            ("memory_peak_resident", None)
        );
        let ms = style.with_metrics("time_cpu:ms").unwrap();
        assert_eq!(
            (ms.primary_metric, ms.unit),
            ("time_cpu", Some(TimeUnit::Millisecond))
        );
        for (bad, says) in [
            ("instructions", "perfkit stat"),
            ("wall", "unknown metric"),
            ("time_cpu:MiB", "not a unit"),
            ("memory_peak_resident:ms", "not a unit"),
        ] {
            let error = style.with_metrics(bad).unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    #[test]
    fn units_follow_hyperfines_thresholds() {
        assert_eq!(TimeUnit::for_seconds(1.0), TimeUnit::Second);
        assert_eq!(TimeUnit::for_seconds(0.999), TimeUnit::Millisecond);
        assert_eq!(TimeUnit::for_seconds(0.0005), TimeUnit::Microsecond);
        assert_eq!(TimeUnit::Second.format(123.456_789), "123.457");
        assert_eq!(TimeUnit::Millisecond.format(123.456_789), "123456.8");
        assert_eq!(TimeUnit::Microsecond.format(0.001_234_56), "1234.6");
    }
}
