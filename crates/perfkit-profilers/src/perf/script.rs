//! `perf script` folded into stacks, streamed through inferno; `perf report --stdio`.

use std::io::{self, BufRead, BufReader, Cursor, Read};
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
    /// The name flamegraphs print after counts.
    #[must_use]
    pub fn count_name(self, event: &str) -> &'static str {
        match self {
            CountUnit::Samples => "samples",
            CountUnit::Period
                if event.starts_with("cpu-clock") || event.starts_with("task-clock") =>
            {
                "ns"
            }
            CountUnit::Period => "events",
        }
    }
}

/// Options for folding perf samples.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldOptions {
    /// Resolve inlined functions into their own frames (slow: `perf script` then runs addr2line
    /// for every address, 3–9× longer). Off by default.
    pub inline: bool,
    /// Count samples (default) or sum periods.
    pub unit: CountUnit,
    /// Keep processes apart (`comm-PID` as the root frame).
    pub per_process: bool,
    /// Keep threads apart (`comm-PID/TID` as the root frame).
    pub per_thread: bool,
    /// Mark kernel frames with `_[k]`.
    pub annotate_kernel: bool,
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
) -> Result<FoldedStacks, ProfilerError> {
    if !data.is_file() {
        return Err(ProfilerError::InvalidOption(format!(
            "{} does not exist or is not a file",
            data.display()
        )));
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
    if folded.is_empty() {
        return Err(ProfilerError::NoSamples(format!(
            "{} holds no samples: the program ran too briefly for the sampling frequency, or \
             perf could not sample it; run it longer or raise the frequency (-F)",
            data.display()
        )));
    }
    Ok(folded)
}

/// Folds `perf script` text (as written by `perf script` with its default or `-F` fields)
/// from a reader, streaming.
///
/// The first sample decides the event (samples of other events are skipped, as mixing e.g.
/// `cycles` and `instructions` would mislead). Input that is not perf script output is a
/// [`ProfilerError::Parse`] error.
pub fn fold_perf_script<R: BufRead>(
    mut reader: R,
    options: &FoldOptions,
) -> Result<FoldedStacks, ProfilerError> {
    let (prefix, event) = sniff_event(&mut reader)?;
    let Some(event) = event else {
        return Ok(FoldedStacks::new());
    };
    let mut folder_options = Options::default();
    folder_options.annotate_kernel = options.annotate_kernel;
    folder_options.event_filter = Some(event);
    folder_options.include_pid = options.per_process || options.per_thread;
    folder_options.include_tid = options.per_thread;
    folder_options.nthreads =
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut folder = Folder::from(folder_options);
    let input = Cursor::new(prefix).chain(reader);
    let mut out = Vec::new();
    let result = catch_unwind(AssertUnwindSafe(|| match options.unit {
        CountUnit::Samples => folder.collapse(StripPeriods::new(input), &mut out),
        CountUnit::Period => folder.collapse(input, &mut out),
    }));
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
            return Err(ProfilerError::parse(
                "perf script output",
                0,
                format!("not UTF-8 text: {e}"),
            ));
        }
        Ok(Err(e)) => return Err(ProfilerError::io("reading perf script output", e)),
        Err(_) => {
            return Err(ProfilerError::parse(
                "perf script output",
                0,
                "the stack folder rejected the input; is it `perf script` output?",
            ));
        }
    }
    FoldedStacks::from_reader(out.as_slice())
}

/// Reads up to the first sample header and returns the bytes read plus the event name.
/// `None` for input without any sample (only comments and blank lines).
fn sniff_event<R: BufRead>(reader: &mut R) -> Result<(Vec<u8>, Option<String>), ProfilerError> {
    let mut prefix = Vec::new();
    let mut number = 0;
    loop {
        let start = prefix.len();
        let read = reader
            .read_until(b'\n', &mut prefix)
            .map_err(|e| ProfilerError::io("reading perf script output", e))?;
        number += 1;
        if read == 0 {
            return Ok((prefix, None));
        }
        let line = String::from_utf8_lossy(&prefix[start..]);
        let trimmed = line.trim_end();
        if trimmed.trim().is_empty() || trimmed.starts_with('#') {
            continue;
        }
        return match event_of_header(trimmed) {
            Some(event) => Ok((prefix, Some(event))),
            None => Err(ProfilerError::parse(
                "perf script output",
                number,
                format!(
                    "expected a sample header like `comm PID TIME: EVENT:`, found {trimmed:.80?}; \
                     give perf script output, a folded file or a perf.data file"
                ),
            )),
        };
    }
}

/// The event of a sample header line such as `app 123/123 4691.3: 1003009 cpu-clock:`.
/// Mirrors how inferno finds it: the first all-digit (or `PID/TID`) word followed by a
/// space, then the text between the next two colons, last word.
fn event_of_header(line: &str) -> Option<String> {
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    let (pid_end, _) = header_pid(line)?;
    let rest = &line[pid_end..];
    let mut parts = rest.splitn(3, ':');
    parts.next()?;
    let event = parts.next()?.trim().rsplit(' ').next()?.trim();
    parts.next()?;
    (!event.is_empty()).then(|| event.to_owned())
}

/// A reader that removes the sample period from header lines, so the folder counts samples.
struct StripPeriods<R> {
    inner: R,
    line: Vec<u8>,
    pos: usize,
}

impl<R: BufRead> StripPeriods<R> {
    fn new(inner: R) -> Self {
        StripPeriods {
            inner,
            line: Vec::new(),
            pos: 0,
        }
    }
}

impl<R: BufRead> Read for StripPeriods<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for StripPeriods<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.line.len() {
            self.line.clear();
            self.pos = 0;
            self.inner.read_until(b'\n', &mut self.line)?;
            if let Some(stripped) = strip_period(&self.line) {
                self.line = stripped;
            }
        }
        Ok(&self.line[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.line.len());
    }
}

/// The header line without its period (`app 1 1.0: 1003009 cpu-clock:` → `app 1 1.0: cpu-clock:`),
/// or `None` when there is nothing to strip.
fn strip_period(line: &[u8]) -> Option<Vec<u8>> {
    let first = *line.first()?;
    if first.is_ascii_whitespace() || first == b'#' {
        return None;
    }
    let text = std::str::from_utf8(line).ok()?;
    let (pid_end, _) = header_pid(text)?;
    let rest = &text[pid_end..];
    let first_colon = rest.find(':')?;
    let after = &rest[first_colon + 1..];
    let second_colon = after.find(':')?;
    let middle = &after[..second_colon];
    let words: Vec<&str> = middle.split_whitespace().collect();
    if words.len() < 2 || !words[words.len() - 2].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let event = words[words.len() - 1];
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..=pid_end + first_colon]);
    out.push(' ');
    out.push_str(event);
    out.push_str(&after[second_colon..]);
    Some(out.into_bytes())
}

/// The end offset and text of the `PID` or `PID/TID` word of a header line (the first such
/// word after the command name).
fn header_pid(line: &str) -> Option<(usize, &str)> {
    let mut pos = 0;
    let mut first = true;
    for word in line.split(' ') {
        let start = pos;
        pos += word.len() + 1;
        if std::mem::take(&mut first) || word.is_empty() {
            continue;
        }
        let mut parts = word.split('/');
        let is_pid = word.split('/').count() <= 2
            && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if is_pid {
            return Some((start + word.len(), word));
        }
    }
    None
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
    fn finds_the_event_in_header_lines() {
        for (line, event) in [
            ("sh 25542/25542  4691.368590: cpu-clock: ", "cpu-clock"),
            ("sh 25542  4691.368590:    1003009 cpu-clock: ", "cpu-clock"),
            ("V8 WorkerThread 25607 4794564.109216: cycles:", "cycles"),
            ("java 12688 [002] 6544038.708352: cpu-clock:", "cpu-clock"),
            ("perf-exec 7/7 1.0: 1 cpu-clock:u: ", "cpu-clock"),
        ] {
            assert_eq!(event_of_header(line).as_deref(), Some(event), "{line}");
        }
        for line in [
            "hello world",
            "\t 1539b [unknown] (/usr/bin/dash)",
            "a;b;c 12",
            "",
        ] {
            assert_eq!(event_of_header(line), None, "{line}");
        }
    }

    #[test]
    fn folds_samples_not_periods() {
        let text = "app 1/1 1.0: 1003009 cpu-clock: \n\t 10 work (/app)\n\t 20 main (/app)\n\n\
                    app 1/1 1.1: 1003009 cpu-clock: \n\t 10 work (/app)\n\t 20 main (/app)\n\n";
        let folded = fold_perf_script(text.as_bytes(), &FoldOptions::default()).unwrap();
        assert_eq!(folded.to_text(), "app;main;work 2\n");
    }

    #[test]
    fn periods_are_kept_only_when_asked() {
        let text = "app 1/1 1.0: 1003009 cpu-clock: \n\t 10 work (/app)\n\n\
                    app 1/1 1.1: 1003009 cpu-clock: \n\t 10 work (/app)\n\n";
        let options = FoldOptions {
            unit: CountUnit::Period,
            ..FoldOptions::default()
        };
        let folded = fold_perf_script(text.as_bytes(), &options).unwrap();
        assert_eq!(folded.to_text(), "app;work 2006018\n");
    }

    #[test]
    fn strip_period_leaves_other_lines_alone() {
        let stripped = strip_period(b"a b 12 1.5: 999 cpu-clock:u: x\n").unwrap();
        assert_eq!(
            String::from_utf8(stripped).unwrap(),
            "a b 12 1.5: cpu-clock:u: x\n"
        );
        assert!(strip_period(b"a 12 1.5: cpu-clock:\n").is_none());
        assert!(strip_period(b"\t 10 work (/app)\n").is_none());
        assert!(strip_period(b"").is_none());
    }

    #[test]
    fn garbage_is_a_parse_error() {
        let err = fold_perf_script(&b"hello\n\nworld\n"[..], &FoldOptions::default()).unwrap_err();
        assert!(matches!(err, ProfilerError::Parse { .. }), "{err}");
        let empty =
            fold_perf_script(&b"# only a comment\n\n"[..], &FoldOptions::default()).unwrap();
        assert!(empty.is_empty());
    }
}
