//! `perfkit heap`, `syscalls`, `libcalls`: valgrind massif, strace, ltrace.

use anyhow::{Context, Result};
use perfkit_metrics::format_std_duration;

use perfkit_profilers::{
    ExitKind,
    ltrace::{DEFAULT_LTRACE_PATTERN, Ltrace},
    massif::{AllocationSite, Massif, MassifOutcome, MassifProfile, heap_text, ms_print},
    strace::{Strace, StraceFile, SyscallLatencies, SyscallSummary, TraceMode},
};

use crate::cli::{HeapArgs, LibcallsArgs, ReportArgs, SyscallsArgs};
use crate::document;
use crate::exit::Exit;
use perfkit_sys::ReportSink;
use perfkit_sys::refuse_overwriting_inputs;
use std::fmt::Write as _;
use std::path::Path;

use crate::output::{optional_destination, report_sink};
use crate::profile::{describe_command, resolve_target};

pub(crate) fn heap(args: &HeapArgs) -> Result<Exit> {
    if let Some(from) = &args.from {
        return heap_from_file(args, from).map(Exit::Program);
    }
    let massif_out = optional_destination(args.massif_out.as_deref())?;
    let sink = report_sink(args.report.report.as_deref())?;
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
    let captured = ReportSink::end_capture(capture)?;
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
    let sink = report_sink(report.report.as_deref())?;
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
    if args.json {
        let heap = document::Heap {
            target: what,
            from: args.from.as_deref(),
            status: run.map(|r| r.status),
            wall_ns: run.map(|r| r.wall.as_nanos() as u64),
            massif_out: args.massif_out.as_deref(),
            time_unit: profile.time_unit.as_str(),
            snapshots: profile.snapshots.len(),
            peak: peak.map(document::Snapshot::from),
            sites_snapshot: profile.sites_snapshot().map(|s| s.index),
            top_sites: &sites,
            timeline: (profile.snapshots.iter())
                .map(|s| [s.time, s.heap, s.heap_extra, s.stacks])
                .collect(),
        };
        out.push_str(&document::to_json(Some("heap"), &heap)?);
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
        print_heap(&mut out, args, profile, &sites);
    }
    Ok(out)
}

fn print_heap(
    out: &mut String,
    args: &HeapArgs,
    profile: &MassifProfile,
    sites: &[AllocationSite],
) {
    out.push_str(&heap_text(profile, sites));
    if let Some(path) = &args.massif_out {
        let _ = writeln!(
            out,
            "\nmassif.out kept at {} (ms_print {} for massif's own view)",
            path.display(),
            path.display()
        );
    }
}

pub(crate) fn syscalls(args: &SyscallsArgs) -> Result<Exit> {
    if let Some(from) = &args.from {
        return syscalls_from_file(args, from).map(Exit::Program);
    }
    let sink = report_sink(args.report.report.as_deref())?;
    let mut out = String::new();
    let (strace, what) = plan_strace(args)?;
    let capture = sink.capture_for_json(args.json);
    let outcome = strace.run()?;
    let captured = ReportSink::end_capture(capture)?;
    if args.json {
        let syscalls = document::Traced {
            target: &what,
            hardware_events: None,
            result: &outcome,
        };
        out.push_str(&document::to_json(Some("syscalls"), &syscalls)?);
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
        print_summary(&mut out, args, summary);
    }
    if let Some(latencies) = &outcome.latencies {
        print_latencies(&mut out, args, latencies);
    }
    sink.emit(&out)?;
    Ok(Exit::Program(outcome.status))
}

/// The strace run the options ask for, checked; and how to name its target.
fn plan_strace(args: &SyscallsArgs) -> Result<(Strace, String)> {
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
    Ok((strace, what))
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
        let result = document::SyscallsResult { summary, latencies };
        let syscalls = document::SyscallsFrom { from, result };
        out.push_str(&document::to_json(Some("syscalls"), &syscalls)?);
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
            print_summary(&mut out, args, summary);
        }
        if let Some(latencies) = latencies {
            if latencies.syscalls.iter().all(|s| s.latency_ns.is_none()) && !args.quiet {
                note!(
                    "perfkit: the trace has no call durations (record it with strace -T for latencies)"
                );
            }
            print_latencies(&mut out, args, latencies);
        }
    }
    sink.emit(&out)?;
    Ok(ExitKind::Exited { code: 0 })
}

fn print_summary(out: &mut String, args: &SyscallsArgs, summary: &SyscallSummary) {
    out.push_str(&summary.to_text(args.top, args.wall_clock));
}

fn print_latencies(out: &mut String, args: &SyscallsArgs, latencies: &SyscallLatencies) {
    out.push_str(&latencies.to_text(args.top));
    if !args.quiet {
        note!(
            "\nnote: durations are measured by strace around each call and include its ptrace overhead (tens of µs on a VM): compare syscalls with each other, not with native timings"
        );
    }
}

pub(crate) fn libcalls(args: &LibcallsArgs) -> Result<Exit> {
    let sink = report_sink(args.report.report.as_deref())?;
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
    let captured = ReportSink::end_capture(capture)?;
    if args.json {
        let libcalls = document::Traced {
            target: &what,
            hardware_events: None,
            result: &outcome,
        };
        out.push_str(&document::to_json(Some("libcalls"), &libcalls)?);
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
    out.push_str(&outcome.summary.to_text(args.top));
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
