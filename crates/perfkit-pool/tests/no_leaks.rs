//! After 100,000 tasks with injected crashes, exits and timeouts, the process has as many
//! descriptors and child processes as before: every worker was reaped, every pipe closed.
//! (Its own test binary: descriptor counts must not see other tests' pools.)

use std::process::Command;
use std::time::{Duration, Instant};

use perfkit_pool::{ProcessPool, TaskError};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Live or zombie children of this process.
fn children() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // pid (comm) state ppid ...: the comm may hold spaces, so split after ')'.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(|p| p == me))
                .unwrap_or(false)
        })
        .count()
}

fn settle(what: &str, expected: usize, now: impl Fn() -> usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while now() != expected {
        assert!(
            Instant::now() < deadline,
            "{what}: {} now, {expected} before",
            now()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn no_zombies_and_no_leaked_descriptors() {
    let fds_before = open_fds();
    let children_before = children();
    let pool = ProcessPool::builder(&Command::new(env!("CARGO_BIN_EXE_perfkit-pool-worker")))
        .workers(2)
        .timeout(Duration::from_millis(200))
        .build()
        .expect("pool");
    let inputs: Vec<String> = (0..100_000)
        .map(|i| match i % 10_000 {
            13 | 4013 => "!segv".to_string(),
            2000 => "!exit 7".to_string(),
            7000 => "!hang".to_string(),
            _ => i.to_string(),
        })
        .collect();
    let outcomes = pool.run(&inputs).expect("run");
    assert_eq!(outcomes.len(), inputs.len());
    let mut failed = 0;
    for (outcome, input) in outcomes.iter().zip(&inputs) {
        match (&outcome.result, input.as_str()) {
            (Ok(out), _) => assert_eq!(out.as_ref(), input.as_bytes()),
            (Err(TaskError::Crashed { .. }), "!segv" | "!exit 7")
            | (Err(TaskError::TimedOut { .. }), "!hang") => failed += 1,
            (Err(e), _) => panic!("task {} ({input}) failed: {e}", outcome.id),
        }
    }
    assert_eq!(failed, 40);
    assert_eq!(pool.stats().restarts, 40);
    drop(pool);
    settle("child processes", children_before, children);
    settle("open descriptors", fds_before, open_fds);
}
