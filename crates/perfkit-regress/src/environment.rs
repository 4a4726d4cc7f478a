//! Where a baseline was measured: comparing results from different machines is legitimate but
//! worth a warning, so the baseline records the machine, the toolchain and the code.

use std::process::{Command, Stdio};

use perfkit_sys::tune::Sysctl;
use serde::{Deserialize, Serialize};

/// The machine, toolchain and code a baseline was made on. Every field is `None` when it could
/// not be found out (e.g. outside a git repository, or without `rustc` on `PATH`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// Host name.
    pub host: Option<String>,
    /// Operating system (`std::env::consts::OS`) and architecture.
    pub os: Option<String>,
    /// Kernel release (`/proc/sys/kernel/osrelease`).
    pub kernel: Option<String>,
    /// CPU model name (`/proc/cpuinfo`).
    pub cpu_model: Option<String>,
    /// CPUs this process may run on.
    pub cpus: Option<u32>,
    /// `rustc --version`.
    pub rustc: Option<String>,
    /// `git rev-parse HEAD` in the current directory.
    pub git_commit: Option<String>,
    /// Whether the git work tree had uncommitted changes.
    pub git_dirty: Option<bool>,
}

impl Environment {
    /// Finds out the environment of this process (reads `/proc`, runs `rustc --version` and
    /// `git`; each missing piece is `None`).
    #[must_use]
    pub fn capture() -> Self {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            });
        let git_commit = output_of("git", &["rev-parse", "HEAD"]);
        let git_dirty = git_commit
            .as_ref()
            .and_then(|_| output_of_allow_empty("git", &["status", "--porcelain"]))
            .map(|s| !s.is_empty());
        Self {
            host: Sysctl::value("kernel.hostname"),
            os: Some(format!(
                "{} {}",
                std::env::consts::OS,
                std::env::consts::ARCH
            )),
            kernel: Sysctl::value("kernel.osrelease"),
            cpu_model,
            cpus: std::thread::available_parallelism()
                .ok()
                .and_then(|n| u32::try_from(n.get()).ok()),
            rustc: output_of("rustc", &["--version"]),
            git_commit,
            git_dirty,
        }
    }

    /// What differs between two environments in ways that change timings (machine, kernel,
    /// CPUs, compiler), one line per field, e.g. `cpu_model: "AMD EPYC" vs "Intel Xeon"`. A field
    /// unknown on either side is not compared; the git commit is expected to differ and is not
    /// listed.
    #[must_use]
    pub fn differences(&self, other: &Self) -> Vec<String> {
        let mut out = Vec::new();
        let mut compare = |field: &str, a: Option<String>, b: Option<String>| {
            if let (Some(a), Some(b)) = (a, b)
                && a != b
            {
                out.push(format!("{field}: \"{a}\" vs \"{b}\""));
            }
        };
        compare("host", self.host.clone(), other.host.clone());
        compare("os", self.os.clone(), other.os.clone());
        compare("kernel", self.kernel.clone(), other.kernel.clone());
        compare("cpu_model", self.cpu_model.clone(), other.cpu_model.clone());
        compare(
            "cpus",
            self.cpus.map(|n| n.to_string()),
            other.cpus.map(|n| n.to_string()),
        );
        compare("rustc", self.rustc.clone(), other.rustc.clone());
        out
    }
}

/// Trimmed standard output of a successful command; `None` when it fails, is missing, or
/// prints nothing.
fn output_of(program: &str, args: &[&str]) -> Option<String> {
    output_of_allow_empty(program, args).filter(|s| !s.is_empty())
}

fn output_of_allow_empty(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_skip_unknown_fields_and_the_commit() {
        let a = Environment {
            host: Some("a".into()),
            cpus: Some(2),
            git_commit: Some("1".into()),
            ..Environment::default()
        };
        let b = Environment {
            host: Some("b".into()),
            cpus: Some(2),
            kernel: Some("6.1".into()),
            git_commit: Some("2".into()),
            ..Environment::default()
        };
        assert_eq!(a.differences(&b), vec!["host: \"a\" vs \"b\"".to_string()]);
        assert!(a.differences(&a).is_empty());
    }

    #[test]
    fn capture_finds_this_machine() {
        let e = Environment::capture();
        assert!(e.os.is_some());
        if cfg!(target_os = "linux") {
            assert!(e.kernel.is_some() && e.cpus.is_some(), "{e:?}");
        }
    }
}
