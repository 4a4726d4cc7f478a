//! The JSON documents commands print. `schema_version` and the command's name are added in
//! one place, [`to_json`]; each command's fields are a struct, so that their names are
//! checked by the compiler. docs/formats.md describes them.

use std::path::Path;

use anyhow::Result;
use perfkit_profilers::{
    ExitKind, HotFunction,
    folded::FunctionChange,
    massif::{AllocationSite, MassifSnapshot},
    perf::{CountUnit, RecordOutcome},
};
use serde::Serialize;

/// The version of every document here.
pub(crate) const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a, T> {
    schema_version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<&'static str>,
    #[serde(flatten)]
    body: &'a T,
}

/// `body` as a pretty-printed document of `command` (`None` for documents without the
/// name), ending in a newline.
pub(crate) fn to_json<T: Serialize>(command: Option<&'static str>, body: &T) -> Result<String> {
    let document = Document {
        schema_version: SCHEMA_VERSION,
        command,
        body,
    };
    Ok(serde_json::to_string_pretty(&document)? + "\n")
}

/// A profile's totals and hottest functions, shared by `record` and `flamegraph`.
#[derive(Serialize)]
pub(crate) struct ProfileTotals<'a> {
    pub(crate) unit: CountUnit,
    pub(crate) count_name: &'a str,
    pub(crate) total: u64,
    pub(crate) distinct_stacks: usize,
    pub(crate) top_functions: &'a [HotFunction],
}

impl<'a> ProfileTotals<'a> {
    /// The totals of `folded`, counted in `unit` (named `count_name`), with `hot`.
    pub(crate) fn of(
        folded: &perfkit_profilers::FoldedStacks,
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

#[derive(Serialize)]
pub(crate) struct Record<'a> {
    pub(crate) target: &'a str,
    pub(crate) svg: &'a Path,
    pub(crate) folded: Option<&'a Path>,
    pub(crate) perf_data: Option<&'a Path>,
    /// Named for the option's old name, so that schema 1 readers keep working.
    pub(crate) report: Option<&'a Path>,
    pub(crate) status: ExitKind,
    pub(crate) recording: &'a RecordOutcome,
    #[serde(flatten)]
    pub(crate) totals: ProfileTotals<'a>,
}

#[derive(Serialize)]
pub(crate) struct Flamegraph<'a> {
    pub(crate) input: &'a Path,
    pub(crate) svg: &'a Path,
    pub(crate) folded: Option<&'a Path>,
    pub(crate) event: Option<&'a str>,
    #[serde(flatten)]
    pub(crate) totals: ProfileTotals<'a>,
}

#[derive(Serialize)]
pub(crate) struct Diff<'a> {
    pub(crate) before: &'a Path,
    pub(crate) after: &'a Path,
    pub(crate) svg: &'a Path,
    pub(crate) normalized: bool,
    /// `functions` or `stacks`.
    pub(crate) compared: &'static str,
    pub(crate) stack_overlap: f64,
    pub(crate) function_overlap: f64,
    pub(crate) before_total: u64,
    pub(crate) after_total: u64,
    pub(crate) stacks: usize,
    pub(crate) top_changes: &'a [FunctionChange],
}

/// A command that ran a program under a tool (`stat`, `syscalls`, `libcalls`): what it ran,
/// and the tool's typed result.
#[derive(Serialize)]
pub(crate) struct Traced<'a, T> {
    pub(crate) target: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hardware_events: Option<bool>,
    pub(crate) result: &'a T,
}

/// `syscalls --from FILE`.
#[derive(Serialize)]
pub(crate) struct SyscallsFrom<'a, S, L> {
    pub(crate) from: &'a Path,
    pub(crate) result: SyscallsResult<'a, S, L>,
}

#[derive(Serialize)]
pub(crate) struct SyscallsResult<'a, S, L> {
    pub(crate) summary: Option<&'a S>,
    pub(crate) latencies: Option<&'a L>,
}

/// One massif snapshot's sizes.
#[derive(Serialize)]
pub(crate) struct Snapshot {
    #[serde(rename = "snapshot")]
    index: u32,
    time: u64,
    heap_bytes: u64,
    heap_extra_bytes: u64,
    stack_bytes: u64,
    total_bytes: u64,
}

impl From<&MassifSnapshot> for Snapshot {
    fn from(p: &MassifSnapshot) -> Snapshot {
        Snapshot {
            index: p.index,
            time: p.time,
            heap_bytes: p.heap,
            heap_extra_bytes: p.heap_extra,
            stack_bytes: p.stacks,
            total_bytes: p.total(),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct Heap<'a> {
    pub(crate) target: &'a str,
    pub(crate) from: Option<&'a Path>,
    pub(crate) status: Option<ExitKind>,
    pub(crate) wall_ns: Option<u64>,
    pub(crate) massif_out: Option<&'a Path>,
    pub(crate) time_unit: &'a str,
    pub(crate) snapshots: usize,
    pub(crate) peak: Option<Snapshot>,
    pub(crate) sites_snapshot: Option<u32>,
    pub(crate) top_sites: &'a [AllocationSite],
    /// `[time, heap, heap_extra, stacks]` per snapshot.
    pub(crate) timeline: Vec<[u64; 4]>,
}
