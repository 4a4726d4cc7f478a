//! What perfkit's tests share, as a dev-dependency of every crate that needs it:
//!
//! - the rule for missing tools: a test whose tool (or kernel feature) is missing is skipped
//!   with a printed reason, except under `PERFKIT_REQUIRE_TOOLS=1`, which `.ci/run` sets and
//!   where it fails instead ([`tools_required`], [`skip`], [`have`], [`have_perf`]);
//! - [`perfkit`]: the `perfkit` binary of this build, as a command;
//! - [`workload`]: a small Rust program built like a user's release build, whose hot
//!   functions and allocation sites the profiler tests know; [`c_program`]: C programs of
//!   `programs/` built with gcc (`heap_sites.c`: allocation sites of known sizes);
//! - fixtures: a sysctl tree ([`write_sysctl_tree`]) and the process checks of tests that kill
//!   process trees ([`survivors`], [`sleep_is_running`]).

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Whether missing tools fail tests instead of skipping them: `PERFKIT_REQUIRE_TOOLS=1`.
#[must_use]
pub fn tools_required() -> bool {
    std::env::var_os("PERFKIT_REQUIRE_TOOLS").is_some_and(|v| v == "1")
}

/// Skips the calling test for `reason` (printed), or fails it under
/// `PERFKIT_REQUIRE_TOOLS=1`. Returns `false`, for `if !found { return skip(...) }`-style use
/// in helpers that report availability.
///
/// # Panics
/// Under `PERFKIT_REQUIRE_TOOLS=1`.
pub fn skip(reason: impl Display) -> bool {
    assert!(
        !tools_required(),
        "{reason}, and PERFKIT_REQUIRE_TOOLS=1 requires it (.ci/run installs every tool)"
    );
    eprintln!("skipping: {reason}");
    false
}

/// Whether `program` is on `PATH`; when it is not, [`skip`].
#[must_use]
pub fn have(program: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    found || skip(format!("{program} is not installed"))
}

/// Whether perf is installed and the kernel lets it record here; when not, [`skip`].
#[must_use]
pub fn have_perf() -> bool {
    if !have("perf") {
        return false;
    }
    let records = Command::new("perf")
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
    records || skip("perf cannot record here (perf_event_paranoid?)")
}

/// The `perfkit` binary of this build, as an `assert_cmd` command. Only integration tests of
/// perfkit-cli can use it: cargo builds the binary for them.
///
/// # Panics
/// When the binary is not built.
#[must_use]
pub fn perfkit() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("perfkit").expect("the perfkit binary is built")
}

/// The path of the `perfkit` binary, for tests that need `std::process::Command` (a file as
/// standard input, a process group, a signal).
#[must_use]
pub fn perfkit_path() -> PathBuf {
    assert_cmd::cargo::cargo_bin("perfkit")
}

/// The workload's source.
#[must_use]
pub fn workload_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/workload.rs")
}

/// The directory of the running test binary's build profile (`target/debug`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("the test binary's directory");
    deps.parent().unwrap_or(deps).to_path_buf()
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
/// Built once per test binary, again when the source is newer.
///
/// # Panics
/// When rustc cannot build it.
#[must_use]
pub fn workload() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let source = workload_source();
        let dir = profile_dir().join("perfkit-workload");
        std::fs::create_dir_all(&dir).expect("create the workload directory");
        let binary = dir.join("workload");
        let fresh = |b: &Path| {
            let built = std::fs::metadata(b).and_then(|m| m.modified());
            let written = std::fs::metadata(&source).and_then(|m| m.modified());
            matches!((built, written), (Ok(b), Ok(w)) if b >= w)
        };
        if !fresh(&binary) {
            // Test binaries build it at the same time: each into its own name, then a rename.
            let staging = dir.join(format!("workload.{}", std::process::id()));
            let status = Command::new(rustc())
                .args(["--edition", "2021", "-C", "opt-level=2"])
                .args(["-C", "debuginfo=line-tables-only"])
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

/// The C program `programs/NAME.c` built with gcc, or the C++ program `programs/NAME.cpp`
/// built with g++ (`-O1 -g -pthread`, with the allocator builtins off so that every
/// allocation stays), once per test binary. `None` after [`skip`] when the compiler is
/// missing.
///
/// # Panics
/// When the compiler fails.
#[must_use]
pub fn c_program(name: &str) -> Option<PathBuf> {
    static BUILT: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let programs = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs");
    let cpp = programs.join(format!("{name}.cpp"));
    let (source, compiler) = if cpp.is_file() {
        (cpp, "g++")
    } else {
        (programs.join(format!("{name}.c")), "gcc")
    };
    if !have(compiler) {
        return None;
    }
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, path)) = built.iter().find(|(n, _)| n == name) {
        return Some(path.clone());
    }
    let dir = profile_dir().join("perfkit-workload");
    std::fs::create_dir_all(&dir).expect("create the workload directory");
    let binary = dir.join(name);
    // Test binaries build it at the same time: each into its own name, then a rename.
    let staging = dir.join(format!("{name}.{}", std::process::id()));
    let status = Command::new(compiler)
        .args(["-O1", "-g", "-pthread", "-Wall"])
        .args(["-fno-builtin-malloc", "-fno-builtin-calloc"])
        .args(["-fno-builtin-realloc", "-fno-builtin-free"])
        .arg("-o")
        .arg(&staging)
        .arg(&source)
        .status()
        .expect("run the compiler");
    assert!(
        status.success(),
        "the compiler failed to build {}",
        source.display()
    );
    std::fs::rename(&staging, &binary).expect("move the program into place");
    built.push((name.to_owned(), binary.clone()));
    Some(binary)
}

/// A sysctl tree as under `/proc/sys`, `(name with dots, value)` per entry, written below
/// `root` with a newline after each value, as the kernel prints them.
///
/// # Panics
/// When the files cannot be written.
pub fn write_sysctl_tree(root: &Path, entries: &[(&str, &str)]) {
    for (name, value) in entries {
        let path = root.join(name.replace('.', "/"));
        std::fs::create_dir_all(path.parent().expect("a sysctl has a directory"))
            .expect("create the sysctl directory");
        std::fs::write(&path, format!("{value}\n")).expect("write the sysctl");
    }
}

/// Defaults of a recent kernel for the sysctls perfkit tune knows.
pub const KERNEL_DEFAULTS: &[(&str, &str)] = &[
    ("fs.file-max", "9223372036854775807"),
    ("net.ipv4.tcp_fin_timeout", "60"),
    ("net.ipv4.tcp_tw_reuse", "2"),
    ("kernel.pid_max", "4194304"),
    ("fs.nr_open", "1048576"),
    ("net.core.somaxconn", "4096"),
    ("net.ipv4.ip_local_port_range", "32768\t60999"),
    ("vm.max_map_count", "65530"),
    ("fs.pipe-max-size", "1048576"),
    ("net.core.netdev_max_backlog", "1000"),
    ("kernel.perf_event_paranoid", "2"),
    ("kernel.kptr_restrict", "0"),
];

/// The command lines of the processes whose command line contains `marker`, once they have had
/// up to two seconds to go away (killing is asynchronous). Tests that kill process trees put a
/// number no other test uses in the program's arguments and expect this to be empty.
#[must_use]
pub fn survivors(marker: &str) -> Vec<String> {
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
#[must_use]
pub fn sleep_is_running(marker: &str) -> bool {
    std::fs::read_dir("/proc").is_ok_and(|entries| {
        entries.flatten().any(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "sleep")
                && std::fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
        })
    })
}
