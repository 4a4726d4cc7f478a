//! What every adapter that runs a program shares: the [`Target`], the program's standard
//! input and output, extra tool arguments, and one way to run the tool.
//!
//! An adapter (`Record`, `Stat`, `Strace`, `Ltrace`, `Massif`) keeps only its own arguments and
//! its parser. It holds an [`Invocation`], gets the shared builder methods from
//! `target_builders!`, and runs its tool in four steps: [`scratch_dir`] for the tool's private
//! output, [`Invocation::validate`], [`Invocation::command`] and [`Invocation::run`].

use crate::{Denial, Setting};
use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use perfkit_sys::{ExitKind, ProgramIo, SysError};

use crate::{InterruptGuard, ProfilerError, Tool, ToolInfo};

/// What a profiler watches: a program it starts, or running processes for a while.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Start this program (argv, program first) under the tool.
    Command(Vec<OsString>),
    /// Attach to running processes for a while.
    Pids {
        /// The processes (all their threads are watched).
        pids: Vec<u32>,
        /// How long to watch.
        duration: Duration,
    },
}

impl Target {
    /// The target as a person would name it: the command as typed (quoted where needed,
    /// shortened in the middle past 100 characters), or the PIDs and for how long.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Target::Command(argv) => {
                let words: Vec<String> = (argv.iter())
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect();
                perfkit_metrics::shorten_middle(&perfkit_sys::quote_command(&words), 100)
            }
            Target::Pids { pids, duration } => {
                let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
                let duration = humantime::format_duration(*duration);
                format!("PID {} for {duration}", pids.join(","))
            }
        }
    }

    /// A program and its arguments (program first).
    pub fn command<I, S>(argv: I) -> Target
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Target::Command(argv.into_iter().map(Into::into).collect())
    }

    /// Running processes, for `duration`.
    pub fn pids(pids: impl IntoIterator<Item = u32>, duration: Duration) -> Target {
        Target::Pids {
            pids: pids.into_iter().collect(),
            duration,
        }
    }

    /// Checks the target without running anything: the program exists and may be executed,
    /// or there is at least one PID, every PID is alive and the duration is not zero.
    ///
    /// # Errors
    /// The program is missing or not executable, a PID is not running or belongs to another
    /// user, or there is nothing to watch.
    pub fn validate(&self) -> Result<(), ProfilerError> {
        match self {
            Target::Command(argv) => {
                let program = argv.first().ok_or(SysError::EmptyCommand)?;
                perfkit_sys::check_program(&program.to_string_lossy())?;
                Ok(())
            }
            Target::Pids { pids, duration } => {
                if pids.is_empty() {
                    return Err(ProfilerError::InvalidSetting(Setting::NoPids));
                }
                if duration.is_zero() {
                    return Err(ProfilerError::InvalidSetting(Setting::ZeroDuration));
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
}

/// How a tool reaches running processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attach {
    /// `-p PID,PID -- sleep SECONDS`: perf watches the PIDs for as long as `sleep` runs.
    Sleep,
    /// `-p PID -p PID` through ptrace, interrupted with `SIGINT` when the time is up, which
    /// makes the tracer detach and write its output.
    Ptrace,
    /// The tool cannot attach to a running process.
    Never,
}

impl Attach {
    fn of(tool: Tool) -> Attach {
        match tool {
            Tool::Perf => Attach::Sleep,
            Tool::Strace | Tool::Ltrace => Attach::Ptrace,
            Tool::Valgrind | Tool::MsPrint => Attach::Never,
        }
    }
}

/// The options every adapter shares: what to run, the program's standard input and output,
/// and extra arguments for the tool.
#[derive(Clone, Debug)]
pub(crate) struct Invocation {
    pub(crate) target: Target,
    pub(crate) extra_args: Vec<OsString>,
    pub(crate) discard_stdout: bool,
    pub(crate) program_io: Option<ProgramIo>,
}

/// How a tool run ended.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ran {
    /// How the tool ended; for a command, the tool passes its program's status on (ltrace and
    /// perf stat are the exceptions their adapters correct).
    pub(crate) status: ExitKind,
    /// Wall time of the run.
    pub(crate) wall: Duration,
    /// Whether Ctrl-C arrived during the run.
    pub(crate) interrupted: bool,
}

impl Invocation {
    pub(crate) fn new(target: Target) -> Invocation {
        Invocation {
            target,
            extra_args: Vec::new(),
            discard_stdout: false,
            program_io: None,
        }
    }

    /// Checks the target for `tool` without running anything.
    pub(crate) fn validate(&self, tool: Tool) -> Result<(), ProfilerError> {
        if let Target::Pids { .. } = self.target
            && Attach::of(tool) == Attach::Never
        {
            return Err(ProfilerError::CannotAttach { tool });
        }
        self.target.validate()?;
        if Attach::of(tool) == Attach::Ptrace {
            check_ptrace_attach(&self.target, tool)?;
        }
        Ok(())
    }

    /// The arguments that follow the tool's own: the extra arguments, then the workload
    /// (`-- PROGRAM ARGS…`, or the PIDs in the tool's way).
    pub(crate) fn tail_args(&self, tool: Tool) -> Vec<OsString> {
        let mut tail = self.extra_args.clone();
        match (&self.target, Attach::of(tool)) {
            (Target::Command(argv), _) => {
                tail.push("--".into());
                tail.extend(argv.iter().cloned());
            }
            (Target::Pids { pids, duration }, Attach::Sleep) => {
                let list: Vec<String> = pids.iter().map(u32::to_string).collect();
                tail.extend([
                    "-p".into(),
                    list.join(",").into(),
                    "--".into(),
                    "sleep".into(),
                    format!("{:.3}", duration.as_secs_f64()).into(),
                ]);
            }
            (Target::Pids { pids, .. }, _) => {
                for pid in pids {
                    tail.extend(["-p".into(), pid.to_string().into()]);
                }
            }
        }
        tail
    }

    /// The tool's command: `tool_args`, then [`tail_args`](Self::tail_args), with the
    /// program's standard input and output set.
    pub(crate) fn command<I, S>(
        &self,
        tool: &ToolInfo,
        tool_args: I,
    ) -> Result<Command, ProfilerError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = tool.command();
        command.args(tool_args).args(self.tail_args(tool.tool));
        self.apply_io(&mut command)?;
        Ok(command)
    }

    /// Sets the program's standard input and output on `command`.
    pub(crate) fn apply_io(&self, command: &mut Command) -> Result<(), ProfilerError> {
        if self.discard_stdout {
            command.stdout(Stdio::null());
        }
        if let Some(io) = &self.program_io {
            io.apply(command)?;
        }
        if let Target::Pids { .. } = self.target {
            command.stdin(Stdio::null());
        }
        Ok(())
    }

    /// Runs `command`, built by [`command`](Self::command), to its end. Ctrl-C reaches the
    /// program and the tool, which keep what they recorded; `SIGTERM` and `SIGHUP` are passed
    /// on to the tool and then end perfkit's work with an error. A tracer attached to PIDs is
    /// interrupted when the duration is up.
    pub(crate) fn run(&self, command: &mut Command, tool: Tool) -> Result<Ran, ProfilerError> {
        match (&self.target, Attach::of(tool)) {
            (Target::Pids { duration, .. }, Attach::Ptrace) => {
                run_attached(command, tool, *duration)
            }
            _ => run_guarded(command),
        }
    }
}

/// Generates the builder methods every adapter shares, for an adapter with an `inv:
/// Invocation` field and a `new(Target)` constructor.
macro_rules! target_builders {
    ($adapter:ident) => {
        /// Runs `argv` (program first) under the tool, with its children.
        pub fn command<I, S>(argv: I) -> $adapter
        where
            I: IntoIterator<Item = S>,
            S: Into<std::ffi::OsString>,
        {
            $adapter::new($crate::Target::command(argv))
        }

        /// Attaches to running processes for `duration`.
        pub fn pids(
            pids: impl IntoIterator<Item = u32>,
            duration: std::time::Duration,
        ) -> $adapter {
            $adapter::new($crate::Target::pids(pids, duration))
        }

        /// What is profiled.
        #[must_use]
        pub fn target(&self) -> &$crate::Target {
            &self.inv.target
        }

        /// Send the program's standard output to `/dev/null` (default: it goes where this
        /// process's goes). Its standard error and the tool's own messages are kept.
        #[must_use]
        pub fn discard_stdout(mut self, yes: bool) -> $adapter {
            self.inv.discard_stdout = yes;
            self
        }

        /// The program's standard input and output (overrides
        /// [`discard_stdout`](Self::discard_stdout)); its standard error is the tool's.
        /// Without it the program reads and writes this process's own.
        #[must_use]
        pub fn program_io(mut self, io: perfkit_sys::ProgramIo) -> $adapter {
            self.inv.program_io = Some(io);
            self
        }

        /// Extra arguments for the tool, placed after perfkit's and before the program.
        #[must_use]
        pub fn extra_args<I, S>(mut self, args: I) -> $adapter
        where
            I: IntoIterator<Item = S>,
            S: Into<std::ffi::OsString>,
        {
            self.inv.extra_args.extend(args.into_iter().map(Into::into));
            self
        }
    };
}
pub(crate) use target_builders;

/// How tools that run the user's program are run: `SIGTERM` and `SIGHUP` are passed on to
/// them (see [`InterruptGuard`]).
const FORWARD: perfkit_sys::RunOptions = perfkit_sys::RunOptions {
    timeout: None,
    forward_signals: true,
};

/// Moves a finished file a tool wrote (`from`) to the user's `to` through
/// [`perfkit_sys::OutputPath`]: a regular file is replaced only by a complete one, a device or
/// descriptor is written in place, a symlink's target is replaced.
pub(crate) fn persist(from: &Path, to: &Path) -> Result<(), ProfilerError> {
    perfkit_sys::OutputPath::new(to)
        .and_then(|out| out.move_from(from))
        .map_err(|e| ProfilerError::io("keeping the profile", e))
}

/// A private directory for the tool's output files, removed when dropped or when perfkit
/// dies of a signal.
pub(crate) fn scratch_dir(tool: Tool) -> Result<perfkit_sys::signals::PrivateDir, ProfilerError> {
    perfkit_sys::signals::PrivateDir::new(&format!("perfkit-{tool}-"))
        .map_err(|e| ProfilerError::io("creating a temporary directory", e))
}

/// The error for a tool that ended without writing its output file.
pub(crate) fn no_output(tool: Tool, status: ExitKind, e: &std::io::Error) -> ProfilerError {
    ProfilerError::ToolFailed {
        tool,
        detail: format!("{tool} wrote no output ({status}, {e}); its message is above"),
    }
}

/// Runs `command` to its end with Ctrl-C deferred and `SIGTERM`/`SIGHUP` passed on.
pub(crate) fn run_guarded(command: &mut Command) -> Result<Ran, ProfilerError> {
    let guard = InterruptGuard::new();
    let outcome = perfkit_sys::run(command, FORWARD)?;
    guard.check_terminated()?;
    Ok(Ran {
        status: outcome.status,
        wall: outcome.wall,
        interrupted: guard.interrupted(),
    })
}

/// Runs a tracer attached to PIDs for `duration`, then interrupts it so that it detaches
/// and writes its output.
fn run_attached(
    command: &mut Command,
    tool: Tool,
    duration: Duration,
) -> Result<Ran, ProfilerError> {
    let guard = InterruptGuard::new();
    let started = Instant::now();
    let mut child = command.spawn().map_err(|e| ProfilerError::ToolFailed {
        tool,
        detail: format!("{tool} could not be started: {e}"),
    })?;
    let _forward = perfkit_sys::signals::forward_to(child.id());
    let (status, stopped_by_us) = wait_then_interrupt(&mut child, duration, &guard)
        .map_err(|e| ProfilerError::io(format!("waiting for {tool}"), e))?;
    guard.check_terminated()?;
    let status = match ExitKind::from(status) {
        // The tracer ended because we (or Ctrl-C) told it to: tracing went as planned.
        ExitKind::Signaled { signal, .. } | ExitKind::Exited { code: signal }
            if stopped_by_us && (signal == 2 || signal == 130) =>
        {
            ExitKind::Exited { code: 0 }
        }
        other => other,
    };
    Ok(Ran {
        status,
        wall: started.elapsed(),
        interrupted: guard.interrupted(),
    })
}

/// Waits until `duration` has passed (or Ctrl-C), then interrupts the tracer. Returns its
/// status and whether perfkit stopped it.
fn wait_then_interrupt(
    child: &mut Child,
    duration: Duration,
    guard: &InterruptGuard,
) -> std::io::Result<(ExitStatus, bool)> {
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline && !guard.interrupted() && guard.terminated().is_none() {
        if let Some(status) = child.try_wait()? {
            return Ok((status, false));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    #[cfg(target_os = "linux")]
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGINT,
        );
    }
    Ok((child.wait()?, true))
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
            return Err(ProfilerError::NotPermitted(Denial::OtherUser {
                pid,
                owner: other,
                me: me.as_raw(),
            }));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = pid;
    Ok(())
}

/// For the ptrace-based tools (strace, ltrace): Yama's `kernel.yama.ptrace_scope` above 0
/// lets a normal user trace only its own descendants, so attaching to a running process fails.
fn check_ptrace_attach(target: &Target, tool: Tool) -> Result<(), ProfilerError> {
    #[cfg(target_os = "linux")]
    if let Target::Pids { pids, .. } = target
        && !nix::unistd::geteuid().is_root()
    {
        let scope = perfkit_sys::tune::Sysctl::value("kernel.yama.ptrace_scope")
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0);
        if scope > 0 {
            return Err(ProfilerError::NotPermitted(Denial::PtraceScope {
                tool,
                pid: pids.first().copied().unwrap_or_default(),
                scope,
            }));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (target, tool);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[OsString]) -> String {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn each_tool_reaches_processes_its_own_way() {
        let mut inv = Invocation::new(Target::pids([1, 2], Duration::from_millis(2500)));
        inv.extra_args.push("-x".into());
        assert_eq!(
            strings(&inv.tail_args(Tool::Perf)),
            "-x -p 1,2 -- sleep 2.500"
        );
        assert_eq!(strings(&inv.tail_args(Tool::Strace)), "-x -p 1 -p 2");
        let inv = Invocation::new(Target::command(["app", "--flag"]));
        for tool in [Tool::Perf, Tool::Strace, Tool::Ltrace, Tool::Valgrind] {
            assert_eq!(strings(&inv.tail_args(tool)), "-- app --flag", "{tool}");
        }
    }

    #[test]
    fn a_target_is_described_as_typed() {
        let cmd = Target::command(["grep", "-e", "a b", "file"]);
        assert_eq!(cmd.describe(), "grep -e 'a b' file");
        let pids = Target::pids([12, 34], Duration::from_millis(2500));
        assert_eq!(pids.describe(), "PID 12,34 for 2s 500ms");
        let long = Target::command(["x".repeat(300)]);
        assert!(long.describe().chars().count() <= 100);
    }

    #[test]
    fn a_tool_that_cannot_attach_says_so() {
        let inv = Invocation::new(Target::pids([std::process::id()], Duration::from_secs(1)));
        let err = inv.validate(Tool::Valgrind).unwrap_err();
        assert!(matches!(
            err,
            ProfilerError::CannotAttach {
                tool: Tool::Valgrind
            }
        ));
        assert!(err.to_string().contains("cannot attach"), "{err}");
        let empty = Invocation::new(Target::pids([], Duration::from_secs(1)));
        assert!(matches!(
            empty.validate(Tool::Perf),
            Err(ProfilerError::InvalidSetting(Setting::NoPids))
        ));
        let zero = Invocation::new(Target::pids([std::process::id()], Duration::ZERO));
        let err = zero.validate(Tool::Strace).unwrap_err();
        assert!(matches!(
            err,
            ProfilerError::InvalidSetting(Setting::ZeroDuration)
        ));
        assert!(err.to_string().contains("0 s"), "{err}");
    }
}
