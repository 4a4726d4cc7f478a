//! `perfkit heap`, `syscalls`, `libcalls`: valgrind massif, strace, ltrace.

use std::path::Path;

use anyhow::{Context, Result};
use perfkit_profilers::{
    ExitKind, Target,
    ltrace::{DEFAULT_LTRACE_PATTERN, Ltrace},
    massif::{MassifProfile, ms_print},
    report::{HeapReport, HeapRun, StraceFileReport, Traced},
    strace::StraceFile,
};
use perfkit_sys::{ReportSink, check_outputs};

use crate::cli::{HeapArgs, LibcallsArgs, SyscallsArgs};
use crate::document::{self, json_or};
use crate::exit::Exit;

pub(crate) fn heap(args: &HeapArgs) -> Result<Exit> {
    // `--from` is read once, whole, then looked at and parsed from memory: a pipe
    // (`--from <(zcat massif.out.gz)`, /dev/stdin) cannot be read twice.
    let from = match args.from.as_deref() {
        Some(from) => Some((
            from,
            perfkit_sys::read_text_limited(from, perfkit_profilers::MAX_PROFILE_FILE_BYTES)
                .with_context(|| format!("cannot read {}", from.display()))?,
        )),
        None => None,
    };
    let sampled_from = from
        .as_ref()
        .is_some_and(|(_, text)| crate::heap::looks_json(text.as_bytes()));
    if let Some((path, _)) = &from
        && args.sampled
        && !sampled_from
    {
        anyhow::bail!(
            "{} is not a heap profile perfkit's sampler wrote (JSON); a massif.out file is read without --sampled and the files it writes",
            path.display()
        );
    }
    if args.exact && sampled_from {
        anyhow::bail!(
            "{} is a profile of perfkit's heap sampler: read it without --exact",
            args.from.as_deref().unwrap_or(Path::new("")).display()
        );
    }
    if args.sampled || sampled_from {
        return crate::heap::sampled(args, from.as_ref().map(|(p, t)| (*p, t.as_str())));
    }
    if crate::heap::wants_files(args) {
        anyhow::bail!(
            "--pprof, --dhat, --folded, --flamegraph and --save are files of the sampled heap profile: add --sampled"
        );
    }
    if let Some((path, text)) = &from {
        return heap_from_file(args, path, text).map(Exit::Program);
    }
    let [massif_out, report] = check_outputs(
        [args.massif_out.as_deref(), args.report.report.as_deref()],
        &[],
    )?;
    let sink = ReportSink::from(report);
    let what = Target::command(args.command.iter().cloned()).describe();
    let massif = args.massif();
    massif.validate()?;
    if !args.quiet {
        note!(
            "perfkit: running {what} under valgrind massif (expect it to run several times slower)"
        );
    }
    let capture = sink.capture_for_json(args.json);
    let (outcome, kept) = massif.run_keeping()?;
    let captured = ReportSink::end_capture(capture)?;
    let text = if args.ms_print {
        ms_print(kept.path())?
    } else {
        heap_report(args, &outcome.profile, &what, Some(HeapRun::from(&outcome)))?
    };
    // Moved, not copied, once ms_print has read it.
    if let Some(out) = &massif_out {
        kept.move_to(out)?;
    }
    sink.emit_captured(&text, captured)?;
    Ok(Exit::Program(outcome.status))
}

/// `perfkit heap --from massif.out`: the same report for a file recorded elsewhere.
/// The report of the massif.out file `from`, whose text is `text`.
fn heap_from_file(args: &HeapArgs, from: &Path, text: &str) -> Result<ExitKind> {
    if args.ms_print && !std::fs::metadata(from).is_ok_and(|m| m.is_file()) {
        anyhow::bail!(
            "--ms-print runs valgrind's ms_print on {}, which is not a file and was read already: give the massif.out file itself",
            from.display()
        );
    }
    let sink = ReportSink::named(args.report.report.as_deref(), &[from])?;
    let profile = MassifProfile::parse(text)
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
    run: Option<HeapRun>,
) -> Result<String> {
    let mut report = HeapReport::new(profile, what, args.top, run);
    report.from = args.from.as_deref();
    report.massif_out = args.massif_out.as_deref();
    json_or(args.json, Some("heap"), &report, HeapReport::to_text)
}

pub(crate) fn syscalls(args: &SyscallsArgs) -> Result<Exit> {
    if let Some(from) = &args.from {
        return syscalls_from_file(args, from).map(Exit::Program);
    }
    let sink = ReportSink::named(args.report.report.as_deref(), &[])?;
    let (target, what) = args.target.target("syscalls", "trace")?;
    let strace = args.strace(target);
    strace.validate()?;
    if !args.quiet {
        let how = if args.trace {
            " -T (every call)"
        } else {
            " -c"
        };
        note!("perfkit: tracing system calls of {what} with strace{how}");
    }
    let capture = sink.capture_for_json(args.json);
    let outcome = strace.run()?;
    let captured = ReportSink::end_capture(capture)?;
    let traced = Traced::of(&what, &outcome);
    let text = json_or(args.json, Some("syscalls"), &traced, |t| {
        t.result.to_text(&what, args.top, args.wall_clock)
    })?;
    if let (Some(latencies), false) = (&outcome.latencies, args.json || args.quiet) {
        caveats(&latencies.caveats());
    }
    sink.emit_captured(&text, captured)?;
    Ok(Exit::Program(outcome.status))
}

/// `perfkit syscalls --from FILE`: the same report for strace output recorded elsewhere.
fn syscalls_from_file(args: &SyscallsArgs, from: &Path) -> Result<ExitKind> {
    let sink = ReportSink::named(args.report.report.as_deref(), &[from])?;
    let parsed = StraceFile::from_file(from)
        .with_context(|| format!("cannot read {} as strace output", from.display()))?;
    if args.json {
        let report = StraceFileReport::new(from, &parsed);
        sink.emit(&document::to_json(Some("syscalls"), &report)?)?;
        return Ok(ExitKind::Exited { code: 0 });
    }
    if let (StraceFile::Trace(latencies), false) = (&parsed, args.quiet) {
        caveats(&latencies.caveats());
    }
    sink.emit(&parsed.to_text(from, args.top, args.wall_clock))?;
    Ok(ExitKind::Exited { code: 0 })
}

/// What the reader of a report should know, on standard error.
fn caveats(caveats: &[&str]) {
    for c in caveats {
        note!("note: {c}");
    }
}

pub(crate) fn libcalls(args: &LibcallsArgs) -> Result<Exit> {
    let sink = ReportSink::named(args.report.report.as_deref(), &[])?;
    let (target, what) = args.target.target("libcalls", "trace")?;
    let ltrace = Ltrace::new(target)
        .patterns(args.patterns.iter().cloned())
        .plt(!args.no_plt);
    ltrace.validate()?;
    if !args.quiet && args.patterns.is_empty() {
        note!(
            "perfkit: tracing {what} with ltrace -x '{DEFAULT_LTRACE_PATTERN}' \
             (Rust calls libc through the GOT, which plain ltrace does not see; -x PATTERN to choose)"
        );
    } else if !args.quiet {
        note!("perfkit: tracing {what} with ltrace");
    }
    let capture = sink.capture_for_json(args.json);
    let outcome = ltrace.run()?;
    let captured = ReportSink::end_capture(capture)?;
    let traced = Traced::of(&what, &outcome);
    let text = json_or(args.json, Some("libcalls"), &traced, |t| {
        t.result.to_text(&what, args.top)
    })?;
    if !args.quiet && !args.json {
        caveats(&outcome.caveats());
    }
    sink.emit_captured(&text, captured)?;
    Ok(Exit::Program(outcome.status))
}
