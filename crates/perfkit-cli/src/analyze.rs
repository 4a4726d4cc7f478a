//! `perfkit analyze`: options in, `perfkit_analyze` does the work, a short summary out.

use anyhow::{Context, Result};
use perfkit_analyze::{AnalyzeOptions, analyze, report};
use perfkit_sys::{BenchObserver, Phase, RunOutcome};

use crate::cli::AnalyzeArgs;
use crate::output::{progress_bar, show_bar};

struct Progress<'a>(&'a indicatif::ProgressBar);

impl BenchObserver for Progress<'_> {
    fn phase(&mut self, phase: Phase, _target: usize) {
        self.0.set_message(match phase {
            Phase::Warmup => "warm-up",
            _ => "measuring",
        });
    }

    fn planned(&mut self, total: u64) {
        show_bar(self.0, total);
    }

    fn measured(&mut self, _target: usize, _outcome: &RunOutcome) {
        self.0.inc(1);
    }
}

pub(crate) fn run(args: &AnalyzeArgs) -> Result<()> {
    let options = AnalyzeOptions {
        runs: args.runs,
        warmup: args.warmup,
        profile: !args.no_profile,
        syscalls: !args.no_syscalls,
    };
    let bar = progress_bar(args.quiet || args.json);
    let result = analyze(&args.command, &options, &mut Progress(&bar));
    bar.finish_and_clear();
    let analysis = result?;
    let html = report::write_report(&args.out, &analysis)
        .with_context(|| format!("cannot write the report into {}", args.out.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&analysis)?);
        return Ok(());
    }
    let l = &analysis.latency;
    println!("{}", analysis.command.join(" "));
    println!(
        "  {} runs: p50 {}, p99 {}, mean {} ({:.2} runs/s)",
        l.count,
        perfkit_metrics::format_duration(l.p50 as f64),
        perfkit_metrics::format_duration(l.p99 as f64),
        perfkit_metrics::format_duration(l.mean),
        analysis.throughput_per_s
    );
    println!("  verdict: {}", report::verdict(&analysis));
    if let Some(r) = analysis.recommendations.first() {
        println!("  do: {}", r.action);
        println!(
            "  expected gain: {}; with perfkit: {}",
            r.expected_gain, r.perfkit
        );
    }
    for u in &analysis.unavailable {
        eprintln!("note: {u}");
    }
    println!("report: {}", html.display());
    Ok(())
}
