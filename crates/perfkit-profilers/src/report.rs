//! The reports of the commands that profile: what was recorded, drawn, compared or traced,
//! as a serialisable value (the fields docs/formats.md lists) and as text for people.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use perfkit_metrics::{format_bytes, format_duration, format_std_duration, shorten_middle};
use serde::Serialize;

use crate::folded::{FunctionChange, hot_table};
use crate::massif::{AllocationSite, MassifProfile, MassifSnapshot, heap_text};
use crate::perf::{CountUnit, RecordOutcome};
use crate::strace::{StraceFile, SyscallLatencies, SyscallSummary};
use crate::{ExitKind, FoldedStacks, HotFunction};

/// A profile's totals and hottest functions.
#[derive(Debug, Serialize)]
pub struct ProfileTotals<'a> {
    /// What the counts are.
    pub unit: CountUnit,
    /// The counts' name, as the flamegraph shows it.
    pub count_name: &'a str,
    /// All counts.
    pub total: u64,
    /// Distinct stacks.
    pub distinct_stacks: usize,
    /// The hottest functions.
    pub top_functions: &'a [HotFunction],
}

impl<'a> ProfileTotals<'a> {
    /// The totals of `folded`, counted in `unit` (named `count_name`), with `hot`.
    #[must_use]
    pub fn of(
        folded: &FoldedStacks,
        unit: CountUnit,
        count_name: &'a str,
        hot: &'a [HotFunction],
    ) -> ProfileTotals<'a> {
        ProfileTotals {
            unit,
            count_name,
            total: folded.total(),
            distinct_stacks: folded.len(),
            top_functions: hot,
        }
    }
}

/// A flamegraph and the files written beside it, as their reports name them.
#[derive(Debug, Serialize)]
pub struct FlameOutputs<'a> {
    /// The flamegraph; none when its output was named for another format.
    pub svg: Option<&'a Path>,
    /// The folded stacks, if written.
    pub folded: Option<&'a Path>,
    /// The profile in pprof's format, if written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pprof: Option<&'a Path>,
    /// The profile in speedscope's format, if written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speedscope: Option<&'a Path>,
}

impl FlameOutputs<'_> {
    /// The file the report is about: the flamegraph, or the profile written instead.
    #[must_use]
    pub fn main(&self) -> &Path {
        (self.svg.or(self.pprof).or(self.speedscope).or(self.folded))
            .unwrap_or_else(|| Path::new("-"))
    }
}

/// A recording and the files made of it.
#[derive(Debug, Serialize)]
pub struct RecordReport<'a> {
    /// What was recorded.
    pub target: &'a str,
    /// The flamegraph and the files beside it.
    #[serde(flatten)]
    pub files: FlameOutputs<'a>,
    /// perf.data, if kept.
    pub perf_data: Option<&'a Path>,
    /// perf report's text, if written. Named `report` so that schema 1 readers keep working.
    pub report: Option<&'a Path>,
    /// How the program ended.
    pub status: ExitKind,
    /// The recording.
    pub recording: &'a RecordOutcome,
    /// What it found.
    #[serde(flatten)]
    pub totals: ProfileTotals<'a>,
}

impl RecordReport<'_> {
    /// A line on the recording, then the hottest functions.
    #[must_use]
    pub fn to_text(&self) -> String {
        let r = self.recording;
        let mut out = format!(
            "{}: {} {} ({}, {} Hz, {} distinct stacks); perf.data {}; program: {} after {}\n",
            self.files.main().display(),
            self.totals.total,
            self.totals.count_name,
            r.event.name,
            r.frequency,
            self.totals.distinct_stacks,
            format_bytes(r.data_bytes),
            self.status,
            format_std_duration(r.wall),
        );
        out.push_str(&hot_table(
            self.totals.top_functions,
            self.totals.count_name,
        ));
        out
    }
}

/// A flamegraph drawn from a profile file.
#[derive(Debug, Serialize)]
pub struct FlamegraphReport<'a> {
    /// The profile read.
    pub input: &'a Path,
    /// The flamegraph and the files beside it.
    #[serde(flatten)]
    pub files: FlameOutputs<'a>,
    /// The event the profile counts, when it says.
    pub event: Option<&'a str>,
    /// What it found.
    #[serde(flatten)]
    pub totals: ProfileTotals<'a>,
}

impl FlamegraphReport<'_> {
    /// A line on the flamegraph, then the hottest functions.
    #[must_use]
    pub fn to_text(&self) -> String {
        let t = &self.totals;
        let mut out = format!(
            "{}: {} {} in {} distinct stacks\n",
            self.files.main().display(),
            t.total,
            t.count_name,
            t.distinct_stacks
        );
        out.push_str(&hot_table(t.top_functions, t.count_name));
        out
    }
}

/// A differential flamegraph of two profiles.
#[derive(Debug, Serialize)]
pub struct DiffReport<'a> {
    /// The first profile.
    pub before: &'a Path,
    /// The second.
    pub after: &'a Path,
    /// The differential flamegraph.
    pub svg: &'a Path,
    /// The two sides as pprof files (before, after), if written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pprof: Option<[&'a Path; 2]>,
    /// Whether shares were compared rather than counts.
    pub normalized: bool,
    /// `functions` or `stacks`: what the picture compares.
    pub compared: &'static str,
    /// Share of the stacks the two have in common.
    pub stack_overlap: f64,
    /// Share of the functions' self time the two have in common.
    pub function_overlap: f64,
    /// All counts of the first.
    pub before_total: u64,
    /// All counts of the second.
    pub after_total: u64,
    /// Stacks drawn.
    pub stacks: usize,
    /// The functions whose self time changed most.
    pub top_changes: &'a [FunctionChange],
    /// The counts' name.
    #[serde(skip)]
    pub count_name: &'a str,
}

impl DiffReport<'_> {
    /// The subtitle of the differential flamegraph.
    #[must_use]
    pub fn subtitle(before: &Path, after: &Path, normalized: bool, by_function: bool) -> String {
        format!(
            "{} → {} (red grew, blue shrank{}{})",
            before.display(),
            after.display(),
            if normalized { "; normalised" } else { "" },
            if by_function {
                "; functions by self time"
            } else {
                ""
            }
        )
    }

    /// Each side's total, the overlap, and the biggest changes.
    #[must_use]
    pub fn to_text(&self) -> String {
        let total = |n: u64| {
            if self.count_name == "ns" {
                format_duration(n as f64)
            } else {
                format!("{n} {}", self.count_name)
            }
        };
        let mut out = format!(
            "{}: BEFORE {} → AFTER {}{}; {:.0}% of the stacks in common\n",
            self.svg.display(),
            total(self.before_total),
            total(self.after_total),
            if self.normalized {
                " (shares compared, counts normalised)"
            } else {
                ""
            },
            self.stack_overlap * 100.0
        );
        if !self.top_changes.is_empty() {
            out.push_str("\n  before%  after%   change  function (self time)\n");
            for c in self.top_changes {
                let _ = writeln!(
                    out,
                    "{:>8.1}% {:>6.1}% {:>+7.1}pt  {}",
                    c.before_self_percent,
                    c.after_self_percent,
                    c.delta_points,
                    shorten_middle(&c.function, 100)
                );
            }
        }
        out
    }
}

/// A program run under a tool: what was run, and the tool's typed result.
#[derive(Debug, Serialize)]
pub struct Traced<'a, T> {
    /// What was run.
    pub target: &'a str,
    /// Whether the machine counts hardware events (for perf stat).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardware_events: Option<bool>,
    /// The tool's result.
    pub result: &'a T,
}

impl<'a, T> Traced<'a, T> {
    /// `result` of running `target`, without the hardware-event flag.
    #[must_use]
    pub fn of(target: &'a str, result: &'a T) -> Self {
        Traced {
            target,
            hardware_events: None,
            result,
        }
    }
}

/// strace output read from a file: the same `result` as a traced run's, with the side the
/// file holds filled in.
#[derive(Debug, Serialize)]
pub struct StraceFileReport<'a> {
    /// The file.
    pub from: &'a Path,
    /// What it holds.
    pub result: StraceFileResult<'a>,
}

/// The two shapes of strace output, as a run's result names them.
#[derive(Debug, Serialize)]
pub struct StraceFileResult<'a> {
    /// A `-c` table.
    pub summary: Option<&'a SyscallSummary>,
    /// A trace of every call.
    pub latencies: Option<&'a SyscallLatencies>,
}

impl<'a> StraceFileReport<'a> {
    /// The report of `file`, read from `from`.
    #[must_use]
    pub fn new(from: &'a Path, file: &'a StraceFile) -> StraceFileReport<'a> {
        let (summary, latencies) = match file {
            StraceFile::Summary(s) => (Some(s), None),
            StraceFile::Trace(l) => (None, Some(l)),
        };
        StraceFileReport {
            from,
            result: StraceFileResult { summary, latencies },
        }
    }
}

/// One massif snapshot's sizes.
#[derive(Debug, Serialize)]
pub struct SnapshotSizes {
    /// The snapshot's number.
    #[serde(rename = "snapshot")]
    pub index: u32,
    /// Its time, in the profile's unit.
    pub time: u64,
    /// Heap bytes asked for.
    pub heap_bytes: u64,
    /// Allocator overhead.
    pub heap_extra_bytes: u64,
    /// Stack bytes.
    pub stack_bytes: u64,
    /// All three.
    pub total_bytes: u64,
}

impl From<&MassifSnapshot> for SnapshotSizes {
    fn from(p: &MassifSnapshot) -> SnapshotSizes {
        SnapshotSizes {
            index: p.index,
            time: p.time,
            heap_bytes: p.heap,
            heap_extra_bytes: p.heap_extra,
            stack_bytes: p.stacks,
            total_bytes: p.total(),
        }
    }
}

/// How a program run under massif ended.
#[derive(Clone, Copy, Debug)]
pub struct HeapRun {
    /// How the program ended.
    pub status: ExitKind,
    /// Wall time under valgrind.
    pub wall: Duration,
}

impl From<&crate::massif::MassifOutcome> for HeapRun {
    fn from(outcome: &crate::massif::MassifOutcome) -> Self {
        HeapRun {
            status: outcome.status,
            wall: outcome.wall,
        }
    }
}

/// A heap profile: its peak, its largest allocation sites and its timeline.
#[derive(Debug, Serialize)]
pub struct HeapReport<'a> {
    /// What was profiled.
    pub target: &'a str,
    /// The massif.out file read, when perfkit did not run the program.
    pub from: Option<&'a Path>,
    /// How the program ended, when perfkit ran it.
    pub status: Option<ExitKind>,
    /// Wall time under valgrind, when perfkit ran it.
    pub wall_ns: Option<u64>,
    /// Where massif.out was kept.
    pub massif_out: Option<&'a Path>,
    /// The unit of the snapshots' times.
    pub time_unit: &'a str,
    /// Snapshots taken.
    pub snapshots: usize,
    /// The peak.
    pub peak: Option<SnapshotSizes>,
    /// The snapshot the sites come from.
    pub sites_snapshot: Option<u32>,
    /// The largest allocation sites.
    pub top_sites: Vec<AllocationSite>,
    /// `[time, heap, heap_extra, stacks]` per snapshot.
    pub timeline: Vec<[u64; 4]>,
    #[serde(skip)]
    profile: &'a MassifProfile,
    #[serde(skip)]
    run: Option<HeapRun>,
}

impl<'a> HeapReport<'a> {
    /// The report of `profile` with its `top` sites (0 for all).
    #[must_use]
    pub fn new(
        profile: &'a MassifProfile,
        target: &'a str,
        top: usize,
        run: Option<HeapRun>,
    ) -> HeapReport<'a> {
        HeapReport {
            target,
            from: None,
            status: run.map(|r| r.status),
            wall_ns: run.map(|r| r.wall.as_nanos() as u64),
            massif_out: None,
            time_unit: profile.time_unit.as_str(),
            snapshots: profile.snapshots.len(),
            peak: profile.peak().map(SnapshotSizes::from),
            sites_snapshot: profile.sites_snapshot().map(|s| s.index),
            top_sites: profile.top_sites(top),
            timeline: (profile.snapshots.iter())
                .map(|s| [s.time, s.heap, s.heap_extra, s.stacks])
                .collect(),
            profile,
            run,
        }
    }

    /// A line on the run, the peak and its sites, and where massif.out was kept.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut out = match self.run {
            Some(r) => format!(
                "heap of {}: program {}, {} under massif, {} snapshots\n",
                self.target,
                r.status,
                format_std_duration(r.wall),
                self.snapshots
            ),
            None => format!("heap of {}: {} snapshots\n", self.target, self.snapshots),
        };
        out.push_str(&heap_text(self.profile, &self.top_sites));
        if let Some(path) = self.massif_out {
            let _ = writeln!(
                out,
                "\nmassif.out kept at {} (ms_print {} for massif's own view)",
                path.display(),
                path.display()
            );
        }
        out
    }
}
