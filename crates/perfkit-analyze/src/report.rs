//! The analysis as files: `report.json`, `report.md`, a self-contained `report.html` (latency
//! histogram as inline SVG, the interactive flamegraph embedded), and `flamegraph.svg`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use perfkit_metrics::{format_bytes, format_duration};

use crate::pipeline::Analysis;

/// Escapes text for HTML.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One line: the strongest bottleneck, or that nothing stands out.
#[must_use]
pub fn verdict(a: &Analysis) -> String {
    match a.bottlenecks.first() {
        Some(b) => format!(
            "{}: {}",
            b.kind.title(),
            b.evidence.first().cloned().unwrap_or_default()
        ),
        None => "no single bottleneck stands out: CPU, waits, system calls and memory are balanced"
            .to_string(),
    }
}

fn resource_rows(a: &Analysis) -> Vec<(&'static str, String)> {
    let m = &a.measurements;
    let mut rows = vec![
        ("Wall time (mean)", format_duration(m.wall_ns)),
        ("User CPU (mean)", format_duration(m.user_ns)),
        ("System CPU (mean)", format_duration(m.system_ns)),
        (
            "CPU busy",
            format!(
                "{:.0}%",
                (m.user_ns + m.system_ns) / m.wall_ns.max(1.0) * 100.0
            ),
        ),
        ("Peak RSS", format_bytes(m.peak_rss_bytes)),
        (
            "Context switches (voluntary / involuntary)",
            format!(
                "{:.0} / {:.0}",
                m.voluntary_switches, m.involuntary_switches
            ),
        ),
    ];
    if let Some(io) = m.io_bytes {
        rows.push(("I/O read + written", format_bytes(io as u64)));
    }
    if let Some(w) = m.io_wait_ns {
        rows.push(("Block-I/O wait", format_duration(w)));
    }
    if let Some(s) = &m.syscalls {
        rows.push((
            "System calls (one traced run)",
            format!(
                "{:.0} ({:.0} execve, {:.0} clone/fork)",
                s.calls, s.execve, s.forks
            ),
        ));
    }
    rows
}

const LATENCY_HEADERS: [&str; 8] = [
    "p50",
    "p90",
    "p99",
    "p99.9",
    "mean ± σ",
    "min",
    "max",
    "throughput",
];

/// The latency table's row, in the order of [`LATENCY_HEADERS`].
fn latency_cells(a: &Analysis) -> [String; 8] {
    let l = &a.latency;
    let d = |ns: u64| format_duration(ns as f64);
    [
        d(l.p50),
        d(l.p90),
        d(l.p99),
        d(l.p999),
        format!(
            "{} ± {}",
            format_duration(l.mean),
            format_duration(l.stddev)
        ),
        d(l.min),
        d(l.max),
        format!("{:.2} runs/s", a.throughput_per_s),
    ]
}

/// The report as Markdown.
#[must_use]
pub fn markdown(a: &Analysis) -> String {
    let mut out = format!(
        "# perfkit analyze: `{}`\n\n**Verdict:** {}\n\n## Latency ({} runs)\n\n| {} |\n|{}\n| {} |\n\n## Resources (per run)\n\n| | |\n|:---|---:|\n",
        a.command.join(" ").replace('`', "'"),
        verdict(a),
        a.latency.count,
        LATENCY_HEADERS.join(" | "),
        "---:|".repeat(LATENCY_HEADERS.len()),
        latency_cells(a).join(" | ")
    );
    for (k, v) in resource_rows(a) {
        let _ = writeln!(out, "| {k} | {v} |");
    }
    out.push_str("\n## Bottlenecks\n\n");
    if a.bottlenecks.is_empty() {
        out.push_str("None stands out.\n");
    }
    for (b, r) in a.bottlenecks.iter().zip(&a.recommendations) {
        let _ = writeln!(out, "### {} (score {:.2})\n", b.kind.title(), b.score);
        for e in &b.evidence {
            let _ = writeln!(out, "- {e}");
        }
        let _ = writeln!(
            out,
            "\n**Do:** {}  \n**Expected gain:** {}  \n**With perfkit:** {}\n",
            r.action, r.expected_gain, r.perfkit
        );
    }
    if !a.measurements.hot_functions.is_empty() {
        out.push_str("## Hot functions (perf, CPU samples)\n\n| self | total | function |\n|---:|---:|:---|\n");
        for f in &a.measurements.hot_functions {
            let _ = writeln!(
                out,
                "| {:.1}% | {:.1}% | `{}` |",
                f.self_percent,
                f.total_percent,
                f.name.replace('`', "'")
            );
        }
        out.push_str("\nFlamegraph: `flamegraph.svg`.\n");
    }
    for u in &a.unavailable {
        let _ = writeln!(out, "\n> {u}");
    }
    out
}

/// The wall times as an SVG bar chart (20 bins between min and max).
fn histogram_svg(samples_ns: &[f64]) -> String {
    let (w, h, pad) = (640.0, 200.0, 30.0);
    let min = samples_ns.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples_ns.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let bins = 20usize;
    let mut counts = vec![0usize; bins];
    let span = (max - min).max(1.0);
    for &v in samples_ns {
        let i = (((v - min) / span) * bins as f64) as usize;
        counts[i.min(bins - 1)] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let bar = (w - 2.0 * pad) / bins as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"latency histogram\"><rect width=\"100%\" height=\"100%\" fill=\"#fafafa\"/>"
    );
    for (i, &c) in counts.iter().enumerate() {
        let bh = c as f64 / top * (h - 2.0 * pad);
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#d9534f\"><title>{} runs</title></rect>",
            pad + i as f64 * bar,
            h - pad - bh,
            bar - 2.0,
            c
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{pad}\" y=\"{}\" font-size=\"12\" font-family=\"sans-serif\">{}</text><text x=\"{}\" y=\"{}\" font-size=\"12\" font-family=\"sans-serif\" text-anchor=\"end\">{}</text></svg>",
        h - 10.0,
        esc(&format_duration(min)),
        w - pad,
        h - 10.0,
        esc(&format_duration(max))
    );
    svg
}

/// The report as one self-contained HTML page (also well-formed XML: every element closed), with
/// the sections `summary`, `latency` (with an SVG histogram), `resources`, `bottlenecks`,
/// `profile` (the interactive flamegraph in a sandbox-free `srcdoc` frame) and `notes`.
#[must_use]
pub fn html(a: &Analysis) -> String {
    let samples: Vec<f64> = a
        .bench
        .as_ref()
        .and_then(|b| b.commands.first())
        .map(|c| c.samples.iter().map(|s| s.wall.as_nanos() as f64).collect())
        .unwrap_or_default();
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>perfkit analyze: {cmd}</title>\n<style>body{{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}th{{background:#f0f0f0}}td:first-child{{text-align:left}}.verdict{{font-size:1.2em;padding:1em;background:#fff3cd;border-left:6px solid #f0ad4e}}.bottleneck{{border:1px solid #ddd;padding:0.5em 1em;margin:1em 0;border-radius:6px}}code{{background:#f4f4f4;padding:1px 4px}}iframe{{width:100%;height:620px;border:1px solid #ccc}}</style></head><body>\n<h1>perfkit analyze</h1><p><code>{cmd}</code></p>\n<section id=\"summary\"><h2>Summary</h2><p class=\"verdict\">{verdict}</p></section>\n",
        cmd = esc(&a.command.join(" ")),
        verdict = esc(&verdict(a))
    );
    let _ = write!(
        out,
        "<section id=\"latency\"><h2>Latency ({} runs)</h2><table><tr><th>{}</th></tr><tr><td>{}</td></tr></table>{}</section>",
        a.latency.count,
        LATENCY_HEADERS.join("</th><th>"),
        latency_cells(a).map(|c| esc(&c)).join("</td><td>"),
        if samples.is_empty() {
            String::new()
        } else {
            histogram_svg(&samples)
        }
    );
    out.push_str("<section id=\"resources\"><h2>Resources (per run)</h2><table>");
    for (k, v) in resource_rows(a) {
        let _ = write!(out, "<tr><td>{}</td><td>{}</td></tr>", esc(k), esc(&v));
    }
    out.push_str(
        "</table></section>\n<section id=\"bottlenecks\"><h2>Bottlenecks and recommendations</h2>",
    );
    if a.bottlenecks.is_empty() {
        out.push_str("<p>None stands out.</p>");
    }
    for (b, r) in a.bottlenecks.iter().zip(&a.recommendations) {
        let _ = write!(
            out,
            "<div class=\"bottleneck\"><h3>{} <small>(score {:.2})</small></h3><ul>",
            esc(b.kind.title()),
            b.score
        );
        for e in &b.evidence {
            let _ = write!(out, "<li>{}</li>", esc(e));
        }
        let _ = write!(
            out,
            "</ul><p><b>Do:</b> {}<br/><b>Expected gain:</b> {}<br/><b>With perfkit:</b> {}</p></div>",
            esc(&r.action),
            esc(&r.expected_gain),
            esc(&r.perfkit)
        );
    }
    out.push_str("</section>\n");
    if let Some(svg) = &a.flamegraph_svg {
        out.push_str("<section id=\"profile\"><h2>CPU profile</h2><table><tr><th>self</th><th>total</th><th>function</th></tr>");
        for f in &a.measurements.hot_functions {
            let _ = write!(
                out,
                "<tr><td>{:.1}%</td><td>{:.1}%</td><td><code>{}</code></td></tr>",
                f.self_percent,
                f.total_percent,
                esc(&f.name)
            );
        }
        // The flamegraph keeps its own script (zoom, search) in an isolated frame.
        let _ = write!(
            out,
            "</table><iframe title=\"flamegraph\" srcdoc=\"{}\"></iframe></section>",
            esc(svg)
        );
    }
    if !a.unavailable.is_empty() {
        out.push_str("<section id=\"notes\"><h2>Not measured</h2><ul>");
        for u in &a.unavailable {
            let _ = write!(out, "<li>{}</li>", esc(u));
        }
        out.push_str("</ul></section>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// Writes `report.json`, `report.md`, `report.html` and (with a profile) `flamegraph.svg` into
/// `dir` (created if needed), each through a temporary file and a rename. Returns the HTML path.
pub fn write_report(dir: &Path, a: &Analysis) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(a).map_err(std::io::Error::other)?;
    let mut files = vec![
        ("report.json", format!("{json}\n")),
        ("report.md", markdown(a)),
        ("report.html", html(a)),
    ];
    if let Some(svg) = &a.flamegraph_svg {
        files.push(("flamegraph.svg", svg.clone()));
    }
    for (name, text) in files {
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut tmp, text.as_bytes())?;
        tmp.persist(dir.join(name)).map_err(|e| e.error)?;
    }
    Ok(dir.join("report.html"))
}
