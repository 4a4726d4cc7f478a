//! `cargo xtask pgo`: instrument, train, merge, optimise, verify.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::bolt::{self, BoltSummary};
use crate::cargo::{Build, tail};
use crate::measure::{self, Comparison};
use crate::workload::{self, Places, Spec, Workload};
use perfkit_profilers::llvm;

/// Options of `cargo xtask pgo`.
#[derive(Clone, Debug)]
pub(crate) struct PgoOptions {
    /// The workload file.
    pub(crate) workloads: PathBuf,
    /// Overrides the file's package.
    pub(crate) package: Option<String>,
    /// Overrides the file's binary.
    pub(crate) bin: Option<String>,
    /// Training workloads to run (all when empty).
    pub(crate) train: Vec<String>,
    /// Evaluation workloads to time (all when empty).
    pub(crate) eval: Vec<String>,
    /// Interleaved rounds of the verification.
    pub(crate) rounds: usize,
    /// Fail below this speed-up (median ratio); `None`: fail only when significantly slower.
    pub(crate) min_speedup: Option<f64>,
    /// Skip the verification (build and report the profile only).
    pub(crate) no_verify: bool,
    /// Where to build and write (default `target/pgo`).
    pub(crate) work_dir: Option<PathBuf>,
    /// Add the BOLT step.
    pub(crate) bolt: bool,
}

/// What the profile holds.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct ProfileSummary {
    /// `.profraw` files merged.
    pub(crate) profiles_merged: usize,
    /// Functions with a profile.
    pub(crate) functions: u64,
    /// Functions that ran during training.
    pub(crate) functions_covered: u64,
    /// The largest function entry count.
    pub(crate) max_function_count: u64,
    /// The sum of all counters (`llvm-profdata show --all-functions --counts`' total).
    pub(crate) total_count: u64,
    /// The hottest functions (demangled) with their largest block count.
    pub(crate) hottest: Vec<(String, u64)>,
    /// Warnings of `llvm-profdata merge`.
    pub(crate) merge_warnings: usize,
    /// rustc's warnings about functions whose profile does not match the code (hash mismatch).
    pub(crate) mismatch_warnings: usize,
    /// rustc's warnings about functions without profile data.
    pub(crate) missing_warnings: usize,
    /// The first functions (demangled) named by those warnings.
    pub(crate) warned_functions: Vec<String>,
}

/// The report written to `target/pgo/report.json`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct PgoReport {
    /// Format version.
    pub(crate) schema_version: u32,
    /// rustc release and its LLVM.
    pub(crate) rustc: String,
    /// LLVM version.
    pub(crate) llvm: String,
    /// The llvm-profdata used.
    pub(crate) llvm_profdata: String,
    /// Package and binary.
    pub(crate) package: String,
    /// Binary name.
    pub(crate) bin: String,
    /// The profile.
    pub(crate) profile: ProfileSummary,
    /// The optimised binary.
    pub(crate) optimised_binary: String,
    /// The verification, unless skipped.
    pub(crate) verification: Option<Comparison>,
    /// The BOLT step, with `--bolt`.
    pub(crate) bolt: Option<BoltSummary>,
    /// The BOLT binary against the PGO one, with `--bolt` (unless `--no-verify`).
    pub(crate) bolt_verification: Option<Comparison>,
}

/// Runs the whole flow from `root` (the workspace).
pub(crate) fn run(root: &Path, opts: &PgoOptions) -> Result<PgoReport> {
    let spec = Spec::load(&opts.workloads)?;
    let package = opts.package.clone().unwrap_or_else(|| spec.package.clone());
    let bin = opts.bin.clone().unwrap_or_else(|| spec.bin.clone());
    let train = workload::select(&spec.train, &opts.train, "training")?;
    let evals = workload::select(&spec.eval, &opts.eval, "evaluation")?;

    let rustc = llvm::rustc()?;
    let profdata = llvm::find_profdata(&rustc)?;
    eprintln!(
        "xtask pgo: rustc {} (LLVM {}), {} (LLVM {})",
        rustc.release,
        rustc.llvm_version,
        profdata.display(),
        llvm::profdata_version(&profdata).map_or_else(|| "?".into(), |v| v.0)
    );

    let work = opts
        .work_dir
        .clone()
        .unwrap_or_else(|| root.join("target/pgo"));
    let profiles = work.join("profiles");
    // A profile directory from an earlier run would add stale counts: start empty.
    if profiles.exists() {
        std::fs::remove_dir_all(&profiles)
            .with_context(|| format!("cannot clear {}", profiles.display()))?;
    }
    std::fs::create_dir_all(&profiles)?;
    let places = Places {
        root: root.to_path_buf(),
        inputs: work.join("inputs"),
        tmp: work.join("tmp"),
    };
    workload::generate_inputs(&places.inputs)?;
    std::fs::create_dir_all(&places.tmp)?;

    // 1. Instrumented build, 2. training.
    let build = |dir: &str, rustflags: Vec<String>| Build {
        root,
        manifest: spec.manifest.as_deref(),
        target_dir: work.join(dir),
        host: &rustc.host,
        package: &package,
        bin: &bin,
        profile: "release",
        rustflags,
    };
    let (instrumented, _) = build(
        "gen",
        vec![format!("-Cprofile-generate={}", profiles.display())],
    )
    .run()?;
    let raw = train_with(&instrumented, &train, &places, &profiles)?;

    // 3. Merge.
    let mut summary = merge(&profdata, &raw, &work.join("merged.profdata"))?;
    let merged = keyed_by_content(&work.join("merged.profdata"))?;
    describe_profile(&profdata, &merged, &mut summary)?;

    // 4. Optimised build, counting rustc's profile warnings.
    let mut flags = vec![
        format!("-Cprofile-use={}", merged.display()),
        "-Cllvm-args=-pgo-warn-missing-function".into(),
    ];
    if opts.bolt {
        // BOLT rewrites the binary and needs its relocations.
        flags.push("-Clink-arg=-Wl,-q".into());
    }
    let (optimised, stderr) = build("use", flags).run()?;
    (
        summary.mismatch_warnings,
        summary.missing_warnings,
        summary.warned_functions,
    ) = profile_warnings(&stderr);
    print_profile(&summary);

    // 5. Verify against a plain build with the same --target.
    let verification = if opts.no_verify {
        None
    } else {
        let (plain, _) = build("base", Vec::new()).run()?;
        eprintln!(
            "xtask pgo: timing the plain and the PGO build on {}",
            names(&evals)
        );
        Some(measure::compare(
            &plain,
            &optimised,
            &evals,
            &places,
            opts.rounds,
        )?)
    };
    let (bolt_step, bolt_verification) =
        bolt_and_verify(opts, &rustc, &optimised, &train, &evals, &places, &work)?;
    let report = PgoReport {
        schema_version: 1,
        rustc: rustc.release.clone(),
        llvm: rustc.llvm_version.clone(),
        llvm_profdata: profdata.display().to_string(),
        package,
        bin,
        profile: summary,
        optimised_binary: optimised.display().to_string(),
        verification,
        bolt: bolt_step,
        bolt_verification,
    };
    finish(&report, &work, opts.min_speedup)?;
    Ok(report)
}

/// The `--bolt` step and its timing against the PGO build.
fn bolt_and_verify(
    opts: &PgoOptions,
    rustc: &llvm::Rustc,
    optimised: &Path,
    train: &[Workload],
    evals: &[Workload],
    places: &Places,
    work: &Path,
) -> Result<(Option<BoltSummary>, Option<Comparison>)> {
    if !opts.bolt {
        return Ok((None, None));
    }
    eprintln!("xtask pgo: BOLT (instrumentation mode) on the PGO binary");
    let step = bolt::optimise(rustc, optimised, train, places, &work.join("bolt"))?;
    let timing = if opts.no_verify {
        None
    } else {
        eprintln!("xtask pgo: timing the PGO and the PGO+BOLT build");
        Some(measure::compare(
            optimised,
            Path::new(&step.binary),
            evals,
            places,
            opts.rounds,
        )?)
    };
    Ok((Some(step), timing))
}

/// Writes the report, says where everything is, and checks the speed-up.
fn finish(report: &PgoReport, work: &Path, min_speedup: Option<f64>) -> Result<()> {
    let json = serde_json::to_string_pretty(report)?;
    write_report(&work.join("report.json"), &json)?;
    println!("optimised binary: {}", report.optimised_binary);
    println!("report: {}", work.join("report.json").display());
    if let Some(b) = &report.bolt {
        println!(
            "BOLT binary: {} ({} profiles merged)",
            b.binary, b.profiles_merged
        );
        for line in &b.info {
            println!("  {line}");
        }
    }
    if let Some(c) = &report.bolt_verification {
        println!("BOLT speed-up over PGO: {}", measure::summary(c));
    }
    if let Some(c) = &report.verification {
        println!("PGO speed-up: {}", measure::summary(c));
        check_speedup(c, min_speedup, "PGO")?;
    }
    Ok(())
}

fn names(list: &[Workload]) -> String {
    list.iter()
        .map(|w| w.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Fails when the optimised build is not fast enough.
pub(crate) fn check_speedup(c: &Comparison, min: Option<f64>, what: &str) -> Result<()> {
    let failure = match min {
        Some(min) if c.speedup_median < min => format!(
            "{what} speed-up {:.3}× is below --min-speedup {min}",
            c.speedup_median
        ),
        None if c.significantly_slower() => format!(
            "the {what} build is slower than the plain one ({:.3}×, p = {:.4})",
            c.speedup_median, c.p_value
        ),
        _ => return Ok(()),
    };
    Err(measure::CheckFailed(failure).into())
}

/// Runs each training workload with its own `.profraw` pattern and checks it wrote a new,
/// non-empty profile. Returns every profile written.
fn train_with(
    binary: &Path,
    train: &[Workload],
    places: &Places,
    profiles: &Path,
) -> Result<Vec<PathBuf>> {
    let mut all = Vec::new();
    for w in train {
        let before = profraws(profiles)?;
        let pattern = profiles.join(format!("{}-%p-%m.profraw", w.name));
        let took = workload::run(
            binary,
            w,
            places,
            &[("LLVM_PROFILE_FILE", pattern.display().to_string())],
        )?;
        let new: Vec<PathBuf> = profraws(profiles)?
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        let nonempty: Vec<PathBuf> = new
            .iter()
            .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
            .cloned()
            .collect();
        if nonempty.is_empty() {
            bail!(
                "training workload '{}' wrote no profile{}: was the binary instrumented, and did it exit normally (a killed or aborted run writes nothing)?",
                w.name,
                if new.is_empty() {
                    ""
                } else {
                    " (only empty .profraw files)"
                }
            );
        }
        eprintln!(
            "xtask pgo: trained '{}' in {:.2} s ({} profile{})",
            w.name,
            took.as_secs_f64(),
            nonempty.len(),
            if nonempty.len() == 1 { "" } else { "s" }
        );
        all.extend(nonempty);
    }
    Ok(all)
}

fn profraws(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "profraw"))
        .collect();
    out.sort();
    Ok(out)
}

fn merge(profdata: &Path, raw: &[PathBuf], merged: &Path) -> Result<ProfileSummary> {
    let out = Command::new(profdata)
        .arg("merge")
        .arg("-o")
        .arg(merged)
        .args(raw)
        .output()
        .with_context(|| format!("cannot run {}", profdata.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!(
            "llvm-profdata merge failed ({}):\n{}",
            out.status,
            tail(&stderr, 20)
        );
    }
    Ok(ProfileSummary {
        profiles_merged: raw.len(),
        merge_warnings: count_lines(&stderr, &["warning"]),
        ..ProfileSummary::default()
    })
}

/// A copy of `path` named after a hash of its content (`profdata/<hash>.profdata`): cargo does
/// not know that `-Cprofile-use` reads a file, so a new profile must change the flag, or the
/// optimised build would silently keep the old one.
fn keyed_by_content(path: &Path) -> Result<PathBuf> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let dir = path.with_file_name("profdata");
    std::fs::create_dir_all(&dir)?;
    let keyed = dir.join(format!("{hash:016x}.profdata"));
    std::fs::copy(path, &keyed).with_context(|| format!("cannot write {}", keyed.display()))?;
    Ok(keyed)
}

/// Fills in functions, coverage, counts and the hottest functions from `llvm-profdata show`.
fn describe_profile(profdata: &Path, merged: &Path, s: &mut ProfileSummary) -> Result<()> {
    let show = |args: &[&str]| -> Result<String> {
        let out = Command::new(profdata)
            .arg("show")
            .args(args)
            .arg(merged)
            .output()
            .with_context(|| format!("cannot run {} show", profdata.display()))?;
        if !out.status.success() {
            bail!(
                "llvm-profdata show failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let all = show(&["--all-functions", "--counts"])?;
    let parsed = parse_show(&all);
    s.functions = parsed.functions;
    s.functions_covered = parsed.covered;
    s.total_count = parsed.total_count;
    s.max_function_count = parsed.max_function_count;
    let top = show(&["--topn=10"])?;
    s.hottest = parse_topn(&top);
    if s.functions_covered == 0 {
        bail!(
            "the merged profile covers no function ({} profiles merged): the training did not run the instrumented code",
            s.profiles_merged
        );
    }
    Ok(())
}

/// Totals of `llvm-profdata show --all-functions --counts`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ShowTotals {
    /// `Total functions:`.
    pub(crate) functions: u64,
    /// Functions with a non-zero count.
    pub(crate) covered: u64,
    /// `Total count:` (the sum of all counters; summed here when the tool does not print it).
    pub(crate) total_count: u64,
    /// `Maximum function count:`.
    pub(crate) max_function_count: u64,
}

/// Parses `llvm-profdata show --all-functions --counts` output: per function a `Hash:` line,
/// then `Block counts: [a, b, ...]` (and on older LLVM a `Function count: N`), then the totals.
pub(crate) fn parse_show(text: &str) -> ShowTotals {
    let mut t = ShowTotals::default();
    let mut summed = 0u64;
    let mut printed_total = None;
    let mut current_ran = None::<bool>;
    let numbers = |v: &str| -> Vec<u64> {
        v.trim()
            .trim_matches(['[', ']'])
            .split(',')
            .filter_map(|n| n.trim().parse::<u64>().ok())
            .collect()
    };
    for line in text.lines().map(str::trim) {
        if line.starts_with("Hash:") {
            if current_ran == Some(true) {
                t.covered += 1;
            }
            current_ran = Some(false);
        } else if let Some(v) = line.strip_prefix("Function count:") {
            let n: u64 = v.trim().parse().unwrap_or(0);
            summed += n;
            if n > 0 {
                current_ran = Some(true);
            }
        } else if let Some(v) = line.strip_prefix("Block counts:") {
            let counts = numbers(v);
            summed += counts.iter().sum::<u64>();
            if counts.iter().any(|&n| n > 0) {
                current_ran = Some(true);
            }
        } else if let Some(v) = line.strip_prefix("Total functions:") {
            t.functions = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("Maximum function count:") {
            t.max_function_count = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("Total count:") {
            printed_total = v.trim().parse().ok();
        }
    }
    if current_ran == Some(true) {
        t.covered += 1;
    }
    t.total_count = printed_total.unwrap_or(summed);
    t
}

/// Parses the `--topn` list: lines `  <name>, max count = N`, names demangled.
pub(crate) fn parse_topn(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|line| {
            let (name, count) = line.trim().rsplit_once(", max count = ")?;
            let count = count.trim().parse().ok()?;
            // Local functions carry their file: `src/main.rs;_ZN...`.
            let symbol = name.rsplit(';').next().unwrap_or(name);
            Some((format!("{:#}", rustc_demangle::demangle(symbol)), count))
        })
        .collect()
}

const MISMATCH: &str = "function control flow change detected (hash mismatch) ";
const MISSING: &str = "no profile data available for function ";

/// rustc's (LLVM's) profile warnings in a build log: hash mismatches (the profile is older
/// than the code), functions without data (not run in training, or new), and the first ten
/// functions they name, demangled.
fn profile_warnings(log: &str) -> (usize, usize, Vec<String>) {
    let mut names = Vec::new();
    let (mut mismatched, mut missing) = (0, 0);
    for line in log.lines() {
        let rest = if let Some((_, rest)) = line.split_once(MISMATCH) {
            mismatched += 1;
            rest
        } else if let Some((_, rest)) = line.split_once(MISSING) {
            missing += 1;
            rest
        } else {
            continue;
        };
        if names.len() < 10
            && let Some(symbol) = rest.split_whitespace().next()
        {
            names.push(format!("{:#}", rustc_demangle::demangle(symbol)));
        }
    }
    (mismatched, missing, names)
}

fn count_lines(text: &str, needles: &[&str]) -> usize {
    text.lines()
        .filter(|l| needles.iter().any(|n| l.contains(n)))
        .count()
}

fn print_profile(s: &ProfileSummary) {
    println!(
        "profile: {} .profraw merged, {} of {} functions ran, {} counts in all, max function count {}",
        s.profiles_merged, s.functions_covered, s.functions, s.total_count, s.max_function_count
    );
    println!(
        "warnings: {} from llvm-profdata merge, {} hash mismatches, {} functions without profile data",
        s.merge_warnings, s.mismatch_warnings, s.missing_warnings
    );
    if !s.warned_functions.is_empty() {
        println!("  e.g. {}", s.warned_functions.join(", "));
    }
    if !s.hottest.is_empty() {
        println!("hottest functions (largest block count):");
        for (name, count) in &s.hottest {
            println!("  {count:>12}  {name}");
        }
    }
}

/// Writes a report (`text` and a newline) with [`perfkit_sys::write_output`].
pub(crate) fn write_report(path: &Path, text: &str) -> Result<()> {
    perfkit_sys::write_output(path, format!("{text}\n").as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `llvm-profdata-22 show --all-functions --counts` on a perfkit profile (shortened).
    const SHOW_22: &str = "Counters:
  perfkit.ec61737b03202ed0-cgu.09;_ZN88_$LT$serde_json..ser..Compound$GT$17serialize_element17hd958fed46c773dc8E:
    Hash: 0x056e49bf2617e0a3
    Counters: 5
    Block counts: [0, 0, 0, 0, 0]
  _ZN4core3ops8function5impls8call_mut17hd6488dbd34e04dc8E:
    Hash: 0x0a4d0ad3efffffff
    Counters: 1
    Block counts: [11]
  _ZN8tempfile3env17override_temp_dir17h80e10972fd22cc40E:
    Hash: 0x0f9bab17d1a2c044
    Counters: 3
    Block counts: [2, 0, 7]
Instrumentation level: IR  entry_first = 0  instrument_loop_entries = 0
Functions shown: 3
Total functions: 12143
Maximum function count: 102396
Maximum internal block count: 213037
Total number of blocks: 108527
Total count: 2262679
";

    #[test]
    fn show_totals_count_functions_that_ran() {
        let t = parse_show(SHOW_22);
        assert_eq!(
            t,
            ShowTotals {
                functions: 12143,
                covered: 2,
                total_count: 2_262_679,
                max_function_count: 102_396,
            }
        );
        // Older output: a function count per function, no printed total.
        let old = "  f:\n    Hash: 0x1\n    Counters: 2\n    Function count: 5\n    Block counts: [3]\n  g:\n    Hash: 0x2\n    Counters: 1\n    Function count: 0\n    Block counts: []\nTotal functions: 2\n";
        let t = parse_show(old);
        assert_eq!((t.functions, t.covered, t.total_count), (2, 1, 8));
    }

    #[test]
    fn rustc_profile_warnings_are_counted_and_named() {
        // rustc 1.95 building with a profile of older code, -pgo-warn-missing-function.
        let log = "warning: a.4c2faf61c2d5dfd7-cgu.0: function control flow change detected (hash mismatch) _ZN1a4work17h0f4f2cc6631d2a1fE Hash = 607699196633919449 up to 1335 count discarded\n\nwarning: a.4c2faf61c2d5dfd7-cgu.0: no profile data available for function _ZN1a5other17h46b0cb74d17c4861E Hash = 742261418966908927 up to 0 count discarded\n\nwarning: 2 warnings emitted\n";
        assert_eq!(
            profile_warnings(log),
            (1, 1, vec!["a::work".to_string(), "a::other".to_string()])
        );
    }

    #[test]
    fn topn_names_are_demangled() {
        let top = "Top 2 functions with the largest internal block counts: \n  _ZN4core5slice4sort6shared9smallsort25insertion_sort_shift_left17h10c1c9e550ba045fE, max count = 213037\n  perfkit_regress.935781f87c24848c-cgu.00;_ZN15perfkit_metrics5stats20bootstrap_ratio_with17h151b55d40ac1563cE, max count = 120000\n";
        assert_eq!(
            parse_topn(top),
            vec![
                (
                    "core::slice::sort::shared::smallsort::insertion_sort_shift_left".to_string(),
                    213_037
                ),
                (
                    "perfkit_metrics::stats::bootstrap_ratio_with".to_string(),
                    120_000
                ),
            ]
        );
    }
}
