//! Writing results to standard output: each write flushed at once, so that a full disk or a
//! closed pipe is an error returned here rather than a panic in `println!`; and standard
//! output handed over to an output the user named as it (`-o /dev/stdout`), after which
//! results go to standard error.

use std::io::{self, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::output::os_reason;

/// A failed write to standard output.
#[derive(Debug, thiserror::Error)]
#[error("writing standard output: {}", os_reason(.0))]
pub struct StdoutError(pub io::Error);

/// Set once an output named by the user is standard output.
static HANDED_OVER: AtomicBool = AtomicBool::new(false);

/// Gives standard output to an output the user named as it: from now on [`print`] writes to
/// standard error, so that the output's bytes stay alone.
pub fn hand_over() {
    HANDED_OVER.store(true, Ordering::Relaxed);
}

/// Writes `text` to standard output now, flushed; to standard error once standard output was
/// [handed over](hand_over), where a failed write is ignored as for every note.
///
/// # Errors
/// The write to standard output failed.
pub fn print(text: impl AsRef<[u8]>) -> Result<(), StdoutError> {
    if HANDED_OVER.load(Ordering::Relaxed) {
        let mut err = io::stderr().lock();
        let _ = err.write_all(text.as_ref()).and_then(|()| err.flush());
        return Ok(());
    }
    let mut out = io::stdout().lock();
    out.write_all(text.as_ref())
        .and_then(|()| out.flush())
        .map_err(StdoutError)
}
