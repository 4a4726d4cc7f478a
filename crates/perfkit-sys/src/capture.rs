//! Standard error captured while a profiled program runs, so that a machine-readable report
//! written there afterwards is the only thing on it.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The most captured bytes kept; beyond it the start is dropped (the end holds the reason for
/// a failure).
pub const MAX_CAPTURED: u64 = 1 << 20;

/// What was written to standard error during a capture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Captured {
    /// The text (lossy UTF-8), at most [`MAX_CAPTURED`] bytes: the end when there was more.
    pub text: String,
    /// Bytes dropped from the start.
    pub dropped_bytes: u64,
}

/// Standard error (file descriptor 2) redirected into an anonymous temporary file until
/// [`StderrCapture::finish`]. Everything written to it meanwhile, by this process or by the
/// children it starts (a profiler and the program under it), lands in the file. Dropped without
/// `finish` (an error on the way), it puts standard error back and writes out what it caught,
/// so no message is lost.
#[derive(Debug)]
pub struct StderrCapture {
    saved: Option<OwnedFd>,
    file: File,
}

impl StderrCapture {
    /// Starts capturing.
    ///
    /// # Errors
    /// When no temporary file can be made or standard error is not open.
    pub fn start() -> io::Result<StderrCapture> {
        let _ = io::stderr().flush();
        let file = tempfile::tempfile()?;
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) only duplicates descriptor 2; the new descriptor is
        // owned by nothing else and is wrapped at once.
        let saved = unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3) };
        if saved < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `saved` is a valid descriptor just created for us alone.
        let saved = unsafe { OwnedFd::from_raw_fd(saved) };
        // SAFETY: dup2 onto descriptor 2 with a descriptor we own; Rust's standard error
        // writes to descriptor 2 and keeps no other handle to it.
        if unsafe { libc::dup2(file.as_raw_fd(), 2) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(StderrCapture {
            saved: Some(saved),
            file,
        })
    }

    /// Puts standard error back and returns what was written to it.
    ///
    /// # Errors
    /// When the captured text cannot be read back.
    pub fn finish(mut self) -> io::Result<Captured> {
        self.restore();
        let len = self.file.seek(SeekFrom::End(0))?;
        let dropped_bytes = len.saturating_sub(MAX_CAPTURED);
        self.file.seek(SeekFrom::Start(dropped_bytes))?;
        let mut bytes = Vec::new();
        (&mut self.file)
            .take(MAX_CAPTURED)
            .read_to_end(&mut bytes)?;
        Ok(Captured {
            text: String::from_utf8_lossy(&bytes).into_owned(),
            dropped_bytes,
        })
    }

    fn restore(&mut self) {
        if let Some(saved) = self.saved.take() {
            let _ = io::stderr().flush();
            // SAFETY: dup2 of a descriptor we own back onto descriptor 2.
            unsafe { libc::dup2(saved.as_raw_fd(), 2) };
        }
    }
}

impl Drop for StderrCapture {
    fn drop(&mut self) {
        if self.saved.is_none() {
            return;
        }
        self.restore();
        if self.file.seek(SeekFrom::Start(0)).is_ok() {
            let _ = io::copy(&mut self.file, &mut io::stderr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_and_this_process_write_into_the_capture() {
        let capture = StderrCapture::start().unwrap();
        // Not eprintln!, which the test harness captures before it reaches descriptor 2.
        io::stderr().write_all(b"from perfkit\n").unwrap();
        let status = std::process::Command::new("sh")
            .args(["-c", "echo from the program >&2"])
            .status()
            .unwrap();
        assert!(status.success());
        let captured = capture.finish().unwrap();
        assert_eq!(captured.text, "from perfkit\nfrom the program\n");
        assert_eq!(captured.dropped_bytes, 0);
    }
}
