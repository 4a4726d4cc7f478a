//! The summary `perfkit heap --sampled` prints: the peak and where it was, what was allocated
//! most, what leaked, what lived briefly.

use std::fmt::Write as _;

use perfkit_alloc::{HeapProfile, HeapSite};
use perfkit_metrics::{format_bytes, format_duration, format_std_duration};
use serde::Serialize;

use super::SampledHeapOutcome;
use crate::ExitKind;

/// Blocks whose median lifetime is below this count as short-lived.
const SHORT_LIVED_NS: u64 = 1_000_000;

/// One site in a list of the report.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SiteLine {
    /// The function the site is named after (its first frame outside the runtime's
    /// allocation code).
    pub function: String,
    /// Its file and line, when known.
    pub location: Option<String>,
    /// The callers that follow it, nearest first (at most three).
    pub callers: Vec<String>,
    /// The figure the list is about, in bytes (estimated).
    pub bytes: f64,
    /// Blocks (estimated).
    pub objects: f64,
    /// `bytes` as a share of the list's whole (0–1).
    pub share: f64,
    /// Median lifetime of the site's freed blocks (the lower bound of its power-of-two class).
    pub median_lifetime_ns: Option<u64>,
}

impl SiteLine {
    fn new(site: &HeapSite, bytes: f64, objects: f64, whole: f64) -> SiteLine {
        let named = site.named_index().unwrap_or(0);
        let frame = site.frames.get(named);
        SiteLine {
            function: site.function().to_owned(),
            location: frame.and_then(perfkit_alloc::HeapFrame::location),
            callers: callers(site, named),
            bytes,
            objects,
            share: if whole > 0.0 { bytes / whole } else { 0.0 },
            median_lifetime_ns: site.median_lifetime_ns(),
        }
    }
}

/// The callers of frame `named`, nearest first: at most three, and none past `main` (the C
/// runtime's start-up frames say nothing).
fn callers(site: &HeapSite, named: usize) -> Vec<String> {
    let mut out = Vec::new();
    for frame in site.frames.iter().skip(named + 1).take(3) {
        out.push(frame.function.clone());
        if frame.function == "main" || frame.function.ends_with("::main") {
            break;
        }
    }
    out
}

/// `lines` with those that read the same (function, place and callers: stacks that differ
/// only further out, or in addresses) added up, largest first, at most `top`.
fn merged(lines: impl Iterator<Item = SiteLine>, top: usize) -> Vec<SiteLine> {
    let mut out: Vec<SiteLine> = Vec::new();
    let mut at: std::collections::HashMap<(String, Option<String>, Vec<String>), usize> =
        std::collections::HashMap::new();
    for line in lines {
        let key = (
            line.function.clone(),
            line.location.clone(),
            line.callers.clone(),
        );
        if let Some(&i) = at.get(&key) {
            let into = &mut out[i];
            into.bytes += line.bytes;
            into.objects += line.objects;
            into.share += line.share;
        } else {
            at.insert(key, out.len());
            out.push(line);
        }
    }
    out.sort_by(|a, b| b.bytes.total_cmp(&a.bytes));
    out.truncate(top);
    out
}

/// A sampled heap profile, summed up.
#[derive(Clone, Debug, Serialize)]
pub struct SampledHeapReport {
    /// What was profiled.
    pub target: String,
    /// How the program ended, when perfkit ran it.
    pub status: Option<ExitKind>,
    /// Wall time of the run, when perfkit ran it.
    pub wall_ns: Option<u64>,
    /// Mean bytes between samples.
    pub interval: u64,
    /// Samples taken.
    pub samples: u64,
    /// Samples not recorded (the table of live samples was full).
    pub dropped: u64,
    /// Bytes allocated (exact: the shim's counters).
    pub allocated_bytes: u64,
    /// Allocations (exact).
    pub allocations: u64,
    /// Frees (exact).
    pub frees: u64,
    /// Peak live bytes (exact, to within 64 KiB per thread with several threads).
    pub peak_bytes: u64,
    /// Peak live bytes as the samples add up.
    pub peak_bytes_estimate: f64,
    /// Live bytes at exit (exact).
    pub exit_bytes: u64,
    /// Live bytes at exit as the samples add up.
    pub exit_bytes_estimate: f64,
    /// Sites by bytes live at the peak.
    pub top_at_peak: Vec<SiteLine>,
    /// Sites by bytes allocated.
    pub top_allocated: Vec<SiteLine>,
    /// Sites by bytes still live at exit.
    pub leaked: Vec<SiteLine>,
    /// Sites whose blocks mostly lived under a millisecond, by blocks allocated.
    pub short_lived: Vec<SiteLine>,
    /// Why the program wrote no profile (the figures are then all empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
}

impl SampledHeapReport {
    /// The report of `profile`, `top` sites per list.
    #[must_use]
    pub fn new(profile: &HeapProfile, target: &str, top: usize) -> SampledHeapReport {
        let top = if top == 0 { usize::MAX } else { top };
        let all_alloc = profile.alloc_bytes();
        let lines = |figure: fn(&HeapSite) -> (f64, f64), whole: f64| -> Vec<SiteLine> {
            let all = profile
                .top_by(|s| figure(s).0, usize::MAX)
                .into_iter()
                .map(|s| {
                    let (bytes, objects) = figure(s);
                    SiteLine::new(s, bytes, objects, whole)
                });
            merged(all, top)
        };
        let mut short: Vec<&HeapSite> = (profile.sites.iter())
            .filter(|s| s.median_lifetime_ns().is_some_and(|ns| ns < SHORT_LIVED_NS))
            .filter(|s| s.alloc_objects >= 0.5)
            .collect();
        short.sort_by(|a, b| b.alloc_objects.total_cmp(&a.alloc_objects));
        let all_objects: f64 = profile.sites.iter().map(|s| s.alloc_objects).sum();
        SampledHeapReport {
            target: target.to_owned(),
            status: None,
            wall_ns: None,
            interval: profile.interval,
            samples: profile.samples,
            dropped: profile.dropped,
            allocated_bytes: profile.totals.allocated_bytes,
            allocations: profile.totals.allocs,
            frees: profile.totals.deallocs,
            peak_bytes: profile.totals.peak_bytes,
            peak_bytes_estimate: profile.peak_bytes_estimate,
            exit_bytes: profile.totals.current_bytes,
            exit_bytes_estimate: profile.live_bytes_estimate,
            top_at_peak: lines(
                |s| (s.peak_bytes, s.peak_objects),
                profile.peak_bytes_estimate,
            ),
            top_allocated: lines(|s| (s.alloc_bytes, s.alloc_objects), all_alloc),
            leaked: lines(
                |s| (s.live_bytes, s.live_objects),
                profile.live_bytes_estimate,
            ),
            short_lived: {
                let all = short
                    .into_iter()
                    .map(|s| SiteLine::new(s, s.alloc_bytes, s.alloc_objects, all_objects));
                let mut lines = merged(all, usize::MAX);
                lines.sort_by(|a, b| b.objects.total_cmp(&a.objects));
                lines.truncate(top);
                lines
            },
            missing: None,
        }
    }

    /// The report of a run perfkit made.
    #[must_use]
    pub fn of_run(outcome: &SampledHeapOutcome, target: &str, top: usize) -> SampledHeapReport {
        let empty = HeapProfile::default();
        let mut report =
            SampledHeapReport::new(outcome.profile.as_ref().unwrap_or(&empty), target, top);
        report.missing.clone_from(&outcome.missing);
        report.status = Some(outcome.status);
        report.wall_ns = Some(outcome.wall.as_nanos() as u64);
        report
    }

    /// The text: a line on the run, the totals, then the four lists.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut out = format!("heap of {}", self.target);
        if let (Some(status), Some(wall)) = (self.status, self.wall_ns) {
            let _ = write!(
                out,
                ": program {status}, {}",
                format_std_duration(std::time::Duration::from_nanos(wall))
            );
        }
        if let Some(why) = &self.missing {
            let _ = writeln!(out, "; it wrote no heap profile: {why}");
            return out;
        }
        let _ = writeln!(
            out,
            "; sampled every {} allocated on average ({} samples)",
            format_bytes(self.interval),
            self.samples
        );
        let _ = writeln!(
            out,
            "  peak       {:>10} live   (samples: {})",
            format_bytes(self.peak_bytes),
            format_bytes(whole(self.peak_bytes_estimate))
        );
        let _ = writeln!(
            out,
            "  allocated  {:>10} in {} blocks, {} freed",
            format_bytes(self.allocated_bytes),
            self.allocations,
            self.frees
        );
        let _ = writeln!(
            out,
            "  at exit    {:>10} live   (samples: {})",
            format_bytes(self.exit_bytes),
            format_bytes(whole(self.exit_bytes_estimate))
        );
        if self.dropped > 0 {
            let _ = writeln!(
                out,
                "  {} samples dropped: too many sampled blocks live at once (use a larger interval)",
                self.dropped
            );
        }
        section(
            &mut out,
            "Live at the peak, by site",
            &self.top_at_peak,
            false,
        );
        section(
            &mut out,
            "Allocated in all, by site",
            &self.top_allocated,
            false,
        );
        section(
            &mut out,
            "Still live at exit (leaked), by site",
            &self.leaked,
            false,
        );
        section(
            &mut out,
            "Short-lived (most blocks freed within 1 ms), by blocks allocated",
            &self.short_lived,
            true,
        );
        if self.samples == 0 {
            out.push_str(
                "\nno allocation was sampled: the program allocated less than the interval, or not through malloc\n",
            );
        }
        out
    }
}

fn whole(v: f64) -> u64 {
    v.max(0.0).round() as u64
}

fn section(out: &mut String, title: &str, lines: &[SiteLine], lifetimes: bool) {
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title}:");
    for line in lines {
        let figure = if lifetimes {
            format!(
                "{:>10.0} blocks  {:>10}",
                line.objects,
                format_bytes(whole(line.bytes))
            )
        } else {
            format!(
                "{:>10}  {:>5.1}%  {:>8.0} blocks",
                format_bytes(whole(line.bytes)),
                line.share * 100.0,
                line.objects
            )
        };
        let _ = write!(out, "  {figure}  {}", line.function);
        if let Some(location) = &line.location {
            let _ = write!(out, " ({location})");
        }
        if lifetimes && let Some(ns) = line.median_lifetime_ns {
            let _ = write!(out, ", median life < {}", format_duration((ns * 2) as f64));
        }
        out.push('\n');
        for caller in &line.callers {
            let _ = writeln!(out, "      ← {caller}");
        }
    }
}
