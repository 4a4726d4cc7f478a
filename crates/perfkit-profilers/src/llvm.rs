//! Finding LLVM tools (`llvm-profdata`, `llvm-bolt`, `merge-fdata`) whose major version matches
//! the LLVM inside rustc; used by `cargo xtask pgo` and `perfkit doctor`.
//!
//! A `.profraw` written by a rustc-built binary can only be merged by an `llvm-profdata` of the
//! same LLVM major (the raw format changes between majors), and a `.profdata` from another major
//! is silently ignored or rejected by rustc. cargo-pgo never checks; this module does.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ProfilerError;
/// How `PATH` is searched for the tools (an executable file, as `execvp` would find it).
pub use perfkit_sys::find_program;

type Result<T> = std::result::Result<T, ProfilerError>;

fn parse_error(message: impl Into<String>) -> ProfilerError {
    ProfilerError::Parse {
        what: "rustc -vV",
        line: 0,
        message: message.into(),
    }
}

/// What `rustc -vV` says about the toolchain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rustc {
    /// The host triple, e.g. `x86_64-unknown-linux-gnu`.
    pub host: String,
    /// The full LLVM version, e.g. `22.1.2`.
    pub llvm_version: String,
    /// Its major, e.g. 22.
    pub llvm_major: u32,
    /// The `release:` line, e.g. `1.95.0`.
    pub release: String,
}

/// Parses `rustc -vV` output.
pub fn parse_rustc_vv(text: &str) -> Result<Rustc> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    let host = field("host:").ok_or_else(|| parse_error("no `host:` line"))?;
    let llvm_version = field("LLVM version:").ok_or_else(|| {
        parse_error("no `LLVM version:` line (a rustc without LLVM cannot do PGO)")
    })?;
    let llvm_major = major(&llvm_version)
        .ok_or_else(|| parse_error(format!("cannot read the LLVM major from '{llvm_version}'")))?;
    Ok(Rustc {
        host,
        llvm_major,
        llvm_version,
        release: field("release:").unwrap_or_default(),
    })
}

/// Runs `rustc -vV` (`$RUSTC` when set).
pub fn rustc() -> Result<Rustc> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let out = Command::new(&rustc)
        .arg("-vV")
        .output()
        .map_err(|e| ProfilerError::io(format!("cannot run `{rustc} -vV`"), e))?;
    if !out.status.success() {
        return Err(parse_error(format!(
            "`{rustc} -vV` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    parse_rustc_vv(&String::from_utf8_lossy(&out.stdout))
}

/// The major of a version such as `22.1.2` or `14.0.6-git`.
fn major(version: &str) -> Option<u32> {
    version
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|m| m.parse().ok())
}

/// The LLVM version an LLVM tool prints with `--version`: the text after `LLVM version`
/// (`Debian LLVM version 14.0.6`, `LLVM version 22.1.8-rust-1.95.0-stable`, `Ubuntu LLVM
/// version 19.1.1`).
#[must_use]
pub fn parse_llvm_version(text: &str) -> Option<(String, u32)> {
    let rest = text.split("LLVM version").nth(1)?.trim();
    let version = rest.split_whitespace().next()?.to_string();
    let major = major(&version)?;
    Some((version, major))
}

/// The version of an `llvm-profdata`, asked with `merge --version`: LLVM 14's plain `--version`
/// fails ("Unknown command!"), every version answers `merge --version`.
#[must_use]
pub fn profdata_version(path: &Path) -> Option<(String, u32)> {
    tool_version(path, &["merge", "--version"])
}

/// The version of an LLVM tool that takes `--version` (llvm-bolt, merge-fdata).
#[must_use]
pub fn tool_version(path: &Path, args: &[&str]) -> Option<(String, u32)> {
    let out = Command::new(path).args(args).output().ok()?;
    parse_llvm_version(&String::from_utf8_lossy(&out.stdout))
        .or_else(|| parse_llvm_version(&String::from_utf8_lossy(&out.stderr)))
}

/// Where to look for an LLVM tool, in order: the environment variable, the rustup sysroot's
/// `lib/rustlib/<host>/bin` (the `llvm-tools` component), `<tool>-<major>` on `PATH`,
/// `/usr/lib/llvm-<major>/bin`, then `<tool>` on `PATH`.
pub fn candidates(
    tool: &str,
    env_override: Option<PathBuf>,
    sysroot: Option<&Path>,
    host: &str,
    major: u32,
    on_path: &dyn Fn(&str) -> Option<PathBuf>,
) -> Vec<PathBuf> {
    let mut out = Vec::new();
    out.extend(env_override);
    if let Some(sysroot) = sysroot {
        out.push(
            sysroot
                .join("lib/rustlib")
                .join(host)
                .join("bin")
                .join(tool),
        );
    }
    out.extend(on_path(&format!("{tool}-{major}")));
    out.push(PathBuf::from(format!("/usr/lib/llvm-{major}/bin/{tool}")));
    out.extend(on_path(tool));
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    out
}

/// The first of `candidates` that exists and whose LLVM major is `major`, probed with
/// `version`. Without one: an error listing what was found, with the versions, and the fix.
pub fn find(
    tool: &str,
    env_var: &str,
    candidates: &[PathBuf],
    major: u32,
    version: &dyn Fn(&Path) -> Option<(String, u32)>,
) -> Result<PathBuf> {
    let mut seen = Vec::new();
    for path in candidates {
        if !path.is_file() {
            continue;
        }
        match version(path) {
            Some((_, m)) if m == major => return Ok(path.clone()),
            Some((v, _)) => seen.push(format!("{} is LLVM {v}", path.display())),
            None => seen.push(format!("{} does not say its version", path.display())),
        }
    }
    let found = if seen.is_empty() {
        format!("no {tool} found")
    } else {
        seen.join("; ")
    };
    Err(ProfilerError::NoMatchingLlvmTool {
        tool: tool.to_string(),
        major,
        found,
        env_var: env_var.to_string(),
    })
}

/// rustc's sysroot (`rustc --print sysroot`).
#[must_use]
pub fn sysroot() -> Option<PathBuf> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let out = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Finds `llvm-profdata` for rustc's LLVM.
pub fn find_profdata(rustc: &Rustc) -> Result<PathBuf> {
    let list = candidates(
        "llvm-profdata",
        std::env::var_os("LLVM_PROFDATA").map(PathBuf::from),
        sysroot().as_deref(),
        &rustc.host,
        rustc.llvm_major,
        &find_program,
    );
    find(
        "llvm-profdata",
        "LLVM_PROFDATA",
        &list,
        rustc.llvm_major,
        &profdata_version,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUSTC_1_95: &str = "rustc 1.95.0 (59807616e 2026-04-14)
binary: rustc
commit-hash: 59807616e1fa2540724bfbac14d7976d7e4a3860
commit-date: 2026-04-14
host: x86_64-unknown-linux-gnu
release: 1.95.0
LLVM version: 22.1.2
";

    #[test]
    fn rustc_vv_gives_host_and_llvm_major() {
        let r = parse_rustc_vv(RUSTC_1_95).unwrap();
        assert_eq!(r.host, "x86_64-unknown-linux-gnu");
        assert_eq!((r.llvm_version.as_str(), r.llvm_major), ("22.1.2", 22));
        assert_eq!(r.release, "1.95.0");
        let err = parse_rustc_vv("rustc 1.0\nhost: x\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no `LLVM version:` line"), "{err}");
    }

    #[test]
    fn llvm_versions_of_several_vendors() {
        // LLVM 14 from Debian, `llvm-profdata merge --version`.
        let llvm14 = "Debian LLVM version 14.0.6\n  Optimized build.\n  Default target: x86_64-pc-linux-gnu\n  Host CPU: icelake-client\n";
        assert_eq!(parse_llvm_version(llvm14), Some(("14.0.6".into(), 14)));
        // LLVM 22 from Debian.
        let llvm22 = "Debian LLVM version 22.1.8\n  Optimized build.\n";
        assert_eq!(parse_llvm_version(llvm22), Some(("22.1.8".into(), 22)));
        // rustup's llvm-tools.
        let rustup = "LLVM (http://llvm.org/):\n  LLVM version 22.1.2-rust-1.95.0-stable\n  Optimized build.\n";
        assert_eq!(
            parse_llvm_version(rustup),
            Some(("22.1.2-rust-1.95.0-stable".into(), 22))
        );
        // LLVM 14's `llvm-profdata --version` (without `merge`) prints no version.
        assert_eq!(
            parse_llvm_version(
                "llvm-profdata: Unknown command!\nUSAGE: llvm-profdata <merge|show|overlap> [args...]"
            ),
            None
        );
    }

    #[test]
    fn discovery_order_is_env_sysroot_versioned_llvm_dir_then_path() {
        let on_path = |name: &str| Some(PathBuf::from(format!("/usr/bin/{name}")));
        let list = candidates(
            "llvm-profdata",
            Some(PathBuf::from("/opt/p")),
            Some(Path::new("/sys/root")),
            "x86_64-unknown-linux-gnu",
            22,
            &on_path,
        );
        let list: Vec<String> = list.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            list,
            [
                "/opt/p",
                "/sys/root/lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-profdata",
                "/usr/bin/llvm-profdata-22",
                "/usr/lib/llvm-22/bin/llvm-profdata",
                "/usr/bin/llvm-profdata",
            ]
        );
    }

    #[test]
    fn the_first_matching_major_wins_and_a_mismatch_names_both_versions() {
        let dir = std::env::temp_dir().join(format!("xtask-llvm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let old = dir.join("old");
        let new = dir.join("new");
        std::fs::write(&old, "").unwrap();
        std::fs::write(&new, "").unwrap();
        let version = |p: &Path| {
            if p.ends_with("old") {
                Some(("14.0.6".to_string(), 14))
            } else {
                Some(("22.1.8".to_string(), 22))
            }
        };
        let missing = dir.join("missing");
        let found = find(
            "llvm-profdata",
            "LLVM_PROFDATA",
            &[missing.clone(), old.clone(), new.clone()],
            22,
            &version,
        )
        .unwrap();
        assert_eq!(found, new);
        let err = find(
            "llvm-profdata",
            "LLVM_PROFDATA",
            &[missing, old],
            22,
            &version,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("rustc uses LLVM 22") && err.contains("is LLVM 14.0.6"),
            "{err}"
        );
        assert!(
            err.contains("apt-get install llvm-22")
                && err.contains("rustup component add llvm-tools"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
