//! From a recording or a profile to the files the user named: the steps `perfkit record`,
//! `flamegraph` and `diff` share. The caller checks every output before the work
//! ([`OutputPath`]); these functions fold, draw and write.

use std::path::Path;

use perfkit_sys::{OutputPath, ReportSink, check_named_outputs, check_outputs};

use crate::export::Format;
use crate::flamegraph::{FlamegraphOptions, diff_folded, render_diff_stacks, render_flamegraph};
use crate::folded::{Comparison, FunctionChange, function_changes};
use crate::perf::{
    FoldOptions, PerfEnvironment, PerfFold, RecordOutcome, fold_perf_data, perf_report,
};
use crate::report::{DiffReport, FlameOutputs, FlamegraphReport, ProfileTotals, RecordReport};
use crate::{Empty, ProfilerError, Setting, input_name};

/// Where a flamegraph and the profile beside it go, as the user named them.
#[derive(Clone, Copy, Debug)]
pub struct FlamePaths<'a> {
    /// The picture.
    pub svg: &'a Path,
    /// The folded stacks drawn.
    pub folded: Option<&'a Path>,
    /// The profile in pprof's format.
    pub pprof: Option<&'a Path>,
    /// The profile in speedscope's format.
    pub speedscope: Option<&'a Path>,
}

impl<'a> FlamePaths<'a> {
    /// The picture alone.
    #[must_use]
    pub fn svg(svg: &'a Path) -> FlamePaths<'a> {
        FlamePaths {
            svg,
            folded: None,
            pprof: None,
            speedscope: None,
        }
    }
}

/// Where a flamegraph goes: the SVG and, when asked for, its folded stacks and the profile for
/// other viewers.
#[derive(Debug)]
pub struct FlameFiles {
    /// The picture; none when the name given for it says another format (`cpu.pb.gz`), which
    /// is then written there instead.
    pub svg: Option<OutputPath>,
    /// The folded stacks drawn.
    pub folded: Option<OutputPath>,
    /// The profile in pprof's format.
    pub pprof: Option<OutputPath>,
    /// The profile in speedscope's format.
    pub speedscope: Option<OutputPath>,
}

impl FlameFiles {
    /// The files at `paths`, checked before the work: each can be written, and none is
    /// another or one of `inputs`.
    ///
    /// # Errors
    /// As [`check_outputs`].
    ///
    /// A picture named for another format (`cpu.pb.gz`, `cpu.json`, `cpu.folded`, see
    /// [`Format::from_path`]) is that format instead of an SVG.
    ///
    /// # Errors
    /// As [`check_outputs`]; [`Setting::NamedTwice`] when that format is also named apart.
    pub fn named(paths: FlamePaths<'_>, inputs: &[&Path]) -> Result<FlameFiles, ProfilerError> {
        let others = [paths.folded, paths.pprof, paths.speedscope];
        let instead = Format::from_path(paths.svg);
        let slot = instead.map(|format| match format {
            Format::Folded => 0,
            Format::Pprof => 1,
            Format::Speedscope => 2,
        });
        if let (Some(format), Some(i)) = (instead, slot)
            && others[i].is_some()
        {
            return Err(ProfilerError::InvalidSetting(Setting::NamedTwice(
                format.name(),
            )));
        }
        let (main, mut checked) = check_named_outputs(paths.svg, others, inputs)?;
        let svg = match slot {
            None => Some(main),
            Some(i) => {
                checked[i] = Some(main);
                None
            }
        };
        let [folded, pprof, speedscope] = checked;
        Ok(FlameFiles {
            svg,
            folded,
            pprof,
            speedscope,
        })
    }

    /// Draws `profile` into the SVG, and writes it where asked as folded stacks and for other
    /// viewers, titled `name` there. Every file is rendered before the first is written, so
    /// that a profile one format cannot hold leaves none behind.
    ///
    /// # Errors
    /// inferno cannot draw it, pprof cannot hold its counts, or a file cannot be written.
    pub fn write(
        &self,
        profile: &PerfFold,
        flame: &FlamegraphOptions,
        name: &str,
    ) -> Result<(), ProfilerError> {
        let mut files = Vec::new();
        if let Some(out) = &self.svg {
            let mut svg = Vec::new();
            render_flamegraph(&profile.stacks, flame, &mut svg)?;
            files.push((out, svg));
        }
        let others = [
            (Format::Folded, &self.folded),
            (Format::Pprof, &self.pprof),
            (Format::Speedscope, &self.speedscope),
        ];
        for (format, out) in others {
            if let Some(out) = out {
                files.push((out, format.render(profile, name)?));
            }
        }
        files
            .into_iter()
            .try_for_each(|(out, bytes)| write(out, &bytes))
    }

    /// The files, as named.
    fn outputs(&self) -> FlameOutputs<'_> {
        FlameOutputs {
            svg: self.svg.as_ref().map(OutputPath::path),
            folded: self.folded.as_ref().map(OutputPath::path),
            pprof: self.pprof.as_ref().map(OutputPath::path),
            speedscope: self.speedscope.as_ref().map(OutputPath::path),
        }
    }

    /// The report of a flamegraph drawn from `input`, whose samples count `event`.
    #[must_use]
    pub fn report<'a>(
        &'a self,
        input: &'a Path,
        event: &'a str,
        totals: ProfileTotals<'a>,
    ) -> FlamegraphReport<'a> {
        FlamegraphReport {
            input,
            files: self.outputs(),
            event: (!event.is_empty()).then_some(event),
            totals,
        }
    }
}

/// Names the counts of `profile` in the picture, unless the user `named` them, and gives the
/// picture `subtitle(total, count name)` when it has no subtitle.
pub fn label(
    flame: &mut FlamegraphOptions,
    profile: &PerfFold,
    named: bool,
    subtitle: impl FnOnce(u64, &str) -> Option<String>,
) {
    if !named {
        profile.count_name().clone_into(&mut flame.count_name);
    }
    if flame.subtitle.is_none() {
        flame.subtitle = subtitle(profile.stacks.total(), &flame.count_name);
    }
}

/// The files `perfkit record` writes.
#[derive(Debug)]
pub struct RecordFiles {
    /// The flamegraph and its folded stacks.
    pub flame: FlameFiles,
    /// Where perf.data is moved at the end.
    pub perf_data: Option<OutputPath>,
    /// perf report's text.
    pub perf_report: Option<OutputPath>,
}

/// What a recording gave.
#[derive(Debug)]
pub enum Recorded {
    /// Its stacks, drawn and written.
    Drawn(PerfFold),
    /// A program that failed before perf sampled it: nothing was drawn; perf.data was kept
    /// where asked.
    NoSamples(Empty),
}

impl RecordFiles {
    /// The files a recording writes, and the sink of its `report`, checked before perf runs:
    /// each can be written, and no two are one file.
    ///
    /// # Errors
    /// As [`check_outputs`].
    pub fn named(
        flame: FlamePaths<'_>,
        perf_data: Option<&Path>,
        perf_report: Option<&Path>,
        report: Option<&Path>,
    ) -> Result<(RecordFiles, ReportSink), ProfilerError> {
        let flame = FlameFiles::named(flame, &[])?;
        let [perf_data, perf_report, report] =
            check_outputs([perf_data, perf_report, report], &[])?;
        // No file of one group may be one of the other group.
        let others = [
            &flame.folded,
            &flame.pprof,
            &flame.speedscope,
            &perf_data,
            &perf_report,
            &report,
        ];
        let all: Vec<&OutputPath> = (flame.svg.iter())
            .chain(others.into_iter().flatten())
            .collect();
        perfkit_sys::refuse_overwriting_inputs(&all, &[])?;
        let files = RecordFiles {
            flame,
            perf_data,
            perf_report,
        };
        Ok((files, ReportSink::from(report)))
    }

    /// The report of the `recording` of `what` that wrote these files.
    #[must_use]
    pub fn report<'a>(
        &'a self,
        what: &'a str,
        recording: &'a RecordOutcome,
        totals: ProfileTotals<'a>,
    ) -> RecordReport<'a> {
        RecordReport {
            target: what,
            files: self.flame.outputs(),
            perf_data: self.perf_data.as_ref().map(OutputPath::path),
            report: self.perf_report.as_ref().map(OutputPath::path),
            status: recording.status,
            recording,
            totals,
        }
    }

    /// Folds the recording in `outcome`, labels the picture with `what` was recorded, and
    /// writes every file. perf.data is moved last, so that perf report can read it first.
    ///
    /// # Errors
    /// perf script or perf report fail, the recording holds no samples of a program that
    /// succeeded, or a file cannot be written.
    pub fn fold_and_write(
        &self,
        env: &PerfEnvironment,
        outcome: &RecordOutcome,
        fold: &FoldOptions,
        flame: &mut FlamegraphOptions,
        named: bool,
        what: &str,
    ) -> Result<Recorded, ProfilerError> {
        let folded = match fold_perf_data(&env.perf, &outcome.perf_data, fold) {
            Ok(folded) => folded,
            // A program that failed before perf sampled it fails the command its own way.
            Err(ProfilerError::NoSamples(why)) if !outcome.status.success() => {
                self.keep_perf_data(outcome)?;
                return Ok(Recorded::NoSamples(why));
            }
            Err(e) => return Err(e),
        };
        label(flame, &folded, named, |total, count_name| {
            Some(format!(
                "{what} — {}, {} Hz, {total} {count_name}",
                outcome.event.name, outcome.frequency
            ))
        });
        self.flame.write(&folded, flame, what)?;
        if let Some(out) = &self.perf_report {
            write(
                out,
                perf_report(&env.perf, &outcome.perf_data, &[])?.as_bytes(),
            )?;
        }
        self.keep_perf_data(outcome)?;
        Ok(Recorded::Drawn(folded))
    }

    fn keep_perf_data(&self, outcome: &RecordOutcome) -> Result<(), ProfilerError> {
        match &self.perf_data {
            Some(out) => out
                .move_from(&outcome.perf_data)
                .map_err(ProfilerError::Output),
            None => Ok(()),
        }
    }
}

/// Where a differential flamegraph goes and, when asked, its two sides as pprof files for
/// `go tool pprof -diff_base BEFORE AFTER`.
#[derive(Debug)]
pub struct DiffFiles {
    /// The picture.
    pub svg: OutputPath,
    /// The sides as pprof files: before, after.
    pub pprof: Option<(OutputPath, OutputPath)>,
}

impl DiffFiles {
    /// The picture at `svg` and the `pprof` pair (before, after), checked before the work:
    /// each can be written, and none is another or one of `inputs`.
    ///
    /// # Errors
    /// As [`check_outputs`].
    pub fn named(
        svg: &Path,
        pprof: Option<(&Path, &Path)>,
        inputs: &[&Path],
    ) -> Result<DiffFiles, ProfilerError> {
        let (before, after) = pprof.unzip();
        let (svg, [before, after]) = check_named_outputs(svg, [before, after], inputs)?;
        Ok(DiffFiles {
            svg,
            pprof: before.zip(after),
        })
    }
}

/// A differential flamegraph, drawn.
#[derive(Debug)]
pub struct DiffDrawn {
    /// How the two profiles relate, and whether functions were compared.
    pub comparison: Comparison,
    /// Whether shares were compared rather than counts.
    pub normalized: bool,
    /// Stacks drawn.
    pub stacks: usize,
    /// All counts of each side.
    pub totals: (u64, u64),
    /// The functions whose self time changed most.
    pub changes: Vec<FunctionChange>,
}

/// Draws `after` against `before` (each with the path it was read from) into the `files`:
/// functions or stacks as the `comparison` of the two decided, shares rather than counts when
/// `normalize`; each side as it is into the pprof pair when asked. Everything is rendered
/// before the first file is written. Lists the `top` functions whose self time changed most.
/// A picture without a subtitle gets one naming both sides.
///
/// # Errors
/// inferno cannot draw the difference, pprof cannot hold a side's counts, or a file cannot be
/// written.
pub fn draw_diff(
    before: (&Path, &PerfFold),
    after: (&Path, &PerfFold),
    comparison: Comparison,
    normalize: bool,
    flame: &mut FlamegraphOptions,
    top: usize,
    files: &DiffFiles,
) -> Result<DiffDrawn, ProfilerError> {
    let pair = match &files.pprof {
        Some((before_out, after_out)) => vec![
            (
                before_out,
                Format::Pprof.render(before.1, &input_name(before.0))?,
            ),
            (
                after_out,
                Format::Pprof.render(after.1, &input_name(after.0))?,
            ),
        ],
        None => Vec::new(),
    };
    let ((before_path, before), (after_path, after)) =
        ((before.0, &before.1.stacks), (after.0, &after.1.stacks));
    if flame.subtitle.is_none() {
        flame.subtitle = Some(DiffReport::subtitle(
            before_path,
            after_path,
            normalize,
            comparison.by_function,
        ));
    }
    let stacks = if comparison.by_function {
        diff_folded(&before.by_function(), &after.by_function(), normalize)
    } else {
        diff_folded(before, after, normalize)
    };
    let mut svg = Vec::new();
    render_diff_stacks(&stacks, flame, &mut svg)?;
    write(&files.svg, &svg)?;
    for (out, bytes) in pair {
        write(out, &bytes)?;
    }
    Ok(DiffDrawn {
        comparison,
        normalized: normalize,
        stacks: stacks.len(),
        totals: (before.total(), after.total()),
        changes: function_changes(before, after, top),
    })
}

impl DiffDrawn {
    /// The report of this picture, drawn from `before` and `after` into `files`.
    #[must_use]
    pub fn report<'a>(
        &'a self,
        before: &'a Path,
        after: &'a Path,
        files: &'a DiffFiles,
        count_name: &'a str,
    ) -> DiffReport<'a> {
        DiffReport {
            before,
            after,
            svg: files.svg.path(),
            pprof: (files.pprof.as_ref()).map(|(b, a)| [b.path(), a.path()]),
            normalized: self.normalized,
            compared: if self.comparison.by_function {
                "functions"
            } else {
                "stacks"
            },
            stack_overlap: self.comparison.stack_overlap,
            function_overlap: self.comparison.function_overlap,
            before_total: self.totals.0,
            after_total: self.totals.1,
            stacks: self.stacks,
            top_changes: &self.changes,
            count_name,
        }
    }
}

fn write(out: &OutputPath, contents: &[u8]) -> Result<(), ProfilerError> {
    out.write(contents).map_err(ProfilerError::Output)
}
