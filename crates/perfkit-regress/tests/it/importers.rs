//! Importers and baseline files on real output of perfkit bench, hyperfine 1.11, 1.15 and 1.20
//! and criterion 0.8 (made on the development VM; see `data/README.md`), and on malformed
//! files. Every other criterion release is in `criterion_versions.rs`.

use std::path::{Path, PathBuf};

use perfkit_regress::{
    BASELINE_SCHEMA_VERSION, Baseline, Metric, Policy, RegressError, SourceKind, Verdict, Work,
    check, load_any, load_criterion,
};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn verdict(report: &perfkit_regress::CheckReport, bench: &str, metric: Metric) -> Verdict {
    report
        .findings
        .iter()
        .find(|f| f.benchmark == bench && f.metric == metric)
        .unwrap_or_else(|| panic!("no finding for {bench} {metric}"))
        .verdict
}

#[test]
fn perfkit_bench_output_catches_the_slower_command() {
    let before = load_any(&data("bench_before.json"), None).unwrap();
    let after = load_any(&data("bench_after.json"), None).unwrap();
    assert_eq!(before.source.kind, SourceKind::PerfkitBench);
    assert_eq!(before.benchmarks.len(), 2);
    let parse = before.get("parse").unwrap();
    assert_eq!(parse.samples_ns.len(), 30);
    assert_eq!(parse.rss_bytes.len(), 30);
    // The report's time, not the import's.
    assert!(before.created_unix_s < after.created_unix_s + 1);

    let report = check(&before, &after, &Policy::default()).unwrap();
    // workload cpu 20 → cpu 24: 20% more work.
    assert_eq!(
        verdict(&report, "parse", Metric::Throughput),
        Verdict::Regressed
    );
    assert_eq!(
        verdict(&report, "sleep", Metric::Throughput),
        Verdict::Unchanged
    );
    // 30 samples cannot estimate a p99: the default rules leave it out and say so.
    assert!(report.findings.iter().all(|f| f.metric != Metric::P99));
    assert_eq!(report.skipped.len(), 2, "{:?}", report.skipped);
    assert!(report.skipped[0].contains("needs 100 samples per side and there are 30 and 30"));
    assert!(report.has_regression());
    // Named by the user, it is judged, and inconclusive.
    let named = Policy {
        skip_unsupported_tails: false,
        ..Policy::default()
    };
    let report = check(&before, &after, &named).unwrap();
    assert_eq!(
        verdict(&report, "parse", Metric::P99),
        Verdict::Inconclusive
    );
    assert!(report.skipped.is_empty());

    let rss = Policy {
        rules: vec![perfkit_regress::MetricRule {
            metric: Metric::PeakRss,
            threshold: 0.05,
        }],
        ..Policy::default()
    };
    let report = check(&before, &after, &rss).unwrap();
    assert!(!report.has_regression(), "{:?}", report.findings);
    assert!(report.findings.iter().all(|f| f.baseline.is_some()));
}

#[test]
fn hyperfine_export_catches_the_slower_command() {
    let before = load_any(&data("hyperfine_before.json"), None).unwrap();
    let after = load_any(&data("hyperfine_after.json"), None).unwrap();
    assert_eq!(before.source.kind, SourceKind::Hyperfine);
    let parse = before.get("parse").unwrap();
    assert_eq!(parse.samples_total, 30);
    // hyperfine writes seconds; perfkit keeps nanoseconds.
    assert!(
        parse.summary.p50 > 1e7 && parse.summary.p50 < 1e8,
        "{:?}",
        parse.summary
    );
    let report = check(&before, &after, &Policy::default()).unwrap();
    assert_eq!(
        verdict(&report, "parse", Metric::Throughput),
        Verdict::Regressed
    );
    assert_ne!(
        verdict(&report, "sleep", Metric::Throughput),
        Verdict::Regressed
    );
}

#[test]
fn criterion_baselines_compare_by_name() {
    let dir = data("criterion");
    let before = load_criterion(&dir, "before").unwrap();
    let after = load_criterion(&dir, "after").unwrap();
    assert_eq!(before.source.criterion_baseline.as_deref(), Some("before"));
    let names: Vec<&str> = before.benchmarks.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["parse/split/16", "parse/split/64", "sum_squares"]);
    assert_eq!(
        before.get("parse/split/16").unwrap().work,
        Some(Work::Elements(64.0))
    );
    // Per-iteration times: about 1.7 µs for sum_squares, not the sample's total.
    let s = before.get("sum_squares").unwrap().summary;
    assert!(s.p50 > 500.0 && s.p50 < 10_000.0, "{s:?}");

    // criterion's own headline is kept: its slope, 2.054 µs [2.006 µs 2.114 µs] as printed.
    let e = after
        .get("sum_squares")
        .unwrap()
        .tool_estimate
        .clone()
        .unwrap();
    assert_eq!(e.statistic, "slope");
    assert!(
        (e.ns - 2054.24).abs() < 0.01 && e.low_ns < e.ns && e.ns < e.high_ns,
        "{e:?}"
    );

    let report = check(&before, &after, &Policy::default()).unwrap();
    // sum_squares went from 1000 to 1150 terms.
    assert_eq!(
        verdict(&report, "sum_squares", Metric::Throughput),
        Verdict::Regressed
    );
    assert_eq!(
        verdict(&report, "parse/split/64", Metric::Throughput),
        Verdict::Unchanged
    );
    // `new` is the latest run, the same as `after`.
    let new = load_any(&dir, None).unwrap();
    assert_eq!(new.source.criterion_baseline.as_deref(), Some("new"));
    assert_eq!(
        new.get("sum_squares").unwrap().samples_ns,
        after.get("sum_squares").unwrap().samples_ns
    );
}

#[test]
fn criterion_errors_name_the_fix() {
    let err = load_criterion(&data("criterion"), "main")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no criterion baseline named 'main'") && err.contains("after, before, new"),
        "{err}"
    );
    let err = load_criterion(&data("criterion_emptied"), "new")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("benchmark.json is empty") && err.contains("another name"),
        "{err}"
    );
    let empty = tempfile::tempdir().unwrap();
    let err = load_criterion(empty.path(), "new").unwrap_err().to_string();
    assert!(err.contains("no criterion results here"), "{err}");
    let err = load_any(&data("hyperfine_before.json"), Some("base"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("applies only to a criterion directory"),
        "{err}"
    );
}

#[test]
fn malformed_criterion_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bench = dir.path().join("group/bench/new");
    std::fs::create_dir_all(&bench).unwrap();
    let meta = std::fs::read_to_string(data("criterion/sum_squares/new/benchmark.json")).unwrap();
    std::fs::write(bench.join("benchmark.json"), meta).unwrap();
    let cases = [
        (
            "{\"iters\": [1.0, 2.0], \"times\": [5.0]}",
            "2 iteration counts but 1 times",
        ),
        (
            "{\"iters\": [0.0], \"times\": [5.0]}",
            "iteration count of 0",
        ),
        (
            "{\"iters\": [1.0], \"times\": [-5.0]}",
            "negative or not finite",
        ),
        (
            "{\"sampling_mode\": \"Linear\"}",
            "sample.json: missing field",
        ),
        ("{\"iters\": [1.0], \"tim", "sample.json: EOF"),
    ];
    for (sample, message) in cases {
        std::fs::write(bench.join("sample.json"), sample).unwrap();
        let err = load_criterion(dir.path(), "new").unwrap_err().to_string();
        assert!(err.contains(message), "{sample}: {err}");
        assert!(
            err.contains("not valid criterion output") || err.contains("benchmark '"),
            "{err}"
        );
    }
    let sample = std::fs::read_to_string(data("criterion/sum_squares/new/sample.json")).unwrap();
    std::fs::write(bench.join("sample.json"), sample).unwrap();
    assert!(load_criterion(dir.path(), "new").is_ok());
    std::fs::write(bench.join("estimates.json"), "{\"mean\": 3}").unwrap();
    let err = load_criterion(dir.path(), "new").unwrap_err().to_string();
    assert!(err.contains("estimates.json: invalid type"), "{err}");
}

#[test]
fn a_baseline_round_trips_and_is_replaced_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("base.json");
    let baseline = load_any(&data("bench_before.json"), None).unwrap();
    baseline.save(&path).unwrap();
    let back = Baseline::load(&path).unwrap();
    // Exactly the same numbers (floats round-trip), so a check gives the same p-values.
    assert_eq!(back.to_json(), baseline.to_json());
    assert_eq!(
        back.benchmarks[0].samples_ns,
        baseline.benchmarks[0].samples_ns
    );
    assert_eq!(back.benchmarks[0].summary, baseline.benchmarks[0].summary);
    assert_eq!(back.schema_version, BASELINE_SCHEMA_VERSION);
    // load_any reads a baseline file as such.
    assert_eq!(load_any(&path, None).unwrap().to_json(), baseline.to_json());
    // Replacing it leaves no temporary file behind.
    let other = load_any(&data("hyperfine_before.json"), None).unwrap();
    other.save(&path).unwrap();
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1);
    assert_eq!(Baseline::load(&path).unwrap().to_json(), other.to_json());
    // A directory that does not exist: an error naming the file.
    let err = baseline
        .save(&dir.path().join("missing/base.json"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot write") && err.contains("missing/base.json"),
        "{err}"
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn malformed_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = load_any(&data("bench_before.json"), None)
        .unwrap()
        .to_json();

    let cut = write(dir.path(), "cut.json", &good[..good.len() / 2]);
    let err = load_any(&cut, None).unwrap_err();
    assert!(matches!(err, RegressError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("truncated"), "{err}");

    let newer = good.replacen(
        &format!("\"schema_version\": {BASELINE_SCHEMA_VERSION}"),
        "\"schema_version\": 99",
        1,
    );
    let err = load_any(&write(dir.path(), "newer.json", &newer), None).unwrap_err();
    assert!(
        matches!(err, RegressError::NewerSchema { found: 99, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade perfkit"), "{err}");

    let edited = good.replacen("\"samples_total\": 30", "\"samples_total\": 31", 1);
    let err = load_any(&write(dir.path(), "edited.json", &edited), None).unwrap_err();
    assert!(
        err.to_string().contains("samples_total 31 disagrees"),
        "{err}"
    );

    let err = load_any(&write(dir.path(), "empty.json", ""), None).unwrap_err();
    assert!(err.to_string().contains("the file is empty"), "{err}");

    let err = load_any(&write(dir.path(), "other.json", "{\"a\": 1}"), None).unwrap_err();
    assert!(err.to_string().contains("hyperfine --export-json"), "{err}");

    let err = load_any(&write(dir.path(), "text.json", "not json"), None).unwrap_err();
    assert!(err.to_string().contains("not JSON"), "{err}");

    let no_times = r#"{"results": [{"command": "a", "mean": 1.0}]}"#;
    let err = load_any(&write(dir.path(), "hf.json", no_times), None).unwrap_err();
    assert!(err.to_string().contains("has neither \"times\""), "{err}");

    let negative = r#"{"results": [{"command": "a", "times": [0.1, -0.2]}]}"#;
    let err = load_any(&write(dir.path(), "hf2.json", negative), None).unwrap_err();
    assert!(err.to_string().contains("benchmark 'a'"), "{err}");

    let dup =
        r#"{"results": [{"command": "a", "times": [0.1]}, {"command": "a", "times": [0.2]}]}"#;
    let err = load_any(&write(dir.path(), "hf3.json", dup), None).unwrap_err();
    assert!(err.to_string().contains("distinct names"), "{err}");

    let bench = std::fs::read_to_string(data("bench_before.json")).unwrap();
    let future = bench.replacen("\"schema_version\": 1", "\"schema_version\": 7", 1);
    let err = load_any(&write(dir.path(), "future.json", &future), None).unwrap_err();
    assert!(
        err.to_string().contains("schema_version 7 is newer"),
        "{err}"
    );
    let broken = bench.replace("\"wall_ns\"", "\"wall\"");
    let err = load_any(&write(dir.path(), "broken.json", &broken), None).unwrap_err();
    assert!(
        err.to_string().contains("not valid perfkit bench output"),
        "{err}"
    );

    let err = load_any(&dir.path().join("nope.json"), None).unwrap_err();
    assert!(err.to_string().contains("cannot read"), "{err}");
}

#[test]
fn different_environments_warn_and_missing_benchmarks_are_listed() {
    let before = load_any(&data("bench_before.json"), None).unwrap();
    let mut after = load_any(&data("bench_after.json"), None).unwrap();
    after.environment.cpu_model = Some("Some Other CPU".into());
    after.benchmarks.retain(|b| b.name == "parse");
    let report = check(&before, &after, &Policy::default()).unwrap();
    assert_eq!(report.missing, ["sleep"]);
    assert_eq!(report.environment_differences.len(), 1);
    let text = perfkit_regress::report::human(&report);
    assert!(
        text.contains("different environments") && text.contains("Some Other CPU"),
        "{text}"
    );
    assert!(
        text.contains("in the baseline but not measured now: sleep"),
        "{text}"
    );
    let md = perfkit_regress::report::markdown(&report);
    assert!(md.starts_with("### ❌ perfkit check: 1 regression"), "{md}");
    assert!(md.contains("| `parse` | throughput |"), "{md}");
}

#[test]
fn hyperfine_memory_and_failed_runs_are_imported() {
    let b = load_any(&data("hyperfine-1.20-ignore-failure.json"), None).unwrap();
    let ok = b.get("ok").unwrap();
    // memory_usage_byte becomes each run's peak RSS, so peak_rss can be checked.
    assert_eq!(ok.rss_bytes.len(), 12);
    assert!(
        ok.rss_bytes.iter().all(|&r| r > 1 << 20),
        "{:?}",
        ok.rss_bytes
    );
    assert_eq!(ok.failed_runs, 0);
    assert_eq!(b.get("fails").unwrap().failed_runs, 12);
    assert_eq!(b.get("killed").unwrap().failed_runs, 12);
    let warnings = b.warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("'fails': 12 of 12 runs"),
        "{warnings:?}"
    );
    // A check says so, on the side the failures are.
    let report = check(&b, &b, &Policy::default()).unwrap();
    let text = perfkit_regress::report::human(&report);
    assert!(text.contains("warning: baseline: 'fails'"), "{text}");
    assert!(text.contains("warning: current: 'killed'"), "{text}");
    assert!(text.contains("nearest rank"), "{text}");
    assert_eq!(report.percentile_definition, "nearest_rank");
    // Older hyperfine: no exit codes, no memory; read as before.
    let old = load_any(&data("hyperfine-1.11-ignore-failure.json"), None).unwrap();
    assert!(
        old.benchmarks
            .iter()
            .all(|x| x.failed_runs == 0 && x.rss_bytes.is_empty())
    );
    let scan = load_any(&data("hyperfine-1.20-parameters.json"), None).unwrap();
    let names: Vec<&str> = scan.benchmarks.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["seq 100", "seq 1000"]);
}

#[test]
fn hyperfine_2_files_are_read_from_their_measurements() {
    // hyperfine 2 keeps each run in `measurements`, with no `times`.
    let b = load_any(&data("hyperfine-2.0-ignore-failure.json"), None).unwrap();
    assert_eq!(b.source.kind, SourceKind::Hyperfine);
    let names: Vec<&str> = b.benchmarks.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["ok", "fails", "killed"]);
    let ok = b.get("ok").unwrap();
    assert_eq!(ok.samples_total, 12);
    assert_eq!(ok.rss_bytes.len(), 12);
    assert!(
        ok.rss_bytes.iter().all(|&r| r > 1 << 20),
        "{:?}",
        ok.rss_bytes
    );
    // sleep 0.01 through a shell: between 10 and 100 ms, in nanoseconds.
    assert!(
        ok.summary.p50 > 1e7 && ok.summary.p50 < 1e8,
        "{:?}",
        ok.summary
    );
    assert_eq!(ok.failed_runs, 0);
    assert_eq!(b.get("fails").unwrap().failed_runs, 12);
    assert_eq!(b.get("killed").unwrap().failed_runs, 12);
    // Unnamed benchmarks are named by their command, as hyperfine 2 shows them.
    let scan = load_any(&data("hyperfine-2.0-parameters.json"), None).unwrap();
    let names: Vec<&str> = scan.benchmarks.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["seq 100", "seq 1000"]);
    let report = check(&scan, &scan, &Policy::default()).unwrap();
    assert!(!report.has_regression());
    // A run in a unit hyperfine 2 does not write is refused, not misread; so are memory
    // values that are no byte count, a newer schema, and a file with no runs at all.
    let text = std::fs::read_to_string(data("hyperfine-2.0-parameters.json")).unwrap();
    let refused = |from: &str, to: &str, says: &str| {
        let hostile = text.replacen(from, to, 1);
        assert_ne!(hostile, text, "{from} not in the fixture");
        let error = perfkit_regress::parse_hyperfine(&hostile).unwrap_err();
        assert!(error.to_string().contains(says), "{to}: {error}");
    };
    refused(
        "\"unit\": \"second\"",
        "\"unit\": \"millisecond\"",
        "'millisecond'",
    );
    for memory in ["-1.0", "1e308"] {
        refused(
            "\"memory_peak_resident\": {\n            \"value\": ",
            &format!("\"memory_peak_resident\": {{\n            \"value\": {memory}, \"x\": "),
            "not a byte count",
        );
    }
    refused(
        "\"schema_version\": 2",
        "\"schema_version\": 3",
        "schema_version 3",
    );
    refused("\"measurements\"", "\"measured\"", "nor \"measurements\"");
}

#[test]
fn perfkit_medians_are_nearest_rank_not_hyperfines_average() {
    // hyperfine's own median averages the two middle times of an even count; perfkit's p50
    // is the lower one, as docs/formats.md says. Both come from the same times.
    let text = std::fs::read_to_string(data("hyperfine-1.20-parameters.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let result = &json["results"][0];
    let mut times: Vec<f64> = result["times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap())
        .collect();
    times.sort_by(f64::total_cmp);
    assert_eq!(times.len() % 2, 0);
    let n = times.len();
    let average = f64::midpoint(times[n / 2 - 1], times[n / 2]);
    assert!((result["median"].as_f64().unwrap() - average).abs() < 1e-12);
    let b = load_any(&data("hyperfine-1.20-parameters.json"), None).unwrap();
    let p50 = b.get("seq 100").unwrap().summary.p50;
    assert!(
        (p50 - (times[n / 2 - 1] * 1e9).round()).abs() < 1.0,
        "{p50}"
    );
}
