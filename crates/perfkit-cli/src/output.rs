//! Writing results: atomic files and progress bars.

use std::io::{IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Writes `contents` to `path` atomically: a temporary file in the same directory, flushed to
/// disk, then renamed over `path`. A crash or error leaves any previous file untouched.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = parent_dir(path);
    // A new file gets the usual 0666 & ~umask (tempfile's default is 0600); a replaced file
    // keeps its mode.
    let mode = std::fs::metadata(path).map_or(0o666, |m| m.permissions().mode() & 0o7777);
    let mut tmp = tempfile::Builder::new()
        .prefix(".perfkit-")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .with_context(|| {
            format!(
                "cannot create a temporary file in {} to write {}",
                dir.display(),
                path.display()
            )
        })?;
    tmp.write_all(contents)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// The directory `path` would be created in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Fails early, with the fix in the message, if `path` could not be written by [`write_atomic`]:
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        std::fs::write(&path, "old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        // A new file is readable by others (as with any program's output, modulo umask); a
        // replaced one keeps its mode.
        let fresh = dir.path().join("fresh.svg");
        write_atomic(&fresh, b"x").unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_ne!(mode, 0o600, "{mode:o}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&path, b"newer").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let err = write_atomic(&dir.path().join("missing/out.json"), b"x").unwrap_err();
        assert!(format!("{err:#}").contains("cannot create a temporary file"));
    }
}
