//! The analysis as files: `report.json`, `report.md`, a self-contained `report.html` (latency
//! histogram as inline SVG, the interactive flamegraph embedded), and `flamegraph.svg`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use perfkit_metrics::{format_bytes, format_duration};
use perfkit_sys::OutputPath;

use crate::pipeline::{Alternative, Analysis, BaselineComparison, HeapMode, HeapProfile};

/// Escapes text for HTML.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Report prose as HTML: escaped, with Markdown's `code` spans as `<code>` (a lone backtick
/// stays as it is).
fn prose(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    let mut out = String::with_capacity(text.len() + 16);
    let closed = parts.len() - (parts.len() + 1) % 2;
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 && i < closed {
            let _ = write!(out, "<code>{}</code>", esc(part));
        } else {
            if i % 2 == 1 {
                out.push('`');
            }
            out.push_str(&esc(part));
        }
    }
    out
}

/// One line: the strongest bottleneck, or that nothing stands out.
#[must_use]
pub fn verdict(a: &Analysis) -> String {
    match a.bottlenecks.first() {
        Some(b) => format!(
            "{}{}: {}",
            b.kind.title(),
            b.share
                .map(|s| format!(" ({:.0}% of the run)", s * 100.0))
                .unwrap_or_default(),
            b.evidence.first().cloned().unwrap_or_default()
        ),
        None => "no single bottleneck stands out: CPU, waits, system calls and memory are balanced"
            .to_string(),
    }
}

/// The alternative's speed-up in words: "41.3× faster (95% CI 39.8–43.0×)".
#[must_use]
pub fn speedup_text(alt: &Alternative) -> String {
    let how = if alt.speedup >= 1.0 {
        format!("{:.1}× faster", alt.speedup)
    } else {
        format!("{:.2}× slower", 1.0 / alt.speedup)
    };
    match alt.interval {
        Some(i) => format!(
            "{how} ({:.0}% CI {:.1}–{:.1}×)",
            i.confidence * 100.0,
            i.low,
            i.high
        ),
        None => how,
    }
}

/// Lines for the top of the report beside the verdict: the measured fix and the baseline,
/// each with whether it is bad news (a regression).
fn summary_lines(a: &Analysis) -> Vec<(String, bool)> {
    let mut lines = Vec::new();
    if let Some(alt) = &a.alternative {
        lines.push((
            format!("Measured: {}: {}", alt.label, speedup_text(alt)),
            alt.speedup < 1.0,
        ));
    }
    if let Some(b) = &a.baseline {
        lines.push((
            format!(
                "Against the baseline{}: {}",
                b.path
                    .as_deref()
                    .map(|p| format!(" {p}"))
                    .unwrap_or_default(),
                perfkit_regress::report::headline(&b.check)
            ),
            b.check.has_regression(),
        ));
    }
    lines
}

/// The analysed command and the alternative: name, p50, p99, mean, speed-up.
fn alternative_rows(a: &Analysis, alt: &Alternative) -> [[String; 5]; 2] {
    let d = |ns: u64| format_duration(ns as f64);
    [
        [
            perfkit_sys::quote_command(&a.command),
            d(a.latency.p50),
            d(a.latency.p99),
            format_duration(a.latency.mean),
            "1×".to_string(),
        ],
        [
            format!(
                "{} — {}",
                alt.label,
                perfkit_sys::quote_command(&alt.command)
            ),
            d(alt.latency.p50),
            d(alt.latency.p99),
            format_duration(alt.latency.mean),
            speedup_text(alt),
        ],
    ]
}

const ALTERNATIVE_HEADERS: [&str; 5] = ["command", "p50", "p99", "mean", "speed-up"];

/// The heap table: bytes at the peak, share, site.
fn heap_rows(h: &HeapProfile) -> Vec<[String; 3]> {
    h.sites
        .iter()
        .map(|s| {
            [
                format_bytes(s.bytes),
                format!("{:.1}%", s.percent),
                s.site.clone(),
            ]
        })
        .collect()
}

/// The heap peak in a sentence (the profilers see `malloc` and friends, not static buffers or
/// the program's own `mmap`s).
#[must_use]
pub fn heap_line(h: &HeapProfile) -> String {
    let profiler = h.mode.profiler();
    if h.peak_heap_bytes == 0 {
        return format!(
            "No heap allocations seen by {profiler}: the program's memory is static, on the \
             stack, or mapped directly (peak RSS above counts it)."
        );
    }
    let overhead = match h.mode {
        HeapMode::Exact => format!(
            " ({} with allocator overhead)",
            format_bytes(h.peak_total_bytes)
        ),
        HeapMode::Sampled => String::new(),
    };
    let estimated = match h.mode {
        HeapMode::Exact => "",
        HeapMode::Sampled => ", sites estimated from samples",
    };
    format!(
        "Peak heap {}{overhead}, one run with {profiler}{estimated}{}.",
        format_bytes(h.peak_heap_bytes),
        h.sites
            .first()
            .map(|s| format!("; largest site {} ({:.0}%)", s.site, s.percent))
            .unwrap_or_default()
    )
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
            "Page faults (minor / major)",
            format!("{:.0} / {:.0}", m.minor_faults, m.major_faults),
        ),
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
                "{:.0} ({:.0} programs started{}, {:.0} clone/fork{})",
                s.calls,
                s.execve,
                if s.failed_execve > 0.0 {
                    format!(" and {:.0} failed exec lookups", s.failed_execve)
                } else {
                    String::new()
                },
                s.forks,
                m.processes
                    .as_ref()
                    .map(|p| format!(": {} processes, {} threads", p.processes, p.threads))
                    .unwrap_or_default()
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
    use perfkit_metrics::markdown::{Align, MarkdownTable, cell, code, code_span};
    let right = |h: &'static str| (h, Align::Right);
    let mut latency = MarkdownTable::new(LATENCY_HEADERS.map(right));
    latency.row(latency_cells(a));
    let mut resources = MarkdownTable::new([("", Align::Left), ("", Align::Right)]);
    for (k, v) in resource_rows(a) {
        resources.row([cell(k), cell(&v)]);
    }
    let mut out = format!(
        "# perfkit analyze: {}\n\n**Verdict:** {}\n{}\n## Latency ({} runs)\n\n{latency}\n## Resources (per run)\n\n{resources}",
        code_span(&perfkit_sys::quote_command(&a.command)),
        verdict(a),
        a.warnings
            .iter()
            .map(|w| (format!("Warning: {w}"), true))
            .chain(summary_lines(a))
            .fold(String::new(), |mut s, (l, bad)| {
                let _ = write!(s, "\n**{}{l}**\n", if bad { "❌ " } else { "" });
                s
            }),
        a.latency.count,
    );
    if let Some(alt) = &a.alternative {
        let mut table = MarkdownTable::new(
            (ALTERNATIVE_HEADERS.iter().enumerate())
                .map(|(i, h)| (*h, if i == 0 { Align::Left } else { Align::Right })),
        );
        for [name, rest @ ..] in alternative_rows(a, alt) {
            table.row(std::iter::once(code(&name)).chain(rest));
        }
        let _ = write!(
            out,
            "\n## The fix, measured ({} runs each, interleaved)\n\n{table}",
            alt.latency.count
        );
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
        let mut table =
            MarkdownTable::new([right("self"), right("total"), ("function", Align::Left)]);
        for f in &a.measurements.hot_functions {
            table.row([
                format!("{:.1}%", f.self_percent),
                format!("{:.1}%", f.inclusive_percent),
                code(&f.name),
            ]);
        }
        let _ = write!(
            out,
            "## Hot functions (perf)\n\n{}\n\n{table}\nFlamegraph: `flamegraph.svg`.\n",
            samples_line(a)
        );
    }
    if let Some(h) = &a.heap {
        let mut table = MarkdownTable::new([
            right("bytes at peak"),
            right("share"),
            ("allocation site", Align::Left),
        ]);
        for [bytes, share, site] in heap_rows(h) {
            table.row([bytes, share, code(&site)]);
        }
        let _ = write!(out, "\n## Heap\n\n{}\n\n{table}", heap_line(h));
    }
    if let Some(b) = &a.baseline {
        out.push_str("\n## Baseline comparison\n\n");
        if let Some(name) = &b.compared_with {
            let _ = writeln!(
                out,
                "Compared with the baseline's `{}`.\n",
                name.replace('`', "'")
            );
        }
        out.push_str(&perfkit_regress::report::markdown(&b.check));
    }
    for u in &a.unavailable {
        let _ = writeln!(out, "\n> {u}");
    }
    out
}

/// The wall times as an SVG bar chart (20 bins between min and max).
fn histogram_svg(samples_ns: &[f64]) -> String {
    let (w, h) = (640.0, 240.0);
    // Room for the axis labels: runs on the left, times and the axis title below.
    let (left, right, top_pad, bottom) = (56.0, 16.0, 24.0, 52.0);
    let min = samples_ns.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples_ns.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let bins = 20usize;
    let mut counts = vec![0usize; bins];
    let span = (max - min).max(1.0);
    for &v in samples_ns {
        let i = (((v - min) / span) * bins as f64) as usize;
        counts[i.min(bins - 1)] += 1;
    }
    let most = counts.iter().copied().max().unwrap_or(1).max(1);
    let plot_h = h - top_pad - bottom;
    let bar = (w - left - right) / bins as f64;
    let base = h - bottom;
    let font = "font-size=\"11\" font-family=\"sans-serif\"";
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"histogram of wall time per run\"><rect width=\"100%\" height=\"100%\" fill=\"#fafafa\"/>"
    );
    for (i, &c) in counts.iter().enumerate() {
        let bh = c as f64 / most as f64 * plot_h;
        let x = left + i as f64 * bar;
        let lo = min + span * i as f64 / bins as f64;
        let hi = min + span * (i + 1) as f64 / bins as f64;
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#d9534f\"><title>{c} runs from {} to {}</title></rect>",
            base - bh,
            bar - 2.0,
            esc(&format_duration(lo)),
            esc(&format_duration(hi))
        );
        if c > 0 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" {font} text-anchor=\"middle\">{c}</text>",
                x + (bar - 2.0) / 2.0,
                base - bh - 3.0
            );
        }
    }
    // Axes: the time axis with its ends and middle, the count axis with its top.
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#555\"/><line x1=\"{left}\" y1=\"{top_pad}\" x2=\"{left}\" y2=\"{base}\" stroke=\"#555\"/>",
        w - right
    );
    for (x, anchor, value) in [
        (left, "start", min),
        ((left + w - right) / 2.0, "middle", min + span / 2.0),
        (w - right, "end", max),
    ] {
        let _ = write!(
            svg,
            "<text x=\"{x:.1}\" y=\"{:.1}\" {font} text-anchor=\"{anchor}\">{}</text>",
            base + 16.0,
            esc(&format_duration(value))
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" {font} text-anchor=\"middle\">wall time per run</text>\
         <text x=\"{:.1}\" y=\"{:.1}\" {font} text-anchor=\"end\">{most}</text>\
         <text x=\"{:.1}\" y=\"{base:.1}\" {font} text-anchor=\"end\">0</text>\
         <text x=\"14\" y=\"{:.1}\" {font} text-anchor=\"middle\" transform=\"rotate(-90 14 {:.1})\">runs</text></svg>",
        (left + w - right) / 2.0,
        h - 8.0,
        left - 6.0,
        top_pad + 4.0,
        left - 6.0,
        top_pad + plot_h / 2.0,
        top_pad + plot_h / 2.0,
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
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>perfkit analyze: {cmd}</title>\n<style>body{{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}th{{background:#f0f0f0}}td:first-child,td.name{{text-align:left}}.verdict{{font-size:1.2em;padding:1em;background:#fff3cd;border-left:6px solid #f0ad4e}}.bottleneck{{border:1px solid #ddd;padding:0.5em 1em;margin:1em 0;border-radius:6px}}code{{background:#f4f4f4;padding:1px 4px}}iframe{{width:100%;border:1px solid #ccc}}.measured{{font-size:1.1em;padding:0.6em 1em;background:#dff0d8;border-left:6px solid #5cb85c}}.regressed{{font-size:1.1em;padding:0.6em 1em;background:#f2dede;border-left:6px solid #d9534f}}</style></head><body>\n<h1>perfkit analyze</h1><p><code>{cmd}</code></p>\n<section id=\"summary\"><h2>Summary</h2><p class=\"verdict\">{verdict}</p>{lines}</section>\n",
        cmd = esc(&perfkit_sys::quote_command(&a.command)),
        verdict = prose(&verdict(a)),
        lines = a
            .warnings
            .iter()
            .map(|w| (format!("Warning: {w}"), true))
            .chain(summary_lines(a))
            .fold(String::new(), |mut s, (l, bad)| {
                let _ = write!(
                    s,
                    "<p class=\"{}\">{}</p>",
                    if bad { "regressed" } else { "measured" },
                    prose(&l)
                );
                s
            })
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
    // The comparisons come first: they are what a CI run or a reviewer looks for.
    if let Some(b) = &a.baseline {
        baseline_html(&mut out, b);
    }
    if let Some(alt) = &a.alternative {
        alternative_html(&mut out, a, alt);
    }
    out.push_str("<section id=\"resources\"><h2>Resources (per run)</h2><table>");
    for (k, v) in resource_rows(a) {
        let _ = write!(out, "<tr><td>{}</td><td>{}</td></tr>", esc(k), esc(&v));
    }
    out.push_str("</table></section>\n");
    out.push_str("<section id=\"bottlenecks\"><h2>Bottlenecks and recommendations</h2>");
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
            let _ = write!(out, "<li>{}</li>", prose(e));
        }
        let _ = write!(
            out,
            "</ul><p><b>Do:</b> {}<br/><b>Expected gain:</b> {}<br/><b>With perfkit:</b> {}</p></div>",
            prose(&r.action),
            prose(&r.expected_gain),
            prose(&r.perfkit)
        );
    }
    out.push_str("</section>\n");
    if let Some(svg) = &a.flamegraph_svg {
        profile_html(&mut out, a, svg);
    }
    if let Some(h) = &a.heap {
        let _ = write!(
            out,
            "<section id=\"heap\"><h2>Heap</h2><p>{}</p><table><tr><th>bytes at peak</th><th>share</th><th>allocation site</th></tr>",
            prose(&heap_line(h))
        );
        for [bytes, share, site] in heap_rows(h) {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"name\"><code>{}</code></td></tr>",
                esc(&bytes),
                esc(&share),
                esc(&site)
            );
        }
        out.push_str("</table></section>\n");
    }
    if !a.unavailable.is_empty() {
        out.push_str("<section id=\"notes\"><h2>Not measured</h2><ul>");
        for u in &a.unavailable {
            let _ = write!(out, "<li>{}</li>", prose(&u.to_string()));
        }
        out.push_str("</ul></section>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// The alternative measured beside the command, with its speed-up.
fn alternative_html(out: &mut String, a: &Analysis, alt: &Alternative) {
    let _ = write!(
        out,
        "<section id=\"alternative\"><h2>The fix, measured</h2><p>{} runs each, interleaved with the command above.</p><table><tr><th>{}</th></tr>",
        alt.latency.count,
        ALTERNATIVE_HEADERS.join("</th><th>")
    );
    for row in alternative_rows(a, alt) {
        let [name, rest @ ..] = row;
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td></tr>",
            esc(&name),
            rest.map(|c| esc(&c)).join("</td><td>")
        );
    }
    out.push_str("</table></section>\n");
}

/// The hot functions and the interactive flamegraph.
fn profile_html(out: &mut String, a: &Analysis, svg: &str) {
    let _ = write!(
        out,
        "<section id=\"profile\"><h2>CPU profile</h2><p>{}</p><table><tr><th>self</th><th>total</th><th>function</th></tr>",
        esc(&samples_line(a))
    );
    for f in &a.measurements.hot_functions {
        let _ = write!(
            out,
            "<tr><td>{:.1}%</td><td>{:.1}%</td><td class=\"name\"><code>{}</code></td></tr>",
            f.self_percent,
            f.inclusive_percent,
            esc(&f.name)
        );
    }
    // The flamegraph stays an SVG document with its own script (zoom, search) in a frame;
    // inferno's fluid drawing scales it to the frame's width.
    let _ = write!(
        out,
        "</table><iframe title=\"flamegraph\" style=\"height:{}px\" src=\"data:image/svg+xml;charset=utf-8,{}\"></iframe><p>Click a frame to zoom, Ctrl-F to search; also in <code>flamegraph.svg</code>.</p></section>",
        svg_height(svg).unwrap_or(600) + 20,
        data_url_escape(svg)
    );
}

/// How many samples the profile has, and a warning when they are too few to rank functions.
fn samples_line(a: &Analysis) -> String {
    match a.cpu_samples {
        Some(n) if n < 100 => format!(
            "Only {n} CPU samples (one run, about 1,000 per CPU-second): too few to rank functions; profile a longer run, e.g. the work repeated in a loop."
        ),
        Some(n) => format!("{n} CPU samples from one run."),
        None => String::new(),
    }
}

/// The `height` attribute of the SVG's root element.
fn svg_height(svg: &str) -> Option<u32> {
    let root = &svg[svg.find("<svg")?..];
    let root = &root[..root.find('>')?];
    let value = root.split(" height=\"").nth(1)?;
    value[..value.find('"')?].parse().ok()
}

/// Percent-encodes what a `data:` URL in a double-quoted HTML attribute cannot carry as is:
/// `%`, `#` (a fragment), white space that browsers strip from URLs (it would join the lines
/// of the flamegraph's script), quotes and the characters HTML treats specially.
fn data_url_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '%' | '#' | '\n' | '\r' | '\t' | '"' | '\'' | '<' | '>' | '&' => {
                let _ = write!(out, "%{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The baseline section: headline, rule, the findings table.
fn baseline_html(out: &mut String, b: &BaselineComparison) {
    use perfkit_regress::report::{confidence_label, finding_cells, headline};
    let _ = write!(
        out,
        "<section id=\"baseline\"><h2>Baseline comparison</h2><p class=\"{}\">{}{}</p>",
        if b.check.has_regression() {
            "regressed"
        } else {
            "measured"
        },
        esc(&headline(&b.check)),
        b.path
            .as_deref()
            .map(|p| format!(" (baseline {})", esc(p)))
            .unwrap_or_default()
    );
    if let Some(name) = &b.compared_with {
        let _ = write!(
            out,
            "<p>Compared with the baseline's <code>{}</code>.</p>",
            esc(name)
        );
    }
    let _ = write!(
        out,
        "<table><tr><th>benchmark</th><th>metric</th><th>baseline</th><th>current</th><th>change</th><th>{}</th><th>p</th><th>verdict</th></tr>",
        esc(&confidence_label(&b.check))
    );
    for f in &b.check.findings {
        let _ = write!(
            out,
            "<tr><td>{}</td></tr>",
            finding_cells(f).map(|c| esc(&c)).join("</td><td>")
        );
    }
    out.push_str("</table><ul>");
    for f in b.check.findings.iter().filter(|f| !f.reason.is_empty()) {
        let _ = write!(
            out,
            "<li>{}: {}</li>",
            esc(&f.metric.to_string()),
            esc(&f.reason)
        );
    }
    for w in perfkit_regress::report::warnings(&b.check) {
        let _ = write!(out, "<li>warning: {}</li>", esc(&w));
    }
    out.push_str("</ul></section>\n");
}

/// The files of a report directory, checked before an analysis starts: the directory is
/// created if needed, and each of `report.json`, `report.md`, `report.html` and
/// `flamegraph.svg` must be writable ([`perfkit_sys::OutputPath`]: a symlink's target is
/// replaced, a device written in place).
#[derive(Debug)]
pub struct ReportFiles {
    json: OutputPath,
    markdown: OutputPath,
    html: OutputPath,
    flamegraph: OutputPath,
}

impl ReportFiles {
    /// Creates `dir` (and its parents) if needed and checks its four files.
    ///
    /// # Errors
    /// When `dir` cannot be created (a file is in the way, no permission) or a file in it
    /// cannot be written.
    pub fn new(dir: &Path) -> std::io::Result<ReportFiles> {
        std::fs::create_dir_all(dir).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "cannot create the report directory {}: {}",
                    dir.display(),
                    perfkit_sys::os_reason(&e)
                ),
            )
        })?;
        Ok(ReportFiles {
            json: OutputPath::new(&dir.join("report.json"))?,
            markdown: OutputPath::new(&dir.join("report.md"))?,
            html: OutputPath::new(&dir.join("report.html"))?,
            flamegraph: OutputPath::new(&dir.join("flamegraph.svg"))?,
        })
    }

    /// The four files, to check against a command's inputs and other outputs.
    #[must_use]
    pub fn outputs(&self) -> [&OutputPath; 4] {
        [&self.json, &self.markdown, &self.html, &self.flamegraph]
    }

    /// Refuses a report file that is the `baseline` read (through any link: writing it would
    /// replace the baseline), or that is another output, `save_baseline` included. Saving the
    /// baseline over the one checked against is how a baseline is updated, so that pair is
    /// allowed.
    ///
    /// # Errors
    /// [`perfkit_sys::SysError::OutputIsInput`] or [`perfkit_sys::SysError::SameOutput`].
    pub fn check_against(
        &self,
        baseline: Option<&Path>,
        save_baseline: Option<&OutputPath>,
    ) -> Result<(), perfkit_sys::SysError> {
        let inputs: Vec<&Path> = baseline.into_iter().collect();
        perfkit_sys::refuse_overwriting_inputs(&self.outputs(), &inputs)?;
        let mut outputs = self.outputs().to_vec();
        outputs.extend(save_baseline);
        perfkit_sys::refuse_overwriting_inputs(&outputs, &[])
    }

    /// Writes the report files (the flamegraph only with a profile). Returns the HTML path.
    ///
    /// # Errors
    /// The first file that cannot be written.
    pub fn write(&self, a: &Analysis) -> std::io::Result<PathBuf> {
        let json = serde_json::to_string_pretty(a).map_err(std::io::Error::other)?;
        self.json.write(format!("{json}\n").as_bytes())?;
        self.markdown.write(markdown(a).as_bytes())?;
        self.html.write(html(a).as_bytes())?;
        if let Some(svg) = &a.flamegraph_svg {
            self.flamegraph.write(svg.as_bytes())?;
        }
        Ok(self.html.path().to_path_buf())
    }
}

/// Writes `report.json`, `report.md`, `report.html` and (with a profile) `flamegraph.svg` into
/// `dir` (created if needed) through [`ReportFiles`]. Returns the HTML path.
pub fn write_report(dir: &Path, a: &Analysis) -> std::io::Result<PathBuf> {
    ReportFiles::new(dir)?.write(a)
}

/// Opens `html` with `$BROWSER` (not waited for) or `xdg-open` (waited for: it hands the
/// file on and exits).
///
/// # Errors
/// [`OpenError`]: the program could not start, or `xdg-open` failed.
pub fn open_in_browser(html: &Path) -> Result<(), OpenError> {
    use std::process::{Command, Stdio};
    let browser = std::env::var_os("BROWSER").filter(|b| !b.is_empty());
    let waited = browser.is_none();
    let program = browser.unwrap_or_else(|| "xdg-open".into());
    let name = program.to_string_lossy();
    let mut command = Command::new(&program);
    command
        .arg(html)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if !waited {
        let program = format!("$BROWSER ({name})");
        return (command.spawn())
            .map(drop)
            .map_err(|source| OpenError::Start { program, source });
    }
    let program = name.into_owned();
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(OpenError::Failed { program, status }),
        Err(source) => Err(OpenError::Start { program, source }),
    }
}

/// Why [`open_in_browser`] showed nothing.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The browser (`$BROWSER (name)`) or `xdg-open` could not start.
    #[error("cannot start {program}: {source}")]
    Start {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// `xdg-open` ran and failed.
    #[error("{program} failed ({status}): no browser set up?")]
    Failed {
        /// The program.
        program: String,
        /// How it ended.
        status: std::process::ExitStatus,
    },
}

/// The analysis in a few lines for a terminal: the command, its latency, the verdict, the
/// first recommendation, the measured alternative, the heap, and the baseline check.
#[must_use]
pub fn summary_text(analysis: &Analysis) -> String {
    let mut out = String::new();
    let l = &analysis.latency;
    let _ = writeln!(out, "{}", perfkit_sys::quote_command(&analysis.command));
    let _ = writeln!(
        out,
        "  {} runs: p50 {}, p99 {}, mean {} ({:.2} runs/s)",
        l.count,
        format_duration(l.p50 as f64),
        format_duration(l.p99 as f64),
        format_duration(l.mean),
        analysis.throughput_per_s
    );
    let _ = writeln!(out, "  verdict: {}", verdict(analysis));
    if let Some(r) = analysis.recommendations.first() {
        let _ = writeln!(out, "  do: {}", r.action);
        let _ = writeln!(
            out,
            "  expected gain: {}; with perfkit: {}",
            r.expected_gain, r.perfkit
        );
    }
    if let Some(alt) = &analysis.alternative {
        let _ = writeln!(
            out,
            "  measured: {}: p50 {}, {}",
            alt.label,
            format_duration(alt.latency.p50 as f64),
            speedup_text(alt)
        );
    }
    if let Some(h) = &analysis.heap {
        let _ = writeln!(out, "  heap: {}", heap_line(h));
    }
    if let Some(b) = &analysis.baseline {
        let path = b.path.as_deref().map(|p| format!(" {p}"));
        let only = b
            .compared_with
            .as_deref()
            .map(|n| format!(" (its only benchmark, '{n}', compared with this command)"));
        let _ = writeln!(
            out,
            "\nAgainst the baseline{}{}:",
            path.unwrap_or_default(),
            only.unwrap_or_default()
        );
        out.push_str(&perfkit_regress::report::human(&b.check));
    }
    out
}
