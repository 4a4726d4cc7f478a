//! A whole copy from a path or standard input to a path or standard output: the source
//! checked, the destination written through [`OutputPath`] (a regular file into a temporary
//! file renamed over it only when complete), and the transfer's report.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use perfkit_sys::{OutputPath, OutputWriter, open_hint, os_reason};

use crate::ZeroCopyError;
use crate::report::{CopyReport, copy_destination, human_bytes};
use crate::transfer::{TransferOptions, transfer_with};

/// Why a copy could not start or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The source cannot be opened.
    #[error("cannot read the source {}: {}{}", path.display(), os_reason(error), open_hint(error))]
    OpenSource {
        /// The source.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// The source is a directory.
    #[error("the source {} is a directory: give one file or stream to copy", .0.display())]
    SourceIsDirectory(PathBuf),
    /// Standard input is to be copied into a directory, which gives no file name.
    #[error("the destination {} is a directory: give a file name to copy standard input to", .0.display())]
    DestinationIsDirectory(PathBuf),
    /// The destination is the source.
    #[error("the source and the destination are the same file ({}): choose another destination", .0.display())]
    SameFile(PathBuf),
    /// The destination cannot be opened, written or finished; the error names it.
    #[error(transparent)]
    Output(io::Error),
    /// The destination filled up.
    #[error("no space left on {destination} after {} of {source_name}{} (free space or choose another destination)", human_bytes(*.moved), kept(*.staged, .destination))]
    StorageFull {
        /// The source, as shown.
        source_name: String,
        /// The destination, as shown.
        destination: String,
        /// Bytes copied before.
        moved: u64,
        /// Whether the destination was a temporary file, now removed.
        staged: bool,
    },
    /// The transfer failed.
    #[error("copying {source_name} to {destination} failed{}", kept(*.staged, .destination))]
    Failed {
        /// The source, as shown.
        source_name: String,
        /// The destination, as shown.
        destination: String,
        /// Whether the destination was a temporary file, now removed.
        staged: bool,
        /// Why.
        #[source]
        error: ZeroCopyError,
    },
}

/// Where the bytes go.
#[derive(Debug)]
enum Destination {
    Stdout(io::Stdout),
    Output(OutputWriter),
}

/// A copy whose ends are open and checked.
#[derive(Debug)]
pub struct CopyJob {
    source: Option<File>,
    destination: Destination,
    shown: (String, String),
    to_stdout: bool,
}

impl CopyJob {
    /// Opens `src` (`-`: standard input) and `dst` (`-`: standard output; a directory: the
    /// source's name inside it). A new file gets the source's permission bits without
    /// set-user-ID, set-group-ID and sticky, less the umask, as `cp` without `-p` does: a copy
    /// made by root of someone's set-user-ID program is not a root-owned set-user-ID program. A
    /// replaced file keeps its own owner and mode.
    ///
    /// # Errors
    /// The source cannot be read or is a directory; the destination is the source, a
    /// directory for standard input, or cannot be written.
    pub fn open(src: &Path, dst: &Path) -> Result<CopyJob, CopyError> {
        let from_stdin = src.as_os_str() == "-";
        let source = (!from_stdin).then(|| open_source(src)).transpose()?;
        let shown_src = if from_stdin {
            "standard input".to_string()
        } else {
            src.display().to_string()
        };
        if dst.as_os_str() == "-" {
            return Ok(CopyJob {
                source,
                destination: Destination::Stdout(io::stdout()),
                shown: (shown_src, "standard output".into()),
                to_stdout: true,
            });
        }
        let path = copy_destination(source.as_ref().map(|_| src), dst)
            .ok_or_else(|| CopyError::DestinationIsDirectory(dst.to_path_buf()))?;
        let out = OutputPath::new(&path).map_err(CopyError::Output)?;
        if out.is_same_file(src) || (source.is_none() && out.is_same_as_descriptor(0)) {
            return Err(CopyError::SameFile(path));
        }
        let mode = (source.as_ref())
            .and_then(|f| f.metadata().ok())
            .map(|m| m.permissions().mode() & 0o777);
        Ok(CopyJob {
            to_stdout: out.descriptor() == Some(1),
            destination: Destination::Output(out.create(mode).map_err(CopyError::Output)?),
            shown: (shown_src, path.display().to_string()),
            source,
        })
    }

    /// Whether the bytes go to standard output, so that a report belongs elsewhere.
    #[must_use]
    pub fn writes_stdout(&self) -> bool {
        self.to_stdout
    }

    /// Copies everything and finishes the destination. On failure a staged destination is
    /// removed, so that nothing appears under its name.
    ///
    /// # Errors
    /// The transfer fails, or the destination cannot be finished.
    pub fn run(self, options: &TransferOptions) -> Result<CopyReport, CopyError> {
        let stdin = io::stdin();
        let src_fd = match &self.source {
            Some(file) => file.as_fd(),
            None => stdin.as_fd(),
        };
        let dst_fd: BorrowedFd<'_> = match &self.destination {
            Destination::Stdout(stdout) => stdout.as_fd(),
            Destination::Output(writer) => writer.as_fd(),
        };
        let (src, dst) = self.shown;
        let staged = matches!(&self.destination, Destination::Output(w) if w.is_staged());
        let stats = match transfer_with(src_fd, dst_fd, None, options) {
            Ok(stats) => stats,
            Err(error) if error.is_storage_full() => {
                let moved = match &error {
                    ZeroCopyError::Syscall { moved, .. } => *moved,
                    _ => 0,
                };
                return Err(CopyError::StorageFull {
                    source_name: src,
                    destination: dst,
                    moved,
                    staged,
                });
            }
            Err(error) => {
                return Err(CopyError::Failed {
                    source_name: src,
                    destination: dst,
                    staged,
                    error,
                });
            }
        };
        if let Destination::Output(writer) = self.destination {
            writer.commit().map_err(CopyError::Output)?;
        }
        Ok(CopyReport::new(src, dst, &stats))
    }
}

fn open_source(path: &Path) -> Result<File, CopyError> {
    let failed = |error| CopyError::OpenSource {
        path: path.to_path_buf(),
        error,
    };
    let file = File::open(path).map_err(failed)?;
    if file.metadata().map_err(failed)?.is_dir() {
        return Err(CopyError::SourceIsDirectory(path.to_path_buf()));
    }
    Ok(file)
}

/// What is left under the destination's name after a failure.
fn kept(staged: bool, destination: &str) -> String {
    if staged {
        format!("; nothing was written under {destination}")
    } else {
        String::new()
    }
}
