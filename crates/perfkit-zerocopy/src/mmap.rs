//! Memory-mapped files: [`MmapBuffer`] to read, [`MmapWriter`] to write.
//!
//! A mapping shows the file as it is *now*: if another process (or this one) truncates the
//! file, touching a page past the new end raises `SIGBUS` and kills the process; if it writes
//! to the file, the bytes behind a `&[u8]` change, which Rust's aliasing rules forbid. As in
//! memmap2, the constructors are therefore `unsafe` and the caller promises that neither
//! happens while the mapping lives, except [`MmapBuffer::from_sealed`], which checks that the
//! kernel itself forbids both (a sealed memfd).

use std::fs::{File, OpenOptions};
use std::ops::{Deref, DerefMut};
use std::os::fd::AsFd;
use std::path::Path;

use memmap2::{Advice, Mmap, MmapMut, MmapOptions};
use nix::fcntl::{FcntlArg, SealFlag, fcntl};

use crate::error::{Result, ZeroCopyError};

/// How [`MmapBuffer`] maps a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MapOptions {
    /// Fault every page in while mapping (`MAP_POPULATE`): one pass in the kernel instead of
    /// a page fault per 4 KiB later. Much faster for reading a cached file once
    /// (docs/benchmarks.md, "Zero-copy copies").
    pub populate: bool,
    /// Tell the kernel the mapping will be read front to back (`MADV_SEQUENTIAL`): more
    /// read-ahead, pages dropped sooner.
    pub sequential: bool,
}

/// A read-only mapping of a whole file, readable as `&[u8]`.
#[derive(Debug)]
pub struct MmapBuffer {
    map: Mmap,
}

impl MmapBuffer {
    /// Maps the file at `path` read-only with default options.
    ///
    /// # Safety
    ///
    /// While the buffer lives, the file must not be truncated (reading a page past the new end
    /// raises `SIGBUS`) nor modified (the bytes behind the returned slice would change), by
    /// this process or any other.
    pub unsafe fn from_file(path: impl AsRef<Path>) -> Result<MmapBuffer> {
        // SAFETY: the caller upholds the contract of `open`, which is this function's.
        unsafe { MmapBuffer::open(path, MapOptions::default()) }
    }

    /// Maps the file at `path` read-only with `options`.
    ///
    /// # Safety
    ///
    /// As for [`from_file`](MmapBuffer::from_file).
    pub unsafe fn open(path: impl AsRef<Path>, options: MapOptions) -> Result<MmapBuffer> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| ZeroCopyError::File {
            action: "open",
            path: path.to_path_buf(),
            source,
        })?;
        // SAFETY: the caller upholds the contract of `map`, which is this function's.
        unsafe { MmapBuffer::map(&file, options) }.map_err(|e| match e {
            ZeroCopyError::Syscall { source, .. } => ZeroCopyError::File {
                action: "map",
                path: path.to_path_buf(),
                source,
            },
            other => other,
        })
    }

    /// Maps an open file read-only with `options`. The mapping stays valid after `file` is
    /// closed.
    ///
    /// # Safety
    ///
    /// As for [`from_file`](MmapBuffer::from_file).
    pub unsafe fn map(file: &File, options: MapOptions) -> Result<MmapBuffer> {
        let mut builder = MmapOptions::new();
        if options.populate {
            builder.populate();
        }
        // SAFETY: the caller promises the file is neither truncated nor modified while mapped.
        let map = unsafe { builder.map(file) }.map_err(|source| ZeroCopyError::Syscall {
            call: "mmap",
            moved: 0,
            source,
        })?;
        if options.sequential && !map.is_empty() {
            // A hint: a kernel that ignores it changes nothing but speed.
            let _ = map.advise(Advice::Sequential);
        }
        Ok(MmapBuffer { map })
    }

    /// Maps a file the kernel guarantees cannot change: it must carry the seals `F_SEAL_WRITE`
    /// and `F_SEAL_SHRINK` (a memfd created with `MFD_ALLOW_SEALING`, then sealed). No
    /// `unsafe` is needed because no process can break the contract of [`map`](Self::map).
    ///
    /// # Errors
    ///
    /// [`ZeroCopyError::NotSealed`] when either seal is missing (an ordinary file cannot be
    /// sealed at all).
    pub fn from_sealed(file: &File, options: MapOptions) -> Result<MmapBuffer> {
        let needed = SealFlag::F_SEAL_WRITE | SealFlag::F_SEAL_SHRINK;
        let seals = fcntl(file.as_fd(), FcntlArg::F_GET_SEALS)
            .map_or(SealFlag::empty(), SealFlag::from_bits_truncate);
        if !seals.contains(needed) {
            return Err(ZeroCopyError::NotSealed);
        }
        // SAFETY: with F_SEAL_WRITE and F_SEAL_SHRINK set (seals can never be removed), the
        // kernel refuses every write and truncation below the current size, from any process.
        unsafe { MmapBuffer::map(file, options) }
    }

    /// The mapped bytes.
    #[must_use]
    pub fn as_slice(&self) -> &[u8] {
        &self.map
    }
}

impl Deref for MmapBuffer {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.map
    }
}

impl AsRef<[u8]> for MmapBuffer {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}

/// A new file of a fixed length, written through a shared mapping.
/// [`flush`](MmapWriter::flush) writes the changes to disk; the kernel also writes them back
/// on its own, and when the writer is dropped the data stays in the page cache.
#[derive(Debug)]
pub struct MmapWriter {
    map: MmapMut,
    _file: File,
}

impl MmapWriter {
    /// Creates (or truncates) the file at `path`, sizes it to `len` bytes (zeros, sparse) and
    /// maps it read-write.
    ///
    /// # Safety
    ///
    /// While the writer lives, no other process (or other handle in this one) may truncate or
    /// write the file: a truncation makes the next access raise `SIGBUS`, a write changes
    /// memory behind a `&mut [u8]`.
    pub unsafe fn create(path: impl AsRef<Path>, len: usize) -> Result<MmapWriter> {
        let path = path.as_ref();
        let failed = |action: &'static str| {
            move |source| ZeroCopyError::File {
                action,
                path: path.to_path_buf(),
                source,
            }
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(failed("create"))?;
        file.set_len(len as u64).map_err(failed("size"))?;
        // SAFETY: the caller promises nobody else truncates or writes the file while mapped.
        let map = unsafe { MmapMut::map_mut(&file) }.map_err(failed("map"))?;
        Ok(MmapWriter { map, _file: file })
    }

    /// The mapped bytes, to write into.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.map
    }

    /// Writes the changes to disk and waits (`msync(MS_SYNC)`).
    pub fn flush(&self) -> Result<()> {
        self.map.flush().map_err(|source| ZeroCopyError::Syscall {
            call: "msync",
            moved: 0,
            source,
        })
    }

    /// Starts writing the changes to disk without waiting (`msync(MS_ASYNC)`).
    pub fn flush_async(&self) -> Result<()> {
        self.map
            .flush_async()
            .map_err(|source| ZeroCopyError::Syscall {
                call: "msync",
                moved: 0,
                source,
            })
    }
}

impl Deref for MmapWriter {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.map
    }
}

impl DerefMut for MmapWriter {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }
}
