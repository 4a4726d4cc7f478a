//! The report of one copy, for people (`to_text`) and programs (serialised; the fields are
//! documented in docs/formats.md).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::fd::FdKind;
use crate::pipe::PipeCapacity;
use crate::transfer::{Fallback, Method, TransferStats};

/// What a copy moved, how, and how fast.
#[derive(Clone, Debug, Serialize)]
pub struct CopyReport {
    /// The source path, or "standard input".
    pub source: String,
    /// The destination path written, or "standard output".
    pub destination: String,
    /// Bytes copied.
    pub bytes: u64,
    /// The method that copied them.
    pub method: Method,
    /// What the source is.
    pub source_kind: FdKind,
    /// What the destination is.
    pub destination_kind: FdKind,
    /// Wall time, in seconds.
    pub elapsed_s: f64,
    /// Throughput.
    pub bytes_per_sec: f64,
    /// Methods refused before the one that copied.
    pub fallbacks: Vec<Fallback>,
    /// The destination pipe's resize, if one was made.
    pub pipe: Option<PipeCapacity>,
}

impl CopyReport {
    /// The report of a transfer between the two named ends.
    #[must_use]
    pub fn new(source: String, destination: String, stats: &TransferStats) -> CopyReport {
        CopyReport {
            source,
            destination,
            bytes: stats.bytes,
            method: stats.method,
            source_kind: stats.src,
            destination_kind: stats.dst,
            elapsed_s: stats.elapsed.as_secs_f64(),
            bytes_per_sec: stats.bytes_per_sec(),
            fallbacks: stats.fallbacks.clone(),
            pipe: stats.pipe,
        }
    }

    /// One line for the copy, then one per refused method and one for a resized pipe.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "copied {} from {} to {} in {}: {} ({})\n",
            human_bytes(self.bytes),
            self.source,
            self.destination,
            human_duration(self.elapsed_s),
            human_rate(self.bytes_per_sec),
            self.method,
        );
        for fallback in &self.fallbacks {
            let how = if fallback.remembered {
                "skipped, refused earlier"
            } else {
                "refused"
            };
            let _ = writeln!(out, "  {} {how}: {}", fallback.method, fallback.reason);
        }
        if let Some(pipe) = &self.pipe {
            let capped = match pipe.max {
                Some(max) if pipe.requested > max => format!(
                    " (asked {}, capped at /proc/sys/fs/pipe-max-size)",
                    human_bytes(pipe.requested as u64)
                ),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  destination pipe: {} → {}{capped}",
                human_bytes(pipe.before as u64),
                human_bytes(pipe.granted as u64),
            );
        }
        out
    }
}

/// The file a copy of `src` to `dst` writes: `dst` itself, or `src`'s name inside `dst` when
/// `dst` is a directory (as `cp` does). `None` when `dst` is a directory and there is no name
/// to use (`src` is standard input or has no file name).
#[must_use]
pub fn copy_destination(src: Option<&Path>, dst: &Path) -> Option<PathBuf> {
    if !dst.is_dir() {
        return Some(dst.to_path_buf());
    }
    src.and_then(Path::file_name).map(|name| dst.join(name))
}

/// Bytes in binary units, one decimal.
#[must_use]
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn human_duration(secs: f64) -> String {
    if secs >= 1.0 {
        format!("{secs:.2} s")
    } else if secs >= 1e-3 {
        format!("{:.1} ms", secs * 1e3)
    } else {
        format!("{:.0} µs", secs * 1e6)
    }
}

fn human_rate(bytes_per_sec: f64) -> String {
    if bytes_per_sec >= 1e9 {
        format!("{:.2} GB/s", bytes_per_sec / 1e9)
    } else {
        format!("{:.1} MB/s", bytes_per_sec / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_take_the_largest_unit_below_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(u64::MAX), "16777216.0 TiB");
    }

    #[test]
    fn a_directory_destination_takes_the_source_name() {
        let dir = std::env::temp_dir();
        assert_eq!(
            copy_destination(Some(Path::new("/a/b.bin")), &dir),
            Some(dir.join("b.bin"))
        );
        assert_eq!(copy_destination(None, &dir), None);
        let file = dir.join("perfkit-no-such-file");
        assert_eq!(copy_destination(None, &file), Some(file.clone()));
    }
}
