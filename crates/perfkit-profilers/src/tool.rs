//! Finding the external tools, proving they run, and reading their versions.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::ProfilerError;

/// An external program perfkit drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    /// Linux `perf` (record, script, stat, report).
    Perf,
    /// `valgrind` (massif).
    Valgrind,
    /// `ms_print`, massif's text renderer (ships with valgrind).
    MsPrint,
    /// `strace`.
    Strace,
    /// `ltrace`.
    Ltrace,
}

impl Tool {
    /// Every tool, in the order `perfkit doctor`-style listings show them.
    pub const ALL: [Tool; 5] = [
        Tool::Perf,
        Tool::Valgrind,
        Tool::MsPrint,
        Tool::Strace,
        Tool::Ltrace,
    ];

    /// The program name searched on `PATH`.
    #[must_use]
    pub fn program(self) -> &'static str {
        match self {
            Tool::Perf => "perf",
            Tool::Valgrind => "valgrind",
            Tool::MsPrint => "ms_print",
            Tool::Strace => "strace",
            Tool::Ltrace => "ltrace",
        }
    }

    /// The environment variable that overrides the search (a path or a program name).
    #[must_use]
    pub fn env_override(self) -> &'static str {
        match self {
            Tool::Perf => "PERF",
            Tool::Valgrind => "PERFKIT_VALGRIND",
            Tool::MsPrint => "PERFKIT_MS_PRINT",
            Tool::Strace => "PERFKIT_STRACE",
            Tool::Ltrace => "PERFKIT_LTRACE",
        }
    }

    /// How to install the tool on the common distributions.
    #[must_use]
    pub fn install_hint(self) -> &'static str {
        match self {
            Tool::Perf => {
                "install it: `apt-get install linux-perf` (Debian), \
                 `apt-get install linux-tools-common linux-tools-$(uname -r)` (Ubuntu), \
                 `dnf install perf` (Fedora)"
            }
            Tool::Valgrind | Tool::MsPrint => {
                "install valgrind: `apt-get install valgrind` (Debian/Ubuntu), \
                 `dnf install valgrind` (Fedora)"
            }
            Tool::Strace => {
                "install it: `apt-get install strace` (Debian/Ubuntu), `dnf install strace` (Fedora)"
            }
            Tool::Ltrace => {
                "install it: `apt-get install ltrace` (Debian/Ubuntu), `dnf install ltrace` (Fedora)"
            }
        }
    }

    /// The arguments that make the tool print its version.
    fn version_args(self) -> &'static [&'static str] {
        match self {
            Tool::Perf | Tool::Valgrind | Tool::MsPrint => &["--version"],
            Tool::Strace | Tool::Ltrace => &["-V"],
        }
    }

    /// A word the real tool's version output contains (wrappers and impostors lack it).
    fn version_marker(self) -> &'static str {
        match self {
            Tool::Perf => "perf version",
            Tool::Valgrind => "valgrind-",
            Tool::MsPrint => "ms_print-",
            Tool::Strace => "strace",
            Tool::Ltrace => "ltrace",
        }
    }

    /// Finds the tool (environment override first, then `PATH`), runs its version command and
    /// parses the version.
    ///
    /// # Errors
    /// [`ProfilerError::ToolNotFound`] when it is not installed, [`ProfilerError::ToolBroken`]
    /// when the program exists but does not work (for example Ubuntu's `perf` wrapper without
    /// the package for the running kernel).
    pub fn locate(self) -> Result<ToolInfo, ProfilerError> {
        let requested = std::env::var(self.env_override())
            .ok()
            .filter(|v| !v.trim().is_empty());
        let name = requested
            .clone()
            .unwrap_or_else(|| self.program().to_owned());
        let Some(path) = perfkit_sys::find_program(&name) else {
            return Err(ProfilerError::ToolNotFound {
                tool: self,
                searched: match requested {
                    Some(v) => format!("{}={v}", self.env_override()),
                    None => "PATH".to_owned(),
                },
            });
        };
        let version = probe_version(self, &path)?;
        Ok(ToolInfo {
            tool: self,
            path,
            version,
        })
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.program())
    }
}

/// A located, working tool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// Which tool.
    pub tool: Tool,
    /// The program that runs.
    pub path: PathBuf,
    /// Its version.
    pub version: Version,
}

impl ToolInfo {
    /// A [`Command`] for this tool.
    #[must_use]
    pub fn command(&self) -> Command {
        Command::new(&self.path)
    }
}

/// A tool's version: the first `major.minor[.patch]` in its version output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
    /// Patch number (0 when absent).
    pub patch: u32,
    /// The line the version was read from, as printed.
    pub raw: String,
}

impl Version {
    /// Parses the first `N.N[.N]` in `text`.
    ///
    /// ```
    /// let v = perfkit_profilers::Version::parse("perf version 6.1.187").unwrap();
    /// assert_eq!((v.major, v.minor, v.patch), (6, 1, 187));
    /// assert!(perfkit_profilers::Version::parse("no digits").is_none());
    /// ```
    #[must_use]
    pub fn parse(text: &str) -> Option<Version> {
        let line = text.lines().find(|l| !l.trim().is_empty())?.trim();
        let bytes = line.as_bytes();
        let mut start = 0;
        while start < bytes.len() {
            if bytes[start].is_ascii_digit() && (start == 0 || !bytes[start - 1].is_ascii_digit()) {
                let rest = &line[start..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .unwrap_or(rest.len());
                let mut parts = rest[..end].split('.').filter(|p| !p.is_empty());
                let major = parts.next().and_then(|p| p.parse().ok());
                let minor = parts.next().and_then(|p| p.parse().ok());
                if let (Some(major), Some(minor)) = (major, minor) {
                    let patch = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
                    return Some(Version {
                        major,
                        minor,
                        patch,
                        raw: line.to_owned(),
                    });
                }
                start += end.max(1);
            } else {
                start += 1;
            }
        }
        None
    }

    /// Whether this version is at least `major.minor`.
    #[must_use]
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

fn probe_version(tool: Tool, path: &Path) -> Result<Version, ProfilerError> {
    let output = Command::new(path)
        .args(tool.version_args())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ProfilerError::ToolBroken {
            tool,
            path: path.to_owned(),
            detail: format!("it could not be started: {e}"),
        })?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    let first_line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let broken = |detail: String| ProfilerError::ToolBroken {
        tool,
        path: path.to_owned(),
        detail,
    };
    // ms_print --version prints its version and exits 255: the text decides, the status only
    // matters when the text is not the tool's.
    if !output.status.success() && !text.contains(tool.version_marker()) {
        return Err(broken(format!(
            "`{} {}` failed ({}): {}",
            path.display(),
            tool.version_args().join(" "),
            output.status,
            if first_line.is_empty() {
                "no output"
            } else {
                first_line
            }
        )));
    }
    if !text.contains(tool.version_marker()) {
        return Err(broken(format!(
            "its version output does not look like {tool}'s: {first_line:?}"
        )));
    }
    let marker_line = text
        .lines()
        .find(|l| l.contains(tool.version_marker()))
        .unwrap_or(first_line);
    Version::parse(marker_line)
        .ok_or_else(|| broken(format!("no version number in {marker_line:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_version_lines_of_each_tool() {
        for (text, expected) in [
            ("perf version 6.1.187", (6, 1, 187)),
            ("valgrind-3.19.0", (3, 19, 0)),
            ("ms_print-3.19.0", (3, 19, 0)),
            ("strace -- version 6.1\nCopyright", (6, 1, 0)),
            ("ltrace version 0.7.3.\nCopyright", (0, 7, 3)),
            ("perf version 5.15.g1234", (5, 15, 0)),
        ] {
            let v = Version::parse(text).unwrap();
            assert_eq!((v.major, v.minor, v.patch), expected, "{text}");
        }
        assert!(Version::parse("").is_none());
        assert!(Version::parse("version 7").is_none());
        assert!(Version::parse("WARNING: perf not found for kernel 6.8.0-1").is_some());
    }

    proptest::proptest! {
        #[test]
        fn version_parsing_never_panics(text in "(?s).{0,80}") {
            let _ = Version::parse(&text);
        }
    }

    #[test]
    fn at_least_compares_major_then_minor() {
        let v = Version::parse("6.1.0").unwrap();
        assert!(v.at_least(5, 9));
        assert!(v.at_least(6, 1));
        assert!(!v.at_least(6, 2));
    }

    #[test]
    fn a_missing_tool_names_the_install_command() {
        let err = ProfilerError::ToolNotFound {
            tool: Tool::Perf,
            searched: "PATH".into(),
        };
        let message = err.to_string();
        assert!(message.contains("linux-perf"), "{message}");
        assert!(message.contains("PERF"), "{message}");
    }
}
