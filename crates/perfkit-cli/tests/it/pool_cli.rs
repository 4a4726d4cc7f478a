//! `perfkit pool` end to end with line-mode workers (shell scripts): results in order,
//! failures on stderr with their line numbers and exit code 1, `--stats --json`, `--naive`,
//! usage errors, and the `/metrics` endpoint checked by `promtool check metrics`.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::time::Duration;

use perfkit_testkit::perfkit;
use perfkit_testkit::{sleep_is_running, survivors};
use predicates::prelude::*;
use serde_json::Value;

const SQUARE: &str = r#"while IFS= read -r n; do
    case "$n" in
        die) exit 3 ;;
        *) echo $((n * n)) ;;
    esac
done"#;

fn lines(range: std::ops::RangeInclusive<u64>) -> String {
    let mut text = String::new();
    for n in range {
        text.push_str(&n.to_string());
        text.push('\n');
    }
    text
}

#[test]
fn squares_in_order() {
    let out = perfkit()
        .args(["pool", "--ordered", "--workers", "2", "--batch", "16", "--"])
        .args(["sh", "-c", SQUARE])
        .write_stdin(lines(1..=500))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let expected: Vec<String> = (1..=500u64).map(|n| (n * n).to_string()).collect();
    let expected = expected.join("\n") + "\n";
    assert_eq!(String::from_utf8_lossy(&out), expected);
}

#[test]
fn a_failed_task_is_reported_with_its_line_and_exit_1() {
    let mut input = lines(1..=20);
    input.push_str("die\n");
    input.push_str(&lines(21..=40));
    let assert = perfkit()
        .args(["pool", "--ordered", "--workers", "2", "--"])
        .args(["sh", "-c", SQUARE])
        .write_stdin(input)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("task 20 (line 21) failed: worker"))
        .stderr(predicate::str::contains("exit code 3"));
    let out = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert_eq!(out.lines().count(), 40, "every other task has its result");
    assert!(out.lines().any(|l| l == "1600"));
}

#[test]
fn stats_as_json() {
    let assert = perfkit()
        .args(["pool", "--stats", "--json", "--workers", "2", "--"])
        .args(["sh", "-c", SQUARE])
        .write_stdin(lines(1..=100))
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    let json: Value = serde_json::from_str(&stderr).expect("stats JSON on stderr");
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["tasks"], 100);
    assert_eq!(json["ok"], 100);
    assert_eq!(json["failed"], 0);
    assert_eq!(json["protocol"], "lines");
    assert!(json["latency_ns"]["p99"].as_u64().is_some());
    assert!(json["tasks_per_sec"].as_f64().is_some_and(|r| r > 0.0));
    // --naive has its own, smaller document, as JSON too.
    let assert = perfkit()
        .args(["pool", "--naive", "--stats", "--json", "-j", "2", "--"])
        .args(["sh", "-c", "test $0 != 3"])
        .write_stdin(lines(1..=5))
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    let json_line = stderr.find('{').map(|at| &stderr[at..]).expect("JSON");
    let json: Value = serde_json::from_str(json_line).expect("naive stats JSON on stderr");
    assert_eq!(json["schema_version"], 1);
    assert_eq!(
        (json["tasks"].as_u64(), json["failed"].as_u64()),
        (Some(5), Some(1))
    );
    assert_eq!(json["jobs"], 2);
    assert!(json["tasks_per_sec"].as_f64().is_some_and(|r| r > 0.0));
}

#[test]
fn naive_runs_one_process_per_task() {
    perfkit()
        .args(["pool", "--naive", "--", "echo", "got"])
        .write_stdin("a\nb\nc\n")
        .assert()
        .success()
        .stdout("got a\ngot b\ngot c\n");
}

#[test]
fn naive_runs_j_processes_at_once_and_keeps_the_input_order() {
    // Each task counts the tasks running beside it (itself included) while it sleeps.
    let dir = tempfile::tempdir().unwrap();
    let running = dir.path().join("running");
    std::fs::create_dir(&running).unwrap();
    let script = format!(
        "touch {r}/$0; sleep 0.3; ls {r} | wc -l; rm {r}/$0",
        r = running.display()
    );
    let tasks = "1\n2\n3\n4\n5\n6\n7\n8\n";
    let out = perfkit()
        .args(["pool", "--naive", "-j", "3", "--", "sh", "-c", &script])
        .write_stdin(tasks)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let counts: Vec<u32> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(counts.len(), 8, "{counts:?}");
    let most = counts.iter().copied().max().unwrap();
    assert!(
        (2..=3).contains(&most),
        "at most -j 3 at once, and more than one: {counts:?}"
    );
    // The results come in the order of the tasks, whatever order they end in.
    perfkit()
        .args([
            "pool",
            "--naive",
            "-j",
            "4",
            "--",
            "sh",
            "-c",
            "sleep 0.$((9 - $0)); echo $0",
        ])
        .write_stdin("1\n2\n3\n4\n5\n")
        .assert()
        .success()
        .stdout("1\n2\n3\n4\n5\n");
    perfkit()
        .args(["pool", "--naive", "-j", "0", "--", "echo"])
        .write_stdin("1\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("must be at least 1"));
}

#[test]
fn usage_errors_exit_2() {
    perfkit()
        .args(["pool"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("WORKER_CMD"));
    perfkit()
        .args(["pool", "--", "/nonexistent/worker"])
        .write_stdin("1\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/nonexistent/worker"));
    perfkit()
        .args(["pool", "--workers", "0", "--", "cat"])
        .write_stdin("1\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("must be at least 1"));
    perfkit()
        .args(["pool", "--metrics-addr", "not-an-address", "--", "cat"])
        .write_stdin("1\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--metrics-addr"));
}

fn promtool() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        perfkit_testkit::skip("promtool is not installed (apt-get install prometheus)");
    }
    found
}

#[test]
fn metrics_endpoint_passes_promtool() {
    let bin = assert_cmd::cargo::cargo_bin("perfkit");
    let mut child = std::process::Command::new(bin)
        .args([
            "pool",
            "--metrics-addr",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--",
        ])
        .args(["sh", "-c", SQUARE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("perfkit pool");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(lines(1..=50).as_bytes()).expect("tasks");
    stdin.write_all(b"die\n").expect("tasks");
    stdin.flush().expect("flush");
    let (addr, _stderr) = metrics_address(&mut child);
    let addr = addr.as_str();
    // Wait until the 51 tasks have outcomes (50 ok, 1 crashed), then scrape.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut buf = [0u8; 4096];
    let mut newlines = 0;
    while newlines < 50 {
        let n = stdout.read(&mut buf).expect("results");
        assert!(n > 0, "perfkit pool ended early");
        newlines += String::from_utf8_lossy(&buf[..n]).matches('\n').count();
    }
    let mut body = String::new();
    for _ in 0..50 {
        body = scrape(addr);
        // The crash is counted before the replacement worker starts: wait for both.
        if body.contains("pool_tasks_total{outcome=\"crashed\"} 1")
            && body.contains("process_spawned_total 3")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(stdin);
    let _ = child.wait();
    for expected in [
        "pool_tasks_total{outcome=\"ok\"} 50",
        "pool_tasks_total{outcome=\"crashed\"} 1",
        "pool_worker_restarts_total{reason=\"crash\"} 1",
        "process_spawned_total 3",
        "process_active 2",
        "# TYPE process_spawn_duration_seconds histogram",
        "# TYPE pool_task_duration_seconds histogram",
        "pool_queue_depth 0",
    ] {
        assert!(body.contains(expected), "{expected} missing from:\n{body}");
    }
    let Some(promtool) = promtool() else { return };
    let mut check = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    check
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("metrics to promtool");
    let out = check.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{body}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `HOST:PORT` of `/metrics`, from the first line the pool writes on standard error, and
/// that standard error (keep it open: the pool would die of `SIGPIPE` writing to it).
fn metrics_address(
    child: &mut std::process::Child,
) -> (String, BufReader<std::process::ChildStderr>) {
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("first stderr line");
    let Some((_, url)) = line.trim().rsplit_once("http://") else {
        panic!("no metrics address in {line:?}");
    };
    (url.trim_end_matches("/metrics").to_string(), stderr)
}

fn scrape(addr: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to /metrics");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

#[test]
fn results_are_written_while_standard_input_stays_open() {
    // A conversation: a task, its result, the next task. Results must not wait in perfkit's
    // output buffer for more input (or for a failure, or for the end).
    let bin = assert_cmd::cargo::cargo_bin("perfkit");
    let mut child = std::process::Command::new(bin)
        .args(["pool", "--workers", "2", "--", "sh", "-c", SQUARE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("perfkit pool");
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            if tx.send(line.expect("result line")).is_err() {
                break;
            }
        }
    });
    for n in [3u64, 12, 7] {
        stdin.write_all(format!("{n}\n").as_bytes()).expect("task");
        stdin.flush().expect("flush");
        // Generous: only a result that never comes fails (it used to hang forever).
        let got = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("no result for task {n} while stdin is open: {e}"));
        assert_eq!(got, (n * n).to_string());
    }
    drop(stdin);
    assert!(child.wait().expect("perfkit pool exits").success());
}

/// Runs `command`, killing it (and failing) if it has not ended after a minute: the hangs
/// these tests guard against used to last forever.
fn output_within_a_minute(mut command: std::process::Command) -> std::process::Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    if let Ok(out) = rx.recv_timeout(Duration::from_secs(60)) {
        return out.expect("output");
    }
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
    panic!("{command:?} did not end within a minute");
}

#[test]
fn a_framed_timeout_starts_when_the_task_is_handed_over() {
    // `sleep 100` never reads its task nor reports progress.
    let dir = tempfile::tempdir().expect("tempdir");
    let tasks = dir.path().join("tasks");
    std::fs::write(&tasks, lines(1..=5)).expect("tasks");
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"));
    command
        .args([
            "pool",
            "-j1",
            "--framed",
            "--timeout",
            "1s",
            "--",
            "sleep",
            "100",
        ])
        .stdin(std::fs::File::open(&tasks).expect("open"));
    let out = output_within_a_minute(command);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("timed out") || stderr.contains("timeout"),
        "{stderr}"
    );
}

#[test]
fn a_framed_worker_that_exits_at_once_fails_its_tasks() {
    // It never answers nor reports progress; restarting it for the same tasks never ends.
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"));
    command
        .args(["pool", "-j1", "--framed", "--", "sh", "-c", "exit 3"])
        .stdin(Stdio::piped());
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("perfkit pool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(lines(1..=3).as_bytes())
        .expect("tasks");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(out) = rx.recv_timeout(Duration::from_secs(60)) else {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid")),
            nix::sys::signal::Signal::SIGKILL,
        );
        panic!("the pool restarted a worker that exits at once for ever");
    };
    let out = out.expect("output");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("exit code 3").count(), 3, "{stderr}");
}

#[test]
fn extra_answer_lines_fail_the_run() {
    // Two lines per task: every answer after the first is matched to the wrong task.
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"));
    command.args([
        "pool",
        "-j1",
        "--",
        "sh",
        "-c",
        "while IFS= read -r l; do echo \"$l\"; echo extra; done",
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let tasks = dir.path().join("tasks");
    std::fs::write(&tasks, lines(1..=6)).expect("tasks");
    command.stdin(std::fs::File::open(&tasks).expect("open"));
    let out = output_within_a_minute(command);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("answered more lines than it was sent tasks"),
        "{stderr}"
    );
    // The extra line comes after the last task's answer was taken: still seen.
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"));
    command.args([
        "pool",
        "-j1",
        "--",
        "sh",
        "-c",
        "while IFS= read -r l; do echo \"$l\"; sleep 0.3; echo extra; done",
    ]);
    std::fs::write(&tasks, "1\n").expect("tasks");
    command.stdin(std::fs::File::open(&tasks).expect("open"));
    let out = output_within_a_minute(command);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("answered more lines than it was sent tasks"),
        "{stderr}"
    );
}

#[test]
fn a_timeout_kills_what_the_worker_started() {
    let marker = "31.4159265";
    let script = format!("while IFS= read -r l; do sleep {marker}; echo \"$l\"; done");
    let dir = tempfile::tempdir().expect("tempdir");
    let tasks = dir.path().join("tasks");
    std::fs::write(&tasks, "1\n").expect("tasks");
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"));
    command
        .args(["pool", "-j1", "--timeout", "1s", "--", "sh", "-c", &script])
        .stdin(std::fs::File::open(&tasks).expect("open"));
    let out = output_within_a_minute(command);
    assert_eq!(out.status.code(), Some(1));
    let left = survivors(marker);
    assert!(left.is_empty(), "survivors: {left:?}");
}

#[test]
fn an_interrupted_pool_writes_its_results_and_stops_its_workers() {
    use std::os::unix::process::ExitStatusExt as _;
    for signal in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGTERM,
    ] {
        let marker = format!("perfkit-test-worker-{}", signal as i32);
        let script = format!("# {marker}\nwhile IFS= read -r n; do echo $((n * n)); done");
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"))
            .args(["pool", "--workers", "2", "--", "sh", "-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("perfkit pool");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(lines(1..=10).as_bytes()).expect("tasks");
        stdin.flush().expect("flush");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut results = Vec::new();
        for _ in 0..10 {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("a result");
            results.push(line.trim().parse::<u64>().expect("a number"));
        }
        // Standard input stays open: only the signal can end the pool now.
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
        nix::sys::signal::kill(pid, signal).expect("signal");
        let status = child.wait().expect("wait");
        drop(stdin);
        assert_eq!(
            status.signal(),
            Some(signal as i32),
            "{signal:?}: {status:?}"
        );
        results.sort_unstable();
        assert_eq!(results, (1..=10u64).map(|n| n * n).collect::<Vec<_>>());
        let left = survivors(&marker);
        assert!(left.is_empty(), "{signal:?} left workers: {left:?}");
    }
}

#[test]
fn a_signal_ends_naive_while_it_still_reads_its_input() {
    use std::os::unix::process::ExitStatusExt as _;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"))
        .args(["pool", "--naive", "--", "sh", "-c", "echo $0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("perfkit pool --naive");
    // Input that never ends, as from `tail -f`: the signal must still end perfkit.
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"1\n2\n").expect("tasks");
    std::thread::sleep(Duration::from_millis(300));
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("perfkit pool --naive ignored SIGTERM while reading its input");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    assert_eq!(status.signal(), Some(15), "{status:?}");
}

#[test]
fn an_idle_connection_does_not_hold_up_a_scrape() {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"))
        .args(["pool", "--metrics-addr", "127.0.0.1:0", "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("perfkit pool");
    let (addr, _stderr) = metrics_address(&mut child);
    // A client that connects and says nothing.
    let _idle = std::net::TcpStream::connect(&addr).expect("idle connection");
    std::thread::sleep(Duration::from_millis(100));
    // The server waits up to 5 s for an idle client; a scrape must not wait behind it.
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(4)))
        .expect("timeout");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("the scrape is answered while another connection is idle");
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    drop(child.stdin.take());
    let _ = child.wait();
}

#[test]
fn a_pool_interrupted_while_busy_writes_whole_results_and_says_how_many() {
    use std::os::unix::process::ExitStatusExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let tasks = dir.path().join("tasks");
    std::fs::write(&tasks, lines(1..=300_000)).expect("tasks");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"))
        .args([
            "pool",
            "--ordered",
            "--workers",
            "2",
            "--",
            "sh",
            "-c",
            SQUARE,
        ])
        .stdin(std::fs::File::open(&tasks).expect("open"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("perfkit pool");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while memchr::memchr_iter(b'\n', &seen).count() < 1000 {
        let n = stdout.read(&mut buf).expect("results");
        assert!(n > 0, "the pool ended before the signal");
        seen.extend_from_slice(&buf[..n]);
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("signal");
    stdout.read_to_end(&mut seen).expect("the rest");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let status = child.wait().expect("wait");
    assert_eq!(status.signal(), Some(2), "{stderr}");
    let text = String::from_utf8(seen).expect("text");
    assert!(
        text.ends_with('\n'),
        "a result was cut: {:?}",
        &text[text.len() - 20..]
    );
    let results: Vec<&str> = text.lines().collect();
    for (i, r) in results.iter().enumerate() {
        let n = i as u64 + 1;
        assert_eq!(*r, (n * n).to_string(), "result {n}");
    }
    assert!(
        stderr.contains(&format!("{} results written", results.len())),
        "{} results on stdout; {stderr}",
        results.len()
    );
}

#[test]
fn a_signal_stops_a_pool_that_waits_for_a_hung_worker() {
    use std::os::unix::process::ExitStatusExt as _;
    // One answer, then the worker hangs with tasks in flight; in order, nothing else can come.
    let marker = "300.2718";
    let script = format!("read l; echo \"r$l\"; exec sleep {marker}");
    let dir = tempfile::tempdir().expect("tempdir");
    let tasks = dir.path().join("tasks");
    std::fs::write(&tasks, lines(1..=3)).expect("tasks");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"))
        .args(["pool", "-j1", "--ordered", "--", "sh", "-c", &script])
        .stdin(std::fs::File::open(&tasks).expect("open"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("perfkit pool");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    // The answer that came must be handed on while the pool waits for the rest.
    let (line_tx, line_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        let _ = stdout.read_line(&mut first);
        let _ = line_tx.send(first);
    });
    let Ok(first) = line_rx.recv_timeout(Duration::from_secs(60)) else {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = child.wait();
        kill_marked(marker);
        panic!("the pool kept its first result while it waited for a hung worker");
    };
    assert_eq!(first, "r1\n");
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let Ok(status) = rx.recv_timeout(Duration::from_secs(60)) else {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        kill_marked(marker);
        panic!("the pool did not end on SIGTERM while it waited for a hung worker");
    };
    assert_eq!(status.expect("status").signal(), Some(15));
    let left = survivors(marker);
    assert!(left.is_empty(), "left {left:?}");
}

#[test]
fn an_interrupted_naive_run_keeps_its_results_and_stops_the_task() {
    // SIGINT too: sent with kill, it reaches perfkit alone, not the task.
    for (signal, marker) in [
        (nix::sys::signal::Signal::SIGTERM, "300.1414"),
        (nix::sys::signal::Signal::SIGINT, "300.1415"),
    ] {
        naive_run_interrupted_by(signal, marker);
    }
}

fn naive_run_interrupted_by(signal: nix::sys::signal::Signal, marker: &str) {
    use std::os::unix::process::ExitStatusExt as _;
    // Two quick tasks, then one that hangs.
    let script = format!("[ \"$0\" = 3 ] && exec sleep {marker}; echo \"r$0\"");
    let dir = tempfile::tempdir().expect("tempdir");
    let tasks = dir.path().join("tasks");
    std::fs::write(&tasks, lines(1..=5)).expect("tasks");
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"))
        .args(["pool", "--naive", "--", "sh", "-c", &script])
        .stdin(std::fs::File::open(&tasks).expect("open"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("perfkit pool");
    // The task's sleep itself: perfkit's command line holds the marker too.
    let started = std::time::Instant::now();
    while !sleep_is_running(marker) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "task 3 never ran"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, signal).expect("signal");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(out) = rx.recv_timeout(Duration::from_secs(60)) else {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        kill_marked(marker);
        panic!("the naive run did not end on {signal}");
    };
    let out = out.expect("output");
    assert_eq!(out.status.signal(), Some(signal as i32));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "r1\nr2\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 results written"), "{stderr}");
    let left = survivors(marker);
    assert!(left.is_empty(), "left {left:?}");
}

/// Kills every process whose command line holds `marker` (a test's cleanup after a failure).
fn kill_marked(marker: &str) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(marker) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}
