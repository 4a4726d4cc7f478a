//! Bottlenecks from measurements, and what to do about each.

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
    /// Peak heap from massif, in bytes, when it ran.
    pub heap_peak_bytes: Option<u64>,
    /// The largest allocation sites at the heap peak, when massif ran.
    #[serde(default)]
    pub heap_sites: Vec<HeapSite>,
    /// The syscall mix from strace, per run, when it ran.
    pub syscalls: Option<Syscalls>,
    /// The hottest functions from perf, when it ran.
    pub hot_functions: Vec<HotFunction>,
    /// CPUs available.
    pub cpus: u32,
}

/// System calls per run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Syscalls {
    /// All calls.
    pub calls: f64,
    /// `execve`/`execveat` calls: programs started.
    pub execve: f64,
    /// `clone`/`clone3`/`fork`/`vfork` calls: processes and threads created.
    pub forks: f64,
    /// The busiest calls: name, calls per run, share of syscall time (0–1).
    pub top: Vec<(String, f64, f64)>,
}

/// An allocation site at the heap peak.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeapSite {
    /// The first frame of the program's own code on the path, `function (location)`.
    pub site: String,
    /// Bytes live at the peak from this site.
    pub bytes: u64,
    /// Share of the peak heap, percent.
    pub percent: f64,
}

/// A function and its share of the CPU samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HotFunction {
    /// Function name.
    pub name: String,
    /// Share of samples in the function itself, percent.
    pub self_percent: f64,
    /// Share of samples in it or its callees, percent.
    pub total_percent: f64,
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
        }
    }
}

/// A bottleneck with the numbers that show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bottleneck {
    /// What kind.
    pub kind: BottleneckKind,
    /// How strongly the evidence points at it, 0–1; bottlenecks are sorted by it.
    pub score: f64,
    /// The numbers, in words.
    pub evidence: Vec<String>,
}

fn ms(ns: f64) -> String {
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
    /// Preempted far more often than it blocked: runnable, but other load had the CPU.
    starved: bool,
    /// Page faults, not system calls, explain the kernel time: many faults (100 MiB or more
    /// first touched per run), several times more of them than system calls, few spawns.
    faulting: bool,
}

/// Faults per run from which first-touching memory is the program's main kernel work
/// (25,000 faults of 4 KiB = 100 MiB).
const MANY_FAULTS: f64 = 25_000.0;

/// Names the bottlenecks the measurements show, strongest first. Each rule needs its own
/// evidence; nothing is named when nothing stands out (a short, balanced run).
#[must_use]
pub fn classify(m: &Measurements) -> Vec<Bottleneck> {
    let wall = m.wall_ns.max(1.0);
    let cpu = m.user_ns + m.system_ns;
    let shares = Shares {
        wall,
        cpu,
        cpu_share: cpu / wall,
        sys_share: if cpu > 0.0 { m.system_ns / cpu } else { 0.0 },
        io_wait_share: m.io_wait_ns.map_or(0.0, |w| w / wall),
        starved: m.involuntary_switches > 10.0 * m.voluntary_switches.max(1.0),
        faulting: {
            let faults = m.minor_faults + m.major_faults;
            // Each new process faults in its own pages: those faults are the spawns' cost.
            faults >= MANY_FAULTS
                && m.syscalls
                    .as_ref()
                    .is_none_or(|c| faults > 4.0 * c.calls && c.execve.max(c.forks) < 20.0)
        },
    };
    let rules: [fn(&Measurements, &Shares) -> Option<Bottleneck>; 6] = [
        spawn_heavy,
        syscall_heavy,
        io_bound,
        waiting,
        memory_heavy,
        cpu_bound,
    ];
    let mut out: Vec<Bottleneck> = rules.iter().filter_map(|rule| rule(m, &shares)).collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

fn spawn_heavy(m: &Measurements, s: &Shares) -> Option<Bottleneck> {
    let calls = m.syscalls.as_ref()?;
    let spawns = calls.execve.max(calls.forks);
    // Each spawn costs ~0.5-1 ms of fork/exec/teardown: dozens per run dominate.
    if spawns < 20.0 {
        return None;
    }
    let per_second = spawns / (s.wall / 1e9);
    Some(Bottleneck {
        kind: BottleneckKind::SpawnHeavy,
        score: (per_second / 500.0).clamp(0.5, 1.0),
        evidence: vec![
            format!(
                "{:.0} execve and {:.0} clone/fork per run of {} ({per_second:.0} process starts per second)",
                calls.execve,
                calls.forks,
                ms(m.wall_ns)
            ),
            format!(
                "{:.0}% of the CPU time is in the kernel",
                s.sys_share * 100.0
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
    if (s.sys_share < 0.4 && !storm) || s.cpu_share < 0.2 || (s.faulting && !storm) {
        return None;
    }
    let mut evidence = vec![format!(
        "{:.0}% of the CPU time is in the kernel ({} system of {} CPU per run)",
        s.sys_share * 100.0,
        ms(m.system_ns),
        ms(s.cpu)
    )];
    if let Some(calls) = &m.syscalls {
        let top: Vec<String> = calls
            .top
            .iter()
            .take(3)
            .map(|(name, n, share)| format!("{name} {n:.0}× ({:.0}%)", share * 100.0))
            .collect();
        evidence.push(format!(
            "{:.0} system calls per run ({calls_per_cpu_second:.0} per CPU-second); busiest: {}",
            calls.calls,
            if top.is_empty() {
                "—".to_string()
            } else {
                top.join(", ")
            }
        ));
    }
    Some(Bottleneck {
        kind: BottleneckKind::SyscallHeavy,
        // The share of the wall time it explains, like the I/O and waiting rules: kernel time
        // (or, in a storm, all CPU time) over wall time.
        score: if storm {
            s.cpu_share.min(1.0) * 0.9
        } else {
            (m.system_ns / s.wall).min(1.0) * 0.9
        },
        evidence,
    })
}

fn io_bound(m: &Measurements, s: &Shares) -> Option<Bottleneck> {
    if s.io_wait_share < 0.2 {
        return None;
    }
    Some(Bottleneck {
        kind: BottleneckKind::IoBound,
        score: s.io_wait_share.min(1.0),
        evidence: vec![format!(
            "{} of {} per run waiting for block I/O ({:.0}%){}",
            ms(m.io_wait_ns.unwrap_or(0.0)),
            ms(m.wall_ns),
            s.io_wait_share * 100.0,
            m.io_bytes
                .map(|b| format!(
                    ", {} read and written",
                    perfkit_metrics::format_bytes(b as u64)
                ))
                .unwrap_or_default()
        )],
    })
}

fn waiting(m: &Measurements, s: &Shares) -> Option<Bottleneck> {
    if s.cpu_share >= 0.5 || s.io_wait_share >= 0.2 || s.starved {
        return None;
    }
    Some(Bottleneck {
        kind: BottleneckKind::Waiting,
        score: (1.0 - s.cpu_share).clamp(0.0, 1.0) * 0.95,
        evidence: vec![
            format!(
                "wall {} but CPU {} per run: busy {:.0}% of the time",
                ms(m.wall_ns),
                ms(s.cpu),
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
            .map(|h| format!(", heap peak {} (massif)", perfkit_metrics::format_bytes(h)))
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
    Some(Bottleneck {
        kind: BottleneckKind::MemoryHeavy,
        // When faults explain the kernel time, memory is the bottleneck, ahead of the
        // kernel share that syscall-heavy would otherwise read.
        score: if faulting {
            (0.5 + 0.45 * s.sys_share).min(0.95)
        } else {
            0.6
        },
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
        ms(s.cpu),
        ms(m.wall_ns),
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
            f.name, f.self_percent, f.total_percent
        ));
    }
    // Starting a process costs CPU too (loading, linking, the C library's set-up): when a run
    // starts dozens, its CPU time is mostly their start-up, which spawn-heavy names first.
    let spawns = m.syscalls.as_ref().map_or(0.0, |c| c.execve.max(c.forks));
    let mut score = s.cpu_share.clamp(0.5, 0.85);
    if spawns >= 20.0 {
        score = 0.45;
        evidence.push(format!(
            "much of it may be the start-up of the {spawns:.0} processes started per run"
        ));
    }
    Some(Bottleneck {
        kind: BottleneckKind::CpuBound,
        score,
        evidence,
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

/// One recommendation per bottleneck, in the same order. Every expected gain is what perfkit
/// measured (docs/benchmarks.md, cited by section), bounded by the share of the run the
/// bottleneck takes; [`with_measured_gain`] puts a gain measured in the same run first.
#[must_use]
pub fn recommend(bottlenecks: &[Bottleneck]) -> Vec<Recommendation> {
    let mut out = Vec::new();
    for b in bottlenecks {
        let (action, gain, part) = match b.kind {
            BottleneckKind::SpawnHeavy => (
                "reuse processes instead of starting one per task (a pool of workers fed over pipes, tasks in batches)",
                "at most the time now spent starting processes; perfkit's pool ran trivial tasks \
                 500–630× faster than a process per task and 33,000–50,000× in batches \
                 (docs/benchmarks.md, \"Process pools\"); `perfkit analyze --demo` measures it \
                 on this machine",
                "perfkit-pool (`ProcessPool`) or `perfkit pool -- WORKER`",
            ),
            BottleneckKind::SyscallHeavy => (
                "make fewer, larger system calls: buffer reads and writes, batch small operations, move data in the kernel instead of through user space",
                "at most the share of time in system calls; perfkit's kernel-side copies measured \
                 3.6–8.2× a user-space copy for file → pipe but 0.91–1.21× for file → file \
                 (docs/benchmarks.md, \"Zero-copy copies\"): measure yours with `perfkit bench`",
                "`perfkit syscalls` to find the calls; perfkit-zerocopy (`transfer`, splice, sendfile)",
            ),
            BottleneckKind::IoBound => (
                "read less or read ahead: cache hot data, larger sequential reads, mmap for random access, overlap I/O with work",
                "at most the share of time waiting for the disk; reading a cached file through \
                 perfkit's mmap measured 4.7× `read_to_end` (docs/benchmarks.md, \"Zero-copy \
                 copies\")",
                "perfkit-zerocopy (`MmapBuffer`, `transfer`), `perfkit syscalls --trace` for per-call latency",
            ),
            BottleneckKind::Waiting => (
                "find what it waits for (locks, sleeps, network) and overlap or remove it",
                "at most the share of time spent waiting (the evidence above)",
                "`perfkit syscalls --trace` (time per call), `perfkit record` (where the waits start)",
            ),
            BottleneckKind::MemoryHeavy => (
                "keep less live: stream instead of loading, reuse buffers, pool objects",
                "at most the share of CPU time spent handing out pages (the evidence above); \
                 perfkit's `ObjectPool` measured 1.09–1.13× a locked queue but slower than a \
                 fresh 4 KiB allocation (docs/benchmarks.md, \"Process pools\"): pool only what \
                 is costly to build",
                "`perfkit heap` (allocation sites at the peak), perfkit-alloc (`measure`), perfkit-pool's `ObjectPool`",
            ),
            BottleneckKind::CpuBound => (
                "speed up the hottest functions: a better algorithm or data structure first, then compiler help",
                "a better algorithm gains most and cannot be predicted; on perfkit itself PGO \
                 measured 1.10×, fat LTO 1.03× and BOLT after PGO 1.02× (docs/benchmarks.md, \
                 \"PGO, BOLT and LTO builds\")",
                "`perfkit record` (flamegraph), `cargo xtask pgo` / `cargo xtask lto`",
            ),
        };
        out.push(Recommendation {
            kind: b.kind,
            action: action.to_string(),
            expected_gain: gain.to_string(),
            perfkit: part.to_string(),
        });
    }
    out
}

/// Puts a gain measured in this run (an alternative command timed beside the analysed one) in
/// front of the expected gain of the recommendation for `kind`.
pub fn with_measured_gain(
    recommendations: &mut [Recommendation],
    kind: BottleneckKind,
    measured: &str,
) {
    for r in recommendations.iter_mut().filter(|r| r.kind == kind) {
        r.expected_gain = format!("measured in this run: {measured}; {}", r.expected_gain);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Measurements {
        Measurements {
            runs: 10,
            wall_ns: 1e9,
            cpus: 2,
            ..Measurements::default()
        }
    }

    #[test]
    fn a_cpu_loop_is_cpu_bound_and_names_its_hot_function() {
        let m = Measurements {
            user_ns: 0.97e9,
            system_ns: 0.01e9,
            hot_functions: vec![HotFunction {
                name: "app::primes".into(),
                self_percent: 83.0,
                total_percent: 83.1,
            }],
            ..base()
        };
        let found = classify(&m);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, BottleneckKind::CpuBound);
        assert!(found[0].evidence[1].contains("app::primes (83.0% self"));
        assert!(recommend(&found)[0].perfkit.contains("cargo xtask pgo"));
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
            syscalls: Some(Syscalls {
                calls: 2_000_000.0,
                execve: 1.0,
                forks: 0.0,
                top: vec![("getpid".into(), 2_000_000.0, 0.99)],
            }),
            ..base()
        };
        let found = classify(&m);
        assert_eq!(found[0].kind, BottleneckKind::SyscallHeavy, "{found:?}");
        assert!(found[0].evidence[1].contains("getpid 2000000× (99%)"));
    }

    #[test]
    fn a_spawn_storm_is_spawn_heavy_first() {
        let m = Measurements {
            wall_ns: 1.3e9,
            user_ns: 0.2e9,
            system_ns: 0.6e9,
            syscalls: Some(Syscalls {
                calls: 90_000.0,
                execve: 2_400.0,
                forks: 2_400.0,
                top: vec![],
            }),
            ..base()
        };
        let found = classify(&m);
        assert_eq!(found[0].kind, BottleneckKind::SpawnHeavy, "{found:?}");
        assert!(found[0].evidence[0].contains("2400 execve"));
        // Busy the whole run, but starting processes: CPU-bound comes second.
        let busy = Measurements {
            user_ns: 0.9e9,
            system_ns: 0.35e9,
            voluntary_switches: 2000.0,
            ..m
        };
        let kinds: Vec<BottleneckKind> = classify(&busy).iter().map(|b| b.kind).collect();
        assert_eq!(
            kinds,
            [BottleneckKind::SpawnHeavy, BottleneckKind::CpuBound],
            "{kinds:?}"
        );
        let mut recommendations = recommend(&found);
        assert!(
            recommendations[0]
                .expected_gain
                .contains("docs/benchmarks.md")
        );
        with_measured_gain(
            &mut recommendations,
            BottleneckKind::SpawnHeavy,
            "31.0× faster",
        );
        assert!(
            recommendations[0]
                .expected_gain
                .starts_with("measured in this run: 31.0× faster; at most")
        );
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
            syscalls: Some(Syscalls {
                calls: 120.0,
                execve: 1.0,
                forks: 0.0,
                top: vec![("brk".into(), 40.0, 0.5)],
            }),
            ..base()
        };
        let found = classify(&m);
        let kinds: Vec<BottleneckKind> = found.iter().map(|b| b.kind).collect();
        assert_eq!(kinds, [BottleneckKind::MemoryHeavy], "{found:?}");
        assert!(
            found[0].evidence[1].contains("131199 page faults"),
            "{found:?}"
        );
        assert!(recommend(&found)[0].perfkit.contains("perfkit heap"));
    }

    #[test]
    fn a_syscall_storm_that_also_faults_stays_syscall_heavy() {
        let m = Measurements {
            user_ns: 0.3e9,
            system_ns: 0.65e9,
            minor_faults: 30_000.0,
            syscalls: Some(Syscalls {
                calls: 400_000.0,
                execve: 1.0,
                forks: 0.0,
                top: vec![],
            }),
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
    fn small_direct_reads_waiting_on_the_disk_are_io_bound_first() {
        // dd bs=4k iflag=direct of 200 MB, measured here with delay accounting on: 48% of the
        // wall time waiting for the disk, 50% in the kernel issuing 48,833 reads.
        let m = Measurements {
            wall_ns: 4.32e9,
            user_ns: 0.037e9,
            system_ns: 2.169e9,
            voluntary_switches: 48_547.0,
            io_wait_ns: Some(2.06e9),
            io_bytes: Some(4e8),
            syscalls: Some(Syscalls {
                calls: 97_778.0,
                execve: 1.0,
                forks: 0.0,
                top: vec![("read".into(), 48_833.0, 0.96)],
            }),
            ..base()
        };
        let kinds: Vec<BottleneckKind> = classify(&m).iter().map(|b| b.kind).collect();
        assert_eq!(
            kinds,
            [BottleneckKind::IoBound, BottleneckKind::SyscallHeavy],
            "{kinds:?}"
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
