//! I/O monitoring: count bytes, calls and time spent in reads and writes.

use std::fmt;
use std::io::{self, BufRead, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::format::{format_bytes, format_duration, format_rate};

/// Bytes, calls and time of reads and writes.
///
/// Rates are `None` when no time was spent (never a division by zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoStats {
    /// Bytes returned by reads (or consumed through `BufRead`).
    pub read_bytes: u64,
    /// Read calls, including `fill_buf` calls and failed reads.
    pub read_calls: u64,
    /// Time spent inside read calls.
    #[serde(rename = "read_time_ns", with = "crate::serde_ns")]
    pub read_time: Duration,
    /// Bytes accepted by writes.
    pub write_bytes: u64,
    /// Write and flush calls, including failed ones.
    pub write_calls: u64,
    /// Time spent inside write and flush calls.
    #[serde(rename = "write_time_ns", with = "crate::serde_ns")]
    pub write_time: Duration,
    /// Seek calls.
    pub seeks: u64,
    /// Calls that returned an error.
    pub errors: u64,
}

impl IoStats {
    /// Read throughput in bytes per second of time spent reading.
    #[must_use]
    pub fn read_rate(&self) -> Option<f64> {
        rate(self.read_bytes, self.read_time)
    }

    /// Write throughput in bytes per second of time spent writing.
    #[must_use]
    pub fn write_rate(&self) -> Option<f64> {
        rate(self.write_bytes, self.write_time)
    }

    /// Counts one read call that started at `start` and moved `bytes` (`None`: it failed).
    fn read_done(&mut self, start: Instant, bytes: Option<usize>) {
        self.read_calls += 1;
        self.read_time += start.elapsed();
        match bytes {
            Some(n) => self.read_bytes += n as u64,
            None => self.errors += 1,
        }
    }

    /// Counts one write call that started at `start` and moved `bytes` (`None`: it failed).
    fn write_done(&mut self, start: Instant, bytes: Option<usize>) {
        self.write_calls += 1;
        self.write_time += start.elapsed();
        match bytes {
            Some(n) => self.write_bytes += n as u64,
            None => self.errors += 1,
        }
    }
}

fn rate(bytes: u64, time: Duration) -> Option<f64> {
    let secs = time.as_secs_f64();
    (secs > 0.0).then(|| bytes as f64 / secs)
}

impl fmt::Display for IoStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = |x: Option<f64>| x.map_or_else(|| "n/a".to_string(), format_rate);
        writeln!(f, "I/O statistics:")?;
        writeln!(
            f,
            "  read:  {} in {} calls, {} ({})",
            format_bytes(self.read_bytes),
            self.read_calls,
            format_duration(self.read_time.as_nanos() as f64),
            r(self.read_rate())
        )?;
        write!(
            f,
            "  write: {} in {} calls, {} ({})",
            format_bytes(self.write_bytes),
            self.write_calls,
            format_duration(self.write_time.as_nanos() as f64),
            r(self.write_rate())
        )?;
        if self.seeks > 0 || self.errors > 0 {
            write!(f, "\n  seeks: {}, errors: {}", self.seeks, self.errors)?;
        }
        Ok(())
    }
}

/// `IoMonitor`: times individual reads and writes on any reader or writer.
/// For whole streams, wrap them in [`MonitoredReader`] / [`MonitoredWriter`] instead.
///
/// ```
/// use perfkit_metrics::IoMonitor;
///
/// let mut monitor = IoMonitor::new();
/// let mut input: &[u8] = b"hello";
/// let mut buf = [0u8; 16];
/// let n = monitor.monitored_read(&mut input, &mut buf).unwrap();
/// let mut out = Vec::new();
/// monitor.monitored_write(&mut out, &buf[..n]).unwrap();
/// assert_eq!(monitor.stats().read_bytes, 5);
/// assert_eq!(monitor.stats().write_bytes, 5);
/// println!("{}", monitor.stats());
/// ```
#[derive(Clone, Debug, Default)]
pub struct IoMonitor {
    stats: IoStats,
}

impl IoMonitor {
    /// A monitor with zeroed counters.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads once from `reader` into `buf`, counting bytes, the call and its time.
    pub fn monitored_read<R: Read + ?Sized>(
        &mut self,
        reader: &mut R,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        let start = Instant::now();
        let result = reader.read(buf);
        self.stats.read_done(start, result.as_ref().ok().copied());
        result
    }

    /// Writes once to `writer` from `buf`, counting bytes, the call and its time.
    pub fn monitored_write<W: Write + ?Sized>(
        &mut self,
        writer: &mut W,
        buf: &[u8],
    ) -> io::Result<usize> {
        let start = Instant::now();
        let result = writer.write(buf);
        self.stats.write_done(start, result.as_ref().ok().copied());
        result
    }

    /// The counters so far.
    #[must_use]
    pub fn stats(&self) -> IoStats {
        self.stats
    }

    /// Zeroes the counters.
    pub fn reset(&mut self) {
        self.stats = IoStats::default();
    }
}

/// A reader that counts what passes through it. `Read`, `BufRead` and `Seek` pass through.
///
/// ```
/// use std::io::{BufRead, BufReader, Read};
/// use perfkit_metrics::MonitoredReader;
///
/// let mut r = MonitoredReader::new(BufReader::new(&b"a\nb\n"[..]));
/// let lines: Vec<String> = r.by_ref().lines().collect::<Result<_, _>>().unwrap();
/// assert_eq!(lines, ["a", "b"]);
/// assert_eq!(r.stats().read_bytes, 4);
/// ```
#[derive(Debug)]
pub struct MonitoredReader<R> {
    inner: R,
    stats: IoStats,
}

impl<R> MonitoredReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            stats: IoStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> IoStats {
        self.stats
    }

    /// The wrapped reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The wrapped reader, mutably (I/O through it is not counted).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Unwraps the reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for MonitoredReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let start = Instant::now();
        let result = self.inner.read(buf);
        self.stats.read_done(start, result.as_ref().ok().copied());
        result
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let start = Instant::now();
        let result = self.inner.read_vectored(bufs);
        self.stats.read_done(start, result.as_ref().ok().copied());
        result
    }
}

impl<R: BufRead> BufRead for MonitoredReader<R> {
    /// Timed and counted as a read call; bytes are counted when consumed.
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let start = Instant::now();
        let result = self.inner.fill_buf();
        self.stats.read_done(start, result.as_ref().ok().map(|_| 0));
        result
    }

    fn consume(&mut self, amt: usize) {
        self.stats.read_bytes += amt as u64;
        self.inner.consume(amt);
    }
}

impl<R: Seek> Seek for MonitoredReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.stats.seeks += 1;
        self.inner.seek(pos)
    }
}

/// A writer that counts what passes through it. `Write` and `Seek` pass through; `flush` counts
/// as a write call with no bytes.
///
/// ```
/// use std::io::Write;
/// use perfkit_metrics::MonitoredWriter;
///
/// let mut w = MonitoredWriter::new(Vec::new());
/// w.write_all(b"hello").unwrap();
/// w.flush().unwrap();
/// assert_eq!(w.stats().write_bytes, 5);
/// assert_eq!(w.stats().write_calls, 2);
/// assert_eq!(w.into_inner(), b"hello");
/// ```
#[derive(Debug)]
pub struct MonitoredWriter<W> {
    inner: W,
    stats: IoStats,
}

impl<W> MonitoredWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            stats: IoStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> IoStats {
        self.stats
    }

    /// The wrapped writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The wrapped writer, mutably (I/O through it is not counted).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Unwraps the writer (without flushing it).
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for MonitoredWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let start = Instant::now();
        let result = self.inner.write(buf);
        self.stats.write_done(start, result.as_ref().ok().copied());
        result
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let start = Instant::now();
        let result = self.inner.write_vectored(bufs);
        self.stats.write_done(start, result.as_ref().ok().copied());
        result
    }

    fn flush(&mut self) -> io::Result<()> {
        let start = Instant::now();
        let result = self.inner.flush();
        self.stats
            .write_done(start, result.as_ref().ok().map(|()| 0));
        result
    }
}

impl<W: Seek> Seek for MonitoredWriter<W> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.stats.seeks += 1;
        self.inner.seek(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn rates_never_divide_by_zero() {
        let s = IoStats::default();
        assert_eq!(s.read_rate(), None);
        assert_eq!(s.write_rate(), None);
        assert!(s.to_string().contains("n/a"));
    }

    struct Failing;

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn seek_and_errors_are_counted() {
        let mut r = MonitoredReader::new(Cursor::new(vec![1u8, 2, 3, 4]));
        r.seek(SeekFrom::Start(2)).unwrap();
        let mut buf = Vec::new();
        r.read_to_end(&mut buf).unwrap();
        assert_eq!(buf, [3, 4]);
        assert_eq!(r.stats().seeks, 1);
        assert_eq!(r.stats().read_bytes, 2);
        let mut w = MonitoredWriter::new(Failing);
        assert!(w.write(b"x").is_err());
        assert_eq!(w.stats().errors, 1);
        assert_eq!(w.stats().write_bytes, 0);
    }
}
