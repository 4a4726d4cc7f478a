//! `perfkit analyze` on programs nobody here wrote, each with a known right answer: the
//! verdict it must name first, the advice it must give, and no number that contradicts
//! another. The programs come from Debian (ripgrep, GNU grep, gzip, sqlite3, coreutils dd,
//! findutils, `CPython`); the inputs are made here.
//!
//! | program | right verdict | right first advice |
//! |---|---|---|
//! | `rg` with a costly regex | CPU-bound | a system program: use it differently (no PGO of someone else's binary) |
//! | `rg -j8` over many files | CPU-bound, never spawn-heavy (threads) | as above |
//! | a Python script through a shim that `exec`s python3 | CPU-bound, a wrapper noted | profile the Python code (py-spy) |
//! | `gzip -9` reading stdin | CPU-bound on the real input | as above |
//! | GNU grep writing to /dev/null | a warning before the numbers | `--output=pipe` measures the real work |
//! | `sqlite3` inserting rows, one transaction each | fsync-bound | sync once per batch |
//! | `dd bs=1k` | small I/O calls | larger blocks, with the call size and count |
//! | `find -exec md5sum {} ;` | spawn-heavy | reuse processes (a pool) |
//! | `zgrep` (gzip's shell script) over many small files | spawn-heavy | reuse processes (a pool) |

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use perfkit_testkit::have;
use serde_json::Value;

/// A directory on the disk the build is on (not a tmpfs: fsync must reach a device).
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("real-programs");
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    })
}

/// About `mib` MiB of English-like text (made once per size).
fn corpus(mib: usize) -> PathBuf {
    let path = scratch().join(format!("corpus-{mib}m.txt"));
    if std::fs::metadata(&path).is_ok_and(|m| m.len() as usize >= mib << 20) {
        return path;
    }
    let words = [
        "the", "running", "process", "of", "starting", "a", "kernel", "reading", "file", "and",
        "writing", "buffer", "thread", "during", "sampling", "profile", "heap", "is", "waiting",
        "for", "disk", "main", "fn", "returns",
    ];
    let mut text = String::with_capacity(mib << 20);
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    while text.len() < mib << 20 {
        for _ in 0..12 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.push_str(words[(state % words.len() as u64) as usize]);
            text.push(' ');
        }
        text.push('\n');
    }
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text).expect("write the corpus");
    std::fs::rename(&partial, &path).expect("publish the corpus");
    path
}

/// `perfkit analyze --json -r 3 ARGS -- COMMAND`, stdin from `input` (or /dev/null).
fn analyze(args: &[&str], command: &[&str], input: Option<&Path>) -> Value {
    let report = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfkit"));
    cmd.args(["analyze", "-q", "--json", "-r", "3", "-o"])
        .arg(report.path())
        .args(args)
        .arg("--")
        .args(command)
        .stdin(match input {
            Some(path) => std::process::Stdio::from(std::fs::File::open(path).unwrap()),
            None => std::process::Stdio::null(),
        });
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let analysis: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    no_contradiction(&analysis);
    analysis
}

fn kinds(a: &Value) -> Vec<String> {
    a["bottlenecks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["kind"].as_str().unwrap().to_string())
        .collect()
}

fn first_advice(a: &Value) -> String {
    a["recommendations"][0]["action"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Numbers that must agree: each bottleneck's share is the one its evidence and its gain
/// bound state, ranks follow scores, and no advice sends a user to perfkit's own build tools.
fn no_contradiction(a: &Value) {
    let bottlenecks = a["bottlenecks"].as_array().unwrap();
    let scores: Vec<f64> = bottlenecks
        .iter()
        .map(|b| b["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    for (b, r) in bottlenecks
        .iter()
        .zip(a["recommendations"].as_array().unwrap())
    {
        assert_eq!(b["kind"], r["kind"]);
        let gain = r["expected_gain"].as_str().unwrap();
        assert!(
            !gain.contains("docs/benchmarks.md"),
            "a fixed table: {gain}"
        );
        if let Some(share) = b["share"].as_f64()
            && let Some((_, rest)) = gain.split_once("removing this time alone gives up to ")
        {
            let bound: f64 = rest.split('×').next().unwrap().parse().unwrap();
            assert!(
                (bound - 1.0 / (1.0 - share)).abs() < 0.01,
                "{gain} vs {share}"
            );
            assert!(
                gain.contains(&format!("{:.0}% of the run", share * 100.0)),
                "{gain}"
            );
        }
        // A gain is a measurement or said to be unknown: never a promise.
        assert!(
            gain.starts_with("unknown until measured") || gain.starts_with("measured in this run"),
            "{gain}"
        );
        let all = format!("{} {}", r["action"], r["perfkit"]);
        assert!(
            !all.contains("cargo xtask"),
            "perfkit's own tooling offered: {all}"
        );
    }
}

#[test]
fn ripgrep_with_a_costly_regex_is_cpu_bound() {
    if !have("rg") {
        return;
    }
    let corpus = corpus(24);
    let corpus = corpus.to_str().unwrap();
    let a = analyze(
        &["--no-profile"],
        &["rg", "-c", r"\w+\s+\w+ing\b", corpus],
        None,
    );
    assert_eq!(kinds(&a)[0], "cpu_bound", "{a:#}");
    // Debian's rg is not the user's build: no PGO advice, and its missing symbols are said.
    let advice = first_advice(&a);
    assert!(advice.contains("system program"), "{advice}");
    assert!(!advice.contains("PGO"), "{advice}");
    if a["measurements"]["program"]["stripped"] == true {
        assert!(
            a["bottlenecks"][0]["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e.as_str().unwrap().contains("stripped")),
            "{a:#}"
        );
    }
}

#[test]
fn ripgreps_threads_are_not_process_starts() {
    if !have("rg") {
        return;
    }
    let dir = scratch().join("tree");
    std::fs::create_dir_all(&dir).unwrap();
    let corpus = corpus(24);
    for i in 0..8 {
        let file = dir.join(format!("part{i}.txt"));
        if !file.exists() {
            std::fs::copy(&corpus, &file).unwrap();
        }
    }
    let a = analyze(
        &["--no-profile"],
        &["rg", "-j8", "-c", r"\w+\s+\w+ing\b", dir.to_str().unwrap()],
        None,
    );
    let found = kinds(&a);
    assert!(!found.contains(&"spawn_heavy".to_string()), "{a:#}");
    assert_eq!(found[0], "cpu_bound", "{a:#}");
    let p = &a["measurements"]["processes"];
    assert!(p["threads"].as_u64().unwrap() >= 1, "{p:#}");
    assert_eq!(p["processes"], 0, "{p:#}");
}

#[test]
fn a_python_script_through_a_shim_is_python_code_to_profile() {
    if !have("python3") || !have("bash") || !have("env") {
        return;
    }
    // A version-manager shim as pyenv and rbenv install them: look the interpreter up along
    // a path, then exec it.
    let shim_dir = scratch().join("shims");
    std::fs::create_dir_all(&shim_dir).unwrap();
    let shim = shim_dir.join("python3");
    std::fs::write(
        &shim,
        "#!/usr/bin/env bash\nset -e\nfor dir in /nonexistent/a /nonexistent/b /usr/local/bin /usr/bin; do\n  if [ -x \"$dir/python3\" ]; then exec \"$dir/python3\" \"$@\"; fi\ndone\nexit 127\n",
    )
    .unwrap();
    let mut perms = std::fs::metadata(&shim).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&shim, perms).unwrap();
    let script = scratch().join("primes.py");
    std::fs::write(
        &script,
        "found = []\nfor k in range(2, 30000):\n    if all(k % p for p in found if p * p <= k):\n        found.append(k)\nprint(len(found))\n",
    )
    .unwrap();
    let a = analyze(
        &["--no-profile"],
        &[shim.to_str().unwrap(), script.to_str().unwrap()],
        None,
    );
    assert_eq!(kinds(&a)[0], "cpu_bound", "{a:#}");
    assert!(first_advice(&a).contains("py-spy"), "{a:#}");
    assert!(!kinds(&a).contains(&"spawn_heavy".to_string()), "{a:#}");
    let warnings = a["warnings"].to_string();
    assert!(warnings.contains("is a wrapper"), "{a:#}");
    assert_eq!(a["measurements"]["program"]["kind"]["language"], "Python");
}

#[test]
fn gzip_is_measured_on_its_real_input() {
    if !have("gzip") {
        return;
    }
    let input = corpus(6);
    let a = analyze(&["--no-profile"], &["gzip", "-9"], Some(&input));
    // Every measured run read the whole input from stdin.
    let size = std::fs::metadata(&input).unwrap().len() as f64;
    let samples = a["measurements"]["io_bytes"].as_f64().unwrap();
    assert!(samples >= size, "{samples} < {size}");
    assert_eq!(kinds(&a)[0], "cpu_bound", "{a:#}");
}

#[test]
fn grep_into_dev_null_is_named_before_its_numbers() {
    if !have("grep") {
        return;
    }
    let corpus = corpus(24);
    let corpus = corpus.to_str().unwrap();
    let a = analyze(
        &["--no-profile", "--no-syscalls"],
        &["grep", "-c", "main", corpus],
        None,
    );
    let warnings = a["warnings"].to_string();
    assert!(warnings.contains("--output=pipe"), "{a:#}");
    // Into a pipe it reads the whole file, and nothing is left to warn about.
    let piped = analyze(
        &["--no-profile", "--no-syscalls", "--output=pipe"],
        &["grep", "-c", "main", corpus],
        None,
    );
    assert_eq!(piped["warnings"], serde_json::json!([]));
    let size = std::fs::metadata(corpus).unwrap().len() as f64;
    assert!(piped["measurements"]["io_bytes"].as_f64().unwrap() >= size);
}

#[test]
fn sqlite_committing_each_insert_is_fsync_bound() {
    if !have("sqlite3") || !have("strace") {
        return;
    }
    let db = scratch().join("rows.sqlite");
    let sql = scratch().join("inserts.sql");
    let mut text = String::from("CREATE TABLE IF NOT EXISTS t(a, b);\n");
    for i in 0..400 {
        let _ = writeln!(text, "INSERT INTO t VALUES({i}, 'row {i}');");
    }
    std::fs::write(&sql, text).unwrap();
    let _ = std::fs::remove_file(&db);
    let a = analyze(
        &["--no-profile"],
        &["sqlite3", db.to_str().unwrap()],
        Some(&sql),
    );
    assert_eq!(kinds(&a)[0], "sync_bound", "{a:#}");
    assert!(first_advice(&a).contains("sync once per batch"), "{a:#}");
    assert!(!kinds(&a).contains(&"io_bound".to_string()), "{a:#}");
    assert!(!kinds(&a).contains(&"waiting".to_string()), "{a:#}");
}

#[test]
fn dd_in_one_kib_blocks_is_small_io_calls() {
    if !have("dd") || !have("strace") {
        return;
    }
    let corpus = corpus(24);
    let input = format!("if={}", corpus.display());
    let a = analyze(
        &["--no-profile"],
        &["dd", &input, "of=/dev/null", "bs=1k", "status=none"],
        None,
    );
    assert_eq!(kinds(&a)[0], "small_io", "{a:#}");
    let advice = first_advice(&a);
    // 24 MiB in 1 KiB reads and writes: about 49,000 calls of about 1 KiB (rchar also counts
    // the few bytes dd reads at start).
    assert!(
        advice.contains("1023 B each") || advice.contains("1.00 KiB each"),
        "{advice}"
    );
    let calls: f64 = advice
        .split(": ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(calls >= 45_000.0, "{advice}");
}

#[test]
fn find_exec_starting_a_process_per_file_is_spawn_heavy() {
    if !have("find") || !have("md5sum") || !have("strace") {
        return;
    }
    let dir = scratch().join("many");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..150 {
        std::fs::write(dir.join(format!("f{i}.txt")), format!("file {i}\n")).unwrap();
    }
    let a = analyze(
        &["--no-profile"],
        &[
            "find",
            dir.to_str().unwrap(),
            "-name",
            "*.txt",
            "-exec",
            "md5sum",
            "{}",
            ";",
        ],
        None,
    );
    assert_eq!(kinds(&a)[0], "spawn_heavy", "{a:#}");
    assert!(first_advice(&a).contains("reuse processes"), "{a:#}");
    assert_eq!(a["measurements"]["processes"]["processes"], 150, "{a:#}");
}

#[test]
fn zgrep_over_many_small_files_is_spawn_heavy() {
    if !have("zgrep") || !have("gzip") || !have("strace") {
        return;
    }
    // gzip's zgrep is a shell script that starts gzip, grep and more for every file.
    let dir = scratch().join("zgrep");
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for i in 0..40 {
        let plain = dir.join(format!("log{i}"));
        let gz = dir.join(format!("log{i}.gz"));
        if !gz.exists() {
            std::fs::write(&plain, format!("line {i} main\n")).unwrap();
            let ok = std::process::Command::new("gzip")
                .arg("-f")
                .arg(&plain)
                .status()
                .unwrap()
                .success();
            assert!(ok);
        }
        files.push(gz.to_str().unwrap().to_string());
    }
    let mut command = vec!["zgrep", "-c", "main"];
    command.extend(files.iter().map(String::as_str));
    let a = analyze(&["--no-profile"], &command, None);
    assert_eq!(kinds(&a)[0], "spawn_heavy", "{a:#}");
    assert!(first_advice(&a).contains("reuse processes"), "{a:#}");
    assert!(
        a["measurements"]["processes"]["processes"]
            .as_u64()
            .unwrap()
            >= 40
    );
}
