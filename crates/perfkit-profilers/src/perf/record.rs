//! `perf record`.

use crate::Setting;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use perfkit_sys::ExitKind;
use serde::{Deserialize, Serialize};

use super::{CallGraph, Event, EventChoice, PerfEnvironment};
use crate::runner::{Invocation, target_builders};
use crate::{ProfilerError, Target, Tool};

/// A `perf record` run, built step by step.
///
/// ```no_run
/// use perfkit_profilers::perf::{fold_perf_data, FoldOptions, PerfEnvironment, Record};
///
/// let env = PerfEnvironment::detect()?;
/// let outcome = Record::command(["./target/release/my-app", "--input", "big.txt"])
///     .frequency(1999)
///     .output("my-app.perf.data")
///     .run(&env)?;
/// println!("{} (event {})", outcome.status, outcome.event.name);
/// let folded = fold_perf_data(&env.perf, &outcome.perf_data, &FoldOptions::default())?;
/// println!("{} {} of {}", folded.stacks.total(), folded.count_name(), folded.event);
/// for f in folded.stacks.hot_functions(5) {
///     println!("{:5.1}% {}", f.self_percent, f.name);
/// }
/// # Ok::<(), perfkit_profilers::ProfilerError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Record {
    inv: Invocation,
    frequency: u32,
    event: EventChoice,
    call_graph: CallGraph,
    compress: Option<bool>,
    bpf_events: bool,
    output: PathBuf,
}

/// What a recording produced.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordOutcome {
    /// Where the samples are.
    pub perf_data: PathBuf,
    /// Its size in bytes.
    pub data_bytes: u64,
    /// How the profiled program ended (for `Pids`, how the recording ended).
    pub status: ExitKind,
    /// The sampled event.
    pub event: Event,
    /// The call-graph mode used.
    pub call_graph: CallGraph,
    /// Whether records were compressed (`-z`).
    pub compressed: bool,
    /// Sampling frequency in Hz.
    pub frequency: u32,
    /// Wall time of the recording.
    #[serde(rename = "wall_ns", with = "perfkit_metrics::serde_ns")]
    pub wall: Duration,
    /// Whether Ctrl-C ended the recording.
    pub interrupted: bool,
    /// Things the user should know (paranoid level, event fallback).
    pub notes: Vec<String>,
}

impl Record {
    target_builders!(Record);

    /// Profiles `target` (see [`Target::command`] and [`Target::pids`]).
    #[must_use]
    pub fn new(target: Target) -> Record {
        Record {
            inv: Invocation::new(target),
            frequency: 997,
            event: EventChoice::Auto,
            call_graph: CallGraph::DEFAULT,
            compress: None,
            bpf_events: false,
            output: PathBuf::from("perf.data"),
        }
    }

    /// Samples per second per CPU (default 997: prime, so it does not beat with periodic work).
    #[must_use]
    pub fn frequency(mut self, hz: u32) -> Record {
        self.frequency = hz;
        self
    }

    /// The event (default [`EventChoice::Auto`]).
    #[must_use]
    pub fn event(mut self, event: EventChoice) -> Record {
        self.event = event;
        self
    }

    /// The call-graph mode (default [`CallGraph::DEFAULT`]).
    #[must_use]
    pub fn call_graph(mut self, call_graph: CallGraph) -> Record {
        self.call_graph = call_graph;
        self
    }

    /// Compress records with zstd (`-z`). Default: when recording DWARF stacks and perf
    /// supports it, because DWARF samples are large and compress well.
    #[must_use]
    pub fn compress(mut self, compress: bool) -> Record {
        self.compress = Some(compress);
        self
    }

    /// Record BPF program load events (default off). perf's side-band thread for them makes
    /// every recording wait up to a second at exit, and they only matter when profiling eBPF
    /// programs themselves.
    #[must_use]
    pub fn bpf_events(mut self, yes: bool) -> Record {
        self.bpf_events = yes;
        self
    }

    /// Where to write perf.data (default `perf.data`). Written to a temporary name beside it
    /// and renamed when complete, so an existing file is replaced only by a finished one.
    #[must_use]
    pub fn output(mut self, path: impl Into<PathBuf>) -> Record {
        self.output = path.into();
        self
    }

    /// Checks the options and the target (the program exists, the PIDs are alive) without
    /// running anything; [`Record::run`] does this first.
    pub fn validate(&self) -> Result<(), ProfilerError> {
        if self.frequency == 0 || self.frequency > 100_000 {
            return Err(ProfilerError::InvalidSetting(Setting::Frequency(
                self.frequency,
            )));
        }
        self.inv.validate(Tool::Perf)
    }

    /// The `perf record` arguments (after `perf`), with `data` as the output path.
    /// `no_bpf_event`: whether this perf knows `--no-bpf-event` (perf ≥ 5.1).
    #[must_use]
    pub fn perf_args(
        &self,
        event: &Event,
        compress: bool,
        no_bpf_event: bool,
        data: &Path,
    ) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "record".into(),
            "-F".into(),
            self.frequency.to_string().into(),
            "-e".into(),
            event.name.clone().into(),
        ];
        if let Some(cg) = self.call_graph.perf_arg() {
            args.push("--call-graph".into());
            args.push(cg.into());
        }
        if compress {
            args.push("-z".into());
        }
        if no_bpf_event && !self.bpf_events {
            args.push("--no-bpf-event".into());
        }
        args.push("-q".into());
        args.push("-o".into());
        args.push(data.into());
        args.extend(self.inv.tail_args(Tool::Perf));
        args
    }

    /// Records. The program's stdin, stdout and stderr are this process's; Ctrl-C reaches the
    /// program and perf, and what was recorded until then is kept.
    ///
    /// A program that fails (non-zero exit, a signal, a panic) still yields a profile: its
    /// status is in [`RecordOutcome::status`].
    pub fn run(&self, env: &PerfEnvironment) -> Result<RecordOutcome, ProfilerError> {
        self.validate()?;
        let mut notes = env.check_record()?;
        let event = env.event(&self.event);
        if let Some(note) = &event.note {
            notes.push(note.clone());
        }
        let compress = self
            .compress
            .unwrap_or(matches!(self.call_graph, CallGraph::Dwarf { .. }) && env.compression);
        if compress && !env.compression {
            return Err(ProfilerError::InvalidSetting(Setting::Compression(
                env.perf.version.to_string(),
            )));
        }

        let output = absolute(&self.output)?;
        let parent = output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let staging = tempfile::Builder::new()
            .prefix(".perfkit-record-")
            .tempdir_in(parent)
            .map_err(|e| {
                ProfilerError::io(
                    format!(
                        "cannot write the profile to {} (does the directory exist and is it writable?)",
                        parent.display()
                    ),
                    e,
                )
            })?;
        let data = staging.path().join("perf.data");

        let no_bpf_event = env.perf.version.at_least(5, 1);
        let mut command = env.perf.command();
        command.args(self.perf_args(&event, compress, no_bpf_event, &data));
        self.inv.apply_io(&mut command)?;
        let ran = self.inv.run(&mut command, Tool::Perf)?;

        let data_bytes = std::fs::metadata(&data).map_or(0, |m| m.len());
        if data_bytes == 0 {
            return Err(ProfilerError::ToolFailed {
                tool: Tool::Perf,
                detail: format!(
                    "perf record wrote no data ({}); its message is above",
                    ran.status
                ),
            });
        }
        std::fs::rename(&data, &output).map_err(|e| {
            ProfilerError::io(
                format!("cannot move the profile to {}", output.display()),
                e,
            )
        })?;
        Ok(RecordOutcome {
            perf_data: output,
            data_bytes,
            status: ran.status,
            event,
            call_graph: self.call_graph,
            compressed: compress,
            frequency: self.frequency,
            wall: ran.wall,
            interrupted: ran.interrupted,
            notes,
        })
    }
}

fn absolute(path: &Path) -> Result<PathBuf, ProfilerError> {
    std::path::absolute(path)
        .map_err(|e| ProfilerError::io(format!("invalid output path {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Tool, ToolInfo, Version};

    /// The arguments as one line, to compare with what perf would be given.
    fn words(args: &[OsString]) -> String {
        let words: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
        words.join(" ")
    }

    #[test]
    fn arguments_for_a_command_and_for_pids() {
        let event = Event {
            name: "cpu-clock".into(),
            note: None,
        };
        let args = Record::command(["app", "--flag"]).frequency(499).perf_args(
            &event,
            true,
            true,
            Path::new("/tmp/x.data"),
        );
        assert_eq!(
            words(&args),
            "record -F 499 -e cpu-clock --call-graph dwarf,16384 -z --no-bpf-event -q -o /tmp/x.data -- app --flag"
        );
        let args = Record::pids([1, 2], Duration::from_millis(2500))
            .call_graph(CallGraph::None)
            .bpf_events(true)
            .perf_args(&event, false, true, Path::new("p"));
        assert_eq!(
            words(&args),
            "record -F 997 -e cpu-clock -q -o p -p 1,2 -- sleep 2.500"
        );
    }

    #[test]
    fn bad_targets_are_rejected_before_perf_runs() {
        let env = PerfEnvironment {
            perf: ToolInfo {
                tool: Tool::Perf,
                path: "/nonexistent/perf".into(),
                version: Version::parse("6.1").unwrap(),
            },
            paranoid: Some(2),
            root: true,
            hardware_events: false,
            compression: false,
        };
        let err = Record::command(["perfkit-no-such-program"])
            .run(&env)
            .unwrap_err();
        assert!(err.to_string().contains("not found"), "{err}");
        let err = Record::command(Vec::<String>::new()).run(&env).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        let err = Record::pids([u32::MAX - 1], Duration::from_secs(1))
            .run(&env)
            .unwrap_err();
        assert!(err.to_string().contains("no process"), "{err}");
        let err = Record::command(["true"])
            .frequency(0)
            .run(&env)
            .unwrap_err();
        assert!(err.to_string().contains("frequency"), "{err}");
    }
}
