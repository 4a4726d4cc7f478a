//! Files written whole or not at all.

use std::io::Write;
use std::path::Path;

/// Writes `contents` to `path` atomically: a temporary file in the same directory, synced to
/// disk, then renamed over `path`. A failure leaves any previous file untouched and no
/// temporary file behind. A new file gets the usual `0666 & ~umask` (not the `0600` of a
/// temporary file); a replaced file keeps its mode.
///
/// The error says which step failed and on which path, and keeps the OS error's kind.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("report.json");
/// perfkit_sys::write_atomic(&path, b"{}\n").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"{}\n");
/// ```
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".perfkit-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).map_or(0o666, |m| m.permissions().mode() & 0o7777);
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(|e| {
        annotate(
            &e,
            &format!(
                "cannot create a temporary file in {} to write {}",
                dir.display(),
                path.display()
            ),
        )
    })?;
    tmp.write_all(contents)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| annotate(&e, &format!("cannot write {}", path.display())))?;
    tmp.persist(path)
        .map_err(|e| annotate(&e.error, &format!("cannot replace {}", path.display())))?;
    Ok(())
}

/// `e` with what was being done in front of its message, its kind kept.
fn annotate(e: &std::io::Error, what: &str) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        use std::os::unix::fs::PermissionsExt as _;
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
        assert!(err.to_string().contains("cannot create a temporary file"));
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }
}
