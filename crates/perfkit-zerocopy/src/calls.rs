//! The copying system calls, each looped to completion: partial transfers continue, `EINTR`
//! is retried, `EAGAIN` on a non-blocking descriptor waits in `poll`, a zero return is the end
//! of the input, and lengths beyond one call's limit are split.
//!
//! Every function here uses and advances the descriptors' own file offsets (no explicit
//! offsets), like `read` and `write`, so that one method can take over where another stopped.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::fcntl::SpliceFFlags;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::error::{Result, ZeroCopyError};

/// Most bytes asked of one call. `sendfile` moves at most `0x7fff_f000` per call anyway; a
/// smaller request also bounds how long one call holds the CPU.
pub(crate) const CHUNK: usize = 1 << 30;

/// A loop that stopped on an error: which call, after how many bytes.
#[derive(Debug)]
pub(crate) struct Stopped {
    pub(crate) call: &'static str,
    pub(crate) moved: u64,
    pub(crate) errno: Errno,
}

impl From<Stopped> for ZeroCopyError {
    fn from(s: Stopped) -> Self {
        ZeroCopyError::Syscall {
            call: s.call,
            moved: s.moved,
            source: s.errno.into(),
        }
    }
}

/// Bytes still wanted: `None` (to the end of the input) asks for a full chunk each time.
fn want(len: Option<u64>, done: u64) -> usize {
    match len {
        Some(len) => usize::try_from(len - done).unwrap_or(CHUNK).min(CHUNK),
        None => CHUNK,
    }
}

/// Waits until `fd` is ready for `events` (returns at once for regular files, which are
/// always ready). `EINTR` retries.
pub(crate) fn wait_for(fd: BorrowedFd<'_>, events: PollFlags) -> Result<(), Errno> {
    loop {
        let mut fds = [PollFd::new(fd, events)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// After `EAGAIN` from a call that reads `src` and writes `dst`: waits until `dst` can take
/// data and `src` has some (one after the other, so a ready side cannot make this spin while
/// the other is the one blocking).
fn wait_both(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> Result<(), Errno> {
    wait_for(dst, PollFlags::POLLOUT)?;
    wait_for(src, PollFlags::POLLIN)
}

/// What a looping call does after it failed with `errno`: goes on after `EINTR`, waits with
/// `wait` and goes on after `EAGAIN`, and stops with the error otherwise.
fn go_on(
    errno: Errno,
    call: &'static str,
    moved: u64,
    wait: impl FnOnce() -> Result<(), Errno>,
) -> Result<(), Stopped> {
    match errno {
        Errno::EINTR => Ok(()),
        Errno::EAGAIN => wait().map_err(|errno| Stopped {
            call: "poll",
            moved,
            errno,
        }),
        errno => Err(Stopped { call, moved, errno }),
    }
}

/// Calls `step(max)` until `len` bytes have moved or it returns 0 (end of input).
pub(crate) fn drive(
    call: &'static str,
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    len: Option<u64>,
    mut step: impl FnMut(usize) -> nix::Result<usize>,
) -> Result<u64, Stopped> {
    let mut moved = 0u64;
    while len.is_none_or(|len| moved < len) {
        match step(want(len, moved)) {
            Ok(0) => break,
            Ok(n) => moved += n as u64,
            Err(errno) => go_on(errno, call, moved, || wait_both(src, dst))?,
        }
    }
    Ok(moved)
}

/// `splice(2)` from `src` to `dst`, one of which must be a pipe, until `len` bytes (or, with
/// `None`, everything up to the end of the input) have moved. Returns the bytes moved.
///
/// A file spliced into a pipe is not copied: the pipe holds references to the page-cache
/// pages, so a write to the file before the reader has consumed the data can show up in what
/// the reader sees (see the crate docs). To copy between two non-pipes with splice, use
/// [`transfer_with`](crate::transfer_with) and [`Method::Splice`](crate::Method::Splice),
/// which goes through a pipe of its own.
pub fn splice(src: impl AsFd, dst: impl AsFd, len: Option<u64>) -> Result<u64> {
    Ok(splice_raw(src.as_fd(), dst.as_fd(), len)?)
}

pub(crate) fn splice_raw(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    len: Option<u64>,
) -> Result<u64, Stopped> {
    drive("splice", src, dst, len, |n| {
        nix::fcntl::splice(src, None, dst, None, n, SpliceFFlags::SPLICE_F_MOVE)
    })
}

/// `tee(2)`: duplicates up to `len` bytes from the pipe `src` into the pipe `dst` without
/// consuming them from `src`. Unlike the other calls this is not looped to `len`: the data is
/// not consumed, so a second call would duplicate the same bytes again. `EINTR` is retried and
/// `EAGAIN` waits. Returns the bytes duplicated (0 when `src` is empty and its writers closed).
pub fn tee(src: impl AsFd, dst: impl AsFd, len: usize) -> Result<usize> {
    let (src, dst) = (src.as_fd(), dst.as_fd());
    loop {
        match nix::fcntl::tee(src, dst, len, SpliceFFlags::empty()) {
            Ok(n) => return Ok(n),
            Err(errno) => go_on(errno, "tee", 0, || wait_both(src, dst))?,
        }
    }
}

/// `sendfile(2)` from `src` (a regular file or block device) to any `dst`, until `len` bytes
/// (or everything up to the end of `src`) have moved. Returns the bytes moved.
pub fn sendfile(src: impl AsFd, dst: impl AsFd, len: Option<u64>) -> Result<u64> {
    Ok(sendfile_raw(src.as_fd(), dst.as_fd(), len)?)
}

pub(crate) fn sendfile_raw(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    len: Option<u64>,
) -> Result<u64, Stopped> {
    drive("sendfile", src, dst, len, |n| {
        nix::sys::sendfile::sendfile(dst, src, None, n)
    })
}

/// `copy_file_range(2)` between two regular files, until `len` bytes (or everything up to the
/// end of `src`) have moved. On one filesystem the kernel may share extents (reflink) or copy
/// inside the storage; older kernels refuse across filesystems with `EXDEV`. Returns the
/// bytes moved.
pub fn copy_file_range(src: impl AsFd, dst: impl AsFd, len: Option<u64>) -> Result<u64> {
    Ok(copy_file_range_raw(src.as_fd(), dst.as_fd(), len)?)
}

pub(crate) fn copy_file_range_raw(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    len: Option<u64>,
) -> Result<u64, Stopped> {
    drive("copy_file_range", src, dst, len, |n| {
        nix::fcntl::copy_file_range(src, None, dst, None, n)
    })
}

/// Writes all of `buf` to `dst` (partial writes continue, `EINTR` retries, `EAGAIN` waits).
/// On error, `moved` counts from `already`, the bytes of the copy written before `buf`.
pub(crate) fn write_all(dst: BorrowedFd<'_>, buf: &[u8], already: u64) -> Result<(), Stopped> {
    // SAFETY: `buf` is a live slice, so its `len` bytes are readable for this call.
    unsafe { write_all_raw(dst, buf.as_ptr(), buf.len(), already) }
}

/// The most one `write(2)` of [`write_all_raw`] hands over. Into a local socket, 1 MiB writes
/// from a mapping move more per second than one huge write, because the sender holds the
/// socket lock for the whole call while the receiver waits for it; into files and pipes the
/// size makes no difference (docs/benchmarks.md, "Zero-copy copies").
const RAW_WRITE: usize = 1 << 20;

/// [`write_all`] from a raw pointer, in writes of at most [`RAW_WRITE`] bytes: the memory is
/// only read by the kernel inside `write(2)`, never through a Rust reference (the mmap method
/// writes from a mapping that another process might truncate; the kernel then fails with
/// `EFAULT`).
///
/// # Safety
///
/// `data..data + len` must be mapped (or be memory the kernel may fault on and report as
/// `EFAULT`) for the duration of the call.
pub(crate) unsafe fn write_all_raw(
    dst: BorrowedFd<'_>,
    data: *const u8,
    len: usize,
    already: u64,
) -> Result<(), Stopped> {
    let mut done = 0usize;
    let mut moved = already;
    while done < len {
        // SAFETY: `done < len`, so the pointer and the remaining length stay inside the
        // caller's range; write(2) only reads it.
        let n = unsafe {
            libc::write(
                dst.as_raw_fd(),
                data.add(done).cast(),
                (len - done).min(RAW_WRITE),
            )
        };
        match Errno::result(n) {
            Ok(0) => {
                return Err(Stopped {
                    call: "write",
                    moved,
                    errno: Errno::EIO,
                });
            }
            Ok(n) => {
                let n = n.cast_unsigned();
                done += n;
                moved += n as u64;
            }
            Err(errno) => go_on(errno, "write", moved, || wait_for(dst, PollFlags::POLLOUT))?,
        }
    }
    Ok(())
}

/// The classic loop: `read` into `buf`, `write` it all, until `len` bytes or end of input.
pub(crate) fn read_write(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    len: Option<u64>,
    buf: &mut [u8],
) -> Result<u64, Stopped> {
    let mut moved = 0u64;
    while len.is_none_or(|len| moved < len) {
        let n = want(len, moved).min(buf.len());
        match nix::unistd::read(src, &mut buf[..n]) {
            Ok(0) => break,
            Ok(n) => {
                write_all(dst, &buf[..n], moved)?;
                moved += n as u64;
            }
            Err(errno) => go_on(errno, "read", moved, || wait_for(src, PollFlags::POLLIN))?,
        }
    }
    Ok(moved)
}
