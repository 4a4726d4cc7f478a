//! The formats other viewers read, checked by those viewers' own readers: `go tool pprof`
//! reads every pprof file with perfkit's totals and hottest functions, and every speedscope
//! file validates against speedscope's published schema and loads in speedscope's own importer
//! with the same totals (tests/data/speedscope/).

use std::path::Path;
use std::process::Command;

use perfkit_profilers::export::Format;
use perfkit_profilers::perf::{CountUnit, FoldOptions, PerfFold, fold_perf_script};
use perfkit_testkit::{have, skip};

/// perf script text from other programs, languages and machines, folded as perfkit does.
fn profiles() -> Vec<(String, PerfFold)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut names = vec![dir.join("perf-script.txt")];
    let mut more: Vec<_> = std::fs::read_dir(dir.join("perf-script"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    more.sort();
    names.extend(more);
    let periods = FoldOptions {
        unit: CountUnit::Period,
        ..FoldOptions::default()
    };
    let mut out = Vec::new();
    for path in names {
        let text = std::fs::read(&path).unwrap();
        for options in [FoldOptions::default(), periods.clone()] {
            if let Ok(fold) = fold_perf_script(&text[..], &options)
                && !fold.stacks.is_empty()
            {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                out.push((format!("{name} ({:?})", options.unit), fold));
            }
        }
    }
    assert!(out.len() >= 10, "{}", out.len());
    out
}

/// `go tool pprof` with `args` on `file`; `None` when Go is missing (and allowed to be).
fn pprof(args: &[&str], file: &Path) -> Option<String> {
    if !have("go") {
        return None;
    }
    let out = Command::new("go")
        .args(["tool", "pprof"])
        .args(args)
        .arg(file)
        .env("HOME", std::env::temp_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "go tool pprof {args:?} {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

/// The sum of the first value of every sample `go tool pprof -raw` lists.
fn raw_total(raw: &str) -> u64 {
    let samples = raw.split("Samples:").nth(1).expect("a Samples: section");
    let samples = samples.split("Locations").next().unwrap_or(samples);
    samples
        .lines()
        .filter_map(|line| {
            let (value, rest) = line.trim().split_once(':')?;
            (!rest.is_empty()).then(|| value.trim().parse::<u64>().ok())?
        })
        .sum()
}

/// The rows of `go tool pprof -top`, hottest first: each function's name and flat count.
fn top_rows(top: &str) -> Vec<(String, u64)> {
    top.lines()
        .skip_while(|l| !l.trim_start().starts_with("flat"))
        .skip(1)
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            // With -unit=ns a CPU time reads `163ns`, unscaled; a count is a plain number.
            let flat = fields.first()?.trim_end_matches("ns").parse().ok()?;
            (fields.len() >= 6).then(|| (fields[5..].join(" "), flat))
        })
        .collect()
}

#[test]
fn go_tool_pprof_reads_every_profile_with_our_totals_and_hottest_functions() {
    let dir = tempfile::tempdir().unwrap();
    for (name, fold) in profiles() {
        let file = dir.path().join("profile.pb.gz");
        std::fs::write(&file, Format::Pprof.render(&fold, &name).unwrap()).unwrap();
        let Some(raw) = pprof(&["-raw"], &file) else {
            return;
        };
        assert_eq!(raw_total(&raw), fold.stacks.total(), "{name}:\n{raw}");
        // Every node, none dropped as too small, each name as written (pprof otherwise
        // demangles and shortens C++ names), so that each function's flat count shows.
        let top = pprof(
            &[
                "-top",
                "-unit=ns",
                "-nodefraction=0",
                "-edgefraction=0",
                "-symbolize=none",
            ],
            &file,
        )
        .unwrap();
        let theirs = top_rows(&top);
        let ours = fold.stacks.hot_functions(5);
        // Ties may come in another order; a hottest function with a count of its own must be
        // the same.
        if ours.len() < 2 || ours[0].self_count > ours[1].self_count {
            assert_eq!(theirs[0].0, ours[0].name, "{name}:\n{top}");
        }
        for hot in &ours {
            let flat = theirs.iter().find(|(n, _)| *n == hot.name).map(|(_, f)| *f);
            assert_eq!(flat, Some(hot.self_count), "{name}: {}\n{top}", hot.name);
        }
    }
}

#[test]
fn speedscope_files_validate_against_speedscope_schema() {
    if !have("python3") {
        return;
    }
    let schema =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/speedscope/file-format-schema.json");
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, (name, fold)) in profiles().into_iter().enumerate() {
        let file = dir.path().join(format!("{i}.speedscope.json"));
        std::fs::write(&file, Format::Speedscope.render(&fold, &name).unwrap()).unwrap();
        files.push(file);
    }
    let check = "import json, sys\n\
        try:\n    import jsonschema\n\
        except ImportError:\n    sys.exit(3)\n\
        schema = json.load(open(sys.argv[1]))\n\
        for path in sys.argv[2:]:\n    jsonschema.validate(json.load(open(path)), schema)\n";
    let out = Command::new("python3")
        .arg("-c")
        .arg(check)
        .arg(&schema)
        .args(&files)
        .output()
        .unwrap();
    if out.status.code() == Some(3) {
        skip("python3's jsonschema is not installed (Debian: apt-get install python3-jsonschema)");
        return;
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn speedscope_own_importer_reads_every_file_with_our_totals_and_hottest_functions() {
    if !have("node") {
        return;
    }
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/speedscope");
    let dir = tempfile::tempdir().unwrap();
    let profiles = profiles();
    let mut files = Vec::new();
    for (i, (name, fold)) in profiles.iter().enumerate() {
        let file = dir.path().join(format!("{i}.speedscope.json"));
        std::fs::write(&file, Format::Speedscope.render(fold, name).unwrap()).unwrap();
        files.push(file);
    }
    let out = Command::new("node")
        .arg(data.join("import.mjs"))
        .arg(data.join("speedscope-1.25.0.js"))
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let read = read.as_array().unwrap();
    assert_eq!(read.len(), profiles.len());
    for ((name, fold), file) in profiles.iter().zip(read) {
        // perfkit writes one profile per file; speedscope reads weights as they are.
        let profile = &file["profiles"][0];
        assert_eq!(file["profiles"].as_array().unwrap().len(), 1, "{name}");
        assert_eq!(
            profile["total"].as_u64(),
            Some(fold.stacks.total()),
            "{name}"
        );
        let frames = profile["frames"].as_array().unwrap();
        for hot in fold.stacks.hot_functions(5) {
            let theirs = frames.iter().find(|f| f["name"] == hot.name.as_str());
            assert_eq!(
                theirs.and_then(|f| f["self"].as_u64()),
                Some(hot.self_count),
                "{name}: {}",
                hot.name
            );
        }
    }
}

#[test]
fn a_pprof_file_given_back_as_input_is_named_as_gzip_not_as_bad_text() {
    let dir = tempfile::tempdir().unwrap();
    let (_, fold) = profiles().swap_remove(0);
    let file = dir.path().join("cpu.pb.gz");
    std::fs::write(&file, Format::Pprof.render(&fold, "x").unwrap()).unwrap();
    let error = perfkit_profilers::load_profile(&file, &FoldOptions::default(), &mut None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("gzip-compressed (a pprof profile"),
        "{error}"
    );
}
