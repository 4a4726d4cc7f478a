//! `perfkit doctor`: is this machine (and this binary) ready for performance work? Each check
//! says what it found and, when something is in the way, how to fix it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::llvm;
use crate::perf::PerfEnvironment;
use crate::tool::Tool;

/// Version of the doctor report format.
pub const DOCTOR_SCHEMA_VERSION: u32 = 1;

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Ready.
    Ok,
    /// Worth knowing; nothing to fix.
    Note,
    /// Works, but measurements or profiles will suffer.
    Warn,
    /// Something perfkit needs is missing or forbidden.
    Problem,
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// What was checked.
    pub topic: String,
    /// How it came out.
    pub status: Status,
    /// What was found.
    pub finding: String,
    /// How to fix it, when there is something to fix.
    pub fix: Option<String>,
}

/// Every check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// Format version, [`DOCTOR_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The checks, in report order.
    pub checks: Vec<Check>,
}

impl Diagnosis {
    /// A line per check, its status first, and the fix under it when there is one. Topics
    /// longer than 100 characters overflow their column rather than widen every row.
    #[must_use]
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let width = (self.checks.iter())
            .map(|c| c.topic.chars().count())
            .max()
            .unwrap_or(0)
            .min(100);
        let mut out = String::new();
        for c in &self.checks {
            let mark = match c.status {
                Status::Ok => "ok     ",
                Status::Note => "note   ",
                Status::Warn => "WARN   ",
                Status::Problem => "PROBLEM",
            };
            let _ = writeln!(out, "{mark}  {:width$}  {}", c.topic, c.finding);
            if let Some(fix) = &c.fix {
                let _ = writeln!(out, "{:7}  {:width$}  fix: {fix}", "", "");
            }
        }
        out
    }

    /// The worst status of any check.
    #[must_use]
    pub fn worst(&self) -> Status {
        let rank = |s: Status| match s {
            Status::Ok => 0,
            Status::Note => 1,
            Status::Warn => 2,
            Status::Problem => 3,
        };
        self.checks
            .iter()
            .map(|c| c.status)
            .max_by_key(|s| rank(*s))
            .unwrap_or(Status::Ok)
    }
}

fn check(topic: &str, status: Status, finding: impl Into<String>, fix: Option<&str>) -> Check {
    Check {
        topic: topic.to_string(),
        status,
        finding: finding.into(),
        fix: fix.map(str::to_string),
    }
}

fn read_trimmed(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Runs every check (about half a second: perf is run twice and the CPU load is sampled for
/// 200 ms). With `binary`, also checks it for debug info and frame pointers.
#[must_use]
pub fn diagnose(binary: Option<&Path>) -> Diagnosis {
    let mut checks = Vec::new();
    perf_checks(&mut checks);
    for tool in [Tool::Strace, Tool::Ltrace, Tool::Valgrind] {
        checks.push(match tool.locate() {
            Ok(info) => check(
                tool.program(),
                Status::Ok,
                format!("{} ({})", info.version.raw, info.path.display()),
                None,
            ),
            Err(e) => check(
                tool.program(),
                Status::Problem,
                e.to_string(),
                Some(tool.install_hint()),
            ),
        });
    }
    checks.push(profdata_check());
    checks.extend(machine_checks());
    if let Some(binary) = binary {
        checks.extend(binary_checks(binary));
    }
    Diagnosis {
        schema_version: DOCTOR_SCHEMA_VERSION,
        checks,
    }
}

fn perf_checks(checks: &mut Vec<Check>) {
    let env = match PerfEnvironment::detect() {
        Ok(env) => env,
        Err(e) => {
            checks.push(check(
                "perf",
                Status::Problem,
                e.to_string(),
                Some(Tool::Perf.install_hint()),
            ));
            return;
        }
    };
    let works = Command::new(&env.perf.path)
        .args(["stat", "-x,", "-e", "task-clock", "--", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    checks.push(if works {
        check(
            "perf",
            Status::Ok,
            format!("{} ({}) counts events", env.perf.version.raw, env.perf.path.display()),
            None,
        )
    } else {
        check(
            "perf",
            Status::Problem,
            format!("{} is installed but `perf stat -e task-clock true` fails", env.perf.path.display()),
            Some("run it by hand to see why; on Ubuntu install linux-tools-$(uname -r) for this kernel"),
        )
    });
    let paranoid_fix = "sudo sysctl kernel.perf_event_paranoid=1 (or: sudo perfkit tune --profile profiling --apply)";
    checks.push(match (env.paranoid, env.root) {
        (Some(p), true) => check(
            "perf_event_paranoid",
            Status::Ok,
            format!("{p}, but perfkit runs as root: no restriction"),
            None,
        ),
        (Some(p), false) if p <= 1 => check(
            "perf_event_paranoid",
            Status::Ok,
            format!("{p}: kernel and user samples allowed"),
            None,
        ),
        (Some(2), false) => check(
            "perf_event_paranoid",
            Status::Warn,
            "2: as a normal user, perf records user space only (no kernel frames, no -a)",
            Some(paranoid_fix),
        ),
        (Some(p), false) => check(
            "perf_event_paranoid",
            Status::Problem,
            format!("{p}: a normal user may not profile at all"),
            Some(paranoid_fix),
        ),
        (None, _) => check("perf_event_paranoid", Status::Note, "not readable", None),
    });
    checks.push(
        match perfkit_sys::tune::Sysctl::value("kernel.kptr_restrict").as_deref() {
            Some("0") => check(
                "kptr_restrict",
                Status::Ok,
                "0: kernel symbols resolve in profiles",
                None,
            ),
            Some("1") if env.root => check(
                "kptr_restrict",
                Status::Ok,
                "1, but root sees kernel symbols",
                None,
            ),
            Some(v) => check(
                "kptr_restrict",
                Status::Warn,
                format!("{v}: kernel frames in profiles show as addresses, not names"),
                Some("sudo sysctl kernel.kptr_restrict=0"),
            ),
            None => check("kptr_restrict", Status::Note, "not readable", None),
        },
    );
    checks.push(if env.hardware_events {
        check("hardware counters", Status::Ok, "cycles and instructions can be counted", None)
    } else {
        check(
            "hardware counters",
            Status::Warn,
            "none (a VM without a virtual PMU?): perf stat shows cycles/instructions as not supported, and perfkit samples the cpu-clock software event",
            Some("for cycle and cache counts, measure on bare metal or a VM with a virtual PMU"),
        )
    });
}

fn profdata_check() -> Check {
    let rustc = match llvm::rustc() {
        Ok(r) => r,
        Err(e) => {
            return check(
                "llvm-profdata",
                Status::Note,
                format!("no rustc to compare with: {e}"),
                None,
            );
        }
    };
    match llvm::find_profdata(&rustc) {
        Ok(path) => check(
            "llvm-profdata",
            Status::Ok,
            format!(
                "{} is LLVM {}, like rustc {} (cargo xtask pgo works)",
                path.display(),
                llvm::profdata_version(&path).map_or_else(|| "?".into(), |v| v.0),
                rustc.release
            ),
            None,
        ),
        Err(e) => check(
            "llvm-profdata",
            Status::Warn,
            e.to_string(),
            Some(&format!(
                "apt-get install llvm-{} (only needed for PGO builds)",
                rustc.llvm_major
            )),
        ),
    }
}

fn machine_checks() -> Vec<Check> {
    let mut out = Vec::new();
    let cpu = "/sys/devices/system/cpu";
    out.push(
        match read_trimmed(format!("{cpu}/cpu0/cpufreq/scaling_governor")) {
            Some(g) if g == "performance" => check("CPU governor", Status::Ok, "performance", None),
            Some(g) => check(
                "CPU governor",
                Status::Warn,
                format!(
                    "{g}: the clock follows the load, so the first runs of a benchmark are slower"
                ),
                Some("sudo cpupower frequency-set -g performance"),
            ),
            None => check(
                "CPU governor",
                Status::Note,
                "not visible (in a VM the host decides)",
                None,
            ),
        },
    );
    let no_turbo = read_trimmed(format!("{cpu}/intel_pstate/no_turbo"));
    let boost = read_trimmed(format!("{cpu}/cpufreq/boost"));
    out.push(match (no_turbo.as_deref(), boost.as_deref()) {
        (Some("0"), _) | (_, Some("1")) => check(
            "turbo",
            Status::Warn,
            "on: the clock depends on temperature and on the other cores' load",
            Some("for stable numbers: echo 1 | sudo tee /sys/devices/system/cpu/intel_pstate/no_turbo (Intel) or echo 0 | sudo tee /sys/devices/system/cpu/cpufreq/boost"),
        ),
        (Some(_), _) | (_, Some(_)) => check("turbo", Status::Ok, "off", None),
        _ => check("turbo", Status::Note, "not visible (in a VM the host decides)", None),
    });
    out.push(virtualization());
    out.push(load());
    out.push(match read_trimmed("/sys/kernel/mm/transparent_hugepage/enabled") {
        Some(t) if t.contains("[always]") => check(
            "transparent huge pages",
            Status::Note,
            format!("{t}: faster for big heaps, but compaction can add latency spikes"),
            Some("for latency benchmarks: echo madvise | sudo tee /sys/kernel/mm/transparent_hugepage/enabled"),
        ),
        Some(t) => check("transparent huge pages", Status::Ok, t, None),
        None => check("transparent huge pages", Status::Note, "not visible", None),
    });
    out
}

fn virtualization() -> Check {
    let dmi = |f: &str| read_trimmed(format!("/sys/class/dmi/id/{f}")).unwrap_or_default();
    let vendor = format!("{} {}", dmi("sys_vendor"), dmi("product_name"));
    let hypervisor = std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|c| {
        c.lines()
            .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "hypervisor"))
    });
    let known = [
        "QEMU",
        "KVM",
        "VMware",
        "VirtualBox",
        "Xen",
        "Amazon EC2",
        "Google",
        "Microsoft",
        "Firecracker",
    ];
    let name = known.iter().find(|k| vendor.contains(*k));
    match (hypervisor, name) {
        (false, None) => check(
            "virtualization",
            Status::Ok,
            "bare metal (no hypervisor flag)",
            None,
        ),
        (_, Some(n)) => check(
            "virtualization",
            Status::Note,
            format!(
                "a VM ({n}): expect noisy neighbours, steal time and no hardware counters; compare ratios within one run"
            ),
            None,
        ),
        (true, None) => check(
            "virtualization",
            Status::Note,
            "a VM (hypervisor flag set): expect noisy neighbours and steal time; compare ratios within one run",
            None,
        ),
    }
}

/// CPU time of all CPUs from `/proc/stat`: (busy, total) jiffies, steal counted as busy.
/// Busy and total ticks of all CPUs since boot.
fn cpu_times() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let t = perfkit_sys::procfs::parse_cpu_times(&stat).ok()?;
    Some((t.total - t.idle - t.iowait, t.total))
}

fn load() -> Check {
    let before = cpu_times();
    std::thread::sleep(Duration::from_millis(200));
    let after = cpu_times();
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    match (before, after) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
            let busy = (b1 - b0) as f64 / (t1 - t0) as f64 * 100.0;
            if busy > 10.0 {
                check(
                    "other load",
                    Status::Warn,
                    format!(
                        "{busy:.0}% of {cpus} CPUs busy right now with other work: benchmarks will be noisy"
                    ),
                    Some(
                        "find it with `top`; wait for it, or pin the benchmark (taskset) away from it",
                    ),
                )
            } else {
                check(
                    "other load",
                    Status::Ok,
                    format!("{busy:.0}% of {cpus} CPUs busy: quiet"),
                    None,
                )
            }
        }
        _ => check(
            "other load",
            Status::Note,
            "not measurable (/proc/stat)",
            None,
        ),
    }
}

/// What an ELF file says about debug info and frame pointers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinaryInfo {
    /// Has `.debug_info` or `.debug_line`.
    pub debug_info: bool,
    /// Has `.symtab` (not stripped).
    pub symbols: bool,
    /// Function symbols in `.symtab`.
    pub functions: usize,
    /// Frame-pointer set-ups (`mov %rsp,%rbp`) in `.text` (x86-64 only).
    pub frame_pointer_prologues: usize,
}

/// Reads the section table of a 64-bit little-endian ELF file. `None` for anything else
/// (another format, a truncated or corrupt file).
#[must_use]
pub fn inspect_elf(bytes: &[u8]) -> Option<BinaryInfo> {
    let field = |o: usize, n: usize| bytes.get(o..o.checked_add(n)?);
    let u16_at = |o: usize| Some(u16::from_le_bytes(field(o, 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(field(o, 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(field(o, 8)?.try_into().ok()?));
    if bytes.get(..4)? != b"\x7fELF" || *bytes.get(4)? != 2 || *bytes.get(5)? != 1 {
        return None;
    }
    let machine = u16_at(18)?;
    let shoff = usize::try_from(u64_at(40)?).ok()?;
    let shentsize = usize::from(u16_at(58)?);
    let shnum = usize::from(u16_at(60)?);
    let shstrndx = usize::from(u16_at(62)?);
    if shentsize < 64 || shnum == 0 {
        return None;
    }
    let section = |i: usize| -> Option<(u32, u32, usize, usize, usize)> {
        let base = shoff.checked_add(i.checked_mul(shentsize)?)?;
        let name = u32_at(base)?;
        // A section header is 64 bytes: the offsets below cannot overflow once its end does not.
        base.checked_add(64)?;
        let kind = u32_at(base + 4)?;
        let offset = usize::try_from(u64_at(base + 24)?).ok()?;
        let size = usize::try_from(u64_at(base + 32)?).ok()?;
        let entsize = usize::try_from(u64_at(base + 56)?).ok()?;
        Some((name, kind, offset, size, entsize))
    };
    let (_, _, strtab_off, strtab_size, _) = section(shstrndx)?;
    let names = bytes.get(strtab_off..strtab_off.checked_add(strtab_size)?)?;
    let name_of = |n: u32| -> Option<&str> {
        let rest = names.get(n as usize..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        std::str::from_utf8(&rest[..end]).ok()
    };
    let mut info = BinaryInfo {
        debug_info: false,
        symbols: false,
        functions: 0,
        frame_pointer_prologues: 0,
    };
    for i in 0..shnum {
        let (name, kind, offset, size, entsize) = section(i)?;
        let data = || bytes.get(offset..offset.checked_add(size)?);
        match name_of(name) {
            Some(".debug_info" | ".debug_line") => info.debug_info = true,
            Some(".symtab") if kind == 2 && entsize >= 24 => {
                info.symbols = true;
                if let Some(table) = data() {
                    // st_info's low nibble is the type; 2 = STT_FUNC.
                    info.functions = table
                        .chunks_exact(entsize)
                        .filter(|s| s[4] & 0xf == 2)
                        .count();
                }
            }
            // x86-64: `mov %rsp,%rbp` (48 89 e5) sets up a frame pointer and is used for
            // nothing else; compilers schedule it a few instructions after `push %rbp`.
            Some(".text") if machine == 62 => {
                if let Some(text) = data() {
                    info.frame_pointer_prologues =
                        text.windows(3).filter(|w| *w == [0x48, 0x89, 0xe5]).count();
                }
            }
            _ => {}
        }
    }
    Some(info)
}

fn binary_checks(binary: &Path) -> Vec<Check> {
    let topic = format!("binary {}", binary.display());
    // Only a file can be a program; reading a device (/dev/zero) would never end.
    if let Ok(meta) = std::fs::metadata(binary)
        && !meta.is_file()
    {
        return vec![check(
            &topic,
            Status::Problem,
            "not a regular file: give the path of a program".to_owned(),
            None,
        )];
    }
    let bytes = match std::fs::read(binary) {
        Ok(b) => b,
        Err(e) => {
            return vec![check(
                &topic,
                Status::Problem,
                format!("cannot read it: {e}"),
                None,
            )];
        }
    };
    let Some(info) = inspect_elf(&bytes) else {
        return vec![check(
            &topic,
            Status::Problem,
            "not a 64-bit little-endian ELF file",
            None,
        )];
    };
    let mut out = Vec::new();
    out.push(if info.debug_info {
        check("debug info", Status::Ok, "present: profiles name functions, files and lines (inlined frames too)", None)
    } else if info.symbols {
        check(
            "debug info",
            Status::Warn,
            "none, but symbols: profiles name functions, not lines; `perfkit heap` cannot name files",
            Some("in Cargo.toml: [profile.release] debug = \"line-tables-only\""),
        )
    } else {
        check(
            "debug info",
            Status::Problem,
            "stripped: profiles will show addresses only",
            Some("don't strip (strip = false) and set [profile.release] debug = \"line-tables-only\""),
        )
    });
    let share = if info.functions > 0 {
        info.frame_pointer_prologues as f64 / info.functions as f64
    } else {
        0.0
    };
    out.push(if info.frame_pointer_prologues == 0 && info.functions == 0 {
        check("frame pointers", Status::Note, "unknown (no symbol table, or not x86-64)", None)
    } else if share >= 0.5 {
        check(
            "frame pointers",
            Status::Ok,
            format!("{} frame-pointer prologues for {} functions: perf's fp call graphs work", info.frame_pointer_prologues, info.functions),
            None,
        )
    } else {
        check(
            "frame pointers",
            Status::Note,
            format!(
                "{} frame-pointer prologues for {} functions: mostly omitted, so call graphs need DWARF unwinding (perfkit record's default)",
                info.frame_pointer_prologues, info.functions
            ),
            Some("for cheap fp call graphs: RUSTFLAGS=\"-C force-frame-pointers=yes\""),
        )
    });
    out
}
