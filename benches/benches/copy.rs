//! Copying a 256 MiB file in the page cache: `perfkit_zerocopy::transfer` (`perfkit_auto`)
//! against the 8 KiB read/write loop most code has (`read_write_8k`) and `std::io::copy`
//! (`std_io_copy`), into a pipe, a file and a TCP socket; and reading the file through
//! `perfkit_zerocopy::MmapBuffer` against `read_to_end`.
//!
//! Sinks drain fully: a reader thread empties the pipe or socket (into a 128 KiB buffer), and
//! each sample lasts until it has every byte; a file sink is a new file on the same disk.
//! Run: `cargo bench -p perfkit-benches --bench copy` (or `cargo bench -p perfkit-benches --
//! copy_`); targets and results in `docs/benchmarks.md`.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use perfkit_benches::copy_work::{
    COPY_CONTENDERS, DrainedSink, FILE_SIZE, cached_file, copy_with, sum_bytes,
};
use perfkit_zerocopy::{MapOptions, MmapBuffer};

/// The source file, made once per run in cargo's scratch directory (on disk, page-cached).
struct Source {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn source() -> Source {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("scratch directory");
    let path = cached_file(dir.path(), "src.bin", FILE_SIZE).expect("source file");
    Source { _dir: dir, path }
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.throughput(Throughput::Bytes(FILE_SIZE));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(8));
}

/// One timed copy of the whole source into a fresh destination made by `sink`.
fn timed_copy(which: usize, src: &Path, sink: &dyn Fn() -> Destination) -> Duration {
    let file = File::open(src).expect("open source");
    let mut dst = sink();
    let started = Instant::now();
    let copied = copy_with(which, file.as_fd(), dst.fd()).expect("copy");
    let received = dst.finish(copied);
    let elapsed = started.elapsed();
    assert_eq!(
        received, FILE_SIZE,
        "{} copied short",
        COPY_CONTENDERS[which]
    );
    elapsed
}

/// Where a copy goes.
enum Destination {
    Drained(DrainedSink),
    File(OwnedFd, PathBuf),
}

impl Destination {
    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Destination::Drained(sink) => sink.fd(),
            Destination::File(fd, _) => fd.as_fd(),
        }
    }

    /// Bytes the destination received (for a pipe or socket, once the reader has them all).
    fn finish(&mut self, copied: u64) -> u64 {
        match self {
            Destination::Drained(sink) => sink.finish().expect("drain"),
            Destination::File(..) => copied,
        }
    }
}

impl Drop for Destination {
    fn drop(&mut self) {
        if let Destination::File(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn copy_group(c: &mut Criterion, name: &str, src: &Path, sink: &dyn Fn() -> Destination) {
    let mut group = c.benchmark_group(name);
    configure(&mut group);
    for (which, contender) in COPY_CONTENDERS.iter().enumerate() {
        group.bench_function(*contender, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| timed_copy(which, src, sink)).sum());
        });
    }
    group.finish();
}

fn copies(c: &mut Criterion) {
    let src = source();
    copy_group(c, "copy_file_to_pipe", &src.path, &|| {
        Destination::Drained(DrainedSink::pipe().expect("pipe"))
    });
    let dst_path = src.path.with_file_name("dst.bin");
    copy_group(c, "copy_file_to_file", &src.path, &|| {
        let file = File::create(&dst_path).expect("destination file");
        Destination::File(file.into(), dst_path.clone())
    });
    copy_group(c, "copy_file_to_socket", &src.path, &|| {
        Destination::Drained(DrainedSink::tcp().expect("socket"))
    });

    let mut group = c.benchmark_group("mmap_read");
    configure(&mut group);
    group.bench_function("read_to_end", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let started = Instant::now();
                    let mut data = Vec::new();
                    File::open(&src.path)
                        .and_then(|mut f| f.read_to_end(&mut data))
                        .expect("read");
                    std::hint::black_box(sum_bytes(&data));
                    started.elapsed()
                })
                .sum()
        });
    });
    group.bench_function("perfkit_mmap", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let started = Instant::now();
                    let options = MapOptions {
                        populate: true,
                        sequential: true,
                    };
                    // SAFETY: the benchmark's own scratch file; nothing truncates or writes it
                    // while mapped.
                    let map = unsafe { MmapBuffer::open(&src.path, options) }.expect("map");
                    std::hint::black_box(sum_bytes(&map));
                    started.elapsed()
                })
                .sum()
        });
    });
    group.finish();
}

criterion_group!(benches, copies);
criterion_main!(benches);
