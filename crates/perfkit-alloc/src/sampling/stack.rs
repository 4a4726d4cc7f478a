//! Call stacks: unwound inside the allocator without allocating, resolved to names later.

use std::collections::HashMap;

use super::store::{MAX_FRAMES, SiteStats};
use crate::profile::{HeapFrame, HeapSite, LIFETIME_CLASSES};

/// Unwinds the calling thread's stack into `frames` (return addresses, innermost first) and
/// returns how many it holds. `mark` is the address of a local of the calling function (the
/// sampler's entry, never inlined): the frames inside it (the unwinder's) have their frame
/// address (CFA) at or below it, and the first above it is the caller itself; all of those
/// are left out. [`site`] then trims what is left of the allocator by name and file. When the
/// unwinder gives no frame addresses, every frame is kept for that trimming.
///
/// The unwinder reads the binaries' unwind tables (`.eh_frame`, always present for Rust and
/// by default for C on `x86_64` and `aarch64`), so it needs no frame pointers, and it allocates
/// nothing.
pub(super) fn capture(frames: &mut [usize; MAX_FRAMES], mark: usize) -> usize {
    let mut depth = 0;
    let mut caller_left_out = false;
    // SAFETY: the unsynchronised form only skips backtrace's own lock, which would allocate
    // nothing either; the closure writes within `frames` and stops at its end.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            // The outermost frame's return address is 0: the end of the stack.
            if frame.ip().is_null() {
                return false;
            }
            let cfa = frame.sp() as usize;
            if depth == 0 && !caller_left_out && cfa != 0 {
                if cfa > mark {
                    caller_left_out = true;
                }
                return true;
            }
            if let Some(slot) = frames.get_mut(depth) {
                *slot = frame.ip() as usize;
                depth += 1;
            }
            depth < MAX_FRAMES
        });
    }
    depth
}

/// Frames of the allocator and the sampler: a stack loses its leading run of them. A frame
/// counts by its function's name (full paths with full debug information, and the C and
/// Rust allocator entry points), or by its source file (line-tables-only builds name
/// functions without their paths: `capture`, `allocated`).
fn is_allocator_frame(frame: &HeapFrame) -> bool {
    const PREFIXES: &[&str] = &[
        "backtrace::",
        "<backtrace::",
        "perfkit_alloc::",
        "<perfkit_alloc::",
        "perfkit_heap_shim::",
        "__rustc::",
        "__rust_alloc",
        "__rust_realloc",
        "__rust_dealloc",
        "__rg_alloc",
        "__rg_realloc",
        "__rdl_alloc",
        "__rdl_realloc",
        "_Unwind_",
        "std::alloc::",
        "<std::alloc::",
        "core::alloc::",
        "<core::alloc::",
    ];
    const EXACT: &[&str] = &[
        "malloc",
        "calloc",
        "realloc",
        "reallocarray",
        "posix_memalign",
        "aligned_alloc",
        "memalign",
        "valloc",
        "pvalloc",
        "__libc_malloc",
        "__libc_calloc",
        "__libc_realloc",
    ];
    const SOURCES: &[&str] = &[
        "/perfkit-alloc/",
        "/perfkit-alloc-",
        "/perfkit-heap-shim/",
        "/backtrace/",
        "/backtrace-0.",
    ];
    let function = frame.function.as_str();
    PREFIXES.iter().any(|p| function.starts_with(p))
        || EXACT.contains(&function)
        || frame
            .file
            .as_deref()
            .is_some_and(|file| SOURCES.iter().any(|s| file.contains(s)))
}

/// Names by address, each address resolved once.
#[derive(Default)]
pub(super) struct Symbols {
    frames: HashMap<usize, Vec<HeapFrame>>,
}

impl Symbols {
    /// The frames at return address `address`, innermost first (inlined calls give several).
    fn at(&mut self, address: usize) -> &[HeapFrame] {
        self.frames.entry(address).or_insert_with(|| {
            let mut frames = Vec::new();
            // `resolve` takes the address as a return address and looks inside the call.
            backtrace::resolve(address as *mut std::ffi::c_void, |symbol| {
                let function = symbol
                    .name()
                    .map_or_else(|| "[unknown]".to_owned(), |name| format!("{name:#}"));
                frames.push(HeapFrame {
                    address: address as u64,
                    function,
                    file: symbol.filename().map(|f| f.display().to_string()),
                    line: symbol.lineno(),
                    inlined: false,
                });
            });
            if frames.is_empty() {
                frames.push(HeapFrame {
                    address: address as u64,
                    function: "[unknown]".to_owned(),
                    file: None,
                    line: None,
                    inlined: false,
                });
            }
            // All but the outermost of one address's frames were inlined into it.
            let last = frames.len() - 1;
            for frame in &mut frames[..last] {
                frame.inlined = true;
            }
            frames
        })
    }
}

/// Removes the allocator's and the sampler's frames, which come first: their leading run
/// (frames without a name inside it too), and nothing after the first frame of other code,
/// which may call back into perfkit-alloc (`measure`) or the unwinder (a panic).
fn trim_allocator(frames: &mut Vec<HeapFrame>) {
    let run = frames
        .iter()
        .take_while(|f| is_allocator_frame(f) || f.function == "[unknown]")
        .count();
    if let Some(last) = frames[..run].iter().rposition(is_allocator_frame) {
        frames.drain(..=last);
    }
}

/// A site of the profile from a raw stack and its figures: frames resolved, the allocator's
/// own frames removed.
pub(super) fn site(symbols: &mut Symbols, stack: &[usize], stats: &SiteStats) -> HeapSite {
    let mut frames: Vec<HeapFrame> = Vec::new();
    for &address in stack {
        frames.extend_from_slice(symbols.at(address));
    }
    trim_allocator(&mut frames);
    let mut lifetimes = stats.lifetimes.to_vec();
    while lifetimes.last() == Some(&0.0) {
        lifetimes.pop();
    }
    debug_assert!(lifetimes.len() <= LIFETIME_CLASSES);
    HeapSite {
        frames,
        samples: stats.samples,
        alloc_bytes: stats.alloc_bytes,
        alloc_objects: stats.alloc_objects,
        freed_bytes: stats.freed_bytes,
        freed_objects: stats.freed_objects,
        live_bytes: stats.live_bytes.max(0.0),
        live_objects: stats.live_objects.max(0.0),
        peak_bytes: stats.peak_bytes.max(0.0),
        peak_objects: stats.peak_objects.max(0.0),
        max_bytes: stats.max_bytes,
        max_objects: stats.max_objects,
        lifetime_ns: stats.lifetime_ns,
        lifetimes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, file: &str) -> HeapFrame {
        HeapFrame {
            address: 1,
            function: function.to_owned(),
            file: Some(file.to_owned()),
            line: Some(1),
            inlined: false,
        }
    }

    #[test]
    fn a_line_tables_only_build_loses_its_allocator_frames_by_their_files() {
        // A release build names functions without their paths.
        let mut frames = vec![
            frame(
                "trace",
                "/home/u/.cargo/registry/src/x/backtrace-0.3.77/src/lib.rs",
            ),
            frame("capture", "/src/crates/perfkit-alloc/src/sampling/stack.rs"),
            frame("allocated", "/src/crates/perfkit-alloc/src/hooks.rs"),
            frame("malloc", "/src/crates/perfkit-heap-shim/src/lib.rs"),
            frame("alloc", "/rustc/0123/library/alloc/src/alloc.rs"),
            frame("churn", "/src/app/main.rs"),
            frame("measure", "/src/crates/perfkit-alloc/src/lib.rs"),
            frame("main", "/src/app/main.rs"),
        ];
        trim_allocator(&mut frames);
        let names: Vec<&str> = frames.iter().map(|f| f.function.as_str()).collect();
        // The standard library's frames stay (the site is named past them), and so does
        // perfkit-alloc's `measure` further out.
        assert_eq!(names, ["alloc", "churn", "measure", "main"]);
        let site = HeapSite {
            frames,
            ..HeapSite::default()
        };
        assert_eq!(site.function(), "churn");
    }
}
