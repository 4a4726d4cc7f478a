//! `transfer`: copy between two descriptors with the fastest method that works for them.

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd};
use std::ptr::NonNull;
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::mman::{MapFlags, MmapAdvise, ProtFlags, madvise, mmap, munmap};
use nix::unistd::{Whence, lseek};
use serde::{Deserialize, Serialize};

use crate::calls::{
    CHUNK, Stopped, copy_file_range_raw, drive, read_write, sendfile_raw, splice_raw, wait_for,
    write_all_raw,
};
use crate::error::{Result, ZeroCopyError};
use crate::fd::{FdInfo, FdKind, SocketFamily, inspect};
use crate::pipe::{Pipe, PipeCapacity, pipe_capacity, set_pipe_capacity};

/// How bytes get from the source to the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// `copy_file_range(2)`: regular file to regular file, inside the kernel (or the storage).
    CopyFileRange,
    /// `sendfile(2)`: from a regular file to anything, inside the kernel.
    Sendfile,
    /// `splice(2)`: moves page references through a pipe (the source's or destination's, or
    /// one of its own between two non-pipes).
    Splice,
    /// Map the source file and `write(2)` from the mapping: one copy instead of two.
    Mmap,
    /// `read(2)` into a buffer and `write(2)` it: works for everything, copies twice.
    ReadWrite,
}

impl Method {
    /// Every method, in the order the CLI lists them.
    pub const ALL: [Method; 5] = [
        Method::CopyFileRange,
        Method::Sendfile,
        Method::Splice,
        Method::Mmap,
        Method::ReadWrite,
    ];

    /// The name used on the command line and in JSON (`copy-file-range`, `read-write`, ...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Method::CopyFileRange => "copy-file-range",
            Method::Sendfile => "sendfile",
            Method::Splice => "splice",
            Method::Mmap => "mmap",
            Method::ReadWrite => "read-write",
        }
    }

    /// Why this method cannot copy between these descriptors, or `None` if it can try.
    fn refusal(self, src: &FdInfo, dst: &FdInfo) -> Option<&'static str> {
        if src.kind == FdKind::Directory || dst.kind == FdKind::Directory {
            return Some("directories hold no data to copy");
        }
        let src_mappable = matches!(src.kind, FdKind::File | FdKind::BlockDevice);
        match self {
            Method::CopyFileRange if src.kind != FdKind::File || dst.kind != FdKind::File => {
                Some("copy_file_range needs two regular files")
            }
            Method::Sendfile if !src_mappable => {
                Some("sendfile needs a regular file or block device as the source")
            }
            Method::Mmap if src.kind != FdKind::File => {
                Some("mmap needs a regular file as the source")
            }
            Method::CopyFileRange | Method::Sendfile | Method::Splice if dst.append => {
                Some("the destination is opened with O_APPEND, which the kernel refuses here")
            }
            _ => None,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing a [`Method`] name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown copy method {0:?} (expected one of: copy-file-range, sendfile, splice, mmap, read-write)"
)]
pub struct UnknownMethod(pub String);

impl FromStr for Method {
    type Err = UnknownMethod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        Method::ALL
            .into_iter()
            .find(|m| m.name() == wanted)
            .ok_or_else(|| UnknownMethod(s.to_string()))
    }
}

/// How [`transfer_with`] treats pipes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PipeSize {
    /// Grow a destination pipe to [`AUTO_PIPE_SIZE`] (never shrink it) before anything is
    /// spliced, sent or written from a mapping into it; leave everything else alone.
    #[default]
    Auto,
    /// Never change a pipe's capacity.
    Keep,
    /// Set the destination pipe, and the pipe that splice uses between two non-pipes, to
    /// this many bytes (capped at `/proc/sys/fs/pipe-max-size`).
    Bytes(usize),
}

/// The capacity the automatic choice gives a destination pipe before splicing a file into it:
/// into a default 64 KiB pipe, splice is slower than an 8 KiB read/write loop, into 1 MiB it
/// is about three times faster (see docs/benchmarks.md).
pub const AUTO_PIPE_SIZE: usize = 1 << 20;

/// Below this destination-pipe capacity the automatic choice copies with read/write instead
/// of splicing a file into the pipe.
const MIN_SPLICE_PIPE: usize = 256 << 10;

/// From this file size on, a file goes into a socket whose peer is on this host by the mmap
/// method rather than `sendfile` (IP sockets; Unix sockets: [`MIN_MMAP_TO_UNIX_SOCKET`]).
/// Zero-copy gains nothing there: the receiver copies every byte out of the socket either way,
/// and when it copies from page-cache pages the sender handed over (sendfile) rather than from
/// buffers the sender just wrote (write), the receiver, which is the bottleneck, is slower.
/// Writing 1 MiB at a time from a mapping copies once, on the sender, with few system calls.
/// On loopback TCP the mapping falls behind sendfile for small files, whose mapping set-up
/// and tear-down cost more than the copy saves, and leads from a few hundred KiB on; the
/// threshold and the measurements behind it are in docs/benchmarks.md ("Zero-copy copies").
const MIN_MMAP_TO_LOCAL_IP_SOCKET: u64 = 1 << 20;

/// [`MIN_MMAP_TO_LOCAL_IP_SOCKET`] for a Unix socket, where sendfile stays ahead for longer
/// (docs/benchmarks.md, "Zero-copy copies").
const MIN_MMAP_TO_UNIX_SOCKET: u64 = 16 << 20;

/// The buffer of the read/write method: large enough that system calls are not the cost.
pub const READ_WRITE_BUFFER: usize = 128 << 10;

/// Bytes mapped at a time by the mmap method.
const MMAP_WINDOW: usize = 64 << 20;

/// Options of [`transfer_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransferOptions {
    /// Force this method (an error if it cannot copy between the two descriptors); `None`
    /// picks the fastest that works and falls back when the kernel refuses one.
    pub method: Option<Method>,
    /// What to do with pipe capacities.
    pub pipe_size: PipeSize,
}

/// A method the kernel refused before the one that did the copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fallback {
    /// The method refused.
    pub method: Method,
    /// Why, as the kernel said it (`EXDEV: Invalid cross-device link`, ...).
    pub reason: String,
    /// `true` when it was not tried again: an earlier transfer between the same kinds of
    /// descriptor on the same devices was refused the same way.
    pub remembered: bool,
}

/// What [`transfer`] did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferStats {
    /// Bytes copied.
    pub bytes: u64,
    /// The method that copied them (the last one tried).
    pub method: Method,
    /// Wall time of the whole transfer, including the choice and any pipe resizing.
    pub elapsed: Duration,
    /// What the source is.
    pub src: FdKind,
    /// What the destination is.
    pub dst: FdKind,
    /// Methods tried first and refused by the kernel, in order.
    pub fallbacks: Vec<Fallback>,
    /// The destination pipe's resize, when one was made.
    pub pipe: Option<PipeCapacity>,
}

impl TransferStats {
    /// Throughput in bytes per second (0 for an empty or instant copy).
    #[must_use]
    pub fn bytes_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.bytes as f64 / secs
        } else {
            0.0
        }
    }
}

/// Copies from `src` to `dst` with the fastest method that works for them, until `len` bytes
/// have moved or, with `None`, to the end of the input. Uses and advances both descriptors'
/// file offsets. See [`transfer_with`].
pub fn transfer(src: impl AsFd, dst: impl AsFd, len: Option<u64>) -> Result<TransferStats> {
    transfer_with(src, dst, len, &TransferOptions::default())
}

/// Copies from `src` to `dst` as `options` say, until `len` bytes have moved or, with `None`,
/// to the end of the input.
///
/// The automatic choice, by source → destination:
///
/// | Source → destination | Tried in order |
/// |---|---|
/// | file → file | `copy_file_range`, `sendfile`, read/write |
/// | file → pipe | splice into the pipe grown to 1 MiB; read/write if it cannot grow to 256 KiB |
/// | file → socket with a peer on this host: from 1 MiB (IP), 16 MiB (Unix) | mmap, `sendfile`, read/write |
/// | file → other socket, device | `sendfile`, read/write |
/// | pipe, socket → pipe | splice into the pipe grown to 1 MiB, read/write |
/// | pipe → anything else | splice, read/write |
/// | socket → socket | splice through a pipe, read/write |
/// | socket → file | read/write (splice through a pipe measured slower) |
/// | anything else | read/write |
///
/// A method the kernel refuses with `EINVAL`, `ENOSYS`, `EXDEV`, `EOPNOTSUPP` or (mmap of
/// a file system without mappings) `ENODEV` is
/// remembered for that pair of descriptor kinds and devices and skipped from then on; the next
/// one continues from where it stopped. A destination opened with `O_APPEND` is copied with
/// read/write (the kernel refuses the others).
///
/// # Errors
///
/// [`ZeroCopyError::Unsupported`] for a forced method that cannot apply, before anything is
/// copied; [`ZeroCopyError::SameFile`] when both name one file; [`ZeroCopyError::Syscall`]
/// when a call fails (with the bytes already copied).
pub fn transfer_with(
    src: impl AsFd,
    dst: impl AsFd,
    len: Option<u64>,
    options: &TransferOptions,
) -> Result<TransferStats> {
    let started = Instant::now();
    let (src, dst) = (src.as_fd(), dst.as_fd());
    let src_info = inspect(src)?;
    let dst_info = inspect(dst)?;
    if src_info.same_file(&dst_info) {
        return Err(ZeroCopyError::SameFile);
    }
    let mut pipe = None;
    let plan = if let Some(method) = options.method {
        if let Some(reason) = method.refusal(&src_info, &dst_info) {
            return Err(unsupported(method, &src_info, &dst_info, reason));
        }
        if dst_info.kind == FdKind::Pipe {
            pipe = match options.pipe_size {
                PipeSize::Bytes(bytes) => Some(set_pipe_capacity(dst, bytes)?),
                PipeSize::Auto if method != Method::ReadWrite => {
                    grow_destination_pipe(dst, PipeSize::Auto)
                }
                _ => None,
            };
        }
        vec![method]
    } else {
        let (plan, resized) = auto_plan(&src_info, &dst_info, dst, options.pipe_size)?;
        pipe = resized;
        plan
    };
    let mut stats = TransferStats {
        bytes: 0,
        method: plan[0],
        elapsed: Duration::ZERO,
        src: src_info.kind,
        dst: dst_info.kind,
        fallbacks: Vec::new(),
        pipe,
    };
    let forced = options.method.is_some();
    for (index, &method) in plan.iter().enumerate() {
        let last = index + 1 == plan.len();
        let key = ProbeKey::new(method, &src_info, &dst_info);
        if !forced
            && !last
            && let Some(reason) = remembered_refusal(&key)
        {
            stats.fallbacks.push(Fallback {
                method,
                reason,
                remembered: true,
            });
            continue;
        }
        stats.method = method;
        let remaining = len.map(|len| len - stats.bytes);
        match run(method, src, dst, &src_info, &dst_info, remaining, options) {
            Ok(moved) => {
                stats.bytes += moved;
                stats.elapsed = started.elapsed();
                return Ok(stats);
            }
            Err(failure) => {
                stats.bytes += failure.stopped.moved;
                let refused = failure.can_fall_back
                    && matches!(
                        failure.stopped.errno,
                        Errno::EINVAL
                            | Errno::ENOSYS
                            | Errno::EXDEV
                            | Errno::EOPNOTSUPP
                            | Errno::ENODEV
                    );
                if forced || last || !refused {
                    return Err(ZeroCopyError::Syscall {
                        call: failure.stopped.call,
                        moved: stats.bytes,
                        source: failure.stopped.errno.into(),
                    });
                }
                let reason = describe(failure.stopped.call, failure.stopped.errno);
                if failure.stopped.moved == 0 {
                    remember_refusal(key, &reason);
                }
                stats.fallbacks.push(Fallback {
                    method,
                    reason,
                    remembered: false,
                });
            }
        }
    }
    // The plan always ends with a method that is run to success or error above.
    stats.elapsed = started.elapsed();
    Ok(stats)
}

fn unsupported(method: Method, src: &FdInfo, dst: &FdInfo, reason: &str) -> ZeroCopyError {
    let alternatives: Vec<&str> = Method::ALL
        .into_iter()
        .filter(|m| m.refusal(src, dst).is_none())
        .map(Method::name)
        .collect();
    ZeroCopyError::Unsupported {
        method,
        src: src.kind,
        dst: dst.kind,
        reason: reason.to_string(),
        alternatives: alternatives.join(", "),
    }
}

fn describe(call: &str, errno: Errno) -> String {
    format!("{call}: {errno:?}: {}", errno.desc())
}

/// The automatic order of methods for a pair of descriptors, after growing a destination
/// pipe when splice into it is planned.
fn auto_plan(
    src: &FdInfo,
    dst: &FdInfo,
    dst_fd: BorrowedFd<'_>,
    pipe_size: PipeSize,
) -> Result<(Vec<Method>, Option<PipeCapacity>)> {
    use FdKind::{BlockDevice, File, Pipe, Socket};
    if dst.append {
        return Ok((vec![Method::ReadWrite], None));
    }
    let plan = match (src.kind, dst.kind) {
        (File, File) => vec![Method::CopyFileRange, Method::Sendfile, Method::ReadWrite],
        (File | BlockDevice, Pipe) => {
            let resized = grow_destination_pipe(dst_fd, pipe_size);
            let capacity = match resized {
                Some(c) => c.granted,
                None => pipe_capacity(dst_fd)?,
            };
            let plan = if capacity >= MIN_SPLICE_PIPE {
                vec![Method::Splice, Method::ReadWrite]
            } else {
                vec![Method::ReadWrite]
            };
            return Ok((plan, resized));
        }
        (File, Socket) if dst.local_peer && src.size >= min_mmap_to_local_socket(dst) => {
            vec![Method::Mmap, Method::Sendfile, Method::ReadWrite]
        }
        (File | BlockDevice, _) => vec![Method::Sendfile, Method::ReadWrite],
        (Pipe | Socket, Pipe) => {
            // Pipe → pipe splice moves buffer references without copying; into a default
            // 64 KiB pipe the wake-ups dominate and it is slower than the 8 KiB loop, so the
            // destination pipe is grown first (docs/benchmarks.md).
            let resized = grow_destination_pipe(dst_fd, pipe_size);
            return Ok((vec![Method::Splice, Method::ReadWrite], resized));
        }
        (Pipe, _) | (Socket, Socket) => vec![Method::Splice, Method::ReadWrite],
        _ => vec![Method::ReadWrite],
    };
    Ok((plan, None))
}

fn min_mmap_to_local_socket(dst: &FdInfo) -> u64 {
    if dst.family == Some(SocketFamily::Unix) {
        MIN_MMAP_TO_UNIX_SOCKET
    } else {
        MIN_MMAP_TO_LOCAL_IP_SOCKET
    }
}

/// Grows the destination pipe for splice (never shrinks it). A refusal (`EPERM` over the
/// per-user quota) is not an error: the plan then copies with read/write.
fn grow_destination_pipe(dst: BorrowedFd<'_>, pipe_size: PipeSize) -> Option<PipeCapacity> {
    let target = match pipe_size {
        PipeSize::Auto => AUTO_PIPE_SIZE,
        PipeSize::Keep => return None,
        PipeSize::Bytes(bytes) => return set_pipe_capacity(dst, bytes).ok(),
    };
    let current = pipe_capacity(dst).ok()?;
    if current >= target {
        return None;
    }
    set_pipe_capacity(dst, target).ok()
}

/// A method that stopped: the call and bytes, and whether another method may take over
/// (false when bytes are stuck in an intermediate pipe).
struct Failure {
    stopped: Stopped,
    can_fall_back: bool,
}

impl From<Stopped> for Failure {
    fn from(stopped: Stopped) -> Self {
        Failure {
            stopped,
            can_fall_back: true,
        }
    }
}

fn run(
    method: Method,
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    src_info: &FdInfo,
    dst_info: &FdInfo,
    len: Option<u64>,
    options: &TransferOptions,
) -> Result<u64, Failure> {
    match method {
        Method::CopyFileRange => Ok(copy_file_range_raw(src, dst, len)?),
        Method::Sendfile => Ok(sendfile_raw(src, dst, len)?),
        Method::Splice if src_info.kind == FdKind::Pipe || dst_info.kind == FdKind::Pipe => {
            Ok(splice_raw(src, dst, len)?)
        }
        Method::Splice => splice_through_pipe(src, dst, len, options.pipe_size),
        Method::Mmap => {
            let mapped = mmap_write(src, dst, src_info.size, len)?;
            if len.is_some() || !grew(src, src_info.size) {
                return Ok(mapped);
            }
            // The file grew during the copy: the rest by read/write, so that "to the end of
            // the input" means the same for every method.
            let mut buf = vec![0u8; READ_WRITE_BUFFER];
            let tail = read_write(src, dst, None, &mut buf).map_err(|s| Failure {
                stopped: Stopped {
                    moved: mapped + s.moved,
                    ..s
                },
                can_fall_back: false,
            })?;
            Ok(mapped + tail)
        }
        Method::ReadWrite => {
            let mut buf = vec![0u8; read_write_buffer(dst, dst_info)];
            Ok(
                read_write(src, dst, len, &mut buf).map_err(|stopped| Failure {
                    stopped,
                    can_fall_back: false,
                })?,
            )
        }
    }
}

/// The read/write buffer: [`READ_WRITE_BUFFER`], except into a pipe, where a write larger
/// than an eighth of its capacity keeps blocking until the reader has emptied it (measured
/// into a default 64 KiB pipe: 128 KiB writes ran at half the speed of 8 KiB writes).
fn read_write_buffer(dst: BorrowedFd<'_>, dst_info: &FdInfo) -> usize {
    if dst_info.kind == FdKind::Pipe {
        let capacity = pipe_capacity(dst).unwrap_or(64 << 10);
        (capacity / 8).clamp(8 << 10, READ_WRITE_BUFFER)
    } else {
        READ_WRITE_BUFFER
    }
}

/// splice between two non-pipes: source → a pipe of our own → destination.
fn splice_through_pipe(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    len: Option<u64>,
    pipe_size: PipeSize,
) -> Result<u64, Failure> {
    let setup = |errno: Errno| Failure {
        stopped: Stopped {
            call: "pipe2",
            moved: 0,
            errno,
        },
        can_fall_back: false,
    };
    let pipe = Pipe::new().map_err(|e| setup(errno_of(&e)))?;
    if let PipeSize::Bytes(bytes) = pipe_size {
        pipe.set_capacity(bytes).map_err(|e| setup(errno_of(&e)))?;
    }
    let capacity = pipe.capacity().map_err(|e| setup(errno_of(&e)))?;
    let (reader, writer) = (pipe.reader.as_fd(), pipe.writer.as_fd());
    let mut moved = 0u64;
    while len.is_none_or(|len| moved < len) {
        let want = len.map_or(capacity, |len| {
            usize::try_from(len - moved).unwrap_or(CHUNK).min(capacity)
        });
        let filled = match nix::fcntl::splice(
            src,
            None,
            writer,
            None,
            want,
            nix::fcntl::SpliceFFlags::SPLICE_F_MOVE,
        ) {
            Ok(0) => break,
            Ok(n) => n as u64,
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => {
                wait_for(src, nix::poll::PollFlags::POLLIN).map_err(|errno| Stopped {
                    call: "poll",
                    moved,
                    errno,
                })?;
                continue;
            }
            Err(errno) => {
                return Err(Stopped {
                    call: "splice",
                    moved,
                    errno,
                }
                .into());
            }
        };
        // Drain what was filled; bytes left in our pipe would be lost, so no fallback now.
        let drained = drive("splice", reader, dst, Some(filled), |n| {
            nix::fcntl::splice(
                reader,
                None,
                dst,
                None,
                n,
                nix::fcntl::SpliceFFlags::SPLICE_F_MOVE,
            )
        })
        .map_err(|s| Failure {
            stopped: Stopped {
                moved: moved + s.moved,
                ..s
            },
            can_fall_back: false,
        })?;
        moved += drained;
        if drained < filled {
            return Err(Failure {
                stopped: Stopped {
                    call: "splice",
                    moved,
                    errno: Errno::EPIPE,
                },
                can_fall_back: false,
            });
        }
    }
    Ok(moved)
}

fn errno_of(e: &ZeroCopyError) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Whether the file `fd` is now larger than `size` bytes.
fn grew(fd: BorrowedFd<'_>, size: u64) -> bool {
    nix::sys::stat::fstat(fd)
        .is_ok_and(|stat| u64::try_from(stat.st_size).is_ok_and(|now| now > size))
}

/// The mmap method: map the source from its current offset in windows and `write(2)` each
/// window. The mapping is only ever read by the kernel (inside `write`), never through a Rust
/// reference, so a source truncated meanwhile makes `write` fail with `EFAULT` instead of
/// raising `SIGBUS` or reading freed memory.
fn mmap_write(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    size: u64,
    len: Option<u64>,
) -> Result<u64, Stopped> {
    let lseek_failed = |moved: u64| {
        move |errno| Stopped {
            call: "lseek",
            moved,
            errno,
        }
    };
    let start = lseek(src, 0, Whence::SeekCur).map_err(lseek_failed(0))?;
    let start = u64::try_from(start).unwrap_or(0);
    let end = len.map_or(size, |len| size.min(start.saturating_add(len)));
    let page = page_size();
    let mut offset = start;
    while offset < end {
        let window_start = offset - offset % page;
        let window_len = usize::try_from(end - window_start)
            .unwrap_or(MMAP_WINDOW)
            .min(MMAP_WINDOW);
        let skip = (offset - window_start) as usize;
        let Some(length) = std::num::NonZeroUsize::new(window_len) else {
            break;
        };
        let map_offset = libc::off_t::try_from(window_start).map_err(|_| Stopped {
            call: "mmap",
            moved: offset - start,
            errno: Errno::EOVERFLOW,
        })?;
        // SAFETY: a fresh read-only shared mapping chosen by the kernel (no fixed address), so
        // it cannot overlap anything Rust owns. Its memory is only passed to write(2) below.
        let addr = unsafe {
            mmap(
                None,
                length,
                ProtFlags::PROT_READ,
                MapFlags::MAP_SHARED | MapFlags::MAP_POPULATE,
                src,
                map_offset,
            )
        }
        .map_err(|errno| Stopped {
            call: "mmap",
            moved: offset - start,
            errno,
        })?;
        // SAFETY: `addr..addr + window_len` is the mapping made above. The advice is a hint.
        let _ = unsafe { madvise(addr, window_len, MmapAdvise::MADV_SEQUENTIAL) };
        let data: NonNull<u8> = addr.cast();
        // SAFETY: `skip < window_len`, so the pointer stays inside the mapping, and
        // `window_len - skip` bytes from it are mapped. The kernel reads them inside write(2).
        let written = unsafe {
            write_all_raw(
                dst,
                data.as_ptr().add(skip),
                window_len - skip,
                offset - start,
            )
        };
        // SAFETY: unmaps exactly the mapping made above; no reference into it exists.
        let _ = unsafe { munmap(addr, window_len) };
        written?;
        offset = window_start + window_len as u64;
        let position = libc::off_t::try_from(offset).unwrap_or(libc::off_t::MAX);
        lseek(src, position, Whence::SeekSet).map_err(lseek_failed(offset - start))?;
    }
    Ok(offset.saturating_sub(start))
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096).max(1)
}

/// A method refused for a pair of descriptor kinds on a pair of devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ProbeKey {
    method: Method,
    src: FdKind,
    dst: FdKind,
    src_dev: u64,
    dst_dev: u64,
}

impl ProbeKey {
    fn new(method: Method, src: &FdInfo, dst: &FdInfo) -> ProbeKey {
        ProbeKey {
            method,
            src: src.kind,
            dst: dst.kind,
            src_dev: src.dev,
            dst_dev: dst.dev,
        }
    }
}

/// Refusals seen so far in this process (few: one per method and pair of device kinds).
static REFUSED: Mutex<Vec<(ProbeKey, String)>> = Mutex::new(Vec::new());

fn remembered_refusal(key: &ProbeKey) -> Option<String> {
    let refused = REFUSED.lock().unwrap_or_else(PoisonError::into_inner);
    refused
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, reason)| reason.clone())
}

fn remember_refusal(key: ProbeKey, reason: &str) {
    let mut refused = REFUSED.lock().unwrap_or_else(PoisonError::into_inner);
    if !refused.iter().any(|(k, _)| *k == key) {
        refused.push((key, reason.to_string()));
    }
}

/// Forgets every remembered refusal, so the next transfers probe again (after a kernel
/// module or mount changed, or in tests).
pub fn forget_refusals() {
    REFUSED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
}
