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

    /// Checks a file destination before any run and resolves it (symbolic links followed
    /// once, here): a regular file (created or truncated), `/dev/null`, a terminal or a FIFO
    /// are fine; a directory, a block device or any other device (as root a typo could
    /// overwrite a disk or arm a watchdog) and kernel files under `/proc` and `/sys` are
    /// refused. The runs open the resolved path without following links, so a link swapped in
    /// later fails the run instead of redirecting its writes.
    ///
    /// # Errors
    /// [`SysError::InvalidOutput`] naming the file and why.
    pub fn resolved(&self, input: Option<&Path>) -> Result<ProgramOutput, SysError> {
        let ProgramOutput::File(path) = self else {
            return Ok(self.clone());
        };
        let refuse = |why: &str| {
            Err(SysError::InvalidOutput {
                path: path.clone(),
                why: why.to_owned(),
            })
        };
        if path.as_os_str().is_empty() {
            return refuse("the file name is empty");
        }
        let resolved = match std::fs::canonicalize(path) {
            Ok(real) => real,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
                    return refuse(
                        "it is a symbolic link to nothing (name the file itself, so perfkit can check where it is)",
                    );
                }
                let parent = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                let (Ok(dir), Some(name)) = (std::fs::canonicalize(parent), path.file_name())
                else {
                    return refuse("its directory does not exist");
                };
                dir.join(name)
            }
            Err(e) => return refuse(&crate::os_reason(&e)),
        };
        if crate::output::pseudo_file_system(&resolved) {
            return refuse("it is a kernel file under /proc or /sys");
        }
        match std::fs::metadata(&resolved) {
            Ok(m) if m.is_dir() => return refuse("it is a directory"),
            Ok(m) if m.is_file() => {
                if let Some(input) = input
                    && same_file(&resolved, input)
                {
                    return refuse(&format!(
                        "it is the input file {} (each run would truncate its own input)",
                        input.display()
                    ));
                }
            }
            Ok(m) if m.file_type().is_fifo() => {}
            Ok(m) if m.file_type().is_char_device() => {
                use std::os::unix::fs::MetadataExt as _;
                if !harmless_device(m.rdev()) {
                    return refuse(
                        "it is a device other than /dev/null or a terminal (writing to it could change hardware)",
                    );
                }
            }
            Ok(_) => return refuse("it is a block device, socket or other special file"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return refuse(&crate::os_reason(&e)),
        }
        Ok(ProgramOutput::File(resolved))
    }

    /// [`resolved`](Self::resolved), keeping only the verdict.
    ///
    /// # Errors
    /// As [`resolved`](Self::resolved).
    pub fn check(&self, input: Option<&Path>) -> Result<(), SysError> {
        self.resolved(input).map(|_| ())
    }

    /// Sets `command`'s standard output (and, for a benchmarked run, its standard error) for
    /// one run. A file is opened without following a final symbolic link, and a FIFO without a
    /// reader is an error rather than a wait. A pipe is drained by a thread that ends when
    /// every writer has closed it.
    ///
    /// # Errors
    /// The file cannot be opened, or no pipe can be made.
    pub fn apply(&self, command: &mut Command, stderr_too: bool) -> io::Result<()> {
        let (stdout, stderr) = match self {
            ProgramOutput::Null => (Stdio::null(), Stdio::null()),
            ProgramOutput::Inherit => (Stdio::inherit(), Stdio::inherit()),
            ProgramOutput::File(path) => (Stdio::from(open_output(path)?), Stdio::null()),
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

/// `/dev/null` (1:3) and terminals: consoles and virtual terminals (major 4), `/dev/tty` and
/// `/dev/console` (5:0, 5:1), pseudo-terminals (136–143).
fn harmless_device(rdev: u64) -> bool {
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    matches!((major, minor), (1, 3) | (4 | 136..=143, _) | (5, 0 | 1))
}

/// Opens an output file for one run: created or truncated, never through a final symbolic
/// link, and without waiting for a FIFO's reader.
fn open_output(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    // The program expects blocking writes; O_NONBLOCK was only for the open.
    let flags = nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_GETFL)?;
    let flags = nix::fcntl::OFlag::from_bits_truncate(flags) - nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_SETFL(flags))?;
    Ok(file)
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
        self.set(command, false)
    }

    /// [`apply`](Self::apply) for a benchmarked run, whose standard error follows its output.
    pub(crate) fn apply_measured(&self, command: &mut Command) -> Result<(), SysError> {
        self.set(command, true)
    }

    fn set(&self, command: &mut Command, stderr_too: bool) -> Result<(), SysError> {
        command.stdin(match &self.input {
            None => Stdio::null(),
            Some(path) => Stdio::from(File::open(path).map_err(|source| SysError::Input {
                path: path.clone(),
                source,
            })?),
        });
        self.output
            .apply(command, stderr_too)
            .map_err(|source| SysError::Output {
                what: self.output.describe(),
                source,
            })
    }
}

/// The standard input every run of a measured program gets.
#[derive(Debug)]
pub enum StdinSource {
    /// `/dev/null`.
    Null,
    /// A file named with `--input`, or the regular file perfkit's standard input is.
    File {
        /// What each run opens.
        path: PathBuf,
        /// How to name it to the user.
        shown: String,
    },
    /// What perfkit read from its standard input (`--input -`) or from a FIFO, kept in a
    /// temporary file that is removed when this value is dropped or perfkit is stopped by a
    /// signal.
    Spooled {
        /// The temporary file.
        file: tempfile::NamedTempFile,
        /// Bytes it holds.
        bytes: u64,
        /// The FIFO they came from; `None` for standard input.
        fifo: Option<String>,
        /// Removes the file if a signal stops perfkit first.
        _cleanup: crate::signals::Registration,
    },
}

/// How long perfkit waits on a silent pipe before it says why it is waiting.
const STDIN_PATIENCE: Duration = Duration::from_secs(2);

/// The most [`StdinSource::for_runs`] keeps of perfkit's standard input to replay to every
/// run.
pub const STDIN_LIMIT: u64 = 1 << 30;

/// What the user should know about the standard input [`StdinSource::for_runs`] chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StdinNote {
    /// Standard input is being read to its end, and has been silent for a while.
    Waiting,
    /// Every run reads `what`; `chosen` when the user asked for perfkit's standard input.
    Replayed {
        /// A few words on it ([`StdinSource::describe`]).
        what: String,
        /// Whether the user asked for it.
        chosen: bool,
    },
    /// Standard input is left to whoever feeds it, as [`StdinChoice::LeftAlone`] says; the
    /// runs get `/dev/null`.
    LeftAlone(String),
    /// The `--input` FIFO named is about to be read to its end, which waits for a writer.
    ReadingFifo(String),
}

/// What perfkit's own standard input is, for the runs it measures.
#[derive(Debug)]
pub enum StdinChoice {
    /// Replay it: a regular file read from its start, reopened for every run.
    Replay(StdinSource),
    /// Nothing to replay: a terminal, `/dev/null`, a closed descriptor.
    Nothing,
    /// A pipe, a socket or a file read part-way (a `while read` loop's input): replaying it
    /// would consume what belongs to someone else, so the runs get `/dev/null`; the caller
    /// should say so and name `--input -`. Holds a few words on what it is.
    LeftAlone(String),
}

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

    /// The input given with `--input FILE`. A FIFO gives its bytes only once, so they are
    /// read to the end now (at most [`STDIN_LIMIT`]) and every run gets the same, as for
    /// `--input -`; reopening it for each run would wait for a writer that never comes back.
    ///
    /// # Errors
    /// [`SysError::Input`] when it cannot be opened for reading, or is a directory;
    /// [`SysError::Stdin`] when a FIFO holds too much to keep.
    pub fn file(path: &Path) -> Result<StdinSource, SysError> {
        use std::os::unix::fs::FileTypeExt as _;
        let fifo = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo());
        let file = File::open(path).map_err(|source| SysError::Input {
            path: path.to_path_buf(),
            source,
        })?;
        if fifo {
            let shown = path.display().to_string();
            return Self::spool(file, STDIN_LIMIT, Some(shown));
        }
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

    /// What perfkit's own standard input holds, for the runs (see [`StdinChoice`]). A regular
    /// file read from its start is replayed; a terminal or `/dev/null` gives nothing; a pipe,
    /// a socket or a file read part-way is left alone.
    ///
    /// # Errors
    /// [`SysError::Stdin`] for a device such as `/dev/zero`, which never ends and which a user
    /// who redirects it surely meant the program to read: the fix is `--input FILE`.
    pub fn from_stdin() -> Result<StdinChoice, SysError> {
        let Some(kind) = stdin_kind() else {
            return Ok(StdinChoice::Nothing);
        };
        match kind {
            StdinKind::Terminal | StdinKind::DevNull => Ok(StdinChoice::Nothing),
            StdinKind::Device(name) => Err(SysError::Stdin {
                detail: format!(
                    "standard input is the device {name}, which cannot be replayed to every run; give the input as a file, or redirect it from a file or </dev/null"
                ),
            }),
            StdinKind::FileFromStart(shown) => Ok(StdinChoice::Replay(StdinSource::File {
                path: PathBuf::from("/proc/self/fd/0"),
                shown,
            })),
            StdinKind::PartRead(shown) => {
                Ok(StdinChoice::LeftAlone(format!("{shown}, read part-way")))
            }
            StdinKind::Stream(shown) => Ok(StdinChoice::LeftAlone(shown)),
        }
    }

    /// `--input -`: reads perfkit's standard input to its end (up to `limit` bytes) into a
    /// temporary file given to every run. `waiting` is called once when the input has been
    /// silent for two seconds, so the caller can say why nothing happens.
    ///
    /// # Errors
    /// [`SysError::Stdin`] for more than `limit` bytes or a failed read or write.
    pub fn spool_stdin(limit: u64, waiting: &mut dyn FnMut()) -> Result<StdinSource, SysError> {
        if !stdin_ready(STDIN_PATIENCE) {
            waiting();
        }
        Self::spool(io::stdin().lock(), limit, None)
    }

    /// Everything `source` holds, up to `limit` bytes, kept in a temporary file; `fifo` names
    /// where it came from when that is not standard input.
    fn spool(source: impl Read, limit: u64, fifo: Option<String>) -> Result<StdinSource, SysError> {
        let what = fifo.as_deref().unwrap_or("standard input").to_owned();
        let failed = |e: io::Error| SysError::Stdin {
            detail: format!("cannot keep {what} for the runs: {e}"),
        };
        let mut file = tempfile::Builder::new()
            .prefix(".perfkit-stdin-")
            .tempfile()
            .map_err(failed)?;
        let cleanup = crate::signals::remove_on_signal(file.path());
        let mut source = source.take(limit.saturating_add(1));
        let bytes = io::copy(&mut source, file.as_file_mut()).map_err(failed)?;
        if bytes > limit {
            return Err(SysError::Stdin {
                detail: format!(
                    "{what} holds more than {limit} bytes, too much to keep for every run; save it to a file and give that file as the input"
                ),
            });
        }
        file.as_file_mut().flush().map_err(failed)?;
        Ok(StdinSource::Spooled {
            file,
            bytes,
            fifo,
            _cleanup: cleanup,
        })
    }

    /// The standard input every measured run gets: `input` (`-`: perfkit's own, read to its
    /// end once, at most [`STDIN_LIMIT`] bytes, and replayed), else perfkit's own when
    /// [`StdinSource::from_stdin`] can replay it, else `/dev/null`. `tell` hears what the user
    /// should know about the choice.
    ///
    /// # Errors
    /// As [`StdinSource::file`], [`StdinSource::spool_stdin`] and [`StdinSource::from_stdin`].
    pub fn for_runs(
        input: Option<&Path>,
        tell: &mut dyn FnMut(StdinNote),
    ) -> Result<StdinSource, SysError> {
        match input {
            Some(path) if path.as_os_str() != "-" => {
                use std::os::unix::fs::FileTypeExt as _;
                if std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo()) {
                    tell(StdinNote::ReadingFifo(path.display().to_string()));
                }
                let source = StdinSource::file(path)?;
                if matches!(source, StdinSource::Spooled { .. }) {
                    tell(StdinNote::Replayed {
                        what: source.describe(),
                        chosen: true,
                    });
                }
                Ok(source)
            }
            Some(_) => {
                let source =
                    StdinSource::spool_stdin(STDIN_LIMIT, &mut || tell(StdinNote::Waiting))?;
                tell(StdinNote::Replayed {
                    what: source.describe(),
                    chosen: true,
                });
                Ok(source)
            }
            None => match StdinSource::from_stdin()? {
                StdinChoice::Replay(source) => {
                    tell(StdinNote::Replayed {
                        what: source.describe(),
                        chosen: false,
                    });
                    Ok(source)
                }
                StdinChoice::Nothing => Ok(StdinSource::Null),
                StdinChoice::LeftAlone(what) => {
                    tell(StdinNote::LeftAlone(what));
                    Ok(StdinSource::Null)
                }
            },
        }
    }

    /// A few words for the user: `/dev/null`, the file, or how much was read.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            StdinSource::Null => "/dev/null".into(),
            StdinSource::File { shown, .. } => shown.clone(),
            StdinSource::Spooled {
                bytes, fifo: None, ..
            } => format!(
                "the {} perfkit read from its own standard input",
                perfkit_metrics::format_bytes(*bytes)
            ),
            StdinSource::Spooled {
                bytes,
                fifo: Some(fifo),
                ..
            } => format!(
                "the {} perfkit read from the FIFO {fifo}",
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
    PartRead(String),
    Stream(String),
}

/// What descriptor 0 is, or `None` when it is closed.
fn stdin_kind() -> Option<StdinKind> {
    use std::io::IsTerminal as _;
    use std::os::unix::fs::MetadataExt as _;
    if io::stdin().is_terminal() {
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
    if meta.is_file() {
        return Some(if stdin_offset() == Some(0) {
            StdinKind::FileFromStart(shown)
        } else {
            StdinKind::PartRead(shown)
        });
    }
    if stdin_is_empty_and_closed() {
        // Nothing to replay and nothing to leave alone: the same as /dev/null.
        return Some(StdinKind::DevNull);
    }
    Some(StdinKind::Stream(shown))
}

/// Whether descriptor 0 is a pipe or socket whose writers are gone and which holds nothing:
/// hung up without data to read.
fn stdin_is_empty_and_closed() -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd as _;
    let stdin = io::stdin();
    let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
    if !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(1)) {
        return false;
    }
    fds[0]
        .revents()
        .is_some_and(|r| r.contains(PollFlags::POLLHUP) && !r.contains(PollFlags::POLLIN))
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
    fn a_named_input_file_is_used_as_it_is_and_said_nothing_of() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("in.txt");
        std::fs::write(&file, "x\n").expect("write");
        let mut said = Vec::new();
        let source = StdinSource::for_runs(Some(&file), &mut |n| said.push(n)).expect("file");
        assert_eq!(source.path(), Some(file.as_path()));
        assert!(said.is_empty(), "{said:?}");
        assert!(matches!(
            StdinSource::for_runs(Some(dir.path()), &mut |n| said.push(n)),
            Err(SysError::Input { .. })
        ));
    }

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
        for bad in [
            "/proc/sys/vm/swappiness",
            "/tmp",
            "/no/such/dir/out",
            "/dev/zero",
            "/sys/../proc/sys/vm/swappiness",
        ] {
            let err = ProgramOutput::parse(bad).check(None).unwrap_err();
            assert!(err.to_string().contains(": output "), "{err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::write(&input, "x").unwrap();
        let err = ProgramOutput::File(input.clone())
            .check(Some(&input))
            .unwrap_err();
        assert!(err.to_string().contains("truncate its own input"), "{err}");
        assert!(ProgramOutput::parse("/dev/null").check(None).is_ok());
        // A link is followed once, when checked; the runs write to what it named then.
        let target = dir.path().join("target");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(ProgramOutput::File(link.clone()).check(None).is_err());
        std::fs::write(&target, "").unwrap();
        assert_eq!(
            ProgramOutput::File(link).resolved(None).unwrap(),
            ProgramOutput::File(std::fs::canonicalize(dir.path()).unwrap().join("target"))
        );
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
