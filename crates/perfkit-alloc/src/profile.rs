//! A heap profile: estimated allocation figures per call stack, from sampled allocations.
//!
//! These types hold no sampler; [`crate::sampling::profile`] makes them in the process,
//! and `perfkit heap --sampled` reads the ones its preloaded library writes as JSON.

use serde::{Deserialize, Serialize};

use crate::AllocStats;

/// The number of lifetime classes: class `k` holds blocks that lived `[2^k, 2^(k+1))`
/// nanoseconds (class 0 also holds 0 ns; the last class holds everything longer).
pub const LIFETIME_CLASSES: usize = 48;

/// A sampled heap profile of one process.
///
/// Every per-site figure is an estimate: each sampled block stands for `1 / p` blocks, where
/// `p = 1 - exp(-bytes / interval)` was its chance of being sampled. The estimates are
/// unbiased; their error shrinks as a site's bytes grow past the interval (docs/heap.md).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeapProfile {
    /// The mean sampling interval, in bytes allocated.
    pub interval: u64,
    /// The random seed the sampling intervals were drawn from.
    pub seed: u64,
    /// Sampled allocations recorded.
    pub samples: u64,
    /// Sampled allocations dropped because the table of live samples was full.
    pub dropped: u64,
    /// Nanoseconds from the start of sampling to this profile.
    pub duration_ns: u64,
    /// The exact counters of the allocator (not estimates) when the profile was taken.
    pub totals: AllocStats,
    /// Estimated live bytes at the peak, as the sampled blocks add up.
    pub peak_bytes_estimate: f64,
    /// The peak's live bytes by the allocator's counters (exact with one thread, within
    /// 64 KiB per thread with several).
    pub peak_bytes_exact: u64,
    /// Nanoseconds from the start of sampling to the peak (to within one sampling interval's
    /// worth of allocations).
    #[serde(default)]
    pub peak_at_ns: u64,
    /// Estimated live bytes when the profile was taken.
    pub live_bytes_estimate: f64,
    /// One entry per distinct call stack.
    pub sites: Vec<HeapSite>,
    /// The command that was profiled, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The process ID that was profiled, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

/// What one call stack allocated (estimates; see [`HeapProfile`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeapSite {
    /// The call stack, innermost frame first, the allocator's own frames removed.
    pub frames: Vec<HeapFrame>,
    /// Sampled allocations at this site.
    pub samples: u64,
    /// Bytes allocated (including `realloc` growth).
    pub alloc_bytes: f64,
    /// Blocks allocated.
    pub alloc_objects: f64,
    /// Bytes freed.
    pub freed_bytes: f64,
    /// Blocks freed.
    pub freed_objects: f64,
    /// Bytes live when the profile was taken (at exit: leaked).
    pub live_bytes: f64,
    /// Blocks live when the profile was taken.
    pub live_objects: f64,
    /// Bytes live at the process's peak.
    pub peak_bytes: f64,
    /// Blocks live at the process's peak.
    pub peak_objects: f64,
    /// The most bytes this site had live at once, as the estimate ran (biased upwards: the
    /// highest of a noisy running figure; sites merged by [`HeapSite::absorb`] add theirs).
    pub max_bytes: f64,
    /// The most blocks this site had live at once (as `max_bytes`).
    pub max_objects: f64,
    /// Sum of the blocks' lifetimes in nanoseconds: the freed ones' whole lives, and the live
    /// ones' lives so far.
    pub lifetime_ns: f64,
    /// Freed blocks by lifetime class (see [`LIFETIME_CLASSES`]).
    pub lifetimes: Vec<f64>,
}

/// One frame of a call stack.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HeapFrame {
    /// The return address (or the inlined call's address).
    pub address: u64,
    /// The function, demangled, or `[unknown]`.
    pub function: String,
    /// The source file, when debug information says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The source line, when debug information says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Whether this frame was inlined into the next one (the next has the same address).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inlined: bool,
}

impl HeapFrame {
    /// The frame's file, without its directories, and line: `app.c:14`; `None` without a
    /// file.
    #[must_use]
    pub fn location(&self) -> Option<String> {
        let file = self.file.as_deref()?;
        let short = file.rsplit('/').next().unwrap_or(file);
        Some(match self.line {
            Some(line) => format!("{short}:{line}"),
            None => short.to_owned(),
        })
    }

    /// `function (file:line)`, or the function alone without a file.
    #[must_use]
    pub fn describe(&self) -> String {
        match self.location() {
            Some(location) => format!("{} ({location})", self.function),
            None => self.function.clone(),
        }
    }

    /// Whether this is a frame of a runtime library's allocation code, which a site is not
    /// named after: by name, or by source file (Rust's standard library is built from
    /// `/rustc/<commit>/library/`; line-tables-only builds name its functions without paths).
    #[must_use]
    pub fn is_runtime(&self) -> bool {
        let name = without_return_type(&self.function);
        RUNTIME_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
            || self
                .file
                .as_deref()
                .is_some_and(|file| file.starts_with("/rustc/") && file.contains("/library/"))
    }
}

/// A demangled C++ name without the return type that demanglers print before a template
/// function's name (`void std::vector<int>::_M_realloc_insert<int>(…)` is a `std::` function):
/// what follows the last space outside brackets before the parameter list. A space after
/// `operator` is part of the name (`operator new[](unsigned long)`).
fn without_return_type(function: &str) -> &str {
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in function.char_indices() {
        match c {
            '(' if depth == 0 => break,
            '<' | '[' | '(' => depth += 1,
            '>' | ']' | ')' => depth = depth.saturating_sub(1),
            ' ' if depth == 0 && !function[start..i].ends_with("operator") => start = i + 1,
            _ => {}
        }
    }
    &function[start..]
}

/// Functions of runtime libraries that a site is not named after (see [`HeapSite::function`]).
const RUNTIME_PREFIXES: &[&str] = &[
    "alloc::",
    "core::",
    "std::",
    "<alloc::",
    "<core::",
    "<std::",
    "hashbrown::",
    "<hashbrown::",
    "operator new",
    // operator new and new[] (and their nothrow and aligned forms) as mangled names, when
    // nothing demangles C++.
    "_Znwm",
    "_Znam",
    "__gnu_cxx::",
    "strdup",
    "__strdup",
    // g_malloc0 too.
    "g_malloc",
];

impl HeapSite {
    /// The function the site is named after: its first frame outside the runtime's own
    /// allocation code (`alloc::`, `std::`, `operator new`, `strdup`, …), or the innermost
    /// frame when every frame is such code.
    #[must_use]
    pub fn function(&self) -> &str {
        self.named_frame()
            .map_or("[unknown]", |frame| frame.function.as_str())
    }

    /// The index in [`HeapSite::frames`] of the frame [`HeapSite::function`] names.
    #[must_use]
    pub fn named_index(&self) -> Option<usize> {
        let outside = self.frames.iter().position(|frame| !frame.is_runtime());
        outside.or((!self.frames.is_empty()).then_some(0))
    }

    /// The frame [`HeapSite::function`] names.
    #[must_use]
    pub fn named_frame(&self) -> Option<&HeapFrame> {
        self.named_index().map(|i| &self.frames[i])
    }

    /// The median lifetime of the freed blocks, as the lower bound of its lifetime class, in
    /// nanoseconds; `None` when none was freed.
    #[must_use]
    pub fn median_lifetime_ns(&self) -> Option<u64> {
        let total: f64 = self.lifetimes.iter().sum();
        if total <= 0.0 {
            return None;
        }
        let mut seen = 0.0;
        for (class, n) in self.lifetimes.iter().enumerate() {
            seen += n;
            if seen >= total / 2.0 {
                return Some(1u64 << class.min(63));
            }
        }
        None
    }

    /// The frames' functions outermost first, joined by `;` (a folded stack).
    #[must_use]
    pub fn folded(&self) -> String {
        let mut line = String::new();
        for frame in self.frames.iter().rev() {
            if !line.is_empty() {
                line.push(';');
            }
            line.push_str(&frame.function.replace(';', ":"));
        }
        if line.is_empty() {
            line.push_str("[unknown]");
        }
        line
    }

    /// Adds `other`'s figures to this site's (two stacks that became one once the
    /// allocator's frames were removed).
    pub fn absorb(&mut self, other: &HeapSite) {
        self.samples += other.samples;
        self.alloc_bytes += other.alloc_bytes;
        self.alloc_objects += other.alloc_objects;
        self.freed_bytes += other.freed_bytes;
        self.freed_objects += other.freed_objects;
        self.live_bytes += other.live_bytes;
        self.live_objects += other.live_objects;
        self.peak_bytes += other.peak_bytes;
        self.peak_objects += other.peak_objects;
        self.max_bytes += other.max_bytes;
        self.max_objects += other.max_objects;
        self.lifetime_ns += other.lifetime_ns;
        if self.lifetimes.len() < other.lifetimes.len() {
            self.lifetimes.resize(other.lifetimes.len(), 0.0);
        }
        for (sum, n) in self.lifetimes.iter_mut().zip(&other.lifetimes) {
            *sum += n;
        }
    }
}

impl HeapProfile {
    /// Sites by a figure, largest first, at most `n`; sites where it is zero are left out.
    #[must_use]
    pub fn top_by(&self, figure: impl Fn(&HeapSite) -> f64, n: usize) -> Vec<&HeapSite> {
        let mut sites: Vec<&HeapSite> = self.sites.iter().filter(|s| figure(s) > 0.5).collect();
        sites.sort_by(|a, b| figure(b).total_cmp(&figure(a)));
        sites.truncate(n);
        sites
    }

    /// Estimated bytes allocated in all (the sum over sites).
    #[must_use]
    pub fn alloc_bytes(&self) -> f64 {
        self.sites.iter().map(|s| s.alloc_bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str) -> HeapFrame {
        HeapFrame {
            address: 0,
            function: function.to_owned(),
            file: None,
            line: None,
            inlined: false,
        }
    }

    /// Demangled C++ names as a demangler prints them: a template function's return type
    /// comes first and does not hide a `std::` function, nor make a program's own function
    /// that returns a `std::` type look like the runtime's.
    #[test]
    fn a_cpp_return_type_neither_hides_nor_fakes_the_runtime() {
        let runtime = [
            "void std::vector<std::unique_ptr<char [], std::default_delete<char []> >, \
             std::allocator<std::unique_ptr<char [], std::default_delete<char []> > > >\
             ::_M_realloc_insert<char*>(__gnu_cxx::__normal_iterator<int*, std::vector<int> >, char*&&)",
            "char* std::__cxx11::basic_string<char>::_M_create(unsigned long&, unsigned long)",
            "operator new[](unsigned long)",
            "operator new(unsigned long, std::align_val_t)",
            "std::vector<int, std::allocator<int> >::push_back(int const&)",
            "<alloc::vec::Vec<T> as core::clone::Clone>::clone",
            "alloc::raw_vec::finish_grow",
        ];
        for name in runtime {
            assert!(frame(name).is_runtime(), "{name}");
        }
        let program = [
            "std::pair<int, int> ledger::split<int>(int)",
            "ledger::Book::grow(unsigned long, unsigned long)",
            "(anonymous namespace)::pool::pool()",
            "bool operator< <ledger::Entry>(ledger::Entry const&, ledger::Entry const&)",
            "heap_sites::hold_peak",
            "main",
        ];
        for name in program {
            assert!(!frame(name).is_runtime(), "{name}");
        }
    }
}
