//! Run a command and measure what it used.
//!
//! [`run`] spawns the command, waits for it to exit *without reaping it*
//! (`waitid(WEXITED | WNOWAIT)`), reads `/proc/<pid>/io` and `/proc/<pid>/stat` from the zombie,
//! and only then reaps it with `wait4`, which returns its `rusage`. So every number describes
//! this one child (and the descendants it waited for), not whatever else the caller ran.

use std::fmt;
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::SysError;
use crate::procfs::IoCounters;

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExitKind {
    /// It exited with this code.
    Exited {
        /// The exit code (0–255).
        code: i32,
    },
    /// A signal ended it.
    Signaled {
        /// The signal number.
        signal: i32,
        /// Whether it dumped core.
        core_dumped: bool,
    },
    /// It ran longer than the timeout and was killed with `SIGKILL`.
    TimedOut,
}

impl ExitKind {
    /// `true` for exit code 0.
    #[must_use]
    pub fn success(self) -> bool {
        self == ExitKind::Exited { code: 0 }
    }

    /// The exit code, if the process exited normally.
    #[must_use]
    pub fn code(self) -> Option<i32> {
        match self {
            ExitKind::Exited { code } => Some(code),
            _ => None,
        }
    }
}

impl From<std::process::ExitStatus> for ExitKind {
    /// The status `std::process` reports. A status with neither a code nor a signal (which
    /// Linux does not produce) becomes exit code -1.
    fn from(status: std::process::ExitStatus) -> ExitKind {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => ExitKind::Exited { code },
            (None, Some(signal)) => ExitKind::Signaled {
                signal,
                core_dumped: status.core_dumped(),
            },
            (None, None) => ExitKind::Exited { code: -1 },
        }
    }
}

impl fmt::Display for ExitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExitKind::Exited { code } => write!(f, "exit code {code}"),
            ExitKind::Signaled {
                signal,
                core_dumped,
            } => {
                write!(f, "killed by signal {signal} ({})", signal_name(signal))?;
                if core_dumped {
                    f.write_str(", core dumped")?;
                }
                Ok(())
            }
            ExitKind::TimedOut => f.write_str("timed out"),
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => "signal",
    }
}

/// What one run of a command used. Fields the kernel does not provide are `None` ("unavailable"),
/// never a made-up 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    /// How it ended.
    pub status: ExitKind,
    /// Wall time from just before spawning to the moment it exited (reaping excluded).
    #[serde(rename = "wall_ns", with = "perfkit_metrics::serde_ns")]
    pub wall: Duration,
    /// User-mode CPU time (including waited-for descendants).
    #[serde(rename = "user_ns", with = "perfkit_metrics::serde_ns")]
    pub user: Duration,
    /// Kernel-mode CPU time (including waited-for descendants).
    #[serde(rename = "system_ns", with = "perfkit_metrics::serde_ns")]
    pub system: Duration,
    /// Peak resident set size of the largest process in the tree, in bytes (`ru_maxrss`).
    ///
    /// The kernel folds the address space a process had *before* `exec` into this number, and
    /// a spawned child starts with its parent's, so it is never below [`Self::rss_floor_bytes`].
    pub max_rss_bytes: u64,
    /// The spawning process's own peak RSS just before the spawn: the floor under
    /// `max_rss_bytes`. A `max_rss_bytes` at or below it means "at most this much".
    /// `None` where `/proc/self/status` is unreadable.
    pub rss_floor_bytes: Option<u64>,
    /// Page faults served without I/O.
    pub minor_faults: u64,
    /// Page faults that needed I/O.
    pub major_faults: u64,
    /// Context switches because the process waited (I/O, locks, sleep).
    pub voluntary_switches: u64,
    /// Context switches because the scheduler preempted the process.
    pub involuntary_switches: u64,
    /// I/O counters from `/proc/<pid>/io`; `None` where procfs or the file is unavailable.
    pub io: Option<IoCounters>,
    /// Time spent waiting for block I/O; `None` unless the kernel's delay accounting is on
    /// (`sysctl kernel.task_delayacct=1`).
    #[serde(
        rename = "block_io_delay_ns",
        with = "perfkit_metrics::serde_ns::option"
    )]
    pub block_io_delay: Option<Duration>,
}

impl RunOutcome {
    /// An outcome with only a status and a wall time, every other figure zero or unavailable:
    /// for executors that do not run processes (a benchmark's tests).
    #[must_use]
    pub fn timed(status: ExitKind, wall: Duration) -> RunOutcome {
        RunOutcome {
            status,
            wall,
            user: Duration::ZERO,
            system: Duration::ZERO,
            max_rss_bytes: 0,
            rss_floor_bytes: None,
            minor_faults: 0,
            major_faults: 0,
            voluntary_switches: 0,
            involuntary_switches: 0,
            io: None,
            block_io_delay: None,
        }
    }

    /// CPU time (user + system) as a percentage of wall time; 100% is one busy core.
    #[must_use]
    pub fn cpu_percent(&self) -> Option<f64> {
        let wall = self.wall.as_secs_f64();
        (wall > 0.0).then(|| (self.user + self.system).as_secs_f64() / wall * 100.0)
    }
}

/// Options of [`run`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Kill the process with `SIGKILL` after this long and report [`ExitKind::TimedOut`]. With
    /// a timeout the process runs in a process group of its own, and the whole group is
    /// killed, so the children of `sh -c` die with it (a descendant that starts its own
    /// session escapes). Signals that end perfkit are passed on to the group.
    pub timeout: Option<Duration>,
    /// Pass `SIGTERM` and `SIGHUP` that arrive while a [`crate::signals::Deferral`] is alive on
    /// to the process (a profiler running the user's program stops it and ends).
    pub forward_signals: bool,
}

/// Whether the kernel records block-I/O delay per task (`/proc/sys/kernel/task_delayacct`).
#[must_use]
pub fn delay_accounting_enabled() -> bool {
    crate::tune::Sysctl::value("kernel.task_delayacct").as_deref() == Some("1")
}

/// Spawns `command`, waits for it, and measures it. Stdio is whatever `command` was set up
/// with; piped stdio must be drained by the caller's threads or the child may block.
///
/// A program that cannot be started is [`SysError::CommandNotFound`] or
/// [`SysError::NotExecutable`]; a program that runs and fails is an `Ok` outcome whose
/// `status` says how it failed.
///
/// ```
/// use std::process::Command;
/// use perfkit_sys::{run, RunOptions};
///
/// let outcome = run(&mut Command::new("true"), RunOptions::default()).unwrap();
/// assert!(outcome.status.success());
/// assert!(outcome.max_rss_bytes > 0);
/// ```
#[cfg(target_os = "linux")]
pub fn run(command: &mut Command, options: RunOptions) -> Result<RunOutcome, SysError> {
    linux::run(command, options)
}

/// Unsupported outside Linux.
#[cfg(not(target_os = "linux"))]
pub fn run(_command: &mut Command, _options: RunOptions) -> Result<RunOutcome, SysError> {
    Err(SysError::Unsupported {
        what: "measuring a child process",
    })
}

pub(crate) fn spawn_error(program: &str, error: std::io::Error) -> SysError {
    if program.contains('/') && std::path::Path::new(program).is_dir() {
        return SysError::IsADirectory {
            program: program.to_string(),
        };
    }
    // A bare name was looked for in PATH, not in the working directory.
    let exists = if program.contains('/') {
        std::path::Path::new(program).is_file()
    } else {
        crate::find_program(program).is_some()
    };
    if error.raw_os_error() == Some(libc::ENOEXEC) {
        return SysError::Spawn {
            program: program.to_string(),
            source: std::io::Error::other(
                "it is neither a binary nor a script with a #! line (add #!/bin/sh as its first line)",
            ),
        };
    }
    match error.kind() {
        // The file is there: what is missing is what the kernel needs to start it.
        std::io::ErrorKind::NotFound if exists => SysError::Spawn {
            program: program.to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the interpreter its #! line names, or the loader it was linked for, is missing",
            ),
        },
        std::io::ErrorKind::NotFound => SysError::CommandNotFound {
            program: program.to_string(),
        },
        std::io::ErrorKind::PermissionDenied => SysError::NotExecutable {
            program: program.to_string(),
        },
        _ => SysError::Spawn {
            program: program.to_string(),
            source: error,
        },
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::os::fd::{AsFd, FromRawFd, OwnedFd};
    use std::process::Command;
    use std::time::{Duration, Instant};

    use nix::errno::Errno;
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    use super::{ExitKind, RunOptions, RunOutcome, delay_accounting_enabled, spawn_error};
    use crate::SysError;
    use crate::procfs::{parse_io, parse_stat};

    pub(super) fn run(command: &mut Command, options: RunOptions) -> Result<RunOutcome, SysError> {
        let program = command.get_program().to_string_lossy().into_owned();
        let rss_floor_bytes = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|t| crate::procfs::parse_status_memory(&t).ok())
            .and_then(|(_, peak)| peak);
        if options.timeout.is_some() {
            use std::os::unix::process::CommandExt as _;
            command.process_group(0);
        }
        let start = Instant::now();
        // Whoever stops perfkit stops the command too: its group when it has one, else the
        // process and what it started (registered as it starts, so no signal slips between).
        let (child, group) =
            crate::signals::spawn_signalled_on_exit(command, options.timeout.is_some())
                .map_err(|e| spawn_error(&program, e))?;
        let pid = Pid::from_raw(i32::try_from(child.id()).map_err(|_| SysError::Wait {
            source: std::io::Error::other("child pid does not fit in pid_t"),
        })?);
        let forward = options
            .forward_signals
            .then(|| crate::signals::forward_to(child.id()));
        let killed = wait_for_exit(pid, start, options.timeout)?;
        let wall = start.elapsed();

        // The child is now a zombie: its /proc entry still holds its totals.
        let io = std::fs::read_to_string(format!("/proc/{pid}/io"))
            .ok()
            .and_then(|t| parse_io(&t).ok());
        let block_io_delay = if delay_accounting_enabled() {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|t| parse_stat(&t).ok())
                .and_then(|s| plausible_block_io_delay(ticks_to_duration(s.blkio_ticks), wall))
        } else {
            None
        };

        // Once reaped, the pid may be reused: nothing may be signalled through it after that.
        drop(group);
        drop(forward);
        let (raw_status, usage) = reap(pid)?;
        // `child` was reaped above; dropping a std Child neither waits nor kills.
        drop(child);
        let status = decode_status(raw_status, killed);
        let tv = |t: libc::timeval| {
            Duration::new(
                u64::try_from(t.tv_sec).unwrap_or(0),
                u32::try_from(t.tv_usec).unwrap_or(0).saturating_mul(1000),
            )
        };
        let count = |v: libc::c_long| u64::try_from(v).unwrap_or(0);
        Ok(RunOutcome {
            status,
            wall,
            user: tv(usage.ru_utime),
            system: tv(usage.ru_stime),
            max_rss_bytes: count(usage.ru_maxrss).saturating_mul(1024),
            rss_floor_bytes,
            minor_faults: count(usage.ru_minflt),
            major_faults: count(usage.ru_majflt),
            voluntary_switches: count(usage.ru_nvcsw),
            involuntary_switches: count(usage.ru_nivcsw),
            io,
            block_io_delay,
        })
    }

    /// Whether `pid` has exited, leaving it unreaped; with `block`, waits until it has.
    /// `waitid` itself, not nix's: nix turns the child's signal into its `Signal` type, which
    /// has no real-time signals, and fails with EINVAL for a child killed by one.
    fn exited(pid: Pid, block: bool) -> Result<bool, Errno> {
        let mut flags = libc::WEXITED | libc::WNOWAIT;
        if !block {
            flags |= libc::WNOHANG;
        }
        let id = libc::id_t::try_from(pid.as_raw()).map_err(|_| Errno::EINVAL)?;
        // SAFETY: a zeroed siginfo_t is a valid buffer for waitid to fill.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid with a valid id and a pointer to that buffer.
        let result = unsafe { libc::waitid(libc::P_PID, id, &raw mut info, flags) };
        if result == -1 {
            return Err(Errno::last());
        }
        // With WNOHANG, a child that has not exited leaves si_pid 0.
        // SAFETY: si_pid is set by waitid for a child that changed state, 0 otherwise.
        Ok(block || unsafe { info.si_pid() } != 0)
    }

    /// Waits until `pid` has exited, leaving it unreaped. Kills it at the deadline; returns
    /// whether it was killed by us.
    fn wait_for_exit(
        pid: Pid,
        start: Instant,
        timeout: Option<Duration>,
    ) -> Result<bool, SysError> {
        // A timeout too long to represent never comes: wait as without one.
        let deadline = timeout.and_then(|t| start.checked_add(t));
        let Some(deadline) = deadline else {
            loop {
                match exited(pid, true) {
                    Ok(_) => return Ok(false),
                    Err(Errno::EINTR) => {}
                    Err(e) => return Err(SysError::Wait { source: e.into() }),
                }
            }
        };
        let pidfd = pidfd_open(pid);
        loop {
            // Exited already?
            match exited(pid, false) {
                Ok(false) | Err(Errno::EINTR) => {}
                Ok(true) => return Ok(false),
                Err(e) => return Err(SysError::Wait { source: e.into() }),
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                // The child is not reaped yet, so neither its pid nor its group id (the same
                // number) can have been reused. Its descendants die with it.
                let _ = nix::sys::signal::killpg(pid, Signal::SIGKILL);
                let _ = kill(pid, Signal::SIGKILL);
                loop {
                    match exited(pid, true) {
                        Ok(_) => return Ok(true),
                        Err(Errno::EINTR) => {}
                        Err(e) => return Err(SysError::Wait { source: e.into() }),
                    }
                }
            }
            match &pidfd {
                Some(fd) => {
                    // Round up to whole milliseconds so we never spin just before the deadline.
                    let ms = remaining.as_micros().div_ceil(1000);
                    let timeout = PollTimeout::try_from(ms.min(i32::MAX as u128) as i32)
                        .unwrap_or(PollTimeout::MAX);
                    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                    match poll(&mut fds, timeout) {
                        Ok(_) | Err(Errno::EINTR) => {}
                        Err(e) => return Err(SysError::Wait { source: e.into() }),
                    }
                }
                // Kernels before 5.3 have no pidfd: poll the child every millisecond.
                None => std::thread::sleep(remaining.min(Duration::from_millis(1))),
            }
        }
    }

    fn pidfd_open(pid: Pid) -> Option<OwnedFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; it reads
        // no memory of ours.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
        let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0)?;
        // SAFETY: the kernel just returned this descriptor to us and nothing else owns it.
        Some(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Reaps `pid` and returns its wait status and resource usage.
    fn reap(pid: Pid) -> Result<(libc::c_int, libc::rusage), SysError> {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is a plain C struct for which all-zero bytes are a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: `status` and `usage` are valid, writable and live for the whole call.
            let r = unsafe { libc::wait4(pid.as_raw(), &raw mut status, 0, &raw mut usage) };
            if r == pid.as_raw() {
                return Ok((status, usage));
            }
            let errno = Errno::last();
            if errno != Errno::EINTR {
                return Err(SysError::Wait {
                    source: errno.into(),
                });
            }
        }
    }

    fn decode_status(status: libc::c_int, killed_by_timeout: bool) -> ExitKind {
        if libc::WIFEXITED(status) {
            ExitKind::Exited {
                code: libc::WEXITSTATUS(status),
            }
        } else if libc::WIFSIGNALED(status) {
            let signal = libc::WTERMSIG(status);
            if killed_by_timeout && signal == libc::SIGKILL {
                ExitKind::TimedOut
            } else {
                ExitKind::Signaled {
                    signal,
                    core_dumped: libc::WCOREDUMP(status),
                }
            }
        } else {
            ExitKind::Exited { code: -1 }
        }
    }

    /// The block-I/O delay, unless it cannot be true. The field counts the main thread's
    /// waits, which fit in its lifetime (plus a tick of rounding); but the kernel sometimes
    /// reports about the time since boot instead (seen here: three 0.5 s runs of mawk, while
    /// another test read from the disk, averaged 7,332 s, a third of the 22,000 s uptime), and
    /// a made-up wait is worse than an unknown one.
    pub(crate) fn plausible_block_io_delay(delay: Duration, wall: Duration) -> Option<Duration> {
        (delay <= wall + Duration::from_millis(10)).then_some(delay)
    }

    pub(crate) fn ticks_to_duration(ticks: u64) -> Duration {
        let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .and_then(|v| u64::try_from(v).ok())
            .filter(|&v| v > 0)
            .unwrap_or(100);
        Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / hz)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_block_io_delay_longer_than_the_run_is_unknown() {
            let wall = Duration::from_millis(500);
            assert_eq!(
                plausible_block_io_delay(Duration::from_millis(200), wall),
                Some(Duration::from_millis(200))
            );
            // Rounded up to the next 10 ms tick.
            assert!(plausible_block_io_delay(Duration::from_millis(510), wall).is_some());
            assert_eq!(
                plausible_block_io_delay(Duration::from_secs(22_033), wall),
                None
            );
        }
    }
}

#[cfg(target_os = "linux")]
pub(crate) use linux::ticks_to_duration;
