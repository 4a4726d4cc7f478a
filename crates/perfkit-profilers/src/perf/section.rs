//! Profiling a section of this process: `perf record -p <own pid>`, enabled only around a
//! closure through perf's control FIFOs. No signal handlers or timers in the process.

use crate::Empty;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{CallGraph, Event, EventChoice, FoldOptions, PerfEnvironment, fold_perf_data, tail};
use crate::{FoldedStacks, ProfilerError, Tool};

/// The profile of one [`profile_section`] call.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SectionProfile {
    /// The folded stacks sampled while the closure ran (all threads of this process).
    pub folded: FoldedStacks,
    /// The sampled event.
    pub event: Event,
    /// How long the closure ran.
    #[serde(rename = "wall_ns", with = "perfkit_metrics::serde_ns")]
    pub wall: Duration,
    /// Things the user should know (event fallback, paranoid level).
    pub notes: Vec<String>,
}

impl SectionProfile {
    /// The profile as a gzipped pprof `profile.proto` (`go tool pprof`, Pyroscope, Parca):
    /// samples of the event, with how long the section ran.
    ///
    /// # Errors
    /// [`ProfilerError::TooLarge`] when the counts exceed what pprof holds.
    pub fn to_pprof(&self) -> Result<Vec<u8>, ProfilerError> {
        let fold = super::PerfFold {
            stacks: self.folded.clone(),
            event: self.event.name.clone(),
            unit: super::CountUnit::Samples,
        };
        let mut description = crate::pprof::Description::of_fold(&fold);
        description.duration_nanos = i64::try_from(self.wall.as_nanos()).unwrap_or(i64::MAX);
        crate::pprof::encode_gzipped(&self.folded, &description)
    }

    /// The profile in speedscope's file format, titled `name`.
    #[must_use]
    pub fn to_speedscope(&self, name: &str) -> String {
        crate::speedscope::to_speedscope(&self.folded, name, crate::speedscope::Unit::None)
    }
}

/// How long to wait for perf to start or to acknowledge a command.
const PERF_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs `work` once while `perf record` samples this process (997 Hz, DWARF call graph,
/// `cpu-clock` where there are no hardware counters), and returns its result together with
/// the profile.
///
/// `work` always runs, also when profiling is impossible (perf missing, not permitted): the
/// profile is then the error. perf starts attached but disabled and is enabled just before
/// `work` and disabled just after, so neither perf's start-up nor folding is in the profile.
///
/// ```no_run
/// fn fib(n: u64) -> u64 { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } }
///
/// let (value, profile) = perfkit_profilers::perf::profile_section(|| fib(32));
/// let profile = profile?;
/// println!("fib = {value}; {} samples", profile.folded.total());
/// for f in profile.folded.hot_functions(3) {
///     println!("{:5.1}% {}", f.self_percent, f.name);
/// }
/// # Ok::<(), perfkit_profilers::ProfilerError>(())
/// ```
pub fn profile_section<R>(work: impl FnOnce() -> R) -> (R, Result<SectionProfile, ProfilerError>) {
    let session = match Session::start_enabled() {
        Ok(session) => session,
        Err(e) => return (work(), Err(e)),
    };
    let started = Instant::now();
    let value = work();
    let wall = started.elapsed();
    (value, session.finish(wall))
}

struct Session {
    env: PerfEnvironment,
    event: Event,
    notes: Vec<String>,
    dir: tempfile::TempDir,
    perf: Child,
    stderr: std::thread::JoinHandle<String>,
    control: File,
    ack: File,
}

impl Session {
    fn start(env: PerfEnvironment) -> Result<Session, ProfilerError> {
        if !env.perf.version.at_least(5, 10) {
            return Err(ProfilerError::ToolBroken {
                tool: Tool::Perf,
                path: env.perf.path.clone(),
                detail: format!(
                    "profiling a section needs perf ≥ 5.10 (control FIFOs), this is {}",
                    env.perf.version
                ),
            });
        }
        let mut notes = env.check_record()?;
        let event = env.event(&EventChoice::Auto);
        notes.extend(event.note.clone());
        let dir = tempfile::Builder::new()
            .prefix("perfkit-section-")
            .tempdir()
            .map_err(|e| ProfilerError::io("creating a temporary directory", e))?;
        let control_path = dir.path().join("control");
        let ack_path = dir.path().join("ack");
        for fifo in [&control_path, &ack_path] {
            make_fifo(fifo)?;
        }
        let mut control_arg = std::ffi::OsString::from("fifo:");
        control_arg.push(&control_path);
        control_arg.push(",");
        control_arg.push(&ack_path);
        let mut command = env.perf.command();
        command
            .args(["record", "-F", "997", "-e", &event.name, "--call-graph"])
            .arg(CallGraph::DEFAULT.perf_arg().unwrap_or_default())
            .args(["-q", "-D", "-1", "--control"])
            .arg(control_arg)
            .arg("-o")
            .arg(dir.path().join("perf.data"))
            .args(["-p", &std::process::id().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if env.compression {
            command.arg("-z");
        }
        if env.perf.version.at_least(5, 1) {
            // See `Record::bpf_events`: saves up to a second at the end.
            command.arg("--no-bpf-event");
        }
        let mut perf = command
            .spawn()
            .map_err(|e| ProfilerError::io("starting perf record", e))?;
        let stderr = perf.stderr.take();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut s) = stderr {
                let _ = s.read_to_string(&mut text);
            }
            text
        });
        let opened = open_fifos(&mut perf, &control_path, &ack_path);
        let (control, ack) = match opened {
            Ok(files) => files,
            Err(e) => {
                let _ = perf.kill();
                let _ = perf.wait();
                let said = stderr.join().unwrap_or_default();
                return Err(with_perf_message(e, &said));
            }
        };
        Ok(Session {
            env,
            event,
            notes,
            dir,
            perf,
            stderr,
            control,
            ack,
        })
    }

    /// Sends `enable`/`disable` and waits for perf's `ack`.
    fn command(&mut self, what: &str) -> Result<(), ProfilerError> {
        self.control
            .write_all(format!("{what}\n").as_bytes())
            .map_err(|e| ProfilerError::io(format!("sending {what} to perf"), e))?;
        let deadline = Instant::now() + PERF_TIMEOUT;
        let mut reply = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            match self.ack.read(&mut buf) {
                Ok(n) if n > 0 => {
                    // perf writes `ack\n\0`.
                    reply.extend_from_slice(&buf[..n]);
                    if reply.windows(4).any(|w| w == b"ack\n") {
                        return Ok(());
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(ProfilerError::io("reading perf's acknowledgement", e)),
            }
            if let Ok(Some(status)) = self.perf.try_wait() {
                return Err(ProfilerError::ToolFailed {
                    tool: Tool::Perf,
                    detail: format!("perf record ended early ({status})"),
                });
            }
            if Instant::now() > deadline {
                return Err(ProfilerError::ToolFailed {
                    tool: Tool::Perf,
                    detail: format!("perf did not acknowledge `{what}` within {PERF_TIMEOUT:?}"),
                });
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Starts perf and enables sampling. perf attaches to every thread of this process; a
    /// thread that exits while perf opens its events makes perf give up ("No such process"),
    /// so a failed start is retried a few times.
    fn start_enabled() -> Result<Session, ProfilerError> {
        const ATTEMPTS: usize = 3;
        let env = PerfEnvironment::detect()?;
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let mut session = match Session::start(env.clone()) {
                Ok(session) => session,
                Err(e @ ProfilerError::ToolFailed { .. }) => {
                    last = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            match session.command("enable") {
                Ok(()) => return Ok(session),
                Err(e) => {
                    let said = session.abort();
                    last = Some(with_perf_message(e, &said));
                }
            }
        }
        Err(last.unwrap_or_else(|| ProfilerError::ToolFailed {
            tool: Tool::Perf,
            detail: "perf record could not start".into(),
        }))
    }

    /// Stops perf and returns what it said on stderr.
    fn abort(mut self) -> String {
        let _ = self.perf.kill();
        let _ = self.perf.wait();
        self.stderr.join().unwrap_or_default()
    }

    fn finish(mut self, wall: Duration) -> Result<SectionProfile, ProfilerError> {
        let disabled = self.command("disable");
        interrupt(&self.perf);
        let status = self.perf.wait();
        let said = self.stderr.join().unwrap_or_default();
        disabled.map_err(|e| with_perf_message(e, &said))?;
        status.map_err(|e| ProfilerError::io("waiting for perf record", e))?;
        let data = self.dir.path().join("perf.data");
        let folded = fold_perf_data(&self.env.perf, &data, &FoldOptions::default()).map_err(
            |e| match e {
                ProfilerError::NoSamples(_) => ProfilerError::NoSamples(Empty::Section(wall)),
                other => with_perf_message(other, &said),
            },
        )?;
        Ok(SectionProfile {
            folded: folded.stacks,
            event: self.event,
            wall,
            notes: self.notes,
        })
    }
}

fn with_perf_message(error: ProfilerError, said: &str) -> ProfilerError {
    let said = tail(said, 5);
    if said.is_empty() {
        error
    } else {
        ProfilerError::ToolFailed {
            tool: Tool::Perf,
            detail: format!("{error}; perf said: {said}"),
        }
    }
}

#[cfg(target_os = "linux")]
fn make_fifo(path: &Path) -> Result<(), ProfilerError> {
    use nix::sys::stat::Mode;
    nix::unistd::mkfifo(path, Mode::S_IRUSR | Mode::S_IWUSR).map_err(|e| {
        ProfilerError::io(
            format!("creating the FIFO {}", path.display()),
            io::Error::from(e),
        )
    })
}

#[cfg(not(target_os = "linux"))]
fn make_fifo(_: &Path) -> Result<(), ProfilerError> {
    Err(perfkit_sys::SysError::Unsupported {
        what: "profiling a section",
    }
    .into())
}

#[cfg(target_os = "linux")]
fn interrupt(child: &Child) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
    }
}

#[cfg(not(target_os = "linux"))]
fn interrupt(_: &Child) {}

/// Opens the control FIFO for writing (perf reads it) and the ack FIFO for reading, both
/// non-blocking, waiting until perf has opened its ends.
fn open_fifos(perf: &mut Child, control: &Path, ack: &Path) -> Result<(File, File), ProfilerError> {
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let deadline = Instant::now() + PERF_TIMEOUT;
    let ack = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(ack)
        .map_err(|e| ProfilerError::io("opening perf's ack FIFO", e))?;
    loop {
        match OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(control)
        {
            Ok(control) => return Ok((control, ack)),
            // ENXIO: perf has not opened its reading end yet.
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {}
            Err(e) => return Err(ProfilerError::io("opening perf's control FIFO", e)),
        }
        if let Ok(Some(status)) = perf.try_wait() {
            return Err(ProfilerError::ToolFailed {
                tool: Tool::Perf,
                detail: format!("perf record could not attach to this process ({status})"),
            });
        }
        if Instant::now() > deadline {
            return Err(ProfilerError::ToolFailed {
                tool: Tool::Perf,
                detail: format!("perf record did not start within {PERF_TIMEOUT:?}"),
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
