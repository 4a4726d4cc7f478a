//! `perfkit copy` end to end: every destination kind, the report, and every error a user
//! can cause, each with exit code 2 and nothing half-written under the destination's name.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use perfkit_testkit::perfkit;
use predicates::prelude::*;
use serde_json::Value;

fn data(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 % 251) as u8).collect()
}

/// Files in `dir` other than `keep`: leftovers of a failed copy would show up here.
fn others(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| !keep.contains(&name.as_str()))
        .collect()
}

#[test]
fn copies_a_file_and_reports_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = data(3_000_007);
    std::fs::write(dir.path().join("src.bin"), &bytes).expect("write");
    let out = perfkit()
        .current_dir(dir.path())
        .args(["copy", "--json", "src.bin", "dst.bin"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&out).expect("JSON");
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["bytes"], 3_000_007);
    assert_eq!(report["method"], "copy-file-range");
    assert_eq!(report["source_kind"], "file");
    assert!(report["bytes_per_sec"].as_f64().expect("rate") > 0.0);
    assert_eq!(
        std::fs::read(dir.path().join("dst.bin")).expect("read"),
        bytes
    );
    assert!(others(dir.path(), &["src.bin", "dst.bin"]).is_empty());
}

#[test]
fn every_forced_method_copies_file_to_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = data(200_003);
    std::fs::write(dir.path().join("src"), &bytes).expect("write");
    for method in [
        "auto",
        "copy-file-range",
        "sendfile",
        "splice",
        "mmap",
        "read-write",
    ] {
        perfkit()
            .current_dir(dir.path())
            .args(["copy", "--method", method, "src", "dst"])
            .assert()
            .success()
            .stdout(predicate::str::contains("copied 195.3 KiB from src to dst"));
        assert_eq!(
            std::fs::read(dir.path().join("dst")).expect("read"),
            bytes,
            "{method}"
        );
    }
}

#[test]
fn into_a_directory_keeps_the_name_and_the_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("tool.sh");
    std::fs::write(&src, b"#!/bin/sh\necho hi\n").expect("write");
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o750)).expect("chmod");
    std::fs::create_dir(dir.path().join("out")).expect("mkdir");
    perfkit()
        .current_dir(dir.path())
        .args(["copy", "tool.sh", "out"])
        .assert()
        .success();
    let copied = dir.path().join("out/tool.sh");
    assert_eq!(
        std::fs::read(&copied).expect("read"),
        b"#!/bin/sh\necho hi\n"
    );
    let mode = std::fs::metadata(&copied)
        .expect("stat")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode & 0o700, 0o700, "{mode:o}");
}

#[test]
fn stdout_is_spliced_into_a_pipe_and_the_report_goes_to_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = data(5_000_001);
    std::fs::write(dir.path().join("src"), &bytes).expect("write");
    let bin = assert_cmd::cargo::cargo_bin("perfkit");
    let out = std::process::Command::new(bin)
        .current_dir(dir.path())
        .args(["copy", "src", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert!(out.status.success());
    assert_eq!(out.stdout, bytes);
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(report.contains("to standard output"), "{report}");
    assert!(report.contains("(splice)"), "{report}");
    assert!(
        report.contains("destination pipe: 64.0 KiB → 1.0 MiB"),
        "{report}"
    );
}

#[test]
fn stdin_to_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = data(1_234_567);
    perfkit()
        .current_dir(dir.path())
        .args(["copy", "-", "in.bin"])
        .write_stdin(bytes.clone())
        .assert()
        .success()
        .stdout(predicate::str::contains("from standard input to in.bin"));
    assert_eq!(
        std::fs::read(dir.path().join("in.bin")).expect("read"),
        bytes
    );
}

#[test]
fn replacing_a_file_is_atomic_and_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("src"), b"new contents").expect("write");
    let dst = dir.path().join("dst");
    std::fs::write(&dst, b"old").expect("write");
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    perfkit()
        .current_dir(dir.path())
        .args(["copy", "src", "dst"])
        .assert()
        .success();
    assert_eq!(std::fs::read(&dst).expect("read"), b"new contents");
    let mode = std::fs::metadata(&dst).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn user_errors_exit_2_with_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("src"), b"abc").expect("write");
    std::os::unix::fs::symlink("src", dir.path().join("link")).expect("symlink");
    let cases: [(&[&str], &str); 7] = [
        (&["copy", "missing", "x"], "cannot read the source missing"),
        (&["copy", "src", "src"], "the same file"),
        (&["copy", "src", "link"], "the same file"),
        (
            &["copy", "src", "no/such/dir/x"],
            "does not exist (create it first)",
        ),
        (&["copy", ".", "x"], "is a directory"),
        (
            &["copy", "--method", "bogus", "src", "x"],
            "unknown copy method",
        ),
        (
            &["copy", "--pipe-size", "0", "src", "x"],
            "more than 0 bytes",
        ),
    ];
    for (args, message) in cases {
        perfkit()
            .current_dir(dir.path())
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    perfkit()
        .current_dir(dir.path())
        .args(["copy", "--method", "mmap", "-", "x"])
        .write_stdin("abc")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "mmap needs a regular file as the source",
        ));
    assert_eq!(std::fs::read(dir.path().join("src")).expect("read"), b"abc");
    assert!(
        others(dir.path(), &["src", "link"]).is_empty(),
        "nothing left behind"
    );
}

#[test]
fn an_unwritable_destination_directory_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("src"), b"abc").expect("write");
    perfkit()
        .current_dir(dir.path())
        .args(["copy", "src", "/proc/self/x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot write /proc/self/x: No such file or directory",
        ));
}

#[test]
fn a_full_device_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("src"), data(100_000)).expect("write");
    perfkit()
        .current_dir(dir.path())
        .args(["copy", "src", "/dev/full"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no space left on /dev/full"));
}

/// A real full filesystem: a 1 MiB tmpfs (needs root to mount; CI runs as root). The copy
/// fails with ENOSPC, exits 2, and leaves neither a partial file under the destination's
/// name nor its temporary file; an existing destination is untouched.
#[test]
fn disk_full_leaves_nothing_half_written() {
    let mount = tempfile::tempdir().expect("tempdir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(mount.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        perfkit_testkit::skip("a 1 MiB tmpfs cannot be mounted here (needs root)");
        return;
    }
    let unmount = || {
        let _ = std::process::Command::new("umount")
            .arg(mount.path())
            .status();
    };
    let src_dir = tempfile::tempdir().expect("tempdir");
    let src = src_dir.path().join("big");
    std::fs::write(&src, data(3 << 20)).expect("write");
    let existing = mount.path().join("existing");
    std::fs::File::create(&existing)
        .and_then(|mut f| f.write_all(b"keep me"))
        .expect("write existing");
    let result = std::panic::catch_unwind(|| {
        for dst in ["new", "existing"] {
            perfkit()
                .arg("copy")
                .arg(&src)
                .arg(mount.path().join(dst))
                .assert()
                .code(2)
                .stderr(predicate::str::contains("no space left on"))
                .stderr(predicate::str::contains("nothing was written under"));
        }
        assert_eq!(std::fs::read(&existing).expect("read"), b"keep me");
        assert_eq!(others(mount.path(), &["existing"]), Vec::<String>::new());
    });
    unmount();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Mode and owner of a file.
fn mode_owner(path: &Path) -> (u32, u32, u32) {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(path).expect("stat");
    (m.mode() & 0o7777, m.uid(), m.gid())
}

#[test]
fn a_copy_never_makes_a_set_user_id_program() {
    use std::os::unix::fs::PermissionsExt as _;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to own files as nobody");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("suid-prog");
    std::fs::write(&src, b"#!/bin/sh\n").expect("write");
    std::os::unix::fs::chown(&src, Some(65534), Some(65534)).expect("chown");
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o6755)).expect("chmod");
    assert_eq!(mode_owner(&src).0, 0o6755);
    // A new file: the source's bits without set-user-ID, set-group-ID and sticky, less the
    // umask (022 here), owned by whoever copies.
    let dst = dir.path().join("copy");
    let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"))
        .args(["copy"])
        .arg(&src)
        .arg(&dst)
        .stdout(Stdio::null())
        .pre_exec_umask(0o022)
        .status()
        .expect("run");
    assert!(status.success());
    assert_eq!(mode_owner(&dst), (0o755, 0, 0));
    // An existing file keeps its owner and mode.
    let existing = dir.path().join("existing");
    std::fs::write(&existing, b"old").expect("write");
    std::os::unix::fs::chown(&existing, Some(65534), Some(65534)).expect("chown");
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    perfkit()
        .arg("copy")
        .arg(&src)
        .arg(&existing)
        .assert()
        .success();
    assert_eq!(mode_owner(&existing), (0o640, 65534, 65534));
    assert_eq!(std::fs::read(&existing).expect("read"), b"#!/bin/sh\n");
}

/// Sets the child's umask before it runs.
trait UmaskExt {
    fn pre_exec_umask(&mut self, mask: u32) -> &mut Self;
}

impl UmaskExt for std::process::Command {
    fn pre_exec_umask(&mut self, mask: u32) -> &mut Self {
        use std::os::unix::process::CommandExt as _;
        // SAFETY: umask is async-signal-safe and touches nothing else of the forked child.
        unsafe {
            self.pre_exec(move || {
                nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
                Ok(())
            })
        };
        self
    }
}

#[test]
fn a_signal_mid_copy_removes_the_temporary_file_and_ends_perfkit_by_it() {
    use std::os::unix::process::ExitStatusExt as _;
    for signal in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGHUP,
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"))
            .args(["copy", "-", "big.bin"])
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        // Feed a few MiB, then stop without closing: the copy is mid-way.
        let chunk = data(1 << 20);
        for _ in 0..4 {
            stdin.write_all(&chunk).expect("feed");
        }
        // Wait until the temporary file holds data.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while others(dir.path(), &[]).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(
            !others(dir.path(), &[]).is_empty(),
            "no temporary file appeared"
        );
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
        nix::sys::signal::kill(pid, signal).expect("kill");
        let out = child.wait_with_output().expect("wait");
        drop(stdin);
        assert_eq!(
            out.status.signal(),
            Some(signal as i32),
            "{signal:?}: {:?}",
            out.status
        );
        assert!(
            others(dir.path(), &[]).is_empty(),
            "{signal:?} left {:?}",
            others(dir.path(), &[])
        );
    }
}
