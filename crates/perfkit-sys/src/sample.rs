//! Sample a running process: CPU %, RSS and I/O wait over an interval.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::SysError;

/// What a process did during one sampling interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcessSample {
    /// The sampled process.
    pub pid: u32,
    /// The interval actually measured.
    #[serde(rename = "interval_ns", with = "perfkit_metrics::serde_ns")]
    pub interval: Duration,
    /// CPU time of all its threads as a percentage of the interval (100% = one busy core).
    pub cpu_percent: f64,
    /// Resident set size at the end of the interval, in bytes.
    pub rss_bytes: u64,
    /// Peak resident set size so far (`VmHWM`), in bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Share of the interval the process spent waiting for block I/O, in percent; `None`
    /// unless the kernel's delay accounting is on (`sysctl kernel.task_delayacct=1`).
    pub io_wait_percent: Option<f64>,
    /// System-wide share of CPU time spent idle waiting for I/O (`/proc/stat` iowait), in
    /// percent of all CPUs' time.
    pub system_iowait_percent: Option<f64>,
}

/// Samples process `pid` for `interval` (blocking for that long) and reports its CPU use, RSS
/// and I/O wait.
///
/// ```
/// use std::time::Duration;
/// let me = std::process::id();
/// let s = perfkit_sys::sample_process(me, Duration::from_millis(20)).unwrap();
/// assert!(s.rss_bytes > 0);
/// ```
#[cfg(target_os = "linux")]
pub fn sample_process(pid: u32, interval: Duration) -> Result<ProcessSample, SysError> {
    use crate::procfs::{parse_cpu_times, parse_stat, parse_status_memory};

    let read = |path: String| -> Result<String, SysError> {
        std::fs::read_to_string(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                SysError::NoSuchProcess { pid }
            } else {
                SysError::Proc { path, source }
            }
        })
    };
    let stat_path = format!("/proc/{pid}/stat");
    let system = || {
        std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|t| parse_cpu_times(&t).ok())
    };

    let before = parse_stat(&read(stat_path.clone())?)?;
    let system_before = system();
    let start = Instant::now();
    std::thread::sleep(interval);
    let after = parse_stat(&read(stat_path)?)?;
    let system_after = system();
    let elapsed = start.elapsed();
    let (rss, peak) = parse_status_memory(&read(format!("/proc/{pid}/status"))?)?;

    let ticks = |t: u64| crate::process::ticks_to_duration(t).as_secs_f64();
    let secs = elapsed.as_secs_f64();
    let percent = |part: f64| if secs > 0.0 { part / secs * 100.0 } else { 0.0 };
    let cpu = ticks((after.utime + after.stime).saturating_sub(before.utime + before.stime));
    let io_wait_percent = crate::delay_accounting_enabled()
        .then(|| percent(ticks(after.blkio_ticks.saturating_sub(before.blkio_ticks))));
    let system_iowait_percent = match (system_before, system_after) {
        (Some(a), Some(b)) if b.total > a.total => {
            Some((b.iowait.saturating_sub(a.iowait)) as f64 / (b.total - a.total) as f64 * 100.0)
        }
        _ => None,
    };
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .unwrap_or(4096);
    Ok(ProcessSample {
        pid,
        interval: elapsed,
        cpu_percent: percent(cpu),
        rss_bytes: rss.unwrap_or(after.rss_pages.saturating_mul(page)),
        peak_rss_bytes: peak,
        io_wait_percent,
        system_iowait_percent,
    })
}

/// Unsupported outside Linux.
#[cfg(not(target_os = "linux"))]
pub fn sample_process(_pid: u32, _interval: Duration) -> Result<ProcessSample, SysError> {
    Err(SysError::Unsupported {
        what: "sampling a process",
    })
}
