//! Reading what a user names as an input, with bounds: `/dev/zero`, `/dev/urandom` or a
//! runaway pipe given by mistake must end in a clear error, not in reading until memory runs
//! out.

use std::io::{self, Read};
use std::path::Path;

/// Reads the whole file at `path` as UTF-8 text, refusing more than `max` bytes.
///
/// # Errors
/// The OS error of opening or reading; [`io::ErrorKind::InvalidData`] when the file holds more
/// than `max` bytes (the message names the limit) or is not UTF-8.
pub fn read_text_limited(path: &Path, max: u64) -> io::Result<String> {
    let file = std::fs::File::open(path)?;
    // A regular file says its size; a device or pipe is read up to the limit.
    if file.metadata().is_ok_and(|m| m.is_file() && m.len() > max) {
        return Err(too_large(max));
    }
    let mut bytes = Vec::new();
    let read = file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if read as u64 > max {
        return Err(too_large(max));
    }
    String::from_utf8(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "it is not UTF-8 text (is it the right file?)",
        )
    })
}

fn too_large(max: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "it holds more than {} (is it the right file?)",
            human_bytes(max)
        ),
    )
}

fn human_bytes(n: u64) -> String {
    if n >= 1 << 30 && n.is_multiple_of(1 << 30) {
        format!("{} GiB", n >> 30)
    } else if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

/// A reader of text that fails when one line grows past a limit: line-based parsers then hold
/// at most one line of that size, whatever the input (`/dev/zero` has no line end at all).
/// Wrap it in a `BufReader` for line-based reading.
#[derive(Debug)]
pub struct LineLimit<R> {
    inner: R,
    max_line: u64,
    /// Bytes since the last line end.
    current: u64,
}

impl<R> LineLimit<R> {
    /// Wraps `inner`, allowing lines of up to `max_line` bytes.
    pub fn new(inner: R, max_line: u64) -> LineLimit<R> {
        LineLimit {
            inner,
            max_line,
            current: 0,
        }
    }

    fn account(&mut self, bytes: &[u8]) -> io::Result<()> {
        // The line that was open ends at the first line end here; the last one is open now.
        let ended_at = bytes.iter().position(|&b| b == b'\n');
        let longest = if let (Some(first), Some(last)) = (ended_at, last_newline(bytes)) {
            let open = (bytes.len() - last - 1) as u64;
            let finished = self.current + first as u64;
            self.current = open;
            finished.max(open)
        } else {
            self.current += bytes.len() as u64;
            self.current
        };
        if longest > self.max_line {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a line is longer than {}", human_bytes(self.max_line)),
            ));
        }
        Ok(())
    }
}

fn last_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().rposition(|&b| b == b'\n')
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.account(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_past_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        std::fs::write(&path, "0123456789").unwrap();
        assert_eq!(read_text_limited(&path, 10).unwrap(), "0123456789");
        let err = read_text_limited(&path, 9).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("more than 9 bytes"), "{err}");
        let err = read_text_limited(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(err.to_string().contains("more than 1 MiB"), "{err}");
    }

    #[test]
    fn an_endless_line_is_an_error_and_short_lines_pass() {
        use io::BufRead as _;
        let mut text = String::new();
        let mut ok = LineLimit::new(io::Cursor::new("ab\ncd\nef"), 2);
        ok.read_to_string(&mut text).unwrap();
        assert_eq!(text, "ab\ncd\nef");
        // A line that ends in the same read as it went past the limit.
        let mut long = LineLimit::new(io::Cursor::new("abcdef\nx"), 3);
        let err = long.read_to_string(&mut String::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        // Split across reads.
        let mut split = LineLimit::new(io::Cursor::new("ab"), 3);
        split.account(b"ab").unwrap();
        assert!(split.account(b"c\nd").is_ok());
        assert!(split.account(b"ef\n").is_ok());
        assert!(split.account(b"gh").is_ok());
        assert!(split.account(b"ij\n").is_err());
        let zero = std::fs::File::open("/dev/zero").unwrap();
        let mut limited = io::BufReader::new(LineLimit::new(zero, 1 << 20));
        let mut line = Vec::new();
        let err = limited.read_until(b'\n', &mut line).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("longer than 1 MiB"), "{err}");
        assert!(line.len() < 3 << 20, "held {} bytes", line.len());
    }
}
