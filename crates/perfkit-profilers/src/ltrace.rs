//! ltrace: `ltrace -c` summaries of library calls.

use std::ffi::OsString;
use std::time::Duration;

use perfkit_sys::ExitKind;
use serde::{Deserialize, Serialize};

use crate::strace::{parse_tables, run_traced};
use crate::{ProfilerError, RecordTarget, Tool};

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
/// use perfkit_profilers::LibcallSummary;
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
            let convert = |r: crate::SyscallRow| LibcallRow {
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

/// An ltrace run.
///
/// ```no_run
/// use perfkit_profilers::Ltrace;
///
/// let outcome = Ltrace::command(["./target/release/my-app"]).run()?;
/// println!("{} mallocs", outcome.summary.calls("malloc"));
/// # Ok::<(), perfkit_profilers::ProfilerError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Ltrace {
    target: RecordTarget,
    patterns: Vec<String>,
    plt: bool,
    extra_args: Vec<OsString>,
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
    /// Wall time under ltrace (each traced call costs it tens of microseconds).
    #[serde(rename = "wall_ns", with = "perfkit_metrics::serde_ns")]
    pub wall: Duration,
}

impl Ltrace {
    /// Traces library calls of `argv` (program first) and its children, with
    /// [`DEFAULT_LTRACE_PATTERN`] unless [`Ltrace::patterns`] says otherwise.
    pub fn command<I, S>(argv: I) -> Ltrace
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Ltrace::new(RecordTarget::command(argv))
    }

    /// Attaches to running processes for `duration`.
    pub fn pids(pids: impl IntoIterator<Item = u32>, duration: Duration) -> Ltrace {
        Ltrace::new(RecordTarget::pids(pids, duration))
    }

    /// Profiles `target` (see [`RecordTarget::command`] and [`RecordTarget::pids`]).
    #[must_use]
    pub fn new(target: RecordTarget) -> Ltrace {
        Ltrace {
            target,
            patterns: Vec::new(),
            plt: true,
            extra_args: Vec::new(),
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

    /// Extra ltrace arguments.
    #[must_use]
    pub fn extra_args<I, S>(mut self, args: I) -> Ltrace
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.extra_args.extend(args.into_iter().map(Into::into));
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
        self.target.validate()?;
        crate::perf::check_ptrace_attach(&self.target, Tool::Ltrace)?;
        if let Some(bad) = self.patterns.iter().find(|p| p.trim().is_empty()) {
            return Err(ProfilerError::InvalidOption(format!(
                "empty ltrace pattern {bad:?}: use e.g. `malloc+free@libc.so*`"
            )));
        }
        Ok(())
    }

    /// Runs `ltrace -c -f -o FILE`. The summary goes to a private file, so the program's stderr
    /// stays its own.
    pub fn run(&self) -> Result<LtraceOutcome, ProfilerError> {
        self.validate()?;
        let patterns = self.effective_patterns();
        let ltrace = Tool::Ltrace.locate()?;
        let dir = tempfile::Builder::new()
            .prefix("perfkit-ltrace-")
            .tempdir()
            .map_err(|e| ProfilerError::io("creating a temporary directory", e))?;
        let out = dir.path().join("ltrace.out");
        let mut command = ltrace.command();
        command.args(["-c", "-f", "-o"]).arg(&out);
        for pattern in &patterns {
            command.arg("-x").arg(pattern);
        }
        if !self.plt {
            // An empty -e set: no PLT tracing, only the -x symbols.
            command.args(["-e", "-*"]);
        }
        command.args(&self.extra_args);
        let (status, wall) = run_traced(&mut command, &self.target, Tool::Ltrace)?;
        let text = std::fs::read_to_string(&out).map_err(|e| ProfilerError::ToolFailed {
            tool: Tool::Ltrace,
            detail: format!("ltrace wrote no summary ({status}, {e}); its message is above"),
        })?;
        Ok(LtraceOutcome {
            status,
            patterns,
            summary: LibcallSummary::parse(&text)?,
            wall,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn function_names_with_library_suffix_match() {
        let text = "% time seconds usecs/call calls function\n 100.0 0.1 10 7 malloc@libc.so.6\n";
        assert_eq!(LibcallSummary::parse(text).unwrap().calls("malloc"), 7);
    }
}
