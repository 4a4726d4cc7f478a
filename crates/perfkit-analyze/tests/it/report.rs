//! The report of a real analysis: the HTML is well-formed, has every section, the latency
//! histogram and (when perf works here) the embedded flamegraph.

use perfkit_analyze::{AlternativeCommand, AnalyzeOptions, analyze, report};
use perfkit_sys::NoObserver;
use perfkit_testkit::{have, have_perf};
use quick_xml::events::Event;

/// Parses `html` as XML and checks every element is closed in order.
fn assert_well_formed(html: &str) {
    let mut reader = quick_xml::Reader::from_str(html);
    let mut stack: Vec<Vec<u8>> = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => stack.push(e.name().as_ref().to_vec()),
            Ok(Event::End(e)) => {
                let open = stack.pop().expect("a closing tag without an opening one");
                assert_eq!(open, e.name().as_ref(), "mismatched tags");
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("not well-formed at {}: {e}", reader.buffer_position()),
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}

/// Decodes the percent-encoding of a `data:` URL.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn argv(parts: &[&str]) -> Vec<String> {
    parts.iter().map(ToString::to_string).collect()
}

/// A report file is created like any new file (0666 & ~umask), not with tempfile's 0600.
fn assert_created_like_any_new_file(path: &std::path::Path) {
    let umask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|u| u32::from_str_radix(u.trim(), 8).ok())
        });
    if let Some(umask) = umask {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(path).unwrap().permissions(),
        );
        assert_eq!(
            mode & 0o777,
            0o666 & !umask,
            "{} has mode {mode:o}",
            path.display()
        );
    }
}

#[test]
fn the_html_report_is_well_formed_with_every_section() {
    let perf = have_perf();
    let valgrind = have("valgrind");
    let command = argv(&["sh", "-c", "for i in $(seq 30); do /bin/true; done"]);
    let first = analyze(
        &command,
        &AnalyzeOptions {
            runs: 3,
            warmup: 0,
            profile: false,
            syscalls: false,
            ..AnalyzeOptions::default()
        },
        &mut NoObserver,
    )
    .unwrap();
    let options = AnalyzeOptions {
        runs: 3,
        warmup: 0,
        profile: perf,
        syscalls: have("strace"),
        heap: valgrind,
        baseline: Some(first.to_baseline().unwrap()),
        alternative: Some(AlternativeCommand {
            label: "a shorter loop".into(),
            argv: argv(&["sh", "-c", "for i in $(seq 3); do /bin/true; done"]),
            fixes: Some(perfkit_analyze::BottleneckKind::SpawnHeavy),
        }),
        ..AnalyzeOptions::default()
    };
    let analysis = analyze(&command, &options, &mut NoObserver).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = report::write_report(dir.path(), &analysis).unwrap();
    let html = std::fs::read_to_string(&path).unwrap();
    assert_well_formed(&html);
    assert_created_like_any_new_file(&path);
    let mut sections = vec![
        "summary",
        "latency",
        "resources",
        "alternative",
        "bottlenecks",
        "baseline",
    ];
    if valgrind {
        sections.push("heap");
    }
    for id in sections {
        assert!(
            html.contains(&format!("<section id=\"{id}\">")),
            "{id} missing"
        );
    }
    assert!(html.contains("aria-label=\"histogram of wall time per run\""));
    assert!(
        html.contains("Measured: a shorter loop: "),
        "no speed-up line"
    );
    // Three runs per side are too few for a verdict: the comparison says so.
    assert!(
        html.contains("inconclusive"),
        "baseline section without findings"
    );
    assert!(!analysis.regressed());
    if perf {
        let svg = analysis
            .flamegraph_svg
            .as_deref()
            .unwrap_or_else(|| panic!("no flamegraph: {:?}", analysis.unavailable));
        let marker = "<iframe title=\"flamegraph\" style=\"height:";
        let at = html.find(marker).expect("no embedded flamegraph");
        let prefix = "src=\"data:image/svg+xml;charset=utf-8,";
        let start = at + html[at..].find(prefix).unwrap() + prefix.len();
        let end = start + html[start..].find('"').unwrap();
        // The frame carries the flamegraph byte for byte, script and all.
        assert_eq!(percent_decode(&html[start..end]), svg);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("flamegraph.svg")).unwrap(),
            svg
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(
        json["schema_version"],
        perfkit_analyze::ANALYSIS_SCHEMA_VERSION
    );
    assert!(json["alternative"]["speedup"].as_f64().unwrap() > 0.0);
    assert!(json["baseline"]["check"]["findings"].is_array());
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    for heading in [
        "**Verdict:**",
        "## The fix, measured",
        "## Baseline comparison",
    ] {
        assert!(md.contains(heading), "{heading} missing from report.md");
    }
}
