//! The adapters' results as text for people: the heap peak and its allocation sites,
//! syscall summaries and latencies, library-call summaries, and the whole stat, syscalls and
//! libcalls reports around them. `top` limits the rows (0 for all); a cut table ends in a
//! line saying how many rows were left out.

use std::fmt::Write as _;

use perfkit_metrics::{format_bytes, format_duration_to};

use crate::ltrace::LtraceOutcome;
use crate::strace::{StraceFile, StraceOutcome};
use crate::{
    AllocationSite, LibcallSummary, MassifProfile, StatOutcome, StatValue, SyscallLatencies,
    SyscallSummary,
};

/// strace times each call to the microsecond (`-T`): finer digits would be false precision.
const STRACE_RESOLUTION_NS: f64 = 1_000.0;

fn limit(top: usize) -> usize {
    if top == 0 { usize::MAX } else { top }
}

fn more(out: &mut String, rows: usize, top: usize) {
    if rows > limit(top) {
        let _ = writeln!(out, "… {} more", rows - top);
    }
}

fn blank_if_zero(n: u64) -> String {
    if n == 0 { String::new() } else { n.to_string() }
}

/// How many callers of an allocation site to show: up to and including the first frame of
/// the program's own code (past the allocator, the standard library, containers and shared
/// libraries), at least three and at most sixteen.
#[must_use]
pub fn callers_to_show(callers: &[String]) -> usize {
    let own = callers
        .iter()
        .position(|f| !crate::is_library_frame(f))
        .map_or(callers.len(), |i| i + 1);
    own.clamp(3, 16).min(callers.len())
}

/// The heap's peak and its largest allocation sites, each with its callers as far as the
/// program's own code.
#[must_use]
pub fn heap_text(profile: &MassifProfile, sites: &[AllocationSite]) -> String {
    let mut out = String::new();
    let peak = profile.peak();
    match peak {
        Some(p) if p.total() > 0 => {
            let unit = profile.time_unit.suffix();
            let stacks = if p.stacks > 0 {
                format!(" + {} stacks", format_bytes(p.stacks))
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "peak: {} heap + {} allocator overhead{stacks} at {}{unit} (snapshot {})",
                format_bytes(p.heap),
                format_bytes(p.heap_extra),
                p.time,
                p.index
            );
        }
        _ => out.push_str("peak: no heap allocations recorded\n"),
    }
    if sites.is_empty() {
        return out;
    }
    let at = match (profile.sites_snapshot(), peak) {
        (Some(s), Some(p)) if s.index != p.index => format!(
            "in snapshot {} ({} heap; the peak snapshot has no allocation tree)",
            s.index,
            format_bytes(s.heap)
        ),
        _ => "at the peak".to_owned(),
    };
    let _ = writeln!(out, "\nlargest allocation sites {at}:");
    for site in sites {
        let _ = writeln!(
            out,
            "{:>12} {:>5.1}%  {}",
            format_bytes(site.bytes),
            site.percent,
            site.site
        );
        let start = site
            .call_path
            .iter()
            .position(|f| *f == site.site)
            .unwrap_or(0);
        let callers = &site.call_path[(start + 1).min(site.call_path.len())..];
        for frame in &callers[..callers_to_show(callers)] {
            let _ = writeln!(out, "{:>21}← {frame}", "");
        }
    }
    out
}

impl SyscallSummary {
    /// The `strace -c` tables; `wall_clock` names the time column for `-w` tables.
    #[must_use]
    pub fn to_text(&self, top: usize, wall_clock: bool) -> String {
        let mut out = String::new();
        for table in &self.tables {
            if let Some(mode) = &table.mode {
                let _ = writeln!(out, "\n{mode}:");
            }
            let seconds = if wall_clock { "wall s" } else { "sys s" };
            let _ = writeln!(
                out,
                "\n{:<20} {:>10} {:>8} {:>7} {:>11} {seconds:>12}",
                "syscall", "calls", "errors", "time%", "µs/call"
            );
            for row in table.rows.iter().take(limit(top)) {
                let per_call = row.usecs_per_call.map(|u| u.to_string());
                let _ = writeln!(
                    out,
                    "{:<20} {:>10} {:>8} {:>6.2}% {:>11} {:>12.6}",
                    row.syscall,
                    row.calls,
                    blank_if_zero(row.errors),
                    row.time_percent,
                    per_call.unwrap_or_default(),
                    row.seconds
                );
            }
            more(&mut out, table.rows.len(), top);
            if let Some(total) = &table.total {
                let _ = writeln!(
                    out,
                    "{:<20} {:>10} {:>8} {:>6.2}% {:>11} {:>12.6}",
                    "total", total.calls, total.errors, total.time_percent, "", total.seconds
                );
            }
        }
        out
    }
}

impl SyscallLatencies {
    /// Per system call: calls, errors, total time and the p50, p99 and longest call.
    #[must_use]
    pub fn to_text(&self, top: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n{:<20} {:>9} {:>7} {:>10} {:>10} {:>10} {:>10}",
            "syscall", "calls", "errors", "total", "p50", "p99", "max"
        );
        let time = |ns: u64| format_duration_to(ns as f64, STRACE_RESOLUTION_NS);
        for s in self.syscalls.iter().take(limit(top)) {
            let (p50, p99, max) = s.latency_ns.map_or_else(
                || ("-".to_owned(), "-".to_owned(), "-".to_owned()),
                |l| (time(l.p50), time(l.p99), time(l.max)),
            );
            let _ = writeln!(
                out,
                "{:<20} {:>9} {:>7} {:>10} {:>10} {:>10} {:>10}",
                s.syscall,
                s.calls,
                blank_if_zero(s.errors),
                time(s.total_ns),
                p50,
                p99,
                max
            );
        }
        more(&mut out, self.syscalls.len(), top);
        out
    }
}

impl LibcallSummary {
    /// The `ltrace -c` table: calls, share of time, time per call, seconds.
    #[must_use]
    pub fn to_text(&self, top: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n{:<28} {:>10} {:>7} {:>11} {:>10}",
            "function", "calls", "time%", "µs/call", "seconds"
        );
        for row in self.rows.iter().take(limit(top)) {
            let per_call = row.usecs_per_call.map(|u| u.to_string());
            let _ = writeln!(
                out,
                "{:<28} {:>10} {:>6.2}% {:>11} {:>10.6}",
                row.function,
                row.calls,
                row.time_percent,
                per_call.unwrap_or_default(),
                row.seconds
            );
        }
        more(&mut out, self.rows.len(), top);
        if let Some(total) = &self.total {
            let _ = writeln!(
                out,
                "{:<28} {:>10} {:>6.2}% {:>11} {:>10.6}",
                "total", total.calls, total.time_percent, "", total.seconds
            );
        }
        out
    }
}

impl StatOutcome {
    /// The whole report of `what`: the program's status and time, the counters, perf's
    /// notes (unless `quiet`) and what "not supported" means.
    #[must_use]
    pub fn to_text(&self, what: &str, quiet: bool) -> String {
        let runs = if self.repeat > 1 {
            format!(" ({} runs)", self.repeat)
        } else {
            String::new()
        };
        let mut text = format!(
            "perf stat of {what}{runs}: program {}, {}\n\n",
            self.status,
            self.elapsed_text()
        );
        text.push_str(&self.counters_text());
        if !quiet {
            for n in &self.notes {
                let _ = writeln!(text, "perf: {n}");
            }
            if (self.counters.iter()).any(|c| c.value == StatValue::Unsupported) {
                text.push_str(
                    "\nnote: `not supported` counters do not exist on this machine (no hardware PMU, as in most VMs); they are not zero\n",
                );
            }
        }
        text
    }

    /// The counters, one per line: the value with its unit (digits grouped), the event, the
    /// metric perf derived from it, the spread over repeats, and the share of the time the
    /// counter ran when perf had to multiplex.
    #[must_use]
    pub fn counters_text(&self) -> String {
        let mut out = String::new();
        for c in &self.counters {
            let value = match c.value {
                StatValue::Count(v) => {
                    let unit = c.unit.as_deref().unwrap_or("");
                    if v.fract() == 0.0 && v.abs() < 1e15 {
                        format!("{} {unit}", perfkit_metrics::group_thousands(v as i64))
                    } else {
                        format!("{v:.2} {unit}")
                    }
                }
                StatValue::Unsupported => "not supported".to_owned(),
                StatValue::NotCounted => "not counted".to_owned(),
            };
            let metric = (c.metric.as_ref())
                .map(|m| format!("  # {:.3} {}", m.value, m.unit))
                .unwrap_or_default();
            let variance = (c.variance_percent)
                .map(|v| format!("  (± {v:.2}%)"))
                .unwrap_or_default();
            let scaled = (c.enabled_percent)
                .filter(|p| *p < 100.0 && matches!(c.value, StatValue::Count(_)))
                .map(|p| format!("  [counted {p:.0}% of the time]"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{:>22}  {:<24}{metric}{variance}{scaled}",
                value.trim_end(),
                c.event
            );
        }
        out
    }

    /// How long the program ran; with repeats, one run's time as `perf stat -r` prints it
    /// (the mean and its spread) and the total beside it.
    #[must_use]
    pub fn elapsed_text(&self) -> String {
        let repeat = self.repeat;
        let wall = perfkit_metrics::format_std_duration(self.wall);
        match self.per_run {
            Some(per_run) => format!(
                "{} per run{} ({wall} for all {repeat} runs)",
                perfkit_metrics::format_duration(per_run.mean_ns),
                (per_run.variance_percent)
                    .map(|v| format!(" ± {v:.2}%"))
                    .unwrap_or_default(),
            ),
            None if repeat > 1 => format!("{wall} for all {repeat} runs"),
            None => wall,
        }
    }
}

impl StraceOutcome {
    /// The whole report of `what`: the program's status and time under strace, then the
    /// summary table or the latencies.
    #[must_use]
    pub fn to_text(&self, what: &str, top: usize, wall_clock: bool) -> String {
        let mut out = format!(
            "system calls of {what}: program {}, {} under strace\n",
            self.status,
            perfkit_metrics::format_std_duration(self.wall)
        );
        if let Some(summary) = &self.summary {
            if summary.total_calls() == 0 {
                out.push_str(
                    "\nno system calls were traced (the program made none in that time, or the filter matched none)\n",
                );
            }
            out.push_str(&summary.to_text(top, wall_clock));
        }
        if let Some(latencies) = &self.latencies {
            out.push_str(&latencies.to_text(top));
        }
        out
    }
}

impl StraceFile {
    /// The report of a file recorded elsewhere, named `from`.
    #[must_use]
    pub fn to_text(&self, from: &std::path::Path, top: usize, wall_clock: bool) -> String {
        let (kind, table) = match self {
            StraceFile::Summary(s) => ("an strace -c table", s.to_text(top, wall_clock)),
            StraceFile::Trace(l) => ("an strace trace", l.to_text(top)),
        };
        format!("system calls in {} ({kind})\n{table}", from.display())
    }
}

impl LtraceOutcome {
    /// The whole report of `what`: the program's status and time under ltrace, the
    /// patterns traced, and the calls.
    #[must_use]
    pub fn to_text(&self, what: &str, top: usize) -> String {
        format!(
            "library calls of {what}: program {}, {} under ltrace ({})\n{}",
            self.status,
            perfkit_metrics::format_std_duration(self.wall),
            self.patterns.join(" "),
            self.summary.to_text(top)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(names: &[&str]) -> Vec<String> {
        names.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn call_paths_reach_the_programs_own_code() {
        // A Vec growing in a Rust program: five frames of the standard library first.
        let path = frames(&[
            "alloc::raw_vec::finish_grow (raw_vec.rs:461)",
            "alloc::raw_vec::RawVecInner<A>::grow_amortized (raw_vec.rs:396)",
            "alloc::raw_vec::RawVecInner<A>::grow_one (raw_vec.rs:320)",
            "<alloc::vec::Vec<T> as core::iter::Extend<T>>::extend (vec/mod.rs:3000)",
            "std::io::Read::read_to_end (io/mod.rs:409)",
            "app::load (app.rs:12)",
            "app::main (app.rs:30)",
            "std::rt::lang_start (rt.rs:206)",
        ]);
        assert_eq!(callers_to_show(&path), 6);
        // Own code right away: still three frames of context.
        assert_eq!(callers_to_show(&frames(&["a", "b", "c", "d"])), 3);
        // A C library call path.
        let c = frames(&[
            "g_malloc (in /usr/lib/x86_64-linux-gnu/libglib-2.0.so.0.7400.6)",
            "parse_config (config.c:88)",
        ]);
        assert_eq!(callers_to_show(&c), 2);
        assert_eq!(callers_to_show(&[]), 0);
        // No own frame anywhere: at most sixteen.
        let deep: Vec<String> = (0..40).map(|i| format!("core::f{i}")).collect();
        assert_eq!(callers_to_show(&deep), 16);
    }

    #[test]
    fn a_cut_table_says_how_much_is_left_out() {
        let summary = LibcallSummary::parse(
            "% time     seconds  usecs/call     calls      function\n\
             ------ ----------- ----------- --------- --------------------\n\
              60.00    0.000060          30         2 malloc\n\
              40.00    0.000040          40         1 free\n\
             ------ ----------- ----------- --------- --------------------\n\
             100.00    0.000100                     3 total\n",
        )
        .unwrap();
        let text = summary.to_text(1);
        assert!(text.contains("malloc") && !text.contains("free"), "{text}");
        assert!(text.contains("… 1 more"), "{text}");
        assert!(summary.to_text(0).contains("free"));
    }
}
