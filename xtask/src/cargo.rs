//! Building a binary in its own target directory with extra rustc flags.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The flags to pass as `CARGO_ENCODED_RUSTFLAGS`: the user's own (`CARGO_ENCODED_RUSTFLAGS`,
/// else `RUSTFLAGS` split on whitespace as cargo does) followed by `extra`, joined with the
/// 0x1f separator, so a path with a space stays one argument.
pub(crate) fn encoded_rustflags(
    encoded: Option<OsString>,
    plain: Option<OsString>,
    extra: &[String],
) -> String {
    let mut flags: Vec<String> = match (encoded, plain) {
        (Some(e), _) => e
            .to_string_lossy()
            .split('\x1f')
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect(),
        (None, Some(p)) => p
            .to_string_lossy()
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        (None, None) => Vec::new(),
    };
    flags.extend(extra.iter().cloned());
    flags.join("\x1f")
}

/// One `cargo build`.
#[derive(Clone, Debug)]
pub(crate) struct Build<'a> {
    /// The workspace root (the build runs there).
    pub(crate) root: &'a Path,
    /// `--manifest-path`, for a package outside the workspace.
    pub(crate) manifest: Option<&'a Path>,
    /// `--target-dir`.
    pub(crate) target_dir: PathBuf,
    /// The host triple, passed as `--target` so build scripts and proc macros are built
    /// without the extra flags.
    pub(crate) host: &'a str,
    /// `--package`.
    pub(crate) package: &'a str,
    /// `--bin`.
    pub(crate) bin: &'a str,
    /// The cargo profile (`release`, `release-lto`).
    pub(crate) profile: &'a str,
    /// rustc flags added to the user's.
    pub(crate) rustflags: Vec<String>,
}

impl Build<'_> {
    /// Where the binary lands.
    pub(crate) fn binary(&self) -> PathBuf {
        let dir = if self.profile == "dev" {
            "debug"
        } else {
            self.profile
        };
        self.target_dir.join(self.host).join(dir).join(self.bin)
    }

    /// Runs the build; returns the binary and cargo's standard error (rustc's warnings).
    pub(crate) fn run(&self) -> Result<(PathBuf, String)> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let flags = encoded_rustflags(
            std::env::var_os("CARGO_ENCODED_RUSTFLAGS"),
            std::env::var_os("RUSTFLAGS"),
            &self.rustflags,
        );
        let mut command = Command::new(&cargo);
        command
            .current_dir(self.root)
            .args([
                "build",
                "--profile",
                self.profile,
                "--package",
                self.package,
            ])
            .args(["--bin", self.bin, "--target", self.host, "--target-dir"])
            .arg(&self.target_dir)
            .env("CARGO_ENCODED_RUSTFLAGS", flags)
            .env_remove("RUSTFLAGS")
            .env("CARGO_TERM_COLOR", "never");
        if let Some(manifest) = self.manifest {
            command.arg("--manifest-path").arg(manifest);
        }
        eprintln!(
            "xtask: cargo build --profile {} -p {} --bin {} --target {} --target-dir {}{}",
            self.profile,
            self.package,
            self.bin,
            self.host,
            self.target_dir.display(),
            if self.rustflags.is_empty() {
                String::new()
            } else {
                format!("  (rustc flags: {})", self.rustflags.join(" "))
            }
        );
        let out = command
            .output()
            .with_context(|| format!("cannot run {cargo}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            bail!("the build failed ({}):\n{}", out.status, tail(&stderr, 30));
        }
        let binary = self.binary();
        if !binary.is_file() {
            bail!("the build succeeded but {} is missing", binary.display());
        }
        Ok((binary, stderr))
    }
}

/// The last `n` lines of `text`.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_flags_are_kept_and_spaces_survive() {
        let extra = vec!["-Cprofile-generate=/tmp/my dir/prof".to_string()];
        assert_eq!(
            encoded_rustflags(None, Some("-C target-cpu=native".into()), &extra),
            "-C\x1ftarget-cpu=native\x1f-Cprofile-generate=/tmp/my dir/prof"
        );
        assert_eq!(
            encoded_rustflags(
                Some("-Cdebuginfo=1\x1f--cfg=x".into()),
                Some("ignored".into()),
                &extra
            ),
            "-Cdebuginfo=1\x1f--cfg=x\x1f-Cprofile-generate=/tmp/my dir/prof"
        );
        assert_eq!(encoded_rustflags(None, None, &[]), "");
    }

    #[test]
    fn binaries_land_under_the_host_triple() {
        let b = Build {
            root: Path::new("/w"),
            manifest: None,
            target_dir: PathBuf::from("/w/target/pgo/gen"),
            host: "x86_64-unknown-linux-gnu",
            package: "p",
            bin: "b",
            profile: "release",
            rustflags: vec![],
        };
        assert_eq!(
            b.binary(),
            PathBuf::from("/w/target/pgo/gen/x86_64-unknown-linux-gnu/release/b")
        );
    }
}
