//! Replays every fuzz corpus (`fuzz/corpus/<target>/`, minimised after fuzzing, with the
//! inputs that once failed) through the same target code the fuzzers run, on stable Rust, so
//! a parser change that breaks on any of them fails CI. The fuzzing itself is `fuzz/run-all.sh`.

#[path = "../../../../fuzz/targets.rs"]
mod targets;

use std::path::Path;

#[test]
fn every_corpus_input_parses_without_panicking() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut inputs = 0;
    let mut failures = Vec::new();
    for target in targets::TARGETS {
        let dir = root.join(target);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (every target has a corpus)", dir.display()));
        let mut count = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| targets::run(target, &data));
            if outcome.is_err() {
                failures.push(path.display().to_string());
            }
            count += 1;
        }
        assert!(count > 0, "{target} has an empty corpus");
        inputs += count;
    }
    assert!(failures.is_empty(), "inputs that panicked: {failures:#?}");
    assert!(inputs > 50, "{inputs} inputs");
}
