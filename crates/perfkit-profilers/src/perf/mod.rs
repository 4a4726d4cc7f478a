//! Linux `perf`: the environment check, `perf record`, `perf script` folding, `perf stat`,
//! `perf report`, and profiling a section of this process.

use crate::{Denial, Setting};
use std::fmt;
use std::process::{Command, Stdio};

use perfkit_sys::tune::Sysctl;
use serde::{Deserialize, Serialize};

use crate::{ProfilerError, Tool, ToolInfo};

mod record;
mod script;
mod section;
mod stat;

pub use record::{Record, RecordOutcome};
pub use script::{
    CountUnit, FoldOptions, PerfFold, fold_perf_data, fold_perf_script, is_perf_script_header,
    perf_report,
};
pub use section::{SectionProfile, profile_section};
pub use stat::{Metric, PerRun, Stat, StatCounter, StatOutcome, StatValue, parse_stat_csv};

/// What perf may do on this machine, read once before recording.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PerfEnvironment {
    /// The `perf` program.
    pub perf: ToolInfo,
    /// `kernel.perf_event_paranoid` (`None` when unreadable).
    pub paranoid: Option<i32>,
    /// Whether we run as root (root ignores the paranoid level).
    pub root: bool,
    /// Whether a hardware event (`cycles`) can be counted; false on most VMs.
    pub hardware_events: bool,
    /// Whether this perf can compress records (`-z`: perf ≥ 5.5 built with zstd).
    pub compression: bool,
}

/// Which event `perf record` samples.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventChoice {
    /// `cycles` where hardware counters exist, else the `cpu-clock` software timer.
    #[default]
    Auto,
    /// Exactly this perf event (for example `cpu-clock`, `cycles`, `page-faults`).
    Named(String),
}

/// The event chosen for a recording, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The perf event name, with a `:u` modifier when only user space may be sampled.
    pub name: String,
    /// Why this event (shown once to the user), if it is not what they asked for literally.
    pub note: Option<String>,
}

/// How `perf record` collects call stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum CallGraph {
    /// Frame pointers (`--call-graph fp`): tiny samples, but Rust release builds omit frame
    /// pointers unless built with `-C force-frame-pointers=yes`, so stacks come out broken.
    FramePointer,
    /// Copy the user stack and unwind with DWARF CFI (`--call-graph dwarf,SIZE`): complete
    /// stacks for any binary with unwind tables, at `SIZE` bytes per sample (compress with `-z`).
    Dwarf {
        /// Bytes of stack copied per sample (perf rounds to a multiple of 8; max 65528).
        stack_size: u32,
    },
    /// Last branch records (Intel hardware only).
    Lbr,
    /// No call stacks: only the sampled function.
    None,
}

impl CallGraph {
    /// perfkit's default: DWARF with a 16 KiB stack copy. Complete stacks for release builds
    /// without frame pointers; twice perf's own default of 8 KiB and a quarter of the 64 KB
    /// cargo-flamegraph copies, which makes perf.data much larger. If stacks end early (a
    /// frame below `main` missing, `[unknown]` roots), raise it: `dwarf,65528`.
    pub const DEFAULT: CallGraph = CallGraph::Dwarf { stack_size: 16_384 };

    /// Parses `fp`, `dwarf`, `dwarf,SIZE`, `lbr` or `none`.
    ///
    /// ```
    /// use perfkit_profilers::perf::CallGraph;
    /// assert_eq!(CallGraph::parse("dwarf,32768").unwrap(), CallGraph::Dwarf { stack_size: 32768 });
    /// assert_eq!(CallGraph::parse("fp").unwrap(), CallGraph::FramePointer);
    /// assert!(CallGraph::parse("dwarf,0").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<CallGraph, ProfilerError> {
        let text = text.trim();
        let (mode, size) = match text.split_once(',') {
            Some((m, s)) => (m, Some(s)),
            None => (text, None),
        };
        let bad = || ProfilerError::InvalidSetting(Setting::CallGraph(text.to_owned()));
        match (mode, size) {
            ("fp", None) => Ok(CallGraph::FramePointer),
            ("lbr", None) => Ok(CallGraph::Lbr),
            ("none", None) => Ok(CallGraph::None),
            ("dwarf", None) => Ok(CallGraph::DEFAULT),
            ("dwarf", Some(size)) => match size.trim().parse::<u32>() {
                Ok(n) if (8..=65_528).contains(&n) => Ok(CallGraph::Dwarf { stack_size: n }),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }

    /// The `--call-graph` argument, or `None` for no call graph.
    #[must_use]
    pub fn perf_arg(self) -> Option<String> {
        match self {
            CallGraph::FramePointer => Some("fp".into()),
            CallGraph::Dwarf { stack_size } => {
                Some(format!("dwarf,{}", stack_size.div_ceil(8) * 8))
            }
            CallGraph::Lbr => Some("lbr".into()),
            CallGraph::None => None,
        }
    }
}

impl Default for CallGraph {
    fn default() -> Self {
        CallGraph::DEFAULT
    }
}

impl fmt::Display for CallGraph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.perf_arg().as_deref().unwrap_or("none"))
    }
}

impl PerfEnvironment {
    /// Locates perf and reads what it may do here. Probing hardware counters runs
    /// `perf stat -e cycles:u -- true` once (a few milliseconds).
    pub fn detect() -> Result<PerfEnvironment, ProfilerError> {
        let perf = Tool::Perf.locate()?;
        let paranoid = Sysctl::value("kernel.perf_event_paranoid").and_then(|s| s.parse().ok());
        let hardware_events = probe_hardware_events(&perf);
        let compression = probe_compression(&perf);
        Ok(PerfEnvironment {
            perf,
            paranoid,
            root: is_root(),
            hardware_events,
            compression,
        })
    }

    /// Whether only user-space samples are allowed (paranoid ≥ 2 and not root).
    #[must_use]
    pub fn user_space_only(&self) -> bool {
        !self.root && self.paranoid.is_some_and(|p| p >= 2)
    }

    /// Checks that recording can work at all. Returns notes to show the user (for example that
    /// kernel frames will be missing).
    ///
    /// # Errors
    /// [`ProfilerError::NotPermitted`] when the paranoid level forbids profiling for this user,
    /// with the command that fixes it.
    pub fn check_record(&self) -> Result<Vec<String>, ProfilerError> {
        let mut notes = Vec::new();
        if self.root {
            return Ok(notes);
        }
        match self.paranoid {
            Some(level) if level >= 3 => {
                Err(ProfilerError::NotPermitted(Denial::PerfParanoid { level }))
            }
            Some(2) => {
                notes.push(
                    "kernel.perf_event_paranoid is 2: recording user space only (kernel frames \
                     will be missing); `sudo sysctl kernel.perf_event_paranoid=1` includes them"
                        .to_owned(),
                );
                Ok(notes)
            }
            _ => Ok(notes),
        }
    }

    /// Resolves the event to sample.
    #[must_use]
    pub fn event(&self, choice: &EventChoice) -> Event {
        let suffix = if self.user_space_only() { ":u" } else { "" };
        match choice {
            EventChoice::Named(name) => {
                let hardware = matches!(
                    name.split(':').next().unwrap_or(""),
                    "cycles"
                        | "cpu-cycles"
                        | "instructions"
                        | "ref-cycles"
                        | "branches"
                        | "branch-misses"
                        | "cache-misses"
                        | "cache-references"
                );
                let note = (hardware && !self.hardware_events).then(|| {
                    format!(
                        "{name} is a hardware event and this machine has no hardware counters \
                         (a VM?): perf will fall back to a software timer or record nothing; \
                         use cpu-clock"
                    )
                });
                let name = if self.user_space_only() && !name.contains(':') {
                    format!("{name}{suffix}")
                } else {
                    name.clone()
                };
                Event { name, note }
            }
            EventChoice::Auto if self.hardware_events => Event {
                name: format!("cycles{suffix}"),
                note: None,
            },
            EventChoice::Auto => Event {
                name: format!("cpu-clock{suffix}"),
                note: Some(
                    "no hardware counters here (a VM?): sampling the cpu-clock software timer, \
                     which measures on-CPU time"
                        .to_owned(),
                ),
            },
        }
    }
}

fn probe_compression(perf: &ToolInfo) -> bool {
    if !perf.version.at_least(5, 5) {
        return false;
    }
    let Ok(output) = perf
        .command()
        .args(["version", "--build-options"])
        .stdin(Stdio::null())
        .output()
    else {
        return false;
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .any(|l| l.trim_start().starts_with("zstd:") && l.contains("on"))
}

fn is_root() -> bool {
    #[cfg(target_os = "linux")]
    {
        nix::unistd::geteuid().is_root()
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

fn probe_hardware_events(perf: &ToolInfo) -> bool {
    let Ok(output) = Command::new(&perf.path)
        .args(["stat", "-x,", "-e", "cycles:u", "--", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
    else {
        return false;
    };
    let text = String::from_utf8_lossy(&output.stderr);
    stat::parse_stat_csv(&text).is_ok_and(|counters| {
        counters
            .iter()
            .any(|c| c.event.starts_with("cycles") && matches!(c.value, StatValue::Count(_)))
    })
}

/// The last lines of a tool's stderr, for error messages.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .take(lines)
        .collect();
    kept.into_iter().rev().collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Version;

    fn env(root: bool, paranoid: i32, hardware: bool) -> PerfEnvironment {
        PerfEnvironment {
            perf: ToolInfo {
                tool: Tool::Perf,
                path: "/usr/bin/perf".into(),
                version: Version::parse("perf version 6.1.0").unwrap(),
            },
            paranoid: Some(paranoid),
            root,
            hardware_events: hardware,
            compression: true,
        }
    }

    #[test]
    fn auto_event_falls_back_to_cpu_clock_without_hardware_counters() {
        let e = env(true, 2, false).event(&EventChoice::Auto);
        assert_eq!(e.name, "cpu-clock");
        assert!(e.note.unwrap().contains("no hardware counters"));
        let e = env(true, 2, true).event(&EventChoice::Auto);
        assert_eq!(e.name, "cycles");
        assert!(e.note.is_none());
        let e = env(false, 2, false).event(&EventChoice::Auto);
        assert_eq!(e.name, "cpu-clock:u");
    }

    #[test]
    fn paranoid_three_is_an_error_with_the_fix_and_two_is_a_note() {
        let err = env(false, 3, false).check_record().unwrap_err().to_string();
        assert!(err.contains("sysctl kernel.perf_event_paranoid=1"), "{err}");
        let notes = env(false, 2, false).check_record().unwrap();
        assert!(notes[0].contains("user space only"));
        assert!(env(true, 3, false).check_record().unwrap().is_empty());
        assert!(env(false, 1, false).check_record().unwrap().is_empty());
    }

    #[test]
    fn naming_a_hardware_event_without_counters_warns() {
        let e = env(true, 2, false).event(&EventChoice::Named("cycles".into()));
        assert!(e.note.unwrap().contains("cpu-clock"));
        let e = env(true, 2, false).event(&EventChoice::Named("page-faults".into()));
        assert!(e.note.is_none());
    }

    #[test]
    fn call_graph_arguments() {
        assert_eq!(CallGraph::DEFAULT.perf_arg().unwrap(), "dwarf,16384");
        assert_eq!(
            CallGraph::Dwarf { stack_size: 1001 }.perf_arg().unwrap(),
            "dwarf,1008"
        );
        assert_eq!(CallGraph::None.perf_arg(), None);
        for bad in ["dwarf,", "dwarf,70000", "frame", "fp,8"] {
            assert!(CallGraph::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tail_keeps_the_last_non_empty_lines() {
        assert_eq!(tail("a\n\nb\nc\n\n", 2), "b\nc");
    }
}
