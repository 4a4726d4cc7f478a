//! `cargo xtask lto`: build with `[profile.release-lto]` (fat LTO, one codegen unit) and measure
//! it against `release`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::cargo::Build;
use crate::measure::{self, Comparison};
use crate::pgo::{check_speedup, write_report};
use crate::workload::{self, Places, Spec};

/// Options of `cargo xtask lto`.
#[derive(Clone, Debug)]
pub(crate) struct LtoOptions {
    /// The workload file (its package, binary and evaluation workloads).
    pub(crate) workloads: std::path::PathBuf,
    /// Evaluation workloads to time (all when empty).
    pub(crate) eval: Vec<String>,
    /// Interleaved rounds.
    pub(crate) rounds: usize,
    /// Fail below this speed-up; `None`: fail only when significantly slower.
    pub(crate) min_speedup: Option<f64>,
}

/// The report written to `target/lto/report.json`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct LtoReport {
    /// Format version.
    pub(crate) schema_version: u32,
    /// The release binary and its size.
    pub(crate) release_binary: String,
    /// Its size in bytes.
    pub(crate) release_bytes: u64,
    /// The LTO binary.
    pub(crate) lto_binary: String,
    /// Its size in bytes.
    pub(crate) lto_bytes: u64,
    /// The timing.
    pub(crate) verification: Comparison,
}

/// Builds both profiles into `target/lto` and compares them.
pub(crate) fn run(root: &Path, opts: &LtoOptions) -> Result<LtoReport> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml"))?;
    if !manifest.contains("[profile.release-lto]") {
        bail!(
            "the workspace Cargo.toml has no [profile.release-lto]: add\n\n[profile.release-lto]\ninherits = \"release\"\nlto = \"fat\"\ncodegen-units = 1\n"
        );
    }
    let spec = Spec::load(&opts.workloads)?;
    let evals = workload::select(&spec.eval, &opts.eval, "evaluation")?;
    let rustc = perfkit_profilers::llvm::rustc()?;
    let work = root.join("target/lto");
    let places = Places {
        root: root.to_path_buf(),
        inputs: root.join("target/pgo/inputs"),
        tmp: work.join("tmp"),
    };
    workload::generate_inputs(&places.inputs)?;
    std::fs::create_dir_all(&places.tmp)?;
    let build = |profile| Build {
        root,
        manifest: spec.manifest.as_deref(),
        target_dir: work.clone(),
        host: &rustc.host,
        package: &spec.package,
        bin: &spec.bin,
        profile,
        rustflags: Vec::new(),
    };
    let (release, _) = build("release").run()?;
    let (lto, _) = build("release-lto").run()?;
    let size = |p: &Path| -> Result<u64> {
        Ok(std::fs::metadata(p)
            .with_context(|| format!("cannot stat {}", p.display()))?
            .len())
    };
    eprintln!(
        "xtask lto: timing release and release-lto on {}",
        evals
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let verification = measure::compare(&release, &lto, &evals, &places, opts.rounds)?;
    let report = LtoReport {
        schema_version: 1,
        release_binary: release.display().to_string(),
        release_bytes: size(&release)?,
        lto_binary: lto.display().to_string(),
        lto_bytes: size(&lto)?,
        verification,
    };
    write_report(
        &work.join("report.json"),
        &serde_json::to_string_pretty(&report)?,
    )?;
    println!(
        "binary size: release {:.2} MiB, release-lto {:.2} MiB ({:+.1}%)",
        report.release_bytes as f64 / 1_048_576.0,
        report.lto_bytes as f64 / 1_048_576.0,
        (report.lto_bytes as f64 / report.release_bytes as f64 - 1.0) * 100.0
    );
    println!("LTO speed-up: {}", measure::summary(&report.verification));
    println!("LTO binary: {}", report.lto_binary);
    println!("report: {}", work.join("report.json").display());
    check_speedup(&report.verification, opts.min_speedup, "LTO")?;
    Ok(report)
}
