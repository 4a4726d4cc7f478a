//! `perfkit analyze`: options in, `perfkit_analyze` does the work, a short summary out.

use std::path::Path;

use anyhow::{Context, Result};
use perfkit_analyze::{AlternativeCommand, Analysis, AnalyzeOptions, analyze, report};

use crate::cli::AnalyzeArgs;
use crate::exit::Exit;
use crate::output::{RunProgress, progress_bar, run_input};
use crate::regress;

/// `perfkit analyze`; `Ok(true)` when the baseline check found a regression.
pub(crate) fn run(args: &AnalyzeArgs) -> Result<Exit> {
    let save_baseline = (args.save_baseline.as_deref())
        .map(perfkit_sys::OutputPath::named)
        .transpose()?;
    let files = report::ReportFiles::new(&args.out)?;
    files.check_against(args.baseline.as_deref(), save_baseline.as_ref())?;
    // Kept until the runs are over: a replayed pipe lives in a temporary file.
    let (command, options, _input) = plan(args)?;
    let bar = progress_bar(args.quiet || args.json);
    let mut progress = RunProgress {
        bar: &bar,
        names: Vec::new(),
    };
    let result = analyze(&command, &options, &mut progress);
    bar.finish_and_clear();
    let analysis = result?;
    let html = files.write(&analysis)?;
    // A regression fails the check; with --strict so does an inconclusive finding.
    let regressed = analysis
        .baseline
        .as_ref()
        .is_some_and(|b| b.check.fails(args.policy.strict));
    if let Some(out) = &save_baseline {
        regress::save_baseline(
            &analysis.to_baseline()?,
            out,
            args.baseline.as_deref(),
            regressed,
            args.quiet,
        )?;
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&analysis)?)?;
    } else {
        print_summary(&analysis, &html)?;
    }
    if args.open
        && let Err(why) = report::open_in_browser(&html)
    {
        note!(
            "perfkit: --open: {why}; open {} in a browser, or set BROWSER to one",
            html.display()
        );
    }
    Ok(Exit::checked(regressed))
}

/// The command to analyse, the options, and the standard input source the runs read (which
/// must outlive them).
fn plan(args: &AnalyzeArgs) -> Result<(Vec<String>, AnalyzeOptions, perfkit_sys::StdinSource)> {
    // The flags first, then the baseline file, the demo and standard input.
    let mut options = args.options()?;
    if let Some(path) = &args.baseline {
        options.baseline = Some(perfkit_regress::load_any(path, None)?);
    }
    let command = if args.demo {
        let (command, pooled) = demo(args)?;
        options.alternative = Some(pooled);
        command
    } else {
        args.command.clone()
    };
    let input = if args.demo {
        perfkit_sys::StdinSource::Null
    } else {
        run_input(args.input.as_deref(), args.quiet)?
    };
    options.io.input = input.path().map(Path::to_path_buf);
    Ok((command, options, input))
}

/// `--demo`: this perfkit binary runs both commands, a process per task and the same tasks in
/// a pool.
fn demo(args: &AnalyzeArgs) -> Result<(Vec<String>, AlternativeCommand)> {
    if !args.no_syscalls && perfkit_sys::find_program("strace").is_none() && !args.quiet {
        note!(
            "perfkit: the demo counts process starts with strace, which is not installed: without it the verdict can only read CPU times (Debian: apt-get install strace)"
        );
    }
    let exe = std::env::current_exe().context("cannot find the perfkit executable")?;
    let (exe, tasks) = (exe.to_string_lossy(), args.demo_tasks);
    let command_of = |mode: &str| {
        let words = [&*exe, "demo-workload", mode, &tasks.to_string()];
        words.map(str::to_owned).to_vec()
    };
    // The pool the demo runs starts this many workers (perfkit-pool is Linux-only).
    #[cfg(target_os = "linux")]
    let workers = perfkit_pool::default_workers();
    #[cfg(not(target_os = "linux"))]
    let workers = 1;
    let pooled = AlternativeCommand::pooled(command_of("pool"), tasks, workers);
    Ok((command_of("spawn"), pooled))
}

fn print_summary(analysis: &Analysis, html: &Path) -> Result<()> {
    for warning in &analysis.warnings {
        note!("warning: {warning}");
    }
    out!("{}", report::summary_text(analysis))?;
    for u in &analysis.unavailable {
        note!("note: {u}");
    }
    outln!("report: {}", html.display())?;
    Ok(())
}
