//! `perfkit record`, `flamegraph`, `diff`, `stat`: perf and flamegraphs.

use std::path::Path;

use anyhow::{Context, Result, bail};
use perfkit_metrics::format_std_duration;
use perfkit_profilers::{
    FoldedStacks, ProfilerError, Target,
    flamegraph::{FlamegraphOptions, diff_folded, render_diff_stacks, render_flamegraph},
    folded::{CompareMode, Comparison, function_changes, top_self_functions},
    load_profile,
    perf::{
        CallGraph, CountUnit, EventChoice, FoldOptions, PerfEnvironment, PerfFold, Record,
        RecordOutcome, Stat, fold_perf_data, perf_report,
    },
    report::{DiffReport, FlamegraphReport, ProfileTotals, RecordReport, Traced},
};

use crate::cli::{
    CompareArg, DiffArgs, FlameArgs, FlamegraphArgs, FoldArgs, RecordArgs, StatArgs, TargetArgs,
};
use crate::document;
use crate::exit::Exit;
use perfkit_sys::OutputPath;
use perfkit_sys::ReportSink;
use perfkit_sys::refuse_overwriting_inputs;

use crate::output::{destination, optional_destination, progress_bar, report_sink};

/// The files `perfkit record` writes, checked before perf runs.
struct RecordOutputs {
    svg: OutputPath,
    folded: Option<OutputPath>,
    perf_data: Option<OutputPath>,
    perf_report: Option<OutputPath>,
    sink: ReportSink,
}

impl RecordOutputs {
    /// Checks every output; none may be another.
    fn check(args: &RecordArgs) -> Result<RecordOutputs> {
        let outputs = RecordOutputs {
            svg: destination(&args.output)?,
            folded: optional_destination(args.folded.as_deref())?,
            perf_data: optional_destination(args.perf_data.as_deref())?,
            perf_report: optional_destination(args.perf_report.as_deref())?,
            sink: report_sink(args.report.report.as_deref())?,
        };
        let all: Vec<&OutputPath> = [
            Some(&outputs.svg),
            outputs.folded.as_ref(),
            outputs.perf_data.as_ref(),
            outputs.perf_report.as_ref(),
            outputs.sink.file(),
        ]
        .into_iter()
        .flatten()
        .collect();
        refuse_overwriting_inputs(&all, &[])?;
        Ok(outputs)
    }
}

pub(crate) fn record(args: &RecordArgs) -> Result<Exit> {
    let outputs = RecordOutputs::check(args)?;
    let flame = flame_options(&args.flame)?;
    let env = PerfEnvironment::detect()?;
    // perf.data is recorded into a private directory and moved to --perf-data at the end.
    let staging = tempfile::Builder::new()
        .prefix("perfkit-record-")
        .tempdir()
        .context("cannot create a temporary directory for perf.data")?;
    let _remove_on_signal = perfkit_sys::signals::remove_on_signal(staging.path());
    let (record, what) = plan_record(args, &env, &staging.path().join("perf.data"))?;
    let capture = outputs.sink.capture_for_json(args.json);
    let outcome = record.run(&env)?;
    let captured = ReportSink::end_capture(capture)?;
    if !args.quiet {
        for n in &outcome.notes {
            note!("note: {n}");
        }
        if outcome.interrupted {
            note!("perfkit: interrupted; drawing what was recorded");
        }
    }
    let fold = fold_options(&args.fold, args.per_pid);
    let Some(folded) = fold_recording(args, &env, &outcome, &fold, &outputs)? else {
        return Ok(Exit::Program(outcome.status));
    };
    let mut flame = flame;
    if args.flame.count_name.is_none() {
        folded.count_name().clone_into(&mut flame.count_name);
    }
    let folded = folded.stacks;
    if flame.subtitle.is_none() {
        flame.subtitle = Some(format!(
            "{what} — {}, {} Hz, {} {}",
            outcome.event.name,
            outcome.frequency,
            folded.total(),
            flame.count_name
        ));
    }
    write_recording(&outputs, &env, &outcome, &folded, &flame)?;
    let text = record_report(args, &what, &outcome, &folded, fold.unit, &flame.count_name)?;
    outputs.sink.emit_captured(&text, captured)?;
    Ok(Exit::Program(outcome.status))
}

/// The recording the options ask for, into `data`, checked; and how to name its target.
fn plan_record(args: &RecordArgs, env: &PerfEnvironment, data: &Path) -> Result<(Record, String)> {
    let call_graph = match &args.call_graph {
        Some(text) => CallGraph::parse(text)?,
        None => CallGraph::DEFAULT,
    };
    let event_choice = args
        .event
        .clone()
        .map_or(EventChoice::Auto, EventChoice::Named);
    let (target, what) = resolve_target(&args.target, "record", "profile")?;
    let mut record = Record::new(target)
        .frequency(args.frequency)
        .event(event_choice.clone())
        .call_graph(call_graph)
        .bpf_events(args.bpf_events)
        .output(data);
    if args.no_compress {
        record = record.compress(false);
    }
    record.validate()?;
    env.check_record()?;
    if !args.quiet {
        let event = env.event(&event_choice);
        note!(
            "perfkit: recording {what} with perf ({}, {} Hz, call graph {call_graph})",
            event.name,
            args.frequency
        );
    }
    Ok((record, what))
}

/// The recording folded into stacks; `None` when a program that failed left no samples, which
/// is said, with perf.data kept when asked for.
fn fold_recording(
    args: &RecordArgs,
    env: &PerfEnvironment,
    outcome: &RecordOutcome,
    fold: &FoldOptions,
    outputs: &RecordOutputs,
) -> Result<Option<PerfFold>> {
    let bar = progress_bar(args.quiet || args.json);
    bar.set_message("folding stacks (perf script)");
    let folded = fold_perf_data(&env.perf, &outcome.perf_data, fold);
    bar.finish_and_clear();
    match folded {
        Ok(folded) => Ok(Some(folded)),
        // A program that failed before perf sampled it still fails the command its own way:
        // say what is missing and pass its status on.
        Err(ProfilerError::NoSamples(why)) if !outcome.status.success() => {
            note!(
                "perfkit: no flamegraph: {why}; the program ended with {} after {}",
                outcome.status,
                format_std_duration(outcome.wall)
            );
            if let Some(out) = &outputs.perf_data {
                out.move_from(&outcome.perf_data)?;
            }
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Writes the flamegraph and whichever of folded stacks, perf report and perf.data were
/// asked for.
fn write_recording(
    outputs: &RecordOutputs,
    env: &PerfEnvironment,
    outcome: &RecordOutcome,
    folded: &FoldedStacks,
    flame: &FlamegraphOptions,
) -> Result<()> {
    write_svg(&outputs.svg, |out| render_flamegraph(folded, flame, out))?;
    if let Some(out) = &outputs.folded {
        out.write(folded.to_text().as_bytes())?;
    }
    if let Some(out) = &outputs.perf_report {
        let text = perf_report(&env.perf, &outcome.perf_data, &[])?;
        out.write(text.as_bytes())?;
    }
    if let Some(out) = &outputs.perf_data {
        out.move_from(&outcome.perf_data)?;
    }
    Ok(())
}

fn record_report(
    args: &RecordArgs,
    what: &str,
    outcome: &RecordOutcome,
    folded: &FoldedStacks,
    unit: CountUnit,
    count_name: &str,
) -> Result<String> {
    let hot = top_self_functions(folded, args.top);
    let report = RecordReport {
        target: what,
        svg: &args.output,
        folded: args.folded.as_deref(),
        perf_data: args.perf_data.as_deref(),
        report: args.perf_report.as_deref(),
        status: outcome.status,
        recording: outcome,
        totals: ProfileTotals::of(folded, unit, count_name, &hot),
    };
    if args.json {
        document::to_json(Some("record"), &report)
    } else {
        Ok(report.to_text())
    }
}

/// The library target of `--pid`/`--duration` or `-- COMMAND`, and how to name it in messages.
/// `command` and `verb` fill the error for neither (`perfkit record`, "profile").
pub(crate) fn resolve_target(
    target: &TargetArgs,
    command: &str,
    verb: &str,
) -> Result<(Target, String)> {
    let target = match (target.pid.is_empty(), target.command.is_empty()) {
        (false, _) => Target::pids(target.pid.iter().copied(), target.duration),
        (true, false) => Target::command(target.command.iter().cloned()),
        (true, true) => bail!(
            "nothing to {verb}: give a command after `--` (perfkit {command} -- ./my-app) or --pid PID"
        ),
    };
    let what = target.describe();
    Ok((target, what))
}

fn fold_options(args: &FoldArgs, per_process: bool) -> FoldOptions {
    FoldOptions {
        inline: args.inline,
        unit: if args.period {
            CountUnit::Period
        } else {
            CountUnit::Samples
        },
        per_process,
        per_thread: args.tid,
        annotate_kernel: args.kernel,
        annotate_jit: args.jit,
        include_addrs: args.addrs,
    }
}

fn flame_options(args: &FlameArgs) -> Result<FlamegraphOptions> {
    if !(args.min_width.is_finite() && args.min_width >= 0.0) {
        bail!(
            "--min-width {} is invalid: give pixels ≥ 0 (default 0.1)",
            args.min_width
        );
    }
    if args.width == Some(0) {
        bail!("--width must be at least 1 pixel");
    }
    let defaults = FlamegraphOptions::default();
    Ok(FlamegraphOptions {
        title: args.title.clone().unwrap_or(defaults.title),
        subtitle: args.subtitle.clone(),
        palette: args.palette.clone(),
        min_width: args.min_width,
        inverted: args.inverted,
        flame_chart: args.flame_chart,
        reverse: args.reverse,
        count_name: args.count_name.clone().unwrap_or(defaults.count_name),
        width: args.width,
    })
}

fn write_svg(
    out: &OutputPath,
    render: impl FnOnce(&mut Vec<u8>) -> Result<(), ProfilerError>,
) -> Result<()> {
    let mut svg = Vec::new();
    render(&mut svg)?;
    Ok(out.write(&svg)?)
}

pub(crate) fn flamegraph(args: &FlamegraphArgs) -> Result<Exit> {
    let svg_out = destination(&args.output)?;
    let folded_out = optional_destination(args.folded.as_deref())?;
    let outputs: Vec<&OutputPath> = [Some(&svg_out), folded_out.as_ref()]
        .into_iter()
        .flatten()
        .collect();
    refuse_overwriting_inputs(&outputs, &[args.input.as_path()])?;
    let mut flame = flame_options(&args.flame)?;
    let fold = fold_options(&args.fold, args.perf_input.pid);
    let bar = progress_bar(args.quiet || args.json);
    bar.set_message("reading the profile");
    let folded = load_profile(&args.input, &fold, &mut None);
    bar.finish_and_clear();
    let folded = folded?;
    if args.flame.count_name.is_none() {
        folded.count_name().clone_into(&mut flame.count_name);
    }
    let event = (!folded.event.is_empty()).then_some(folded.event);
    let folded = folded.stacks;
    if flame.subtitle.is_none() && args.input.as_os_str() != "-" {
        flame.subtitle = Some(format!(
            "{} — {} {}",
            args.input.display(),
            folded.total(),
            flame.count_name
        ));
    }
    write_svg(&svg_out, |out| render_flamegraph(&folded, &flame, out))?;
    if let Some(out) = &folded_out {
        out.write(folded.to_text().as_bytes())?;
    }
    flamegraph_report(
        args,
        &folded,
        fold.unit,
        &flame.count_name,
        event.as_deref(),
    )?;
    Ok(Exit::Success)
}

/// What `flamegraph` prints: the totals and hottest functions, as text or JSON.
fn flamegraph_report(
    args: &FlamegraphArgs,
    folded: &FoldedStacks,
    unit: CountUnit,
    count_name: &str,
    event: Option<&str>,
) -> Result<()> {
    let hot = top_self_functions(folded, args.top);
    let report = FlamegraphReport {
        input: &args.input,
        svg: &args.output,
        folded: args.folded.as_deref(),
        event,
        totals: ProfileTotals::of(folded, unit, count_name, &hot),
    };
    if args.json {
        out!("{}", document::to_json(Some("flamegraph"), &report)?)?;
    } else {
        out!("{}", report.to_text())?;
    }
    Ok(())
}

pub(crate) fn diff(args: &DiffArgs) -> Result<Exit> {
    let svg_out = destination(&args.output)?;
    refuse_overwriting_inputs(&[&svg_out], &[args.before.as_path(), args.after.as_path()])?;
    let mut flame = flame_options(&args.flame)?;
    let fold = fold_options(&args.fold, args.perf_input.pid);
    let (before, after) = load_both(args, &fold)?;
    let count_name = args
        .flame
        .count_name
        .clone()
        .unwrap_or_else(|| after.count_name().to_owned());
    let (before, after) = (before.stacks, after.stacks);
    let normalize = !args.no_normalize;
    let Comparison {
        by_function,
        stack_overlap: overlap,
        function_overlap,
    } = comparison(args, &before, &after);
    if args.flame.title.is_none() {
        "Differential Flame Graph".clone_into(&mut flame.title);
    }
    if flame.subtitle.is_none() {
        flame.subtitle = Some(DiffReport::subtitle(
            &args.before,
            &args.after,
            normalize,
            by_function,
        ));
    }
    let stacks = if by_function {
        diff_folded(&before.by_function(), &after.by_function(), normalize)
    } else {
        diff_folded(&before, &after, normalize)
    };
    write_svg(&svg_out, |out| render_diff_stacks(&stacks, &flame, out))?;
    let changes = function_changes(&before, &after, args.top);
    let report = DiffReport {
        before: &args.before,
        after: &args.after,
        svg: &args.output,
        normalized: normalize,
        compared: if by_function { "functions" } else { "stacks" },
        stack_overlap: overlap,
        function_overlap,
        before_total: before.total(),
        after_total: after.total(),
        stacks: stacks.len(),
        top_changes: &changes,
        count_name: &count_name,
    };
    if args.json {
        out!("{}", document::to_json(Some("diff"), &report)?)?;
    } else {
        out!("{}", report.to_text())?;
    }
    Ok(Exit::Success)
}

/// Reads BEFORE and AFTER (perf located once for both), warning when they count different
/// events.
fn load_both(args: &DiffArgs, fold: &FoldOptions) -> Result<(PerfFold, PerfFold)> {
    let bar = progress_bar(args.quiet || args.json);
    let mut perf = None;
    let loaded = (|| -> Result<(PerfFold, PerfFold)> {
        bar.set_message("reading BEFORE");
        let before = load_profile(&args.before, fold, &mut perf)
            .with_context(|| format!("BEFORE ({})", args.before.display()))?;
        bar.set_message("reading AFTER");
        let after = load_profile(&args.after, fold, &mut perf)
            .with_context(|| format!("AFTER ({})", args.after.display()))?;
        Ok((before, after))
    })();
    bar.finish_and_clear();
    let (before, after) = loaded?;
    if !before.event.is_empty() && !after.event.is_empty() && before.event != after.event {
        note!(
            "perfkit: warning: BEFORE counts {} and AFTER counts {}; shares of different events \
             compare different things",
            before.event,
            after.event
        );
    }
    Ok((before, after))
}

/// Whether `diff` draws functions rather than stacks, with the stack and function overlaps;
/// warns when the stacks barely overlap.
fn comparison(args: &DiffArgs, before: &FoldedStacks, after: &FoldedStacks) -> Comparison {
    let mode = match args.compare {
        CompareArg::Functions => CompareMode::Functions,
        CompareArg::Stacks => CompareMode::Stacks,
        CompareArg::Auto => CompareMode::Auto,
    };
    let c = Comparison::choose(before, after, mode);
    if c.low_overlap() && !args.quiet {
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
    c
}

pub(crate) fn stat(args: &StatArgs) -> Result<Exit> {
    if args.repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    let env = PerfEnvironment::detect()?;
    if args.repeat > 1 && !args.target.pid.is_empty() {
        bail!("--repeat works with a command, not with --pid");
    }
    let sink = report_sink(args.report.report.as_deref())?;
    let (target, what) = resolve_target(&args.target, "stat", "count")?;
    let mut stat = Stat::new(target)
        .events(args.event.iter().cloned())
        .repeat(args.repeat);
    // perfkit itself is the launcher that tells perf's program's real status.
    if let Ok(exe) = std::env::current_exe() {
        stat = stat.launcher([exe.into_os_string(), "launch".into()]);
    }
    let capture = sink.capture_for_json(args.json);
    let outcome = stat.run(&env)?;
    let captured = ReportSink::end_capture(capture)?;
    if args.json {
        let stat = Traced {
            target: &what,
            hardware_events: Some(env.hardware_events),
            result: &outcome,
        };
        sink.emit_captured(&document::to_json(Some("stat"), &stat)?, captured)?;
        return Ok(Exit::Program(outcome.status));
    }
    let text = outcome.to_text(&what, args.quiet);
    sink.emit(&text)?;
    Ok(Exit::Program(outcome.status))
}
