//! Pipes with a settable capacity.

use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use serde::{Deserialize, Serialize};

use crate::error::{Result, ZeroCopyError};

/// Where Linux publishes the largest capacity an unprivileged process may give a pipe.
const PIPE_MAX_SIZE: &str = "/proc/sys/fs/pipe-max-size";

/// A pipe's two ends, both close-on-exec.
#[derive(Debug)]
pub struct Pipe {
    /// The end to read from.
    pub reader: OwnedFd,
    /// The end to write to.
    pub writer: OwnedFd,
}

/// The outcome of [`set_pipe_capacity`]: what was asked, what the kernel gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipeCapacity {
    /// Bytes asked for.
    pub requested: usize,
    /// `/proc/sys/fs/pipe-max-size`, when readable: requests are capped to it.
    pub max: Option<usize>,
    /// The capacity before the call.
    pub before: usize,
    /// The capacity now (the kernel rounds up to a power-of-two number of pages).
    pub granted: usize,
}

impl Pipe {
    /// A new pipe with the kernel's default capacity (64 KiB on Linux).
    pub fn new() -> Result<Pipe> {
        let (reader, writer) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| ZeroCopyError::Syscall {
                call: "pipe2",
                moved: 0,
                source: e.into(),
            })?;
        Ok(Pipe { reader, writer })
    }

    /// A new pipe, then [`set_capacity`](Pipe::set_capacity)`(bytes)`.
    pub fn with_capacity(bytes: usize) -> Result<Pipe> {
        let pipe = Pipe::new()?;
        pipe.set_capacity(bytes)?;
        Ok(pipe)
    }

    /// The pipe's capacity in bytes.
    pub fn capacity(&self) -> Result<usize> {
        pipe_capacity(&self.writer)
    }

    /// Sets the capacity (see [`set_pipe_capacity`]).
    pub fn set_capacity(&self, bytes: usize) -> Result<PipeCapacity> {
        set_pipe_capacity(&self.writer, bytes)
    }
}

/// The capacity of the pipe `fd` (either end) in bytes: `fcntl(F_GETPIPE_SZ)`.
pub fn pipe_capacity(fd: impl AsFd) -> Result<usize> {
    let size = fcntl(fd.as_fd(), FcntlArg::F_GETPIPE_SZ).map_err(|e| ZeroCopyError::Syscall {
        call: "fcntl(F_GETPIPE_SZ)",
        moved: 0,
        source: e.into(),
    })?;
    Ok(usize::try_from(size).unwrap_or(0))
}

/// `/proc/sys/fs/pipe-max-size`: the largest capacity a process without `CAP_SYS_RESOURCE`
/// may set (1 MiB by default). `None` if it cannot be read.
#[must_use]
pub fn pipe_max_size() -> Option<usize> {
    std::fs::read_to_string(PIPE_MAX_SIZE)
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Sets the capacity of the pipe `fd` (either end) with `fcntl(F_SETPIPE_SZ)`, capped at
/// [`pipe_max_size`]. The kernel rounds up to a power-of-two number of pages; it refuses to
/// go below the bytes already in the pipe (`EBUSY`), and an unprivileged user over the
/// per-user pipe quota (`/proc/sys/fs/pipe-user-pages-soft`) gets `EPERM`.
pub fn set_pipe_capacity(fd: impl AsFd, bytes: usize) -> Result<PipeCapacity> {
    let fd = fd.as_fd();
    let before = pipe_capacity(fd)?;
    let max = pipe_max_size();
    let target = max.map_or(bytes, |max| bytes.min(max));
    let arg = i32::try_from(target).unwrap_or(i32::MAX);
    let granted = fcntl(fd, FcntlArg::F_SETPIPE_SZ(arg)).map_err(|e| ZeroCopyError::Syscall {
        call: "fcntl(F_SETPIPE_SZ)",
        moved: 0,
        source: e.into(),
    })?;
    Ok(PipeCapacity {
        requested: bytes,
        max,
        before,
        granted: usize::try_from(granted).unwrap_or(0),
    })
}
