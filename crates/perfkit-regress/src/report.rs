//! Rendering a [`CheckReport`] for people: a terminal table and Markdown for a pull-request
//! comment. (JSON is the report's serde form.)

use perfkit_metrics::markdown::{Align, MarkdownTable, code};
use std::fmt::Write as _;

use perfkit_metrics::{format_bytes, format_duration, format_rate};

use crate::check::{CheckReport, Finding, Side, Unit, Verdict, format_p};

/// A value in its unit: `1.234 ms`, `812.3 k/s`, `45.00 MiB`.
#[must_use]
pub fn format_value(value: f64, unit: Unit) -> String {
    let per_second = |suffix: &str| {
        let m = value.abs();
        let (scaled, prefix) = if m >= 1e9 {
            (value / 1e9, "G")
        } else if m >= 1e6 {
            (value / 1e6, "M")
        } else if m >= 1e3 {
            (value / 1e3, "k")
        } else {
            (value, "")
        };
        format!("{scaled:.2} {prefix}{suffix}")
    };
    match unit {
        Unit::Nanoseconds => format_duration(value),
        Unit::IterationsPerSecond => per_second("iter/s"),
        Unit::ElementsPerSecond => per_second("elem/s"),
        Unit::BytesPerSecond => format_rate(value),
        Unit::Bytes => format_bytes(value.max(0.0).round() as u64),
    }
}

/// `YYYY-MM-DD HH:MM UTC` for seconds since the Unix epoch.
#[must_use]
pub fn format_time(unix_s: u64) -> String {
    let days = i64::try_from(unix_s / 86_400).unwrap_or(i64::MAX / 2);
    let secs = unix_s % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}

fn describe(side: &Side) -> String {
    let mut out = side.file.clone().unwrap_or_else(|| "this run".to_string());
    let _ = write!(out, " ({}", side.source.kind);
    if let Some(origin) = side
        .source
        .path
        .as_ref()
        .filter(|p| side.file.as_ref() != Some(*p))
    {
        let _ = write!(out, " from {origin}");
    }
    if let Some(name) = &side.source.criterion_baseline {
        let _ = write!(out, " baseline '{name}'");
    }
    let _ = write!(out, ", {}", format_time(side.created_unix_s));
    if let Some(commit) = &side.environment.git_commit {
        let short: String = commit.chars().take(10).collect();
        let dirty = if side.environment.git_dirty == Some(true) {
            "+changes"
        } else {
            ""
        };
        let _ = write!(out, ", git {short}{dirty}");
    }
    out.push(')');
    out
}

fn policy_line(report: &CheckReport) -> String {
    let rules: Vec<String> = report
        .policy
        .rules
        .iter()
        .map(|r| {
            let way = if r.metric.higher_is_better() {
                "lower"
            } else {
                "higher"
            };
            format!("{} {way} by > {:.1}%", r.metric, r.threshold * 100.0)
        })
        .collect();
    format!(
        "{}, and significant at alpha {} (at least {} samples per side)",
        rules.join(", "),
        report.policy.alpha,
        report.policy.min_samples
    )
}

/// A finding's table cells: benchmark, metric, baseline, current, change, interval of the
/// ratio, p-value, verdict (`REGRESSED` in capitals).
#[must_use]
pub fn finding_cells(f: &Finding) -> [String; 8] {
    let value = |v: Option<f64>| v.map_or_else(|| "—".to_string(), |v| format_value(v, f.unit));
    [
        f.benchmark.clone(),
        f.metric.to_string(),
        value(f.baseline),
        value(f.current),
        f.change
            .map_or_else(|| "—".to_string(), |c| format!("{:+.1}%", c * 100.0)),
        f.interval.map_or_else(
            || "—".to_string(),
            |i| format!("{:.3}–{:.3}", i.low, i.high),
        ),
        f.p_value.map_or_else(|| "—".to_string(), format_p),
        match f.verdict {
            Verdict::Regressed => "REGRESSED".to_string(),
            other => other.name().to_string(),
        },
    ]
}

/// The outcome in a few words: "no regression, 2 unchanged", "1 regression, 1 unchanged".
#[must_use]
pub fn headline(report: &CheckReport) -> String {
    let t = report.tally;
    let mut parts = Vec::new();
    if t.regressed > 0 {
        parts.push(format!(
            "{} regression{}",
            t.regressed,
            if t.regressed == 1 { "" } else { "s" }
        ));
    } else {
        parts.push("no regression".to_string());
    }
    if t.improved > 0 {
        parts.push(format!("{} improved", t.improved));
    }
    if t.unchanged > 0 {
        parts.push(format!("{} unchanged", t.unchanged));
    }
    if t.inconclusive > 0 {
        parts.push(format!("{} inconclusive", t.inconclusive));
    }
    parts.join(", ")
}

/// The header of the interval column: "95% CI of ratio" for alpha 0.05.
#[must_use]
pub fn confidence_label(report: &CheckReport) -> String {
    format!("{:.0}% CI of ratio", (1.0 - report.policy.alpha) * 100.0)
}

/// How perfkit's percentiles are defined, in words for reports.
pub const PERCENTILES_NOTE: &str = "percentiles by nearest rank (the p50 of an even count is the \
     lower middle value; hyperfine's and criterion's medians average the two middle values)";

/// A benchmark report with the check of it against a baseline beside it, when there was one.
#[derive(Debug, serde::Serialize)]
pub struct CheckedBench<'a> {
    /// The benchmark report, whose fields stay at the top level.
    #[serde(flatten)]
    pub report: &'a perfkit_sys::BenchReport,
    /// The check, when the benchmarks were checked against a baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<&'a CheckReport>,
    /// The baseline file of the check, named in the text above it.
    #[serde(skip)]
    pub baseline: Option<&'a std::path::Path>,
    /// The text's time unit (each time in its own without one), summary order and metrics.
    #[serde(skip)]
    pub style: &'a perfkit_sys::export::Style,
}

impl CheckedBench<'_> {
    /// The benchmark report for a terminal, then the check under a heading that names the
    /// baseline.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut text = self.report.to_text_in(self.style);
        if let Some(check) = self.check {
            let from = self.baseline.map(|p| p.display().to_string());
            let _ = writeln!(
                text,
                "\nRegression check against {}",
                from.unwrap_or_default()
            );
            text.push_str(&human(check));
        }
        text
    }
}

/// The report as a terminal table with the reasons for every finding that is not "unchanged",
/// warnings, and a one-line result.
#[must_use]
pub fn human(report: &CheckReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Baseline: {}", describe(&report.baseline));
    let _ = writeln!(out, "Current:  {}", describe(&report.current));
    let _ = writeln!(out, "Rule:     {}", policy_line(report));
    let _ = writeln!(out, "Stats:    {PERCENTILES_NOTE}");
    for skipped in &report.skipped {
        let _ = writeln!(out, "Skipped:  {skipped}");
    }
    out.push('\n');
    let header = [
        "Benchmark".to_string(),
        "Metric".into(),
        "Baseline".into(),
        "Current".into(),
        "Change".into(),
        confidence_label(report),
        "p".into(),
        "Verdict".into(),
    ];
    let rows: Vec<[String; 8]> = report.findings.iter().map(finding_cells).collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            // Names left-aligned, numbers right-aligned.
            if i < 2 || i == 7 {
                let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
            } else {
                let _ = write!(line, "{}{cell}  ", " ".repeat(pad));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let notes: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.verdict != Verdict::Unchanged)
        .collect();
    if !notes.is_empty() {
        out.push('\n');
        for f in notes {
            let _ = writeln!(
                out,
                "{} {} {}: {}",
                match f.verdict {
                    Verdict::Regressed => "✗",
                    Verdict::Improved => "✓",
                    _ => "?",
                },
                f.benchmark,
                f.metric,
                f.reason
            );
        }
    }
    for line in warnings(report) {
        let _ = writeln!(out, "warning: {line}");
    }
    let _ = writeln!(out, "\nResult: {}", headline(report));
    out
}

/// Things that make the comparison less trustworthy or incomplete.
#[must_use]
pub fn warnings(report: &CheckReport) -> Vec<String> {
    let mut out = report.source_warnings.clone();
    if !report.environment_differences.is_empty() {
        out.push(format!(
            "the two runs come from different environments, so the machines are compared as much as the code: {}",
            report.environment_differences.join("; ")
        ));
    }
    if !report.missing.is_empty() {
        out.push(format!(
            "in the baseline but not measured now: {}",
            report.missing.join(", ")
        ));
    }
    if !report.added.is_empty() {
        out.push(format!(
            "new, not in the baseline (save a new baseline to track them): {}",
            report.added.join(", ")
        ));
    }
    out
}

/// The report as Markdown for a pull-request comment: a headline, the findings that matter in
/// a table (all findings folded in a `<details>` block), warnings.
#[must_use]
pub fn markdown(report: &CheckReport) -> String {
    let mut out = String::new();
    let mark = if report.has_regression() {
        "❌"
    } else {
        "✅"
    };
    let _ = writeln!(out, "### {mark} perfkit check: {}\n", headline(report));
    let _ = writeln!(
        out,
        "- **Baseline:** {}\n- **Current:** {}\n- **Rule:** {}\n- **Stats:** {PERCENTILES_NOTE}",
        describe(&report.baseline),
        describe(&report.current),
        policy_line(report)
    );
    for skipped in &report.skipped {
        let _ = writeln!(out, "- **Skipped:** {skipped}");
    }
    out.push('\n');
    let table = |findings: &[&Finding]| {
        let mut t = MarkdownTable::new([
            ("Benchmark", Align::Left),
            ("Metric", Align::Left),
            ("Baseline", Align::Right),
            ("Current", Align::Right),
            ("Change", Align::Right),
            (confidence_label(report).as_str(), Align::Right),
            ("p", Align::Right),
            ("Verdict", Align::Left),
        ]);
        for f in findings {
            let c = finding_cells(f);
            let verdict = match f.verdict {
                Verdict::Regressed => "**regressed**".to_string(),
                other => other.name().to_string(),
            };
            let [name, metric, baseline, current, change, interval, p, _] = c;
            t.row([
                code(&name),
                metric,
                baseline,
                current,
                change,
                interval,
                p,
                verdict,
            ]);
        }
        t.to_string()
    };
    let notable: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| matches!(f.verdict, Verdict::Regressed | Verdict::Improved))
        .collect();
    if !notable.is_empty() {
        out.push_str(&table(&notable));
        out.push('\n');
    }
    let all: Vec<&Finding> = report.findings.iter().collect();
    let _ = writeln!(
        out,
        "<details><summary>All {} findings</summary>\n\n{}\n</details>\n",
        all.len(),
        table(&all)
    );
    for w in warnings(report) {
        let _ = writeln!(out, "> **Warning:** {w}\n");
    }
    out
}

/// Where a baseline comes from, where it was measured, and a line per benchmark. Names
/// longer than 100 characters overflow their column rather than widen every row.
#[must_use]
pub fn describe_baseline(b: &crate::Baseline) -> String {
    let mut out = String::new();
    let source = b
        .source
        .path
        .as_deref()
        .map(|p| format!(" from {p}"))
        .unwrap_or_default();
    let criterion = b
        .source
        .criterion_baseline
        .as_deref()
        .map(|n| format!(" (criterion baseline '{n}')"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{}{source}{criterion}, {}, schema {}",
        b.source.kind,
        format_time(b.created_unix_s),
        b.schema_version
    );
    let e = &b.environment;
    let unknown = || "?".to_string();
    let _ = writeln!(
        out,
        "environment: {} · {} · {} CPUs · kernel {} · {} · git {}{}",
        e.host.clone().unwrap_or_else(unknown),
        e.cpu_model.clone().unwrap_or_else(unknown),
        e.cpus.map_or_else(unknown, |n| n.to_string()),
        e.kernel.clone().unwrap_or_else(unknown),
        e.rustc.clone().unwrap_or_else(unknown),
        e.git_commit
            .as_deref()
            .map_or_else(unknown, |c| c.chars().take(10).collect()),
        if e.git_dirty == Some(true) {
            "+changes"
        } else {
            ""
        }
    );
    let width = b
        .benchmarks
        .iter()
        .map(|x| x.name.chars().count())
        .max()
        .unwrap_or(0)
        .max("Benchmark".len())
        // Longer names overflow their column rather than widen every row.
        .min(100);
    let tool = b.benchmarks.iter().any(|x| x.tool_estimate.is_some());
    let _ = write!(
        out,
        "\n{:width$}  {:>8}  {:>10}  {:>10}  {:>10}  {:>10}",
        "Benchmark", "Samples", "Mean", "p50", "p99", "Max"
    );
    out.push_str(if tool { "  Tool's estimate\n" } else { "\n" });
    for x in &b.benchmarks {
        let s = &x.summary;
        let _ = write!(
            out,
            "{:width$}  {:>8}  {:>10}  {:>10}  {:>10}  {:>10}",
            x.name,
            x.samples_total,
            format_duration(s.mean),
            format_duration(s.p50),
            format_duration(s.p99),
            format_duration(s.max)
        );
        if let Some(e) = &x.tool_estimate {
            let _ = write!(
                out,
                "  {} [{} … {}] ({})",
                format_duration(e.ns),
                format_duration(e.low_ns),
                format_duration(e.high_ns),
                e.statistic
            );
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\n{}{}",
        PERCENTILES_NOTE,
        if tool {
            "; the tool's estimate is its own statistic"
        } else {
            ""
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(format_time(1_795_644_777), "2026-11-25 22:12 UTC");
    }

    #[test]
    fn values_carry_their_unit() {
        assert_eq!(format_value(1_500_000.0, Unit::Nanoseconds), "1.500 ms");
        assert_eq!(
            format_value(812_300.0, Unit::IterationsPerSecond),
            "812.30 kiter/s"
        );
        assert_eq!(
            format_value(45.0 * 1024.0 * 1024.0, Unit::Bytes),
            "45.00 MiB"
        );
    }
}
