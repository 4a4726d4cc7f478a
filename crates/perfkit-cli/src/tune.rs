//! `perfkit tune`: kernel parameters planned, applied with a rollback file, rolled back; and
//! resource limits.

use std::path::{Path, PathBuf};

use anyhow::Result;
use perfkit_sys::tune::{self, Plan, PlanReport, Rollback, RollbackReport, Sysctl};

use crate::cli::{TuneArgs, TuneCommand};
use crate::document::{print, to_json};
use crate::exit::Exit;

pub(crate) fn run(args: &TuneArgs) -> Result<Exit> {
    let sysctl = Sysctl::at(&args.sysctl_root);
    if let Some(TuneCommand::Rollback { file, json }) = &args.command {
        return rollback(&sysctl, file, *json);
    }
    if args.rlimits {
        return rlimits(args.json).map(|()| Exit::Success);
    }
    let plan = tune::plan(&sysctl, args.profile, args.allow_lower);
    let changes = plan.changes().count();
    let applied = if args.apply && changes > 0 {
        let file = (args.rollback_file.clone()).unwrap_or_else(Rollback::default_path);
        Some((tune::apply(&sysctl, &plan, &file)?, file))
    } else {
        None
    };
    if args.json {
        let report = PlanReport {
            plan: &plan,
            applied: applied.as_ref().map(|(r, _)| r),
            rollback_file: applied.as_ref().map(|(_, f)| f.as_path()),
        };
        out!("{}", to_json(None, &report)?)?;
        return Ok(Exit::Success);
    }
    out!("{}", plan.to_text(args.profile.about))?;
    if plan.would_lower() {
        outln!("(--allow-lower lets the profile lower a limit)")?;
    }
    print_outcome(args, &plan, applied.as_ref(), changes)?;
    // Parameters the profile wants but this kernel lacks or hides: with --apply, the rest is
    // applied and the command fails, naming them.
    if args.apply {
        plan.check_complete()?;
    }
    Ok(Exit::Success)
}

/// `perfkit tune rollback FILE`.
fn rollback(sysctl: &Sysctl, file: &Path, json: bool) -> Result<Exit> {
    let record = Rollback::load(file)?;
    tune::rollback(sysctl, &record)?;
    let report = RollbackReport {
        restored: &record.previous,
        from: file,
    };
    print(json, None, &report, RollbackReport::to_text)?;
    Ok(Exit::Success)
}

/// What was changed, or what would be, and how to undo or apply it.
fn print_outcome(
    args: &TuneArgs,
    plan: &Plan,
    applied: Option<&(Rollback, PathBuf)>,
    changes: usize,
) -> Result<()> {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    match (applied, args.apply) {
        (Some((record, file)), _) => outln!(
            "\nchanged {} parameter{}; the previous values are in {}\nundo with: perfkit tune rollback {}",
            record.previous.len(),
            plural(record.previous.len()),
            file.display(),
            file.display()
        )?,
        (None, true) => outln!("\nnothing to change")?,
        (None, false) if changes > 0 => outln!(
            "\n{changes} change{} planned; nothing was written. Apply with: sudo perfkit tune --profile {} --apply",
            plural(changes),
            plan.profile
        )?,
        (None, false) => outln!("\nnothing to change: this machine already meets the profile")?,
    }
    Ok(())
}

fn rlimits(json: bool) -> Result<()> {
    let limits = perfkit_sys::resource_limits()?;
    let report = perfkit_sys::LimitsReport { limits: &limits };
    print(json, None, &report, |r| perfkit_sys::limits_text(r.limits))
}
