//! Output files that are safe to name, even as root.
//!
//! Every file perfkit writes for the user goes through [`OutputPath`]:
//!
//! - a regular file (or a new one) is written to a temporary file beside it, synced, and
//!   renamed over it, so a reader never sees half a file and a failure leaves the old one;
//!   a replaced file keeps its mode and owner, a new one gets `0666` less the umask;
//! - a symlink is followed: its target is replaced, the link stays;
//! - a character or block device or a FIFO is opened and written in place, like a shell
//!   redirection, never replaced (`-o /dev/null` stays a device);
//! - a file under `/proc` or `/sys` (a kernel setting) is refused;
//! - a Unix socket is connected to and written;
//! - `/dev/stdout`, `/dev/stderr`, `/dev/fd/N` and `/proc/self/fd/N` write to this process's
//!   descriptor `N` itself, as the shell does;
//! - a directory, a missing parent directory, or a place where no file can be created is an
//!   error when the [`OutputPath`] is made, so commands check their outputs before the work.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let out = perfkit_sys::OutputPath::new(&dir.path().join("report.json")).unwrap();
//! out.write(b"{}\n").unwrap();
//! assert!(perfkit_sys::OutputPath::new(dir.path()).is_err()); // a directory
//! ```

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use crate::signals;

/// An output destination, resolved and checked. Make one before the work starts; write it
/// after.
#[derive(Debug, Clone)]
pub struct OutputPath {
    given: PathBuf,
    dest: Dest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Dest {
    /// A regular or new file, replaced through a temporary file beside it.
    Replace(PathBuf),
    /// An existing device or FIFO: opened and written. (A file under /proc or /sys lands here
    /// too, and is refused by the check.)
    InPlace(PathBuf),
    /// A Unix socket: connected to and written.
    Socket(PathBuf),
    /// One of this process's descriptors.
    Descriptor(i32),
}

/// How many symlinks are followed before giving up, as the kernel does (`ELOOP`).
const MAX_LINKS: usize = 40;

impl OutputPath {
    /// Resolves `path` (following symlinks) and checks that it can be written: its directory
    /// exists and accepts new files, or it is a device, FIFO or descriptor open for writing.
    ///
    /// # Errors
    /// An [`io::Error`] whose message names `path` and the problem: a directory, a missing
    /// parent directory, no permission, a read-only file system, a closed descriptor.
    pub fn new(path: &Path) -> io::Result<OutputPath> {
        let failed = |reason: String, kind: io::ErrorKind| {
            io::Error::new(kind, format!("cannot write {}: {reason}", path.display()))
        };
        if path.as_os_str().is_empty() {
            return Err(failed(
                "the path is empty".into(),
                io::ErrorKind::InvalidInput,
            ));
        }
        let dest = resolve(path).map_err(|e| failed(e.reason, e.kind))?;
        check(&dest).map_err(|e| failed(e.reason, e.kind))?;
        Ok(OutputPath {
            given: path.to_path_buf(),
            dest,
        })
    }

    /// The path as the user gave it.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.given
    }

    /// The file that will be written after symlinks are followed (`None` for a descriptor).
    #[must_use]
    pub fn target(&self) -> Option<&Path> {
        match &self.dest {
            Dest::Replace(p) | Dest::InPlace(p) | Dest::Socket(p) => Some(p),
            Dest::Descriptor(_) => None,
        }
    }

    /// The descriptor this output writes to, for `/dev/stdout`, `/dev/fd/N` and the like.
    #[must_use]
    pub fn descriptor(&self) -> Option<i32> {
        match self.dest {
            Dest::Descriptor(fd) => Some(fd),
            _ => None,
        }
    }

    /// Whether writing here replaces a file through a rename (a regular or new file), as
    /// opposed to writing into a device, FIFO, socket or descriptor.
    #[must_use]
    pub fn is_replaced(&self) -> bool {
        matches!(self.dest, Dest::Replace(_))
    }

    /// Whether this output is the file `input` (the same device and inode, or the same path):
    /// writing it would destroy the input.
    #[must_use]
    pub fn is_same_file(&self, input: &Path) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            // Devices such as /dev/null may be read and written at once; only a regular
            // file is destroyed by being replaced while it is read.
            let Ok(theirs) = std::fs::metadata(input).and_then(|m| {
                if m.is_file() {
                    Ok(m)
                } else {
                    Err(io::Error::other("not a regular file"))
                }
            }) else {
                return false;
            };
            let ours = match &self.dest {
                Dest::Replace(p) | Dest::InPlace(p) | Dest::Socket(p) => {
                    if std::fs::canonicalize(input).is_ok_and(|c| &c == p) {
                        return true;
                    }
                    std::fs::metadata(p)
                }
                Dest::Descriptor(fd) => descriptor_metadata(*fd),
            };
            // Devices such as /dev/null may be read and written at once.
            ours.is_ok_and(|m| m.is_file() && m.dev() == theirs.dev() && m.ino() == theirs.ino())
        }
        #[cfg(not(unix))]
        {
            std::fs::canonicalize(input).ok().as_deref() == self.target()
        }
    }

    /// Whether this output is the same regular file as the open descriptor `fd` (for an input
    /// read from standard input).
    #[must_use]
    pub fn is_same_as_descriptor(&self, fd: i32) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            let Ok(theirs) = descriptor_metadata(fd) else {
                return false;
            };
            // `-o /dev/stdout` with standard output appended to the input is the input too.
            let ours = match &self.dest {
                Dest::Replace(p) | Dest::InPlace(p) | Dest::Socket(p) => std::fs::metadata(p),
                Dest::Descriptor(own) => descriptor_metadata(*own),
            };
            ours.is_ok_and(|m| m.is_file() && m.dev() == theirs.dev() && m.ino() == theirs.ino())
        }
        #[cfg(not(unix))]
        {
            let _ = fd;
            false
        }
    }

    /// Writes `contents` (see the module docs for what happens for each kind of file).
    ///
    /// # Errors
    /// The error names the path and the OS's reason; a replaced file is then left as it was
    /// and no temporary file remains.
    pub fn write(&self, contents: &[u8]) -> io::Result<()> {
        let mut writer = self.create(None)?;
        writer
            .write_all(contents)
            .map_err(|e| self.error("cannot write", &e))?;
        writer.commit()
    }

    /// Opens the output for streaming: write through the returned [`OutputWriter`] (or its
    /// descriptor), then [`OutputWriter::commit`]. `new_mode` is the permission bits of a
    /// file that does not exist yet (default `0o666`), less the umask; a replaced file keeps
    /// its own mode and owner.
    ///
    /// # Errors
    /// When the destination cannot be opened or a temporary file cannot be created.
    pub fn create(&self, new_mode: Option<u32>) -> io::Result<OutputWriter> {
        let kind = match &self.dest {
            Dest::Replace(path) => {
                let (file, staged) =
                    stage(path, new_mode).map_err(|e| self.error("cannot write", &e))?;
                return Ok(OutputWriter {
                    file,
                    kind: WriterKind::Staged(staged),
                    shown: self.given.clone(),
                });
            }
            Dest::InPlace(path) => OpenOptions::new().write(true).truncate(true).open(path),
            Dest::Socket(path) => connect(path),
            Dest::Descriptor(fd) => duplicate(*fd),
        };
        let file = kind.map_err(|e| self.error("cannot write", &e))?;
        Ok(OutputWriter {
            file,
            kind: WriterKind::Direct,
            shown: self.given.clone(),
        })
    }

    /// Moves a finished file (a profile a tool wrote into a temporary directory) to this
    /// output: a rename when it is replaced on the same file system, else a copy of its
    /// bytes. A replaced file keeps its mode and owner; a new one keeps `finished`'s mode.
    ///
    /// # Errors
    /// When the file cannot be read, moved or written.
    pub fn move_from(&self, finished: &Path) -> io::Result<()> {
        if let Dest::Replace(path) = &self.dest {
            if let Ok(old) = std::fs::symlink_metadata(path)
                && old.is_file()
            {
                let file = File::open(finished)
                    .map_err(|e| self.error("cannot read the finished file for", &e))?;
                keep_identity(&file, &old);
            }
            match std::fs::rename(finished, path) {
                Ok(()) => {
                    sync_dir(path);
                    return Ok(());
                }
                Err(e) if e.raw_os_error() == Some(18) => {} // EXDEV: copy below.
                Err(e) => return Err(self.error("cannot move the result to", &e)),
            }
        }
        let mut source = File::open(finished)
            .map_err(|e| self.error("cannot read the finished file for", &e))?;
        let mode = {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                source
                    .metadata()
                    .ok()
                    .map(|m| m.permissions().mode() & 0o777)
            }
            #[cfg(not(unix))]
            {
                None
            }
        };
        let mut writer = self.create(mode)?;
        io::copy(&mut source, &mut writer).map_err(|e| self.error("cannot write", &e))?;
        writer.commit()
    }

    fn error(&self, what: &str, e: &io::Error) -> io::Error {
        io::Error::new(
            e.kind(),
            format!("{what} {}: {}", self.given.display(), os_reason(e)),
        )
    }
}

impl fmt::Display for OutputPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.given.display().fmt(f)
    }
}

/// An open output; see [`OutputPath::create`]. Dropping it without [`OutputWriter::commit`]
/// discards what was written to a replaced file (the temporary file is removed).
#[derive(Debug)]
pub struct OutputWriter {
    file: File,
    kind: WriterKind,
    shown: PathBuf,
}

#[derive(Debug)]
enum WriterKind {
    Staged(Staged),
    Direct,
}

/// A temporary file beside the file it will replace.
#[derive(Debug)]
struct Staged {
    temp: tempfile::TempPath,
    target: PathBuf,
    _on_signal: signals::Registration,
}

impl OutputWriter {
    /// The open file (the temporary file when the destination is replaced).
    #[must_use]
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Whether the bytes go to a temporary file that [`OutputWriter::commit`] renames into
    /// place.
    #[must_use]
    pub fn is_staged(&self) -> bool {
        matches!(self.kind, WriterKind::Staged(_))
    }

    /// Finishes the output: a staged file is synced and renamed over its target.
    ///
    /// # Errors
    /// When syncing or renaming fails; the temporary file is then removed.
    pub fn commit(mut self) -> io::Result<()> {
        let shown = self.shown.clone();
        let fail = |e: &io::Error| {
            io::Error::new(
                e.kind(),
                format!("cannot write {}: {}", shown.display(), os_reason(e)),
            )
        };
        self.file.flush().map_err(|e| fail(&e))?;
        match self.kind {
            WriterKind::Direct => Ok(()),
            WriterKind::Staged(staged) => {
                self.file.sync_all().map_err(|e| fail(&e))?;
                staged
                    .temp
                    .persist(&staged.target)
                    .map_err(|e| fail(&e.error))?;
                sync_dir(&staged.target);
                Ok(())
            }
        }
    }
}

impl Write for OutputWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for OutputWriter {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Writes `contents` to `path` through [`OutputPath`]: a regular file is replaced atomically
/// (temporary file, sync, rename; mode and owner kept), a symlink's target is replaced, a
/// device, FIFO or descriptor is written in place.
///
/// # Errors
/// As [`OutputPath::new`] and [`OutputPath::write`].
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("report.json");
/// perfkit_sys::write_output(&path, b"{}\n").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"{}\n");
/// ```
pub fn write_output(path: &Path, contents: &[u8]) -> io::Result<()> {
    OutputPath::new(path)?.write(contents)
}

/// What to check after an input could not be opened, by the kind of error: the path for a
/// missing file, the permissions for a refused one, nothing for the rest (a limit on open
/// files is not a wrong path).
#[must_use]
pub fn open_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::NotFound => " (check the path)",
        io::ErrorKind::PermissionDenied => " (check the permissions)",
        _ if e.raw_os_error() == Some(24) => " (raise the limit with `ulimit -n`)",
        _ => "",
    }
}

/// The OS's reason for `e`, said once: without Rust's " (os error N)" suffix, and without
/// the temporary file names some libraries append (`at path "/tmp/.tmpXXXX"`).
#[must_use]
pub fn os_reason(e: &io::Error) -> String {
    // A wrapped OS error (tempfile's path errors): the innermost OS error says it best.
    let mut inner: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|r| r as _);
    while let Some(cause) = inner {
        if let Some(io) = cause.downcast_ref::<io::Error>()
            && io.raw_os_error().is_some()
        {
            return os_reason(io);
        }
        inner = cause.source();
    }
    let text = e.to_string();
    let text = match text.find(" at path \"") {
        Some(i) => &text[..i],
        None => &text,
    };
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_owned(),
        _ => text.to_owned(),
    }
}

/// An error and its causes on one line, each said once: a cause whose text is already in
/// the line is left out (a message that quotes the OS's reason is not followed by the same
/// reason again), and so is Rust's " (os error N)".
#[must_use]
pub fn describe_error(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut cause = Some(error);
    while let Some(e) = cause {
        cause = e.source();
        let part = match e.downcast_ref::<io::Error>() {
            Some(io) => os_reason(io),
            None => strip_os_error(&e.to_string()),
        };
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// `text` without the " (os error N)" Rust appends to OS errors.
fn strip_os_error(text: &str) -> String {
    let mut out = text.to_owned();
    while let Some(start) = out.find(" (os error ") {
        let Some(len) = out[start..].find(')') else {
            break;
        };
        out.replace_range(start..=start + len, "");
    }
    out
}

/// Why a destination was refused.
struct Refusal {
    reason: String,
    kind: io::ErrorKind,
}

impl Refusal {
    fn new(reason: impl Into<String>, kind: io::ErrorKind) -> Refusal {
        Refusal {
            reason: reason.into(),
            kind,
        }
    }

    fn os(e: &io::Error) -> Refusal {
        Refusal::new(os_reason(e), e.kind())
    }
}

fn is_a_directory() -> Refusal {
    Refusal::new(
        "it is a directory (give a file name)",
        io::ErrorKind::IsADirectory,
    )
}

/// The regular file writing `path` would replace (existing or new), as [`OutputPath::target`]
/// gives it, found without creating anything; `None` for a device, a descriptor or a path
/// that cannot be written.
pub(crate) fn replaced_file(path: &Path) -> Option<PathBuf> {
    match resolve(path) {
        Ok(Dest::Replace(file)) => Some(file),
        _ => None,
    }
}

fn resolve(given: &Path) -> Result<Dest, Refusal> {
    let mut path = given.to_path_buf();
    for _ in 0..MAX_LINKS {
        if let Some(fd) = descriptor_alias(&path) {
            return Ok(Dest::Descriptor(fd));
        }
        if path
            .components()
            .next_back()
            .is_some_and(|c| matches!(c, Component::ParentDir | Component::RootDir))
        {
            return Err(is_a_directory());
        }
        let absolute = std::path::absolute(&path).map_err(|e| Refusal::os(&e))?;
        let Some(name) = absolute.file_name() else {
            return Err(is_a_directory());
        };
        let parent = absolute.parent().unwrap_or(Path::new("/"));
        let dir = std::fs::canonicalize(parent).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Refusal::new(
                format!(
                    "directory {} does not exist (create it first)",
                    parent.display()
                ),
                io::ErrorKind::NotFound,
            ),
            io::ErrorKind::NotADirectory => Refusal::new(
                format!("{} is not a directory", parent.display()),
                io::ErrorKind::NotADirectory,
            ),
            _ => Refusal::os(&e),
        })?;
        let candidate = dir.join(name);
        if let Some(fd) = descriptor_alias(&candidate) {
            return Ok(Dest::Descriptor(fd));
        }
        let meta = match std::fs::symlink_metadata(&candidate) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(if pseudo_file_system(&candidate) {
                    Dest::InPlace(candidate)
                } else {
                    Dest::Replace(candidate)
                });
            }
            Err(e) => return Err(Refusal::os(&e)),
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = std::fs::read_link(&candidate).map_err(|e| Refusal::os(&e))?;
            path = if target.is_absolute() {
                target
            } else {
                dir.join(target)
            };
            continue;
        }
        if kind.is_dir() {
            return Err(is_a_directory());
        }
        if kind.is_file() {
            return Ok(if pseudo_file_system(&candidate) {
                Dest::InPlace(candidate)
            } else {
                Dest::Replace(candidate)
            });
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt as _;
            if kind.is_socket() {
                return Ok(Dest::Socket(candidate));
            }
        }
        return Ok(Dest::InPlace(candidate));
    }
    Err(Refusal::new(
        "too many levels of symbolic links",
        io::ErrorKind::InvalidInput,
    ))
}

/// Files under /proc and /sys are the kernel's: never replaced or created (and refused as
/// outputs when they exist).
pub(crate) fn pseudo_file_system(path: &Path) -> bool {
    path.starts_with("/proc") || path.starts_with("/sys")
}

/// `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N` (also by PID): descriptor N.
fn descriptor_alias(path: &Path) -> Option<i32> {
    let text = path.to_str()?;
    match text {
        "/dev/stdin" => return Some(0),
        "/dev/stdout" => return Some(1),
        "/dev/stderr" => return Some(2),
        _ => {}
    }
    let own = format!("/proc/{}/fd/", std::process::id());
    let number = [
        "/dev/fd/",
        "/proc/self/fd/",
        "/proc/thread-self/fd/",
        own.as_str(),
    ]
    .iter()
    .find_map(|prefix| text.strip_prefix(prefix))?;
    number.parse().ok()
}

fn check(dest: &Dest) -> Result<(), Refusal> {
    match dest {
        Dest::Replace(path) => {
            let dir = path.parent().unwrap_or(Path::new("/"));
            // Proves that a file can be created beside the target (permissions, a read-only
            // or full file system) before any work is done. The probe is deleted at once.
            tempfile::Builder::new()
                .prefix(".perfkit-probe-")
                .tempfile_in(dir)
                .map(drop)
                .map_err(|e| {
                    Refusal::new(
                        format!(
                            "cannot create a file in {}: {}",
                            dir.display(),
                            os_reason(&e)
                        ),
                        e.kind(),
                    )
                })
        }
        Dest::InPlace(path) => check_in_place(path),
        Dest::Socket(_) => Ok(()),
        Dest::Descriptor(fd) => check_descriptor(*fd),
    }
}

#[cfg(target_os = "linux")]
fn check_in_place(path: &Path) -> Result<(), Refusal> {
    use nix::unistd::{AccessFlags, access};
    let meta = std::fs::metadata(path).map_err(|e| Refusal::os(&e))?;
    if meta.is_file() {
        // A kernel file: writing one changes the kernel (as root, even a "read-only" one may
        // take the write), and no output of perfkit is a kernel setting.
        return Err(Refusal::new(
            "it is a kernel file under /proc or /sys (choose a file of your own)",
            io::ErrorKind::InvalidInput,
        ));
    }
    // A device or FIFO: opening one may block (a FIFO without a reader) or act (some
    // devices), so only the permission is checked now.
    access(path, AccessFlags::W_OK).map_err(|e| Refusal::os(&io::Error::from(e)))
}

#[cfg(not(target_os = "linux"))]
fn check_in_place(path: &Path) -> Result<(), Refusal> {
    std::fs::metadata(path)
        .map(drop)
        .map_err(|e| Refusal::os(&e))
}

#[cfg(target_os = "linux")]
fn check_descriptor(fd: i32) -> Result<(), Refusal> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    use std::os::fd::BorrowedFd;
    let name = descriptor_name(fd);
    if fd < 0 {
        return Err(Refusal::new(
            format!("{name} is not open"),
            io::ErrorKind::InvalidInput,
        ));
    }
    // SAFETY: `fd` is only used for this fcntl call, which fails cleanly (EBADF) when the
    // descriptor is not open; nothing is closed or kept.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let flags = fcntl(borrowed, FcntlArg::F_GETFL)
        .map_err(|_| Refusal::new(format!("{name} is not open"), io::ErrorKind::InvalidInput))?;
    let mode = OFlag::from_bits_truncate(flags) & OFlag::O_ACCMODE;
    if mode == OFlag::O_WRONLY || mode == OFlag::O_RDWR {
        Ok(())
    } else {
        Err(Refusal::new(
            format!("{name} is not open for writing"),
            io::ErrorKind::PermissionDenied,
        ))
    }
}

#[cfg(not(target_os = "linux"))]
fn check_descriptor(_fd: i32) -> Result<(), Refusal> {
    Ok(())
}

fn descriptor_name(fd: i32) -> String {
    match fd {
        0 => "standard input".into(),
        1 => "standard output".into(),
        2 => "standard error".into(),
        n => format!("descriptor {n}"),
    }
}

#[cfg(unix)]
fn descriptor_metadata(fd: i32) -> io::Result<std::fs::Metadata> {
    duplicate(fd)?.metadata()
}

/// A new descriptor for this process's descriptor `fd` (closing it leaves `fd` open).
#[cfg(unix)]
fn duplicate(fd: i32) -> io::Result<File> {
    use std::os::fd::BorrowedFd;
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(9));
    }
    // SAFETY: the borrow only lives for `try_clone_to_owned`, which duplicates the descriptor
    // with fcntl(F_DUPFD_CLOEXEC) and fails with EBADF when it is not open.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    Ok(File::from(borrowed.try_clone_to_owned()?))
}

#[cfg(not(unix))]
fn duplicate(_fd: i32) -> io::Result<File> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "descriptors need Unix",
    ))
}

#[cfg(unix)]
fn connect(path: &Path) -> io::Result<File> {
    let stream = std::os::unix::net::UnixStream::connect(path)?;
    Ok(File::from(std::os::fd::OwnedFd::from(stream)))
}

#[cfg(not(unix))]
fn connect(_path: &Path) -> io::Result<File> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "sockets need Unix",
    ))
}

/// Creates the temporary file that will replace `path`, registered for removal on a signal,
/// with the replaced file's mode and owner or `new_mode` less the umask.
fn stage(path: &Path, new_mode: Option<u32>) -> io::Result<(File, Staged)> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let old = std::fs::symlink_metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file);
    let mut builder = tempfile::Builder::new();
    builder.prefix(".perfkit-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        // The kernel applies the umask to the mode given at creation.
        builder.permissions(std::fs::Permissions::from_mode(
            new_mode.unwrap_or(0o666) & 0o777,
        ));
    }
    #[cfg(not(unix))]
    let _ = new_mode;
    let temp = builder.tempfile_in(dir)?;
    let on_signal = signals::remove_on_signal(temp.path());
    let (file, temp) = temp.into_parts();
    if let Some(old) = &old {
        keep_identity(&file, old);
    }
    Ok((
        file,
        Staged {
            temp,
            target: path.to_path_buf(),
            _on_signal: on_signal,
        },
    ))
}

/// Gives `file` the owner (where permitted) and then the mode of the file it replaces. The
/// owner comes first because changing it clears set-user-ID bits.
fn keep_identity(file: &File, old: &std::fs::Metadata) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        if let Ok(now) = file.metadata()
            && (now.uid() != old.uid() || now.gid() != old.gid())
        {
            // Only root (or the owner, for a group it belongs to) may do this; otherwise the
            // new file stays ours, as with any program that replaces a file.
            let _ = std::os::unix::fs::fchown(file, Some(old.uid()), Some(old.gid()));
        }
        let _ = file.set_permissions(std::fs::Permissions::from_mode(old.mode() & 0o7777));
    }
    #[cfg(not(unix))]
    {
        let _ = (file, old);
    }
}

/// Makes a rename in `path`'s directory durable (best effort: some file systems refuse).
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};

    #[test]
    fn regular_files_are_replaced_and_keep_their_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_output(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640);
        // Nothing else was left in the directory (no temporary file, no probe).
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let fresh = dir.path().join("fresh.svg");
        write_output(&fresh, b"x").unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_ne!(mode, 0o600, "{mode:o}");
    }

    #[test]
    fn a_symlink_stays_and_its_target_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.txt");
        let link = dir.path().join("link.txt");
        std::fs::write(&target, "old").unwrap();
        std::os::unix::fs::symlink("real.txt", &link).unwrap();
        let out = OutputPath::new(&link).unwrap();
        assert_eq!(
            out.target(),
            Some(std::fs::canonicalize(&target).unwrap().as_path())
        );
        out.write(b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        // A dangling link creates its target.
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink("created.txt", &dangling).unwrap();
        write_output(&dangling, b"x").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("created.txt")).unwrap(),
            "x"
        );
        assert!(
            std::fs::symlink_metadata(&dangling)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn devices_and_fifos_are_written_in_place() {
        write_output(Path::new("/dev/null"), b"gone").unwrap();
        let meta = std::fs::symlink_metadata("/dev/null").unwrap();
        assert!(meta.file_type().is_char_device());

        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(&fifo).unwrap())
        };
        write_output(&fifo, b"through the fifo").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the fifo");
        assert!(
            std::fs::symlink_metadata(&fifo)
                .unwrap()
                .file_type()
                .is_fifo()
        );
    }

    #[test]
    fn descriptors_are_written_not_replaced() {
        assert_eq!(descriptor_alias(Path::new("/dev/stdout")), Some(1));
        assert_eq!(descriptor_alias(Path::new("/dev/fd/7")), Some(7));
        assert_eq!(descriptor_alias(Path::new("/proc/self/fd/2")), Some(2));
        assert_eq!(descriptor_alias(Path::new("/dev/fd/x")), None);
        let out = OutputPath::new(Path::new("/dev/stderr")).unwrap();
        assert!(!out.is_replaced());
        // A descriptor that is not open is refused up front.
        let err = OutputPath::new(Path::new("/dev/fd/987")).unwrap_err();
        assert!(
            err.to_string().contains("descriptor 987 is not open"),
            "{err}"
        );
    }

    #[test]
    fn bad_destinations_are_refused_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let err = OutputPath::new(dir.path()).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        let err = OutputPath::new(&dir.path().join("missing/x.json")).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let err = OutputPath::new(Path::new("/proc/perfkit-nonexistent.json")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        assert!(!err.to_string().contains("os error"), "{err}");
        let err = OutputPath::new(Path::new("")).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        let err = OutputPath::new(&dir.path().join("..")).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        // A loop of links.
        let a = dir.path().join("a");
        std::os::unix::fs::symlink("b", &a).unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("b")).unwrap();
        let err = OutputPath::new(&a).unwrap_err();
        assert!(err.to_string().contains("symbolic links"), "{err}");
    }

    #[test]
    fn the_same_file_is_recognised_through_links_and_paths() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.folded");
        std::fs::write(&input, "a 1\n").unwrap();
        let link = dir.path().join("alias");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        let hard = dir.path().join("hard");
        std::fs::hard_link(&input, &hard).unwrap();
        for output in [&input, &link, &hard] {
            assert!(
                OutputPath::new(output).unwrap().is_same_file(&input),
                "{output:?}"
            );
        }
        let other = OutputPath::new(&dir.path().join("other.svg")).unwrap();
        assert!(!other.is_same_file(&input));
        // Standard input read from the file, the output a descriptor appending to it.
        {
            use std::os::fd::AsRawFd as _;
            let reading = std::fs::File::open(&input).unwrap();
            let appending = std::fs::OpenOptions::new()
                .append(true)
                .open(&input)
                .unwrap();
            let alias = format!("/dev/fd/{}", appending.as_raw_fd());
            let out = OutputPath::new(Path::new(&alias)).unwrap();
            assert!(out.is_same_as_descriptor(reading.as_raw_fd()), "{alias}");
            assert!(
                OutputPath::new(&input)
                    .unwrap()
                    .is_same_as_descriptor(reading.as_raw_fd())
            );
            assert!(!other.is_same_as_descriptor(reading.as_raw_fd()));
        }
        // /dev/null may be both.
        assert!(
            !OutputPath::new(Path::new("/dev/null"))
                .unwrap()
                .is_same_file(Path::new("/dev/null"))
        );
    }

    #[test]
    fn a_dropped_writer_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        std::fs::write(&path, "old").unwrap();
        let out = OutputPath::new(&path).unwrap();
        let mut writer = out.create(None).unwrap();
        writer.write_all(b"half").unwrap();
        drop(writer);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn os_reasons_lose_the_error_number_and_temporary_names() {
        let e = io::Error::from_raw_os_error(28);
        assert_eq!(os_reason(&e), "No space left on device");
        assert_eq!(os_reason(&io::Error::other("plain")), "plain");
        // tempfile's error for a file it could not create names its random temporary path.
        let err = tempfile::Builder::new()
            .prefix(".perfkit-")
            .tempfile_in("/nonexistent-perfkit-dir")
            .unwrap_err();
        assert!(err.to_string().contains(".perfkit-"), "{err}");
        assert_eq!(os_reason(&err), "No such file or directory");
    }
}

#[cfg(test)]
mod describe_tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open data.bin: {reason}")]
    struct Outer {
        reason: String,
        #[source]
        source: io::Error,
    }

    #[test]
    fn a_described_error_says_each_cause_once() {
        let os = io::Error::from_raw_os_error(2);
        let reason = os_reason(&os);
        let quoted = Outer {
            reason: reason.clone(),
            source: io::Error::from_raw_os_error(2),
        };
        assert_eq!(
            describe_error(&quoted),
            format!("cannot open data.bin: {reason}")
        );
        assert!(!describe_error(&os).contains("os error"));
        assert_eq!(strip_os_error("a (os error 2) b (os error 13)"), "a b");
    }
}
