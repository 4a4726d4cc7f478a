//! Parsers for the `/proc` files perfkit reads. Each parser takes the file's text, so it can be
//! tested on fixtures; malformed text is an error value, never a panic.

use serde::{Deserialize, Serialize};

use crate::SysError;

/// The fields of `/proc/<pid>/stat` that perfkit uses (see `proc(5)`). Times are in clock ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStat {
    /// Process state letter (`R`, `S`, `D`, `Z`, ...).
    pub state: char,
    /// User-mode CPU time of the process (all threads), in ticks.
    pub utime: u64,
    /// Kernel-mode CPU time, in ticks.
    pub stime: u64,
    /// Number of threads.
    pub num_threads: u64,
    /// Resident set size in pages.
    pub rss_pages: u64,
    /// Aggregated block-I/O delay in ticks (0 unless delay accounting is enabled).
    pub blkio_ticks: u64,
}

/// Parses the text of `/proc/<pid>/stat`. The command name (field 2) may contain spaces and
/// parentheses, so fields are counted after the *last* `)`.
pub fn parse_stat(text: &str) -> Result<ProcStat, SysError> {
    let bad = |detail: &str| SysError::Parse {
        what: "/proc/<pid>/stat",
        detail: detail.to_string(),
    };
    let close = text
        .rfind(')')
        .ok_or_else(|| bad("no ')' after the command name"))?;
    let fields: Vec<&str> = text[close + 1..].split_ascii_whitespace().collect();
    // fields[0] is field 3 (state); field N is fields[N - 3].
    let field = |n: usize| -> Result<u64, SysError> {
        fields
            .get(n - 3)
            .ok_or_else(|| bad(&format!("missing field {n}")))?
            .parse::<u64>()
            .map_err(|_| bad(&format!("field {n} is not a number")))
    };
    let state = fields
        .first()
        .and_then(|s| s.chars().next())
        .ok_or_else(|| bad("missing state"))?;
    Ok(ProcStat {
        state,
        utime: field(14)?,
        stime: field(15)?,
        num_threads: field(20)?,
        rss_pages: field(24)?,
        // Field 42 exists since Linux 2.6.18; treat its absence as "no delay recorded".
        blkio_ticks: if fields.len() >= 40 { field(42)? } else { 0 },
    })
}

/// I/O counters of `/proc/<pid>/io`. They include the process's reaped children.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoCounters {
    /// Bytes passed to `read`-like system calls (including page-cache hits).
    pub rchar: u64,
    /// Bytes passed to `write`-like system calls.
    pub wchar: u64,
    /// Read system calls.
    pub syscr: u64,
    /// Write system calls.
    pub syscw: u64,
    /// Bytes really fetched from storage.
    pub read_bytes: u64,
    /// Bytes sent (or to be sent) to storage.
    pub write_bytes: u64,
    /// Written bytes that were truncated away before reaching storage.
    pub cancelled_write_bytes: u64,
}

/// Parses the text of `/proc/<pid>/io`. Every field must be present.
pub fn parse_io(text: &str) -> Result<IoCounters, SysError> {
    let mut io = IoCounters::default();
    let mut seen = 0u8;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (key, value) = line.split_once(':').ok_or_else(|| SysError::Parse {
            what: "/proc/<pid>/io",
            detail: format!("line without ':': {line:?}"),
        })?;
        let value: u64 = value.trim().parse().map_err(|_| SysError::Parse {
            what: "/proc/<pid>/io",
            detail: format!("{key} is not a number"),
        })?;
        let (slot, bit) = match key.trim() {
            "rchar" => (&mut io.rchar, 0),
            "wchar" => (&mut io.wchar, 1),
            "syscr" => (&mut io.syscr, 2),
            "syscw" => (&mut io.syscw, 3),
            "read_bytes" => (&mut io.read_bytes, 4),
            "write_bytes" => (&mut io.write_bytes, 5),
            "cancelled_write_bytes" => (&mut io.cancelled_write_bytes, 6),
            _ => continue,
        };
        *slot = value;
        seen |= 1 << bit;
    }
    if seen != 0x7f {
        return Err(SysError::Parse {
            what: "/proc/<pid>/io",
            detail: "missing fields".to_string(),
        });
    }
    Ok(io)
}

/// Parses `VmRSS` and `VmHWM` (peak RSS) from `/proc/<pid>/status`, in bytes. A zombie has
/// neither; they are then `None`.
pub fn parse_status_memory(text: &str) -> Result<(Option<u64>, Option<u64>), SysError> {
    let mut rss = None;
    let mut hwm = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let target = match key {
            "VmRSS" => &mut rss,
            "VmHWM" => &mut hwm,
            _ => continue,
        };
        let kib = value
            .trim()
            .strip_suffix("kB")
            .map(str::trim)
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| SysError::Parse {
                what: "/proc/<pid>/status",
                detail: format!("{key} is not '<n> kB'"),
            })?;
        *target = Some(kib.saturating_mul(1024));
    }
    Ok((rss, hwm))
}

/// System-wide CPU time counters of the `cpu` line of `/proc/stat`, in ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// Time spent idle (not counting `iowait`).
    pub idle: u64,
    /// Time spent waiting for I/O with nothing else to run.
    pub iowait: u64,
    /// Sum of every column (user, nice, system, idle, iowait, irq, softirq, steal).
    pub total: u64,
}

/// Parses the aggregate `cpu` line of `/proc/stat`.
pub fn parse_cpu_times(text: &str) -> Result<CpuTimes, SysError> {
    let bad = |detail: &str| SysError::Parse {
        what: "/proc/stat",
        detail: detail.to_string(),
    };
    let line = text
        .lines()
        .find(|l| l.split_ascii_whitespace().next() == Some("cpu"))
        .ok_or_else(|| bad("no aggregate 'cpu' line"))?;
    let values: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .take(8) // guest times are already included in user/nice
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| bad("a 'cpu' column is not a number"))?;
    if values.len() < 5 {
        return Err(bad("the 'cpu' line has fewer than 5 columns"));
    }
    Ok(CpuTimes {
        idle: values[3],
        iowait: values[4],
        total: values.iter().sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real output, captured on Linux 6.18 from a zombie `sh` that ran `head` and `cat`.
    const STAT: &str = "16793 (sh) Z 16752 16750 1055 0 -1 4227084 62 183 1 1 0 0 0 0 20 0 1 0 117366 0 0 18446744073709551615 0 0 0 0 0 0 0 0 65538 1 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
    const IO: &str = "rchar: 6017932\nwchar: 6000000\nsyscr: 419\nsyscw: 755\nread_bytes: 241664\nwrite_bytes: 3010560\ncancelled_write_bytes: 0\n";

    #[test]
    fn stat_of_a_zombie() {
        let s = parse_stat(STAT).unwrap();
        assert_eq!(s.state, 'Z');
        assert_eq!(
            (s.utime, s.stime, s.num_threads, s.rss_pages, s.blkio_ticks),
            (0, 0, 1, 0, 0)
        );
    }

    #[test]
    fn stat_with_parentheses_in_the_name() {
        let text = STAT.replace("(sh)", "(a) b (c))");
        assert_eq!(parse_stat(&text).unwrap().state, 'Z');
        assert!(parse_stat("123 (x R 1 2").is_err());
        assert!(parse_stat("").is_err());
    }

    #[test]
    fn io_counters() {
        let io = parse_io(IO).unwrap();
        assert_eq!(io.rchar, 6_017_932);
        assert_eq!(io.write_bytes, 3_010_560);
        assert!(parse_io("rchar: 1\n").is_err());
        assert!(parse_io(&IO.replace("419", "x")).is_err());
    }

    #[test]
    fn status_memory() {
        let text = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(
            parse_status_memory(text).unwrap(),
            (Some(1 << 20), Some(2 << 20))
        );
        assert_eq!(
            parse_status_memory("State:\tZ (zombie)\n").unwrap(),
            (None, None)
        );
        assert!(parse_status_memory("VmRSS:\tlots\n").is_err());
    }

    #[test]
    fn cpu_times() {
        let t = parse_cpu_times("cpu  10 0 5 100 7 0 1 0 0 0\ncpu0 1 2 3 4 5\n").unwrap();
        assert_eq!(
            t,
            CpuTimes {
                idle: 100,
                iowait: 7,
                total: 123
            }
        );
        assert!(parse_cpu_times("cpu0 1 2 3\n").is_err());
    }
}
