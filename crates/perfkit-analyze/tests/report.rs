//! The report of a real analysis: the HTML is well-formed, has every section, the latency
//! histogram and (when perf works here) the embedded flamegraph.

use perfkit_analyze::{AnalyzeOptions, analyze, report};
use perfkit_sys::NoObserver;
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

#[test]
fn the_html_report_is_well_formed_with_every_section() {
    let perf = perfkit_sys::find_program("perf").is_some();
    let argv: Vec<String> = ["sh", "-c", "for i in $(seq 30); do /bin/true; done"]
        .iter()
        .map(ToString::to_string)
        .collect();
    let options = AnalyzeOptions {
        runs: 3,
        warmup: 0,
        profile: perf,
        syscalls: perfkit_sys::find_program("strace").is_some(),
    };
    let analysis = analyze(&argv, &options, &mut NoObserver).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = report::write_report(dir.path(), &analysis).unwrap();
    let html = std::fs::read_to_string(&path).unwrap();
    assert_well_formed(&html);
    for id in ["summary", "latency", "resources", "bottlenecks"] {
        assert!(
            html.contains(&format!("<section id=\"{id}\">")),
            "{id} missing"
        );
    }
    assert!(html.contains("aria-label=\"latency histogram\""));
    if perf && analysis.flamegraph_svg.is_some() {
        assert!(
            html.contains("<iframe title=\"flamegraph\" srcdoc=\"&lt;"),
            "no embedded flamegraph"
        );
        assert!(dir.path().join("flamegraph.svg").is_file());
    } else if std::env::var_os("PERFKIT_REQUIRE_TOOLS").is_some() {
        panic!(
            "perf is required under PERFKIT_REQUIRE_TOOLS: {:?}",
            analysis.unavailable
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["schema_version"], 1);
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("**Verdict:**"));
}
