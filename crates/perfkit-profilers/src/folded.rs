//! Folded stacks: `frame;frame;frame COUNT` per line, the lingua franca of flamegraph tools.

use std::collections::BTreeMap;
use std::collections::hash_map::{Entry, HashMap};
use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::ProfilerError;

/// A profile as folded stacks: each distinct stack (root first, frames joined by `;`) with its
/// count. Counts are samples unless the producer says otherwise (see [`crate::perf::CountUnit`]).
///
/// ```
/// use perfkit_profilers::FoldedStacks;
///
/// let folded = FoldedStacks::parse("app;main;work 30\napp;main;io 10\napp;main 5\n").unwrap();
/// assert_eq!(folded.total(), 45);
/// let hot = folded.hot_functions(2);
/// assert_eq!(hot[0].name, "work");
/// assert_eq!(hot[0].self_count, 30);
/// assert_eq!(folded.inclusive_count("main"), 45);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldedStacks {
    stacks: BTreeMap<String, u64>,
}

/// One function's share of a profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HotFunction {
    /// The frame name as folded (demangled, without the hash suffix).
    pub name: String,
    /// Samples where it was the innermost frame (on CPU itself).
    pub self_count: u64,
    /// Samples where it was anywhere on the stack (counted once per stack, also when recursive).
    pub inclusive_count: u64,
    /// `self_count` as a percentage of the profile's total.
    pub self_percent: f64,
    /// `inclusive_count` as a percentage of the profile's total.
    pub inclusive_percent: f64,
}

impl FoldedStacks {
    /// An empty profile.
    #[must_use]
    pub fn new() -> FoldedStacks {
        FoldedStacks::default()
    }

    /// Parses folded text. Blank lines and comment lines (starting with `#`, as austin and
    /// other profilers write headers) are skipped; every other line must be `STACK COUNT` with
    /// a non-empty stack and a whole count ≥ 0 (`31` or `31.0`). Frames may be anything but
    /// empty, also only whitespace. Repeated stacks add up.
    pub fn parse(text: &str) -> Result<FoldedStacks, ProfilerError> {
        FoldedStacks::from_reader(text.as_bytes())
    }

    /// Parses folded text from a reader, line by line (memory grows with distinct stacks, not
    /// with input size).
    pub fn from_reader<R: BufRead>(mut reader: R) -> Result<FoldedStacks, ProfilerError> {
        let mut folded = FoldedStacks::new();
        let mut line = String::new();
        let mut number = 0;
        // Every count and sum must fit: a total that wrapped or saturated would make every
        // percentage wrong without a word.
        let mut total = 0u64;
        loop {
            line.clear();
            number += 1;
            let read = reader.read_line(&mut line).map_err(|e| match e.kind() {
                io::ErrorKind::InvalidData => ProfilerError::parse(
                    "folded stacks",
                    number,
                    "the input is not UTF-8 text; is it a perf.data file? Give it with its \
                     .data name or pass it to `perfkit flamegraph` as a perf.data file",
                ),
                _ => ProfilerError::io("reading folded stacks", e),
            })?;
            if read == 0 {
                break;
            }
            let text = line.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let (stack, count) = parse_line(text).map_err(|why| {
                ProfilerError::parse("folded stacks", number, format!("{why}: {text:.80}"))
            })?;
            total = total.checked_add(count).ok_or_else(|| {
                ProfilerError::parse(
                    "folded stacks",
                    number,
                    format!(
                        "the counts add up to more than {}, the most a count can hold: {text:.80}",
                        u64::MAX
                    ),
                )
            })?;
            folded.add(stack, count);
        }
        Ok(folded)
    }

    /// Adds `count` to `stack` (frames joined by `;`, root first).
    pub fn add(&mut self, stack: &str, count: u64) {
        if let Some(existing) = self.stacks.get_mut(stack) {
            *existing = existing.saturating_add(count);
        } else {
            self.stacks.insert(stack.to_owned(), count);
        }
    }

    /// Adds every stack of `other`.
    pub fn merge(&mut self, other: &FoldedStacks) {
        for (stack, &count) in &other.stacks {
            self.add(stack, count);
        }
    }

    /// How much two profiles share, 0–1: for every stack in both, the smaller of its shares of
    /// each profile's total, summed. 1 for profiles with the same stacks in the same
    /// proportions; near 0 when the work ran on other call paths (moved between threads, a
    /// renamed function), where comparing stack by stack means little.
    #[must_use]
    pub fn overlap(&self, other: &FoldedStacks) -> f64 {
        let (mine, theirs) = (self.total() as f64, other.total() as f64);
        if mine == 0.0 || theirs == 0.0 {
            return 0.0;
        }
        self.stacks
            .iter()
            .filter_map(|(stack, &count)| {
                let other_count = *other.stacks.get(stack)?;
                Some((count as f64 / mine).min(other_count as f64 / theirs))
            })
            // Folded from 0.0: an empty float sum is -0.0.
            .fold(0.0, |sum, share| sum + share)
            .min(1.0)
    }

    /// Every stack cut to its last frame: the samples by the function they were in (self
    /// time), whatever called it and on whichever thread. Two profiles whose work moved to other
    /// call paths compare function by function this way.
    #[must_use]
    pub fn by_function(&self) -> FoldedStacks {
        let mut out = FoldedStacks::new();
        for (stack, &count) in &self.stacks {
            out.add(stack.rsplit(';').next().unwrap_or(stack), count);
        }
        out
    }

    /// The sum of all counts.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.stacks.values().fold(0u64, |a, &b| a.saturating_add(b))
    }

    /// The number of distinct stacks.
    #[must_use]
    pub fn len(&self) -> usize {
        self.stacks.len()
    }

    /// Whether there are no stacks.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.stacks.is_empty()
    }

    /// The stacks and their counts, sorted by stack (the order flamegraph renderers need).
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.stacks.iter().map(|(s, &c)| (s.as_str(), c))
    }

    /// The folded lines, sorted, without newlines.
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        self.iter().map(|(s, c)| format!("{s} {c}")).collect()
    }

    /// Writes the folded text (one sorted `STACK COUNT` line per stack).
    pub fn write_to<W: Write>(&self, mut writer: W) -> io::Result<()> {
        for (stack, count) in self.iter() {
            writeln!(writer, "{stack} {count}")?;
        }
        writer.flush()
    }

    /// The folded text as a string.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut out = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.write_to(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Samples in which `function` appears anywhere on the stack (once per stack).
    #[must_use]
    pub fn inclusive_count(&self, function: &str) -> u64 {
        self.iter()
            .filter(|(stack, _)| stack.split(';').any(|f| f == function))
            .map(|(_, c)| c)
            .sum()
    }

    /// Whether any frame's name contains `needle`.
    #[must_use]
    pub fn contains_function(&self, needle: &str) -> bool {
        self.stacks
            .keys()
            .any(|s| s.split(';').any(|f| f.contains(needle)))
    }

    /// Every function with self and inclusive counts, the `n` with the most self samples first
    /// (ties: more inclusive samples, then name).
    #[must_use]
    pub fn hot_functions(&self, n: usize) -> Vec<HotFunction> {
        // Per function: self count, inclusive count, and the last stack that counted it
        // (a recursive function is counted once per stack, in constant time per frame).
        let mut by_name: HashMap<&str, (u64, u64, usize)> = HashMap::new();
        for (index, (stack, count)) in self.iter().enumerate() {
            let mut frames = stack.split(';').peekable();
            while let Some(frame) = frames.next() {
                let entry = match by_name.entry(frame) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => e.insert((0, 0, usize::MAX)),
                };
                if frames.peek().is_none() {
                    entry.0 += count;
                }
                if entry.2 != index {
                    entry.2 = index;
                    entry.1 += count;
                }
            }
        }
        let total = self.total().max(1) as f64;
        let mut hot: Vec<HotFunction> = by_name
            .into_iter()
            .map(|(name, (self_count, inclusive_count, _))| HotFunction {
                name: name.to_owned(),
                self_count,
                inclusive_count,
                self_percent: self_count as f64 * 100.0 / total,
                inclusive_percent: inclusive_count as f64 * 100.0 / total,
            })
            .collect();
        let order = |a: &HotFunction, b: &HotFunction| {
            b.self_count
                .cmp(&a.self_count)
                .then(b.inclusive_count.cmp(&a.inclusive_count))
                .then_with(|| a.name.cmp(&b.name))
        };
        // Only the first `n` need sorting: a deep stack has as many functions as frames.
        if n == 0 {
            return Vec::new();
        }
        if n < hot.len() {
            hot.select_nth_unstable_by(n - 1, order);
            hot.truncate(n);
        }
        hot.sort_by(order);
        hot
    }
}

impl<'a> FromIterator<(&'a str, u64)> for FoldedStacks {
    fn from_iter<I: IntoIterator<Item = (&'a str, u64)>>(iter: I) -> Self {
        let mut folded = FoldedStacks::new();
        for (stack, count) in iter {
            folded.add(stack, count);
        }
        folded
    }
}

fn parse_line(line: &str) -> Result<(&str, u64), &'static str> {
    let (stack, count) = line
        .rsplit_once([' ', '\t'])
        .ok_or("expected `STACK COUNT`, found no count")?;
    let stack = stack.trim_end();
    let count = parse_count(count)?;
    if stack.is_empty() {
        return Err("the stack is empty");
    }
    if stack
        .rsplit_once([' ', '\t'])
        .is_some_and(|(_, last)| !last.is_empty() && last.parse::<u64>().is_ok())
    {
        return Err(
            "two counts on one line: this is a differential profile; render it with `perfkit diff`",
        );
    }
    Ok((stack, count))
}

/// A count: digits, optionally followed by a fraction of zeros (`31.0`, as some profilers
/// write whole counts).
fn parse_count(count: &str) -> Result<u64, &'static str> {
    let (whole, fraction) = count.split_once('.').unwrap_or((count, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) {
        return Err(if count.parse::<f64>().is_ok() {
            "the count is not a whole number ≥ 0"
        } else {
            "the count at the end of the line is not a number"
        });
    }
    if fraction.bytes().any(|b| b != b'0') {
        return Err(
            "the count has a fraction: perfkit counts whole samples; scale the counts to whole \
             numbers first (for example multiply by 1000)",
        );
    }
    whole
        .parse()
        .map_err(|_| "the count is larger than 18446744073709551615, the most a count can hold")
}

/// The `n` functions with the most self samples, leaving out callers with no self time (their
/// inclusive share shows in a flamegraph).
#[must_use]
pub fn top_self_functions(folded: &FoldedStacks, n: usize) -> Vec<HotFunction> {
    // Ranked by self count first, so that those without self time come last.
    folded
        .hot_functions(n)
        .into_iter()
        .filter(|h| h.self_count > 0)
        .collect()
}

/// The hottest functions as a text table; `unit` names the self-count column.
#[must_use]
pub fn hot_table(hot: &[HotFunction], unit: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if hot.is_empty() {
        return out;
    }
    let unit = perfkit_metrics::shorten_middle(unit, 10);
    let _ = writeln!(out, "\n  self%  total% {unit:>10}  function");
    for f in hot {
        let _ = writeln!(
            out,
            "{:>6.1}% {:>6.1}% {:>10}  {}",
            f.self_percent,
            f.inclusive_percent,
            f.self_count,
            perfkit_metrics::shorten_middle(&f.name, 110)
        );
    }
    out
}

/// One function's change of self-time share between two profiles.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionChange {
    /// The function.
    pub function: String,
    /// Its share of self time before, percent.
    pub before_self_percent: f64,
    /// Its share of self time after, percent.
    pub after_self_percent: f64,
    /// After minus before, in percentage points.
    pub delta_points: f64,
}

/// The `n` functions whose share of self time changed most from `before` to `after`, biggest
/// change first; changes under 0.05 points are left out.
#[must_use]
pub fn function_changes(
    before: &FoldedStacks,
    after: &FoldedStacks,
    n: usize,
) -> Vec<FunctionChange> {
    let share = |f: &FoldedStacks| -> HashMap<String, f64> {
        f.hot_functions(usize::MAX)
            .into_iter()
            .map(|h| (h.name, h.self_percent))
            .collect()
    };
    let (b, a) = (share(before), share(after));
    let mut names: Vec<&String> = b.keys().chain(a.keys()).collect();
    names.sort();
    names.dedup();
    let mut changes: Vec<FunctionChange> = names
        .into_iter()
        .map(|name| {
            let before_self_percent = b.get(name).copied().unwrap_or(0.0);
            let after_self_percent = a.get(name).copied().unwrap_or(0.0);
            FunctionChange {
                function: name.clone(),
                before_self_percent,
                after_self_percent,
                delta_points: after_self_percent - before_self_percent,
            }
        })
        .filter(|c| c.delta_points.abs() >= 0.05)
        .collect();
    changes.sort_by(|x, y| {
        y.delta_points
            .abs()
            .total_cmp(&x.delta_points.abs())
            .then_with(|| x.function.cmp(&y.function))
    });
    changes.truncate(n);
    changes
}

/// What a differential profile compares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareMode {
    /// Stacks, unless they barely overlap while the functions do: then functions.
    #[default]
    Auto,
    /// Call stacks, frame by frame.
    Stacks,
    /// Functions by self time, wherever they were called from.
    Functions,
}

/// How two profiles relate, and what a differential profile of them should compare.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison {
    /// Whether to compare functions by self time rather than stacks.
    pub by_function: bool,
    /// The share of samples on stacks both profiles have ([`FoldedStacks::overlap`]).
    pub stack_overlap: f64,
    /// The same for functions by self time.
    pub function_overlap: f64,
}

impl Comparison {
    /// Stack overlap below which stack-by-stack colours mislead.
    pub const LOW_OVERLAP: f64 = 0.25;

    /// Measures the overlaps and decides by `mode`: [`CompareMode::Auto`] compares functions
    /// when the stacks overlap less than [`Comparison::LOW_OVERLAP`] and the functions at
    /// least twice as much.
    #[must_use]
    pub fn choose(before: &FoldedStacks, after: &FoldedStacks, mode: CompareMode) -> Comparison {
        let stack_overlap = before.overlap(after);
        let function_overlap = before.by_function().overlap(&after.by_function());
        let by_function = match mode {
            CompareMode::Functions => true,
            CompareMode::Stacks => false,
            CompareMode::Auto => {
                stack_overlap < Self::LOW_OVERLAP
                    && function_overlap > 0.0
                    && function_overlap >= 2.0 * stack_overlap
            }
        };
        Comparison {
            by_function,
            stack_overlap,
            function_overlap,
        }
    }

    /// Whether the stacks overlap so little that the user should be told.
    #[must_use]
    pub fn low_overlap(&self) -> bool {
        self.stack_overlap < Self::LOW_OVERLAP
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_whole_decimals_and_blank_frames_are_read() {
        let text =
            "# austin 3.6\n  # indented comment\nP1;T1;main 31.0\nP1;T1; ;x 2.\nP1;T1;main 1\n";
        let folded = FoldedStacks::parse(text).unwrap();
        assert_eq!(folded.lines(), ["P1;T1; ;x 2", "P1;T1;main 32"]);
        for (line, why) in [
            ("a 0.5", "fraction"),
            ("a .5", "whole number"),
            ("a 1.0.0", "not a number"),
            ("a -1", "whole number"),
        ] {
            let err = FoldedStacks::parse(line).unwrap_err().to_string();
            assert!(err.contains(why) && err.contains("line 1"), "{line}: {err}");
        }
    }

    #[test]
    fn counts_that_do_not_fit_name_their_line() {
        let text = "a;b 18446744073709551615\na;c 1\n";
        let err = FoldedStacks::parse(text).unwrap_err().to_string();
        assert!(
            err.contains("line 2") && err.contains("add up to more than"),
            "{err}"
        );
        let err = FoldedStacks::parse("x 1\na;b 99999999999999999999\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("larger than"),
            "{err}"
        );
        assert_eq!(
            FoldedStacks::parse("a;b 18446744073709551614\nc 1\n")
                .unwrap()
                .total(),
            u64::MAX
        );
    }

    #[test]
    fn the_top_functions_are_the_head_of_the_full_ranking() {
        use std::fmt::Write as _;
        let mut text = String::new();
        for i in 0..200u64 {
            let _ = writeln!(text, "main;f{};g{} {}", i % 17, i % 5, 1 + i * 7 % 13);
        }
        let folded = FoldedStacks::parse(&text).unwrap();
        let all = folded.hot_functions(usize::MAX);
        for n in [0, 1, 3, 10, all.len(), all.len() + 5] {
            let top = folded.hot_functions(n);
            assert_eq!(top, all[..n.min(all.len())], "n = {n}");
        }
    }

    #[test]
    fn parses_sums_and_writes_back_sorted() {
        let folded = FoldedStacks::parse("b;c 2\n\na;b 1\nb;c 3\n").unwrap();
        assert_eq!(folded.len(), 2);
        assert_eq!(folded.total(), 6);
        assert_eq!(folded.to_text(), "a;b 1\nb;c 5\n");
    }

    #[test]
    fn frames_with_spaces_keep_them() {
        let folded =
            FoldedStacks::parse("app;<Vec<T> as Drop>::drop;core::ptr::drop_in_place<x> 7\n")
                .unwrap();
        let hot = folded.hot_functions(1);
        assert_eq!(hot[0].name, "core::ptr::drop_in_place<x>");
        assert_eq!(folded.inclusive_count("<Vec<T> as Drop>::drop"), 7);
    }

    #[test]
    fn recursion_counts_once_inclusively() {
        let folded = FoldedStacks::parse("main;f;f;f 10\nmain;g 10\n").unwrap();
        let hot = folded.hot_functions(10);
        let f = hot.iter().find(|h| h.name == "f").unwrap();
        assert_eq!((f.self_count, f.inclusive_count), (10, 10));
        assert_eq!(f.self_percent, 50.0);
        let main = hot.iter().find(|h| h.name == "main").unwrap();
        assert_eq!((main.self_count, main.inclusive_count), (0, 20));
        assert_eq!(main.inclusive_percent, 100.0);
    }

    #[test]
    fn malformed_lines_are_errors_with_the_line_number() {
        for (text, needle) in [
            ("a;b 1\nnocount\n", "line 2"),
            ("a;b x\n", "not a number"),
            ("a;b 1.5\n", "whole number"),
            (" 5\n", "no count"),
            ("a;b 1 2\n", "differential"),
            ("a;b -3\n", "whole number"),
        ] {
            let err = FoldedStacks::parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn binary_input_says_what_it_probably_is() {
        let err = FoldedStacks::from_reader(&b"PERFILE2\xff\xfe\x00"[..]).unwrap_err();
        assert!(err.to_string().contains("perf.data"), "{err}");
    }

    #[test]
    fn overlap_and_the_function_view() {
        let a = FoldedStacks::parse("main;work 60\nmain;io 40\n").unwrap();
        assert!((a.overlap(&a) - 1.0).abs() < 1e-12);
        // The same work, moved onto a worker thread: no stack in common.
        let b = FoldedStacks::parse("start_thread;worker;work 70\nmain;io 30\n").unwrap();
        assert!((a.overlap(&b) - 0.3).abs() < 1e-12);
        let (fa, fb) = (a.by_function(), b.by_function());
        assert!((fa.overlap(&fb) - 0.9).abs() < 1e-12);
        assert_eq!(fb.to_text(), "io 30\nwork 70\n");
        assert_eq!(a.overlap(&FoldedStacks::new()), 0.0);
    }

    #[test]
    fn changes_rank_by_absolute_share_change() {
        let before = FoldedStacks::parse("m;a 50\nm;b 50\n").unwrap();
        let after = FoldedStacks::parse("m;a 10\nm;b 80\nm;c 10\n").unwrap();
        let c = function_changes(&before, &after, 10);
        assert_eq!(c[0].function, "a");
        assert!((c[0].delta_points + 40.0).abs() < 1e-9);
        assert_eq!(c[1].function, "b");
        assert_eq!(c[2].function, "c");
    }

    #[test]
    fn auto_compares_functions_when_only_they_overlap() {
        let before = FoldedStacks::parse("main;old;work 100\n").unwrap();
        let after = FoldedStacks::parse("main;new;work 100\n").unwrap();
        let c = Comparison::choose(&before, &after, CompareMode::Auto);
        assert!(c.by_function && c.low_overlap(), "{c:?}");
        let same = Comparison::choose(&before, &before, CompareMode::Auto);
        assert!(!same.by_function && !same.low_overlap(), "{same:?}");
        assert!(Comparison::choose(&before, &before, CompareMode::Functions).by_function);
    }
}
