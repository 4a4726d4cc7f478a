//! `perfkit heap --sampled`: the preloaded heap sampler, its report and its files.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use perfkit_profilers::heap::{self, HeapProfile, SampledHeapReport};
use perfkit_profilers::{ExitKind, Target};
use perfkit_sys::{OutputPath, ReportSink, check_outputs};

use crate::cli::HeapArgs;
use crate::document::json_or;
use crate::exit::Exit;

/// Whether `path` holds JSON (the shim's profile) rather than massif.out text.
pub(crate) fn is_json(path: &Path) -> bool {
    let mut head = [0u8; 64];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .unwrap_or(0);
    head[..n].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

pub(crate) fn sampled(args: &HeapArgs) -> Result<Exit> {
    let inputs: Vec<&Path> = args.from.as_deref().into_iter().collect();
    let [pprof, dhat, folded, svg, save, report] = check_outputs(
        [
            args.pprof.as_deref(),
            args.dhat.as_deref(),
            args.folded.as_deref(),
            args.flamegraph.as_deref(),
            args.save.as_deref(),
            args.report.report.as_deref(),
        ],
        &inputs,
    )?;
    let sink = ReportSink::from(report);
    let (profile, report, status, captured) = if let Some(from) = &args.from {
        let profile = read_profile(from)?;
        let what = format!(
            "{} (from {})",
            profile.command.as_deref().unwrap_or("a program"),
            from.display()
        );
        let report = SampledHeapReport::new(&profile, &what, args.top);
        (profile, report, ExitKind::Exited { code: 0 }, None)
    } else {
        let sampler = args.sampled_heap();
        sampler.validate()?;
        let what = Target::command(args.command.iter().cloned()).describe();
        if !args.quiet {
            note!("perfkit: running {what} with perfkit's heap sampler preloaded");
        }
        let capture = sink.capture_for_json(args.json);
        let outcome = sampler.run()?;
        let captured = ReportSink::end_capture(capture)?;
        let report = SampledHeapReport::of_run(&outcome, &what, args.top);
        (outcome.profile, report, outcome.status, captured)
    };
    let written = write_files(args, &profile, [pprof, dhat, folded, svg, save])?;
    let mut text = json_or(args.json, Some("heap"), &report, SampledHeapReport::to_text)?;
    if !args.json {
        for (what, path) in written {
            let _ = writeln!(text, "{what} written to {}", path.display());
        }
    }
    sink.emit_captured(&text, captured)?;
    Ok(Exit::Program(status))
}

/// The shim's JSON profile at `path`.
fn read_profile(path: &Path) -> Result<HeapProfile> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    serde_json::from_reader(std::io::BufReader::new(file)).with_context(|| {
        format!(
            "cannot read {} as a heap profile (the JSON perfkit's heap shim writes, or a massif.out file)",
            path.display()
        )
    })
}

/// Writes the files asked for; returns what was written where.
fn write_files<'a>(
    args: &'a HeapArgs,
    profile: &HeapProfile,
    [pprof, dhat, folded, svg, save]: [Option<OutputPath>; 5],
) -> Result<Vec<(&'static str, &'a Path)>> {
    let mut written = Vec::new();
    let metric = args.weigh.metric();
    if let (Some(out), Some(path)) = (pprof, &args.pprof) {
        out.write(&heap::pprof::encode(profile)?)?;
        written.push(("pprof heap profile", path.as_path()));
    }
    if let (Some(out), Some(path)) = (dhat, &args.dhat) {
        out.write(serde_json::to_string(&heap::dhat::to_json(profile))?.as_bytes())?;
        written.push(("DHAT profile (open it in dh_view.html)", path.as_path()));
    }
    if let (Some(out), Some(path)) = (folded, &args.folded) {
        let mut text = Vec::new();
        heap::folded(profile, metric).write_to(&mut text)?;
        out.write(&text)?;
        written.push(("folded stacks", path.as_path()));
    }
    if let (Some(out), Some(path)) = (svg, &args.flamegraph) {
        let stacks = heap::folded(profile, metric);
        let options = heap::flamegraph_options(profile, metric);
        let mut svg = Vec::new();
        perfkit_profilers::flamegraph::render_flamegraph(&stacks, &options, &mut svg)?;
        out.write(&svg)?;
        written.push(("heap flamegraph", path.as_path()));
    }
    if let (Some(out), Some(path)) = (save, &args.save) {
        out.write(serde_json::to_string(profile)?.as_bytes())?;
        written.push(("heap profile", path.as_path()));
    }
    Ok(written)
}
