//! Shared by the tests of perfkit-profilers, perfkit-analyze and perfkit-cli: the workload
//! program (compiled once with rustc, like a user's release build) and the rule for missing
//! tools.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workload's source.
pub(crate) fn workload_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../perfkit-profilers/tests/programs/workload.rs")
}

fn rustc() -> PathBuf {
    // Prefer the rustc of the toolchain running the tests.
    if let Some(cargo) = std::env::var_os("CARGO") {
        let candidate = Path::new(&cargo).with_file_name("rustc");
        if candidate.is_file() {
            return candidate;
        }
    }
    PathBuf::from("rustc")
}

/// The workload binary: optimised, line tables, no frame pointers (a typical release build).
/// Rebuilt when the source is newer.
pub(crate) fn workload() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let source = workload_source();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("perfkit-workload");
        std::fs::create_dir_all(&dir).expect("create the workload directory");
        let binary = dir.join("workload");
        let fresh = |b: &Path| {
            let built = std::fs::metadata(b).and_then(|m| m.modified());
            let written = std::fs::metadata(&source).and_then(|m| m.modified());
            matches!((built, written), (Ok(b), Ok(w)) if b >= w)
        };
        if !fresh(&binary) {
            let staging = dir.join(format!("workload.{}", std::process::id()));
            let status = Command::new(rustc())
                .args([
                    "--edition",
                    "2021",
                    "-C",
                    "opt-level=2",
                    "-C",
                    "debuginfo=line-tables-only",
                ])
                .arg("-o")
                .arg(&staging)
                .arg(&source)
                .status()
                .expect("run rustc to build the workload");
            assert!(status.success(), "rustc failed to build the workload");
            std::fs::rename(&staging, &binary).expect("move the workload into place");
        }
        binary
    })
}

/// Whether `program` is installed. Without it the test is skipped with a printed reason,
/// except under `PERFKIT_REQUIRE_TOOLS=1` (CI), where a missing tool fails the test.
pub(crate) fn have(program: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    if !found {
        assert!(
            std::env::var_os("PERFKIT_REQUIRE_TOOLS").is_none_or(|v| v != "1"),
            "{program} is required (PERFKIT_REQUIRE_TOOLS=1) but not installed"
        );
        eprintln!("skipping: {program} is not installed");
    }
    found
}

/// perf that can actually record here (installed, and the kernel lets us).
pub(crate) fn have_perf() -> bool {
    if !have("perf") {
        return false;
    }
    let ok = Command::new("perf")
        .args([
            "record",
            "-q",
            "-e",
            "cpu-clock",
            "-o",
            "/dev/null",
            "--",
            "true",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("PERFKIT_REQUIRE_TOOLS").is_none_or(|v| v != "1"),
            "perf is installed but cannot record here (PERFKIT_REQUIRE_TOOLS=1)"
        );
        eprintln!("skipping: perf cannot record here (perf_event_paranoid?)");
    }
    ok
}

/// The command lines of the processes whose command line contains `marker`, once they have had
/// up to two seconds to go away (killing is asynchronous). Tests that kill process trees put a
/// number no other test uses in the program's arguments and expect this to be empty.
pub(crate) fn survivors(marker: &str) -> Vec<String> {
    let scan = || -> Vec<String> {
        std::fs::read_dir("/proc")
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
                    .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                    .filter(|c| c.contains(marker))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut left = scan();
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        left = scan();
    }
    left
}

/// Whether a `sleep` process with `marker` in its command line runs.
pub(crate) fn sleep_is_running(marker: &str) -> bool {
    std::fs::read_dir("/proc").is_ok_and(|entries| {
        entries.flatten().any(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "sleep")
                && std::fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
        })
    })
}
