//! The worker side of the framed protocol: a program that a [`ProcessPool`](crate::ProcessPool)
//! runs calls [`serve`] (or [`serve_into`]) with the function that does one task.
//!
//! ```no_run
//! // A worker that squares integers sent as decimal text.
//! fn main() -> std::io::Result<()> {
//!     perfkit_pool::worker::serve(|input: &[u8]| {
//!         let text = std::str::from_utf8(input).map_err(|e| e.to_string())?;
//!         let n: i64 = text.trim().parse().map_err(|e| format!("not an integer: {e}"))?;
//!         Ok((n * n).to_string().into_bytes())
//!     })
//! }
//! ```
//!
//! `serve` reads tasks in large blocks, runs them one after another, and writes the results
//! in large blocks: whenever no complete task is left in what it has read, before it waits for
//! more (so a batch costs one read and one write, not one per task). It says which task it is
//! running through a shared counter (two relaxed stores per task), so that if the process dies
//! the pool charges exactly that task, and no task if it died between two. Standard output belongs to the protocol: `serve` points
//! descriptor 1 at standard error before it starts, so a stray `println!` lands on stderr
//! instead of corrupting the results. An `Err` from the function is reported to the pool as
//! that task's error, and so is a panic; the worker keeps serving.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;

use crate::frame::{MAX_FRAME, RESULT_HEADER, TASK_HEADER, result_header, task_len};
use crate::progress::Progress;

/// Bytes read from the pool at a time (and the initial input buffer).
const READ_BLOCK: usize = 1 << 20;

/// Results are written once this many bytes are waiting, even mid-batch.
const WRITE_BLOCK: usize = 1 << 20;

/// What a worker did, returned when the pool closes its standard input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServeStats {
    /// Tasks run.
    pub tasks: u64,
    /// Of those, tasks whose function returned an error or panicked.
    pub errors: u64,
    /// `read(2)` calls on the input.
    pub reads: u64,
    /// `write(2)` calls on the output (blocks of results).
    pub writes: u64,
}

/// Serves tasks from standard input until the pool closes it: `f` gets a task's bytes and
/// returns its output or an error message. See the [module docs](self).
///
/// # Errors
///
/// When standard input or output fail, or the input is not the framed protocol (a task length
/// over the 1 GiB limit, or the input ends inside a task).
pub fn serve<F>(mut f: F) -> io::Result<()>
where
    F: FnMut(&[u8]) -> Result<Vec<u8>, String>,
{
    serve_into(|input, out| {
        out.extend_from_slice(&f(input)?);
        Ok(())
    })
}

/// [`serve`] without an allocation per task: `f` appends the output to `out` (anything it
/// appended is discarded when it returns an error).
///
/// # Errors
///
/// As [`serve`].
pub fn serve_into<F>(f: F) -> io::Result<()>
where
    F: FnMut(&[u8], &mut Vec<u8>) -> Result<(), String>,
{
    std::io::stdout().flush()?;
    let input = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
    let output = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
    // From here on descriptor 1 is standard error: the results go through `output` only.
    nix::unistd::dup2_stdout(std::io::stderr().as_fd())?;
    let progress = Progress::from_env();
    serve_streams(input, output, progress.as_ref(), f).map(|_| ())
}

/// The serving loop on any pair of streams (what [`serve_into`] runs on standard input and
/// output; tests run it on buffers).
pub(crate) fn serve_streams<R, W, F>(
    mut input: R,
    mut output: W,
    progress: Option<&Progress>,
    mut f: F,
) -> io::Result<ServeStats>
where
    R: Read,
    W: Write,
    F: FnMut(&[u8], &mut Vec<u8>) -> Result<(), String>,
{
    let mut stats = ServeStats::default();
    let mut buf = vec![0u8; READ_BLOCK];
    let (mut start, mut end) = (0usize, 0usize);
    let mut out: Vec<u8> = Vec::with_capacity(WRITE_BLOCK + RESULT_HEADER);
    loop {
        // Run every complete task in the buffer.
        loop {
            let len = match task_len(&buf[start..end]) {
                Ok(Some(len)) if end - start >= TASK_HEADER + len => len,
                Ok(_) => break,
                Err(len) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "a task of {len} bytes is over the {MAX_FRAME} byte limit: the input \
                             is not the pool's framed protocol"
                        ),
                    ));
                }
            };
            // Odd while task n runs (2n + 1), even once it is done (2n + 2).
            if let Some(progress) = progress {
                progress
                    .counter()
                    .store(2 * stats.tasks + 1, Ordering::Relaxed);
            }
            let task = &buf[start + TASK_HEADER..start + TASK_HEADER + len];
            run_one(task, &mut out, &mut f, &mut stats);
            if let Some(progress) = progress {
                progress.counter().store(2 * stats.tasks, Ordering::Relaxed);
            }
            start += TASK_HEADER + len;
            if out.len() >= WRITE_BLOCK {
                output.write_all(&out)?;
                stats.writes += 1;
                out.clear();
            }
        }
        // Nothing complete left: hand over the results before waiting for more input.
        if !out.is_empty() {
            output.write_all(&out)?;
            output.flush()?;
            stats.writes += 1;
            out.clear();
        }
        // Keep the partial task, at the front, with room for all of it.
        buf.copy_within(start..end, 0);
        end -= start;
        start = 0;
        if let Ok(Some(len)) = task_len(&buf[..end])
            && TASK_HEADER + len > buf.len()
        {
            buf.resize(TASK_HEADER + len, 0);
        }
        if end == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = loop {
            match input.read(&mut buf[end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        stats.reads += 1;
        if n == 0 {
            return if end == 0 {
                Ok(stats)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the input ended {end} bytes into a task"),
                ))
            };
        }
        end += n;
    }
}

/// Runs one task, appending its result frame to `out`.
fn run_one<F>(task: &[u8], out: &mut Vec<u8>, f: &mut F, stats: &mut ServeStats)
where
    F: FnMut(&[u8], &mut Vec<u8>) -> Result<(), String>,
{
    let header_at = out.len();
    out.extend_from_slice(&[0u8; RESULT_HEADER]);
    let body_at = out.len();
    let outcome = match catch_unwind(AssertUnwindSafe(|| f(task, out))) {
        Ok(result) => result,
        Err(panic) => Err(format!(
            "the worker function panicked: {}",
            panic_message(panic.as_ref())
        )),
    };
    let ok = match outcome {
        Ok(()) => true,
        Err(message) => {
            out.truncate(body_at);
            out.extend_from_slice(message.as_bytes());
            stats.errors += 1;
            false
        }
    };
    let header = result_header(ok, out.len() - body_at);
    out[header_at..body_at].copy_from_slice(&header);
    stats.tasks += 1;
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic payload that is not a string)".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Decoded, Protocol};

    fn tasks(inputs: &[&[u8]]) -> Vec<u8> {
        let mut buf = Vec::new();
        for input in inputs {
            Protocol::Framed.encode_task(input, &mut buf);
        }
        buf
    }

    fn results(mut buf: &[u8]) -> Vec<(bool, Vec<u8>)> {
        let mut all = Vec::new();
        while !buf.is_empty() {
            match Protocol::Framed.decode_result(buf) {
                Decoded::Result {
                    ok,
                    payload,
                    consumed,
                } => {
                    all.push((ok, buf[payload].to_vec()));
                    buf = &buf[consumed..];
                }
                other => panic!("not a result: {other:?}"),
            }
        }
        all
    }

    #[test]
    fn serves_outputs_errors_and_panics_in_order() {
        let input = tasks(&[b"abc", b"", b"err", b"panic", b"xyz"]);
        let mut output = Vec::new();
        let stats = serve_streams(&input[..], &mut output, None, |task, out| match task {
            b"err" => Err("bad task".to_string()),
            b"panic" => panic!("boom"),
            _ => {
                out.extend(task.iter().rev());
                Ok(())
            }
        })
        .expect("serve");
        assert_eq!(stats.tasks, 5);
        assert_eq!(stats.errors, 2);
        let got = results(&output);
        assert_eq!(got[0], (true, b"cba".to_vec()));
        assert_eq!(got[1], (true, Vec::new()));
        assert_eq!(got[2], (false, b"bad task".to_vec()));
        assert!(!got[3].0);
        assert!(String::from_utf8_lossy(&got[3].1).contains("boom"));
        assert_eq!(got[4], (true, b"zyx".to_vec()));
    }

    #[test]
    fn tasks_larger_than_the_read_block_and_input_cut_mid_task() {
        let big = vec![7u8; READ_BLOCK * 2 + 3];
        let input = tasks(&[&big, b"a"]);
        let mut output = Vec::new();
        serve_streams(&input[..], &mut output, None, |task, out| {
            out.extend_from_slice(&(task.len() as u64).to_le_bytes());
            Ok(())
        })
        .expect("serve");
        let got = results(&output);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, (big.len() as u64).to_le_bytes());

        let cut = &input[..input.len() - 1];
        let err = serve_streams(cut, Vec::new(), None, |_, _| Ok(())).expect_err("cut");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let err = serve_streams(&[0xff, 0xff, 0xff, 0xff][..], Vec::new(), None, |_, _| {
            Ok(())
        })
        .expect_err("garbage");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
