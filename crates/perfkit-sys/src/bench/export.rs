//! A benchmark report in hyperfine's export formats: JSON `results`, CSV, Markdown, `AsciiDoc`
//! and Org tables, with hyperfine's columns first and perfkit's after them, so that scripts
//! written for hyperfine's files read perfkit's. [`Layout`] chooses between hyperfine 1's
//! files and hyperfine 2's where the two differ.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::metric::{Metric, MetricSelection, Metrics, Unit};
use super::{BenchReport, CommandReport};
use crate::SysError;
use crate::process::ExitKind;

/// Which hyperfine's files the exports copy where hyperfine 1 and 2 differ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// hyperfine 1: `command` is the name, `parameters` maps names to values, tables have
    /// Mean, Min, Max and Relative columns, and CSV has one set of time columns.
    #[default]
    Hyperfine1,
    /// hyperfine 2: the JSON's `command` is the command run, `parameters` maps names to
    /// `{"value": …}`, tables show the first `--metrics` metric with Change and Factor
    /// columns, and CSV has columns for every metric `--metrics` names.
    Hyperfine2,
}

/// A parameter's value in the JSON: a string (hyperfine 1) or `{"value": …}` (hyperfine 2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ParameterValue {
    /// hyperfine 1's form.
    Text(String),
    /// hyperfine 2's form.
    Wrapped {
        /// The value.
        value: String,
    },
}

impl ParameterValue {
    /// The value, whichever the form.
    #[must_use]
    pub fn text(&self) -> &str {
        match self {
            ParameterValue::Text(value) | ParameterValue::Wrapped { value } => value,
        }
    }
}

/// One benchmark as hyperfine's `--export-json` writes it (`results[]`), times in seconds:
/// hyperfine 1's keys (`mean`, `times`, …) and hyperfine 2's (`name`, `measurements`,
/// `summary`) side by side, so that the scripts of either read it. The two differ on
/// `command` and `parameters`, which follow the [`Layout`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HyperfineResult {
    /// The name, without the parameters the command does not mention (hyperfine 1); the
    /// command run, after substitution (hyperfine 2).
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
    pub parameters: BTreeMap<String, ParameterValue>,
    /// The variables `--env` set (hyperfine 2's key).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
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
    /// The statistics of `values`, measured in `unit`.
    #[must_use]
    pub fn of(values: &[f64], unit: &'static str) -> MetricSummary {
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
    pub fn from_report(report: &BenchReport, layout: Layout) -> Vec<HyperfineResult> {
        report
            .commands
            .iter()
            .map(|c| Self::from_command(c, layout))
            .collect()
    }

    fn from_command(c: &CommandReport, layout: Layout) -> HyperfineResult {
        let runs: Vec<_> = c
            .samples
            .iter()
            .filter(|s| s.status != ExitKind::TimedOut)
            .collect();
        let values =
            |metric: Metric| -> Vec<f64> { runs.iter().map(|r| metric.value(r)).collect() };
        let times = values(Metric::WallClock);
        let exit_codes: Vec<Option<i32>> = runs
            .iter()
            .map(|r| match r.status {
                ExitKind::Exited { code } => Some(code),
                _ => None,
            })
            .collect();
        let measurements = (0..runs.len())
            .map(|i| {
                let mut run: BTreeMap<&'static str, Measured> = Metric::ALL
                    .iter()
                    .map(|&metric| {
                        let value = metric.value(runs[i]);
                        let unit = metric.json_unit();
                        (metric.name(), Measured::Value { value, unit })
                    })
                    .collect();
                run.insert("exit_code", Measured::ExitCode(exit_codes[i]));
                run
            })
            .collect();
        let summary = Metric::ALL
            .iter()
            .map(|&m| (m.name(), MetricSummary::of(&values(m), m.json_unit())))
            .collect();
        let wall = MetricSummary::of(&times, "second");
        let name = c.base_name.clone().unwrap_or_else(|| c.name.clone());
        let command = match (layout, &c.command_line) {
            (Layout::Hyperfine2, Some(line)) => line.clone(),
            _ => name.clone(),
        };
        HyperfineResult {
            command,
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
                .map(|p| {
                    let value = match layout {
                        Layout::Hyperfine1 => ParameterValue::Text(p.value.clone()),
                        Layout::Hyperfine2 => ParameterValue::Wrapped {
                            value: p.value.clone(),
                        },
                    };
                    (p.name.clone(), value)
                })
                .collect(),
            environment: c.environment.clone(),
            p50: c.wall.p50 as f64 * NS,
            p90: c.wall.p90 as f64 * NS,
            p99: c.wall.p99 as f64 * NS,
        }
    }

    /// Every run's value of `metric`, in seconds or bytes.
    fn values(&self, metric: Metric) -> Vec<f64> {
        self.measurements
            .iter()
            .filter_map(|run| match run.get(metric.name()) {
                Some(Measured::Value { value, .. }) => Some(*value),
                _ => None,
            })
            .collect()
    }

    /// The statistics of `metric` over the runs.
    fn stats(&self, metric: Metric) -> MetricSummary {
        self.summary
            .get(metric.name())
            .cloned()
            .unwrap_or_else(|| MetricSummary::of(&self.values(metric), metric.json_unit()))
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
    /// `min`, one decimal (hyperfine 1.21).
    Minute,
    /// `h`, one decimal (hyperfine 1.21).
    Hour,
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

    /// The unit, as the metrics have it.
    #[must_use]
    pub fn unit(self) -> Unit {
        let index = match self {
            TimeUnit::Microsecond => 1,
            TimeUnit::Millisecond => 2,
            TimeUnit::Second => 3,
            TimeUnit::Minute => 4,
            TimeUnit::Hour => 5,
        };
        super::metric::TIME_UNITS[index]
    }

    /// The unit's symbol.
    #[must_use]
    pub fn symbol(self) -> &'static str {
        self.unit().symbol
    }

    /// `seconds` in this unit, with hyperfine's decimals: three for seconds, else one.
    #[must_use]
    pub fn format(self, seconds: f64) -> String {
        self.unit().format_value(seconds)
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
#[derive(Clone, Debug, PartialEq)]
pub struct Style {
    /// The tables' time unit; chosen from the first result without one.
    pub unit: Option<TimeUnit>,
    /// The rows' order.
    pub sort: SortOrder,
    /// hyperfine 2's `--metrics`: the metric the tables and hyperfine 2's scripts take (the
    /// first), the CSV's columns in [`Layout::Hyperfine2`], and the text's lines.
    pub metrics: Metrics,
    /// Whose files to write where hyperfine 1 and 2 differ.
    pub layout: Layout,
}

impl Default for Style {
    fn default() -> Style {
        Style {
            unit: None,
            sort: SortOrder::Auto,
            metrics: Metrics::default(),
            layout: Layout::Hyperfine1,
        }
    }
}

impl Style {
    /// hyperfine 2's `--metrics PRESET|METRIC[:UNIT],…` ([`Metrics::parse`]).
    ///
    /// # Errors
    /// [`SysError::InvalidPlan`] for an unknown metric or unit, or a hardware counter.
    pub fn with_metrics(mut self, text: &str) -> Result<Style, SysError> {
        self.metrics = Metrics::parse(text)?;
        Ok(self)
    }

    /// The time unit of hyperfine 1's tables, which show wall time: the first metric's when
    /// it is a time in a unit they have (`--metrics time_cpu:ms`), as the text shows that
    /// metric in it too, else `-u`'s.
    #[must_use]
    pub fn table_unit(&self) -> Option<TimeUnit> {
        let first = self.metrics.primary();
        let from_metrics = match first.unit.map(|u| u.symbol) {
            _ if !first.metric.is_time() => None,
            Some("µs") => Some(TimeUnit::Microsecond),
            Some("ms") => Some(TimeUnit::Millisecond),
            Some("s") => Some(TimeUnit::Second),
            Some("min") => Some(TimeUnit::Minute),
            Some("h") => Some(TimeUnit::Hour),
            _ => None,
        };
        from_metrics.or(self.unit)
    }

    /// The JSON's `primary_metric`.
    #[must_use]
    pub fn primary_metric(&self) -> &'static str {
        self.metrics.primary().metric.name()
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

/// One row of hyperfine 1's tables: a result and its speed relative to the base.
struct Relative<'a> {
    result: &'a HyperfineResult,
    /// At least 1 with a reference (how many times faster or slower), else the mean over the
    /// fastest's.
    ratio: f64,
    /// The two means' relative deviations combined, as hyperfine does.
    stddev: Option<f64>,
    /// Whether this is the reference, or without one the fastest.
    is_base: bool,
    /// The row's order against the base: `Less` is faster.
    ordering: std::cmp::Ordering,
}

/// Each result's speed relative to `reference` (hyperfine 1.21: a ratio of at least 1 in
/// either direction) or, without one, to the fastest, in the order `sort` gives for tables.
fn relative(
    results: &[HyperfineResult],
    sort: SortOrder,
    reference: Option<usize>,
) -> Vec<Relative<'_>> {
    let fastest = results.iter().min_by(|a, b| a.mean.total_cmp(&b.mean));
    let Some(base) = reference.and_then(|i| results.get(i)).or(fastest) else {
        return Vec::new();
    };
    let mut rows: Vec<_> = results
        .iter()
        .map(|r| {
            let is_base = std::ptr::eq(r, base);
            let ordering = r.mean.total_cmp(&base.mean);
            if r.mean == 0.0 || base.mean == 0.0 {
                let ratio = if is_base { 1.0 } else { f64::INFINITY };
                return Relative {
                    result: r,
                    ratio,
                    stddev: None,
                    is_base,
                    ordering,
                };
            }
            let ratio = match ordering {
                std::cmp::Ordering::Less => base.mean / r.mean,
                std::cmp::Ordering::Equal => 1.0,
                std::cmp::Ordering::Greater => r.mean / base.mean,
            };
            let stddev = match (r.stddev, base.stddev) {
                (Some(a), Some(b)) => {
                    Some(ratio * ((a / r.mean).powi(2) + (b / base.mean).powi(2)).sqrt())
                }
                _ => None,
            };
            Relative {
                result: r,
                ratio,
                stddev,
                is_base,
                ordering,
            }
        })
        .collect();
    if sort == SortOrder::MeanTime {
        rows.sort_by(|a, b| a.result.mean.total_cmp(&b.result.mean));
    }
    rows
}

/// hyperfine 1's Relative cell: the ratio, ± its deviation except for the base, and with a
/// reference (1.21) whether the row is the reference, faster, slower or the same speed.
fn relative_cell(row: &Relative<'_>, explicit_reference: bool) -> String {
    use std::cmp::Ordering;
    // The ratio of two zero times is undefined, even though they compare equal.
    if explicit_reference
        && !row.is_base
        && row.ordering == Ordering::Equal
        && row.result.mean == 0.0
    {
        return "N/A".to_owned();
    }
    let stddev = match row.stddev {
        Some(s) if !row.is_base => format!(" ± {s:.2}"),
        _ => String::new(),
    };
    let label = match (explicit_reference, row.is_base, row.ordering) {
        (false, ..) => "",
        (true, true, _) => " (reference)",
        (true, false, Ordering::Less) => " (faster)",
        (true, false, Ordering::Equal) => " (same speed)",
        (true, false, Ordering::Greater) => " (slower)",
    };
    format!("{:.2}{stddev}{label}", row.ratio)
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
    reference: Option<usize>,
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
    for row in relative(results, sort, reference) {
        let r = row.result;
        let mean = match r.stddev {
            Some(s) => format!("{} ± {}", unit.format(r.mean), unit.format(s)),
            None => unit.format(r.mean),
        };
        let relative = relative_cell(&row, reference.is_some());
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

/// hyperfine 2's table of `results` in `markup`: the mean and standard deviation of the
/// `primary` metric (in its unit, else `time_unit` for a time, else one chosen from the first
/// non-zero mean), the change from the first row and, past 30%, the factor; then perfkit's
/// p50 and p99 of the same metric.
#[must_use]
pub fn markup_table_v2(
    results: &[HyperfineResult],
    markup: Markup,
    primary: MetricSelection,
    time_unit: Option<TimeUnit>,
    sort: SortOrder,
    reference: Option<usize>,
) -> String {
    let mut rows: Vec<(&HyperfineResult, MetricSummary)> = results
        .iter()
        .map(|r| (r, r.stats(primary.metric)))
        .collect();
    if sort == SortOrder::MeanTime {
        rows.sort_by(|a, b| a.1.mean.total_cmp(&b.1.mean));
    }
    let unit = match (primary.unit, time_unit) {
        (None, Some(time)) if primary.metric.is_time() => time.unit(),
        _ => {
            let mean = rows.iter().map(|r| r.1.mean).find(|&m| m != 0.0);
            primary.display_unit(mean.unwrap_or(0.0))
        }
    };
    let u = unit.symbol;
    let mut table: Vec<Vec<String>> = vec![vec![
        "Command".to_owned(),
        format!("Mean {} [{u}]", primary.metric.label()),
        "Change".to_owned(),
        "Factor".to_owned(),
        format!("p50 [{u}]"),
        format!("p99 [{u}]"),
    ]];
    // hyperfine 2 compares with the first row; a --reference (hyperfine 1's) stands for it.
    let base = match reference {
        Some(i) => results.get(i),
        None => rows.first().map(|r| r.0),
    };
    let first = base.map(|b| b.stats(primary.metric));
    for (r, stats) in &rows {
        let command = quote_v2(markup, &r.command_with_unused_parameters);
        let mean = match stats.stddev {
            Some(s) => format!(
                "{} ± {}",
                unit.format_value(stats.mean),
                unit.format_value(s)
            ),
            None => unit.format_value(stats.mean),
        };
        let is_base = base.is_some_and(|b| std::ptr::eq(b, *r));
        let (change, factor) = match &first {
            Some(reference) if !is_base => (
                change_from(stats, reference),
                factor_from(stats, reference, primary.metric),
            ),
            _ => (String::new(), String::new()),
        };
        let mut values = r.values(primary.metric);
        let quantile = |values: &mut [f64], q| {
            perfkit_metrics::stats::quantile_unsorted(values, q)
                .map_or_else(String::new, |v| unit.format_value(v))
        };
        let p50 = quantile(&mut values, 0.5);
        let p99 = quantile(&mut values, 0.99);
        table.push(vec![command, mean, change, factor, p50, p99]);
    }
    render_v2(markup, &table)
}

/// hyperfine 2's table markup: the first and fourth columns (command, factor) left-aligned,
/// the others right-aligned.
fn render_v2(markup: Markup, table: &[Vec<String>]) -> String {
    let right = [false, true, true, false, true, true];
    let mut out = String::new();
    match markup {
        Markup::Markdown => {
            for (i, row) in table.iter().enumerate() {
                let _ = writeln!(out, "| {} |", row.join(" | "));
                if i == 0 {
                    let divider: String = right
                        .iter()
                        .map(|&r| if r { "---:|" } else { ":---|" })
                        .collect();
                    let _ = writeln!(out, "|{divider}");
                }
            }
        }
        Markup::Asciidoc => {
            let cols: Vec<&str> = right.iter().map(|&r| if r { ">" } else { "<" }).collect();
            let _ = write!(out, "[cols=\"{}\"]\n|===", cols.join(","));
            for row in table {
                out.push('\n');
                for cell in row {
                    out.push('|');
                    if !cell.is_empty() {
                        out.push(' ');
                        out.push_str(cell);
                    }
                    out.push('\n');
                }
            }
            out.push_str("|===\n");
        }
        Markup::Orgmode => {
            for (i, row) in table.iter().enumerate() {
                let _ = writeln!(out, "| {}  |  {} |", row[0], row[1..].join(" |  "));
                if i == 0 {
                    let _ = writeln!(out, "|{}--|", "--+".repeat(row.len() - 1));
                }
            }
        }
    }
    out
}

/// A command as hyperfine 2's tables quote it: as code, `|` escaped, and in Markdown a fence
/// longer than any run of backticks in it.
fn quote_v2(markup: Markup, name: &str) -> String {
    let name = name.replace('|', "\\|");
    match markup {
        Markup::Markdown => {
            let longest = name.split(|c| c != '`').map(str::len).max().unwrap_or(0);
            if longest == 0 {
                format!("`{name}`")
            } else {
                let fence = "`".repeat(longest + 1);
                format!("{fence} {name} {fence}")
            }
        }
        Markup::Asciidoc => format!("`{name}`"),
        Markup::Orgmode => format!("={name}="),
    }
}

/// hyperfine 2's change of `stats`' mean from `reference`'s: `+40.6%`, `0.0%`, or `N/A`
/// against a zero mean.
fn change_from(stats: &MetricSummary, reference: &MetricSummary) -> String {
    if reference.mean == 0.0 {
        return "N/A".to_owned();
    }
    let change = format!("{:+.1}%", 100.0 * (stats.mean / reference.mean - 1.0));
    if change == "+0.0%" || change == "-0.0%" {
        "0.0%".to_owned()
    } else {
        change
    }
}

/// hyperfine 2's factor from `reference`, for changes of 30% or more: `(1.4x slower)`,
/// `(2.0x less)`; empty otherwise.
fn factor_from(stats: &MetricSummary, reference: &MetricSummary, metric: Metric) -> String {
    let (mean, base) = (stats.mean, reference.mean);
    if !(base > 0.0 && (mean >= 1.3 * base || mean <= 0.7 * base)) {
        return String::new();
    }
    let decrease = mean < base;
    let factor = if decrease { base / mean } else { mean / base };
    let direction = match (metric.is_time(), decrease) {
        (true, true) => "faster",
        (true, false) => "slower",
        (false, true) => "less",
        (false, false) => "more",
    };
    let factor = if factor.is_infinite() {
        "∞".to_owned()
    } else {
        format!("{factor:.1}")
    };
    format!("({factor}x {direction})")
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
    /// The report in `format`, in `style`'s layout, unit, order and metrics.
    ///
    /// # Errors
    /// A report that JSON cannot hold (never, for a report perfkit measured).
    pub fn export(&self, format: ExportFormat, style: &Style) -> Result<String, serde_json::Error> {
        let results = HyperfineResult::from_report(self, style.layout);
        let reference = self.reference;
        Ok(match (format, style.layout) {
            (ExportFormat::Json, _) => {
                serde_json::to_string_pretty(&JsonExport {
                    report: self,
                    primary_metric: style.primary_metric(),
                    results,
                })? + "\n"
            }
            (ExportFormat::Csv, Layout::Hyperfine1) => csv(&results),
            (ExportFormat::Csv, Layout::Hyperfine2) => csv_v2(&results, &style.metrics),
            (ExportFormat::Markup(markup), Layout::Hyperfine1) => {
                markup_table(&results, markup, style.table_unit(), style.sort, reference)
            }
            (ExportFormat::Markup(markup), Layout::Hyperfine2) => markup_table_v2(
                &results,
                markup,
                style.metrics.primary(),
                style.unit,
                style.sort,
                reference,
            ),
            (ExportFormat::Svg, _) => self.to_svg(),
        })
    }
}

/// The `parameter_NAME` columns of hyperfine's CSV, both versions: the first benchmark's
/// parameters, in name order.
struct ParameterColumns<'a>(Vec<&'a String>);

impl<'a> ParameterColumns<'a> {
    fn of(results: &'a [HyperfineResult]) -> Self {
        ParameterColumns(
            results
                .first()
                .map(|r| r.parameters.keys().collect())
                .unwrap_or_default(),
        )
    }

    fn header(&self) -> impl Iterator<Item = String> + '_ {
        self.0.iter().map(|p| csv_field(&format!("parameter_{p}")))
    }

    fn values<'r>(&'r self, r: &'r HyperfineResult) -> impl Iterator<Item = String> + 'r {
        (self.0.iter()).map(|p| csv_field(r.parameters.get(*p).map_or("", ParameterValue::text)))
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
    let parameters = ParameterColumns::of(results);
    let mut header: Vec<String> = [
        "command", "mean", "stddev", "median", "user", "system", "min", "max",
    ]
    .map(str::to_owned)
    .to_vec();
    header.extend(parameters.header());
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
        row.extend(parameters.values(r));
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

/// hyperfine 2's CSV: `command` (the name, without the parameters it does not use: hyperfine
/// 2 writes the name here although its JSON's `command` is the command run), then for every
/// metric of `metrics` its `_unit`, `_mean`,
/// `_stddev`, `_median`, `_min` and `_max` (in the unit asked for, else seconds or bytes), a
/// `parameter_NAME` column per parameter, then perfkit's `_p50`, `_p90` and `_p99` of each
/// metric.
#[must_use]
pub fn csv_v2(results: &[HyperfineResult], metrics: &Metrics) -> String {
    let parameters = ParameterColumns::of(results);
    let mut header = vec!["command".to_owned()];
    for s in metrics.selected() {
        let name = s.metric.name();
        header.extend(
            ["unit", "mean", "stddev", "median", "min", "max"].map(|f| format!("{name}_{f}")),
        );
    }
    header.extend(parameters.header());
    for s in metrics.selected() {
        let name = s.metric.name();
        header.extend(["p50", "p90", "p99"].map(|f| format!("{name}_{f}")));
    }
    let mut out = header.join(",") + "\n";
    for r in results {
        let mut row = vec![csv_field(&r.name)];
        for s in metrics.selected() {
            let unit = s.csv_unit();
            let stats = r.stats(s.metric);
            let scaled = |v: f64| (v / unit.scale).to_string();
            row.push(csv_field(unit.symbol));
            row.push(scaled(stats.mean));
            row.push(stats.stddev.map(scaled).unwrap_or_default());
            row.extend([stats.median, stats.min, stats.max].map(scaled));
        }
        row.extend(parameters.values(r));
        for s in metrics.selected() {
            let unit = s.csv_unit();
            let mut values = r.values(s.metric);
            for q in [0.5, 0.9, 0.99] {
                row.push(
                    perfkit_metrics::stats::quantile_unsorted(&mut values, q)
                        .map_or_else(String::new, |v| (v / unit.scale).to_string()),
                );
            }
        }
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
            environment: BTreeMap::new(),
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
        let table = markup_table(&results(), Markup::Markdown, None, SortOrder::Command, None);
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
            None,
        );
        assert!(seconds.contains("| `sleep 0.1` | 0.106 ± 0.002 | 0.102 | 0.108 | 1.00 |"));
        // By mean time, the fastest first, whatever the commands' order.
        let mut reversed = results();
        reversed.reverse();
        let by_time = markup_table(&reversed, Markup::Markdown, None, SortOrder::MeanTime, None);
        let by_command = markup_table(&reversed, Markup::Markdown, None, SortOrder::Command, None);
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
    fn a_reference_is_compared_as_hyperfine_1_21_compares_it() {
        let single = |command: &str, t: f64| HyperfineResult {
            mean: t,
            stddev: None,
            min: t,
            max: t,
            ..measured(command, &[t], 0.0)
        };
        let rows = [
            single("baseline", 2.0),
            single("sleep 1", 1.0),
            single("sleep 2", 2.0),
            single("sleep 3", 3.0),
        ];
        let table = markup_table(&rows, Markup::Markdown, None, SortOrder::Command, Some(0));
        // hyperfine 1.21's snapshot (command_sorted_comparison_and_markup_identify_reference).
        assert_eq!(
            without_last_columns(&table, 3),
            "| Command | Mean [s] | Min [s] | Max [s] | Relative |\n\
             |:---|---:|---:|---:|---:|\n\
             | `baseline` | 2.000 | 2.000 | 2.000 | 1.00 (reference) |\n\
             | `sleep 1` | 1.000 | 1.000 | 1.000 | 2.00 (faster) |\n\
             | `sleep 2` | 2.000 | 2.000 | 2.000 | 1.00 (same speed) |\n\
             | `sleep 3` | 3.000 | 3.000 | 3.000 | 1.50 (slower) |\n"
        );
        // A reference in the middle (a parameter scan's), and equal zero times.
        let table = markup_table(
            &rows[1..],
            Markup::Markdown,
            None,
            SortOrder::Command,
            Some(1),
        );
        assert!(table.contains("| `sleep 2` | 2.000 | 2.000 | 2.000 | 1.00 (reference) |"));
        let zeros = [single("a", 0.0), single("b", 0.0)];
        let table = markup_table(&zeros, Markup::Markdown, None, SortOrder::Command, Some(0));
        assert!(table.lines().nth(3).unwrap().contains("| N/A |"), "{table}");
    }

    #[test]
    fn asciidoc_and_org_match_hyperfines_layout() {
        let adoc = markup_table(&results(), Markup::Asciidoc, None, SortOrder::Command, None);
        assert!(adoc.starts_with("[cols=\"<,>,>,>,>,>,>,>\"]\n|===\n| Command \n| Mean [ms] \n"));
        assert!(
            adoc.contains(
                "\n| `sleep 2` \n| 2005.0 ± 2.0 \n| 2002.0 \n| 2008.0 \n| 18.97 ± 0.29 \n"
            )
        );
        assert!(adoc.ends_with("|===\n"));
        let org = markup_table(&results(), Markup::Orgmode, None, SortOrder::Command, None);
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
        rows[0]
            .parameters
            .insert("size".into(), ParameterValue::Text("1,5".into()));
        rows[1]
            .parameters
            .insert("size".into(), ParameterValue::Text("2".into()));
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
        assert_eq!(style.clone().with_metrics("default").unwrap(), style);
        let memory = style
            .clone()
            .with_metrics("memory_peak_resident:MiB,time_wall_clock:ms")
            .unwrap();
        assert_eq!(
            (memory.primary_metric(), memory.table_unit()),
            ("memory_peak_resident", None)
        );
        let ms = style.clone().with_metrics("time_cpu:ms").unwrap();
        assert_eq!(
            (ms.primary_metric(), ms.table_unit()),
            ("time_cpu", Some(TimeUnit::Millisecond))
        );
        // The first metric's unit is the tables', never the text's other metrics'.
        assert_eq!(ms.unit, None);
        for (bad, says) in [
            ("instructions", "perfkit stat"),
            ("wall", "unknown metric"),
            ("time_cpu:MiB", "not a unit"),
            ("memory_peak_resident:ms", "not a unit"),
        ] {
            let error = style.clone().with_metrics(bad).unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    /// A result whose runs took `times` seconds of wall and user time and `memory` bytes,
    /// as hyperfine 2's export tests build theirs.
    fn measured(command: &str, times: &[f64], memory: f64) -> HyperfineResult {
        let value = |value, unit| Measured::Value { value, unit };
        let measurements: Vec<BTreeMap<&'static str, Measured>> = times
            .iter()
            .map(|&t| {
                BTreeMap::from([
                    ("time_wall_clock", value(t, "second")),
                    ("time_cpu", value(t, "second")),
                    ("time_user", value(t, "second")),
                    ("time_system", value(0.0, "second")),
                    ("memory_peak_resident", value(memory, "byte")),
                    ("exit_code", Measured::ExitCode(Some(0))),
                ])
            })
            .collect();
        let mut result = HyperfineResult {
            measurements,
            summary: BTreeMap::new(),
            ..results().remove(0)
        };
        result.command = command.into();
        result.name = command.into();
        result.command_with_unused_parameters = command.into();
        result.summary = Metric::ALL
            .iter()
            .map(|&m| {
                (
                    m.name(),
                    MetricSummary::of(&result.values(m), m.json_unit()),
                )
            })
            .collect();
        result
    }

    fn wall() -> MetricSelection {
        MetricSelection {
            metric: Metric::WallClock,
            unit: None,
        }
    }

    #[test]
    fn hyperfine_2_tables_match_its_own_snapshots() {
        // hyperfine 2.0.0's test_markup_export_auto_ms, with perfkit's p50 and p99 after.
        let ms = [
            measured("sleep 0.1", &[0.09, 0.10, 0.14], 1024.0),
            measured("sleep 2", &[2.0, 3.0, 4.0], 1024.0),
        ];
        let table = |markup| markup_table_v2(&ms, markup, wall(), None, SortOrder::Auto, None);
        assert_eq!(
            table(Markup::Markdown),
            "| Command | Mean Wall Time [ms] | Change | Factor | p50 [ms] | p99 [ms] |\n\
             |:---|---:|---:|:---|---:|---:|\n\
             | `sleep 0.1` | 110.0 ± 26.5 |  |  | 100.0 | 140.0 |\n\
             | `sleep 2` | 3000.0 ± 1000.0 | +2627.3% | (27.3x slower) | 3000.0 | 4000.0 |\n"
        );
        assert_eq!(
            table(Markup::Asciidoc),
            "[cols=\"<,>,>,<,>,>\"]\n|===\n\
             | Command\n| Mean Wall Time [ms]\n| Change\n| Factor\n| p50 [ms]\n| p99 [ms]\n\n\
             | `sleep 0.1`\n| 110.0 ± 26.5\n|\n|\n| 100.0\n| 140.0\n\n\
             | `sleep 2`\n| 3000.0 ± 1000.0\n| +2627.3%\n| (27.3x slower)\n| 3000.0\n| 4000.0\n\
             |===\n"
        );
        assert_eq!(
            table(Markup::Orgmode),
            "| Command  |  Mean Wall Time [ms] |  Change |  Factor |  p50 [ms] |  p99 [ms] |\n\
             |--+--+--+--+--+--|\n\
             | =sleep 0.1=  |  110.0 ± 26.5 |   |   |  100.0 |  140.0 |\n\
             | =sleep 2=  |  3000.0 ± 1000.0 |  +2627.3% |  (27.3x slower) |  3000.0 |  4000.0 |\n"
        );
        // test_markup_export_auto_s: the first row's unit, and a faster second row.
        let s = [
            measured("sleep 2", &[2.1, 2.2, 2.3], 1024.0),
            measured("sleep 0.1", &[0.1, 0.2, 0.3], 1024.0),
        ];
        let table = markup_table_v2(&s, Markup::Markdown, wall(), None, SortOrder::Auto, None);
        assert!(table.contains("| `sleep 2` | 2.200 ± 0.100 |  |  | 2.200 | 2.300 |\n"));
        assert!(
            table.contains("| `sleep 0.1` | 0.200 ± 0.100 | -90.9% | (11.0x faster) | 0.200 |")
        );
        // A command with backticks gets a longer fence, as hyperfine 2 writes it.
        let ticks = [measured("echo `date`", &[0.1], 0.0)];
        let table = markup_table_v2(
            &ticks,
            Markup::Markdown,
            wall(),
            None,
            SortOrder::Auto,
            None,
        );
        assert!(table.contains("| `` echo `date` `` | 100.0 |"), "{table}");
        // Memory first: hyperfine 2's label and "less"/"more" rather than faster/slower.
        let memory = MetricSelection {
            metric: Metric::PeakMemory,
            unit: None,
        };
        let rows = [
            measured("a", &[0.1], 4.0 * 1_048_576.0),
            measured("b", &[0.1], 1_048_576.0),
        ];
        let table = markup_table_v2(&rows, Markup::Markdown, memory, None, SortOrder::Auto, None);
        assert!(
            table.starts_with("| Command | Mean Memory [MiB] |"),
            "{table}"
        );
        assert!(
            table.contains("| `b` | 1.0 | -75.0% | (4.0x less) |"),
            "{table}"
        );
        // Sorted by mean, the first row is the base.
        let sorted = markup_table_v2(
            &rows,
            Markup::Markdown,
            memory,
            None,
            SortOrder::MeanTime,
            None,
        );
        assert!(sorted.contains("| `b` | 1.0 |  |  |"), "{sorted}");
        assert!(
            sorted.contains("| `a` | 4.0 | +300.0% | (4.0x more) |"),
            "{sorted}"
        );
        // A reference elsewhere is what the others change from.
        let table = markup_table_v2(
            &rows,
            Markup::Markdown,
            memory,
            None,
            SortOrder::Auto,
            Some(1),
        );
        assert!(
            table.contains("| `a` | 4.0 | +300.0% | (4.0x more) |"),
            "{table}"
        );
        assert!(table.contains("| `b` | 1.0 |  |  |"), "{table}");
        // Against a zero mean there is no change to give.
        let zero = [measured("a", &[0.0], 0.0), measured("b", &[0.1], 0.0)];
        let table = markup_table_v2(&zero, Markup::Markdown, wall(), None, SortOrder::Auto, None);
        assert!(table.contains("| N/A |"), "{table}");
    }

    #[test]
    fn hyperfine_2_csv_matches_its_own_snapshot() {
        // hyperfine 2.0.0's test_csv, with perfkit's percentiles after the parameters.
        let mut rows = [
            measured("command_a", &[7.0, 8.0, 12.0], 1024.0),
            measured("command_b", &[17.0, 18.0, 19.0], 1024.0),
        ];
        for (row, bar) in rows.iter_mut().zip(["two", "seven"]) {
            for (name, value) in [("bar", bar), ("foo", "one")] {
                let value = ParameterValue::Wrapped {
                    value: value.into(),
                };
                row.parameters.insert(name.into(), value);
            }
        }
        let metrics = Metrics::parse("time_wall_clock,memory_peak_resident").unwrap();
        // The command column holds the name, as hyperfine 2's `get_name()`, not the command.
        rows[1].command = "echo command_b".into();
        let text = csv_v2(&rows, &metrics);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "command,time_wall_clock_unit,time_wall_clock_mean,time_wall_clock_stddev,time_wall_clock_median,time_wall_clock_min,time_wall_clock_max,memory_peak_resident_unit,memory_peak_resident_mean,memory_peak_resident_stddev,memory_peak_resident_median,memory_peak_resident_min,memory_peak_resident_max,parameter_bar,parameter_foo,\
             time_wall_clock_p50,time_wall_clock_p90,time_wall_clock_p99,memory_peak_resident_p50,memory_peak_resident_p90,memory_peak_resident_p99"
        );
        assert_eq!(
            lines[1],
            "command_a,s,9,2.6457513110645907,8,7,12,B,1024,0,1024,1024,1024,two,one,8,12,12,1024,1024,1024"
        );
        assert_eq!(
            lines[2],
            "command_b,s,18,1,18,17,19,B,1024,0,1024,1024,1024,seven,one,18,19,19,1024,1024,1024"
        );
        // A unit asked for scales the columns; a single run has no deviation.
        let kib = Metrics::parse("memory_peak_resident:KiB").unwrap();
        let one = [measured("x", &[1.0], 2048.0)];
        assert_eq!(
            csv_v2(&one, &kib).lines().nth(1),
            Some("x,KiB,2,,2,2,2,2,2,2")
        );
    }

    #[test]
    fn units_follow_hyperfines_thresholds() {
        assert_eq!(TimeUnit::for_seconds(1.0), TimeUnit::Second);
        assert_eq!(TimeUnit::for_seconds(0.999), TimeUnit::Millisecond);
        assert_eq!(TimeUnit::for_seconds(0.0005), TimeUnit::Microsecond);
        assert_eq!(TimeUnit::Second.format(123.456_789), "123.457");
        assert_eq!(TimeUnit::Millisecond.format(123.456_789), "123456.8");
        assert_eq!(TimeUnit::Microsecond.format(0.001_234_56), "1234.6");
        assert_eq!(TimeUnit::Minute.format(90.0), "1.5");
        assert_eq!(TimeUnit::Hour.format(5400.0), "1.5");
    }
}
