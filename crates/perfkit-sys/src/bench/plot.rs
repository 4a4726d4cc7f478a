//! Pictures of a benchmark: a self-contained SVG (`--export-svg`) and a terminal histogram
//! (`--plot`).
//!
//! The SVG has a panel for each question a reader asks of the numbers: how each command's
//! times are spread (a histogram with p50 and p99 marked), how the commands compare (boxes
//! from the 25th to the 75th percentile, whiskers to the extremes, the median and the mean),
//! whether the times drifted run by run (warm-up, throttling), and, for a parameter scan,
//! how the time follows the parameter (the mean with its 95% confidence band).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{BenchReport, CommandReport};
use crate::process::ExitKind;

/// Colours for the commands, in turn: distinguishable, and readable on white.
const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#9c755f", "#edc948",
];

const WIDTH: f64 = 960.0;
const LEFT: f64 = 220.0;
const RIGHT: f64 = 40.0;

/// `text` safe inside SVG text and attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters and the two non-characters are not allowed in XML 1.0.
            c if c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A command's wall times in nanoseconds, in run order, without timed-out runs.
fn walls(c: &CommandReport) -> Vec<f64> {
    c.samples
        .iter()
        .filter(|s| s.status != ExitKind::TimedOut)
        .map(|s| s.wall.as_nanos() as f64)
        .collect()
}

/// The `q` quantile of sorted values, interpolated.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = q * (sorted.len() - 1) as f64;
    let (low, high) = (at.floor() as usize, at.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (at - low as f64)
}

/// A time axis: nanoseconds to pixels between `x0` and `x1`, with a unit and round ticks.
struct Axis {
    low: f64,
    high: f64,
    x0: f64,
    x1: f64,
    scale: f64,
    unit: &'static str,
}

impl Axis {
    fn new(low: f64, high: f64, x0: f64, x1: f64) -> Axis {
        let (low, high) = if high > low {
            let pad = (high - low) * 0.04;
            ((low - pad).max(0.0), high + pad)
        } else {
            ((low * 0.9).max(0.0), low * 1.1 + 1.0)
        };
        let (scale, unit) = if high >= 1e9 {
            (1e9, "s")
        } else if high >= 1e6 {
            (1e6, "ms")
        } else if high >= 1e3 {
            (1e3, "µs")
        } else {
            (1.0, "ns")
        };
        Axis {
            low,
            high,
            x0,
            x1,
            scale,
            unit,
        }
    }

    fn x(&self, ns: f64) -> f64 {
        self.x0 + (ns - self.low) / (self.high - self.low) * (self.x1 - self.x0)
    }

    /// Ticks at 1, 2 or 5 times a power of ten, about six across.
    fn ticks(&self) -> Vec<f64> {
        nice_ticks(self.low / self.scale, self.high / self.scale)
            .into_iter()
            .map(|t| t * self.scale)
            .collect()
    }

    fn label(&self, ns: f64) -> String {
        let v = ns / self.scale;
        let decimals = if v.abs() >= 100.0 || v == v.round() {
            0
        } else if v.abs() >= 10.0 {
            1
        } else {
            2
        };
        format!("{v:.decimals$} {}", self.unit)
    }

    /// The axis line, ticks and labels at height `y`, with grid lines up to `top`.
    fn draw(&self, svg: &mut String, y: f64, top: f64) {
        let _ = writeln!(
            svg,
            r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#555"/>"##,
            self.x0, self.x1
        );
        for t in self.ticks() {
            let x = self.x(t);
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"##,
                y + 14.0,
                escape(&self.label(t))
            );
        }
    }
}

/// About six round values covering `[low, high]`.
fn nice_ticks(low: f64, high: f64) -> Vec<f64> {
    let span = high - low;
    if !span.is_finite() || span <= 0.0 {
        return vec![low];
    }
    let raw = span / 6.0;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power);
    // Each tick a whole multiple of the step, rounded to the step's decimals, so that 3 × 0.2
    // reads 0.6.
    let decimals = (-step.log10().floor()).clamp(0.0, 15.0) as i32;
    let round = |v: f64| (v * 10f64.powi(decimals)).round() / 10f64.powi(decimals);
    let first = (low / step).ceil();
    (0..20)
        .map(|k| round((first + f64::from(k)) * step))
        .take_while(|t| *t <= high + step * 1e-9)
        .collect()
}

/// One command's numbers, as the panels draw them.
struct Series<'a> {
    name: &'a str,
    colour: &'static str,
    walls: Vec<f64>,
    sorted: Vec<f64>,
    report: &'a CommandReport,
}

impl BenchReport {
    /// A self-contained SVG of the benchmark (no scripts, no external fonts or files).
    #[must_use]
    pub fn to_svg(&self) -> String {
        let series: Vec<Series<'_>> = self
            .commands
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let walls = walls(c);
                let mut sorted = walls.clone();
                sorted.sort_by(f64::total_cmp);
                Series {
                    name: &c.name,
                    colour: PALETTE[i % PALETTE.len()],
                    walls,
                    sorted,
                    report: c,
                }
            })
            .collect();
        let low = series
            .iter()
            .filter_map(|s| s.sorted.first())
            .copied()
            .fold(f64::INFINITY, f64::min);
        let high = series
            .iter()
            .filter_map(|s| s.sorted.last())
            .copied()
            .fold(0.0, f64::max);
        let low = if low.is_finite() { low } else { 0.0 };
        let axis = Axis::new(low, high, LEFT, WIDTH - RIGHT);
        let mut body = String::new();
        let mut y = 50.0;
        y = distributions(&mut body, &series, &axis, y);
        y = whiskers(&mut body, &series, &axis, y);
        y = progression(&mut body, &series, y);
        y = parameter_scan(&mut body, &series, y);
        let height = y + 20.0;
        let runs: usize = series.iter().map(|s| s.walls.len()).sum();
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif" font-size="12">
<style>.tick{{font-size:10px;fill:#555}} .label{{font-size:12px}} .title{{font-size:16px;font-weight:bold}} .panel{{font-size:13px;font-weight:bold}}</style>
<rect width="100%" height="100%" fill="white"/>
<text x="20" y="28" class="title">perfkit bench: {} command{}, {runs} runs</text>
{body}</svg>
"#,
            series.len(),
            if series.len() == 1 { "" } else { "s" },
        )
    }
}

/// Writes a panel title at `y`; returns the y below it.
fn panel_title(svg: &mut String, y: f64, title: &str) -> f64 {
    let _ = writeln!(
        svg,
        r#"<text x="20" y="{:.1}" class="panel">{}</text>"#,
        y + 14.0,
        escape(title)
    );
    y + 26.0
}

/// A command's name at the left of a row.
fn row_label(svg: &mut String, y: f64, series: &Series<'_>) {
    let mut name = series.name.to_owned();
    if name.chars().count() > 30 {
        name = name.chars().take(29).collect::<String>() + "…";
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{y:.1}" text-anchor="end" class="label" fill="{}"><title>{}</title>{}</text>"#,
        LEFT - 10.0,
        series.colour,
        escape(series.name),
        escape(&name)
    );
}

/// Histograms of each command's times on the shared axis, p50 and p99 marked.
fn distributions(svg: &mut String, series: &[Series<'_>], axis: &Axis, y: f64) -> f64 {
    const ROW: f64 = 70.0;
    let top = panel_title(svg, y, "Distribution of times (p50 solid, p99 dashed)");
    let bins = 40usize;
    let width = (axis.x1 - axis.x0) / bins as f64;
    let mut y = top;
    for s in series {
        let mut counts = vec![0usize; bins];
        for &w in &s.walls {
            let i = ((axis.x(w) - axis.x0) / width).floor();
            counts[(i.max(0.0) as usize).min(bins - 1)] += 1;
        }
        let most = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
        let base = y + ROW - 10.0;
        row_label(svg, base - ROW / 3.0, s);
        for (i, &n) in counts.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let h = n as f64 / most * (ROW - 20.0);
            let _ = writeln!(
                svg,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}" fill-opacity="0.75"><title>{n} runs</title></rect>"#,
                axis.x0 + i as f64 * width,
                base - h,
                (width - 1.0).max(1.0),
                s.colour
            );
        }
        let marks = [
            (s.report.wall.p50, "", "p50"),
            (s.report.wall.p99, r#" stroke-dasharray="4 3""#, "p99"),
        ];
        for (ns, dash, label) in marks {
            let ns = ns as f64;
            let x = axis.x(ns);
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{base:.1}" stroke="#222"{dash}><title>{label} {}</title></line>"##,
                base - (ROW - 14.0),
                escape(&axis.label(ns))
            );
        }
        y += ROW;
    }
    axis.draw(svg, y, top);
    y + 36.0
}

/// One row per command: whiskers from the shortest to the longest run, a box from p25 to p75,
/// the median as a line and the mean as a diamond.
fn whiskers(svg: &mut String, series: &[Series<'_>], axis: &Axis, y: f64) -> f64 {
    const ROW: f64 = 30.0;
    let top = panel_title(
        svg,
        y,
        "Across commands (box p25–p75, line median, diamond mean, whiskers min–max)",
    );
    let mut y = top;
    for s in series {
        let mid = y + ROW / 2.0;
        row_label(svg, mid + 4.0, s);
        let q = |p| axis.x(quantile(&s.sorted, p));
        let (min, p25, p50, p75, max) = (q(0.0), q(0.25), q(0.5), q(0.75), q(1.0));
        let mean = axis.x(s.report.wall.mean);
        let _ = writeln!(
            svg,
            r##"<line x1="{min:.1}" y1="{mid:.1}" x2="{max:.1}" y2="{mid:.1}" stroke="#333"/><rect x="{p25:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}" fill-opacity="0.6" stroke="#333"/><line x1="{p50:.1}" y1="{:.1}" x2="{p50:.1}" y2="{:.1}" stroke="#000" stroke-width="2"/><path d="M{mean:.1} {:.1} l5 5 l-5 5 l-5 -5 z" fill="white" stroke="#000"><title>mean {}</title></path>"##,
            mid - ROW / 3.0,
            (p75 - p25).max(1.0),
            ROW * 2.0 / 3.0,
            s.colour,
            mid - ROW / 3.0,
            mid + ROW / 3.0,
            mid - 5.0,
            escape(&axis.label(s.report.wall.mean))
        );
        y += ROW;
    }
    axis.draw(svg, y, top);
    y + 36.0
}

/// The grid lines and labels of a vertical time axis, across the plot.
fn time_grid(svg: &mut String, axis: &Axis) {
    for t in axis.ticks() {
        let ty = axis.x(t);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{ty:.1}" x2="{:.1}" y2="{ty:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            ty + 3.0,
            escape(&axis.label(t))
        );
    }
}

/// A colour key at the left of a plot, one line per name.
fn legend<'a>(svg: &mut String, top: f64, entries: impl Iterator<Item = (&'a str, &'a str)>) {
    for (k, (name, colour)) in entries.enumerate() {
        let ly = top + 14.0 + k as f64 * 16.0;
        let _ = writeln!(
            svg,
            r#"<rect x="24" y="{:.1}" width="10" height="10" fill="{colour}"/><text x="40" y="{ly:.1}" class="tick">{}</text>"#,
            ly - 9.0,
            escape(&name.chars().take(24).collect::<String>())
        );
    }
}

/// The bottom line of a plot `HEIGHT` tall below `top`, with `caption` under it; returns the
/// y below.
fn baseline(svg: &mut String, top: f64, caption: &str) -> f64 {
    let bottom = top + HEIGHT;
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}" stroke="#555"/><text x="{:.1}" y="{:.1}" text-anchor="middle" class="label">{}</text>"##,
        WIDTH - RIGHT,
        f64::midpoint(LEFT, WIDTH - RIGHT),
        bottom + 32.0,
        escape(caption)
    );
    bottom + 46.0
}

/// The height of the run-by-run and parameter plots.
const HEIGHT: f64 = 220.0;

/// Each command's times in the order they ran: warm-up effects and drift show as slopes.
fn progression(svg: &mut String, series: &[Series<'_>], y: f64) -> f64 {
    let top = panel_title(svg, y, "Run by run (drift and warm-up show as slopes)");
    let runs = series.iter().map(|s| s.walls.len()).max().unwrap_or(0);
    let high = series
        .iter()
        .filter_map(|s| s.sorted.last())
        .copied()
        .fold(0.0, f64::max);
    let low = series
        .iter()
        .filter_map(|s| s.sorted.first())
        .copied()
        .fold(f64::INFINITY, f64::min);
    let low = if low.is_finite() { low } else { 0.0 };
    // A vertical time axis: the horizontal one's arithmetic, turned.
    let values = Axis::new(low, high, top + HEIGHT, top);
    let x = |i: usize| LEFT + i as f64 / (runs.max(2) - 1) as f64 * (WIDTH - RIGHT - LEFT);
    time_grid(svg, &values);
    for s in series {
        let points: Vec<(f64, f64)> = s
            .walls
            .iter()
            .enumerate()
            .map(|(i, &w)| (x(i), values.x(w)))
            .collect();
        let line: Vec<String> = points
            .iter()
            .map(|(px, py)| format!("{px:.1},{py:.1}"))
            .collect();
        if points.len() > 1 {
            let _ = writeln!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.2" stroke-opacity="0.85"/>"#,
                line.join(" "),
                s.colour
            );
        }
        // Dots only while they stay apart; a long series is its line.
        for (px, py) in points.iter().take(2000) {
            let _ = writeln!(
                svg,
                r#"<circle cx="{px:.1}" cy="{py:.1}" r="1.8" fill="{}"/>"#,
                s.colour
            );
        }
    }
    legend(svg, top, series.iter().map(|s| (s.name, s.colour)));
    baseline(svg, top, &format!("run 1 … {runs}"))
}

/// One point of a parameter plot: value, mean, half-width of the band, colour.
type ScanPoint = (f64, f64, f64, &'static str);

/// One line of a parameter plot.
type ScanLine = Vec<ScanPoint>;

/// The benchmarks of one numeric parameter, grouped by command (the name with the value put
/// back as `{name}`); `None` when the benchmarks are not such a scan.
fn scan_lines(series: &[Series<'_>]) -> Option<(String, BTreeMap<String, ScanLine>)> {
    let [parameter] = &series.first()?.report.parameters[..] else {
        return None;
    };
    let mut lines: BTreeMap<String, ScanLine> = BTreeMap::new();
    for s in series {
        let [p] = &s.report.parameters[..] else {
            return None;
        };
        let value =
            (p.value.parse::<f64>().ok()).filter(|v| v.is_finite() && p.name == parameter.name)?;
        let n = s.walls.len() as f64;
        let half = if n > 1.0 {
            1.96 * s.report.wall.stddev / n.sqrt()
        } else {
            0.0
        };
        let key = s.name.replace(&p.value, &format!("{{{}}}", p.name));
        lines
            .entry(key)
            .or_default()
            .push((value, s.report.wall.mean, half, s.colour));
    }
    lines
        .values()
        .any(|points| points.len() > 1)
        .then(|| (parameter.name.clone(), lines))
}

/// For benchmarks over one numeric parameter: each command's mean against the parameter, with
/// the 95% confidence band of the mean. Nothing for other benchmarks.
fn parameter_scan(svg: &mut String, series: &[Series<'_>], y: f64) -> f64 {
    let Some((parameter, mut lines)) = scan_lines(series) else {
        return y;
    };
    let top = panel_title(
        svg,
        y,
        &format!("Mean time against {parameter} (band: 95% confidence interval of the mean)"),
    );
    let all = lines.values().flatten();
    let (vlow, vhigh) = all
        .clone()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
            (l.min(p.0), h.max(p.0))
        });
    let thigh = all.clone().map(|p| p.1 + p.2).fold(0.0, f64::max);
    let tlow = all
        .map(|p| (p.1 - p.2).max(0.0))
        .fold(f64::INFINITY, f64::min);
    let times = Axis::new(tlow, thigh, top + HEIGHT, top);
    let span = if vhigh > vlow { vhigh - vlow } else { 1.0 };
    let x = |v: f64| LEFT + (v - vlow) / span * (WIDTH - RIGHT - LEFT);
    time_grid(svg, &times);
    for t in nice_ticks(vlow, vhigh) {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="tick">{t}</text>"#,
            x(t),
            top + HEIGHT + 14.0
        );
    }
    for points in lines.values_mut() {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let path = |f: &dyn Fn(&ScanPoint) -> f64, rev: bool| {
            let mut out: Vec<String> = points
                .iter()
                .map(|p| format!("{:.1},{:.1}", x(p.0), times.x(f(p))))
                .collect();
            if rev {
                out.reverse();
            }
            out.join(" ")
        };
        let _ = writeln!(
            svg,
            r#"<polygon points="{} {}" fill="{colour}" fill-opacity="0.2"/><polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            path(&|p| p.1 + p.2, false),
            path(&|p| (p.1 - p.2).max(0.0), true),
            path(&|p| p.1, false),
            colour = points[0].3,
        );
    }
    legend(
        svg,
        top,
        lines
            .iter()
            .map(|(name, points)| (name.as_str(), points[0].3)),
    );
    baseline(svg, top, &parameter)
}

impl BenchReport {
    /// Each command's times as a terminal histogram `width` characters wide on a shared axis,
    /// with the median (`|`) and p99 (`!`) marked underneath.
    #[must_use]
    pub fn plot_text(&self, width: usize) -> String {
        const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
        let width = width.clamp(10, 200);
        let all: Vec<Vec<f64>> = self.commands.iter().map(walls).collect();
        let low = all.iter().flatten().copied().fold(f64::INFINITY, f64::min);
        let high = all.iter().flatten().copied().fold(0.0, f64::max);
        if !low.is_finite() {
            return String::new();
        }
        let axis = Axis::new(low, high, 0.0, width as f64);
        let column = |ns: f64| (axis.x(ns).floor().max(0.0) as usize).min(width - 1);
        let mut out = String::new();
        for (c, walls) in self.commands.iter().zip(&all) {
            let mut counts = vec![0usize; width];
            for &w in walls {
                counts[column(w)] += 1;
            }
            let most = counts.iter().copied().max().unwrap_or(0).max(1);
            let bars: String = counts
                .iter()
                .map(|&n| match n {
                    0 => ' ',
                    n => BLOCKS[((n * 8).div_ceil(most)).clamp(1, 8) - 1],
                })
                .collect();
            let mut marks = vec![' '; width];
            marks[column(c.wall.p99 as f64)] = '!';
            marks[column(c.wall.p50 as f64)] = '|';
            let _ = writeln!(
                out,
                "{}\n  {bars}\n  {}",
                c.name,
                marks.iter().collect::<String>()
            );
        }
        let _ = writeln!(
            out,
            "  {} … {}   (| median, ! p99)",
            axis.label(axis.low),
            axis.label(axis.high)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(nice_ticks(0.0, 10.0), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let ticks = nice_ticks(0.13, 0.91);
        assert!(ticks.len() >= 3 && ticks.len() <= 12, "{ticks:?}");
        assert!(
            ticks.iter().all(|t| (t * 10.0).round() == t * 10.0),
            "{ticks:?}"
        );
        assert_eq!(nice_ticks(5.0, 5.0), [5.0]);
        assert!(nice_ticks(0.0, f64::INFINITY).len() <= 20);
    }

    #[test]
    fn names_are_escaped_and_quantiles_interpolate() {
        assert_eq!(
            escape("a<b & 'c'\u{1}\u{ffff}"),
            "a&lt;b &amp; &#39;c&#39;  "
        );
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
