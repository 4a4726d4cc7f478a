//! `perfkit check`, `perfkit baseline` and the check of `perfkit bench --baseline`: arguments
//! in, `perfkit_regress` does the work, reports out.

use std::path::Path;

use anyhow::Result;
use perfkit_regress::{Baseline, check, load_any, load_criterion, report};

use crate::cli::{BaselineCommand, CheckArgs, ReportFormat};
use crate::exit::Exit;
use perfkit_sys::OutputPath;
use perfkit_sys::refuse_overwriting_inputs;

/// `--save-baseline PATH` after a run: saves `current`, except when the check failed and PATH
/// is the `--baseline` file.
pub(crate) fn save_baseline(
    current: &Baseline,
    out: &OutputPath,
    checked_against: Option<&Path>,
    failed: bool,
    quiet: bool,
) -> Result<()> {
    let path = out.path().display();
    if !current.save_after_check(out, checked_against, failed)? {
        note!(
            "perfkit: kept the baseline {path}: the check failed, and saving would make the regression the new reference"
        );
    } else if !quiet {
        note!("perfkit: saved the baseline {path}");
    }
    Ok(())
}

/// `perfkit check`; `Ok(true)` when the check failed.
pub(crate) fn run_check(args: &CheckArgs) -> Result<Exit> {
    let policy = args.policy.policy()?;
    let (baseline, current) = match (&args.criterion, &args.baseline, &args.current) {
        (Some(dir), _, _) => (
            load_criterion(dir, &args.base)?,
            load_criterion(dir, &args.new)?,
        ),
        (None, Some(b), Some(c)) => (load_any(b, None)?, load_any(c, None)?),
        _ => anyhow::bail!("give --baseline FILE and --current FILE, or --criterion DIR"),
    };
    let report = check(&baseline, &current, &policy)?;
    let format = args.report_format();
    match format {
        ReportFormat::Human => out!("{}", report::human(&report))?,
        ReportFormat::Json => outln!("{}", serde_json::to_string_pretty(&report)?)?,
        ReportFormat::Markdown => out!("{}", report::markdown(&report))?,
    }
    if format != ReportFormat::Human && !args.quiet {
        for w in report::warnings(&report) {
            note!("warning: {w}");
        }
    }
    let failed = report.fails(args.policy.strict);
    if failed && args.policy.strict && !report.has_regression() && !args.quiet {
        note!("perfkit: --strict: inconclusive findings count as failures");
    }
    Ok(Exit::checked(failed))
}

/// `perfkit baseline save|show`.
pub(crate) fn run_baseline(command: &BaselineCommand) -> Result<Exit> {
    // What was read, whether as JSON, and for `save` where it goes, checked first.
    let (baseline, json, save) = match command {
        BaselineCommand::Save(args) => {
            let out = OutputPath::named(&args.file)?;
            let baseline = load_any(&args.from, args.criterion_baseline.as_deref())?;
            (baseline, args.json, Some((out, args)))
        }
        BaselineCommand::Show(args) => (
            load_any(&args.file, args.criterion_baseline.as_deref())?,
            args.json,
            None,
        ),
    };
    for w in baseline.warnings() {
        note!("warning: {w}");
    }
    if let Some((out, args)) = &save {
        // Saving a baseline over the file it was read from is how one is rewritten in the
        // current format; only a directory source (criterion's) cannot be replaced.
        if args.from.is_dir() {
            refuse_overwriting_inputs(&[out], &[&args.from])?;
        }
        out.write(baseline.to_json().as_bytes())?;
    }
    if json {
        out!("{}", baseline.to_json())?;
    } else {
        out!("{}", perfkit_regress::report::describe_baseline(&baseline))?;
    }
    if let (Some((_, args)), false) = (save, json) {
        let n = baseline.benchmarks.len();
        let s = if n == 1 { "" } else { "s" };
        outln!("saved {n} benchmark{s} to {}", args.file.display())?;
    }
    Ok(Exit::Success)
}
