//! `perf record`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use perfkit_sys::{ExitKind, SysError};
use serde::{Deserialize, Serialize};

use super::{CallGraph, Event, EventChoice, PerfEnvironment};
use crate::{InterruptGuard, ProfilerError, Tool};

/// What `perf record` profiles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordTarget {
    /// Start this program (argv, program first) under perf.
    Command(Vec<OsString>),
    /// Attach to running processes for a while.
    Pids {
        /// The processes (all their threads are sampled).
        pids: Vec<u32>,
        /// How long to record.
        duration: Duration,
    },
}

impl RecordTarget {
    /// A program and its arguments (program first).
    pub fn command<I, S>(argv: I) -> RecordTarget
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        RecordTarget::Command(argv.into_iter().map(Into::into).collect())
    }

    /// Running processes, for `duration`.
    pub fn pids(pids: impl IntoIterator<Item = u32>, duration: Duration) -> RecordTarget {
        RecordTarget::Pids {
            pids: pids.into_iter().collect(),
            duration,
        }
    }

    /// Checks the target without running anything: the program exists and may be executed,
    /// or there is at least one PID, every PID is alive and the duration is not zero.
    pub fn validate(&self) -> Result<(), ProfilerError> {
        match self {
            RecordTarget::Command(argv) => check_command(argv),
            RecordTarget::Pids { pids, duration } => {
                if pids.is_empty() {
                    return Err(ProfilerError::InvalidOption(
                        "no process to attach to: give at least one PID".into(),
                    ));
                }
                if duration.is_zero() {
                    return Err(ProfilerError::InvalidOption(
                        "the duration must be more than 0 s".into(),
                    ));
                }
                for pid in pids {
                    if !Path::new(&format!("/proc/{pid}")).exists() {
                        return Err(SysError::NoSuchProcess { pid: *pid }.into());
                    }
                    check_owner(*pid)?;
                }
                Ok(())
            }
        }
    }

    /// The workload part of a `perf record`/`perf stat` command line: `-- PROGRAM ARGS…`, or
    /// `-p PID,… -- sleep SECONDS` (perf watches the PIDs for as long as `sleep` runs).
    pub(crate) fn perf_workload_args(&self) -> Vec<OsString> {
        match self {
            RecordTarget::Command(argv) => std::iter::once(OsString::from("--"))
                .chain(argv.iter().cloned())
                .collect(),
            RecordTarget::Pids { pids, duration } => {
                let list: Vec<String> = pids.iter().map(u32::to_string).collect();
                vec![
                    "-p".into(),
                    list.join(",").into(),
                    "--".into(),
                    "sleep".into(),
                    format!("{:.3}", duration.as_secs_f64()).into(),
                ]
            }
        }
    }
}

/// Refuses, before any tool runs, to attach to a process of another user when perfkit is
/// not root: perf, strace and ltrace would fail (or report an empty profile) with a message
/// that does not say why.
fn check_owner(pid: u32) -> Result<(), ProfilerError> {
    #[cfg(target_os = "linux")]
    {
        let me = nix::unistd::geteuid();
        if me.is_root() {
            return Ok(());
        }
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return Ok(());
        };
        let owners: Vec<u32> = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .map(|ids| {
                ids.split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(&other) = owners.iter().find(|&&uid| uid != me.as_raw()) {
            return Err(ProfilerError::NotPermitted(format!(
                "cannot attach to PID {pid}: it runs as user {other} and perfkit as user {}; \
                 run perfkit as root (sudo) or as that user",
                me.as_raw()
            )));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = pid;
    Ok(())
}

/// For the ptrace-based tools (strace, ltrace): Yama's `kernel.yama.ptrace_scope` above 0
/// lets a normal user trace only its own descendants, so attaching to a running process fails.
pub(crate) fn check_ptrace_attach(target: &RecordTarget, tool: Tool) -> Result<(), ProfilerError> {
    #[cfg(target_os = "linux")]
    if let RecordTarget::Pids { pids, .. } = target
        && !nix::unistd::geteuid().is_root()
    {
        let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(0);
        if scope > 0 {
            return Err(ProfilerError::NotPermitted(format!(
                "{tool} cannot attach to PID {}: kernel.yama.ptrace_scope is {scope}, which lets \
                 a normal user trace only its own children; run perfkit as root (sudo), or \
                 `sudo sysctl kernel.yama.ptrace_scope=0`",
                pids.first().copied().unwrap_or_default()
            )));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (target, tool);
    Ok(())
}

/// Checks that `argv`'s program exists and may be executed.
pub(crate) fn check_command(argv: &[OsString]) -> Result<(), ProfilerError> {
    let program = argv.first().ok_or(SysError::EmptyCommand)?;
    perfkit_sys::check_program(&program.to_string_lossy())?;
    Ok(())
}

/// A `perf record` run, built step by step.
///
/// ```no_run
/// use perfkit_profilers::{fold_perf_data, FoldOptions, PerfEnvironment, Record};
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
    target: RecordTarget,
    frequency: u32,
    event: EventChoice,
    call_graph: CallGraph,
    compress: Option<bool>,
    bpf_events: bool,
    output: PathBuf,
    extra_args: Vec<OsString>,
    discard_stdout: bool,
    program_io: Option<perfkit_sys::ProgramIo>,
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
    /// Profiles `argv` (program first) from its start to its end.
    pub fn command<I, S>(argv: I) -> Record
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Record::new(RecordTarget::command(argv))
    }

    /// Attaches to `pids` for `duration`.
    pub fn pids(pids: impl IntoIterator<Item = u32>, duration: Duration) -> Record {
        Record::new(RecordTarget::pids(pids, duration))
    }

    /// Profiles `target` (see [`RecordTarget::command`] and [`RecordTarget::pids`]).
    #[must_use]
    pub fn new(target: RecordTarget) -> Record {
        Record {
            target,
            frequency: 997,
            event: EventChoice::Auto,
            call_graph: CallGraph::DEFAULT,
            compress: None,
            bpf_events: false,
            output: PathBuf::from("perf.data"),
            extra_args: Vec::new(),
            discard_stdout: false,
            program_io: None,
        }
    }

    /// Send the program's standard output to `/dev/null` (default: it goes where this
    /// process's goes). Its standard error and the tool's own messages are kept.
    #[must_use]
    pub fn discard_stdout(mut self, yes: bool) -> Record {
        self.discard_stdout = yes;
        self
    }

    /// The program's standard input and output (overrides
    /// [`discard_stdout`](Self::discard_stdout)); its standard error is the tool's. Without it
    /// the program reads and writes this process's own.
    #[must_use]
    pub fn program_io(mut self, io: perfkit_sys::ProgramIo) -> Record {
        self.program_io = Some(io);
        self
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
    /// every recording wait up to a second at exit (measured: 1.2 s → 0.37 s for `true`), and
    /// they only matter when profiling eBPF programs themselves.
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

    /// Extra arguments for `perf record`, placed before the command.
    #[must_use]
    pub fn extra_args<I, S>(mut self, args: I) -> Record
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.extra_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The target.
    #[must_use]
    pub fn target(&self) -> &RecordTarget {
        &self.target
    }

    /// Checks the options and the target (the program exists, the PIDs are alive) without
    /// running anything; [`Record::run`] does this first.
    pub fn validate(&self) -> Result<(), ProfilerError> {
        if self.frequency == 0 || self.frequency > 100_000 {
            return Err(ProfilerError::InvalidOption(format!(
                "frequency {} Hz is out of range: use 1..=100000 (997 is a good default)",
                self.frequency
            )));
        }
        self.target.validate()
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
        args.extend(self.extra_args.iter().cloned());
        args.extend(self.target.perf_workload_args());
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
            return Err(ProfilerError::InvalidOption(format!(
                "this perf ({}) cannot compress records (needs perf ≥ 5.5 built with zstd): \
                 drop the compression option",
                env.perf.version
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

        let mut command = env.perf.command();
        let no_bpf_event = env.perf.version.at_least(5, 1);
        command.args(self.perf_args(&event, compress, no_bpf_event, &data));
        if self.discard_stdout {
            command.stdout(std::process::Stdio::null());
        }
        if let Some(io) = &self.program_io {
            io.apply(&mut command)?;
        }
        let guard = InterruptGuard::new();
        let outcome = perfkit_sys::run(&mut command, crate::FORWARD)?;
        guard.check_terminated()?;
        let interrupted = guard.interrupted();
        drop(guard);

        let data_bytes = std::fs::metadata(&data).map_or(0, |m| m.len());
        if data_bytes == 0 {
            return Err(ProfilerError::ToolFailed {
                tool: Tool::Perf,
                detail: format!(
                    "perf record wrote no data ({}); its message is above",
                    outcome.status
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
            status: outcome.status,
            event,
            call_graph: self.call_graph,
            compressed: compress,
            frequency: self.frequency,
            wall: outcome.wall,
            interrupted,
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
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args.join(" "),
            "record -F 499 -e cpu-clock --call-graph dwarf,16384 -z --no-bpf-event -q -o /tmp/x.data -- app --flag"
        );
        let args = Record::pids([1, 2], Duration::from_millis(2500))
            .call_graph(CallGraph::None)
            .bpf_events(true)
            .perf_args(&event, false, true, Path::new("p"));
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args.join(" "),
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
