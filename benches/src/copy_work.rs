//! The copy workloads, shared by the criterion benchmark (`benches/copy.rs`) and the method
//! matrix (`examples/copy_matrix.rs`): a source file in the page cache, and sinks that drain
//! fully (a reader thread for pipes and sockets; `/dev/null` copies nothing and is never used).

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use perfkit_zerocopy::{Method, Pipe, TransferOptions, transfer, transfer_with};

/// Bytes of the benchmark's source file.
pub const FILE_SIZE: u64 = 256 << 20;

/// The buffer a draining reader reads with.
const DRAIN_BUFFER: usize = 128 << 10;

/// A file of `size` pseudo-random bytes at `dir/name`, read once so it sits in the page cache.
///
/// # Errors
///
/// When the file cannot be written or read back.
pub fn cached_file(dir: &Path, name: &str, size: u64) -> io::Result<PathBuf> {
    let path = dir.join(name);
    let mut file = File::create(&path)?;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut block = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for chunk in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    file.sync_all()?;
    drop(file);
    let mut sink = vec![0u8; 1 << 20];
    let mut file = File::open(&path)?;
    while file.read(&mut sink)? > 0 {}
    Ok(path)
}

/// A source fed by a thread that splices a cached file into a pipe or sends it into a
/// socket (zero-copy, so the feeder is not what limits the copy under test).
#[derive(Debug)]
pub struct FedSource {
    /// The end to copy from (a pipe's read end or a connected TCP socket).
    pub reader: OwnedFd,
    feeder: Option<JoinHandle<io::Result<u64>>>,
}

impl FedSource {
    /// A pipe grown to 1 MiB, fed with the file at `path`.
    ///
    /// # Errors
    ///
    /// When the pipe cannot be made or the file opened.
    pub fn pipe(path: &Path) -> io::Result<FedSource> {
        let pipe = Pipe::with_capacity(1 << 20).map_err(io::Error::other)?;
        let file = File::open(path)?;
        let writer = pipe.writer;
        Ok(FedSource {
            reader: pipe.reader,
            feeder: Some(std::thread::spawn(move || {
                transfer(&file, &writer, None)
                    .map(|s| s.bytes)
                    .map_err(io::Error::other)
            })),
        })
    }

    /// A loopback TCP connection, fed with the file at `path` by `sendfile`.
    ///
    /// # Errors
    ///
    /// When the connection cannot be made or the file opened.
    pub fn tcp(path: &Path) -> io::Result<FedSource> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let client = TcpStream::connect(listener.local_addr()?)?;
        let (server, _) = listener.accept()?;
        let file = File::open(path)?;
        Ok(FedSource {
            reader: OwnedFd::from(server),
            feeder: Some(std::thread::spawn(move || {
                transfer(&file, &client, None)
                    .map(|s| s.bytes)
                    .map_err(io::Error::other)
            })),
        })
    }

    /// Waits for the feeder; returns the bytes it sent.
    ///
    /// # Errors
    ///
    /// When the feeder failed.
    ///
    /// # Panics
    ///
    /// If the feeder thread panicked.
    pub fn finish(&mut self) -> io::Result<u64> {
        self.feeder
            .take()
            .map_or(Ok(0), |h| h.join().expect("feeder thread"))
    }
}

/// A destination whose far side drains everything into a buffer on another thread.
#[derive(Debug)]
pub struct DrainedSink {
    /// The end to copy into (a pipe's write end or a connected TCP socket).
    pub writer: Option<OwnedFd>,
    reader: Option<JoinHandle<io::Result<u64>>>,
}

impl DrainedSink {
    /// A pipe with the kernel's default capacity, drained by a thread.
    ///
    /// # Errors
    ///
    /// When the pipe cannot be made.
    pub fn pipe() -> io::Result<DrainedSink> {
        let pipe = Pipe::new().map_err(io::Error::other)?;
        let reader = File::from(pipe.reader);
        Ok(DrainedSink {
            writer: Some(pipe.writer),
            reader: Some(std::thread::spawn(move || drain(reader))),
        })
    }

    /// A loopback TCP connection, drained by a thread.
    ///
    /// # Errors
    ///
    /// When the connection cannot be made.
    pub fn tcp() -> io::Result<DrainedSink> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let client = TcpStream::connect(listener.local_addr()?)?;
        let (server, _) = listener.accept()?;
        Ok(DrainedSink {
            writer: Some(OwnedFd::from(client)),
            reader: Some(std::thread::spawn(move || drain(server))),
        })
    }

    /// A connected Unix stream socket pair, drained by a thread.
    ///
    /// # Errors
    ///
    /// When the pair cannot be made.
    pub fn unix() -> io::Result<DrainedSink> {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        Ok(DrainedSink {
            writer: Some(OwnedFd::from(ours)),
            reader: Some(std::thread::spawn(move || drain(theirs))),
        })
    }

    /// The end to copy into.
    ///
    /// # Panics
    ///
    /// After [`finish`](DrainedSink::finish).
    #[must_use]
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.writer.as_ref().expect("sink not finished").as_fd()
    }

    /// Closes the writing end and waits until the reader has drained everything; returns the
    /// bytes it read.
    ///
    /// # Errors
    ///
    /// When the reader failed.
    ///
    /// # Panics
    ///
    /// If the reader thread panicked.
    pub fn finish(&mut self) -> io::Result<u64> {
        drop(self.writer.take());
        self.reader
            .take()
            .map_or(Ok(0), |h| h.join().expect("reader thread"))
    }
}

fn drain(mut from: impl Read) -> io::Result<u64> {
    let mut buf = vec![0u8; DRAIN_BUFFER];
    let mut total = 0u64;
    loop {
        match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The copy loop most hand-written code has: `read` 8 KiB, `write_all` it.
///
/// # Errors
///
/// When a read or write fails.
pub fn read_write_8k(src: &mut impl Read, dst: &mut impl Write) -> io::Result<u64> {
    let mut buf = [0u8; 8192];
    let mut total = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        dst.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// The copying contenders of the file → X groups, in the order criterion runs them.
pub const COPY_CONTENDERS: [&str; 3] = ["read_write_8k", "std_io_copy", "perfkit_auto"];

/// Copies all of `src` into `dst` with contender `which` of [`COPY_CONTENDERS`] (or, past
/// them, with a forced perfkit method: `3 + index` into [`Method::ALL`]).
///
/// # Errors
///
/// When the copy fails.
pub fn copy_with(which: usize, src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> io::Result<u64> {
    match which {
        0 | 1 => {
            // `File`s on duplicates of the descriptors (same open files, same offsets), closed
            // when the copy is done. `io::copy` specialises on `File` to the kernel calls.
            let mut src_file = File::from(src.try_clone_to_owned()?);
            let mut dst_file = File::from(dst.try_clone_to_owned()?);
            if which == 0 {
                read_write_8k(&mut src_file, &mut dst_file)
            } else {
                io::copy(&mut src_file, &mut dst_file)
            }
        }
        2 => transfer(src, dst, None)
            .map(|s| s.bytes)
            .map_err(io::Error::other),
        n => {
            let options = TransferOptions {
                method: Some(Method::ALL[(n - 3) % Method::ALL.len()]),
                ..TransferOptions::default()
            };
            transfer_with(src, dst, None, &options)
                .map(|s| s.bytes)
                .map_err(io::Error::other)
        }
    }
}

/// Sums every byte (the `mmap_read` work: both contenders read the data the same way).
#[must_use]
pub fn sum_bytes(data: &[u8]) -> u64 {
    data.iter().map(|&b| u64::from(b)).sum()
}
