//! `perfkit heap`, `syscalls`, `libcalls`: valgrind massif, strace, ltrace.

use anyhow::{Context, Result};
use perfkit_metrics::{format_bytes, format_duration_to, format_std_duration};

use perfkit_profilers::{
    AllocationSite, DEFAULT_LTRACE_PATTERN, ExitKind, Ltrace, Massif, MassifOutcome, MassifProfile,
    MassifSnapshot, Strace, StraceFile, SyscallLatencies, SyscallSummary, TraceMode, ms_print,
};
use serde_json::json;

use crate::cli::{HeapArgs, LibcallsArgs, ReportArgs, SyscallsArgs};
use crate::exit::Exit;
use std::fmt::Write as _;
use std::path::Path;

use crate::output::{ReportSink, end_capture, optional_destination, refuse_overwriting_inputs};
use crate::profile::{SCHEMA_VERSION, describe_command, resolve_target};

/// strace times each call to the microsecond (`-T`): finer digits would be false precision.
const STRACE_RESOLUTION_NS: f64 = 1_000.0;

fn limit(n: usize) -> usize {
    if n == 0 { usize::MAX } else { n }
}

pub(crate) fn heap(args: &HeapArgs) -> Result<Exit> {
    if let Some(from) = &args.from {
        return heap_from_file(args, from).map(Exit::Program);
    }
    let massif_out = optional_destination(args.massif_out.as_deref())?;
    let sink = ReportSink::new(args.report.report.as_deref())?;
    let outputs: Vec<_> = [massif_out.as_ref(), sink.file()]
        .into_iter()
        .flatten()
        .collect();
    refuse_overwriting_inputs(&outputs, &[])?;
    let what = describe_command(&args.command);
    let staging = tempfile::Builder::new()
        .prefix("perfkit-heap-")
        .tempdir()
        .context("cannot create a temporary directory for massif.out")?;
    let _remove_on_signal = perfkit_sys::signals::remove_on_signal(staging.path());
    let keep = staging.path().join("massif.out");
    let mut massif = Massif::command(args.command.iter().cloned())
        .pages_as_heap(args.pages_as_heap)
        .follow_exec(args.trace_children)
        .stacks(args.stacks)
        .keep_output(&keep);
    if let Some(t) = args.threshold {
        massif = massif.threshold(t);
    }
    if let Some(d) = args.depth {
        massif = massif.depth(d);
    }
    massif.validate()?;
    if !args.quiet {
        note!(
            "perfkit: running {what} under valgrind massif (expect it to run several times slower)"
        );
    }
    let capture = sink.capture_for_json(args.json);
    let outcome = massif.run()?;
    let captured = end_capture(capture)?;
    if let Some(massif_out) = &massif_out {
        // Copied, not moved: ms_print may still read it.
        let copy = staging.path().join("massif.out.copy");
        std::fs::copy(&keep, &copy).context("cannot copy massif.out")?;
        massif_out.move_from(&copy)?;
    }
    let text = if args.ms_print {
        ms_print(&keep)?
    } else {
        heap_report(args, &outcome.profile, &what, Some(&outcome))?
    };
    sink.emit_captured(&text, captured)?;
    Ok(Exit::Program(outcome.status))
}

/// The report's sink for a command that reads `from` instead of running a program: checked
/// not to be that file.
fn sink_for_file(report: &ReportArgs, from: &Path) -> Result<ReportSink> {
    let sink = ReportSink::new(report.report.as_deref())?;
    refuse_overwriting_inputs(&sink.file().into_iter().collect::<Vec<_>>(), &[from])?;
    Ok(sink)
}

/// `perfkit heap --from massif.out`: the same report for a file recorded elsewhere.
fn heap_from_file(args: &HeapArgs, from: &Path) -> Result<ExitKind> {
    let sink = sink_for_file(&args.report, from)?;
    let profile = MassifProfile::from_file(from)
        .with_context(|| format!("cannot read {} as a massif.out file", from.display()))?;
    let text = if args.ms_print {
        ms_print(from)?
    } else {
        let what = format!("{} (from {})", profile.cmd, from.display());
        heap_report(args, &profile, &what, None)?
    };
    sink.emit(&text)?;
    Ok(ExitKind::Exited { code: 0 })
}

/// The heap report, text or JSON; `run` is the massif run when perfkit made the profile.
fn heap_report(
    args: &HeapArgs,
    profile: &MassifProfile,
    what: &str,
    run: Option<&MassifOutcome>,
) -> Result<String> {
    let mut out = String::new();
    let sites = profile.top_sites(args.top);
    let peak = profile.peak();
    let snapshot_json = |p: &MassifSnapshot| {
        json!({
            "snapshot": p.index,
            "time": p.time,
            "heap_bytes": p.heap,
            "heap_extra_bytes": p.heap_extra,
            "stack_bytes": p.stacks,
            "total_bytes": p.total(),
        })
    };
    if args.json {
        let document = json!({
            "schema_version": SCHEMA_VERSION,
            "command": "heap",
            "target": what,
            "from": &args.from,
            "status": run.map(|r| r.status),
            "wall_ns": run.map(|r| r.wall.as_nanos() as u64),
            "massif_out": &args.massif_out,
            "time_unit": &profile.time_unit,
            "snapshots": profile.snapshots.len(),
            "peak": peak.map(snapshot_json),
            "sites_snapshot": profile.sites_snapshot().map(|s| s.index),
            "top_sites": sites,
            "timeline": profile.snapshots.iter().map(|s| json!([s.time, s.heap, s.heap_extra, s.stacks])).collect::<Vec<_>>(),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&document)?)?;
    } else {
        match run {
            Some(r) => writeln!(
                out,
                "heap of {what}: program {}, {} under massif, {} snapshots",
                r.status,
                format_std_duration(r.wall),
                profile.snapshots.len()
            )?,
            None => writeln!(out, "heap of {what}: {} snapshots", profile.snapshots.len())?,
        }
        print_heap(&mut out, args, profile, peak, &sites)?;
    }
    Ok(out)
}

/// How many callers of an allocation site to print: up to and including the first frame of
/// the program's own code (past the allocator, the standard library, containers and shared
/// libraries), at least three and at most sixteen.
fn callers_to_show(callers: &[String]) -> usize {
    let own = callers
        .iter()
        .position(|f| !perfkit_profilers::is_library_frame(f))
        .map_or(callers.len(), |i| i + 1);
    own.clamp(3, 16).min(callers.len())
}

fn print_heap(
    out: &mut String,
    args: &HeapArgs,
    profile: &MassifProfile,
    peak: Option<&MassifSnapshot>,
    sites: &[AllocationSite],
) -> Result<()> {
    match peak {
        Some(p) if p.total() > 0 => {
            let unit = match profile.time_unit.as_str() {
                "i" => " instructions",
                "B" => " bytes allocated",
                "ms" => " ms",
                _ => "",
            };
            writeln!(
                out,
                "peak: {} heap + {} allocator overhead{} at {}{unit} (snapshot {})",
                format_bytes(p.heap),
                format_bytes(p.heap_extra),
                if p.stacks > 0 {
                    format!(" + {} stacks", format_bytes(p.stacks))
                } else {
                    String::new()
                },
                p.time,
                p.index
            )?;
        }
        _ => writeln!(out, "peak: no heap allocations recorded")?,
    }
    if !sites.is_empty() {
        let at = match (profile.sites_snapshot(), peak) {
            (Some(s), Some(p)) if s.index != p.index => format!(
                "in snapshot {} ({} heap; the peak snapshot has no allocation tree)",
                s.index,
                format_bytes(s.heap)
            ),
            _ => "at the peak".to_owned(),
        };
        writeln!(out, "\nlargest allocation sites {at}:")?;
        for site in sites {
            writeln!(
                out,
                "{:>12} {:>5.1}%  {}",
                format_bytes(site.bytes),
                site.percent,
                site.site
            )?;
            // The call path from the site outward, as far as the program's own code.
            let start = site
                .call_path
                .iter()
                .position(|f| *f == site.site)
                .unwrap_or(0);
            let callers = &site.call_path[(start + 1).min(site.call_path.len())..];
            for frame in &callers[..callers_to_show(callers)] {
                writeln!(out, "{:>21}← {frame}", "")?;
            }
        }
    }
    if let Some(path) = &args.massif_out {
        writeln!(
            out,
            "\nmassif.out kept at {} (ms_print {} for massif's own view)",
            path.display(),
            path.display()
        )?;
    }
    Ok(())
}

pub(crate) fn syscalls(args: &SyscallsArgs) -> Result<Exit> {
    if let Some(from) = &args.from {
        return syscalls_from_file(args, from).map(Exit::Program);
    }
    let sink = ReportSink::new(args.report.report.as_deref())?;
    let mut out = String::new();
    let (target, what) = resolve_target(&args.target, "syscalls", "trace")?;
    let mut strace = Strace::new(target)
        .mode(if args.trace {
            TraceMode::Latency
        } else {
            TraceMode::Summary
        })
        .wall_clock(args.wall_clock);
    if let Some(filter) = &args.filter {
        strace = strace.filter(filter.clone());
    }
    strace.validate()?;
    if !args.quiet {
        note!(
            "perfkit: tracing system calls of {what} with strace{}",
            if args.trace {
                " -T (every call)"
            } else {
                " -c"
            }
        );
    }
    let capture = sink.capture_for_json(args.json);
    let outcome = strace.run()?;
    let captured = end_capture(capture)?;
    if args.json {
        let document = json!({
            "schema_version": SCHEMA_VERSION,
            "command": "syscalls",
            "target": what,
            "result": &outcome,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&document)?)?;
        sink.emit_captured(&out, captured)?;
        return Ok(Exit::Program(outcome.status));
    }
    writeln!(
        out,
        "system calls of {what}: program {}, {} under strace",
        outcome.status,
        format_std_duration(outcome.wall)
    )?;
    if let Some(summary) = &outcome.summary {
        if summary.total_calls() == 0 {
            writeln!(
                out,
                "\nno system calls were traced (the program made none in that time, or --filter matched none)"
            )?;
        }
        print_summary(&mut out, args, summary)?;
    }
    if let Some(latencies) = &outcome.latencies {
        print_latencies(&mut out, args, latencies)?;
    }
    sink.emit(&out)?;
    Ok(Exit::Program(outcome.status))
}

/// `perfkit syscalls --from FILE`: the same report for strace output recorded elsewhere.
fn syscalls_from_file(args: &SyscallsArgs, from: &Path) -> Result<ExitKind> {
    let sink = sink_for_file(&args.report, from)?;
    let parsed = StraceFile::from_file(from)
        .with_context(|| format!("cannot read {} as strace output", from.display()))?;
    let (summary, latencies) = match &parsed {
        StraceFile::Summary(s) => (Some(s), None),
        StraceFile::Trace(l) => (None, Some(l)),
    };
    let mut out = String::new();
    if args.json {
        let document = json!({
            "schema_version": SCHEMA_VERSION,
            "command": "syscalls",
            "from": from,
            "result": { "summary": summary, "latencies": latencies },
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&document)?)?;
    } else {
        writeln!(
            out,
            "system calls in {} ({})",
            from.display(),
            if summary.is_some() {
                "an strace -c table"
            } else {
                "an strace trace"
            }
        )?;
        if let Some(summary) = summary {
            print_summary(&mut out, args, summary)?;
        }
        if let Some(latencies) = latencies {
            if latencies.syscalls.iter().all(|s| s.latency_ns.is_none()) && !args.quiet {
                note!(
                    "perfkit: the trace has no call durations (record it with strace -T for latencies)"
                );
            }
            print_latencies(&mut out, args, latencies)?;
        }
    }
    sink.emit(&out)?;
    Ok(ExitKind::Exited { code: 0 })
}

fn print_summary(out: &mut String, args: &SyscallsArgs, summary: &SyscallSummary) -> Result<()> {
    for table in &summary.tables {
        if let Some(mode) = &table.mode {
            writeln!(out, "\n{mode}:")?;
        }
        writeln!(
            out,
            "\n{:<20} {:>10} {:>8} {:>7} {:>11} {:>12}",
            "syscall",
            "calls",
            "errors",
            "time%",
            "µs/call",
            if args.wall_clock { "wall s" } else { "sys s" }
        )?;
        for row in table.rows.iter().take(limit(args.top)) {
            writeln!(
                out,
                "{:<20} {:>10} {:>8} {:>6.2}% {:>11} {:>12.6}",
                row.syscall,
                row.calls,
                if row.errors == 0 {
                    String::new()
                } else {
                    row.errors.to_string()
                },
                row.time_percent,
                row.usecs_per_call
                    .map(|u| u.to_string())
                    .unwrap_or_default(),
                row.seconds
            )?;
        }
        if table.rows.len() > limit(args.top) {
            writeln!(
                out,
                "… {} more (--top 0 shows all)",
                table.rows.len() - args.top
            )?;
        }
        if let Some(total) = &table.total {
            writeln!(
                out,
                "{:<20} {:>10} {:>8} {:>6.2}% {:>11} {:>12.6}",
                "total", total.calls, total.errors, total.time_percent, "", total.seconds
            )?;
        }
    }
    Ok(())
}

fn print_latencies(
    out: &mut String,
    args: &SyscallsArgs,
    latencies: &SyscallLatencies,
) -> Result<()> {
    writeln!(
        out,
        "\n{:<20} {:>9} {:>7} {:>10} {:>10} {:>10} {:>10}",
        "syscall", "calls", "errors", "total", "p50", "p99", "max"
    )?;
    for s in latencies.syscalls.iter().take(limit(args.top)) {
        let (p50, p99, max) = s.latency_ns.map_or_else(
            || ("-".to_owned(), "-".to_owned(), "-".to_owned()),
            |l| {
                (
                    format_duration_to(l.p50 as f64, STRACE_RESOLUTION_NS),
                    format_duration_to(l.p99 as f64, STRACE_RESOLUTION_NS),
                    format_duration_to(l.max as f64, STRACE_RESOLUTION_NS),
                )
            },
        );
        writeln!(
            out,
            "{:<20} {:>9} {:>7} {:>10} {:>10} {:>10} {:>10}",
            s.syscall,
            s.calls,
            if s.errors == 0 {
                String::new()
            } else {
                s.errors.to_string()
            },
            format_duration_to(s.total_ns as f64, STRACE_RESOLUTION_NS),
            p50,
            p99,
            max
        )?;
    }
    if latencies.syscalls.len() > limit(args.top) {
        writeln!(
            out,
            "… {} more (--top 0 shows all)",
            latencies.syscalls.len() - args.top
        )?;
    }
    if !args.quiet {
        note!(
            "\nnote: durations are measured by strace around each call and include its ptrace overhead (tens of µs on a VM): compare syscalls with each other, not with native timings"
        );
    }
    Ok(())
}

pub(crate) fn libcalls(args: &LibcallsArgs) -> Result<Exit> {
    let sink = ReportSink::new(args.report.report.as_deref())?;
    let mut out = String::new();
    let (target, what) = resolve_target(&args.target, "libcalls", "trace")?;
    let ltrace = Ltrace::new(target)
        .patterns(args.patterns.iter().cloned())
        .plt(!args.no_plt);
    ltrace.validate()?;
    if !args.quiet {
        if args.patterns.is_empty() {
            note!(
                "perfkit: tracing {what} with ltrace -x '{DEFAULT_LTRACE_PATTERN}' \
                 (Rust calls libc through the GOT, which plain ltrace does not see; -x PATTERN to choose)"
            );
        } else {
            note!("perfkit: tracing {what} with ltrace");
        }
    }
    let capture = sink.capture_for_json(args.json);
    let outcome = ltrace.run()?;
    let captured = end_capture(capture)?;
    if args.json {
        let document = json!({
            "schema_version": SCHEMA_VERSION,
            "command": "libcalls",
            "target": what,
            "result": &outcome,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&document)?)?;
        sink.emit_captured(&out, captured)?;
        return Ok(Exit::Program(outcome.status));
    }
    writeln!(
        out,
        "library calls of {what}: program {}, {} under ltrace ({})",
        outcome.status,
        format_std_duration(outcome.wall),
        outcome.patterns.join(" ")
    )?;
    writeln!(
        out,
        "\n{:<28} {:>10} {:>7} {:>11} {:>10}",
        "function", "calls", "time%", "µs/call", "seconds"
    )?;
    for row in outcome.summary.rows.iter().take(limit(args.top)) {
        writeln!(
            out,
            "{:<28} {:>10} {:>6.2}% {:>11} {:>10.6}",
            row.function,
            row.calls,
            row.time_percent,
            row.usecs_per_call
                .map(|u| u.to_string())
                .unwrap_or_default(),
            row.seconds
        )?;
    }
    if let Some(total) = &outcome.summary.total {
        writeln!(
            out,
            "{:<28} {:>10} {:>6.2}% {:>11} {:>10.6}",
            "total", total.calls, total.time_percent, "", total.seconds
        )?;
    }
    if outcome.summary.rows.is_empty() && !args.quiet {
        note!(
            "note: no library calls matched; check the -x pattern (e.g. 'malloc@libc.so*') and that the program is dynamically linked"
        );
    }
    if !args.quiet {
        note!(
            "note: ltrace times include its own overhead (tens of µs per call): compare counts, not times"
        );
    }
    sink.emit(&out)?;
    Ok(Exit::Program(outcome.status))
}

#[cfg(test)]
mod tests {
    use super::callers_to_show;

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
}
