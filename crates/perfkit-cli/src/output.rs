//! Writing results: destinations checked before the work, progress bars.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The directory `path` would be created in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Fails early, with the fix in the message, if `path` could not be written by [`perfkit_sys::write_atomic`]:
/// its directory is missing or it names a directory.
pub(crate) fn check_writable_destination(path: &Path) -> Result<()> {
    let dir = parent_dir(path);
    if !dir.is_dir() {
        anyhow::bail!(
            "cannot write {}: directory {} does not exist (create it first)",
            path.display(),
            dir.display()
        );
    }
    if path.is_dir() {
        anyhow::bail!(
            "cannot write {}: it is a directory (give a file name)",
            path.display()
        );
    }
    Ok(())
}

/// A progress indicator on stderr, hidden when `quiet` or stderr is not a terminal. It starts
/// as a spinner; call [`show_bar`] once the total is known.
pub(crate) fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner:.green} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Switches a progress indicator to a bar of `total` steps (fits in 80 columns).
pub(crate) fn show_bar(bar: &ProgressBar, total: u64) {
    if bar.length().is_none() {
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner:.green} {msg:<24!} [{bar:25.cyan/blue}] {pos}/{len} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
    }
    bar.set_length(total);
}

/// Whether two paths name the same file (by canonical path when both exist).
pub(crate) fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
