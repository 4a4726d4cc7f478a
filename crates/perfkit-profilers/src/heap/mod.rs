//! Sampled heap profiles of any dynamically linked program: perfkit's `malloc` shim
//! (`libperfkit_heap_shim.so`, from the `perfkit-heap-shim` crate) preloaded into it, its
//! profile read back at the end, and written for other viewers.
//!
//! The shim samples allocations by bytes, as [`perfkit_alloc::sampling`] does in a Rust
//! process, and writes a [`HeapProfile`] when the program exits. [`SampledHeap::run`] starts
//! the program with the shim in `LD_PRELOAD` and reads the profile; [`pprof::encode`],
//! [`dhat::to_json`] and [`folded`] write it for `go tool pprof`, DHAT's `dh_view.html` and
//! flamegraphs.
//!
//! ```no_run
//! use perfkit_profilers::heap::SampledHeap;
//!
//! let outcome = SampledHeap::command(["./target/release/my-app"]).interval(64 * 1024).run()?;
//! for site in outcome.profile.top_by(|s| s.peak_bytes, 5) {
//!     println!("{:>12.0} B at the peak  {}", site.peak_bytes, site.function());
//! }
//! # Ok::<(), perfkit_profilers::ProfilerError>(())
//! ```

pub mod dhat;
pub mod pprof;
mod report;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use perfkit_alloc::{HeapFrame, HeapProfile, HeapSite};
use serde::Serialize;

pub use report::{SampledHeapReport, SiteLine};

use crate::runner::{Invocation, run_guarded, target_builders};
use crate::{ExitKind, FoldedStacks, ProfilerError, Setting, Target};

/// The shim's file name.
pub const SHIM_NAME: &str = "libperfkit_heap_shim.so";
/// The variable that names the shim, before perfkit looks beside its own executable.
pub const SHIM_ENV: &str = "PERFKIT_HEAP_SHIM";
/// The default mean sampling interval.
pub const DEFAULT_INTERVAL: u64 = 512 * 1024;

/// A program run with the heap shim preloaded.
#[derive(Clone, Debug)]
pub struct SampledHeap {
    inv: Invocation,
    interval: u64,
    seed: u64,
    shim: Option<PathBuf>,
}

/// What a sampled heap run gave.
#[derive(Clone, Debug, Serialize)]
pub struct SampledHeapOutcome {
    /// How the program ended.
    pub status: ExitKind,
    /// The profile the program's process wrote at exit.
    pub profile: HeapProfile,
    /// Wall time of the run.
    #[serde(rename = "wall_ns", with = "perfkit_metrics::serde_ns")]
    pub wall: Duration,
    /// The shim that was preloaded.
    pub shim: PathBuf,
}

impl SampledHeap {
    target_builders!(SampledHeap);

    /// Profiles the heap of `target`, which must be a command (the shim is preloaded when
    /// the program starts).
    #[must_use]
    pub fn new(target: Target) -> SampledHeap {
        SampledHeap {
            inv: Invocation::new(target),
            interval: DEFAULT_INTERVAL,
            seed: 0x5eed,
            shim: None,
        }
    }

    /// Mean bytes allocated between samples (512 KiB by default). Smaller intervals sample
    /// more and cost more; 1 records every allocation.
    #[must_use]
    pub fn interval(mut self, bytes: u64) -> SampledHeap {
        self.interval = bytes;
        self
    }

    /// The seed of the sampler's random draws.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> SampledHeap {
        self.seed = seed;
        self
    }

    /// Preload this shim instead of the one [`locate_shim`] finds.
    #[must_use]
    pub fn shim(mut self, path: impl Into<PathBuf>) -> SampledHeap {
        self.shim = Some(path.into());
        self
    }

    /// Checks the options, the program and the shim, without running anything.
    pub fn validate(&self) -> Result<PathBuf, ProfilerError> {
        if let Target::Pids { .. } = self.inv.target {
            return Err(ProfilerError::InvalidSetting(Setting::HeapAttach));
        }
        if self.interval == 0 {
            return Err(ProfilerError::InvalidSetting(Setting::HeapInterval));
        }
        self.inv.target.validate()?;
        let shim = match &self.shim {
            Some(path) => path.clone(),
            None => locate_shim()?,
        };
        let text = shim.to_string_lossy();
        if text.contains([':', ' ']) {
            return Err(ProfilerError::ShimPath { path: shim });
        }
        Ok(shim)
    }

    /// Runs the program with the shim preloaded and reads the profile its process wrote at
    /// exit. Ctrl-C reaches the program, which then ends as it would (a program that dies of
    /// it writes no profile); `SIGTERM` and `SIGHUP` are passed on.
    ///
    /// # Errors
    /// [`ProfilerError::NoHeapProfile`] when the program wrote none: it was killed, ended with
    /// `_exit`, is statically linked or set-user-ID (the loader then ignores `LD_PRELOAD`), or
    /// allocates without `malloc`.
    pub fn run(&self) -> Result<SampledHeapOutcome, ProfilerError> {
        let shim = self.validate()?;
        let dir = perfkit_sys::signals::PrivateDir::new("perfkit-heap-")
            .map_err(|e| ProfilerError::io("creating a temporary directory", e))?;
        let out = dir.path().join("heap.json");
        let Target::Command(argv) = &self.inv.target else {
            return Err(ProfilerError::InvalidSetting(Setting::HeapAttach));
        };
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]);
        command
            .env("LD_PRELOAD", preload(&shim))
            .env("PERFKIT_HEAP_OUT", &out)
            .env("PERFKIT_HEAP_PARENT", std::process::id().to_string())
            .env("PERFKIT_HEAP_INTERVAL", self.interval.to_string())
            .env("PERFKIT_HEAP_SEED", self.seed.to_string());
        self.inv.apply_io(&mut command)?;
        let ran = run_guarded(&mut command)?;
        let Ok(file) = std::fs::File::open(&out) else {
            return Err(ProfilerError::NoHeapProfile {
                status: ran.status,
                hint: no_profile_hint(&argv[0], ran.status),
            });
        };
        let profile: HeapProfile =
            serde_json::from_reader(std::io::BufReader::new(file)).map_err(|e| {
                ProfilerError::Parse {
                    what: "the heap shim's profile",
                    line: e.line(),
                    message: e.to_string(),
                }
            })?;
        Ok(SampledHeapOutcome {
            status: ran.status,
            profile,
            wall: ran.wall,
            shim,
        })
    }
}

/// `LD_PRELOAD` with the shim first, then what was there.
fn preload(shim: &Path) -> OsString {
    let mut value = OsString::from(shim);
    if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        value.push(":");
        value.push(old);
    }
    value
}

/// Why a program may have written no profile, for the error.
fn no_profile_hint(program: &std::ffi::OsStr, status: ExitKind) -> String {
    if let ExitKind::Signaled { .. } = status {
        return "it was killed by a signal, and profiles are written at exit".to_owned();
    }
    let path = program.to_str().and_then(perfkit_sys::find_program);
    match path.as_deref().map(elf_kind) {
        Some(Some(ElfKind::Static)) => {
            "it is statically linked, so nothing can be preloaded into it; use --exact (valgrind massif)".to_owned()
        }
        _ => "it ended with _exit, exec'd a statically linked or set-user-ID program, or allocates without malloc (its own allocator: try --exact --pages-as-heap)".to_owned(),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum ElfKind {
    Dynamic,
    Static,
}

/// Whether the ELF file at `path` asks for a dynamic loader (`PT_INTERP`); `None` when it is
/// not a 64-bit little-endian ELF file.
fn elf_kind(path: &Path) -> Option<ElfKind> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let number = |at: usize, len: usize| -> Option<u64> {
        let mut value = 0u64;
        for (i, b) in bytes.get(at..at + len)?.iter().enumerate() {
            value |= u64::from(*b) << (8 * i);
        }
        Some(value)
    };
    let phoff = usize::try_from(number(0x20, 8)?).ok()?;
    let phentsize = usize::try_from(number(0x36, 2)?).ok()?;
    let phnum = usize::try_from(number(0x38, 2)?).ok()?;
    for i in 0..phnum {
        if number(phoff + i * phentsize, 4)? == 3 {
            return Some(ElfKind::Dynamic);
        }
    }
    Some(ElfKind::Static)
}

/// The shim: `PERFKIT_HEAP_SHIM`, else the newest of those beside the running executable
/// (`cargo build` of perfkit puts it in the target directory's `deps/`), in `../lib/perfkit/`
/// from it (an installed layout), or one directory up (for test binaries, which live in
/// `deps/`).
///
/// # Errors
/// [`ProfilerError::ShimNotFound`], naming the places looked at.
pub fn locate_shim() -> Result<PathBuf, ProfilerError> {
    if let Some(path) = std::env::var_os(SHIM_ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(ProfilerError::ShimNotFound {
                searched: format!("{SHIM_ENV}={}", path.display()),
            })
        };
    }
    let exe = std::env::current_exe()
        .map_err(|e| ProfilerError::io("finding perfkit's own executable", e))?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let candidates = [
        dir.join(SHIM_NAME),
        dir.join("deps").join(SHIM_NAME),
        dir.join("../lib/perfkit").join(SHIM_NAME),
        dir.join("..").join(SHIM_NAME),
    ];
    // Both the first two exist after building the shim on its own and perfkit after it:
    // the newer is the one built with this perfkit.
    candidates
        .iter()
        .filter_map(|p| {
            let meta = std::fs::metadata(p)
                .ok()
                .filter(std::fs::Metadata::is_file)?;
            Some((meta.modified().ok(), p))
        })
        .max_by_key(|(modified, _)| *modified)
        .map(|(_, p)| p.clone())
        .ok_or_else(|| ProfilerError::ShimNotFound {
            searched: candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// What a heap flamegraph's widths are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HeapMetric {
    /// Bytes live at the peak (the default: where the memory went).
    #[default]
    PeakBytes,
    /// Bytes allocated in all (churn shows up here).
    AllocBytes,
    /// Bytes live when the profile was taken (at exit: leaked).
    LiveBytes,
    /// Blocks allocated in all.
    AllocObjects,
}

impl HeapMetric {
    /// The figure of `site`.
    #[must_use]
    pub fn of(self, site: &HeapSite) -> f64 {
        match self {
            HeapMetric::PeakBytes => site.peak_bytes,
            HeapMetric::AllocBytes => site.alloc_bytes,
            HeapMetric::LiveBytes => site.live_bytes,
            HeapMetric::AllocObjects => site.alloc_objects,
        }
    }
}

/// The profile as folded stacks (outermost frame first) weighted by `metric`, rounded to
/// whole bytes or blocks, for `perfkit flamegraph --palette mem`.
#[must_use]
pub fn folded(profile: &HeapProfile, metric: HeapMetric) -> FoldedStacks {
    let mut stacks = FoldedStacks::new();
    for site in &profile.sites {
        let value = metric.of(site).round();
        if value >= 1.0 {
            stacks.add(&site.folded(), value as u64);
        }
    }
    stacks
}

impl HeapMetric {
    /// What the metric is called in a flamegraph's title and tooltips.
    #[must_use]
    pub fn describe(self) -> (&'static str, &'static str) {
        match self {
            HeapMetric::PeakBytes => ("Heap at the peak", "bytes"),
            HeapMetric::AllocBytes => ("Heap allocated", "bytes"),
            HeapMetric::LiveBytes => ("Heap live at exit", "bytes"),
            HeapMetric::AllocObjects => ("Heap blocks allocated", "blocks"),
        }
    }
}

/// A heap flamegraph's options: the `mem` palette, a title naming the metric and a subtitle
/// naming the command and the sampling interval.
#[must_use]
pub fn flamegraph_options(
    profile: &HeapProfile,
    metric: HeapMetric,
) -> crate::flamegraph::FlamegraphOptions {
    let (title, unit) = metric.describe();
    crate::flamegraph::FlamegraphOptions {
        title: title.to_owned(),
        subtitle: Some(format!(
            "{}: sampled every {} bytes on average (estimates)",
            profile.command.as_deref().unwrap_or("program"),
            profile.interval
        )),
        palette: crate::flamegraph::Palette::parse("mem").unwrap_or_default(),
        count_name: unit.to_owned(),
        ..crate::flamegraph::FlamegraphOptions::default()
    }
}

#[cfg(test)]
mod tests;
