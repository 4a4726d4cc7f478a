//! `perf script` folded into stacks, streamed through inferno; `perf report --stdio`.

use crate::Empty;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::os::unix::process::ExitStatusExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::process::{Child, Stdio};
use std::thread::JoinHandle;

use inferno::collapse::Collapse;
use inferno::collapse::perf::{Folder, Options};
use serde::{Deserialize, Serialize};

use super::tail;
use crate::{FoldedStacks, ProfilerError, Tool, ToolInfo};

/// What the counts of a folded profile mean.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountUnit {
    /// One per sample (the default): percentages are shares of samples.
    #[default]
    Samples,
    /// The sample period summed: nanoseconds of CPU time for `cpu-clock`, cycles for `cycles`.
    Period,
}

impl CountUnit {
    /// The name flamegraphs print after counts of `event`: `samples`; with periods, `ns` for
    /// the clock events (their period is nanoseconds) and `events` for counters such as
    /// `cycles`, `instructions` or `page-faults`.
    #[must_use]
    pub fn count_name(self, event: &str) -> &'static str {
        let base = event.split(':').next().unwrap_or_default();
        match self {
            CountUnit::Samples => "samples",
            CountUnit::Period if matches!(base, "cpu-clock" | "task-clock") => "ns",
            CountUnit::Period => "events",
        }
    }
}

/// Options for folding perf samples.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldOptions {
    /// Resolve inlined functions into their own frames (slow: `perf script` then runs addr2line
    /// for every address, which takes several times as long). Off by default.
    pub inline: bool,
    /// Count samples (default) or sum periods.
    pub unit: CountUnit,
    /// Keep processes apart (`comm-PID` as the root frame).
    pub per_process: bool,
    /// Keep threads apart (`comm-PID/TID` as the root frame).
    pub per_thread: bool,
    /// Mark kernel frames with `_[k]`.
    #[serde(default)]
    pub annotate_kernel: bool,
    /// Mark frames of JIT-compiled code (from `/tmp/perf-PID.map` or `jitted-*.so`) with `_[j]`.
    #[serde(default)]
    pub annotate_jit: bool,
    /// Name unresolved frames by their address (`[libfoo.so <7f12ab>]`) instead of only their
    /// module.
    #[serde(default)]
    pub include_addrs: bool,
}

/// Stacks folded from perf samples, with what their counts are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PerfFold {
    /// The folded stacks.
    pub stacks: FoldedStacks,
    /// The event that was folded (perf script text can hold several; the first one seen is
    /// kept, as mixing e.g. `cycles` and `instructions` would mislead). Empty when the input
    /// had no sample.
    pub event: String,
    /// Whether counts are samples or summed periods.
    pub unit: CountUnit,
}

impl PerfFold {
    /// What one count is: `samples`, `ns` or `events` (see [`CountUnit::count_name`]).
    #[must_use]
    pub fn count_name(&self) -> &'static str {
        self.unit.count_name(&self.event)
    }

    /// Whether the counts are nanoseconds: periods of a clock event.
    #[must_use]
    pub fn counts_nanoseconds(&self) -> bool {
        self.count_name() == "ns"
    }

    /// The event without a trailing modifier such as `:u` or `:ppp` (a tracepoint such as
    /// `sched:sched_switch` keeps its colon), or `events` when the profile does not say.
    #[must_use]
    pub fn event_kind(&self) -> &str {
        let modifier = |m: &str| !m.is_empty() && m.chars().all(|c| "ukhIGHpPSDWe".contains(c));
        match self.event.rsplit_once(':') {
            Some((kind, m)) if modifier(m) => kind,
            _ if self.event.is_empty() => "events",
            _ => &self.event,
        }
    }

    /// Whether both profiles say which event they count and the events differ, so that
    /// their shares compare different things.
    #[must_use]
    pub fn counts_other_event(&self, other: &PerfFold) -> bool {
        !self.event.is_empty() && !other.event.is_empty() && self.event != other.event
    }
}

/// Runs `perf script` on a perf.data file and folds its stacks as they stream out (no
/// intermediate text file; memory grows with distinct stacks, not with the number of samples).
///
/// # Errors
/// [`ProfilerError::NoSamples`] when the recording has no samples.
pub fn fold_perf_data(
    perf: &ToolInfo,
    data: &Path,
    options: &FoldOptions,
) -> Result<PerfFold, ProfilerError> {
    if !data.is_file() {
        return Err(ProfilerError::MissingInput {
            path: data.to_path_buf(),
        });
    }
    let mut fields = String::from("comm,pid,tid,time,event,ip,sym,dso");
    if options.unit == CountUnit::Period {
        fields.push_str(",period");
    }
    let mut command = perf.command();
    command
        .arg("script")
        .arg("-i")
        .arg(data)
        .args(["-F", &fields])
        .arg(if options.inline {
            "--inline"
        } else {
            "--no-inline"
        })
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| ProfilerError::ToolBroken {
        tool: Tool::Perf,
        path: perf.path.clone(),
        detail: format!("perf script could not be started: {e}"),
    })?;
    let stderr = drain_stderr(&mut child);
    let stdout = child.stdout.take().ok_or_else(|| {
        ProfilerError::io("perf script", io::Error::other("stdout was not captured"))
    })?;
    let folded = fold_perf_script(BufReader::with_capacity(1 << 20, stdout), options);
    // Whatever happened while folding, reap perf script.
    let status = child.wait();
    let stderr = stderr.join().unwrap_or_default();
    let status = status.map_err(|e| ProfilerError::io("waiting for perf script", e))?;
    // When folding stopped early, perf script died of the closed pipe: the folding error
    // is the one that explains what happened.
    let folded = match folded {
        Err(e) if status.signal() == Some(libc::SIGPIPE) => return Err(e),
        folded => folded,
    };
    if !status.success() {
        return Err(ProfilerError::ToolFailed {
            tool: Tool::Perf,
            detail: format!(
                "perf script -i {} ended with {status}: {}",
                data.display(),
                tail(&stderr, 5)
            ),
        });
    }
    let folded = folded?;
    if folded.stacks.is_empty() {
        return Err(ProfilerError::NoSamples(Empty::Recording(
            data.to_path_buf(),
        )));
    }
    Ok(folded)
}

/// Folds `perf script` text (as written by `perf script` with its default or `-F` fields, by
/// any perf version) from a reader, streaming.
///
/// Sample headers are read byte by byte, whatever their encoding (the kernel cuts thread
/// names at 15 bytes, often inside a UTF-8 character); stacks are folded by inferno's
/// `collapse-perf`, so with [`CountUnit::Period`] the result equals what `inferno-collapse-perf`
/// prints for the same text. The first sample decides the event (samples of other events
/// are skipped, as mixing e.g. `cycles` and `instructions` would mislead). Input whose first
/// line is not a sample header is a [`ProfilerError::Parse`] error.
pub fn fold_perf_script<R: BufRead>(
    mut reader: R,
    options: &FoldOptions,
) -> Result<PerfFold, ProfilerError> {
    let (prefix, event) = sniff_event(&mut reader)?;
    let Some(event) = event else {
        return Ok(PerfFold {
            unit: options.unit,
            ..PerfFold::default()
        });
    };
    let mut folder_options = Options::default();
    folder_options.annotate_kernel = options.annotate_kernel;
    folder_options.annotate_jit = options.annotate_jit;
    folder_options.include_addrs = options.include_addrs;
    folder_options.event_filter = Some(String::from_utf8_lossy(&event.filter).into_owned());
    folder_options.include_pid = options.per_process || options.per_thread;
    folder_options.include_tid = options.per_thread;
    folder_options.nthreads =
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut folder = Folder::from(folder_options);
    let mut headers = Headers::new(
        Cursor::new(prefix).chain(reader),
        event.filter,
        options.unit,
    );
    let mut out = Vec::new();
    let result = catch_unwind(AssertUnwindSafe(|| folder.collapse(&mut headers, &mut out)));
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(ProfilerError::io("reading perf script output", e)),
        Err(_) => {
            return Err(ProfilerError::parse(
                "perf script output",
                0,
                "the stack folder rejected the input; is it `perf script` output?",
            ));
        }
    }
    if headers.period_total > u128::from(u64::MAX) {
        return Err(ProfilerError::PeriodOverflow);
    }
    Ok(PerfFold {
        stacks: FoldedStacks::from_reader(out.as_slice())?,
        event: event.name,
        unit: options.unit,
    })
}

/// Whether the first line of a text profile is a perf script sample header (and not a line
/// of folded stacks, which ends with its count).
///
/// ```
/// use perfkit_profilers::perf::is_perf_script_header;
///
/// assert!(is_perf_script_header(b"           false 39654 19115.489713: 1 cycles:u:"));
/// assert!(is_perf_script_header(b"java 19983 cycles:"));
/// assert!(!is_perf_script_header(b"main;std::io::read: 12"));
/// assert!(!is_perf_script_header(b"main;work 31.0"));
/// ```
#[must_use]
pub fn is_perf_script_header(line: &[u8]) -> bool {
    let line = line.trim_ascii_end();
    let last = line
        .iter()
        .rposition(|&b| b == b' ' || b == b'\t')
        .map_or(line, |i| &line[i + 1..]);
    let ends_with_count = last.first().is_some_and(u8::is_ascii_digit)
        && last.iter().all(|&b| b.is_ascii_digit() || b == b'.');
    !ends_with_count && Header::parse(line).is_some_and(|h| h.event.is_some())
}

/// The event of the first sample: the bytes headers are matched against, and its name.
struct SniffedEvent {
    /// The event field as collapse-perf reads it (between the colons after the time).
    filter: Vec<u8>,
    /// The event's name for people: the filter, or the word before the first colon for
    /// headers that have no time field (`java 19983 cycles:` or `java 19983 cycles:ppp:`,
    /// where collapse-perf matches on the empty field or the modifiers).
    name: String,
}

/// The most lines read before the first sample header that names its event.
const SNIFF_LINES: usize = 10_000;

/// Reads up to the first sample header that names its event and returns the bytes read plus
/// the event. `None` for input without any sample (only comments and blank lines).
fn sniff_event<R: BufRead>(
    reader: &mut R,
) -> Result<(Vec<u8>, Option<SniffedEvent>), ProfilerError> {
    let mut prefix = Vec::new();
    let mut data_lines = 0;
    for number in 1.. {
        let start = prefix.len();
        let read = reader
            .read_until(b'\n', &mut prefix)
            .map_err(|e| ProfilerError::io("reading perf script output", e))?;
        if read == 0 {
            return Ok((prefix, None));
        }
        let line = prefix[start..].trim_ascii_end();
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        match Header::parse(line) {
            Some(header) => {
                if let Some(event) = header.event {
                    let before = header.event_before_colon();
                    let is_time = !before.is_empty()
                        && before.iter().all(|&b| b.is_ascii_digit() || b == b'.');
                    let name = if is_time { event } else { before };
                    let sniffed = SniffedEvent {
                        filter: event.to_vec(),
                        name: String::from_utf8_lossy(name).into_owned(),
                    };
                    return Ok((prefix, Some(sniffed)));
                }
            }
            None if data_lines == 0 => {
                let text = String::from_utf8_lossy(line);
                return Err(ProfilerError::parse(
                    "perf script output",
                    number,
                    format!(
                        "expected a sample header like `comm PID TIME: EVENT:`, found \
                         {text:.80?}; give perf script output, a folded file or a perf.data file"
                    ),
                ));
            }
            None => {}
        }
        data_lines += 1;
        if data_lines >= SNIFF_LINES {
            break;
        }
    }
    Err(ProfilerError::parse(
        "perf script output",
        0,
        format!("no sample header names its event in the first {SNIFF_LINES} lines"),
    ))
}

/// A sample header line of perf script output, such as
/// `app 123/124 4691.3: 1003009 cpu-clock:` or `           false 39654 19115.48: 1 cycles:u:`,
/// read byte by byte the way collapse-perf reads it: the command name runs up to the first
/// word of digits (`PID` or `PID/TID`) followed by a space; the event is the last word
/// between the next two colons, and the word before it, if a number, is the period.
#[derive(Debug, PartialEq, Eq)]
struct Header<'a> {
    line: &'a [u8],
    /// Where the text after `PID ` starts.
    after_pid: usize,
    /// The event field (`None` when the header has no colon after the PID).
    event: Option<&'a [u8]>,
    /// The period, when there is one collapse-perf would count, and its byte range.
    period: Option<(u64, std::ops::Range<usize>)>,
    /// The sample's single frame, when the recording had no call graph and perf printed it on
    /// the header line.
    inline_frame: bool,
    /// Where that frame's text starts.
    frame_start: usize,
}

impl<'a> Header<'a> {
    fn parse(line: &'a [u8]) -> Option<Header<'a>> {
        let after_pid = Self::after_pid(line)?;
        let rest = &line[after_pid..];
        let Some(first) = rest.iter().position(|&b| b == b':') else {
            return Some(Header {
                line,
                after_pid,
                event: None,
                period: None,
                inline_frame: false,
                frame_start: line.len(),
            });
        };
        let field_start = after_pid + first + 1;
        let field_len = line[field_start..]
            .iter()
            .position(|&b| b == b':')
            .unwrap_or(line.len() - field_start);
        let field = &line[field_start..field_start + field_len];
        let event_start = field.iter().rposition(|&b| b == b' ').map_or(0, |i| i + 1);
        let event = &field[event_start..];
        let period = event_start.checked_sub(1).and_then(|space| {
            let word_start = field[..space]
                .iter()
                .rposition(|&b| b == b' ')
                .map_or(0, |i| i + 1);
            let value = parse_u64(&field[word_start..space])?;
            Some((value, field_start + word_start..field_start + space))
        });
        // After the event's colon: modifiers up to the next colon or space, then the frame.
        let after_event = field_start + field_len;
        let mut frame_start = line.len();
        let inline_frame = after_event < line.len() && {
            let post = &line[after_event + 1..];
            let skip = post
                .iter()
                .position(|&b| b == b':' || b == b' ')
                .map_or(0, |i| i + 1);
            frame_start = after_event + 1 + skip;
            post[skip..].iter().any(|b| !b.is_ascii_whitespace())
        };
        Some(Header {
            line,
            after_pid,
            event: Some(event),
            period,
            inline_frame,
            frame_start,
        })
    }

    /// The offset just past `PID ` (or `PID/TID `): the first word of digits that follows
    /// some other text and ends with a space.
    fn after_pid(line: &[u8]) -> Option<usize> {
        let mut all_digits = false;
        let mut last_was_space = false;
        for (i, &b) in line.iter().enumerate() {
            if b == b' ' {
                if all_digits && !last_was_space {
                    return Some(i + 1);
                }
                all_digits = true;
            } else if !(b.is_ascii_digit() || b == b'/') {
                all_digits = false;
            }
            last_was_space = b == b' ';
        }
        None
    }

    /// The last word before the first colon after the PID: the time, or the event of a
    /// header without a time field.
    fn event_before_colon(&self) -> &'a [u8] {
        let rest = &self.line[self.after_pid..];
        let end = rest.iter().position(|&b| b == b':').unwrap_or(rest.len());
        let field = &rest[..end];
        let start = field.iter().rposition(|&b| b == b' ').map_or(0, |i| i + 1);
        &field[start..]
    }
}

/// `word` as Rust's `u64` parser reads it (collapse-perf parses periods with it).
fn parse_u64(word: &[u8]) -> Option<u64> {
    std::str::from_utf8(word).ok()?.parse().ok()
}

/// A reader between perf script text and the folder. It follows the text the way the folder
/// does (header, stack lines, blank line) and, on each header of the folded event, removes the
/// period when samples are counted or adds it to a wide total when periods are summed, so
/// that a sum too large for a count is reported instead of wrapping. A header that carries
/// its only frame is followed by a blank line, which ends the sample for the folder even
/// when the header is of another event.
struct Headers<R> {
    inner: R,
    event: Vec<u8>,
    unit: CountUnit,
    in_sample: bool,
    line: Vec<u8>,
    pos: usize,
    /// Every period of the folded event, summed.
    period_total: u128,
}

impl<R: BufRead> Headers<R> {
    fn new(inner: R, event: Vec<u8>, unit: CountUnit) -> Self {
        Headers {
            inner,
            event,
            unit,
            in_sample: false,
            line: Vec::new(),
            pos: 0,
            period_total: 0,
        }
    }

    fn next_line(&mut self) -> io::Result<()> {
        self.line.clear();
        self.pos = 0;
        if self.inner.read_until(b'\n', &mut self.line)? == 0 || self.line[0] == b'#' {
            return Ok(());
        }
        let body = self.line.trim_ascii_end();
        if body.is_empty() {
            self.in_sample = false;
            return Ok(());
        }
        if self.in_sample {
            guard_function_name(&mut self.line, 0);
            return Ok(());
        }
        let Some(header) = Header::parse(body) else {
            return Ok(());
        };
        self.in_sample = !header.inline_frame;
        let folded = header.event.is_none_or(|e| e == self.event);
        let inline_frame = header.inline_frame;
        let frame_start = header.frame_start;
        if let (true, Some((value, range))) = (folded, header.period) {
            match self.unit {
                CountUnit::Period => self.period_total += u128::from(value),
                CountUnit::Samples => {
                    self.line.drain(range);
                }
            }
        }
        if inline_frame {
            guard_function_name(&mut self.line, frame_start);
            if self.line.last() != Some(&b'\n') {
                self.line.push(b'\n');
            }
            self.line.push(b'\n');
        }
        Ok(())
    }
}

/// Keeps inferno's collapser from panicking on a frame's function name. It checks the last 17
/// bytes of every name for a Rust hash by slicing the string there, which panics when that
/// byte falls inside a multi-byte character (`ab数据处理线程`). Such a character is replaced
/// by as many `?` as it has bytes; every other name passes unchanged. `from` is where the
/// frame starts in `line` (after the event for a sample printed on one line).
fn guard_function_name(line: &mut Vec<u8>, from: usize) {
    if from >= line.len() || line[from..].is_ascii() {
        return;
    }
    // The collapser reads lines as lossy UTF-8, so the offsets are those of that text (`from`
    // follows an ASCII byte, where the two agree).
    let mut text = String::from_utf8_lossy(line).into_owned();
    let from = String::from_utf8_lossy(&line[..from]).len();
    let Some(frame) = text.get(from..).map(str::trim_end) else {
        return;
    };
    let Some(name) = function_name(frame) else {
        return;
    };
    let (start, end) = (from + name.start, from + name.end);
    if end - start < RUST_HASH_BYTES || text.is_char_boundary(end - RUST_HASH_BYTES) {
        return;
    }
    let cut = end - RUST_HASH_BYTES;
    let char_start = (start..cut)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(start);
    let width = text[char_start..].chars().next().map_or(1, char::len_utf8);
    text.replace_range(char_start..char_start + width, &"?".repeat(width));
    *line = text.into_bytes();
}

/// The bytes of a Rust hash suffix (`h` and 16 hex digits) that the collapser looks for.
const RUST_HASH_BYTES: usize = 17;

/// Where the function name is in a frame line `ADDR NAME[+0xOFF] (MODULE)`, found as the
/// collapser finds it.
fn function_name(frame: &str) -> Option<std::ops::Range<usize>> {
    let trimmed = frame.trim_start();
    let offset = frame.len() - trimmed.len();
    let (pc, rest) = trimmed.split_once(' ')?;
    let rest_start = offset + pc.len() + 1;
    let (name, module) = rest.rsplit_once(' ')?;
    if !(module.starts_with('(') && module.ends_with(')')) {
        return None;
    }
    let start = rest_start + (name.len() - name.trim_start().len());
    let name = name.trim();
    let name = match name.rfind("+0x") {
        Some(i) if name[i + 3..].bytes().all(|b| b.is_ascii_hexdigit()) => &name[..i],
        _ => name,
    };
    Some(start..start + name.len())
}

impl<R: BufRead> Read for Headers<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Headers<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.line.len() {
            self.next_line()?;
        }
        Ok(&self.line[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.line.len());
    }
}

fn drain_stderr(child: &mut Child) -> JoinHandle<String> {
    let stderr = child.stderr.take();
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf);
            // Keep the end: the reason for a failure is there.
            let keep = buf.len().saturating_sub(64 * 1024);
            text = String::from_utf8_lossy(&buf[keep..]).into_owned();
        }
        text
    })
}

/// `perf report --stdio` on a perf.data file, for people who want perf's own text.
pub fn perf_report(
    perf: &ToolInfo,
    data: &Path,
    extra_args: &[&str],
) -> Result<String, ProfilerError> {
    let output = perf
        .command()
        .arg("report")
        .arg("--stdio")
        .arg("-i")
        .arg(data)
        .args(extra_args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ProfilerError::io("running perf report", e))?;
    if !output.status.success() {
        return Err(ProfilerError::ToolFailed {
            tool: Tool::Perf,
            detail: format!(
                "perf report -i {} ended with {}: {}",
                data.display(),
                output.status,
                tail(&String::from_utf8_lossy(&output.stderr), 5)
            ),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kinds_drop_modifiers_but_keep_tracepoints() {
        let kind = |event: &str| {
            let fold = PerfFold {
                stacks: FoldedStacks::new(),
                event: event.to_owned(),
                unit: CountUnit::Period,
            };
            (fold.event_kind().to_owned(), fold.counts_nanoseconds())
        };
        assert_eq!(kind("cycles:u"), ("cycles".to_owned(), false));
        assert_eq!(kind("cpu-clock:ppp"), ("cpu-clock".to_owned(), true));
        assert_eq!(
            kind("sched:sched_switch"),
            ("sched:sched_switch".to_owned(), false)
        );
        assert_eq!(kind(""), ("events".to_owned(), false));
    }

    fn event_of(line: &str) -> Option<String> {
        Header::parse(line.as_bytes())
            .and_then(|h| h.event)
            .map(|e| String::from_utf8_lossy(e).into_owned())
    }

    fn fold(text: &[u8], unit: CountUnit) -> PerfFold {
        let options = FoldOptions {
            unit,
            ..FoldOptions::default()
        };
        fold_perf_script(text, &options).unwrap()
    }

    #[test]
    fn finds_the_event_in_header_lines() {
        for (line, event) in [
            ("sh 25542/25542  4691.368590: cpu-clock: ", "cpu-clock"),
            ("sh 25542  4691.368590:    1003009 cpu-clock: ", "cpu-clock"),
            ("V8 WorkerThread 25607 4794564.109216: cycles:", "cycles"),
            ("java 12688 [002] 6544038.708352: cpu-clock:", "cpu-clock"),
            ("perf-exec 7/7 1.0: 1 cpu-clock:u: ", "cpu-clock"),
            ("           false 39654 19115.489713: 1 cycles:u:", "cycles"),
            // Without a time field the event is before the first colon; collapse-perf then
            // matches on the empty field between the colons.
            ("java 19983 cycles:", ""),
        ] {
            assert_eq!(event_of(line).as_deref(), Some(event), "{line}");
        }
        for line in [
            "hello world",
            "\t 1539b [unknown] (/usr/bin/dash)",
            "a;b;c 12",
            "",
        ] {
            assert_eq!(event_of(line), None, "{line}");
        }
    }

    #[test]
    fn headers_are_read_byte_by_byte() {
        // A thread name cut inside a UTF-8 character, as the kernel does at 15 bytes.
        let mut line =
            b"ab\xe6\x95\xb0\xe6\x8d\xae\xe5\xa4\x84\xe7\x90\x86\xe7 7/7 1.0: 250000 cpu-clock:"
                .to_vec();
        let header = Header::parse(&line).unwrap();
        assert_eq!(header.event, Some(&b"cpu-clock"[..]));
        let (value, period) = header.period.clone().unwrap();
        assert_eq!((value, &line[period.clone()]), (250_000, &b"250000"[..]));
        line.drain(period);
        assert!(Header::parse(&line).unwrap().period.is_none());
    }

    #[test]
    fn folds_samples_not_periods() {
        let text = b"app 1/1 1.0: 1003009 cpu-clock: \n\t 10 work (/app)\n\t 20 main (/app)\n\n\
                    app 1/1 1.1: 1003009 cpu-clock: \n\t 10 work (/app)\n\t 20 main (/app)\n\n";
        let folded = fold(text, CountUnit::Samples);
        assert_eq!(folded.stacks.to_text(), "app;main;work 2\n");
        assert_eq!(
            (folded.event.as_str(), folded.count_name()),
            ("cpu-clock", "samples")
        );
    }

    #[test]
    fn non_utf8_headers_lose_their_period_too() {
        let text = b"ab\xe6\x95 1/1 1.0: 1003009 cpu-clock: \n\t 10 work (/app)\n\n\
                    ab\xe6\x95 1/1 1.1: 1003009 cpu-clock: \n\t 10 work (/app)\n\n";
        let folded = fold(text, CountUnit::Samples);
        assert_eq!(folded.stacks.total(), 2, "{}", folded.stacks.to_text());
        assert_eq!(fold(text, CountUnit::Period).stacks.total(), 2_006_018);
    }

    #[test]
    fn periods_are_kept_only_when_asked() {
        let text = b"app 1/1 1.0: 1003009 cpu-clock: \n\t 10 work (/app)\n\n\
                    app 1/1 1.1: 1003009 cpu-clock: \n\t 10 work (/app)\n\n";
        let folded = fold(text, CountUnit::Period);
        assert_eq!(folded.stacks.to_text(), "app;work 2006018\n");
        assert_eq!(folded.count_name(), "ns");
        let cycles = b"app 1/1 1.0: 5000 cycles:u: \n\t 10 work (/app)\n\n";
        assert_eq!(fold(cycles, CountUnit::Period).count_name(), "events");
    }

    #[test]
    fn samples_without_call_graphs_fold_to_one_frame() {
        // What perf script prints for `perf record` without -g: the frame is on the header
        // line, and there are no blank lines between samples.
        let text = b"              sh 11853/11853 24825.991472: cpu-clock:      7f11 __strcmp_avx2 (/usr/lib/libc.so.6)\n\
                     \x20             sh 11853/11853 24825.992480: cpu-clock:      5561 [unknown] (/usr/bin/dash)\n\
                     \x20             sh 11853/11853 24825.993483: cpu-clock:      7f11 __strcmp_avx2 (/usr/lib/libc.so.6)\n";
        let folded = fold(text, CountUnit::Samples);
        assert_eq!(
            folded.stacks.to_text(),
            "sh;[dash] 1\nsh;__strcmp_avx2 2\n",
            "{folded:?}"
        );
    }

    #[test]
    fn a_sample_of_another_event_does_not_swallow_the_next_ones() {
        let text = b"a 1/1 1.0: 1 cpu-clock: 10 f (/a)\n\
                     a 1/1 1.1: 1 task-clock: 10 g (/a)\n\
                     a 1/1 1.2: 1 cpu-clock: 10 h (/a)\n";
        let folded = fold(text, CountUnit::Samples);
        assert_eq!(folded.stacks.to_text(), "a;f 1\na;h 1\n");
    }

    #[test]
    fn headers_without_a_time_field_fold() {
        let text =
            b"java 19983 cycles: \n\t 10 work (/app)\n\njava 19983 cycles: \n\t 10 work (/app)\n\n";
        let folded = fold(text, CountUnit::Samples);
        assert_eq!(folded.stacks.to_text(), "java;work 2\n");
        assert_eq!(folded.event, "cycles");
    }

    #[test]
    fn periods_too_large_for_a_count_are_an_error() {
        let text = b"a 1/1 1.0: 18446744073709551615 cycles: \n\t 10 f (/a)\n\n\
                     a 1/1 1.1: 18446744073709551615 cycles: \n\t 10 g (/a)\n\n";
        let options = FoldOptions {
            unit: CountUnit::Period,
            ..FoldOptions::default()
        };
        let err = fold_perf_script(&text[..], &options).unwrap_err();
        assert!(matches!(err, ProfilerError::PeriodOverflow), "{err}");
        assert!(err.to_string().contains("add up to more than"), "{err}");
        assert_eq!(fold(text, CountUnit::Samples).stacks.total(), 2);
    }

    #[test]
    fn names_the_collapser_cannot_slice_are_kept_readable() {
        // inferno looks for a Rust hash in the last 17 bytes of a name; here byte 17 from the
        // end is inside `数`, which made it panic.
        let text = "app 1/1 1.0: 1 cpu-clock: \n\t 10 ab数据处理线程 (/app)\n\t 20 main (/app)\n\n\
                    app 1/1 1.1: 1 cpu-clock:  10 ab数据处理线程+0x1f (/app)\n";
        let folded = fold(text.as_bytes(), CountUnit::Samples);
        assert_eq!(
            folded.stacks.to_text(),
            "app;ab???据处理线程 1\napp;main;ab???据处理线程 1\n"
        );
        // Names that fit are untouched.
        // Invalid UTF-8 before a one-line sample's frame moves the frame in the lossy text.
        let text = b"a\xff\xfe 1/1 1.0: 1 cpu-clock:  10 ab\xe6\x95\xb0\xe6\x8d\xae\xe5\xa4\x84\xe7\x90\x86\xe7\xba\xbf\xe7\xa8\x8b (/app)\n";
        assert_eq!(
            fold(text, CountUnit::Samples).stacks.to_text(),
            "a\u{fffd}\u{fffd};ab???据处理线程 1\n"
        );
        let text = "app 1/1 1.0: 1 cpu-clock: \n\t 10 ab数据处理线 (/app)\n\n";
        assert_eq!(
            fold(text.as_bytes(), CountUnit::Samples).stacks.to_text(),
            "app;ab数据处理线 1\n"
        );
    }

    #[test]
    fn garbage_is_a_parse_error() {
        let err = fold_perf_script(&b"hello\n\nworld\n"[..], &FoldOptions::default()).unwrap_err();
        assert!(matches!(err, ProfilerError::Parse { .. }), "{err}");
        let empty =
            fold_perf_script(&b"# only a comment\n\n"[..], &FoldOptions::default()).unwrap();
        assert!(empty.stacks.is_empty());
    }
}
