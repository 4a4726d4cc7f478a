//! ltrace: summaries of library calls, from ltrace's full trace (`-T`) or `ltrace -c` text.
//!
//! perfkit runs ltrace without `-c` and sums the trace itself: `ltrace -c` always exits 0 and
//! keeps no record of how the program ended, while the full trace ends with the program's
//! `+++ exited (status N) +++` or `+++ killed by SIGNAL +++`, so its status can be passed on.

use crate::Setting;
use std::ffi::OsString;
use std::time::Duration;

use perfkit_sys::ExitKind;
use serde::{Deserialize, Serialize};

use crate::runner::{Invocation, no_output, scratch_dir, target_builders};
use crate::strace::parse_tables;
use crate::{ProfilerError, Target, Tool};

/// The default `-x` pattern: the C allocator's entry points in libc.
///
/// Rust binaries call libc through the GOT (`-Z plt=no` is the default on x86-64 Linux), not
/// through PLT stubs, so plain `ltrace` sees almost none of their calls. `-x` puts breakpoints on
/// the symbols themselves and sees every call, wherever it comes from.
pub const DEFAULT_LTRACE_PATTERN: &str = "malloc+free+realloc+calloc@libc.so*";

/// One row of an `ltrace -c` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LibcallRow {
    /// The library function (`total` for the closing row).
    pub function: String,
    /// Share of the traced time.
    pub time_percent: f64,
    /// Seconds spent in it, including ltrace's own overhead of tens of µs per call.
    pub seconds: f64,
    /// Microseconds per call (blank in the total row).
    pub usecs_per_call: Option<u64>,
    /// Calls.
    pub calls: u64,
}

/// A parsed `ltrace -c` summary.
///
/// ```
/// use perfkit_profilers::ltrace::LibcallSummary;
///
/// let text = "\
/// % time     seconds  usecs/call     calls      function
/// ------ ----------- ----------- --------- --------------------
///  51.91    0.072684         341       213 free
///  48.09    0.067335         316       213 malloc
/// ------ ----------- ----------- --------- --------------------
/// 100.00    0.140019                   426 total
/// ";
/// let summary = LibcallSummary::parse(text).unwrap();
/// assert_eq!(summary.calls("malloc"), 213);
/// assert_eq!(summary.total.unwrap().calls, 426);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LibcallSummary {
    /// The rows, most time first.
    pub rows: Vec<LibcallRow>,
    /// The `total` row.
    pub total: Option<LibcallRow>,
}

impl LibcallSummary {
    /// Parses `ltrace -c` output.
    pub fn parse(text: &str) -> Result<LibcallSummary, ProfilerError> {
        let mut summary = LibcallSummary::default();
        for (_, rows, total) in parse_tables(text, "ltrace -c output", false)? {
            let convert = |r: crate::strace::SyscallRow| LibcallRow {
                function: r.syscall,
                time_percent: r.time_percent,
                seconds: r.seconds,
                usecs_per_call: r.usecs_per_call,
                calls: r.calls,
            };
            summary.rows.extend(rows.into_iter().map(convert));
            if let Some(total) = total {
                summary.total = Some(convert(total));
            }
        }
        Ok(summary)
    }

    /// Calls of `function` (names may carry an `@lib` suffix; both forms match).
    #[must_use]
    pub fn calls(&self, function: &str) -> u64 {
        self.rows
            .iter()
            .filter(|r| r.function == function || r.function.split('@').next() == Some(function))
            .map(|r| r.calls)
            .sum()
    }
}

/// What a full ltrace trace (`ltrace -f -T -o FILE`) says: the summary `ltrace -c` would
/// print, and how the first process (the program started) ended.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LibcallTrace {
    /// Calls and time per function, names without their `@library` suffix (as `ltrace -c`
    /// counts them).
    pub summary: LibcallSummary,
    /// How the first traced process ended, if the trace says.
    pub status: Option<ExitKind>,
}

impl LibcallTrace {
    /// Sums a full trace read from `reader`. A call split over an `<unfinished ...>` line and
    /// its `<... resumed>` line counts once, with the time of the second; a call that never
    /// returned counts without time. Lines that are neither calls nor events are skipped.
    ///
    /// ```
    /// use perfkit_profilers::{ExitKind, ltrace::LibcallTrace};
    ///
    /// let text = "\
    /// 11678 malloc(16)                = 0x55a1 <0.000150>
    /// 11678 malloc@libc.so.6(16 <unfinished ...>
    /// 11678 <... malloc@libc.so.6 resumed> ) = 0x55b1 <0.000100>
    /// 11678 free(0x55a1)              = <void> <0.000050>
    /// 11678 +++ exited (status 7) +++
    /// ";
    /// let trace = LibcallTrace::parse(text.as_bytes()).unwrap();
    /// assert_eq!(trace.summary.calls("malloc"), 2);
    /// assert_eq!(trace.status, Some(ExitKind::Exited { code: 7 }));
    /// ```
    pub fn parse(reader: impl std::io::BufRead) -> Result<LibcallTrace, ProfilerError> {
        use std::collections::HashMap;
        let mut per_function: HashMap<String, (u64, f64)> = HashMap::new();
        let mut unfinished: HashMap<(u32, String), u64> = HashMap::new();
        let mut first_pid = None;
        let mut status = None;
        for (index, line) in reader.split(b'\n').enumerate() {
            let line = line.map_err(|e| ProfilerError::io("reading ltrace's trace", e))?;
            let line = String::from_utf8_lossy(&line);
            let Some((pid, rest)) = line.trim_end().split_once(' ') else {
                continue;
            };
            let Ok(pid) = pid.parse::<u32>() else {
                continue;
            };
            let rest = rest.trim_start();
            let first = *first_pid.get_or_insert(pid);
            if let Some(event) = rest.strip_prefix("+++ ") {
                if pid == first {
                    status = parse_end(event).or(status);
                }
                continue;
            }
            if rest.starts_with("---") {
                continue;
            }
            if let Some(resumed) = rest.strip_prefix("<... ") {
                let Some((name, tail)) = resumed.split_once(' ') else {
                    continue;
                };
                let name = base_name(name);
                if let Some(n) = unfinished.get_mut(&(pid, name.to_owned())) {
                    *n = n.saturating_sub(1);
                }
                add_call(&mut per_function, name, call_time(tail, index)?);
                continue;
            }
            let Some(open) = rest.find('(') else {
                continue;
            };
            let name = base_name(&rest[..open]);
            if name.is_empty() || name.contains(char::is_whitespace) {
                continue;
            }
            if rest.ends_with("<unfinished ...>") {
                *unfinished.entry((pid, name.to_owned())).or_default() += 1;
            } else if rest.ends_with("<no return ...>") {
                add_call(&mut per_function, name, None);
            } else {
                add_call(&mut per_function, name, call_time(rest, index)?);
            }
        }
        // Calls still running when their process ended.
        for ((_, name), n) in unfinished {
            for _ in 0..n {
                add_call(&mut per_function, &name, None);
            }
        }
        Ok(LibcallTrace {
            summary: summarize(per_function),
            status,
        })
    }
}

/// A function name without ltrace's `@library` suffix.
fn base_name(name: &str) -> &str {
    name.split('@').next().unwrap_or(name).trim()
}

fn add_call(
    per_function: &mut std::collections::HashMap<String, (u64, f64)>,
    name: &str,
    seconds: Option<f64>,
) {
    let entry = per_function.entry(name.to_owned()).or_default();
    entry.0 += 1;
    entry.1 += seconds.unwrap_or(0.0);
}

/// The `<0.000123>` time at the end of a call line, if there is one.
fn call_time(line: &str, index: usize) -> Result<Option<f64>, ProfilerError> {
    let Some(inner) = line.strip_suffix('>') else {
        return Ok(None);
    };
    let Some(start) = inner.rfind('<') else {
        return Ok(None);
    };
    let text = &inner[start + 1..];
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return Ok(None);
    }
    match text.parse::<f64>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(Some(t)),
        _ => Err(ProfilerError::parse(
            "ltrace's trace",
            index + 1,
            format!("bad call time <{text}>"),
        )),
    }
}

/// `exited (status 7) +++` or `killed by SIGSEGV +++`.
fn parse_end(event: &str) -> Option<ExitKind> {
    let event = event.trim_end_matches("+++").trim();
    if let Some(code) = event
        .strip_prefix("exited (status ")
        .and_then(|r| r.strip_suffix(')'))
    {
        return code
            .trim()
            .parse()
            .ok()
            .map(|code| ExitKind::Exited { code });
    }
    let name = event.strip_prefix("killed by ")?.trim();
    signal_number(name).map(|signal| ExitKind::Signaled {
        signal,
        core_dumped: false,
    })
}

fn signal_number(name: &str) -> Option<i32> {
    #[cfg(target_os = "linux")]
    {
        name.parse::<nix::sys::signal::Signal>()
            .ok()
            .map(|s| s as i32)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = name;
        None
    }
}

/// The rows of `ltrace -c` from calls and seconds per function: most time first.
fn summarize(per_function: std::collections::HashMap<String, (u64, f64)>) -> LibcallSummary {
    let total_seconds: f64 = per_function.values().map(|(_, s)| s).sum();
    let share = |s: f64| {
        if total_seconds > 0.0 {
            s / total_seconds * 100.0
        } else {
            0.0
        }
    };
    let mut rows: Vec<LibcallRow> = per_function
        .into_iter()
        .map(|(function, (calls, seconds))| LibcallRow {
            function,
            time_percent: share(seconds),
            seconds,
            usecs_per_call: (calls > 0).then(|| (seconds * 1e6 / calls as f64) as u64),
            calls,
        })
        .collect();
    rows.sort_by(|a, b| {
        b.seconds
            .total_cmp(&a.seconds)
            .then(b.calls.cmp(&a.calls))
            .then_with(|| a.function.cmp(&b.function))
    });
    let total = (!rows.is_empty()).then(|| LibcallRow {
        function: "total".into(),
        time_percent: 100.0,
        seconds: total_seconds,
        usecs_per_call: None,
        calls: rows.iter().map(|r| r.calls).sum(),
    });
    LibcallSummary { rows, total }
}

/// An ltrace run.
///
/// ```no_run
/// use perfkit_profilers::ltrace::Ltrace;
///
/// let outcome = Ltrace::command(["./target/release/my-app"]).run()?;
/// println!("{} mallocs", outcome.summary.calls("malloc"));
/// # Ok::<(), perfkit_profilers::ProfilerError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Ltrace {
    inv: Invocation,
    patterns: Vec<String>,
    plt: bool,
}

/// The result of an ltrace run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LtraceOutcome {
    /// How the program ended.
    pub status: ExitKind,
    /// The `-x` patterns used.
    pub patterns: Vec<String>,
    /// The summary.
    pub summary: LibcallSummary,
    /// Wall time under ltrace (each traced call slows the program down).
    #[serde(rename = "wall_ns", with = "perfkit_metrics::serde_ns")]
    pub wall: Duration,
}

impl LtraceOutcome {
    /// What a reader of the summary should know: whether the patterns matched anything, and
    /// that ltrace's times are mostly its own.
    #[must_use]
    pub fn caveats(&self) -> Vec<&'static str> {
        let mut caveats = Vec::new();
        if self.summary.rows.is_empty() {
            caveats.push(
                "no library calls matched; check the patterns (e.g. 'malloc@libc.so*') and \
                 that the program is dynamically linked",
            );
        }
        caveats.push(
            "ltrace times include its own overhead (tens of µs per call): compare counts, not times",
        );
        caveats
    }
}

impl Ltrace {
    target_builders!(Ltrace);

    /// Traces library calls of `target` (see [`Target::command`] and [`Target::pids`]), with
    /// [`DEFAULT_LTRACE_PATTERN`] unless [`Ltrace::patterns`] says otherwise.
    #[must_use]
    pub fn new(target: Target) -> Ltrace {
        Ltrace {
            inv: Invocation::new(target),
            patterns: Vec::new(),
            plt: true,
        }
    }

    /// `-x` symbol patterns (ltrace's filter syntax, e.g. `malloc+free@libc.so*`, `*@libz.so*`),
    /// replacing the default.
    #[must_use]
    pub fn patterns<I, S>(mut self, patterns: I) -> Ltrace
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.patterns = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Also trace calls through PLT stubs (ltrace's default behaviour; on by default). Off
    /// traces only the `-x` symbols.
    #[must_use]
    pub fn plt(mut self, yes: bool) -> Ltrace {
        self.plt = yes;
        self
    }

    /// The patterns that will be used.
    #[must_use]
    pub fn effective_patterns(&self) -> Vec<String> {
        if self.patterns.is_empty() {
            vec![DEFAULT_LTRACE_PATTERN.to_owned()]
        } else {
            self.patterns.clone()
        }
    }

    /// Checks the patterns and the target without running anything.
    pub fn validate(&self) -> Result<(), ProfilerError> {
        self.inv.validate(Tool::Ltrace)?;
        if let Some(bad) = self.patterns.iter().find(|p| p.trim().is_empty()) {
            return Err(ProfilerError::InvalidSetting(Setting::LtracePattern(
                bad.clone(),
            )));
        }
        Ok(())
    }

    /// Runs `ltrace -f -T -o FILE` and sums the trace ([`LibcallTrace`]). The trace goes to a
    /// private file, so the program's stderr stays its own; the program's status is read from
    /// the trace, because ltrace itself exits 0 whatever the program did.
    pub fn run(&self) -> Result<LtraceOutcome, ProfilerError> {
        self.validate()?;
        let patterns = self.effective_patterns();
        let ltrace = Tool::Ltrace.locate()?;
        let dir = scratch_dir(Tool::Ltrace)?;
        let out = dir.path().join("ltrace.out");
        let mut args: Vec<OsString> =
            vec!["-f".into(), "-T".into(), "-o".into(), out.clone().into()];
        for pattern in &patterns {
            args.extend(["-x".into(), pattern.into()]);
        }
        if !self.plt {
            // An empty -e set: no PLT tracing, only the -x symbols.
            args.extend(["-e".into(), "-*".into()]);
        }
        let mut command = self.inv.command(&ltrace, args)?;
        let ran = self.inv.run(&mut command, Tool::Ltrace)?;
        let file =
            std::fs::File::open(&out).map_err(|e| no_output(Tool::Ltrace, ran.status, &e))?;
        let trace = LibcallTrace::parse(std::io::BufReader::with_capacity(1 << 20, file))?;
        let status = match (&self.inv.target, trace.status) {
            (Target::Command(_), Some(program)) => program,
            _ => ran.status,
        };
        Ok(LtraceOutcome {
            status,
            patterns,
            summary: trace.summary,
            wall: ran.wall,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_summary_says_the_pattern_matched_nothing() {
        let outcome = LtraceOutcome {
            status: ExitKind::Exited { code: 0 },
            patterns: vec![DEFAULT_LTRACE_PATTERN.to_owned()],
            summary: LibcallSummary::default(),
            wall: Duration::ZERO,
        };
        assert!(outcome.caveats()[0].contains("no library calls matched"));
        assert_eq!(outcome.caveats().len(), 2);
    }

    #[test]
    fn parses_total_row_without_usecs() {
        let text = "% time     seconds  usecs/call     calls      function\n\
            ------ ----------- ----------- --------- --------------------\n\
            100.00    0.000303         303         1 __cxa_finalize\n\
            ------ ----------- ----------- --------- --------------------\n\
            100.00    0.000303                     1 total\n";
        let s = LibcallSummary::parse(text).unwrap();
        assert_eq!(s.rows.len(), 1);
        assert_eq!(s.rows[0].usecs_per_call, Some(303));
        assert_eq!(s.total.as_ref().unwrap().usecs_per_call, None);
        assert_eq!(s.calls("__cxa_finalize"), 1);
        assert_eq!(s.calls("malloc"), 0);
    }

    #[test]
    fn a_full_trace_sums_like_ltrace_c_and_keeps_the_status() {
        let text = "\
11702 malloc(3296 <unfinished ...>
11702 malloc@libc.so.6(3296)                     = 0x5607 <0.000143>
11702 <... malloc resumed> )                     = 0x5607 <0.000121>
11703 free(0x1 <no return ...>
11702 --- SIGSEGV (Segmentation fault) ---
11703 +++ exited (status 0) +++
11702 +++ killed by SIGSEGV +++
";
        let trace = LibcallTrace::parse(text.as_bytes()).unwrap();
        assert_eq!(trace.summary.calls("malloc"), 2);
        assert_eq!(trace.summary.calls("free"), 1);
        let malloc = &trace.summary.rows[0];
        assert!((malloc.seconds - 0.000_264).abs() < 1e-9, "{malloc:?}");
        assert_eq!(trace.summary.total.as_ref().unwrap().calls, 3);
        assert_eq!(
            trace.status,
            Some(ExitKind::Signaled {
                signal: 11,
                core_dumped: false
            })
        );
        // A call that never came back still counts.
        let trace = LibcallTrace::parse("5 calloc(1, 2 <unfinished ...>\n".as_bytes()).unwrap();
        assert_eq!(trace.summary.calls("calloc"), 1);
        assert_eq!(trace.status, None);
        assert!(LibcallTrace::parse("5 f() = 1 <0.1x>\n".as_bytes()).is_err());
    }

    proptest::proptest! {
        #[test]
        fn traces_never_panic(text in "(?s).{0,300}") {
            let _ = LibcallTrace::parse(text.as_bytes());
        }
    }

    #[test]
    fn function_names_with_library_suffix_match() {
        let text = "% time seconds usecs/call calls function\n 100.0 0.1 10 7 malloc@libc.so.6\n";
        assert_eq!(LibcallSummary::parse(text).unwrap().calls("malloc"), 7);
    }
}
