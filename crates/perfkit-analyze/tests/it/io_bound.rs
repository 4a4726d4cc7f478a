//! A program that waits for the disk is named I/O-bound.
//!
//! This test has a binary of its own so that it never runs beside the other analyses: while
//! other processes are traced and profiled at the same time, the kernel here reported a
//! block-I/O wait of about its uptime for every run (delay accounting's anomaly, which
//! perfkit sets aside as unknown), and nothing was left to measure.

use perfkit_analyze::{AnalyzeOptions, BottleneckKind, analyze};
use perfkit_sys::NoObserver;
use perfkit_testkit::have;

#[test]
fn small_direct_reads_from_disk_are_io_bound() {
    if !perfkit_sys::delay_accounting_enabled() {
        perfkit_testkit::skip(
            "kernel.task_delayacct is 0, so block-I/O waits are not measured (.ci/run turns it on)",
        );
        return;
    }
    if !have("strace") {
        return;
    }
    // On disk, not tmpfs (which refuses O_DIRECT): 64 MiB read 4 KiB at a time past the page
    // cache, so every read waits for the device.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let file = dir.path().join("data.bin");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&file).unwrap();
        let block: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        for _ in 0..64 {
            f.write_all(&block).unwrap();
        }
        f.sync_all().unwrap();
    }
    let input = format!("if={}", file.display());
    let command: Vec<String> = [
        "dd",
        &input,
        "of=/dev/null",
        "bs=4k",
        "iflag=direct",
        "status=none",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    // strace only: perf adds nothing to this verdict.
    let a = analyze(
        &command,
        &AnalyzeOptions {
            runs: 3,
            warmup: 0,
            profile: false,
            syscalls: true,
            ..AnalyzeOptions::default()
        },
        &mut NoObserver,
    )
    .unwrap();
    let io = a
        .bottlenecks
        .iter()
        .find(|b| b.kind == BottleneckKind::IoBound)
        .unwrap_or_else(|| panic!("not I/O-bound: {:#?}\n{:#?}", a.bottlenecks, a.measurements));
    assert!(io.evidence[0].contains("waiting for block I/O"), "{io:?}");
    assert!(a.measurements.io_bytes.unwrap() >= 64.0 * 1_048_576.0);
}
