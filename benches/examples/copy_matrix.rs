//! Every copy method on every source → destination pair, with throughput: the table behind
//! `perfkit_zerocopy::transfer`'s automatic choice (docs/benchmarks.md).
//!
//! ```text
//! cargo run --release -p perfkit-benches --example copy_matrix [-- MIB [ROUNDS [FILTER]]]
//! ```
//!
//! Each cell is the median of ROUNDS copies (default 5, the contenders taking turns copy by
//! copy) of a MIB-MiB file (default 256) in the
//! page cache. Pipe and socket sinks are drained by a reader thread; pipe and socket sources
//! are fed by a thread that splices/sends the cached file.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Instant;

use perfkit_benches::copy_work::{COPY_CONTENDERS, DrainedSink, FedSource, cached_file, copy_with};
use perfkit_zerocopy::Method;

#[derive(Clone, Copy, PartialEq)]
enum End {
    File,
    Pipe,
    Tcp,
    Unix,
}

fn name(end: End) -> &'static str {
    match end {
        End::File => "file",
        End::Pipe => "pipe",
        End::Tcp => "socket",
        End::Unix => "unix_socket",
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5).max(1);
    let filter = args.next().unwrap_or_default();
    let dir = tempfile::tempdir_in(std::env::var_os("COPY_DIR").unwrap_or_else(|| ".".into()))?;
    let size = mib << 20;
    let src_path = cached_file(dir.path(), "src.bin", size)?;
    let pairs = [
        (End::File, End::Pipe),
        (End::File, End::File),
        (End::File, End::Tcp),
        (End::File, End::Unix),
        (End::Pipe, End::File),
        (End::Tcp, End::File),
        (End::Pipe, End::Pipe),
        (End::Tcp, End::Pipe),
    ];
    for (src, dst) in pairs {
        let pair = format!("{}_to_{}", name(src), name(dst));
        if !pair.contains(&filter) {
            continue;
        }
        println!("{pair} ({mib} MiB, median of {rounds})");
        let contenders = COPY_CONTENDERS.len() + Method::ALL.len();
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); contenders];
        let mut failures: Vec<Option<std::io::Error>> = (0..contenders).map(|_| None).collect();
        // Rounds outside, contenders inside: every contender sees the same phases of a noisy
        // host, so the ratios hold even when absolute speeds drift.
        for _ in 0..rounds {
            for which in 0..contenders {
                if failures[which].is_some() {
                    continue;
                }
                match one_copy(which, src, dst, &src_path, dir.path(), size) {
                    Ok(rate) => rates[which].push(rate),
                    Err(e) => failures[which] = Some(e),
                }
            }
        }
        let mut baseline = None;
        for (which, (mut rates, failure)) in rates.into_iter().zip(failures).enumerate() {
            let label = match which {
                n if n < COPY_CONTENDERS.len() => COPY_CONTENDERS[n].to_string(),
                n => format!("perfkit_{}", Method::ALL[n - COPY_CONTENDERS.len()]),
            };
            if let Some(e) = failure {
                println!("  {label:<26} n/a ({e})");
                continue;
            }
            rates.sort_by(f64::total_cmp);
            let median = rates[rates.len() / 2];
            let base = *baseline.get_or_insert(median);
            println!(
                "  {label:<26} {median:6.2} GB/s  ×{:.2} read_write_8k",
                median / base
            );
        }
    }
    Ok(())
}

/// One copy; GB/s from the start of the copy until the sink has everything.
fn one_copy(
    which: usize,
    src: End,
    dst: End,
    src_path: &Path,
    dir: &Path,
    size: u64,
) -> std::io::Result<f64> {
    let mut fed = match src {
        End::File => None,
        End::Pipe => Some(FedSource::pipe(src_path)?),
        End::Tcp | End::Unix => Some(FedSource::tcp(src_path)?),
    };
    let src_file = match src {
        End::File => Some(File::open(src_path)?),
        _ => None,
    };
    let src_fd = match (&src_file, &fed) {
        (Some(f), _) => f.as_fd(),
        (None, Some(s)) => s.reader.as_fd(),
        (None, None) => unreachable!("a source is always made"),
    };
    let dst_path = dir.join("dst.bin");
    let mut drained = match dst {
        End::File => None,
        End::Pipe => Some(DrainedSink::pipe()?),
        End::Tcp => Some(DrainedSink::tcp()?),
        End::Unix => Some(DrainedSink::unix()?),
    };
    let dst_file: Option<OwnedFd> = match dst {
        End::File => Some(File::create(&dst_path)?.into()),
        _ => None,
    };
    let dst_fd = match (&dst_file, &drained) {
        (Some(f), _) => f.as_fd(),
        (None, Some(s)) => s.fd(),
        (None, None) => unreachable!("a destination is always made"),
    };
    let started = Instant::now();
    let copied = copy_with(which, src_fd, dst_fd)?;
    let received = match drained.as_mut() {
        Some(sink) => sink.finish()?,
        None => copied,
    };
    let elapsed = started.elapsed();
    if let Some(fed) = fed.as_mut() {
        fed.finish()?;
    }
    drop(dst_file);
    let _ = std::fs::remove_file(&dst_path);
    if received != size {
        return Err(std::io::Error::other(format!(
            "copied {received} of {size} bytes"
        )));
    }
    Ok(size as f64 / elapsed.as_secs_f64() / 1e9)
}
