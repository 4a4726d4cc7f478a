//! `run` and `sample_process` against real processes.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use perfkit_sys::{ExitKind, RunOptions, SysError, run, sample_process};

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", script])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

#[test]
fn exit_codes_and_signals_are_reported() {
    let ok = run(&mut sh("exit 0"), RunOptions::default()).unwrap();
    assert!(ok.status.success());
    let three = run(&mut sh("exit 3"), RunOptions::default()).unwrap();
    assert_eq!(three.status, ExitKind::Exited { code: 3 });
    let killed = run(&mut sh("kill -SEGV $$"), RunOptions::default()).unwrap();
    assert!(
        matches!(killed.status, ExitKind::Signaled { signal: 11, .. }),
        "{:?}",
        killed.status
    );
    assert!(killed.status.to_string().contains("SIGSEGV"));
    // A real-time signal, which nix's signal type cannot name, with and without a timeout.
    for timeout in [None, Some(Duration::from_secs(60))] {
        let options = RunOptions {
            timeout,
            ..RunOptions::default()
        };
        let realtime = run(&mut sh("kill -40 $$"), options).unwrap();
        assert!(
            matches!(realtime.status, ExitKind::Signaled { signal: 40, .. }),
            "{:?}",
            realtime.status
        );
    }
}

#[test]
fn timeout_kills_the_child() {
    let mut c = Command::new("sleep");
    c.arg("30");
    let outcome = run(
        &mut c,
        RunOptions {
            timeout: Some(Duration::from_millis(100)),
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert_eq!(outcome.status, ExitKind::TimedOut);
    assert!(outcome.wall >= Duration::from_millis(100));
    // A child that finishes in time is not affected by the timeout.
    let quick = run(
        &mut sh("exit 4"),
        RunOptions {
            timeout: Some(Duration::from_secs(30)),
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert_eq!(quick.status.code(), Some(4));
}

#[test]
fn peak_rss_of_a_100_mib_allocation() {
    // perl is part of every Debian/Ubuntu base system.
    let mut c = Command::new("perl");
    c.args([
        "-e",
        "my $x = 'a' x (100 * 1024 * 1024); print length($x) > 0 ? '' : 'x';",
    ]);
    let outcome = run(&mut c, RunOptions::default()).unwrap();
    assert!(outcome.status.success());
    assert!(
        outcome.max_rss_bytes >= 100 << 20,
        "peak RSS {} bytes",
        outcome.max_rss_bytes
    );
    assert!(
        outcome.minor_faults > 10_000,
        "{} minor faults",
        outcome.minor_faults
    );
}

#[test]
fn io_counters_include_the_shells_children() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out");
    let script = format!(
        "head -c 3000000 /dev/zero > '{}'; cat '{}' > /dev/null",
        file.display(),
        file.display()
    );
    let outcome = run(&mut sh(&script), RunOptions::default()).unwrap();
    let io = outcome
        .io
        .expect("/proc/<pid>/io is readable for our own zombie child");
    assert!(io.wchar >= 3_000_000, "{io:?}");
    assert!(io.rchar >= 6_000_000, "{io:?}");
    assert!(outcome.user + outcome.system > Duration::ZERO || outcome.voluntary_switches > 0);
}

#[test]
fn block_io_delay_is_unavailable_without_delay_accounting() {
    let outcome = run(&mut sh("true"), RunOptions::default()).unwrap();
    if perfkit_sys::delay_accounting_enabled() {
        assert!(outcome.block_io_delay.is_some());
    } else {
        assert_eq!(outcome.block_io_delay, None);
    }
}

#[test]
fn missing_and_non_executable_programs_are_typed_errors() {
    let err = run(
        &mut Command::new("perfkit-no-such-program"),
        RunOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, SysError::CommandNotFound { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("command not found: perfkit-no-such-program")
    );

    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = run(&mut Command::new(&script), RunOptions::default()).unwrap_err();
    assert!(matches!(err, SysError::NotExecutable { .. }), "{err}");
}

#[test]
fn sampling_a_busy_and_an_idle_process() {
    let mut busy = Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .unwrap();
    let mut idle = Command::new("sleep").arg("30").spawn().unwrap();
    let b = sample_process(busy.id(), Duration::from_millis(300));
    let i = sample_process(idle.id(), Duration::from_millis(300));
    busy.kill().unwrap();
    idle.kill().unwrap();
    busy.wait().unwrap();
    idle.wait().unwrap();
    let (b, i) = (b.unwrap(), i.unwrap());
    assert!(b.cpu_percent > i.cpu_percent, "busy {b:?} idle {i:?}");
    assert!(i.cpu_percent < 50.0, "{i:?}");
    assert!(b.rss_bytes > 0 && i.rss_bytes > 0);
    assert!(b.interval >= Duration::from_millis(300));
    assert_eq!(
        b.io_wait_percent.is_some(),
        perfkit_sys::delay_accounting_enabled()
    );
}

#[test]
fn sampling_a_missing_process_is_an_error() {
    // PIDs are below 2^22 on Linux.
    let err = sample_process(u32::MAX - 1, Duration::from_millis(1)).unwrap_err();
    assert!(matches!(err, SysError::NoSuchProcess { .. }), "{err}");
}
