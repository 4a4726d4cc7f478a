//! valgrind massif: run a program under it and parse `massif.out` natively.

use crate::Setting;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use perfkit_sys::ExitKind;
use serde::{Deserialize, Serialize};

use crate::perf::tail;
pub use crate::render::{callers_to_show, heap_text};
use crate::runner::{Invocation, persist, scratch_dir, target_builders};
use crate::{ProfilerError, Target, Tool, ToolInfo};

/// What massif's snapshot times count (`--time-unit`). Serialised as massif writes it (`i`,
/// `ms`, `B`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum TimeUnit {
    /// Instructions executed (`i`, massif's default).
    Instructions,
    /// Milliseconds (`ms`).
    Milliseconds,
    /// Bytes allocated and freed so far (`B`).
    BytesAllocated,
    /// A unit this parser does not know, as written.
    Other(String),
}

impl TimeUnit {
    /// The unit as massif writes it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            TimeUnit::Instructions => "i",
            TimeUnit::Milliseconds => "ms",
            TimeUnit::BytesAllocated => "B",
            TimeUnit::Other(other) => other,
        }
    }

    /// The unit after a number, for people: ` instructions`, ` ms`, ` bytes allocated`, or
    /// nothing for an unknown one.
    #[must_use]
    pub fn suffix(&self) -> &'static str {
        match self {
            TimeUnit::Instructions => " instructions",
            TimeUnit::Milliseconds => " ms",
            TimeUnit::BytesAllocated => " bytes allocated",
            TimeUnit::Other(_) => "",
        }
    }
}

impl From<String> for TimeUnit {
    fn from(text: String) -> TimeUnit {
        match text.as_str() {
            "i" => TimeUnit::Instructions,
            "ms" => TimeUnit::Milliseconds,
            "B" => TimeUnit::BytesAllocated,
            _ => TimeUnit::Other(text),
        }
    }
}

impl From<TimeUnit> for String {
    fn from(unit: TimeUnit) -> String {
        unit.as_str().to_owned()
    }
}

/// Whether a snapshot carries an allocation tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotKind {
    /// Totals only.
    Empty,
    /// Totals and the allocation tree.
    Detailed,
    /// The (approximate) peak, with its allocation tree.
    Peak,
}

/// A node of massif's allocation tree: bytes allocated through this code location and its
/// callers below it (children are callers, not callees: the tree grows outward from malloc).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeapNode {
    /// Bytes live at the snapshot attributed to this node.
    pub bytes: u64,
    /// Code address (`None` for the root and for "below threshold" summaries).
    pub address: Option<String>,
    /// The function (`???` when unknown); for the root massif's description; for summaries
    /// `in N places, below massif's threshold`.
    pub function: String,
    /// `file:line` or `in /path/lib.so`, if massif knows it.
    pub location: Option<String>,
    /// Entries below the threshold summarised in this node (`Some(N)` for summary lines).
    pub below_threshold_places: Option<u32>,
    /// Callers.
    pub children: Vec<HeapNode>,
}

/// One massif snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MassifSnapshot {
    /// Its number.
    pub index: u32,
    /// When, in the profile's `time_unit`.
    pub time: u64,
    /// Useful heap bytes.
    pub heap: u64,
    /// Allocator overhead bytes (headers, alignment).
    pub heap_extra: u64,
    /// Stack bytes (only with `--stacks=yes`).
    pub stacks: u64,
    /// Empty, detailed or peak.
    pub kind: SnapshotKind,
    /// The allocation tree of detailed and peak snapshots.
    pub tree: Option<HeapNode>,
}

impl MassifSnapshot {
    /// Heap + overhead + stacks.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.heap
            .saturating_add(self.heap_extra)
            .saturating_add(self.stacks)
    }
}

/// A parsed `massif.out` file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MassifProfile {
    /// The `desc:` line (massif's options).
    pub desc: String,
    /// The profiled command.
    pub cmd: String,
    /// What a snapshot's time counts.
    pub time_unit: TimeUnit,
    /// Every snapshot in order.
    pub snapshots: Vec<MassifSnapshot>,
}

/// An allocation site at the peak: a leaf of the allocation tree with its call path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AllocationSite {
    /// Bytes live at the peak from this site.
    pub bytes: u64,
    /// Share of the peak's heap bytes.
    pub percent: f64,
    /// The first frame of your code on the path (skipping allocator and standard-library
    /// frames), `function (location)`.
    pub site: String,
    /// The call path, innermost (the allocation) first, each `function (location)`.
    pub call_path: Vec<String>,
}

impl MassifProfile {
    /// Parses massif.out text.
    pub fn parse(text: &str) -> Result<MassifProfile, ProfilerError> {
        Parser::new(text).parse()
    }

    /// Reads and parses a massif.out file (at most [`crate::MAX_PROFILE_FILE_BYTES`]).
    pub fn from_file(path: &Path) -> Result<MassifProfile, ProfilerError> {
        let text = perfkit_sys::read_text_limited(path, crate::MAX_PROFILE_FILE_BYTES)
            .map_err(|e| ProfilerError::io(format!("reading {}", path.display()), e))?;
        MassifProfile::parse(&text)
    }

    /// The peak: the snapshot with the largest total (heap + overhead + stacks), whichever
    /// one massif marks. massif's own mark is approximate: it is taken only when memory is
    /// freed, so a program that grows to its end has later, larger snapshots. Among equal
    /// totals the marked one wins, then a detailed one, then the earliest.
    #[must_use]
    pub fn peak(&self) -> Option<&MassifSnapshot> {
        largest(self.snapshots.iter(), MassifSnapshot::total)
    }

    /// The snapshot whose allocation tree [`MassifProfile::top_sites`] reads: the detailed
    /// (or peak) snapshot with the most heap bytes. It is the peak unless the peak has no tree.
    #[must_use]
    pub fn sites_snapshot(&self) -> Option<&MassifSnapshot> {
        largest(self.snapshots.iter().filter(|s| s.tree.is_some()), |s| {
            s.heap
        })
    }

    /// The `n` largest allocation sites of [`MassifProfile::sites_snapshot`], largest first;
    /// sites with the same call path are one site.
    #[must_use]
    pub fn top_sites(&self, n: usize) -> Vec<AllocationSite> {
        let Some(snapshot) = self.sites_snapshot() else {
            return Vec::new();
        };
        let Some(root) = &snapshot.tree else {
            return Vec::new();
        };
        let mut leaves = Vec::new();
        let mut path = Vec::new();
        for child in &root.children {
            collect_leaves(child, &mut path, &mut leaves);
        }
        let mut sites: Vec<AllocationSite> = Vec::with_capacity(leaves.len());
        let mut by_path: std::collections::HashMap<Vec<String>, usize> =
            std::collections::HashMap::new();
        for leaf in leaves {
            if let Some(&i) = by_path.get(&leaf.call_path) {
                sites[i].bytes = sites[i].bytes.saturating_add(leaf.bytes);
            } else {
                by_path.insert(leaf.call_path.clone(), sites.len());
                sites.push(leaf);
            }
        }
        // The parser checked that no tree holds more than its snapshot's heap, so shares stay
        // within 100%.
        let heap = snapshot.heap.max(1) as f64;
        for site in &mut sites {
            site.percent = site.bytes as f64 * 100.0 / heap;
        }
        sites.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.site.cmp(&b.site)));
        sites.truncate(n);
        sites
    }
}

/// The snapshot with the largest `key`; ties go to massif's peak mark, then to a detailed
/// snapshot, then to the earliest.
fn largest<'a>(
    snapshots: impl Iterator<Item = &'a MassifSnapshot>,
    key: impl Fn(&MassifSnapshot) -> u64,
) -> Option<&'a MassifSnapshot> {
    let rank = |s: &MassifSnapshot| match s.kind {
        SnapshotKind::Peak => 2,
        SnapshotKind::Detailed => 1,
        SnapshotKind::Empty => 0,
    };
    snapshots.fold(None, |best: Option<&MassifSnapshot>, s| match best {
        Some(b) if (key(b), rank(b)) >= (key(s), rank(s)) => Some(b),
        _ => Some(s),
    })
}

fn describe(node: &HeapNode) -> String {
    match &node.location {
        Some(loc) => format!("{} ({loc})", node.function),
        None => node.function.clone(),
    }
}

fn collect_leaves(node: &HeapNode, path: &mut Vec<String>, sites: &mut Vec<AllocationSite>) {
    if node.below_threshold_places.is_some() {
        return;
    }
    path.push(describe(node));
    let accounted = node
        .children
        .iter()
        .fold(0u64, |sum, c| sum.saturating_add(c.bytes));
    let real_children: Vec<&HeapNode> = node
        .children
        .iter()
        .filter(|c| c.below_threshold_places.is_none())
        .collect();
    if real_children.is_empty() || accounted < node.bytes {
        // A leaf, or bytes allocated here that no listed caller accounts for.
        let bytes = if real_children.is_empty() {
            node.bytes
        } else {
            node.bytes - accounted
        };
        if bytes > 0 {
            sites.push(AllocationSite {
                bytes,
                percent: 0.0,
                site: first_user_frame(path),
                call_path: path.clone(),
            });
        }
    }
    for child in real_children {
        collect_leaves(child, path, sites);
    }
    path.pop();
}

/// The C library's allocator and the system calls behind it (with `--pages-as-heap` the tree
/// starts at `mmap` or `brk`), matched by exact function name.
const ALLOCATOR_FUNCTIONS: [&str; 24] = [
    "mmap",
    "mmap64",
    "__mmap",
    "__mmap64",
    "mremap",
    "__mremap",
    "brk",
    "__brk",
    "sbrk",
    "__sbrk",
    "__glibc_morecore",
    "__default_morecore",
    "sysmalloc",
    "sysmalloc_mmap",
    "_int_malloc",
    "_int_realloc",
    "_int_memalign",
    "_mid_memalign",
    "__libc_malloc",
    "__libc_calloc",
    "__libc_realloc",
    "__libc_memalign",
    "tcache_init",
    "alloc_perturb",
];

/// Allocation wrappers of language runtimes and common C libraries: the site is their caller.
const WRAPPER_FUNCTIONS: [&str; 30] = [
    "PyObject_Malloc",
    "PyObject_Calloc",
    "PyObject_Realloc",
    "_PyObject_Malloc",
    "_PyObject_Calloc",
    "_PyObject_Realloc",
    "PyMem_Malloc",
    "PyMem_Calloc",
    "PyMem_Realloc",
    "PyMem_RawMalloc",
    "PyMem_RawCalloc",
    "PyMem_RawRealloc",
    "_PyMem_RawMalloc",
    "_PyMem_RawCalloc",
    "_PyMem_RawRealloc",
    "Perl_safesysmalloc",
    "Perl_safesyscalloc",
    "Perl_safesysrealloc",
    "g_malloc",
    "g_malloc0",
    "g_realloc",
    "xmalloc",
    "xcalloc",
    "xrealloc",
    "xzalloc",
    "xmemdup",
    "xstrdup",
    "strdup",
    "__strdup",
    "strndup",
];

/// libstdc++ headers whose frames are the container's allocation machinery, not the caller.
fn is_cpp_library_header(location: &str) -> bool {
    let file = location.rsplit_once(':').map_or(location, |(f, _)| f);
    let file = file.rsplit('/').next().unwrap_or(file);
    file.starts_with("stl_")
        || matches!(
            file,
            "new_allocator.h"
                | "alloc_traits.h"
                | "allocator.h"
                | "basic_string.h"
                | "basic_string.tcc"
                | "vector.tcc"
                | "hashtable.h"
                | "hashtable_policy.h"
                | "unique_ptr.h"
                | "shared_ptr_base.h"
                | "std_function.h"
                | "deque.tcc"
        )
}

/// The first frame that is not the allocator, the system call behind it, an allocation
/// wrapper or the standard library.
fn first_user_frame(path: &[String]) -> String {
    path.iter()
        .find(|f| !is_internal_frame(f))
        .or_else(|| path.first())
        .cloned()
        .unwrap_or_default()
}

/// Whether a massif frame (`function (location)`) is the allocator, the system call behind
/// it, an allocation wrapper or the standard library rather than the program's own code.
fn is_internal_frame(frame: &str) -> bool {
    const INTERNAL_PREFIXES: [&str; 12] = [
        "UnknownInlinedFun",
        "alloc::",
        "<alloc::",
        "core::",
        "<core::",
        "std::",
        "<std::",
        "__rust",
        "malloc",
        "realloc",
        "calloc",
        "operator new",
    ];
    let function = frame.split(" (").next().unwrap_or(frame);
    // Compiler clones such as `sysmalloc_mmap.constprop.0` are the same function.
    let function = function.split('.').next().unwrap_or(function);
    let location = frame
        .strip_suffix(')')
        .and_then(|f| f.rsplit_once(" ("))
        .map(|(_, l)| l);
    function == "???"
        || ALLOCATOR_FUNCTIONS.contains(&function)
        || WRAPPER_FUNCTIONS.contains(&function)
        || location.is_some_and(is_cpp_library_header)
        || INTERNAL_PREFIXES.iter().any(|p| frame.starts_with(p))
        || frame.contains("(library/")
        || frame.contains("/rustc/")
        || frame.starts_with("with_capacity")
        || frame.starts_with("alloc ")
        || frame.starts_with("alloc_impl")
}

/// Whether a massif frame is library code on the way from an allocation to the program: what
/// [`AllocationSite::site`] skips, plus container crates and shared libraries (a C program's
/// `g_malloc` in glib). A call path shown up to the first frame that is not is long enough to
/// reach the program's own code.
#[must_use]
pub fn is_library_frame(frame: &str) -> bool {
    is_internal_frame(frame)
        || frame.starts_with("hashbrown::")
        || frame.starts_with("<hashbrown::")
        || frame.starts_with("__libc")
        || frame.starts_with("_dl_")
        || frame.starts_with("__gnu_cxx::")
        || frame.contains("(in /usr/lib")
        || frame.contains("(in /lib")
}

struct Parser<'a> {
    lines: std::iter::Peekable<std::iter::Enumerate<std::str::Lines<'a>>>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            lines: text.lines().enumerate().peekable(),
        }
    }

    fn error(line: usize, message: impl Into<String>) -> ProfilerError {
        ProfilerError::parse("massif.out", line + 1, message)
    }

    fn header(&mut self, key: &str) -> Result<String, ProfilerError> {
        let Some((n, line)) = self.lines.next() else {
            return Err(Self::error(0, format!("empty file: expected `{key}:`")));
        };
        line.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(|v| v.trim().to_owned())
            .ok_or_else(|| {
                Self::error(
                    n,
                    format!("expected `{key}: ...`, found {line:.80?}; is this a massif.out file?"),
                )
            })
    }

    fn parse(mut self) -> Result<MassifProfile, ProfilerError> {
        let desc = self.header("desc")?;
        let cmd = self.header("cmd")?;
        let time_unit = TimeUnit::from(self.header("time_unit")?);
        let mut snapshots = Vec::new();
        while let Some((n, line)) = self.lines.next() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some(index) = line.strip_prefix("snapshot=") else {
                return Err(Self::error(
                    n,
                    format!("expected `snapshot=N`, found {line:.80?}"),
                ));
            };
            let index = index
                .parse()
                .map_err(|_| Self::error(n, format!("bad snapshot number {index:?}")))?;
            snapshots.push(self.snapshot(index)?);
        }
        Ok(MassifProfile {
            desc,
            cmd,
            time_unit,
            snapshots,
        })
    }

    fn field(&mut self, key: &str) -> Result<String, ProfilerError> {
        loop {
            let Some((n, line)) = self.lines.next() else {
                return Err(Self::error(0, format!("the file ends before `{key}=`")));
            };
            if line.starts_with('#') {
                continue;
            }
            return line
                .strip_prefix(key)
                .and_then(|rest| rest.strip_prefix('='))
                .map(|v| v.trim().to_owned())
                .ok_or_else(|| Self::error(n, format!("expected `{key}=`, found {line:.80?}")));
        }
    }

    fn number(&mut self, key: &str) -> Result<u64, ProfilerError> {
        let value = self.field(key)?;
        value
            .parse()
            .map_err(|_| Self::error(0, format!("`{key}={value}` is not a whole number")))
    }

    fn snapshot(&mut self, index: u32) -> Result<MassifSnapshot, ProfilerError> {
        let time = self.number("time")?;
        let heap = self.number("mem_heap_B")?;
        let heap_extra = self.number("mem_heap_extra_B")?;
        let stacks = self.number("mem_stacks_B")?;
        let kind = match self.field("heap_tree")?.as_str() {
            "empty" => SnapshotKind::Empty,
            "detailed" => SnapshotKind::Detailed,
            "peak" => SnapshotKind::Peak,
            other => {
                return Err(Self::error(
                    0,
                    format!("unknown heap_tree={other:?} in snapshot {index}"),
                ));
            }
        };
        let tree = if kind == SnapshotKind::Empty {
            None
        } else {
            let (tree, line) = self.tree()?;
            if tree.bytes > heap {
                return Err(Self::error(
                    line,
                    format!(
                        "the allocation tree of snapshot {index} holds {} bytes, more than its \
                         mem_heap_B={heap}; the file is damaged",
                        tree.bytes
                    ),
                ));
            }
            Some(tree)
        };
        Ok(MassifSnapshot {
            index,
            time,
            heap,
            heap_extra,
            stacks,
            kind,
            tree,
        })
    }

    /// Parses the indented tree that follows `heap_tree=detailed|peak`: one space of
    /// indentation per level; the tree ends at the first line that is not a node. Returns the
    /// root and its line.
    fn tree(&mut self) -> Result<(HeapNode, usize), ProfilerError> {
        // The path from the root to the node read last, each with its line.
        let mut stack: Vec<(HeapNode, usize)> = Vec::new();
        let mut root: Option<(HeapNode, usize)> = None;
        while let Some(&(n, line)) = self.lines.peek() {
            let depth = line.len() - line.trim_start_matches(' ').len();
            let body = &line[depth..];
            if !(body.starts_with('n') && body.contains(':')) {
                break;
            }
            self.lines.next();
            let (node, _) = parse_node(body).map_err(|why| Self::error(n, why))?;
            if depth > stack.len() {
                return Err(Self::error(
                    n,
                    format!("indentation jumps from depth {} to {depth}", stack.len()),
                ));
            }
            if depth >= MAX_TREE_DEPTH {
                return Err(Self::error(
                    n,
                    format!(
                        "an allocation tree deeper than {MAX_TREE_DEPTH} levels (massif's \
                         --depth allows at most 200); the file is damaged"
                    ),
                ));
            }
            while stack.len() > depth {
                close_node(&mut stack, &mut root)?;
            }
            if stack.is_empty() && root.is_some() {
                return Err(Self::error(n, "a second root in one allocation tree"));
            }
            stack.push((node, n));
        }
        while !stack.is_empty() {
            close_node(&mut stack, &mut root)?;
        }
        root.ok_or_else(|| Self::error(0, "a detailed snapshot without an allocation tree"))
    }
}

/// Ends the node read last: checks that its callers account for no more bytes than it holds
/// (massif's trees always add up; a file that does not is damaged, and its shares would be
/// nonsense) and hangs it under its parent.
/// The deepest allocation tree read. massif cuts call paths at `--depth` (at most 200); the
/// limit keeps a hostile file from nesting deep enough to exhaust the stack of the code that
/// walks the tree (and of dropping it).
const MAX_TREE_DEPTH: usize = 1000;

fn close_node(
    stack: &mut Vec<(HeapNode, usize)>,
    root: &mut Option<(HeapNode, usize)>,
) -> Result<(), ProfilerError> {
    let Some((node, line)) = stack.pop() else {
        return Ok(());
    };
    let callers = node
        .children
        .iter()
        .try_fold(0u64, |sum, c| sum.checked_add(c.bytes));
    if callers.is_none_or(|sum| sum > node.bytes) {
        return Err(Parser::error(
            line,
            format!(
                "the callers of this node add up to more than its {} bytes; the file is damaged",
                node.bytes
            ),
        ));
    }
    match stack.last_mut() {
        Some((parent, _)) => parent.children.push(node),
        None => *root = Some((node, line)),
    }
    Ok(())
}

/// Parses `nK: BYTES REST` (without the indentation); returns the node and K.
fn parse_node(body: &str) -> Result<(HeapNode, usize), String> {
    let rest = body
        .strip_prefix('n')
        .ok_or("a tree line must start with nK:")?;
    let (children, rest) = rest
        .split_once(':')
        .ok_or("a tree line must start with nK:")?;
    let children: usize = children
        .parse()
        .map_err(|_| format!("bad child count {children:?}"))?;
    let rest = rest.trim_start();
    let (bytes, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let bytes: u64 = bytes
        .parse()
        .map_err(|_| format!("bad byte count {bytes:?}"))?;
    let mut node = HeapNode {
        bytes,
        address: None,
        function: String::new(),
        location: None,
        below_threshold_places: None,
        children: Vec::new(),
    };
    if let Some(summary) = rest.strip_prefix("in ") {
        let places = summary
            .split(' ')
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("bad summary line {rest:?}"))?;
        node.below_threshold_places = Some(places);
        rest.clone_into(&mut node.function);
    } else if rest.starts_with("0x") {
        // `0xADDR: function (location)`; Rust names contain `:`, `<`, `,` and spaces, so split
        // once after the address and take the location from the right.
        let (address, what) = rest
            .split_once(": ")
            .or_else(|| rest.split_once(':'))
            .ok_or_else(|| format!("expected `0xADDR: function`, found {rest:?}"))?;
        node.address = Some(address.to_owned());
        let what = what.trim();
        match what.strip_suffix(')').and_then(|w| w.rsplit_once(" (")) {
            Some((function, location)) => {
                function.clone_into(&mut node.function);
                node.location = Some(location.to_owned());
            }
            None => what.clone_into(&mut node.function),
        }
    } else {
        rest.clone_into(&mut node.function);
    }
    Ok((node, children))
}

/// A massif run, built step by step.
///
/// ```no_run
/// use perfkit_profilers::massif::Massif;
///
/// let outcome = Massif::command(["./target/release/my-app"]).run()?;
/// let peak = outcome.profile.peak().unwrap();
/// println!("peak heap {} bytes", peak.heap);
/// for site in outcome.profile.top_sites(3) {
///     println!("{:>10} B  {}", site.bytes, site.site);
/// }
/// # Ok::<(), perfkit_profilers::ProfilerError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Massif {
    inv: Invocation,
    pages_as_heap: bool,
    stacks: bool,
    threshold: Option<f64>,
    depth: Option<u32>,
    keep: Option<PathBuf>,
    follow_exec: bool,
}

/// The result of a massif run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MassifOutcome {
    /// How the program ended.
    pub status: ExitKind,
    /// The parsed profile.
    pub profile: MassifProfile,
    /// Where massif.out was kept, if asked.
    pub massif_out: Option<PathBuf>,
    /// Wall time under valgrind, several times the program's own.
    #[serde(rename = "wall_ns", with = "perfkit_metrics::serde_ns")]
    pub wall: Duration,
}

impl Massif {
    target_builders!(Massif);

    /// Profiles the heap of `target`. valgrind starts the program itself: a [`Target::Pids`]
    /// is refused by [`Massif::validate`].
    #[must_use]
    pub fn new(target: Target) -> Massif {
        Massif {
            inv: Invocation::new(target),
            pages_as_heap: false,
            stacks: false,
            threshold: None,
            depth: None,
            keep: None,
            follow_exec: false,
        }
    }

    /// Follow `exec` and started processes (`--trace-children=yes`) and report the command's
    /// own process: needed when the command is a wrapper that `exec`s the real program (a
    /// shim, `env`, a shell script ending in `exec`), which massif otherwise loses.
    #[must_use]
    pub fn follow_exec(mut self, yes: bool) -> Massif {
        self.follow_exec = yes;
        self
    }

    /// Count pages mapped (mmap/brk) instead of malloc'd blocks: needed for programs with their
    /// own allocator (jemalloc, mimalloc) that massif's malloc hooks do not see.
    #[must_use]
    pub fn pages_as_heap(mut self, yes: bool) -> Massif {
        self.pages_as_heap = yes;
        self
    }

    /// Also measure stack memory (slow).
    #[must_use]
    pub fn stacks(mut self, yes: bool) -> Massif {
        self.stacks = yes;
        self
    }

    /// Sites below this percentage of the heap are merged (massif's default 1.0).
    #[must_use]
    pub fn threshold(mut self, percent: f64) -> Massif {
        self.threshold = Some(percent);
        self
    }

    /// Maximum call-path depth (massif's default 30).
    #[must_use]
    pub fn depth(mut self, depth: u32) -> Massif {
        self.depth = Some(depth);
        self
    }

    /// Keep massif.out at this path (for `ms_print` or massif-visualizer).
    #[must_use]
    pub fn keep_output(mut self, path: impl Into<PathBuf>) -> Massif {
        self.keep = Some(path.into());
        self
    }

    /// Runs the program under massif. valgrind's own messages go to a private log, so the
    /// program's stderr stays its own; the log's end is in the error if valgrind fails.
    pub fn run(&self) -> Result<MassifOutcome, ProfilerError> {
        self.validate()?;
        let valgrind = Tool::Valgrind.locate()?;
        self.run_with(&valgrind).map(|(outcome, _)| outcome)
    }

    /// Runs the program under massif as [`Massif::run`] does, keeping massif.out in a private
    /// directory for as long as the returned [`KeptProfile`] lives: for [`ms_print`], and to
    /// [move](KeptProfile::move_to) where the user asked. The directory is removed if perfkit
    /// dies of a signal.
    ///
    /// # Errors
    /// As [`Massif::run`].
    pub fn run_keeping(&self) -> Result<(MassifOutcome, KeptProfile), ProfilerError> {
        self.validate()?;
        let valgrind = Tool::Valgrind.locate()?;
        self.run_with(&valgrind)
    }

    /// Checks the options and that the program exists, without running anything.
    pub fn validate(&self) -> Result<(), ProfilerError> {
        self.inv.validate(Tool::Valgrind)?;
        if let Some(t) = self.threshold
            && !(0.0..=100.0).contains(&t)
        {
            return Err(ProfilerError::InvalidSetting(Setting::MassifThreshold(t)));
        }
        if self.depth == Some(0) {
            return Err(ProfilerError::InvalidSetting(Setting::MassifDepth));
        }
        Ok(())
    }

    /// valgrind's own arguments, writing the profile to `out` and its messages to `log`.
    fn tool_args(&self, out: &Path, log: &Path) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["--tool=massif".into()];
        if self.follow_exec {
            args.push("--trace-children=yes".into());
        }
        args.push(flag("--massif-out-file=", out));
        args.push(flag("--log-file=", log));
        if self.pages_as_heap {
            args.push("--pages-as-heap=yes".into());
        }
        if self.stacks {
            args.push("--stacks=yes".into());
        }
        if let Some(t) = self.threshold {
            args.push(format!("--threshold={t}").into());
        }
        if let Some(d) = self.depth {
            args.push(format!("--depth={d}").into());
        }
        args
    }

    /// Runs massif; the profile it wrote stays in the returned scratch directory until that
    /// is dropped.
    fn run_with(&self, valgrind: &ToolInfo) -> Result<(MassifOutcome, KeptProfile), ProfilerError> {
        let dir = scratch_dir(Tool::Valgrind)?;
        // Following exec, every process writes its own profile (%p: its PID).
        let out = dir.path().join(if self.follow_exec {
            "massif.out.%p"
        } else {
            "massif.out"
        });
        let log = dir.path().join("valgrind.log");
        let mut command = self.inv.command(valgrind, self.tool_args(&out, &log))?;
        let ran = self.inv.run(&mut command, Tool::Valgrind)?;
        let out = if self.follow_exec {
            first_process_profile(dir.path())
        } else {
            Some(out).filter(|o| o.is_file())
        };
        let Some(out) = out else {
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(ProfilerError::NoMassifProfile {
                status: ran.status,
                followed_exec: self.follow_exec,
                log: tail(&said, 6),
            });
        };
        let profile = MassifProfile::from_file(&out)?;
        let massif_out = match &self.keep {
            Some(path) => {
                persist(&out, path)?;
                Some(path.clone())
            }
            None => None,
        };
        let outcome = MassifOutcome {
            status: ran.status,
            profile,
            massif_out,
            wall: ran.wall,
        };
        // Where the profile is now: moved to `keep_output`, or still in the scratch directory.
        let path = outcome.massif_out.clone().unwrap_or(out);
        Ok((outcome, KeptProfile { path, _dir: dir }))
    }
}

/// massif.out of a run, kept in a private directory until this is dropped.
#[derive(Debug)]
pub struct KeptProfile {
    path: PathBuf,
    _dir: perfkit_sys::signals::PrivateDir,
}

impl KeptProfile {
    /// Where massif.out is.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves massif.out to `out`, once nothing else needs to read it.
    ///
    /// # Errors
    /// `out` cannot be written.
    pub fn move_to(self, out: &perfkit_sys::OutputPath) -> Result<(), ProfilerError> {
        out.move_from(&self.path).map_err(ProfilerError::Output)
    }
}

/// Of the `massif.out.PID` files in `dir`, the command's own process's: the first started,
/// so the lowest PID (the wrappers `exec` into the real program in that process).
fn first_process_profile(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let pid: u32 = name.to_str()?.strip_prefix("massif.out.")?.parse().ok()?;
            Some((pid, e.path()))
        })
        .min_by_key(|(pid, _)| *pid)
        .map(|(_, path)| path)
}

fn flag(name: &str, path: &Path) -> OsString {
    let mut s = OsString::from(name);
    s.push(path);
    s
}

/// `ms_print` of a massif.out file: massif's own text report with the ASCII graph.
pub fn ms_print(massif_out: &Path) -> Result<String, ProfilerError> {
    let tool: ToolInfo = Tool::MsPrint.locate()?;
    let output = tool
        .command()
        .arg(massif_out)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ProfilerError::io("running ms_print", e))?;
    if !output.status.success() {
        return Err(ProfilerError::ToolFailed {
            tool: Tool::MsPrint,
            detail: format!(
                "ms_print {} ended with {}: {}",
                massif_out.display(),
                output.status,
                tail(&String::from_utf8_lossy(&output.stderr), 4)
            ),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r"desc: --threshold=1
cmd: ./app big
time_unit: i
#-----------
snapshot=0
#-----------
time=0
mem_heap_B=0
mem_heap_extra_B=0
mem_stacks_B=0
heap_tree=empty
#-----------
snapshot=1
#-----------
time=100
mem_heap_B=3000
mem_heap_extra_B=24
mem_stacks_B=0
heap_tree=peak
n3: 3000 (heap allocation functions) malloc/new/new[], --alloc-fns, etc.
 n1: 2000 0x10: <alloc::vec::Vec<T, A> as core::clone::Clone>::clone (vec/mod.rs:12)
  n1: 2000 0x20: app::load_table<u8, 4> (main.rs:40)
   n0: 2000 0x30: main (main.rs:5)
 n1: 900 0x40: app::parse (in /usr/lib/libapp.so)
  n0: 900 0x50: ???
 n0: 100 in 3 places, all below massif's threshold (1.00%)
";

    #[test]
    fn time_units_keep_massifs_spelling() {
        for (text, unit) in [
            ("i", TimeUnit::Instructions),
            ("ms", TimeUnit::Milliseconds),
            ("B", TimeUnit::BytesAllocated),
            ("ticks", TimeUnit::Other("ticks".into())),
        ] {
            assert_eq!(TimeUnit::from(text.to_owned()), unit);
            assert_eq!(serde_json::to_string(&unit).unwrap(), format!("\"{text}\""));
            let back: TimeUnit = serde_json::from_str(&format!("\"{text}\"")).unwrap();
            assert_eq!(back, unit);
        }
    }

    #[test]
    fn parses_snapshots_tree_and_rust_names() {
        let p = MassifProfile::parse(SMALL).unwrap();
        assert_eq!(p.cmd, "./app big");
        assert_eq!(p.snapshots.len(), 2);
        let peak = p.peak().unwrap();
        assert_eq!((peak.index, peak.heap, peak.total()), (1, 3000, 3024));
        let root = peak.tree.as_ref().unwrap();
        assert_eq!(root.children.len(), 3);
        let clone = &root.children[0];
        assert_eq!(
            clone.function,
            "<alloc::vec::Vec<T, A> as core::clone::Clone>::clone"
        );
        assert_eq!(clone.location.as_deref(), Some("vec/mod.rs:12"));
        assert_eq!(clone.children[0].function, "app::load_table<u8, 4>");
        assert_eq!(root.children[2].below_threshold_places, Some(3));
    }

    #[test]
    fn top_sites_skip_library_frames_and_keep_call_paths() {
        let p = MassifProfile::parse(SMALL).unwrap();
        let sites = p.top_sites(5);
        assert_eq!(sites.len(), 2);
        assert_eq!(sites[0].bytes, 2000);
        assert_eq!(sites[0].site, "app::load_table<u8, 4> (main.rs:40)");
        assert_eq!(sites[0].call_path.len(), 3);
        assert!((sites[0].percent - 66.67).abs() < 0.01);
        assert_eq!(sites[1].site, "app::parse (in /usr/lib/libapp.so)");
    }

    #[test]
    fn malformed_files_are_errors() {
        for bad in [
            "",
            "hello",
            "desc: x\ncmd: y\ntime_unit: i\nsnapshot=x\n",
            "desc: x\ncmd: y\ntime_unit: i\nsnapshot=0\ntime=1\n",
            "desc: x\ncmd: y\ntime_unit: i\nsnapshot=0\ntime=1\nmem_heap_B=1\nmem_heap_extra_B=0\nmem_stacks_B=0\nheap_tree=odd\n",
            "desc: x\ncmd: y\ntime_unit: i\nsnapshot=0\ntime=1\nmem_heap_B=1\nmem_heap_extra_B=0\nmem_stacks_B=0\nheap_tree=detailed\n",
            "desc: x\ncmd: y\ntime_unit: i\nsnapshot=0\ntime=1\nmem_heap_B=1\nmem_heap_extra_B=0\nmem_stacks_B=0\nheap_tree=detailed\nn1: 5 root\n   n0: 5 0x1: f\n",
        ] {
            assert!(MassifProfile::parse(bad).is_err(), "{bad:?}");
        }
    }
}
