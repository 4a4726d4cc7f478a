//! Bottlenecks from measurements, and what to do about each.

pub use perfkit_profilers::{HotFunction, massif::AllocationSite};
use serde::{Deserialize, Serialize};

/// Per-run averages of what was measured, plus what the profilers found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurements {
    /// Runs measured.
    pub runs: u64,
    /// Mean wall time per run, in nanoseconds.
    pub wall_ns: f64,
    /// Mean user CPU time per run (all threads and children).
    pub user_ns: f64,
    /// Mean kernel CPU time per run.
    pub system_ns: f64,
    /// Mean voluntary context switches per run (the program waited).
    pub voluntary_switches: f64,
    /// Mean involuntary context switches per run (the scheduler preempted it: other load).
    #[serde(default)]
    pub involuntary_switches: f64,
    /// Mean bytes read and written per run (`rchar + wchar`), when known.
    pub io_bytes: Option<f64>,
    /// Mean block-I/O delay per run in nanoseconds (delay accounting), when known.
    pub io_wait_ns: Option<f64>,
    /// Largest peak RSS of any run, in bytes.
    pub peak_rss_bytes: u64,
    /// Mean minor page faults per run (first touches of new memory).
    #[serde(default)]
    pub minor_faults: f64,
    /// Mean major page faults per run (pages read from disk).
    #[serde(default)]
    pub major_faults: f64,
    /// Peak heap, in bytes, when the heap was profiled.
    pub heap_peak_bytes: Option<u64>,
    /// The largest allocation sites at the heap peak, when the heap was profiled.
    #[serde(default)]
    pub heap_sites: Vec<AllocationSite>,
    /// The syscall mix from strace, per run, when it ran.
    pub syscalls: Option<Syscalls>,
    /// The processes, threads and programs one traced run started, when strace ran and the
    /// command started any.
    #[serde(default)]
    pub processes: Option<perfkit_profilers::strace::ProcessTrace>,
    /// What the measured program is (a build of this workspace, a system binary, an
    /// interpreter), for advice that fits it.
    #[serde(default)]
    pub program: Option<crate::program::ProgramInfo>,
    /// The hottest functions from perf, when it ran.
    pub hot_functions: Vec<HotFunction>,
    /// CPUs available.
    pub cpus: u32,
}

/// System calls per run, from one run under `strace -c -w -f`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Syscalls {
    /// All calls.
    pub calls: f64,
    /// Successful `execve`/`execveat` calls: programs started.
    pub execve: f64,
    /// `execve`/`execveat` calls that failed (`PATH` lookups): nothing started.
    #[serde(default)]
    pub failed_execve: f64,
    /// `clone`/`clone3`/`fork`/`vfork` calls: processes and threads created.
    pub forks: f64,
    /// Wall time of the traced run, nanoseconds (strace slows a program down).
    #[serde(default)]
    pub traced_wall_ns: f64,
    /// Every call made, most time first.
    pub top: Vec<SyscallCount>,
}

/// One system call's count and time in the traced run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SyscallCount {
    /// The call.
    pub name: String,
    /// Calls.
    pub calls: f64,
    /// Calls that failed.
    pub errors: f64,
    /// Wall time inside the call, all threads together, nanoseconds.
    pub ns: f64,
    /// Share of all the time inside system calls, 0–1.
    pub share: f64,
}

/// Calls that sync written data to storage.
const SYNC_CALLS: &[&str] = &[
    "fsync",
    "fdatasync",
    "sync",
    "syncfs",
    "sync_file_range",
    "msync",
];

/// Calls that move data through a buffer the program passes.
const DATA_CALLS: &[&str] = &[
    "read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev", "preadv2",
    "pwritev2", "recvfrom", "sendto", "recvmsg", "sendmsg",
];

/// Calls that mostly wait (for a child, a lock, an event, a timer): their wall time under
/// `strace -w` is time asleep, not kernel work, so they are left out when the kernel's time is
/// split between calls.
const WAITING_CALLS: &[&str] = &[
    "wait4",
    "waitid",
    "futex",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "nanosleep",
    "clock_nanosleep",
    "pause",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "accept",
    "accept4",
];

impl Syscalls {
    /// Calls and time of the calls named, and their share of the time in calls that work
    /// rather than wait.
    fn of(&self, names: &[&str]) -> (f64, f64, f64) {
        let working: f64 = self
            .top
            .iter()
            .filter(|c| !WAITING_CALLS.contains(&c.name.as_str()))
            .fold(0.0, |sum, c| sum + c.ns);
        let (calls, ns) = self
            .top
            .iter()
            .filter(|c| names.contains(&c.name.as_str()))
            .fold((0.0, 0.0), |(calls, ns), c| (calls + c.calls, ns + c.ns));
        (calls, ns, if working > 0.0 { ns / working } else { 0.0 })
    }

    /// The calls with most time that do work rather than wait.
    fn busiest(&self) -> impl Iterator<Item = &SyscallCount> {
        self.top
            .iter()
            .filter(|c| !WAITING_CALLS.contains(&c.name.as_str()))
    }
}

/// The kinds of bottleneck the analyser names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BottleneckKind {
    /// Starting processes dominates (many `execve`/`clone` per run).
    SpawnHeavy,
    /// Kernel time dominates the CPU time: many or expensive system calls.
    SyscallHeavy,
    /// Waiting for storage.
    IoBound,
    /// Wall time far above CPU time without storage waits: locks, sleeps, the network.
    Waiting,
    /// Large resident memory or heap.
    MemoryHeavy,
    /// The CPU is busy the whole time, in user code.
    CpuBound,
    /// Waiting for written data to reach storage: `fsync` and its kin.
    SyncBound,
    /// Many small reads or writes: a buffer too small for the data moved.
    SmallIo,
}

impl BottleneckKind {
    /// A short name for reports.
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            BottleneckKind::SpawnHeavy => "spawn-heavy",
            BottleneckKind::SyscallHeavy => "syscall-heavy",
            BottleneckKind::IoBound => "I/O-bound",
            BottleneckKind::Waiting => "waiting",
            BottleneckKind::MemoryHeavy => "memory-heavy",
            BottleneckKind::CpuBound => "CPU-bound",
            BottleneckKind::SyncBound => "fsync-bound",
            BottleneckKind::SmallIo => "small I/O calls",
        }
    }
}

/// A bottleneck with the numbers that show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bottleneck {
    /// What kind.
    pub kind: BottleneckKind,
    /// How strongly the evidence points at it, 0–1; bottlenecks are sorted by it. For every
    /// kind but a memory size alone, this is the share of the run it takes (`share`),
    /// so scores compare across kinds.
    pub score: f64,
    /// The share of the run's time it takes, 0–1, when it is a share of time (a large
    /// memory footprint alone is not).
    #[serde(default)]
    pub share: Option<f64>,
    /// The numbers, in words.
    pub evidence: Vec<String>,
}

fn duration(ns: f64) -> String {
    perfkit_metrics::format_duration(ns)
}

/// The shares every rule looks at.
struct Shares {
    wall: f64,
    cpu: f64,
    /// CPU time over wall time (above 1 with several busy threads).
    cpu_share: f64,
    /// Kernel share of the CPU time.
    sys_share: f64,
    /// Block-I/O wait over wall time.
    io_wait_share: f64,
    /// Process starts over the traced run's time (0 when unknown or none).
    spawn_share: f64,
    /// Time inside `fsync` and its kin over the traced run's time.
    sync_share: f64,
    /// Preempted far more often than it blocked: runnable, but other load had the CPU.
    starved: bool,
    /// Page faults, not system calls, explain the kernel time: many faults (100 MiB or more
    /// first touched per run), several times more of them than system calls, few spawns.
    faulting: bool,
}

/// Faults per run from which first-touching memory is the program's main kernel work
/// (25,000 faults of 4 KiB = 100 MiB).
const MANY_FAULTS: f64 = 25_000.0;

/// The share of the run from which process starts are a bottleneck.
const SPAWN_SHARE: f64 = 0.2;

/// The share of the run from which waiting for syncs is a bottleneck.
const SYNC_SHARE: f64 = 0.2;

/// Data calls per run, and their largest average size, from which small calls are named.
const SMALL_IO_CALLS: f64 = 10_000.0;
const SMALL_IO_BYTES: f64 = 16.0 * 1024.0;

/// The smallest share of the run a secondary finding (small I/O calls) must take.
const SMALL_IO_SHARE: f64 = 0.02;

/// Names the bottlenecks the measurements show, strongest first. Each rule needs its own
/// evidence and weighs the share of the run it explains; nothing is named when nothing
/// stands out (a short, balanced run).
#[must_use]
pub fn classify(m: &Measurements) -> Vec<Bottleneck> {
    let wall = m.wall_ns.max(1.0);
    let cpu = m.user_ns + m.system_ns;
    let spawn_share = m
        .processes
        .as_ref()
        .map_or(0.0, perfkit_profilers::strace::ProcessTrace::spawn_share);
    // A sync waits for the device, which strace does not slow down: its time is read against
    // the measured runs, not the traced run that strace's stops on every other call stretch.
    let sync_share = m
        .syscalls
        .as_ref()
        .map_or(0.0, |c| (c.of(SYNC_CALLS).1 / wall).min(1.0));
    let shares = Shares {
        wall,
        cpu,
        cpu_share: cpu / wall,
        sys_share: if cpu > 0.0 { m.system_ns / cpu } else { 0.0 },
        io_wait_share: m.io_wait_ns.map_or(0.0, |w| w / wall),
        spawn_share,
        sync_share,
        starved: m.involuntary_switches > 10.0 * m.voluntary_switches.max(1.0),
        faulting: {
            let faults = m.minor_faults + m.major_faults;
            // Each new process faults in its own pages: those faults are the spawns' cost.
            faults >= MANY_FAULTS
                && spawn_share < SPAWN_SHARE
                && m.syscalls.as_ref().is_none_or(|c| faults > 4.0 * c.calls)
        },
    };
    let rules: [fn(&Measurements, &Shares) -> Option<Bottleneck>; 8] = [
        spawn_heavy,
        syscall_heavy,
        io_bound,
        sync_bound,
        waiting,
        memory_heavy,
        cpu_bound,
        small_io,
    ];
    let mut out: Vec<Bottleneck> = rules.iter().filter_map(|rule| rule(m, &shares)).collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

fn spawn_heavy(m: &Measurements, s: &Shares) -> Option<Bottleneck> {
    let trace = m.processes.as_ref()?;
    if trace.processes < 2 || s.spawn_share < SPAWN_SHARE {
        return None;
    }
    let programs: Vec<String> = trace
        .programs
        .iter()
        .take(3)
        .map(|p| {
            let name = p.program.rsplit('/').next().unwrap_or(&p.program);
            if p.starts > 1 {
                format!(
                    "{name} {}× (shortest run {})",
                    p.starts,
                    duration(p.shortest_ns as f64)
                )
            } else {
                format!("{name} once")
            }
        })
        .collect();
    let mut not_counted = vec![];
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    if trace.threads > 0 {
        not_counted.push(plural(trace.threads, "thread", "threads"));
    }
    if trace.failed_execs > 0 {
        not_counted.push(plural(
            trace.failed_execs,
            "failed exec lookup",
            "failed exec lookups",
        ));
    }
    Some(Bottleneck {
        kind: BottleneckKind::SpawnHeavy,
        score: s.spawn_share,
        share: Some(s.spawn_share),
        evidence: vec![
            format!(
                "{} processes started per run, {} programs run{}",
                trace.processes,
                trace.execs,
                if not_counted.is_empty() {
                    String::new()
                } else {
                    format!(" ({} not counted)", not_counted.join(" and "))
                }
            ),
            format!(
                "starting them took about {} of the traced run's {} ({}): {}; fork to exec-complete alone {}",
                duration(trace.spawn_ns as f64),
                duration(trace.traced_ns as f64),
                percent(s.spawn_share),
                programs.join(", "),
                duration(trace.exec_ns as f64)
            ),
        ],
    })
}

fn syscall_heavy(m: &Measurements, s: &Shares) -> Option<Bottleneck> {
    // A million calls per CPU-second leaves under a microsecond of work per call: the program
    // does little but call the kernel, even when libc's side of each call shows as user time.
    let calls_per_cpu_second = m
        .syscalls
        .as_ref()
        .map_or(0.0, |c| c.calls / (s.cpu.max(1.0) / 1e9));
    let storm = calls_per_cpu_second >= 1e6;
    // Starting processes is kernel work too: spawn-heavy names it, with fitting advice; so
    // does small-I/O for kernel time that is mostly small reads and writes.
    let spawning = s.spawn_share >= SPAWN_SHARE;
    let small_reads = small_calls(m).is_some_and(|(_, _, time_share)| time_share >= 0.5);
    if (s.sys_share < 0.4 && !storm)
        || s.cpu_share < 0.2
        || ((s.faulting || spawning) && !storm)
        || small_reads
    {
        return None;
    }
    let mut evidence = vec![format!(
        "{:.0}% of the CPU time is in the kernel ({} system of {} CPU per run)",
        s.sys_share * 100.0,
        duration(m.system_ns),
        duration(s.cpu)
    )];
    if let Some(calls) = &m.syscalls {
        let top: Vec<String> = calls
            .busiest()
            .take(3)
            .map(|c| format!("{} {:.0}× ({:.0}%)", c.name, c.calls, c.share * 100.0))
            .collect();
        evidence.push(format!(
            "{:.0} system calls per run ({calls_per_cpu_second:.0} per CPU-second); most time in: {}",
            calls.calls,
            if top.is_empty() {
                "—".to_string()
            } else {
                top.join(", ")
            }
        ));
    }
    // The share of the wall time it explains, like the I/O and waiting rules: kernel time
    // (or, in a storm, all CPU time) over wall time.
    let share = if storm {
        s.cpu_share.min(1.0)
    } else {
        (m.system_ns / s.wall).min(1.0)
    };
    Some(Bottleneck {
        kind: BottleneckKind::SyscallHeavy,
        // Kernel time overlaps what other rules read (waits, faults): ranked a little lower.
        score: share * 0.9,
        share: Some(share),
        evidence,
    })
}

fn io_bound(m: &Measurements, s: &Shares) -> Option<Bottleneck> {
    // Waiting for syncs is block-I/O wait too; fsync-bound names it with fitting advice.
    if s.io_wait_share < 0.2 || s.sync_share >= 0.5 * s.io_wait_share {
        return None;
    }
    Some(Bottleneck {
        kind: BottleneckKind::IoBound,
        score: s.io_wait_share.min(1.0),
        share: Some(s.io_wait_share.min(1.0)),
        evidence: vec![format!(
            "{} of {} per run waiting for block I/O ({:.0}%){}",
            duration(m.io_wait_ns.unwrap_or(0.0)),
            duration(m.wall_ns),
            s.io_wait_share.min(1.0) * 100.0,
            m.io_bytes
                .map(|b| format!(
                    ", {} read and written",
                    perfkit_metrics::format_bytes(b as u64)
                ))
                .unwrap_or_default()
        )],
    })
}

fn sync_bound(m: &Measurements, s: &Shares) -> Option<Bottleneck> {
    let calls = m.syscalls.as_ref()?;
    if s.sync_share < SYNC_SHARE {
        return None;
    }
    let (syncs, sync_ns, _) = calls.of(SYNC_CALLS);
    let names: Vec<&str> = calls
        .top
        .iter()
        .filter(|c| SYNC_CALLS.contains(&c.name.as_str()))
        .map(|c| c.name.as_str())
        .collect();
    let mut evidence = vec![format!(
        "{syncs:.0} {} calls per run took {} of the run's {} ({}), {} each on average",
        names.join("/"),
        duration(sync_ns),
        duration(m.wall_ns),
        percent(s.sync_share),
        duration(sync_ns / syncs.max(1.0))
    )];
    if let Some(bytes) = m.io_bytes {
        evidence.push(format!(
            "{} read and written per run: about {} per sync",
            perfkit_metrics::format_bytes(bytes as u64),
            perfkit_metrics::format_bytes((bytes / syncs.max(1.0)) as u64)
        ));
    }
    Some(Bottleneck {
        kind: BottleneckKind::SyncBound,
        score: s.sync_share,
        share: Some(s.sync_share),
        evidence,
    })
}

fn waiting(m: &Measurements, s: &Shares) -> Option<Bottleneck> {
    // Waiting for syncs is fsync-bound's, with its own advice.
    let idle = (1.0 - s.cpu_share).max(0.0);
    if s.cpu_share >= 0.5 || s.io_wait_share >= 0.2 || s.starved || s.sync_share >= 0.5 * idle {
        return None;
    }
    let share = idle.min(1.0);
    Some(Bottleneck {
        kind: BottleneckKind::Waiting,
        score: share * 0.95,
        share: Some(share),
        evidence: vec![
            format!(
                "wall {} but CPU {} per run: busy {:.0}% of the time",
                duration(m.wall_ns),
                duration(s.cpu),
                s.cpu_share * 100.0
            ),
            format!(
                "{:.0} voluntary context switches per run (sleeps, locks, pipes, sockets)",
                m.voluntary_switches
            ),
        ],
    })
}

fn memory_heavy(m: &Measurements, s: &Shares) -> Option<Bottleneck> {
    let memory = m.heap_peak_bytes.unwrap_or(0).max(m.peak_rss_bytes);
    let big = memory >= 1 << 30;
    let faulting = s.faulting && s.sys_share >= 0.3;
    if !big && !faulting {
        return None;
    }
    let mut evidence = vec![format!(
        "peak RSS {}{}",
        perfkit_metrics::format_bytes(m.peak_rss_bytes),
        m.heap_peak_bytes
            .map(|h| format!(", heap peak {}", perfkit_metrics::format_bytes(h)))
            .unwrap_or_default()
    )];
    if faulting {
        evidence.push(format!(
            "{:.0} page faults per run (about {} first touched) against {}: {:.0}% of the CPU time is the kernel handing out new pages",
            m.minor_faults + m.major_faults,
            perfkit_metrics::format_bytes(((m.minor_faults + m.major_faults) * 4096.0) as u64),
            m.syscalls
                .as_ref()
                .map_or_else(|| "an unknown number of system calls".to_string(), |c| format!("{:.0} system calls", c.calls)),
            s.sys_share * 100.0
        ));
    }
    for site in m.heap_sites.iter().take(3) {
        evidence.push(format!(
            "{} live at the peak from {} ({:.0}%)",
            perfkit_metrics::format_bytes(site.bytes),
            site.site,
            site.percent
        ));
    }
    // When faults explain the kernel time, the share is that kernel time over the run; a
    // large footprint alone costs no time that can be read here and ranks low.
    let share = faulting.then(|| (m.system_ns / s.wall).min(1.0));
    Some(Bottleneck {
        kind: BottleneckKind::MemoryHeavy,
        score: share.unwrap_or(0.3),
        share,
        evidence,
    })
}

fn cpu_bound(m: &Measurements, s: &Shares) -> Option<Bottleneck> {
    // A CPU or more busy the whole run (a pool's coordinating threads may block often while
    // its workers compute); or busy most of the time and rarely blocking; or runnable but
    // preempted by other load.
    let blocks_per_second = m.voluntary_switches / (s.wall / 1e9);
    let saturated = s.cpu_share >= 0.9;
    let mostly_busy = s.cpu_share >= 0.5 && blocks_per_second < 200.0;
    if s.sys_share >= 0.4 || !(saturated || mostly_busy || s.starved) {
        return None;
    }
    let mut evidence = vec![format!(
        "CPU {} of wall {} per run ({:.0}% busy), {:.0}% of it in user code; it blocked {:.0} times per run",
        duration(s.cpu),
        duration(m.wall_ns),
        s.cpu_share * 100.0,
        (1.0 - s.sys_share) * 100.0,
        m.voluntary_switches
    )];
    if s.cpu_share >= 1.5 {
        evidence.push(format!(
            "{:.1} of {} CPUs busy on average: the work is spread over threads or processes",
            s.cpu_share, m.cpus
        ));
    }
    if s.cpu_share < 0.9 && m.involuntary_switches > m.voluntary_switches {
        evidence.push(format!(
            "preempted {:.0} times per run: other load took the CPU for part of the time",
            m.involuntary_switches
        ));
    }
    if let Some(f) = m.hot_functions.first() {
        evidence.push(format!(
            "hottest function: {} ({:.1}% self, {:.1}% with callees)",
            f.name, f.self_percent, f.inclusive_percent
        ));
    }
    if let Some(note) = m
        .program
        .as_ref()
        .and_then(crate::program::ProgramInfo::symbols_note)
    {
        evidence.push(note);
    }
    // Starting processes costs CPU too (loading, linking, the C library's set-up): the share
    // that process starts take is spawn-heavy's, not this rule's.
    if s.spawn_share >= SPAWN_SHARE {
        evidence.push(format!(
            "about {} of the run is starting processes (spawn-heavy), part of this CPU time",
            percent(s.spawn_share)
        ));
    }
    let share = s.cpu_share.min(1.0) * (1.0 - s.spawn_share);
    Some(Bottleneck {
        kind: BottleneckKind::CpuBound,
        score: share,
        share: Some(share),
        evidence,
    })
}

/// Reads and writes per run, their average size and their share of the time in system
/// calls, when they are many and small.
fn small_calls(m: &Measurements) -> Option<(f64, f64, f64)> {
    let (count, _, time_share) = m.syscalls.as_ref()?.of(DATA_CALLS);
    let average = m.io_bytes? / count.max(1.0);
    (count >= SMALL_IO_CALLS && average <= SMALL_IO_BYTES).then_some((count, average, time_share))
}

fn small_io(m: &Measurements, s: &Shares) -> Option<Bottleneck> {
    let calls = m.syscalls.as_ref()?;
    let (count, average, time_share) = small_calls(m)?;
    let bytes = m.io_bytes?;
    // The kernel time of the measured runs, split by where the traced run spent its time in
    // system calls (strace's own stops would inflate the calls' time if read directly).
    let share = (time_share * m.system_ns / s.wall).min(1.0);
    if share < SMALL_IO_SHARE {
        return None;
    }
    let busiest: Vec<String> = calls
        .top
        .iter()
        .filter(|c| DATA_CALLS.contains(&c.name.as_str()))
        .take(2)
        .map(|c| format!("{} {:.0}×", c.name, c.calls))
        .collect();
    Some(Bottleneck {
        kind: BottleneckKind::SmallIo,
        score: share,
        share: Some(share),
        evidence: vec![format!(
            "{count:.0} read/write calls per run ({}) move {} in all: {} per call on average; the kernel's side of them is about {} of the run",
            busiest.join(", "),
            perfkit_metrics::format_bytes(bytes as u64),
            perfkit_metrics::format_bytes(average as u64),
            percent(share)
        )],
    })
}

/// What to do about a bottleneck.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// The bottleneck it answers.
    pub kind: BottleneckKind,
    /// What to change.
    pub action: String,
    /// The gain usually expected from this kind of change.
    pub expected_gain: String,
    /// The perfkit part that helps.
    pub perfkit: String,
}

/// What removing a bottleneck that takes `share` of the run gains: the run would take
/// `1 - share` of its time. That bounds a change that removes this time alone; a change that
/// also removes the work around it gains more (batching a program's syncs also drops each
/// commit's journal writes), so the text says both.
fn gain_bound(share: Option<f64>) -> String {
    match share {
        Some(s) if s >= 0.95 => format!(
            "unknown until measured: this time is {} of the run, so removing it could make the run many times faster; measure a change with `perfkit bench OLD NEW`",
            percent(s)
        ),
        Some(s) => format!(
            "unknown until measured: removing this time alone gives up to {:.2}× (it is {} of the run), and a change that also removes the work around it gains more; measure it with `perfkit bench OLD NEW`",
            1.0 / (1.0 - s),
            percent(s)
        ),
        None => "unknown until measured: no time share to bound it; measure a change with `perfkit bench OLD NEW`".into(),
    }
}

/// One recommendation per bottleneck, in the same order, fitted to what the program is
/// (`m.program`) and to the evidence. The expected gain is "unknown until measured", with
/// what the bottleneck's share of the run says about it; [`with_measured_gain`] replaces it
/// with a gain measured in the same run.
#[must_use]
pub fn recommend(bottlenecks: &[Bottleneck], m: &Measurements) -> Vec<Recommendation> {
    bottlenecks
        .iter()
        .map(|b| {
            let (action, perfkit) = advice(b.kind, m);
            Recommendation {
                kind: b.kind,
                action,
                // CPU time is the work itself: no share of it "goes away", so it has no bound.
                expected_gain: if b.kind == BottleneckKind::CpuBound {
                    "unknown until measured: it depends on how much work the hot functions shed; `perfkit bench OLD NEW` measures it".into()
                } else {
                    gain_bound(b.share)
                },
                perfkit,
            }
        })
        .collect()
}

/// What to change and the perfkit part that helps, for one kind of bottleneck.
fn advice(kind: BottleneckKind, m: &Measurements) -> (String, String) {
    let own = |a: &str, p: &str| (a.to_string(), p.to_string());
    match kind {
        BottleneckKind::SpawnHeavy => match m.processes.as_ref().and_then(|p| {
            let last = p.final_program()?;
            // Most of the starts are the wrapper's own, before the program runs.
            (p.wrapper_spawn_ns.saturating_mul(2) >= p.spawn_ns).then_some((p, last))
        }) {
            Some((p, last)) => (
                format!(
                    "start {last} directly instead of through {}: the wrapper starts {} processes of its own before the program runs",
                    p.command_chain[0], p.processes
                ),
                format!("`perfkit analyze -- {last} ...` measures the program without the wrapper"),
            ),
            None => own(
                "reuse processes instead of starting one per task (a pool of workers fed over pipes, tasks in batches)",
                "perfkit-pool (`ProcessPool`) or `perfkit pool -- WORKER`; `perfkit analyze --demo` measures a process per task against a pool on this machine",
            ),
        },
        BottleneckKind::SyscallHeavy => own(
            "make fewer, larger system calls: buffer reads and writes, batch small operations, move data in the kernel instead of through user space",
            "`perfkit syscalls` to find the calls; perfkit-zerocopy (`transfer`, splice, sendfile)",
        ),
        BottleneckKind::IoBound => own(
            "read less or read ahead: cache hot data, larger sequential reads, mmap for random access, overlap I/O with work",
            "perfkit-zerocopy (`MmapBuffer`, `transfer`), `perfkit syscalls --trace` for per-call latency",
        ),
        BottleneckKind::Waiting => own(
            "find what it waits for (locks, sleeps, network) and overlap or remove it",
            "`perfkit syscalls --trace` (time per call), `perfkit record` (where the waits start)",
        ),
        BottleneckKind::MemoryHeavy => own(
            "keep less live: stream instead of loading, reuse buffers, pool objects that are costly to build",
            "`perfkit heap` (allocation sites at the peak), perfkit-alloc (`measure`), perfkit-pool's `ObjectPool`",
        ),
        BottleneckKind::SyncBound => own(
            "sync less often: group writes and sync once per batch (a transaction, a group commit), use fdatasync where file metadata need not be durable, and drop syncs the data does not need",
            "`perfkit syscalls --trace -e fsync,fdatasync` (latency of each sync); `perfkit bench` to prove the batched version",
        ),
        BottleneckKind::SmallIo => {
            let (count, _, _) = m
                .syscalls
                .as_ref()
                .map_or((0.0, 0.0, 0.0), |c| c.of(DATA_CALLS));
            let average = m.io_bytes.unwrap_or(0.0) / count.max(1.0);
            (
                format!(
                    "read and write in larger blocks: {count:.0} calls per run move {} each on average; a 64 KiB–1 MiB buffer (BufReader::with_capacity, setvbuf, dd bs=1M) makes the calls that many times fewer",
                    perfkit_metrics::format_bytes(average as u64)
                ),
                "`perfkit syscalls` (calls and time per call); perfkit-zerocopy for whole-file copies".to_string(),
            )
        }
        BottleneckKind::CpuBound => cpu_advice(m),
    }
}

/// CPU-bound advice by what the program is: the user's Rust build, an interpreter running a
/// script, a system binary, or something else.
fn cpu_advice(m: &Measurements) -> (String, String) {
    use crate::program::ProgramKind;
    let record = "`perfkit record` (flamegraph of the hot paths)";
    match m.program.as_ref().map(|p| &p.kind) {
        Some(ProgramKind::Interpreter { language }) => {
            let (tool, perfkit) = crate::program::language_profiler(language);
            (
                format!(
                    "profile the {language} code, not the interpreter: its own C functions (the evaluation loop) say nothing about which {language} function is hot; {tool}"
                ),
                perfkit,
            )
        }
        Some(ProgramKind::Workspace { .. }) => (
            "speed up the hottest functions: a better algorithm or data structure first; then a PGO build (RUSTFLAGS=-Cprofile-generate=DIR cargo build --release, run a typical input, llvm-profdata merge -o merged.profdata DIR, rebuild with RUSTFLAGS=-Cprofile-use=merged.profdata) and lto = \"fat\" in [profile.release]".into(),
            format!("{record}; `perfkit bench` to prove each build's gain"),
        ),
        Some(ProgramKind::System { package }) => (
            format!(
                "it is a system program{}: look for a cheaper way to use it (options that do less, smaller input, a faster tool for the same job){}",
                package.as_deref().map(|p| format!(" (package {p})")).unwrap_or_default(),
                if m.program.as_ref().is_some_and(|p| p.stripped == Some(true)) {
                    "; to see its functions, install its debug symbols (Debian and Ubuntu: the -dbgsym package, or DEBUGINFOD_URLS=https://debuginfod.debian.net for perf to fetch them)"
                } else {
                    ""
                }
            ),
            record.to_string(),
        ),
        _ => (
            "speed up the hottest functions: a better algorithm or data structure first, then compiler help (optimisation level, LTO, PGO)".into(),
            record.to_string(),
        ),
    }
}

/// Replaces the expected gain of the recommendation for `kind` with one measured in this run
/// (an alternative command timed beside the analysed one): a measurement beats an estimate,
/// and the alternative may change more than the bottleneck's share bounds (a pool of workers
/// also runs tasks in parallel).
pub fn with_measured_gain(
    recommendations: &mut [Recommendation],
    kind: BottleneckKind,
    measured: &str,
) {
    for r in recommendations.iter_mut().filter(|r| r.kind == kind) {
        r.expected_gain = format!("measured in this run: {measured}");
    }
}

#[cfg(test)]
#[allow(clippy::unnecessary_wraps)] // Helpers fill optional fields.
mod tests {
    use super::*;
    use crate::program::{ProgramInfo, ProgramKind};
    use perfkit_profilers::strace::ProcessTrace;

    fn base() -> Measurements {
        Measurements {
            runs: 10,
            wall_ns: 1e9,
            cpus: 2,
            ..Measurements::default()
        }
    }

    fn call(name: &str, calls: f64, ns: f64, share: f64) -> SyscallCount {
        SyscallCount {
            name: name.into(),
            calls,
            errors: 0.0,
            ns,
            share,
        }
    }

    fn syscalls(calls: f64, top: Vec<SyscallCount>) -> Option<Syscalls> {
        Some(Syscalls {
            calls,
            execve: 1.0,
            traced_wall_ns: 1e9,
            top,
            ..Syscalls::default()
        })
    }

    fn program(kind: ProgramKind, stripped: bool) -> Option<ProgramInfo> {
        Some(ProgramInfo {
            path: "/usr/bin/prog".into(),
            kind,
            stripped: Some(stripped),
        })
    }

    #[test]
    fn a_cpu_loop_is_cpu_bound_and_the_advice_fits_the_program() {
        let mut m = Measurements {
            user_ns: 0.97e9,
            system_ns: 0.01e9,
            hot_functions: vec![HotFunction {
                name: "app::primes".into(),
                self_count: 830,
                inclusive_count: 831,
                self_percent: 83.0,
                inclusive_percent: 83.1,
            }],
            program: program(
                ProgramKind::Workspace {
                    root: "/src/app".into(),
                },
                false,
            ),
            ..base()
        };
        let found = classify(&m);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, BottleneckKind::CpuBound);
        assert!(found[0].evidence[1].contains("app::primes (83.0% self"));
        let advice = &recommend(&found, &m)[0];
        assert!(advice.action.contains("PGO build"), "{advice:?}");
        // The gain is bounded by the share of the run, not read from a table.
        assert!(
            advice.expected_gain.contains("unknown until measured"),
            "{advice:?}"
        );
        assert!(!advice.expected_gain.contains("docs/benchmarks.md"));

        m.program = program(
            ProgramKind::Interpreter {
                language: "Python".into(),
            },
            false,
        );
        let advice = &recommend(&found, &m)[0];
        assert!(advice.action.contains("py-spy"), "{advice:?}");
        assert!(!advice.action.contains("PGO"));

        m.program = program(
            ProgramKind::System {
                package: Some("gzip".into()),
            },
            true,
        );
        let found = classify(&m);
        assert!(
            found[0].evidence.iter().any(|e| e.contains("stripped")),
            "{found:?}"
        );
        let advice = &recommend(&found, &m)[0];
        assert!(advice.action.contains("-dbgsym"), "{advice:?}");
        assert!(!advice.perfkit.contains("xtask"));
    }

    #[test]
    fn a_sleep_loop_is_waiting() {
        let m = Measurements {
            user_ns: 0.01e9,
            system_ns: 0.01e9,
            voluntary_switches: 100.0,
            ..base()
        };
        let found = classify(&m);
        assert_eq!(found[0].kind, BottleneckKind::Waiting);
        assert!(found[0].evidence[0].contains("busy 2%"), "{found:?}");
    }

    #[test]
    fn a_syscall_storm_is_syscall_heavy() {
        let m = Measurements {
            user_ns: 0.3e9,
            system_ns: 0.65e9,
            syscalls: syscalls(2_000_000.0, vec![call("getpid", 2_000_000.0, 9e8, 0.99)]),
            ..base()
        };
        let found = classify(&m);
        assert_eq!(found[0].kind, BottleneckKind::SyscallHeavy, "{found:?}");
        assert!(found[0].evidence[1].contains("getpid 2000000× (99%)"));
    }

    fn spawning(processes: u64, threads: u64, spawn_ms: u64) -> Option<ProcessTrace> {
        Some(ProcessTrace {
            processes,
            threads,
            execs: processes + 1,
            exec_ns: spawn_ms * 300_000,
            spawn_ns: spawn_ms * 1_000_000,
            traced_ns: 1_000_000_000,
            command_chain: vec!["/bin/sh".into()],
            ..ProcessTrace::default()
        })
    }

    #[test]
    fn a_spawn_storm_is_spawn_heavy_first() {
        let m = Measurements {
            wall_ns: 1.3e9,
            user_ns: 0.2e9,
            system_ns: 0.6e9,
            syscalls: syscalls(90_000.0, vec![]),
            processes: spawning(2_400, 0, 800),
            ..base()
        };
        let found = classify(&m);
        assert_eq!(found[0].kind, BottleneckKind::SpawnHeavy, "{found:?}");
        assert!(found[0].evidence[0].contains("2400 processes started"));
        assert!(found[0].evidence[1].contains("(80%)"), "{found:?}");
        // Starting processes is kernel work: it is not also named syscall-heavy.
        assert!(!found.iter().any(|b| b.kind == BottleneckKind::SyscallHeavy));
        // Busy the whole run, but starting processes: CPU-bound comes second.
        let busy = Measurements {
            user_ns: 0.9e9,
            system_ns: 0.35e9,
            voluntary_switches: 2000.0,
            ..m.clone()
        };
        let kinds: Vec<BottleneckKind> = classify(&busy).iter().map(|b| b.kind).collect();
        assert_eq!(
            kinds,
            [BottleneckKind::SpawnHeavy, BottleneckKind::CpuBound],
            "{kinds:?}"
        );
        let mut recommendations = recommend(&found, &m);
        assert!(
            recommendations[0]
                .expected_gain
                .contains("removing this time alone gives up to 5.00×")
        );
        with_measured_gain(
            &mut recommendations,
            BottleneckKind::SpawnHeavy,
            "31.0× faster",
        );
        assert_eq!(
            recommendations[0].expected_gain,
            "measured in this run: 31.0× faster"
        );
    }

    #[test]
    fn threads_and_a_shims_lookups_are_not_process_starts() {
        // rg -j32 on a large tree: 32 threads busy on 2 CPUs, one program.
        let rg = Measurements {
            wall_ns: 1e9,
            user_ns: 1.9e9,
            system_ns: 0.08e9,
            voluntary_switches: 500.0,
            syscalls: Some(Syscalls {
                calls: 40_000.0,
                execve: 1.0,
                forks: 32.0,
                traced_wall_ns: 1.2e9,
                ..Syscalls::default()
            }),
            processes: spawning(0, 32, 0),
            ..base()
        };
        let kinds: Vec<BottleneckKind> = classify(&rg).iter().map(|b| b.kind).collect();
        assert_eq!(kinds, [BottleneckKind::CpuBound], "{kinds:?}");
        // A Python script through a pyenv shim: 230 failed PATH lookups, a few dozen quick
        // processes in a run of seconds.
        let shim = Measurements {
            wall_ns: 3e9,
            user_ns: 2.9e9,
            system_ns: 0.05e9,
            syscalls: Some(Syscalls {
                calls: 9_000.0,
                execve: 39.0,
                failed_execve: 230.0,
                forks: 40.0,
                traced_wall_ns: 3.2e9,
                ..Syscalls::default()
            }),
            processes: spawning(40, 1, 120).map(|mut p| {
                p.traced_ns = 3_200_000_000;
                p.failed_execs = 230;
                p
            }),
            ..base()
        };
        let kinds: Vec<BottleneckKind> = classify(&shim).iter().map(|b| b.kind).collect();
        assert_eq!(kinds, [BottleneckKind::CpuBound], "{kinds:?}");
    }

    #[test]
    fn an_fsync_per_write_is_fsync_bound_not_io_bound_or_waiting() {
        // sqlite3 inserting rows one transaction each: little CPU, most time in fdatasync.
        let m = Measurements {
            wall_ns: 2e9,
            user_ns: 0.05e9,
            system_ns: 0.15e9,
            voluntary_switches: 4_000.0,
            io_wait_ns: Some(1.5e9),
            io_bytes: Some(8e6),
            syscalls: Some(Syscalls {
                calls: 30_000.0,
                execve: 1.0,
                traced_wall_ns: 4.2e9,
                top: vec![
                    call("fdatasync", 2_000.0, 1.6e9, 0.9),
                    call("pwrite64", 6_000.0, 0.1e9, 0.06),
                ],
                ..Syscalls::default()
            }),
            ..base()
        };
        let found = classify(&m);
        let kinds: Vec<BottleneckKind> = found.iter().map(|b| b.kind).collect();
        assert_eq!(kinds, [BottleneckKind::SyncBound], "{found:?}");
        assert!(
            found[0].evidence[0].contains("2000 fdatasync calls"),
            "{found:?}"
        );
        let advice = &recommend(&found, &m)[0];
        assert!(advice.action.contains("sync once per batch"), "{advice:?}");
        assert!(!advice.action.contains("mmap"));
    }

    #[test]
    fn a_loop_of_small_reads_is_named_beside_the_cpu_time() {
        // 196,000 reads of 1 KiB in a run that is mostly CPU.
        let m = Measurements {
            wall_ns: 1.2e9,
            user_ns: 0.95e9,
            system_ns: 0.2e9,
            io_bytes: Some(196_000.0 * 1024.0),
            syscalls: Some(Syscalls {
                calls: 196_100.0,
                execve: 1.0,
                traced_wall_ns: 3e9,
                top: vec![call("read", 196_000.0, 1.5e9, 0.99)],
                ..Syscalls::default()
            }),
            ..base()
        };
        let found = classify(&m);
        let kinds: Vec<BottleneckKind> = found.iter().map(|b| b.kind).collect();
        assert_eq!(
            kinds,
            [BottleneckKind::CpuBound, BottleneckKind::SmallIo],
            "{found:?}"
        );
        assert!(
            found[1].evidence[0].contains("1.00 KiB per call"),
            "{found:?}"
        );
        let advice = &recommend(&found, &m)[1];
        assert!(advice.action.contains("196000 calls per run"), "{advice:?}");
    }

    #[test]
    fn io_waits_and_big_memory_are_named() {
        let m = Measurements {
            user_ns: 0.1e9,
            system_ns: 0.1e9,
            io_wait_ns: Some(0.6e9),
            io_bytes: Some(4e9),
            peak_rss_bytes: 3 << 30,
            ..base()
        };
        let kinds: Vec<BottleneckKind> = classify(&m).iter().map(|b| b.kind).collect();
        assert_eq!(kinds[0], BottleneckKind::IoBound, "{kinds:?}");
        assert!(kinds.contains(&BottleneckKind::MemoryHeavy));
        assert!(!kinds.contains(&BottleneckKind::Waiting));
    }

    #[test]
    fn first_touching_memory_is_memory_heavy_not_syscall_heavy() {
        // A 268 MB string built by doubling (mawk), measured here: 131,199 faults, 86% kernel.
        let m = Measurements {
            wall_ns: 0.52e9,
            user_ns: 0.07e9,
            system_ns: 0.44e9,
            minor_faults: 131_199.0,
            peak_rss_bytes: 395_648 * 1024,
            syscalls: syscalls(120.0, vec![call("brk", 40.0, 1e6, 0.5)]),
            ..base()
        };
        let found = classify(&m);
        let kinds: Vec<BottleneckKind> = found.iter().map(|b| b.kind).collect();
        assert_eq!(kinds, [BottleneckKind::MemoryHeavy], "{found:?}");
        assert!(
            found[0].evidence[1].contains("131199 page faults"),
            "{found:?}"
        );
        assert!(recommend(&found, &m)[0].perfkit.contains("perfkit heap"));
    }

    #[test]
    fn a_syscall_storm_that_also_faults_stays_syscall_heavy() {
        let m = Measurements {
            user_ns: 0.3e9,
            system_ns: 0.65e9,
            minor_faults: 30_000.0,
            syscalls: syscalls(400_000.0, vec![]),
            ..base()
        };
        assert_eq!(classify(&m)[0].kind, BottleneckKind::SyscallHeavy);
    }

    #[test]
    fn workers_saturating_the_cpus_are_cpu_bound_despite_a_busy_dispatcher() {
        // perfkit demo-workload pool 200000, measured here: 2 workers computing, the pool's
        // threads blocking 246 times a second.
        let m = Measurements {
            wall_ns: 6.18e9,
            user_ns: 11.97e9,
            system_ns: 0.14e9,
            voluntary_switches: 1520.0,
            involuntary_switches: 1689.0,
            ..base()
        };
        let found = classify(&m);
        assert_eq!(found[0].kind, BottleneckKind::CpuBound, "{found:?}");
        assert!(
            found[0].evidence[1].contains("2.0 of 2 CPUs busy"),
            "{found:?}"
        );
    }

    #[test]
    fn small_direct_reads_waiting_on_the_disk_are_small_calls_and_io_bound() {
        // dd bs=4k iflag=direct of 200 MB, measured here with delay accounting on: 48% of the
        // wall time waiting for the disk, 50% in the kernel issuing 48,833 reads.
        let m = Measurements {
            wall_ns: 4.32e9,
            user_ns: 0.037e9,
            system_ns: 2.169e9,
            voluntary_switches: 48_547.0,
            io_wait_ns: Some(2.06e9),
            io_bytes: Some(4e8),
            syscalls: syscalls(97_778.0, vec![call("read", 48_833.0, 4e9, 0.96)]),
            ..base()
        };
        let found = classify(&m);
        let mut kinds: Vec<BottleneckKind> = found.iter().map(|b| b.kind).collect();
        // Each takes about half the run; the advice for the kernel time is the block size.
        kinds.sort_by_key(|k| k.title());
        assert_eq!(
            kinds,
            [BottleneckKind::IoBound, BottleneckKind::SmallIo],
            "{found:?}"
        );
    }

    #[test]
    fn a_balanced_run_names_nothing() {
        // Busy 70% of the time, blocking 500 times a second: neither CPU-bound nor waiting.
        let m = Measurements {
            user_ns: 0.6e9,
            system_ns: 0.1e9,
            voluntary_switches: 500.0,
            ..base()
        };
        assert!(classify(&m).is_empty());
    }
}
