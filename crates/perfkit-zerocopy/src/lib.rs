//! Zero-copy I/O for Linux: `splice`, `tee`, `sendfile` and `copy_file_range` looped to
//! completion, pipes with a settable capacity, memory-mapped buffers, and [`transfer`], which
//! looks at both descriptors and picks the fastest method that works for them.
//!
//! ```no_run
//! use std::fs::File;
//! use perfkit_zerocopy::{Method, TransferOptions, transfer, transfer_with};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The automatic choice: copy_file_range here (file → file), with fallbacks.
//! let src = File::open("big.bin")?;
//! let dst = File::create("copy.bin")?;
//! let stats = transfer(&src, &dst, None)?;
//! println!("{} bytes by {} in {:?}", stats.bytes, stats.method, stats.elapsed);
//!
//! // Into standard output: when it is a pipe, splice into it after growing it to 1 MiB.
//! let src = File::open("big.bin")?;
//! transfer(&src, std::io::stdout(), None)?;
//!
//! // One method, forced (an error if it cannot copy between the two).
//! let src = File::open("big.bin")?;
//! let options = TransferOptions { method: Some(Method::Mmap), ..TransferOptions::default() };
//! transfer_with(&src, std::io::stdout(), None, &options)?;
//! # Ok(()) }
//! ```
//!
//! # The methods, and when each applies
//!
//! | Method | Source | Destination | Copies in user space |
//! |---|---|---|---|
//! | [`copy_file_range`] | regular file | regular file (not `O_APPEND`) | none; may share extents |
//! | [`sendfile`] | regular file, block device | anything but `O_APPEND` files | none |
//! | [`splice`] | anything | anything (one side must be a pipe; [`transfer`] adds one) | none |
//! | [`Method::Mmap`] | regular file | anything | one (kernel reads the mapping) |
//! | [`Method::ReadWrite`] | anything | anything | two |
//!
//! What was measured here (docs/benchmarks.md): `std::io::copy` already uses
//! `copy_file_range` for file → file and `sendfile` for file → socket, but an 8 KiB read/write
//! loop for file → pipe. Splicing a file into a *default* 64 KiB pipe is slower than that loop;
//! into a pipe grown to 1 MiB with `F_SETPIPE_SZ` it is about three times faster. So
//! [`transfer`] grows a destination pipe before splicing into it, and copies with read/write
//! when it cannot. It never picks a method slower than the 8 KiB loop.
//!
//! Into a socket whose peer is on this host (a Unix socket, loopback TCP), zero-copy saves
//! nothing: the receiver copies every byte out of the socket either way, it is the bottleneck,
//! and it copies faster from buffers the sender just wrote than from page-cache pages that
//! sendfile hands over. There [`transfer`] writes a large file (from 1 MiB into an IP socket,
//! from 16 MiB into a Unix socket) from a mapping, 1 MiB per `write(2)` (one copy, on the
//! sender, few calls), which beats both sendfile and the 8 KiB loop there (docs/benchmarks.md).
//! For a remote peer it keeps `sendfile`, which lets the network card read the page cache
//! directly ([`FdInfo::local_peer`] tells the two apart).
//!
//! # Splicing a file aliases the page cache
//!
//! `splice` and `sendfile` from a file into a pipe do not copy the bytes: the pipe holds
//! references to the file's page-cache pages until the reader consumes them. If the file is
//! written in the meantime (by anyone), the reader can see the *new* bytes, even though the
//! splice returned before the write. Do not modify a file while data spliced from it may still
//! sit in a pipe or socket buffer; copy with [`Method::ReadWrite`] if you must.
//!
//! # Memory maps and `SIGBUS`
//!
//! A mapped file that shrinks under the mapping raises `SIGBUS` on the next access past the new
//! end, which kills the process; a file modified under a `&[u8]` breaks Rust's aliasing rules.
//! [`MmapBuffer`] and [`MmapWriter`] follow memmap2: their constructors are `unsafe` with the
//! contract spelled out, except [`MmapBuffer::from_sealed`], which checks that the kernel
//! forbids both. [`Method::Mmap`] in [`transfer`] is safe: its mapping is only read by the
//! kernel inside `write(2)`, which reports a truncated source as `EFAULT`.

//!
//! Linux only: on other platforms the crate is empty.

#[cfg(target_os = "linux")]
mod calls;
#[cfg(target_os = "linux")]
mod copy;
#[cfg(target_os = "linux")]
mod error;
#[cfg(target_os = "linux")]
mod fd;
#[cfg(target_os = "linux")]
mod mmap;
#[cfg(target_os = "linux")]
mod pipe;
#[cfg(target_os = "linux")]
mod report;
#[cfg(target_os = "linux")]
mod transfer;

#[cfg(target_os = "linux")]
pub use calls::{copy_file_range, sendfile, splice, tee};
#[cfg(target_os = "linux")]
pub use copy::{CopyError, CopyJob};
#[cfg(target_os = "linux")]
pub use error::{Result, ZeroCopyError};
#[cfg(target_os = "linux")]
pub use fd::{FdInfo, FdKind, SocketFamily, inspect};
#[cfg(target_os = "linux")]
pub use mmap::{MapOptions, MmapBuffer, MmapWriter};
#[cfg(target_os = "linux")]
pub use pipe::{Pipe, PipeCapacity, pipe_capacity, pipe_max_size, set_pipe_capacity};
#[cfg(target_os = "linux")]
pub use report::{CopyReport, copy_destination, human_bytes};
#[cfg(target_os = "linux")]
pub use transfer::{
    AUTO_PIPE_SIZE, Fallback, Method, PipeSize, READ_WRITE_BUFFER, TransferOptions, TransferStats,
    UnknownMethod, forget_refusals, transfer, transfer_with,
};
