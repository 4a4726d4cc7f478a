//! `perfkit tune` end to end on a temporary sysctl tree (`--sysctl-root`), and read-only on
//! the live /proc/sys.

use std::path::Path;

use perfkit_testkit::perfkit;
use predicates::prelude::*;

fn tree(dir: &Path) {
    perfkit_testkit::write_sysctl_tree(
        dir,
        &[
            ("fs.file-max", "9223372036854775807"),
            ("net.ipv4.tcp_fin_timeout", "60"),
            ("net.ipv4.tcp_tw_reuse", "2"),
            ("kernel.pid_max", "32768"),
        ],
    );
}

#[test]
fn plan_apply_and_rollback_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sys");
    tree(&root);
    let root_arg = root.to_str().unwrap();
    perfkit()
        .args(["tune", "--profile", "minimal", "--sysctl-root", root_arg])
        .assert()
        .success()
        .stdout(predicate::str::contains("fs.file-max"))
        .stdout(predicate::str::contains("would lower this limit"))
        .stdout(predicate::str::contains(
            "--allow-lower lets the profile lower",
        ))
        .stdout(predicate::str::contains(
            "3 changes planned; nothing was written",
        ));
    assert_eq!(
        std::fs::read_to_string(root.join("kernel/pid_max")).unwrap(),
        "32768\n"
    );

    let rollback = dir.path().join("rb.json");
    let rollback_arg = rollback.to_str().unwrap();
    perfkit()
        .args([
            "tune",
            "--profile",
            "minimal",
            "--apply",
            "--sysctl-root",
            root_arg,
        ])
        .args(["--rollback-file", rollback_arg])
        .assert()
        .success()
        .stdout(predicate::str::contains("changed 3 parameters"))
        .stdout(predicate::str::contains(format!(
            "perfkit tune rollback {rollback_arg}"
        )));
    assert_eq!(
        std::fs::read_to_string(root.join("kernel/pid_max")).unwrap(),
        "4194304\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("fs/file-max")).unwrap(),
        "9223372036854775807\n"
    );

    perfkit()
        .args(["tune", "rollback", rollback_arg, "--sysctl-root", root_arg])
        .assert()
        .success()
        .stdout(predicate::str::contains("3 parameters restored"));
    assert_eq!(
        std::fs::read_to_string(root.join("kernel/pid_max")).unwrap(),
        "32768\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("net/ipv4/tcp_tw_reuse")).unwrap(),
        "2\n"
    );
}

#[test]
fn a_parameter_missing_on_this_kernel_is_named_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sys");
    tree(&root);
    std::fs::remove_file(root.join("net/ipv4/tcp_tw_reuse")).unwrap();
    let rollback = dir.path().join("rb.json");
    perfkit()
        .args(["tune", "--profile", "minimal", "--apply", "--sysctl-root"])
        .arg(&root)
        .arg("--rollback-file")
        .arg(&rollback)
        .assert()
        .code(2)
        .stdout(predicate::str::contains("changed 2 parameters"))
        .stderr(predicate::str::contains(
            "not applied: net.ipv4.tcp_tw_reuse (not on this kernel)",
        ));
    assert_eq!(
        std::fs::read_to_string(root.join("kernel/pid_max")).unwrap(),
        "4194304\n"
    );
}

#[test]
fn bad_profiles_and_rollback_files_exit_2() {
    perfkit()
        .args(["tune", "--profile", "fast"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no tuning profile 'fast'"));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "nope").unwrap();
    perfkit()
        .args(["tune", "rollback", bad.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a perfkit rollback file"));
}

#[test]
fn the_live_plan_and_limits_read_without_writing() {
    if !Path::new("/proc/sys/kernel/pid_max").exists() {
        eprintln!("skipped: no /proc/sys");
        return;
    }
    let out = perfkit()
        .args(["tune", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["plan"]["profile"], "server");
    assert!(report["applied"].is_null());
    let entries = report["plan"]["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["name"] == "fs.file-max"));
    perfkit()
        .args(["tune", "--rlimits"])
        .assert()
        .success()
        .stdout(predicate::str::contains("RLIMIT_NOFILE"));
}
