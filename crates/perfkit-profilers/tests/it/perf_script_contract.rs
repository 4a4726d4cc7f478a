//! The compatibility contract with inferno's `collapse-perf`, checked on real perf script
//! output of many programs (tests/data/perf-script/, recorded by its record-fixtures.sh): with
//! periods, perfkit's folded lines equal inferno's, byte for byte after sorting; counting
//! samples, the same stacks carry one count per sample of the folded event.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use inferno::collapse::Collapse;
use inferno::collapse::perf::{Folder, Options};
use perfkit_profilers::perf::{CountUnit, FoldOptions, fold_perf_script};

/// The recordings made here and the published ones (inferno's test data, recorded by others
/// with other perf versions: `published/README.md`).
fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/perf-script");
    let mut files: Vec<PathBuf> = [dir.clone(), dir.join("published")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    files
}

/// inferno's own folding of `text` with its default options, as sorted lines.
fn inferno_lines(text: &[u8], options: Options) -> Vec<String> {
    let mut out = Vec::new();
    Folder::from(options).collapse(text, &mut out).unwrap();
    let mut lines: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

fn perfkit_fold(text: &[u8], options: &FoldOptions) -> perfkit_profilers::perf::PerfFold {
    fold_perf_script(text, options).unwrap()
}

/// The samples of `event` in `text`, counted without any folding code: every line that names
/// the event and has a stack: a frame on the next line, or its one frame after the event.
fn samples_of(text: &[u8], event: &str) -> u64 {
    let needle = format!(" {event}:");
    let text = String::from_utf8_lossy(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut samples = 0;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with('#') || !line.contains(&needle) {
            continue;
        }
        // Frames are indented (a tab, or spaces in some perf versions), end with their module
        // in parentheses and name no event.
        let next_is_frame = lines.get(i + 1).is_some_and(|l| {
            l.starts_with(char::is_whitespace)
                && l.trim_end().ends_with(')')
                && !l.contains(&needle)
        });
        let after_event = line.rsplit_once(':').map_or("", |(_, rest)| rest.trim());
        let frame_inline = line.trim_end().ends_with(')') && !after_event.is_empty();
        if next_is_frame || frame_inline {
            samples += 1;
        }
    }
    samples
}

#[test]
fn the_fixture_set_is_broad() {
    let files = fixtures();
    assert!(files.len() >= 29, "{} fixtures", files.len());
    let programs: std::collections::BTreeSet<String> = files
        .iter()
        .map(|f| {
            let name = f.file_stem().unwrap().to_string_lossy().into_owned();
            name.split('-').next().unwrap().to_owned()
        })
        .collect();
    assert!(programs.len() >= 6, "{programs:?}");
}

#[test]
fn with_periods_perfkit_folds_exactly_as_inferno() {
    for file in fixtures() {
        let text = std::fs::read(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy();
        let options = FoldOptions {
            unit: CountUnit::Period,
            ..FoldOptions::default()
        };
        let ours = perfkit_fold(&text, &options);
        assert!(!ours.stacks.is_empty(), "{name}: nothing folded");
        assert_eq!(
            ours.stacks.lines(),
            inferno_lines(&text, Options::default()),
            "{name}"
        );
    }
}

#[test]
fn the_annotations_fold_as_in_inferno() {
    let mut inferno_options = Options::default();
    inferno_options.include_tid = true;
    inferno_options.annotate_kernel = true;
    inferno_options.annotate_jit = true;
    inferno_options.include_addrs = true;
    let ours = FoldOptions {
        unit: CountUnit::Period,
        per_thread: true,
        annotate_kernel: true,
        annotate_jit: true,
        include_addrs: true,
        ..FoldOptions::default()
    };
    for file in fixtures() {
        let text = std::fs::read(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy();
        let folded = perfkit_fold(&text, &ours);
        assert_eq!(
            folded.stacks.lines(),
            inferno_lines(&text, inferno_options.clone()),
            "{name}"
        );
    }
    let mut per_process = Options::default();
    per_process.include_pid = true;
    let text = std::fs::read(fixtures()[0].clone()).unwrap();
    let folded = perfkit_fold(
        &text,
        &FoldOptions {
            unit: CountUnit::Period,
            per_process: true,
            ..FoldOptions::default()
        },
    );
    assert_eq!(folded.stacks.lines(), inferno_lines(&text, per_process));
}

#[test]
fn counting_samples_keeps_the_stacks_and_counts_each_sample_once() {
    for file in fixtures() {
        let text = std::fs::read(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy();
        let samples = perfkit_fold(&text, &FoldOptions::default());
        let periods = perfkit_fold(
            &text,
            &FoldOptions {
                unit: CountUnit::Period,
                ..FoldOptions::default()
            },
        );
        let keys = |f: &perfkit_profilers::perf::PerfFold| -> Vec<String> {
            f.stacks.iter().map(|(s, _)| s.to_owned()).collect()
        };
        assert_eq!(keys(&samples), keys(&periods), "{name}");
        assert_eq!(samples.event, periods.event, "{name}");
        assert!(!samples.event.is_empty(), "{name}");
        assert_eq!(
            samples.stacks.total(),
            samples_of(&text, &samples.event),
            "{name}: event {}",
            samples.event
        );
        // The counts are not all the same: the sample counts track the periods' shares.
        let by_stack: BTreeMap<&str, u64> = samples.stacks.iter().collect();
        assert!(by_stack.values().all(|&c| c >= 1), "{name}");
    }
}
