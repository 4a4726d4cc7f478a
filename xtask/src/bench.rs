//! `cargo xtask bench`: run the criterion groups, print each contender against its peers, and
//! check the ratios the issues require (`benches/targets.toml`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use perfkit_regress::{Benchmark, Work};
use serde::Deserialize;

/// `benches/targets.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Targets {
    /// One entry per required ratio.
    pub(crate) target: Vec<Target>,
}

/// "In `group`, `contender` must be at least `at_least` times as fast as `peer`" (rates:
/// criterion's declared throughput per median iteration time, or 1 / median time).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Target {
    /// Criterion group.
    pub(crate) group: String,
    /// The perfkit contender.
    pub(crate) contender: String,
    /// The peer it is compared with.
    pub(crate) peer: String,
    /// Smallest `contender rate / peer rate`.
    pub(crate) at_least: f64,
    /// Where the target comes from, in the words.
    pub(crate) source: String,
    /// Set when the target is known to be missed on this kind of machine (an issue was
    /// blocked on it): reported, but `--check` does not fail on it.
    pub(crate) known_miss: Option<String>,
}

/// Options of `cargo xtask bench`.
#[derive(Debug, Default)]
pub(crate) struct BenchOptions {
    /// Exit 1 when a target is missed.
    pub(crate) check: bool,
    /// Use the results already in `target/criterion`.
    pub(crate) no_run: bool,
    /// Groups to run and report (all when empty).
    pub(crate) groups: Vec<String>,
}

/// Runs (unless `no_run`) and reports; `Ok(false)` when `check` found a missed target.
pub(crate) fn run(root: &Path, opts: &BenchOptions) -> Result<bool> {
    let targets_path = root.join("benches/targets.toml");
    let text = std::fs::read_to_string(&targets_path)
        .with_context(|| format!("cannot read {}", targets_path.display()))?;
    let targets: Targets = toml::from_str(&text)
        .with_context(|| format!("{} is not valid", targets_path.display()))?;
    if !opts.no_run {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut command = Command::new(&cargo);
        command
            .current_dir(root)
            .args(["bench", "--package", "perfkit-benches"]);
        if !opts.groups.is_empty() {
            command
                .arg("--")
                .arg(format!("^({})/", opts.groups.join("|")));
        }
        eprintln!("xtask bench: {command:?}");
        let status = command
            .status()
            .with_context(|| format!("cannot run {cargo}"))?;
        if !status.success() {
            bail!("cargo bench failed ({status})");
        }
    }
    let criterion = root.join("target/criterion");
    let results = perfkit_regress::load_criterion(&criterion, "new").with_context(|| {
        "no benchmark results: run `cargo xtask bench` without --no-run first".to_string()
    })?;
    let mut by_group: BTreeMap<String, Vec<&Benchmark>> = BTreeMap::new();
    for b in &results.benchmarks {
        if let Some((group, _)) = b.name.split_once('/') {
            let wanted = opts.groups.is_empty() || opts.groups.iter().any(|g| g == group);
            if wanted {
                by_group.entry(group.to_string()).or_default().push(b);
            }
        }
    }
    print_table(&by_group);
    let mut missed = Vec::new();
    println!("\nTargets ({}):", targets_path.display());
    for t in &targets.target {
        if !(opts.groups.is_empty() || opts.groups.contains(&t.group)) {
            continue;
        }
        let find = |name: &str| {
            by_group
                .get(&t.group)
                .and_then(|list| list.iter().find(|b| contender(b) == name))
                .copied()
        };
        let (Some(c), Some(p)) = (find(&t.contender), find(&t.peer)) else {
            println!(
                "  ?     {}: {} vs {}: not measured (run `cargo xtask bench {}`)",
                t.group, t.contender, t.peer, t.group
            );
            missed.push(format!(
                "{} {} vs {} (not measured)",
                t.group, t.contender, t.peer
            ));
            continue;
        };
        let ratio = rate(c) / rate(p);
        let ok = ratio >= t.at_least;
        let mark = match (ok, &t.known_miss) {
            (true, _) => "  ok   ",
            (false, Some(_)) => "  known",
            (false, None) => "  MISS ",
        };
        println!(
            "{mark} {}: {} is {ratio:.3}× {} (needs ≥ {}: {}){}",
            t.group,
            t.contender,
            t.peer,
            t.at_least,
            t.source,
            t.known_miss
                .as_ref()
                .filter(|_| !ok)
                .map(|why| format!(" — known miss: {why}"))
                .unwrap_or_default()
        );
        if !ok && t.known_miss.is_none() {
            missed.push(format!(
                "{}: {} {ratio:.3}× {} < {}",
                t.group, t.contender, t.peer, t.at_least
            ));
        }
    }
    if missed.is_empty() {
        println!("\nevery target met (known misses aside)");
        return Ok(true);
    }
    println!("\nmissed: {}", missed.join("; "));
    Ok(!opts.check)
}

fn contender(b: &Benchmark) -> &str {
    b.name.split_once('/').map_or(b.name.as_str(), |(_, c)| c)
}

/// Work per second at the median time per iteration.
fn rate(b: &Benchmark) -> f64 {
    let work = match b.work {
        Some(Work::Elements(n) | Work::Bytes(n)) => n,
        None => 1.0,
    };
    work * 1e9 / b.summary.p50
}

/// `34.41 M`, `689.6`, `1.234 k`.
fn si(value: f64) -> String {
    let (scaled, prefix) = if value >= 1e9 {
        (value / 1e9, " G")
    } else if value >= 1e6 {
        (value / 1e6, " M")
    } else if value >= 1e3 {
        (value / 1e3, " k")
    } else {
        (value, "")
    };
    let decimals = if scaled >= 100.0 {
        1
    } else if scaled >= 10.0 {
        2
    } else {
        3
    };
    format!("{scaled:.decimals$}{prefix}")
}

fn print_table(groups: &BTreeMap<String, Vec<&Benchmark>>) {
    for (group, list) in groups {
        println!("\n{group}");
        let fastest = list.iter().map(|b| rate(b)).fold(0.0, f64::max);
        for b in list {
            let r = rate(b);
            let unit = match b.work {
                Some(Work::Bytes(_)) => perfkit_metrics::format_rate(r),
                Some(Work::Elements(_)) => format!("{} elem/s", si(r)),
                None => format!("{} iter/s", si(r)),
            };
            let relative = if r >= fastest {
                "fastest".to_string()
            } else {
                format!("{}× slower", si(fastest / r))
            };
            println!(
                "  {:<24} {:>12}  {:>16}  {relative}",
                contender(b),
                perfkit_metrics::format_duration(b.summary.p50),
                unit,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_targets_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/targets.toml");
        let targets: Targets = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(targets.target.len() >= 20);
        for t in &targets.target {
            assert!(t.at_least > 0.0 && !t.source.is_empty(), "{t:?}");
            assert_ne!(t.contender, t.peer, "{t:?}");
        }
    }

    #[test]
    fn si_units_keep_four_digits() {
        assert_eq!(si(32_100_000.0), "32.10 M");
        assert_eq!(si(700.5), "700.5");
        assert_eq!(si(45_819.4), "45.82 k");
    }
}
