//! Every external program a test runs is installed and checked by `.ci/run`: a test whose tool
//! is missing skips on a developer's machine, so only CI can prove the tool is there, and only
//! if `.ci/run` knows about it.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Rust sources of every test directory in the workspace.
fn test_sources() -> Vec<PathBuf> {
    let mut dirs = vec![
        root().join("xtask/tests"),
        root().join("crates/perfkit-testkit/src"),
    ];
    for entry in std::fs::read_dir(root().join("crates"))
        .expect("crates/")
        .flatten()
    {
        dirs.push(entry.path().join("tests"));
    }
    let mut files = Vec::new();
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// The string literals passed to `have("...")` and `Command::new("...")` in `text`.
fn programs_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for call in ["have(\"", "Command::new(\""] {
        for (at, _) in text.match_indices(call) {
            let rest = &text[at + call.len()..];
            if let Some(end) = rest.find('"') {
                found.push(rest[..end].to_owned());
            }
        }
    }
    found
}

#[test]
fn every_program_the_tests_run_is_checked_by_ci() {
    let ci = std::fs::read_to_string(root().join(".ci/run")).expect(".ci/run");
    let list = ci
        .split("TOOLS=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a TOOLS=\"...\" list in .ci/run");
    let listed: Vec<&str> = list.split_whitespace().filter(|t| *t != "\\").collect();
    let mut unlisted = Vec::new();
    for file in test_sources() {
        let text = std::fs::read_to_string(&file).expect("read");
        for program in programs_in(&text) {
            // Paths and names the tests make up on purpose are not tools.
            if program.contains('/')
                || program.starts_with("perfkit")
                || program.ends_with("-worker")
                || program.is_empty()
                || program == "..."
            {
                continue;
            }
            if !listed.contains(&program.as_str()) {
                unlisted.push(format!("{program} ({})", file.display()));
            }
        }
    }
    assert!(
        unlisted.is_empty(),
        "tests run programs that .ci/run does not check: {unlisted:?}"
    );
    for tool in ["promtool", "perf", "strace", "ltrace", "valgrind"] {
        assert!(listed.contains(&tool), "{tool} missing from .ci/run's list");
    }
}
