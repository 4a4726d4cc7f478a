//! `perfkit record`, `flamegraph`, `diff`, `stat`: perf and flamegraphs.

use anyhow::{Context, Result};
use perfkit_metrics::format_std_duration;
use perfkit_profilers::{
    drawing::{DiffFiles, FlameFiles, RecordFiles, Recorded, draw_diff, label},
    export::{Conversion, Converted},
    folded::{Comparison, top_self_functions},
    input_name, load_pair, load_profile,
    perf::{FoldOptions, PerfEnvironment, PerfFold, Record, Stat},
    report::{DiffReport, FlamegraphReport, ProfileTotals, RecordReport, Traced},
};
use perfkit_sys::ReportSink;

use crate::cli::{ConvertArgs, DiffArgs, FlamegraphArgs, RecordArgs, StatArgs};
use crate::document;
use crate::exit::Exit;
use crate::output::progress_bar;

pub(crate) fn record(args: &RecordArgs) -> Result<Exit> {
    let (files, sink) = RecordFiles::named(
        args.export.paths(&args.output, args.folded.as_deref()),
        args.perf_data.as_deref(),
        args.perf_report.as_deref(),
        args.report.report.as_deref(),
    )?;
    let mut flame = args.flame.options();
    let env = PerfEnvironment::detect()?;
    // perf.data is recorded into a private directory and moved to --perf-data at the end.
    let staging = perfkit_sys::signals::PrivateDir::new("perfkit-record-")
        .context("cannot create a temporary directory for perf.data")?;
    let (record, what) = plan_record(args, &env, &staging.path().join("perf.data"))?;
    let capture = sink.capture_for_json(args.json);
    let outcome = record.run(&env)?;
    let captured = ReportSink::end_capture(capture)?;
    if !args.quiet {
        outcome.notes.iter().for_each(|n| note!("note: {n}"));
        if outcome.interrupted {
            note!("perfkit: interrupted; drawing what was recorded");
        }
    }
    let fold = args.fold.options(args.per_pid);
    let bar = progress_bar(args.quiet || args.json);
    bar.set_message("folding stacks (perf script)");
    let named = args.flame.count_name.is_some();
    let recorded = files.fold_and_write(&env, &outcome, &fold, &mut flame, named, &what);
    bar.finish_and_clear();
    let folded = match recorded? {
        Recorded::Drawn(folded) => folded.stacks,
        Recorded::NoSamples(why) => {
            note!(
                "perfkit: no flamegraph: {why}; the program ended with {} after {}",
                outcome.status,
                format_std_duration(outcome.wall)
            );
            return Ok(Exit::Program(outcome.status));
        }
    };
    let hot = top_self_functions(&folded, args.top);
    let totals = ProfileTotals::of(&folded, fold.unit, &flame.count_name, &hot);
    let report = files.report(&what, &outcome, totals);
    let text = document::json_or(args.json, Some("record"), &report, RecordReport::to_text)?;
    sink.emit_captured(&text, captured)?;
    Ok(Exit::Program(outcome.status))
}

/// The recording the options ask for, into `data`, checked; and how to name its target.
fn plan_record(
    args: &RecordArgs,
    env: &PerfEnvironment,
    data: &std::path::Path,
) -> Result<(Record, String)> {
    let (target, what) = args.target.target("record", "profile")?;
    let record = args.record(target, data);
    record.validate()?;
    env.check_record()?;
    if !args.quiet {
        let event = env.event(&args.event_choice());
        note!(
            "perfkit: recording {what} with perf ({}, {} Hz, call graph {})",
            event.name,
            args.frequency,
            args.call_graph()
        );
    }
    Ok((record, what))
}

pub(crate) fn flamegraph(args: &FlamegraphArgs) -> Result<Exit> {
    let paths = args.export.paths(&args.output, args.folded.as_deref());
    let files = FlameFiles::named(paths, &[&args.input])?;
    let mut flame = args.flame.options();
    let fold = args.fold.options(args.perf_input.pid);
    let bar = progress_bar(args.quiet || args.json);
    bar.set_message("reading the profile");
    let profile = load_profile(&args.input, &fold, &mut None);
    bar.finish_and_clear();
    let profile = profile?;
    label(
        &mut flame,
        &profile,
        args.flame.count_name.is_some(),
        |total, name| {
            (args.input.as_os_str() != "-")
                .then(|| format!("{} — {total} {name}", args.input.display()))
        },
    );
    files.write(&profile, &flame, &input_name(&args.input))?;
    let hot = top_self_functions(&profile.stacks, args.top);
    let totals = ProfileTotals::of(&profile.stacks, fold.unit, &flame.count_name, &hot);
    let report = files.report(&args.input, &profile.event, totals);
    document::print(
        args.json,
        Some("flamegraph"),
        &report,
        FlamegraphReport::to_text,
    )?;
    Ok(Exit::Success)
}

pub(crate) fn diff(args: &DiffArgs) -> Result<Exit> {
    let inputs = [args.before.as_path(), args.after.as_path()];
    let files = DiffFiles::named(&args.output, args.pprof_pair(), &inputs)?;
    let mut flame = args.flame.options();
    if args.flame.title.is_none() {
        "Differential Flame Graph".clone_into(&mut flame.title);
    }
    let (before, after) = load_both(args, &args.fold.options(args.perf_input.pid))?;
    let count_name = (args.flame.count_name.clone()).unwrap_or_else(|| after.count_name().into());
    let comparison = Comparison::choose(&before.stacks, &after.stacks, args.compare.into());
    if !args.quiet {
        warn_low_overlap(&comparison);
    }
    let drawn = draw_diff(
        (&args.before, &before),
        (&args.after, &after),
        comparison,
        !args.no_normalize,
        &mut flame,
        args.top,
        &files,
    )?;
    let report = drawn.report(&args.before, &args.after, &files, &count_name);
    document::print(args.json, Some("diff"), &report, DiffReport::to_text)?;
    Ok(Exit::Success)
}

/// Reads BEFORE and AFTER, warning when they count different events.
fn load_both(args: &DiffArgs, fold: &FoldOptions) -> Result<(PerfFold, PerfFold)> {
    let bar = progress_bar(args.quiet || args.json);
    let loaded = load_pair(&args.before, &args.after, fold, &mut |side| {
        bar.set_message(format!("reading {side}"));
    });
    bar.finish_and_clear();
    let (before, after) = loaded?;
    if before.counts_other_event(&after) {
        note!(
            "perfkit: warning: BEFORE counts {} and AFTER counts {}; shares of different events \
             compare different things",
            before.event,
            after.event
        );
    }
    Ok((before, after))
}

/// Warns when the stacks barely overlap.
fn warn_low_overlap(c: &Comparison) {
    if c.low_overlap() {
        note!(
            "perfkit: warning: BEFORE and AFTER share {:.1}% of their stacks ({:.1}% of their functions' self time): the work ran on other call paths or threads, so stack-by-stack colours mislead; {}",
            c.stack_overlap * 100.0,
            c.function_overlap * 100.0,
            if c.by_function {
                "the picture compares functions by self time, as the table does (--compare stacks draws call paths anyway)"
            } else {
                "compare functions with --compare functions"
            }
        );
    }
}

pub(crate) fn stat(args: &StatArgs) -> Result<Exit> {
    let env = PerfEnvironment::detect()?;
    let (target, what) = args.target.target("stat", "count")?;
    let mut stat = Stat::new(target)
        .events(args.event.iter().cloned())
        .repeat(args.repeat);
    stat.validate()?;
    let sink = ReportSink::named(args.report.report.as_deref(), &[])?;
    // perfkit itself is the launcher that tells perf's program's real status.
    if let Ok(exe) = std::env::current_exe() {
        stat = stat.launcher([exe.into_os_string(), "launch".into()]);
    }
    let capture = sink.capture_for_json(args.json);
    let outcome = stat.run(&env)?;
    let captured = ReportSink::end_capture(capture)?;
    let stat = Traced {
        hardware_events: Some(env.hardware_events),
        ..Traced::of(&what, &outcome)
    };
    let text = document::json_or(args.json, Some("stat"), &stat, |s| {
        s.result.to_text(&what, args.quiet)
    })?;
    sink.emit_captured(&text, captured)?;
    Ok(Exit::Program(outcome.status))
}

pub(crate) fn convert(args: &ConvertArgs) -> Result<Exit> {
    let conversion = Conversion::new(&args.input, &args.output, args.format()?)?;
    let bar = progress_bar(args.quiet || args.json);
    bar.set_message("reading the profile");
    let written = conversion.run(&args.fold.options(args.perf_input.pid));
    bar.finish_and_clear();
    document::print(args.json, Some("convert"), &written?, Converted::to_text)?;
    Ok(Exit::Success)
}
