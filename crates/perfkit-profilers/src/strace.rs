//! strace: `-c` summaries and `-T` traces turned into per-syscall latency histograms.

mod processes;
pub use processes::ProcessTrace;

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Duration;

use perfkit_metrics::{Histogram, Summary};
use perfkit_sys::ExitKind;
use serde::{Deserialize, Serialize};

use crate::runner::{Invocation, no_output, scratch_dir, target_builders};
use crate::{ProfilerError, Target, Tool};

/// One row of an `strace -c` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyscallRow {
    /// The system call (`total` for the closing row).
    pub syscall: String,
    /// Share of the traced time.
    pub time_percent: f64,
    /// Seconds spent (system time, or wall time with `-w`).
    pub seconds: f64,
    /// Microseconds per call (`None` when strace leaves it blank).
    pub usecs_per_call: Option<u64>,
    /// Calls.
    pub calls: u64,
    /// Calls that returned an error (strace prints blank for 0).
    pub errors: u64,
}

/// One `strace -c` table. 64-bit processes have one; 32-bit (or x32) children add their own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyscallTable {
    /// `None` for the native table, else strace's heading (e.g. `32 bit mode`).
    pub mode: Option<String>,
    /// The rows, in strace's order (most time first).
    pub rows: Vec<SyscallRow>,
    /// The `total` row.
    pub total: Option<SyscallRow>,
}

/// A parsed `strace -c` summary.
///
/// ```
/// use perfkit_profilers::strace::SyscallSummary;
///
/// let text = "\
/// % time     seconds  usecs/call     calls    errors syscall
/// ------ ----------- ----------- --------- --------- ------------------
///  60.00    0.000060          12         5           openat
///  40.00    0.000040          40         1         1 access
/// ------ ----------- ----------- --------- --------- ------------------
/// 100.00    0.000100          16         6         1 total
/// ";
/// let summary = SyscallSummary::parse(text).unwrap();
/// assert_eq!(summary.calls("openat"), 5);
/// assert_eq!(summary.errors("access"), 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SyscallSummary {
    /// The tables, native first.
    pub tables: Vec<SyscallTable>,
}

impl SyscallSummary {
    /// Parses `strace -c` (with or without `-w`) output. Rows are read from the right, since
    /// the errors column is blank when there were none.
    pub fn parse(text: &str) -> Result<SyscallSummary, ProfilerError> {
        let tables = parse_tables(text, "strace -c output", true)?;
        Ok(SyscallSummary {
            tables: tables
                .into_iter()
                .map(|(mode, rows, total)| SyscallTable { mode, rows, total })
                .collect(),
        })
    }

    /// Calls of `syscall` over all tables.
    #[must_use]
    pub fn calls(&self, syscall: &str) -> u64 {
        self.rows()
            .filter(|r| r.syscall == syscall)
            .map(|r| r.calls)
            .sum()
    }

    /// Failed calls of `syscall` over all tables.
    #[must_use]
    pub fn errors(&self, syscall: &str) -> u64 {
        self.rows()
            .filter(|r| r.syscall == syscall)
            .map(|r| r.errors)
            .sum()
    }

    /// Every row of every table (without totals).
    pub fn rows(&self) -> impl Iterator<Item = &SyscallRow> {
        self.tables.iter().flat_map(|t| t.rows.iter())
    }

    /// Total calls over all tables.
    #[must_use]
    pub fn total_calls(&self) -> u64 {
        self.rows().map(|r| r.calls).sum()
    }
}

type ParsedTable<R> = (Option<String>, Vec<R>, Option<R>);

/// Parses the `% time seconds usecs/call calls [errors] name` tables strace and ltrace print.
pub(crate) fn parse_tables(
    text: &str,
    what: &'static str,
    errors_column: bool,
) -> Result<Vec<ParsedTable<SyscallRow>>, ProfilerError> {
    let mut tables = Vec::new();
    let mut current: Option<ParsedTable<SyscallRow>> = None;
    let mut pending_mode: Option<String> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("------") {
            continue;
        }
        if trimmed.starts_with("% time") {
            if let Some(table) = current.take() {
                tables.push(table);
            }
            current = Some((pending_mode.take(), Vec::new(), None));
            continue;
        }
        if let Some(mode) = trimmed
            .strip_prefix("System call usage summary for ")
            .map(|m| m.trim_end_matches(':').to_owned())
        {
            pending_mode = Some(mode);
            continue;
        }
        let Some(table) = current.as_mut() else {
            // strace's own messages before the table (e.g. "strace: Process 1 attached").
            continue;
        };
        let row = parse_row(trimmed, errors_column).map_err(|why| {
            ProfilerError::parse(what, index + 1, format!("{why}: {trimmed:.80}"))
        })?;
        if row.syscall == "total" {
            table.2 = Some(row);
        } else {
            table.1.push(row);
        }
    }
    if let Some(table) = current.take() {
        tables.push(table);
    }
    if tables.is_empty() && !text.trim().is_empty() {
        return Err(ProfilerError::parse(
            what,
            1,
            "no summary table (a `% time ... calls` header) found",
        ));
    }
    Ok(tables)
}

fn parse_row(line: &str, errors_column: bool) -> Result<SyscallRow, &'static str> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let (name, numbers) = words.split_last().ok_or("empty row")?;
    if name.parse::<f64>().is_ok() {
        return Err("the row has no name at the end");
    }
    let numbers: Vec<f64> = numbers
        .iter()
        .map(|w| w.parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| "a column is not a number")?;
    if numbers.iter().any(|n| !n.is_finite() || *n < 0.0) {
        return Err("a column is negative or not finite");
    }
    let whole = |v: f64| -> Result<u64, &'static str> {
        if v.fract() == 0.0 && v <= u64::MAX as f64 {
            Ok(v as u64)
        } else {
            Err("a count is not a whole number")
        }
    };
    // From the right: [errors] calls [usecs/call] seconds %time.
    let (time_percent, seconds, usecs, calls, errors) = match (numbers.as_slice(), errors_column) {
        ([pct, secs, usecs, calls, errors], true) => (
            *pct,
            *secs,
            Some(whole(*usecs)?),
            whole(*calls)?,
            whole(*errors)?,
        ),
        ([pct, secs, usecs, calls], _) => (*pct, *secs, Some(whole(*usecs)?), whole(*calls)?, 0),
        // The total row of ltrace (and strace for some versions) leaves usecs/call blank.
        ([pct, secs, calls], _) => (*pct, *secs, None, whole(*calls)?, 0),
        _ => return Err("expected 4 to 6 columns"),
    };
    Ok(SyscallRow {
        syscall: (*name).to_owned(),
        time_percent,
        seconds,
        usecs_per_call: usecs,
        calls,
        errors,
    })
}

/// Latency of one system call from an `strace -T` trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyscallLatency {
    /// The system call.
    pub syscall: String,
    /// Calls seen.
    pub calls: u64,
    /// Calls that returned `-1`.
    pub errors: u64,
    /// Time inside the call, summed, in nanoseconds.
    pub total_ns: u64,
    /// Latency distribution in nanoseconds (`None` when no call finished, e.g. `exit_group`).
    pub latency_ns: Option<Summary>,
}

/// An strace output file written elsewhere: the `-c` table or a trace (best with `-T`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StraceFile {
    /// `strace -c [-w]` output.
    Summary(SyscallSummary),
    /// `strace [-f] [-tt] -T` output: one line per call.
    Trace(SyscallLatencies),
}

impl StraceFile {
    /// Parses strace output, telling the `-c` table (its `% time` header) from a trace.
    ///
    /// ```
    /// use perfkit_profilers::strace::StraceFile;
    ///
    /// let trace = "12 read(3, \"x\", 1) = 1 <0.000010>\n12 read(3, \"\", 1) = 0 <0.000020>\n";
    /// let StraceFile::Trace(latencies) = StraceFile::parse(trace).unwrap() else { panic!() };
    /// assert_eq!(latencies.get("read").unwrap().calls, 2);
    /// ```
    /// With `-C` (a trace followed by the table) the table is read: it has the times.
    pub fn parse(text: &str) -> Result<StraceFile, ProfilerError> {
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            let body = line.trim_start();
            if body.starts_with("% time") || body.starts_with("System call usage") {
                return SyscallSummary::parse(&text[offset..]).map(StraceFile::Summary);
            }
            offset += line.len();
        }
        SyscallLatencies::parse(text).map(StraceFile::Trace)
    }

    /// Reads and parses a file of strace output (at most [`crate::MAX_PROFILE_FILE_BYTES`]).
    pub fn from_file(path: &Path) -> Result<StraceFile, ProfilerError> {
        let text = perfkit_sys::read_text_limited(path, crate::MAX_PROFILE_FILE_BYTES)
            .map_err(|e| ProfilerError::io(format!("reading {}", path.display()), e))?;
        StraceFile::parse(&text)
    }
}

/// Per-syscall latency histograms from an `strace -f -tt -T` trace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SyscallLatencies {
    /// Per system call, most total time first.
    pub syscalls: Vec<SyscallLatency>,
    /// Trace lines read.
    pub lines: u64,
    /// Signals delivered during the trace.
    pub signals: u64,
}

impl SyscallLatencies {
    /// What a reader of these latencies should know: they carry strace's own overhead, and a
    /// trace recorded without `-T` has none.
    #[must_use]
    pub fn caveats(&self) -> Vec<&'static str> {
        let mut caveats = Vec::new();
        if !self.syscalls.is_empty() && self.syscalls.iter().all(|s| s.latency_ns.is_none()) {
            caveats.push("the trace has no call durations (strace writes them with -T)");
        }
        caveats.push(
            "durations are measured by strace around each call and include its ptrace overhead \
             (tens of µs on a VM): compare syscalls with each other, not with native timings",
        );
        caveats
    }

    /// Parses trace text.
    pub fn parse(text: &str) -> Result<SyscallLatencies, ProfilerError> {
        SyscallLatencies::from_reader(text.as_bytes())
    }

    /// Parses a trace line by line (memory grows with distinct syscalls and threads, not with
    /// the length of the trace). Calls split across threads (`<unfinished ...>` / `<... resumed>`)
    /// are joined.
    pub fn from_reader<R: BufRead>(reader: R) -> Result<SyscallLatencies, ProfilerError> {
        let mut per: HashMap<String, (u64, u64, Histogram)> = HashMap::new();
        let mut result = SyscallLatencies::default();
        for (index, line) in reader.lines().enumerate() {
            let line = line.map_err(|e| ProfilerError::io("reading the strace trace", e))?;
            let line = line.trim_end();
            if line.is_empty() {
                continue;
            }
            result.lines += 1;
            match parse_trace_line(line) {
                Ok(TraceLine::Call {
                    name,
                    error,
                    duration_ns,
                }) => {
                    let entry = per
                        .entry(name.to_owned())
                        .or_insert_with(|| (0, 0, Histogram::new()));
                    entry.0 += 1;
                    entry.1 += u64::from(error);
                    if let Some(ns) = duration_ns {
                        entry.2.record(ns);
                    }
                }
                Ok(TraceLine::Signal) => result.signals += 1,
                Ok(TraceLine::Other) => {}
                Err(why) => {
                    return Err(ProfilerError::parse(
                        "strace trace",
                        index + 1,
                        format!("{why}: {line:.100}"),
                    ));
                }
            }
        }
        result.syscalls = per
            .into_iter()
            .map(|(syscall, (calls, errors, histogram))| SyscallLatency {
                syscall,
                calls,
                errors,
                total_ns: histogram.sum().min(u128::from(u64::MAX)) as u64,
                latency_ns: Summary::from_histogram(&histogram),
            })
            .collect();
        result.syscalls.sort_by(|a, b| {
            b.total_ns
                .cmp(&a.total_ns)
                .then(b.calls.cmp(&a.calls))
                .then_with(|| a.syscall.cmp(&b.syscall))
        });
        Ok(result)
    }

    /// The entry for `syscall`.
    #[must_use]
    pub fn get(&self, syscall: &str) -> Option<&SyscallLatency> {
        self.syscalls.iter().find(|s| s.syscall == syscall)
    }
}

enum TraceLine<'a> {
    /// A finished call (or a start that never finished, without a duration).
    Call {
        name: &'a str,
        error: bool,
        duration_ns: Option<u64>,
    },
    Signal,
    Other,
}

fn parse_trace_line(line: &str) -> Result<TraceLine<'_>, &'static str> {
    // Optional PID (`1234 ` with -f -o, `[pid  1234] ` on standard error), then an optional
    // timestamp: `12:00:01` (-t), `12:00:01.123456` (-tt), `1796336430.080662` (-ttt) or the
    // time since the previous line, padded (-r).
    let mut rest = line.trim_start();
    if let Some(after) = rest.strip_prefix("[pid")
        && let Some((pid, after)) = after.split_once(']')
        && pid.trim().bytes().all(|b| b.is_ascii_digit())
    {
        rest = after.trim_start();
    } else if let Some((first, after)) = rest.split_once(' ')
        && !first.is_empty()
        && first.bytes().all(|b| b.is_ascii_digit())
    {
        rest = after.trim_start();
    }
    if let Some((first, after)) = rest.split_once(' ')
        && first.bytes().any(|b| b == b':' || b == b'.')
        && first
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b':' || b == b'.')
    {
        rest = after.trim_start();
    }
    if rest.starts_with("---") {
        return Ok(TraceLine::Signal);
    }
    if rest.starts_with("+++") || rest.starts_with("strace:") {
        return Ok(TraceLine::Other);
    }
    if rest.ends_with("<unfinished ...>") || rest.contains("strace: Process ") {
        // Counted when it resumes. On a terminal strace cuts a call's line with its own
        // notes instead of writing `<unfinished ...>`.
        return Ok(TraceLine::Other);
    }
    let name = if let Some(resumed) = rest.strip_prefix("<... ") {
        resumed
            .split_once(" resumed>")
            .map(|(name, _)| name)
            .ok_or("a `<...` line without `resumed>`")?
    } else {
        rest.split_once('(')
            .map(|(name, _)| name)
            .ok_or("expected `syscall(args) = result`")?
    };
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'?')
    {
        return Err("not a system call name");
    }
    // The result follows the last ` = ` that comes after a `)` (strace pads with spaces;
    // string arguments may contain ` = ` themselves).
    let result = rest
        .rmatch_indices(" = ")
        .find(|(i, _)| rest[..*i].trim_end().ends_with(')'))
        .map(|(i, _)| &rest[i + 3..])
        .ok_or("no ` = result` after the arguments")?;
    let error = result.starts_with("-1 ");
    let duration_ns = match result.rsplit_once(" <") {
        Some((_, d)) if d.ends_with('>') => {
            let d = &d[..d.len() - 1];
            if d == "unavailable" {
                None
            } else {
                let secs: f64 = d.parse().map_err(|_| "the <duration> is not a number")?;
                if !(secs.is_finite() && secs >= 0.0) {
                    return Err("the <duration> is negative");
                }
                Some((secs * 1e9).round() as u64)
            }
        }
        _ => None,
    };
    Ok(TraceLine::Call {
        name,
        error,
        duration_ns,
    })
}

/// What `strace` collects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceMode {
    /// `strace -c`: counts, errors and time per syscall (cheap).
    #[default]
    Summary,
    /// `strace -tt -T`: every call with its duration, folded into per-syscall latency
    /// histograms (p50/p99). Slower: strace writes a line per call.
    Latency,
    /// `strace -ttt -T -e trace=%process`: the processes, threads and programs started, and
    /// what starting them cost ([`ProcessTrace`]). Cheap: other calls are not stopped.
    Processes,
}

/// An strace run, built step by step.
///
/// ```no_run
/// use perfkit_profilers::strace::Strace;
///
/// let outcome = Strace::command(["ls", "-l"]).run()?;
/// let summary = outcome.summary.unwrap();
/// println!("{} openat calls", summary.calls("openat"));
/// # Ok::<(), perfkit_profilers::ProfilerError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Strace {
    inv: Invocation,
    mode: TraceMode,
    wall_clock: bool,
    filter: Option<String>,
}

/// The result of an strace run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StraceOutcome {
    /// How the program ended (for PIDs: how tracing ended).
    pub status: ExitKind,
    /// The `-c` summary ([`TraceMode::Summary`]).
    pub summary: Option<SyscallSummary>,
    /// The latency histograms ([`TraceMode::Latency`]).
    pub latencies: Option<SyscallLatencies>,
    /// The processes and threads started ([`TraceMode::Processes`]).
    #[serde(default)]
    pub processes: Option<ProcessTrace>,
    /// Wall time under strace.
    #[serde(rename = "wall_ns", with = "perfkit_metrics::serde_ns")]
    pub wall: Duration,
}

impl Strace {
    target_builders!(Strace);

    /// Traces `target` (see [`Target::command`] and [`Target::pids`]).
    #[must_use]
    pub fn new(target: Target) -> Strace {
        Strace {
            inv: Invocation::new(target),
            mode: TraceMode::Summary,
            wall_clock: false,
            filter: None,
        }
    }

    /// Summary (default) or latency histograms.
    #[must_use]
    pub fn mode(mut self, mode: TraceMode) -> Strace {
        self.mode = mode;
        self
    }

    /// In summaries, time calls by wall clock (`-w`) instead of system CPU time: shows time
    /// spent blocked (sleeping, waiting for I/O).
    #[must_use]
    pub fn wall_clock(mut self, yes: bool) -> Strace {
        self.wall_clock = yes;
        self
    }

    /// Only these syscalls (strace's `-e trace=` syntax, e.g. `openat,read,%file`).
    #[must_use]
    pub fn filter(mut self, expression: impl Into<String>) -> Strace {
        self.filter = Some(expression.into());
        self
    }

    /// Checks the target (the program exists, the PIDs are alive) without running anything.
    pub fn validate(&self) -> Result<(), ProfilerError> {
        self.inv.validate(Tool::Strace)
    }

    /// strace's own arguments, writing to `out`.
    fn tool_args(&self, out: &Path) -> Vec<OsString> {
        // -q: no "Process N attached/detached" messages on the program's stderr.
        let mut args: Vec<OsString> = vec!["-f".into(), "-q".into(), "-o".into(), out.into()];
        match self.mode {
            TraceMode::Summary => {
                args.push("-c".into());
                if self.wall_clock {
                    args.push("-w".into());
                }
            }
            TraceMode::Latency => args.extend(["-tt".into(), "-T".into()]),
            TraceMode::Processes => {
                // Only process calls stop the program (seccomp filters the rest in the
                // kernel); exec paths are kept whole enough to name the programs.
                let more = [
                    "-ttt",
                    "-T",
                    "--seccomp-bpf",
                    "-e",
                    "signal=none",
                    "-s",
                    "256",
                ];
                args.extend(more.into_iter().map(OsString::from));
            }
        }
        match (&self.filter, self.mode) {
            (Some(filter), _) => args.push(format!("--trace={filter}").into()),
            (None, TraceMode::Processes) => args.push("--trace=%process".into()),
            (None, _) => {}
        }
        args
    }

    /// Runs strace. Its output goes to a private file (`-o`), so the program's own stderr
    /// never mixes with it.
    pub fn run(&self) -> Result<StraceOutcome, ProfilerError> {
        self.validate()?;
        let strace = Tool::Strace.locate()?;
        let dir = scratch_dir(Tool::Strace)?;
        let out = dir.path().join("strace.out");
        let mut command = self.inv.command(&strace, self.tool_args(&out))?;
        let ran = self.inv.run(&mut command, Tool::Strace)?;
        let status = ran.status;
        let mut outcome = StraceOutcome {
            status,
            summary: None,
            latencies: None,
            processes: None,
            wall: ran.wall,
        };
        let open = || std::fs::File::open(&out).map_err(|e| no_output(Tool::Strace, status, &e));
        match self.mode {
            TraceMode::Summary => {
                let text = std::fs::read_to_string(&out)
                    .map_err(|e| no_output(Tool::Strace, status, &e))?;
                outcome.summary = Some(SyscallSummary::parse(&text)?);
            }
            TraceMode::Latency => {
                outcome.latencies = Some(SyscallLatencies::from_reader(BufReader::new(open()?))?);
            }
            TraceMode::Processes => {
                outcome.processes = Some(ProcessTrace::from_reader(BufReader::new(
                    perfkit_sys::LineLimit::new(open()?, 1 << 20),
                ))?);
            }
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_say_when_the_trace_has_no_durations() {
        let timed = SyscallLatencies::parse("1 00:00:00.000001 read(0, \"\", 1) = 0 <0.000010>\n")
            .expect("trace");
        let untimed =
            SyscallLatencies::parse("1 00:00:00.000001 read(0, \"\", 1) = 0\n").expect("trace");
        assert_eq!(timed.caveats().len(), 1, "{:?}", timed.caveats());
        assert!(
            untimed.caveats()[0].contains("with -T"),
            "{:?}",
            untimed.caveats()
        );
        assert_eq!(SyscallLatencies::default().caveats().len(), 1);
    }

    #[test]
    fn parses_rows_from_the_right_with_blank_errors() {
        let text = "% time     seconds  usecs/call     calls    errors syscall\n\
            ------ ----------- ----------- --------- --------- ------------------\n\
             30.12    0.001945          36        54           openat\n\
              0.00    0.000000           0         1         1 access\n\
            ------ ----------- ----------- --------- --------- ------------------\n\
            100.00    0.006457          24       263         1 total\n";
        let s = SyscallSummary::parse(text).unwrap();
        assert_eq!(s.tables.len(), 1);
        let t = &s.tables[0];
        assert_eq!(t.rows[0].syscall, "openat");
        assert_eq!((t.rows[0].calls, t.rows[0].errors), (54, 0));
        assert_eq!(t.rows[0].usecs_per_call, Some(36));
        assert_eq!((t.rows[1].calls, t.rows[1].errors), (1, 1));
        assert_eq!(t.total.as_ref().unwrap().calls, 263);
    }

    #[test]
    fn a_32_bit_child_adds_a_second_table() {
        let text = "% time     seconds  usecs/call     calls    errors syscall\n\
            ------ ----------- ----------- --------- --------- ----------------\n\
            100.00    0.000010          10         1           execve\n\
            ------ ----------- ----------- --------- --------- ----------------\n\
            100.00    0.000010          10         1           total\n\
            System call usage summary for 32 bit mode:\n\
            % time     seconds  usecs/call     calls    errors syscall\n\
            ------ ----------- ----------- --------- --------- ----------------\n\
            100.00    0.000020          10         2           brk\n\
            ------ ----------- ----------- --------- --------- ----------------\n\
            100.00    0.000020          10         2           total\n";
        let s = SyscallSummary::parse(text).unwrap();
        assert_eq!(s.tables.len(), 2);
        assert_eq!(s.tables[1].mode.as_deref(), Some("32 bit mode"));
        assert_eq!(s.calls("brk"), 2);
        assert_eq!(s.total_calls(), 3);
    }

    #[test]
    fn bad_rows_are_errors() {
        for bad in [
            "% time seconds usecs/call calls errors syscall\n 1.0 x 1 1 openat\n",
            "% time seconds usecs/call calls errors syscall\n 1.0 0.1 1 1.5 openat\n",
            "% time seconds usecs/call calls errors syscall\n 1.0 0.1 1 1 2\n",
            "% time seconds usecs/call calls errors syscall\n openat\n",
            "no table here\n",
        ] {
            assert!(SyscallSummary::parse(bad).is_err(), "{bad:?}");
        }
        assert!(SyscallSummary::parse("").unwrap().tables.is_empty());
    }

    #[test]
    fn trace_lines_become_latency_histograms() {
        let text = r#"28060 23:07:08.493435 execve("/tmp/w", ["/tmp/w"], 0x7ffc /* 35 vars */) = 0 <0.000652>
28060 23:07:08.495651 access("/etc/ld.so.preload", R_OK) = -1 ENOENT (No such file or directory) <0.000115>
28060 23:07:08.496006 write(1, "a) = b", 6) = 6 <0.000010>
28061 23:07:08.496100 futex(0x7f, FUTEX_WAIT_PRIVATE, 2, NULL <unfinished ...>
28060 23:07:08.496200 write(1, "x", 1) = 1 <0.000030>
28061 23:07:08.496300 <... futex resumed>) = 0 <0.000200>
28060 23:07:08.496400 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED} ---
28060 23:07:08.496500 exit_group(0)          = ?
28060 23:07:08.496600 +++ exited with 0 +++
"#;
        let l = SyscallLatencies::parse(text).unwrap();
        assert_eq!(l.signals, 1);
        let write = l.get("write").unwrap();
        assert_eq!((write.calls, write.errors), (2, 0));
        let s = write.latency_ns.unwrap();
        assert_eq!(s.count, 2);
        assert!(s.max >= 29_000 && s.max <= 30_100, "{s:?}");
        assert_eq!(l.get("access").unwrap().errors, 1);
        assert_eq!(l.get("futex").unwrap().calls, 1);
        let exit = l.get("exit_group").unwrap();
        assert_eq!((exit.calls, exit.latency_ns), (1, None));
        assert_eq!(l.syscalls[0].syscall, "execve");
    }

    #[test]
    fn garbage_trace_lines_are_errors() {
        for bad in [
            "hello world",
            "123 12:00:00.1 open(",
            "1 1:1.1 <... x",
            "f(a) = 0 <x>",
        ] {
            assert!(SyscallLatencies::parse(bad).is_err(), "{bad:?}");
        }
    }
}
