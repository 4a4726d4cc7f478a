//! `perfkit tune`: kernel parameters planned, applied with a rollback file, rolled back; and
//! resource limits.

use std::path::{Path, PathBuf};

use anyhow::Result;
use perfkit_sys::tune::{self, Action, Plan, Sysctl};
use serde::Serialize;

use crate::cli::{TuneArgs, TuneCommand};
use crate::exit::Exit;

pub(crate) fn run(args: &TuneArgs) -> Result<Exit> {
    let sysctl = Sysctl::at(&args.sysctl_root);
    if let Some(TuneCommand::Rollback { file, json }) = &args.command {
        return rollback(&sysctl, file, *json);
    }
    if args.rlimits {
        return rlimits(args.json).map(|()| Exit::Success);
    }
    let profile = args.profile;
    let plan = tune::plan(&sysctl, profile, args.allow_lower);
    let changes = plan.changes().count();
    let applied = if args.apply && changes > 0 {
        let file = args.rollback_file.clone().unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            PathBuf::from(format!("perfkit-rollback-{now}.json"))
        });
        let record = tune::apply(&sysctl, &plan, &file)?;
        Some((record, file))
    } else {
        None
    };
    if args.json {
        let planned = Planned {
            plan: &plan,
            applied: applied.as_ref().map(|(r, _)| r),
            rollback_file: applied.as_ref().map(|(_, f)| f.as_path()),
        };
        out!("{}", crate::document::to_json(None, &planned)?)?;
        return Ok(Exit::Success);
    }
    out!("{}", plan.to_text(profile.about))?;
    if (plan.entries.iter()).any(|e| matches!(e.action, Action::WouldLower { .. })) {
        outln!("(--allow-lower lets the profile lower a limit)")?;
    }
    print_outcome(args, &plan, applied.as_ref(), changes)?;
    // Parameters the profile wants but this kernel lacks (or hides): with --apply, the rest
    // is applied and the command fails, naming them.
    let skipped: Vec<String> = (plan.entries.iter())
        .filter_map(|e| match &e.action {
            Action::Missing => Some(format!("{} (not on this kernel)", e.name)),
            Action::Unreadable { error } => Some(format!("{} ({error})", e.name)),
            _ => None,
        })
        .collect();
    if args.apply && !skipped.is_empty() {
        anyhow::bail!(
            "not applied: {} (everything else in profile '{}' is in place)",
            skipped.join("; "),
            plan.profile
        );
    }
    Ok(Exit::Success)
}

/// `perfkit tune rollback FILE`.
fn rollback(sysctl: &Sysctl, file: &Path, json: bool) -> Result<Exit> {
    let record = tune::Rollback::load(file)?;
    let restored = tune::rollback(sysctl, &record)?;
    if json {
        let restored = Restored {
            restored: &record.previous,
        };
        out!("{}", crate::document::to_json(None, &restored)?)?;
    } else {
        for s in &record.previous {
            outln!("restored {} = {}", s.name, s.value)?;
        }
        let n = restored.len();
        outln!("{n} parameters restored from {}", file.display())?;
    }
    Ok(Exit::Success)
}

/// What was changed, or what would be, and how to undo or apply it.
fn print_outcome(
    args: &TuneArgs,
    plan: &Plan,
    applied: Option<&(tune::Rollback, PathBuf)>,
    changes: usize,
) -> Result<()> {
    match (applied, args.apply) {
        (Some((record, file)), _) => outln!(
            "\nchanged {} parameter{}; the previous values are in {}\nundo with: perfkit tune rollback {}",
            record.previous.len(),
            if record.previous.len() == 1 { "" } else { "s" },
            file.display(),
            file.display()
        )?,
        (None, true) => outln!("\nnothing to change")?,
        (None, false) if changes > 0 => outln!(
            "\n{changes} change{} planned; nothing was written. Apply with: sudo perfkit tune --profile {} --apply",
            if changes == 1 { "" } else { "s" },
            plan.profile
        )?,
        (None, false) => outln!("\nnothing to change: this machine already meets the profile")?,
    }
    Ok(())
}

fn rlimits(json: bool) -> Result<()> {
    let limits = perfkit_sys::resource_limits()?;
    if json {
        out!(
            "{}",
            crate::document::to_json(None, &Limits { limits: &limits })?
        )?;
        return Ok(());
    }
    out!("{}", perfkit_sys::limits_text(&limits))?;
    outln!(
        "\nA process may raise its soft limit up to the hard one without privilege: programs call\n\
         perfkit_sys::raise_nofile_limit() at start-up; in a shell, `ulimit -n $(ulimit -Hn)`.\n\
         Raising a hard limit needs root (limits.conf, systemd LimitNOFILE=, or fs.nr_open)."
    )?;
    Ok(())
}

/// `tune rollback --json`.
#[derive(Serialize)]
struct Restored<'a> {
    restored: &'a [tune::Saved],
}

/// `tune --json`: the plan, and what was applied.
#[derive(Serialize)]
struct Planned<'a> {
    plan: &'a Plan,
    applied: Option<&'a tune::Rollback>,
    rollback_file: Option<&'a Path>,
}

/// `tune --limits --json`.
#[derive(Serialize)]
struct Limits<'a> {
    limits: &'a [perfkit_sys::ResourceLimit],
}
