//! `perfkit bench`: turn arguments into a `perfkit_sys::BenchPlan`, run it, print the report.

use std::path::Path;

use anyhow::{Context, Result, bail};
use perfkit_sys::OutputPath;
use perfkit_sys::{BenchPlan, BenchTarget, run_bench};

use crate::cli::BenchArgs;
use crate::exit::Exit;
use crate::output::{RunProgress, progress_bar, run_input};
use crate::regress;
use perfkit_sys::refuse_overwriting_inputs;

/// The exports and the baseline `perfkit bench` writes, checked before the first run.
fn check_files(args: &BenchArgs, plan: &BenchPlan) -> Result<[Option<OutputPath>; 7]> {
    // An export may not be the input, nor a file the commands write to (even a new one).
    let inputs: Vec<&Path> = args.input.as_deref().into_iter().collect();
    args.check_stdout_exports(|_, path| path == Path::new("/dev/stdout"))?;
    let [json, csv, markdown, asciidoc, org, svg] = args.exports().map(|(path, _)| path);
    let baseline = args.save_baseline.as_deref();
    let outputs =
        perfkit_sys::check_outputs([json, csv, markdown, asciidoc, org, svg, baseline], &inputs)?;
    let fd = |i: usize| outputs[i].as_ref().and_then(OutputPath::descriptor);
    args.check_stdout_exports(|i, _| fd(i) == Some(1))?;
    let all: Vec<_> = outputs.iter().flatten().collect();
    perfkit_sys::refuse_shared_destinations(&all, &plan.output_files())?;
    // The exports may not replace the baseline they are checked against (--save-baseline
    // may: that is how a baseline is updated).
    let exports: Vec<_> = outputs[..6].iter().flatten().collect();
    refuse_overwriting_inputs(
        &exports,
        &args.baseline.as_deref().into_iter().collect::<Vec<_>>(),
    )?;
    // A baseline keeps one entry per name: find a clash now, not after the runs.
    if (args.baseline.is_some() || args.save_baseline.is_some())
        && let Some(dup) = plan.duplicate_name()
    {
        bail!(
            "two commands are called '{dup}': give them distinct names with --command-name (a baseline keeps one entry per name)"
        );
    }
    Ok(outputs)
}

/// `perfkit bench`; `Ok(true)` when `--baseline` found a regression.
pub(crate) fn run(args: &BenchArgs) -> Result<Exit> {
    let mut plan = plan(args)?;
    args.program_outputs(&mut plan)?;
    // Every program checked now: reading a FIFO given as --input (below) uses up its data.
    plan.check()?;
    // Read once, and a bad --metrics refused before spending minutes measuring.
    let style = args.table_style()?;
    // Check export destinations and the baseline before spending minutes measuring.
    let [exports @ .., baseline_out] = check_files(args, &plan)?;
    let baseline = (args.baseline.as_ref())
        .map(|p| anyhow::Ok((perfkit_regress::load_any(p, None)?, args.policy.policy()?)))
        .transpose()?;
    // Kept until the runs are over: a replayed pipe lives in a temporary file.
    let input = run_input(args.input.as_deref(), args.quiet)?;
    plan.input = input.path().map(Path::to_path_buf);
    let bar = progress_bar(!args.shows().0);
    let mut observer = RunProgress {
        bar: &bar,
        names: plan.targets.iter().map(|t| t.name.clone()).collect(),
    };
    let result = run_bench(&plan, &mut observer);
    bar.finish_and_clear();
    let report = result?;

    for (out, (_, format)) in exports.iter().zip(args.exports()) {
        if let Some(out) = out {
            out.write(report.export(format, &style)?.as_bytes())?;
        }
    }
    let current = if baseline.is_some() || args.save_baseline.is_some() {
        Some(
            perfkit_regress::perfkit_bench_baseline(&report)
                .context("cannot turn the benchmark results into a baseline")?,
        )
    } else {
        None
    };
    let checked = match (&baseline, &current) {
        (Some((b, policy)), Some(c)) => Some(perfkit_regress::check(b, c, policy)?),
        _ => None,
    };
    print_results(args, &report, checked.as_ref(), &style)?;
    let failed = checked
        .as_ref()
        .is_some_and(|c| c.fails(args.policy.strict));
    if let (Some(out), Some(current)) = (&baseline_out, &current) {
        regress::save_baseline(current, out, args.baseline.as_deref(), failed, args.quiet)?;
    }
    Ok(Exit::checked(failed))
}

/// The report, its warnings first, as text or JSON, with the regression check when there is
/// one.
fn print_results(
    args: &BenchArgs,
    report: &perfkit_sys::BenchReport,
    checked: Option<&perfkit_regress::CheckReport>,
    style: &perfkit_sys::export::Style,
) -> Result<()> {
    // Warnings come before the numbers they qualify; --style none prints neither.
    let (_, shown) = args.shows();
    if !args.quiet && shown {
        for warning in report.warnings() {
            note!("warning: {}", crate::cli::warning_with_hint(&warning));
        }
    }
    let both = perfkit_regress::report::CheckedBench {
        report,
        check: checked,
        baseline: args.baseline.as_deref(),
        style,
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&both)?)?;
    } else if shown {
        out!("{}", both.to_text())?;
        if args.plot {
            out!("\n{}", report.plot_text(60))?;
        }
    }
    if let (false, true, Some(check)) = (args.quiet, args.json, checked) {
        for warning in perfkit_regress::report::warnings(check) {
            note!("warning: {warning}");
        }
    }
    Ok(())
}

fn plan(args: &BenchArgs) -> Result<BenchPlan> {
    let commands = args.command_texts()?;
    let parameters = args.parameters();
    let shell = args.shell()?;
    let texts = args.texts(&commands, &parameters, &shell);
    let targets = BenchTarget::from_texts(&texts)?;
    let reference = texts.reference_index(&targets)?;
    for warning in targets.iter().filter_map(BenchTarget::operators_warning) {
        if !args.quiet {
            note!("warning: {warning}");
        }
    }
    let mut plan = BenchPlan::new(targets);
    plan.reference = reference;
    plan.randomize_environment = true;
    args.schedule(&mut plan)?;
    Ok(plan)
}
