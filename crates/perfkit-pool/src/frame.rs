//! The wire formats between the pool and its workers.
//!
//! **Framed** (the worker uses [`worker::serve`](crate::worker::serve)):
//!
//! - pool → worker, one task: `u32` little-endian payload length, then the payload;
//! - worker → pool, one result: the 8-byte header `b'P'`, status (`0` ok, `1` error), two zero
//!   bytes, `u32` little-endian payload length; then the payload (the output, or the error
//!   message in UTF-8).
//!
//! Results come back in the order the tasks were sent, as many as were sent. Anything else on
//! the worker's standard output (a stray `println!`, a wrong magic byte, a length over the
//! limit, a result nobody asked for) is *garbage*: the pool treats the worker as crashed.
//!
//! **Lines** (any program that answers one line per line, e.g. `python3 -u worker.py`): a task
//! is its bytes and `\n`, a result is one line. A task may not contain `\n`.

use serde::{Deserialize, Serialize};

use crate::error::TaskProblem;

/// The largest task or result payload, and the longest line, a pool accepts (1 GiB).
pub const MAX_FRAME: usize = 1 << 30;

/// Bytes in front of a task's payload (framed protocol).
pub const TASK_HEADER: usize = 4;

/// Bytes in front of a result's payload (framed protocol).
pub const RESULT_HEADER: usize = 8;

/// The first byte of every result header.
pub(crate) const RESULT_MAGIC: u8 = b'P';
pub(crate) const STATUS_OK: u8 = 0;
pub(crate) const STATUS_ERROR: u8 = 1;

/// How tasks and results are encoded on the worker's standard input and output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// Length-prefixed binary frames: any bytes, worker-reported errors, and precise blame
    /// (see the module docs). The worker uses [`worker::serve`](crate::worker::serve).
    #[default]
    Framed,
    /// One line per task and per result, for existing programs. The program must flush each
    /// answer (`python3 -u`, `stdbuf -oL`) for timeouts and crash blame to be precise.
    Lines,
}

impl Protocol {
    /// Appends one task to `out`.
    #[inline]
    pub(crate) fn encode_task(self, input: &[u8], out: &mut Vec<u8>) {
        match self {
            Protocol::Framed => {
                out.extend_from_slice(&(input.len() as u32).to_le_bytes());
                out.extend_from_slice(input);
            }
            Protocol::Lines => {
                out.extend_from_slice(input);
                out.push(b'\n');
            }
        }
    }

    /// Why `input` cannot be a task in this protocol, if it cannot.
    #[inline]
    pub(crate) fn check_task(self, input: &[u8]) -> Option<TaskProblem> {
        if input.len() > MAX_FRAME {
            return Some(TaskProblem::TooLarge { bytes: input.len() });
        }
        if self == Protocol::Lines && memchr::memchr(b'\n', input).is_some() {
            return Some(TaskProblem::Newline);
        }
        None
    }

    /// Decodes the result at the start of `buf`.
    pub(crate) fn decode_result(self, buf: &[u8]) -> Decoded {
        match self {
            Protocol::Framed => decode_framed(buf),
            Protocol::Lines => match memchr::memchr(b'\n', buf) {
                Some(end) => Decoded::Result {
                    ok: true,
                    payload: 0..end,
                    consumed: end + 1,
                },
                None if buf.len() > MAX_FRAME => {
                    Decoded::Garbage(format!("a result line longer than {MAX_FRAME} bytes"))
                }
                None => Decoded::Incomplete,
            },
        }
    }
}

/// What [`Protocol::decode_result`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// More bytes are needed.
    Incomplete,
    /// A whole result: its status, where its payload is in the buffer, and its total length.
    Result {
        ok: bool,
        payload: std::ops::Range<usize>,
        consumed: usize,
    },
    /// Bytes that are not a result: the worker is out of step.
    Garbage(String),
}

fn decode_framed(buf: &[u8]) -> Decoded {
    if let Some(&magic) = buf.first()
        && magic != RESULT_MAGIC
    {
        return Decoded::Garbage(format!(
            "byte {magic:#04x} where a result header (b'P') should start: the worker wrote \
             something else to standard output"
        ));
    }
    if buf.len() < RESULT_HEADER {
        return Decoded::Incomplete;
    }
    let status = buf[1];
    if status > STATUS_ERROR || buf[2] != 0 || buf[3] != 0 {
        return Decoded::Garbage(format!(
            "a result header with status {status} and reserved bytes {} {} (expected 0 or 1, \
             and zeros)",
            buf[2], buf[3]
        ));
    }
    let len = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    if len > MAX_FRAME {
        return Decoded::Garbage(format!(
            "a result of {len} bytes, over the {MAX_FRAME} byte limit"
        ));
    }
    let end = RESULT_HEADER + len;
    if buf.len() < end {
        return Decoded::Incomplete;
    }
    Decoded::Result {
        ok: status == STATUS_OK,
        payload: RESULT_HEADER..end,
        consumed: end,
    }
}

/// The result header for `len` payload bytes.
pub(crate) fn result_header(ok: bool, len: usize) -> [u8; RESULT_HEADER] {
    let mut header = [0u8; RESULT_HEADER];
    header[0] = RESULT_MAGIC;
    header[1] = if ok { STATUS_OK } else { STATUS_ERROR };
    header[4..].copy_from_slice(&(len as u32).to_le_bytes());
    header
}

/// Decodes the task at the start of `buf` (framed protocol, worker side): `Ok(None)` when more
/// bytes are needed, `Ok(Some(len))` for a task of `len` payload bytes, `Err` for a length over
/// [`MAX_FRAME`].
pub(crate) fn task_len(buf: &[u8]) -> Result<Option<usize>, usize> {
    if buf.len() < TASK_HEADER {
        return Ok(None);
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > MAX_FRAME {
        return Err(len);
    }
    Ok(Some(len))
}

/// Entry points for the fuzz targets in `fuzz/` (not a stable API): they decode any bytes as
/// a worker's output or a pool's tasks and panic if a decoder breaks its contract.
#[doc(hidden)]
pub mod fuzzing {
    use super::{Decoded, Protocol, task_len};

    /// Decodes `bytes` as a stream of results; returns how many were whole.
    #[must_use]
    pub fn decode_results(protocol: Protocol, bytes: &[u8]) -> usize {
        let mut rest = bytes;
        let mut results = 0;
        loop {
            match protocol.decode_result(rest) {
                Decoded::Incomplete | Decoded::Garbage(_) => return results,
                Decoded::Result {
                    payload, consumed, ..
                } => {
                    assert!(consumed > 0 && consumed <= rest.len(), "{consumed}");
                    assert!(payload.start <= payload.end && payload.end <= consumed);
                    rest = &rest[consumed..];
                    results += 1;
                }
            }
        }
    }

    /// Decodes `bytes` as a stream of framed tasks, as a worker reads them.
    #[must_use]
    pub fn decode_tasks(bytes: &[u8]) -> usize {
        let mut rest = bytes;
        let mut tasks = 0;
        while let Ok(Some(len)) = task_len(rest) {
            let Some(end) = super::TASK_HEADER.checked_add(len) else {
                return tasks;
            };
            if rest.len() < end {
                return tasks;
            }
            rest = &rest[end..];
            tasks += 1;
        }
        tasks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_results_round_trip_and_garbage_is_named() {
        let mut buf = result_header(true, 3).to_vec();
        buf.extend_from_slice(b"abc");
        buf.extend_from_slice(&result_header(false, 2));
        buf.extend_from_slice(b"no");
        let Decoded::Result {
            ok,
            payload,
            consumed,
        } = Protocol::Framed.decode_result(&buf)
        else {
            panic!("a whole result");
        };
        assert!(ok);
        assert_eq!(&buf[payload], b"abc");
        let rest = &buf[consumed..];
        let Decoded::Result { ok, payload, .. } = Protocol::Framed.decode_result(rest) else {
            panic!("a whole result");
        };
        assert!(!ok);
        assert_eq!(&rest[payload], b"no");
        assert_eq!(
            Protocol::Framed.decode_result(&rest[..5]),
            Decoded::Incomplete
        );
        assert!(matches!(
            Protocol::Framed.decode_result(b"hello\n"),
            Decoded::Garbage(_)
        ));
        assert!(matches!(
            Protocol::Framed.decode_result(b"P\x07\0\0\0\0\0\0"),
            Decoded::Garbage(_)
        ));
    }

    #[test]
    fn lines_split_at_newlines() {
        assert_eq!(
            Protocol::Lines.decode_result(b"42\n43"),
            Decoded::Result {
                ok: true,
                payload: 0..2,
                consumed: 3
            }
        );
        assert_eq!(Protocol::Lines.decode_result(b"43"), Decoded::Incomplete);
        assert!(Protocol::Lines.check_task(b"a\nb").is_some());
        assert!(Protocol::Framed.check_task(b"a\nb").is_none());
    }
}
