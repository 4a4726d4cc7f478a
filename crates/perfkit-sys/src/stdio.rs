//! Where a measured program's standard input comes from and its standard output goes.
//!
//! Both change what a program does, not only how it is measured: GNU grep stops at the first
//! match when its output is `/dev/null` (it cannot matter), and a compressor given an empty
//! standard input finishes in a millisecond. [`ProgramOutput`] offers the choices hyperfine's
//! `--output` does; [`StdinSource`] hands every run the same input, replaying what perfkit's
//! own standard input holds instead of silently giving the runs nothing.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::SysError;

/// Where a measured program's standard output goes (hyperfine's `--output`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgramOutput {
    /// `/dev/null`, standard error too. Some programs notice and skip their work.
    #[default]
    Null,
    /// A pipe that perfkit reads and discards: the program writes everything, as into a
    /// pipeline. Standard error goes to `/dev/null`.
    Pipe,
    /// perfkit's own standard output and error.
    Inherit,
    /// This file, truncated before every run. Standard error goes to `/dev/null`.
    File(PathBuf),
}

impl ProgramOutput {
    /// `null`, `pipe`, `inherit`, or anything else as a file name.
    #[must_use]
    pub fn parse(text: &str) -> ProgramOutput {
        match text {
            "null" => ProgramOutput::Null,
            "pipe" => ProgramOutput::Pipe,
            "inherit" => ProgramOutput::Inherit,
            file => ProgramOutput::File(PathBuf::from(file)),
        }
    }

    /// Checks a file destination before any run: a regular file (created or truncated), a
    /// terminal, a FIFO or a character device are fine; a directory, a block device (as root a
    /// typo would overwrite a disk) and kernel files under `/proc` and `/sys` are refused.
    ///
    /// # Errors
    /// [`SysError::InvalidPlan`] naming the file and why.
    pub fn check(&self, input: Option<&Path>) -> Result<(), SysError> {
        let ProgramOutput::File(path) = self else {
            return Ok(());
        };
        let refuse = |why: &str| {
            Err(SysError::InvalidPlan {
                detail: format!(
                    "--output {}: {why}; name a regular file, or use null, pipe or inherit",
                    path.display()
                ),
            })
        };
        if path.as_os_str().is_empty() {
            return refuse("the file name is empty");
        }
        if crate::output::pseudo_file_system(path) {
            return refuse("it is a kernel file under /proc or /sys");
        }
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => return refuse("it is a directory"),
            Ok(m) if m.file_type().is_block_device() => {
                return refuse("it is a block device (writing would overwrite a disk)");
            }
            Ok(m) => {
                if let Some(input) = input
                    && m.is_file()
                    && same_file(path, input)
                {
                    return refuse(&format!(
                        "it is the --input file {} (each run would truncate its own input)",
                        input.display()
                    ));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
                if parent.is_some_and(|p| !p.is_dir()) {
                    return refuse("its directory does not exist");
                }
            }
            Err(e) => return refuse(&crate::os_reason(&e)),
        }
        Ok(())
    }

    /// Sets `command`'s standard output (and, for a benchmarked run, its standard error) for
    /// one run. A pipe is drained by a thread that ends when every writer has closed it.
    ///
    /// # Errors
    /// The file cannot be opened, or no pipe can be made.
    pub fn apply(&self, command: &mut Command, stderr_too: bool) -> io::Result<()> {
        let (stdout, stderr) = match self {
            ProgramOutput::Null => (Stdio::null(), Stdio::null()),
            ProgramOutput::Inherit => (Stdio::inherit(), Stdio::inherit()),
            ProgramOutput::File(path) => (
                Stdio::from(
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .open(path)?,
                ),
                Stdio::null(),
            ),
            ProgramOutput::Pipe => {
                let (mut reader, writer) = io::pipe()?;
                // Detached: it ends at end of file, when the program and everything it
                // started have closed the pipe and the command holding the other end is gone.
                std::thread::Builder::new()
                    .name("perfkit-drain".into())
                    .spawn(move || io::copy(&mut reader, &mut io::sink()))?;
                (Stdio::from(writer), Stdio::null())
            }
        };
        command.stdout(stdout);
        if stderr_too {
            command.stderr(stderr);
        }
        Ok(())
    }

    /// The spelling `--output` takes.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            ProgramOutput::Null => "null".into(),
            ProgramOutput::Pipe => "pipe".into(),
            ProgramOutput::Inherit => "inherit".into(),
            ProgramOutput::File(p) => p.display().to_string(),
        }
    }
}

/// A profiled program's standard input and output, for tools that run it once (strace,
/// perf, valgrind) to see the same program the measured runs saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgramIo {
    /// The file on its standard input (`None`: `/dev/null`).
    pub input: Option<PathBuf>,
    /// Where its standard output goes. Its standard error, which the tool shares, is kept.
    pub output: ProgramOutput,
}

impl ProgramIo {
    /// Sets `command`'s standard input and output.
    ///
    /// # Errors
    /// [`SysError::Input`] or [`SysError::Output`] when a file cannot be opened.
    pub fn apply(&self, command: &mut Command) -> Result<(), SysError> {
        command.stdin(match &self.input {
            None => Stdio::null(),
            Some(path) => Stdio::from(File::open(path).map_err(|source| SysError::Input {
                path: path.clone(),
                source,
            })?),
        });
        self.output
            .apply(command, false)
            .map_err(|source| SysError::Output {
                what: self.output.describe(),
                source,
            })
    }
}

/// The standard input every run of a measured program gets.
#[derive(Debug)]
pub enum StdinSource {
    /// `/dev/null`: perfkit's own standard input is a terminal, `/dev/null`, closed, or empty.
    Null,
    /// A file named with `--input`, or the regular file perfkit's standard input is.
    File {
        /// What each run opens.
        path: PathBuf,
        /// How to name it to the user.
        shown: String,
    },
    /// What perfkit read from a pipe on its standard input, kept in a temporary file that is
    /// removed when this value is dropped.
    Spooled {
        /// The temporary file.
        file: tempfile::NamedTempFile,
        /// Bytes it holds.
        bytes: u64,
    },
}

/// How long perfkit waits on a silent pipe before it says why it is waiting.
const STDIN_PATIENCE: Duration = Duration::from_secs(2);

impl StdinSource {
    /// The file each run reads, or `None` for `/dev/null`.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        match self {
            StdinSource::Null => None,
            StdinSource::File { path, .. } => Some(path),
            StdinSource::Spooled { file, .. } => Some(file.path()),
        }
    }

    /// Opens the input for one run.
    ///
    /// # Errors
    /// [`SysError::Input`] when the file cannot be opened.
    pub fn stdio(&self) -> Result<Stdio, SysError> {
        match self.path() {
            None => Ok(Stdio::null()),
            Some(path) => File::open(path)
                .map(Stdio::from)
                .map_err(|source| SysError::Input {
                    path: path.to_path_buf(),
                    source,
                }),
        }
    }

    /// The input given with `--input FILE`.
    ///
    /// # Errors
    /// [`SysError::Input`] when it cannot be opened for reading, or is a directory.
    pub fn file(path: &Path) -> Result<StdinSource, SysError> {
        let file = File::open(path).map_err(|source| SysError::Input {
            path: path.to_path_buf(),
            source,
        })?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(SysError::Input {
                path: path.to_path_buf(),
                source: io::Error::other("it is a directory"),
            });
        }
        Ok(StdinSource::File {
            path: path.to_path_buf(),
            shown: path.display().to_string(),
        })
    }

    /// What perfkit's own standard input holds, to give every run the same:
    /// - a terminal, `/dev/null` or a closed descriptor: nothing ([`StdinSource::Null`]);
    /// - a regular file read from its start: that file, reopened for every run;
    /// - a pipe, a socket or a file read part-way: read to its end (up to `limit` bytes) into
    ///   a temporary file. `waiting` is called once when a pipe has been silent for two
    ///   seconds, so the caller can say why nothing happens. An empty pipe is nothing.
    ///
    /// # Errors
    /// [`SysError::Stdin`] for another device (`/dev/zero` never ends) or more than `limit`
    /// bytes; the fix is `--input FILE`.
    pub fn from_stdin(limit: u64, waiting: &mut dyn FnMut()) -> Result<StdinSource, SysError> {
        let Some(kind) = stdin_kind() else {
            return Ok(StdinSource::Null);
        };
        match kind {
            StdinKind::Terminal | StdinKind::DevNull => Ok(StdinSource::Null),
            StdinKind::Device(name) => Err(SysError::Stdin {
                detail: format!(
                    "standard input is the device {name}, which cannot be replayed to every run; pass --input FILE, or redirect it from a file or </dev/null"
                ),
            }),
            StdinKind::FileFromStart(shown) => Ok(StdinSource::File {
                path: PathBuf::from("/proc/self/fd/0"),
                shown,
            }),
            StdinKind::Stream => spool_stdin(limit, waiting),
        }
    }

    /// A few words for the user: `/dev/null`, the file, or how much was read from a pipe.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            StdinSource::Null => "/dev/null".into(),
            StdinSource::File { shown, .. } => shown.clone(),
            StdinSource::Spooled { bytes, .. } => format!(
                "the {} perfkit read from its own standard input",
                perfkit_metrics::format_bytes(*bytes)
            ),
        }
    }
}

enum StdinKind {
    Terminal,
    DevNull,
    Device(String),
    FileFromStart(String),
    Stream,
}

/// What descriptor 0 is, or `None` when it is closed.
fn stdin_kind() -> Option<StdinKind> {
    use std::io::IsTerminal as _;
    use std::os::unix::fs::MetadataExt as _;
    let stdin = io::stdin();
    if stdin.is_terminal() {
        return Some(StdinKind::Terminal);
    }
    let meta = std::fs::metadata("/proc/self/fd/0").ok()?;
    let shown = std::fs::read_link("/proc/self/fd/0")
        .map_or_else(|_| "standard input".into(), |p| p.display().to_string());
    let file_type = meta.file_type();
    if file_type.is_char_device() {
        // /dev/null is character device 1:3 on Linux.
        return Some(if meta.rdev() == libc::makedev(1, 3) {
            StdinKind::DevNull
        } else {
            StdinKind::Device(shown)
        });
    }
    if file_type.is_block_device() {
        return Some(StdinKind::Device(shown));
    }
    if meta.is_file() && stdin_offset() == Some(0) {
        return Some(StdinKind::FileFromStart(shown));
    }
    Some(StdinKind::Stream)
}

/// Whether `a` and `b` are one file (device and inode).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// The offset of descriptor 0 in its file.
fn stdin_offset() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/fdinfo/0").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("pos:"))
        .and_then(|v| v.trim().parse().ok())
}

fn spool_stdin(limit: u64, waiting: &mut dyn FnMut()) -> Result<StdinSource, SysError> {
    let failed = |e: io::Error| SysError::Stdin {
        detail: format!("cannot keep standard input for the runs: {e}"),
    };
    if !stdin_ready(STDIN_PATIENCE) {
        waiting();
    }
    let mut file = tempfile::Builder::new()
        .prefix(".perfkit-stdin-")
        .tempfile()
        .map_err(failed)?;
    let mut stdin = io::stdin().lock().take(limit.saturating_add(1));
    let bytes = io::copy(&mut stdin, file.as_file_mut()).map_err(failed)?;
    if bytes > limit {
        return Err(SysError::Stdin {
            detail: format!(
                "standard input holds more than {limit} bytes, too much to keep for every run; save it to a file and pass --input FILE"
            ),
        });
    }
    if bytes == 0 {
        return Ok(StdinSource::Null);
    }
    file.as_file_mut().flush().map_err(failed)?;
    Ok(StdinSource::Spooled { file, bytes })
}

/// Whether descriptor 0 has data or its end within `patience`.
fn stdin_ready(patience: Duration) -> bool {
    use std::os::fd::AsFd as _;
    let stdin = io::stdin();
    let mut fds = [nix::poll::PollFd::new(
        stdin.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let ms = u16::try_from(patience.as_millis()).unwrap_or(u16::MAX);
    // Any answer other than "nothing yet" (data, hang-up, an error) means reading will not
    // wait on a silent writer.
    !matches!(nix::poll::poll(&mut fds, ms), Ok(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_words_and_files() {
        assert_eq!(ProgramOutput::parse("null"), ProgramOutput::Null);
        assert_eq!(ProgramOutput::parse("pipe"), ProgramOutput::Pipe);
        assert_eq!(ProgramOutput::parse("inherit"), ProgramOutput::Inherit);
        assert_eq!(
            ProgramOutput::parse("out.txt"),
            ProgramOutput::File("out.txt".into())
        );
    }

    #[test]
    fn dangerous_output_files_are_refused_before_any_run() {
        for bad in ["/proc/sys/vm/swappiness", "/tmp", "/no/such/dir/out"] {
            let err = ProgramOutput::parse(bad).check(None).unwrap_err();
            assert!(err.to_string().contains("--output"), "{err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::write(&input, "x").unwrap();
        let err = ProgramOutput::File(input.clone())
            .check(Some(&input))
            .unwrap_err();
        assert!(err.to_string().contains("truncate its own input"), "{err}");
        assert!(ProgramOutput::parse("/dev/null").check(None).is_ok());
        assert!(
            ProgramOutput::File(dir.path().join("new"))
                .check(None)
                .is_ok()
        );
    }

    #[test]
    fn a_pipe_takes_everything_the_program_writes() {
        let mut command = Command::new("sh");
        command.args(["-c", "head -c 1000000 /dev/zero; echo done >&2"]);
        ProgramOutput::Pipe.apply(&mut command, true).unwrap();
        let status = command.status().unwrap();
        assert!(status.success());
    }
}
