//! Where the report of a command that runs a program goes, and the rule that no output may
//! be an input or another output.

use std::io::{self, Write as _};
use std::path::Path;

use crate::SysError;
use crate::capture::{Captured, StderrCapture};
use crate::output::OutputPath;

/// Where a report goes: standard error, so that the program's standard output stays exactly
/// its own, or a file checked before the work.
#[derive(Debug)]
pub enum ReportSink {
    /// Standard error.
    Stderr,
    /// A file (or device, FIFO, descriptor).
    File(OutputPath),
}

impl From<Option<OutputPath>> for ReportSink {
    /// The file when there is one, else standard error.
    fn from(file: Option<OutputPath>) -> ReportSink {
        file.map_or(ReportSink::Stderr, ReportSink::File)
    }
}

impl ReportSink {
    /// The file, if the report goes to one.
    #[must_use]
    pub fn file(&self) -> Option<&OutputPath> {
        match self {
            ReportSink::File(f) => Some(f),
            ReportSink::Stderr => None,
        }
    }

    /// For a JSON report on standard error, captures standard error until
    /// [`ReportSink::end_capture`], so that what the program and its profiler write there goes
    /// into the document (see [`ReportSink::emit_captured`]) and standard error holds only
    /// JSON. Call it just before the run and end it just after.
    #[must_use]
    pub fn capture_for_json(&self, json: bool) -> Option<StderrCapture> {
        if !json || matches!(self, ReportSink::File(_)) {
            return None;
        }
        // Without a capture the report still goes out, beside the program's messages.
        StderrCapture::start().ok()
    }

    /// Ends a capture of [`ReportSink::capture_for_json`]: standard error is back, and what
    /// it caught is returned.
    ///
    /// # Errors
    /// When the captured text cannot be read back.
    pub fn end_capture(capture: Option<StderrCapture>) -> io::Result<Option<Captured>> {
        capture.map(StderrCapture::finish).transpose()
    }

    /// Writes the whole report. When a capture caught something, the report is a JSON
    /// object and gets it as `program_stderr` (with `program_stderr_dropped_bytes`, the bytes
    /// left out when only the end was kept).
    ///
    /// # Errors
    /// When the file cannot be written or the report is not JSON.
    pub fn emit_captured(&self, text: &str, captured: Option<Captured>) -> io::Result<()> {
        let Some(captured) = captured else {
            return self.emit(text);
        };
        let mut document: serde_json::Value = serde_json::from_str(text)?;
        if let Some(map) = document.as_object_mut() {
            map.insert("program_stderr".into(), captured.text.into());
            map.insert(
                "program_stderr_dropped_bytes".into(),
                captured.dropped_bytes.into(),
            );
        }
        self.emit(&(serde_json::to_string_pretty(&document)? + "\n"))
    }

    /// Writes the whole report.
    ///
    /// # Errors
    /// When the file cannot be written. A closed or full standard error is not an error: it
    /// cannot be reported anywhere else.
    pub fn emit(&self, text: &str) -> io::Result<()> {
        match self {
            ReportSink::Stderr => {
                let mut err = io::stderr().lock();
                let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
                Ok(())
            }
            ReportSink::File(out) => out.write(text.as_bytes()),
        }
    }
}

/// Refuses outputs that are one of the inputs (the same file through any path, link or hard
/// link), since writing one would destroy the input before or while it is read, and two
/// outputs that are one file, since only the last written would be left. `-` as an input is
/// standard input.
///
/// # Errors
/// [`SysError::OutputIsInput`] or [`SysError::SameOutput`].
pub fn refuse_overwriting_inputs(
    outputs: &[&OutputPath],
    inputs: &[&Path],
) -> Result<(), SysError> {
    for output in outputs {
        for input in inputs {
            let same = if input.as_os_str() == "-" {
                output.is_same_as_descriptor(0)
            } else {
                output.is_same_file(input)
            };
            if same {
                return Err(SysError::OutputIsInput {
                    output: output.path().to_path_buf(),
                    input: input.to_path_buf(),
                });
            }
        }
    }
    for (i, a) in outputs.iter().enumerate() {
        for b in &outputs[i + 1..] {
            let one_file = a.is_replaced() && a.target().is_some() && a.target() == b.target();
            let one_descriptor = a.descriptor().is_some() && a.descriptor() == b.descriptor();
            if one_file || one_descriptor {
                return Err(SysError::SameOutput {
                    first: a.path().to_path_buf(),
                    second: b.path().to_path_buf(),
                });
            }
        }
    }
    Ok(())
}

impl OutputPath {
    /// [`OutputPath::new`] for an output the user named. When it is standard output, the
    /// reports [`print`](crate::stdout::print) writes go to standard error from now on, so that
    /// the output's bytes stay alone.
    ///
    /// # Errors
    /// [`SysError::Unwritable`] as [`OutputPath::new`] says.
    pub fn named(path: &Path) -> Result<OutputPath, SysError> {
        let out = OutputPath::new(path).map_err(SysError::Unwritable)?;
        if out.descriptor() == Some(1) {
            crate::stdout::hand_over();
        }
        Ok(out)
    }
}

/// Checks every output a command names, before any work: each is [named](OutputPath::named),
/// and none is another or one of `inputs` ([`refuse_overwriting_inputs`]).
///
/// # Errors
/// The first output that cannot be written, or one that is an input or another output.
pub fn check_outputs<const N: usize>(
    paths: [Option<&Path>; N],
    inputs: &[&Path],
) -> Result<[Option<OutputPath>; N], SysError> {
    let checked = named_each(paths)?;
    let all: Vec<&OutputPath> = checked.iter().flatten().collect();
    refuse_overwriting_inputs(&all, inputs)?;
    Ok(checked)
}

/// Refuses an output that is one of `others`, files that something else will write (a
/// benchmarked program's `--output`), whether or not they exist yet: only the last written
/// would be left. Devices and FIFOs may be shared.
///
/// # Errors
/// [`SysError::SameOutput`].
pub fn refuse_shared_destinations(
    outputs: &[&OutputPath],
    others: &[&Path],
) -> Result<(), SysError> {
    for other in others {
        // Found without creating anything: `other` is only ever opened in place.
        let file = crate::output::replaced_file(other);
        // An existing file is also matched by inode, through a descriptor (`-` with standard
        // output redirected to it) or a link; devices and FIFOs take both writers.
        let same = |o: &&&OutputPath| {
            (o.is_replaced() && file.is_some() && o.target() == file.as_deref())
                || o.is_same_file(other)
        };
        if let Some(output) = outputs.iter().find(same) {
            return Err(SysError::SameOutput {
                first: output.path().to_path_buf(),
                second: other.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// [`check_outputs`] for a command whose `first` output is always named (a picture, a
/// converted file) and whose `others` are optional; checked in that order.
///
/// # Errors
/// As [`check_outputs`].
pub fn check_named_outputs<const N: usize>(
    first: &Path,
    others: [Option<&Path>; N],
    inputs: &[&Path],
) -> Result<(OutputPath, [Option<OutputPath>; N]), SysError> {
    let first = OutputPath::named(first)?;
    let others = named_each(others)?;
    let all: Vec<&OutputPath> = std::iter::once(&first)
        .chain(others.iter().flatten())
        .collect();
    refuse_overwriting_inputs(&all, inputs)?;
    Ok((first, others))
}

/// Each path [named](OutputPath::named), stopping at the first that cannot be written.
fn named_each<const N: usize>(
    paths: [Option<&Path>; N],
) -> Result<[Option<OutputPath>; N], SysError> {
    let mut checked: [Option<OutputPath>; N] = std::array::from_fn(|_| None);
    for (slot, path) in checked.iter_mut().zip(paths) {
        *slot = path.map(OutputPath::named).transpose()?;
    }
    Ok(checked)
}

impl ReportSink {
    /// The sink for a report file the user named, checked now and not to be one of `inputs`;
    /// standard error without one.
    ///
    /// # Errors
    /// As [`check_outputs`].
    pub fn named(path: Option<&Path>, inputs: &[&Path]) -> Result<ReportSink, SysError> {
        let [file] = check_outputs([path], inputs)?;
        Ok(ReportSink::from(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_outputs_stop_at_the_first_problem() {
        let dir = tempfile::tempdir().expect("temp dir");
        let input = dir.path().join("in.txt");
        std::fs::write(&input, "x").expect("write");
        let out = dir.path().join("out.txt");
        let missing = dir.path().join("no/such/dir/out.txt");
        let [first, second] = check_outputs([Some(out.as_path()), None], &[&input]).expect("ok");
        assert!(first.is_some() && second.is_none());
        assert!(matches!(
            check_outputs([Some(missing.as_path()), Some(input.as_path())], &[&input]),
            Err(SysError::Unwritable(_))
        ));
        assert!(matches!(
            check_outputs([Some(out.as_path()), Some(input.as_path())], &[&input]),
            Err(SysError::OutputIsInput { .. })
        ));
        assert!(matches!(
            ReportSink::named(Some(&out), &[]),
            Ok(ReportSink::File(_))
        ));
        assert!(matches!(
            ReportSink::named(None, &[&input]),
            Ok(ReportSink::Stderr)
        ));
        let (first, [second]) = check_named_outputs(&out, [None], &[&input]).expect("ok");
        assert!(first.path() == out && second.is_none());
        assert!(matches!(
            check_named_outputs(&out, [Some(out.as_path())], &[]),
            Err(SysError::SameOutput { .. })
        ));
    }

    #[test]
    fn an_output_may_be_neither_an_input_nor_another_output() {
        let dir = tempfile::tempdir().expect("temp dir");
        let input = dir.path().join("in.txt");
        std::fs::write(&input, "x").expect("write");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&input, &link).expect("symlink");
        let through_link = OutputPath::new(&link).expect("output");
        assert!(matches!(
            refuse_overwriting_inputs(&[&through_link], &[&input]),
            Err(SysError::OutputIsInput { .. })
        ));
        let out = OutputPath::new(&dir.path().join("out.txt")).expect("output");
        let again = OutputPath::new(&dir.path().join("./out.txt")).expect("output");
        assert!(refuse_overwriting_inputs(&[&out], &[&input]).is_ok());
        assert!(matches!(
            refuse_overwriting_inputs(&[&out, &again], &[]),
            Err(SysError::SameOutput { .. })
        ));
    }
}
