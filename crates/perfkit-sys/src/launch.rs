//! Knowing how a program ended when a tool, not perfkit, is its parent.
//!
//! Some tools hide the status of the program they run: `perf stat` exits 0 when its program
//! dies of a signal. The fix is a *launcher* between the tool and the program: the tool runs the
//! launcher, which waits for a go-ahead, starts the program, waits for it, and reports its raw
//! wait status to perfkit over a pipe. The go-ahead lets perfkit do something first (enable a
//! tool's counters through its control channel, so that the launcher's own start-up is not
//! counted), and the launcher gives the program the standard error perfkit was started with,
//! so that the tool's messages can go somewhere private.
//!
//! Descriptors: perfkit passes five to the tool, which passes them on to the launcher:
//! [`Channel::TOOL_IN`] and [`Channel::TOOL_OUT`] for the tool's control channel, and
//! [`Channel::STATUS`], [`Channel::GO`] and [`Channel::STDERR`] for the launcher.
//!
//! The launcher's protocol on `STATUS`: `ready\n` once it waits for `GO`; after one byte on
//! `GO` it starts the program; then `status N\n` with the program's raw wait status, or
//! `error N\n` with the errno of a failed start.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

use crate::ExitKind;

/// perfkit's ends of the pipes between perfkit, a tool and a launcher.
#[derive(Debug)]
pub struct Channel {
    to_tool: File,
    from_tool: BufReader<File>,
    status: BufReader<File>,
    go: File,
}

/// The children's ends, which must stay open until the tool has started and be dropped once it
/// has ended (so that the handshake sees the end of a launcher that never ran).
#[derive(Debug)]
pub struct ChildEnds {
    _fds: [OwnedFd; 5],
}

impl Channel {
    /// The descriptor the tool reads commands from.
    pub const TOOL_IN: i32 = 3;
    /// The descriptor the tool answers on.
    pub const TOOL_OUT: i32 = 4;
    /// The launcher's report.
    pub const STATUS: i32 = 5;
    /// The launcher's go-ahead.
    pub const GO: i32 = 6;
    /// perfkit's own standard error, for the program.
    pub const STDERR: i32 = 7;

    /// Creates the pipes and arranges for `tool` to find them at [`Channel::TOOL_IN`] ..
    /// [`Channel::STDERR`] (and nothing else of them: every other end is close-on-exec).
    ///
    /// # Errors
    /// When a pipe or descriptor cannot be created.
    #[cfg(target_os = "linux")]
    pub fn attach(tool: &mut Command) -> std::io::Result<(Channel, ChildEnds)> {
        use nix::fcntl::{FcntlArg, OFlag, fcntl};
        use nix::unistd::pipe2;
        use std::os::unix::process::CommandExt as _;
        let pipe = || pipe2(OFlag::O_CLOEXEC).map_err(std::io::Error::from);
        let (tool_in_r, tool_in_w) = pipe()?;
        let (tool_out_r, tool_out_w) = pipe()?;
        let (status_r, status_w) = pipe()?;
        let (go_r, go_w) = pipe()?;
        // Above every number the children's descriptors will take, so that placing one never
        // overwrites another that is still to be placed.
        let high = |fd: &OwnedFd| -> std::io::Result<OwnedFd> {
            let raw = fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(16)).map_err(std::io::Error::from)?;
            // SAFETY: fcntl just returned this new descriptor, owned by nobody else.
            Ok(unsafe { OwnedFd::from_raw_fd(raw) })
        };
        let stderr = std::io::stderr();
        // SAFETY: borrowing our own standard error only to duplicate it.
        let stderr_fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(stderr.as_raw_fd()) };
        let children = [
            high(&tool_in_r)?,
            high(&tool_out_w)?,
            high(&status_w)?,
            high(&go_r)?,
            high(&stderr_fd.try_clone_to_owned()?)?,
        ];
        let raw: [i32; 5] = [
            children[0].as_raw_fd(),
            children[1].as_raw_fd(),
            children[2].as_raw_fd(),
            children[3].as_raw_fd(),
            children[4].as_raw_fd(),
        ];
        // SAFETY: runs between fork and exec, where only async-signal-safe calls are allowed:
        // dup2 is, and nothing here allocates. dup2 clears close-on-exec on the new number.
        unsafe {
            tool.pre_exec(move || {
                for (i, fd) in raw.iter().enumerate() {
                    let target = Channel::TOOL_IN + i32::try_from(i).unwrap_or(0);
                    if libc::dup2(*fd, target) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        Ok((
            Channel {
                to_tool: File::from(tool_in_w),
                from_tool: BufReader::new(File::from(tool_out_r)),
                status: BufReader::new(File::from(status_r)),
                go: File::from(go_w),
            },
            ChildEnds { _fds: children },
        ))
    }

    /// Unsupported outside Linux.
    #[cfg(not(target_os = "linux"))]
    pub fn attach(_tool: &mut Command) -> std::io::Result<(Channel, ChildEnds)> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "launching needs Linux",
        ))
    }

    /// The launcher's arguments that name its descriptors.
    #[must_use]
    pub fn launcher_args() -> [String; 6] {
        [
            "--status-fd".into(),
            Channel::STATUS.to_string(),
            "--go-fd".into(),
            Channel::GO.to_string(),
            "--stderr-fd".into(),
            Channel::STDERR.to_string(),
        ]
    }

    /// Runs the handshake on a thread: waits for the launcher's `ready`, lets `prepare` talk
    /// to the tool (writer to its control input, reader of its answers), gives the go-ahead,
    /// and returns the program's status once the launcher reports it (`None` if the launcher
    /// never got that far, for example because the tool failed to start).
    pub fn handshake<F>(mut self, prepare: F) -> std::thread::JoinHandle<Option<ExitKind>>
    where
        F: FnOnce(&mut File, &mut BufReader<File>) -> std::io::Result<()> + Send + 'static,
    {
        std::thread::spawn(move || {
            let mut line = String::new();
            self.status.read_line(&mut line).ok()?;
            if line.trim() != "ready" {
                return None;
            }
            // A tool that cannot be told to start counting has ended (a signal as it
            // started): no go-ahead then, so the launcher ends without starting the program.
            prepare(&mut self.to_tool, &mut self.from_tool).ok()?;
            self.go.write_all(b"g").ok()?;
            let mut rest = String::new();
            self.status.read_to_string(&mut rest).ok()?;
            parse_report(&rest)
        })
    }
}

/// The status a launcher reported (`status N` with a raw wait status).
#[must_use]
pub fn parse_report(text: &str) -> Option<ExitKind> {
    let raw: i32 = text
        .lines()
        .find_map(|l| l.strip_prefix("status "))?
        .trim()
        .parse()
        .ok()?;
    Some(decode_wait_status(raw))
}

/// An [`ExitKind`] from a raw wait status.
#[must_use]
pub fn decode_wait_status(raw: i32) -> ExitKind {
    let signal = raw & 0x7f;
    if signal == 0 {
        ExitKind::Exited {
            code: (raw >> 8) & 0xff,
        }
    } else if signal != 0x7f {
        ExitKind::Signaled {
            signal,
            core_dumped: raw & 0x80 != 0,
        }
    } else {
        ExitKind::Exited { code: -1 }
    }
}

/// The launcher: waits for the go-ahead on `go`, starts `argv` with standard error from
/// `stderr` (when given), reports on `status`, and returns the exit code the launcher should
/// end with (the program's, or 128 + its signal: the tool then prints no message of its own
/// about a signal). Ctrl-C, `SIGTERM` and `SIGHUP` do not end the launcher before it has
/// reported; `SIGTERM` and `SIGHUP` are passed on to the program.
#[cfg(target_os = "linux")]
#[must_use]
pub fn run_launcher(status: i32, go: i32, stderr: Option<i32>, argv: &[OsString]) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    let take = |fd: i32| -> Option<File> {
        if fd < 0 {
            return None;
        }
        // SAFETY: the descriptor was given to this process for this purpose on its command
        // line and nothing else in it uses it; it is owned from here on.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // Close-on-exec, so that the program does not inherit it.
        let _ = nix::fcntl::fcntl(
            &owned,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        );
        Some(File::from(owned))
    };
    // The tool's control channel is inherited from the tool, not ours: held open here, it
    // would keep perfkit waiting for the tool's answer after the tool died.
    for fd in [Channel::TOOL_IN, Channel::TOOL_OUT] {
        if fd != status && fd != go && Some(fd) != stderr {
            let _ = nix::unistd::close(fd);
        }
    }
    let (Some(mut report), Some(mut go)) = (take(status), take(go)) else {
        return 125;
    };
    let stderr = stderr.and_then(take);
    let deferral = crate::signals::Deferral::new();
    if report.write_all(b"ready\n").is_err() {
        return 125;
    }
    let mut byte = [0u8; 1];
    if !matches!(go.read(&mut byte), Ok(1)) {
        return 125;
    }
    let Some((program, program_args)) = argv.split_first() else {
        let _ = report.write_all(b"error 22\n");
        return 125;
    };
    let mut command = Command::new(program);
    command.args(program_args);
    if let Some(err) = stderr {
        command.stderr(Stdio::from(err));
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let _ = writeln!(report, "error {}", e.raw_os_error().unwrap_or(0));
            return if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
        }
    };
    let _forward = crate::signals::forward_to(child.id());
    let Ok(status) = child.wait() else {
        return 125;
    };
    drop(deferral);
    let _ = writeln!(report, "status {}", status.into_raw());
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 125,
    }
}

/// Unsupported outside Linux.
#[cfg(not(target_os = "linux"))]
#[must_use]
pub fn run_launcher(_status: i32, _go: i32, _stderr: Option<i32>, _argv: &[OsString]) -> i32 {
    125
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_statuses_decode() {
        assert_eq!(decode_wait_status(7 << 8), ExitKind::Exited { code: 7 });
        assert_eq!(
            decode_wait_status(0x0b | 0x80),
            ExitKind::Signaled {
                signal: 11,
                core_dumped: true
            }
        );
        assert_eq!(parse_report("status 15\n"), Some(decode_wait_status(15)));
        assert_eq!(parse_report("error 2\n"), None);
        assert_eq!(parse_report(""), None);
    }
}
