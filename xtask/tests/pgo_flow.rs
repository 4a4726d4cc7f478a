//! `cargo xtask pgo` end to end on a tiny program (`tests/pgo-fixture`): instrumented build,
//! training (one run must exit 3), merge with the llvm-profdata of rustc's LLVM, optimised
//! build, verification. Needs that llvm-profdata (`apt-get install llvm-<major>`): skipped
//! without it, a failure under `PERFKIT_REQUIRE_TOOLS=1`.

use std::path::Path;
use std::process::Command;

fn llvm_major() -> u32 {
    let out = Command::new("rustc").arg("-vV").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version:"))
        .unwrap();
    version.trim().split('.').next().unwrap().parse().unwrap()
}

fn profdata_available(major: u32) -> bool {
    let name = format!("llvm-profdata-{major}");
    let dir = format!("/usr/lib/llvm-{major}/bin/llvm-profdata");
    std::env::var_os("LLVM_PROFDATA").is_some()
        || Path::new(&dir).exists()
        || Command::new(&name)
            .args(["merge", "--version"])
            .output()
            .is_ok()
}

#[test]
fn pgo_trains_merges_builds_and_verifies_a_small_program() {
    let major = llvm_major();
    if !profdata_available(major) {
        perfkit_testkit::skip(format!(
            "no llvm-profdata for LLVM {major} (apt-get install llvm-{major})"
        ));
        return;
    }
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile_dir();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["pgo", "--rounds", "5", "--workloads"])
        .arg(manifest_dir.join("tests/pgo-fixture/workloads.toml"))
        .arg("--target-dir")
        .arg(&work)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "xtask pgo failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stderr.contains("trained 'fail'"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("report.json")).unwrap()).unwrap();
    let profile = &report["profile"];
    assert_eq!(profile["profiles_merged"], 3, "{report:#}");
    assert!(
        profile["functions_covered"].as_u64().unwrap() > 0,
        "{report:#}"
    );
    assert!(
        profile["total_count"].as_u64().unwrap() > 1000,
        "{report:#}"
    );
    let hottest = profile["hottest"].as_array().unwrap();
    assert!(
        hottest
            .iter()
            .any(|h| h[0].as_str().unwrap().contains("pgo_fixture::")),
        "{report:#}"
    );
    // The optimised binary runs and gives the right answer.
    let optimised = report["optimised_binary"].as_str().unwrap();
    let primes = Command::new(optimised)
        .args(["sieve", "100"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&primes.stdout).trim(), "25");
    let verification = &report["verification"];
    assert_eq!(verification["rounds"], 5);
    assert!(verification["speedup_median"].as_f64().unwrap() > 0.0);
    std::fs::remove_dir_all(&work).unwrap();
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("xtask-pgo-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
