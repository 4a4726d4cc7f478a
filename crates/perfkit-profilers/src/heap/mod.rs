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
//! match &outcome.profile {
//!     Some(profile) => {
//!         for site in profile.top_by(|s| s.peak_bytes, 5) {
//!             println!("{:>12.0} B at the peak  {}", site.peak_bytes, site.function());
//!         }
//!     }
//!     None => println!("no profile ({}): {:?}", outcome.status, outcome.missing),
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
    /// The profile the program's process wrote at exit; `None` when it wrote none, and
    /// [`SampledHeapOutcome::missing`] says why.
    pub profile: Option<HeapProfile>,
    /// Why there is no profile: the program was killed by a signal, ended without running its
    /// exit code (`quick_exit`), or its allocator escaped the shim.
    pub missing: Option<String>,
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

    /// The random seed of the sampler's draws.
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

    /// Checks the options, the program and the shim, without running anything: the program
    /// must be one the loader preloads into (not statically linked, not set-user-ID to
    /// someone else), and the shim a shared object. Returns the shim's absolute path.
    pub fn validate(&self) -> Result<PathBuf, ProfilerError> {
        let Target::Command(argv) = &self.inv.target else {
            return Err(ProfilerError::InvalidSetting(Setting::HeapAttach));
        };
        if self.interval == 0 {
            return Err(ProfilerError::InvalidSetting(Setting::HeapInterval));
        }
        self.inv.target.validate()?;
        if let Some(program) = program_path(&argv[0])
            && let Some(why) = unreachable(&program)
        {
            return Err(ProfilerError::CannotPreload { program, why });
        }
        let shim = match &self.shim {
            Some(path) => path.clone(),
            None => locate_shim()?,
        };
        let shim = std::fs::canonicalize(&shim).map_err(|_| ProfilerError::ShimNotFound {
            searched: shim.display().to_string(),
        })?;
        if !is_shim(&shim) {
            return Err(ProfilerError::ShimNotFound {
                searched: format!("{} (not perfkit's heap shim)", shim.display()),
            });
        }
        if shim.to_string_lossy().contains([':', ' ']) {
            return Err(ProfilerError::ShimPath { path: shim });
        }
        Ok(shim)
    }

    /// Runs the program with the shim preloaded and reads the profile its process wrote at
    /// exit, or when `SIGINT`, `SIGTERM`, `SIGHUP` or `SIGPIPE` ended it. Ctrl-C reaches the
    /// program; `SIGTERM` and `SIGHUP` sent to perfkit are passed on.
    ///
    /// # Errors
    /// [`SampledHeap::validate`]'s, a program that could not be started, or a profile that
    /// cannot be read. A program that wrote no profile is not an error: see
    /// [`SampledHeapOutcome::missing`].
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
            .env("PERFKIT_HEAP_SEED", self.seed.to_string())
            // Set by a profiled process for its own exec'd images: not this one's.
            .env_remove("PERFKIT_HEAP_PID");
        self.inv.apply_io(&mut command)?;
        let ran = run_guarded(&mut command)?;
        if !out.exists() {
            return Ok(SampledHeapOutcome {
                status: ran.status,
                profile: None,
                missing: Some(no_profile_hint(ran.status)),
                wall: ran.wall,
                shim,
            });
        }
        let profile = read_profile(&out)?;
        Ok(SampledHeapOutcome {
            status: ran.status,
            profile: Some(profile),
            missing: None,
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

/// Why a program may have written no profile.
fn no_profile_hint(status: ExitKind) -> String {
    if let ExitKind::Signaled { signal, .. } = status {
        let caught = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE];
        return if caught.contains(&signal) {
            "it was killed by a signal before the shim started or while the profile was being \
             written, after a handler of its own that reset the signal to its default (one \
             installed to run once), or in a program it exec'd that the shim could not follow"
                .to_owned()
        } else {
            "it was killed by a signal, and the profile is written at exit or when SIGINT, \
             SIGTERM, SIGHUP or SIGPIPE ends it"
                .to_owned()
        };
    }
    "it ended without running its exit code (quick_exit, or a crash the shim could not see), \
     exec'd a statically linked or set-user-ID program, or could not write to the temporary \
     directory"
        .to_owned()
}

/// The program's file: `name` itself when it holds a slash, else where `PATH` finds it.
fn program_path(name: &std::ffi::OsStr) -> Option<PathBuf> {
    let text = name.to_str()?;
    if text.contains('/') {
        Some(PathBuf::from(text))
    } else {
        perfkit_sys::find_program(text)
    }
}

/// Why the loader would not preload the shim into `program`, if it would not.
fn unreachable(program: &Path) -> Option<&'static str> {
    use std::os::unix::fs::MetadataExt as _;
    if read_elf(program).is_some_and(|elf| !elf.interpreter) {
        return Some("it is statically linked, so nothing can be preloaded into it");
    }
    let meta = std::fs::metadata(program).ok()?;
    let (uid, gid) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    let setuid = meta.mode() & 0o4000 != 0 && meta.uid() != uid;
    let setgid = meta.mode() & 0o2000 != 0 && meta.gid() != gid;
    (setuid || setgid)
        .then_some("it is set-user-ID or set-group-ID, and the loader ignores LD_PRELOAD for it")
}

/// What perfkit reads of an ELF file's headers (64-bit little-endian files only).
#[derive(Debug, PartialEq, Eq)]
struct Elf {
    /// `e_type`: 2 an executable, 3 a shared object (or a position-independent executable).
    file_type: u16,
    /// Whether it names a program interpreter (`PT_INTERP`): the dynamic loader, which
    /// preloads; a statically linked program has none, nor has a shared library.
    interpreter: bool,
}

const ET_DYN: u16 = 3;

/// The headers of the ELF file at `path`; `None` when it is not a 64-bit little-endian ELF
/// file. Reads only the file header and the program headers.
fn read_elf(path: &Path) -> Option<Elf> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let mut head = [0u8; 64];
    file.read_exact(&mut head).ok()?;
    if head[..6] != *b"\x7fELF\x02\x01" {
        return None;
    }
    let file_type = u16::from_le_bytes([head[16], head[17]]);
    let phoff = u64::from_le_bytes(head[0x20..0x28].try_into().ok()?);
    let phentsize = u64::from(u16::from_le_bytes([head[0x36], head[0x37]]));
    let phnum = u16::from_le_bytes([head[0x38], head[0x39]]);
    let mut entry = [0u8; 4];
    for i in 0..u64::from(phnum) {
        file.seek(SeekFrom::Start(
            phoff.checked_add(i.checked_mul(phentsize)?)?,
        ))
        .ok()?;
        file.read_exact(&mut entry).ok()?;
        if u32::from_le_bytes(entry) == 3 {
            return Some(Elf {
                file_type,
                interpreter: true,
            });
        }
    }
    Some(Elf {
        file_type,
        interpreter: false,
    })
}

/// The bytes the shim carries (`MARKER` in perfkit-heap-shim), reversed here so that perfkit's
/// own executable does not carry them.
const SHIM_MARKER_REVERSED: &[u8] = b"1/rekram/mihs-paeh-tikfrep";

/// The heap profile saved at `path` (the shim's own file, or one `--save` wrote), at most
/// [`crate::MAX_PROFILE_FILE_BYTES`].
///
/// # Errors
/// [`ProfilerError::Io`] when the file cannot be read, and those of [`parse_saved`].
pub fn read_profile(path: &Path) -> Result<HeapProfile, ProfilerError> {
    let text = perfkit_sys::read_text_limited(path, crate::MAX_PROFILE_FILE_BYTES)
        .map_err(|e| ProfilerError::io(format!("cannot read {}", path.display()), e))?;
    parse_saved(&text, path)
}

/// The heap profile in `text`, read from `path` (which messages name).
///
/// # Errors
/// [`ProfilerError::DhatFile`] for a DHAT file (both are JSON), [`ProfilerError::Parse`] for
/// anything else that is not such a profile.
pub fn parse_saved(text: &str, path: &Path) -> Result<HeapProfile, ProfilerError> {
    serde_json::from_str(text).map_err(|e| {
        // DHAT's files name their version in a field of their own: say what the file is
        // rather than which of the profile's fields it lacks.
        let dhat = serde_json::from_str::<serde_json::Value>(text)
            .is_ok_and(|v| v.get("dhatFileVersion").is_some());
        if dhat {
            ProfilerError::DhatFile {
                path: path.to_path_buf(),
            }
        } else {
            ProfilerError::parse("a saved heap profile", e.line(), e.to_string())
        }
    })
}

/// Whether the file at `path` is the shim: a shared object without a program interpreter (an
/// executable has one) that carries the shim's marker. Any other would be preloaded and
/// profile nothing.
fn is_shim(path: &Path) -> bool {
    let shared_object =
        read_elf(path).is_some_and(|elf| elf.file_type == ET_DYN && !elf.interpreter);
    if !shared_object {
        return false;
    }
    let marker: Vec<u8> = SHIM_MARKER_REVERSED.iter().rev().copied().collect();
    std::fs::read(path)
        .is_ok_and(|bytes| bytes.windows(marker.len()).any(|window| window == marker))
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
