//! The crate's error type.

use std::io;
use std::path::PathBuf;

use crate::{FdKind, Method};

/// What went wrong in a copy, a pipe or a mapping.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZeroCopyError {
    /// A system call failed after `moved` bytes had been transferred by this call.
    #[error("{call} failed after {moved} bytes: {source}")]
    Syscall {
        /// The system call (`splice`, `sendfile`, `write`, ...).
        call: &'static str,
        /// Bytes already transferred when it failed (the descriptors' offsets moved by this much).
        moved: u64,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A forced method cannot copy between these two kinds of descriptor.
    #[error(
        "{method} cannot copy from a {src} to a {dst}: {reason} (use the automatic choice, or one of: {alternatives})"
    )]
    Unsupported {
        /// The method that was asked for.
        method: Method,
        /// What the source is.
        src: FdKind,
        /// What the destination is.
        dst: FdKind,
        /// Why the method does not apply.
        reason: String,
        /// Methods that do apply to this pair, comma-separated.
        alternatives: String,
    },
    /// A file could not be opened, created, sized or mapped.
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        /// What was being done (`open`, `map`, `create`, ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The source and the destination are the same file: copying would read what it writes.
    #[error("the source and the destination are the same file")]
    SameFile,
    /// [`MmapBuffer::from_sealed`](crate::MmapBuffer::from_sealed) was given a file that can
    /// still be written or shrunk.
    #[error(
        "the file is not sealed against writing and shrinking (add F_SEAL_WRITE and F_SEAL_SHRINK with fcntl(F_ADD_SEALS), or use the unsafe MmapBuffer::map and uphold its contract)"
    )]
    NotSealed,
}

impl ZeroCopyError {
    /// The operating system's error number, if the error came from a system call.
    #[must_use]
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            ZeroCopyError::Syscall { source, .. } | ZeroCopyError::File { source, .. } => {
                source.raw_os_error()
            }
            _ => None,
        }
    }

    /// Whether the destination ran out of space (`ENOSPC`, or `EDQUOT` for a quota).
    #[must_use]
    pub fn is_storage_full(&self) -> bool {
        matches!(self.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
    }
}

/// The crate's result type.
pub type Result<T, E = ZeroCopyError> = std::result::Result<T, E>;
