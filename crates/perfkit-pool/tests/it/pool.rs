//! The pool against real worker processes, including workers that crash, hang, exit
//! mid-batch, print garbage or report errors: every task gets exactly one outcome, and the
//! pool keeps serving.

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use perfkit_pool::{Outcome, PoolError, ProcessPool, Protocol, StderrMode, TaskError};

fn worker() -> Command {
    Command::new(env!("CARGO_BIN_EXE_perfkit-pool-worker"))
}

fn ok_text(outcome: &Outcome) -> String {
    match &outcome.result {
        Ok(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Err(e) => panic!("task {} failed: {e}", outcome.id),
    }
}

/// Every id in `0..n` exactly once.
fn assert_one_outcome_each(outcomes: &[Outcome], n: usize) {
    assert_eq!(outcomes.len(), n, "one outcome per task");
    let ids: HashSet<u64> = outcomes.iter().map(|o| o.id).collect();
    assert_eq!(ids.len(), n, "no task has two outcomes");
    assert!(ids.iter().all(|&id| id < n as u64));
}

#[test]
fn echoes_many_tasks_in_batches() {
    let pool = ProcessPool::builder(&worker())
        .workers(2)
        .build()
        .expect("pool");
    let inputs: Vec<String> = (0..20_000).map(|i| format!("task {i}")).collect();
    let outcomes = pool.run(&inputs).expect("run");
    assert_one_outcome_each(&outcomes, inputs.len());
    for (outcome, input) in outcomes.iter().zip(&inputs) {
        assert_eq!(&ok_text(outcome), input);
    }
    let stats = pool.stats();
    assert_eq!(stats.ok, 20_000);
    assert_eq!(stats.restarts, 0);
    assert_eq!(stats.latency.count(), 20_000);
}

#[test]
fn ordered_mode_delivers_in_submission_order() {
    let pool = ProcessPool::builder(&worker())
        .workers(2)
        .max_batch(1)
        .ordered(true)
        .build()
        .expect("pool");
    // Slow and fast tasks alternate, so they finish out of order on two workers.
    for i in 0..40 {
        let task = if i % 3 == 0 {
            "!sleep 15".to_string()
        } else {
            format!("{i}")
        };
        pool.submit(task).expect("submit");
    }
    let mut ids = Vec::new();
    while let Some(outcome) = pool.recv() {
        ids.push(outcome.id);
    }
    assert_eq!(ids, (0..40).collect::<Vec<_>>());
}

#[test]
fn unordered_mode_returns_every_outcome() {
    let pool = ProcessPool::builder(&worker())
        .workers(2)
        .max_batch(4)
        .build()
        .expect("pool");
    let first = pool
        .submit_many((0..100).map(|i| {
            if i % 10 == 0 {
                "!sleep 5".to_string()
            } else {
                i.to_string()
            }
        }))
        .expect("submit");
    assert_eq!(first, 0..100);
    let mut outcomes = Vec::new();
    while let Some(outcome) = pool.recv() {
        outcomes.push(outcome);
    }
    assert_one_outcome_each(&outcomes, 100);
}

#[test]
fn a_segfault_is_charged_to_its_task_only() {
    let pool = ProcessPool::builder(&worker())
        .workers(2)
        .build()
        .expect("pool");
    let inputs: Vec<String> = (0..3000)
        .map(|i| {
            if i % 500 == 7 {
                "!segv".into()
            } else {
                i.to_string()
            }
        })
        .collect();
    let outcomes = pool.run(&inputs).expect("run");
    assert_one_outcome_each(&outcomes, inputs.len());
    for (outcome, input) in outcomes.iter().zip(&inputs) {
        if input == "!segv" {
            match &outcome.result {
                Err(TaskError::Crashed { status, pid }) => {
                    assert!(status.contains("SIGSEGV"), "{status}");
                    assert!(*pid > 0);
                }
                other => panic!("a segfaulting task ended in {other:?}"),
            }
        } else {
            assert_eq!(
                &ok_text(outcome),
                input,
                "an innocent neighbour was charged"
            );
        }
    }
    let stats = pool.stats();
    assert_eq!(stats.restarts, 6);
    assert!(stats.resent > 0, "neighbours in the batch were sent again");
    // The pool keeps serving.
    let after = pool.run(["still", "here"]).expect("run");
    assert_eq!(ok_text(&after[1]), "here");
}

#[test]
fn a_poison_task_is_quarantined_and_retries_save_the_rest() {
    let pool = ProcessPool::builder(&worker())
        .workers(2)
        .retries(5)
        .quarantine_after(2)
        .build()
        .expect("pool");
    let outcomes = pool.run(["a", "!segv", "b", "!exit 3", "c"]).expect("run");
    assert_one_outcome_each(&outcomes, 5);
    assert_eq!(ok_text(&outcomes[0]), "a");
    assert_eq!(
        outcomes[1].result,
        Err(TaskError::Quarantined { crashes: 2 })
    );
    assert_eq!(ok_text(&outcomes[2]), "b");
    assert_eq!(
        outcomes[3].result,
        Err(TaskError::Quarantined { crashes: 2 })
    );
    assert_eq!(ok_text(&outcomes[4]), "c");
}

#[test]
fn a_worker_exiting_mid_batch_loses_nothing() {
    let mut cmd = worker();
    cmd.args(["--exit-after", "7"]);
    // Each worker dies inside its 8th task: that task is charged, the 7 before it (whose
    // results were still buffered) and the rest of the batch are sent again, one at a time,
    // so their results come back before the next death. The charged task goes to the back
    // of the queue and is retried elsewhere in a worker's sequence.
    let pool = ProcessPool::builder(&cmd)
        .workers(2)
        .retries(10)
        .quarantine_after(10)
        .build()
        .expect("pool");
    let inputs: Vec<String> = (0..500).map(|i| i.to_string()).collect();
    let outcomes = pool.run(&inputs).expect("run");
    assert_one_outcome_each(&outcomes, inputs.len());
    for (outcome, input) in outcomes.iter().zip(&inputs) {
        assert_eq!(&ok_text(outcome), input);
    }
    assert!(pool.stats().restarts >= 500 / 8, "{:?}", pool.stats());
}

#[test]
fn a_hanging_task_times_out_and_its_worker_is_replaced() {
    let pool = ProcessPool::builder(&worker())
        .workers(2)
        .timeout(Duration::from_millis(300))
        .build()
        .expect("pool");
    let outcomes = pool.run(["1", "!hang", "2", "3"]).expect("run");
    assert_one_outcome_each(&outcomes, 4);
    match &outcomes[1].result {
        Err(TaskError::TimedOut { after }) => {
            assert!(*after >= Duration::from_millis(300), "{after:?}");
        }
        other => panic!("a hanging task ended in {other:?}"),
    }
    for i in [0, 2, 3] {
        assert!(outcomes[i].result.is_ok(), "{:?}", outcomes[i]);
    }
    assert_eq!(
        pool.metrics()
            .worker_restarts_total
            .with_label_values(&["timeout"])
            .get(),
        1
    );
}

#[test]
fn worker_errors_and_panics_are_task_errors_not_crashes() {
    let pool = ProcessPool::builder(&worker())
        .workers(1)
        .stderr(StderrMode::Capture)
        .build()
        .expect("pool");
    let outcomes = pool
        .run([
            "!err bad input",
            "!panic",
            "!print",
            "!stderr hello there",
            "x",
        ])
        .expect("run");
    assert_eq!(
        outcomes[0].result,
        Err(TaskError::Worker("bad input".into()))
    );
    match &outcomes[1].result {
        Err(TaskError::Worker(message)) => assert!(message.contains("asked to panic")),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ok_text(&outcomes[2]),
        "ok",
        "a stray print does not corrupt results"
    );
    assert_eq!(ok_text(&outcomes[3]), "ok");
    assert_eq!(ok_text(&outcomes[4]), "x");
    assert_eq!(pool.stats().restarts, 0);
    // The stderr thread may lag the results by a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !pool
        .captured_stderr()
        .iter()
        .any(|l| l.contains("hello there"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            pool.captured_stderr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let line = pool
        .captured_stderr()
        .into_iter()
        .find(|l| l.contains("hello there"))
        .expect("captured");
    assert!(line.starts_with("[worker 0 pid "), "{line}");
}

#[test]
fn garbage_on_stdout_is_treated_as_a_crash() {
    // `cat` echoes the task frames: a length byte where a result header should be.
    let pool = ProcessPool::builder(&Command::new("cat"))
        .workers(1)
        .build()
        .expect("pool");
    let outcomes = pool.run(["a", "b", "c"]).expect("run");
    assert_one_outcome_each(&outcomes, 3);
    for outcome in &outcomes {
        match &outcome.result {
            Err(TaskError::Crashed { status, .. }) => {
                assert!(status.contains("protocol error"), "{status}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        pool.metrics()
            .worker_restarts_total
            .with_label_values(&["protocol"])
            .get(),
        3
    );
}

#[test]
fn line_mode_runs_existing_programs() {
    let script = r#"while IFS= read -r line; do
        if [ "$line" = die ]; then exit 3; fi
        echo "got $line"
    done"#;
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]);
    let pool = ProcessPool::builder(&cmd)
        .workers(2)
        .protocol(Protocol::Lines)
        .max_batch(16)
        .build()
        .expect("pool");
    let inputs: Vec<String> = (0..200)
        .map(|i| {
            if i == 50 {
                "die".into()
            } else {
                format!("line {i}")
            }
        })
        .collect();
    let outcomes = pool.run(&inputs).expect("run");
    assert_one_outcome_each(&outcomes, 200);
    for (outcome, input) in outcomes.iter().zip(&inputs) {
        if input == "die" {
            assert!(
                matches!(&outcome.result, Err(TaskError::Crashed { status, .. }) if status == "exit code 3"),
                "{outcome:?}"
            );
        } else {
            assert_eq!(ok_text(outcome), format!("got {input}"));
        }
    }
    assert!(matches!(
        pool.submit("two\nlines"),
        Err(PoolError::InvalidTask(perfkit_pool::TaskProblem::Newline))
    ));
}

#[test]
fn a_full_queue_pushes_back() {
    let pool = ProcessPool::builder(&worker())
        .workers(1)
        .max_batch(1)
        .queue_capacity(3)
        .build()
        .expect("pool");
    let mut full = None;
    for _ in 0..20 {
        match pool.try_submit("!sleep 50") {
            Ok(_) => {}
            Err(e @ PoolError::Full { .. }) => {
                full = Some(e);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    match full {
        Some(PoolError::Full { capacity, input }) => {
            assert_eq!(capacity, 3);
            assert_eq!(input, b"!sleep 50");
        }
        other => panic!("the queue never filled: {other:?}"),
    }
}

#[test]
fn shutdown_cancels_what_cannot_finish() {
    let mut pool = ProcessPool::builder(&worker())
        .workers(1)
        .max_batch(1)
        .build()
        .expect("pool");
    for _ in 0..5 {
        pool.submit("!hang").expect("submit");
    }
    pool.shutdown(Duration::from_millis(100));
    let mut outcomes = Vec::new();
    while let Some(outcome) = pool.recv() {
        outcomes.push(outcome);
    }
    assert_one_outcome_each(&outcomes, 5);
    assert!(
        outcomes
            .iter()
            .all(|o| o.result == Err(TaskError::Cancelled))
    );
    assert!(matches!(pool.submit("late"), Err(PoolError::Closed)));
}

#[test]
fn a_missing_program_fails_at_build() {
    let err = ProcessPool::builder(&Command::new("/nonexistent/worker"))
        .build()
        .expect_err("no such program");
    assert!(matches!(err, PoolError::Spawn { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/worker"));
}

#[test]
fn worker_counts_out_of_range_fail_at_build() {
    for n in [0, perfkit_pool::MAX_WORKERS + 1, 100_000] {
        let err = ProcessPool::builder(&worker())
            .workers(n)
            .build()
            .expect_err("out of range");
        assert!(
            matches!(err, PoolError::Config(perfkit_pool::ConfigProblem::Workers { given, .. }) if given == n),
            "{n}: {err}"
        );
    }
}

#[test]
fn recycling_replaces_workers_after_their_quota() {
    let pool = ProcessPool::builder(&worker())
        .workers(2)
        .max_tasks_per_worker(100)
        .build()
        .expect("pool");
    let outcomes = pool.run((0..2000).map(|i| i.to_string())).expect("run");
    assert_one_outcome_each(&outcomes, 2000);
    assert!(outcomes.iter().all(|o| o.result.is_ok()));
    let recycled = pool
        .metrics()
        .worker_restarts_total
        .with_label_values(&["recycle"])
        .get();
    assert!(
        (15..=25).contains(&recycled),
        "{recycled} recycles for 2000 tasks at ~100 each"
    );
}

#[test]
fn metrics_count_outcomes() {
    let pool = ProcessPool::builder(&worker())
        .workers(1)
        .build()
        .expect("pool");
    pool.run(["a", "b", "!err x"]).expect("run");
    let text = pool.metrics().render();
    assert!(
        text.contains("pool_tasks_total{outcome=\"ok\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("pool_tasks_total{outcome=\"error\"} 1"),
        "{text}"
    );
    assert!(text.contains("process_spawned_total 1"), "{text}");
    assert!(text.contains("process_active 1"), "{text}");
    assert!(
        text.contains("pool_task_duration_seconds_count 3"),
        "{text}"
    );
}

#[test]
fn map_each_visits_every_input_once_with_its_index() {
    let pool = ProcessPool::builder(&worker())
        .workers(2)
        .max_batch(64)
        .build()
        .expect("pool");
    let inputs: Vec<String> = (0..5000)
        .map(|i| {
            if i % 1000 == 3 {
                "!err no".to_string()
            } else {
                format!("in {i}")
            }
        })
        .collect();
    let mut seen = vec![0u32; inputs.len()];
    pool.map_each(&inputs, |index, result| {
        seen[index] += 1;
        match result {
            Ok(output) => assert_eq!(output, inputs[index].as_bytes()),
            Err(TaskError::Worker(message)) => {
                assert_eq!(message, "no");
                assert_eq!(inputs[index], "!err no");
            }
            Err(e) => panic!("{e}"),
        }
    })
    .expect("map_each");
    assert!(seen.iter().all(|&n| n == 1), "every input exactly once");
}

#[test]
fn recv_each_and_ordered_blocks() {
    let pool = ProcessPool::builder(&worker())
        .workers(2)
        .max_batch(16)
        .ordered(true)
        .build()
        .expect("pool");
    let range = pool
        .submit_many((0..600).map(|i| {
            if i % 50 == 0 {
                "!sleep 3".to_string()
            } else {
                i.to_string()
            }
        }))
        .expect("submit");
    assert_eq!(range, 0..600);
    let mut ids = Vec::new();
    loop {
        let n = pool.recv_each(100, |id, result| {
            assert!(result.is_ok(), "{id}: {result:?}");
            ids.push(id);
        });
        if n == 0 {
            break;
        }
    }
    assert_eq!(ids, (0..600).collect::<Vec<_>>(), "in submission order");
}

#[test]
fn pinned_workers_run_on_one_cpu_each() {
    let pool = ProcessPool::builder(&worker())
        .workers(2)
        .max_batch(1)
        .pin_workers(true)
        .build()
        .expect("pool");
    let outcomes = pool.run(vec!["!cpus"; 20]).expect("run");
    let allowed: HashSet<String> = outcomes.iter().map(ok_text).collect();
    for cpus in &allowed {
        assert!(
            cpus.parse::<usize>().is_ok(),
            "a pinned worker may run on one CPU, not {cpus:?}"
        );
    }
    let unpinned = ProcessPool::builder(&worker())
        .workers(1)
        .build()
        .expect("pool");
    let everything = ok_text(&unpinned.run(["!cpus"]).expect("run")[0]);
    if std::thread::available_parallelism().map_or(1, std::num::NonZero::get) > 1 {
        assert!(
            everything.parse::<usize>().is_err(),
            "unpinned: {everything}"
        );
    }
}

#[test]
fn recv_each_within_returns_while_a_task_hangs() {
    let mut pool = ProcessPool::builder(&worker())
        .workers(1)
        .max_batch(1)
        .build()
        .expect("pool");
    assert_eq!(
        pool.recv_each_within(10, Duration::from_millis(10), |_, _| {}),
        None,
        "nothing submitted, nothing outstanding"
    );
    pool.submit("1").expect("submit");
    pool.submit("!hang").expect("submit");
    let mut got = Vec::new();
    let started = std::time::Instant::now();
    while got.is_empty() {
        let n = pool.recv_each_within(10, Duration::from_millis(50), |_, result| {
            got.push(result.map(<[u8]>::to_vec).map_err(Clone::clone));
        });
        assert_ne!(n, None, "a task is still outstanding");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no result came"
        );
    }
    assert_eq!(got, vec![Ok(b"1".to_vec())]);
    // The hanging task holds its worker; the wait still ends, with nothing delivered.
    assert_eq!(
        pool.recv_each_within(10, Duration::from_millis(50), |_, _| {}),
        Some(0)
    );
    pool.shutdown(Duration::from_millis(100));
}

/// A shell worker that answers "got LINE" and dies on "die".
fn echo_or_die() -> Command {
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        r#"while IFS= read -r line; do [ "$line" = die ] && exit 3; echo "got $line"; done"#,
    ]);
    cmd
}

#[test]
fn a_stream_writes_every_line_and_hands_on_failures() {
    let lines: Vec<String> = (0..300)
        .map(|i| {
            if i == 7 {
                "die".into()
            } else {
                format!("l{i}")
            }
        })
        .collect();
    // Written from a thread, in pieces, so that lines arrive split across reads.
    let (input, mut writer) = std::io::pipe().expect("pipe");
    let text = lines.join("\n");
    let feeder = std::thread::spawn(move || {
        for piece in text.as_bytes().chunks(333) {
            std::io::Write::write_all(&mut writer, piece).expect("write");
        }
    });
    let pool = ProcessPool::builder(&echo_or_die())
        .workers(2)
        .protocol(Protocol::Lines)
        .ordered(true)
        .build()
        .expect("pool");
    let mut out = Vec::new();
    let mut failures = Vec::new();
    let end = perfkit_pool::stream_lines(&pool, input, &mut out, &|| None, |id, _| {
        failures.push(id);
    })
    .expect("stream");
    feeder.join().expect("feeder");
    assert_eq!((end.written, end.failed, end.interrupted), (299, 1, None));
    assert_eq!(failures, [7]);
    let expected: Vec<String> = (lines.iter())
        .filter(|l| *l != "die")
        .map(|l| format!("got {l}\n"))
        .collect();
    assert_eq!(String::from_utf8(out).expect("utf-8"), expected.concat());
}

#[test]
fn an_interrupted_stream_stops_reading_and_says_by_what() {
    // A pipe whose writer stays open: the input never ends on its own.
    let (reader, _writer) = std::io::pipe().expect("pipe");
    let pool = ProcessPool::builder(&echo_or_die())
        .protocol(Protocol::Lines)
        .workers(1)
        .build()
        .expect("pool");
    let end = perfkit_pool::stream_lines(&pool, reader, std::io::sink(), &|| Some(15), |_, _| {})
        .expect("stream");
    assert_eq!(end.interrupted, Some(15));
}

#[test]
fn a_naive_stream_runs_a_process_per_line() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", r#"echo "task $1""#, "sh"]);
    let mut out = Vec::new();
    let (end, ran) =
        perfkit_pool::stream_naive(&cmd, &b"a\nb\nc\n"[..], &mut out, 2, &|| None, |_, _| {})
            .expect("stream");
    assert_eq!((ran, end.written, end.failed), (3, 3, 0));
    let mut got: Vec<&str> = std::str::from_utf8(&out).expect("utf-8").lines().collect();
    got.sort_unstable();
    assert_eq!(got, ["task a", "task b", "task c"]);
    assert!(matches!(
        perfkit_pool::stream_naive(&cmd, &b"a"[..], std::io::sink(), 0, &|| None, |_, _| {}),
        Err(perfkit_pool::StreamError::Pool(PoolError::Config(_)))
    ));
}
