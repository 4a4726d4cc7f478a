//! `perfkit doctor`'s checks on this machine, and the ELF reader on real binaries made with gcc
//! (with and without frame pointers, stripped or not) and on garbage.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use perfkit_profilers::doctor::{Status, diagnose, inspect_elf};
use proptest::prelude::*;

#[test]
fn every_check_runs_and_says_how_to_fix_what_is_wrong() {
    let report = diagnose(None);
    let topics: Vec<&str> = report.checks.iter().map(|c| c.topic.as_str()).collect();
    let perf_found = report
        .checks
        .iter()
        .any(|c| c.topic == "perf" && c.status != Status::Problem);
    if perf_found {
        for wanted in ["perf_event_paranoid", "kptr_restrict", "hardware counters"] {
            assert!(topics.contains(&wanted), "{wanted} missing from {topics:?}");
        }
    }
    for wanted in [
        "perf",
        "strace",
        "ltrace",
        "valgrind",
        "llvm-profdata",
        "CPU governor",
        "turbo",
        "virtualization",
        "other load",
        "transparent huge pages",
    ] {
        if wanted != "perf_event_paranoid"
            && wanted != "kptr_restrict"
            && wanted != "hardware counters"
        {
            assert!(topics.contains(&wanted), "{wanted} missing from {topics:?}");
        }
    }
    for c in &report.checks {
        if matches!(c.status, Status::Warn | Status::Problem) {
            assert!(c.fix.is_some() || c.topic == "perf", "{c:?} has no fix");
        }
    }
    // The paranoid level reported is the kernel's.
    if let Ok(level) = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        && let Some(c) = report
            .checks
            .iter()
            .find(|c| c.topic == "perf_event_paranoid")
    {
        assert!(c.finding.starts_with(level.trim()), "{c:?}");
    }
    if perfkit_testkit::tools_required() {
        for tool in ["perf", "strace", "ltrace", "valgrind"] {
            let c = report.checks.iter().find(|c| c.topic == tool).unwrap();
            assert_eq!(c.status, Status::Ok, "{c:?}");
        }
    }
}

fn gcc(dir: &Path, name: &str, flags: &[&str]) -> Option<Vec<u8>> {
    let source = dir.join("p.c");
    let mut program = String::new();
    for i in 0..40 {
        let _ = writeln!(
            program,
            "__attribute__((noinline)) int f{i}(int x) {{ volatile int a[8]; for (int k = 0; k < 8; k++) a[k] = x + k; return a[x & 7] + {i}; }}"
        );
    }
    program.push_str("int main(int c, char **v) { int s = 0;\n");
    for i in 0..40 {
        let _ = writeln!(program, "s += f{i}(c);");
    }
    program.push_str("return s & 1; }\n");
    std::fs::write(&source, program).ok()?;
    let out = dir.join(name);
    let status = Command::new("gcc")
        .args(flags)
        .arg(&source)
        .arg("-o")
        .arg(&out)
        .status()
        .ok()?;
    status.success().then(|| std::fs::read(&out).ok()).flatten()
}

#[test]
fn elf_debug_info_symbols_and_frame_pointers() {
    if !cfg!(target_arch = "x86_64") {
        eprintln!("skipped: frame-pointer prologues are read on x86-64 only");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(with_fp) = gcc(dir.path(), "fp", &["-O2", "-g", "-fno-omit-frame-pointer"]) else {
        perfkit_testkit::skip("gcc is not installed");
        return;
    };
    let without_fp = gcc(dir.path(), "nofp", &["-O2", "-fomit-frame-pointer"]).unwrap();
    let stripped = gcc(dir.path(), "stripped", &["-O2", "-s"]).unwrap();

    let a = inspect_elf(&with_fp).unwrap();
    assert!(a.debug_info && a.symbols, "{a:?}");
    assert!(a.frame_pointer_prologues >= 40, "{a:?}");
    let b = inspect_elf(&without_fp).unwrap();
    assert!(!b.debug_info && b.symbols, "{b:?}");
    assert!(b.frame_pointer_prologues < 5, "{b:?}");
    assert!(b.functions >= 40, "{b:?}");
    let c = inspect_elf(&stripped).unwrap();
    assert!(!c.debug_info && !c.symbols, "{c:?}");

    // Through the report: the same verdicts, with fixes.
    std::fs::write(dir.path().join("nofp"), &without_fp).unwrap();
    let report = diagnose(Some(&dir.path().join("nofp")));
    let debug = report
        .checks
        .iter()
        .find(|c| c.topic == "debug info")
        .unwrap();
    assert_eq!(debug.status, Status::Warn);
    assert!(debug.fix.as_deref().unwrap().contains("line-tables-only"));
    let fp = report
        .checks
        .iter()
        .find(|c| c.topic == "frame pointers")
        .unwrap();
    assert!(fp.finding.contains("mostly omitted"), "{fp:?}");
}

#[test]
fn not_an_elf_file_is_a_problem_not_a_panic() {
    assert!(inspect_elf(b"#!/bin/sh\necho hi\n").is_none());
    let report = diagnose(Some(Path::new("/nonexistent/binary")));
    let last = report.checks.last().unwrap();
    assert_eq!(last.status, Status::Problem);
    assert!(last.finding.contains("cannot read"));
}

proptest! {
    #[test]
    fn corrupt_elf_files_never_panic(cut in 0usize..20_000, at in 0usize..20_000, byte in any::<u8>()) {
        let real = std::fs::read("/bin/true").unwrap_or_default();
        if real.is_empty() {
            return Ok(());
        }
        let mut bytes = real[..cut.min(real.len())].to_vec();
        if let Some(b) = bytes.get_mut(at) {
            *b = byte;
        }
        let _ = inspect_elf(&bytes);
    }
}
