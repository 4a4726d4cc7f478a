//! `perfkit heap --sampled`: the preloaded heap sampler, its report and its files.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use perfkit_profilers::heap::{self, HeapProfile, SampledHeapReport};
use perfkit_profilers::{ExitKind, ProfilerError, Target};
use perfkit_sys::{OutputPath, ReportSink, check_outputs};

use crate::cli::HeapArgs;
use crate::document::json_or;
use crate::exit::Exit;

/// Whether text that starts with `head` is JSON (an object) rather than massif.out text.
pub(crate) fn looks_json(head: &[u8]) -> bool {
    head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Whether the sampled mode's files were asked for.
pub(crate) fn wants_files(args: &HeapArgs) -> bool {
    args.pprof.is_some()
        || args.dhat.is_some()
        || args.folded.is_some()
        || args.flamegraph.is_some()
        || args.save.is_some()
}

/// `perfkit heap --sampled`; `from` is `--from`'s path and its text, read already.
pub(crate) fn sampled(args: &HeapArgs, from: Option<(&Path, &str)>) -> Result<Exit> {
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
    let (profile, report, status, captured) = if let Some((from, text)) = from {
        let profile = read_profile(from, text)?;
        let what = format!(
            "{} (from {})",
            profile.command.as_deref().unwrap_or("a program"),
            from.display()
        );
        let report = SampledHeapReport::new(&profile, &what, args.top);
        (Some(profile), report, ExitKind::Exited { code: 0 }, None)
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
    let mut text = json_or(args.json, Some("heap"), &report, SampledHeapReport::to_text)?;
    // Every file is rendered before any is written, and written before the report, which a
    // closed standard error may end perfkit on; a failing write still gets the report, without
    // the lines that would say the files were written.
    let mut written = Ok(());
    if let Some(profile) = &profile {
        let files = render_files(args, profile, [pprof, dhat, folded, svg, save])?;
        written = files.write();
        if written.is_ok() && !args.json {
            for line in &files.notes {
                let _ = writeln!(text, "{line}");
            }
        }
    }
    sink.emit_captured(&text, captured)?;
    written?;
    Ok(Exit::Program(status))
}

/// The heap profile saved at `path`, whose text is `text`.
fn read_profile(path: &Path, text: &str) -> Result<HeapProfile> {
    heap::parse_saved(text, path).map_err(|e| {
        if matches!(e, ProfilerError::DhatFile { .. }) {
            // The error names the file and what to do with it.
            return anyhow::Error::new(e);
        }
        anyhow::Error::new(e).context(format!(
            "cannot read {} as a heap profile (the JSON perfkit heap --sampled --save writes)",
            path.display()
        ))
    })
}

/// The files asked for, rendered, and what to say about them.
struct Files {
    contents: Vec<(OutputPath, Vec<u8>)>,
    notes: Vec<String>,
}

impl Files {
    fn add(&mut self, out: Option<OutputPath>, what: &str, bytes: Vec<u8>) {
        if let Some(out) = out {
            self.notes
                .push(format!("{what} written to {}", out.path().display()));
            self.contents.push((out, bytes));
        }
    }

    fn write(&self) -> Result<()> {
        for (out, bytes) in &self.contents {
            // Its error names the file already.
            out.write(bytes)?;
        }
        Ok(())
    }
}

/// Renders every file asked for (none is written yet). A flamegraph of a profile without the
/// figure it weighs is left out with a note, not an error.
fn render_files(
    args: &HeapArgs,
    profile: &HeapProfile,
    [pprof, dhat, folded, svg, save]: [Option<OutputPath>; 5],
) -> Result<Files> {
    let mut files = Files {
        contents: Vec::new(),
        notes: Vec::new(),
    };
    let metric = args.weigh.metric();
    if pprof.is_some() {
        files.add(pprof, "pprof heap profile", heap::pprof::encode(profile)?);
    }
    if dhat.is_some() {
        let json = serde_json::to_vec(&heap::dhat::to_json(profile))?;
        files.add(dhat, "DHAT profile (open it in dh_view.html)", json);
    }
    let stacks = if folded.is_some() || svg.is_some() {
        heap::folded(profile, metric)
    } else {
        perfkit_profilers::FoldedStacks::default()
    };
    if folded.is_some() {
        let mut text = Vec::new();
        stacks.write_to(&mut text)?;
        files.add(folded, "folded stacks", text);
    }
    if svg.is_some() {
        if stacks.is_empty() {
            let (what, _) = metric.describe();
            files.notes.push(format!(
                "no flamegraph written: the profile has no samples for \"{}\" (try another --weigh, or a smaller --interval)",
                what.to_lowercase()
            ));
        } else {
            let options = heap::flamegraph_options(profile, metric);
            let mut image = Vec::new();
            perfkit_profilers::flamegraph::render_flamegraph(&stacks, &options, &mut image)?;
            files.add(svg, "heap flamegraph", image);
        }
    }
    if save.is_some() {
        files.add(save, "heap profile", serde_json::to_vec(profile)?);
    }
    Ok(files)
}
